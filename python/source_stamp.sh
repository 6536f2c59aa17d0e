#!/usr/bin/env bash
# Prints a hash of what the installed mlos package is built from (python/ sources and build
# files, proto/*.proto). scripts/setup.sh records it when it installs the package into .venv;
# python/run_tests.sh refuses to test an installation whose stamp differs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
{
  ls python/src/mlos/*.py python/src/mlos/py.typed python/setup.py python/pyproject.toml \
    python/README.md python/requirements-dev.txt proto/*.proto
} | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
