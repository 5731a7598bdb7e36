#!/usr/bin/env bash
# type LoadBalancer: the addresses of status.loadBalancer.ingress are served on
# the service's ports like the cluster IP, TCP and UDP, IPv4 and IPv6, from
# the client to endpoints on both nodes -- except an ingress with ipMode:
# Proxy (the load balancer proxies to the node ports itself; kube-proxy does
# not capture its address). The node routes the LB range into its sink, so
# an address or port nothing DNATs gets no answer (a timeout).
# loadBalancerSourceRanges: traffic to the LB IP from a source outside the
# ranges is dropped (timeout, no reset), from a source inside gets through;
# the service's cluster IP is not restricted by the ranges.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require

topo_create 2
topo_add_node2 1
pod_serve_all
pod2_serve_all
# A second client address, inside the source ranges below.
client_add_ip 192.0.2.3/24
client_add_ip 2001:db8:0:2::3/64

P="http:80:TCP:8080 dns:53:UDP:5353"
PODS="1 2 n2:1"
ALL="pod-1 pod-2 n2pod-1"
node_manifest node-1 zone-a | manifest_put node.yaml
{
	svc_full_yaml ns=demo name=lb type=LoadBalancer ips=10.96.0.40,fd00:10:96::40 ports="$P" \
		lbIPs="203.0.113.30 203.0.113.31/Proxy 2001:db8:ff::30 2001:db8:ff::31/Proxy"
	cluster_slices demo lb "$P" "$PODS"
} | manifest_put lb.yaml
{
	svc_full_yaml ns=demo name=ranged type=LoadBalancer ips=10.96.0.41,fd00:10:96::41 ports="$P" \
		lbIPs="203.0.113.32 2001:db8:ff::32" \
		lbRanges="198.51.100.0/24 192.0.2.3/32 2001:db8:0:3::/64 2001:db8:0:2::3/128"
	cluster_slices demo ranged "$P" "$PODS"
} | manifest_put ranged.yaml
mapfile -t want < <(cluster_expect demo lb 10.96.0.40 fd00:10:96::40 "$P" "$PODS"
		    cluster_expect demo ranged 10.96.0.41 fd00:10:96::41 "$P" "$PODS")

nftproxy_start --hostname-override node-1
wait_dump_has "${want[@]}"
wait_probe "$CLIENT" ok 5 --proto tcp 203.0.113.30 80

section "client -> LB IPs: every endpoint"
for ip in 203.0.113.30 2001:db8:ff::30; do
	for target in "tcp 80" "udp 53"; do
		set -- $target
		probe_run "$CLIENT" --proto "$1" --count 60 --timeout-ms 1000 "$ip" "$2"
		assert_probe_ok
		assert_replies_only $ALL
	done
done

section "ipMode: Proxy ingress and ports the service lacks: not served"
for ip in 203.0.113.31 2001:db8:ff::31; do
	probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 500 "$ip" 80
	assert_probe_not_served
	probe_run "$CLIENT" --proto udp --count 3 --timeout-ms 500 "$ip" 53
	assert_probe_not_served
done
for ip in 203.0.113.30 2001:db8:ff::30; do
	probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 500 "$ip" 8080
	assert_probe_not_served
	probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 500 "$ip" 9000
	assert_probe_not_served
done

section "loadBalancerSourceRanges: the client's first address is outside: dropped"
# --source: the client has a second address per family, inside the ranges,
# and IPv6 source selection may pick either.
for args in "$CLIENT_IP4 203.0.113.32" "$CLIENT_IP6 2001:db8:ff::32"; do
	set -- $args
	probe_run "$CLIENT" --source "$1" --proto tcp --count 3 --timeout-ms 700 "$2" 80
	assert_probe_timeout
	probe_run "$CLIENT" --source "$1" --proto udp --count 3 --timeout-ms 700 "$2" 53
	assert_probe_timeout
done

section "loadBalancerSourceRanges: sources inside get through"
for args in "$CLIENT 192.0.2.3 203.0.113.32" "$CLIENT 2001:db8:0:2::3 2001:db8:ff::32" \
	"$NODE2 $NODE2_IP4 203.0.113.32" "$NODE2 $NODE2_IP6 2001:db8:ff::32"; do
	set -- $args
	for target in "tcp 80" "udp 53"; do
		probe_run "$1" --source "$2" --proto ${target% *} --count 40 --timeout-ms 1000 "$3" ${target#* }
		assert_probe_ok
		assert_replies_only $ALL
	done
done

section "the ranges restrict the LB IP only: the cluster IP serves the client"
for ip in 10.96.0.41 fd00:10:96::41; do
	probe_run "$CLIENT" --proto tcp --count 30 --timeout-ms 1000 "$ip" 80
	assert_probe_ok
	assert_replies_only $ALL
done

section "ingress removed from the status: no longer served"
{
	svc_full_yaml ns=demo name=lb type=LoadBalancer ips=10.96.0.40,fd00:10:96::40 ports="$P" \
		lbIPs="2001:db8:ff::30"
	cluster_slices demo lb "$P" "$PODS"
} | manifest_put lb.yaml
wait_probe "$CLIENT" timeout 5 --proto tcp 203.0.113.30 80
probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 500 203.0.113.30 80
assert_probe_not_served
probe_run "$CLIENT" --proto tcp --count 20 --timeout-ms 1000 2001:db8:ff::30 80
assert_probe_ok

nftproxy_alive || check_failed "nftproxy died during the test"
finish
