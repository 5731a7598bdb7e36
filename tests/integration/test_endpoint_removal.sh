#!/usr/bin/env bash
# e. Removing an endpoint from the manifest (the file rewritten in place)
# stops new connections to it within a second (asserted < 1.5 s); adding it
# back (the file replaced by rename) brings traffic back as fast. Clients
# keep connecting 100 times a second the whole time and see no failure.
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 3
pod_serve_all

P="http:80:TCP:8080 dns:53:UDP:5353"
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3" | manifest_put web.yaml
mapfile -t want3 < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3")
mapfile -t want2 < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2")
nftproxy_start
wait_dump "${want3[@]}"
# Out of the start-up sync's min-sync-period before changing anything.
sleep 1.2

# run_loops PHASE SPORT_BASE: a TCP/IPv4 and a UDP/IPv6 client loop. The UDP
# loop gives every attempt its own source port (SPORT_BASE + i): a reused
# port would join an older conntrack entry and its DNAT choice, which says
# nothing about the rules (test_udp_conntrack covers such flows).
run_loops() {
	probe_bg "$CLIENT" "$TMP/$1-tcp4.out" --proto tcp --count 0 --interval-ms 10 --duration-ms 4000 \
		--timeout-ms 1000 --trace 10.96.0.10 80
	LOOP1=$BG_PID
	probe_bg "$CLIENT" "$TMP/$1-udp6.out" --proto udp --count 0 --interval-ms 10 --duration-ms 4000 \
		--timeout-ms 1000 --sport-base "$2" --trace fd00:10:96::10 53
	LOOP2=$BG_PID
}

section "remove pod-3 (rewrite web.yaml in place)"
run_loops remove 20000
sleep 1
t0=$(date +%s.%N)
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2" | manifest_rewrite web.yaml
wait "$LOOP1" "$LOOP2" || true
for f in remove-tcp4 remove-udp6; do
	out="$TMP/$f.out"
	before=$(trace_count_between "$out" pod-3 0 "$t0")
	last=$(trace_last "$out" pod-3)
	after=$(trace_count_between "$out" pod-3 "$t0" 9999999999)
	late=$(trace_count_between "$out" pod-3 "$(awk -v t="$t0" 'BEGIN { printf "%.3f", t + 1.5 }')" 9999999999)
	((before > 0)) || check_failed "$f: pod-3 never answered before the removal (sanity)"
	stop_s=$(fdiff "${last:-$t0}" "$t0")
	log "$f: pod-3 answered $before times before the removal, $after after; last answer $stop_s s after the write"
	assert_lt "$f: pod-3 stops getting new connections (seconds after the write)" "$stop_s" 1.5
	assert_eq "$f: pod-3 answers later than 1.5 s after the write" 0 "$late"
	assert_loop_clean "$out" "$f: client loop during the removal"
done
wait_dump --timeout 3 "${want2[@]}"

section "add pod-3 back (web.yaml replaced by rename)"
sleep 1.2
run_loops add 30000
sleep 1
t1=$(date +%s.%N)
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3" | manifest_put web.yaml
wait "$LOOP1" "$LOOP2" || true
for f in add-tcp4 add-udp6; do
	out="$TMP/$f.out"
	before=$(trace_count_between "$out" pod-3 0 "$t1")
	first=$(trace_first_after "$out" pod-3 "$t1")
	assert_eq "$f: pod-3 answers before it is added back" 0 "$before"
	if [[ -z $first ]]; then
		check_failed "$f: pod-3 never answered after being added back"
	else
		start_s=$(fdiff "$first" "$t1")
		log "$f: first answer from pod-3 $start_s s after the write"
		assert_lt "$f: pod-3 gets new connections (seconds after the write)" "$start_s" 1.5
	fi
	assert_loop_clean "$out" "$f: client loop during the addition"
done
wait_dump --timeout 3 "${want3[@]}"

nftproxy_alive || check_failed "nftproxy died during the test"
finish
