#!/usr/bin/env bash
# The benchmark suite behind docs/benchmarks.md: mlosd (HTTP JSON, HTTP binary, gRPC, IPC inline,
# IPC shared memory) against ONNX Runtime called directly ("raw") and against a peer server, a
# plain Node.js http server on onnxruntime-node (bench/peer/server.js, the same ONNX Runtime), on
# the models of bench/models/make_models.py (tiny, mlp, encoder, large). Every measurement is one
# run of the load generator mlos-bench; its JSON line goes to results.jsonl in the work dir, and
# the whole run to docs/bench/results.json, from which bench/report.py writes docs/benchmarks.md
# and the plots in docs/bench/.
#   a. overhead at concurrency 1, server, peer and client pinned to CPU 0: tiny, mlp, encoder;
#   b. closed-loop throughput at concurrency 1, 4, 16, 64, unpinned: encoder, mlp;
#   c. open-loop latency on encoder at 50 % and 90 % of the peer's throughput at concurrency 16;
#   d. a 32 MB tensor in and out (large) at concurrency 1, pinned, no JSON paths.
# About 7 minutes at MLOS_BENCH_SCALE=1 on 2 cores (durations scale with it; 0.2 for a check).
# The peers part (MLOS_BENCH_PART=peers, `make bench` runs it after the rest) measures instead the
# peer servers from PyPI (bench/peers/: KServe, MLServer, LitServe, each in .venv-peers-<name>/)
# beside mlosd (HTTP JSON, HTTP binary, gRPC) and raw in sections a, b and c, and e: Triton's
# perf_analyzer against mlosd over HTTP and gRPC, with and without system shared memory; its
# results go to docs/bench/results-peers.json and section e of docs/benchmarks.md. About 10 minutes
# at MLOS_BENCH_SCALE=1 (plus about 3 the first time, for bench/peers/setup.sh's environments).
# Usage: bench/suite.sh [BUILD_DIR]
# Environment:
#   MLOS_BENCH_PART              "all" (default: the sections above) or "peers"
#   MLOS_BENCH_PEERS             the peers part's servers (default "kserve mlserver litserve")
#   MLOS_BENCH_SCALE             duration multiplier (default 1)
#   MLOS_BENCH_SECTIONS          which of "overhead throughput openloop large" (default all)
#   MLOS_BENCH_MLOSD_EXTRA_YAML  appended to the main mlosd's config (default: 2 plugin calls at
#                                once per model, one per core)
#   MLOS_BENCH_BATCHING_YAML     appended to the second mlosd's config (default: batching 16 x 2)
#   MLOS_BENCH_BIN, MLOSD_BIN, AXON_BIN   the binaries (default BUILD_DIR/bin/...)
#   MLOS_BENCH_WORK              work dir (default BUILD_DIR/bench-suite; emptied first)
#   MLOS_BENCH_NO_REPORT=1       leave docs/ alone (results stay in the work dir)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-${BUILD:-$root/build}}" && pwd)"
py=/usr/bin/python3
scale="${MLOS_BENCH_SCALE:-1}"
part="${MLOS_BENCH_PART:-all}"
case "$part" in
  all) sections="${MLOS_BENCH_SECTIONS:-overhead throughput openloop large}" ;;
  peers) sections="${MLOS_BENCH_SECTIONS:-overhead throughput openloop perf}" ;;
  *) echo "suite: MLOS_BENCH_PART must be all or peers" >&2; exit 2 ;;
