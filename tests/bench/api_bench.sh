#!/usr/bin/env bash
# nftproxy against the test API server (tests/apiserver) holding S services
# x E endpoints, in a throw-away network namespace (never the host's
# ruleset): the time from start to the first full sync, the daemon's RSS,
# and the latency from an EndpointSlice change written to the API (curl
# PATCH, and kubectl apply) to the sync that committed it to the kernel.
#   usage: api_bench.sh BUILD_DIR [SERVICES] [ENDPOINTS] [CHANGES]
#
# MODE=isolated (the default): CHANGES (10) endpoint changes, each after a
# 2.1 s wait so that the sync rate limit (--min-sync-period 1s, a burst of
# 2) does not hold it back; medians, in prose.
#
# MODE=sequential: CHANGES (default 1000) endpoint changes with the daemon
# run with --min-sync-period 0 (every change synced at once), one at a time:
# each is sent when the previous one is committed (at most CHANGE_TIMEOUT
# seconds, default 10, for each). Change k replaces one endpoint of service
# k % SERVICES by a fresh address (gen_api_objects.js --changes), so every
# change changes the table. Prints
#   latency_event_commit_ms p50=.. p90=.. p99=.. max=.. n=..
#     the daemon's klog time of "watch endpointslices: MODIFIED <slice>"
#     (the event read and parsed) to that of the next "table ... now holds"
#     line (nft/sync.c, --v 4: the kernel has acknowledged the batch; one
#     thread, so the next sync holds the change), or of the next "synced
#     table" line when the daemon does not log the former
#   latency_patch_commit_ms p50=.. p90=.. p99=.. max=.. n=..
#     just before curl's merge PATCH is started (in the namespace, no
#     ip-netns-exec in between) to the same commit
# then event_synced_ms, to the "synced table" line (the end of the sync,
# after the UDP conntrack flush), and the daemon's own sync time. Each
# change's numbers go to OUT/api-seq-SxE-C.tsv, the daemon's log beside it
# (OUT defaults to ./bench-out).
#   MODE=sequential OUT=/tmp/out tests/bench/api_bench.sh build 10000 10 1000
set -euo pipefail
mode=${MODE:-isolated}
case $mode in
isolated) dflt_changes=10 ;;
sequential) dflt_changes=1000 ;;
*) echo "MODE must be isolated or sequential, not \"$mode\"" >&2; exit 2 ;;
esac
build=$(cd "${1:?build dir}" && pwd); svcs=${2:-10000}; eps=${3:-10}; changes=${4:-$dflt_changes}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ns="nftp-apibench-$$"
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns() { ip netns exec "$ns" "$@"; }

# Not through in_ns: $! must be node itself (ip netns exec execs it), not a
# subshell whose kill would leave node running in the deleted namespace.
ip netns exec "$ns" node "$repo/tests/apiserver/apiserver.js" --dir "$tmp/api" --listen 127.0.0.1:6443 --quiet \
	>"$tmp/api.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do [[ -s $tmp/api/ready ]] && break; sleep 0.05; done
[[ -s $tmp/api/ready ]] || { cat "$tmp/api.log"; exit 1; }
token=$(cat "$tmp/api/token")
api() { in_ns curl -sS -f --cacert "$tmp/api/ca.crt" -H "Authorization: Bearer $token" "$@"; }

node "$here/gen_api_objects.js" "$svcs" "$eps" >"$tmp/objects.json"
t0=$(date +%s.%N)
api -X POST -H 'Content-Type: application/json' --data-binary @"$tmp/objects.json" \
	https://127.0.0.1:6443/_test/bulk >/dev/null
echo "loaded $svcs services x $eps endpoints into the test API server in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"

# klog time of day (I1201 21:48:42.974773) and date's, in seconds.
klog_s() { awk '{ split($2, t, ":"); printf "%.6f\n", t[1] * 3600 + t[2] * 60 + t[3] }'; }
# next_sync_s N0: waits (3 s at most) for a sync line after the first N0
# and prints its klog time of day in seconds.
next_sync_s() {
	for _ in $(seq 300); do
		(($(grep -c 'synced table' "$tmp/nftproxy.log") > $1)) && break
		sleep 0.01
	done
	grep 'synced table' "$tmp/nftproxy.log" | tail -1 | klog_s
}
now_s() { date +%H:%M:%S.%N | awk '{ split($1, t, ":"); printf "%.6f\n", t[1] * 3600 + t[2] * 60 + t[3] }'; }

