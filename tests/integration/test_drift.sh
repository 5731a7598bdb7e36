#!/usr/bin/env bash
# Someone else changes nftproxy's table (deletes it, adds a chain, deletes a
# chain): the next periodic full resync notices (the table's chain and map
# count no longer matches), reads the table back and restores it.
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 2
pod_serve_all
P="http:80:TCP:8080"
svc_manifest demo web 10.96.0.10 "" "$P" "1 2" | manifest_put web.yaml
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "1 2")
nftproxy_start --sync-period 2s
wait_dump "${want[@]}"

section "the table is deleted"
ip netns exec "$NODE" nft delete table inet nftproxy
wait_dump --timeout 6 "${want[@]}"
grep -q "was deleted by someone else; recreating it" "$NFTPROXY_LOG" &&
	pass "the log says the table was deleted and is recreated" ||
	check_failed "no log line about the deleted table"
probe_run "$CLIENT" --proto tcp --count 10 10.96.0.10 80
assert_probe_ok

section "a foreign chain is added, a service chain is deleted"
ip netns exec "$NODE" nft add chain inet nftproxy intruder
svc=$(nft_table | sed -n -E 's/^[[:space:]]*chain (svc-[^ ]+) \{.*/\1/p' | head -n 1)
[[ -n $svc ]] || fail "no service chain found"
ip netns exec "$NODE" nft flush chain inet nftproxy "$svc"
ip netns exec "$NODE" nft delete element inet nftproxy service-ips '{ 10.96.0.10 . tcp . 80 }'
ip netns exec "$NODE" nft delete chain inet nftproxy "$svc"
for ((i = 0; i < 60; i++)); do
	chains=$(nft_table | grep -E '^[[:space:]]*chain ')
	if ! grep -q intruder <<<"$chains" && grep -q -F "$svc" <<<"$chains"; then
		break
	fi
	sleep 0.1
done
if grep -q intruder <<<"$chains"; then
	check_failed "the foreign chain is still there after 6 s"
else
	pass "the foreign chain was removed"
fi
wait_dump --timeout 6 "${want[@]}"
grep -q "was changed by someone else" "$NFTPROXY_LOG" &&
	pass "the log says the table was changed and is restored" ||
	check_failed "no log line about the changed table"
probe_run "$CLIENT" --proto tcp --count 10 10.96.0.10 80
assert_probe_ok
nftproxy_alive || check_failed "nftproxy died"

section "an LB map's ranges are rewritten by hand, then nftproxy restarts"
# Element edits are not seen by the periodic check (the table's chains and
# maps still match); a restart reads the ranges back, finds they are not
# the cut it makes, and replaces them.
nftproxy_stop
lb=$(nft_table | sed -n -E 's/.*dnat ip to numgen random mod [0-9]+( offset [0-9]+)? map @(lb-[0-9]+).*/\2/p' | head -n 1)
[[ -n $lb ]] || fail "no LB rule found"
ip netns exec "$NODE" nft flush map inet nftproxy "$lb"
ip netns exec "$NODE" nft add element inet nftproxy "$lb" "{ 0-999999 : $(pod_ip4 2) . 8080 }"
probe_run "$CLIENT" --proto tcp --count 20 10.96.0.10 80
assert_replies_only pod-2
nftproxy_start --sync-period 2s
wait_dump --timeout 6 "${want[@]}"
probe_run "$CLIENT" --proto tcp --count 40 10.96.0.10 80
assert_probe_ok
assert_replies_only pod-1 pod-2
finish
