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
  python3 python3-onnx python3-numpy gnuplot-nox)

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
echo "setup: ok"
