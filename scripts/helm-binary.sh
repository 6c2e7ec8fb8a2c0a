#!/usr/bin/env bash
# Builds the pinned Helm client from the Go module proxy (no download site is
# reachable from our machines) into the cache, once; prints its path.
set -euo pipefail
. "$(dirname "$0")/common.sh"
HELM_VERSION="v3.19.5"
bin="$PJ_CACHE/helm/$HELM_VERSION/bin/helm"
if [[ ! -x $bin ]]; then
  echo "helm-binary: building helm $HELM_VERSION with $(go version | cut -d' ' -f3)" >&2
  GOBIN="$(dirname "$bin")" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
fi
echo "$bin"
