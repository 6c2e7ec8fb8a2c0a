#!/usr/bin/env bash
# The README's main job: bring the local lab up, run playbooks/site.yml on it
# over SSH the way a region is run, and show what the nodes look like after
# and the validation's latency table.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$PJ_ROOT"

echo "=== lab up ==="
scripts/lab.sh up

echo "=== ansible-playbook -i inventories/lab playbooks/site.yml ==="
start=$SECONDS
ansible-playbook -i inventories/lab playbooks/site.yml
echo "site.yml took $((SECONDS - start)) s"

echo "=== node state, read from each node's kernel ==="
scripts/node_state.sh inventories/lab

echo "=== validation (the last stage of site.yml) ==="
python scripts/show_report.py
