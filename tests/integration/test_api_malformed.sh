#!/usr/bin/env bash
# Bad data from the API server: a well-formed event whose object is an
# invalid Service, one that claims an existing EndpointSlice's name with an
# invalid body, and bytes that are not JSON at all in the middle of a watch
# stream. Each is logged naming the object or the stream, and skipped;
# nftproxy keeps running, no rule changes, the EndpointSlice keeps its good
# version. Then the server ends every watch cleanly: they resume from their
# resourceVersion without a relist, and later changes still reach the
# kernel.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_api.sh"
nftp_require
api_require

topo_create 2
pod_serve_all
api_start
P="http:80:TCP:8080"
svc_manifest demo web 10.96.0.10 "" "$P" "1" | kube apply -f - >/dev/null
nftproxy_use_api
nftproxy_start --v 3
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "1")
wait_dump "${want[@]}"
sleep 0.5
table0=$(nft_table)

section "an invalid Service in a watch event"
api_test "malformed?resource=services&mode=object" >/dev/null
section "an invalid version of the existing EndpointSlice demo/web-v4"
api_test "malformed?resource=endpointslices&mode=object&name=demo/web-v4" >/dev/null
section "bytes that are not JSON in the services watch"
api_test "malformed?resource=services&mode=syntax" >/dev/null
sleep 2
nftproxy_alive || fail "nftproxy died on malformed input"
check_dump "the rules after the bad events" "${want[@]}"
assert_eq "the table did not change" "$table0" "$(nft_table)"
assert_eq "the invalid Service is named in the log with its field" 1 \
	"$(nftproxy_log_count 'services MODIFIED event from https://127.0.0.1:6443: Service default/bad-svc: spec\.ports\[0\]\.port: .* skipped, not served until it is fixed')"
assert_eq "the invalid EndpointSlice keeps its previous version" 1 \
	"$(nftproxy_log_count 'endpointslices MODIFIED event from .*: EndpointSlice demo/web-v4: .* skipped, keeping the version served before')"
assert_eq "the broken stream is named and watched again" 1 \
	"$(nftproxy_log_count 'watch services from https://127.0.0.1:6443: malformed event: line [0-9]+ column [0-9]+: .*watching again from resourceVersion')"

section "the server ends every watch cleanly (as on its timeout): they resume from where they were"
mark=$(wc -l <"$NFTPROXY_LOG")
api_test "cut-watches?clean=1" >/dev/null
sleep 1.5
assert_eq "no relist after a clean end" 0 \
	"$(tail -n +"$((mark + 1))" "$NFTPROXY_LOG" | grep -c 'listed [0-9]* services' || true)"

section "later changes still reach the kernel"
svc_manifest demo web 10.96.0.10 "" "$P" "1 2" | kube apply -f - >/dev/null
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "1 2")
wait_dump --timeout 5 "${want[@]}"
probe_run "$CLIENT" --proto tcp --count 40 --timeout-ms 1000 10.96.0.10 80
assert_probe_ok
assert_replies_only pod-1 pod-2

nftproxy_alive || check_failed "nftproxy died during the test"
finish
