#!/usr/bin/env bash
# Build the Kubernetes pieces the integration tests run for real, at the
# versions pinned in k8s/versions.env, from the Go module proxy only:
#   etcd, kube-apiserver, kubeadm, kubectl  -> $PJ_CACHE/k8s/<k8s version>/bin/
#   Gateway API standard CRDs               -> $PJ_CACHE/k8s/gateway-api/<version>/standard/
# With --node, also what a real node runs (for the lab's packages and images):
#   kubelet, kube-controller-manager, kube-scheduler -> .../bin/
#   etcd at the version kubeadm's image names, pause, CoreDNS -> .../image-bin/
# Anything already built for the same versions (stamp file) is skipped, so a
# second run takes seconds. Output ends with KEY=VALUE lines for the harness.
set -euo pipefail

NODE=false
case "${1:-}" in
    "") ;;
    --node) NODE=true ;;
    *) printf 'k8s-binaries: unknown argument %s (accepted: --node)\n' "$1" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/k8s/versions.env"
# shellcheck source=scripts/go-module.sh
source "$ROOT/scripts/go-module.sh"

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/packetjungle-datapath/k8s"
BIN="$CACHE/$K8S_VERSION/bin"
IMAGE_BIN="$CACHE/$K8S_VERSION/image-bin"
CRDS="$CACHE/gateway-api/$GATEWAY_API_VERSION/standard"
GO_VERSION="$(go env GOVERSION)"

log() { printf 'k8s-binaries: %s\n' "$*" >&2; }

# Build main packages of $1 (module@version) inside a throw-away wrapper module.
# $2: extra go.mod text (replace lines), $3: -ldflags, rest: packages.
# Binaries land in $OUT (default $BIN).
build_in_wrapper() {
    local req="$1" extra="$2" ldflags="$3" out="${OUT:-$BIN}"
    shift 3
    local work
    work="$(mktemp -d)"
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" RETURN
    printf 'module pjwrapper\n\ngo 1.24.0\n\nrequire %s\n\n%s\n' "${req/@/ }" "$extra" >"$work/go.mod"
    printf 'package pjwrapper\n' >"$work/doc.go"
    (cd "$work" && go build -trimpath -ldflags "$ldflags" -o "$out/" "$@")
}

mkdir -p "$BIN" "$CRDS"
START=$SECONDS

# etcd at VERSION (module hash SUM) into DIR; LABEL names it in the log.
build_etcd() {
    local version="$1" want="$2" dir="$3" label="$4" t
    local stamp="etcd=$version $GO_VERSION"
    if [[ -x "$dir/etcd" && "$(cat "$dir/.etcd.stamp" 2>/dev/null)" == "$stamp" ]]; then
        log "$label: cached"
        return
    fi
    t=$SECONDS
    module_dir "go.etcd.io/etcd/server/v3@$version" "$want" >/dev/null
    # The server module's own replace lines point at sibling directories of the
    # etcd repository; in the wrapper the published modules of the same tag stand in.
    OUT="$dir" build_in_wrapper "go.etcd.io/etcd/server/v3@$version" "" "-s -w" go.etcd.io/etcd/server/v3
    # go names the binary after the import path without its /v3 suffix.
    mv "$dir/server" "$dir/etcd"
    printf '%s\n' "$stamp" >"$dir/.etcd.stamp"
    log "$label: built in $((SECONDS - t)) s"
}

build_etcd "$ETCD_VERSION" "$ETCD_MODULE_SUM" "$BIN" "etcd $ETCD_VERSION"

# Kubernetes ------------------------------------------------------------------
# k8s.io/kubernetes points its k8s.io/* staging modules at ./staging/src; a
# dependency's replace lines are ignored, so the wrapper names the published
# versions of the same release instead. Sets K8S_REPLACES and K8S_LDFLAGS.
kubernetes_wrapper_settings() {
    [[ -z "${K8S_REPLACES:-}" ]] || return 0
    local kdir minor pkg
    kdir="$(module_dir "k8s.io/kubernetes@$K8S_VERSION" "$K8S_MODULE_SUM")"
    K8S_REPLACES="$(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/.*#replace \1 => \1 '"$K8S_STAGING_VERSION"'#p' "$kdir/go.mod")"
    [[ -n "$K8S_REPLACES" ]] || { log "no staging replace lines found in $kdir/go.mod"; exit 1; }
    minor="${K8S_VERSION#v1.}"
    minor="${minor%%.*}"
    # The version stamped in as hack/lib/version.sh does, so kubeadm's and the
    # kubelet's version checks see the pin.
    K8S_LDFLAGS="-s -w"
    for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
        K8S_LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        K8S_LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
}

# build_kubernetes STAMPFILE BINARY...: the cmd/<binary> packages in one go build.
build_kubernetes() {
    local stampfile="$1" b t
    shift
    local stamp="kubernetes=$K8S_VERSION staging=$K8S_STAGING_VERSION $GO_VERSION" have=true pkgs=()
    for b in "$@"; do
        [[ -x "$BIN/$b" ]] || have=false
        pkgs+=("k8s.io/kubernetes/cmd/$b")
    done
    if [[ $have == true && "$(cat "$BIN/$stampfile" 2>/dev/null)" == "$stamp" ]]; then
        log "kubernetes $K8S_VERSION ($*): cached"
        return
    fi
    t=$SECONDS
    kubernetes_wrapper_settings
    build_in_wrapper "k8s.io/kubernetes@$K8S_VERSION" "$K8S_REPLACES" "$K8S_LDFLAGS" "${pkgs[@]}"
    printf '%s\n' "$stamp" >"$BIN/$stampfile"
    log "kubernetes $K8S_VERSION ($*): built in $((SECONDS - t)) s"
}