esac
bench="${MLOS_BENCH_BIN:-$build/bin/mlos-bench}"
mlosd="${MLOSD_BIN:-$build/bin/mlosd}"
axon="${AXON_BIN:-$build/bin/axon}"
# The main mlosd runs its default scheduling (no batching); a second one with dynamic batching
# serves section b's "mlosd+batching" series (HTTP only).
extra_yaml="${MLOS_BENCH_MLOSD_EXTRA_YAML-$'scheduling:\n  max_concurrent_infers: 2'}"
batch_yaml="${MLOS_BENCH_BATCHING_YAML-$'batching:\n  max_batch_size: 16\n  max_concurrent_batches: 2'}"
work="${MLOS_BENCH_WORK:-$build/bench-$([ "$part" = peers ] && echo peers || echo suite)}"
ncpu=$(nproc)
all_cpus="0-$((ncpu - 1))"
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# Is the machine quiet? The load average trails by minutes (and includes whatever make bench ran
# just before), so measure how busy the CPUs are right now, over 2 s, before anything of ours runs.
busy_start=$(awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat; sleep 2; awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
busy_start=$(echo $busy_start | awk '{b=$3-$1; i=$4-$2; printf "%.0f", ((b+i) > 0 ? 100*b/(b+i) : 0)}')

for b in "$bench" "$mlosd" "$axon"; do
  [ -x "$b" ] || { echo "suite: $b not found (build it first, or set MLOS_BENCH_BIN/MLOSD_BIN/AXON_BIN)" >&2; exit 1; }
done
[ "$part" = peers ] || command -v node >/dev/null || { echo "suite: node (Node.js) is needed for the peer server" >&2; exit 1; }
if [ "$part" = all ] && [ ! -d "$root/bench/peer/node_modules/onnxruntime-node" ]; then
  echo "suite: installing the peer's onnxruntime-node (npm ci)"
  # The package's postinstall would download CUDA libraries from nuget; CPU is all we use.
  (cd "$root/bench/peer" && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --no-audit --no-fund --loglevel=error)
fi

rm -rf "$work" && mkdir -p "$work"
sockdir="$(mktemp -d /tmp/mlos-suite.XXXXXX)"  # a short path: unix socket names are limited
sock="$sockdir/mlosd.sock"
mlosd_pid="" peer_pid="" bmlosd_pid=""
source "$root/bench/peers/lib.sh"
cleanup() {
  peers_stop
  for p in $mlosd_pid $peer_pid $bmlosd_pid; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  rm -rf "$sockdir" "$work/state" "$work/axon" "$work/bstate" "$work/baxon"
}
trap cleanup EXIT
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secs() { awk -v s="$scale" -v d="$1" 'BEGIN{printf "%.2f", d*s}'; }
note() { echo "$*" >>"$work/notes.txt"; echo "suite: $*"; }
log() { echo "suite [$(( $(date +%s) - t_start ))s]: $*"; }
: >"$work/notes.txt"
: >"$work/results.jsonl"

# --- models ------------------------------------------------------------------------------------
$py "$root/bench/models/make_models.py" "$work/models" >/dev/null
models=(tiny mlp encoder large)

# --- mlosd -------------------------------------------------------------------------------------
hport=$(free_port); gport=$(free_port)
write_config() {  # extra-yaml
  cat >"$work/mlosd.yaml" <<YAML
plugins:
  onnx:
    intra_op_threads: 1
    inter_op_threads: 1
grpc:
  max_message_bytes: 268435456
http:
  max_body_bytes: 268435456
YAML
  [ -n "$1" ] && printf '%s\n' "$1" >>"$work/mlosd.yaml"
  return 0
}
start_mlosd() {  # -> 0 when up
  rm -rf "$work/state" "$sock"
  "$mlosd" --http "127.0.0.1:$hport" --grpc "127.0.0.1:$gport" --ipc "$sock" \
    --state-dir "$work/state" --config "$work/mlosd.yaml" --model-root "$work/axon/cache" \
    >"$work/mlosd.log" 2>&1 &
  mlosd_pid=$!
  for _ in $(seq 150); do
    kill -0 "$mlosd_pid" 2>/dev/null || { mlosd_pid=""; return 1; }
    curl -sf "http://127.0.0.1:$hport/health" >/dev/null 2>&1 && [ -S "$sock" ] && return 0
    sleep 0.1
  done
  return 1
}
write_config "$extra_yaml"
start_mlosd || { cat "$work/mlosd.log" >&2; echo "suite: mlosd did not start" >&2; exit 1; }
batching="off"
grep -q "max_batch_size: *[2-9]\|max_batch_size: *[1-9][0-9]" "$work/mlosd.yaml" && batching="on"
cp "$work/mlosd.yaml" "$work/mlosd-config.yaml"
export AXON_HOME="$work/axon" MLOS_CORE_ENDPOINT="http://127.0.0.1:$hport"
for m in "${models[@]}"; do
  "$axon" install "$work/models/$m" --name "local/$m@1.0.0" >"$work/axon-$m.log" 2>&1 \
    || { cat "$work/axon-$m.log" >&2; exit 1; }
  "$axon" register "local/$m@1.0.0" >>"$work/axon-$m.log" 2>&1 || { cat "$work/axon-$m.log" >&2; exit 1; }
  curl -sf -X POST "http://127.0.0.1:$hport/models/local%2F$m%401.0.0/load" >/dev/null \
    || { echo "suite: mlosd could not load $m" >&2; tail -20 "$work/mlosd.log" >&2; exit 1; }
done
# The second mlosd, with batching: same models, HTTP only (not in the peers part).
bport=$(free_port)
if [ "$part" = all ]; then
{ cat "$work/mlosd.yaml"; printf '%s\n' "$batch_yaml"; } >"$work/mlosd-batching.yaml"
"$mlosd" --http "127.0.0.1:$bport" --state-dir "$work/bstate" --config "$work/mlosd-batching.yaml" \
  --model-root "$work/axon/cache" \
  >"$work/mlosd-batching.log" 2>&1 &
bmlosd_pid=$!
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$bport/health" >/dev/null 2>&1 && break; sleep 0.1; done
for m in encoder mlp; do
  AXON_HOME="$work/axon" MLOS_CORE_ENDPOINT="http://127.0.0.1:$bport" \
    "$axon" register "local/$m@1.0.0" >>"$work/axon-$m.log" 2>&1 || { cat "$work/axon-$m.log" >&2; exit 1; }
  curl -sf -X POST "http://127.0.0.1:$bport/models/local%2F$m%401.0.0/load" >/dev/null \
    || { echo "suite: the batching mlosd could not load $m" >&2; tail -20 "$work/mlosd-batching.log" >&2; exit 1; }
done
fi
mlosd_ort=$(curl -sf "http://127.0.0.1:$hport/plugins" | $py -c \
  'import json,sys; print(next((p["framework"] for p in json.load(sys.stdin)["plugins"] if p["name"]=="onnx"), ""))' || true)
log "mlosd up (http $hport, grpc $gport, ipc $sock; batching $batching; $mlosd_ort)"

# --- peer --------------------------------------------------------------------------------------
pport=$(free_port) peer_ort=""
if [ "$part" = peers ]; then
  peers_start ${MLOS_BENCH_PEERS-kserve mlserver litserve}
  peer_list=("${py_peers[@]}")
else
  peer_list=(peer)
peer_args=()
for m in "${models[@]}"; do peer_args+=(--model "$m=$work/models/$m/model.onnx"); done
node "$root/bench/peer/server.js" --port "$pport" "${peer_args[@]}" >"$work/peer.log" 2>&1 &
peer_pid=$!
for _ in $(seq 300); do
  grep -q "^listening on" "$work/peer.log" && break
  kill -0 "$peer_pid" 2>/dev/null || { cat "$work/peer.log" >&2; echo "suite: the peer did not start" >&2; exit 1; }
  sleep 0.1
done
grep -q "^listening on" "$work/peer.log" || { echo "suite: the peer did not start" >&2; exit 1; }
peer_ort=$(cd "$root/bench/peer" && node -e 'process.stdout.write(require("onnxruntime-node").env.versions.common)')
log "peer up (http $pport, onnxruntime-node $peer_ort, node $(node --version))"
fi

# Commands in the report read $MLOSD_HTTP etc. instead of this run's ports.
SUITE_SUBST="MLOSD_HTTP=127.0.0.1:$hport MLOSD_BATCHING_HTTP=127.0.0.1:$bport MLOSD_GRPC=127.0.0.1:$gport MLOSD_SOCK=$sock PEER=127.0.0.1:$pport"
for n in "${py_peers[@]}"; do
  SUITE_SUBST+=" ${n^^}=127.0.0.1:${pypeer_port[$n]}"
  [ -n "${pypeer_grpc[$n]}" ] && SUITE_SUBST+=" ${n^^}_GRPC=127.0.0.1:${pypeer_grpc[$n]}"
done
export SUITE_SUBST
pin_servers() {  # cpu list: every thread of both mlosd and of the peers
  local p
  for p in $mlosd_pid $bmlosd_pid $peer_pid; do taskset -a -p -c "$1" "$p" >/dev/null; done
  peers_pin "$1"
}

# --- one measurement ---------------------------------------------------------------------------
# measure SECTION SERVER PINNED(0|1) mlos-bench-args...: runs mlos-bench, appends its JSON line
# with the suite's fields (section, server, pinned, command) to results.jsonl.
url_of() {
  case "$1" in
    peer) echo "http://127.0.0.1:$pport" ;;
    kserve | mlserver | litserve)
      [ "$2" = grpc ] && echo "grpc://127.0.0.1:${pypeer_grpc[$1]}" || echo "http://127.0.0.1:${pypeer_port[$1]}" ;;
    mlosd-batch) echo "http://127.0.0.1:$bport" ;;
    raw) echo "" ;;
    *) case "$2" in
         http-json | http-binary) echo "http://127.0.0.1:$hport" ;;
         grpc) echo "grpc://127.0.0.1:$gport" ;;
         ipc-inline | ipc-shm) echo "unix://$sock" ;;
       esac ;;
  esac
}
measure() {
  local section=$1 server=$2 pinned=$3; shift 3
  local cmd=("$bench" "$@")
  [ "$pinned" = 1 ] && cmd=(taskset -c 0 "${cmd[@]}")
  local limit out rc=0
  limit=$(awk -v s="$scale" 'BEGIN{printf "%d", 60 + 30*s}')
  out=$(timeout "$limit" "${cmd[@]}" 2>"$work/last.err") || rc=$?
  printf '%s\n' "$out" | $py -c '
import json, os, shlex, sys
section, server, pinned, rc, work, build, root = sys.argv[1:8]
cmd = " ".join(shlex.quote(a) for a in sys.argv[8:])
subst = [(work, "$WORK"), (build, "$BUILD"), (root, "$ROOT")] + \
        [(p.split("=", 1)[1], "$" + p.split("=", 1)[0]) for p in os.environ.get("SUITE_SUBST", "").split() if "=" in p]
for k, v in subst:
    cmd = cmd.replace(k, v)
line = next((l for l in reversed(sys.stdin.read().splitlines()) if l.startswith("{")), None)
try:
    r = json.loads(line) if line else {}
except ValueError:
    r = {}
if int(rc) != 0 or not r:
    err = open(work + "/last.err", errors="replace").read().strip().splitlines()
    r.setdefault("errors", -1)
    r["suite_error"] = "exit %s: %s" % (rc, err[-1][:300] if err else "no output")
args = sys.argv[8:]
if "--label" in args:
    r["label"] = args[args.index("--label") + 1]  # also when mlos-bench printed nothing
for k, v in subst:  # the raw target reports the .onnx path as its model
    if isinstance(r.get("model"), str):
        r["model"] = r["model"].replace(k, v)
r.update(section=section, server=server, pinned=pinned == "1", command=cmd)
print(json.dumps(r))
' "$section" "$server" "$pinned" "$rc" "$work" "$build" "$root" "${cmd[@]}" >>"$work/results.jsonl"
  local last; last=$(tail -1 "$work/results.jsonl")
  log "$section $server ${*:2:1}: $(printf '%s' "$last" | $py -c '
import json,sys; r=json.load(sys.stdin); l=r.get("latency_us") or {}
print("%s rps, p50 %s us, p99 %s us, errors %s%s" % (r.get("throughput_rps"), l.get("p50"), l.get("p99"),
      r.get("errors"), (" (" + r["suite_error"] + ")") if "suite_error" in r else ""))')"
}
# Common arguments of a model.
model_args() {  # model
  local a=(--onnx "$work/models/$1/model.onnx" --batch 1)
  [ "$1" = encoder ] && a+=(--int-max 1000)
  printf '%s\n' "${a[@]}"
}
# run SECTION SERVER TARGET MODEL PINNED extra-args...
run() {
  local section=$1 server=$2 target=$3 model=$4 pinned=$5; shift 5
  local url name args=()
  url=$(url_of "$server" "$target")
  mapfile -t args < <(model_args "$model")
  [ -n "$url" ] && args+=(--url "$url")
  case "$server" in
    mlosd | mlosd-batch) name="local/$model@1.0.0" ;;
    *) name="$model" ;;
  esac
  [ "$server" != raw ] && args+=(--model "$name")
  measure "$section" "$server" "$pinned" --target "$target" "${args[@]}" \
    --label "${LABEL:-$section/$server/$target/$model}" "$@"
}
mlosd_targets=(http-json http-binary grpc ipc-inline ipc-shm)
[ "$part" = peers ] && mlosd_targets=(http-json http-binary grpc)
want() { [[ " $sections " == *" $1 "* ]]; }

