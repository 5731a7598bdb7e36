#!/usr/bin/env bash
# Side by side, in this session: kube-proxy's nftables layout loaded with one
# `nft -f` (kubeproxy_baseline.sh) and nftproxy's cold full sync
# (bench_sync), for the same S services x E endpoints, each in its own
# throw-away network namespace. Prints both times and the ratio.
# usage: compare.sh BUILD_DIR [S] [E] [ROUNDS]
set -euo pipefail
build=${1:?build dir}; S=${2:-10000}; E=${3:-10}; rounds=${4:-1}
here=$(cd "$(dirname "$0")" && pwd)
for ((r = 1; r <= rounds; r++)); do
	kp=$(VERIFY=0 "$here/kubeproxy_baseline.sh" "$S" "$E" 2>/dev/null | tail -n 1 |
		sed -E 's/.* seconds=([0-9.]+).*/\1/')
	ours=$("$here/bench_sync.sh" "$build" "$S" "$E" | sed -n -E 's/^cold_seconds=([0-9.]+).*/\1/p')
	awk -v s="$S" -v e="$E" -v kp="$kp" -v us="$ours" -v r="$r" 'BEGIN {
		printf "round %d: services=%d endpoints=%d kube-proxy-layout-nft-f=%.2fs nftproxy-cold-sync=%.2fs ratio=1/%.1f\n",
			r, s, e, kp, us, kp / us }'
done
