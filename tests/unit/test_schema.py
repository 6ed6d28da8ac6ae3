"""The InfluxDB schema and line protocol: names, types, tags vs fields, timestamps, encoding."""

from __future__ import annotations

import dataclasses

import pytest
from influxdb_client import Point, WritePrecision

from loadgen import schema
from loadgen.line_protocol import LinePoint, encode
from loadgen.records import (
    EngineSample,
    GpuSample,
    HostSample,
    OllamaTimings,
    ProcessSample,
    RequestRecord,
)

TAGS = schema.run_tags("r1", "sim", "llama", "openai", "ChatUser")
T0 = 1_700_000_000_123_456_789


def record(**kw: object) -> RequestRecord:
    base: dict[str, object] = {
        "run_id": "r1",
        "api": "openai",
        "model": "llama",
        "user_class": "ChatUser",
        "worker": "host:1",
        "stage_index": 2,
        "stage_users": 10,
        "seq": 7,
        "wall_send_unix_ns": T0,
        "t_send_ns": 1_000_000_000,
        "t_first_ns": 1_045_000_000,
        "t_last_ns": 1_245_000_000,
        "t_end_ns": 1_246_000_000,
        "frame_times_ns": (1_045_000_000, 1_145_000_000, 1_245_000_000),
        "n_in": 12,
        "n_in_source": "usage",
        "n_out": 3,
        "n_out_source": "usage",
    }
    base.update(kw)
    return RequestRecord(**base)  # type: ignore[arg-type]


def fields_of(point: LinePoint) -> dict[str, object]:
    return dict(point.fields)


@pytest.mark.parametrize(
    ("tags", "fields"),
    [
        ({"a b": "c,d", "e=f": "g h=i"}, {"s": 'quo"te \\ back', "i": 5, "f": 0.1, "b": False}),
        ({"unicode": "é✓"}, {"x": 1e-7, "y": 12345678901234, "z": -3.25, "t": True}),
    ],
)
def test_line_protocol_matches_influxdb_client_point(
    tags: dict[str, str], fields: dict[str, object]
) -> None:
    ours = LinePoint.build("llm request,x", tags, fields, T0)  # type: ignore[arg-type]
    oracle = Point("llm request,x")
    for k, v in tags.items():
        oracle.tag(k, v)
    for k, v in fields.items():
        oracle.field(k, v)
    oracle.time(T0, WritePrecision.NS)
    # Point prints floats with str() and keeps insertion order of fields; compare parsed parts.
    assert ours.to_line().split(" ")[0] == oracle.to_line_protocol().split(" ")[0]
    assert _field_set(ours.to_line()) == _field_set(oracle.to_line_protocol())
    assert ours.to_line().endswith(f" {T0}")


def _field_set(line: str) -> set[str]:
    # the field section is between the first unescaped space after the tags and the timestamp
    head_end = next(i for i in range(len(line)) if line[i] == " " and line[i - 1] != "\\")
    body = line[head_end + 1 : line.rindex(" ")]
    out = set()
    for part in body.split(","):
        key, _, value = part.partition("=")
        if not value.endswith(("i", '"', "true", "false")):
            value = repr(float(value))
        out.add(f"{key}={value}")
    return out


def test_line_protocol_drops_none_nan_and_empty_tags() -> None:
    point = LinePoint.build(
        "m", {"a": "", "b": None, "c": "x"}, {"u": None, "v": float("nan"), "w": 1.0}, 5
    )
    assert point.to_line() == "m,c=x w=1.0 5"
    assert encode([point, point]) == b"m,c=x w=1.0 5\nm,c=x w=1.0 5\n"


def test_newlines_never_break_a_line() -> None:
    point = LinePoint.build("m", {"t": "a\nb"}, {"s": "line1\nline2"}, 1)
    assert "\n" not in point.to_line()


def test_tags_and_fields_never_share_a_name() -> None:
    for m in schema.MEASUREMENTS.values():
        assert not set(m.tags) & set(m.fields), m.name


def test_request_point_names_tags_and_types() -> None:
    point = schema.request_point(record(), TAGS)
    assert point.measurement == "llm_request"
    assert dict(point.tags) == {
        "run_id": "r1",
        "engine": "sim",
        "model": "llama",
        "api": "openai",
        "user_class": "ChatUser",
        "worker": "host:1",
        "status": "ok",
    }
    fields = fields_of(point)
    assert fields["ttft_ms"] == pytest.approx(45.0)
    assert fields["e2e_ms"] == pytest.approx(245.0)
    assert fields["tpot_ms"] == pytest.approx(100.0)
    assert fields["itl_mean_ms"] == pytest.approx(100.0)
    assert fields["n_out"] == 3 and fields["ok"] is True and fields["seq"] == 7
    _assert_declared_types(point)


def test_failed_request_tags_error_class_never_its_text() -> None:
    rec = record(
        ok=False,
        error_type="http_status",
        http_status=503,
        error_detail="busy\nretry later",
        t_first_ns=None,
        t_last_ns=None,
        frame_times_ns=(),
        n_out=0,
    )
    point = schema.request_point(rec, TAGS)
    tags = dict(point.tags)
    assert tags["status"] == "error" and tags["error_type"] == "http_status"
    assert "busy" not in "".join(tags.values())
    fields = fields_of(point)
    assert fields["error_detail"] == "busy retry later"
    assert "ttft_ms" not in fields and fields["e2e_ms"] == pytest.approx(246.0)
    assert fields["http_status"] == 503
    assert "retry_after_s" not in fields and "retry_wait_s" not in fields  # none asked
    _assert_declared_types(point)


