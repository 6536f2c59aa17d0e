#!/usr/bin/env bash
# The tritonclient conformance run (the ctest `tritonclient_conformance`, docs/tritonclient.md):
# Triton's official Python client, tritonclient[http,grpc] from PyPI, against the real mlosd of
# this build. Runs in .venv-tritonclient (made by `make setup` from
# tests/tritonclient/requirements.txt) and fails, never skips, when that environment is missing
# or was made from other pins. MLOS_BUILD_DIR: the build directory (default <repo>/build).
# Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-tritonclient"
if [ ! -x "$venv/bin/python" ]; then
  echo "tritonclient_conformance: $venv is missing: run 'make setup' (scripts/setup.sh) first" >&2
  exit 1
fi
if ! cmp -s "$root/tests/tritonclient/requirements.txt" "$venv/.requirements"; then
  echo "tritonclient_conformance: $venv was made from other pins than" \
    "tests/tritonclient/requirements.txt: run 'make setup'" >&2
  exit 1
fi
"$venv/bin/python" -c 'import tritonclient.http, tritonclient.grpc, tritonclient.utils.shared_memory' || {
  echo "tritonclient_conformance: tritonclient[http,grpc] does not import in $venv: run 'make setup'" >&2
  exit 1
}
export MLOS_BUILD_DIR="${MLOS_BUILD_DIR:-$root/build}"
cd "$root/tests/tritonclient"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider -rA "$@"
