#!/usr/bin/env bash
# Installs the pinned npm clients (package-lock.json: openai, ollama) into tests/npm/node_modules
# (scripts/npm_ci.sh: a no-op when they are there).
exec "$(dirname "${BASH_SOURCE[0]}")/../../scripts/npm_ci.sh" "$(dirname "${BASH_SOURCE[0]}")" openai ollama
