#!/usr/bin/env bash
# Runs lint, types and the test suite against the newest versions pyproject.toml's ranges allow,
# in a throwaway venv, and prints which versions drifted from constraints.txt (what CI installs).
# It reports; it never fails: exit 0 whatever the suite says, with the verdict on the last line.
# Usage: bash bench/dependency_drift.sh [extra pytest args, e.g. tests/unit]
set -uo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --upgrade -e ".[test]" || {
  echo "drift: install of the newest versions failed"; exit 0; }
"$venv/bin/pip" freeze --exclude-editable | sort -f >"$venv/newest.txt"
grep -v '^#' constraints.txt | sort -f >"$venv/locked.txt"
echo "== versions that differ from constraints.txt (< locked, > newest)"
diff "$venv/locked.txt" "$venv/newest.txt" | grep '^[<>]' || echo "none"
status=0
"$venv/bin/python" -m ruff check . || status=1
"$venv/bin/python" -m mypy || status=1
"$venv/bin/python" -m pytest -p no:cacheprovider -q "$@" || status=1
if ((status)); then echo "drift: FAILS on the newest versions"; else echo "drift: passes on the newest versions"; fi
exit 0
