#!/usr/bin/env bash
# `make test-asan` and `make test-tsan` (docs/reliability.md, "Sanitizers"): configures the
# project with MLOS_SANITIZE in its own build folder, builds it and runs ctest there with the
# runtime options and suppressions of this folder.
#   asan: ASan + UBSan (+ LSan), build-asan/, the whole suite
#   asan-ci: the same build, the subset `make test` runs (labels tsan, asan_ci and fuzz;
#            tests/CMakeLists.txt: MLOS_TSAN_TESTS, MLOS_ASAN_CI_TESTS)
#   tsan: TSan, build-tsan/, the tests labelled "tsan" (tests/CMakeLists.txt: MLOS_TSAN_TESTS)
# Every process a test starts (mlosd, axon, mlos, mlos-worker) is instrumented too; its reports go
# to a folder of the test's own (launcher.sh) and any report fails that test.
set -euo pipefail
kind=${1:?usage: run.sh asan|asan-ci|tsan [ctest args...]}
shift
root="$(cd "$(dirname "$0")/../.." && pwd)"
san="$root/tests/sanitizers"
jobs=${JOBS:-$(nproc)}
case "$kind" in
  asan) build=${BUILD_ASAN:-$root/build-asan}; sanitize="address,undefined"; target=all
        ctest_args=() ;;
  asan-ci) build=${BUILD_ASAN:-$root/build-asan}; sanitize="address,undefined"
        target=mlos_asan_ci_tests; ctest_args=(-L '^(tsan|asan_ci|fuzz)$') ;;
  tsan) build=${BUILD_TSAN:-$root/build-tsan}; sanitize="thread"; target=mlos_tsan_tests
        ctest_args=(-L '^tsan$') ;;
  *) echo "run.sh: asan, asan-ci or tsan, not '$kind'" >&2; exit 2 ;;
esac

# A lean build: -O1 keeps the instrumented code fast enough, -g1 keeps line tables for the
# reports but not the full debug info (the test binaries are ~150 MB each with -g).
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DMLOS_SANITIZE="$sanitize"
fi
start=$(date +%s)
cmake --build "$build" -j "$jobs" --target "$target"
echo "run.sh: $kind build took $(( $(date +%s) - start )) s"

source "$san/env.sh" "$build"
start=$(date +%s)
rc=0
(cd "$build" && ctest --output-on-failure -j "$jobs" \
  "${ctest_args[@]}" "$@") || rc=$?
echo "run.sh: $kind tests took $(( $(date +%s) - start )) s"
# Reports of processes no launcher saw (tests run through bash/python/node, whose mlosd wrote
# into the folder's top level): any fails the run.
if "$san/reports.sh" "$MLOS_SANITIZER_LOG_DIR" -maxdepth 1; then :; else rc=1; fi
exit $rc
