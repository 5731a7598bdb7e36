#!/usr/bin/env bash
# c. Hairpin: a pod reaches itself through its service. With the pod as the
# only endpoint every connection comes back to it; with several endpoints it
# gets its own reply some of the time. Without the masquerade (mark 0x4000 in
# postrouting) the pod would answer itself from its own address and the
# connection would fail, so "every attempt answered" is the check.
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 3
pod_serve_all

P="http:80:TCP:8080 dns:53:UDP:5353"
svc_manifest demo self 10.96.0.11 fd00:10:96::11 "$P" "1" | manifest_put self.yaml
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3" | manifest_put web.yaml
mapfile -t want < <(svc_expect demo self 10.96.0.11 fd00:10:96::11 "$P" "1"
		    svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3")
nftproxy_start
wait_dump "${want[@]}"

section "pod-1 -> demo/self (pod-1 is the only endpoint)"
for target in "tcp 10.96.0.11 80" "udp 10.96.0.11 53" "tcp fd00:10:96::11 80" "udp fd00:10:96::11 53"; do
	probe_run "$(pod_ns 1)" --proto ${target%% *} --count 10 --timeout-ms 1000 ${target#* }
	assert_probe_ok
	assert_replies_only pod-1
done

section "pod-1 -> demo/web (pods 1, 2, 3): its own reply some of the time"
for target in "tcp 10.96.0.10 80" "udp 10.96.0.10 53" "tcp fd00:10:96::10 80" "udp fd00:10:96::10 53"; do
	probe_run "$(pod_ns 1)" --proto ${target%% *} --count 60 --timeout-ms 1000 ${target#* }
	assert_probe_ok
	assert_replies_only pod-1 pod-2 pod-3
done

section "pod-2 -> demo/self (plain pod-to-service, no hairpin)"
probe_run "$(pod_ns 2)" --proto tcp --count 10 10.96.0.11 80
assert_probe_ok
assert_replies_only pod-1

nftproxy_alive || check_failed "nftproxy died during the test"
finish
