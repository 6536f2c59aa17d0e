#!/usr/bin/env bash
# Installs the pinned validators (package-lock.json: kubernetes-models, ajv, yaml,
# dockerfile-utils) into tests/deploy/node_modules (scripts/npm_ci.sh: a no-op when they are
# there). Called by scripts/setup.sh and again by the tests.
exec "$(dirname "${BASH_SOURCE[0]}")/../../scripts/npm_ci.sh" "$(dirname "${BASH_SOURCE[0]}")" kubernetes-models ajv