# --- a. overhead at concurrency 1, pinned ------------------------------------------------------
if want overhead; then
  pin_servers 0
  d=$(secs 3); w=$(secs 0.5)
  for m in tiny mlp encoder; do
    run overhead raw raw "$m" 1 --mode closed --concurrency 1 --raw-threads 1 --duration "$d" --warmup "$w"
    for t in "${mlosd_targets[@]}"; do
      run overhead mlosd "$t" "$m" 1 --mode closed --concurrency 1 --duration "$d" --warmup "$w"
    done
    for p in "${peer_list[@]}"; do
      run overhead "$p" http-json "$m" 1 --mode closed --concurrency 1 --duration "$d" --warmup "$w"
    done
  done
fi

# --- d. large tensors at concurrency 1, pinned -------------------------------------------------
if want large; then
  pin_servers 0
  d=$(secs 4); w=$(secs 0.5)
  run large raw raw large 1 --mode closed --concurrency 1 --raw-threads 1 --duration "$d" --warmup "$w"
  for t in http-binary grpc ipc-inline ipc-shm; do
    run large mlosd "$t" large 1 --mode closed --concurrency 1 --duration "$d" --warmup "$w"
  done
fi

# --- b. closed-loop throughput, unpinned -------------------------------------------------------
pin_servers "$all_cpus"
if want throughput; then
  d=$(secs 4); w=$(secs 0.5)
  for m in encoder mlp; do
    for c in 1 4 16 64; do
      run throughput raw raw "$m" 0 --mode closed --concurrency "$c" --raw-threads 1 --duration "$d" --warmup "$w"
      for t in "${mlosd_targets[@]}"; do
        run throughput mlosd "$t" "$m" 0 --mode closed --concurrency "$c" --duration "$d" --warmup "$w"
      done
      [ "$part" = all ] && run throughput mlosd-batch http-binary "$m" 0 --mode closed --concurrency "$c" --duration "$d" --warmup "$w"
      for p in "${peer_list[@]}"; do
        run throughput "$p" http-json "$m" 0 --mode closed --concurrency "$c" --duration "$d" --warmup "$w"
      done
    done
  done
