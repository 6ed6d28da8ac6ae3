"""The reference table (RTX 4090, Llama 3.1 8B) and the README's command that reproduces it with
the simulator's calibrated profiles. Pure: the figures, the command and the cell-by-cell check
that `bench/seed_table.py`, the README's test and the simulator's calibration test share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from loadgen.level_summary import LevelSummary

USERS: tuple[int, ...] = (1, 10, 50)
TOLERANCE = 0.15  # a cell passes when ours / reference is within 1 ± this
GB = 1e9  # the reference's VRAM is in decimal gigabytes


@dataclass(frozen=True, slots=True)
class Reference:
    """One engine's row of the public benchmark: aggregate output tok/s per users, TTFT (the
    benchmark's "TTFR", a typical request's; compared with our p50) per users, VRAM in GB."""

    tok_s: Mapping[int, float]
    ttft_ms: Mapping[int, float]
    vram_idle_gb: float
    vram_peak_gb: float  # at 50 users

    def cells(self) -> dict[str, float]:
        """The reference as named cells, in table order."""
        return {
            **{tok_s_cell(u): v for u, v in self.tok_s.items()},
            **{ttft_cell(u): v for u, v in self.ttft_ms.items()},
            "VRAM idle GB": self.vram_idle_gb,
            "VRAM peak GB": self.vram_peak_gb,
        }


# Ollama: llama3.1:8b Q4_K_M; vLLM: FP16. Each calibrated profile is named after its row.
REFERENCE: dict[str, Reference] = {
    "vllm-4090-llama8b": Reference({1: 71, 10: 485, 50: 920}, {1: 82, 50: 145}, 16.1, 21.8),
    "ollama-4090-llama8b": Reference({1: 62, 10: 148, 50: 155}, {1: 45, 50: 3200}, 5.2, 5.4),
}
MAIN_PROFILE = "vllm-4090-llama8b"

# The workload the profiles are calibrated on (docs/simulator.md): 128 prompt tokens, exactly
# 256 output tokens. Without --ignore-eos answers end early and every cell drifts. Levels are
# automatic (--step-time auto): the Ollama-like profile's requests last about 80 s at 50 users.
SWARM_ARGS: tuple[str, ...] = (
    "--users",
    ",".join(str(u) for u in USERS),
    "--output-tokens",
    "256",
    "--ignore-eos",
    "--sidecar",
)


def command(profile: str = MAIN_PROFILE) -> list[str]:
    """The README's main command against `profile`, as argv."""
    return ["loadgen", "swarm", "--sim", profile, *SWARM_ARGS]


def shell_command(profile: str = MAIN_PROFILE) -> str:
    """The README's main command against `profile`, as it is typed."""
    return " ".join(command(profile))


def tok_s_cell(users: int) -> str:
    return f"tok/s @{users}"


def ttft_cell(users: int) -> str:
    return f"TTFT mean ms @{users}"


def measured(levels: Sequence[LevelSummary]) -> dict[str, float | None]:
    """Our figures as named cells from a run's levels (None where the run measured nothing):
    tok/s and mean TTFT per users (the reference quotes one TTFT per level, as published
    tables do: the mean, which the profiles are calibrated on), VRAM idle before the first
    level and the peak of any level."""
    by_users = {level.users: level for level in levels}
    out: dict[str, float | None] = {}
    for users in USERS:
        level = by_users.get(users)
        out[tok_s_cell(users)] = None if level is None else level.output_tok_s
        out[ttft_cell(users)] = None if level is None else level.ttft_mean_ms
    idle = [lv.vram_idle_bytes for lv in levels if lv.vram_idle_bytes is not None]
    peak = [lv.vram_peak_bytes for lv in levels if lv.vram_peak_bytes is not None]
    out["VRAM idle GB"] = idle[0] / GB if idle else None
    out["VRAM peak GB"] = max(peak) / GB if peak else None
    return out


@dataclass(frozen=True, slots=True)
class Cell:
    """One figure, ours beside the reference."""

    name: str
    reference: float
    ours: float | None
    tolerance: float = TOLERANCE

    @property
    def ratio(self) -> float | None:
        return None if self.ours is None else self.ours / self.reference

    @property
    def passed(self) -> bool:
        return self.ratio is not None and abs(self.ratio - 1) <= self.tolerance


def compare(
    reference: Reference, ours: Mapping[str, float | None], tolerance: float = TOLERANCE
) -> list[Cell]:
    """Every reference cell beside ours (a cell we lack fails), in the reference's order."""
    return [
        Cell(name, value, ours.get(name), tolerance) for name, value in reference.cells().items()
    ]


def format_cells(profile: str, cells: Sequence[Cell]) -> list[str]:
    """The comparison as table lines: profile, cell, reference, ours, ratio, PASS/FAIL."""
    lines = []
    for c in cells:
        ours = "-" if c.ours is None else f"{c.ours:,.1f}"
        ratio = "-" if c.ratio is None else f"{c.ratio:.2f}"
        verdict = "PASS" if c.passed else "FAIL"
        lines.append(
            f"{profile:20} {c.name:17} {c.reference:>9,.1f} {ours:>9} {ratio:>6} {verdict}"
        )
    return lines


HEADER = f"{'profile':20} {'cell':17} {'reference':>9} {'ours':>9} {'ratio':>6} verdict"
