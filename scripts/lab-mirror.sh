#!/usr/bin/env bash
# Everything the lab's package and image mirror serves (lab/mirror.py, started
# by scripts/lab.sh up on the lab bridge), built once from the Go module proxy
# and Debian's packages, then cached: what an air-gapped region's mirror holds.
#   apt/      kubeadm, kubelet, kubectl as signed packages (scripts/k8s-apt-repo.sh)
#   images/   control-plane, CoreDNS and pause images (scripts/k8s-images.sh),
#             the Cilium agent and operator (scripts/cilium-images.sh)
#   apt-key.fingerprint  the lab signing key's, which inventories/lab checks
# One progress line per step, with how long it takes on a fresh 2-core machine;
# a step whose inputs did not change takes about a second.
# Output: the last line is PJ_LAB_MIRROR=<dir>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/k8s/versions.env"
# shellcheck source=scripts/go-module.sh
source "$ROOT/scripts/go-module.sh"
MIRROR="${XDG_CACHE_HOME:-$HOME/.cache}/packetjungle-datapath/lab/mirror"

# step "WHAT" "USUAL COLD TIME" COMMAND...: run it quietly (its log kept), print
# one line, and the command's KEY=VALUE lines into $STEP_VARS.
step() {
    local what="$1" usual="$2" log t
    shift 2
    log="$MIRROR.log.d/${what//[^a-zA-Z0-9]/-}.log"
    mkdir -p "$MIRROR.log.d"
    printf 'lab-mirror: %-44s (first run on a fresh machine: %s) ... ' "$what" "$usual" >&2
    t=$SECONDS
    if ! STEP_VARS="$("$@" 2>"$log")"; then
        printf 'FAILED after %d s; last lines of %s:\n' "$((SECONDS - t))" "$log" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    printf '%d s\n' "$((SECONDS - t))" >&2
}
value() { sed -n "s/^$1=//p" <<<"$STEP_VARS" | tail -n 1; }

log() { printf 'lab-mirror: %s\n' "$*" >&2; }

# Debian's tools the steps use: debootstrap (the agent image), gpg (signing
# the packages). Installed when missing, so a fresh machine needs nothing first.
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v gpg >/dev/null || missing+=(gpg)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "Kubernetes server and node binaries" "about 20 min" "$ROOT/scripts/k8s-binaries.sh" --node
gateway_bundle="$(value PJ_GATEWAY_API_BUNDLE)"
step "control-plane image archives" "about 10 s" "$ROOT/scripts/k8s-images.sh"
k8s_images="$(value PJ_K8S_IMAGES)"
step "signed kubeadm/kubelet/kubectl packages" "about 10 s" "$ROOT/scripts/k8s-apt-repo.sh"
apt_repo="$(value PJ_K8S_APT_REPO)"
fingerprint="$(value PJ_K8S_APT_KEY_FINGERPRINT)"
step "Cilium agent, CLI and operator" "about 15 min" "$ROOT/scripts/cilium-binaries.sh"
step "Cilium agent and operator images" "about 4 min" "$ROOT/scripts/cilium-images.sh"
cilium_images="$(value PJ_CILIUM_IMAGES)"

# Links, not copies: the mirror serves what the build steps keep up to date.
mkdir -p "$MIRROR/images"
find "$MIRROR/images" -maxdepth 1 -type l -delete
for archive in "$k8s_images"/*.tar "$cilium_images"/*.tar; do
    ln -s "$archive" "$MIRROR/images/${archive##*/}"
done
ln -sfn "$apt_repo" "$MIRROR/apt"
mkdir -p "$MIRROR/gateway-api/$GATEWAY_API_VERSION"
ln -sfn "$gateway_bundle" "$MIRROR/gateway-api/$GATEWAY_API_VERSION/standard-install.yaml"
# The chart of the same module the images come from (checked against its hash).
ln -sfn "$(module_dir "github.com/cilium/cilium@v$CILIUM_VERSION" "$CILIUM_MODULE_SUM")/install/kubernetes/cilium" \
    "$MIRROR/cilium-chart"
printf '%s\n' "$fingerprint" >"$MIRROR/apt-key.fingerprint"
printf 'lab-mirror: %s images, packages from %s\n' "$(find "$MIRROR/images" -maxdepth 1 -type l | wc -l)" "$apt_repo" >&2
printf 'PJ_LAB_MIRROR=%s\n' "$MIRROR"
