#!/usr/bin/env bash
# Everything CI runs, in order of cost: static checks first, then the tests
# that build the lab and converge real nodes.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$PJ_ROOT"

step() { printf '\n=== %s ===\n' "$*"; }

step "ansible-lint (production profile)"
ansible-lint

step "ansible-test sanity"
scripts/sanity.sh

step "collection build"
ansible-galaxy collection build --force --output-path "$PJ_CACHE/dist" .

step "lab engine and host packages"
scripts/ensure-docker.sh
scripts/ensure-host-packages.sh

step "unit and integration tests"
python -m pytest tests/unit tests/integration -v -p no:cacheprovider
