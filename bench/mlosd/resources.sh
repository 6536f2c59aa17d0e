#!/usr/bin/env bash
# The resource manager's benchmark (not a timed test), every section measured in one run on this
# machine, each against a real mlosd of its own (a free loopback port, its own state dir, models
# registered with axon), HTTP only (KServe binary, mlos-bench-resources):
#   1. interference: mlp at concurrency 1 and priority 1, alone, then while the encoder at batch
#      16 and priority 10 runs 16 clients, on a daemon with `scheduling: priority` and on one
#      with `scheduling: fifo`;
#   2. deadlines: the encoder (batch 4) at 2x its measured capacity, open loop, each request
#      with X-MLOS-Timeout-Ms = 5x its idle service time: met / late / refused (429), and how
#      fast the refusals come (on the priority daemon);
#   3. reload: cold load (first in the process) against warm reloads (unload, load) of the
#      encoder and w32 (32 MiB of weights);
#   4. sharing: the daemon's RSS with w32 loaded once and as 4 versions of the same package;
#   5. memory pressure: 12 models (z00..z11, 20-60 MB each, distinct weights) whose loaded sizes
#      sum to 3x the memory the budget leaves them, Zipf traffic (s = 1.1) from 4 clients, the
#      daemon's VmRSS sampled every 50 ms.
# Models: bench/models/make_models.py (mlp, encoder) and make_resource_models.py (w32, z*),
# generated into the work dir (nothing committed). About 3 minutes on 2 cores at
# MLOS_BENCH_SCALE=1 (durations scale with it). Writes docs/benchmarks-resources.md.
# Usage: bench/mlosd/resources.sh [BUILD_DIR]
# Environment: MLOS_BENCH_SCALE (default 1), MLOS_BENCH_SECTIONS (some of "interference
# deadlines reload sharing memory"; default all), MLOS_BENCH_NO_REPORT=1 (results stay in the
# work dir, which is kept), MLOS_BENCH_KEEP=1 (keep the work dir), MLOSD_BIN, AXON_BIN,
# MLOS_BENCH_RESOURCES_BIN (default BUILD_DIR/bin/...).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-${BUILD:-$root/build}}" && pwd)"
py=/usr/bin/python3
scale="${MLOS_BENCH_SCALE:-1}"
sections=" ${MLOS_BENCH_SECTIONS:-interference deadlines reload sharing memory} "
drv="${MLOS_BENCH_RESOURCES_BIN:-$build/bin/mlos-bench-resources}"
mlosd="${MLOSD_BIN:-$build/bin/mlosd}"
axon="${AXON_BIN:-$build/bin/axon}"
for b in "$mlosd" "$axon" "$drv"; do
  [ -x "$b" ] || { echo "resources: $b not found (build mlosd, axon, mlos-bench-resources)" >&2; exit 1; }
done
work="$(mktemp -d /var/tmp/mlos-resources-bench.XXXXXX)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  if [ "${MLOS_BENCH_KEEP:-0}" = 1 ] || [ "${MLOS_BENCH_NO_REPORT:-0}" = 1 ]; then
    rm -rf "$work/models" "$work/axon"; echo "resources: results kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# How busy the CPUs are right now (over 2 s, before anything of ours runs): others' work shows in
