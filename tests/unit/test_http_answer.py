"""The answer parser (httptools + the token lane) against whole HTTP answers, split every way.

The token lane hands plain token chunks straight to the accumulator; the full path parses the
chunked encoding and the events. Both must give the same result, stamps included, however the
answer is cut into reads.
"""

from __future__ import annotations

import gc
import random
import weakref

import httptools
import pytest

from loadgen.backends.base import StreamResult
from loadgen.backends.framing import SseDecoder, StreamParser
from loadgen.backends.ollama import OllamaBackend
from loadgen.backends.openai import OpenAIAccumulator, OpenAIBackend
from loadgen.sim.bodies import SimRequest
from loadgen.sim.openai_wire import OpenAIFormat
from loadgen.swarm.http_answer import Answer, ConnectionClosed
from tests.unit.streams.replay import STREAMS

_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
_TEXTS = [
    " the",
    " cat",
    ' "quoted"',
    " back\\slash",
    " café",
    " 猫",
    *[f" w{i}" for i in range(40)],
]


def _sim_body() -> bytes:
    request = SimRequest("openai", "chat", "sim-paced", True, 4, None, 0, False, None)
    wire = OpenAIFormat(request, "chatcmpl-sim-7")
    body = wire.head() + wire.tokens(_TEXTS, 0, None) + wire.tokens(["."], len(_TEXTS), "length")
    return body + b"data: [DONE]\n\n"


def _chunked(pieces: list[bytes]) -> bytes:
    out = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces if p)
    return out + b"0\r\n\r\n"


def _events(body: bytes) -> list[bytes]:
    return [event + b"\n\n" for event in body.split(b"\n\n")[:-1]]


def _answers() -> list[tuple[str, bytes, list[int]]]:
    """(name, the whole answer, where the engine's chunks end): one event per chunk (vLLM,
    the simulator), and the same body in random chunk sizes (events split across chunks)."""
    bodies = [("sim", _sim_body())]
    bodies += [(path.name, path.read_bytes()) for path in sorted(STREAMS.glob("*.sse"))]
    out = []
    for name, body in bodies:
        for label, pieces in (("event per chunk", _events(body)), ("random", _random(body))):
            wire, ends = _HEAD, []
            for piece in pieces:
                wire += b"%x\r\n" % len(piece) + piece + b"\r\n"
                ends.append(len(wire))
            out.append((f"{name}, {label}", wire + b"0\r\n\r\n", ends))
    return out


def _random(body: bytes) -> list[bytes]:
    rng, out, i = random.Random(len(body)), [], 0
    while i < len(body):
        n = rng.randint(1, 90)
        out.append(body[i : i + n])
        i += n
    return out


def _feed(answer: Answer, wire: bytes, cuts: list[int]) -> StreamResult:
    start = 0
    for stamp, end in enumerate([*cuts, len(wire)]):
        if end > start:
            answer.feed(wire[start:end], 1000 + stamp)
            start = end
    assert answer.complete
    return answer.parser.finish(answer.stamp_ns)


def _no_lane() -> StreamParser:
    parser = OpenAIBackend().parser()
    parser.token_event = None
    return parser


def _splits(wire: bytes, ends: list[int]) -> dict[str, list[int]]:
    return {
        "engine's chunks": ends,
        "headers apart": [len(_HEAD), *ends[1::3]],
        "every 7 bytes": list(range(7, len(wire), 7)),
        "every byte": list(range(1, len(wire))),
        "whole": [],
    }


