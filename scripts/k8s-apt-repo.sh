#!/usr/bin/env bash
# A local Debian repository for the lab, laid out like pkgs.k8s.io's
# (flat: `deb [signed-by=KEY] URL /`, key at URL/Release.key): packages
# kubeadm, kubelet and kubectl at the pinned version (as 1.34.4-1.1, the way
# pkgs.k8s.io numbers them), built from scripts/k8s-binaries.sh --node with
# the kubelet unit and kubeadm's 10-kubeadm.conf drop-in as upstream ships
# them (lab/k8s-debs/), signed with a lab key made once on this machine.
# The kubeadm role installs from it exactly as from pkgs.k8s.io, fingerprint
# check included.
#
# Output (stdout, last lines): PJ_K8S_APT_REPO=<dir to serve over HTTP> and
# PJ_K8S_APT_KEY_FINGERPRINT=<the lab key's fingerprint>. Serve the directory
# with e.g. `python3 -m http.server --bind <lab gateway> PORT --directory DIR`.
# Packages whose binaries and recipe did not change are not rebuilt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/k8s/versions.env"
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"

log() { printf 'k8s-apt-repo: %s\n' "$*" >&2; }

command -v gpg >/dev/null || { log "gpg is missing (apt-get install gpg)"; exit 1; }
START=$SECONDS
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/packetjungle-datapath/k8s"
REPO="$CACHE/$K8S_VERSION/apt"
export GNUPGHOME="$CACHE/apt-key"
BIN="$("$ROOT/scripts/k8s-binaries.sh" --node | sed -n 's/^PJ_K8S_BIN=//p')"
VERSION="${K8S_VERSION#v}-1.1"
RECIPE="$(cat "${BASH_SOURCE[0]}" "$ROOT"/lab/k8s-debs/* | sha256sum | cut -c1-16)"
mkdir -p "$REPO"

# The lab's signing key: made once, kept with the cache (never in the repository).
if [[ ! -s "$GNUPGHOME/fingerprint" ]]; then
    install -d -m 0700 "$GNUPGHOME"
    gpg --batch --quiet --passphrase '' --quick-gen-key \
        'packetjungle.datapath lab packages <lab@packetjungle.invalid>' rsa3072 sign never
    gpg --batch --with-colons --list-keys | awk -F: '/^fpr:/ { print $10; exit }' >"$GNUPGHOME/fingerprint"
    log "made the lab signing key $(cat "$GNUPGHOME/fingerprint")"
fi
FPR="$(cat "$GNUPGHOME/fingerprint")"

# deb NAME DEPENDS DESCRIPTION [PATH-IN-PACKAGE=SOURCE:MODE]...
deb() {
    local name="$1" depends="$2" description="$3" file stamp work spec path src mode
    shift 3
    file="$REPO/${name}_${VERSION}_amd64.deb"
    stamp="$RECIPE"
    for spec in "$@"; do
        src="${spec#*=}"
        stamp+=" $(sha256sum "${src%:*}" | cut -c1-16)"
    done
    if [[ -s "$file" && "$(cat "$REPO/.$name.stamp" 2>/dev/null)" == "$stamp" ]]; then
        log "$name $VERSION: cached"
        return
    fi
    work="$(mktemp -d)"
    for spec in "$@"; do
        path="${spec%%=*}"
        src="${spec#*=}"
        mode="${src##*:}"
        install -D -m "$mode" "${src%:*}" "$work/pkg$path"
    done
    install -d "$work/pkg/DEBIAN"
    cat >"$work/pkg/DEBIAN/control" <<EOF
Package: $name
Version: $VERSION
Architecture: amd64
Maintainer: packetjungle.datapath lab <lab@packetjungle.invalid>
${depends:+Depends: $depends
}Section: admin
Priority: optional
Homepage: https://kubernetes.io
Description: $description
 Built for the packetjungle.datapath lab from k8s.io/kubernetes $K8S_VERSION
 (Go module proxy); not an upstream package.
EOF
    if [[ $name == kubelet ]]; then
        # The static pod directory ships with upstream's kubelet package too.
        install -d -m 0755 "$work/pkg/etc/kubernetes/manifests"
        # Enabled as upstream's package does; kubeadm starts it once it has a config.
        cat >"$work/pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable kubelet.service
fi
EOF
        chmod 0755 "$work/pkg/DEBIAN/postinst"
    fi
    # No compression: the repository is local, and xz over 80 MB binaries
    # costs minutes on two shared cores.
    dpkg-deb --root-owner-group -Znone --build "$work/pkg" "$file" >/dev/null
    rm -rf "$work"
    printf '%s\n' "$stamp" >"$REPO/.$name.stamp"
    log "$name $VERSION: built ($(du -h "$file" | cut -f1))"
    REINDEX=true
}

REINDEX=false
[[ -s "$REPO/InRelease" && -s "$REPO/Release.key" ]] || REINDEX=true

deb kubectl "" "Command-line client for Kubernetes" \
    "/usr/bin/kubectl=$BIN/kubectl:0755"
deb kubelet "iptables (>= 1.4.21), iproute2, mount" "Kubernetes node agent" \
    "/usr/bin/kubelet=$BIN/kubelet:0755" \
    "/usr/lib/systemd/system/kubelet.service=$ROOT/lab/k8s-debs/kubelet.service:0644"
deb kubeadm "kubelet (>= 1.34.0), kubectl (>= 1.34.0)" "Kubernetes cluster bootstrapping tool" \
    "/usr/bin/kubeadm=$BIN/kubeadm:0755" \
    "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf=$ROOT/lab/k8s-debs/10-kubeadm.conf:0644"

# Index and signatures, as a flat repository (`deb URL /`); only when a
# package changed, so apt on the nodes sees the same InRelease otherwise.
[[ $REINDEX == false ]] || (
    cd "$REPO"
    # What dpkg-scanpackages writes, from dpkg-deb alone (dpkg-dev is not on every machine).
    for f in ./*.deb; do
        dpkg-deb -f "$f"
        printf 'Filename: %s\nSize: %s\nSHA256: %s\n\n' "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
    done >Packages
    gzip -9nc Packages >Packages.gz
    {
        printf 'Origin: packetjungle.datapath lab\nLabel: kubernetes %s\n' "$K8S_VERSION"
        printf 'Architectures: amd64\nDate: %s\n' "$(date -u -R)"
        printf 'SHA256:\n'
        for f in Packages Packages.gz; do
            printf ' %s %s %s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"
        done
    } >Release
    rm -f InRelease Release.gpg
    gpg --batch --quiet --yes --local-user "$FPR" --clearsign -o InRelease Release
    gpg --batch --quiet --yes --local-user "$FPR" --armor --detach-sign -o Release.gpg Release
    gpg --batch --quiet --yes --armor --export "$FPR" >Release.key
)
log "repository $REPO signed by $FPR in $((SECONDS - START)) s"
printf 'PJ_K8S_APT_REPO=%s\nPJ_K8S_APT_KEY_FINGERPRINT=%s\n' "$REPO" "$FPR"
