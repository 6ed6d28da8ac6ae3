"""`loadgen sim`: run the OpenAI- and Ollama-compatible engine simulator."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from loadgen.cli.swarm_flags import click_option
from loadgen.errors import LoadgenError
from loadgen.flags import Flag
from loadgen.sim.faults import FAULT_HELP, parse_faults
from loadgen.sim.profiles import Profile, builtin_names, load_profile

_SIM = frozenset({"sim"})
# Its numbers, checked by the flag table's one rule (loadgen/flags.py: ranges, NaN, infinity).
PORT = Flag("port", "int", 8000, "TCP port (0 picks a free one; the listening line tells which).",
            _SIM, min=0, max=65535)  # fmt: skip
SEED = Flag("seed", "int", 0, "Seed of fault draws and of generated text.", _SIM)
TIME_SCALE = Flag("time-scale", "float", 1.0, "Multiply every simulated duration (0.25 = four"
                  " times faster than real).", _SIM, min=0.001)  # fmt: skip
STREAM_TOK_S = Flag("stream-tok-s", "float", None, "Give every stream its own token clock at this"
                    " rate (tokens/s per stream; overrides the profile's stream_tok_s, e.g. 20"
                    " with --profile paced) [default: the profile's].", _SIM, min=0.0, max=1e6,
                    min_open=True)  # fmt: skip
MODELS_HELP = (
    "Serve only these models (comma-separated, e.g. m1,m2): /v1/models and /api/tags list them"
    " and a request for any other gets the engine's 404 [default: any model, listed as the"
    " profile's]."
)


def parse_models(text: str) -> tuple[str, ...]:
    """'m1,m2' -> ('m1', 'm2'); '' -> () (any model); an empty name is bad input."""
    if not text.strip():
        return ()
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise LoadgenError(f"--models: an empty model name in {text!r}")
    return names


def with_stream_tok_s(profile: Profile, tok_s: float) -> Profile:
    """`profile` with every stream paced at `tok_s` (its step costs are then unused)."""
    if profile.kv_blocks:
        raise LoadgenError(f"--stream-tok-s: profile {profile.name} has a KV budget (kv_blocks)")
    return dataclasses.replace(profile, stream_tok_s=tok_s)


@click.command("sim")
@click.option(
    "--profile",
    "profile_name",
    default="fast",
    show_default=True,
    help="Built-in profile (" + ", ".join(builtin_names()) + ") or a TOML file with its keys.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click_option(PORT, envvar=False)
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one JSONL line of server-side ground truth per request.",
)
@click.option("--faults", "faults_spec", default="", help=FAULT_HELP)
@click.option("--models", "models_spec", default="", help=MODELS_HELP)
@click_option(SEED, envvar=False)
@click_option(TIME_SCALE, envvar=False)
@click_option(STREAM_TOK_S, envvar=False)
def sim(
    profile_name: str,
    host: str,
    port: int,
    truth_path: Path | None,
    faults_spec: str,
    models_spec: str,
    seed: int,
    time_scale: float,
    stream_tok_s: float | None,
) -> None:
    """Serve a simulated LLM engine (Ollama- and OpenAI/vLLM-compatible routes).

    Stops cleanly on SIGINT/SIGTERM, flushing the truth file.
    """
    from loadgen.sim.server import RunningSim, run

    profile = load_profile(profile_name)
    if stream_tok_s is not None:
        profile = with_stream_tok_s(profile, stream_tok_s)
    faults = parse_faults(faults_spec)
    models = parse_models(models_spec)

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
        models=models,
        announce=announce,
    )
