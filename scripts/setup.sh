#!/usr/bin/env bash
# Installs everything MLOS needs on Debian 12; idempotent, fast when all is present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

PKGS=(build-essential cmake ninja-build pkg-config ccache curl zstd
  libyaml-cpp-dev nlohmann-json3-dev libarchive-dev libzstd-dev libcurl4-openssl-dev libssl-dev
  libsodium-dev libseccomp-dev libcli11-dev libspdlog-dev libfmt-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libonnx-dev libprotobuf-dev
  libboost1.81-dev prometheus-cpp-dev
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler python3-grpcio python3-grpc-tools
  python3 python3-onnx python3-numpy gnuplot-nox
  libtorch-dev python3-torch
  systemd dpkg-dev python3-seccomp
  chromium)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm ships with the machine's Node.js; only Debian's own if there is none.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime 1.29.0 (not in Debian 12): from the npm package that ships the official build.
ort="$root/third_party/onnxruntime"
if [ ! -f "$ort/.complete" ]; then
  echo "setup: fetching ONNX Runtime (npm com.github.asus4.onnxruntime@0.4.9)"
  dl="$root/third_party/downloads"
  mkdir -p "$dl"
  tgz="$dl/com.github.asus4.onnxruntime-0.4.9.tgz"
  if [ ! -f "$tgz" ]; then
    (cd "$dl" && npm pack --silent com.github.asus4.onnxruntime@0.4.9 >/dev/null)
  fi
  rm -rf "$ort.tmp" && mkdir -p "$ort.tmp/lib" "$ort.tmp/include"
  hdr="package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64_x86_64-simulator/onnxruntime.framework/Headers"
  tar -xzf "$tgz" -C "$ort.tmp" package/Plugins/Linux/x64 "$hdr"
  mv "$ort.tmp"/package/Plugins/Linux/x64/*.so "$ort.tmp/lib/"
  mv "$ort.tmp/$hdr"/* "$ort.tmp/include/"
  rm -rf "$ort.tmp/package"
  ln -sf libonnxruntime.so "$ort.tmp/lib/libonnxruntime.so.1"
  touch "$ort.tmp/.complete"
  rm -rf "$ort" && mv "$ort.tmp" "$ort"
  rm -f "$tgz"
fi
# llama.cpp release v0.4.0 (not in Debian 12), from npm, pinned: node-llama-cpp@3.21.1 carries the
# source as a git bundle (headers, gguf-py, vocabularies, llama-server), and
# @node-llama-cpp/linux-x64@3.21.1 the CPU libraries built from it (ggml-cpu variants are picked
# at run time). third_party/llama/{lib,include,src}.
llama="$root/third_party/llama"
LLAMA_NPM=3.21.1
if [ ! -f "$llama/.complete-$LLAMA_NPM" ]; then
  echo "setup: fetching llama.cpp (npm node-llama-cpp@$LLAMA_NPM, @node-llama-cpp/linux-x64@$LLAMA_NPM)"
  dl="$root/third_party/downloads"
  mkdir -p "$dl"
  for pkg in "node-llama-cpp@$LLAMA_NPM" "@node-llama-cpp/linux-x64@$LLAMA_NPM"; do
    tgz="$dl/$(echo "${pkg%@*}" | sed 's|^@||; s|/|-|')-$LLAMA_NPM.tgz"
    [ -f "$tgz" ] || (cd "$dl" && npm pack --silent "$pkg" >/dev/null)
  done
  rm -rf "$llama.tmp" && mkdir -p "$llama.tmp/lib" "$llama.tmp/include" "$llama.tmp/pkg"
  tar -xzf "$dl/node-llama-cpp-$LLAMA_NPM.tgz" -C "$llama.tmp/pkg" package/llama/gitRelease.bundle
  tar -xzf "$dl/node-llama-cpp-linux-x64-$LLAMA_NPM.tgz" -C "$llama.tmp/pkg" package/bins/linux-x64
  git clone -q "$llama.tmp/pkg/package/llama/gitRelease.bundle" "$llama.tmp/src" 2>/dev/null
  cp "$llama.tmp"/pkg/package/bins/linux-x64/lib*.so "$llama.tmp/lib/"
  cp "$llama.tmp"/src/include/*.h "$llama.tmp"/src/ggml/include/*.h "$llama.tmp/include/"
  rm -rf "$llama.tmp/pkg"
  touch "$llama.tmp/.complete-$LLAMA_NPM"
  rm -rf "$llama" && mv "$llama.tmp" "$llama"
fi
# TensorFlow Lite 2.9.0 (not in Debian 12): the C library and its C headers from the npm package
# tfjs-tflite-node@0.0.2, and MediaPipe's hand landmark models (@mediapipe/hands, pinned) as test
# models. third_party/tflite/{lib,include,models}.
tflite="$root/third_party/tflite"
TFLITE_NPM=0.0.2
HANDS_NPM=0.4.1675469240
if [ ! -f "$tflite/.complete-$TFLITE_NPM-$HANDS_NPM" ]; then
  echo "setup: fetching TensorFlow Lite (npm tfjs-tflite-node@$TFLITE_NPM, @mediapipe/hands@$HANDS_NPM)"
  dl="$root/third_party/downloads"
  mkdir -p "$dl"
  [ -f "$dl/tfjs-tflite-node-$TFLITE_NPM.tgz" ] ||
    (cd "$dl" && npm pack --silent "tfjs-tflite-node@$TFLITE_NPM" >/dev/null)
  [ -f "$dl/mediapipe-hands-$HANDS_NPM.tgz" ] ||
    (cd "$dl" && npm pack --silent "@mediapipe/hands@$HANDS_NPM" >/dev/null)
  rm -rf "$tflite.tmp" && mkdir -p "$tflite.tmp/lib" "$tflite.tmp/include" "$tflite.tmp/models" \
    "$tflite.tmp/pkg"
  tar -xzf "$dl/tfjs-tflite-node-$TFLITE_NPM.tgz" -C "$tflite.tmp/pkg" \
    package/cc_deps/linux_amd64/libtensorflowlite_c.so package/cc_deps/include
  tar -xzf "$dl/mediapipe-hands-$HANDS_NPM.tgz" -C "$tflite.tmp/pkg" \
    package/hand_landmark_lite.tflite package/hand_landmark_full.tflite
  mv "$tflite.tmp/pkg/package/cc_deps/linux_amd64/libtensorflowlite_c.so" "$tflite.tmp/lib/"
  mv "$tflite.tmp/pkg/package/cc_deps/include/tensorflow" "$tflite.tmp/include/"
  mv "$tflite.tmp"/pkg/package/*.tflite "$tflite.tmp/models/"
  chmod 0644 "$tflite.tmp"/models/*.tflite
  rm -rf "$tflite.tmp/pkg"
  touch "$tflite.tmp/.complete-$TFLITE_NPM-$HANDS_NPM"
  rm -rf "$tflite" && mv "$tflite.tmp" "$tflite"
fi
# The Python SDK's virtual environment (.venv, ignored): the `python3` first on PATH (3.11 or
# later), the exact versions of python/requirements-dev.txt from PyPI, then the mlos package
# from ./python (built with those pinned tools, no build isolation), reinstalled whenever its
# sources change (python/source_stamp.sh). The ctest `python_sdk` runs its tests with it.
venv="$root/.venv"
py="$(command -v python3 || true)"
if [ -z "$py" ] || ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: the Python SDK needs python3 >= 3.11 first on PATH (found: ${py:-none})" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$root/python/requirements-dev.txt" "$venv/.requirements"; then
  echo "setup: creating $venv from python/requirements-dev.txt (PyPI, pinned)"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    -r "$root/python/requirements-dev.txt"
  cp "$root/python/requirements-dev.txt" "$venv/.requirements"
fi
stamp="$("$root/python/source_stamp.sh")"
if [ "$(cat "$venv/.mlos-installed" 2>/dev/null)" != "$stamp" ]; then
  echo "setup: installing the mlos Python package into $venv"
  rm -rf "$root/python/build"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation \
    --no-deps --force-reinstall "$root/python"
  rm -rf "$root/python/build" "$root"/python/src/*.egg-info
  echo "$stamp" > "$venv/.mlos-installed"
fi
# Triton's official client for the tritonclient conformance run (ctest `tritonclient_conformance`,
# docs/tritonclient.md): its own ignored venv, .venv-tritonclient, from the exact versions of
# tests/tritonclient/requirements.txt (tritonclient[grpc] needs protobuf < 7, the SDK's >= 7).
tcvenv="$root/.venv-tritonclient"
tcreq="$root/tests/tritonclient/requirements.txt"
if [ ! -x "$tcvenv/bin/python" ] || ! cmp -s "$tcreq" "$tcvenv/.requirements"; then
  echo "setup: creating $tcvenv from tests/tritonclient/requirements.txt (PyPI, pinned)"
  rm -rf "$tcvenv"
  "$py" -m venv "$tcvenv"
  "$tcvenv/bin/python" -m pip install -q --disable-pip-version-check -r "$tcreq"
  cp "$tcreq" "$tcvenv/.requirements"
fi
# The deploy checks' validators (tests/deploy/package-lock.json: kubernetes-models, ajv, yaml,
# dockerfile-utils) into tests/deploy/node_modules (ignored); a no-op when they are there.
"$root/tests/deploy/install.sh"
echo "setup: ok"
