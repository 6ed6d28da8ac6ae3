"""Dataclasses read back from JSON mappings: one rule for every file loadgen writes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def build(cls: type[T], data: Mapping[str, Any]) -> T:
    """A dataclass from a mapping: unknown keys are ignored, missing ones take defaults."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})
