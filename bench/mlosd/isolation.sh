#!/usr/bin/env bash
# The cost of process isolation (not a timed test; docs/isolation.md): one mlosd serves each model
# twice from the same files, once in process (local/mlp, local/encoder) and once in a sandboxed
# worker (local/mlp_p, local/encoder_p: `isolation.models: {...: process}`), and one client,
# mlos-bench-isolation (bench/mlosd/isolation_bench.cc, mlos-bench's transports), measures both
# in alternating rounds (in-process first in even rounds, process first in odd ones) so that the
# machine's drift hits both, over IPC with shared memory and HTTP (KServe binary):
#   1. latency: the tiny model (tests/fixtures' mlp.onnx, batch 1) at concurrency 1, p50 per
#      round; mlosd, its workers and the client all pinned to CPU 0 (as bench/mlosd/protocols.sh:
#      cross-CPU wakeups cost ~100 µs on these VMs); ONNX Runtime called in the client ("raw")
#      in every round as the floor;
#   2. throughput: the encoder (bench/models/make_models.py, batch 1) at concurrency 16, closed
#      loop, requests/s per round; nothing pinned (both cores);
#   3. (informational) 2 under CPU contention, IPC shm only: one busy loop per core beside it,
#      the worker in its own cpu cgroup as mlosd made it, then moved into the root cpu cgroup.
# Each measurement also reads the on-CPU time and context switches of mlosd, the worker and the
# client (per request), which is where the overhead shows. Models generated into the work dir
# (nothing committed). About 2 minutes on 2 cores. Writes docs/benchmarks-isolation.md.
# Usage: bench/mlosd/isolation.sh [BUILD_DIR]
# Environment: MLOS_BENCH_SCALE (default 1: scales the throughput seconds per round),
# MLOS_BENCH_LAT_ROUNDS (default 11), MLOS_BENCH_ITERS (requests per latency measurement, default
# 3000), MLOS_BENCH_TPUT_ROUNDS (default 10), MLOS_BENCH_NO_REPORT=1 (the report goes to the work
# dir, which is kept), MLOS_BENCH_KEEP=1, MLOSD_BIN, AXON_BIN, MLOS_BENCH_ISOLATION_BIN.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-${BUILD:-$root/build}}" && pwd)"
py=/usr/bin/python3
scale="${MLOS_BENCH_SCALE:-1}"
lat_rounds="${MLOS_BENCH_LAT_ROUNDS:-11}"
iters="${MLOS_BENCH_ITERS:-3000}"
tput_rounds="${MLOS_BENCH_TPUT_ROUNDS:-10}"
tput_secs=$(awk -v s="$scale" 'BEGIN{printf "%.2f", 2*s}')
tput_warmup=$(awk -v s="$scale" 'BEGIN{printf "%.2f", 0.3*s}')
drv="${MLOS_BENCH_ISOLATION_BIN:-$build/bin/mlos-bench-isolation}"
mlosd="${MLOSD_BIN:-$build/bin/mlosd}"
axon="${AXON_BIN:-$build/bin/axon}"
worker="$(dirname "$mlosd")/mlos-worker"
for b in "$mlosd" "$axon" "$drv" "$worker"; do
  [ -x "$b" ] || { echo "isolation: $b not found (build mlosd, mlos-worker, axon, mlos-bench-isolation)" >&2; exit 1; }
done
work="$(mktemp -d /var/tmp/mlos-isolation-bench.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ "${MLOS_BENCH_KEEP:-0}" = 1 ] || [ "${MLOS_BENCH_NO_REPORT:-0}" = 1 ]; then
    rm -rf "$work/models" "$work/axon"; echo "isolation: results kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# How busy the CPUs are before anything of ours runs (over 2 s): others' work shows in every
