#!/usr/bin/env bash
# Image archives of the Kubernetes control-plane images the lab's kubeadm
# needs, made from binaries built by scripts/k8s-binaries.sh --node: no registry,
# no docker pull. Each archive is a single-layer docker-archive named exactly
# as `kubeadm config images list` prints the image (kube-proxy is left out:
# the collection never installs it), ready for `ctr -n k8s.io images import`.
#
# Output: $PJ_CACHE/k8s/<k8s version>/images/<name>_<tag>.tar; an archive
# whose stamp (binary and recipe hashes) matches is not rebuilt. Progress on
# stderr; stdout ends with PJ_K8S_IMAGES=<dir> (plus the lines of k8s-binaries.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/k8s/versions.env"
# shellcheck source=scripts/go-module.sh
source "$ROOT/scripts/go-module.sh"

log() { printf 'k8s-images: %s\n' "$*" >&2; }

START=$SECONDS
binaries="$("$ROOT/scripts/k8s-binaries.sh" --node)"
printf '%s\n' "$binaries"
BIN="$(sed -n 's/^PJ_K8S_BIN=//p' <<<"$binaries")"
IMAGE_BIN="$(sed -n 's/^PJ_K8S_IMAGE_BIN=//p' <<<"$binaries")"
OUT="${XDG_CACHE_HOME:-$HOME/.cache}/packetjungle-datapath/k8s/$K8S_VERSION/images"
mkdir -p "$OUT"
RECIPE="$(cat "${BASH_SOURCE[0]}" "$ROOT/lab/image_archive.py" | sha256sum | cut -c1-16)"

# The names kubeadm will look for, from kubeadm itself.
declare -A REF
while read -r ref; do
    name="${ref%:*}"
    REF["${name##*/}"]="$ref"
done < <("$BIN/kubeadm" config images list --kubernetes-version "$K8S_VERSION")
for name in kube-apiserver kube-controller-manager kube-scheduler etcd coredns pause; do
    [[ -n "${REF[$name]:-}" ]] || { log "kubeadm names no $name image"; exit 1; }
done
# Each tag must be what the binary is, or the archive would lie about its content.
[[ "${REF[etcd]##*:}" == "${ETCD_IMAGE_VERSION#v}-0" ]] ||
    { log "kubeadm wants ${REF[etcd]}, versions.env builds etcd $ETCD_IMAGE_VERSION"; exit 1; }
[[ "${REF[coredns]##*:}" == "$COREDNS_VERSION" ]] ||
    { log "kubeadm wants ${REF[coredns]}, versions.env builds CoreDNS $COREDNS_VERSION"; exit 1; }

# archive NAME SOURCE PATH-IN-IMAGE ENTRYPOINT-JSON
archive() {
    local name="$1" src="$2" path="$3" entrypoint="$4" ref file stamp t
    ref="${REF[$name]}"
    file="$OUT/${name}_${ref##*:}.tar"
    stamp="$RECIPE $(sha256sum "$src" | cut -c1-16) $ref"
    if [[ -s "$file" && "$(cat "$file.stamp" 2>/dev/null)" == "$stamp" ]]; then
        log "$ref: cached"
        return
    fi
    t=$SECONDS
    python3 "$ROOT/lab/image_archive.py" "$file" --tag "$ref" --entrypoint "$entrypoint" "$path=$src" >&2
    printf '%s\n' "$stamp" >"$file.stamp"
    log "$ref: $(du -h "$file" | cut -f1) in $((SECONDS - t)) s"
}

# Control-plane images: binary in /usr/local/bin as upstream's; kubeadm's
# static pod manifests name the command.
for name in kube-apiserver kube-controller-manager kube-scheduler; do
    archive "$name" "$BIN/$name" "/usr/local/bin/$name" "[]"
done
archive etcd "$IMAGE_BIN/etcd" /usr/local/bin/etcd "[]"
archive coredns "$IMAGE_BIN/coredns" /coredns '["/coredns"]'
archive pause "$IMAGE_BIN/pause" /pause '["/pause"]'
# Not a kubeadm image: the workload of the lab's traffic tests, tagged as
# upstream tags the same source (test/images/agnhost/VERSION).
REF[agnhost]="registry.k8s.io/e2e-test-images/agnhost:$(cat "$(module_dir "k8s.io/kubernetes@$K8S_VERSION" \
    "$K8S_MODULE_SUM")/test/images/agnhost/VERSION")"
archive agnhost "$IMAGE_BIN/agnhost" /agnhost '["/agnhost"]'

(cd "$OUT" && sha256sum -- *.tar >SHA256SUMS)
log "done in $((SECONDS - START)) s"
printf 'PJ_K8S_IMAGES=%s\n' "$OUT"
