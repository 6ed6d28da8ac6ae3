"""loadgen's LLM stats beside Locust's, checked in a fresh interpreter.

Importing locust monkey-patches ssl, which breaks once another test has imported urllib3 in this
process (RecursionError in ssl), so the cases in llm_stats_checks.py run in their own pytest.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).with_name("llm_stats_checks.py")
ROOT = Path(__file__).resolve().parents[2]


def test_llm_stats_cases_pass_in_their_own_interpreter() -> None:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(CASES)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout
