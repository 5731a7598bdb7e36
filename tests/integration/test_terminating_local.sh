#!/usr/bin/env bash
# Terminating endpoints under Local traffic policies (test_terminating covers
# the Cluster policy). For internalTrafficPolicy: Local (cluster IP) and
# externalTrafficPolicy: Local (NodePort, external IP) only this node's
# endpoints count, and the "no ready endpoint: use the serving-terminating
# ones" fallback is applied among them alone:
#   - local endpoint serving+terminating, remote endpoint ready: the local
#     terminating one gets the local-policy traffic (a ready endpoint on
#     another node does not make it unusable);
#   - a local ready endpoint present: the local terminating one gets nothing;
#   - the local ready endpoint goes away: traffic moves to the local
#     terminating one, not to the remote ready one;
#   - the local endpoint terminating and no longer serving: dropped (no
#     usable local endpoint), although a remote one is ready.
# With externalTrafficPolicy: Local the cluster IP keeps the Cluster policy:
# there the remote ready endpoint wins over the local terminating one.
#
# Without the feature (policies ignored: every endpoint counts) the remote
# ready endpoint n2pod-1 takes the traffic the local terminating pod-1 should
# get, and the dropped service answers from n2pod-1.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require

topo_create 2       # node-1 (runs nftproxy): pod-1, pod-2
topo_add_node2 1    # node-2: n2pod-1
pod_serve_all
pod2_serve_all

node_manifest node-1 zone-a | manifest_put node.yaml

