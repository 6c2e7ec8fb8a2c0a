#!/usr/bin/env bash
# Builds the lab node image packetjungle/lab-node:<tag> from Debian packages.
#
# No container registry is reachable from the project's machines, so the image is
# debootstrapped from the Debian mirror apt already uses and loaded with
# `docker import`. The tag is a hash of this recipe: the image is rebuilt only when
# the recipe changes, and the root filesystem tarball is kept in the user cache so
# that `docker image rm` or a fresh Docker data dir does not cost a debootstrap.
#
# Usage: lab/image.sh            ensure the image exists; print its reference
#        lab/image.sh --rebuild  drop the cached image and tarball, build again
#        lab/image.sh --ref      print the reference the recipe gives, build nothing
# Progress goes to stderr; stdout carries only the reference.
set -euo pipefail

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly LAB_DIR
readonly IMAGE_NAME="packetjungle/lab-node"
readonly SUITE="bookworm"
CACHE_DIR="${XDG_CACHE_HOME:-${HOME}/.cache}/packetjungle-datapath/images"
readonly CACHE_DIR
# Files whose content defines the image; any change gives a new tag.
readonly RECIPE_FILES=("${LAB_DIR}/image.sh")
readonly PACKAGES=(
  systemd systemd-sysv dbus
  python3 python3-apt openssh-server sudo
  iproute2 ethtool iputils-ping procps kmod iptables nftables
  ca-certificates less
)
# Units that fail in a container or would act on the host behind it.
readonly MASKED_UNITS=(
  # udev in a privileged container sees the host's /sys and /dev: keep it off them.
  systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket
  systemd-udev-trigger.service systemd-udev-settle.service
  # No consoles to serve; getty on the host's tty would compete with the host.
  getty.target console-getty.service
  # No networkd; docker configures eth0 before systemd starts.
  systemd-networkd-wait-online.service
)

log() { printf 'lab-image: %s\n' "$*" >&2; }
die() { printf 'lab-image: ERROR: %s\n' "$*" >&2; exit 1; }

image_ref() {
  local tag
  tag="$(cat "${RECIPE_FILES[@]}" | sha256sum | cut -c1-12)"
  printf '%s:%s\n' "${IMAGE_NAME}" "${tag}"
}

