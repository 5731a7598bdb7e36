#!/usr/bin/env bash
# The API source end to end (issue 3): the real kubectl writes Services,
# EndpointSlices and the Node into the test API server; nftproxy --kubeconfig
# lists and watches them over HTTP/2 and the rules follow every change within
# a second of kubectl apply returning: endpoints scaled up and down, a port
# changed, the service deleted. Services labelled for another proxy or
# headless are filtered by the server (kube-proxy's label selector) and never
# get rules. Real TCP and UDP traffic goes through the service IPs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_api.sh"
nftp_require
api_require

topo_create 4
pod_serve_all
api_start

kube_node_yaml "$KUBE_NODE_NAME" zone-a "$NODE_IP4" | kube apply -f - >/dev/null
P="http:80:TCP:8080 dns:53:UDP:5353"
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2" | kube apply -f - >/dev/null
# Never ours: another proxy's, and one the endpoint controller marked headless.
{
	svc_manifest demo other 10.96.0.20 "" "http:80:TCP:8080" "3"
	echo "---"
	svc_manifest demo hl 10.96.0.21 "" "http:80:TCP:8080" "3"
} | kube apply -f - >/dev/null
kube label -n demo service/other service.kubernetes.io/service-proxy-name=other >/dev/null
kube label -n demo service/hl service.kubernetes.io/headless= >/dev/null

nftproxy_use_api
nftproxy_start --v 3
mapfile -t want < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2")
wait_dump "${want[@]}"

section "the first sync waited for the lists, and the node was found"
assert_eq "first syncs" 1 "$(nftproxy_log_count 'first sync of table')"
assert_eq "node logged with its zone" 1 "$(nftproxy_log_count "node $KUBE_NODE_NAME: zone zone-a")"
assert_eq "services and slices listed and watched with kube-proxy's label selector" 4 \
	"$(nftproxy_log_count 'GET /(api/v1/services|apis/discovery.k8s.io/v1/endpointslices)\?.*labelSelector=%21service.kubernetes.io%2Fservice-proxy-name%2C%21service.kubernetes.io%2Fheadless')"
assert_eq "the node listed and watched by name" 2 "$(nftproxy_log_count 'GET /api/v1/nodes\?.*fieldSelector=metadata.name%3Dnode-1')"
assert_eq "the server saw the watches" 3 "$(api_stats | jq '[.requests | to_entries[] | select(.key | startswith("watch ")) | .value] | add')"

section "traffic through the service IPs reaches the two endpoints"
for args in "tcp 10.96.0.10 80" "udp fd00:10:96::10 53"; do
	set -- $args
	probe_run "$CLIENT" --proto "$1" --count 40 --timeout-ms 1000 "$2" "$3"
	assert_probe_ok
	assert_replies_only pod-1 pod-2
done

# change WHAT LINES...: applies stdin with kubectl once the sync rate limit
# (a burst of 2 per min-sync-period) has refilled, so that the change is an
# isolated one, then times the rule into the kernel.
change() {
	local what=$1 t0 t1
	shift
	sleep 2.1
	t0=$(date +%s.%N)
	kube apply -f - >/dev/null
	t1=$(date +%s.%N)
	wait_dump_latency "$t1" "$@"
	log "LATENCY $what: kubectl apply took $(fdiff "$t1" "$t0") s; the kernel had the rule $DUMP_LATENCY s after it returned"
	assert_lt "$what: seconds from kubectl apply to the rule" "$DUMP_LATENCY" 1.0
}

section "scale up to four endpoints"
mapfile -t want < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3 4")
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3 4" | change "scale up" "${want[@]}"
probe_run "$CLIENT" --proto tcp --count 80 --timeout-ms 1000 10.96.0.10 80
assert_probe_ok
assert_replies_only pod-1 pod-2 pod-3 pod-4

section "scale down to pods 3 and 4"
mapfile -t want < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "3 4")
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "3 4" | change "scale down" "${want[@]}"
probe_run "$CLIENT" --proto udp --count 40 --timeout-ms 1000 fd00:10:96::10 53
assert_probe_ok
assert_replies_only pod-3 pod-4

section "change the http port from 80 to 81"
P2="http:81:TCP:8080 dns:53:UDP:5353"
mapfile -t want < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P2" "3 4")
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P2" "3 4" | change "port change" "${want[@]}"
probe_run "$CLIENT" --proto tcp --count 20 --timeout-ms 1000 10.96.0.10 81
assert_probe_ok
assert_replies_only pod-3 pod-4
probe_run "$CLIENT" --proto tcp --count 2 --timeout-ms 300 10.96.0.10 80
assert_eq "nothing answers on the old port 80" 0 "$(probe_get ok)"

section "delete the service"
sleep 2.1
t0=$(date +%s.%N)
kube delete -n demo service web >/dev/null
t1=$(date +%s.%N)
wait_dump_latency "$t1"
log "LATENCY delete: kubectl delete took $(fdiff "$t1" "$t0") s; the rules were gone $DUMP_LATENCY s after it returned"
assert_lt "delete: seconds from kubectl delete to the rules gone" "$DUMP_LATENCY" 1.0
probe_run "$CLIENT" --proto tcp --count 2 --timeout-ms 300 10.96.0.10 81
assert_eq "nothing answers on the deleted service" 0 "$(probe_get ok)"

# Every watch has had an event or a bookmark by now.
assert_eq "three watches streaming over HTTP/2" 3 "$(nftproxy_log_count 'streaming from https://127.0.0.1:6443 over HTTP/2')"
nftproxy_alive || check_failed "nftproxy died during the test"
finish