# MODE=sequential. seq_loop runs inside the namespace (ip netns exec bash),
# so that nothing but curl's own start lies between the timestamp and the
# request; it reads the daemon's log from the file descriptor LFD (a tail -F)
# and writes one row per change:
#   k slice patch_start patch_end (epoch s) event commit synced (klog time
#   of day) messages full syncs_before sync_ms curl_tls_s curl_total_s status
# synced is the "synced table" line, the end of the sync (after the UDP
# conntrack flush, when there is one); commit is the line "table ... now
# holds" that a daemon logging it at --v 4 prints once the kernel has
# acknowledged the batch, before that flush, else the same as synced.
seq_loop() {
	local lfd=$1 changes=$2 raw=$3 timeout=$4 cacert=$5 token=$6
	local k=0 name body ta tb te tc ts msgs full other sync_ms cw status line left frac
	local deadline now rc fails=0
	exec 3<"$changes"
	while IFS=$'\t' read -r name body <&3; do
		ta=$EPOCHREALTIME
		cw=$(curl -sS -f -o /dev/null -w '%{time_appconnect} %{time_total}' --cacert "$cacert" \
			-H "Authorization: Bearer $token" -X PATCH \
			-H 'Content-Type: application/merge-patch+json' --data "$body" \
			"https://127.0.0.1:6443/apis/discovery.k8s.io/v1/namespaces/bench/endpointslices/$name") ||
			cw="- -"
		tb=$EPOCHREALTIME
		te=- tc=- ts=- msgs=- full=0 other=0 sync_ms=- status=timeout
		deadline=$((${ta/./} + timeout * 1000000))
		while :; do
			now=${EPOCHREALTIME/./}
			left=$((deadline - now))
			((left > 0)) || break
			printf -v frac %06d $((left % 1000000))
			rc=0
			IFS= read -r -t "$((left / 1000000)).$frac" -u "$lfd" line || rc=$?
			((rc == 0)) || { ((rc > 128)) && break; status=eof; break; }
			case $line in
			*" watch endpointslices: MODIFIED $name")
				[[ $te == - ]] && te=${line:6:15} ;;
			*"] table "*" now holds "*)
				[[ $te != - && $tc == - ]] && tc=${line:6:15} ;;
			*"] synced table "*)
				if [[ $te == - ]]; then
					other=$((other + 1))
					continue
				fi
				ts=${line:6:15}
				[[ $tc == - ]] && tc=$ts
				[[ $line == *" (full): "* ]] && full=1
				if [[ $line =~ \ ([0-9]+)\ messages,.*\ in\ ([0-9.]+)\ ms ]]; then
					msgs=${BASH_REMATCH[1]} sync_ms=${BASH_REMATCH[2]} status=ok
				elif [[ $line =~ nothing\ to\ send,\ ([0-9.]+)\ ms ]]; then
					msgs=0 sync_ms=${BASH_REMATCH[1]} status=nothing-sent
				fi
				break ;;
			esac
		done
		[[ $cw == "- -" && $status == timeout ]] && status=patch-failed
		printf '%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$k" "$name" "$ta" \
			"$tb" "$te" "$tc" "$ts" "$msgs" "$full" "$other" "$sync_ms" "${cw% *}" "${cw#* }" "$status" >>"$raw"
		[[ $status == eof ]] && { echo "the daemon's log ended" >&2; return 1; }
		if [[ $status == ok || $status == nothing-sent ]]; then
			fails=0
		elif ((++fails >= 5)); then
			echo "change $k: 5 changes in a row not committed ($status); giving up" >&2
			return 1
		fi
		k=$((k + 1))
	done
}

# pct_line NAME COLUMN_EXPR: p50/p90/p99/max (nearest rank) of the rows'
# latencies in ms, from stdin (one number a line).
pct_line() {
	sort -g | awk -v name="$1" '{ v[NR] = $1 } END {
		if (!NR) { printf "%s n=0\n", name; exit }
		split("50 90 99", p, " ")
		printf "%s", name
		for (i = 1; i <= 3; i++) { r = int((p[i] * NR + 99) / 100); printf " p%d=%.3f", p[i], v[r] }
		printf " max=%.3f n=%d\n", v[NR], NR }'
}