# The first URIs entry of apt's deb822 sources: the mirror this machine can reach.
debian_mirror() {
  local uri=""
  if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
    uri="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)"
  fi
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

write_file() {
  local mode="$1" path="$2"
  install -D -m "${mode}" /dev/stdin "${path}"
}

customize_rootfs() {
  local root="$1"

  chroot "${root}" systemctl enable --quiet ssh.service
  chroot "${root}" systemctl mask --quiet "${MASKED_UNITS[@]}"

  # Every node makes its own identity at boot: an empty machine-id gets a fresh one
  # from systemd, and host keys are generated before sshd starts.
  : >"${root}/etc/machine-id"
  ln -sfn /etc/machine-id "${root}/var/lib/dbus/machine-id"
  rm -f "${root}"/etc/ssh/ssh_host_*_key "${root}"/etc/ssh/ssh_host_*_key.pub
  write_file 0644 "${root}/etc/systemd/system/ssh.service.d/10-lab-host-keys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
  write_file 0644 "${root}/etc/ssh/sshd_config.d/10-lab.conf" <<'CONF'
# Root logs in with the lab key only (bind-mounted to /root/.ssh/authorized_keys).
PermitRootLogin prohibit-password
PasswordAuthentication no
# No reverse DNS for the lab subnet: lookups would only add login latency.
UseDNS no
CONF
  install -d -m 0700 "${root}/root/.ssh"

  # The kernel log belongs to the host; the node's journal would only duplicate it.
  write_file 0644 "${root}/etc/systemd/journald.conf.d/10-lab.conf" <<'CONF'
[Journal]
ReadKMsg=no
CONF

  # net.* sysctls are per network namespace; the vendor files also set fs.* and
  # kernel.* values, most of them global, which every node boot would write into
  # the host kernel. Keep just their net.* lines.
  local vendor
  for vendor in "${root}"/usr/lib/sysctl.d/*.conf; do
    {
      printf '# net.* lines of /usr/lib/sysctl.d/%s: the others would reach the lab host.\n' \
        "$(basename "${vendor}")"
      grep -E '^[-]?net\.' "${vendor}" || true
    } >"${root}/etc/sysctl.d/$(basename "${vendor}")"
  done

  # Docker bind-mounts /etc/hosts, /etc/hostname and /etc/resolv.conf and offers no
  # switch to stop it; tools that replace those files by rename then fail with EBUSY.
  # Unmount them at boot, keeping Docker's content as plain files.
  write_file 0755 "${root}/usr/local/sbin/lab-unbind-etc" <<'SH'
#!/bin/sh
set -eu
for file in /etc/hostname /etc/hosts /etc/resolv.conf; do
  if findmnt -rn --mountpoint "$file" >/dev/null; then
    cp "$file" "/run/lab-unbind.tmp"
    umount "$file"
    cat "/run/lab-unbind.tmp" >"$file"
    chmod 0644 "$file"
    rm -f "/run/lab-unbind.tmp"
  fi
done
SH
  write_file 0644 "${root}/etc/systemd/system/lab-unbind-etc.service" <<'UNIT'
[Unit]
Description=Replace Docker's bind-mounted /etc files with plain files
DefaultDependencies=no
Before=sysinit.target systemd-hostnamed.service ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-unbind-etc

[Install]
WantedBy=sysinit.target
UNIT
  chroot "${root}" systemctl enable --quiet lab-unbind-etc.service
  rm -f "${root}/etc/hostname"

  # On a real host systemd makes / a shared mount at boot; in a container it
  # leaves it private. Kubernetes volumes with Bidirectional propagation (the
  # Cilium agent's BPF filesystem and cgroup mounts) need it shared.
  write_file 0644 "${root}/etc/systemd/system/lab-shared-root.service" <<'UNIT'
[Unit]
Description=Make / a shared mount, as systemd does on a real host
DefaultDependencies=no
Before=sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/mount --make-rshared /

[Install]
WantedBy=sysinit.target
UNIT
  chroot "${root}" systemctl enable --quiet lab-shared-root.service

  # The node's resolv.conf names Docker's embedded resolver, 127.0.0.11, which
  # answers inside the node's own network namespace only. A pod that inherits
  # it (CoreDNS) would ask itself and stop on its loop check. Pods get the
  # bridge's gateway instead (inventories/lab: the kubelet's resolvConf); it
  # runs no resolver, so names outside the cluster fail fast, as they must in
  # a lab with no internet.
  write_file 0755 "${root}/usr/local/sbin/lab-pod-resolv" <<'SH'
#!/bin/sh
set -eu
gateway="$(ip -4 route show default | awk '{ print $3; exit }')"
printf 'nameserver %s\n' "${gateway}" >/run/lab-pod-resolv.conf
SH
  write_file 0644 "${root}/etc/systemd/system/lab-pod-resolv.service" <<'UNIT'
[Unit]
Description=Write the resolv.conf the kubelet gives pods (the lab bridge's gateway)
After=network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-pod-resolv

[Install]
WantedBy=multi-user.target
UNIT
  chroot "${root}" systemctl enable --quiet lab-pod-resolv.service

  # Nodes use the host's mirror and its apt settings for it, so roles can install
  # packages the same way the host does.
  if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
    cp /etc/apt/sources.list.d/debian.sources "${root}/etc/apt/sources.list.d/"
    rm -f "${root}/etc/apt/sources.list"
  fi
  apt-config dump Acquire::Check-Valid-Until Acquire::Check-Date \
    Acquire::http::Proxy Acquire::https::Proxy |
    grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' \
      >"${root}/etc/apt/apt.conf.d/90lab-host-mirror" || true

  rm -rf "${root}"/var/cache/apt/archives/*.deb "${root}"/var/log/*.log
}

ROOTFS=""
# --one-file-system: never follow a mount a failed debootstrap may have left behind.
cleanup() { [[ -z ${ROOTFS} ]] || rm -rf --one-file-system "${ROOTFS}"; }
trap cleanup EXIT

build_tarball() {
  local tarball="$1" rootfs mirror
  mirror="$(debian_mirror)"
  mkdir -p "${CACHE_DIR}/debs"
  ROOTFS="$(mktemp -d "${CACHE_DIR}/rootfs.XXXXXX")"
  rootfs="${ROOTFS}"

  log "debootstrap ${SUITE} from ${mirror} (log: ${CACHE_DIR}/debootstrap.log)"
  if ! debootstrap --variant=minbase --include="$(IFS=,; printf '%s' "${PACKAGES[*]}")" \
    --cache-dir="${CACHE_DIR}/debs" "${SUITE}" "${rootfs}" "${mirror}" \
    >"${CACHE_DIR}/debootstrap.log" 2>&1; then
    tail -n 20 "${CACHE_DIR}/debootstrap.log" >&2
    die "debootstrap failed"
  fi
  customize_rootfs "${rootfs}"

  # File capabilities (ping) travel as xattrs; docker import applies them.
  tar -C "${rootfs}" --numeric-owner --xattrs --xattrs-include='security.capability' \
    -cf "${tarball}.partial" .
  mv "${tarball}.partial" "${tarball}"
}

import_tarball() {
  local tarball="$1" ref="$2"
  log "importing ${tarball}"
  docker import \
    -c 'CMD ["/lib/systemd/systemd"]' \
    -c 'ENV container=docker' \
    "${tarball}" "${ref}" >/dev/null
}

ensure_image() {
  local ref="$1" tarball
  tarball="${CACHE_DIR}/lab-node-${ref##*:}.tar"
  if docker image inspect "${ref}" >/dev/null 2>&1; then
    return
  fi
  mkdir -p "${CACHE_DIR}"
  if [[ ! -f ${tarball} ]]; then
    build_tarball "${tarball}"
    # Tarballs of older recipes are dead weight (about 200 MB each).
    find "${CACHE_DIR}" -maxdepth 1 -name 'lab-node-*.tar' ! -path "${tarball}" -delete
  fi
  import_tarball "${tarball}" "${ref}"
  log "built ${ref}"
  # Images of older recipes go too, unless a container still uses them.
  docker image ls "${IMAGE_NAME}" --format '{{.Repository}}:{{.Tag}}' | grep -vxF "${ref}" |
    xargs -r docker image rm >/dev/null 2>&1 || true
}

# Parallel callers (two labs, molecule) wait here instead of building twice.
lock_cache() {
  mkdir -p "${CACHE_DIR}"
  exec 9>"${CACHE_DIR}/.lock"
  flock 9
}

main() {
  local ref users
  ref="$(image_ref)"
  case "${1:-}" in
    --ref) ;;
    --rebuild)
      [[ ${EUID} -eq 0 ]] || die "must run as root (debootstrap, chroot)"
      lock_cache
      users="$(docker ps --all --quiet --filter "ancestor=${ref}")"
      [[ -z ${users} ]] ||
        die "--rebuild: containers still use ${ref}; remove them first (scripts/lab.sh rebuild does)"
      docker image rm "${ref}" >/dev/null 2>&1 || true
      rm -f "${CACHE_DIR}/lab-node-${ref##*:}.tar"
      ensure_image "${ref}"
      ;;
    "")
      [[ ${EUID} -eq 0 ]] || die "must run as root (debootstrap, chroot)"
      lock_cache
      ensure_image "${ref}"
      ;;
    *) die "unknown argument '$1' (accepted: --rebuild, --ref)" ;;
  esac
  printf '%s\n' "${ref}"
}

main "$@"
