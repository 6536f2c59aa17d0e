# Sourced by bench/suite.sh for its peers part (MLOS_BENCH_PART=peers): the Python peer servers
# from PyPI (kserve_server.py, mlserver_server.py, litserve_server.py, each in its own
# .venv-peers-<name>/ from bench/peers/setup.sh) and Triton's perf_analyzer against mlosd.
# Uses the suite's $root, $work, $py, free_port, log, note and measure's results.jsonl.

declare -A pypeer_pid=() pypeer_port=() pypeer_grpc=()
py_peers=()

# peers_start NAME... : starts each peer in a session of its own (its worker processes with it) on
# the models tiny, mlp and encoder, and waits until it answers; a peer that fails is left out with
# a note (and its log kept in $work).
peers_start() {
  local n m args port gport mport ready i
  for n in "$@"; do
    "$root/bench/peers/setup.sh" "$n" || { note "peer $n: setup failed (bench/peers/setup.sh $n)"; continue; }
    args=()
    for m in tiny mlp encoder; do args+=(--model "$m=$work/models/$m/model.onnx"); done
    port=$(free_port); gport=$(free_port); mport=$(free_port)
    local venv="$root/.venv-peers-$n" cpus; cpus=$(nproc)
    local cmd=("$venv/bin/python" "$root/bench/peers/${n}_server.py" "${args[@]}")
    case "$n" in
      kserve) cmd+=(--http_port "$port" --grpc_port "$gport" --workers "$cpus") ;;
      mlserver) cmd+=(--dir "$work/mlserver" --http-port "$port" --grpc-port "$gport"
                      --metrics-port "$mport" --workers "$cpus") ;;
      litserve) gport="" cmd+=(--port "$port" --workers "$cpus") ;;
    esac
    # setsid: the peer leads a session (and process group) of its own, so that its worker
    # processes can be pinned and stopped with it; $! is that leader.
    setsid "${cmd[@]}" >"$work/peer-$n.log" 2>&1 &
    pypeer_pid[$n]=$! pypeer_port[$n]=$port pypeer_grpc[$n]=$gport
    ready=0
    for i in $(seq 1200); do  # up to 120 s: the Python servers import a lot on a busy machine
      kill -0 "${pypeer_pid[$n]}" 2>/dev/null || break
      if [ "$n" = litserve ]; then
        curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && ready=1
      else
        curl -sf "http://127.0.0.1:$port/v2/models/encoder/ready" >/dev/null 2>&1 &&
          curl -sf "http://127.0.0.1:$port/v2/models/tiny/ready" >/dev/null 2>&1 &&
          curl -sf "http://127.0.0.1:$port/v2/models/mlp/ready" >/dev/null 2>&1 && ready=1
      fi
      [ $ready = 1 ] && break
      sleep 0.1
    done
    if [ $ready != 1 ]; then
      note "peer $n did not start (its log: $(tail -3 "$work/peer-$n.log" | tr '\n' ' ' | cut -c1-300))"
      peer_stop "$n"
      continue
    fi
    py_peers+=("$n")
    log "peer $n up (http $port${gport:+, grpc $gport}; $(head -1 "$work/peer-$n.log" | cut -c1-120)); $(pgrep -g "${pypeer_pid[$n]}" | wc -l) processes"
  done
}

