#!/usr/bin/env bash
# ansible-test wants the collection at .../ansible_collections/<ns>/<name> and
# downloads a pip bootstrap script from a host this machine cannot reach; it
# reads a local copy first, so we give it a stand-in built on ensurepip.
set -euo pipefail
. "$(dirname "$0")/common.sh"

pip_version="$(python - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version='3.11'))['pip'])
PY
)"
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
cmp -s "$PJ_ROOT/scripts/get_pip_standin.py" "$cache" || cp "$PJ_ROOT/scripts/get_pip_standin.py" "$cache"

# A copy, not a symlink: ansible-test resolves paths and would leave the tree.
work="$PJ_CACHE/sanity/ansible_collections/packetjungle/datapath"
rm -rf "$work" && mkdir -p "$work"
tar -C "$PJ_ROOT" --exclude=./.git --exclude=./tests/output -cf - . | tar -C "$work" -xf -
cd "$work"
ansible-test sanity --local --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" --color no "$@"
