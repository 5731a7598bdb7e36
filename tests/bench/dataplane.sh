#!/usr/bin/env bash
# Dataplane benchmark: new TCP connections per second and their latency through one
# ClusterIP while the table holds N services, for nftproxy's table and for kube-proxy's
# iptables-mode rules (the target service's rule last), plus, at the largest N, the
# longest forwarding gap a connection loop sees while nftproxy commits N services cold.
#
#   tests/bench/dataplane.sh BUILD_DIR [--results FILE] [N...]     (default N: 1 1000 10000 30000)
#
# Topology, rebuilt for every (N, implementation) so no state of one run (conntrack
# entries, registered iptables-legacy tables and their hooks) biases the next:
#
#   client ns  eth0 192.0.2.2/24, 10.96.0.0/12 and 10.244.0.0/16 via 192.0.2.1
#   node ns    vclient 192.0.2.1/24, forwarding on; the rules under test live here;
#              svc0 (dummy, ifb or bridge) sinks 10.96.0.0/12: unmatched service traffic
#              is dropped on the node
#   pod ns     eth0 10.244.1.1/32, podserver "pod-1" on TCP 8080
#
# Services: the target bench/target 10.96.0.10:80 -> 10.244.1.1:8080, and N - 1
# fillers bench/svc-I at 10.97.0.0 + I + 1, each with one endpoint 10.245.0.0 + I + 1
# (pods that do not exist: nothing is sent to them). Only addresses inside these
# namespaces are used. Everything the script creates (namespaces, processes, the temp
# dir) is removed by the EXIT trap, on success, failure or signal.
#
# Per N and implementation: DP_REPEAT runs (default 3) of
#   connbench --duration-ms DP_DURATION_MS (5000) --concurrency DP_CONCURRENCY (8)
# from the client to 10.96.0.10:80, the conntrack table flushed before each; the table
# shows medians. Implementations (DP_IMPLS, default "ours legacy nft"):
#   ours    nftproxy --manifests DIR, measured once its log says the first sync is done
#   legacy  iptables_layout.py N | iptables-legacy-restore
#   nft     iptables_layout.py N | iptables-nft-restore
# Gap (when the largest N >= DP_GAP_MIN, default 30000): nftproxy serves only the
# target; `connbench --gap` runs DP_GAP_S seconds (default 40); after 3 s the N-service
# manifest is renamed into the directory, so nftproxy commits one big batch.
#
# DP_KEEP=1 keeps the temp dir (logs, manifests).
# Raw key=value lines go to FILE (or $RESULTS; default tests/bench/dataplane-results.txt).
# Numbers taken on a loaded machine are provisional.
set -Eeuo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [--results FILE] [N...]" >&2
	exit 2
}

