"""A broker through the same Dial: MQTT against Debian's mosquitto (started
here on a free 127.0.0.1 port, anonymous), read and write as a WebSocket."""
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import eventually

import wsdial

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mqtt():
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed: run scripts/peers (scripts/peers.d/mqtt.sh)")
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        conf = Path(d) / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n"
        )
        proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            def listening():
                assert proc.poll() is None, "mosquitto exited"
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return True
                except OSError:
                    return False

            eventually(listening, timeout=10, what="mosquitto to listen")
            yield f"mqtt://127.0.0.1:{port}"
        finally:
            proc.kill()
            proc.wait(10)


def test_mqtt_write_publishes_and_read_returns_the_topic(mqtt):
    with wsdial.Dial(f"{mqtt}?topic=bots/a") as pub, wsdial.Dial(f"{mqtt}?topic=bots/%2B") as sub:
        # Wildcard subscription: it has nothing to publish to.
        assert sub.write("x") == 0
        for i in range(5):
            assert pub.write(f"m{i}") == 2
        got = [sub.read_event(5000) for _ in range(5)]
        assert [e.data for e in got] == [f"m{i}" for i in range(5)]
        assert {e.topic for e in got} == {"bots/a"}
        assert all(abs(e.received_at - time.time()) < 60 for e in got)
        assert sub.stats()["received"] == 5


def test_mqtt_bad_address_says_what_is_accepted(mqtt):
    with pytest.raises(wsdial.DialError, match="topic"):
        wsdial.Dial(mqtt)
