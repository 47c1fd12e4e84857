# NATS and AMQP peers (sourced by scripts/peers, with $P set): Debian's
# nats-server and rabbitmq-server (apt never starts them here: the tests and
# scripts/servers.d/rabbitmq.sh start their own, on 127.0.0.1), and the Python
# clients nats-py and pika in $P/venv (the third-party ends of the round trips).
need=()
command -v nats-server >/dev/null || need+=(nats-server)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "peers: apt-get install ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! "$P/venv/bin/python" -c 'import nats, pika' 2>/dev/null; then
  echo "peers: installing nats-py and pika into $P/venv"
  "$P/venv/bin/pip" install -q --disable-pip-version-check 'nats-py>=2.6,<3' 'pika>=1.3,<2'
fi
