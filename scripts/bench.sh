#!/usr/bin/env bash
# Benchmarks (timings, never asserted): see docs/benchmarks.md for the method.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$PJ_ROOT"
python bench/site.py "$@"
