#!/usr/bin/env bash
# Creates the controller virtualenv from requirements/controller.txt (pinned) and
# links this checkout into a collections path as packetjungle.datapath.
# Re-runs are instant unless the requirements change.
set -euo pipefail
. "$(dirname "$0")/common.sh"

stamp="$PJ_VENV/.requirements.sha256"
want="$(sha256sum "$PJ_ROOT/requirements/controller.txt" | cut -d' ' -f1)"
if [[ ! -x "$PJ_VENV/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "venv: installing pinned controller tools into $PJ_VENV"
  python3 -m venv "$PJ_VENV"
  "$PJ_VENV/bin/pip" install --quiet -r "$PJ_ROOT/requirements/controller.txt"
  echo "$want" >"$stamp"
fi

# Ansible finds collections under <path>/ansible_collections/<ns>/<name>.
mkdir -p "$PJ_COLLECTIONS/ansible_collections/packetjungle"
ln -sfn "$PJ_ROOT" "$PJ_COLLECTIONS/ansible_collections/packetjungle/datapath"
