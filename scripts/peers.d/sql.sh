# PostgreSQL, MariaDB and ClickHouse for the database tests (sourced by
# scripts/peers; idempotent, quiet). The tests start each server themselves,
# on 127.0.0.1 on a free port in a temporary folder (tests/common/sqldb.rs):
# PostgreSQL 15's initdb and pg_ctl, mariadb-install-db and mariadbd,
# clickhouse-server (Debian's 18.16), and their clients psql, mariadb and
# clickhouse-client to read back what wsdial wrote. Python's usual clients
# (psycopg, pymysql, clickhouse-connect, and clickhouse-driver for the native
# protocol) are for scripts/bench only.
sql_need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || sql_need+=(postgresql-15)
command -v psql >/dev/null || sql_need+=(postgresql-client-15)
command -v mariadbd >/dev/null || sql_need+=(mariadb-server)
command -v mariadb >/dev/null || sql_need+=(mariadb-client)
[ -x /usr/sbin/clickhouse-server ] || sql_need+=(clickhouse-server)
command -v clickhouse-client >/dev/null || sql_need+=(clickhouse-client)
if [ ${#sql_need[@]} -gt 0 ]; then
  echo "peers: apt-get install ${sql_need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${sql_need[@]}" >/dev/null
fi
unset sql_need
# Python's usual clients, for scripts/bench's database rows (bench/sql.py).
if ! .peers/venv/bin/python -c 'import psycopg, pymysql, clickhouse_connect, clickhouse_driver' 2>/dev/null; then
  echo "peers: installing psycopg, pymysql, clickhouse-connect and clickhouse-driver into .peers/venv"
  .peers/venv/bin/pip install -q --disable-pip-version-check 'psycopg[binary]>=3.1,<4' 'pymysql>=1.1,<2' 'clickhouse-connect>=0.7,<1' 'clickhouse-driver>=0.2.9,<0.3'
fi
