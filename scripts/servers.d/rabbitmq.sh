#!/usr/bin/env bash
# One RabbitMQ for the whole test suite (it takes about 11 s to start), on
# 127.0.0.1 at a free port, user alice / s3cret, in its own directory under
# /tmp. `start` prints the variables the AMQP tests read:
#   export WSDIAL_AMQP_PORT=... WSDIAL_AMQP_USER=alice WSDIAL_AMQP_PASS=s3cret WSDIAL_AMQP_DIR=...
# `stop [DIR]` stops the one started (by its directory; default: the one in
# .peers/rabbitmq.dir). Runs as the rabbitmq user, as Debian's package wants.
set -euo pipefail
cd "$(dirname "$0")/../.."
what="${1:?usage: rabbitmq.sh start|stop [DIR]}"
ctl() { # DIR COMMAND...
  local dir="$1"; shift
  su rabbitmq -s /bin/bash -c ". '$dir/env.sh'; $*"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
case "$what" in
  start)
    [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || { echo "rabbitmq.sh: rabbitmq-server is not installed (scripts/peers installs it)" >&2; exit 1; }
    dir="$(mktemp -d /tmp/wsdial-rabbit.XXXXXX)"
    port="$(free_port)"; dist="$(free_port)"; epmd="$(free_port)"
    mkdir -p "$dir/mnesia" "$dir/log"
    cat > "$dir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
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
    (ctl "$dir" "exec /usr/lib/rabbitmq/bin/rabbitmq-server" > "$dir/server.out" 2>&1 &)
    # await_startup fails at once while the node is not registered yet: retry (90 s at most).
    up=""
    for _ in $(seq 1 45); do
      if ctl "$dir" "rabbitmqctl -q await_startup" >/dev/null 2>&1; then up=1; break; fi
      sleep 2
    done
    [ -n "$up" ] || { echo "rabbitmq.sh: RabbitMQ did not start; see $dir/server.out and $dir/log" >&2; exit 1; }
    echo "$dir" > .peers/rabbitmq.dir 2>/dev/null || true
    echo "export WSDIAL_AMQP_PORT=$port WSDIAL_AMQP_USER=alice WSDIAL_AMQP_PASS=s3cret WSDIAL_AMQP_DIR=$dir"
    ;;
  stop)
    dir="${2:-$(cat .peers/rabbitmq.dir 2>/dev/null || true)}"
    [ -n "$dir" ] && [ -f "$dir/env.sh" ] || exit 0
    ctl "$dir" "rabbitmqctl -q stop" >/dev/null 2>&1 || true
    # epmd (Erlang's port mapper) was started for this node on its own port.
    ctl "$dir" "epmd -kill" >/dev/null 2>&1 || true
    rm -rf "$dir"; rm -f .peers/rabbitmq.dir
    ;;
  *) echo "usage: rabbitmq.sh start|stop [DIR]" >&2; exit 2 ;;
esac
