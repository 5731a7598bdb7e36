#!/usr/bin/env bash
# externalTrafficPolicy: Local, with one endpoint on node-1 (this node) and two
# on node-2. External traffic (node port, LB IP) goes to the local endpoint
# only, and the pod sees the client's own address; with the default policy
# (Cluster) external traffic is masqueraded: the pod sees a node address.
# With no local endpoint left, external traffic is dropped (a timeout, no
# reset) while pods and the node itself still reach the remote endpoints
# through the LB IP. healthCheckNodePort answers 200 with the number of
# local endpoints, 503 when there are none.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require

topo_create 2
topo_add_node2 2
pod_serve_all --show-peer
pod2_serve_all --show-peer

NODE_ADDRS="$NODE_IP4 $NODE_ALT_IP4 10.244.0.1 $NODE_IP6 $NODE_ALT_IP6 fd00:10:244::1"
HC_PORT=31000
P="http:80:TCP:8080:30280 dns:53:UDP:5353:30253"
PC="http:80:TCP:8080:30281 dns:53:UDP:5353:30254"
node_manifest node-1 zone-a | manifest_put node.yaml
svc_local() {
	{
		svc_full_yaml ns=demo name=web type=LoadBalancer ips=10.96.0.60,fd00:10:96::60 ports="$P" \
			lbIPs="203.0.113.60 2001:db8:ff::60" etp=Local hcnp=$HC_PORT
		cluster_slices demo web "$P" "$1"
	} | manifest_put web.yaml
}
svc_local "1 n2:1 n2:2"
{
	svc_full_yaml ns=demo name=webc type=LoadBalancer ips=10.96.0.61,fd00:10:96::61 ports="$PC" \
		lbIPs="203.0.113.61 2001:db8:ff::61"
	cluster_slices demo webc "$PC" "1 n2:1 n2:2"
} | manifest_put webc.yaml
mapfile -t want < <(cluster_expect demo web 10.96.0.60 fd00:10:96::60 "$P" "1 n2:1 n2:2"
		    cluster_expect demo webc 10.96.0.61 fd00:10:96::61 "$PC" "1 n2:1 n2:2")

# check_health CODE N: GET / on the health check node port from the client.
check_health() {
	local want_body
	want_body=$(jq -cS . <<<"{\"service\":{\"namespace\":\"demo\",\"name\":\"web\"},\"localEndpoints\":$2,\"serviceProxyHealthy\":true}")
	http_get "$CLIENT" "http://$NODE_IP4:$HC_PORT/"
	assert_eq "healthCheckNodePort $HC_PORT HTTP status" "$1" "$HTTP_CODE"
	assert_eq "healthCheckNodePort $HC_PORT body" "$want_body" "$(jq -cS . <<<"$HTTP_BODY" 2>/dev/null || echo "(not JSON) $HTTP_BODY")"
}

# The pods count as local traffic (kube-proxy's detect-local), so they are
# not subject to the external policy.
nftproxy_start --hostname-override node-1 --cluster-cidr 10.244.0.0/16,fd00:10:244::/48
wait_dump_has "${want[@]}"
wait_probe "$CLIENT" ok 5 --proto tcp 203.0.113.60 80

section "ETP Local: external traffic reaches the local endpoint only, client source kept"
for target in "tcp $NODE_IP4 30280" "udp $NODE_IP4 30253" "tcp 203.0.113.60 80" "udp 203.0.113.60 53"; do
	set -- $target
	probe_run "$CLIENT" --proto "$1" --count 30 --timeout-ms 1000 "$2" "$3"
	assert_probe_ok
	assert_replies_only pod-1
	assert_peers_only "$CLIENT_IP4"
done
for target in "tcp $NODE_IP6 30280" "udp $NODE_IP6 30253" "tcp 2001:db8:ff::60 80" "udp 2001:db8:ff::60 53"; do
	set -- $target
	probe_run "$CLIENT" --proto "$1" --count 30 --timeout-ms 1000 "$2" "$3"
	assert_probe_ok
	assert_replies_only pod-1
	assert_peers_only "$CLIENT_IP6"
done
section "ETP Local: the cluster IP still uses every endpoint"
probe_run "$CLIENT" --proto tcp --count 45 --timeout-ms 1000 10.96.0.60 80
assert_probe_ok
assert_replies_only pod-1 n2pod-1 n2pod-2
check_health 200 1

section "ETP Cluster: external traffic to every endpoint, masqueraded to a node address"
for target in "tcp $NODE_IP4 30281" "tcp 203.0.113.61 80" "udp 203.0.113.61 53" \
	"tcp $NODE_IP6 30281" "tcp 2001:db8:ff::61 80"; do
	set -- $target
	probe_run "$CLIENT" --proto "$1" --count 45 --timeout-ms 1000 "$2" "$3"
	assert_probe_ok
	assert_replies_only pod-1 n2pod-1 n2pod-2
	assert_peers_only $NODE_ADDRS
done

section "ETP Local without a local endpoint: external traffic dropped"
svc_local "n2:1 n2:2"
mapfile -t want < <(cluster_expect demo web 10.96.0.60 fd00:10:96::60 "$P" "n2:1 n2:2"
		    cluster_expect demo webc 10.96.0.61 fd00:10:96::61 "$PC" "1 n2:1 n2:2")
wait_dump_has "${want[@]}"
ct_flush
for target in "tcp $NODE_IP4 30280" "udp $NODE_IP4 30253" "tcp 203.0.113.60 80" "udp 203.0.113.60 53" \
	"tcp $NODE_IP6 30280" "tcp 2001:db8:ff::60 80" "udp 2001:db8:ff::60 53"; do
	set -- $target
	probe_run "$CLIENT" --proto "$1" --count 3 --timeout-ms 700 "$2" "$3"
	assert_probe_timeout
done
check_health 503 0

section "... while a pod and the node itself still reach the remote endpoints"
for ns in "$(pod_ns 1)" "$NODE"; do
	for target in "tcp 203.0.113.60 80" "udp 203.0.113.60 53" "tcp 2001:db8:ff::60 80"; do
		set -- $target
		probe_run "$ns" --proto "$1" --count 30 --timeout-ms 1000 "$2" "$3"
		assert_probe_ok
		assert_replies_only n2pod-1 n2pod-2
	done
done

section "a local endpoint back: served again"
svc_local "1 n2:1 n2:2"
mapfile -t want < <(cluster_expect demo web 10.96.0.60 fd00:10:96::60 "$P" "1 n2:1 n2:2"
		    cluster_expect demo webc 10.96.0.61 fd00:10:96::61 "$PC" "1 n2:1 n2:2")
wait_dump_has "${want[@]}"
wait_probe "$CLIENT" ok 5 --proto tcp 203.0.113.60 80
probe_run "$CLIENT" --proto tcp --count 20 --timeout-ms 1000 203.0.113.60 80
assert_probe_ok
assert_replies_only pod-1
check_health 200 1

nftproxy_alive || check_failed "nftproxy died during the test"
finish
