#!/usr/bin/env bash
# NodePort services, TCP and UDP, IPv4 and IPv6, with endpoints on node-1 (the
# node nftproxy runs on) and node-2. With the default --nodeport-addresses
# "primary" only the Node's InternalIPs (192.0.2.1, 2001:db8:0:2::1) serve node
# ports: the client reaches every endpoint there, and nothing on the node's
# second address 198.51.100.1 (the packet stays addressed to the node, where
# nothing listens: refused). --nodeport-addresses CIDRs move the node ports to
# the local addresses inside them; 0.0.0.0/0,::/0 serves every local address.
# Loopback is never served (kube-proxy's nftables mode does not serve
# 127.0.0.1:NODEPORT): the node itself connecting there gets nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require

topo_create 3
topo_add_node2 2
pod_serve_all
pod2_serve_all

P="http:80:TCP:8080:30080 dns:53:UDP:5353:30053"
PODS="1 2 n2:1 n2:2"
ALL="pod-1 pod-2 n2pod-1 n2pod-2"
node_manifest node-1 zone-a | manifest_put node.yaml
{
	svc_full_yaml ns=demo name=np type=NodePort ips=10.96.0.30,fd00:10:96::30 ports="$P"
	cluster_slices demo np "$P" "$PODS"
} | manifest_put np.yaml
mapfile -t want < <(cluster_expect demo np 10.96.0.30 fd00:10:96::30 "$P" "$PODS")

# probe_nodeport NS IP WHAT: TCP 30080 and UDP 30053 on IP from NS; WHAT is
# "all" (every endpoint answers every attempt) or "none" (no pod answers).
probe_nodeport() {
	local ns=$1 ip=$2 what=$3 target
	for target in "tcp 30080" "udp 30053"; do
		set -- $target
		if [[ $what == all ]]; then
			probe_run "$ns" --proto "$1" --count 60 --timeout-ms 1000 "$ip" "$2"
			assert_probe_ok
			assert_replies_only $ALL
		else
			probe_run "$ns" --proto "$1" --count 3 --timeout-ms 500 "$ip" "$2"
			assert_probe_not_served
		fi
	done
}

section "default --nodeport-addresses (primary: the Node's InternalIPs)"
nftproxy_start --hostname-override node-1
wait_dump_has "${want[@]}"
wait_probe "$CLIENT" ok 5 --proto tcp "$NODE_IP4" 30080
for ip in "$NODE_IP4" "$NODE_IP6"; do probe_nodeport "$CLIENT" "$ip" all; done
# A pod of node-1 and the node itself use node ports too.
probe_nodeport "$(pod_ns 3)" "$NODE_IP4" all
probe_nodeport "$NODE" "$NODE_IP4" all
probe_nodeport "$NODE" "$NODE_IP6" all
section "not on the node's second address, not on loopback"
for ip in "$NODE_ALT_IP4" "$NODE_ALT_IP6"; do
	probe_nodeport "$CLIENT" "$ip" none
	# Nothing listens there: the node itself answers with a reset / ICMP error.
	probe_run "$CLIENT" --proto tcp --count 2 --timeout-ms 500 "$ip" 30080
	assert_probe_refused
done
probe_nodeport "$NODE" 127.0.0.1 none
probe_nodeport "$NODE" ::1 none
section "the service port itself is no node port: $NODE_IP4:80"
probe_run "$CLIENT" --proto tcp --count 2 --timeout-ms 500 "$NODE_IP4" 80
assert_probe_not_served

section "--nodeport-addresses 198.51.100.0/24,2001:db8:0:3::/64"
nftproxy_fresh --hostname-override node-1 --nodeport-addresses 198.51.100.0/24,2001:db8:0:3::/64
wait_dump_has "${want[@]}"
wait_probe "$CLIENT" ok 5 --proto tcp "$NODE_ALT_IP4" 30080
for ip in "$NODE_ALT_IP4" "$NODE_ALT_IP6"; do probe_nodeport "$CLIENT" "$ip" all; done
probe_nodeport "$NODE2" "$NODE_ALT_IP4" all
for ip in "$NODE_IP4" "$NODE_IP6"; do probe_nodeport "$CLIENT" "$ip" none; done
probe_nodeport "$NODE" 127.0.0.1 none

section "--nodeport-addresses 0.0.0.0/0,::/0: every local address but loopback"
nftproxy_fresh --hostname-override node-1 --nodeport-addresses 0.0.0.0/0,::/0
wait_dump_has "${want[@]}"
wait_probe "$CLIENT" ok 5 --proto tcp "$NODE_ALT_IP4" 30080
for ip in "$NODE_IP4" "$NODE_IP6" "$NODE_ALT_IP4" "$NODE_ALT_IP6"; do
	probe_nodeport "$CLIENT" "$ip" all
done
probe_nodeport "$NODE" 127.0.0.1 none
probe_nodeport "$NODE" ::1 none

nftproxy_alive || check_failed "nftproxy died during the test"
finish
