# shellcheck shell=bash
# Library of the integration tests: a throw-away cluster in network namespaces.
#
#   source "$(dirname "$0")/lib.sh"
#   nftp_require              # exit 77 unless root, netns and nf_tables work
#   topo_create 4             # node, client, pods 1..4 (see the picture below)
#   pod_serve_all             # podserver "pod-I" in every pod, ports 8080 5353 9000
#   svc_manifest demo web 10.96.0.10 fd00:10:96::10 "http:80:TCP:8080" "1 2 3" |
#           manifest_put web.yaml
#   nftproxy_start
#   wait_dump "$(svc_expect demo web ... )"   # or literal dump lines:
#             "demo/web http tcp 10.96.0.10 80 -> 10.244.1.1:8080,..."
#   probe_run "$CLIENT" --proto tcp --count 60 10.96.0.10 80
#   assert_probe_ok; assert_replies_only pod-1 pod-2 pod-3
#
# Topology (every name carries a per-run prefix, so runs never collide):
#
#   client ns  eth0 192.0.2.2/24 2001:db8:0:2::2/64
#      |         routes 10.96.0.0/16, fd00:10:96::/112 (and the pod CIDRs) via node
#   node ns    vclient 192.0.2.1/24 2001:db8:0:2::1/64
#              ip_forward on (v4, v6); table inet nftproxy lives here
#              svc0 (dummy, or ifb): 10.96.0.0/16 and fd00:10:96::/112 routed into it with
#                src 192.0.2.1 / 2001:db8:0:2::1, so node-local connects to a ClusterIP
#                find a route (the output hook's DNAT then re-routes to the pod) and
#                unmatched service traffic is dropped on the node, never sent out
#              vpodI: 10.244.0.1/32, fd00:10:244::1/128, fe80::1; routes to the pod's /32 /128
#   pod I ns   eth0 10.244.1.I/32 fd00:10:244::1:I/128, default via 10.244.0.1 / fe80::1
#
# Only addresses inside these namespaces are ever used. Everything this file
# creates (namespaces, processes, the temp dir) is removed by the EXIT trap, on
# success, failure or signal.
#
# Environment: NFTPROXY, NFTPROXYCTL, PODSERVER, PROBE (paths to the binaries;
# default: $BUILD_DIR/{cmd,tests/integration}/..., BUILD_DIR default <repo>/build),
# NFTP_KEEP=1 keeps the temp dir, NFTP_DEBUG=1 traces commands;
# NFTP_VALGRIND_DAEMON=1 runs nftproxy (and NFTP_VALGRIND_CTL=1, its default
# then, nftproxyctl) under valgrind, NFTP_TIME_SCALE scales the waits (see
# "Valgrind mode" below).

set -Eeuo pipefail
[[ ${NFTP_DEBUG:-0} == 1 ]] && set -x

