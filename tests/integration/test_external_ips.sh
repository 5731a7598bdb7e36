#!/usr/bin/env bash
# spec.externalIPs: the external IPs are served on the service's ports like its
# cluster IP -- from the client, a pod and the node itself, TCP and UDP, IPv4
# and IPv6, to endpoints on both nodes. A port the service lacks is not
# DNATed (the node routes the range into its sink: no answer), even the
# endpoints' own target port, which they do listen on. An external IP taken
# off the service stops being served.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require

topo_create 3
topo_add_node2 1
pod_serve_all
pod2_serve_all

P="http:80:TCP:8080 dns:53:UDP:5353"
PODS="1 2 n2:1"
ALL="pod-1 pod-2 n2pod-1"
svc_ext() {
	{
		svc_full_yaml ns=demo name=ext ips=10.96.0.50,fd00:10:96::50 ports="$P" externalIPs="$1"
		cluster_slices demo ext "$P" "$PODS"
	} | manifest_put ext.yaml
}
svc_ext "203.0.113.20 203.0.113.21 2001:db8:ff::20"
mapfile -t want < <(cluster_expect demo ext 10.96.0.50 fd00:10:96::50 "$P" "$PODS")

nftproxy_start --hostname-override node-1
wait_dump_has "${want[@]}"
wait_probe "$CLIENT" ok 5 --proto tcp 203.0.113.20 80

section "external IPs from the client, like the cluster IP"
for ip in 203.0.113.20 203.0.113.21 2001:db8:ff::20 10.96.0.50 fd00:10:96::50; do
	for target in "tcp 80" "udp 53"; do
		set -- $target
		probe_run "$CLIENT" --proto "$1" --count 45 --timeout-ms 1000 "$ip" "$2"
		assert_probe_ok
		assert_replies_only $ALL
	done
done

section "external IPs from a pod and from the node itself"
for ns in "$(pod_ns 3)" "$NODE"; do
	for ip in 203.0.113.20 2001:db8:ff::20; do
		probe_run "$ns" --proto tcp --count 45 --timeout-ms 1000 "$ip" 80
		assert_probe_ok
		assert_replies_only $ALL
	done
done

section "ports the service lacks are not DNATed"
for ip in 203.0.113.20 2001:db8:ff::20; do
	for target in "tcp 8080" "tcp 9000" "udp 5353" "udp 54" "tcp 53" "udp 80"; do
		set -- $target
		probe_run "$CLIENT" --proto "$1" --count 3 --timeout-ms 400 "$ip" "$2"
		assert_probe_not_served
	done
done
section "an address next to the external IPs is not served"
probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 400 203.0.113.22 80
assert_probe_not_served

section "203.0.113.21 taken off the service"
svc_ext "203.0.113.20 2001:db8:ff::20"
wait_probe "$CLIENT" timeout 5 --proto tcp 203.0.113.21 80
probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 400 203.0.113.21 80
assert_probe_not_served
probe_run "$CLIENT" --proto tcp --count 30 --timeout-ms 1000 203.0.113.20 80
assert_probe_ok
assert_replies_only $ALL

nftproxy_alive || check_failed "nftproxy died during the test"
finish
