"""`loadgen swarm` against an https target: the paced simulator behind a TLS-terminating proxy
whose certificate (self-signed for 127.0.0.1, made at test time) the clients trust through
SSL_CERT_FILE or SSL_CERT_DIR. A certificate nobody trusts is one line from the CLI, and a
recorded `connect` failure naming the certificate problem from either transport."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.sim import start_sim
from tests.fixtures.swarm import run_swarm
from tests.fixtures.tls import OPENSSL, Certificate, TlsProxy, make_certificate, tls_proxy

OUTPUT_TOKENS = 16
STREAM_TOK_S = "400"  # 2.5 ms between tokens: every body is streamed, never read whole
RUN = (
    *("--users", "2", "--run-time", "1s", "--warmup", "0s", "--input-tokens", "16"),
    *("--output-tokens", str(OUTPUT_TOKENS), "--ignore-eos"),
)
CUT_OFF = "cut off: the run ended"  # in flight at the run's end: recorded, counted nowhere
CA_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR")
CERT_PROBLEM = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed"


@dataclass(frozen=True)
class HttpsTarget:
    proxy: TlsProxy
    cert: Certificate
    ca_dir: Path  # the certificate alone, under its subject hash: an SSL_CERT_DIR


def _hashed_dir(cert: Certificate, directory: Path) -> Path:
    subject_hash = subprocess.run(
        [OPENSSL, "x509", "-hash", "-noout", "-in", str(cert.cert_path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    directory.mkdir()
    (directory / f"{subject_hash}.0").write_bytes(cert.cert_path.read_bytes())
    return directory


@pytest.fixture(scope="module")
def https_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsTarget]:
    tmp = tmp_path_factory.mktemp("https")
    cert = make_certificate(tmp)
    with (
        start_sim("paced", "--stream-tok-s", STREAM_TOK_S, log_dir=tmp) as sim,
        tls_proxy(sim.port, cert) as proxy,
    ):
        yield HttpsTarget(proxy, cert, _hashed_dir(cert, tmp / "ca"))


@pytest.fixture
def no_ca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither variable from the environment the tests run in: each test says its own."""
    for name in CA_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_ca_env")
@pytest.mark.parametrize(
    ("api", "client"), [("openai", "fast"), ("openai", "openai"), ("ollama", "fast")]
)
def test_a_streamed_run_over_tls(
    https_target: HttpsTarget, tmp_path: Path, api: str, client: str
) -> None:
    proxy = https_target.proxy
    relayed_before = proxy.relayed
    run = run_swarm(
        tmp_path / "run",
        *("--host", proxy.url, "--api", api, "--client", client, *RUN),
        env={"SSL_CERT_FILE": str(https_target.cert.cert_path)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    records = [r for r in run.records() if r["error_detail"] != CUT_OFF]
    assert records and proxy.relayed > relayed_before
    failed = [(r["error_type"], r["error_detail"]) for r in records if not r["ok"]]
    assert not failed, failed[:3]
    source = "eval_count" if api == "ollama" else "usage"
    assert {(r["n_out"], r["n_out_source"], r["token_frames"]) for r in records} == {
        (OUTPUT_TOKENS, source, OUTPUT_TOKENS)
    }
    # Frames stamped at several reads: the body came over TLS as it was made, not with the head.
    assert all(len(set(r["frame_times_ns"])) > 1 for r in records)
    (level,) = run.summary().levels
    assert level.errors == 0 and 0 < level.requests <= len(records)
    assert level.ttft_p50_ms is not None and level.ttft_p95_ms is not None
    assert level.itl_p50_ms is not None and level.itl_p99_ms is not None


@pytest.mark.usefixtures("no_ca_env")
def test_an_untrusted_certificate_is_one_line_from_the_cli(
    https_target: HttpsTarget, tmp_path: Path
) -> None:
    run = run_swarm(tmp_path / "run", "--host", https_target.proxy.url, *RUN)
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("loadgen: error: cannot reach ") and CERT_PROBLEM in line, line
    assert "SSL_CERT_FILE or SSL_CERT_DIR" in line


@pytest.mark.usefixtures("no_ca_env")
def test_a_missing_ca_file_is_one_line_from_the_cli(
    https_target: HttpsTarget, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-ca.pem"
    run = run_swarm(
        tmp_path / "run",
        *("--host", https_target.proxy.url, *RUN),
        env={"SSL_CERT_FILE": str(missing)},
    )
    assert run.returncode == 2
    assert (
        run.stderr.strip()
        == f"loadgen: error: SSL_CERT_FILE={missing}: no such file (a PEM bundle of CAs)"
    )


# One request per transport in a process patched as Locust's is; prints each result as JSON.
_SEND = """
from gevent import monkey
monkey.patch_all()
import json, sys
from loadgen.backends import backend_for
from loadgen.backends.base import ChatRequest
from loadgen.swarm.transport_fast import FastTransport
from loadgen.swarm.transport_openai import OpenAISdkTransport
request = ChatRequest(model="sim-paced", messages=({"role": "user", "content": "hi"},),
                      max_tokens=4, ignore_eos=True)
out = {}
for name, kind in (("fast", FastTransport), ("openai", OpenAISdkTransport)):
    transport = kind(sys.argv[1], None, 10.0, 5.0)
    result = transport.send(backend_for("openai"), request, "rid-" + name).result
    transport.close()
    out[name] = {"ok": result.ok, "error_type": result.error_type,
                 "error_detail": result.error_detail, "n_out": result.n_out}
print(json.dumps(out))
"""


def _send_once(url: str, ca_env: dict[str, str]) -> dict[str, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if k not in CA_ENV}
    done = subprocess.run(
        [sys.executable, "-c", _SEND, url],
        env={**env, **ca_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, dict[str, object]] = json.loads(done.stdout)
    return result


def test_an_untrusted_certificate_is_a_recorded_connect_failure(
    https_target: HttpsTarget,
) -> None:
    """What the transports do when the probe passed but they cannot verify the certificate."""
    for client, result in _send_once(https_target.proxy.url, {}).items():
        assert result["ok"] is False and result["error_type"] == "connect", (client, result)
        assert CERT_PROBLEM in str(result["error_detail"]), (client, result)


def test_both_transports_trust_a_ca_directory(https_target: HttpsTarget) -> None:
    ca_env = {"SSL_CERT_DIR": str(https_target.ca_dir)}
    for client, result in _send_once(https_target.proxy.url, ca_env).items():
        assert result == {"ok": True, "error_type": None, "error_detail": None, "n_out": 4}, client
