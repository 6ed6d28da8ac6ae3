"""Idle/peak VRAM and engine RSS per load level, and reading sidecar.jsonl back."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen.errors import LoadgenError
from loadgen.records import GpuSample, HostSample, ProcessSample
from loadgen.sidecar.levels import LevelWindow, load_samples, resources_per_level
from loadgen.sidecar.samples import Notice, Sample
from loadgen.sidecar.writer import JsonlSink

GB = 1_000_000_000


def _gpu(t: int, used: int, index: int = 0, source: str = "nvml") -> GpuSample:
    return GpuSample(
        wall_unix_ns=t,
        gpu_index=index,
        gpu_name="g",
        vram_used_bytes=used,
        vram_total_bytes=80 * GB,
        source=source,
    )  # type: ignore[arg-type]


def _proc(t: int, rss: int, alive: bool = True) -> ProcessSample:
    return ProcessSample(
        wall_unix_ns=t,
        root_pid=1,
        process_name="vllm",
        n_processes=3,
        rss_bytes=rss,
        cpu_pct=0.0,
        alive=alive,
    )


def test_reference_shape_idle_then_two_levels() -> None:
    # idle at 16.1 GB before the run, 18 GB at 10 users, 21.8 GB at 50 users
    samples: list[Sample] = [
        _gpu(0, int(16.3 * GB)),
        _gpu(1, int(16.1 * GB)),
        _proc(1, int(4.6 * GB)),
        _gpu(10, 17 * GB),
        _gpu(11, 18 * GB),
        _proc(11, 5 * GB),
        _gpu(20, int(21.8 * GB)),
        _gpu(21, 20 * GB),
        _proc(21, 6 * GB),
        _proc(22, 7 * GB, alive=False),
    ]
    windows = [LevelWindow(0, 10, 10, 20), LevelWindow(1, 50, 20, 30)]
    low, high = resources_per_level(samples, windows)
    assert (low.index, low.users, high.users) == (0, 10, 50)
    assert low.vram_idle_bytes == high.vram_idle_bytes == int(16.1 * GB)
    assert low.vram_peak_bytes == 18 * GB and high.vram_peak_bytes == int(21.8 * GB)
    assert low.engine_rss_idle_bytes == int(4.6 * GB)
    assert (
        low.engine_rss_peak_bytes == 5 * GB and high.engine_rss_peak_bytes == 6 * GB
    )  # dead one ignored
    assert (low.n_gpu_ticks, high.n_gpu_ticks, low.vram_source) == (2, 2, "nvml")


def test_gpus_of_one_tick_are_summed_and_nvml_beats_sim() -> None:
    samples: list[Sample] = [
        _gpu(5, 10 * GB, 0),
        _gpu(5, 12 * GB, 1),
        _gpu(5, 99 * GB, 0, "sim"),
        _gpu(6, 11 * GB, 0),
        _gpu(6, 13 * GB, 1),
    ]
    (row,) = resources_per_level(samples, [LevelWindow(0, 1, 0, 100)])
    assert row.vram_peak_bytes == 24 * GB and row.vram_source == "nvml"
    assert row.vram_idle_bytes == 22 * GB  # nothing before the first level: its minimum


def test_sim_only_and_missing_data() -> None:
    samples: list[Sample] = [_gpu(5, 3 * GB, 0, "sim"), HostSample(5, GB, 2 * GB, 10.0)]
    first, empty = resources_per_level(
        samples, [LevelWindow(0, 1, 0, 10), LevelWindow(1, 5, 10, 20)]
    )
    assert first.vram_peak_bytes == 3 * GB and first.vram_source == "sim"
    assert empty.vram_peak_bytes is None and empty.n_gpu_ticks == 0
    assert empty.engine_rss_peak_bytes is None and empty.engine_rss_idle_bytes is None
    assert resources_per_level(samples, []) == []


def test_load_samples_round_trips_the_jsonl(tmp_path: Path) -> None:
    written: list[Sample] = [
        _gpu(1, GB),
        _proc(1, 2 * GB),
        HostSample(1, GB, 4 * GB, 12.5),
        Notice(1, "process", "engine process 1 (vllm) exited"),
    ]
    sink = JsonlSink(tmp_path, "run-1")
    sink.write(written)
    sink.close()
    assert load_samples(tmp_path) == written
    assert load_samples(tmp_path / "absent") == []


def test_torn_last_line_is_skipped_other_bad_lines_are_errors(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path, "r")
    sink.write([_gpu(1, GB)])
    sink.close()
    path = tmp_path / "sidecar.jsonl"
    path.write_text(path.read_text() + '{"kind": "gpu", "wall_un')
    assert load_samples(tmp_path) == [_gpu(1, GB)]
    path.write_text("not json\n" + path.read_text())
    with pytest.raises(LoadgenError, match=r"sidecar\.jsonl:1"):
        load_samples(tmp_path)
