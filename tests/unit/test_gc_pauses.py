"""Full collections stay short: the survivors of each are frozen, its garbage is not.

Run in a child interpreter: freezing is process-wide and would change this test process's GC.
"""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc, weakref
from loadgen.gc_pauses import keep_full_collections_short

class Node:
    pass

keep_full_collections_short()
at_start = gc.get_freeze_count()
assert at_start > 0 and gc.get_count()[2] == 0
live, dead = Node(), Node()
live.me, dead.me = live, dead  # two cycles; only `live` stays referenced
gone = weakref.ref(dead)
del dead
gc.collect()  # a full collection: its garbage is freed, its survivors frozen
assert gone() is None, "garbage was frozen instead of collected"
assert gc.get_freeze_count() > at_start
assert not any(o is live for gen in (0, 1, 2) for o in gc.get_objects(gen))
print("ok")
"""


def test_survivors_of_a_full_collection_are_frozen_and_its_garbage_freed() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