# every number, so the report states it.
busy=$(awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat; sleep 2; awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
busy=$(echo $busy | awk '{b=$3-$1; i=$4-$2; printf "%.0f", ((b+i) > 0 ? 100*b/(b+i) : 0)}')
log() { echo "resources [$(( $(date +%s) - t_start ))s]: $*" >&2; }
want() { [[ "$sections" == *" $1 "* ]]; }
secs() { awk -v s="$scale" -v d="$1" 'BEGIN{printf "%.2f", d*s}'; }
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_of() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"; }
mkdir -p "$work/out"

# --- models ------------------------------------------------------------------------------------
$py "$root/bench/models/make_models.py" "$work/models" mlp encoder >/dev/null
$py "$root/bench/models/make_resource_models.py" "$work/models" >"$work/out/models.jsonl"
$py - "$work/models" >>"$work/out/models.jsonl" <<'PY'
import json, os, sys, onnx
from onnx import numpy_helper
for name in ["mlp", "encoder"]:
    path = os.path.join(sys.argv[1], name, "model.onnx")
    w = sum(numpy_helper.to_array(t).nbytes for t in onnx.load(path).graph.initializer)
    print(json.dumps({"name": name, "path": path, "bytes": os.path.getsize(path), "weight_bytes": w}))
PY
export AXON_HOME="$work/axon"
install() {  # dir id
  "$axon" install "$work/models/$1" --name "$2" >>"$work/axon.log" 2>&1 \
    || { tail -5 "$work/axon.log" >&2; exit 1; }
}
install mlp local/mlp@1.0.0
install encoder local/encoder@1.0.0
for v in 1 2 3 4; do install w32 "local/w32@$v.0.0"; done
zmodels=()
for i in $(seq -f %02g 0 11); do install "z$i" "local/z$i@1.0.0"; zmodels+=("local/z$i@1.0.0"); done
log "models generated and installed"

# --- one daemon at a time ------------------------------------------------------------------------
# start NAME RESOURCES_YAML: a daemon with its own state dir and config; sets pid, port, url.
start() {
  local name=$1 res=$2
  port=$(free_port)
  url="http://127.0.0.1:$port"
  {
    cat <<YAML
plugins:
  onnx:
    intra_op_threads: 1
    inter_op_threads: 1
http:
  infer_threads: 64
YAML
    [ -n "$res" ] && printf 'resources:\n%s\n' "$res"
  } >"$work/out/$name.yaml"
  "$mlosd" --http "127.0.0.1:$port" --state-dir "$work/state-$name" \
    --config "$work/out/$name.yaml" --model-root "$work/axon/cache" >"$work/out/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 150); do
    curl -sf "$url/health" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/out/$name.log" >&2; echo "resources: mlosd $name did not start" >&2; exit 1; }
    sleep 0.1
  done
  curl -sf "$url/health" >/dev/null || { echo "resources: mlosd $name is not healthy" >&2; exit 1; }
  export MLOS_CORE_ENDPOINT="$url"
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
enc() { $py -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
register() { for m in "$@"; do "$axon" register "$m" >>"$work/axon.log" 2>&1 || { tail -5 "$work/axon.log" >&2; exit 1; }; done; }
# load ID: POST /load; prints the client's wall time in ms.
load() {
  local t
  t=$(curl -s -o "$work/last-load.json" -w '%{http_code} %{time_total}' -X POST -m 300 "$url/models/$(enc "$1")/load")
  [ "${t%% *}" = 200 ] || { echo "resources: load $1: HTTP ${t%% *}: $(cat "$work/last-load.json")" >&2; exit 1; }
  awk -v s="${t#* }" 'BEGIN{printf "%.1f", s*1000}'
}
unload() { curl -sf -X POST -m 60 "$url/models/$(enc "$1")/unload" >/dev/null; }
status() { curl -sf "$url/models/$(enc "$1")"; }
metrics() { curl -sf "$url/metrics" || true; }
# Commands in the report name $BUILD, $WORK and $MLOSD_HTTP instead of this run's paths.
show() {
  local s="$*"
  s=${s//$build/\$BUILD}; s=${s//$work/\$WORK}; s=${s//127.0.0.1:$port/\$MLOSD_HTTP}
  printf '%s\n' "$s"
}
mlp_onnx="$work/models/mlp/model.onnx"
enc_onnx="$work/models/encoder/model.onnx"

# --- 1 + 2. interference and deadlines ----------------------------------------------------------
interference() {  # name: idle, then loaded
  local name=$1 idle loaded
  local small="label=small,model=local/mlp@1.0.0,onnx=$mlp_onnx,concurrency=1,priority=1"
  local heavy="label=heavy,model=local/encoder@1.0.0,onnx=$enc_onnx,batch=16,int_max=1000,concurrency=16,priority=10"
  idle=("$drv" mix --url "$url" --duration "$(secs 8)" --warmup "$(secs 1)" --stream "$small")
  loaded=("$drv" mix --url "$url" --duration "$(secs 10)" --warmup "$(secs 2)" --stream "$small" --stream "$heavy")
  "${idle[@]}" >"$work/out/interference-$name-idle.json"
  "${loaded[@]}" >"$work/out/interference-$name-loaded.json"
  show "${idle[@]}" >"$work/out/interference-$name.cmd"
  show "${loaded[@]}" >>"$work/out/interference-$name.cmd"
  log "interference ($name): $(cut -c1-400 "$work/out/interference-$name-loaded.json")"
}
prio_yaml='  scheduling: priority
  batch_priority: 6
  idle_priority: 10
  deadline_admission: true'
if want interference || want deadlines; then
  start prio "$prio_yaml"
  register local/mlp@1.0.0 local/encoder@1.0.0
  load local/mlp@1.0.0 >/dev/null; load local/encoder@1.0.0 >/dev/null
  want interference && interference prio
  if want deadlines; then
    m0=$(metrics)
    cmd=("$drv" overload --url "$url" --model local/encoder@1.0.0 --onnx "$enc_onnx" --batch 4
         --priority 8 --int-max 1000 --factor 2 --timeout-mult 5 --duration "$(secs 10)" --warmup 1
         --concurrency 128 --capacity-concurrency 4 --capacity-duration "$(secs 3)")
    "${cmd[@]}" >"$work/out/deadlines.json"
    printf '%s\n' "$m0" >"$work/out/deadlines-metrics-before.txt"
    metrics >"$work/out/deadlines-metrics-after.txt"
    show "${cmd[@]}" >"$work/out/deadlines.cmd"
    log "deadlines: $(cut -c1-400 "$work/out/deadlines.json")"
  fi
  stop
fi
if want interference; then
  start fifo '  scheduling: fifo'
  register local/mlp@1.0.0 local/encoder@1.0.0
  load local/mlp@1.0.0 >/dev/null; load local/encoder@1.0.0 >/dev/null
  interference fifo
  stop
fi

# --- 3. reload, and the z models' loaded sizes -----------------------------------------------
if want reload || want memory; then
  start lifecycle ""
  echo "$(rss_of "$pid")" >"$work/out/rss-start.txt"
  register local/mlp@1.0.0 local/encoder@1.0.0 local/w32@1.0.0 "${zmodels[@]}"
  load local/mlp@1.0.0 >/dev/null  # the runtime's first session: not part of any cold load below
  sleep 0.5
  echo "$(rss_of "$pid")" >"$work/out/rss-base.txt"
  : >"$work/out/reload.jsonl"
  if want reload; then
    for m in local/encoder@1.0.0 local/w32@1.0.0; do
      for i in 0 1 2 3; do  # 0: cold (first load in this process); 1-3: warm (after an unload)
        [ "$i" -gt 0 ] && unload "$m"
        wall=$(load "$m")
        echo "{\"model\":\"$m\",\"round\":$i,\"wall_ms\":$wall,\"status\":$(status "$m")}" >>"$work/out/reload.jsonl"
      done
      unload "$m"
    done
    log "reload: $(wc -l <"$work/out/reload.jsonl") loads"
  fi
  if want memory; then  # each z model's loaded size, alone
    : >"$work/out/zsizes.jsonl"
    for m in "${zmodels[@]}"; do
      before=$(rss_of "$pid"); load "$m" >/dev/null; sleep 0.3; after=$(rss_of "$pid")
      echo "{\"model\":\"$m\",\"rss_delta\":$((after - before)),\"status\":$(status "$m")}" >>"$work/out/zsizes.jsonl"
      unload "$m"
    done
    log "z models measured"
  fi
  stop
fi

# --- 4. sharing ------------------------------------------------------------------------------------
if want sharing; then
  start sharing ""
  register local/mlp@1.0.0 local/w32@1.0.0 local/w32@2.0.0 local/w32@3.0.0 local/w32@4.0.0
  load local/mlp@1.0.0 >/dev/null; sleep 1
  r0=$(rss_of "$pid")
  load local/w32@1.0.0 >/dev/null; sleep 1
  r1=$(rss_of "$pid")
  for v in 2 3 4; do load "local/w32@$v.0.0" >/dev/null; done; sleep 1
  r4=$(rss_of "$pid")
  st=$(for v in 1 2 3 4; do status "local/w32@$v.0.0"; echo; done | $py -c 'import json,sys; print(json.dumps([json.loads(l) for l in sys.stdin if l.strip()]))')
  echo "{\"rss_base\":$r0,\"rss_one\":$r1,\"rss_four\":$r4,\"status\":$st}" >"$work/out/sharing.json"
  log "sharing: base $r0, one $r1, four $r4"
  stop
fi

# --- 5. memory pressure ------------------------------------------------------------------------
if want memory; then
  # Budget: the daemon's base (resident with the runtime initialised, measured above) plus a
  # third of the z models' loaded sizes (their weights: the tables they gather from).
  budget=$($py - "$work/out" <<'PY'
import json, sys
out = sys.argv[1]
base = int(open(out + "/rss-base.txt").read())
zs = [json.loads(l) for l in open(out + "/models.jsonl")]
print(base + sum(m["weight_bytes"] for m in zs if m["name"][:1] == "z" and m["name"] != "zsig") // 3)
PY
)
  start memory "  memory_budget: \"$budget\""
  register "${zmodels[@]}"
  m0=$(metrics)
  cmd=("$drv" zipf --url "$url" --onnx "$work/models/zsig/model.onnx" --int-max 1024
       --models "$(IFS=,; echo "${zmodels[*]}")" --zipf-s 1.1 --concurrency 4
       --duration "$(secs 30)" --seed 1 --rss-pid "$pid" --rss-interval-ms 50
       --rss-out "$work/out/memory-rss.txt")
  "${cmd[@]}" >"$work/out/memory.json"
  printf '%s\n' "$m0" >"$work/out/memory-metrics-before.txt"
  metrics >"$work/out/memory-metrics-after.txt"
  for m in "${zmodels[@]}"; do status "$m"; echo; done >"$work/out/memory-status.jsonl"
  echo "$budget" >"$work/out/budget.txt"
  show "${cmd[@]}" | sed "s/--rss-pid [0-9]*/--rss-pid \$MLOSD_PID/" >"$work/out/memory.cmd"
  log "memory: $(cut -c1-400 "$work/out/memory.json")"
  stop
fi

# --- report --------------------------------------------------------------------------------------
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
commit=$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || true)
# A daemon built from uncommitted sources is not that commit's.
if [ -n "$commit" ] && ! (cd "$root" && git diff --quiet HEAD -- src apps plugins include 2>/dev/null); then
  commit="$commit (with uncommitted changes)"
fi
t_end=$(date +%s)
out="$root/docs/benchmarks-resources.md"
[ "${MLOS_BENCH_NO_REPORT:-0}" = 1 ] && out="$work/benchmarks-resources.md"
$py "$root/bench/mlosd/resources_report.py" "$work/out" "$out" "$(nproc)" "$cpu" \
  "$((t_end - t_start))" "$scale" "$commit" \
  "$busy" "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrote $out"
