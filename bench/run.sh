#!/usr/bin/env bash
# `make bench`: every benchmark of the project, each writing its docs/benchmarks-*.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-$root/build}"
"$root/bench/axon/run.sh" "$build"
"$root/bench/mlosd/run.sh" "$build"
"$root/bench/mlosd/protocols.sh" "$build"
