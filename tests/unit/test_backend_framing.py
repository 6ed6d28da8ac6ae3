"""SSE and NDJSON decoders: frames split across chunks, many per chunk, comments, bad JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen.backends.framing import Decoded, NdjsonDecoder, SseDecoder

STREAMS = Path(__file__).parent / "streams"


def _feed_all(decoder: SseDecoder | NdjsonDecoder, chunks: list[bytes]) -> list[Decoded]:
    out: list[Decoded] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out + decoder.close()


def _split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_sse_frames_comments_and_done() -> None:
    data = b': ping\n\ndata: {"a": 1}\n\nevent: x\nid: 7\ndata: {"b": 2}\n\ndata: [DONE]\n\n'
    out = _feed_all(SseDecoder(), [data])
    assert [d.kind for d in out] == ["frame", "frame", "done"]
    assert out[0].frame == {"a": 1}
    assert out[1].frame == {"b": 2}


def test_sse_frame_is_yielded_as_soon_as_complete() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b'data: {"a"') == []
    assert decoder.feed(b": 1}\n") == []
    out = decoder.feed(b'\ndata: {"b": 2}\n\ndata: {"c"')
    assert [d.frame for d in out] == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize("sep", [b"\n", b"\r\n", b"\r"])
def test_sse_line_endings(sep: bytes) -> None:
    data = b"data: {}" + sep + sep + b'data:{"x":1}' + sep + sep + b"data: [DONE]" + sep + sep
    for size in (1, 2, 3, len(data)):
        out = _feed_all(SseDecoder(), _split_every(data, size))
        assert [d.kind for d in out] == ["frame", "frame", "done"], (sep, size)
        assert out[1].frame == {"x": 1}


def test_sse_multiline_data_is_joined() -> None:
    out = _feed_all(SseDecoder(), [b'data: {"a":\ndata: 1}\n\n'])
    assert out[0].frame == {"a": 1}


def test_sse_non_json_data_is_malformed() -> None:
    out = _feed_all(SseDecoder(), [b"data: not json\n\ndata: [1, 2]\n\n"])
    assert [d.kind for d in out] == ["malformed", "malformed"]
    assert out[0].raw == b"not json"


def test_sse_close_flushes_event_missing_final_blank_line() -> None:
    assert [d.frame for d in _feed_all(SseDecoder(), [b'data: {"a": 1}\n'])] == [{"a": 1}]
    # a partial line (connection cut mid-frame) is dropped: the stream reads as truncated
    assert _feed_all(SseDecoder(), [b'data: {"a": 1']) == []


def test_ndjson_lines_blank_lines_and_tail() -> None:
    out = _feed_all(NdjsonDecoder(), [b'{"a": 1}\n\n{"b"', b": 2}\r\n", b"oops\n", b'{"c": 3}'])
    assert [d.kind for d in out] == ["frame", "frame", "malformed", "frame"]
    assert out[3].frame == {"c": 3}
    assert _feed_all(NdjsonDecoder(), [b'{"cut": ']) == []


@pytest.mark.parametrize(
    ("name", "decoder_type"),
    [(p.name, SseDecoder) for p in sorted(STREAMS.glob("*.sse"))]
    + [(p.name, NdjsonDecoder) for p in sorted(STREAMS.glob("*.ndjson"))],
)
def test_recorded_stream_split_at_every_byte_decodes_identically(
    name: str, decoder_type: type[SseDecoder] | type[NdjsonDecoder]
) -> None:
    data = (STREAMS / name).read_bytes()
    whole = _feed_all(decoder_type(), [data])
    assert whole, name
    for size in (1, 2, 7):
        assert _feed_all(decoder_type(), _split_every(data, size)) == whole, (name, size)


def test_sse_events_across_the_fast_and_line_by_line_paths() -> None:
    """One-line `data:` events take the fast path; comments, multi-line events, extra blank
    lines and a switch to '\\r\\n' mid-stream take the line-by-line one: any split, same frames."""
    data = (
        b'data: {"a": 1}\n\n: ping\n\ndata: {"b":\ndata: 2}\n\n\n\ndata:{"c": 3}\n\n'
        b'data: {"d": 4}\r\n\r\nevent: x\ndata: {"e": 5}\n\ndata: {"f": 6}\ndata: [DONE]\n\n'
    )
    whole = _feed_all(SseDecoder(), [data])
    assert [d.frame for d in whole] == [{"a": 1}, {"b": 2}, {"c": 3}, {"d": 4}, {"e": 5}, None]
    assert whole[-1].kind == "malformed"  # two data lines joined: '{"f": 6}\n[DONE]'
    for size in range(1, 12):
        assert _feed_all(SseDecoder(), _split_every(data, size)) == whole, size
