#!/usr/bin/env bash
# Scaling curves of a real GPU engine with continuous batching on and off, in one run on one GPU.
#
#   bash bench/gpu_scaling.sh [RESULTS_DIR]        # from the repo root, on the GPU host
#
# Makes a randomly initialised Llama-3.1-8B-shaped bf16 model (bench/gpu/make_random_model.py),
# serves it with `transformers serve` with and without --continuous-batching, and for each mode
# runs `loadgen swarm` at 1,10,50 users (steps, fixed max_tokens) with `loadgen sidecar` sampling
# VRAM and the server's RAM. A second sidecar watches the swarm's own CPU (generator health), a
# third samples the whole run from a bare GPU on, and nvidia-smi is read beside it every 0.5 s
# (nvidia_smi.csv) to check NVML's numbers. Needs: torch, transformers (serving extras), loadgen's
# dependencies, nvidia-smi. Tunables: USERS STEP_TIME WARMUP OUTPUT_TOKENS INPUT_TOKENS MODES
# MODEL_DIR PORT PYTHON SERVE_PYTHON MODEL_ARGS. See docs/gpu-scaling.md for the exact device command and the results.
set -uo pipefail

RESULTS=${1:-results/gpu-scaling}
USERS=${USERS:-1,10,50}
STEP_TIME=${STEP_TIME:-60s}
WARMUP=${WARMUP:-20s}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-128}
INPUT_TOKENS=${INPUT_TOKENS:-128}
MODES=${MODES:-"cb nocb"}
# RAM-backed when /dev/shm has room for the 16 GB of weights: writing them to disk is slower.
shm_free_kb=$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)
if [ "${shm_free_kb:-0}" -gt 25000000 ]; then default_dir=/dev/shm; else default_dir=/tmp; fi
MODEL_DIR=${MODEL_DIR:-$default_dir/random-llama-8b}
PORT=${PORT:-18000}
PY=${PYTHON:-python3}
SERVE_PY=${SERVE_PYTHON:-$PY}  # the interpreter with torch + transformers (the same one on the GPU host)
MODEL_ARGS=${MODEL_ARGS:-}  # e.g. "--tiny --device cpu" for a CPU smoke test of this script
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1

mkdir -p "$RESULTS"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT
log() { echo "[gpu_scaling $(date +%T)] $*"; }

smi_loop() {  # unix_ns,index,memory.used MiB,memory.total MiB: nvidia-smi's own reading
  command -v nvidia-smi >/dev/null || return 0
  while :; do
    echo "$(date +%s%N),$(nvidia-smi --query-gpu=index,memory.used,memory.total \
      --format=csv,noheader,nounits | head -1)"
    sleep 0.5
  done
}

wait_health() {  # transformers serve answers /health once uvicorn is up
  for _ in $(seq 240); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/health" && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

warm_up() {  # loads the model (and, with CB, reserves the paged KV cache) before idle is sampled
  curl -sN -m 300 "http://127.0.0.1:$PORT/v1/chat/completions" -H 'content-type: application/json' \
    -d "{\"model\":\"$MODEL_DIR\",\"stream\":true,\"max_tokens\":8,\
\"messages\":[{\"role\":\"user\",\"content\":\"warm up\"}]}"
}

stop_pid() {  # SIGTERM, then SIGKILL after 30 s
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 60); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.5; done
  kill -9 "$1" 2>/dev/null
}

run_mode() {
  local mode=$1 dir="$RESULTS/$1" flag=()
  [ "$mode" = cb ] && flag=(--continuous-batching)
  mkdir -p "$dir"
  log "$mode: transformers serve ${flag[*]}"
  $SERVE_PY -c 'from transformers.cli.transformers import main; main()' serve "$MODEL_DIR" \
    --host 127.0.0.1 --port "$PORT" "${flag[@]}" >"$dir/server.log" 2>&1 &
  local server=$!
  pids+=("$server")
  wait_health "$server" || { log "$mode: server did not start"; tail -30 "$dir/server.log"; return 1; }
  log "$mode: up; warm-up request"
  warm_up >"$dir/warmup.sse" || log "$mode: warm-up failed"
  tail -c 400 "$dir/warmup.sse"
  $PY -m loadgen sidecar --run-id "$mode" --results "$dir" --interval 0.5 --pid "$server" \
    >"$dir/sidecar.log" 2>&1 &
  local sidecar=$!
  pids+=("$sidecar")
  sleep 5  # idle samples: model loaded, no request
  log "$mode: swarm $USERS users"
  # The role-only first frame comes before a queued request is scheduled, so a long queue looks
  # like a mid-stream stall: the stall timeout must exceed the worst queue wait.
  timeout 900 $PY -m loadgen swarm --host "http://127.0.0.1:$PORT" --api openai \
    --model "$MODEL_DIR" --engine "transformers-$mode" --users "$USERS" \
    --step-time "$STEP_TIME" --warmup "$WARMUP" --output-tokens "$OUTPUT_TOKENS" \
    --input-tokens "$INPUT_TOKENS" --request-timeout 600s --stall-timeout 600s \
    --progress lines --results "$dir" &
  local swarm=$!
  $PY -m loadgen sidecar --run-id "$mode-generator" --results "$dir/generator" --interval 1 \
    --pid "$swarm" --no-nvml >"$dir/generator.log" 2>&1 &
  local generator=$!
  pids+=("$generator")
  wait "$swarm"
  log "$mode: swarm exit $?"
  stop_pid "$generator"
  stop_pid "$sidecar"
  stop_pid "$server"
  cat "$dir/sidecar.log"
  sleep 3  # let the driver release the server's memory before the next mode
}

nvidia-smi -L | tee "$RESULTS/gpu.txt"
smi_loop >"$RESULTS/nvidia_smi.csv" &
pids+=($!)
$PY -m loadgen sidecar --run-id whole --results "$RESULTS/whole" --interval 0.5 \
  >"$RESULTS/whole-sidecar.log" 2>&1 &
whole=$!
pids+=("$whole")
sleep 3  # bare-GPU samples before anything loads
log "making the model in $MODEL_DIR"
$SERVE_PY bench/gpu/make_random_model.py "$MODEL_DIR" $MODEL_ARGS 2>&1 | grep -v -i warn | tail -3
sleep 3
for mode in $MODES; do
  run_mode "$mode" || log "$mode failed"
done
stop_pid "$whole"
cat "$RESULTS/whole-sidecar.log"
rm -rf "$MODEL_DIR"
log "done: $RESULTS"
