"""`--sim PROFILE`: run `loadgen sim` as a child process on a free port for the length of a run.

No locust here: the CLI uses it before starting Locust. The child is always stopped (SIGTERM,
then SIGKILL), also when the run fails or is interrupted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from loadgen.sim.child import SimChild, sim_child
from loadgen.sim.profiles import load_profile

__all__ = ["SimChild", "profile_engine", "simulator"]


def profile_engine(profile: str) -> str:
    """The engine a --sim profile imitates ("ollama", "vllm"; "sim" for the generic ones): the
    run's `engine` label, so a simulated run reads like the engine it stands for."""
    return load_profile(profile).engine


@contextlib.contextmanager
def simulator(
    profile: str, truth: Path | None = None, seed: int = 0, faults: str = "", models: str = ""
) -> Iterator[SimChild]:
    """Start the simulator and yield its base URL and pid; stop it on exit. `models`: serve
    only these (--sim-models m1,m2); others get the engine's 404."""
    args = ["--profile", profile, "--seed", str(seed)]
    if faults:
        args += ["--faults", faults]
    if models:
        args += ["--models", models]
    if truth is not None:
        args += ["--truth", str(truth)]
    with sim_child(*args, label=f"--sim {profile}: the simulator") as sim:
        yield sim
