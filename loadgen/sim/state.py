"""Everything one running simulator shares between its routes: profile, engine, loop, books."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from loadgen.sim.engine import Engine, make_engine
from loadgen.sim.faults import FaultPlan, FaultSpec
from loadgen.sim.gpu import GpuMeter
from loadgen.sim.metrics import MetricsBook
from loadgen.sim.paced import PacedScheduler
from loadgen.sim.profiles import Profile
from loadgen.sim.residency import Residency
from loadgen.sim.scheduler import Scheduler
from loadgen.sim.truth import TruthWriter


@dataclass
class SimState:
    """One server's shared state (created inside the running event loop)."""

    profile: Profile
    engine: Engine
    scheduler: Scheduler | PacedScheduler
    faults: FaultPlan
    truth: TruthWriter
    meter: GpuMeter
    residency: Residency
    time_scale: float = 1.0
    seed: int = 0
    models: tuple[str, ...] = ()  # the only models served (others: 404); () = any, as one
    book: MetricsBook = field(default_factory=MetricsBook)
    started_unix_s: int = field(default_factory=lambda: int(time.time()))
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def listed_models(self) -> tuple[str, ...]:
        """What /v1/models and /api/tags list: --models, else the profile's model."""
        return self.models or (self.profile.model,)

    def serves(self, model: str) -> bool:
        """Whether a request for `model` is served (Ollama's `name` means `name:latest`)."""
        return not self.models or model in self.models or f"{model}:latest" in self.models

    def next_id(self) -> int:
        """A per-server request number (ids, default text seeds)."""
        return next(self._ids)


def new_state(
    profile: Profile,
    truth: TruthWriter,
    faults: FaultSpec,
    seed: int = 0,
    time_scale: float = 1.0,
    models: tuple[str, ...] = (),
) -> SimState:
    """Build the state; call from inside the event loop (the scheduler owns an asyncio.Event)."""
    engine = make_engine(profile)
    scheduler: Scheduler | PacedScheduler = Scheduler(engine, time_scale)
    if profile.stream_tok_s > 0:
        scheduler = PacedScheduler(engine, profile.stream_tok_s, time_scale)
    return SimState(
        profile=profile,
        engine=engine,
        scheduler=scheduler,
        faults=FaultPlan(faults, seed),
        truth=truth,
        meter=GpuMeter(profile),
        residency=Residency(profile, time_scale),
        time_scale=time_scale,
        seed=seed,
        models=models,
    )
