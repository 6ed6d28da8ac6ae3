"""The OpenAI parser's byte-level path for plain token frames gives what the full JSON decode
gives, on the simulator's frames and on every recorded stream, whole and split at every byte."""

from __future__ import annotations

import pytest

from loadgen.backends.base import StreamResult
from loadgen.backends.framing import Decoded, SseDecoder, StreamParser
from loadgen.backends.openai import OpenAIAccumulator, OpenAIBackend
from loadgen.sim.bodies import SimRequest
from loadgen.sim.openai_wire import OpenAIFormat
from tests.unit.streams.replay import STREAMS

# Plain words, then text that must take the full decode: quotes, backslashes, control
# characters (escaped by the writer), and text outside ASCII (plain bytes, decoded here).
_TEXTS = [" the", " cat", ' "quoted"', " back\\slash", "tab\tand\nnewline", " café", " 猫", "!"]


def _sim_stream(model: str = "sim-paced", request_id: str = "chatcmpl-sim-7") -> bytes:
    request = SimRequest("openai", "chat", model, True, 4, None, 0, False, None)
    wire = OpenAIFormat(request, request_id)
    body = wire.head() + wire.tokens(_TEXTS, 0, None) + wire.tokens(["."], len(_TEXTS), "length")
    return body + b"data: [DONE]\n\n"


def _full_decode() -> StreamParser:
    return StreamParser(SseDecoder(), OpenAIAccumulator())


def _feed(parser: StreamParser, data: bytes, size: int | None) -> StreamResult:
    """Whole events one by one (size None), or `size` bytes at a time."""
    if size is None:
        chunks = [event + b"\n\n" for event in data.split(b"\n\n")[:-1]]
    else:
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
    for i, chunk in enumerate(chunks):
        parser.feed(chunk, i)
    return parser.finish(len(chunks))


def _streams() -> list[tuple[str, bytes]]:
    recorded = [(path.name, path.read_bytes()) for path in sorted(STREAMS.glob("*.sse"))]
    odd_names = [
        ("sim, model with a quote", _sim_stream(model='m"x')),
        ("sim, é in id", _sim_stream(request_id="chatcmpl-é")),
    ]
    return [("sim", _sim_stream()), *odd_names, *recorded]


@pytest.mark.parametrize(
    ("name", "data"), _streams(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_token_path_equals_the_full_decode(name: str, data: bytes) -> None:
    for size in (None, 1, 7, len(data)):
        fast = _feed(OpenAIBackend().parser(), data, size)
        full = _feed(_full_decode(), data, size)
        assert fast == full, (name, size)


def test_plain_token_frames_take_the_byte_path_and_the_rest_the_decode() -> None:
    decoded: list[Decoded] = OpenAIBackend().parser().decoder.feed(_sim_stream())
    tokens = [d.text for d in decoded if d.kind == "token"]
    # the role chunk, the escaped texts (the simulator escapes non-ASCII too) and the frame with
    # finish_reason are decoded in full
    assert tokens == [" the", " cat", "!"]
    assert [d.kind for d in decoded].count("frame") == 7
    raw_utf8 = _sim_stream().split(b"\n\n")[1].replace(b" the", " 猫".encode()) + b"\n\n"
    assert OpenAIBackend().parser().decoder.feed(raw_utf8) == [Decoded("token", text=" 猫")]
    result = _feed(OpenAIBackend().parser(), _sim_stream(), None)
    assert (result.ok, result.token_frames, result.text) == (True, 9, "".join(_TEXTS) + ".")


def test_a_token_frame_after_the_end_marker_is_ignored_and_bad_utf8_is_malformed() -> None:
    frame = _sim_stream().split(b"\n\n")[1] + b"\n\n"
    parser = OpenAIBackend().parser()
    parser.feed(b"data: [DONE]\n\n" + frame, 1)
    assert parser.accumulator.result(2).token_frames == 0
    bad = frame.replace(b" the", b" \xff")
    for parser in (OpenAIBackend().parser(), _full_decode()):
        parser.feed(bad, 1)
        assert parser.finish(2).error_type == "malformed"
