#!/usr/bin/env bash
# reports.sh DIR [find options]: prints every sanitizer report file under DIR (report.<exe>.<pid>;
# a sandboxed worker's is report.mlos-worker.<random>, made empty in advance: empty ones do not
# count) and fails when there is one; removes DIR when it is a per-test folder without one.
dir=$1
shift
mapfile -t files < <(find "$dir" "$@" -type f -name 'report*' -size +0 | sort)
if [ ${#files[@]} -eq 0 ]; then
  case "$dir" in */test.*) rm -rf "$dir" ;; esac
  exit 0
fi
for f in "${files[@]}"; do
  echo "==== sanitizer report: $f" >&2
  cat "$f" >&2
done
exit 1
