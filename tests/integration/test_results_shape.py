"""The results directory keeps its shape: file names, JSON keys and types, CSV headers and rows.

tests/golden/results_shape.json was written by `python -m tests.fixtures.results_shape DIR` on a
run of the command below; a change to it is a change of the results format, made on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.results_shape import fingerprint
from tests.fixtures.swarm import run_swarm

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "results_shape.json"
COMMAND = (
    "--sim", "fast", "--users", "1,2", "--step-time", "3s", "--seed", "3",
    "--sidecar", "--output-tokens", "16",
)  # fmt: skip


@pytest.mark.slow
def test_seeded_run_has_the_pinned_results_shape(tmp_path: Path) -> None:
    run = run_swarm(tmp_path / "run", *COMMAND)
    assert run.returncode == 0, run.stderr
    want = json.loads(GOLDEN.read_text())
    got = json.loads(json.dumps(fingerprint(run.results)))
    for name in want:
        assert got.get(name) == want[name], f"{name} changed shape"
    assert got == want
