#!/usr/bin/env bash
# What `make fuzz` needs beyond scripts/setup.sh: Debian's clang with its libFuzzer and
# sanitizer runtimes, and llvm-symbolizer (clang-16, else clang-14). Idempotent; prints the
# clang++ to use.
set -euo pipefail

for v in 16 14; do
  if command -v "clang++-$v" >/dev/null 2>&1 &&
     ls "/usr/lib/llvm-$v/lib/clang/"*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    echo "clang++-$v"
    exit 0
  fi
done

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq >&2
for v in 16 14; do
  if apt-cache show "clang-$v" "libclang-rt-$v-dev" >/dev/null 2>&1; then
    echo "setup_fuzz: installing clang-$v libclang-rt-$v-dev llvm-$v" >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
      "clang-$v" "libclang-rt-$v-dev" "llvm-$v" >&2
    echo "clang++-$v"
    exit 0
  fi
done
echo "setup_fuzz: neither clang-16 nor clang-14 (with libclang-rt-*-dev) can be installed" >&2
exit 1
