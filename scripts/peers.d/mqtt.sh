# MQTT peers (sourced by scripts/peers, $P set): Debian's mosquitto broker and its
# clients mosquitto_pub / mosquitto_sub (tests/mqtt.rs starts one broker per test
# binary on a free port, in its own temp dir). scripts/bench installs paho-mqtt itself.
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ] || ! command -v mosquitto_pub >/dev/null; then
  echo "peers: apt-get install mosquitto mosquitto-clients"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends mosquitto mosquitto-clients >/dev/null
fi