@pytest.mark.parametrize(
    ("name", "wire", "ends"), _answers(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_token_lane_gives_what_the_full_path_gives(
    name: str, wire: bytes, ends: list[int]
) -> None:
    for split, cuts in _splits(wire, ends).items():
        lane = _feed(Answer(OpenAIBackend().parser()), wire, cuts)
        full = _feed(Answer(_no_lane()), wire, cuts)
        assert lane == full, (name, split)
        assert lane.ok or "sim" not in name, (name, split)


def test_one_chunk_per_read_takes_the_lane_and_stamps_each_token_with_its_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = _events(_sim_body())
    wire = _HEAD + _chunked(events)
    ends, at = [len(_HEAD)], len(_HEAD)
    for event in events:
        at += len(b"%x\r\n" % len(event)) + len(event) + 2
        ends.append(at)
    bodies: list[bytes] = []
    original = Answer.on_body
    monkeypatch.setattr(
        Answer, "on_body", lambda self, body: (bodies.append(body), original(self, body))
    )
    result = _feed(Answer(OpenAIBackend().parser()), wire, ends)
    # Only the role chunk, the four texts with escapes (the simulator escapes non-ASCII), the
    # last token (finish_reason) and [DONE] take the full path: every plain token takes the lane.
    assert len(bodies) == 7 and len(events) == len(_TEXTS) + 3
    assert result.ok and result.n_out == len(_TEXTS) + 1
    assert result.text == "".join(_TEXTS) + "."
    # Read k (after the headers' read 1000) holds event k-1: the role chunk, then token 1, ...
    assert result.frame_times_ns == tuple(1000 + k for k in range(2, 2 + len(_TEXTS) + 1))


def test_an_error_answer_keeps_its_status_retry_after_and_body() -> None:
    body = b'{"error": {"message": "queue full", "type": "overloaded"}}'
    wire = (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"retry-after: 2\r\ncontent-length: %d\r\n\r\n" % len(body)
    ) + body
    answer = Answer(OpenAIBackend().parser())
    answer.feed(wire[:40], 1)
    answer.feed(wire[40:], 2)
    assert (answer.complete, answer.status, answer.ok_status) == (True, 503, False)
    assert answer.retry_after == "2" and answer.keep_alive
    assert bytes(answer.error_body) == body and not answer.got_body


def test_a_body_that_ends_with_the_connection() -> None:
    events = _events(_sim_body())
    answer = Answer(OpenAIBackend().parser())
    answer.feed(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n", 1
    )
    for i, event in enumerate(events):
        answer.feed(event, 2 + i)
    assert not answer.complete
    answer.eof()
    assert answer.complete and not answer.keep_alive
    result = answer.parser.finish(answer.stamp_ns)
    assert result.ok and result.n_out == len(_TEXTS) + 1


def test_a_chunked_answer_cut_short_is_a_closed_connection() -> None:
    answer = Answer(OpenAIBackend().parser())
    answer.feed(_HEAD + _chunked(_events(_sim_body()))[:300], 1)
    with pytest.raises(ConnectionClosed):
        answer.eof()


def test_an_interim_answer_is_skipped_and_garbage_is_a_parser_error() -> None:
    answer = Answer(OpenAIBackend().parser())
    answer.feed(b"HTTP/1.1 100 Continue\r\n\r\n" + _HEAD + _chunked(_events(_sim_body())), 1)
    assert answer.complete and answer.status == 200
    assert answer.parser.finish(1).ok
    with pytest.raises(httptools.HttpParserError):
        Answer(OpenAIBackend().parser()).feed(b"SSH-2.0-OpenSSH\r\n\r\n", 1)


def test_ndjson_has_no_lane_and_still_parses() -> None:
    lines = [b'{"message":{"role":"assistant","content":"hi"},"done":false}\n'] * 3
    lines.append(
        b'{"message":{"role":"assistant","content":""},"done":true,"eval_count":3,'
        b'"prompt_eval_count":5,"done_reason":"stop"}\n'
    )
    head = _HEAD.replace(b"text/event-stream", b"application/x-ndjson")
    answer = Answer(OllamaBackend().parser())
    answer.feed(head + _chunked(lines), 7)
    result = answer.parser.finish(answer.stamp_ns)
    assert result.ok and result.n_out == 3 and result.text == "hihihi"


def test_the_full_path_matches_a_plain_sse_parser_on_the_body() -> None:
    body = _sim_body()
    answer = Answer(_no_lane())
    answer.feed(_HEAD + _chunked(_random(body)), 5)
    reference = StreamParser(SseDecoder(), OpenAIAccumulator())
    reference.feed(body, 5)
    assert answer.parser.finish(5) == reference.finish(5)


def test_big_reads_cut_anywhere_keep_the_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    """At a fast engine's pace a read holds many chunks and ends anywhere: the lane hands
    httptools only the cut chunks and the frames that are no plain token."""
    request = SimRequest("openai", "chat", "sim-paced", True, 4, None, 0, False, None)
    wire = OpenAIFormat(request, "chatcmpl-sim-7")
    words = [f" w{i}" for i in range(300)]
    body = wire.head() + wire.tokens(words, 0, None) + wire.tokens(["."], 300, "length")
    events = _events(body + b"data: [DONE]\n\n")
    answer_wire = _HEAD + _chunked(events)
    cuts = list(range(997, len(answer_wire), 997))
    bodies: list[bytes] = []
    original = Answer.on_body
    monkeypatch.setattr(
        Answer, "on_body", lambda self, body: (bodies.append(body), original(self, body))
    )
    lane = _feed(Answer(OpenAIBackend().parser()), answer_wire, cuts)
    # At most the two halves of each cut chunk, and the role chunk, the last token and [DONE]
    assert len(bodies) <= 2 * len(cuts) + 3 < len(events) // 2
    assert lane == _feed(Answer(_no_lane()), answer_wire, cuts)
    assert lane.ok and lane.n_out == 301


def test_sizes_written_another_way_take_the_full_path_to_the_same_result() -> None:
    """The lane knows a chunk's size written in lower-case hex without a leading zero; upper
    case or zero-padded sizes (HTTP allows both) are parsed by httptools to the same frames."""
    _, wire, ends = _answers()[0]
    body = wire[len(_HEAD) :]
    expected = _feed(Answer(OpenAIBackend().parser()), wire, ends)
    for size_text in (b"%X", b"%04x"):
        pieces, pos = [], 0
        while True:
            line_end = body.index(b"\r\n", pos)
            size = int(body[pos:line_end], 16)
            pieces.append(size_text % size + body[line_end : line_end + 2 + size + 2])
            pos = line_end + 2 + size + 2
            if size == 0:
                break
        rewritten = _HEAD + b"".join(pieces)
        assert rewritten != wire
        result = _feed(Answer(OpenAIBackend().parser()), rewritten, [])
        assert result.text == expected.text and result.n_out == expected.n_out and result.ok


def test_an_ended_answer_is_freed_at_once_and_ignores_bytes_after_it() -> None:
    """The parser refers to its answer; it is dropped when the answer ends, so the answer (its
    frame times with it) goes when its last reference does, without the garbage collector.
    Bytes after the end are none of the answer: they are ignored and the connection not reused."""
    _, wire, ends = _answers()[0]
    answer = Answer(OpenAIBackend().parser())
    _feed(answer, wire, ends)
    assert answer.complete and answer.keep_alive
    answer.feed(b"HTTP/1.1 200 OK\r\n", 99)
    assert answer.complete and not answer.keep_alive and answer.status == 200
    gone = weakref.ref(answer)
    gc.disable()
    try:
        del answer
        assert gone() is None
    finally:
        gc.enable()
