"""Synthetic prompts (exact token counts, reproducible), datasets, multi-turn history."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest

from loadgen.errors import LoadgenError
from loadgen.tokens import count_tokens
from loadgen.workload import (
    Conversation,
    SyntheticSpec,
    SyntheticWorkload,
    Turn,
    estimate_prompt_tokens,
    load_dataset,
)


def test_synthetic_exact_lengths_and_reproducible() -> None:
    workload = SyntheticWorkload(SyntheticSpec(input_tokens=300, output_tokens=64))
    a = [workload.next_conversation(random.Random(7)) for _ in range(3)]
    conv = a[0]
    assert len(conv.turns) == 1 and conv.system is None
    assert count_tokens(conv.turns[0].user) == 300
    assert conv.turns[0].max_tokens == 64
    again = workload.next_conversation(random.Random(7))
    assert again == conv
    assert workload.next_conversation(random.Random(8)) != conv


def test_synthetic_spread() -> None:
    spec = SyntheticSpec(input_tokens=200, input_spread=40, output_tokens=100, output_spread=10)
    rng = random.Random(1)
    turns = [SyntheticWorkload(spec).next_conversation(rng).turns[0] for _ in range(400)]
    lengths = [count_tokens(t.user) for t in turns]
    assert 190 < statistics.mean(lengths) < 210
    assert 30 < statistics.stdev(lengths) < 50
    uniform = SyntheticSpec(input_tokens=50, input_spread=5, spread="uniform")
    rng = random.Random(2)
    lengths = [
        count_tokens(SyntheticWorkload(uniform).next_conversation(rng).turns[0].user)
        for _ in range(200)
    ]
    assert min(lengths) == 45 and max(lengths) == 55


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_tokens": 0}, "input tokens must be at least 1"),
        ({"output_tokens": 0}, "output tokens must be at least 1"),
        ({"input_spread": -1}, "must not be negative"),
        ({"spread": "zipf"}, "valid: normal, uniform"),
        ({"turns": 0}, "turns must be at least 1"),
    ],
)
def test_synthetic_spec_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(LoadgenError, match=message):
        SyntheticSpec(**kwargs)  # type: ignore[arg-type]


def test_multi_turn_history_carries_replies() -> None:
    spec = SyntheticSpec(input_tokens=5, output_tokens=8, turns=3, system_prompt="Be brief.")
    conv = SyntheticWorkload(spec).next_conversation(random.Random(3))
    assert len(conv.turns) == 3
    first = conv.messages_for_turn(0, [])
    assert [m["role"] for m in first] == ["system", "user"]
    third = conv.messages_for_turn(2, ["reply one", "reply two"])
    assert [m["role"] for m in third] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert third[2]["content"] == "reply one" and third[4]["content"] == "reply two"
    assert [third[1]["content"], third[3]["content"], third[5]["content"]] == [
        t.user for t in conv.turns
    ]
    assert estimate_prompt_tokens(third) == 3 + 5 * 3 + 2 * 2  # "Be brief." is 3 tokens
    with pytest.raises(ValueError, match="needs 2 earlier replies"):
        conv.messages_for_turn(2, ["only one"])
    with pytest.raises(IndexError):
        conv.messages_for_turn(3, ["a", "b", "c"])


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_prompts_and_messages(tmp_path: Path) -> None:
    lines = [
        {"prompt": "What is KV cache?", "max_tokens": 50},
        {},
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "and now?"},
            ],
            "output_tokens": 20,
        },
    ]
    text = "\n".join(json.dumps(x) for x in lines if x) + "\n\n"
    workload = load_dataset(_write(tmp_path, "p.jsonl", text))
    first, second = workload.conversations
    assert first == Conversation(turns=(Turn("What is KV cache?", 50),))
    assert second.system == "You are terse." and second.turns == (Turn("and now?", 20),)
    assert second.messages_for_turn(0, []) == (
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and now?"},
    )
    picks = {workload.next_conversation(random.Random(s)).turns[0].user for s in range(20)}
    assert picks == {"What is KV cache?", "and now?"}


SHAREGPT = [
    {
        "id": "a",
        "conversations": [
            {"from": "system", "value": "Answer well."},
            {"from": "human", "value": "Explain batching."},
            {"from": "gpt", "value": "Batching groups requests together, so the GPU stays busy."},
            {"from": "human", "value": "And paging?"},
            {"from": "gpt", "value": "Paging splits the cache."},
        ],
    },
    {"id": "b", "conversations": [{"from": "gpt", "value": "orphan reply"}]},
    {"id": "c", "conversations": [{"from": "human", "value": "Hi"}]},
]


def test_sharegpt_json_array(tmp_path: Path) -> None:
    workload = load_dataset(_write(tmp_path, "sg.json", json.dumps(SHAREGPT, indent=1)))
    assert len(workload.conversations) == 2  # "b" has no human message
    conv = workload.conversations[0]
    assert conv.system == "Answer well."
    assert conv.turns == (Turn("Explain batching.", 11), Turn("And paging?", 5))
    assert workload.conversations[1].turns == (Turn("Hi"),)


def test_sharegpt_jsonl_and_overrides(tmp_path: Path) -> None:
    text = "".join(json.dumps(x) + "\n" for x in SHAREGPT)
    workload = load_dataset(
        _write(tmp_path, "sg.jsonl", text), max_turns=1, output_tokens=32, system_prompt="Sys."
    )
    first, second = workload.conversations
    assert first.turns == (Turn("Explain batching.", 32),) and first.system == "Answer well."
    assert second.turns == (Turn("Hi", 32),) and second.system == "Sys."


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.jsonl", '{"prompt": "ok"}\n{"prompt": \n', r"bad\.jsonl:2: bad JSON"),
        ("bad.json", '[\n{"prompt": "ok"},\n{oops}\n]', r"bad\.json:3: bad JSON"),
        ("empty.jsonl", "\n\n", "has no usable prompts"),
        ("empty.json", "[]", "has no usable prompts"),
        ("none.json", '[{"conversations": []}]', "has no usable prompts"),
        ("keys.jsonl", '{"text": "x"}\n', r"keys\.jsonl:1: needs one of prompt, messages"),
        ("list.jsonl", "[1]\n", "expected a JSON object"),
        ("blank.jsonl", '{"prompt": "  "}\n', "prompt must be a non-empty string"),
        ("mt.jsonl", '{"prompt": "x", "max_tokens": 0}\n', "max_tokens must be a positive"),
        ("last.jsonl", '{"messages": [{"role": "assistant", "content": "x"}]}\n', "role user"),
    ],
)
def test_dataset_errors_are_one_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(LoadgenError, match=message) as info:
        load_dataset(_write(tmp_path, name, text))
    assert "\n" not in str(info.value)


def test_missing_dataset(tmp_path: Path) -> None:
    with pytest.raises(LoadgenError, match="no such file"):
        load_dataset(tmp_path / "nope.jsonl")
