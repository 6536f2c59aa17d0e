#!/usr/bin/env bash
# targets_test.sh BIN_DIR MODELS_DIR FIXTURES_DIR TESTDATA_DIR: mlos-bench with --input-data and
# --shape against a real mlosd, over every server target (HTTP JSON, HTTP binary, gRPC, IPC inline,
# IPC shm). Models: stateful.onnx (MODELS_DIR: a dynamic inner dim, a state tensor, a 0-d input)
# and tests/fixtures' dtypes.onnx (FIXTURES_DIR: every datatype, BYTES included). Each run must
# complete its requests without an error.
set -euo pipefail
bin="$1" models="$2" fixtures="$3" data="$4"
tmp="$(mktemp -d)"
mlosd_pid=""
cleanup() {
  if [ -n "$mlosd_pid" ]; then kill -TERM "$mlosd_pid" 2>/dev/null || true; wait "$mlosd_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
export AXON_HOME="$tmp/axon"

for m in "$models/stateful.onnx" "$fixtures/dtypes.onnx"; do
  name="$(basename "$m" .onnx)"
  mkdir -p "$tmp/pkg/$name"
  cp "$m" "$tmp/pkg/$name/model.onnx"
  "$bin/axon" install "$tmp/pkg/$name" --name "bench/$name@1.0.0" >/dev/null
done

grpc_flag=()
"$bin/mlosd" --help 2>&1 | grep -q -- --grpc && grpc_flag=(--grpc 127.0.0.1:0)
"$bin/mlosd" --http 127.0.0.1:0 "${grpc_flag[@]}" --ipc "$tmp/mlosd.sock" \
  --state-dir "$tmp/state" >"$tmp/stdout" 2>"$tmp/log" &
mlosd_pid=$!
for _ in $(seq 600); do
  grep -q "mlosd listening on http://127.0.0.1:" "$tmp/stdout" && break
  kill -0 "$mlosd_pid" 2>/dev/null || { echo "mlosd exited:"; cat "$tmp/log"; exit 1; }
  sleep 0.1
done
http_port="$(sed -n 's|.*mlosd listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/stdout")"
grpc_port="$(sed -n 's|.*mlosd grpc listening on 127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/stdout")"
[ -n "$http_port" ] || { echo "mlosd did not start:"; cat "$tmp/stdout" "$tmp/log"; exit 1; }
export MLOS_CORE_ENDPOINT="http://127.0.0.1:$http_port"
"$bin/axon" register bench/stateful@1.0.0 >/dev/null
"$bin/axon" register bench/dtypes@1.0.0 >/dev/null

failures=0
bench() {  # bench TARGET URL ARGS...: one short closed-loop run that must have no error
  local out
  if ! out="$("$bin/mlos-bench" --target "$1" --url "$2" "${@:3}" --requests 10 --warmup 0 \
      --concurrency 2 --label t 2>&1)" ||
     ! grep -q '"requests":10,"errors":0,"first_error":""' <<<"$out"; then
    echo "FAIL: mlos-bench --target $*"
    echo "$out"
    failures=$((failures + 1))
  else
    echo "ok: $1 ${*:3}"
  fi
}
targets=(http-json http-binary ipc-inline ipc-shm)
[ -n "$grpc_port" ] && targets+=(grpc)
for t in "${targets[@]}"; do
  case "$t" in
    http-*) url="http://127.0.0.1:$http_port" ;;
    grpc) url="grpc://127.0.0.1:$grpc_port" ;;
    ipc-*) url="unix://$tmp/mlosd.sock" ;;
  esac
  bench "$t" "$url" --onnx "$models/stateful.onnx" --model bench/stateful@1.0.0 \
    --input-data "$data/stateful.json"
  bench "$t" "$url" --onnx "$models/stateful.onnx" --model bench/stateful@1.0.0 \
    --input-data "$data/sr_only.json" --shape input=2,32 --shape state=2,2,8
  bench "$t" "$url" --onnx "$models/stateful.onnx" --model bench/stateful@1.0.0 \
    --shape input=3,7 --shape state=2,3,8 --shape sr= --int-max 2
  bench "$t" "$url" --onnx "$fixtures/dtypes.onnx" --model bench/dtypes@1.0.0 \
    --input-data "$data/dtypes.json"
done
[ -n "$grpc_port" ] || echo "note: mlosd has no gRPC front-end in this build; grpc not run"
if [ "$failures" -gt 0 ]; then
  echo "$failures run(s) failed; mlosd log:"
  tail -n 30 "$tmp/log"
  exit 1
fi
