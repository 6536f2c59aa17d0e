#!/usr/bin/env bash
# The LLM benchmark (MLOS_BENCH_ONLY=llm of bench/run.sh; not a timed test): mlosd with the llama
# plugin against libllama called directly (the floor) and against llama.cpp's own llama-server
# (the peer), on one generated ~130M-parameter Q8_0 llama (tests/fixtures/make_gguf.py --bench,
# random weights: realistic speed, random text; its byte tokens' output rows zeroed by
# bench/llm/ban_byte_tokens.py), on this machine's CPUs:
#   1. the ceiling of batching on this machine: mlos-llama-direct --bench --parallel 1,4,8
#      (libllama decoding 1, 4, 8 sequences in one batch per step, a context laid out as mlosd's);
#   2. single stream, in MLOS_BENCH_LLM_ROUNDS (default 5) interleaved rounds of the floor
#      (mlos-llama-direct --bench --pp-file --slots 8: the round's prompt text from text to first
#      token, on a context laid out as mlosd's, with a persistent thread pool as both servers),
#      mlosd and llama-server: prefill = a 512-token prompt with max_tokens 1 (prompt tokens /
#      time to first token), decode = an 8-token prompt with max_tokens 128 (generated tokens - 1
#      over the time between the first and last streamed token); the servers measured by the
#      client, so both include the HTTP path; medians over the rounds;
#   3. mlosd (8 slots of 1024 tokens) and llama-server (-np 8 -c 8192, continuous batching),
#      the same threads, batch and model, alternately at 1, 4 and 8 concurrent streams (closed
#      loop, prompts of 128 tokens that share no prefix, 64 generated tokens, temperature 0,
#      ignore_eos where accepted): aggregate generated tokens/s, TTFT p50/p99, per-stream decode.
# bench/llm/report.py turns the results into docs/benchmarks-llm.md.
#
# Usage: bench/llm/run.sh [BUILD_DIR]
# Environment: MLOS_BENCH_SCALE (default 1: scales the seconds per concurrency run, 20 s at 1),
# MLOS_BENCH_LLM_THREADS (default nproc), MLOS_BENCH_LLM_MODEL (a GGUF to use instead of the
# generated one), LLAMA_SERVER (a llama-server to use instead of building one with
# bench/llm/build_llama_server.sh), MLOS_BENCH_NO_REPORT=1 (results stay in bench/out/llm),
# MLOS_BENCH_LLM_SKIP_PEER=1 (no llama-server), MLOS_BENCH_LLM_PERF=1 (perf record of mlosd and
# llama-server during their 4-stream runs, or MLOS_BENCH_LLM_PERF_C streams: bench/out/llm/
# perf-*.txt, where the time goes), MLOS_BENCH_LLM_ROUNDS (single-stream rounds, default 5).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-${BUILD:-$root/build}}" && pwd)"
here="$root/bench/llm"
py=/usr/bin/python3
out="$root/bench/out/llm"
scale="${MLOS_BENCH_SCALE:-1}"
threads="${MLOS_BENCH_LLM_THREADS:-$(nproc)}"
secs=$(awk -v s="$scale" 'BEGIN{printf "%.1f", 20*s}')
slots=8 ctx_per_slot=1024 batch=512
conc_prompt=128 conc_gen=64
pp_prompt=512 tg_gen=128
rounds="${MLOS_BENCH_LLM_ROUNDS:-5}"

mlosd="$build/bin/mlosd"
axon="$build/bin/axon"
direct="$build/bin/mlos-llama-direct"
plugin="$build/lib/mlos/plugins/libmlos_llama.so"
for b in "$mlosd" "$axon" "$direct" "$plugin"; do
  [ -e "$b" ] || { echo "llm: $b not found (build mlosd, axon, mlos-llama-direct, mlos_plugin_llama)" >&2; exit 1; }
done