fi

# --- c. open loop on encoder at 50 % and 90 % of the (best) peer's c=16 throughput -------------
peer16=""
best16() {  # the highest c=16 encoder throughput of the peers in section $1
  $py -c '
import json, sys
best = None
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("section") == sys.argv[2] and r.get("server") in sys.argv[3:] and r.get("concurrency") == 16 \
       and (r.get("label") or "").endswith("/http-json/encoder") and r.get("throughput_rps") and not r.get("errors"):
        best = max(best or 0, r["throughput_rps"])
print(best or "")
' "$work/results.jsonl" "$1" "${peer_list[@]}"
}
if want openloop && [ ${#peer_list[@]} -gt 0 ]; then
  peer16=$(best16 throughput)
  if [ -z "$peer16" ]; then
    # Without section b (or if the peers failed there), measure them at c=16 now.
    for p in "${peer_list[@]}"; do
      run openloop-base "$p" http-json encoder 0 --mode closed --concurrency 16 --duration "$(secs 4)" --warmup "$(secs 0.5)"
    done
    peer16=$(best16 openloop-base)
  fi
  if [ -z "$peer16" ] || [ "$(awk -v r="$peer16" 'BEGIN{print (r > 0)}')" != 1 ]; then
    note "open loop skipped: no throughput measured for the peer at c=16 on encoder"
  else
    d=$(secs 5); w=$(secs 0.5)
    for pct in 50 90; do
      rate=$(awk -v r="$peer16" -v p="$pct" 'BEGIN{printf "%.1f", r*p/100}')
      for s in "mlosd http-binary" "mlosd http-json" "${peer_list[@]/%/ http-json}"; do
        set -- $s
        LABEL="openloop/$1/$2/encoder/$pct" run openloop "$1" "$2" encoder 0 --mode open \
          --rate "$rate" --concurrency 64 --duration "$d" --warmup "$w"
      done
    done
  fi
fi

# --- e. perf_analyzer against mlosd (peers part) ------------------------------------------------
pa_version=""
if want perf; then
  if "$root/bench/peers/setup.sh" perf-analyzer; then
    pa_version="$("$pa_bin" --version 2>&1 | head -1), PyPI perf-analyzer $(sed -n "s/^perf-analyzer==//p" "$root/bench/peers/requirements-perf-analyzer.txt")"
    pin_servers "$all_cpus"
    for m in ${MLOS_BENCH_PERF_MODELS:-encoder mlp}; do
      for c in 1 4 16 64; do
        for v in "http none" "http system" "grpc none" "grpc system"; do
          set -- $v
          perf_run "$m" "$1" "$2" "$c" "$(secs 4)"
        done
      done
    done
  else
    note "perf_analyzer skipped: bench/peers/setup.sh perf-analyzer failed"
  fi
fi

# --- results -----------------------------------------------------------------------------------
t_end=$(date +%s)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
$py - "$work" "$scale" "$batching" "$mlosd_ort" "$peer_ort" "$(node --version 2>/dev/null || true)" "$ncpu" "$cpu" \
  "$(uname -r)" "$((t_end - t_start))" "$peer16" "$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || true)" \
  "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)" "$sections" "$busy_start" "$part" \
  "$([ "$part" = peers ] && peers_versions)" "$pa_version" <<'PY'
import datetime, json, os, sys
(work, scale, batching, mlosd_ort, peer_ort, node, ncpu, cpu, kernel, wall, peer16, commit,
 load_start, load, sections, busy_start, part, py_peers, pa_version) = sys.argv[1:]
results = [json.loads(l) for l in open(work + "/results.jsonl") if l.strip()]
meta = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "nproc": int(ncpu), "cpu": cpu, "kernel": kernel, "commit": commit,
    "scale": float(scale), "sections": sections.split(), "wall_s": int(wall),
    "loadavg_start": load_start, "loadavg_end": load, "cpu_busy_pct_start": int(busy_start),
    "mlosd_onnxruntime": mlosd_ort, "peer_onnxruntime": peer_ort, "node": node,
    "mlosd_config": open(work + "/mlosd-config.yaml").read(),
    "mlosd_batching_config": open(work + "/mlosd-batching.yaml").read() if os.path.exists(work + "/mlosd-batching.yaml") else None,
    "batching": batching,
    "peer_c16_encoder_rps": float(peer16) if peer16 else None,
    "notes": [l.rstrip("\n") for l in open(work + "/notes.txt") if l.strip()],
    "part": part,
}
if part == "peers":
    meta["peers"] = {p.split()[0]: " ".join(p.split()[1:]) for p in py_peers.split(";") if p.strip()}
    meta["perf_analyzer"] = pa_version
    meta.pop("peer_c16_encoder_rps")
    meta["best_peer_c16_encoder_rps"] = float(peer16) if peer16 else None
json.dump({"meta": meta, "results": results}, open(work + "/results.json", "w"), indent=1)
PY
log "done in $((t_end - t_start)) s; $(wc -l <"$work/results.jsonl") measurements in $work/results.jsonl"
if [ "${MLOS_BENCH_NO_REPORT:-0}" != 1 ]; then
  mkdir -p "$root/docs/bench"
  cp "$work/results.json" "$root/docs/bench/$([ "$part" = peers ] && echo results-peers.json || echo results.json)"
  $py "$root/bench/report.py" "$root/docs/bench/results.json" "$root/docs/benchmarks.md" "$root/docs/bench"
fi
