#!/usr/bin/env bash
# a. TCP and UDP over IPv4 and IPv6 from the outside client reach every ready
# endpoint; endpoints that are not ready (ready: false, or terminating while
# ready ones exist) get nothing. Also: an IPv6-only service with an unnamed
# port, and an endpoint without conditions (absent "ready" means ready).
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 4
pod_serve_all

WEB_PORTS="http:80:TCP:8080 dns:53:UDP:5353"
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$WEB_PORTS" "1 2 3 4/notready" | manifest_put web.yaml
svc_manifest demo v6only "" fd00:10:96::12 ":9000:TCP:9000" "2 3/noconditions 4/terminating" |
	manifest_put v6only.yaml
mapfile -t want < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$WEB_PORTS" "1 2 3 4/notready"
		    svc_expect demo v6only "" fd00:10:96::12 ":9000:TCP:9000" "2 3/noconditions 4/terminating")

nftproxy_start
wait_dump "${want[@]}"

section "demo/web from the outside client: 60 connections each, pod-4 is not ready"
for args in "tcp 10.96.0.10 80" "udp 10.96.0.10 53" "tcp fd00:10:96::10 80" "udp fd00:10:96::10 53"; do
	set -- $args
	probe_run "$CLIENT" --proto "$1" --count 60 --timeout-ms 1000 "$2" "$3"
	assert_probe_ok
	assert_replies_only pod-1 pod-2 pod-3
done

section "demo/v6only (IPv6 single stack, unnamed port): pod-3 has no conditions, pod-4 is terminating"
probe_run "$CLIENT" --proto tcp --count 40 --timeout-ms 1000 fd00:10:96::12 9000
assert_probe_ok
assert_replies_only pod-2 pod-3

section "the IPv4 address of the IPv6-only service's port is not served"
probe_run "$CLIENT" --proto tcp --count 2 --timeout-ms 300 10.96.0.12 9000
assert_eq "no answer on 10.96.0.12:9000" 0 "$(probe_get ok)"

nftproxy_alive || check_failed "nftproxy died during the test"
finish
