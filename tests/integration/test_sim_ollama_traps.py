"""The simulator's Ollama traps over HTTP: model reloads after keep_alive, with load_duration on
the next final frame, /api/ps with part of the model offloaded, and 503 busy past max_queue."""

from __future__ import annotations

import concurrent.futures
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.ollama_traps import LOAD_MS, MAX_QUEUE, SLOTS, VRAM_FRACTION, write_profile
from tests.fixtures.sim import SimServer, start_sim

SCALE = 0.5  # --time-scale: the load takes LOAD_MS x SCALE real ms


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    tmp = tmp_path_factory.mktemp("ollama_traps")
    profile = write_profile(tmp)
    with start_sim(str(profile), "--time-scale", str(SCALE), log_dir=tmp) as server:
        yield server


def chat(sim: SimServer, **extra: Any) -> tuple[int, dict[str, Any]]:
    body = {"model": "traps", "messages": [{"role": "user", "content": "hi"}], **extra}
    body.setdefault("options", {"num_predict": 3})
    req = urllib.request.Request(
        sim.url + "/api/chat", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read().splitlines()[-1])
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def ps(sim: SimServer) -> list[dict[str, Any]]:
    with urllib.request.urlopen(sim.url + "/api/ps", timeout=10) as resp:
        models: list[dict[str, Any]] = json.loads(resp.read())["models"]
        return models


def load_ms(frame: dict[str, Any]) -> float:
    return float(frame["load_duration"]) / 1e6


def test_keep_alive_unloads_and_the_next_request_reports_the_load(sim: SimServer) -> None:
    load_real_ms = LOAD_MS * SCALE
    status, first = chat(sim, keep_alive=-1)  # loads the model, then keeps it for good
    assert status == 200 and first["done"] and load_ms(first) >= load_real_ms
    (loaded,) = ps(sim)
    assert loaded["size_vram"] == round(loaded["size"] * VRAM_FRACTION) > 0  # half on the CPU
    status, warm = chat(sim, keep_alive=0)  # still loaded; unloaded once it ends
    assert status == 200 and load_ms(warm) < load_real_ms
    assert ps(sim) == []
    status, reloaded = chat(sim)  # the profile's keep_alive_s = 0: unloaded after it too
    assert status == 200 and load_ms(reloaded) >= load_real_ms
    status, kept = chat(sim, keep_alive="1h")
    assert status == 200 and load_ms(kept) >= load_real_ms
    time.sleep(0.05)
    status, warm_again = chat(sim)
    assert status == 200 and load_ms(warm_again) < load_real_ms


def test_a_request_beyond_the_queue_is_refused_busy(sim: SimServer) -> None:
    """Two slots and max_queue 2: of five requests sent together, one is refused with 503."""
    chat(sim, keep_alive="1h")  # loaded, so all of them reach the queue together
    n = SLOTS + MAX_QUEUE + 1
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(lambda _: chat(sim, options={"num_predict": 40}), range(n)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * (n - 1) + [503]
    (busy,) = [body for status, body in answers if status == 503]
    assert "server busy" in busy["error"]