(($# >= 1)) || usage
BUILD=$(cd "$1" && pwd) || usage
shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RESULTS=${RESULTS:-$HERE/dataplane-results.txt}
declare -a NS_LIST=()
while (($#)); do
	case $1 in
	--results)
		(($# >= 2)) || usage
		RESULTS=$2
		shift 2
		;;
	-h | --help) usage ;;
	*)
		if ! [[ $1 =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > 65535)); then usage; fi
		NS_LIST+=("$1")
		shift
		;;
	esac
done
((${#NS_LIST[@]})) || NS_LIST=(1 1000 10000 30000)

DURATION_MS=${DP_DURATION_MS:-5000}
REPEAT=${DP_REPEAT:-3}
CONC=${DP_CONCURRENCY:-8}
IMPLS=${DP_IMPLS:-ours legacy nft}
GAP_MIN=${DP_GAP_MIN:-30000}
GAP_S=${DP_GAP_S:-40}
# Caps so that one run stays bounded even on a fast machine.
MAX_CONNS=${DP_MAX_CONNS:-2000000}

NFTPROXY=$BUILD/cmd/nftproxy
NFTPROXYCTL=$BUILD/cmd/nftproxyctl
PODSERVER=$BUILD/tests/integration/podserver
CONNBENCH=$BUILD/tests/bench/connbench
LAYOUT=$HERE/iptables_layout.py

TARGET_IP=10.96.0.10
POD_IP=10.244.1.1
PFX="dp$$"
NODE="$PFX-node"
CLIENT="$PFX-client"
POD="$PFX-pod"
TMP=""
declare -a PIDS=()

log() { printf '[dataplane %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "FAIL: $*"
	exit 1
}

# ---------------------------------------------------------------------------
# Cleanup: every exit path.

kill_pids() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}

topo_down() {
	local ns p
	kill_pids
	for ns in "$CLIENT" "$NODE" "$POD"; do
		ip netns list 2>/dev/null | grep -qw "^$ns" || continue
		# Anything still inside was started by this script (the namespace is ours).
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
}

cleanup() {
	local rc=$?
	set +e +u
	trap - EXIT INT TERM
	topo_down
	if [[ -n $TMP && -d $TMP ]]; then
		if [[ ${DP_KEEP:-0} == 1 ]]; then
			log "kept $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'log "error: line $LINENO: \"$BASH_COMMAND\" exited $?"' ERR

# ---------------------------------------------------------------------------
# Preconditions

[[ $(id -u) == 0 ]] || { echo "dataplane.sh: needs root (network namespaces)" >&2; exit 77; }
for t in ip nft conntrack timeout python3 awk; do
	command -v "$t" >/dev/null || { echo "dataplane.sh: needs '$t'" >&2; exit 77; }
done
for b in "$NFTPROXY" "$NFTPROXYCTL" "$PODSERVER" "$CONNBENCH"; do
	[[ -x $b ]] || die "not built: $b (meson compile -C $BUILD)"
done
for impl in $IMPLS; do
	case $impl in
	ours) ;;
	legacy) command -v iptables-legacy-restore >/dev/null ||
		die "iptables-legacy-restore missing (apt-get install -y iptables)" ;;
	nft) command -v iptables-nft-restore >/dev/null ||
		die "iptables-nft-restore missing (apt-get install -y iptables)" ;;
	*) die "unknown implementation '$impl' in DP_IMPLS" ;;
	esac
done

TMP=$(mktemp -d "/tmp/nftproxy-dataplane.p$$.XXXXXX")
mkdir -p "$(dirname "$RESULTS")"
{
	echo "# dataplane.sh $(date -u +%FT%TZ) host=$(uname -n) kernel=$(uname -r) cpus=$(nproc)" \
		"load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,) duration_ms=$DURATION_MS" \
		"repeat=$REPEAT concurrency=$CONC"
} >>"$RESULTS"

# ---------------------------------------------------------------------------
# Topology

nsx() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

topo_up() {
	local ns k
	for ns in "$NODE" "$CLIENT" "$POD"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	nsx "$NODE" sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 >/dev/null
	# The client opens up to ~100k connections a run: a wide port range, and
	# TIME_WAIT ports reusable (it is the passive closer, so it should hold none).
	nsx "$CLIENT" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" \
		net.ipv4.tcp_tw_reuse=1 >/dev/null
	# podserver's listen backlog is 128; the kernel clamps it to somaxconn.
	nsx "$POD" sysctl -q -w net.core.somaxconn=4096 >/dev/null

	ip -n "$NODE" link add vclient type veth peer name eth0 netns "$CLIENT"
	ip -n "$NODE" addr add 192.0.2.1/24 dev vclient
	ip -n "$NODE" link set vclient up
	ip -n "$CLIENT" addr add 192.0.2.2/24 dev eth0
	ip -n "$CLIENT" link set eth0 up
	ip -n "$CLIENT" route add 10.96.0.0/12 via 192.0.2.1
	ip -n "$CLIENT" route add 10.244.0.0/16 via 192.0.2.1

	# dummy where the kernel has it, else ifb, else an empty bridge: all drop
	# what is routed into them.
	ip -n "$NODE" link add svc0 type dummy 2>/dev/null ||
		ip -n "$NODE" link add svc0 type ifb 2>/dev/null ||
		ip -n "$NODE" link add svc0 type bridge
	ip -n "$NODE" link set svc0 up
	ip -n "$NODE" route add 10.96.0.0/12 dev svc0 src 192.0.2.1

	ip -n "$NODE" link add vpod1 type veth peer name eth0 netns "$POD"
	ip -n "$NODE" addr add 10.244.0.1/32 dev vpod1
	ip -n "$NODE" link set vpod1 up
	ip -n "$NODE" route add "$POD_IP/32" dev vpod1
	ip -n "$POD" addr add "$POD_IP/32" dev eth0
	ip -n "$POD" link set eth0 up
	ip -n "$POD" route add 10.244.0.1/32 dev eth0 scope link
	ip -n "$POD" route add default via 10.244.0.1 dev eth0

	rm -f "$TMP/pod.ready"
	nsx "$POD" "$PODSERVER" --name pod-1 --tcp 8080 --ready-file "$TMP/pod.ready" \
		>>"$TMP/pod.log" 2>&1 &
	PIDS+=($!)
	for ((k = 0; k < 100; k++)); do
		[[ -s $TMP/pod.ready ]] && return 0
		sleep 0.05
	done
	die "podserver did not become ready in 5 s: $(tail -n 5 "$TMP/pod.log")"
}

# ---------------------------------------------------------------------------
# Manifests: the same services as iptables_layout.py

# gen_fillers COUNT FILE: COUNT filler services and their EndpointSlices.
gen_fillers() {
	awk -v n="$1" '
	function ip(a, b, v) { return a "." (b + int(v / 65536)) "." int(v / 256) % 256 "." v % 256 }
	BEGIN {
		for (i = 0; i < n; i++) {
			s = ip(10, 97, i + 1); e = ip(10, 245, i + 1)
			printf "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\n  namespace: bench\n", i
			printf "spec:\n  type: ClusterIP\n  clusterIP: %s\n  clusterIPs: [%s]\n", s, s
			printf "  ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv4]\n  ports:\n"
			printf "  - name: http\n    protocol: TCP\n    port: 80\n    targetPort: 8080\n---\n"
			printf "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
			printf "  name: svc-%d-v4\n  namespace: bench\n  labels:\n", i
			printf "    kubernetes.io/service-name: svc-%d\naddressType: IPv4\nports:\n", i
			printf "- name: http\n  protocol: TCP\n  port: 8080\nendpoints:\n"
			printf "- addresses: [\"%s\"]\n  conditions: {ready: true}\n---\n", e
		}
	}' >"$2"
}

gen_target() {
	cat >"$1" <<EOF
apiVersion: v1
kind: Service
metadata:
  name: target
  namespace: bench
spec:
  type: ClusterIP
  clusterIP: $TARGET_IP
  clusterIPs: [$TARGET_IP]
  ipFamilyPolicy: SingleStack
  ipFamilies: [IPv4]
  ports:
  - name: http
    protocol: TCP
    port: 80
    targetPort: 8080
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: target-v4
  namespace: bench
  labels:
    kubernetes.io/service-name: target
addressType: IPv4
ports:
- name: http
  protocol: TCP
  port: 8080
endpoints:
- addresses: ["$POD_IP"]
  conditions: {ready: true}
EOF
}

# ---------------------------------------------------------------------------
# Measuring

NFTPROXY_PID=""
NFTPROXY_LOG=""

# nftproxy_up DIR TIMEOUT_S: starts nftproxy in the node namespace and waits for
# its first sync; sets FIRST_SYNC_MS from its log. (Not to be run in a $(...):
# the PID must stay known to the EXIT trap.)
FIRST_SYNC_MS=""
nftproxy_up() {
	local dir=$1 limit=$2 k line
	NFTPROXY_LOG="$TMP/nftproxy.$RANDOM.log"
	nsx "$NODE" "$NFTPROXY" --manifests "$dir" --v 1 >"$NFTPROXY_LOG" 2>&1 &
	NFTPROXY_PID=$!
	PIDS+=("$NFTPROXY_PID")
	for ((k = 0; k < limit * 10; k++)); do
		line=$(grep -m1 'first sync of table' "$NFTPROXY_LOG" || true)
		if [[ -n $line ]]; then
			FIRST_SYNC_MS=$(sed -E 's/.* done ([0-9.]+) ms after start.*/\1/' <<<"$line")
			return 0
		fi
		kill -0 "$NFTPROXY_PID" 2>/dev/null || die "nftproxy exited: $(tail -n 5 "$NFTPROXY_LOG")"
		sleep 0.1
	done
	die "nftproxy: no first sync within $limit s: $(tail -n 5 "$NFTPROXY_LOG")"
}

nftproxy_down() {
	[[ -n $NFTPROXY_PID ]] || return 0
	kill -TERM "$NFTPROXY_PID" 2>/dev/null || true
	timeout 10 tail --pid="$NFTPROXY_PID" -f /dev/null 2>/dev/null ||
		kill -KILL "$NFTPROXY_PID" 2>/dev/null || true
	wait "$NFTPROXY_PID" 2>/dev/null || true
	NFTPROXY_PID=""
}

# wait_forwarding: up to 10 s of single connections until one gets through.
wait_forwarding() {
	local k
	for ((k = 0; k < 50; k++)); do
		if nsx "$CLIENT" timeout 5 "$CONNBENCH" --duration-ms 1 --max-conns 1 --timeout-ms 200 \
			"$TARGET_IP" 80 >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	die "no connection to $TARGET_IP:80 got through in 10 s"
}

# measure N IMPL: DP_REPEAT connbench runs, each line appended to the results.
measure() {
	local n=$1 impl=$2 rep out rc
	wait_forwarding
	for ((rep = 1; rep <= REPEAT; rep++)); do
		# Each run starts with an empty conntrack table: earlier runs' TIME_WAIT
		# entries would otherwise pile up (nf_conntrack_max cannot be raised in a
		# namespace) and make later runs pay for earlier ones.
		nsx "$NODE" conntrack -F >/dev/null 2>&1 || true
		rc=0
		out=$(nsx "$CLIENT" timeout $((DURATION_MS / 1000 + 30)) "$CONNBENCH" \
			--duration-ms "$DURATION_MS" --max-conns "$MAX_CONNS" --concurrency "$CONC" \
			"$TARGET_IP" 80) || rc=$?
		[[ -n $out ]] || out="attempts=0 ok=0 error=connbench_rc_$rc"
		echo "n=$n impl=$impl rep=$rep rc=$rc $out" >>"$RESULTS"
		echo "n=$n impl=$impl rep=$rep $out" >>"$TMP/runs.txt"
		log "  $impl n=$n rep $rep: $(kv "$out" conns_per_s) conn/s p50 $(kv "$out" lat_p50_us) us" \
			"p99 $(kv "$out" lat_p99_us) us failed $(kv "$out" failed)"
	done
}

# kv LINE KEY
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print "-" }'; }

# median N IMPL KEY: the median of KEY over the runs of N/IMPL ("-" without runs).
median() {
	awk -v n="n=$1" -v i="impl=$2" -v k="$3" '
		$1 == n && $2 == i {
			for (f = 3; f <= NF; f++) { split($f, a, "="); if (a[1] == k) v[c++] = a[2] + 0 }
		}
		END {
			if (!c) { print "-"; exit }
			for (x = 0; x < c; x++)
				for (y = x + 1; y < c; y++)
					if (v[y] < v[x]) { t = v[x]; v[x] = v[y]; v[y] = t }
			m = c % 2 ? v[int(c / 2)] : (v[c / 2 - 1] + v[c / 2]) / 2
			print (m == int(m) ? m : sprintf("%.1f", m))
		}' "$TMP/runs.txt" 2>/dev/null || echo "-"
}

run_ours() {
	local n=$1 dir="$TMP/m-ours" ms
	rm -rf "$dir"
	mkdir -p "$dir"
	gen_target "$dir/target.yaml"
	if ((n > 1)); then
		cp "$TMP/fillers-$n.yaml" "$dir/fillers.yaml"
	fi
	nftproxy_up "$dir" 300
	ms=$FIRST_SYNC_MS
	echo "n=$n impl=ours first_sync_ms=$ms" >>"$RESULTS"
	log "  ours n=$n: first sync after $ms ms"
	measure "$n" ours
	nftproxy_down
	nsx "$NODE" timeout 30 "$NFTPROXYCTL" cleanup >/dev/null 2>&1 || log "  nftproxyctl cleanup failed"
}

run_iptables() {
	local n=$1 impl=$2 restore t0 t1
	restore=iptables-$impl-restore
	t0=$(date +%s.%N)
	nsx "$NODE" timeout 300 "$restore" "$TMP/ipt-$n.txt" || die "$restore of $n services failed"
	t1=$(date +%s.%N)
	echo "n=$n impl=$impl restore_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
		>>"$RESULTS"
	measure "$n" "$impl"
}

# gap N: the longest pause a connection loop sees while nftproxy commits N services.
run_gap() {
	local n=$1 dir="$TMP/m-gap" out rc=0 k line cb_pid ctrl cb_start win cgap
	rm -rf "$dir"
	mkdir -p "$dir"
	gen_target "$dir/target.yaml"
	nftproxy_up "$dir" 60
	wait_forwarding
	# Control: the same loop with nothing committing, to tell the commit's gap
	# from the machine's own scheduling noise.
	ctrl=$(nsx "$CLIENT" timeout 40 "$CONNBENCH" --gap --duration-ms 5000 --max-conns "$MAX_CONNS" \
		--interval-us 1000 --timeout-ms 200 "$TARGET_IP" 80) || true
	echo "n=$n impl=ours-gap-control $ctrl" >>"$RESULTS"
	nsx "$NODE" conntrack -F >/dev/null 2>&1 || true
	# Renamed into the directory: nftproxy sees one complete file, one batch.
	cp "$TMP/fillers-$n.yaml" "$TMP/gap-fillers.yaml"
	cb_start=$(date +%H:%M:%S.%N)
	nsx "$CLIENT" timeout $((GAP_S + 30)) "$CONNBENCH" --gap --duration-ms $((GAP_S * 1000)) \
		--max-conns "$MAX_CONNS" --interval-us 1000 --timeout-ms 200 "$TARGET_IP" 80 \
		>"$TMP/gap.out" 2>&1 &
	cb_pid=$!
	PIDS+=("$cb_pid")
	sleep 3
	mv "$TMP/gap-fillers.yaml" "$dir/fillers.yaml"
	log "  gap n=$n: $n services added, waiting for the commit and the loop (${GAP_S} s)"
	wait "$cb_pid" || rc=$?
	out=$(cat "$TMP/gap.out")
	# The first sync after the rename: it reports the services it changed (N - 1).
	for ((k = 0; k < 40; k++)); do
		line=$(grep -E "synced table [^:]*: $((n - 1)) services" "$NFTPROXY_LOG" | head -n1 || true)
		[[ -z $line ]] || break
		sleep 0.5
	done
	local sync_ms
	sync_ms=$(sed -nE 's/.* in ([0-9.]+) ms .*/\1/p' <<<"$line")
	# The commit's window in the loop's time: nftproxy logs the sync's end
	# (local wall clock, "I1201 22:41:24.550302") and its length.
	win=$(awk -v l="$line" -v d="${sync_ms:-0}" -v c="$cb_start" '
		function secs(t, a) { split(t, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
		BEGIN { split(l, f, " "); if (l == "") { print "- -"; exit }
			e = (secs(f[2]) - secs(c)) * 1000; printf "%.1f %.1f", e - d, e }')
	# The longest of the loop's top gaps that overlaps the commit window; when
	# none does, the commit's gap is shorter than the shortest listed.
	cgap=$(awk -v w="$win" -v g="$(kv "$out" gaps)" 'BEGIN {
		split(w, ww, " "); if (ww[1] == "-") { print "-"; exit }
		n = split(g, a, ","); best = -1; min = ""
		for (i = 1; i <= n; i++) { split(a[i], x, "+"); s = x[1] + 0; len = x[2] + 0
			min = len; if (s <= ww[2] && s + len >= ww[1] && len > best) best = len }
		if (best >= 0) print best; else print "<" min }')
	echo "n=$n impl=ours-gap rc=$rc sync_ms=${sync_ms:--} renamed_at_ms=3000" \
		"commit_window_ms=${win/ /..} commit_gap_ms=$cgap $out" >>"$RESULTS"
	nftproxy_down
	GAP_LINE="n=$n: manifest renamed in 3 s into the loop, commit ${sync_ms:-?} ms (nftproxy's log)
  commit window ${win/ /..} ms into the loop, longest gap overlapping it: $cgap ms
  during: $out
  control (5 s, no commit): $ctrl"
}

# ---------------------------------------------------------------------------
# Main

GAP_LINE=""
max_n=0
for n in "${NS_LIST[@]}"; do ((n > max_n)) && max_n=$n; done
: >"$TMP/runs.txt"
for n in "${NS_LIST[@]}"; do
	log "N=$n: generating $n services"
	if ((n > 1)); then
		gen_fillers $((n - 1)) "$TMP/fillers-$n.yaml"
	fi
	if [[ " $IMPLS " == *" legacy "* || " $IMPLS " == *" nft "* ]]; then
		python3 "$LAYOUT" "$n" --target-ip "$TARGET_IP" --target-ep "$POD_IP:8080" "$TMP/ipt-$n.txt"
	fi
	for impl in $IMPLS; do
		topo_up
		case $impl in
		ours) run_ours "$n" ;;
		legacy | nft) run_iptables "$n" "$impl" ;;
		esac
		topo_down
	done
	if ((n == max_n && n >= GAP_MIN && n > 1)) && [[ " $IMPLS " == *" ours "* ]]; then
		# The fillers join the target's file, already served: N services in all.
		topo_up
		run_gap "$n"
		topo_down
	fi
	rm -f "$TMP/fillers-$n.yaml" "$TMP/ipt-$n.txt"
done

# The table: medians; ratio = conns/s at N over conns/s at the first N of the list.
base=${NS_LIST[0]}
{
	printf '\nDataplane, medians of %s runs of %s ms at concurrency %s' "$REPEAT" "$DURATION_MS" "$CONC"
	printf ' (provisional if the machine was busy); ratio: conn/s over conn/s at N=%s\n' \
		"${NS_LIST[0]}"
	printf '%-7s' N
	for impl in $IMPLS; do printf ' | %-8s %9s %7s %7s %6s' "$impl" "conn/s" "p50us" "p99us" "ratio"; done
	printf '\n'
	for n in "${NS_LIST[@]}"; do
		printf '%-7s' "$n"
		for impl in $IMPLS; do
			c=$(median "$n" "$impl" conns_per_s)
			c0=$(median "$base" "$impl" conns_per_s)
			r=$(awk -v a="$c" -v b="$c0" 'BEGIN {
				if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3f", a / b }')
			printf ' | %-8s %9s %7s %7s %6s' "" "$c" "$(median "$n" "$impl" lat_p50_us)" \
				"$(median "$n" "$impl" lat_p99_us)" "$r"
		done
		printf '\n'
	done
	if [[ -n $GAP_LINE ]]; then
		printf '\nForwarding during the cold commit: %s\n' "$GAP_LINE"
	fi
	printf '\nRaw results appended to %s\n' "$RESULTS"
} | tee -a "$TMP/table.txt"
sed 's/^/# /' "$TMP/table.txt" >>"$RESULTS"

# The medians as a TSV beside the raw results, and a plot of connections per
# second against N when gnuplot is there (tests/bench/dataplane.gp).
tsv=${RESULTS%.*}.tsv
{
	printf 'n'
	for impl in $IMPLS; do printf '\t%s_conns_per_s\t%s_p50_us\t%s_p99_us' "$impl" "$impl" "$impl"; done
	printf '\n'
	for n in "${NS_LIST[@]}"; do
		printf '%s' "$n"
		for impl in $IMPLS; do
			printf '\t%s\t%s\t%s' "$(median "$n" "$impl" conns_per_s)" \
				"$(median "$n" "$impl" lat_p50_us)" "$(median "$n" "$impl" lat_p99_us)"
		done
		printf '\n'
	done
} >"$tsv"
echo "medians: $tsv"
if command -v gnuplot >/dev/null; then
	gnuplot -e "tsv='$tsv'; out='${RESULTS%.*}-conns.svg'; impls='$IMPLS'" \
		"$(dirname "$0")/dataplane.gp" && echo "plot: ${RESULTS%.*}-conns.svg"
fi
