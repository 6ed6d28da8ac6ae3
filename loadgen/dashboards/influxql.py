"""InfluxQL text for the dashboards, built only from the names in `loadgen.schema`.

Pure. A field or tag that the schema does not define fails at generation time, so a rename in
the sink cannot leave a dashboard querying a name that no longer exists.
Every WHERE clause starts with `$timeFilter` and a run filter (`"run_id" =~ /^$run_id$/`).
"""

from __future__ import annotations

from collections.abc import Sequence

from loadgen.schema import Measurement

RUN_VAR = "run_id"
# Dashboard variables that narrow a query when the measurement carries the tag of that name.
FILTER_VARS: tuple[str, ...] = ("engine", "model", "worker")


def field(m: Measurement, name: str) -> str:
    """A quoted field name of `m`; KeyError at generation time if the schema lacks it."""
    if name not in m.fields:
        raise KeyError(f"{m.name} has no field {name!r}")
    return f'"{name}"'


def tag(m: Measurement, name: str) -> str:
    if name not in m.tags:
        raise KeyError(f"{m.name} has no tag {name!r}")
    return f'"{name}"'


def run_filter(m: Measurement, var: str = RUN_VAR) -> str:
    return f"{tag(m, 'run_id')} =~ /^${var}$/"


def where(m: Measurement, *conditions: str, run_var: str = RUN_VAR, narrow: bool = True) -> str:
    """`$timeFilter AND run filter [AND engine/model/worker filters] [AND conditions]`."""
    parts = ["$timeFilter", run_filter(m, run_var)]
    if narrow:
        parts += [f'"{v}" =~ /^${v}$/' for v in FILTER_VARS if v in m.tags]
    return " AND ".join([*parts, *conditions])


def select(
    m: Measurement,
    columns: Sequence[str],
    *conditions: str,
    group_by: Sequence[str] = (),
    by_time: bool = False,
    run_var: str = RUN_VAR,
    narrow: bool = True,
    fill: str | None = "none",
) -> str:
    """One SELECT on `m`; `by_time` groups by `time($__interval)` (with `fill`)."""
    groups = (["time($__interval)"] if by_time else []) + [tag(m, g) for g in group_by]
    text = f'SELECT {", ".join(columns)} FROM "{m.name}" WHERE ' + where(
        m, *conditions, run_var=run_var, narrow=narrow
    )
    if groups:
        text += " GROUP BY " + ", ".join(groups)
    if by_time and fill:
        text += f" fill({fill})"
    return text


def rate(m: Measurement, name: str, alias: str) -> str:
    """Per-second rate of a counter summed per `$__interval` bucket."""
    return f'sum({field(m, name)}) * 1000 / $__interval_ms AS "{alias}"'


def percentiles(m: Measurement, name: str, ps: Sequence[int]) -> list[str]:
    return [f'percentile({field(m, name)}, {p}) AS "p{p}"' for p in ps]


def tag_values(m: Measurement, key: str, *, filtered: bool) -> str:
    """Values of a tag for a variable; `filtered` limits them to the selected runs."""
    text = f'SHOW TAG VALUES FROM "{m.name}" WITH KEY = {tag(m, key)}'
    return text + (f" WHERE {run_filter(m)}" if filtered else "")