sequential_changes() {
	local out raw tailpid tz t0 rc=0
	out=${OUT:-$(pwd)/bench-out}
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
	raw="$out/api-seq-${svcs}x${eps}-${changes}.tsv"
	node "$here/gen_api_objects.js" --changes "$changes" "$svcs" "$eps" >"$tmp/changes.tsv"
	printf 'k\tslice\tpatch_start\tpatch_end\tevent\tcommit\tsynced\tmessages\tfull\tsyncs_before\tsync_ms\tcurl_tls_s\tcurl_total_s\tstatus\n' >"$raw"
	exec {lfd}< <(exec tail -n 0 -F "$tmp/nftproxy.log" 2>/dev/null)
	tailpid=$!
	pids+=("$tailpid")
	sleep 0.3  # tail has opened the log: no line is missed
	echo "sequential: $changes endpoint changes, one at a time, --min-sync-period 0"
	t0=$EPOCHREALTIME
	in_ns bash -c "set -u; $(declare -f seq_loop); seq_loop \"\$@\"" seq_loop "$lfd" "$tmp/changes.tsv" \
		"$raw" "${CHANGE_TIMEOUT:-10}" "$tmp/api/ca.crt" "$token" || rc=$?
	exec {lfd}<&-
	kill "$tailpid" 2>/dev/null || true
	cp "$tmp/nftproxy.log" "$out/api-seq-${svcs}x${eps}-${changes}-nftproxy.log"
	# klog prints local time of day; the epoch stamps become the same.
	tz=$(date +%z | awk '{ s = substr($1, 1, 1) == "-" ? -1 : 1; print s * (substr($1, 2, 2) * 3600 + substr($1, 4, 2) * 60) }')
	tod_ms='function tod(x, t) { if (x ~ /:/) { split(x, t, ":"); return t[1] * 3600 + t[2] * 60 + t[3] } return (x + tz) % 86400 }
		function ms(a, b, d) { d = tod(b) - tod(a); if (d < -43200) d += 86400; if (d > 43200) d -= 86400; return d * 1000 }'
	awk -F'\t' -v tz="$tz" "$tod_ms"' NR > 1 && $14 == "ok" { print ms($5, $6) }' "$raw" | pct_line latency_event_commit_ms
	awk -F'\t' -v tz="$tz" "$tod_ms"' NR > 1 && $14 == "ok" { print ms($3, $6) }' "$raw" | pct_line latency_patch_commit_ms
	# The end of the sync, its own timing, and how the rows were paired.
	awk -F'\t' -v tz="$tz" "$tod_ms"' NR > 1 && $14 == "ok" { print ms($5, $7) }' "$raw" | pct_line "  event_synced_ms"
	awk -F'\t' 'NR > 1 && $14 == "ok" { print $11 }' "$raw" | pct_line "  sync_total_ms (the daemon's \"in X ms\")"
	awk -F'\t' -v t0="$t0" -v t1="$EPOCHREALTIME" 'NR > 1 { n++; st[$14]++; full += $9; other += $10; if ($14 == "ok") msgs[$8]++ }
		END { printf "  changes=%d committed=%d nothing_sent=%d timeouts=%d patch_failed=%d full_syncs=%d other_syncs=%d wall_s=%.1f messages_per_commit:",
			n, st["ok"], st["nothing-sent"], st["timeout"], st["patch-failed"], full, other, t1 - t0
			for (m in msgs) printf " %s=%d", m, msgs[m]; printf "\n" }' "$raw"
	echo "  raw: $raw"
	echo "nftproxy RSS after the changes: $(awk '/VmRSS/ { printf "%.1f MiB", $2 / 1024 }' /proc/$np/status)," \
		"peak $(awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' /proc/$np/status)"
	return "$rc"
}

daemon_flags=()
[[ $mode == sequential ]] && daemon_flags=(--min-sync-period 0)
ip netns exec "$ns" "$build/cmd/nftproxy" --kubeconfig "$tmp/api/kubeconfig" --hostname-override bench-node \
	--v 4 "${daemon_flags[@]}" >"$tmp/nftproxy.log" 2>&1 &
np=$!
pids+=($np)
for _ in $(seq 1200); do grep -q 'first sync of table' "$tmp/nftproxy.log" && break; sleep 0.05; done
grep 'first sync of table' "$tmp/nftproxy.log" | sed 's/.*\] //'
grep 'listed everything' "$tmp/nftproxy.log" | sed 's/.*\] /  /'
grep -E 'listed [0-9]+ (services|endpointslices)' "$tmp/nftproxy.log" | sed 's/.*\] /  /'
grep 'synced table .*(full)' "$tmp/nftproxy.log" | head -1 | sed 's/.*\] /  /'
sleep 1
echo "nftproxy RSS after the first sync: $(awk '/VmRSS/ { printf "%.1f MiB", $2 / 1024 }' /proc/$np/status)," \
	"peak $(awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' /proc/$np/status)"

warnings() {
	grep -cE '^[EW]' "$tmp/nftproxy.log" | awk '{ print "warnings and errors in the nftproxy log: " $1 }'
}
if [[ $mode == sequential ]]; then
	sequential_changes
	warnings
	exit 0
fi

