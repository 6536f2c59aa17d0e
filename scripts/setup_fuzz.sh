#!/usr/bin/env bash
# What `make fuzz` needs: the Debian packages CMake's configure step needs (the PKGS list of
# scripts/setup.sh, read from there so that there is one list; none of its downloads, which only
# the plugins and tests use) and Debian's clang with its libFuzzer and sanitizer runtimes and
# llvm-symbolizer (clang-16, else clang-14). Idempotent; prints the clang++ to use.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

eval "$(sed -n '/^PKGS=(/,/)$/p' "$root/scripts/setup.sh")"
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
clang=""
for v in 16 14; do
  if command -v "clang++-$v" >/dev/null 2>&1 &&
     ls "/usr/lib/llvm-$v/lib/clang/"*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    clang="clang++-$v"
    break
  fi
done
if [ ${#missing[@]} -eq 0 ] && [ -n "$clang" ]; then
  echo "$clang"
  exit 0
fi

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq >&2
if [ -z "$clang" ]; then
  for v in 16 14; do
    if apt-cache show "clang-$v" "libclang-rt-$v-dev" >/dev/null 2>&1; then
      missing+=("clang-$v" "libclang-rt-$v-dev" "llvm-$v")
      clang="clang++-$v"
      break
    fi
  done
fi
if [ -z "$clang" ]; then
  echo "setup_fuzz: neither clang-16 nor clang-14 (with libclang-rt-*-dev) can be installed" >&2
  exit 1
fi
echo "setup_fuzz: installing ${missing[*]}" >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >&2
echo "$clang"
