#!/usr/bin/env bash
# The control-plane benchmark of docs/PERFORMANCE.md, one command:
#
#   tests/bench/controlplane.sh BUILD_DIR [OUT_DIR]
#
# For every N in $SERVICES (default "1000 10000 30000 100000") and M in
# $ENDPOINTS (default "3 10"), in throw-away network namespaces (never the
# host's ruleset):
#   - bench_sync N M: nftproxy's cold full sync (userspace and kernel time,
#     batch bytes and messages, peak RSS), then the medians of $REPEAT
#     (default 5) one-endpoint changes, endpoint additions and removals,
#     service additions and deletions;
#   - `nftproxyctl dump` and `nft list table` of the result, timed;
#   - the libnftables baseline: that listing loaded by `nft -f` into a fresh
#     namespace (one transaction), and a one-endpoint change of the same
#     shape as ours (a new endpoint chain, its rules, the LB map slot moved
#     to it) applied to it by `nft -f`.
# Each step is bounded by $TIMEOUT seconds (default 900); a step that runs
# out is recorded as "timeout". Results: OUT_DIR/results.tsv (one row per
# N x M), the raw outputs beside it, and SVG plots when gnuplot is there.
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd)
out=${2:-$(pwd)/bench-out}
here=$(cd "$(dirname "$0")" && pwd)
services=${SERVICES:-1000 10000 30000 100000}
endpoints=${ENDPOINTS:-3 10}
repeat=${REPEAT:-5}
limit=${TIMEOUT:-900}
mkdir -p "$out"
nss=()
cleanup() {
	local ns
	for ns in "${nss[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
fresh_ns() {
	local ns="nftp-cp-$$-$1"
	ip netns del "$ns" 2>/dev/null || true
	ip netns add "$ns"
	nss+=("$ns")
	echo "$ns"
}
drop_ns() { ip netns del "$1" 2>/dev/null || true; }

# timed SECONDS_VAR CMD...: runs CMD (bounded), sets the variable to its
# wall time in seconds, or "timeout" / "failed".
timed() {
	local var=$1 t0 rc=0
	shift
	t0=$(date +%s.%N)
	timeout "$limit" "$@" || rc=$?
	if ((rc == 124)); then
		printf -v "$var" timeout
	elif ((rc != 0)); then
		printf -v "$var" failed
	else
		printf -v "$var" '%s' "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')"
	fi
}

kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" "$2" | tail -1; }

cols="services endpoints cold_s cold_user_ms cold_kernel_ms cold_messages cold_bytes rss_peak_kb rss_after_kb"
for op in one_endpoint endpoint_add endpoint_remove service_add service_delete; do
	cols+=" ${op}_user_ms ${op}_kernel_ms ${op}_bytes"
done
cols+=" restart_s dump_s nft_list_s nft_f_load_s nft_f_one_endpoint_s"
echo "$cols" | tr ' ' '\t' >"$out/results.tsv"

for n in $services; do
	for m in $endpoints; do
		echo "== $n services x $m endpoints"
		tag="$n-$m"
		ns=$(fresh_ns a)
		timed t_bench env BENCH_REPEAT="$repeat" ip netns exec "$ns" \
			"$build/tests/bench/bench_sync" "$n" "$m" >"$out/bench-$tag.txt" 2>"$out/bench-$tag.err"
		f="$out/bench-$tag.txt"
		if [[ $t_bench == timeout || $t_bench == failed ]]; then
			echo "   bench_sync: $t_bench (see $out/bench-$tag.err)"
		fi
		timed t_dump ip netns exec "$ns" "$build/cmd/nftproxyctl" dump >/dev/null
		timed t_list sh -c "ip netns exec '$ns' nft list table inet nftproxy >'$out/table-$tag.nft'"
		drop_ns "$ns"
		t_load=skipped t_one=skipped
		if [[ $t_list != timeout && $t_list != failed ]]; then
			ns=$(fresh_ns b)
			timed t_load ip netns exec "$ns" nft -f "$out/table-$tag.nft"
			if [[ $t_load != timeout && $t_load != failed ]]; then
				# Our one-endpoint batch, in nft's words: a new endpoint
				# chain with its two rules, slot 1 of the first LB map
				# moved to it.
				cat >"$out/one-endpoint-$tag.nft" <<EON
add chain inet nftproxy ep-BENCHNEW-x/y/tcp/http__10.255.255.1/8080
add rule inet nftproxy ep-BENCHNEW-x/y/tcp/http__10.255.255.1/8080 ip saddr 10.255.255.1 meta mark set meta mark | 0x00004000
add rule inet nftproxy ep-BENCHNEW-x/y/tcp/http__10.255.255.1/8080 meta l4proto tcp dnat ip to 10.255.255.1:8080
delete element inet nftproxy lb-0000 { 1 }
add element inet nftproxy lb-0000 { 1 : goto ep-BENCHNEW-x/y/tcp/http__10.255.255.1/8080 }
EON
				timed t_one ip netns exec "$ns" nft -f "$out/one-endpoint-$tag.nft"
			fi
			drop_ns "$ns"
		fi
		row="$n $m $(kv cold_seconds "$f") $(awk -v c="$(kv cold_compile_ms "$f")" -v s="$(kv cold_send_ms "$f")" -v k="$(kv cold_kernel_ms "$f")" 'BEGIN { printf "%.1f", c + s - k }')"
		row+=" $(kv cold_kernel_ms "$f") $(kv cold_messages "$f") $(kv cold_bytes "$f")"
		row+=" $(kv rss_peak_cold_kb "$f") $(kv rss_after_cold_kb "$f")"
		for op in one_endpoint endpoint_add endpoint_remove service_add service_delete; do
			row+=" $(kv ${op}_median_user_ms "$f") $(kv ${op}_median_kernel_ms "$f") $(kv ${op}_bytes "$f")"
		done
		row+=" $(kv restart_seconds "$f") $t_dump $t_list $t_load $t_one"
		# Missing values (a timed-out bench) read as "-".
		echo "$row" | awk '{ for (i = 1; i <= NF; i++) if ($i == "") $i = "-"; print }' OFS='\t' |
			tr ' ' '\t' >>"$out/results.tsv"
		echo "   cold $(kv cold_seconds "$f") s (kernel $(kv cold_kernel_ms "$f") ms), one endpoint" \
			"$(kv one_endpoint_median_user_ms "$f") ms user + $(kv one_endpoint_median_kernel_ms "$f") ms kernel;" \
			"nft -f load $t_load s, nft -f one endpoint $t_one s; dump $t_dump s"
	done
done

column -t "$out/results.tsv"
if command -v gnuplot >/dev/null; then
	for m in 3 10; do awk -F'\t' -v m="$m" 'NR > 1 && $2 == m' "$out/results.tsv" >"$out/results-m$m.tsv"; done
	gnuplot -e "outdir='$out'" "$here/controlplane.gp" &&
		echo "plots: $out/cold-sync.svg $out/one-endpoint.svg"
else
	echo "gnuplot is not installed (apt-get install gnuplot-nox): no plots"
fi
