#!/usr/bin/env bash
# The Python SDK's pytest suite against the real mlosd of this build (the ctest `python_sdk`;
# docs/python.md). Runs the mlos package installed in the project's .venv by `make setup`,
# and fails (never skips) when that environment is missing or older than python/.
# MLOS_BUILD_DIR: the build directory (default <repo>/build). Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="$root/.venv/bin/python"
if [ ! -x "$py" ]; then
  echo "python_sdk: $root/.venv is missing: run 'make setup' (scripts/setup.sh) first" >&2
  exit 1
fi
if [ "$(cat "$root/.venv/.mlos-installed" 2>/dev/null)" != "$("$root/python/source_stamp.sh")" ]; then
  echo "python_sdk: the mlos package in $root/.venv is older than python/: run 'make setup'" >&2
  exit 1
fi
export MLOS_BUILD_DIR="${MLOS_BUILD_DIR:-$root/build}"
cd "$root/python"
exec "$py" -m pytest tests -q -p no:cacheprovider "$@"
