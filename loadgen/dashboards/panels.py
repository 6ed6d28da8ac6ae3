"""Grafana building blocks on top of grafana-foundation-sdk: the InfluxQL query, panels, variables.

The SDK has no InfluxDB query type, so `InfluxQuery` supplies one (raw InfluxQL, the only
language that InfluxDB 1.x, 2.x and 3.x all answer). Every query points at one fixed datasource
uid, provisioned from grafana/provisioning/datasources.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import stat, table, timeseries, xychart
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m
from grafana_foundation_sdk.models import xychart as xy_m

DATASOURCE_UID = "loadgen-influxdb"
DATASOURCE = dash_m.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)
ResultFormat = Literal["time_series", "table"]
_REF_IDS = "ABCDEFGHIJ"


class InfluxQLTarget(cogvariants.Dataquery):
    """A raw InfluxQL target as Grafana's InfluxDB datasource stores it."""

    def __init__(self, ref_id: str, query: str, result_format: ResultFormat, alias: str) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": DATASOURCE.to_json(),
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias:
            out["alias"] = self.alias
        return out


class InfluxQuery(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builder for `InfluxQLTarget`, so SDK panels accept it like any other query."""

    def __init__(
        self, ref_id: str, query: str, result_format: ResultFormat = "time_series", alias: str = ""
    ) -> None:
        self._target = InfluxQLTarget(ref_id, query, result_format, alias)

    def build(self) -> cogvariants.Dataquery:
        return self._target


def targets(
    queries: Sequence[str], result_format: ResultFormat = "time_series", alias: str = ""
) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    return [InfluxQuery(_REF_IDS[i], q, result_format, alias) for i, q in enumerate(queries)]


def stat_panel(title: str, query: str, unit: str, decimals: int = 0) -> stat.Panel:
    reduce = common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
    return (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(targets([query]))
        .unit(unit)
        .decimals(decimals)
        .reduce_options(reduce)
        .graph_mode(common_m.BigValueGraphMode.AREA)
        .span(3)
        .height(4)
    )


def time_panel(
    title: str, queries: Sequence[str], unit: str, alias: str = "", span: int = 12
) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(targets(queries, alias=alias))
        .unit(unit)
        .span(span)
        .height(8)
        .interval("5s")
        .fill_opacity(10)
    )


def right_axis(panel: timeseries.Panel, series: str, unit: str) -> timeseries.Panel:
    """Move the series named `series` onto a right-hand axis with its own unit."""
    props = [
        dash_m.DynamicConfigValue(id_val="custom.axisPlacement", value="right"),
        dash_m.DynamicConfigValue(id_val="unit", value=unit),
    ]
    return panel.override_by_name(series, props)


def xy_panel(title: str, query: str, x: str, unit: str, span: int = 8) -> xychart.Panel:
    """Users (or any `x` column) against every other column, one series per run.

    Table format: InfluxQL's time-series format splits columns into separate frames, while the
    XY chart needs x and y in one frame (one frame per run, from GROUP BY run_id)."""
    matcher = xychart.MatcherConfig().id("byName").options(x)
    series = xychart.XYSeriesConfig().x(xychart.XychartXYSeriesConfigX().matcher(matcher))
    return (
        xychart.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(targets([query], result_format="table"))
        .unit(unit)
        .mapping(xy_m.SeriesMapping.AUTO)
        .series([series])
        .span(span)
        .height(9)
        .show(xy_m.XYShowMode.POINTS_AND_LINES)
    )


def table_panel(
    title: str, queries: Sequence[str], units: dict[str, str], span: int = 24
) -> table.Panel:
    """A table of `queries`; `units` maps column names to Grafana units."""
    panel = (
        table.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(targets(queries, result_format="table"))
        .span(span)
        .height(9)
    )
    for column, unit in units.items():
        panel = panel.override_by_name(
            column, [dash_m.DynamicConfigValue(id_val="unit", value=unit)]
        )
    return panel


def tag_variable(name: str, label: str, query: str, multi: bool = True) -> dash_b.QueryVariable:
    variable = (
        dash_b.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_m.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        variable = variable.multi(True).include_all(True).all_value(".*")
    return variable


def row(title: str) -> dash_b.Row:
    return dash_b.Row(title)
