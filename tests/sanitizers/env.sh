# Sourced by run.sh with the build folder: the sanitizer runtime options of `make test-asan` and
# `make test-tsan` (docs/reliability.md, "Sanitizers"). Every report is fatal (halt_on_error; UBSan
# is also built with -fno-sanitize-recover), has a stack trace, and goes to a file under
# $MLOS_SANITIZER_LOG_DIR (launcher.sh gives each test its own folder and fails the test when one
# appears). The suppression files here hold third-party code only, each entry with its reason.
_san_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export MLOS_SANITIZER_LOG_DIR="$1/sanitizer-logs"
rm -rf "$MLOS_SANITIZER_LOG_DIR"
mkdir -p "$MLOS_SANITIZER_LOG_DIR"
_san_log="log_path=$MLOS_SANITIZER_LOG_DIR/report:log_exe_name=1"
# intercept_tls_get_addr=0: GCC 12's runtime guesses the bounds of dynamic TLS blocks it sees
# through __tls_get_addr and gets them wrong for a block at 4096*k + 16, and the leak check at exit
# then crashes ("Tracer caught signal 11"; tests/sanitizers/dynamic_tls/check.cc). Without the
# interception LeakSanitizer keeps those blocks reachable as the dynamic linker's allocations.
export ASAN_OPTIONS="intercept_tls_get_addr=0:halt_on_error=1:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:suppressions=$_san_dir/asan.supp:$_san_log"
export LSAN_OPTIONS="suppressions=$_san_dir/lsan.supp:print_suppressions=0:$_san_log"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$_san_dir/ubsan.supp:$_san_log"
# tsan.supp plus one called_from_lib line per abseil library (see tsan.supp).
_san_tsan_supp="$1/tsan.supp"
{
  cat "$_san_dir/tsan.supp"
  if [ -x "$1/bin/mlosd" ]; then
    ldd "$1/bin/mlosd" | grep -o 'libabsl_[A-Za-z0-9_]*\.so' | sort -u | sed 's/^/called_from_lib:/'
  fi
} > "$_san_tsan_supp"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$_san_tsan_supp:$_san_log"
unset _san_dir _san_log _san_tsan_supp
