"""`loadgen replay`: push a run's InfluxDB spool, or import its JSONL files, after the fact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from loadgen.cli.influx_options import influx_options, settings_from_options
from loadgen.cli.swarm_flags import click_option
from loadgen.errors import LoadgenError
from loadgen.flags import REPLAY, Flag
from loadgen.sinks.influx_http import InfluxHttp, preflight
from loadgen.sinks.influx_replay import check_sources, sources
from loadgen.sinks.influx_replay import replay as replay_files

# Its numbers, checked by the flag table's one rule (loadgen/flags.py: ranges, NaN, infinity).
BATCH_POINTS = Flag("batch-points", "int", 5000, "Points per write request.", frozenset({REPLAY}),
                    min=1, max=100_000)  # fmt: skip


@click.command("replay")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--only",
    type=click.Choice(["spool", "jsonl"]),
    default=None,
    help="load only the spool (influx-spool*.lp) or only requests.jsonl/sidecar.jsonl",
)
@click_option(BATCH_POINTS, envvar=False)
@influx_options
def replay(path: Path, only: str | None, batch_points: int, **options: Any) -> None:
    """Load PATH (a results directory, a spool .lp or a .jsonl file) into InfluxDB.

    Idempotent: points already there are overwritten, never doubled.
    """
    settings = settings_from_options(options)
    if settings is None:
        raise LoadgenError("replay needs --influx-url (or INFLUX_URL)")
    files = sources(path, spool=only != "jsonl", jsonl=only != "spool")
    check_sources(files)  # a bad file: one line, exit 2, before InfluxDB is asked anything
    resolved = preflight(settings)
    client = InfluxHttp(resolved)
    try:
        counts = replay_files(client, files, batch_points)
    finally:
        client.close()
    for source, n in counts.by_source.items():
        click.echo(f"{n} points from {source}")
    click.echo(f"loaded {counts.total} points into {resolved.target} at {resolved.display_url}")