# One endpoint more, then one less, on the same slice, by merge patch.
lat=()
inproc=()
for ((k = 0; k < changes; k++)); do
	# Even k adds an endpoint to a slice picked at random, odd k removes it.
	((k % 2)) || i=$((RANDOM % svcs))
	sleep 2.1  # out of the sync rate limit: an isolated change
	n0=$(grep -c 'synced table' "$tmp/nftproxy.log")
	body=$(node -e '
		const [i, m, k] = process.argv.slice(1).map(Number);
		const ip = (b, x) => `10.${b + (x >> 16)}.${(x >> 8) & 255}.${x & 255}`;
		const eps = [];
		for (let j = 0; j < m + (k % 2 ? 0 : 1); j++) eps.push({ addresses: [ip(224, i * m + j)], conditions: { ready: true } });
		if (k % 2 === 0) eps[m].addresses = [ip(232, i)];
		process.stdout.write(JSON.stringify({ endpoints: eps }));' "$i" "$eps" "$k")
	t0=$(now_s)
	api -X PATCH -H 'Content-Type: application/merge-patch+json' --data "$body" \
		"https://127.0.0.1:6443/apis/discovery.k8s.io/v1/namespaces/bench/endpointslices/svc-$i-abcde" >/dev/null
	t1=$(now_s)
	t2=$(next_sync_s "$n0")
	te=$(grep "watch endpointslices: MODIFIED svc-$i-abcde" "$tmp/nftproxy.log" | tail -1 | klog_s)
	inproc+=("$(awk -v a="$te" -v b="$t2" 'BEGIN { printf "%.2f", (b - a) * 1000 }')")
	lat+=("$(awk -v s="$t0" -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f %.1f", (b - s) * 1000, (b - a) * 1000 }')")
done
# From the start of curl (its process start, TLS handshake and request
# included: an upper bound) and from its exit (negative when the rule was
# committed before curl had even exited).
printf '%s\n' "${lat[@]}" | sort -n | awk '{ s[NR] = $1; e[NR] = $2 } END {
	printf "PATCH of one EndpointSlice -> committed to the kernel (%d changes): median %.1f ms from the start of curl (min %.1f, max %.1f), %.1f ms after it exited\n",
		NR, s[int((NR + 1) / 2)], s[1], s[NR], e[int((NR + 1) / 2)] }'
printf '%s\n' "${inproc[@]}" | sort -n | awk '{ v[NR] = $1 } END {
	printf "  inside nftproxy, watch event decoded -> batch committed: median %.2f ms (min %.2f, max %.2f)\n",
		v[int((NR + 1) / 2)], v[1], v[NR] }'
grep 'synced table' "$tmp/nftproxy.log" | tail -1 | sed 's/.*\] /  last: /'

# The same through kubectl apply (discovery, GET, strategic merge PATCH).
if command -v kubectl >/dev/null; then
	klat=()
	for ((k = 0; k < 5; k++)); do
		i=$((RANDOM % svcs))
		sleep 2.1
		n0=$(grep -c 'synced table' "$tmp/nftproxy.log")
		node -e '
			const [i, m] = process.argv.slice(1).map(Number);
			const ip = (b, x) => `10.${b + (x >> 16)}.${(x >> 8) & 255}.${x & 255}`;
			const eps = [];
			for (let j = 0; j < m - 1; j++) eps.push({ addresses: [ip(224, i * m + j)], conditions: { ready: true } });
			process.stdout.write(JSON.stringify({ apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice",
				metadata: { name: `svc-${i}-abcde`, namespace: "bench", labels: { "kubernetes.io/service-name": `svc-${i}` } },
				addressType: "IPv4", ports: [{ name: "http", port: 8080, protocol: "TCP" }], endpoints: eps }));' \
			"$i" "$eps" >"$tmp/slice.json"
		ta=$(now_s)
		in_ns kubectl --kubeconfig "$tmp/api/kubeconfig" --cache-dir "$tmp/kcache" apply -f "$tmp/slice.json" >/dev/null 2>&1
		tb=$(now_s)
		t2=$(next_sync_s "$n0")
		klat+=("$(awk -v a="$ta" -v b="$tb" -v c="$t2" 'BEGIN { printf "%.1f %.1f", (c - a) * 1000, (c - b) * 1000 }')")
	done
	printf '%s\n' "${klat[@]}" | sort -n | awk '{ s[NR] = $1; e[NR] = $2 } END {
		printf "kubectl apply of one EndpointSlice -> committed (%d changes): median %.1f ms from its start, %.1f ms after it returned (max %.1f / %.1f)\n",
			NR, s[int((NR + 1) / 2)], e[int((NR + 1) / 2)], s[NR], e[NR] }'
fi
warnings
