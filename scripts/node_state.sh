#!/usr/bin/env bash
# Prints one line per node with the datapath settings host_tuning owns, read
# straight from the node (not from what Ansible reported).
set -euo pipefail
. "$(dirname "$0")/common.sh"
inventory="${1:-$PJ_ROOT/inventories/lab}"

read -r -d '' probe <<'SH' || true
printf 'mtu=%s rps=%s gro=%s tso=%s somaxconn=%s tcp_rmem_max=%s cc=%s qdisc=%s fwd=%s dropin_keys=%s link_file=%s\n' \
  "$(cat /sys/class/net/eth0/mtu)" "$(cat /sys/class/net/eth0/queues/rx-0/rps_cpus)" \
  "$(ethtool -k eth0 | awk '/^generic-receive-offload:/ {print $2}')" \
  "$(ethtool -k eth0 | awk '/^tcp-segmentation-offload:/ {print $2}')" \
  "$(cat /proc/sys/net/core/somaxconn)" "$(awk '{print $3}' /proc/sys/net/ipv4/tcp_rmem)" \
  "$(cat /proc/sys/net/ipv4/tcp_congestion_control)" "$(tc qdisc show dev eth0 2>/dev/null | awk 'NR==1 {print $2}')" \
  "$(cat /proc/sys/net/ipv4/ip_forward)" \
  "$(grep -c '=' /etc/sysctl.d/90-packetjungle-datapath.conf 2>/dev/null || echo 0)" \
  "$(ls /etc/systemd/network/10-packetjungle-*.link 2>/dev/null | tr '\n' ' ' || true)"
SH
# The JSON callback instead of the deprecated one-line output.
ANSIBLE_LOAD_CALLBACK_PLUGINS=1 ANSIBLE_STDOUT_CALLBACK=ansible.posix.json \
  ansible -i "$inventory" k8s_cluster -m ansible.builtin.shell -a "$probe" \
  | python -c '
import json, sys
hosts = json.load(sys.stdin)["plays"][0]["tasks"][0]["hosts"]
for name in sorted(hosts):
    print(name, hosts[name].get("stdout") or hosts[name].get("msg"))
'
