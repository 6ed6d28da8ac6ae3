"""A mistyped --model stops `loadgen swarm` before any load: the server's own message and the
models it lists, exit 2, no requests.jsonl; a model it serves runs as before."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.sim import SimFactory
from tests.fixtures.swarm import run_swarm

SERVERS = {  # API -> (simulator profile, swarm flags, the server's words for an unknown model)
    "openai": ("fast", [], "The model `typo-model` does not exist."),
    "ollama": ("ollama-4090-llama8b", ["--api", "ollama"], "model 'typo-model' not found"),
}


@pytest.mark.parametrize("api", sorted(SERVERS))
def test_a_model_the_server_does_not_serve_is_bad_input(
    api: str, sim_server: SimFactory, tmp_path: Path
) -> None:
    profile, flags, message = SERVERS[api]
    with sim_server(profile, "--models", "m1,m2") as sim:
        run = run_swarm(
            tmp_path / "r", "--host", sim.url, *flags, "--model", "typo-model", "--run-time", "5s"
        )
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loadgen: error:"), run.stderr
    assert message in lines[0] and "m1, m2" in lines[0]
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "r" / "requests.jsonl").exists()


def test_the_simulator_answers_unknown_models_as_vllm_does(sim_server: SimFactory) -> None:
    with sim_server("vllm-4090-llama8b", "--models", "m1") as sim:
        listing = json.loads(urllib.request.urlopen(sim.url + "/v1/models").read())
        body = {"model": "x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
        request = urllib.request.Request(
            sim.url + "/v1/chat/completions", json.dumps(body).encode(), method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
    assert [m["id"] for m in listing["data"]] == ["m1"]
    assert refused.value.code == 404
    assert json.loads(refused.value.read()) == {
        "object": "error",
        "message": "The model `x` does not exist.",
        "type": "NotFoundError",
        "param": None,
        "code": 404,
    }


def test_sim_models_reach_the_simulator_and_the_preflight_leaves_no_truth_row(
    tmp_path: Path,
) -> None:
    sim = ["--sim", "fast", "--sim-models", "m1", "--sim-truth", str(tmp_path / "truth.jsonl")]
    bad = run_swarm(tmp_path / "bad", *sim, "--model", "typo-model")
    assert bad.returncode == 2 and "`typo-model` does not exist" in bad.stderr
    assert "m1" in bad.stderr and not (tmp_path / "bad" / "requests.jsonl").exists()
    good = run_swarm(tmp_path / "good", *sim, "--model", "m1", "--run-time", "3s")
    assert good.returncode == 0, good.stderr
    records = good.records()
    truth = (tmp_path / "truth.jsonl").read_text().splitlines()
    assert records and {r["model"] for r in records} == {"m1"}
    assert len(truth) == len(records)  # the run's requests only: not the preflight
