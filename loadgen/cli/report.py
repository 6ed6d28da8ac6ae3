"""`loadgen report` (an HTML page + PNGs from results dirs) and `loadgen compare` (side by side)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from loadgen.errors import EXIT_SLO_BREACH
from loadgen.report.runs import RunData, load_runs
from loadgen.report.tables import (
    comparison_table,
    fingerprint_lines,
    fingerprint_table,
    level_table,
    render_text,
)


def no_success_line(run: RunData) -> str | None:
    """One line for a run in which no level counted a successful request (its table is
    empty: nothing to report), else None."""
    if any(level.requests > level.errors for level in run.levels):
        return None
    return (
        f"loadgen: {run.path}: no successful request in any level"
        f" ({run.n_failed} failed request(s) recorded); its tables and charts are empty"
    )


_DIRS = click.argument("results_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))


@click.command()
@_DIRS
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Directory for report.html and the PNGs [default: RESULTS_DIR/report].",
)
@click.option("--title", default=None, help="Page title [default: from the runs].")
def report(results_dirs: tuple[Path, ...], out_dir: Path | None, title: str | None) -> None:
    """Write one self-contained HTML report (tables + charts) and PNG charts for RESULTS_DIR...;
    exit 1 if a run had no successful request."""
    from loadgen.report.writer import write_report  # matplotlib: only when a report is made

    runs = load_runs(results_dirs)
    header = fingerprint_table(runs)
    if header is not None:
        click.echo(render_text(header))
        click.echo()
    for run in runs:
        click.echo(render_text(level_table(run)))
        click.echo()
    target = out_dir or results_dirs[0] / "report"
    page_title = title or "loadgen report: " + ", ".join(r.label for r in runs)
    files = write_report(runs, target, page_title)
    click.echo(f"wrote {files.html} and {len(files.pngs)} PNG chart(s) in {target}")
    empty = [line for run in runs if (line := no_success_line(run)) is not None]
    for line in empty:
        click.echo(line, err=True)
    if empty:
        sys.exit(EXIT_SLO_BREACH)


@click.command()
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.argument("more_runs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Directory for the charts [default: compare-<A>-vs-<B> beside RUN_A].",
)
def compare(run_a: Path, run_b: Path, more_runs: tuple[Path, ...], out_dir: Path | None) -> None:
    """Print RUN_A, RUN_B, ... side by side per user level (tok/s, ratio, TTFT, VRAM) and write
    the same charts as `report`, with one line per run."""
    from loadgen.report.writer import write_report  # matplotlib: only when a report is made

    runs = load_runs([run_a, run_b, *more_runs])
    click.echo(render_text(comparison_table(runs)))
    click.echo()
    warned, listed = fingerprint_lines(runs)
    for line in listed:
        click.echo(f"differs: {line}")
    for line in warned:
        click.echo(f"loadgen: warning: not the same work: {line}", err=True)
    if warned or listed:
        click.echo()
    target = out_dir or run_a.parent / ("compare-" + "-vs-".join(r.run_id for r in runs))
    title = "loadgen comparison: " + " vs ".join(r.label for r in runs)
    files = write_report(runs, target, title)
    click.echo(f"wrote {files.html} and {len(files.pngs)} PNG chart(s) in {target}")
