#!/usr/bin/env bash
# Local lab: N Debian 12 nodes running systemd in Docker containers, reachable over
# SSH like the VPS nodes the collection targets. See docs/lab.md.
#
# Usage: scripts/lab.sh up | down | rebuild | status | ssh N [command...]
# Environment: LAB_NODES (default 3), LAB_PREFIX (default pj-lab).
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_DIR
readonly LAB_NODES="${LAB_NODES:-3}"
readonly LAB_PREFIX="${LAB_PREFIX:-pj-lab}"
STATE_DIR="${XDG_CACHE_HOME:-${HOME}/.cache}/packetjungle-datapath/lab"
readonly STATE_DIR
readonly KEY="${STATE_DIR}/id_ed25519"
readonly INVENTORY="${STATE_DIR}/inventory-${LAB_PREFIX}.yml"
readonly RUNTIME="packetjungle-runc"
readonly LABEL="packetjungle.lab"
readonly BOOT_TIMEOUT="${LAB_BOOT_TIMEOUT:-120}"
# Jumbo frames on the lab bridge by default, as in the regions that run DSR
# with the IP option (it adds 8 bytes to forwarded packets: a 1500-byte
# network would drop full-size UDP). Nodes start at it; host tuning sets it again.
readonly LAB_MTU="${LAB_MTU:-9000}"
# The lab's package and image mirror (lab/mirror.py) on the bridge's gateway:
# what scripts/lab-mirror.sh built, served to the nodes only.
readonly MIRROR_DIR="${STATE_DIR}/mirror"
readonly MIRROR_PORT=5000
readonly MIRROR_PID="${STATE_DIR}/mirror-${LAB_PREFIX}.pid"
# Nodes are recreated often and get fresh host keys each time: pinning them in
# known_hosts would only produce "host key changed" failures.
readonly SSH_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o LogLevel=ERROR -o BatchMode=yes -o ConnectTimeout=3)

say() { printf 'lab: %s\n' "$*"; }
die() { printf 'lab: ERROR: %s\n' "$*" >&2; exit 1; }

[[ ${LAB_NODES} =~ ^[1-9][0-9]*$ && ${LAB_NODES} -le 200 ]] ||
  die "LAB_NODES: '${LAB_NODES}' is not accepted (a whole number from 1 to 200)"
[[ ${LAB_MTU} =~ ^[1-9][0-9]{2,4}$ && ${LAB_MTU} -ge 1280 && ${LAB_MTU} -le 9000 ]] ||
  die "LAB_MTU: '${LAB_MTU}' is not accepted (bytes, 1280 to 9000)"