mkdir -p "$out"
work="$(mktemp -d /var/tmp/mlos-llm-bench.XXXXXX)"
mpid="" lpid=""
cleanup() {
  for p in $mpid $lpid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
t_start=$(date +%s)
log() { echo "llm [$(( $(date +%s) - t_start ))s]: $*" >&2; }
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
enc() { $py -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
cpu_busy() {  # % of the CPUs busy over 2 s before we start: others' work shows in every number
  local a
  a=$(awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat; sleep 2; awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
  echo $a | awk '{b=$3-$1; i=$4-$2; printf "%.0f", ((b+i) > 0 ? 100*b/(b+i) : 0)}'
}
busy=$(cpu_busy)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the model (cached) ---------------------------------------------------------------------------
model="${MLOS_BENCH_LLM_MODEL:-$out/bench-100m-q8_0.gguf}"
if [ ! -s "$model" ]; then
  log "generating $model"
  $py "$root/tests/fixtures/make_gguf.py" --bench "$model.tmp" >"$work/make_gguf.log" 2>&1 \
    || { tail -5 "$work/make_gguf.log" >&2; exit 1; }
  mv "$model.tmp" "$model"
fi
if [ -z "${MLOS_BENCH_LLM_MODEL:-}" ]; then
  # Byte tokens never chosen (bench/llm/ban_byte_tokens.py: llama-server fails a request whose
  # random text is not UTF-8); the floor and both servers all run this copy.
  nobyte="$out/bench-100m-q8_0-nobyte.gguf"
  if [ ! -s "$nobyte" ] || [ "$model" -nt "$nobyte" ]; then
    $py "$here/ban_byte_tokens.py" "$model" "$nobyte" >&2
  fi
  model="$nobyte"
fi

# --- the peer (built once, cached) ----------------------------------------------------------------
lserver="${LLAMA_SERVER:-}"
if [ -z "$lserver" ] && [ "${MLOS_BENCH_LLM_SKIP_PEER:-0}" != 1 ]; then
  log "llama-server: bench/llm/build_llama_server.sh (cached after the first build)"
  lserver=$(JOBS="${JOBS:-2}" "$here/build_llama_server.sh" | tail -1)
fi

results="$work/results.jsonl"
: >"$results"
show() {  # a command as the report prints it
  local s="$*"
  # The scratch folder first: a short build path (/tmp/m) can be part of it.
  s=${s//$work/\$WORK}; s=${s//$build/\$BUILD}; s=${s//$root/\$ROOT}
  s=$(printf '%s' "$s" | sed -E 's#127\.0\.0\.1:[0-9]+#127.0.0.1:$PORT#g')
  printf '%s\n' "$s"
}
cmds="$work/commands.txt"
: >"$cmds"
record() { show "$@" >>"$cmds"; }

# --- 1. the ceiling of batching: libllama decoding 1, 4 and 8 sequences together ----------------
ceiling=("$direct" --model "$model" --bench --pp 8 --tg 64 --reps 3 --parallel 1,4,8
         --threads "$threads" --ctx "$ctx_per_slot" --batch "$batch")
log "batching ceiling: ${ceiling[*]}"
record "${ceiling[@]}"
"${ceiling[@]}" >"$work/ceiling.json"

# --- 2. the servers -------------------------------------------------------------------------------
mport=$(free_port)
murl="http://127.0.0.1:$mport"
cat >"$work/mlosd.yaml" <<YAML
plugins:
  llama:
    parallel: $slots
    ctx_per_slot: $ctx_per_slot
    batch: $batch
    threads: $threads
YAML
export AXON_HOME="$work/axon"
mkdir -p "$work/pkg"
ln "$model" "$work/pkg/model.gguf" 2>/dev/null || cp "$model" "$work/pkg/model.gguf"
mid="bench/llm100m@1.0.0"
"$axon" install "$work/pkg" --name "$mid" >"$work/axon.log" 2>&1 || { tail -5 "$work/axon.log" >&2; exit 1; }
mcmd=("$mlosd" --http "127.0.0.1:$mport" --state-dir "$work/state" --config "$work/mlosd.yaml"
      --model-root "$work/axon/cache")
record "${mcmd[@]}   # mlosd.yaml: plugins: {llama: {parallel: $slots, ctx_per_slot: $ctx_per_slot, batch: $batch, threads: $threads}}"
"${mcmd[@]}" >"$work/mlosd.log" 2>&1 &
mpid=$!
for _ in $(seq 300); do
  curl -sf "$murl/health" >/dev/null 2>&1 && break
  kill -0 "$mpid" 2>/dev/null || { tail -20 "$work/mlosd.log" >&2; echo "llm: mlosd did not start" >&2; exit 1; }
  sleep 0.1
done
MLOS_CORE_ENDPOINT="$murl" "$axon" register "$mid" >>"$work/axon.log" 2>&1 || { tail -5 "$work/axon.log" >&2; exit 1; }
code=$(curl -s -o "$work/load.json" -w '%{http_code}' -X POST -m 300 "$murl/models/$(enc "$mid")/load")
[ "$code" = 200 ] || { echo "llm: load $mid: HTTP $code: $(cat "$work/load.json")" >&2; tail -20 "$work/mlosd.log" >&2; exit 1; }
log "mlosd $mpid up on $murl with $mid"

if [ -n "$lserver" ]; then
  lport=$(free_port)
  lurl="http://127.0.0.1:$lport"
  lcmd=("$lserver" -m "$model" --host 127.0.0.1 --port "$lport" -np "$slots"
        -c $((slots * ctx_per_slot)) -t "$threads" -tb "$threads" -b "$batch" -ub "$batch"
        --cont-batching --no-webui)
  record "${lcmd[@]}"
  "${lcmd[@]}" >"$work/llama-server.log" 2>&1 &
  lpid=$!
  for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$lurl/health")" = 200 ] && break
    kill -0 "$lpid" 2>/dev/null || { tail -20 "$work/llama-server.log" >&2; echo "llm: llama-server did not start" >&2; exit 1; }
    sleep 0.1
  done
  log "llama-server $lpid up on $lurl ($(cat "$(dirname "$lserver")/LIBS" 2>/dev/null || echo '?') libraries)"
fi

# ignore_eos where the server accepts it (llama-server does; mlosd's OpenAI parser may not).
probe='{"model":"'$mid'","prompt":"hi","max_tokens":1,"temperature":0,"ignore_eos":true}'
m_eos=()
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$probe" "$murl/v1/completions")" = 200 ] \
  && m_eos=(--ignore-eos)

loadgen() {  # target label args...
  local target=$1 label=$2; shift 2
  local cmd
  if [ "$target" = mlosd ]; then
    cmd=($py "$here/llm_loadgen.py" --url "$murl" --model "$mid" "${m_eos[@]}" --label "$label" "$@")
  else
    cmd=($py "$here/llm_loadgen.py" --url "$lurl" --model bench --ignore-eos --label "$label" "$@")
  fi
  case "$label" in *" pp"|*" tg") [ "$r" = 1 ] && record "${cmd[@]}" ;; *) record "${cmd[@]}" ;; esac
  log "$label"
  local ppid="" tpid=$mpid
  [ "$target" = mlosd ] || tpid=$lpid
  if [ "${MLOS_BENCH_LLM_PERF:-0}" = 1 ] && [[ "$label" == *" c${MLOS_BENCH_LLM_PERF_C:-4}" ]] && command -v perf >/dev/null; then
    perf record -F 499 -g -p "$tpid" -o "$work/perf-$target.data" -- sleep "$(awk -v s="$secs" 'BEGIN{print s/2}')" \
      >/dev/null 2>&1 &
    ppid=$!
  fi
  "${cmd[@]}" --out "$results" >/dev/null || log "$label: errors (see results)"
  if [ -n "$ppid" ]; then
    wait "$ppid" || true
    perf report -i "$work/perf-$target.data" --no-children -g none --percent-limit 0.5 --sort dso,sym --stdio 2>/dev/null \
      | grep -v '^$' | head -80 >"$out/perf-$target.txt" || true
  fi
}
targets=(mlosd)
[ -n "$lserver" ] && targets+=(llama-server)

