# SQLite's command-line shell, which tests/sqlite.rs uses to read what wsdial
# wrote and to write what wsdial reads (the library itself needs nothing
# installed: rusqlite bundles SQLite). Sourced by scripts/peers.
if ! command -v sqlite3 >/dev/null; then
  echo "peers: apt-get install sqlite3"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends sqlite3 >/dev/null
fi
