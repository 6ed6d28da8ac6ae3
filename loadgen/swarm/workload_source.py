"""Which workload a user class runs: synthetic prompts from the options, or a dataset file.

A thin adapter over `loadgen.workload`; datasets are read once per process and shared.
"""

from __future__ import annotations

from functools import lru_cache

from loadgen.swarm.options import SwarmSettings
from loadgen.workload import SyntheticSpec, SyntheticWorkload, Workload, load_dataset


@lru_cache(maxsize=16)
def workload_for(settings: SwarmSettings, turns: int, system_prompt: str | None) -> Workload:
    """The workload of one user class (`turns`/`system_prompt` may come from the class).

    A dataset's own output lengths are kept; turns without one use --output-tokens.
    """
    if settings.dataset:
        return load_dataset(settings.dataset, max_turns=turns, system_prompt=system_prompt)
    spec = SyntheticSpec(
        input_tokens=settings.input_tokens,
        input_spread=settings.input_spread,
        output_tokens=settings.output_tokens,
        turns=turns,
        system_prompt=system_prompt,
    )
    return SyntheticWorkload(spec)