build_kubernetes .kubernetes.stamp kube-apiserver kubeadm kubectl

# Node pieces (--node) -----------------------------------------------------------
if [[ $NODE == true ]]; then
    build_kubernetes .kubernetes-node.stamp kubelet kube-controller-manager kube-scheduler
    mkdir -p "$IMAGE_BIN"

    # etcd at the version in kubeadm's etcd image tag, so the image is what its name says.
    build_etcd "$ETCD_IMAGE_VERSION" "$ETCD_IMAGE_MODULE_SUM" "$IMAGE_BIN" "etcd $ETCD_IMAGE_VERSION (image)"

    # CoreDNS at the version kubeadm deploys; its default plugin set.
    stamp="coredns=$COREDNS_VERSION $GO_VERSION"
    if [[ -x "$IMAGE_BIN/coredns" && "$(cat "$IMAGE_BIN/.coredns.stamp" 2>/dev/null)" == "$stamp" ]]; then
        log "coredns $COREDNS_VERSION: cached"
    else
        t=$SECONDS
        module_dir "github.com/coredns/coredns@$COREDNS_VERSION" "$COREDNS_MODULE_SUM" >/dev/null
        OUT="$IMAGE_BIN" build_in_wrapper "github.com/coredns/coredns@$COREDNS_VERSION" "" \
            "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" github.com/coredns/coredns
        printf '%s\n' "$stamp" >"$IMAGE_BIN/.coredns.stamp"
        log "coredns $COREDNS_VERSION: built in $((SECONDS - t)) s"
    fi

    # agnhost, Kubernetes' own test image (test/images/agnhost of the same
    # module; its VERSION file names the image tag): netexec echoes the client
    # address, connect opens a TCP connection. The lab's traffic tests use it.
    stamp="agnhost=$K8S_VERSION $GO_VERSION"
    if [[ -x "$IMAGE_BIN/agnhost" && "$(cat "$IMAGE_BIN/.agnhost.stamp" 2>/dev/null)" == "$stamp" ]]; then
        log "agnhost: cached"
    else
        t=$SECONDS
        kubernetes_wrapper_settings
        OUT="$IMAGE_BIN" build_in_wrapper "k8s.io/kubernetes@$K8S_VERSION" "$K8S_REPLACES" "$K8S_LDFLAGS" \
            k8s.io/kubernetes/test/images/agnhost
        printf '%s\n' "$stamp" >"$IMAGE_BIN/.agnhost.stamp"
        log "agnhost: built in $((SECONDS - t)) s"
    fi

    # pause: the lab's own (lab/pause), standard library only.
    stamp="pause=$(sha256sum "$ROOT/lab/pause/main.go" | cut -c1-16) $GO_VERSION"
    if [[ -x "$IMAGE_BIN/pause" && "$(cat "$IMAGE_BIN/.pause.stamp" 2>/dev/null)" == "$stamp" ]]; then
        log "pause: cached"
    else
        (cd "$ROOT/lab/pause" && GOFLAGS=-buildvcs=false go build -trimpath -ldflags "-s -w" -o "$IMAGE_BIN/pause" .)
        printf '%s\n' "$stamp" >"$IMAGE_BIN/.pause.stamp"
        log "pause: built"
    fi
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

# The release's standard-install.yaml, byte for byte, as the release's
# hack/build-install-yaml.sh makes it: boilerplate with the release year, a
# title, then every CRD behind a comment naming its file (the gateway_api role
# checks its pinned SHA-256, so a drift here fails the lab's run).
BUNDLE="$CACHE/gateway-api/$GATEWAY_API_VERSION/standard-install.yaml"
{
    cat <<'HEADER'
# Copyright 2025 The Kubernetes Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

#
# Gateway API Standard channel install
#
HEADER
    for crd in $(cd "$CRDS" && LC_ALL=C ls gateway*.yaml); do
        crd="$CRDS/$crd"
        printf -- '---\n#\n# config/crd/standard/%s\n#\n' "${crd##*/}"
        cat "$crd"
    done
} >"$BUNDLE.new"
if cmp -s "$BUNDLE.new" "$BUNDLE"; then rm -f "$BUNDLE.new"; else mv "$BUNDLE.new" "$BUNDLE"; fi

for b in "$BIN"/* ; do
    log "$(printf '%-24s %s' "${b##*/}" "$(du -h "$b" | cut -f1)")"
done
if [[ $NODE == true ]]; then
    for b in "$IMAGE_BIN"/*; do
        log "$(printf '%-24s %s' "image-bin/${b##*/}" "$(du -h "$b" | cut -f1)")"
    done
fi
while read -r sum file; do log "  sha256 $sum  $file"; done <"$CRDS/SHA256SUMS"
log "done in $((SECONDS - START)) s"
log "gateway-api bundle: sha256 $(sha256sum "$BUNDLE" | cut -d' ' -f1)"
printf 'PJ_K8S_BIN=%s\nPJ_GATEWAY_API_CRDS=%s\nPJ_GATEWAY_API_BUNDLE=%s\n' "$BIN" "$CRDS" "$BUNDLE"
[[ $NODE == false ]] || printf 'PJ_K8S_IMAGE_BIN=%s\n' "$IMAGE_BIN"
