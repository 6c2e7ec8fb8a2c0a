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

step "collection build and install"
rm -rf "$PJ_CACHE/dist"
ansible-galaxy collection build --force --output-path "$PJ_CACHE/dist" .
# Installable: the tarball installs (dependencies come with the pinned
# ansible package) and its modules' documentation renders from there.
ANSIBLE_COLLECTIONS_PATH="$PJ_CACHE/dist/installed" ansible-galaxy collection install --no-deps --force \
  -p "$PJ_CACHE/dist/installed" "$PJ_CACHE"/dist/packetjungle-datapath-*.tar.gz
ANSIBLE_COLLECTIONS_PATH="$PJ_CACHE/dist/installed" ansible-doc packetjungle.datapath.nic_settings >/dev/null
echo "installed and documented from the tarball"

step "lab engine and host packages"
scripts/ensure-docker.sh
scripts/ensure-host-packages.sh

step "The lab's mirror: Kubernetes, Cilium and their images, built with Go and debootstrap (cached after the first run)"
time scripts/lab-mirror.sh
time scripts/helm-binary.sh

step "unit and integration tests"
python -m pytest tests/unit tests/integration -v -p no:cacheprovider
