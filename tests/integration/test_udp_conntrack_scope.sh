#!/usr/bin/env bash
# Which UDP conntrack entries nftproxy deletes, checked in the conntrack table
# itself (test_udp_conntrack shows a flow moving off a removed endpoint; this
# one checks that exactly the right entries go):
#   - endpoint pod-1 removed from service A: A's entries DNATed to pod-1 are
#     deleted; A's entries to pod-2 and pod-3 stay, and so do service B's
#     entries to the same pod-1:5353 (the deletion is keyed by the service
#     address and port as well as the endpoint); A's flows that were on pod-1
#     are balanced again by their next datagram;
#   - a UDP service port that gets its first endpoint: entries for its address
#     and port made while nothing DNATed them (flows sent into the node's svc0
#     sink) are deleted, so the flow's next datagram is DNATed to the pod
#     instead of following the stale un-NATed entry into the sink. Two cases:
#     the service appears together with its endpoint (C1), and the service
#     exists with an empty slice first (C2);
# and nftproxy does this over netlink, never by running the conntrack tool:
# it runs with PATH holding only a stub "conntrack" that records any call.
#
# The stale entries are made while nftproxy runs without
# --service-cluster-ip-range: with it the unallocated addresses would be
# dropped before their conntrack entries are confirmed.
#
# Without the feature: A's pod-1 entries stay, and the stale entries of C1
# and C2 stay, so their flows' datagrams are never DNATed (they die in svc0,
# or nftproxy's reject of un-DNATed cluster IP traffic refuses them).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require
command -v conntrack >/dev/null || skip "needs the conntrack tool (to read the conntrack table)"

topo_create 3
pod_serve_all

# nftproxy with PATH=$FAKEBIN: a stub conntrack that records its calls.
FAKEBIN="$TMP/fakebin"
CT_CALLS="$TMP/conntrack-calls"
mkdir -p "$FAKEBIN"
cat >"$FAKEBIN/conntrack" <<EOF
#!/bin/sh
echo "conntrack \$*" >>"$CT_CALLS"
exit 1
EOF
chmod +x "$FAKEBIN/conntrack"
REAL_NFTPROXY=$NFTPROXY
NFTPROXY="$TMP/nftproxy-nopath"
cat >"$NFTPROXY" <<EOF
#!/bin/bash
PATH="$FAKEBIN" exec "$REAL_NFTPROXY" "\$@"
EOF
chmod +x "$NFTPROXY"
section "harness: the stub records a call made through PATH=$FAKEBIN"
PATH="$FAKEBIN" conntrack -L >/dev/null 2>&1 || true
assert_eq "stub conntrack recorded its call" "conntrack -L" "$(cat "$CT_CALLS" 2>/dev/null)"
rm -f "$CT_CALLS"

P="dns:53:UDP:5353"
A4=10.96.0.50 A6=fd00:10:96::50
B4=10.96.0.51 B6=fd00:10:96::51
C14=10.96.0.52 C16=fd00:10:96::52
C24=10.96.0.53 C26=fd00:10:96::53
svc_manifest demo a "$A4" "$A6" "$P" "1 2 3" | manifest_put a.yaml
svc_manifest demo b "$B4" "$B6" "$P" "1 2 3" | manifest_put b.yaml
nftproxy_start
mapfile -t want < <(svc_expect demo a "$A4" "$A6" "$P" "1 2 3"
		    svc_expect demo b "$B4" "$B6" "$P" "1 2 3")
wait_dump "${want[@]}"

