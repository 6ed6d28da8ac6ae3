"""What a finished run concludes, from its RunSummary: the exit code and the lines that say why.

Pure: the CLI prints the lines (breaches and the generator's verdict on stderr).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from loadgen.errors import EXIT_OK, EXIT_SLO_BREACH, LoadgenError
from loadgen.level_summary import NS_PER_S, LevelSummary
from loadgen.run.health import verdict_lines
from loadgen.slo import Slo, check_level, evaluate
from loadgen.summary import RunSummary

NO_WINDOW = "loadgen: no level had a steady window; run longer or shorten --warmup"
_SAMPLE_CHARS = 160  # an error detail quoted in a verdict line


@dataclass(frozen=True, slots=True)
class Verdict:
    """An exit code and the lines (for stderr) that explain it."""

    code: int = EXIT_OK
    lines: list[str] = field(default_factory=list)


def slo_verdict(summary: RunSummary, slos: list[Slo]) -> Verdict:
    """Every SLO on every level: exit 1 on any breach. No level measured fails only if SLOs
    were asked for."""
    if not summary.levels:
        return Verdict(EXIT_SLO_BREACH if slos else EXIT_OK, [NO_WINDOW])
    breaches = evaluate(slos, summary.levels)
    return Verdict(EXIT_SLO_BREACH if breaches else EXIT_OK, breaches)


def combined(*verdicts: Verdict) -> Verdict:
    """The worst code and every line, in order."""
    code = max((v.code for v in verdicts), default=EXIT_OK)
    return Verdict(code, [line for v in verdicts for line in v.lines])


def error_gate(max_error_rate: float | None) -> Slo | None:
    """The error gate of every level as an objective; None when off (no rate, or 1)."""
    if max_error_rate is None or max_error_rate >= 1:
        return None
    return Slo("error_rate", "<=", max_error_rate)


def error_gate_verdict(summary: RunSummary, max_error_rate: float | None) -> Verdict:
    """Exit 1 if a level's error rate is above --max-error-rate; one line per such level (a
    level without a single success has its own line: `no_success_verdict`)."""
    gate = error_gate(max_error_rate)
    if gate is None:
        return Verdict()
    lines = []
    for level in summary.levels:
        if level.errors < level.requests and check_level(gate, level) is not None:
            lines.append(
                f"error gate {gate} breached at level {level.stage_index} ({level.users} users):"
                f" error_rate = {level.error_rate:.3g}, {level.errors} of {level.requests}"
                f" requests failed ({most_common_error(level)}); see --max-error-rate"
            )
    return Verdict(EXIT_SLO_BREACH if lines else EXIT_OK, lines)


def most_common_error(level: LevelSummary) -> str:
    """'http_status x12: HTTP 500 ...': the level's most frequent error type, its count and
    one of its messages when one was recorded."""
    if not level.errors_by_type:
        return "no error recorded"
    kind, count = max(level.errors_by_type.items(), key=lambda item: (item[1], item[0]))
    sample = " ".join(level.error_samples.get(kind, "").split())[:_SAMPLE_CHARS]
    return f"most common error {kind} x{count}" + (f": {sample}" if sample else "")


def no_success_verdict(summary: RunSummary) -> Verdict:
    """A level that had requests and not one success fails the run, whatever the gates say."""
    lines = [
        f"loadgen: no request succeeded at level {level.stage_index} ({level.users} users):"
        f" {level.errors} of {level.requests} failed; {most_common_error(level)}"
        for level in summary.levels
        if level.requests > 0 and level.errors >= level.requests
    ]
    return Verdict(EXIT_SLO_BREACH if lines else EXIT_OK, lines)


def unreachable_verdict(summary: RunSummary) -> Verdict:
    """Exit 1 when the engine stopped answering before the run ended: when, and how many
    requests failed to connect from then on."""
    since_unix_ns = summary.engine_unreachable_unix_ns
    if since_unix_ns is None:
        return Verdict()
    when = datetime.fromtimestamp(since_unix_ns / NS_PER_S, UTC)
    utc = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    start = summary.meta.start_unix_ns
    into = f" ({(since_unix_ns - start) / NS_PER_S:.1f} s into the run)" if start else ""
    return Verdict(
        EXIT_SLO_BREACH,
        [
            f"loadgen: the engine became unreachable at {utc}{into}:"
            f" {summary.engine_unreachable_errors} connect errors from then on, no request"
            " succeeded after it"
        ],
    )


def run_verdict(summary: RunSummary, slos: list[Slo], max_error_rate: float | None) -> Verdict:
    """Everything but the generator: SLOs, the error gate, levels without a success and an
    engine that stopped answering."""
    return combined(
        slo_verdict(summary, slos),
        error_gate_verdict(summary, max_error_rate),
        no_success_verdict(summary),
        unreachable_verdict(summary),
    )


def steady_verdict(summary: RunSummary, require_steady: bool) -> Verdict:
    """--require-steady: exit 1 for every level that never settled, one line each (level and
    why); without it, nothing (the table flags such a level)."""
    if not require_steady:
        return Verdict()
    lines = [
        f"loadgen: level {level.stage_index} ({level.users} users) never settled:"
        f" {level.steady_reason}; see --require-steady"
        for level in summary.levels
        if level.steady is False
    ]
    return Verdict(EXIT_SLO_BREACH if lines else EXIT_OK, lines)


def generator_verdict(summary: RunSummary, allow_saturated: bool) -> Verdict:
    """Saturation (exit 1 unless allowed) and lost workers (reported, exit unchanged)."""
    saturated = summary.generator is not None and summary.generator.saturated
    code = EXIT_SLO_BREACH if saturated and not allow_saturated else EXIT_OK
    return Verdict(code, verdict_lines(summary.generator))


def check_started(summary: RunSummary | None, expect_workers: int, worker_wait: str) -> None:
    """A master whose workers never all joined ran nothing: bad input, one line, exit 2."""
    if summary is None or not summary.started:
        raise LoadgenError(
            f"the run never started: fewer than {expect_workers} worker(s)"
            f" joined within --worker-wait {worker_wait}"
        )
