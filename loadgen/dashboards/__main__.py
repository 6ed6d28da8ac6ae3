"""`python -m loadgen.dashboards [--check]`: regenerate, or verify, grafana/dashboards/*.json."""

from __future__ import annotations

import sys

from loadgen.dashboards.build import DASHBOARD_DIR, stale, write_all


def main(argv: list[str]) -> int:
    if "--check" in argv:
        names = stale()
        if names:
            print(f"stale in {DASHBOARD_DIR}: {', '.join(names)}; run python -m loadgen.dashboards")
            return 1
        return 0
    for path in write_all():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
