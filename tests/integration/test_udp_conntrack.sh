#!/usr/bin/env bash
# A UDP flow that keeps sending (same socket, same 5-tuple, like a DNS
# client) to an endpoint that is then removed: kube-proxy deletes the
# conntrack entries whose DNAT points at a removed UDP endpoint, so the flow's
# next datagram is balanced again onto a remaining endpoint. Without that the
# flow sticks to the removed endpoint until its conntrack entry idles out
# (net.netfilter.nf_conntrack_udp_timeout, refreshed by every datagram).
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 3
pod_serve_all

P="dns:53:UDP:5353"
svc_manifest demo dns 10.96.0.10 fd00:10:96::10 "$P" "1 2 3" | manifest_put dns.yaml
mapfile -t want3 < <(svc_expect demo dns 10.96.0.10 fd00:10:96::10 "$P" "1 2 3")
mapfile -t want2 < <(svc_expect demo dns 10.96.0.10 fd00:10:96::10 "$P" "1 2")
nftproxy_start
wait_dump "${want3[@]}"

# find_flow IP: a source port whose flow the service sent to pod-3 -> SPORT
find_flow() {
	local ip=$1 p
	for ((p = 40000; p < 40100; p++)); do
		probe_run "$CLIENT" --proto udp --sport "$p" --count 1 "$ip" 53
		if [[ $(probe_reply_count pod-3) == 1 ]]; then
			SPORT=$p
			return 0
		fi
	done
	fail "no flow to $ip:53 from 100 source ports went to pod-3"
}

declare -A FLOW
for ip in 10.96.0.10 fd00:10:96::10; do
	find_flow "$ip"
	FLOW[$ip]=$SPORT
	probe_run "$CLIENT" --proto udp --sport "$SPORT" --count 5 --interval-ms 50 "$ip" 53
	assert_probe_ok
	assert_replies_only pod-3
	log "flow $ip:53 from source port $SPORT sticks to pod-3 (conntrack)"
done

# Keep both flows alive while pod-3 is removed, as a resolver would.
loops=()
for ip in 10.96.0.10 fd00:10:96::10; do
	probe_bg "$CLIENT" "$TMP/flow-$ip.out" --proto udp --sport "${FLOW[$ip]}" --count 0 \
		--interval-ms 50 --duration-ms 4500 --timeout-ms 500 --trace "$ip" 53
	loops+=("$BG_PID")
done
sleep 1
t0=$(date +%s.%N)
svc_manifest demo dns 10.96.0.10 fd00:10:96::10 "$P" "1 2" | manifest_put dns.yaml
wait "${loops[@]}" || true
wait_dump --timeout 3 "${want2[@]}"

for ip in 10.96.0.10 fd00:10:96::10; do
	out="$TMP/flow-$ip.out"
	last=$(trace_last "$out" pod-3)
	moved=$(awk -v t0="$t0" '$1 == "attempt" && $5 != "reply=pod-3" && substr($3, 3) + 0 > t0 { print substr($3, 3); exit }' "$out")
	after=$(trace_count_between "$out" pod-3 "$(awk -v t="$t0" 'BEGIN { printf "%.3f", t + 1.5 }')" 9999999999)
	log "flow $ip:53 sport ${FLOW[$ip]}: last pod-3 answer $(fdiff "${last:-$t0}" "$t0") s after the removal; first other result ${moved:+$(fdiff "$moved" "$t0") s after it: $(awk -v t="$moved" '$1 == "attempt" && substr($3, 3) == t { print $4, $5 }' "$out")}"
	if ((after == 0)); then
		pass "flow $ip:53 from port ${FLOW[$ip]} left the removed endpoint pod-3 within 1.5 s"
	else
		check_failed "flow $ip:53 from port ${FLOW[$ip]} still reached the removed endpoint pod-3 $after times more than 1.5 s after the removal (stale UDP conntrack entry not deleted; kube-proxy deletes conntrack entries of removed UDP endpoints):
$(awk -v t0="$t0" '$1 == "attempt" && substr($3, 3) + 0 > t0' "$out" | tail -n 3)"
	fi
	# One datagram may be lost: one already DNATed to pod-3 when its
	# conntrack entry is deleted gets a reply that no entry un-NATs, so the
	# client drops it (kube-proxy's deletion has the same window).
	assert_loop_clean "$out" "flow $ip:53 answered throughout" 1
done

nftproxy_alive || check_failed "nftproxy died during the test"
finish
