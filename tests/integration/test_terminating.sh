#!/usr/bin/env bash
# Terminating endpoints, as kube-proxy handles them for cluster traffic: while
# a service port has ready endpoints, terminating ones get no new
# connections; when none is ready, the serving-and-terminating ones do (a
# rollout's last pods drain instead of refusing); endpoints that are
# terminating and no longer serving never do, and with only those the
# service rejects.
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 3
pod_serve_all

P="http:80:TCP:8080"
svc_manifest demo mixed 10.96.0.10 fd00:10:96::10 "$P" "1 2/terminating 3/terminating" |
	manifest_put mixed.yaml
svc_manifest demo draining 10.96.0.11 fd00:10:96::11 "$P" "2/terminating 3/terminating" |
	manifest_put draining.yaml
mapfile -t want < <(svc_expect demo mixed 10.96.0.10 fd00:10:96::10 "$P" "1"
		    svc_expect demo draining 10.96.0.11 fd00:10:96::11 "$P" "2 3")
nftproxy_start
wait_dump "${want[@]}"

for ip in 10.96.0.10 fd00:10:96::10; do
	probe_run "$CLIENT" --proto tcp --count 30 "$ip" 80
	assert_probe_ok
	assert_replies_only pod-1
done
for ip in 10.96.0.11 fd00:10:96::11; do
	probe_run "$CLIENT" --proto tcp --count 40 "$ip" 80
	assert_probe_ok
	assert_replies_only pod-2 pod-3
done

section "terminating and no longer serving: rejected"
sed -e 's/serving: true/serving: false/' "$MANIFESTS/draining.yaml" >"$TMP/draining.yaml"
manifest_put draining.yaml <"$TMP/draining.yaml"
mapfile -t want < <(svc_expect demo mixed 10.96.0.10 fd00:10:96::10 "$P" "1"
		    svc_expect demo draining 10.96.0.11 fd00:10:96::11 "$P" "")
wait_dump "${want[@]}"
for ip in 10.96.0.11 fd00:10:96::11; do
	probe_run "$CLIENT" --proto tcp --count 3 "$ip" 80
	assert_probe_refused
done
nftproxy_alive || check_failed "nftproxy died"
finish
