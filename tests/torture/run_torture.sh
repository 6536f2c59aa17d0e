#!/usr/bin/env bash
# The kill -9 torture (tests/torture/torture.py; docs/reliability.md, "Crash consistency"):
# the ctests torture_selftest and torture_short, and `make torture`. Python's standard library
# only: the project's .venv when `make setup` made it, else python3.
# MLOS_BUILD_DIR: the build directory (default <repo>/build). Arguments go to torture.py.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
py="$root/.venv/bin/python"
[ -x "$py" ] || py="$(command -v python3)"
export MLOS_BUILD_DIR="${MLOS_BUILD_DIR:-$root/build}"
exec "$py" "$root/tests/torture/torture.py" "$@"
