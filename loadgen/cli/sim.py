"""`loadgen sim`: run the OpenAI- and Ollama-compatible engine simulator."""

from __future__ import annotations

from pathlib import Path

import click

from loadgen.sim.faults import FAULT_HELP, parse_faults
from loadgen.sim.profiles import builtin_names, load_profile


@click.command("sim")
@click.option(
    "--profile",
    "profile_name",
    default="fast",
    show_default=True,
    help="Built-in profile (" + ", ".join(builtin_names()) + ") or a TOML file with its keys.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port (0 picks a free one; the listening line tells which).",
)
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one JSONL line of server-side ground truth per request.",
)
@click.option("--faults", "faults_spec", default="", help=FAULT_HELP)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of fault draws and of generated text.",
)
@click.option(
    "--time-scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Multiply every simulated duration (0.25 = four times faster than real).",
)
def sim(
    profile_name: str,
    host: str,
    port: int,
    truth_path: Path | None,
    faults_spec: str,
    seed: int,
    time_scale: float,
) -> None:
    """Serve a simulated LLM engine (Ollama- and OpenAI/vLLM-compatible routes).

    Stops cleanly on SIGINT/SIGTERM, flushing the truth file.
    """
    from loadgen.sim.server import RunningSim, run

    profile = load_profile(profile_name)
    faults = parse_faults(faults_spec)

    def announce(server: RunningSim) -> None:
        # click.echo flushes, so a parent waiting on this line sees it at once.
        click.echo(f"loadgen sim: listening on {server.url} (profile {profile.name})")

    run(
        profile,
        host,
        port,
        truth_path=truth_path,
        faults=faults,
        seed=seed,
        time_scale=time_scale,
        announce=announce,
    )
