"""Grafana dashboards generated from code.

`python -m loadgen.dashboards` rewrites grafana/dashboards/*.json; `--check` only compares.
"""
