#!/usr/bin/env bash
# The API server goes away for 10 s (stopped, then started again with the
# same state), serving HTTP/1.1 only so that the watches are chunked
# responses: the rules stay in place the whole time and traffic through the
# service never fails; nftproxy retries with backoff, and once the server is
# back its watches resume and a change made then reaches the kernel. Then
# nftproxy is restarted while the server answers slowly: nothing touches the
# table until every list is in, and that first sync sends nothing. Last, a
# watch refused with 429 waits for its Retry-After.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_api.sh"
nftp_require
api_require

topo_create 3
pod_serve_all
api_start "$NODE" --http1-only
P="http:80:TCP:8080"
svc_manifest demo web 10.96.0.10 "" "$P" "1 2" | kube apply -f - >/dev/null
nftproxy_use_api
nftproxy_start --v 3
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "1 2")
wait_dump "${want[@]}"
sleep 1.5
assert_eq "watches over HTTP/1.1 (chunked)" 3 "$(nftproxy_log_count 'streaming from https://127.0.0.1:6443 over HTTP/1.1')"

section "the API server is down for 10 s: the rules stay, traffic flows"
probe_bg "$CLIENT" "$TMP/outage.out" --proto tcp --count 0 --interval-ms 50 --duration-ms 12000 \
	--timeout-ms 1000 10.96.0.10 80
LOOP=$BG_PID
sleep 0.5
api_stop
sleep 5
check_dump "5 s into the outage" "${want[@]}"
sleep 5
check_dump "10 s into the outage" "${want[@]}"
nftproxy_alive || fail "nftproxy died while the API server was down"
fails=$(nftproxy_log_count 'W.*(watch|list) [a-z]+ from https://127.0.0.1:6443 (broke|failed).*the rules stay as they are, (watching|listing) [a-z]+ again in')
log "retries logged during the outage: $fails"
assert_eq "nftproxy logged its failed requests and retries (at least one per resource)" 1 \
	"$(awk -v n="$fails" 'BEGIN { print (n >= 3) }')"
mark_back=$(wc -l <"$NFTPROXY_LOG")
api_start "$NODE" --http1-only
t_back=$(date +%s.%N)
wait "$LOOP" || true
assert_loop_clean "$TMP/outage.out" "client loop through the outage"

section "the server is back: a change reaches the kernel once the watches resume"
svc_manifest demo web 10.96.0.10 "" "$P" "1 2 3" | kube apply -f - >/dev/null
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "1 2 3")
# The retry backoff after 10 s of failures is at most 8 s (+20% jitter).
wait_dump --timeout 15 "${want[@]}"
log "the change was in the kernel $(fdiff "$(date +%s.%N)" "$t_back") s after the server came back"
probe_run "$CLIENT" --proto tcp --count 60 --timeout-ms 1000 10.96.0.10 80
assert_probe_ok
assert_replies_only pod-1 pod-2 pod-3
assert_eq "a single first sync (the outage did not restart anything)" 1 \
	"$(nftproxy_log_count 'first sync of table')"

# Every watch back (the retries of a 10 s outage are up to 9 s apart), so
# that the backoff has been reset by their bookmarks.
for ((i = 0; i < 300; i++)); do
	n=$(tail -n +"$((mark_back + 1))" "$NFTPROXY_LOG" | grep -c 'streaming from' || true)
	((n >= 3)) && break
	sleep 0.1
done
log "all watches streamed again $(fdiff "$(date +%s.%N)" "$t_back") s after the server came back"
assert_eq "watches streaming again" 3 "$n"
sleep 1.5

section "nftproxy restarts while the API server answers slowly: the table waits for the lists"
nftproxy_stop
table0=$(nft_table)
api_test "slow?ms=2500" >/dev/null
probe_bg "$CLIENT" "$TMP/restart.out" --proto tcp --count 0 --interval-ms 50 --duration-ms 4500 \
	--timeout-ms 1000 10.96.0.10 80
LOOP=$BG_PID
mark=$(wc -l <"$NFTPROXY_LOG")
t_start=$(date +%s.%N)
nftproxy_start --v 3
sleep 1.5
assert_eq "no sync while the lists are slow" 0 \
	"$(tail -n +"$((mark + 1))" "$NFTPROXY_LOG" | grep -c 'first sync of table' || true)"
assert_eq "the table is as the last run left it" "$table0" "$(nft_table)"
for ((i = 0; i < 100; i++)); do
	tail -n +"$((mark + 1))" "$NFTPROXY_LOG" | grep -q 'first sync of table' && break
	sleep 0.1
done
log "first sync $(fdiff "$(date +%s.%N)" "$t_start") s after the start (the lists took 2.5 s)"
assert_eq "the first sync after the slow lists sent nothing" 1 \
	"$(tail -n +"$((mark + 1))" "$NFTPROXY_LOG" | grep -c 'synced table nftproxy (full): 1 services, nothing to send')"
api_test "slow?ms=0" >/dev/null
wait "$LOOP" || true
assert_loop_clean "$TMP/restart.out" "client loop through the restart"
check_dump "after the restart" "${want[@]}"
# The watches must be streaming before they are cut below (a slowed daemon
# may still be waiting for the slow server's answers).
for ((i = 0; i < $(nftp_scaled 10) * 10; i++)); do
	(($(tail -n +"$((mark + 1))" "$NFTPROXY_LOG" | grep -c 'streaming from https://127.0.0.1:6443' || true) >= 3)) && break
	sleep 0.1
done
sleep 0.5

section "HTTP 429 with Retry-After: the retry waits at least that long"
mark=$(wc -l <"$NFTPROXY_LOG")
api_test "fail?status=429&count=6&retry-after=3&path=watch%3D1" >/dev/null
api_test cut-watches >/dev/null
sleep 2
line=$(tail -n +"$((mark + 1))" "$NFTPROXY_LOG" | grep -m1 'failed: HTTP 429' || true)
# A slowed daemon (NFTP_TIME_SCALE, valgrind) gets the scaled time.
for ((k = 20; k < $(nftp_scaled 2) * 10 && ${#line} == 0; k++)); do
	sleep 0.1
	line=$(tail -n +"$((mark + 1))" "$NFTPROXY_LOG" | grep -m1 'failed: HTTP 429' || true)
done
log "${line#*] }"
delay=$(sed -n 's/.* again in \([0-9.]*\)s$/\1/p' <<<"$line")
assert_eq "a watch refused with 429 is retried no sooner than Retry-After (3 s)" 1 \
	"$(awk -v d="${delay:-0}" 'BEGIN { print (d >= 3) }')"
svc_manifest demo web 10.96.0.10 "" "$P" "2 3" | kube apply -f - >/dev/null
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "2 3")
wait_dump --timeout 20 "${want[@]}"

nftproxy_alive || check_failed "nftproxy died during the test"
finish
