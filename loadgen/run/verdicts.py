"""What a finished run concludes, from its RunSummary: the exit code and the lines that say why.

Pure: the CLI prints the lines (breaches and the generator's verdict on stderr).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loadgen.errors import EXIT_OK, EXIT_SLO_BREACH, LoadgenError
from loadgen.run.health import verdict_lines
from loadgen.slo import Slo, evaluate
from loadgen.summary import RunSummary

NO_WINDOW = "loadgen: no level had a steady window; run longer or shorten --warmup"


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
