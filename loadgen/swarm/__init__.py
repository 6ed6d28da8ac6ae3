"""The Locust world: user classes, load shapes and event listeners (imports gevent).

Locustfiles start with `from loadgen.swarm import ChatUser, events`: that import registers
loadgen's Locust plugin (every loadgen flag on Locust's parser, and its listeners) once per
process. Importing a pure submodule (loadgen.swarm.options, ...) imports neither locust nor gevent.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadgen.swarm import events
    from loadgen.swarm.user import ChatUser

__all__ = ["ChatUser", "events"]


def __getattr__(name: str) -> Any:
    """`ChatUser` and `events` load on first use, registering the plugin (loadgen.swarm.plugin)."""
    if name == "ChatUser":
        user = importlib.import_module("loadgen.swarm.user")  # imports the plugin
        globals()["ChatUser"] = user.ChatUser
        return user.ChatUser
    if name == "events":
        importlib.import_module("loadgen.swarm.plugin")
        return importlib.import_module("loadgen.swarm.events")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
