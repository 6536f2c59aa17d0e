#!/usr/bin/env bash
# expect_error.sh REGEX COMMAND [ARGS...]: passes when COMMAND exits with status 2, prints
# nothing on stdout and exactly one line on stderr, and that line matches the extended REGEX.
# (ctest's PASS_REGULAR_EXPRESSION alone ignores the exit status.)
set -uo pipefail
regex="$1"
shift
out="$(mktemp)" err="$(mktemp)"
trap 'rm -f "$out" "$err"' EXIT
"$@" >"$out" 2>"$err"
rc=$?
lines="$(wc -l <"$err")"
fail=""
[ "$rc" -eq 2 ] || fail="exit status $rc, want 2"
[ -s "$out" ] && fail="${fail:+$fail; }stdout is not empty"
[ "$lines" -eq 1 ] || fail="${fail:+$fail; }$lines lines on stderr, want 1"
grep -Eq -- "$regex" "$err" || fail="${fail:+$fail; }stderr does not match /$regex/"
if [ -n "$fail" ]; then
  echo "FAIL: $fail"
  echo "--- command: $*"
  echo "--- stdout:"; cat "$out"
  echo "--- stderr:"; cat "$err"
  exit 1
fi
echo "ok: $(cat "$err")"
