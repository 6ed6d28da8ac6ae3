"""The engine's process tree (found by pid or name, children summed) and the host's RAM/CPU.

psutil's cpu_percent needs a previous call to measure against, so Process objects are kept
between ticks: a process seen for the first time counts 0 % on that tick.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable

import psutil

from loadgen.errors import LoadgenError
from loadgen.records import HostSample, Notice, ProcessSample

_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess)
_SEARCH_EVERY_S = 1.0  # re-scan the process table at most this often while detached


class HostReader:
    """Whole-host RAM (total − available, like `free`'s "used") and CPU averaged over cores."""

    def __init__(self) -> None:
        psutil.cpu_percent(interval=None)  # prime: the first call has nothing to compare with

    def read(self, wall_unix_ns: int) -> HostSample:
        vm = psutil.virtual_memory()
        return HostSample(
            wall_unix_ns=wall_unix_ns,
            ram_used_bytes=int(vm.total - vm.available),
            ram_total_bytes=int(vm.total),
            cpu_pct=float(psutil.cpu_percent(interval=None)),
        )


def matches(name: str, cmdline: list[str], wanted: str) -> bool:
    """Whether a process is `wanted`: its name, or one of its first 3 argv words, contains it.

    Only the first words count, so `loadgen sidecar --process-name vllm` does not match "vllm",
    while `python -m vllm.entrypoints.openai.api_server` and `ollama runner` do.
    """
    wanted = wanted.lower()
    words = [os.path.basename(word).lower() for word in cmdline[:3]]
    return wanted in name.lower() or any(wanted in word for word in words)


class ProcessTracker:
    """Follows one process tree; re-attaches by name after the engine exits and comes back."""

    def __init__(
        self,
        pid: int | None = None,
        process_name: str | None = None,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        if pid is None and process_name is None:
            raise LoadgenError("ProcessTracker needs a pid or a process name")
        self._name = process_name
        self._monotonic_s = monotonic_s
        self._root: psutil.Process | None = None
        self._root_label = ""
        self._known: dict[int, psutil.Process] = {}
        self._last_search_s = float("-inf")
        self._waiting_reported = False
        self._excluded = _self_and_ancestors()
        if pid is not None:
            try:
                self._attach(psutil.Process(pid))
            except _GONE as exc:
                raise LoadgenError(f"--pid {pid}: no such process") from exc

    @property
    def pids(self) -> set[int]:
        """The pids of the tree as of the last sample (for per-process GPU memory)."""
        return set(self._known)

    def read(
        self, wall_unix_ns: int, gpu_memory: dict[int, int] | None = None
    ) -> tuple[ProcessSample | None, list[Notice]]:
        """A sample of the tree (None while detached) and any attach/exit notices."""
        notices: list[Notice] = []
        if self._root is None and not self._search(wall_unix_ns, notices):
            return None, notices
        assert self._root is not None
        root = self._root
        try:
            tree = [root, *root.children(recursive=True)]
            if root.status() == psutil.STATUS_ZOMBIE:
                raise psutil.ZombieProcess(root.pid)
        except _GONE:
            return self._exited(wall_unix_ns, notices), notices
        rss_bytes, cpu_pct, alive_pids = self._measure(tree)
        self._known = {pid: proc for pid, proc in self._known.items() if pid in alive_pids}
        gpu_bytes = None
        if gpu_memory is not None:
            gpu_bytes = sum(gpu_memory.get(pid, 0) for pid in alive_pids)
        sample = ProcessSample(
            wall_unix_ns=wall_unix_ns,
            root_pid=root.pid,
            process_name=self._label(root),
            n_processes=len(alive_pids),
            rss_bytes=rss_bytes,
            cpu_pct=cpu_pct,
            gpu_memory_bytes=gpu_bytes,
            alive=True,
        )
        return sample, notices

    def _measure(self, tree: Iterable[psutil.Process]) -> tuple[int, float, set[int]]:
        rss_bytes, cpu_pct, alive = 0, 0.0, set()
        for proc in tree:
            known = self._known.setdefault(proc.pid, proc)  # keep cpu_percent's reference point
            try:
                with known.oneshot():
                    rss_bytes += int(known.memory_info().rss)
                    cpu_pct += float(known.cpu_percent(interval=None))
            except (*_GONE, psutil.AccessDenied):
                continue
            alive.add(proc.pid)
        return rss_bytes, cpu_pct, alive

    def _exited(self, wall_unix_ns: int, notices: list[Notice]) -> ProcessSample:
        assert self._root is not None
        pid, label = self._root.pid, self._label(self._root)
        self._root, self._known = None, {}
        tail = f"; waiting for a process named {self._name!r}" if self._name else ""
        notices.append(
            Notice(wall_unix_ns, "process", f"engine process {pid} ({label}) exited{tail}")
        )
        return ProcessSample(
            wall_unix_ns=wall_unix_ns,
            root_pid=pid,
            process_name=label,
            n_processes=0,
            rss_bytes=0,
            cpu_pct=0.0,
            gpu_memory_bytes=None,
            alive=False,
        )

    def _search(self, wall_unix_ns: int, notices: list[Notice]) -> bool:
        if self._name is None:  # a --pid that exited does not come back
            return False
        now_s = self._monotonic_s()
        if now_s - self._last_search_s < _SEARCH_EVERY_S:
            return False
        self._last_search_s = now_s
        root = find_root(self._name, self._excluded)
        if root is None:
            if not self._waiting_reported:
                self._waiting_reported = True
                notices.append(
                    Notice(
                        wall_unix_ns, "process", f"no process matches {self._name!r} yet; waiting"
                    )
                )
            return False
        self._waiting_reported = False
        self._attach(root)
        notices.append(
            Notice(wall_unix_ns, "process", f"attached to {self._label(root)} pid {root.pid}")
        )
        return True

    def _attach(self, root: psutil.Process) -> None:
        self._root = root
        self._known = {}
        try:
            self._root_label = root.name()
        except (*_GONE, psutil.AccessDenied):
            self._root_label = str(root.pid)

    def _label(self, root: psutil.Process) -> str:
        return self._name or self._root_label or str(root.pid)


def find_root(name: str, excluded: set[int]) -> psutil.Process | None:
    """The oldest process matching `name` whose parent does not match (the tree's top)."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["name", "cmdline", "ppid", "create_time"]):
        info = proc.info
        if proc.pid in excluded:
            continue
        if matches(info.get("name") or "", info.get("cmdline") or [], name):
            found[proc.pid] = proc
    tops = [p for p in found.values() if p.info.get("ppid") not in found]
    if not tops:
        return None
    return min(tops, key=lambda p: (p.info.get("create_time") or 0.0, p.pid))


def _self_and_ancestors() -> set[int]:
    """This process and its ancestors: the command that started us names the engine too."""
    pids = {os.getpid()}
    with contextlib.suppress(*_GONE):
        pids.update(p.pid for p in psutil.Process().parents())
    return pids
