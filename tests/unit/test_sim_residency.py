"""The simulator's model residency (Ollama's keep_alive and load time) and its profile keys."""

from __future__ import annotations

import asyncio

import pytest

from loadgen.errors import LoadgenError
from loadgen.sim.bodies import BadRequest, parse_ollama
from loadgen.sim.profiles import Profile, profile_from_dict
from loadgen.sim.residency import Residency, parse_keep_alive


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        *[(None, None), (0, 0.0), (30, 30.0), (2.5, 2.5), ("10", 10.0), ("-1", -1.0)],
        *[("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), ("-1m", -60.0), ("1.5s", 1.5)],
    ],
)
def test_keep_alive_reads_ollamas_forms(value: object, seconds: float | None) -> None:
    assert parse_keep_alive(value) == seconds


@pytest.mark.parametrize("value", ["5x", "", "m", "5m3", True, [1], {"s": 1}])
def test_a_bad_keep_alive_is_a_bad_request(value: object) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "keep_alive": value}
    with pytest.raises(BadRequest, match="keep_alive"):
        parse_ollama(body, "chat")


def test_the_request_carries_its_keep_alive() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "keep_alive": "2m"}
    assert parse_ollama(body, "chat").keep_alive_s == 120.0
    assert parse_ollama({**body, "keep_alive": None}, "chat").keep_alive_s is None


def test_profile_keys_are_checked() -> None:
    profile = profile_from_dict(
        {"load_ms": 200.0, "keep_alive_s": -1.0, "gpu": {"vram_fraction": 0.25}}, "p"
    )
    assert (profile.load_ms, profile.keep_alive_s, profile.gpu.vram_fraction) == (200, -1, 0.25)
    for gpu, message in (({"vram_fraction": 0.0}, "vram_fraction"), ({"vram_fraction": 1.5}, "")):
        with pytest.raises(LoadgenError, match=message or "vram_fraction"):
            profile_from_dict({"gpu": gpu}, "p")
    with pytest.raises(LoadgenError, match="load_ms must be >= 0"):
        profile_from_dict({"load_ms": -1.0}, "p")


def test_a_profile_without_residency_keys_keeps_its_model_loaded() -> None:
    async def run() -> list[bool]:
        residency = Residency(Profile("p"))  # load_ms 0, keep_alive_s -1
        seen = [residency.is_loaded()]
        for _ in range(3):
            await residency.acquire()
            residency.release(None)
            seen.append(residency.is_loaded(10**30))
        assert residency.loads == 0 and residency.in_flight == 0
        return seen

    assert asyncio.run(run()) == [True] * 4


def test_an_idle_model_unloads_after_keep_alive_and_the_next_request_loads_it() -> None:
    async def run() -> list[tuple[int, bool]]:
        residency = Residency(Profile("p", load_ms=1.0, keep_alive_s=0.0))
        seen = [(residency.loads, residency.is_loaded())]  # the server starts without it
        await residency.acquire()
        seen.append((residency.loads, residency.is_loaded()))
        await residency.acquire()  # a second request while loaded: no load
        residency.release(None)
        seen.append((residency.loads, residency.is_loaded()))  # one still running: stays
        residency.release(None)  # keep_alive 0: gone once idle
        seen.append((residency.loads, residency.is_loaded()))
        await residency.acquire()
        residency.release(-1.0)  # this request's keep_alive -1: kept for good
        seen.append((residency.loads, residency.is_loaded(10**30)))
        return seen

    assert asyncio.run(run()) == [(0, False), (1, True), (1, True), (1, False), (2, True)]


def test_requests_arriving_during_a_load_share_it() -> None:
    async def run() -> int:
        residency = Residency(Profile("p", load_ms=20.0, keep_alive_s=-1.0))
        await asyncio.gather(*(residency.acquire() for _ in range(5)))
        assert residency.in_flight == 5
        return residency.loads

    assert asyncio.run(run()) == 1
