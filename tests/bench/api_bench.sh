#!/usr/bin/env bash
# nftproxy against the test API server (tests/apiserver) holding S services
# x E endpoints, in a throw-away network namespace (never the host's
# ruleset): the time from start to the first full sync, the daemon's RSS,
# and the latency from an EndpointSlice change written to the API (curl
# PATCH, and kubectl apply) to the sync that committed it to the kernel.
#   usage: api_bench.sh BUILD_DIR [SERVICES] [ENDPOINTS] [CHANGES]
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd); svcs=${2:-10000}; eps=${3:-10}; changes=${4:-10}
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

in_ns node "$repo/tests/apiserver/apiserver.js" --dir "$tmp/api" --listen 127.0.0.1:6443 --quiet \
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

ip netns exec "$ns" "$build/cmd/nftproxy" --kubeconfig "$tmp/api/kubeconfig" --hostname-override bench-node \
	--v 4 >"$tmp/nftproxy.log" 2>&1 &
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
grep -cE '^[EW]' "$tmp/nftproxy.log" | awk '{ print "warnings and errors in the nftproxy log: " $1 }'
