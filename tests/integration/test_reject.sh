#!/usr/bin/env bash
# b. A service port without endpoints, or whose endpoints are all not ready, is
# refused at once: TCP gets a reset (ECONNREFUSED), UDP an ICMP port
# unreachable (ECONNREFUSED on a connected socket), well under a second, never
# a timeout. Checked from the outside client (forward hook), a pod (forward)
# and the node itself (output hook). Then the not-ready service turns ready
# (traffic flows) and not ready again (refused again).
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 3
pod_serve_all

P="http:80:TCP:8080 dns:53:UDP:5353"
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "3" | manifest_put web.yaml
svc_manifest demo empty 10.96.0.20 fd00:10:96::20 "$P" none | manifest_put empty.yaml
svc_manifest demo emptyslice 10.96.0.21 fd00:10:96::21 "$P" "" | manifest_put emptyslice.yaml
svc_manifest demo notready 10.96.0.22 fd00:10:96::22 "$P" "1/notready 2/notready" | manifest_put notready.yaml
mapfile -t want_web < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "3")
mapfile -t want_all < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "3"
			svc_expect demo empty 10.96.0.20 fd00:10:96::20 "$P" ""
			svc_expect demo emptyslice 10.96.0.21 fd00:10:96::21 "$P" ""
			svc_expect demo notready 10.96.0.22 fd00:10:96::22 "$P" "")

nftproxy_start
# The services without endpoints are synced in the same transaction as web.
wait_dump_has "${want_web[@]}"
sleep 0.5

probe_web() {
	probe_run "$CLIENT" --proto tcp --count 3 10.96.0.10 80
	assert_probe_ok
}
probe_web

for svc in "empty 20" "emptyslice 21" "notready 22"; do
	set -- $svc
	section "demo/$1: refused at once (TCP reset / ICMP port unreachable)"
	for target in "tcp 10.96.0.$2 80" "udp 10.96.0.$2 53" "tcp fd00:10:96::$2 80" "udp fd00:10:96::$2 53"; do
		for ns in "$CLIENT" "$(pod_ns 3)" "$NODE"; do
			probe_run "$ns" --proto ${target%% *} --count 10 --timeout-ms 2000 ${target#* }
			assert_probe_refused 500
		done
	done
done

section "demo/notready: pod-1 becomes ready, then not ready again"
svc_manifest demo notready 10.96.0.22 fd00:10:96::22 "$P" "1 2/notready" | manifest_put notready.yaml
wait_dump_has "$(svc_expect demo notready 10.96.0.22 fd00:10:96::22 "$P" "1" | sed -n 1,1p)"
for target in "tcp 10.96.0.22 80" "udp fd00:10:96::22 53"; do
	probe_run "$CLIENT" --proto ${target%% *} --count 20 ${target#* }
	assert_probe_ok
	assert_replies_only pod-1
done
svc_manifest demo notready 10.96.0.22 fd00:10:96::22 "$P" "1/notready 2/notready" | manifest_put notready.yaml
wait_dump_has "$(svc_expect demo notready 10.96.0.22 fd00:10:96::22 "$P" "" | sed -n 1,1p)"
sleep 0.3
for target in "tcp 10.96.0.22 80" "udp 10.96.0.22 53" "tcp fd00:10:96::22 80" "udp fd00:10:96::22 53"; do
	probe_run "$CLIENT" --proto ${target%% *} --count 10 --timeout-ms 2000 ${target#* }
	assert_probe_refused 500
done
probe_web

section "the dump lists the services without endpoints, with no endpoints"
check_dump "services without endpoints" "${want_all[@]}"

nftproxy_alive || check_failed "nftproxy died during the test"
finish
