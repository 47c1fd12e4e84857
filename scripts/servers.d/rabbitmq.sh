#!/usr/bin/env bash
# One RabbitMQ for the whole test suite (it takes about 11 s to start), on
# 127.0.0.1 at a free port, user alice / s3cret, in its own directory under
# /tmp; the same node also listens with TLS (amqps) on a second free port,
# with a certificate for localhost / 127.0.0.1 signed by a CA made here (in
# DIR/tls; no client certificate asked for). `start` prints the variables
# the AMQP tests read:
#   export WSDIAL_AMQP_PORT=... WSDIAL_AMQP_USER=alice WSDIAL_AMQP_PASS=s3cret WSDIAL_AMQP_DIR=...
#          WSDIAL_AMQP_TLS_PORT=... WSDIAL_AMQP_CA=DIR/tls/ca.pem
# `stop [DIR]` stops the one started (by its directory; default: the one
# WSDIAL_AMQP_DIR names, as `start`'s output set it in the caller's shell,
# else the one in .peers/rabbitmq.dir, the last started). `restart DIR` starts the node of DIR again (after it
# was killed) on the same ports and waits for it. Runs as the rabbitmq user,
# as Debian's package wants.
set -euo pipefail
cd "$(dirname "$0")/../.."
what="${1:?usage: rabbitmq.sh start|stop [DIR]|restart DIR}"
ctl() { # DIR COMMAND...
  local dir="$1"; shift
  su rabbitmq -s /bin/bash -c ". '$dir/env.sh'; $*"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Starts the node of DIR in the background; waits until it is up (90 s at most).
launch() { # DIR
  local dir="$1"
  (ctl "$dir" "exec /usr/lib/rabbitmq/bin/rabbitmq-server" >> "$dir/server.out" 2>&1 &)
  # await_startup fails at once while the node is not registered yet: retry.
  for _ in $(seq 1 45); do
    if ctl "$dir" "rabbitmqctl -q await_startup" >/dev/null 2>&1; then return 0; fi
    sleep 2
  done
  echo "rabbitmq.sh: RabbitMQ did not start; see $dir/server.out and $dir/log" >&2
  return 1
}
case "$what" in
  start)
    [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || { echo "rabbitmq.sh: rabbitmq-server is not installed (scripts/peers installs it)" >&2; exit 1; }
    dir="$(mktemp -d /tmp/wsdial-rabbit.XXXXXX)"
    port="$(free_port)"; dist="$(free_port)"; epmd="$(free_port)"; tls_port="$(free_port)"
    mkdir -p "$dir/mnesia" "$dir/log" "$dir/tls"
    # A CA of its own (no system trusts it) and the server's certificate.
    t="$dir/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$t/ca-key.pem" -out "$t/ca.pem" -days 30 \
      -subj "/CN=wsdial test RabbitMQ CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$t/key.pem" -out "$t/server.csr" -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$t/san.ext"
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" -CAcreateserial \
      -extfile "$t/san.ext" -out "$t/cert.pem" -days 30 2>/dev/null
    cat > "$dir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
listeners.ssl.default = 127.0.0.1:$tls_port
ssl_options.cacertfile = $t/ca.pem
ssl_options.certfile = $t/cert.pem
ssl_options.keyfile = $t/key.pem
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
loopback_users = none
default_user = alice
default_pass = s3cret
CONF
    cat > "$dir/env.sh" <<ENV
export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log
export RABBITMQ_NODENAME=wsdial$port@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$port
export RABBITMQ_DIST_PORT=$dist ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$epmd RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
export HOME=/var/lib/rabbitmq
ENV
    echo "[]." > "$dir/enabled_plugins"
    chown -R rabbitmq:rabbitmq "$dir"
    chmod 644 "$t"/*.pem
    launch "$dir" || exit 1
    echo "$dir" > .peers/rabbitmq.dir 2>/dev/null || true
    echo "export WSDIAL_AMQP_PORT=$port WSDIAL_AMQP_USER=alice WSDIAL_AMQP_PASS=s3cret WSDIAL_AMQP_DIR=$dir WSDIAL_AMQP_TLS_PORT=$tls_port WSDIAL_AMQP_CA=$t/ca.pem"
    ;;
  restart)
    dir="${2:?usage: rabbitmq.sh restart DIR}"
    [ -f "$dir/env.sh" ] || { echo "rabbitmq.sh: no node in $dir" >&2; exit 1; }
    launch "$dir" || exit 1
    ;;
  stop)
    # Not only .peers/rabbitmq.dir: a test that starts a node of its own
    # (tests/amqp.rs's SIGKILL case) records that one there meanwhile.
    dir="${2:-${WSDIAL_AMQP_DIR:-$(cat .peers/rabbitmq.dir 2>/dev/null || true)}}"
    [ -n "$dir" ] && [ -f "$dir/env.sh" ] || exit 0
    ctl "$dir" "rabbitmqctl -q stop" >/dev/null 2>&1 || true
    # epmd (Erlang's port mapper) was started for this node on its own port.
    ctl "$dir" "epmd -kill" >/dev/null 2>&1 || true
    rm -rf "$dir"
    if [ "$(cat .peers/rabbitmq.dir 2>/dev/null || true)" = "$dir" ]; then rm -f .peers/rabbitmq.dir; fi
    ;;
  *) echo "usage: rabbitmq.sh start|stop [DIR]|restart DIR" >&2; exit 2 ;;
esac
