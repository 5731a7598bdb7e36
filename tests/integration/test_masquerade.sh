#!/usr/bin/env bash
# Masquerading of cluster IP traffic, seen from the pods (podserver
# --show-peer names the source address it got):
#  --cluster-cidr: traffic from outside the cluster CIDR (the client) is
#    masqueraded -- the pod sees a node address; pod to service (this node's
#    pods and node-2's) keeps the pod's address.
#  no --cluster-cidr: nothing is masqueraded, the client's address arrives.
#  --masquerade-all: pod to service is masqueraded too.
#  --detect-local-mode NodeCIDR: local is this Node's spec.podCIDRs: node-1's
#    pods keep their address, node-2's pods and the client are masqueraded.
#  --iptables-masquerade-bit 5: the mark is 0x20 (default bit 14: 0x4000),
#    and masquerading works with it.
# Every mode starts from an empty table and conntrack, so only its own rules act.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require

topo_create 2
topo_add_node2 2
pod_serve_all --show-peer
pod2_serve_all --show-peer

NODE_ADDRS="$NODE_IP4 $NODE_ALT_IP4 10.244.0.1 $NODE_IP6 $NODE_ALT_IP6 fd00:10:244::1"
CLUSTER_CIDR=10.244.0.0/16,fd00:10:244::/48
P="http:80:TCP:8080 dns:53:UDP:5353"
# demo/web: pod-2 on node-1; demo/far: n2pod-2 on node-2.
{
	svc_full_yaml ns=demo name=web ips=10.96.0.80,fd00:10:96::80 ports="$P"
	cluster_slices demo web "$P" "2"
} | manifest_put web.yaml
{
	svc_full_yaml ns=demo name=far ips=10.96.0.81,fd00:10:96::81 ports="$P"
	cluster_slices demo far "$P" "n2:2"
} | manifest_put far.yaml
mapfile -t want < <(cluster_expect demo web 10.96.0.80 fd00:10:96::80 "$P" "2"
		    cluster_expect demo far 10.96.0.81 fd00:10:96::81 "$P" "n2:2")

# mode ARGS...: nftproxy afresh with ARGS, waits for its rules.
mode() {
	section "nftproxy $*"
	nftproxy_fresh --hostname-override node-1 "$@"
	wait_dump_has "${want[@]}"
	wait_probe "$CLIENT" ok 5 --proto tcp 10.96.0.80 80
}

# sees FROM_NS SERVICE_IP4 SERVICE_IP6 POD PEERS4 PEERS6: TCP and UDP (IPv4),
# TCP (IPv6) from FROM_NS to the service land on POD, which sees a source
# among PEERS4 / PEERS6 (a word list each).
sees() {
	local ns=$1 ip4=$2 ip6=$3 pod=$4 peers4=$5 peers6=$6 target
	for target in "tcp $ip4 80" "udp $ip4 53" "tcp $ip6 80"; do
		set -- $target
		probe_run "$ns" --proto "$1" --count 10 --timeout-ms 1000 "$2" "$3"
		assert_probe_ok
		assert_replies_only "$pod"
		if [[ $2 == *:* ]]; then assert_peers_only $peers6; else assert_peers_only $peers4; fi
	done
}

POD1="$(pod_ip4 1) $(pod_ip6 1)"
N2POD1="$(pod2_ip4 1) $(pod2_ip6 1)"

mode --cluster-cidr "$CLUSTER_CIDR"
sees "$CLIENT" 10.96.0.80 fd00:10:96::80 pod-2 "$NODE_ADDRS" "$NODE_ADDRS"
sees "$CLIENT" 10.96.0.81 fd00:10:96::81 n2pod-2 "$NODE_ADDRS" "$NODE_ADDRS"
sees "$(pod_ns 1)" 10.96.0.80 fd00:10:96::80 pod-2 "$POD1" "$POD1"
sees "$(pod_ns 1)" 10.96.0.81 fd00:10:96::81 n2pod-2 "$POD1" "$POD1"
sees "$(pod2_ns 1)" 10.96.0.80 fd00:10:96::80 pod-2 "$N2POD1" "$N2POD1"
table=$(nft_table)
if grep -q 0x00004000 <<<"$table" && ! grep -q 0x00000020 <<<"$table"; then
	pass "the default masquerade mark is 0x00004000 (bit 14)"
else
	check_failed "expected mark 0x00004000 (and no 0x00000020) in the table:
$(grep -n 'mark' <<<"$table")"
fi

mode
sees "$CLIENT" 10.96.0.80 fd00:10:96::80 pod-2 "$CLIENT_IP4" "$CLIENT_IP6"
sees "$CLIENT" 10.96.0.81 fd00:10:96::81 n2pod-2 "$CLIENT_IP4" "$CLIENT_IP6"
sees "$(pod_ns 1)" 10.96.0.80 fd00:10:96::80 pod-2 "$POD1" "$POD1"

mode --cluster-cidr "$CLUSTER_CIDR" --masquerade-all
sees "$(pod_ns 1)" 10.96.0.80 fd00:10:96::80 pod-2 "$NODE_ADDRS" "$NODE_ADDRS"
sees "$(pod_ns 1)" 10.96.0.81 fd00:10:96::81 n2pod-2 "$NODE_ADDRS" "$NODE_ADDRS"
sees "$CLIENT" 10.96.0.80 fd00:10:96::80 pod-2 "$NODE_ADDRS" "$NODE_ADDRS"

node_manifest node-1 zone-a | manifest_put node.yaml
mode --detect-local-mode NodeCIDR
sees "$(pod_ns 1)" 10.96.0.80 fd00:10:96::80 pod-2 "$POD1" "$POD1"
sees "$(pod_ns 1)" 10.96.0.81 fd00:10:96::81 n2pod-2 "$POD1" "$POD1"
sees "$(pod2_ns 1)" 10.96.0.80 fd00:10:96::80 pod-2 "$NODE_ADDRS" "$NODE_ADDRS"
sees "$CLIENT" 10.96.0.80 fd00:10:96::80 pod-2 "$NODE_ADDRS" "$NODE_ADDRS"
manifest_rm node.yaml

mode --cluster-cidr "$CLUSTER_CIDR" --iptables-masquerade-bit 5
table=$(nft_table)
if grep -q 0x00000020 <<<"$table" && ! grep -q 0x00004000 <<<"$table"; then
	pass "--iptables-masquerade-bit 5: the table uses mark 0x00000020"
else
	check_failed "--iptables-masquerade-bit 5: expected mark 0x00000020 (and no 0x00004000) in the table:
$(grep -n 'mark' <<<"$table")"
fi
sees "$CLIENT" 10.96.0.80 fd00:10:96::80 pod-2 "$NODE_ADDRS" "$NODE_ADDRS"
sees "$CLIENT" 10.96.0.81 fd00:10:96::81 n2pod-2 "$NODE_ADDRS" "$NODE_ADDRS"
sees "$(pod_ns 1)" 10.96.0.80 fd00:10:96::80 pod-2 "$POD1" "$POD1"

nftproxy_alive || check_failed "nftproxy died during the test"
finish