# --- 3. single stream prefill / decode: the floor and the servers in interleaved rounds ----------
# Each round's prefill prompt is one text (llm_loadgen.py --print-prompt --seed R): the servers get
# it over HTTP and the floor tokenizes it (--pp-file), so all decode the same tokens; the report
# takes the median over the rounds, which spreads the machine's drift over every target alike.
: >"$work/floor.jsonl"
for r in $(seq "$rounds"); do
  $py "$here/llm_loadgen.py" --url "$murl" --model x --print-prompt --seed "$r" \
    --prompt-tokens "$pp_prompt" >"$work/pp-$r.txt"
  floor=("$direct" --model "$model" --bench --pp-file "$work/pp-$r.txt" --tg "$tg_gen" --reps 1
         --threads "$threads" --ctx "$ctx_per_slot" --slots "$slots" --batch "$batch")
  [ "$r" = 1 ] && record "${floor[@]}"
  log "floor, round $r"
  "${floor[@]}" >>"$work/floor.jsonl"
  for t in "${targets[@]}"; do
    loadgen "$t" "$t pp" --concurrency 1 --requests 1 --seed "$r" --prompt-tokens "$pp_prompt" --max-tokens 1
    loadgen "$t" "$t tg" --concurrency 1 --requests 1 --seed "$r" --prompt-tokens 8 --max-tokens "$tg_gen"
  done
done

# --- 4. concurrent streams, alternately ------------------------------------------------------------
for c in 1 4 8; do
  for t in "${targets[@]}"; do
    loadgen "$t" "$t c$c" --concurrency "$c" --duration "$secs" --warmup 1 \
      --prompt-tokens "$conc_prompt" --max-tokens "$conc_gen"
  done
done

# --- the report -----------------------------------------------------------------------------------
cat >"$work/meta.json" <<JSON
{"nproc": $(nproc), "cpu": "$(lscpu | sed -n 's/^Model name: *//p' | head -1)",
 "threads": $threads, "slots": $slots, "rounds": $rounds, "ctx_per_slot": $ctx_per_slot, "batch": $batch,
 "model": "$(basename "$model")", "model_bytes": $(stat -c %s "$model"),
 "busy_before_pct": $busy, "load_before": "$load_start", "load_after": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "seconds": $(( $(date +%s) - t_start )), "peer_libs": "$(cat "$(dirname "${lserver:-/nonexistent}")/LIBS" 2>/dev/null || echo none)",
 "mlosd_ignore_eos": $([ ${#m_eos[@]} -gt 0 ] && echo true || echo false), "date": "$(date -u +%Y-%m-%dT%H:%MZ)"}
JSON
cp "$work/floor.jsonl" "$work/ceiling.json" "$work/results.jsonl" "$work/meta.json" "$work/commands.txt" "$out/"
cp "$work/mlosd.log" "$out/mlosd.log"; [ -n "$lserver" ] && cp "$work/llama-server.log" "$out/llama-server.log"
if [ "${MLOS_BENCH_NO_REPORT:-0}" != 1 ]; then
  $py "$here/report.py" "$out" "$root/docs/benchmarks-llm.md"
  log "wrote docs/benchmarks-llm.md"
fi
log "done; results in $out"
