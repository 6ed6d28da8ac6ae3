"""Short full garbage collections: what lives at test start, and whatever survives a full
collection later, is frozen out of every later one (`gc.freeze`).

A full collection scans every tracked object, and the event loop (every stamp with it) stops
meanwhile: one took 94 ms of CPU in a 25 s run of 256 streams, after imports and the run's
records. The survivors of a full collection are live when frozen, so no garbage is frozen;
cycles that die later are never collected (users stopped at a level change: a bounded leak).
"""

from __future__ import annotations

import gc
from typing import Any


def _freeze_after_full(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def keep_full_collections_short() -> None:
    """Before the load (a Locust process at test start, before the users; the simulator once
    it listens): collect once, freeze, and freeze after every full collection from now on."""
    gc.collect()
    gc.freeze()
    if _freeze_after_full not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full)
