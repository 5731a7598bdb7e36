#!/usr/bin/env bash
# internalTrafficPolicy: Local: cluster IP traffic goes only to endpoints on
# this node (node-1), from the client, a pod and the node itself, TCP and UDP,
# IPv4 and IPv6. A service whose endpoints are all on other nodes drops
# cluster IP traffic (a timeout, no reset: it has endpoints, just none here),
# while a service without any endpoint rejects at once, as always.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require

topo_create 3
topo_add_node2 2
pod_serve_all
pod2_serve_all

P="http:80:TCP:8080 dns:53:UDP:5353"
node_manifest node-1 zone-a | manifest_put node.yaml
svc_itp() {
	local name=$1 ip=$2 pods=$3
	{
		svc_full_yaml ns=demo name="$name" ips="10.96.0.$ip,fd00:10:96::$ip" ports="$P" itp=Local
		cluster_slices demo "$name" "$P" "$pods"
	} | manifest_put "$name.yaml"
}
svc_itp local 70 "1 2 n2:1 n2:2"
svc_itp remote 71 "n2:1 n2:2"
svc_itp empty 72 ""
# The same endpoints with the default policy, as a control.
{
	svc_full_yaml ns=demo name=cluster ips=10.96.0.73,fd00:10:96::73 ports="$P"
	cluster_slices demo cluster "$P" "1 2 n2:1 n2:2"
} | manifest_put cluster.yaml

nftproxy_start --hostname-override node-1
# What the dump lists for a Local policy is not this test's business: wait for
# the services to be in the kernel, then for the local one to answer.
wait_dump_svc demo/local demo/remote demo/empty demo/cluster
wait_probe "$CLIENT" ok 5 --proto tcp 10.96.0.70 80

section "ITP Local: the client, a pod and the node reach node-1's endpoints only"
for ns in "$CLIENT" "$(pod_ns 3)" "$NODE"; do
	for target in "tcp 10.96.0.70 80" "udp 10.96.0.70 53" "tcp fd00:10:96::70 80" "udp fd00:10:96::70 53"; do
		set -- $target
		probe_run "$ns" --proto "$1" --count 40 --timeout-ms 1000 "$2" "$3"
		assert_probe_ok
		assert_replies_only pod-1 pod-2
	done
done

section "control: ITP Cluster with the same endpoints uses both nodes"
probe_run "$CLIENT" --proto tcp --count 60 --timeout-ms 1000 10.96.0.73 80
assert_probe_ok
assert_replies_only pod-1 pod-2 n2pod-1 n2pod-2

section "ITP Local, endpoints only on node-2: dropped, not refused"
for target in "tcp 10.96.0.71 80" "udp 10.96.0.71 53" "tcp fd00:10:96::71 80" "udp fd00:10:96::71 53"; do
	set -- $target
	for ns in "$CLIENT" "$(pod_ns 3)"; do
		probe_run "$ns" --proto "$1" --count 3 --timeout-ms 700 "$2" "$3"
		assert_probe_timeout
	done
	# The node's own packets dropped in its output hook fail at send()
	# (EPERM: "unreachable"), or time out: either way no answer, no refusal.
	probe_run "$NODE" --proto "$1" --count 3 --timeout-ms 700 "$2" "$3"
	assert_probe_not_served
	assert_eq "node -> $2 $3/$1: refusals" 0 "$(probe_get refused)"
done

section "ITP Local without any endpoint: refused at once"
for target in "tcp 10.96.0.72 80" "udp 10.96.0.72 53" "tcp fd00:10:96::72 80" "udp fd00:10:96::72 53"; do
	set -- $target
	probe_run "$CLIENT" --proto "$1" --count 3 "$2" "$3"
	assert_probe_refused
done

section "a local endpoint turns up for demo/remote: served by it alone"
svc_itp remote 71 "2 n2:1 n2:2"
wait_probe "$CLIENT" ok 5 --proto tcp 10.96.0.71 80
probe_run "$CLIENT" --proto tcp --count 20 --timeout-ms 1000 10.96.0.71 80
assert_probe_ok
assert_replies_only pod-2

nftproxy_alive || check_failed "nftproxy died during the test"
finish
