"""Idle/peak VRAM and engine RSS per load level, and sidecar.jsonl written, read and followed."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen.errors import LoadgenError
from loadgen.levels import Resources, ResourceSeries, vram_per_tick
from loadgen.records import GpuSample, HostSample, Notice, ProcessSample, SidecarSample
from loadgen.results import SidecarLog, SidecarTail, read_sidecar

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
    samples: list[SidecarSample] = [
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
    series = ResourceSeries.of(samples)
    low = series.resources(10, (10, 20), (10, 20))
    high = series.resources(10, (10, 20), (20, 30))
    assert low.vram_idle_bytes == high.vram_idle_bytes == int(16.1 * GB)
    assert low.vram_peak_bytes == 18 * GB and high.vram_peak_bytes == int(21.8 * GB)
    assert low.engine_rss_idle_bytes == int(4.6 * GB)
    assert (
        low.engine_rss_peak_bytes == 5 * GB and high.engine_rss_peak_bytes == 6 * GB
    )  # dead one ignored


def test_gpus_of_one_tick_are_summed_and_nvml_beats_sim() -> None:
    samples: list[SidecarSample] = [
        _gpu(5, 10 * GB, 0),
        _gpu(5, 12 * GB, 1),
        _gpu(5, 99 * GB, 0, "sim"),
        _gpu(6, 11 * GB, 0),
        _gpu(6, 13 * GB, 1),
    ]
    assert vram_per_tick(samples)[1] == "nvml"
    row = ResourceSeries.of(samples).resources(0, (0, 100), (0, 100))
    assert row.vram_peak_bytes == 24 * GB
    assert row.vram_idle_bytes == 22 * GB  # nothing before the first level: its minimum


def test_sim_only_and_missing_data() -> None:
    samples: list[SidecarSample] = [_gpu(5, 3 * GB, 0, "sim"), HostSample(5, GB, 2 * GB, 10.0)]
    series = ResourceSeries.of(samples)
    assert vram_per_tick(samples)[1] == "sim"
    assert series.resources(0, (0, 10), (0, 10)).vram_peak_bytes == 3 * GB
    assert series.resources(0, (0, 10), (10, 20)) == Resources(3 * GB, None, None, None)
    assert not ResourceSeries.of([HostSample(5, GB, 2 * GB, 10.0)])  # nothing to join


def test_sidecar_jsonl_round_trips(tmp_path: Path) -> None:
    written: list[SidecarSample] = [
        _gpu(1, GB),
        _proc(1, 2 * GB),
        HostSample(1, GB, 4 * GB, 12.5),
        Notice(1, "process", "engine process 1 (vllm) exited"),
    ]
    sink = SidecarLog(tmp_path, "run-1")
    sink.write(written)
    sink.close()
    assert read_sidecar(tmp_path) == written
    assert read_sidecar(tmp_path / "absent") == []


def test_torn_last_line_is_skipped_other_bad_lines_are_errors(tmp_path: Path) -> None:
    sink = SidecarLog(tmp_path, "r")
    sink.write([_gpu(1, GB)])
    sink.close()
    path = tmp_path / "sidecar.jsonl"
    path.write_text(path.read_text() + '{"kind": "gpu", "wall_un')
    assert read_sidecar(tmp_path) == [_gpu(1, GB)]
    path.write_text("not json\n" + path.read_text())
    with pytest.raises(LoadgenError, match=r"sidecar\.jsonl:1"):
        read_sidecar(tmp_path)


def test_the_tail_reads_each_complete_line_once(tmp_path: Path) -> None:
    tail = SidecarTail(tmp_path)
    assert tail.read() == []  # no file yet
    sink = SidecarLog(tmp_path, "r")
    sink.write([_gpu(1, GB)])
    path = tmp_path / "sidecar.jsonl"
    with path.open("a") as f:
        f.write('{"kind": "gpu", "wall_unix_ns": 2, "gpu_')  # a line being written
    assert tail.read() == [_gpu(1, GB)]
    with path.open("a") as f:
        f.write('index": 0, "gpu_name": "g", "vram_used_bytes": 5, "vram_total_bytes": 9}\n')
    second = GpuSample(2, 0, "g", 5, 9)
    assert tail.read() == [_gpu(1, GB), second]
    assert tail.read() == [_gpu(1, GB), second]  # nothing new, nothing twice
    sink.close()


def test_the_tail_names_each_line_that_is_not_a_sample(tmp_path: Path) -> None:
    sink = SidecarLog(tmp_path, "r")
    sink.write([_gpu(1, GB)])
    with (tmp_path / "sidecar.jsonl").open("a") as f:
        f.write("not json\n[1]\n")
    sink.write([_gpu(2, GB)])
    tail = SidecarTail(tmp_path)
    assert tail.read() == [_gpu(1, GB), _gpu(2, GB)]  # the good lines around them still count
    assert len(tail.problems) == 2
    assert tail.problems[0].endswith(
        "sidecar.jsonl:2: not a sidecar sample (Expecting value: line 1 column 1 (char 0))"
    )
    assert tail.problems[1].endswith("sidecar.jsonl:3: expected a JSON object")
    tail.read()
    assert len(tail.problems) == 2  # each line is read, and reported, once
    sink.close()
