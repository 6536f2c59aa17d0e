#!/usr/bin/env bash
# `make demo-llm` (builds mlosd, axon, mlos, the llama plugin and the fixtures first): installs the
# tiny llama fixture (tests/fixtures/make_gguf.py: random weights, so the text is gibberish) with
# axon as a local file, shows the spec.llm section axon wrote, starts mlosd on a free loopback
# port, registers and loads the model, shows one generation over /v1/chat/completions with curl
# and one with `mlos generate`, then stops the daemon.
#
# Environment: BUILD (default build/), MLOS_DEMO_LLM_HTTP (HOST:PORT; default a free port on
# 127.0.0.1), MLOS_DEMO_LLM_MODEL (another .gguf file to serve instead of the fixture).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-$root/build}"
var="$root/var/demo-llm"
model_id="demo/tiny-llama@1.0.0"
model_url="demo%2Ftiny-llama%401.0.0"

say() { printf '\n== %s\n' "$*"; }
die() { echo "demo-llm: $*" >&2; exit 1; }

for bin in axon mlosd mlos; do
  [ -x "$build/bin/$bin" ] || die "$build/bin/$bin is not built (make demo-llm builds it)"
done
[ -f "$build/lib/mlos/plugins/libmlos_llama.so" ] ||
  die "the llama plugin ($build/lib/mlos/plugins/libmlos_llama.so) is not built: run scripts/setup.sh (llama.cpp) and make demo-llm"

if [ -n "${MLOS_DEMO_LLM_HTTP:-}" ]; then
  listen="$MLOS_DEMO_LLM_HTTP"
else
  port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  listen="127.0.0.1:$port"
fi
export AXON_HOME="$var/axon"
export MLOS_CORE_ENDPOINT="http://$listen"
rm -rf "$var/mlosd" "$var/model"  # a fresh daemon registry each run; axon's cache is kept
mkdir -p "$var/model"

# 1. The model: the build's tiny-llama fixture (make_gguf.py), generated here when missing.
model="${MLOS_DEMO_LLM_MODEL:-$build/fixtures/tiny-llama.gguf}"
if [ ! -f "$model" ]; then
  say "generating $model (tests/fixtures/make_gguf.py)"
  /usr/bin/python3 "$root/tests/fixtures/make_gguf.py" --out "$(dirname "$model")" >/dev/null
fi
[ -f "$model" ] || die "no model file $model"

# 2. axon install <file.gguf>: the manifest gets the IO schema and spec.llm from the GGUF metadata.
say "axon install $model --name $model_id"
"$build/bin/axon" install "$model" --name "$model_id"
say "axon info $model_id"
"$build/bin/axon" info "$model_id"
manifest="$AXON_HOME/cache/models/demo/tiny-llama/1.0.0/manifest.yaml"
say "spec.llm in $manifest"
awk '/^  llm:/ {on=1; print; next} on && /^  [^ ]/ {exit} on {print substr($0, 1, 110)}' "$manifest"

# 3. The daemon, with the llama plugin sized for a tiny model.
cat >"$var/mlosd.yaml" <<EOF
plugins:
  llama:
    parallel: 1
    ctx_per_slot: 512
    threads: 2
EOF
say "mlosd --http $listen"
"$build/bin/mlosd" --http "$listen" --state-dir "$var/mlosd" --config "$var/mlosd.yaml" \
  >"$var/mlosd.log" 2>&1 &
mlosd_pid=$!
stop() {
  if kill -0 "$mlosd_pid" 2>/dev/null; then
    kill -TERM "$mlosd_pid" 2>/dev/null || true
    wait "$mlosd_pid" 2>/dev/null || true
  fi
}
trap stop EXIT INT TERM
for _ in $(seq 100); do
  curl -sf "http://$listen/health" >/dev/null 2>&1 && break
  kill -0 "$mlosd_pid" 2>/dev/null || { cat "$var/mlosd.log" >&2; die "mlosd exited"; }
  sleep 0.1
done
curl -sf "http://$listen/health" >/dev/null || die "mlosd does not answer on $listen (log: $var/mlosd.log)"

# 4. Register (axon register, the original Axon flow) and load.
say "axon register $model_id"
"$build/bin/axon" register "$model_id"
curl -sf -X POST "http://$listen/models/$model_url/load" >/dev/null ||
  { tail -20 "$var/mlosd.log" >&2; die "loading $model_id failed"; }

# 5. One chat completion over the OpenAI-compatible route.
body='{"model": "'"$model_id"'", "messages": [{"role": "user", "content": "Hello! Who are you?"}], "max_tokens": 16, "temperature": 0}'
say "POST /v1/chat/completions $body"
curl -sS -X POST "http://$listen/v1/chat/completions" -H 'Content-Type: application/json' -d "$body"
echo

# 6. The same daemon through the mlos CLI (streams the text, token counts on stderr).
say "mlos generate $model_id \"Once upon a time\" -n 16 --temperature 0 --stats"
"$build/bin/mlos" --url "http://$listen" generate "$model_id" "Once upon a time" -n 16 \
  --temperature 0 --stats
echo

say "stopping mlosd (log: $var/mlosd.log)"
stop
trap - EXIT INT TERM
echo "demo-llm: done"
