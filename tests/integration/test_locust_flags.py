"""Plain `locust -f locustfiles/chat.py` takes every loadgen flag of loadgen/flags.py (InfluxDB's
included) and streams to a real influxd; real Locust processes, short runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from loadgen.flags import LOCUST, flags_of
from tests.fixtures.flag_values import within_range
from tests.fixtures.influx import Influxd
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running
from tests.fixtures.swarm import swarm_env

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "locustfiles" / "chat.py"
PACKAGED = ROOT / "loadgen" / "swarm" / "locustfile.py"
SAMPLES = {"duration": "2s", "int": "3", "float": "0.5", "str": "x", "path": "x"}


def _locust(
    *args: str, module: str = "locust", cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", module, *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, cwd=cwd, env=swarm_env(), check=False
    )


def _every_flag_set() -> list[str]:
    """Each loadgen flag of Locust's side with a valid value (no run: --list exits first)."""
    args: list[str] = []
    for flag in flags_of(LOCUST):
        if flag.kind == "switch":
            args.append(flag.option)
        else:
            value = flag.choices[0] if flag.choices else within_range(flag, SAMPLES[flag.kind])
            args += [flag.option, value]
    return args


def test_plain_locust_with_the_chat_locustfile_takes_every_loadgen_flag() -> None:
    done = _locust("-f", str(CHAT), "--list", *_every_flag_set())
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SingleTurnChat" in done.stdout
    bad = _locust("-f", str(CHAT), "--list", "--turns", "0")  # the table's range, as in click
    assert bad.returncode == 2 and "--turns must be at least 1, got 0" in bad.stderr


def test_the_front_door_lists_every_loadgen_flag_in_help() -> None:
    done = _locust("-f", str(CHAT), "--help", module="loadgen.swarm")
    assert done.returncode == 0, done.stderr[-2000:]
    missing = [f.option for f in flags_of(LOCUST) if f"  {f.option} " not in done.stdout]
    assert not missing


def test_the_packaged_and_a_plain_locustfile_register_loadgen_once() -> None:
    files = f"{PACKAGED},{CHAT},{ROOT / 'locustfiles' / 'multiturn.py'}"
    done = _locust("-f", files, "--list", "--influx-db", "d")  # twice would be a conflict
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"Chat", "SingleTurnChat", "MultiTurnChat"} <= set(done.stdout.split())


def test_plain_locust_streams_to_influxd(influxd: tuple[Influxd, str], tmp_path: Path) -> None:
    server, db = influxd
    port, results = free_port(), tmp_path / "run"
    sim = loadgen_cmd("sim", "--port", str(port))
    url = f"http://{LOOPBACK}:{port}"
    with running(sim, ready_url=f"{url}/v1/models", log=tmp_path / "sim.log"):
        args = ["-f", str(CHAT), "--host", url, "--headless", "-u", "2", "-r", "10", "-t", "3s"]
        args += ["--results", str(results), "--output-tokens", "8", "--progress", "off"]
        args += ["--influx-url", server.url, "--influx-flavour", "v1", "--influx-db", db]
        done = _locust(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = (results / "requests.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    assert records
    assert server.count(db, "llm_request", "seq") == len(records)
    kinds = server.rows(db, 'SHOW TAG VALUES FROM "llm_event" WITH KEY = "kind"')
    assert {"run_start", "run_end"} <= {r["value"] for r in kinds}
