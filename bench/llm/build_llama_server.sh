#!/usr/bin/env bash
# Builds llama.cpp's llama-server (the peer of bench/llm/run.sh) from the sources that
# scripts/setup.sh fetched (third_party/llama/src, the same release as the prebuilt libraries
# MLOS links) into an ignored cache dir, reused when the binary is already there.
#
# Fairness: the compute of a CPU LLM is the ggml CPU backend's kernels. MLOS uses the prebuilt
# dynamic backends (third_party/llama/lib/libggml-cpu-<variant>.so, one picked at run time for the
# CPU). llama-server is built with GGML_BACKEND_DL=ON (the same layout: ggml-base + ggml + dynamic
# backends) and GGML_CPU=OFF (no CPU backend is compiled here: the prebuilt variants are the ones
# it loads, as mlosd does), only the llama-server target is built, and then the run directory
# ($cache/run) is assembled so that llama-server loads the SAME prebuilt libraries as mlosd:
# libllama, libggml, libggml-base, libllama-common and the CPU variants, all from
# third_party/llama/lib (the names the built binary asks for are symlinks to the prebuilt files).
# Only the server's own code (tools/server, tools/mtmd) is compiled here. If the prebuilt set
# cannot run it (an ABI mismatch shows at the smoke check), the run directory falls back to the
# libraries built here plus the prebuilt CPU variants, and says so in $cache/run/LIBS.
#
# Usage: build_llama_server.sh [CACHE_DIR]   (default /work/main/build-llama-server)
# Env: JOBS (default 1), NICE (default 19). Prints the path of the runnable llama-server wrapper.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/third_party/llama/src"
prebuilt="$root/third_party/llama/lib"
cache="${1:-$root/build-llama-server}"
jobs="${JOBS:-1}"
nice_lvl="${NICE:-19}"
build="$cache/build"
run="$cache/run"

if [[ ! -d "$src/tools/server" ]]; then
  echo "build_llama_server.sh: $src/tools/server is missing (run scripts/setup.sh)" >&2
  exit 1
fi

if [[ ! -x "$build/bin/llama-server" ]]; then
  mkdir -p "$build"
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  nice -n "$nice_lvl" cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "${launcher[@]}" \
    -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_CPU=OFF -DGGML_NATIVE=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >"$cache/cmake.log" 2>&1 \
    || { tail -30 "$cache/cmake.log" >&2; exit 1; }
  nice -n "$nice_lvl" cmake --build "$build" --target llama-server -j "$jobs" >"$cache/build.log" 2>&1 \
    || { tail -40 "$cache/build.log" >&2; exit 1; }
fi

# The run directory: names the binary needs -> prebuilt files (or the built ones as fallback).
assemble() {  # $1 = prebuilt|built
  rm -rf "$run"; mkdir -p "$run"
  cp "$build/bin/llama-server" "$run/llama-server.bin"
  # Libraries the built binary (and its built libs) need, as named in their DT_NEEDED.
  local needed
  needed=$(for f in "$build"/bin/llama-server "$build"/bin/*.so*; do
             readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done | sort -u)
  for n in $needed; do
    local pre=""
    case "$n" in
      libllama.so*) pre=libllama.v0.4.0.so ;;
      libllama-common.so*) pre=libllama-common.so ;;
      libggml.so*) pre=libggml.v0.4.0.so ;;
      libggml-base.so*) pre=libggml-base.so ;;
    esac
    if [[ "$1" == prebuilt && -n "$pre" ]]; then
      ln -sf "$prebuilt/$pre" "$run/$n"
    elif [[ -e "$build/bin/$n" ]]; then
      cp -L "$build/bin/$n" "$run/$n"
    fi
  done
  # Built libraries that have no prebuilt twin (mtmd, ...) always come from the build.
  for f in "$build"/bin/*.so*; do
    local b; b=$(basename "$f")
    [[ -e "$run/$b" ]] || cp -L "$f" "$run/$b"
  done
  if [[ "$1" == prebuilt ]]; then
    for f in "$prebuilt"/*.so; do ln -sf "$f" "$run/$(basename "$f")"; done
  else
    for f in "$prebuilt"/libggml-cpu-*.so; do ln -sf "$f" "$run/$(basename "$f")"; done
  fi
  cat >"$run/llama-server" <<WRAP
#!/usr/bin/env bash
# llama-server on the libraries in this directory (see LIBS).
dir="\$(cd "\$(dirname "\$0")" && pwd)"
export LD_LIBRARY_PATH="\$dir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "\$dir/llama-server.bin" "\$@"
WRAP
  chmod +x "$run/llama-server"
  echo "$1" >"$run/LIBS"
}

smoke() { "$run/llama-server" --version >"$cache/smoke.log" 2>&1; }

if [[ ! -x "$run/llama-server" ]]; then
  assemble prebuilt
  if ! smoke; then
    echo "build_llama_server.sh: llama-server does not run on the prebuilt libraries ($(tail -1 "$cache/smoke.log")); using the built ones + prebuilt CPU variants" >&2
    assemble built
    smoke || { cat "$cache/smoke.log" >&2; exit 1; }
  fi
fi
echo "$run/llama-server"
