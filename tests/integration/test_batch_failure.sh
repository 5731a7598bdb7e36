#!/usr/bin/env bash
# A batch the kernel refuses changes nothing: the previous rules stay and keep
# carrying traffic, the error names the service it was about, the daemon
# retries with backoff, and once the cause is gone the retry converges.
#
# The fault: service demo/a has 32 ports, which fill LB map lb-0000 (32
# service ports share a map); before more services arrive, "someone"
# creates the map they will need, lb-0001, with another key type, so the
# kernel refuses nftproxy's map and then its elements.
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 2
pod_serve_all

P="http:80:TCP:8080"
PA="http:80:TCP:8080"
for ((k = 1; k < 32; k++)); do PA+=" p$k:$((8000 + k)):TCP:8080"; done
svc_manifest demo a 10.96.0.10 "" "$PA" "1 2" | manifest_put a.yaml
mapfile -t want_a < <(svc_expect demo a 10.96.0.10 "" "$PA" "1 2")
nftproxy_start
wait_dump "${want_a[@]}"

section "a foreign map in the way"
ip netns exec "$NODE" nft add map inet nftproxy lb-0001 '{ type ipv6_addr : verdict; }'
want_all=("${want_a[@]}")
for i in 2 3 4 5; do
	svc_manifest demo "s$i" "10.96.0.$((20 + i))" "" "$P" "1" | manifest_put "s$i.yaml"
	mapfile -t -O "${#want_all[@]}" want_all < <(svc_expect demo "s$i" "10.96.0.$((20 + i))" "" "$P" "1")
done
sleep 4

nftproxy_alive || fail "nftproxy died after a refused batch: $(tail -n 20 "$NFTPROXY_LOG")"
refused=$(grep -c "kernel refused" "$NFTPROXY_LOG" || true)
if ((refused >= 2)); then
	pass "the kernel refused the batch and nftproxy retried ($refused refusals logged in 4 s)"
else
	check_failed "expected the refused batch to be logged and retried, got $refused 'kernel refused' lines:
$(tail -n 20 "$NFTPROXY_LOG")"
fi
# Which of s2..s5 lands in lb-0001 depends on the order they are planned in.
named='kernel refused add map lb-0001 for service demo/s[2-5] .*nothing was changed'
if grep -E "$named" "$NFTPROXY_LOG" >/dev/null; then
	pass "the error names the service that caused it: $(grep -m1 -E "$named" "$NFTPROXY_LOG" | sed 's/^.*\] //')"
else
	check_failed "no error naming the service that needed map lb-0001:
$(grep -E "kernel refused|error" "$NFTPROXY_LOG" | tail -n 5)"
fi
wait_dump --timeout 2 "${want_a[@]}"
pass "the dump still shows only the previous state: nothing of the refused batch was applied"
probe_run "$CLIENT" --proto tcp --count 20 10.96.0.10 80
assert_probe_ok

section "the cause goes away"
ip netns exec "$NODE" nft delete map inet nftproxy lb-0001
wait_dump --timeout 45 "${want_all[@]}"
pass "the retry converged once the foreign map was gone"
for i in 2 3 4 5; do
	probe_run "$CLIENT" --proto tcp --count 3 "10.96.0.$((20 + i))" 80
	assert_probe_ok
done
nftproxy_alive || check_failed "nftproxy died"
finish
