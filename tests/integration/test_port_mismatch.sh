#!/usr/bin/env bash
# Traffic to a cluster IP that no endpoint can serve:
#   - a service port whose name the EndpointSlices do not have (service
#     ports http 80 -> 8080 and metrics 9100 -> 9100, the slice only "http";
#     also dns 53/UDP -> 5353 missing from the slice): rejected at once, as a
#     service without endpoints (TCP reset, ICMP port unreachable), while
#     :80 works;
#   - a port the service does not have at all (:81, TCP and UDP): rejected
#     (kube-proxy rejects traffic to invalid ports of cluster IPs whether or
#     not it knows the service CIDRs);
#   - with --service-cluster-ip-range, an address in the range that no
#     service has: dropped (a timeout, not a refusal), also from the node;
#     without the flag nftproxy does not know the range, and the node's own
#     routing decides where the packet goes.
#
# To tell "dropped" from "went nowhere", the unallocated addresses
# 10.96.200.200 and fd00:10:96::c8 are given to pod-4 (not an endpoint of
# anything) and routed to it from the node: without the drop rule pod-4
# answers them (that is what the node's routing does), with it nothing does.
# The other unallocated addresses go into the node's svc0 sink, where the
# kernel drops them either way.
#
# Without the feature: :81 is not DNATed and dies in svc0 (a timeout, no
# refusal); the unallocated address is answered by pod-4 under the flag too
# (or nftproxy refuses the unknown flag and the last part fails at once).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require

topo_create 4
for i in 1 2 3; do pod_serve "$i" 8080 5353 9100; done
pod_serve 4 80
UNALLOC4=10.96.200.200
UNALLOC6=fd00:10:96::c8
ip -n "$(pod_ns 4)" addr add "$UNALLOC4/32" dev eth0
ip -n "$(pod_ns 4)" addr add "$UNALLOC6/128" dev eth0 nodad
ip -n "$NODE" route add "$UNALLOC4/32" dev vpod4
ip -n "$NODE" -6 route add "$UNALLOC6/128" dev vpod4

PORTS="http:80:TCP:8080 metrics:9100:TCP:9100 dns:53:UDP:5353"
svc_full_yaml ns=demo name=web ips=10.96.0.40,fd00:10:96::40 ports="$PORTS" | manifest_put web.yaml
for f in 4 6; do
	eps=""
	for i in 1 2 3; do eps+=" $(pod_ip$f "$i")@node-1"; done
	slice_full_yaml ns=demo svc=web slice="web-v$f" family="IPv$f" ports="http:8080:TCP" eps="$eps" |
		manifest_put "web-v$f.yaml"
done
node_manifest node-1 zone-a | manifest_put node.yaml

section "harness: the pods answer directly, pod-4 on the unallocated addresses"
for i in 1 2 3; do
	probe_run "$CLIENT" --proto tcp --count 1 "$(pod_ip4 "$i")" 9100
	assert_probe_ok
	probe_run "$CLIENT" --proto tcp --count 1 "$(pod_ip6 "$i")" 9100
	assert_probe_ok
done
for ip in $UNALLOC4 $UNALLOC6; do
	probe_run "$CLIENT" --proto tcp --count 2 "$ip" 80
	assert_probe_ok
	assert_replies_only pod-4
done

# check_service PHASE: the service's own and missing ports.
check_service() {
	local ip
	for ip in 10.96.0.40 fd00:10:96::40; do
		probe_run "$CLIENT" --proto tcp --count 30 --timeout-ms 1000 "$ip" 80
		assert_probe_ok
		assert_replies_only pod-1 pod-2 pod-3
		log "$1: $ip:9100 (metrics, a port name the slice lacks): refused"
		probe_run "$CLIENT" --proto tcp --count 5 --timeout-ms 1000 "$ip" 9100
		assert_probe_refused 500
		log "$1: $ip:53/udp (dns, a port name the slice lacks): refused"
		probe_run "$CLIENT" --proto udp --count 5 --timeout-ms 1000 "$ip" 53
		assert_probe_refused 500
		log "$1: $ip:81 (no such service port): refused, TCP and UDP"
		probe_run "$CLIENT" --proto tcp --count 5 --timeout-ms 1000 "$ip" 81
		assert_probe_refused 500
		probe_run "$CLIENT" --proto udp --count 5 --timeout-ms 1000 "$ip" 81
		assert_probe_refused 500
	done
}

section "without --service-cluster-ip-range"
nftproxy_start --hostname-override node-1
mapfile -t want < <(svc_expect demo web 10.96.0.40 fd00:10:96::40 "http:80:TCP:8080" "1 2 3")
wait_dump_has "${want[@]}"
check_service "no range"
# Documented behaviour: the range is unknown, so nothing stops the packet and
# the node routes it (here: to pod-4, which holds the address).
for ip in $UNALLOC4 $UNALLOC6; do
	log "no range: $ip:80 is routed by the node (to pod-4 here)"
	probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 1000 "$ip" 80
	assert_probe_ok
	assert_replies_only pod-4
done
for ip in 10.96.200.201 fd00:10:96::c9; do
	log "no range: $ip:80 goes into the node's svc0 sink: no answer"
	probe_run "$CLIENT" --proto tcp --count 2 --timeout-ms 500 "$ip" 80
	assert_probe_timeout
done

section "with --service-cluster-ip-range 10.96.0.0/16,fd00:10:96::/112"
nftproxy_stop
nftproxy_start --hostname-override node-1 --service-cluster-ip-range 10.96.0.0/16,fd00:10:96::/112
wait_probe "$CLIENT" timeout 5 --proto tcp "$UNALLOC4" 80
wait_probe "$CLIENT" timeout 5 --proto tcp "$UNALLOC6" 80
for ip in $UNALLOC4 $UNALLOC6 10.96.200.201 fd00:10:96::c9; do
	log "range: $ip:80, in the range, no service: dropped"
	probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 500 "$ip" 80
	assert_probe_timeout
	probe_run "$CLIENT" --proto udp --count 2 --timeout-ms 500 "$ip" 80
	assert_probe_timeout
done
for ip in $UNALLOC4 $UNALLOC6; do
	log "range: $ip:80 from the node itself: not answered (dropped in output)"
	probe_run "$NODE" --proto tcp --count 2 --timeout-ms 500 "$ip" 80
	assert_probe_not_served
	log "range: $ip:80 from pod-1: not answered"
	probe_run "$(pod_ns 1)" --proto tcp --count 2 --timeout-ms 500 "$ip" 80
	assert_probe_timeout
done
# The service's own addresses: served and rejected as before, not dropped.
check_service "range"
section "outside the range: not nftproxy's business"
ip -n "$(pod_ns 4)" addr add 10.97.0.1/32 dev eth0
ip -n "$NODE" route add 10.97.0.1/32 dev vpod4
ip -n "$CLIENT" route add 10.97.0.1/32 via "$NODE_IP4"
probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 1000 10.97.0.1 80
assert_probe_ok
assert_replies_only pod-4

nftproxy_alive || check_failed "nftproxy died during the test"
finish