# ct_lines FAMILY DST: the node's UDP conntrack entries from the client to
# DST:53, one per line: "SPORT REPLYSRC:REPLYSPORT" (REPLYSRC is the endpoint
# the entry is DNATed to, or DST itself when it is not DNATed), sorted.
ct_lines() {
	local fam=ipv4
	[[ $1 == 6 ]] && fam=ipv6
	ip netns exec "$NODE" conntrack -L -f "$fam" -p udp 2>/dev/null |
		awk -v dst="$2" '{
			delete f; delete n
			for (i = 1; i <= NF; i++) {
				if (split($i, kv, "=") != 2) continue
				k = kv[1]; n[k]++
				f[k n[k]] = kv[2]
			}
			if (f["dst1"] == dst && f["dport1"] == 53)
				print f["sport1"], f["src2"] ":" f["sport2"]
		}' | LC_ALL=C sort
}

# ip_fam IP: 4 or 6
ip_fam() { [[ $1 == *:* ]] && echo 6 || echo 4; }
ep_of() {   # ep_of FAMILY POD: the endpoint as conntrack shows it
	if [[ $1 == 6 ]]; then echo "$(pod_ip6 "$2"):5353"; else echo "$(pod_ip4 "$2"):5353"; fi
}

section "30 UDP flows (one source port each) to A and to B, per family"
declare -A BASE=([$A4]=41000 [$B4]=41100 [$A6]=43000 [$B6]=43100)
declare -A BEFORE
for ip in $A4 $B4 $A6 $B6; do
	probe_run "$CLIENT" --proto udp --sport-base "${BASE[$ip]}" --count 30 --timeout-ms 1000 "$ip" 53
	assert_probe_ok
	assert_replies_only pod-1 pod-2 pod-3
	BEFORE[$ip]=$(ct_lines "$(ip_fam "$ip")" "$ip")
	assert_eq "conntrack entries from the client to $ip:53" 30 "$(grep -c . <<<"${BEFORE[$ip]}")"
done

section "stale entries: flows to C1 and C2 before those services exist (into svc0)"
declare -A CSPORT=([$C14]=42000 [$C16]=44000 [$C24]=42001 [$C26]=44001)
for ip in $C14 $C16 $C24 $C26; do
	probe_run "$CLIENT" --proto udp --sport "${CSPORT[$ip]}" --count 1 --timeout-ms 300 "$ip" 53
	assert_probe_timeout
	assert_eq "un-NATed entry of the flow to $ip:53" "${CSPORT[$ip]} $ip:53" \
		"$(ct_lines "$(ip_fam "$ip")" "$ip" | grep "^${CSPORT[$ip]} " || true)"
done

section "C2 appears with an empty slice"
svc_manifest demo c2 "$C24" "$C26" "$P" "" | manifest_put c2.yaml
wait_dump_has "demo/c2 dns udp $C24 53 -> " "demo/c2 dns udp $C26 53 -> "
for ip in $C24 $C26; do
	# Keeps the entry alive; an established flow is not rejected (nothing
	# DNATs it, it goes to svc0 as before). Either way nothing answers.
	probe_run "$CLIENT" --proto udp --sport "${CSPORT[$ip]}" --count 1 --timeout-ms 300 "$ip" 53
	assert_probe_not_served
	got=$(ct_lines "$(ip_fam "$ip")" "$ip" | grep "^${CSPORT[$ip]} " || true)
	log "C2 $ip:53 with no endpoints: the flow's entry: ${got:-(none: deleted or rejected)}"
done

section "remove pod-1 from A; C1 appears with endpoint pod-1; C2 gets endpoint pod-1"
svc_manifest demo a "$A4" "$A6" "$P" "2 3" | manifest_put a.yaml
svc_manifest demo c1 "$C14" "$C16" "$P" "1" | manifest_put c1.yaml
svc_manifest demo c2 "$C24" "$C26" "$P" "1" | manifest_put c2.yaml
mapfile -t want < <(svc_expect demo a "$A4" "$A6" "$P" "2 3"
		    svc_expect demo b "$B4" "$B6" "$P" "1 2 3"
		    svc_expect demo c1 "$C14" "$C16" "$P" "1"
		    svc_expect demo c2 "$C24" "$C26" "$P" "1")
