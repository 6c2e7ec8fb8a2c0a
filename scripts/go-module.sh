# shellcheck shell=bash
# Fetch a Go module from the module proxy and check it against its pinned h1:
# hash (k8s/versions.env) before anything is built from it. Sourced by the
# build scripts; they define log().

# Go lives in /usr/local/go on the project machines; PATH may not name it.
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
# How every build here runs: -mod=mod, as wrapper modules and module copies
# resolve their go.sum on the fly; never fetch another Go toolchain; no cgo,
# as upstream builds these programs.
export GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0

# module_dir MODULE@VERSION SUM: download, compare the hash, print its directory.
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
