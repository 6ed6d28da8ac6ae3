"""The swarm's resource columns (sidecar samples joined to level windows), the printed table's
extra columns, the short-window warning and the InfluxDB report line."""

from __future__ import annotations

from dataclasses import replace

from loadgen.level_summary import LevelSummary, summarize_level, with_resources
from loadgen.levels import Level, ResourceSeries, first_window
from loadgen.records import GpuSample, ProcessSample, SidecarSample
from loadgen.run.run_end import influx_notes, short_window_warning
from loadgen.run.sim_launch import profile_engine
from loadgen.stats import LevelSamples
from loadgen.summary import RunMeta, RunSummary, SinkReport
from loadgen.summary_table import format_table

S = 1_000_000_000
GB = 1_000_000_000


def _level(index: int, users: int, **values: object) -> LevelSummary:
    summary = summarize_level(LevelSamples(), _levels()[index]) if index < 2 else None
    summary = summary or replace(_level(0, users), stage_index=index)
    return replace(summary, users=users, **values)  # type: ignore[arg-type]


def _levels() -> list[Level]:
    # level 0: starts at 10 s, steady 12..20 s; level 1: starts at 20 s, steady 22..30 s
    return [
        Level(0, 1, 10 * S, ramp_done_unix_ns=12 * S, end_unix_ns=20 * S),
        Level(1, 4, 20 * S, ramp_done_unix_ns=22 * S, end_unix_ns=30 * S),
    ]


def _samples() -> list[SidecarSample]:
    vram = {5: 5.2, 11: 5.3, 13: 5.25, 15: 5.3, 21: 5.5, 25: 5.4, 29: 5.45, 31: 6.0}
    rss = {5: 1.8, 11: 1.9, 15: 2.0, 25: 2.2, 31: 3.0}
    out: list[SidecarSample] = [
        GpuSample(t * S, 0, "g", int(v * GB), 24 * GB, source="sim") for t, v in vram.items()
    ]
    out += [ProcessSample(t * S, 7, "ollama", 1, int(r * GB), 0.0) for t, r in rss.items()]
    return out


def _measured(levels: list[LevelSummary], samples: list[SidecarSample]) -> list[LevelSummary]:
    first = first_window(_levels())
    assert first == (12 * S, 20 * S)
    return with_resources(levels, ResourceSeries.of(samples), 10 * S, first)


def test_the_first_steady_window_bounds_idle_and_a_cut_short_level_has_none() -> None:
    assert first_window(_levels()) == (12 * S, 20 * S)
    cut_short = [Level(0, 1, 10 * S, end_unix_ns=11 * S)]  # never ramped: no window
    assert first_window(cut_short) is None
    assert summarize_level(LevelSamples(), cut_short[0]) is None


def test_resources_per_level_from_samples() -> None:
    levels = [_level(0, 1), _level(1, 4)]
    first, second = _measured(levels, _samples())
    # idle: before the run's first level started (5 s), not the ramp's 5.3 GB
    assert first.vram_idle_bytes == second.vram_idle_bytes == int(5.2 * GB)
    assert first.vram_peak_bytes == int(5.3 * GB)  # 13 s and 15 s; 21 s is level 1's ramp
    assert second.vram_peak_bytes == int(5.45 * GB)  # 31 s is after the run
    assert first.engine_rss_idle_bytes == int(1.8 * GB)
    assert (first.engine_rss_peak_bytes, second.engine_rss_peak_bytes) == (2 * GB, int(2.2 * GB))
    assert _measured(levels, []) == levels  # no sidecar: unchanged


def test_idle_falls_back_to_the_ramp_when_the_sidecar_started_with_the_run() -> None:
    late = [s for s in _samples() if s.wall_unix_ns >= 10 * S]
    first, _ = _measured([_level(0, 1), _level(1, 4)], late)
    assert first.vram_idle_bytes == int(5.3 * GB)  # the minimum between 10 s and 12 s


def test_table_shows_resource_columns_only_when_measured() -> None:
    plain = RunSummary("r", (_level(0, 1),), RunMeta("r"))
    assert "VRAM" not in format_table(plain)
    measured = RunSummary(
        "r", tuple(_measured([_level(0, 1), _level(1, 4)], _samples())), RunMeta("r")
    )
    lines = format_table(measured).splitlines()
    assert lines[0].endswith("VRAM idle GB  VRAM peak GB  RSS peak GB")
    assert lines[1].split()[-3:] == ["5.20", "5.30", "2.00"]
    assert lines[2].split()[-3:] == ["5.20", "5.45", "2.20"]
    assert RunSummary.from_dict(measured.to_dict()) == measured  # summary.json round trip


def test_short_window_warning_names_the_levels_and_the_extra_time() -> None:
    ok = _level(0, 1, requests=10, window_s=30.0, e2e_p50_ms=2_000.0)
    long_requests = _level(1, 50, requests=3, window_s=30.0, e2e_p50_ms=40_000.0)
    none_finished = _level(2, 80, requests=0, window_s=30.0)
    assert short_window_warning([ok]) is None
    line = short_window_warning([ok, long_requests, none_finished])
    assert line is not None and "\n" not in line
    assert "level 0" not in line
    assert "level 1 (50 users): 30 s window < 3x median E2E 40.0 s" in line
    assert "level 2 (80 users): no request finished in its 30 s window" in line
    assert "--step-time" in line and "by at least 90 s" in line


def test_influx_report_line_and_warning() -> None:
    clean = influx_notes(SinkReport(written=120))
    assert clean.info == ["influx: 120 points written, 0 spilled, 0 rejected, 0 dropped"]
    assert clean.warnings == []
    spilled = influx_notes(SinkReport(written=100, spilled=20, spool_path="/r/spool.lp"))
    assert len(spilled.warnings) == 1 and "/r/spool.lp" in spilled.warnings[0]


def test_sim_profiles_are_labelled_by_the_engine_they_imitate() -> None:
    assert profile_engine("ollama-4090-llama8b") == "ollama"
    assert profile_engine("vllm-4090-llama8b") == "vllm"
    assert profile_engine("fast") == "sim"