wait_dump "${want[@]}"

# The deletion follows the commit of the sync the dump shows: give it a moment.
for ((k = 0; k < 30; k++)); do
	left=0
	for ip in $A4 $A6; do
		f=$(ip_fam "$ip")
		ct_lines "$f" "$ip" | grep -q " $(ep_of "$f" 1)$" && left=1
	done
	for ip in $C14 $C16 $C24 $C26; do
		ct_lines "$(ip_fam "$ip")" "$ip" | grep -q " $ip:53$" && left=1
	done
	((left)) || break
	sleep 0.1
done

for ip in $A4 $A6; do
	f=$(ip_fam "$ip")
	ep1=$(ep_of "$f" 1)
	want_left=$(grep -v " $ep1$" <<<"${BEFORE[$ip]}" || true)
	n1=$(grep -c " $ep1$" <<<"${BEFORE[$ip]}" || true)
	got=$(ct_lines "$f" "$ip")
	if ! grep -q " $ep1$" <<<"$got"; then
		pass "A $ip:53: the $n1 entries DNATed to pod-1 ($ep1) are gone"
	else
		check_failed "A $ip:53: entries DNATed to the removed pod-1 remain:
$(grep " $ep1$" <<<"$got")"
	fi
	if [[ $got == "$want_left" ]]; then
		pass "A $ip:53: the $(grep -c . <<<"$want_left") entries to pod-2 and pod-3 are untouched"
	else
		check_failed "A $ip:53: the entries to pod-2 and pod-3 changed
--- expected
$want_left
--- got
$got"
	fi
done
for ip in $B4 $B6; do
	got=$(ct_lines "$(ip_fam "$ip")" "$ip")
	if [[ $got == "${BEFORE[$ip]}" ]]; then
		pass "B $ip:53: all 30 entries untouched ($(grep -c " $(ep_of "$(ip_fam "$ip")" 1)$" <<<"$got") of them to pod-1, like A's deleted ones)"
	else
		check_failed "B $ip:53: entries changed though B did not
--- before
${BEFORE[$ip]}
--- now
$got"
	fi
done
for ip in $C14 $C16 $C24 $C26; do
	got=$(ct_lines "$(ip_fam "$ip")" "$ip" | grep "^${CSPORT[$ip]} " || true)
	if [[ -z $got ]]; then
		pass "$ip:53 got its first endpoint: the flow's stale un-NATed entry is gone"
	else
		check_failed "$ip:53 got its first endpoint, but the flow's stale entry remains: $got"
	fi
done

section "the flows' next datagrams"
for ip in $A4 $A6; do
	f=$(ip_fam "$ip")
	moved=$(grep " $(ep_of "$f" 1)$" <<<"${BEFORE[$ip]}" | awk '{ print $1 }' | head -n 3)
	for sport in $moved; do
		probe_run "$CLIENT" --proto udp --sport "$sport" --count 1 --timeout-ms 1000 "$ip" 53
		assert_probe_ok
		if (($(probe_reply_count pod-1) == 0)); then
			pass "A $ip:53 flow from port $sport (was on pod-1) now answered by $(probe_replies)"
		else
			check_failed "A $ip:53 flow from port $sport still reaches the removed pod-1"
		fi
	done
done
for ip in $C14 $C16 $C24 $C26; do
	probe_run "$CLIENT" --proto udp --sport "${CSPORT[$ip]}" --count 3 --timeout-ms 1000 "$ip" 53
	assert_probe_ok
	assert_replies_only pod-1
done

section "nftproxy never ran the conntrack tool"
if [[ -s $CT_CALLS ]]; then
	check_failed "nftproxy executed conntrack: $(cat "$CT_CALLS")"
else
	pass "no call of the stub conntrack in PATH=$FAKEBIN; the entries were deleted all the same"
fi

nftproxy_alive || check_failed "nftproxy died during the test"
finish
