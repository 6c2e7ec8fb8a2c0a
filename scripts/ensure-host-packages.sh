#!/usr/bin/env bash
# Debian packages the tests use on this machine itself (not in the lab
# nodes): ethtool for nic_info against the machine's own NIC, iptables and nft
# for the datapath checks in test namespaces, fping as the latency reference,
# bpftool to show that the lab's Cilium agents attach nothing to the machine.
# Installs only what is missing; a second run costs nothing.
set -euo pipefail

declare -A wanted=([ethtool]=ethtool [ping]=iputils-ping [fping]=fping [iptables]=iptables [nft]=nftables
                   [ip]=iproute2 [zcat]=gzip [gpg]=gpg [bpftool]=bpftool)
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null || missing+=("${wanted[$cmd]}")
done
if ((${#missing[@]})); then
  echo "ensure-host-packages: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
