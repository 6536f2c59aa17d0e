#!/usr/bin/env bash
# The test launcher of sanitizer builds (CMAKE_CROSSCOMPILING_EMULATOR when MLOS_SANITIZE is set;
# docs/reliability.md, "Sanitizers"): runs one test with a report folder of its own, so that a
# report from any process the test starts (mlosd, axon, mlos, mlos-worker, the test itself) fails
# that test, printed below its output. Outside run.sh (gtest discovery at build time) it only runs
# the command.
if [ -z "${MLOS_SANITIZER_LOG_DIR:-}" ]; then exec "$@"; fi
dir="$(mktemp -d "$MLOS_SANITIZER_LOG_DIR/test.XXXXXX")"
log="log_path=$dir/report"
for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS; do
  export "$v=${!v:-}:$log"
done
"$@"
rc=$?
if ! "$(dirname "$0")/reports.sh" "$dir"; then
  [ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
