#!/usr/bin/env bash
# sessionAffinity: ClientIP (timeoutSeconds 3) over three endpoints, TCP and
# UDP, IPv4 and IPv6: every new connection of one client address goes to the
# endpoint its first one went to, as long as it keeps coming back within the
# timeout; other client addresses draw their own endpoint; once a client has
# been idle for longer than the timeout its next connection is balanced again.
# A service without affinity spreads the same client's connections (control).
#
# Without the feature every connection is balanced on its own: a client's 30
# connections land on all three pods, and the "one pod" checks fail.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require

topo_create 4
pod_serve_all

# Extra client addresses, each a client of its own (probe --source).
NSRC=12
SRC4=() SRC6=()
for ((i = 0; i < NSRC; i++)); do
	SRC4+=("192.0.2.$((10 + i))")
	SRC6+=("2001:db8:0:2::$((10 + i))")
	client_add_ip "192.0.2.$((10 + i))/24"
	client_add_ip "2001:db8:0:2::$((10 + i))/64"
done

PORTS="http:80:TCP:8080 dns:53:UDP:5353"
SPORTS="http:8080:TCP dns:5353:UDP"
# svc_files NAME IP4 IP6 [SVCARGS...]: a dual-stack service over pods 1..3.
svc_files() {
	local name=$1 ip4=$2 ip6=$3
	shift 3
	svc_full_yaml ns=demo name="$name" ips="$ip4,$ip6" ports="$PORTS" "$@"
	echo "---"
	slice_full_yaml ns=demo svc="$name" slice="$name-v4" family=IPv4 ports="$SPORTS" \
		eps="$(pod_ip4 1)@node-1 $(pod_ip4 2)@node-1 $(pod_ip4 3)@node-1"
	echo "---"
	slice_full_yaml ns=demo svc="$name" slice="$name-v6" family=IPv6 ports="$SPORTS" \
		eps="$(pod_ip6 1)@node-1 $(pod_ip6 2)@node-1 $(pod_ip6 3)@node-1"
}
svc_files sticky 10.96.0.30 fd00:10:96::30 affinity=ClientIP timeout=3 | manifest_put sticky.yaml
svc_files spread 10.96.0.31 fd00:10:96::31 | manifest_put spread.yaml
node_manifest node-1 zone-a | manifest_put node.yaml
mapfile -t want < <(svc_expect demo sticky 10.96.0.30 fd00:10:96::30 "$PORTS" "1 2 3"
		    svc_expect demo spread 10.96.0.31 fd00:10:96::31 "$PORTS" "1 2 3")
nftproxy_start --hostname-override node-1
wait_dump "${want[@]}"

TARGETS=("tcp 10.96.0.30 80" "udp 10.96.0.30 53" "tcp fd00:10:96::30 80" "udp fd00:10:96::30 53")

# UDP attempts get source ports from a counter (--sport-base), so that no
# attempt joins the conntrack entry (and DNAT choice) of an earlier one: the
# affinity, not conntrack, has to keep a client on its endpoint.
SPORT_NEXT=20000
udp_ports() {
	local n=$1
	SPORT_ARGS=(--sport-base "$SPORT_NEXT")
	SPORT_NEXT=$((SPORT_NEXT + n))
}

# affine NS SRC PROTO IP PORT COUNT: COUNT connections from SRC ("" = the
# namespace's own address); sets POD to the only pod that answered them, or
# "" when some failed or more than one pod answered.
affine() {
	local ns=$1 from=$2 proto=$3 ip=$4 port=$5 count=$6 args=()
	[[ -n $from ]] && args+=(--source "$from")
	SPORT_ARGS=()
	[[ $proto == udp ]] && udp_ports "$count"
	probe_run "$ns" --proto "$proto" --count "$count" --timeout-ms 1000 "${args[@]}" "${SPORT_ARGS[@]}" "$ip" "$port"
	POD=$(awk '$1 == "reply" { n++; p = $2 } END { if (n == 1) print p }' <<<"$PROBE_OUT")
	(($(probe_get ok) == count)) || POD=""
}

# assert_affine WHAT: the last affine() had every attempt answered by one pod.
assert_affine() {
	if [[ -n $POD ]]; then
		pass "$1: all $(probe_get attempts) to $POD"
	else
		check_failed "$1: expected all attempts answered by one pod (ClientIP affinity), got $(probe_summary)
$PROBE_ERR"
	fi
}

fam_of() { [[ $1 == *:* ]] && echo 6 || echo 4; }

section "one client, 30 connections per port and family: one pod each"
declare -A MAIN
for t in "${TARGETS[@]}"; do
	set -- $t
	affine "$CLIENT" "" "$1" "$2" "$3" 30
	assert_affine "client -> $2 $3/$1"
	MAIN[$t]=$POD
done

# The timeout counts from the client's last connection (kube-proxy refreshes
# the client's entry on every new connection): three connections 2 s apart
# span 4 s > timeoutSeconds 3 and still stay on one pod. (Right after the
# first connections: round 0 follows them within much less than 3 s.)
section "connections 2 s apart (each within the timeout): the pod is kept"
for round in 0 1 2; do
	((round == 0)) || sleep 2
	for t in "${TARGETS[@]}"; do
		set -- $t
		affine "$CLIENT" "" "$1" "$2" "$3" 1
		if [[ -n $POD && $POD == "${MAIN[$t]}" ]]; then
			pass "client -> $2 $3/$1, round $round ($((2 * round)) s after the first connections): still ${MAIN[$t]}"
		else
			check_failed "client -> $2 $3/$1, round $round (2 s idle, timeout 3 s): expected ${MAIN[$t]:-?}, got ${POD:-$(probe_summary)}"
		fi
	done
