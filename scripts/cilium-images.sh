#!/usr/bin/env bash
# Image archives of the Cilium agent and operator for the lab, made offline:
# the programs from scripts/cilium-binaries.sh, the agent's run-time tools from
# Debian's packages (debootstrap). Named as the chart asks for them, so the
# role installs the real chart unchanged (`image.useDigest: false`: these are
# not upstream's digests).
#   agent:    what images/cilium/Dockerfile and images/runtime put in upstream's
#             image: iproute2, iptables, ipset, kmod, clang/llc 19 (LLVM >= 18.1
#             compiles the datapath at run time), the bpf/ tree in
#             /var/lib/cilium/bpf, the CNI plugin and its install scripts, the
#             loopback CNI plugin in /cni.
#   operator: cilium-operator-generic and a CA bundle.
# Output: $PJ_CACHE/cilium/<version>/images/*.tar; rebuilt only when an input
# changes. Progress on stderr; stdout ends with PJ_CILIUM_IMAGES=<dir>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/k8s/versions.env"

log() { printf 'cilium-images: %s\n' "$*" >&2; }

START=$SECONDS
binaries="$("$ROOT/scripts/cilium-binaries.sh")"
BIN="$(sed -n 's/^PJ_CILIUM_BIN=//p' <<<"$binaries")"
SHARE="$(sed -n 's/^PJ_CILIUM_SHARE=//p' <<<"$binaries")"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/packetjungle-datapath/cilium"
OUT="$CACHE/$CILIUM_VERSION/images"
mkdir -p "$OUT"

readonly PACKAGES=(iproute2 iptables ipset kmod ca-certificates clang-19 llvm-19 containernetworking-plugins)
RECIPE="$(cat "${BASH_SOURCE[0]}" "$ROOT/lab/image_archive.py" | sha256sum | cut -c1-16)"
ROOTFS="$CACHE/rootfs-$(printf '%s\n' "${PACKAGES[@]}" | sha256sum | cut -c1-12)"

# The Debian mirror apt already uses (the first URIs entry of its sources).
debian_mirror() {
    local uri=""
    [[ -r /etc/apt/sources.list.d/debian.sources ]] &&
        uri="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)"
    printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

if [[ ! -f "$ROOTFS/.complete" ]]; then
    t=$SECONDS
    log "agent root filesystem: debootstrap bookworm with ${PACKAGES[*]} (about 3 min)"
    rm -rf "$ROOTFS" "$ROOTFS.new"
    local_list="$(IFS=,; printf '%s' "${PACKAGES[*]}")"
    debootstrap --variant=minbase --include="$local_list" bookworm "$ROOTFS.new" "$(debian_mirror)" >&2
    rm -rf "$ROOTFS.new"/var/cache/apt/archives/*.deb "$ROOTFS.new"/var/lib/apt/lists/*
    touch "$ROOTFS.new/.complete"
    mv "$ROOTFS.new" "$ROOTFS"
    log "agent root filesystem: $((SECONDS - t)) s"
fi

# fresh NAME REF STAMP-INPUTS: the archive exists and was made from these inputs.
fresh() {
    [[ -s "$OUT/$1.tar" && "$(cat "$OUT/$1.tar.stamp" 2>/dev/null)" == "$RECIPE $3 $2" ]]
}

# archive NAME REF STAMP-INPUTS -- image_archive.py arguments...
archive() {
    local name="$1" ref="$2" inputs="$3" t
    shift 4
    if fresh "$name" "$ref" "$inputs"; then
        log "$ref: cached"
        return
    fi
    t=$SECONDS
    python3 "$ROOT/lab/image_archive.py" "$OUT/$name.tar" --tag "$ref" "$@" >&2
    printf '%s\n' "$RECIPE $inputs $ref" >"$OUT/$name.tar.stamp"
    log "$ref: $(du -h "$OUT/$name.tar" | cut -f1) in $((SECONDS - t)) s"
}

binaries_stamp="$(sha256sum <"$BIN/../.stamp" | cut -c1-16)"
agent_ref="quay.io/cilium/cilium:v$CILIUM_VERSION"
agent_inputs="$binaries_stamp ${ROOTFS##*/}"
# The staging copy of the root filesystem costs seconds: only for a rebuild.
if fresh cilium "$agent_ref" "$agent_inputs"; then
    log "$agent_ref: cached"
else
    stage="$(mktemp -d)"
    trap 'rm -rf "$stage"' EXIT
    cp -a "$ROOTFS/." "$stage/"
    rm -f "$stage/.complete"
    for b in cilium-agent cilium-dbg cilium-health cilium-health-responder cilium-mount cilium-sysctlfix; do
        install -m 0755 "$BIN/$b" "$stage/usr/bin/$b"
    done
    install -D -m 0755 "$BIN/cilium-cni" "$stage/opt/cni/bin/cilium-cni"
    install -D -m 0755 "$stage/usr/lib/cni/loopback" "$stage/cni/loopback"
    install -m 0755 "$SHARE"/install-plugin.sh "$SHARE"/cni-uninstall.sh "$SHARE"/init-container.sh "$stage/"
    mkdir -p "$stage/var/lib/cilium" "$stage/home/cilium"
    cp -r "$SHARE/bpf" "$stage/var/lib/cilium/bpf"
    # The agent runs `clang` and `llc` from PATH; Debian names them by LLVM version.
    ln -sf /usr/bin/clang-19 "$stage/usr/local/bin/clang"
    ln -sf /usr/bin/llc-19 "$stage/usr/local/bin/llc"
    archive cilium "$agent_ref" "$agent_inputs" -- --rootfs "$stage" \
        --workdir /home/cilium --cmd '["/usr/bin/cilium-dbg"]' \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env INITSYSTEM=SYSTEMD
fi
archive operator-generic "quay.io/cilium/operator-generic:v$CILIUM_VERSION" "$binaries_stamp" -- \
    --cmd '["/usr/bin/cilium-operator-generic"]' \
    "/usr/bin/cilium-operator-generic=$BIN/cilium-operator-generic" \
    "/etc/ssl/certs/ca-certificates.crt=$ROOTFS/etc/ssl/certs/ca-certificates.crt:644"

(cd "$OUT" && sha256sum -- *.tar >SHA256SUMS)
log "done in $((SECONDS - START)) s"
printf 'PJ_CILIUM_IMAGES=%s\n' "$OUT"
