#!/usr/bin/env bash
# Runs bench_sync in a throw-away network namespace: never the host's ruleset.
# usage: bench_sync.sh BUILD_DIR SERVICES ENDPOINTS
set -euo pipefail
build=${1:?build dir}; svcs=${2:-1000}; eps=${3:-10}
ns="nftp-bench-$$"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip netns add "$ns"
ip netns exec "$ns" "$build/tests/bench/bench_sync" "$svcs" "$eps"