PORTS="http:80:TCP:8080"
SPORTS="http:8080:TCP"
# svc_files NAME IP4 IP6 "EPS" [SVCARGS...]: a dual-stack service; EPS are
# pod-1, pod-2 (node-1) and n2pod-1 (node-2) as "1/STATE 2/STATE n2/STATE"
# (STATE as slice_full_yaml's, default ready).
svc_files() {
	local name=$1 ip4=$2 ip6=$3 eps=$4 e st i e4="" e6=""
	shift 4
	for e in $eps; do
		st=""
		[[ $e == */* ]] && st="/${e#*/}"
		i=${e%%/*}
		if [[ $i == n2 ]]; then
			e4+=" $(pod2_ip4 1)@node-2$st"
			e6+=" $(pod2_ip6 1)@node-2$st"
		else
			e4+=" $(pod_ip4 "$i")@node-1$st"
			e6+=" $(pod_ip6 "$i")@node-1$st"
		fi
	done
	svc_full_yaml ns=demo name="$name" ips="$ip4,$ip6" ports="$PORTS" "$@"
	echo "---"
	slice_full_yaml ns=demo svc="$name" slice="$name-v4" family=IPv4 ports="$SPORTS" eps="$e4"
	echo "---"
	slice_full_yaml ns=demo svc="$name" slice="$name-v6" family=IPv6 ports="$SPORTS" eps="$e6"
}

# Internal traffic policy Local (cluster IPs).
svc_files itp-term 10.96.0.60 fd00:10:96::60 "1/terminating n2" itp=Local | manifest_put itp-term.yaml
svc_files itp-ready 10.96.0.61 fd00:10:96::61 "1 2/terminating n2" itp=Local | manifest_put itp-ready.yaml
svc_files itp-gone 10.96.0.64 fd00:10:96::64 "1/notserving n2" itp=Local | manifest_put itp-gone.yaml
# External traffic policy Local (NodePorts on the node's InternalIPs, external IPs).
svc_files etp-term 10.96.0.62 fd00:10:96::62 "1/terminating n2" type=NodePort etp=Local \
	ports="http:80:TCP:8080:30062" externalIPs=203.0.113.62,2001:db8:ff::62 | manifest_put etp-term.yaml
svc_files etp-ready 10.96.0.63 fd00:10:96::63 "1 2/terminating n2" type=NodePort etp=Local \
	ports="http:80:TCP:8080:30063" externalIPs=203.0.113.63,2001:db8:ff::63 | manifest_put etp-ready.yaml
svc_files etp-gone 10.96.0.65 fd00:10:96::65 "1/notserving n2" type=NodePort etp=Local \
	ports="http:80:TCP:8080:30065" externalIPs=203.0.113.65,2001:db8:ff::65 | manifest_put etp-gone.yaml
# A plain service: its dump line tells that the daemon has synced (the dump
# format of the services above is not what this test is about).
svc_manifest demo sentinel 10.96.0.69 "" "$PORTS" "2" | manifest_put sentinel.yaml

section "harness: every pod answers directly"
for ip in "$(pod_ip4 1)" "$(pod_ip6 1)" "$(pod_ip4 2)" "$(pod_ip6 2)" "$(pod2_ip4 1)" "$(pod2_ip6 1)"; do
	probe_run "$CLIENT" --proto tcp --count 2 "$ip" 8080
	assert_probe_ok
done

nftproxy_start --hostname-override node-1
wait_dump_has "$(svc_expect demo sentinel 10.96.0.69 "" "$PORTS" "2")"

# expect_only WHAT IP PORT NAME...: 40 connections from the client, every one
# answered, by exactly NAME... (first polls up to 5 s for that state to show,
# in case a change is still on its way; when it never does, 5 connections
# show what happens instead).
expect_only() {
	local what=$1 ip=$2 port=$3 got want count=5 t0
	shift 3
	want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	t0=$(date +%s)
	while (($(date +%s) - t0 < 5)); do
		probe_run "$CLIENT" --proto tcp --count 10 --timeout-ms 200 "$ip" "$port"
		got=$(awk '$1 == "reply" { print $2 }' <<<"$PROBE_OUT" | sort | tr '\n' ' ')
		if [[ $PROBE_RC == 0 && $got == "$want" ]]; then
			count=40
			break
		fi
		sleep 0.2
	done
	log "$what"
	probe_run "$CLIENT" --proto tcp --count "$count" --timeout-ms 1000 "$ip" "$port"
	assert_probe_ok
	assert_replies_only "$@"
}

# expect_dropped WHAT IP PORT: no answer, no refusal: the packets are dropped.
expect_dropped() {
	log "$1"
	probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 500 "$2" "$3"
	assert_probe_timeout
}

section "internalTrafficPolicy Local"
for ip in 10.96.0.60 fd00:10:96::60; do
	expect_only "itp-term $ip: local pod-1 terminating, remote n2pod-1 ready -> pod-1" "$ip" 80 pod-1
done
for ip in 10.96.0.61 fd00:10:96::61; do
	expect_only "itp-ready $ip: local pod-1 ready, local pod-2 terminating, n2pod-1 ready -> pod-1" "$ip" 80 pod-1
done
for ip in 10.96.0.64 fd00:10:96::64; do
	expect_dropped "itp-gone $ip: local pod-1 terminating and not serving, n2pod-1 ready -> dropped" "$ip" 80
done

section "externalTrafficPolicy Local: NodePort and external IP"
for addr in "$NODE_IP4 30062" "$NODE_IP6 30062" "203.0.113.62 80" "2001:db8:ff::62 80"; do
	set -- $addr
	expect_only "etp-term $1:$2: local pod-1 terminating, remote n2pod-1 ready -> pod-1" "$1" "$2" pod-1
done
for addr in "$NODE_IP4 30063" "$NODE_IP6 30063" "203.0.113.63 80" "2001:db8:ff::63 80"; do
	set -- $addr
	expect_only "etp-ready $1:$2: local pod-1 ready, local pod-2 terminating, n2pod-1 ready -> pod-1" "$1" "$2" pod-1
done
for addr in "$NODE_IP4 30065" "$NODE_IP6 30065" "203.0.113.65 80" "2001:db8:ff::65 80"; do
	set -- $addr
	expect_dropped "etp-gone $1:$2: local pod-1 terminating and not serving, n2pod-1 ready -> dropped" "$1" "$2"
done

section "externalTrafficPolicy Local leaves the cluster IP on the Cluster policy"
for ip in 10.96.0.62 fd00:10:96::62; do
	expect_only "etp-term cluster IP $ip: the ready n2pod-1 beats the terminating pod-1" "$ip" 80 n2pod-1
done
for ip in 10.96.0.63 fd00:10:96::63; do
	expect_only "etp-ready cluster IP $ip: the ready pod-1 and n2pod-1" "$ip" 80 pod-1 n2pod-1
done

section "the local ready endpoint goes away: the local terminating one takes over"
svc_files itp-ready 10.96.0.61 fd00:10:96::61 "2/terminating n2" itp=Local | manifest_put itp-ready.yaml
svc_files etp-ready 10.96.0.63 fd00:10:96::63 "2/terminating n2" type=NodePort etp=Local \
	ports="http:80:TCP:8080:30063" externalIPs=203.0.113.63,2001:db8:ff::63 | manifest_put etp-ready.yaml
for ip in 10.96.0.61 fd00:10:96::61; do
	expect_only "itp-ready $ip: pod-1 removed -> local terminating pod-2, not n2pod-1" "$ip" 80 pod-2
done
for addr in "$NODE_IP4 30063" "$NODE_IP6 30063" "203.0.113.63 80" "2001:db8:ff::63 80"; do
	set -- $addr
	expect_only "etp-ready $1:$2: pod-1 removed -> local terminating pod-2, not n2pod-1" "$1" "$2" pod-2
done

nftproxy_alive || check_failed "nftproxy died during the test"
finish