def test_a_retry_after_and_its_wait_reach_influxdb() -> None:
    asked = schema.request_point(record(ok=False, http_status=429, retry_after_s=2.0), TAGS)
    waited = schema.request_point(record(retry_wait_s=2.0), TAGS)
    assert fields_of(asked)["retry_after_s"] == 2.0 and fields_of(waited)["retry_wait_s"] == 2.0
    _assert_declared_types(asked)
    _assert_declared_types(waited)


def test_ollama_breakdown() -> None:
    timings = OllamaTimings(
        total_duration_ns=200_000_000,
        load_duration_ns=10_000_000,
        prompt_eval_count=12,
        prompt_eval_duration_ns=30_000_000,
        eval_count=3,
        eval_duration_ns=150_000_000,
    )
    fields = fields_of(schema.request_point(record(api="ollama", ollama=timings), TAGS))
    assert fields["queue_ms"] == pytest.approx(10.0)
    assert fields["network_client_ms"] == pytest.approx(46.0)  # t_end − t_send 246 − total 200


def test_request_timestamps_are_unique_within_a_worker_and_stable() -> None:
    same_ns = [record(seq=i, wall_send_unix_ns=T0) for i in range(1000)]
    stamps = {schema.request_point(r, TAGS).time_ns for r in same_ns}
    assert len(stamps) == 1000
    assert all(abs(t - T0) < 1000 for t in stamps)
    assert schema.request_point(record(), TAGS) == schema.request_point(record(), TAGS)


def test_interval_stage_event_points() -> None:
    interval = schema.interval_point(TAGS, "host:1", T0, 10, 1, 300, 5, 12.5)
    assert dict(interval.tags)["worker"] == "host:1"
    assert fields_of(interval) == {
        "requests": 10,
        "errors": 1,
        "output_tokens": 300,
        "users": 5,
        "cpu_pct": 12.5,
    }

    @dataclasses.dataclass
    class Level:
        stage_index: int
        users: int
        requests: int
        req_s: float
        ttft_p95_ms: int  # an int here must still be written as a float
        label: str
        ok: bool

    stage = schema.stage_point(Level(1, 10, 50, 2.5, 120, "x", True), TAGS, T0, T0 + 30 * 10**9)
    fields = fields_of(stage)
    assert fields["users"] == 10 and isinstance(fields["ttft_p95_ms"], float)
    assert fields["window_s"] == pytest.approx(30.0)
    assert "label" not in fields and "ok" not in fields
    assert stage.time_ns == T0 + 30 * 10**9
    _assert_declared_types(stage)
    event = schema.event_point(TAGS, "run_start", "go", T0)
    assert dict(event.tags)["kind"] == "run_start" and fields_of(event) == {"text": "go"}


def test_sample_points_for_every_sidecar_sample() -> None:
    tags = {"run_id": "r1", "engine": "vllm", "model": "ignored"}
    gpu = schema.sample_points(GpuSample(T0, 0, "H100", 5 * 2**30, 80 * 2**30, power_w=300), tags)
    assert [p.measurement for p in gpu] == ["gpu"]
    assert dict(gpu[0].tags) == {
        "run_id": "r1",
        "engine": "vllm",
        "gpu_index": "0",
        "gpu_name": "H100",
        "source": "nvml",
    }
    assert fields_of(gpu[0])["vram_used_bytes"] == 5 * 2**30
    proc = ProcessSample(T0, 42, "vllm", 3, 4 * 2**30, 150.0, gpu_memory_bytes=2**30)
    assert [p.measurement for p in schema.sample_points(proc, tags)] == ["process", "gpu_process"]
    no_gpu = dataclasses.replace(proc, gpu_memory_bytes=None)
    assert [p.measurement for p in schema.sample_points(no_gpu, tags)] == ["process"]
    host = schema.sample_points(HostSample(T0, 2**30, 2**34, 33.0), tags)
    assert fields_of(host[0]) == {
        "ram_used_bytes": 2**30,
        "ram_total_bytes": 2**34,
        "cpu_pct": 33.0,
    }
    engine = EngineSample(T0, "vllm", requests_running=3, extra={"vllm:num gpu": 2})
    (point,) = schema.sample_points(engine, tags)
    assert fields_of(point) == {"requests_running": 3.0, "extra_vllm_num_gpu": 2.0}
    for p in [*gpu, point, *host, *schema.sample_points(proc, tags)]:
        _assert_declared_types(p)
    assert schema.sample_points(EngineSample(T0, "ollama"), tags) == []


def _assert_declared_types(point: LinePoint) -> None:
    spec = schema.MEASUREMENTS[point.measurement]
    assert set(dict(point.tags)) <= set(spec.tags)
    python_types = {"float": float, "int": int, "bool": bool, "str": str}
    for name, value in point.fields:
        kind = spec.fields.get(name, "float" if name.startswith("extra_") else None)
        if point.measurement == "llm_stage" and kind is None:
            kind = "float"
        assert kind is not None, f"{point.measurement}.{name} is not declared"
        assert type(value) is python_types[kind], f"{point.measurement}.{name}"


def test_every_numeric_level_summary_field_is_declared() -> None:
    """The dashboards read llm_stage's declared fields: LevelSummary must not drift from them."""
    from loadgen.level_summary import LevelSummary

    numeric = {
        f.name
        for f in dataclasses.fields(LevelSummary)
        if any(t in str(f.type) for t in ("int", "float")) and "dict" not in str(f.type)
    }
    window = {"window_start_unix_ns", "window_end_unix_ns"}  # the point's time and window_s
    window.add("steady_start_unix_ns")  # an llm_event annotation (level_steady), not a field
    # when the /metrics scrapes that bound the server-side breakdown were taken: summary.json
    window |= {"server_window_start_unix_ns", "server_window_end_unix_ns"}
    assert numeric - window <= set(schema.LLM_STAGE.fields)
    assert not window & set(schema.LLM_STAGE.fields)
