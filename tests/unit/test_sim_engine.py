"""The pure engine model: admission, step cost, KV blocks, preemption, and the calibration."""

from __future__ import annotations

import pytest

from loadgen.reference import REFERENCE as REFERENCE_TABLE
from loadgen.sim.engine import Engine, Sequence, blocks_for, make_engine
from loadgen.sim.profiles import Profile, load_profile
from loadgen.sim.virtual import closed_loop


def run_until_done(engine: Engine, limit: int = 10_000) -> int:
    now = steps = 0
    while engine.has_work() and steps < limit:
        step = engine.plan_step(now)
        assert step is not None
        engine.finish_step(step, now, now + 1)
        now += 1
        steps += 1
    return steps


def test_step_cost_is_base_plus_batch_plus_prefill() -> None:
    engine = Engine(Profile(name="t", step_base_ms=10, step_per_seq_ms=2, prefill_per_token_ms=0.5))
    for _ in range(3):
        engine.submit(Sequence(tokens_in=8, tokens_target=4))
    step = engine.plan_step(0)
    assert step is not None and len(step.admitted) == 3 and step.prefill_tokens == 24
    assert step.duration_ms == pytest.approx(10 + 2 * 3 + 0.5 * 24)
    engine.finish_step(step, 0, 1)
    second = engine.plan_step(1)
    assert second is not None and second.admitted == () and second.duration_ms == 16


def test_every_step_emits_one_token_to_every_running_sequence() -> None:
    engine = Engine(Profile(name="t"))
    seqs = [Sequence(tokens_in=4, tokens_target=n) for n in (1, 3, 5)]
    for s in seqs:
        engine.submit(s)
    assert run_until_done(engine) == 5
    assert [s.tokens_out for s in seqs] == [1, 3, 5]
    assert all(s.state == "finished" for s in seqs) and engine.blocks_used == 0
    assert engine.tokens_out_total == 9


def test_max_running_caps_the_batch_and_the_queue_is_fifo() -> None:
    engine = Engine(Profile(name="t", max_running=2))
    seqs = [Sequence(tokens_in=1, tokens_target=2) for _ in range(5)]
    for s in seqs:
        engine.submit(s)
    step = engine.plan_step(0)
    assert step is not None and list(step.running) == seqs[:2] and len(engine.waiting) == 3
    engine.finish_step(step, 0, 1)
    run_until_done(engine)
    admitted = [s.admitted_ns for s in seqs]
    assert admitted == sorted(admitted) and all(s.tokens_out == 2 for s in seqs)


def test_bounded_queue_refuses_beyond_free_slots_plus_queue() -> None:
    engine = make_engine(Profile(name="t", scheduler="fifo", max_running=2, max_queue=3))
    accepted = [engine.submit(Sequence(tokens_in=1, tokens_target=5)) for _ in range(7)]
    assert accepted == [True] * 5 + [False] * 2


def test_kv_budget_blocks_admission_and_preempts_the_newest() -> None:
    engine = Engine(Profile(name="t", kv_blocks=6, max_model_len=64))
    a, b = Sequence(tokens_in=30, tokens_target=40), Sequence(tokens_in=30, tokens_target=40)
    c = Sequence(tokens_in=60, tokens_target=4)
    for s in (a, b, c):
        engine.submit(s)
    step = engine.plan_step(0)  # a and b take 2 blocks each; c needs 4 and must wait
    assert step is not None and step.running == (a, b) and engine.blocks_used == 4
    assert blocks_for(31) == 2
    run_until_done(engine)
    assert engine.preemptions_total > 0 and b.preemptions > 0 and a.preemptions == 0
    assert all(s.state == "finished" for s in (a, b, c))
    assert (a.tokens_out, b.tokens_out, c.tokens_out) == (40, 40, 4) and engine.blocks_used == 0


def test_preempted_sequence_pays_prefill_of_prompt_and_output_again() -> None:
    engine = Engine(Profile(name="t", kv_blocks=4, max_model_len=64, prefill_per_token_ms=1.0))
    a, b = Sequence(tokens_in=16, tokens_target=40), Sequence(tokens_in=15, tokens_target=40)
    engine.submit(a)
    engine.submit(b)
    now = 0
    while b.preemptions == 0:
        step = engine.plan_step(now)
        assert step is not None
        engine.finish_step(step, now, now + 1)
        now += 1
    out_at_preemption = b.tokens_out
    while b.state != "running":
        step = engine.plan_step(now)
        assert step is not None
        engine.finish_step(step, now, now + 1)
        now += 1
    assert step.admitted == (b,) and step.prefill_tokens == 15 + out_at_preemption


def test_cancel_frees_slot_and_blocks() -> None:
    engine = Engine(Profile(name="t", max_running=1))
    a, b = Sequence(tokens_in=20, tokens_target=9), Sequence(tokens_in=1, tokens_target=9)
    engine.submit(a)
    engine.submit(b)
    engine.plan_step(0)
    engine.cancel(a)
    engine.cancel(b)
    assert a.state == b.state == "cancelled" and not engine.has_work() and engine.blocks_used == 0


REFERENCE = {  # users: (tok/s, TTFT ms or None), from loadgen/reference.py
    name: {u: (ref.tok_s[u], ref.ttft_ms.get(u)) for u in ref.tok_s}
    for name, ref in REFERENCE_TABLE.items()
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_calibrated_profiles_reproduce_the_reference_in_virtual_time(name: str) -> None:
    profile = load_profile(name)
    for users, (tok_s, ttft_ms) in REFERENCE[name].items():
        r = closed_loop(profile, users, 128, 256, duration_s=120, warmup_s=90, ramp_s=30)
        assert r.output_tok_s == pytest.approx(tok_s, rel=0.10), (users, r)
        if ttft_ms is not None:
            assert r.ttft_mean_ms == pytest.approx(ttft_ms, rel=0.10), (users, r)


def test_fifo_flat_continuous_scales_in_virtual_time() -> None:
    def ratio(name: str) -> float:
        p = load_profile(name)
        return closed_loop(p, 10, 128, 256).output_tok_s / closed_loop(p, 1, 128, 256).output_tok_s

    assert ratio("ollama-4090-llama8b") < 3 < 5 < ratio("vllm-4090-llama8b")


def test_a_request_as_long_as_the_whole_kv_budget_completes_alone() -> None:
    engine = Engine(Profile(name="t", kv_blocks=4, max_model_len=64))
    seq = Sequence(tokens_in=10, tokens_target=54)  # exactly 64 tokens = 4 blocks
    engine.submit(seq)
    run_until_done(engine)
    assert seq.state == "finished" and seq.tokens_out == 54 and engine.preemptions_total == 0
