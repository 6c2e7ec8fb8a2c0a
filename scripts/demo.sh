#!/usr/bin/env bash
# The README's main job: build what the lab's mirror serves (once; cached),
# bring the local lab up, run playbooks/site.yml on it over SSH the way a
# region is run, every stage live, and show what the nodes and the cluster
# look like after, and the validation's table.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$PJ_ROOT"

echo "=== stages this run skips (datapath_skip_stages of inventories/lab) ==="
ansible-inventory -i inventories/lab --host pj-lab-1 | python3 -c '
import json, sys
skips = json.load(sys.stdin).get("datapath_skip_stages") or {}
print("\n".join("SKIPPED %s: %s" % item for item in sorted(skips.items())) or "none: every stage runs live")'

echo "=== what the lab's mirror serves (built once, then cached) ==="
scripts/lab-mirror.sh >/dev/null
helm="$(scripts/helm-binary.sh)"
# kubernetes.core.helm runs the helm it finds on PATH.
PATH="$(dirname "$helm"):$PATH"

echo "=== lab up ==="
scripts/lab.sh up

echo "=== ansible-playbook -i inventories/lab playbooks/site.yml ==="
start=$SECONDS
ansible-playbook -i inventories/lab playbooks/site.yml
echo "site.yml took $((SECONDS - start)) s"

echo "=== node state, read from each node's kernel ==="
scripts/node_state.sh inventories/lab

echo "=== the cluster ==="
python scripts/cluster_state.py inventories/lab/.kube/lab.conf

echo "=== validation (the last stage of site.yml) ==="
python scripts/show_report.py
