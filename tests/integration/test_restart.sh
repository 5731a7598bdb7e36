#!/usr/bin/env bash
# f. nftproxy is SIGKILLed and started again while clients keep connecting
# (20 connections a second per client): no connection fails, the rules stay
# while no daemon runs, and the restarted daemon leaves the table exactly as
# it was (same `nft list table`, and `nft monitor` sees no change at all).
# Then the restarted daemon must still apply changes.
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 4
pod_serve_all

P="http:80:TCP:8080 dns:53:UDP:5353"
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3 4/notready" | manifest_put web.yaml
svc_manifest demo empty 10.96.0.20 fd00:10:96::20 "$P" none | manifest_put empty.yaml
svc_manifest demo one 10.96.0.11 "" ":8000:TCP:9000" "2" | manifest_put one.yaml
mapfile -t want < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3 4/notready"
		    svc_expect demo one 10.96.0.11 "" ":8000:TCP:9000" "2")
nftproxy_start
wait_dump_has "${want[@]}"
sleep 1.5
before=$(nft_table)
dump_before=$(dump_lines)
echo "$before" >"$TMP/table.before"

# Every ruleset change in the node namespace from now on.
bg_start "$NODE" "$TMP/monitor.log" stdbuf -oL nft monitor
MONITOR_PID=$BG_PID
sleep 0.3

probe_bg "$CLIENT" "$TMP/tcp4.out" --proto tcp --count 0 --interval-ms 50 --duration-ms 9000 --timeout-ms 1000 --trace 10.96.0.10 80
L1=$BG_PID
probe_bg "$CLIENT" "$TMP/udp6.out" --proto udp --count 0 --interval-ms 50 --duration-ms 9000 --timeout-ms 1000 --trace fd00:10:96::10 53
L2=$BG_PID
probe_bg "$NODE" "$TMP/node-tcp6.out" --proto tcp --count 0 --interval-ms 50 --duration-ms 9000 --timeout-ms 1000 --trace fd00:10:96::10 80
L3=$BG_PID
probe_bg "$(pod_ns 4)" "$TMP/pod-tcp4.out" --proto tcp --count 0 --interval-ms 50 --duration-ms 9000 --timeout-ms 1000 --trace 10.96.0.11 8000
L4=$BG_PID
probe_bg "$CLIENT" "$TMP/reject.out" --proto tcp --count 0 --interval-ms 100 --duration-ms 9000 --timeout-ms 1000 --expect refused 10.96.0.20 80
L5=$BG_PID

sleep 1.5
section "SIGKILL nftproxy"
nftproxy_stop KILL
sleep 0.3
if [[ "$(nft_table)" == "$before" ]]; then
	pass "the table stays as it was while no daemon runs"
else
	check_failed "the table changed when nftproxy was killed:
$(diff "$TMP/table.before" <(nft_table))"
fi
sleep 1.5

section "start nftproxy again"
nftproxy_start
wait_dump_has "${want[@]}"
# Let the restarted daemon read the table back and run its first syncs.
sleep 3
nftproxy_alive || check_failed "the restarted nftproxy died"
wait "$L1" "$L2" "$L3" "$L4" "$L5" || true

section "results"
assert_loop_clean "$TMP/tcp4.out" "client TCP/IPv4 loop across the restart"
assert_loop_clean "$TMP/udp6.out" "client UDP/IPv6 loop across the restart"
assert_loop_clean "$TMP/node-tcp6.out" "node TCP/IPv6 loop across the restart"
assert_loop_clean "$TMP/pod-tcp4.out" "pod-4 TCP/IPv4 loop to demo/one across the restart"
rej=$(cat "$TMP/reject.out")
if (($(probe_get attempts "$rej") > 0 && $(probe_get attempts "$rej") == $(probe_get refused "$rej"))); then
	pass "demo/empty refused throughout: $(probe_get refused "$rej") of $(probe_get attempts "$rej")"
else
	check_failed "demo/empty not refused throughout the restart: $(tr '\n' ' ' <<<"$rej")"
fi

after=$(nft_table)
if [[ $after == "$before" ]]; then
	pass "nft list table inet nftproxy is unchanged by the restart ($(wc -l <<<"$after") lines)"
else
	check_failed "the restart changed the table:
$(diff "$TMP/table.before" <(echo "$after"))"
fi
assert_eq "nftproxyctl dump unchanged by the restart" "$dump_before" "$(dump_lines)"

kill "$MONITOR_PID" 2>/dev/null || true
wait "$MONITOR_PID" 2>/dev/null || true
events=$(grep -v '^#' "$TMP/monitor.log" | grep -v '^\s*$' || true)
if [[ -z $events ]]; then
	pass "nft monitor saw no ruleset change across the kill and the restart"
else
	check_failed "the restart rewrote parts of the table ($(wc -l <<<"$events") events from nft monitor; DESIGN.md: a restart changes nothing):
$(head -n 40 <<<"$events")"
fi

section "the restarted daemon applies changes"
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2" | manifest_put web.yaml
mapfile -t want2 < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2"
		     svc_expect demo one 10.96.0.11 "" ":8000:TCP:9000" "2")
wait_dump_has --timeout 5 "${want2[@]}"
probe_run "$CLIENT" --proto tcp --count 40 10.96.0.10 80
assert_probe_ok
assert_replies_only pod-1 pod-2

finish
