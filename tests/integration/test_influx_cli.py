"""`loadgen replay` / `loadgen import` and the preflight as a user runs them: real influxd and CLI.

Bad configuration (wrong token or password, missing database, unreachable URL) is one line on
stderr and exit 2, and no secret is ever printed.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from loadgen import schema
from loadgen.records import RequestRecord
from loadgen.results import META_FILE, write_json
from loadgen.sinks.influx import InfluxSink
from loadgen.sinks.influx_settings import InfluxSettings
from loadgen.summary import RunMeta
from tests.fixtures.influx import ADMIN_PASSWORD, ADMIN_USER, Influxd
from tests.fixtures.influx_v2_proxy import V2_ORG, V2Proxy
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd

# A dead flusher thread is a failure, not a warning.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

WRONG_SECRET = "wrong-SECRET-000"
T0 = 1_765_000_000_000_000_000


def run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = loadgen_cmd(*args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def assert_one_line_exit_2(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loadgen: error: "), done.stderr
    for text in expected:
        assert text in lines[0]
    assert "Traceback" not in done.stderr


def run_dir(tmp_path: Path, n: int = 40) -> Path:
    """A results directory as a swarm leaves it: meta.json and requests.jsonl."""
    results = tmp_path / "run-cli"
    results.mkdir(parents=True)
    meta = RunMeta("run-cli", engine="sim", user_class="ChatUser")
    write_json(results / META_FILE, meta.to_dict())
    with (results / "requests.jsonl").open("w") as f:
        for i in range(n):
            f.write(json.dumps(record(i).to_dict()) + "\n")
    return results


def record(seq: int) -> RequestRecord:
    return RequestRecord(
        run_id="run-cli",
        api="openai",
        model="m",
        user_class="ChatUser",
        worker="h:1",
        stage_index=0,
        stage_users=1,
        seq=seq,
        wall_send_unix_ns=T0 + seq,  # same µs for all
        t_send_ns=0,
        t_first_ns=5_000_000,
        t_last_ns=9_000_000,
        t_end_ns=9_500_000,
        n_out=3,
        frame_times_ns=(5_000_000, 7_000_000, 9_000_000),
    )


def test_unreachable_url(tmp_path: Path) -> None:
    url = f"http://{LOOPBACK}:{free_port()}"
    done = run("replay", str(run_dir(tmp_path)), "--influx-url", url, "--influx-db", "x")
    assert_one_line_exit_2(done, "unreachable", url)


def test_missing_database(influxd: tuple[Influxd, str], tmp_path: Path) -> None:
    server, _ = influxd
    done = run("replay", str(run_dir(tmp_path)), "--influx-url", server.url, "--influx-db", "nope")
    assert_one_line_exit_2(done, "database 'nope' does not exist")


def test_wrong_v1_password(influxd_factory: Callable[..., Influxd], tmp_path: Path) -> None:
    server = influxd_factory(auth=True)
    db = server.create_db()
    args = ["--influx-url", server.url, "--influx-db", db, "--influx-user", ADMIN_USER]
    done = run("replay", str(run_dir(tmp_path)), *args, "--influx-password", WRONG_SECRET)
    assert_one_line_exit_2(done, "rejected the user/password (HTTP 401)")
    assert WRONG_SECRET not in done.stdout + done.stderr
    ok = run("replay", str(run_dir(tmp_path / "b")), *args, "--influx-password", ADMIN_PASSWORD)
    assert ok.returncode == 0, ok.stderr
    assert ADMIN_PASSWORD not in ok.stdout + ok.stderr
    assert server.count(db, "llm_request", "seq") == 40


def test_wrong_v2_token(influx_v2: tuple[V2Proxy, str], tmp_path: Path) -> None:
    proxy, db = influx_v2
    args = ["--influx-url", proxy.url, "--influx-org", V2_ORG, "--influx-bucket", db]
    done = run("replay", str(run_dir(tmp_path)), *args, "--influx-token", WRONG_SECRET)
    assert_one_line_exit_2(done, "rejected the token (HTTP 401)")
    assert WRONG_SECRET not in done.stdout + done.stderr and proxy.writes == 0


def test_import_after_the_fact_matches_live_points(
    influxd: tuple[Influxd, str], tmp_path: Path
) -> None:
    """Import lands in the live run's series (tags from meta.json), so nothing is doubled."""
    server, db = influxd
    results = run_dir(tmp_path)
    s = InfluxSettings(url=server.url, flavour="v1", db=db)
    sink = InfluxSink(s, results / "influx-spool.lp").start()
    tags = schema.run_tags("run-cli", "sim", "m", "openai", "ChatUser")
    sink.write([schema.request_point(record(i), tags) for i in range(40)])
    assert sink.close().written == 40
    done = run("import", str(results), "--influx-url", server.url, "--influx-db", db)
    assert done.returncode == 0, done.stderr
    assert "loaded 40 points" in done.stdout
    assert server.count(db, "llm_request", "seq") == 40  # 40 requests in one µs, none collided
    engines = server.rows(db, 'SHOW TAG VALUES FROM "llm_request" WITH KEY = "engine"')
    assert [r["value"] for r in engines] == ["sim"]


def test_a_bad_jsonl_line_is_one_line_error(influxd: tuple[Influxd, str], tmp_path: Path) -> None:
    server, db = influxd
    results = run_dir(tmp_path)
    with (results / "requests.jsonl").open("a") as f:
        f.write('{"run_id": "x"}\n')
    done = run("import", str(results), "--influx-url", server.url, "--influx-db", db)
    assert_one_line_exit_2(done, "requests.jsonl:41: not a valid record")
