# shellcheck shell=bash
# Shared paths for the project's scripts. Everything built or downloaded lives
# in the cache directory, outside the repository, so a clean clone stays clean.
PJ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PJ_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/packetjungle-datapath"
PJ_VENV="$PJ_CACHE/venv"
PJ_COLLECTIONS="$PJ_CACHE/collections"
export PJ_ROOT PJ_CACHE PJ_VENV PJ_COLLECTIONS
export ANSIBLE_COLLECTIONS_PATH="$PJ_COLLECTIONS"
export PATH="$PJ_VENV/bin:$PATH"
# pytest imports plugins the way Ansible does: ansible_collections.packetjungle.datapath.
export PYTHONPATH="$PJ_COLLECTIONS${PYTHONPATH:+:$PYTHONPATH}"
