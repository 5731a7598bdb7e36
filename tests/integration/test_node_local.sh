#!/usr/bin/env bash
# d. The node's own processes reach services (DNAT in the nat output hook).
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 3
pod_serve_all

P="http:80:TCP:8080 dns:53:UDP:5353"
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3" | manifest_put web.yaml
svc_manifest demo one 10.96.0.11 fd00:10:96::11 ":8000:TCP:9000" "2" | manifest_put one.yaml
mapfile -t want < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3"
		    svc_expect demo one 10.96.0.11 fd00:10:96::11 ":8000:TCP:9000" "2")
nftproxy_start
wait_dump "${want[@]}"

section "node -> demo/web"
for target in "tcp 10.96.0.10 80" "udp 10.96.0.10 53" "tcp fd00:10:96::10 80" "udp fd00:10:96::10 53"; do
	probe_run "$NODE" --proto ${target%% *} --count 60 --timeout-ms 1000 ${target#* }
	assert_probe_ok
	assert_replies_only pod-1 pod-2 pod-3
done

section "node -> demo/one (port 8000 -> target 9000)"
for ip in 10.96.0.11 fd00:10:96::11; do
	probe_run "$NODE" --proto tcp --count 10 "$ip" 8000
	assert_probe_ok
	assert_replies_only pod-2
done

nftproxy_alive || check_failed "nftproxy died during the test"
finish