peer_stop() {  # name: the peer's whole session (process group), TERM then KILL
  local pid=${pypeer_pid[$1]:-}
  [ -n "$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 50); do pgrep -g "$pid" >/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  unset "pypeer_pid[$1]"
}
peers_stop() { local n; for n in "${!pypeer_pid[@]}"; do peer_stop "$n"; done; }

peers_pin() {  # cpu list: every thread of every process of every peer
  local n p
  for n in "${py_peers[@]}"; do
    for p in $(pgrep -g "${pypeer_pid[$n]}"); do taskset -a -p -c "$1" "$p" >/dev/null 2>&1 || true; done
  done
}

peers_versions() {  # "name version, ..." from each venv
  local n out=()
  for n in "${py_peers[@]}"; do
    out+=("$n $("$root/.venv-peers-$n/bin/python" -c "import importlib.metadata as m; print(m.version('$n'), 'onnxruntime', m.version('onnxruntime'))")")
  done
  (IFS=';'; echo "${out[*]}")
}

# --- perf_analyzer ---------------------------------------------------------------------------
pa_bin="$root/.venv-peers-perf-analyzer/bin/perf_analyzer"

pa_input() {  # model -> $work/pa-<model>.json: one request's inputs in perf_analyzer's format
  $py - "$work/models/$1/model.onnx" "$work/pa-$1.json" <<'PY'
import json, random, sys
import onnx
m = onnx.load(sys.argv[1])
random.seed(1)
data = {}
init = {i.name for i in m.graph.initializer}
for i in m.graph.input:
    if i.name in init:
        continue
    t = i.type.tensor_type
    shape = [d.dim_value if d.dim_value > 0 else 1 for d in t.shape.dim]
    n = 1
    for d in shape:
        n *= d
    if t.elem_type == onnx.TensorProto.INT64:
        content = [random.randrange(1000) for _ in range(n)]  # as mlos-bench --int-max 1000
    else:
        content = [round(random.uniform(-1, 1), 6) for _ in range(n)]
    data[i.name] = {"content": content, "shape": shape}
json.dump({"data": [data]}, open(sys.argv[2], "w"))
PY
}

# perf_run MODEL PROTO(http|grpc) SHM(none|system) CONCURRENCY SECONDS: one perf_analyzer
# measurement of mlosd; its CSV row goes to results.jsonl as a mlos-bench-like line.
perf_run() {
  local model=$1 proto=$2 shm=$3 c=$4 secs=$5 url target
  [ "$proto" = http ] && url="127.0.0.1:$hport" || url="127.0.0.1:$gport"
  target=$proto; [ "$shm" = system ] && target="$proto-shm"
  [ -f "$work/pa-$model.json" ] || pa_input "$model"
  # Windows of SECONDS/3; perf_analyzer reports the mean of the last three that agree within -s %:
  # 100 takes the first three in practice (its default, 10, retries for long on a busy machine).
  local win; win=$(awk -v s="$secs" 'BEGIN{printf "%d", s*1000/3}')
  local cmd=("$pa_bin" -m "local/$model@1.0.0" -u "$url" -i "$proto" --concurrency-range "$c:$c"
    --shared-memory "$shm" --input-data "$work/pa-$model.json" -p "$win" -s 100 -r 10
    --max-threads "$c" -f "$work/pa.csv")
  local rc=0 limit; limit=$(awk -v s="$secs" 'BEGIN{printf "%d", 60 + 10*s}')
  rm -f "$work/pa.csv"
  timeout "$limit" "${cmd[@]}" >"$work/pa.out" 2>&1 || rc=$?
  $py - "$work" "$rc" "$model" "$target" "$c" "$build" "$root" "${cmd[@]}" <<'PY' >>"$work/results.jsonl"
import csv, json, os, re, shlex, sys
work, rc, model, target, c, build, root = sys.argv[1:8]
cmd = " ".join(shlex.quote(a) for a in sys.argv[8:])
for k, v in [(work, "$WORK"), (build, "$BUILD"), (root, "$ROOT")] + \
        [(p.split("=", 1)[1], "$" + p.split("=", 1)[0]) for p in os.environ.get("SUITE_SUBST", "").split() if "=" in p]:
    cmd = cmd.replace(k, v)
out = open(work + "/pa.out", errors="replace").read()
r = {"label": f"perf/perf_analyzer/{target}/{model}", "section": "perf", "server": "perf_analyzer",
     "target": target, "model": model, "mode": "closed", "concurrency": int(c), "command": cmd,
     "pinned": False, "errors": 0}
try:
    row = next(csv.DictReader(open(work + "/pa.csv")))
    r["throughput_rps"] = float(row["Inferences/Second"])
    r["latency_us"] = {q: float(row[f"{q} latency"]) for q in ("p50", "p90", "p95", "p99")}
    m = re.findall(r"Avg latency: (\d+) usec", out)
    if m:
        r["latency_us"]["mean"] = float(m[-1])
    counts = re.findall(r"Request count: (\d+)", out)
    r["requests"] = int(counts[0]) if counts else 1
except (OSError, StopIteration, KeyError, ValueError):
    lines = [l for l in out.splitlines() if l.strip()]
    err = next((l for l in reversed(lines) if "rror" in l or "what()" in l or "Failed" in l), lines[-1] if lines else "no output")
    r["errors"] = -1
    r["suite_error"] = f"exit {rc}: {err.strip()[:300]}"
print(json.dumps(r))
PY
  log "perf $model $target c=$c: $(tail -1 "$work/results.jsonl" | $py -c '
import json,sys; r=json.load(sys.stdin); l=r.get("latency_us") or {}
print("%s rps, p50 %s us, p99 %s us%s" % (r.get("throughput_rps"), l.get("p50"), l.get("p99"),
      (" (" + r["suite_error"] + ")") if "suite_error" in r else ""))')"
}