NFTP_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NFTP_REPO=$(cd "$NFTP_LIB_DIR/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$NFTP_REPO/build}
NFTPROXY=${NFTPROXY:-$BUILD_DIR/cmd/nftproxy}
NFTPROXYCTL=${NFTPROXYCTL:-$BUILD_DIR/cmd/nftproxyctl}
PODSERVER=${PODSERVER:-$BUILD_DIR/tests/integration/podserver}
PROBE=${PROBE:-$BUILD_DIR/tests/integration/probe}

TEST_NAME=$(basename "$0" .sh)
# Short (interface-name friendly) and unique per run: PID plus randomness.
PFX="np$$x$((RANDOM % 1000))"
NODE="$PFX-node"
CLIENT="$PFX-client"
NPODS=0
TMP=""
MANIFESTS=""
NFTPROXY_PID=""
NFTPROXY_LOG=""
NFTPROXY_TABLE="nftproxy"
declare -a NFTP_NAMESPACES=() NFTP_PIDS=() NFTP_LOGS=()
NFTP_FAILURES=0

# Service CIDR addresses used by the tests (all inside 10.96.0.0/16, fd00:10:96::/112).
CLIENT_IP4=192.0.2.2
CLIENT_IP6=2001:db8:0:2::2
NODE_IP4=192.0.2.1
NODE_IP6=2001:db8:0:2::1

pod_ip4() { echo "10.244.1.$1"; }
pod_ip6() { echo "fd00:10:244::1:$1"; }
pod_ns() { echo "$PFX-pod$1"; }

# ---------------------------------------------------------------------------
# Output

log() { printf '[%s %s] %s\n' "$TEST_NAME" "$(date +%T.%3N)" "$*"; }
section() { printf '\n[%s] === %s\n' "$TEST_NAME" "$*"; }

# Fails the test now: prints the message, the cleanup trap prints diagnostics.
fail() {
	printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
	exit 1
}

# Records a failure but goes on, so one run reports every broken check.
check_failed() {
	printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
	NFTP_FAILURES=$((NFTP_FAILURES + 1))
}

skip() {
	printf '[%s] SKIP: %s\n' "$TEST_NAME" "$*"
	exit 77
}

pass() { printf '[%s] ok: %s\n' "$TEST_NAME" "$*"; }

# Ends the test: 0 when no check failed.
finish() {
	if ((NFTP_FAILURES > 0)); then
		printf '[%s] %d check(s) failed\n' "$TEST_NAME" "$NFTP_FAILURES" >&2
		exit 1
	fi
	printf '[%s] PASS\n' "$TEST_NAME"
	exit 0
}

# ---------------------------------------------------------------------------
# Preconditions

nftp_require() {
	local need_proxy=${1:-yes} t
	[[ $(id -u) == 0 ]] || skip "needs root (network namespaces, nf_tables)"
	for t in ip nft jq awk timeout; do
		command -v "$t" >/dev/null || skip "needs the '$t' command"
	done
	[[ -x $PODSERVER && -x $PROBE ]] || fail "helpers not built: PODSERVER=$PODSERVER PROBE=$PROBE"
	if [[ $need_proxy == yes ]]; then
		[[ -x $NFTPROXY ]] || fail "nftproxy not built: NFTPROXY=$NFTPROXY"
		[[ -x $NFTPROXYCTL ]] || fail "nftproxyctl not built: NFTPROXYCTL=$NFTPROXYCTL"
	fi
	local probe_ns="$PFX-req"
	ip netns add "$probe_ns" 2>/dev/null || skip "cannot create network namespaces (ip netns add)"
	if ! ip netns exec "$probe_ns" nft add table inet nftp_probe 2>/dev/null; then
		ip netns del "$probe_ns"
		skip "no nf_tables in this kernel (nft add table failed)"
	fi
	if ! ip -n "$probe_ns" link add v0 type veth peer name v1 2>/dev/null; then
		ip netns del "$probe_ns"
		skip "no veth link support in this kernel"
	fi
	ip netns del "$probe_ns"
}

# ---------------------------------------------------------------------------
# Cleanup: runs on every exit path.

nftp_diagnostics() {
	printf '\n[%s] ---- diagnostics ----\n' "$TEST_NAME" >&2
	local f
	for f in "${NFTP_LOGS[@]}"; do
		[[ -s $f ]] || continue
		printf '[%s] ---- %s (last 80 lines)\n' "$TEST_NAME" "$f" >&2
		tail -n 80 "$f" >&2 || true
	done
	if [[ -n $NODE ]] && ip netns list 2>/dev/null | grep -qw "^$NODE"; then
		printf '[%s] ---- nft list ruleset in the node namespace\n' "$TEST_NAME" >&2
		ip netns exec "$NODE" nft list ruleset >&2 2>&1 || true
		printf '[%s] ---- conntrack (nf_conntrack entries, if readable)\n' "$TEST_NAME" >&2
		ip netns exec "$NODE" cat /proc/net/nf_conntrack 2>/dev/null | sed -n 1,12p >&2 || true
	fi
}

nftp_cleanup() {
	local rc=$?
	set +e +u
	trap - EXIT INT TERM ERR
	if ((rc != 0 && rc != 77)); then
		nftp_diagnostics
	fi
	if [[ $NFTP_VALGRIND_DAEMON == 1 || $NFTP_VALGRIND_CTL == 1 ]] && [[ -n $TMP && -d $TMP ]]; then
		nftp_vg_cleanup "$rc"
		rc=$NFTP_VG_RC
	fi
	# Processes we started, by PID: TERM first, KILL what is left.
	local p ns i
	for p in "${NFTP_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for i in 1 2 3 4 5 6 7 8 9 10; do
		local alive=0
		for p in "${NFTP_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for p in "${NFTP_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	# Anything else still running inside our namespaces was started by this test.
	for ns in "${NFTP_NAMESPACES[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	done
	for p in "${NFTP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for ns in "${NFTP_NAMESPACES[@]}"; do
		ip netns del "$ns" 2>/dev/null || printf '[%s] warning: could not delete netns %s\n' "$TEST_NAME" "$ns" >&2
	done
	if [[ -n $TMP && -d $TMP ]]; then
		if [[ ${NFTP_KEEP:-0} == 1 ]]; then
			printf '[%s] kept %s\n' "$TEST_NAME" "$TMP" >&2
		else
			rm -rf "$TMP"
		fi
	fi
	exit "$rc"
}

nftp_on_error() {
	local rc=$? line=$1 cmd=$2
	printf '[%s] error: line %s: "%s" exited %s\n' "$TEST_NAME" "$line" "$cmd" "$rc" >&2
}

# A run killed with SIGKILL (a meson timeout) cannot clean up: the next run
# removes namespaces of this harness's naming whose creator PID is gone, and
# the processes left inside them.
nftp_sweep_stale() {
	local ns pid p d
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		[[ $ns =~ ^np([0-9]+)x[0-9]+-(node|node2|client|pod[0-9]+|n2pod[0-9]+|req|scratch)$ ]] || continue
		pid=${BASH_REMATCH[1]}
		[[ -d /proc/$pid ]] && continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null && printf '[%s] removed stale namespace %s\n' "$TEST_NAME" "$ns" >&2
	done
	for d in /tmp/nftproxy-it-*.p[0-9]*.*; do
		[[ -d $d && $d =~ \.p([0-9]+)\.[^.]+$ ]] || continue
		[[ -d /proc/${BASH_REMATCH[1]} ]] || rm -rf "$d"
	done
	return 0
}
[[ $(id -u) == 0 ]] && nftp_sweep_stale

trap nftp_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'nftp_on_error "$LINENO" "$BASH_COMMAND"' ERR

TMP=$(mktemp -d "/tmp/nftproxy-it-$TEST_NAME.p$$.XXXXXX")
MANIFESTS="$TMP/manifests"
mkdir -p "$MANIFESTS"

# ---------------------------------------------------------------------------
# Namespaces and links

ns_sysctl() {
	local ns=$1
	shift
	ip netns exec "$ns" sysctl -q -w "$@" >/dev/null
}

# Sysctls that may be missing on some kernels: set them when they exist.
ns_sysctl_try() {
	local ns=$1 kv
	shift
	for kv in "$@"; do
		ip netns exec "$ns" sysctl -q -w "$kv" >/dev/null 2>&1 || true
	done
}

ns_add() {
	local ns=$1
	ip netns add "$ns"
	NFTP_NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
	# Addresses usable at once: no duplicate address detection.
	ns_sysctl "$ns" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ns_sysctl_try "$ns" net.ipv6.conf.all.dad_transmits=0 net.ipv6.conf.default.dad_transmits=0
}

# pod_wire NODE_NS POD_NS LINK IP4 IP6: a pod namespace on a veth from its
# node (LINK on the node side, eth0 in the pod), with the pod's /32 and /128
# routed to it; the pod's gateway is 10.244.0.1 / fe80::1 on the node's link.
pod_wire() {
	local node=$1 ns=$2 link=$3 ip4=$4 ip6=$5
	ns_add "$ns"
	ip -n "$node" link add "$link" type veth peer name eth0 netns "$ns"
	ip -n "$node" addr add 10.244.0.1/32 dev "$link"
	ip -n "$node" addr add fd00:10:244::1/128 dev "$link" nodad
	ip -n "$node" addr add fe80::1/64 dev "$link" nodad
	ip -n "$node" link set "$link" up
	ip -n "$node" route add "$ip4/32" dev "$link"
	ip -n "$node" -6 route add "$ip6/128" dev "$link"
	ip -n "$ns" addr add "$ip4/32" dev eth0
	ip -n "$ns" addr add "$ip6/128" dev eth0 nodad
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add 10.244.0.1/32 dev eth0 scope link
	ip -n "$ns" route add default via 10.244.0.1 dev eth0
	ip -n "$ns" -6 route add default via fe80::1 dev eth0
}

# topo_create N: node, client, and N pods.
topo_create() {
	local n=$1 i ns
	NPODS=$n
	ns_add "$NODE"
	ns_sysctl "$NODE" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	# The kernel rate-limits ICMP errors per destination (6 back to back, then
	# one a second); the reject tests send more than that on purpose.
	ns_sysctl_try "$NODE" net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 \
		net.ipv4.icmp_msgs_per_sec=100000 net.ipv4.icmp_msgs_burst=100000

	ns_add "$CLIENT"
	ip -n "$NODE" link add vclient type veth peer name eth0 netns "$CLIENT"
	ip -n "$NODE" addr add "$NODE_IP4/24" dev vclient
	ip -n "$NODE" addr add "$NODE_IP6/64" dev vclient nodad
	ip -n "$NODE" link set vclient up
	ip -n "$CLIENT" addr add "$CLIENT_IP4/24" dev eth0
	ip -n "$CLIENT" addr add "$CLIENT_IP6/64" dev eth0 nodad
	ip -n "$CLIENT" link set eth0 up
	ip -n "$CLIENT" route add 10.96.0.0/16 via "$NODE_IP4"
	ip -n "$CLIENT" route add 10.244.0.0/16 via "$NODE_IP4"
	ip -n "$CLIENT" -6 route add fd00:10:96::/112 via "$NODE_IP6"
	ip -n "$CLIENT" -6 route add fd00:10:244::/64 via "$NODE_IP6"

	# A sink for the service CIDRs: dummy where the kernel has it, else ifb
	# (also drops what is sent to it, no ARP), else an empty bridge.
	ip -n "$NODE" link add svc0 type dummy 2>/dev/null ||
		ip -n "$NODE" link add svc0 type ifb 2>/dev/null ||
		ip -n "$NODE" link add svc0 type bridge
	ip -n "$NODE" link set svc0 up
	ip -n "$NODE" route add 10.96.0.0/16 dev svc0 src "$NODE_IP4"
	ip -n "$NODE" -6 route add fd00:10:96::/112 dev svc0 src "$NODE_IP6"

	for ((i = 1; i <= n; i++)); do
		pod_wire "$NODE" "$(pod_ns "$i")" "vpod$i" "$(pod_ip4 "$i")" "$(pod_ip6 "$i")"
	done
	log "topology: node $NODE, client $CLIENT, $n pods ($(pod_ns 1) ...)"
}

# ---------------------------------------------------------------------------
# Processes

# bg_start NS LOGFILE CMD... : runs CMD inside NS in the background; sets BG_PID.
bg_start() {
	local ns=$1 logf=$2
	shift 2
	ip netns exec "$ns" "$@" >>"$logf" 2>&1 &
	BG_PID=$!
	NFTP_PIDS+=("$BG_PID")
	NFTP_LOGS+=("$logf")
}

# podserver_in NS NAME [--show-peer] [PORT...]: podserver NAME in namespace
# NS on the given ports (default 8080 5353 9000), TCP and UDP each; waits
# until it listens (log: $TMP/NAME.log). --show-peer: replies name the
# source address the pod saw (probe counts them as "peer" lines).
podserver_in() {
	local ns=$1 name=$2 ready="$TMP/$2.ready" logf="$TMP/$2.log" args=() p k
	shift 2
	if [[ ${1:-} == --show-peer ]]; then
		args+=(--show-peer)
		shift
	fi
	local plist=("$@")
	((${#plist[@]})) || plist=(8080 5353 9000)
	for p in "${plist[@]}"; do args+=(--port "$p"); done
	rm -f "$ready"
	bg_start "$ns" "$logf" "$PODSERVER" --name "$name" --ready-file "$ready" "${args[@]}"
	for ((k = 0; k < 100; k++)); do
		[[ -s $ready ]] && return 0
		kill -0 "$BG_PID" 2>/dev/null || fail "podserver $name exited: $(cat "$logf")"
		sleep 0.05
	done
	fail "podserver $name did not become ready in 5 s"
}

# pod_serve I [--show-peer] [PORT...]: podserver named pod-I in pod I.
pod_serve() {
	local i=$1
	shift
	podserver_in "$(pod_ns "$i")" "pod-$i" "$@"
}

pod_serve_all() {
	local i
	for ((i = 1; i <= NPODS; i++)); do pod_serve "$i" "$@"; done
}

# ---------------------------------------------------------------------------
# Manifests

# svc_yaml NS NAME CLUSTERIPS PORTS
#   CLUSTERIPS: comma separated, primary first ("10.96.0.10,fd00:10:96::10")
#   PORTS: space separated NAME:PORT:PROTO:TARGETPORT ("http:80:TCP:8080");
#          an empty NAME leaves the port unnamed
svc_yaml() {
	local ns=$1 name=$2 ips=$3 ports=$4 ip fams=() policy p pname pport pproto ptarget
	local -a iplist
	IFS=, read -r -a iplist <<<"$ips"
	for ip in "${iplist[@]}"; do
		if [[ $ip == *:* ]]; then fams+=(IPv6); else fams+=(IPv4); fi
	done
	if ((${#iplist[@]} > 1)); then policy=RequireDualStack; else policy=SingleStack; fi
	cat <<EOF
apiVersion: v1
kind: Service
metadata:
  name: $name
  namespace: $ns
spec:
  type: ClusterIP
  clusterIP: ${iplist[0]}
  clusterIPs:
EOF
	for ip in "${iplist[@]}"; do echo "  - $ip"; done
	echo "  ipFamilyPolicy: $policy"
	echo "  ipFamilies:"
	for ip in "${fams[@]}"; do echo "  - $ip"; done
	echo "  ports:"
	for p in $ports; do
		IFS=: read -r pname pport pproto ptarget <<<"$p"
		[[ -n $pname ]] && echo "  - name: $pname" || echo "  -"
		echo "    port: $pport"
		echo "    protocol: $pproto"
		echo "    targetPort: $ptarget"
	done
}

# slice_yaml NS SERVICE SLICENAME FAMILY PORTS ENDPOINTS
#   FAMILY: IPv4 | IPv6
#   PORTS: space separated NAME:PORT:PROTO ("http:8080:TCP")
#   ENDPOINTS: space separated IP or IP/notready ("10.244.1.1 10.244.1.4/notready")
#              or IP/terminating (ready false, serving true, terminating true)
#              or IP/noconditions (conditions: {} -- absent "ready" means ready)
slice_yaml() {
	local ns=$1 svc=$2 slice=$3 fam=$4 ports=$5 eps=$6 p pname pport pproto e ip state
	cat <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $slice
  namespace: $ns
  labels:
    kubernetes.io/service-name: $svc
addressType: $fam
ports:
EOF
	for p in $ports; do
		IFS=: read -r pname pport pproto <<<"$p"
		[[ -n $pname ]] && echo "- name: $pname" || echo "- name: \"\""
		echo "  port: $pport"
		echo "  protocol: $pproto"
	done
	if [[ -z $eps ]]; then
		echo "endpoints: []"
		return
	fi
	echo "endpoints:"
	for e in $eps; do
		ip=${e%%/*}
		state=ready
		[[ $e == */* ]] && state=${e#*/}
		echo "- addresses:"
		echo "  - \"$ip\""
		echo "  conditions:"
		case $state in
		ready) echo "    ready: true" ;;
		notready) echo "    ready: false" ;;
		terminating) printf '    ready: false\n    serving: true\n    terminating: true\n' ;;
		noconditions) echo "    {}" ;;
		*) fail "slice_yaml: unknown endpoint state $state" ;;
		esac
	done
}

# manifest_put FILE: stdin becomes $MANIFESTS/FILE, replaced atomically
# (written next to the directory, then renamed into it).
manifest_put() {
	local f=$1 tmpf
	tmpf=$(mktemp "$TMP/put.XXXXXX")
	cat >"$tmpf"
	mv -f "$tmpf" "$MANIFESTS/$f"
}

# manifest_rewrite FILE: stdin overwrites $MANIFESTS/FILE in place (truncate
# and write, as an editor without atomic save would).
manifest_rewrite() {
	cat >"$MANIFESTS/$1"
}

manifest_rm() { rm -f "$MANIFESTS/$1"; }

# ---------------------------------------------------------------------------
# Valgrind mode (NFTP_VALGRIND_DAEMON=1) and the time scale
#
# In valgrind mode every nftproxy the harness starts (nftproxy_start,
# nftproxy_bg) runs under memcheck with its log in $TMP/vg-nftproxy.PID.log,
# and so does every nftproxyctl() call ($TMP/vg-ctl.*.log; not dump_lines,
# whose polling would crawl: test_valgrind checks the dump path). Each log is
# read when its process ends: nftproxy_stop, nftproxyctl() returning, the
# EXIT trap (which stops a daemon still running with SIGTERM and gives it the
# time for its leak check). Any error, or any definite/indirect/possible leak
# (suppressions: tests/valgrind.supp), fails the test with the log's excerpt.
# A daemon stopped with SIGKILL writes no leak report: only its errors count.
# Valgrind makes the daemon 20-50 times slower: the harness's waits are
# multiplied by NFTP_TIME_SCALE (default 10 in valgrind mode, else 1).

NFTP_VALGRIND_DAEMON=${NFTP_VALGRIND_DAEMON:-0}
NFTP_VALGRIND_CTL=${NFTP_VALGRIND_CTL:-$NFTP_VALGRIND_DAEMON}
if [[ $NFTP_VALGRIND_DAEMON == 1 ]]; then
	NFTP_TIME_SCALE=${NFTP_TIME_SCALE:-10}
else
	NFTP_TIME_SCALE=${NFTP_TIME_SCALE:-1}
fi

# Memcheck's options of every valgrind run here: any error or leak is an
# error, and errors make the exit status 99.
NFTP_VG_OPTS=(--error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible
	--errors-for-leak-kinds=definite,indirect,possible --num-callers=30
	--suppressions="$NFTP_REPO/tests/valgrind.supp")

# Tests left out of the valgrind run, and why (they skip with the reason).
declare -A NFTP_VG_EXCLUDED=(
	[test_valgrind]="runs nftproxy and nftproxyctl under valgrind itself, in every mode"
	[test_api_valgrind]="runs nftproxy --kubeconfig under valgrind itself, in every mode"
	[test_harness]="starts no nftproxy (the harness against a hand-written ruleset)"
	[test_manifests_deploy]="checks the file capability of the installed binary and the daemon's CapEff as uid 65534: valgrind loads the binary itself, file capabilities do not apply"
	[test_api_sync]="asserts < 1 s from kubectl apply to the kernel: under valgrind it measured 0.2-0.5 s, too near the limit to be reliable (its watch paths run under valgrind in api_valgrind, api_relist, api_malformed, api_outage)"
	[test_crash_sync]="kills the daemon with SIGKILL (no leak report) in syncs of 10,000 services, minutes each under memcheck; the restart path runs under valgrind in test_restart and test_valgrind"
)

# nftp_scaled SECONDS: SECONDS times NFTP_TIME_SCALE, rounded up to an integer.
nftp_scaled() {
	awk -v s="$1" -v f="$NFTP_TIME_SCALE" 'BEGIN { v = s * f; i = int(v); if (i < v) i++; print i }'
}

# nftp_vg_ready: the valgrind mode can run here, else the test skips.
nftp_vg_ready() {
	command -v valgrind >/dev/null || skip "NFTP_VALGRIND_DAEMON=1 but valgrind is not installed"
	if ldd "$NFTPROXY" 2>/dev/null | grep -q libasan; then
		skip "NFTP_VALGRIND_DAEMON=1 with a sanitizer build: valgrind cannot run ASan binaries"
	fi
}

# nftp_vg_errors LOG: the number of errors memcheck reported in LOG: its
# ERROR SUMMARY (leaks included, see NFTP_VG_OPTS), or for a process killed
# before writing one, the error records (a message followed by a stack).
nftp_vg_errors() {
	local n
	n=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$1" | tail -n 1)
	if [[ -n $n ]]; then
		echo "$n"
		return 0
	fi
	awk '/^==[0-9]+==    (at|by) 0x/ { if (head != "") n++; head = ""; next }
		/^==[0-9]+== [^ ]/ && !/^==[0-9]+== Warning:/ { head = $0; next }
		{ head = "" }
		END { print n + 0 }' "$1"
}

# nftp_vg_excerpt LOG: memcheck's reports in LOG, from its command line on.
nftp_vg_excerpt() {
	awk '/^==[0-9]+== Command:/ { body = 1 }
		body && !/^==[0-9]+== *$/ { print; if (++k >= 150) exit }' "$1"
}

# nftp_vg_check LOG WHAT [quiet]: reads LOG once (marks it LOG.checked); on a
# finding prints it (FAIL, with the log's reports; with quiet, nothing: the
# EXIT trap prints it) and records it in $TMP/vg-findings, which fails the
# test at its end. Returns 1 on a finding.
nftp_vg_check() {
	local vglog=$1 what=$2 quiet=${3:-} n
	[[ -f $vglog && ! -e $vglog.checked ]] || return 0
	: >"$vglog.checked"
	n=$(nftp_vg_errors "$vglog")
	if ! grep -q 'ERROR SUMMARY:' "$vglog"; then
		what+=" (killed: no leak report, errors only)"
	fi
	if ((n == 0)); then
		[[ -n $quiet ]] || log "valgrind: $what: no errors, no leaks ($(basename "$vglog"))"
		return 0
	fi
	echo "$what: $n error(s) (a leak counts as one), $vglog" >>"$TMP/vg-findings"
	if [[ -n $quiet ]]; then
		echo "$vglog" >>"$TMP/vg-findings-unprinted"
		return 1
	fi
	printf '[%s] FAIL: valgrind: %s: %s error(s) (a leak counts as one); %s:\n' "$TEST_NAME" "$what" "$n" "$vglog" >&2
	nftp_vg_excerpt "$vglog" >&2
	return 1
}

# nftproxy_bg NS LOGFILE ARGS...: nftproxy ARGS in NS in the background (as
# bg_start; sets BG_PID), under valgrind in valgrind mode. Tests that start a
# daemon of their own use this, so that the valgrind run checks it too.
declare -a NFTP_VG_DAEMONS=()
nftproxy_bg() {
	local ns=$1 logf=$2
	shift 2
	if [[ $NFTP_VALGRIND_DAEMON == 1 ]]; then
		nftp_vg_ready
		# --trace-children: a test's wrapper script around nftproxy (one that
		# sets its PATH) is followed into the daemon it executes, whose log
		# replaces the wrapper's (same PID).
		bg_start "$ns" "$logf" valgrind "${NFTP_VG_OPTS[@]}" --trace-children=yes \
			--log-file="$TMP/vg-nftproxy.%p.log" "$NFTPROXY" "$@"
		NFTP_VG_DAEMONS+=("$BG_PID")
	else
		bg_start "$ns" "$logf" "$NFTPROXY" "$@"
	fi
}

# nftp_vg_daemon_ended PID SIGNAL: checks the valgrind log of the daemon PID
# (started by nftproxy_bg) after it ended by SIGNAL.
nftp_vg_daemon_ended() {
	local pid=$1 sig=$2
	[[ $NFTP_VALGRIND_DAEMON == 1 && " ${NFTP_VG_DAEMONS[*]} " == *" $pid "* ]] || return 0
	nftp_vg_check "$TMP/vg-nftproxy.$pid.log" "nftproxy (pid $pid, SIG$sig)" || true
}

# nftp_vg_cleanup RC: at the end of the test, stops the valgrind daemons
# still running (SIGTERM; the leak check at exit takes a while), reads every
# log not read yet; sets NFTP_VG_RC: RC, or 1 on a finding.
nftp_vg_cleanup() {
	local p k alive f
	NFTP_VG_RC=$1
	local -a left=()
	for p in "${NFTP_VG_DAEMONS[@]}"; do
		kill -0 "$p" 2>/dev/null || continue
		kill -TERM "$p" 2>/dev/null && left+=("$p")
	done
	for ((k = 0; k < 600 && ${#left[@]}; k++)); do
		alive=0
		for p in "${left[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for p in "${left[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			printf '[%s] valgrind: nftproxy (pid %s) still running 60 s after SIGTERM: killed\n' "$TEST_NAME" "$p" >&2
			kill -KILL "$p" 2>/dev/null
		fi
		wait "$p" 2>/dev/null
	done
	for f in "$TMP"/vg-*.log; do
		[[ -f $f ]] || continue
		nftp_vg_check "$f" "$(basename "$f" .log) at the end of the test" || true
	done
	f=$(find "$TMP" -maxdepth 1 -name 'vg-ctl.*.log' | wc -l)
	((f == 0)) || log "valgrind: $f nftproxyctl run(s) checked"
	if [[ -s $TMP/vg-findings-unprinted ]]; then
		while read -r f; do
			printf '[%s] ---- valgrind: %s\n' "$TEST_NAME" "$f" >&2
			nftp_vg_excerpt "$f" >&2
		done <"$TMP/vg-findings-unprinted"
	fi
	if [[ -s $TMP/vg-findings ]]; then
		printf '[%s] FAIL: valgrind findings:\n%s\n' "$TEST_NAME" "$(cat "$TMP/vg-findings")" >&2
		NFTP_VG_RC=1
	fi
}

# NFTP_VG_FORCE=1 runs them anyway (to look into one).
if [[ $NFTP_VALGRIND_DAEMON == 1 && -n ${NFTP_VG_EXCLUDED[$TEST_NAME]:-} && ${NFTP_VG_FORCE:-0} != 1 ]]; then
	skip "not in the valgrind run (NFTP_VALGRIND_DAEMON=1): ${NFTP_VG_EXCLUDED[$TEST_NAME]}"
fi

# NFTPROXY_RUN: the command that runs nftproxy in the foreground, for tests
# that run it themselves (`ip netns exec NS "${NFTPROXY_RUN[@]}" ARGS`): the
# binary, or in valgrind mode memcheck with its log in
# $TMP/vg-nftproxy-run.PID.log, read by the EXIT trap. A daemon in the
# background is nftproxy_bg's.
NFTPROXY_RUN=("$NFTPROXY")
if [[ $NFTP_VALGRIND_DAEMON == 1 ]] && ! ldd "$NFTPROXY" 2>/dev/null | grep -q libasan; then
	NFTPROXY_RUN=(valgrind "${NFTP_VG_OPTS[@]}" --log-file="$TMP/vg-nftproxy-run.%p.log" "$NFTPROXY")
fi

# ---------------------------------------------------------------------------
# nftproxy

# nftproxy_start [ARGS...]: nftproxy in the node namespace, logging to
# $TMP/nftproxy.log (appended across restarts). Its source is
# NFTPROXY_SOURCE (an array of flags; lib_api.sh's nftproxy_use_api sets it to
# the test API server's), --manifests $MANIFESTS by default.
declare -a NFTPROXY_SOURCE=()
nftproxy_start() {
	local src=("${NFTPROXY_SOURCE[@]}")
	((${#src[@]})) || src=(--manifests "$MANIFESTS")
	NFTPROXY_LOG="$TMP/nftproxy.log"
	nftproxy_log_mark
	echo "---- $(date +%T.%3N) nftproxy ${src[*]} --v 2 $*" >>"$NFTPROXY_LOG"
	nftproxy_bg "$NODE" "$NFTPROXY_LOG" "${src[@]}" --v 2 "$@"
	NFTPROXY_PID=$BG_PID
	sleep 0.1
	kill -0 "$NFTPROXY_PID" 2>/dev/null || fail "nftproxy exited at once: $(tail -n 20 "$NFTPROXY_LOG")"
	log "nftproxy started (pid $NFTPROXY_PID)"
}

# NFTPROXY_LOG_MARK: the first line of $NFTPROXY_LOG that nftproxy_log_since
# and nftproxy_wait_log read. nftproxy_start moves it to the end of the log,
# so they read the daemon just started; nftproxy_log_mark moves it there
# again (to wait for what the running daemon does next).
NFTPROXY_LOG_MARK=1
nftproxy_log_mark() {
	NFTPROXY_LOG_MARK=$(($( (wc -l <"$NFTPROXY_LOG") 2>/dev/null || echo 0) + 1))
}
nftproxy_log_since() { tail -n +"$NFTPROXY_LOG_MARK" "$NFTPROXY_LOG"; }

# nftproxy_wait_log ERE [TIMEOUT_S]: polls the log since the mark until a
# line matches, and prints it. Fails on timeout (scaled, 120 s by default) or
# if the daemon died. A dump that already matches says nothing about a daemon
# just started: a test that needs it to have synced waits for its log line.
nftproxy_wait_log() {
	local re=$1 timeout k line
	timeout=$(nftp_scaled "${2:-120}")
	for ((k = 0; k < timeout * 20; k++)); do
		line=$(nftproxy_log_since | grep -m1 -E -- "$re" || true)
		if [[ -n $line ]]; then
			printf '%s\n' "$line"
			return 0
		fi
		nftproxy_check_running
		sleep 0.05
	done
	fail "no log line matching '$re' after $timeout s:
$(nftproxy_log_since | tail -n 20)"
}

# Fails the test when the nftproxy started by nftproxy_start has exited.
nftproxy_check_running() {
	local rc=0
	[[ -n $NFTPROXY_PID ]] || return 0
	kill -0 "$NFTPROXY_PID" 2>/dev/null && return 0
	wait "$NFTPROXY_PID" 2>/dev/null || rc=$?
	NFTPROXY_PID=""
	fail "nftproxy exited with status $rc while the test waited for it"
}

nftproxy_alive() { [[ -n $NFTPROXY_PID ]] && kill -0 "$NFTPROXY_PID" 2>/dev/null; }

# nftproxy_stop [SIGNAL]: default TERM; waits for the process to end (in
# valgrind mode, then reads its valgrind log).
nftproxy_stop() {
	local sig=${1:-TERM} rc=0
	[[ -n $NFTPROXY_PID ]] || return 0
	kill -"$sig" "$NFTPROXY_PID" 2>/dev/null || true
	wait "$NFTPROXY_PID" 2>/dev/null || rc=$?
	log "nftproxy (pid $NFTPROXY_PID) stopped with SIG$sig, exit status $rc"
	nftp_vg_daemon_ended "$NFTPROXY_PID" "$sig"
	NFTPROXY_PID=""
}

# nftproxyctl ARGS...: nftproxyctl in the node namespace (under valgrind when
# NFTP_VALGRIND_CTL=1; its log is read when it returns).
nftproxyctl() {
	local rc=0 vglog
	if [[ $NFTP_VALGRIND_CTL != 1 ]]; then
		ip netns exec "$NODE" "$NFTPROXYCTL" "$@"
		return
	fi
	nftp_vg_ready
	vglog=$(mktemp "$TMP/vg-ctl.XXXXXX")
	ip netns exec "$NODE" valgrind "${NFTP_VG_OPTS[@]}" --log-file="$vglog.log" "$NFTPROXYCTL" "$@" || rc=$?
	# Quiet: the caller may be reading this command's output.
	nftp_vg_check "$vglog.log" "nftproxyctl $*" quiet || true
	return "$rc"
}

# dump_lines [ARGS...]: the service map read back from the kernel, one sorted
# line per service port and family:
#   NS/NAME PORTNAME PROTO IP PORT -> EPIP:EPPORT,EPIP:EPPORT   (endpoints sorted)
# (an unnamed port shows as "-"; protocols lower case)
dump_lines() {
	local json
	json=$(ip netns exec "$NODE" "$NFTPROXYCTL" dump --json "$@" 2>"$TMP/dump.err") || return 1
	jq -r '.services[]
		| "\(.namespace)/\(.name) \(if (.port_name // "") == "" then "-" else .port_name end) \(.protocol | ascii_downcase) \(.ip | ascii_downcase) \(.port) -> \([(.endpoints // [])[] | "\(.ip | ascii_downcase):\(.port)"] | sort | join(","))"' \
		<<<"$json" | LC_ALL=C sort
}

# wait_dump [--cluster-name N] [--timeout S] LINE...: polls the dump until its
# lines are exactly LINE... (any order); fails printing expected vs got.
wait_dump() {
	local timeout=10 args=()
	while (($#)); do
		case $1 in
		--timeout) timeout=$2; shift 2 ;;
		--cluster-name) args+=(--cluster-name "$2"); shift 2 ;;
		*) break ;;
		esac
	done
	local want got="" t0 deadline
	timeout=$(nftp_scaled "$timeout")
	want=$(printf '%s\n' "$@" | LC_ALL=C sort)
	t0=$(date +%s.%N)
	deadline=$(awk -v t="$t0" -v d="$timeout" 'BEGIN { printf "%.3f", t + d }')
	while :; do
		got=$(dump_lines "${args[@]}" 2>/dev/null) || got="(nftproxyctl dump failed: $(cat "$TMP/dump.err" 2>/dev/null))"
		nftproxy_check_running
		if [[ $got == "$want" ]]; then
			log "dump matches after $(awk -v t="$t0" -v n="$(date +%s.%N)" 'BEGIN { printf "%.2f", n - t }') s"
			return 0
		fi
		if awk -v n="$(date +%s.%N)" -v d="$deadline" 'BEGIN { exit !(n > d) }'; then
			break
		fi
		sleep 0.1
	done
	printf '[%s] dump did not reach the expected state in %s s\n--- expected\n%s\n--- got\n%s\n--- diff (expected vs got)\n' \
		"$TEST_NAME" "$timeout" "$want" "$got" >&2
	diff <(echo "$want") <(echo "$got") >&2 || true
	fail "nftproxyctl dump mismatch"
}

# wait_dump_has [--cluster-name N] [--timeout S] LINE...: polls the dump until
# it contains every LINE (other lines may be there too).
wait_dump_has() {
	local timeout=10 args=()
	while (($#)); do
		case $1 in
		--timeout) timeout=$2; shift 2 ;;
		--cluster-name) args+=(--cluster-name "$2"); shift 2 ;;
		*) break ;;
		esac
	done
	local got="" line missing k
	timeout=$(nftp_scaled "$timeout")
	for ((k = 0; k < timeout * 10; k++)); do
		got=$(dump_lines "${args[@]}" 2>/dev/null) || got="(nftproxyctl dump failed: $(cat "$TMP/dump.err" 2>/dev/null))"
		missing=""
		for line in "$@"; do
			grep -qxF -- "$line" <<<"$got" || missing+="$line"$'\n'
		done
		nftproxy_check_running
		if [[ -z $missing ]]; then
			log "dump has the expected lines after $(awk -v k="$k" 'BEGIN { printf "%.1f", k / 10 }') s"
			return 0
		fi
		sleep 0.1
	done
	printf '[%s] dump lacks lines after %s s\n--- missing\n%s--- got\n%s\n' "$TEST_NAME" "$timeout" "$missing" "$got" >&2
	fail "nftproxyctl dump mismatch"
}

# check_dump WHAT LINE...: the dump is exactly LINE... now (records a failure
# with expected vs got otherwise; does not wait).
check_dump() {
	local what=$1 want got
	shift
	want=$(printf '%s\n' "$@" | LC_ALL=C sort)
	got=$(dump_lines 2>/dev/null) || got="(nftproxyctl dump failed: $(cat "$TMP/dump.err" 2>/dev/null))"
	if [[ $got == "$want" ]]; then
		pass "$what: dump as expected ($(wc -l <<<"$got") lines)"
	else
		check_failed "$what: dump differs
--- expected
$want
--- got
$got
--- diff
$(diff <(echo "$want") <(echo "$got"))"
	fi
}

# nft_table [NAME]: `nft list table inet NAME` in the node namespace, with
# counter values zeroed so that traffic does not make two listings differ.
nft_table() {
	ip netns exec "$NODE" nft list table inet "${1:-$NFTPROXY_TABLE}" |
		sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/g'
}

# ---------------------------------------------------------------------------
# nftproxy against the test API server

# The Node name nftproxy runs as (--hostname-override) in these tests.
KUBE_NODE_NAME=node-1

# nftproxy_use_api [KUBECONFIG]: the next nftproxy_start serves the test API
# server (default: $KUBECONFIG_FILE, the token kubeconfig) as node
# $KUBE_NODE_NAME, instead of a manifests directory.
nftproxy_use_api() {
	NFTPROXY_SOURCE=(--kubeconfig "${1:-$KUBECONFIG_FILE}" --hostname-override "$KUBE_NODE_NAME")
}

# kube_node_yaml NAME ZONE IP: a Node as the kubelet registers it.
kube_node_yaml() {
	cat <<EON
apiVersion: v1
kind: Node
metadata:
  name: $1
  labels:
    kubernetes.io/hostname: $1
    topology.kubernetes.io/zone: $2
spec:
  podCIDRs: ["10.244.1.0/24"]
status:
  addresses:
  - type: InternalIP
    address: $3
  - type: Hostname
    address: $1
EON
}

# wait_dump_latency T0 LINE...: polls the dump every 10 ms until it is
# exactly LINE...; sets DUMP_LATENCY to the seconds since T0 (date +%s.%N)
# at which it first matched. Fails after 5 s (times NFTP_TIME_SCALE) with
# expected vs got.
wait_dump_latency() {
	local t0=$1 want got now limit
	shift
	limit=$(nftp_scaled 5)
	want=$(printf '%s\n' "$@" | LC_ALL=C sort)
	while :; do
		got=$(dump_lines 2>/dev/null) || got=""
		now=$(date +%s.%N)
		if [[ $got == "$want" ]]; then
			DUMP_LATENCY=$(fdiff "$now" "$t0")
			return 0
		fi
		nftproxy_check_running
		if awk -v n="$now" -v t="$t0" -v l="$limit" 'BEGIN { exit !(n - t > l) }'; then
			fail "$(printf 'the dump did not become, within %s s:\n%s\ngot:\n%s' "$limit" "$want" "$got")"
		fi
		sleep 0.01
	done
}

# nftproxy_log_count PATTERN: lines of the nftproxy log matching the ERE.
nftproxy_log_count() { grep -cE -- "$1" "$NFTPROXY_LOG" || true; }

# valgrind_require: skips unless valgrind can check this build (the ASan
# build has its own checks and valgrind cannot run it); sets VG, the
# valgrind command line that fails on any error or leak (the only
# suppression is libmnl's attribute padding, tests/valgrind.supp).
valgrind_require() {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	if ldd "$NFTPROXY" 2>/dev/null | grep -q libasan; then
		skip "sanitizer build: ASan checks this build, valgrind checks the plain one"
	fi
	VG=(valgrind "${NFTP_VG_OPTS[@]}")
}

# valgrind_stop_daemon WHAT VGLOG: SIGTERM to the nftproxy started under
# valgrind (NFTPROXY_PID); passes when it exits 0 (a clean stop, no error, no
# leak), else records a failure with the end of valgrind's log.
valgrind_stop_daemon() {
	local what=$1 vglog=$2 rc=0
	kill -TERM "$NFTPROXY_PID"
	wait "$NFTPROXY_PID" || rc=$?
	NFTPROXY_PID=""
	if ((rc == 0)); then
		pass "$what under valgrind: clean exit, no errors, no leaks ($(grep -m1 'ERROR SUMMARY' "$vglog" | sed 's/^==[0-9]*== //'))"
	else
		check_failed "$what under valgrind exited $rc:
$(grep -v '^==[0-9]*== *$' "$vglog" | tail -n 60)"
	fi
}

# ---------------------------------------------------------------------------
# Probing

# probe_run NS PROBEARGS...: runs probe in NS; output in PROBE_OUT, exit
# status in PROBE_RC (never fails by itself).
probe_run() {
	local ns=$1
	shift
	PROBE_RC=0
	PROBE_OUT=$(ip netns exec "$ns" "$PROBE" "$@" 2>"$TMP/probe.err") || PROBE_RC=$?
	PROBE_ERR=$(cat "$TMP/probe.err")
	PROBE_DESC="probe in ${ns#"$PFX"-} $*"
}

# probe_bg NS OUTFILE PROBEARGS...: runs probe in the background; sets BG_PID.
probe_bg() {
	local ns=$1 out=$2
	shift 2
	ip netns exec "$ns" "$PROBE" "$@" >"$out" 2>"$out.err" &
	BG_PID=$!
	NFTP_PIDS+=("$BG_PID")
}

# probe_get KEY [OUTPUT]: a summary value ("ok", "refused", "ms_max_refused"...)
probe_get() {
	awk -v k="$1" '$1 == k && NF == 2 { print $2; f = 1 } END { if (!f) print 0 }' <<<"${2:-$PROBE_OUT}"
}

# probe_reply_count NAME [OUTPUT]: how many replies came from NAME.
probe_reply_count() {
	awk -v k="$1" '$1 == "reply" && $2 == k { print $3; f = 1 } END { if (!f) print 0 }' <<<"${2:-$PROBE_OUT}"
}

# probe_replies [OUTPUT]: "pod-1=20 pod-2=21 ..." (sorted)
probe_replies() {
	awk '$1 == "reply" { print $2 "=" $3 }' <<<"${1:-$PROBE_OUT}" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}

probe_summary() {
	printf 'attempts=%s ok=%s refused=%s unreachable=%s timeout=%s error=%s replies=[%s]' \
		"$(probe_get attempts)" "$(probe_get ok)" "$(probe_get refused)" \
		"$(probe_get unreachable)" "$(probe_get timeout)" "$(probe_get error)" "$(probe_replies)"
}

# ---------------------------------------------------------------------------
# Assertions (they record the failure and go on; see finish)

assert_eq() {
	local what=$1 want=$2 got=$3
	if [[ $want == "$got" ]]; then
		pass "$what: $got"
	else
		check_failed "$what: expected '$want', got '$got'"
	fi
}

# assert_lt WHAT VALUE LIMIT (floating point)
assert_lt() {
	local what=$1 v=$2 lim=$3
	if awk -v v="$v" -v l="$lim" 'BEGIN { exit !(v < l) }'; then
		pass "$what: $v < $lim"
	else
		check_failed "$what: expected < $lim, got $v"
	fi
}

# assert_probe_ok: every attempt of the last probe_run got a reply.
assert_probe_ok() {
	local n ok
	n=$(probe_get attempts)
	ok=$(probe_get ok)
	if ((PROBE_RC == 0 && n > 0 && ok == n)); then
		pass "$PROBE_DESC: $(probe_summary)"
	else
		check_failed "$PROBE_DESC: expected every attempt answered, got $(probe_summary)
$PROBE_ERR"
	fi
}

# assert_probe_refused [MAX_MS]: every attempt refused, the slowest refusal in
# under MAX_MS (default 500) milliseconds.
assert_probe_refused() {
	local max=${1:-500} n r ms
	n=$(probe_get attempts)
	r=$(probe_get refused)
	ms=$(probe_get ms_max_refused)
	if ((n > 0 && r == n)) && awk -v v="$ms" -v l="$max" 'BEGIN { exit !(v < l) }'; then
		pass "$PROBE_DESC: all $n refused, slowest refusal ${ms} ms"
	else
		check_failed "$PROBE_DESC: expected every attempt refused within $max ms, got $(probe_summary), slowest refusal ${ms} ms, slowest failure $(probe_get ms_max_fail) ms
$PROBE_ERR"
	fi
}

# assert_replies_only NAME...: the replies came from these names only, and
# each of them answered at least once.
assert_replies_only() {
	local name bad="" missing="" got
	got=$(awk '$1 == "reply" { print $2 }' <<<"$PROBE_OUT")
	for name in $got; do
		[[ " $* " == *" $name "* ]] || bad+=" $name"
	done
	for name in "$@"; do
		(($(probe_reply_count "$name") > 0)) || missing+=" $name"
	done
	if [[ -z $bad && -z $missing ]]; then
		pass "$PROBE_DESC: replies from exactly {$*}: $(probe_replies)"
	else
		check_failed "$PROBE_DESC: expected replies from each of {$*} and nobody else; got $(probe_replies)${bad:+ (unexpected:$bad)}${missing:+ (never answered:$missing)}"
	fi
}

# ---------------------------------------------------------------------------
# Waiting for traffic

# wait_traffic NS PROTO IP PORT [TIMEOUT_S]: polls single probes until one is
# answered (e.g. after a restart); fails on timeout.
wait_traffic() {
	local ns=$1 proto=$2 ip=$3 port=$4 timeout=${5:-10} k
	timeout=$(nftp_scaled "$timeout")
	for ((k = 0; k < timeout * 10; k++)); do
		if ip netns exec "$ns" "$PROBE" --proto "$proto" --timeout-ms 200 "$ip" "$port" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	fail "no answer from $ip $port/$proto in ${ns#"$PFX"-} after $timeout s"
}

# ---------------------------------------------------------------------------
# Whole services: a Service and its EndpointSlices in one multi-document file

# svc_manifest NS NAME IP4 IP6 PORTS EPS
#   IP4/IP6: ClusterIPs ("" leaves that family out)
#   PORTS: NAME:PORT:PROTO:TARGETPORT ... as for svc_yaml
#   EPS: pod numbers, each optionally /notready, /terminating or /noconditions
#        ("1 2 3 4/notready");
#        "" = an EndpointSlice per family with no endpoints; "none" = no slices
# Prints the YAML (Service, then an IPv4 and an IPv6 EndpointSlice).
svc_manifest() {
	local ns=$1 name=$2 ip4=$3 ip6=$4 ports=$5 eps=$6 p pname pport pproto ptarget
	local sports="" e i st eps4="" eps6="" ips
	ips=$ip4
	[[ -n $ip6 ]] && ips=${ips:+$ips,}$ip6
	svc_yaml "$ns" "$name" "$ips" "$ports"
	[[ $eps == none ]] && return 0
	for p in $ports; do
		IFS=: read -r pname pport pproto ptarget <<<"$p"
		sports+=" $pname:$ptarget:$pproto"
	done
	for e in $eps; do
		i=${e%%/*}
		st=""
		[[ $e == */* ]] && st="/${e#*/}"
		eps4+=" $(pod_ip4 "$i")$st"
		eps6+=" $(pod_ip6 "$i")$st"
	done
	if [[ -n $ip4 ]]; then
		echo "---"
		slice_yaml "$ns" "$name" "$name-v4" IPv4 "$sports" "$eps4"
	fi
	if [[ -n $ip6 ]]; then
		echo "---"
		slice_yaml "$ns" "$name" "$name-v6" IPv6 "$sports" "$eps6"
	fi
}

# svc_expect NS NAME IP4 IP6 PORTS EPS: the dump lines (see dump_lines) that
# svc_manifest's objects should produce: ready endpoints only.
svc_expect() {
	local ns=$1 name=$2 ip4=$3 ip6=$4 ports=$5 eps=$6 p pname pport pproto ptarget ip e list
	for p in $ports; do
		IFS=: read -r pname pport pproto ptarget <<<"$p"
		for ip in $ip4 $ip6; do
			list=""
			for e in $eps; do
				[[ $e == none || $e == */notready || $e == */terminating ]] && continue
				e=${e%%/*}
				if [[ $ip == *:* ]]; then
					list+="$(pod_ip6 "$e"):$ptarget"$'\n'
				else
					list+="$(pod_ip4 "$e"):$ptarget"$'\n'
				fi
			done
			list=$(printf '%s' "$list" | LC_ALL=C sort | paste -sd, -)
			printf '%s/%s %s %s %s %s -> %s\n' "$ns" "$name" "${pname:--}" \
				"${pproto,,}" "$ip" "$pport" "$list"
		done
	done
}

# ---------------------------------------------------------------------------
# Traces of probe --trace runs

# trace_last FILE NAME: wall time of the last attempt NAME answered ("" if none)
trace_last() {
	awk -v n="reply=$2" '$1 == "attempt" && $5 == n { t = substr($3, 3) } END { print t }' "$1"
}

# trace_first_after FILE NAME T: wall time of the first attempt after T that
# NAME answered ("" if none)
trace_first_after() {
	awk -v n="reply=$2" -v t0="$3" '$1 == "attempt" && $5 == n && substr($3, 3) + 0 > t0 + 0 { print substr($3, 3); exit }' "$1"
}

# trace_count_between FILE NAME T1 T2: attempts started in [T1, T2) that NAME answered
trace_count_between() {
	awk -v n="reply=$2" -v a="$3" -v b="$4" '$1 == "attempt" && $5 == n { t = substr($3, 3) + 0; if (t >= a && t < b) c++ } END { print c + 0 }' "$1"
}

# fdiff A B: A - B with 3 decimals
fdiff() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# assert_loop_clean FILE WHAT [LOST_OK]: a background probe run had no failed
# attempt, or at most LOST_OK timeouts (default 0) and nothing else.
assert_loop_clean() {
	local out=$1 what=$2 lost_ok=${3:-0} n ok to
	n=$(probe_get attempts "$(cat "$out")")
	ok=$(probe_get ok "$(cat "$out")")
	to=$(probe_get timeout "$(cat "$out")")
	if ((n > 0 && n == ok)); then
		pass "$what: $n attempts, all answered ($(probe_replies "$(cat "$out")"))"
	elif ((n > 0 && n - ok == to && to <= lost_ok)); then
		pass "$what: $n attempts, $to lost (at most $lost_ok allowed), the rest answered ($(probe_replies "$(cat "$out")"))"
	else
		check_failed "$what: $((n - ok)) of $n attempts failed: refused=$(probe_get refused "$(cat "$out")") unreachable=$(probe_get unreachable "$(cat "$out")") timeout=$(probe_get timeout "$(cat "$out")") error=$(probe_get error "$(cat "$out")")
$(grep -v ' result=ok ' "$out" | grep '^attempt' | sed -n 1,10p)
$(head -n 5 "$out.err" 2>/dev/null)"
	fi
}

# ---------------------------------------------------------------------------
# Reading nft listings

# nft_block TEXT KIND NAME: the body of `chain NAME { ... }` or `map NAME
# { ... }` (KIND chain|map) in an `nft list table` TEXT.
nft_block() {
	awk -v k="$2" -v c="$3" '
		$1 == k && ($2 == c || $2 == "\"" c "\"") { inside = 1; next }
		inside && $0 ~ /^\t}/ { exit }
		inside { print }' <<<"$1"
}

# Verdict targets (goto/jump NAME) in a text, one per line.
nft_verdict_targets() {
	{ grep -oE '(goto|jump) "?[^",} ]+' || true; } | awk '{ gsub(/"/, "", $2); print $2 }'
}

# Named verdict map lookups in a chain body, one per line: "MOD OFFSET MAP"
# for `numgen random mod MOD [offset OFFSET] vmap @MAP` (only the keys
# OFFSET..OFFSET+MOD-1 can be hit), "- - MAP" for any other `vmap @MAP`.
nft_vmap_refs() {
	awk '{
		for (i = 1; i <= NF; i++) {
			if ($i != "vmap" || substr($(i + 1), 1, 1) != "@") continue
			mod = "-"; off = "-"
			for (j = 1; j < i; j++) {
				if ($j == "mod") { mod = $(j + 1); off = 0 }
				if ($j == "offset") off = $(j + 1)
			}
			print mod, off, substr($(i + 1), 2)
		}
	}'
}

# DNATs through a data map in a chain body, one per line: "FAMILY MOD OFFSET
# MAP" for `dnat ip|ip6 to numgen random mod MOD [offset OFFSET] map @MAP`.
nft_dnat_map_refs() {
	awk '{
		for (i = 1; i <= NF; i++) {
			if ($i != "dnat" || $(i + 2) != "to" || $(i + 3) != "numgen") continue
			mod = "-"; off = 0; m = ""
			for (j = i + 3; j <= NF; j++) {
				if ($j == "mod") mod = $(j + 1)
				if ($j == "offset") off = $(j + 1)
				if ($j == "map" && substr($(j + 1), 1, 1) == "@") m = substr($(j + 1), 2)
			}
			if (m != "") print $(i + 1), mod, off, m
		}
	}'
}

# nft_map_dnats TEXT FAMILY MAP MOD OFFSET: "dnat ip to ADDR:PORT" (or
# "dnat ip6 to [ADDR]:PORT") for each range of MAP starting in
# OFFSET..OFFSET+MOD-1 (elements "LO-HI : ADDR . PORT").
nft_map_dnats() {
	local text=$1 fam=$2 m=$3 mod=$4 off=$5
	nft_block "$text" map "$m" | tr '\n' ' ' |
		{ grep -oE '[0-9]+(-[0-9]+)? : [0-9a-f:.]+ \. [0-9]+' || true; } |
		awk -v lo="$off" -v n="$mod" -v fam="$fam" '{ split($1, r, "-"); k = r[1] + 0
			if (n != "-" && (k < lo + 0 || k >= lo + n)) next
			if (fam == "ip6") printf "dnat ip6 to [%s]:%s\n", $3, $5
			else printf "dnat ip to %s:%s\n", $3, $5 }'
}

# nft_map_targets TEXT MAP MOD OFFSET: verdict targets of MAP's elements,
# only keys OFFSET..OFFSET+MOD-1 unless MOD is "-".
nft_map_targets() {
	local text=$1 m=$2 mod=$3 off=$4
	if [[ $mod == - ]]; then
		nft_block "$text" map "$m" | nft_verdict_targets
		return 0
	fi
	nft_block "$text" map "$m" | tr '\n' ' ' |
		{ grep -oE '(^|[{,][[:space:]]*)[0-9]+ : (goto|jump) "?[^",} ]+' || true; } |
		sed -E 's/^[{,[:space:]]*//' |
		awk -v lo="$off" -v n="$mod" '{ k = $1 + 0; gsub(/"/, "", $4)
			if (k >= lo + 0 && k < lo + n) print $4 }'
}

# nft_follow TEXT ELEMENT_REGEX: from the map element matching ELEMENT_REGEX
# (e.g. '10\.96\.0\.30 \. sctp \. 9999'; an element comment may follow it),
# follows goto/jump verdicts through chains and through the named verdict maps
# they look up (`vmap @NAME`, only the slots a `numgen random mod N offset B`
# can hit), 5 levels deep, and prints each chain visited and each DNAT
# reached, also those through an LB data map (`dnat ip to numgen random mod
# N offset B map @NAME`: the ranges a numgen value can fall in):
#   chain NAME
#   dnat ip to 10.244.1.1:9999
nft_follow() {
	local text=$1 re=$2 chains next c depth body m
	chains=$({ grep -oE -- "$re( comment \"[^\"]*\")? : (goto|jump) \"?[^\",} ]+" <<<"$text" || true; } |
		awk '{ gsub(/"/, "", $NF); print $NF }' | sort -u)
	for ((depth = 0; depth < 5 && ${#chains}; depth++)); do
		next=""
		for c in $chains; do
			echo "chain $c"
			body=$(nft_block "$text" chain "$c")
			{ grep -oE 'dnat (ip6? )?to [^ ]+' <<<"$body" || true; } | { grep -v ' to numgen$' || true; }
			while read -r fam mod off m; do
				[[ -n $m ]] || continue
				nft_map_dnats "$text" "$fam" "$m" "$mod" "$off"
			done < <(nft_dnat_map_refs <<<"$body")
			next+=" $(nft_verdict_targets <<<"$body" | tr '\n' ' ')"
			while read -r mod off m; do
				[[ -n $m ]] || continue
				next+=" $(nft_map_targets "$text" "$m" "$mod" "$off" | tr '\n' ' ')"
			done < <(nft_vmap_refs <<<"$body")
		done
		chains=$(tr ' ' '\n' <<<"$next" | { grep -v '^$' || true; } | sort -u)
	done
	return 0
}