[[ ${LAB_PREFIX} =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] ||
  die "LAB_PREFIX: '${LAB_PREFIX}' is not accepted (lowercase letters, digits and '-', at most 31)"

node_name() { printf '%s-%s\n' "${LAB_PREFIX}" "$1"; }
node_ip() { printf '%s.%s\n' "${SUBNET_BASE}" "$((10 + $1))"; }

# The default lab has a fixed /24 that inventories/lab/hosts.yml names, and
# 172.29.89-99 are left to other fixed users (molecule scenarios). Other prefixes
# get a /24 in 172.29.100-255 picked from a hash of the prefix, moving on past any
# /24 another Docker network already holds, so labs can run side by side.
pick_subnet_base() {
  local existing
  existing="$(docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' \
    "${LAB_PREFIX}" 2>/dev/null || true)"
  if [[ -n ${existing} ]]; then
    printf '%s\n' "${existing%.0/24}"
    return
  fi
  if [[ ${LAB_PREFIX} == pj-lab ]]; then
    printf '172.29.88\n'
    return
  fi
  local used octet tries
  used="$(docker network ls -q | xargs docker network inspect \
    --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}')"
  octet=$((16#$(printf '%s' "${LAB_PREFIX}" | sha256sum | cut -c1-4) % 156))
  for ((tries = 0; tries < 156; tries++, octet = (octet + 1) % 156)); do
    if [[ " ${used} " != *" 172.29.$((100 + octet)).0/24 "* ]]; then
      printf '172.29.%s\n' "$((100 + octet))"
      return
    fi
  done
  die "no free /24 left in 172.29.100.0-172.29.255.255"
}

ensure_network() {
  local mtu
  if mtu="$(docker network inspect -f '{{index .Options "com.docker.network.driver.mtu"}}' "${LAB_PREFIX}" 2>/dev/null)"; then
    [[ ${mtu} == "${LAB_MTU}" ]] ||
      die "network ${LAB_PREFIX} has MTU '${mtu:-1500}', the lab now uses ${LAB_MTU}; run: scripts/lab.sh down && scripts/lab.sh up"
    return 1
  fi
  docker network create --driver bridge --opt "com.docker.network.driver.mtu=${LAB_MTU}" \
    --subnet "${SUBNET_BASE}.0/24" --gateway "${SUBNET_BASE}.1" \
    --label "${LABEL}=${LAB_PREFIX}" "${LAB_PREFIX}" >/dev/null ||
    die "could not create network ${LAB_PREFIX} (${SUBNET_BASE}.0/24); is the subnet taken?"
  say "created network ${LAB_PREFIX} (${SUBNET_BASE}.0/24, MTU ${LAB_MTU})"
}

ensure_key() {
  [[ -f ${KEY} ]] && return 1
  mkdir -p "${STATE_DIR}"
  ssh-keygen -q -t ed25519 -N '' -C "packetjungle-datapath lab" -f "${KEY}"
  say "generated SSH key ${KEY}"
}

start_node() {
  local name="$1" ip="$2" image="$3"
  # --privileged through the wrapper runtime (lab/runc_wrapper.py) because this
  # machine cannot grant CAP_SYS_RESOURCE; a cgroup namespace of its own, as a
  # real node has its own cgroup root: systemd runs as PID 1 there, and the
  # Cilium agent attaches its socket load balancer to the node's cgroup root,
  # not to the machine's (as kind does). SIGRTMIN+3 asks systemd for a clean halt.
  # /var/lib/containerd is a volume, as it is a disk on a real node: overlayfs
  # snapshots cannot stack on the node's own overlay root.
  docker run --detach --name "${name}" --hostname "${name}" \
    --network "${LAB_PREFIX}" --ip "${ip}" \
    --runtime "${RUNTIME}" --privileged --cgroupns=private \
    --tmpfs /run --tmpfs /run/lock \
    --volume /var/lib/containerd \
    --volume "${KEY}.pub:/root/.ssh/authorized_keys:ro" \
    --stop-signal SIGRTMIN+3 \
    --label "${LABEL}=${LAB_PREFIX}" \
    "${image}" >/dev/null
  say "started ${name} (${ip})"
}

# Prints "running image ip" for an existing node, nothing for a missing one. The
# address is the one the node was created with: a stopped node has no live one.
node_facts() {
  docker inspect --format \
    "{{.State.Running}} {{.Config.Image}} {{with index .NetworkSettings.Networks \"${LAB_PREFIX}\"}}{{with .IPAMConfig}}{{.IPv4Address}}{{end}}{{end}}" \
    "$1" 2>/dev/null || true
}

lab_containers() {
  docker ps --all --filter "label=${LABEL}=${LAB_PREFIX}" --format '{{.Names}}'
}

wait_ready() {
  local name="$1" ip="$2" deadline=$((SECONDS + BOOT_TIMEOUT)) state
  state="$(docker exec "${name}" systemctl is-system-running 2>/dev/null || true)"
  until [[ ${state} == running || ${state} == degraded ]]; do
    ((SECONDS < deadline)) ||
      die "${name}: systemd is '${state:-unknown}' after ${BOOT_TIMEOUT}s; try: docker exec ${name} systemctl --failed"
    sleep 0.5
    state="$(docker exec "${name}" systemctl is-system-running 2>/dev/null || true)"
  done
  until ssh "${SSH_OPTS[@]}" -i "${KEY}" "root@${ip}" true 2>/dev/null; do
    ((SECONDS < deadline)) ||
      die "${name}: sshd at ${ip} does not accept ${KEY} after ${BOOT_TIMEOUT}s"
    sleep 0.5
  done
  [[ ${state} == running ]] || say "${name}: systemd is degraded (docker exec ${name} systemctl --failed)"
}

write_inventory() {
  local tmp i
  mkdir -p "${STATE_DIR}"
  tmp="$(mktemp "${INVENTORY}.XXXXXX")"
  {
    printf '# Generated by scripts/lab.sh up (LAB_PREFIX=%s LAB_NODES=%s); rewritten on each up.\n' \
      "${LAB_PREFIX}" "${LAB_NODES}"
    printf -- '---\nall:\n  vars:\n'
    printf '    ansible_user: root\n'
    printf '    ansible_ssh_private_key_file: %s\n' "${KEY}"
    printf '    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null\n'
    printf '    ansible_python_interpreter: /usr/bin/python3\n'
    printf '  children:\n    k8s_cluster:\n      children:\n'
    printf '        kube_control_plane:\n          hosts:\n'
    printf '            %s:\n              ansible_host: %s\n' "$(node_name 1)" "$(node_ip 1)"
    if ((LAB_NODES > 1)); then
      printf '        kube_workers:\n          hosts:\n'
      for ((i = 2; i <= LAB_NODES; i++)); do
        printf '            %s:\n              ansible_host: %s\n' "$(node_name "${i}")" "$(node_ip "${i}")"
      done
    else
      printf '        kube_workers:\n          hosts: {}\n'
    fi
  } >"${tmp}"
  if cmp -s "${tmp}" "${INVENTORY}"; then
    rm -f "${tmp}"
    return 1
  fi
  mv "${tmp}" "${INVENTORY}"
  say "wrote inventory ${INVENTORY}"
}

cmd_up() {
  local changed=false image i name ip facts running current_image current_ip
  local docker_actions
  docker_actions="$("${REPO_DIR}/scripts/ensure-docker.sh" --quiet)"
  if [[ -n ${docker_actions} ]]; then
    printf '%s\n' "${docker_actions}"
    changed=true
  fi
  image="$("${REPO_DIR}/lab/image.sh")"
  SUBNET_BASE="$(pick_subnet_base)"
  ensure_network && changed=true
  ensure_mirror && changed=true
  ensure_key && changed=true

  # Nodes above LAB_NODES belong to an earlier, larger lab of this prefix.
  while read -r name; do
    [[ -n ${name} ]] || continue
    i="${name##*-}"
    if [[ ! ${i} =~ ^[0-9]+$ ]] || ((i > LAB_NODES)); then
      docker rm --force --volumes "${name}" >/dev/null
      say "removed ${name} (LAB_NODES=${LAB_NODES})"
      changed=true
    fi
  done < <(lab_containers)

  for ((i = 1; i <= LAB_NODES; i++)); do
    name="$(node_name "${i}")"
    ip="$(node_ip "${i}")"
    facts="$(node_facts "${name}")"
    if [[ -z ${facts} ]]; then
      start_node "${name}" "${ip}" "${image}"
      changed=true
      continue
    fi
    read -r running current_image current_ip <<<"${facts}"
    # A node started from another cache directory trusts another key: start
    # it again with ours rather than answer "already up" and refuse SSH.
    if [[ "$(authorized_key_source "${name}")" != "${KEY}.pub" ]]; then
      docker rm --force --volumes "${name}" >/dev/null
      say "${name} trusted another lab key; starting it again with ${KEY}.pub"
      start_node "${name}" "${ip}" "${image}"
      changed=true
      continue
    fi
    [[ ${current_ip:-} == "${ip}" ]] ||
      die "${name} exists with address '${current_ip:-none}', expected ${ip}; run: scripts/lab.sh down"
    [[ ${current_image} == "${image}" ]] ||
      say "${name} runs ${current_image}, the recipe now gives ${image}; switch with: scripts/lab.sh down && scripts/lab.sh up"
    if [[ ${running} != true ]]; then
      docker start "${name}" >/dev/null
      say "started existing ${name}"
      changed=true
    fi
  done

  for ((i = 1; i <= LAB_NODES; i++)); do
    wait_ready "$(node_name "${i}")" "$(node_ip "${i}")"
  done
  write_inventory && changed=true

  if [[ ${changed} == true ]]; then
    say "up: ${LAB_NODES} node(s) on ${SUBNET_BASE}.0/24, inventory ${INVENTORY}"
  else
    say "already up (${LAB_NODES} node(s), ${SUBNET_BASE}.0/24)"
  fi
}

mirror_running() {
  local pid
  pid="$(cat "${MIRROR_PID}" 2>/dev/null || true)"
  [[ -n ${pid} ]] && tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q "lab/mirror.py"
}

# Starts the mirror unless it runs; exit status 1 when it already did.
ensure_mirror() {
  mirror_running && return 1
  mkdir -p "${MIRROR_DIR}"
  "${REPO_DIR}/scripts/detach.sh" "${STATE_DIR}/mirror-${LAB_PREFIX}.log" \
    python3 "${REPO_DIR}/lab/mirror.py" "${MIRROR_DIR}" --listen "${SUBNET_BASE}.1:${MIRROR_PORT}" >"${MIRROR_PID}"
  local deadline=$((SECONDS + 10))
  until python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "http://${SUBNET_BASE}.1:${MIRROR_PORT}/v2/" 2>/dev/null; do
    ((SECONDS < deadline)) || die "the mirror did not answer on ${SUBNET_BASE}.1:${MIRROR_PORT}; see ${STATE_DIR}/mirror-${LAB_PREFIX}.log"
    sleep 0.2
  done
  say "mirror serving ${MIRROR_DIR} on http://${SUBNET_BASE}.1:${MIRROR_PORT}/"
}

stop_mirror() {
  if mirror_running; then
    kill "$(cat "${MIRROR_PID}")"
    say "stopped the mirror"
  fi
  rm -f "${MIRROR_PID}"
}

authorized_key_source() {
  docker inspect -f '{{range .Mounts}}{{if eq .Destination "/root/.ssh/authorized_keys"}}{{.Source}}{{end}}{{end}}' "$1"
}

cmd_down() {
  local names
  mapfile -t names < <(lab_containers)
  if ((${#names[@]})); then
    docker rm --force --volumes "${names[@]}" >/dev/null
    say "removed ${names[*]}"
  fi
  stop_mirror
  if docker network inspect "${LAB_PREFIX}" >/dev/null 2>&1; then
    docker network rm "${LAB_PREFIX}" >/dev/null
    say "removed network ${LAB_PREFIX}"
  fi
  rm -f "${INVENTORY}"
}

cmd_status() {
  local name facts running image ip systemd
  printf '%-16s %-15s %-8s %-10s %s\n' NODE IP STATE SYSTEMD IMAGE
  while read -r name; do
    [[ -n ${name} ]] || continue
    facts="$(node_facts "${name}")"
    read -r running image ip <<<"${facts}"
    systemd="-"
    if [[ ${running} == true ]]; then
      systemd="$(docker exec "${name}" systemctl is-system-running 2>/dev/null || true)"
    fi
    printf '%-16s %-15s %-8s %-10s %s\n' "${name}" "${ip:--}" \
      "$([[ ${running} == true ]] && echo running || echo stopped)" "${systemd:-unknown}" "${image}"
  done < <(lab_containers | sort -V)
  printf 'image for the current recipe: %s\n' "$("${REPO_DIR}/lab/image.sh" --ref)"
  [[ -f ${INVENTORY} ]] && printf 'inventory: %s\n' "${INVENTORY}"
  return 0
}

cmd_ssh() {
  local n="${1:-}" ip
  [[ ${n} =~ ^[1-9][0-9]*$ ]] || die "ssh: node number expected, got '${n}' (usage: lab.sh ssh N [command...])"
  shift
  ip="$(docker inspect --format "{{with index .NetworkSettings.Networks \"${LAB_PREFIX}\"}}{{.IPAddress}}{{end}}" \
    "$(node_name "${n}")" 2>/dev/null)" || die "node $(node_name "${n}") does not exist; run: scripts/lab.sh up"
  exec ssh "${SSH_OPTS[@]}" -i "${KEY}" "root@${ip}" "$@"
}

main() {
  local command="${1:-}"
  [[ -n ${command} ]] || die "usage: lab.sh up|down|rebuild|status|ssh N [command...]"
  shift
  [[ ${command} == ssh || ${EUID} -eq 0 ]] || die "${command}: must run as root (docker, debootstrap)"
  # One lab command per prefix at a time: two `up`s racing would fight over names.
  # flock(1) holds the lock and runs this script again as its child with the
  # lock's descriptor closed (-o). A descriptor this shell held would pass to
  # everything it starts, and whatever outlives it (dockerd started by `up`, a
  # containerd shim, an ssh ControlPersist master) would keep the prefix
  # locked, so that every later `up` or `down` waited forever.
  if [[ ${command} != ssh && ${command} != status && ${PJ_LAB_LOCKED:-} != "${LAB_PREFIX}" ]]; then
    mkdir -p "${STATE_DIR}"
    PJ_LAB_LOCKED="${LAB_PREFIX}" exec flock -o "${STATE_DIR}/.lock-${LAB_PREFIX}" \
      "${BASH}" "${BASH_SOURCE[0]}" "${command}" "$@"
  fi
  # Only this run holds the lock: a lab.sh started from here must take it itself.
  unset PJ_LAB_LOCKED
  case "${command}" in
    up) cmd_up ;;
    down) cmd_down ;;
    rebuild)
      cmd_down
      "${REPO_DIR}/lab/image.sh" --rebuild >/dev/null
      cmd_up
      ;;
    status) cmd_status ;;
    ssh) cmd_ssh "$@" ;;
    *) die "unknown command '${command}' (accepted: up, down, rebuild, status, ssh N)" ;;
  esac
}

main "$@"
