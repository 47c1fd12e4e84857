"""The Python examples run against `wsdial serve` and do what they say."""
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(name, base, count):
    p = subprocess.run(
        [sys.executable, str(EXAMPLES / name), base, str(count)],
        capture_output=True, text=True, timeout=60,
    )
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


def test_binance_ticker(sim):
    lines = run("binance_ticker.py", sim, 5)
    assert [l.split()[:3] for l in lines[:5]] == [["BTCUSDT", "last", "price"]] * 5
    assert lines[5].startswith("stats: {'received':")


@pytest.fixture(scope="module")
def fast_pings(sim_factory):
    """Huobi heartbeats every 0.1 s, answered within 0.3 s or dropped."""
    return sim_factory("--rate", "20", "--ping-every", "0.1", "--pong-deadline", "0.3")


def test_huobi_gzip_answers_its_pings(fast_pings):
    # 30 tickers at 20/s: 1.5 s, fifteen pings that must all be answered.
    lines = run("huobi_gzip.py", fast_pings, 30)
    closes = [l for l in lines if l.startswith("market.btcusdt.ticker close ")]
    assert len(closes) == 30
    assert not [l for l in lines if "ping" in l], "pings are answered, not printed"


def test_three_feeds(sim):
    lines = run("three_feeds.py", sim, 30)
    counts = dict(zip(lines[-1].split()[3::2], map(int, lines[-1].split()[4::2])))
    assert lines[-1].startswith("messages per feed:")
    assert sum(counts.values()) >= 30
    assert all(counts[k] > 0 for k in ("binance", "huobi", "okx")), counts
