"""What users send: synthetic prompts of given token lengths, JSONL/ShareGPT datasets, multi-turn.

workload = SyntheticWorkload(SyntheticSpec(input_tokens=512, output_tokens=128, turns=3))
# or: workload = load_dataset("prompts.jsonl")
conversation = workload.next_conversation(rng)  # rng: one seeded random.Random per user
replies: list[str] = []
for i, turn in enumerate(conversation.turns):
    messages = conversation.messages_for_turn(i, replies)  # history + this user message
    ...  # send with max_tokens=turn.max_tokens (None: the caller's default)
    replies.append(reply_text)  # the server's actual reply joins the history
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from loadgen.errors import LoadgenError
from loadgen.tokens import count_tokens, random_text

Message = dict[str, str]
_USER_ROLES = {"human", "user"}
_ASSISTANT_ROLES = {"gpt", "assistant", "chatgpt", "bard", "bing", "model"}


@dataclass(frozen=True, slots=True)
class Turn:
    """One user message and the output length to ask for (None: the caller's default)."""

    user: str
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    """A system prompt, fixed earlier messages (from a dataset), then the user turns to send."""

    turns: tuple[Turn, ...]
    system: str | None = None
    preamble: tuple[Message, ...] = ()

    def messages_for_turn(self, index: int, replies: Sequence[str]) -> tuple[Message, ...]:
        """The messages of turn `index`: system, preamble, every earlier user turn followed by
        its reply (`replies[j]`, what the server answered to turn j), then turn `index`."""
        if not 0 <= index < len(self.turns):
            raise IndexError(f"turn {index} of a {len(self.turns)}-turn conversation")
        if len(replies) < index:
            raise ValueError(f"turn {index} needs {index} earlier replies, got {len(replies)}")
        messages: list[Message] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        messages.extend(self.preamble)
        for turn, reply in zip(self.turns[:index], replies, strict=False):
            messages.append({"role": "user", "content": turn.user})
            messages.append({"role": "assistant", "content": reply})
        messages.append({"role": "user", "content": self.turns[index].user})
        return tuple(messages)


def estimate_prompt_tokens(messages: Iterable[Message]) -> int:
    """N_in estimate when the server reports none: the contents' tokens under loadgen.tokens
    (chat-template tokens are not counted)."""
    return sum(count_tokens(m.get("content", "")) for m in messages)


class Workload(Protocol):
    """A source of conversations; the same rng state gives the same conversation."""

    def next_conversation(self, rng: random.Random) -> Conversation:
        """The next conversation to run."""


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    """Synthetic prompts: lengths in tokens of `loadgen.tokens` (the simulator's tokenizer).

    Each user message has `input_tokens` tokens (± `input_spread`: the standard deviation for
    "normal", the half-width for "uniform"); the system prompt and history come on top.
    `output_tokens` becomes max_tokens (None: the caller's default).
    """

    input_tokens: int = 256
    input_spread: int = 0
    output_tokens: int | None = 128
    output_spread: int = 0
    spread: Literal["normal", "uniform"] = "normal"
    turns: int = 1
    system_prompt: str | None = None

    def __post_init__(self) -> None:
        if self.input_tokens < 1:
            raise LoadgenError(f"input tokens must be at least 1, got {self.input_tokens}")
        if self.output_tokens is not None and self.output_tokens < 1:
            raise LoadgenError(f"output tokens must be at least 1, got {self.output_tokens}")
        if self.input_spread < 0 or self.output_spread < 0:
            raise LoadgenError("token spreads must not be negative")
        if self.spread not in ("normal", "uniform"):
            raise LoadgenError(f"unknown spread {self.spread!r}; valid: normal, uniform")
        if self.turns < 1:
            raise LoadgenError(f"turns must be at least 1, got {self.turns}")


def sample_length(rng: random.Random, mean: int, spread: int, kind: str) -> int:
    """A token count around `mean`, never below 1."""
    if spread == 0:
        return mean
    if kind == "uniform":
        return max(1, rng.randint(mean - spread, mean + spread))
    return max(1, round(rng.gauss(mean, spread)))


class SyntheticWorkload:
    """Generated prompts whose token counts follow a SyntheticSpec."""

    def __init__(self, spec: SyntheticSpec) -> None:
        self.spec = spec

    def next_conversation(self, rng: random.Random) -> Conversation:
        return Conversation(
            turns=tuple(self._turn(rng) for _ in range(self.spec.turns)),
            system=self.spec.system_prompt,
        )

    def _turn(self, rng: random.Random) -> Turn:
        spec = self.spec
        n_in = sample_length(rng, spec.input_tokens, spec.input_spread, spec.spread)
        max_tokens = None
        if spec.output_tokens is not None:
            max_tokens = sample_length(rng, spec.output_tokens, spec.output_spread, spec.spread)
        return Turn(user=random_text(rng, n_in), max_tokens=max_tokens)


class DatasetWorkload:
    """Conversations from a file, picked at random (with replacement) from the user's rng."""

    def __init__(self, conversations: Sequence[Conversation]) -> None:
        if not conversations:
            raise LoadgenError("the dataset has no usable prompts")
        self.conversations = tuple(conversations)

    def next_conversation(self, rng: random.Random) -> Conversation:
        return self.conversations[rng.randrange(len(self.conversations))]


def load_dataset(
    path: str | Path,
    max_turns: int | None = None,
    output_tokens: int | None = None,
    system_prompt: str | None = None,
) -> DatasetWorkload:
    """A DatasetWorkload from JSONL or a JSON array; each entry is one of

    - `{"prompt": "..."}`: one user turn;
    - `{"messages": [...]}`: the last user message is the turn, earlier ones its preamble;
    - ShareGPT `{"conversations": [{"from": "human"|"gpt"|"system", "value": "..."}]}`: every
      human message is a turn; the gpt reply after it sets that turn's max_tokens (its length).

    `max_tokens` or `output_tokens` in an entry sets the last turn's max_tokens. The arguments
    override: `max_turns` keeps the first turns, `output_tokens` sets every turn's max_tokens,
    `system_prompt` applies where an entry has none. Bad input raises a one-line LoadgenError.
    """
    conversations = []
    for where, entry in _entries(Path(path)):
        conversation = _conversation(entry, where)
        if conversation is not None:
            conversations.append(_adjust(conversation, max_turns, output_tokens, system_prompt))
    if not conversations:
        raise LoadgenError(f"dataset {path} has no usable prompts")
    return DatasetWorkload(conversations)


def _entries(path: Path) -> list[tuple[str, Any]]:
    """(location, decoded entry) pairs from a JSON array file or a JSONL file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LoadgenError(f"dataset {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadgenError(f"dataset {path}: cannot read: {exc}") from None
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LoadgenError(f"{path}:{exc.lineno}: bad JSON: {exc.msg}") from None
        return [(f"{path}: entry {i + 1}", item) for i, item in enumerate(items)]
    entries = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append((f"{path}:{lineno}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise LoadgenError(f"{path}:{lineno}: bad JSON: {exc.msg}") from None
    return entries


def _conversation(entry: Any, where: str) -> Conversation | None:
    """One entry as a Conversation; None for a ShareGPT entry without any human message."""
    if not isinstance(entry, dict):
        raise LoadgenError(f"{where}: expected a JSON object")
    if "conversations" in entry:
        return _sharegpt(entry["conversations"], where)
    if "messages" in entry:
        conversation = _messages(entry["messages"], where)
    elif "prompt" in entry:
        conversation = Conversation(turns=(Turn(_text(entry["prompt"], where, "prompt")),))
    else:
        raise LoadgenError(f"{where}: needs one of prompt, messages, conversations")
    max_tokens = _max_tokens(entry, where)
    if max_tokens is None:
        return conversation
    last = Turn(conversation.turns[-1].user, max_tokens)
    return Conversation(
        (*conversation.turns[:-1], last), conversation.system, conversation.preamble
    )


def _text(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LoadgenError(f"{where}: {what} must be a non-empty string")
    return value


def _max_tokens(entry: dict[str, Any], where: str) -> int | None:
    value = entry.get("max_tokens", entry.get("output_tokens"))
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LoadgenError(f"{where}: max_tokens must be a positive integer")
    return value


def _messages(messages: Any, where: str) -> Conversation:
    if not isinstance(messages, list) or not messages:
        raise LoadgenError(f"{where}: messages must be a non-empty list")
    parsed: list[Message] = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise LoadgenError(f"{where}: each message needs a role and a string content")
        parsed.append(
            {"role": message["role"], "content": _text(message.get("content"), where, "content")}
        )
    if parsed[-1]["role"] != "user":
        raise LoadgenError(f"{where}: the last message must have role user")
    system = None
    if parsed[0]["role"] == "system":
        system, parsed = parsed[0]["content"], parsed[1:]
    return Conversation(
        turns=(Turn(parsed[-1]["content"]),), system=system, preamble=tuple(parsed[:-1])
    )


def _sharegpt(messages: Any, where: str) -> Conversation | None:
    if not isinstance(messages, list):
        raise LoadgenError(f"{where}: conversations must be a list")
    system: str | None = None
    turns: list[Turn] = []
    for message in messages:
        if not isinstance(message, dict):
            raise LoadgenError(f"{where}: each conversation message must be an object")
        role = str(message.get("from", message.get("role", ""))).lower()
        value = message.get("value", message.get("content"))
        if not isinstance(value, str) or not value.strip():
            continue  # ShareGPT has empty messages; skip them rather than reject the file
        if role == "system":
            system = value
        elif role in _USER_ROLES:
            turns.append(Turn(value))
        elif role in _ASSISTANT_ROLES and turns and turns[-1].max_tokens is None:
            turns[-1] = Turn(turns[-1].user, max(1, count_tokens(value)))
    return Conversation(tuple(turns), system) if turns else None


def _adjust(
    conversation: Conversation,
    max_turns: int | None,
    output_tokens: int | None,
    system_prompt: str | None,
) -> Conversation:
    turns: Iterable[Turn] = conversation.turns[:max_turns] if max_turns else conversation.turns
    if output_tokens is not None:
        turns = (Turn(t.user, output_tokens) for t in turns)
    return Conversation(
        turns=tuple(turns),
        system=conversation.system or system_prompt,
        preamble=conversation.preamble,
    )
