#!/usr/bin/env bash
# `make fuzz FUZZ_SECONDS=N [FUZZ_RUNS=M] [FUZZ_TARGETS="router query ..."]`: builds the
# libFuzzer targets of fuzz/ with clang, ASan and UBSan in build-fuzz/, runs each for N seconds
# (or M executions, whichever comes first), one at a time, in the order given, and prints
# target / execs / exec/s / seconds / coverage / corpus / crashes. Fails when a target crashed (or
# leaked, hit UB, timed out, ran out of memory), naming the input that did it.
#
# Each target fuzzes a working corpus under build-fuzz/fuzz-work/<name>/corpus, seeded from
# fuzz/corpus/<name> (the committed seeds stay small; what a run finds is kept there for the
# next run), with fuzz/dict/<name>.dict when there is one. Logs and crashing inputs are in
# build-fuzz/fuzz-work/<name>/. A crash becomes a fix plus its input in
# fuzz/regressions/<name>/ (replayed by the ctest fuzz_<name> in the normal build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${FUZZ_SECONDS:-60}"
build="${FUZZ_BUILD:-build-fuzz}"
jobs="${JOBS:-2}"

cxx="$(scripts/setup_fuzz.sh)"
cc="${cxx/clang++/clang}"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DMLOS_FUZZ=ON -DBUILD_TESTING=OFF \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" >/dev/null
fi
cmake --build "$build" -j "$jobs" --target mlos_fuzzers

targets="${FUZZ_TARGETS:-$(ls fuzz/*_fuzz.cc | sed 's|fuzz/||; s|_fuzz\.cc||')}"
work="$build/fuzz-work"
# intercept_tls_get_addr=0 as in tests/sanitizers/env.sh: clang 16's runtime has the same guess of
# dynamic TLS bounds that can crash the leak check (tests/sanitizers/dynamic_tls/check.cc).
export ASAN_OPTIONS="${ASAN_OPTIONS:-intercept_tls_get_addr=0:abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
# Symbolized stacks in the logs (llvm-symbolizer comes with Debian's llvm-<version> package).
symbolizer="/usr/lib/llvm-${cxx##*-}/bin/llvm-symbolizer"
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"
# Scratch files of the targets that read a path (archive, onnx, gguf, torchscript, shm_region):
# on tmpfs they cost microseconds, on a disk milliseconds (30x fewer executions).
scratch_root="${FUZZ_TMPDIR:-/dev/shm}"
[ -d "$scratch_root" ] && [ -w "$scratch_root" ] || scratch_root="$work"
failed=()
rows=()
for t in $targets; do
  dir="$work/$t"
  scratch="$scratch_root/mlos-fuzz-$$-$t"  # $$: two runs at once (two clones) stay apart
  mkdir -p "$dir/corpus" "$dir/artifacts" "$scratch"
  rm -f "$dir/artifacts/"*
  [ -d "fuzz/corpus/$t" ] && cp -n "fuzz/corpus/$t/"* "$dir/corpus/" 2>/dev/null || true
  args=(-max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=30
        -artifact_prefix="$dir/artifacts/")
  [ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
  [ -f "fuzz/dict/$t.dict" ] && args+=(-dict="fuzz/dict/$t.dict")
  echo "fuzz: $t for ${seconds}s"
  rc=0
  start=$(date +%s)
  TMPDIR="$scratch" nice -n 10 "$build/bin/${t}_fuzz" "${args[@]}" "$dir/corpus" \
    >"$dir/log" 2>&1 || rc=$?
  elapsed=$(( $(date +%s) - start ))
  rm -rf "$scratch"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)"
  cov="$( (grep -o 'cov: [0-9]*' "$dir/log" || true) | tail -1 | cut -d' ' -f2)"
  corp="$( (grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$dir/log" || true) | tail -1 | cut -d' ' -f2)"
  crash="$(ls "$dir/artifacts/" | head -1)"
  status=0
  if [ "$rc" -ne 0 ] || [ -n "$crash" ]; then
    status=1
    failed+=("$t: ${crash:+$dir/artifacts/$crash }(exit $rc; log $dir/log)")
  fi
  rows+=("$(printf '%-16s %12s %9s %7s %7s %12s %8s' "$t" "${execs:-?}" "${rate:-?}" \
    "$elapsed" "${cov:-?}" "${corp:-?}" "$status")")
done

printf '\n%-16s %12s %9s %7s %7s %12s %8s\n' target execs exec/s seconds cov corpus crashes
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "fuzz: FAILED"
  printf '  %s\n' "${failed[@]}"
  echo "Reproduce: $build/bin/<target>_fuzz <input>; fix the parser, then commit the input to"
  echo "fuzz/regressions/<target>/ (the ctest fuzz_<target> replays it)."
  exit 1
fi
echo "fuzz: no crashes (${seconds}s per target)"