# number, so the report states it.
cpu_busy() {
  local a
  a=$(awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat; sleep 2; awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
  echo $a | awk '{b=$3-$1; i=$4-$2; printf "%.0f", ((b+i) > 0 ? 100*b/(b+i) : 0)}'
}
busy=$(cpu_busy)
log() { echo "isolation [$(( $(date +%s) - t_start ))s]: $*" >&2; }
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
enc() { $py -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
mkdir -p "$work/out" "$work/models/mlp"

# --- models: the same files registered twice -----------------------------------------------------
$py "$root/tests/fixtures/make_models.py" --out "$work/fixtures" >/dev/null
cp "$work/fixtures/mlp.onnx" "$work/models/mlp/model.onnx"
$py "$root/bench/models/make_models.py" "$work/models" encoder >/dev/null
export AXON_HOME="$work/axon"
for m in mlp encoder; do
  for n in "$m" "${m}_p"; do
    "$axon" install "$work/models/$m" --name "local/$n@1.0.0" >>"$work/axon.log" 2>&1 \
      || { tail -5 "$work/axon.log" >&2; exit 1; }
  done
done

# --- the daemon ------------------------------------------------------------------------------------
hport=$(free_port)
sock="$work/mlosd.sock"
url="http://127.0.0.1:$hport"
cat >"$work/out/mlosd.yaml" <<YAML
plugins:
  onnx:
    intra_op_threads: 1
    inter_op_threads: 1
isolation:
  default: in_process
  models: {"local/mlp_p": process, "local/encoder_p": process}
YAML
"$mlosd" --http "127.0.0.1:$hport" --ipc "$sock" --state-dir "$work/state" \
  --config "$work/out/mlosd.yaml" --model-root "$work/axon/cache" >"$work/out/mlosd.log" 2>&1 &
pid=$!
for _ in $(seq 150); do
  curl -sf "$url/health" >/dev/null 2>&1 && [ -S "$sock" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/out/mlosd.log" >&2; echo "isolation: mlosd did not start" >&2; exit 1; }
  sleep 0.1
done
curl -sf "$url/health" >/dev/null || { echo "isolation: mlosd is not healthy" >&2; exit 1; }
export MLOS_CORE_ENDPOINT="$url"
status() { curl -sf "$url/models/$(enc "$1")"; }
field() { $py -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }
for n in mlp mlp_p encoder encoder_p; do
  id="local/$n@1.0.0"
  "$axon" register "$id" >>"$work/axon.log" 2>&1 || { tail -5 "$work/axon.log" >&2; exit 1; }
  code=$(curl -s -o "$work/out/load-$n.json" -w '%{http_code}' -X POST -m 120 "$url/models/$(enc "$id")/load")
  [ "$code" = 200 ] || { echo "isolation: load $id: HTTP $code: $(cat "$work/out/load-$n.json")" >&2; tail -20 "$work/out/mlosd.log" >&2; exit 1; }
  want=in_process; [[ "$n" == *_p ]] && want=process
  got=$(status "$id" | field isolation)
  [ "$got" = "$want" ] || { echo "isolation: $id runs with isolation '$got', expected '$want'" >&2; exit 1; }
done
wpid_mlp=$(status local/mlp_p@1.0.0 | field worker_pid)
wpid_enc=$(status local/encoder_p@1.0.0 | field worker_pid)
[ "${wpid_mlp:-0}" -gt 0 ] && [ "${wpid_enc:-0}" -gt 0 ] || { echo "isolation: no worker pid" >&2; exit 1; }
log "mlosd $pid up; workers: mlp_p $wpid_mlp, encoder_p $wpid_enc"

# pin CPUS: every thread of mlosd and of every process under it (the workers and their sandbox's
# first process).
descendants() { local p=$1 c; echo "$p"; for c in $(pgrep -P "$p" || true); do descendants "$c"; done; }
pin() { for p in $(descendants "$pid"); do taskset -a -p -c "$1" "$p" >/dev/null; done; }
allcpus="0-$(( $(nproc) - 1 ))"
show() {  # a command as the report prints it
  local s="$*"
  s=${s//$build/\$BUILD}; s=${s//$work/\$WORK}; s=${s//127.0.0.1:$hport/\$MLOSD_HTTP}
  s=$(printf '%s' "$s" | sed -E 's/--pid (mlosd|worker)=[0-9]+/--pid \1=$\U\1_PID/g')
  printf '%s\n' "$s"
}

# --- 1. latency: tiny model, concurrency 1, everything on CPU 0 ---------------------------------
pin 0
lat=(taskset -c 0 "$drv" --phase latency --onnx "$work/models/mlp/model.onnx"
     --model local/mlp@1.0.0 --model-p local/mlp_p@1.0.0 --unix "unix://$sock" --http "$url"
     --rounds "$lat_rounds" --requests "$iters" --warmup-requests 300 --raw 1
     --pid "mlosd=$pid" --pid "worker=$wpid_mlp")
log "latency: $lat_rounds rounds x $iters requests x (raw, 2 targets x 2 variants)"
"${lat[@]}" >"$work/out/latency.json" 2>"$work/out/latency.log" \
  || { tail -5 "$work/out/latency.log" >&2; exit 1; }
show "${lat[@]}" >"$work/out/latency.cmd"

# --- 2. throughput: encoder, concurrency 16, both cores -----------------------------------------
pin "$allcpus"
tput=("$drv" --phase throughput --onnx "$work/models/encoder/model.onnx" --int-max 1000
      --model local/encoder@1.0.0 --model-p local/encoder_p@1.0.0 --unix "unix://$sock"
      --http "$url" --rounds "$tput_rounds" --concurrency 16 --seconds "$tput_secs"
      --warmup "$tput_warmup" --pid "mlosd=$pid" --pid "worker=$wpid_enc")
log "throughput: $tput_rounds rounds x ${tput_secs}s x (2 targets x 2 variants)"
"${tput[@]}" >"$work/out/throughput.json" 2>"$work/out/throughput.log" \
  || { tail -5 "$work/out/throughput.log" >&2; exit 1; }
show "${tput[@]}" >"$work/out/throughput.cmd"

# --- 3. throughput under CPU contention (informational) -----------------------------------------
# The same as 2 over IPC shm while one busy loop per core runs beside it (another job on the
# machine). A worker runs in a cpu cgroup of its own (cpu.shares / cpu.weight from the model's
# priority), so under contention its threads share one group's weight while in-process the
# daemon's threads each weigh as much as any other thread: measured as is, then with the worker
# moved into the root cpu cgroup (where mlosd is) for comparison, then moved back.
cgline=$(grep -E '^[0-9]+:([^:]*,)?cpu(,[^:]*)?:' "/proc/$wpid_enc/cgroup" | head -1 || true)
if [ -n "$cgline" ]; then
  ctrl=$(echo "$cgline" | cut -d: -f2); cgdir=/sys/fs/cgroup/$ctrl
  [ -d "$cgdir" ] || cgdir=/sys/fs/cgroup/cpu
else
  cgline=$(grep -E '^0::' "/proc/$wpid_enc/cgroup" | head -1 || true); cgdir=/sys/fs/cgroup
fi
cgpath=${cgline##*:}
{
  echo "worker cgroup: ${cgline:-none}"
  for f in cpu.shares cpu.weight cpu.cfs_quota_us cpu.max; do
    [ -r "$cgdir$cgpath/$f" ] && echo "$f: $(cat "$cgdir$cgpath/$f")"
  done
  [ -r "$cgdir/cpu.shares" ] && echo "root cpu.shares: $(cat "$cgdir/cpu.shares")"
  grep -E ':cpu[,:]|^0::' "/proc/$pid/cgroup" | sed 's/^/mlosd cgroup: /'
} >"$work/out/cgroup.txt" 2>/dev/null || true
hogs=()
stop_hogs() {
  for h in "${hogs[@]}"; do kill "$h" 2>/dev/null || true; wait "$h" 2>/dev/null || true; done
  hogs=()
}
trap 'stop_hogs; cleanup' EXIT
for _ in $(seq "$(nproc)"); do sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 & hogs+=($!); done
cont=("$drv" --phase throughput --onnx "$work/models/encoder/model.onnx" --int-max 1000
      --model local/encoder@1.0.0 --model-p local/encoder_p@1.0.0 --unix "unix://$sock"
      --rounds 2 --concurrency 16 --seconds "$(awk -v s="$scale" 'BEGIN{printf "%.2f", 2*s}')"
      --warmup "$tput_warmup" --pid "mlosd=$pid" --pid "worker=$wpid_enc")
log "contention: $(nproc) busy loops, 2 rounds, worker in its cgroup ($cgpath), then in the root one"
"${cont[@]}" >"$work/out/contended.json" 2>"$work/out/contended.log" \
  || { tail -5 "$work/out/contended.log" >&2; exit 1; }
if [ -n "$cgpath" ] && [ "$cgpath" != / ] && [ -w "$cgdir/cgroup.procs" ] \
   && echo "$wpid_enc" >"$cgdir/cgroup.procs" 2>/dev/null; then
  "${cont[@]}" >"$work/out/contended-rootcg.json" 2>"$work/out/contended-rootcg.log" \
    || { tail -5 "$work/out/contended-rootcg.log" >&2; exit 1; }
  echo "$wpid_enc" >"$cgdir$cgpath/cgroup.procs" 2>/dev/null || true
fi
stop_hogs
show "${cont[@]}" >"$work/out/contended.cmd"

# The workers served every request (no restart, same pid) and the models kept their isolation.
for n in mlp mlp_p encoder encoder_p; do status "local/$n@1.0.0"; echo; done >"$work/out/status.jsonl"
[ "$(status local/mlp_p@1.0.0 | field worker_pid)" = "$wpid_mlp" ] \
  && [ "$(status local/encoder_p@1.0.0 | field worker_pid)" = "$wpid_enc" ] \
  || { echo "isolation: a worker restarted during the run" >&2; exit 1; }
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

# --- report --------------------------------------------------------------------------------------
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
commit=$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || true)
# A daemon built from uncommitted sources is not that commit's.
if [ -n "$commit" ] && ! (cd "$root" && git diff --quiet HEAD -- src apps plugins include 2>/dev/null); then
  commit="$commit (with uncommitted changes)"
fi
t_end=$(date +%s)
out="$root/docs/benchmarks-isolation.md"
[ "${MLOS_BENCH_NO_REPORT:-0}" = 1 ] && out="$work/benchmarks-isolation.md"
$py "$root/bench/mlosd/isolation_report.py" "$work/out" "$out" "$(nproc)" "$cpu" \
  "$((t_end - t_start))" "$commit" "$busy" "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrote $out"
