#!/usr/bin/env bash
# Build the Cilium programs the lab's agent and operator images hold, at the
# version pinned in k8s/versions.env, from the Go module proxy only (no image
# can be pulled here). The module's h1: hash is checked before anything is built.
#   cilium-agent, cilium-dbg, cilium-health, cilium-health-responder,
#   cilium-mount, cilium-sysctlfix, cilium-cni  -> $PJ_CACHE/cilium/<version>/bin/
#   cilium-operator-generic                      -> .../bin/
#   the bpf/ sources the agent compiles at run time, the CNI install scripts
#                                                -> .../share/
# Built as upstream's Makefile does: no cgo, tag osusergo (the operator also
# ipam_provider_operator), the version stamped in. A stamp file skips all of it
# when nothing changed. Output ends with PJ_CILIUM_BIN= and PJ_CILIUM_SHARE=.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/k8s/versions.env"
# shellcheck source=scripts/go-module.sh
source "$ROOT/scripts/go-module.sh"

OUT="${XDG_CACHE_HOME:-$HOME/.cache}/packetjungle-datapath/cilium/$CILIUM_VERSION"
BIN="$OUT/bin"
SHARE="$OUT/share"
STAMP="cilium=$CILIUM_VERSION $CILIUM_MODULE_SUM $(go env GOVERSION) $(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"

log() { printf 'cilium-binaries: %s\n' "$*" >&2; }

# Package directory -> the binary name upstream's Makefiles give it.
declare -A AGENT_SIDE=(
    [daemon]=cilium-agent
    [cilium-dbg]=cilium-dbg
    [cilium-health]=cilium-health
    [cilium-health/responder]=cilium-health-responder
    [tools/mount]=cilium-mount
    [tools/sysctlfix]=cilium-sysctlfix
    [plugins/cilium-cni]=cilium-cni
)

if [[ "$(cat "$OUT/.stamp" 2>/dev/null)" == "$STAMP" ]]; then
    log "cilium $CILIUM_VERSION: cached"
else
    START=$SECONDS
    log "cilium $CILIUM_VERSION: building agent, CLI and operator (about 15 min on 2 cores with an empty Go cache)"
    src="$(module_dir "github.com/cilium/cilium@v$CILIUM_VERSION" "$CILIUM_MODULE_SUM")"
    work="$(mktemp -d)"
    trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
    # The module cache is read-only and -mod=mod may update go.sum: build in a copy.
    cp -r "$src/." "$work/"
    chmod -R u+w "$work"
    # "VERSION REVISION DATE", as upstream's Makefile stamps it (the agent
    # reports it only in that form): the tag's commit and time from the proxy.
    stamp_version="$(go mod download -json "github.com/cilium/cilium@v$CILIUM_VERSION" | python3 -c '
import json, sys
info = json.load(open(json.load(sys.stdin)["Info"]))
print(info["Origin"]["Hash"][:10], info["Time"])')"
    ldflags="-s -w -X 'github.com/cilium/cilium/pkg/version.ciliumVersion=$CILIUM_VERSION $stamp_version'"
    rm -rf "$OUT.new"
    mkdir -p "$OUT.new/bin" "$OUT.new/share"
    for pkg in "${!AGENT_SIDE[@]}"; do
        t=$SECONDS
        (cd "$work" && go build -trimpath -tags osusergo -ldflags "$ldflags" \
            -o "$OUT.new/bin/${AGENT_SIDE[$pkg]}" "./$pkg")
        log "  ${AGENT_SIDE[$pkg]}: $((SECONDS - t)) s"
    done
    t=$SECONDS
    (cd "$work" && go build -trimpath -tags osusergo,ipam_provider_operator -ldflags "$ldflags" \
        -o "$OUT.new/bin/cilium-operator-generic" ./operator)
    log "  cilium-operator-generic: $((SECONDS - t)) s"
    # What the agent image carries besides binaries (images/cilium/Dockerfile):
    # the datapath sources for /var/lib/cilium/bpf and the CNI install scripts.
    cp -r "$work/bpf" "$OUT.new/share/bpf"
    install -m 0755 "$work/plugins/cilium-cni/install-plugin.sh" "$work/plugins/cilium-cni/cni-uninstall.sh" \
        "$work/images/cilium/init-container.sh" "$OUT.new/share/"
    printf '%s\n' "$STAMP" >"$OUT.new/.stamp"
    rm -rf "$OUT"
    mv "$OUT.new" "$OUT"
    log "cilium $CILIUM_VERSION: built in $((SECONDS - START)) s"
fi

"$BIN/cilium-agent" --version >&2
printf 'PJ_CILIUM_BIN=%s\nPJ_CILIUM_SHARE=%s\n' "$BIN" "$SHARE"
