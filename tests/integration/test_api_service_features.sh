#!/usr/bin/env bash
# Issue 5's Service semantics from the Kubernetes API, not only from
# manifests: the real kubectl writes this node's Node, a LoadBalancer Service
# with externalTrafficPolicy Local and a node port, its status (the LB
# address, through the status subresource) and EndpointSlices with nodeName
# into the test API server. Node port and LB address reach only the local
# endpoint with the client's address kept, the health check node port
# counts it; when it goes, external traffic is dropped and the health check
# says 503; the Node's address is where node ports are served
# (--nodeport-addresses primary), and a Node address change moves them.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_api.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require
api_require

topo_create 1
topo_add_node2 1
pod_serve_all --show-peer
pod2_serve_all --show-peer
api_start

kube_node_yaml "$KUBE_NODE_NAME" zone-a "$NODE_IP4" | kube apply -f - >/dev/null
P="http:80:TCP:8080:30480"
svc() {
	{
		svc_full_yaml ns=demo name=web type=LoadBalancer ips=10.96.0.90 ports="$P" \
			etp=Local hcnp=31480 families=IPv4
		cluster_slices demo web "$P" "$1"
	} | kube apply -f - >/dev/null
}
svc "1 n2:1"
kube patch -n demo service web --subresource=status --type=merge \
	-p '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.90"}]}}}' >/dev/null

nftproxy_use_api
nftproxy_start --cluster-cidr 10.244.0.0/16
wait_probe "$CLIENT" ok 10 --proto tcp 203.0.113.90 80

section "from the API: node port and LB address, local endpoint only, source kept"
for target in "$NODE_IP4 30480" "203.0.113.90 80"; do
	probe_run "$CLIENT" --proto tcp --count 20 --timeout-ms 1000 $target
	assert_probe_ok
	assert_replies_only pod-1
	assert_peers_only "$CLIENT_IP4"
done
http_get "$CLIENT" "http://$NODE_IP4:31480/"
assert_eq "health check with a local endpoint" "200 1" "$HTTP_CODE $(jq -r .localEndpoints <<<"$HTTP_BODY")"

section "the local endpoint goes: external traffic dropped, health check 503"
svc "n2:1"
wait_probe "$CLIENT" timeout 10 --proto tcp 203.0.113.90 80
probe_run "$CLIENT" --proto tcp --count 5 --timeout-ms 500 "$NODE_IP4" 30480
assert_probe_timeout
http_get "$CLIENT" "http://$NODE_IP4:31480/"
assert_eq "health check without a local endpoint" "503 0" "$HTTP_CODE $(jq -r .localEndpoints <<<"$HTTP_BODY")"
probe_run "$(pod_ns 1)" --proto tcp --count 10 --timeout-ms 1000 203.0.113.90 80
assert_probe_ok
assert_replies_only n2pod-1

section "the Node's address moves: node ports follow it"
svc "1"
# The kubelet writes addresses through the status subresource.
kube patch node "$KUBE_NODE_NAME" --subresource=status --type=merge \
	-p "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"$NODE_ALT_IP4\"}]}}" >/dev/null
wait_probe "$CLIENT" ok 10 --proto tcp "$NODE_ALT_IP4" 30480
probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 300 "$NODE_IP4" 30480
assert_probe_not_served
finish
