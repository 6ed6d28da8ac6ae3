"""Loading results directories for reports: levels, VRAM from the sidecar, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadgen.errors import LoadgenError
from loadgen.report.runs import load_run, load_runs
from tests.fixtures.results_dirs import write_run


def test_loads_levels_ttft_points_and_failures(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path, "r1", "ollama"))
    assert run.run_id == "r1"
    assert run.engine == "ollama"
    assert load_runs([run.path])[0].label == "ollama"
    assert [lv.users for lv in run.levels] == [1, 10, 50]
    assert run.levels[2].output_tok_s == 155.0
    assert run.levels[1].ttft_p95_ms == pytest.approx(1350.0)
    assert run.n_failed == 3  # one per level
    assert len(run.ttft_points) == 57
    assert run.ttft_points[0].t_s == 0.0
    assert run.ttft_points[0].ttft_ms == pytest.approx(45 * 0.8)


def test_vram_per_level_comes_from_sidecar_samples(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path, "r1", "vllm", vram_gb=(16.1, 20.0, 21.8)))
    assert [lv.vram_peak_bytes for lv in run.levels] == [
        16_100_000_000,
        20_000_000_000,
        21_800_000_000,
    ]
    assert run.vram_idle_bytes == 16_000_000_000


def test_no_sidecar_means_no_vram(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path, "r1", "ollama", sidecar=False))
    assert all(lv.vram_peak_bytes is None for lv in run.levels)
    assert run.vram_idle_bytes is None


def test_colliding_labels_fall_back_to_models_then_run_ids(tmp_path: Path) -> None:
    a, b = write_run(tmp_path, "a", "sim"), write_run(tmp_path, "b", "sim")
    assert [r.label for r in load_runs([a, b])] == ["a", "b"]
    for path, model in ((a, "sim-ollama-4090-llama8b"), (b, "sim-vllm-4090-llama8b")):
        (path / "meta.json").write_text(json.dumps({"engine": "sim", "model": model}))
    labels = [r.label for r in load_runs([a, b])]
    assert labels == ["sim-ollama-4090-llama8b", "sim-vllm-4090-llama8b"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "summary.json").unlink(), "summary.json: missing"),
        (lambda p: (p / "requests.jsonl").unlink(), "requests.jsonl: missing"),
        (lambda p: (p / "summary.json").write_text("{not json"), "not valid JSON"),
        (lambda p: (p / "summary.json").write_text("[1, 2]"), "expected a JSON object"),
        (lambda p: (p / "summary.json").write_text('{"run_id": "x"}'), "no per-level list"),
        (
            lambda p: (p / "summary.json").write_text('{"levels": [{"x": 1}]}'),
            "not a loadgen summary",
        ),
        (
            lambda p: (p / "requests.jsonl").write_text('garbage\n{"x": 1}\n'),
            "requests.jsonl:1: not valid JSON",
        ),
        (
            lambda p: (p / "requests.jsonl").write_text('{"x": 1}\n{"y": 2}\n'),
            "requests.jsonl:1: not a request record",
        ),
    ],
)
def test_bad_results_dir_is_one_clear_error(tmp_path: Path, damage: object, message: str) -> None:
    path = write_run(tmp_path, "r1", "ollama")
    damage(path)  # type: ignore[operator]
    with pytest.raises(LoadgenError, match=message):
        load_run(path)


def test_missing_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LoadgenError, match="not a results directory"):
        load_run(tmp_path / "nope")


def test_torn_last_request_line_is_skipped(tmp_path: Path) -> None:
    path = write_run(tmp_path, "r1", "ollama")
    with (path / "requests.jsonl").open("a") as f:
        f.write('{"run_id": "r1", "api"')
    assert len(load_run(path).ttft_points) == 57
    summary = json.loads((path / "summary.json").read_text())
    assert summary["run_id"] == "r1"
