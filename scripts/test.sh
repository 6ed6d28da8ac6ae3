#!/usr/bin/env bash
# Installs everything the tests need (Debian packages + Python extras) and runs lint, types and tests.
# Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v influxd >/dev/null 2>&1 || need_apt+=(influxdb)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if ((${#need_apt[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# The Debian package starts a system influxd on :8086; tests start their own on free ports.
systemctl disable --now influxdb >/dev/null 2>&1 || true

# Exact versions from the committed lock; bench/dependency_drift.sh tries the newest ones.
python3 -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"

echo "== ruff"
python3 -m ruff check .
python3 -m ruff format --check .
echo "== mypy"
python3 -m mypy
echo "== pytest"
# Exit code 5 (no tests collected) fails this script like any other failure.
python3 -m pytest -p no:cacheprovider --durations=25 "$@"
