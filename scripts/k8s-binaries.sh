#!/usr/bin/env bash
# Build the Kubernetes pieces the integration tests run for real, at the
# versions pinned in k8s/versions.env, from the Go module proxy only:
#   etcd, kube-apiserver, kubeadm, kubectl  -> $PJ_CACHE/k8s/<k8s version>/bin/
#   Gateway API standard CRDs               -> $PJ_CACHE/k8s/gateway-api/<version>/standard/
# Anything already built for the same versions (stamp file) is skipped, so a
# second run takes seconds. Output ends with KEY=VALUE lines for the harness.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/k8s/versions.env"
# Go lives in /usr/local/go on the project machines; PATH may not name it.
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/packetjungle-datapath/k8s"
BIN="$CACHE/$K8S_VERSION/bin"
CRDS="$CACHE/gateway-api/$GATEWAY_API_VERSION/standard"
# -mod=mod: the wrapper modules below resolve their go.sum on the fly.
# GOTOOLCHAIN=local: never fetch another Go toolchain.
export GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
GO_VERSION="$(go env GOVERSION)"

log() { printf 'k8s-binaries: %s\n' "$*" >&2; }

# Download one module and check its h1: hash against the pinned one; print its Dir.
module_dir() {
    local mod="$1" want="$2" json dir sum
    json="$(go mod download -json "$mod")"
    dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' <<<"$json")"
    sum="$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",*$/\1/p' <<<"$json")"
    if [[ "$sum" != "$want" ]]; then
        log "$mod: module hash $sum, expected $want (k8s/versions.env)"
        exit 1
    fi
    printf '%s\n' "$dir"
}

# Build main packages of $1 (module@version) inside a throw-away wrapper module.
# $2: extra go.mod text (replace lines), $3: -ldflags, rest: packages.
build_in_wrapper() {
    local req="$1" extra="$2" ldflags="$3"
    shift 3
    local work
    work="$(mktemp -d)"
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" RETURN
    printf 'module pjwrapper\n\ngo 1.24.0\n\nrequire %s\n\n%s\n' "${req/@/ }" "$extra" >"$work/go.mod"
    printf 'package pjwrapper\n' >"$work/doc.go"
    (cd "$work" && go build -trimpath -ldflags "$ldflags" -o "$BIN/" "$@")
}

mkdir -p "$BIN" "$CRDS"
START=$SECONDS

# etcd ---------------------------------------------------------------------
stamp="etcd=$ETCD_VERSION $GO_VERSION"
if [[ -x "$BIN/etcd" && "$(cat "$BIN/.etcd.stamp" 2>/dev/null)" == "$stamp" ]]; then
    log "etcd $ETCD_VERSION: cached"
else
    t=$SECONDS
    module_dir "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "$ETCD_MODULE_SUM" >/dev/null
    # The server module's own replace lines point at sibling directories of the
    # etcd repository; in the wrapper the published modules of the same tag stand in.
    build_in_wrapper "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "" "-s -w" go.etcd.io/etcd/server/v3
    # go names the binary after the import path without its /v3 suffix.
    mv "$BIN/server" "$BIN/etcd"
    printf '%s\n' "$stamp" >"$BIN/.etcd.stamp"
    log "etcd $ETCD_VERSION: built in $((SECONDS - t)) s"
fi

# kube-apiserver, kubeadm, kubectl -------------------------------------------
stamp="kubernetes=$K8S_VERSION staging=$K8S_STAGING_VERSION $GO_VERSION"
if [[ -x "$BIN/kube-apiserver" && -x "$BIN/kubeadm" && -x "$BIN/kubectl" &&
      "$(cat "$BIN/.kubernetes.stamp" 2>/dev/null)" == "$stamp" ]]; then
    log "kubernetes $K8S_VERSION: cached"
else
    t=$SECONDS
    kdir="$(module_dir "k8s.io/kubernetes@$K8S_VERSION" "$K8S_MODULE_SUM")"
    # k8s.io/kubernetes points its k8s.io/* staging modules at ./staging/src;
    # a dependency's replace lines are ignored, so the wrapper names the
    # published versions of the same release instead.
    replaces="$(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/.*#replace \1 => \1 '"$K8S_STAGING_VERSION"'#p' "$kdir/go.mod")"
    [[ -n "$replaces" ]] || { log "no staging replace lines found in $kdir/go.mod"; exit 1; }
    minor="${K8S_VERSION#v1.}"
    minor="${minor%%.*}"
    ldflags="-s -w"
    for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
        ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    build_in_wrapper "k8s.io/kubernetes@$K8S_VERSION" "$replaces" "$ldflags" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubectl
    printf '%s\n' "$stamp" >"$BIN/.kubernetes.stamp"
    log "kubernetes $K8S_VERSION (kube-apiserver, kubeadm, kubectl): built in $((SECONDS - t)) s"
fi

# Gateway API CRDs ------------------------------------------------------------
if [[ -s "$CRDS/SHA256SUMS" ]] && (cd "$CRDS" && sha256sum --quiet -c SHA256SUMS); then
    log "gateway-api $GATEWAY_API_VERSION standard CRDs: cached"
else
    gdir="$(module_dir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" "$GATEWAY_API_MODULE_SUM")"
    rm -f "$CRDS"/*.yaml
    install -m 0644 "$gdir"/config/crd/standard/*.yaml "$CRDS/"
    (cd "$CRDS" && sha256sum -- *.yaml >SHA256SUMS)
    log "gateway-api $GATEWAY_API_VERSION standard CRDs: copied to $CRDS"
fi

for b in etcd kube-apiserver kubeadm kubectl; do
    log "$(printf '%-15s %s' "$b" "$(du -h "$BIN/$b" | cut -f1)")"
done
while read -r sum file; do log "  sha256 $sum  $file"; done <"$CRDS/SHA256SUMS"
log "done in $((SECONDS - START)) s"
printf 'PJ_K8S_BIN=%s\nPJ_GATEWAY_API_CRDS=%s\n' "$BIN" "$CRDS"