done

section "pod-4 as a client (not an endpoint): one pod, maybe another one"
for t in "${TARGETS[@]}"; do
	set -- $t
	affine "$(pod_ns 4)" "" "$1" "$2" "$3" 30
	assert_affine "pod-4 -> $2 $3/$1"
	log "pod-4 -> $2 $3/$1 sticks to ${POD:-?} (the client's pod: ${MAIN[$t]:-?})"
done

# Each client address draws its endpoint at random among the three, on its
# own: all NSRC=12 landing on one and the same pod has probability
# 3 * (1/3)^12 = 1/177147 (about 6e-6) per port and family, so seeing at
# least two distinct pods is a reliable sign that different clients are
# balanced (and that the affinity is keyed by the client address, not global).
section "$NSRC client addresses: each sticks to one pod, together they use at least two"
declare -A BY_SRC
for t in "${TARGETS[@]}"; do
	set -- $t
	if [[ $(fam_of "$2") == 6 ]]; then srcs=("${SRC6[@]}"); else srcs=("${SRC4[@]}"); fi
	pods="" spread=""
	for s in "${srcs[@]}"; do
		affine "$CLIENT" "$s" "$1" "$2" "$3" 10
		[[ -n $POD ]] || spread+=" $s:[$(probe_replies)]"
		BY_SRC["$s $t"]=$POD
		pods+=" ${POD:-?}"
	done
	if [[ -z $spread ]]; then
		pass "$2 $3/$1: each of $NSRC client addresses had its 10 connections answered by one pod"
	else
		check_failed "$2 $3/$1: expected each client address's 10 connections answered by one pod; not so for$spread"
	fi
	distinct=$(tr ' ' '\n' <<<"$pods" | awk '$1 != "" && $1 != "?"' | sort -u | wc -l)
	if ((distinct >= 2)); then
		pass "$2 $3/$1: $NSRC client addresses used $distinct pods:$pods"
	else
		check_failed "$2 $3/$1: $NSRC client addresses all went to one pod:$pods (chance 6e-6 if balanced)"
	fi
done

# After more than timeoutSeconds of silence the choice is made again: the
# same pod comes back with probability 1/3 per client, so over the main client
# and the NSRC others (13 clients) no change at all in one round has
# probability (1/3)^13 (about 6e-7); up to 3 rounds are tried.
section "idle for 4 s (> timeout 3 s): the endpoint is drawn again"
declare -A LAST
for t in "${TARGETS[@]}"; do
	LAST["main $t"]=${MAIN[$t]}
	set -- $t
	if [[ $(fam_of "$2") == 6 ]]; then srcs=("${SRC6[@]}"); else srcs=("${SRC4[@]}"); fi
	for s in "${srcs[@]}"; do LAST["$s $t"]=${BY_SRC["$s $t"]}; done
done
declare -A REDRAWN
for round in 1 2 3; do
	sleep 4
	for t in "${TARGETS[@]}"; do
		[[ -n ${REDRAWN[$t]:-} ]] && continue
		set -- $t
		if [[ $(fam_of "$2") == 6 ]]; then srcs=("${SRC6[@]}"); else srcs=("${SRC4[@]}"); fi
		changed=0
		for s in main "${srcs[@]}"; do
			from=$s
			[[ $s == main ]] && from=""
			affine "$CLIENT" "$from" "$1" "$2" "$3" 1
			if [[ -z $POD ]]; then
				check_failed "$s -> $2 $3/$1 after 4 s idle: no answer: $(probe_summary)"
			elif [[ -n ${LAST["$s $t"]} && $POD != "${LAST["$s $t"]}" ]]; then
				changed=$((changed + 1))
			fi
			LAST["$s $t"]=$POD
		done
		if ((changed > 0)); then
			REDRAWN[$t]=$round
			pass "$2 $3/$1: after 4 s idle $changed of $((NSRC + 1)) clients moved to another pod (round $round)"
		fi
	done
done
for t in "${TARGETS[@]}"; do
	[[ -n ${REDRAWN[$t]:-} ]] ||
		check_failed "$t: no client changed pod after 4 s idle in 3 rounds (timeoutSeconds 3 not applied? chance 2e-19 if redrawn)"
done

# 30 independent draws over 3 endpoints all equal: 3 * (1/3)^30, never.
section "control: no affinity, the same client's connections spread"
for t in "tcp 10.96.0.31 80" "udp 10.96.0.31 53" "tcp fd00:10:96::31 80" "udp fd00:10:96::31 53"; do
	set -- $t
	SPORT_ARGS=()
	[[ $1 == udp ]] && udp_ports 30
	probe_run "$CLIENT" --proto "$1" --count 30 --timeout-ms 1000 "${SPORT_ARGS[@]}" "$2" "$3"
	assert_probe_ok
	n=$(awk '$1 == "reply"' <<<"$PROBE_OUT" | wc -l)
	if ((n > 1)); then
		pass "client -> $2 $3/$1 without affinity: $n pods ($(probe_replies))"
	else
		check_failed "client -> $2 $3/$1 without affinity: expected more than one pod, got $(probe_replies)"
	fi
done

nftproxy_alive || check_failed "nftproxy died during the test"
finish
