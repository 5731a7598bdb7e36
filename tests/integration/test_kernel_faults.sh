#!/usr/bin/env bash
# Kernel faults with real traffic. Someone else changes nftproxy's table
# behind its back, then a change makes nftproxy's next incremental batch
# collide with it, so the kernel refuses the batch:
#   F1 a foreign verdict element sits at the key a new service needs (EEXIST)
#   F2 a service's chain (and its map element) was deleted, then the service's
#      port changes: the batch deletes what is gone (ENOENT)
#   F3 a service's LB map ranges were deleted, then its endpoints change: the
#      batch deletes the ranges that are gone (ENOENT)
#   F4 a foreign chain in our table jumps to a service's chain, then the
#      service is deleted: the kernel will not delete a chain in use (EBUSY)
# (test_batch_failure covers a foreign map of the wrong type, test_drift the
# periodic resync noticing changes; here an incremental batch runs into them.)
# For each: nothing of the refused batch is applied (the table is what it was
# after the fault, and before it minus the touched object), the log names
# the service and says the batch was rolled back and when it is retried, and
# the retry reads the table back and repairs it (dump as expected, traffic).
#
# Meanwhile other programs' tables (`table inet other` with sets, a verdict
# map and chains, iptables-nft-like `table ip filter` and `table ip nat` with
# base chains at priorities next to ours) are never touched: through
# startup, syncs, the refused batches, the repairs, a drift repair, SIGTERM,
# restart and `nftproxy --cleanup` their listings stay byte-identical and
# their counters keep counting. A client connects to an unaffected service
# 20 times a second all along and must never fail.
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 3
pod_serve_all

P="http:80:TCP:8080"
P81="http:81:TCP:8080"
nodeexec() { ip netns exec "$NODE" "$@"; }

# ---------------------------------------------------------------------------
# Other programs' tables, made before nftproxy starts. Every counter is on
# the path of the client's connections (client -> service -> pod, forwarded).
# The nat table has NAT rules of its own (for addresses nobody uses), as a
# real one would: they keep conntrack on in the namespace once our table is
# gone, without which nat chains see no packet at all.

nodeexec nft -f - <<'EOF'
table inet other {
	set blocked4 {
		type ipv4_addr
		elements = { 203.0.113.7, 203.0.113.8 }
	}
	map portmap {
		type inet_service : verdict
		elements = { 8080 : jump other-log, 9999 : drop }
	}
	chain other-log {
		counter
	}
	chain other-fwd {
		type filter hook forward priority -1; policy accept;
		counter
		ip saddr @blocked4 drop
		tcp dport vmap @portmap
		ip daddr 10.244.0.0/16 counter
	}
	chain other-pre {
		type filter hook prerouting priority -99; policy accept;
		counter
	}
}
table ip filter {
	chain FORWARD {
		type filter hook forward priority 0; policy accept;
		ip saddr 192.0.2.0/24 counter
	}
}
table ip nat {
	chain PREROUTING {
		type nat hook prerouting priority -101; policy accept;
		ip saddr 192.0.2.0/24 counter
		ip daddr 198.18.0.2 tcp dport 1 dnat to 198.18.0.3
	}
	chain POSTROUTING {
		type nat hook postrouting priority 101; policy accept;
		ip daddr 10.244.0.0/16 counter
		ip daddr 198.18.0.3 masquerade
	}
}
EOF
FOREIGN=("inet other" "ip filter" "ip nat")
foreign_list() {
	local t
	for t in "${FOREIGN[@]}"; do
		# shellcheck disable=SC2086 # family and name
		nodeexec nft list table $t
	done
}
foreign_listing() { foreign_list | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/g'; }
# One packet count per counter, in listing order.
foreign_counters() { foreign_list | grep -oE 'counter packets [0-9]+' | awk '{ print $3 }' | paste -sd' ' -; }
foreign_listing >"$TMP/foreign.ref"
NCOUNTERS=$(foreign_list | grep -c 'counter packets')
LAST_COUNTERS=$(foreign_counters)

# check_foreign WHEN: the other tables are byte-identical to their reference
# listing (counters aside), and every counter grew since the last check.
check_foreign() {
	local when=$1 now i grew=1
	if diff -u "$TMP/foreign.ref" <(foreign_listing) >"$TMP/foreign.diff"; then
		pass "$when: the other programs' tables are unchanged ($(wc -l <"$TMP/foreign.ref") lines)"
	else
		check_failed "$when: the other programs' tables changed:
$(cat "$TMP/foreign.diff")"
	fi
	now=$(foreign_counters)
	read -r -a a <<<"$LAST_COUNTERS"
	read -r -a b <<<"$now"
	((${#b[@]} == NCOUNTERS)) || grew=0
	for ((i = 0; i < NCOUNTERS && grew; i++)); do
		((b[i] > a[i])) || grew=0
	done
	if ((grew)); then
		pass "$when: all $NCOUNTERS foreign counters kept counting ($LAST_COUNTERS -> $now)"
	else
		check_failed "$when: foreign counters did not all grow: $LAST_COUNTERS -> $now"
	fi
	LAST_COUNTERS=$now
}

# ---------------------------------------------------------------------------
# Reading our table

# table_items: stdin an `nft list table` listing; prints one line per rule,
# property and map/set element, prefixed by its block ("chain NAME\t...",
# "map NAME\telement KEY : VALUE"), sorted, so two listings can be compared
# object by object.
table_items() {
	awk '
	function flush(   n, i, parts) {
		sub(/[ \t]*}[ \t]*$/, "", el)
		n = split(el, parts, /,[ \t]*/)
		for (i = 1; i <= n; i++)
			if (parts[i] != "") print blk "\telement " parts[i]
		el = ""
	}
	/^\t(chain|map|set) / { blk = $1 " " $2; next }
	/^\t}/ { blk = ""; next }
	blk == "" { next }
	{ line = $0; sub(/^[ \t]+/, "", line) }
	inel { el = el " " line; if (line ~ /}$/) { inel = 0; flush() } next }
	line ~ /^elements = \{/ {
		el = line; sub(/^elements = \{[ \t]*/, "", el)
		if (el ~ /}$/) flush(); else inel = 1
		next
	}
	{ print blk "\t" line }' | LC_ALL=C sort
}

# snap NAME: saves `nft list table inet nftproxy` (counters zeroed) and its items.
# Snapshots are per fault: $F-NAME.nft and $F-NAME.items.
F=start
snap() {
	nft_table >"$TMP/$F-$1.nft"
	table_items <"$TMP/$F-$1.nft" >"$TMP/$F-$1.items"
}

# check_refused FAULT SERVICE TOUCHED_ERE: waits for the kernel's refusal
# naming SERVICE, then checks the table is exactly what it was after the
# fault (snapshot "fault") and differs from the one before it (snapshot
# "pre") only in objects matching TOUCHED_ERE; and that the log said what
# happens next.
check_refused() {
	local fault=$1 svc=$2 touched=$3 k line diffs bad
	for ((k = 0; k < 100; k++)); do
		line=$(tail -n +"$LOG_MARK" "$NFTPROXY_LOG" | grep -m1 "kernel refused" || true)
		[[ -n $line ]] && break
		nftproxy_check_running
		sleep 0.05
	done
	snap refused
	[[ -n $line ]] || { check_failed "$fault: no batch refused within 5 s:
$(tail -n +"$LOG_MARK" "$NFTPROXY_LOG" | tail -n 20)"; return 0; }
	if grep -qF "service $svc " <<<"$line" && grep -q "rolled back, nothing was changed" <<<"$line"; then
		pass "$fault: the kernel refused the batch, logged against service $svc: ${line#*] }"
	else
		check_failed "$fault: the refusal does not name service $svc and the rollback: $line"
	fi
	if cmp -s "$TMP/$F-fault.nft" "$TMP/$F-refused.nft"; then
		pass "$fault: nothing of the refused batch was applied (table as after the fault, $(wc -l <"$TMP/$F-refused.nft") lines)"
	else
		check_failed "$fault: the refused batch changed the table:
$(diff "$TMP/$F-fault.nft" "$TMP/$F-refused.nft" | head -n 40)"
	fi
	diffs=$(LC_ALL=C comm -3 "$TMP/$F-pre.items" "$TMP/$F-refused.items" | sed "s/^\t//")
	bad=$(grep -vE -- "$touched" <<<"$diffs" || true)
	if [[ -n $diffs && -z $bad ]]; then
		pass "$fault: the rest of the table is unchanged ($(wc -l <<<"$diffs") items differ, all of the touched object)"
	else
		check_failed "$fault: the table differs from before the fault beyond the touched object ($touched):
${bad:-(no difference at all)}"
	fi
	for ((k = 0; k < 50; k++)); do
		line=$(tail -n +"$LOG_MARK" "$NFTPROXY_LOG" | grep -m1 "sync of table nftproxy failed" || true)
		[[ -n $line ]] && break
		sleep 0.05
	done
	if grep -q "nothing changed in the kernel, retrying in" <<<"$line"; then
		pass "$fault: the log says what happens next: ${line#*] }"
	else
		check_failed "$fault: no 'sync failed ... retrying in' line: $line"
	fi
}

# check_repaired FAULT WANT...: the retry read the table back and converged.
check_repaired() {
	local fault=$1 n
	shift
	wait_dump --timeout 20 "$@"
	n=$(tail -n +"$LOG_MARK" "$NFTPROXY_LOG" | grep -c "read back table inet nftproxy" || true)
	if ((n >= 1)); then
		pass "$fault: the retry read the table back and repaired it"
	else
		check_failed "$fault: the dump converged but no read-back was logged"
	fi
	nftproxy_alive || check_failed "$fault: nftproxy died"
}

# term_stop WHEN: SIGTERM; the daemon must exit 0 (under ASan: no error, no leak).
term_stop() {
	local rc=0
	kill -TERM "$NFTPROXY_PID"
	wait "$NFTPROXY_PID" || rc=$?
	NFTPROXY_PID=""
	assert_eq "$1: nftproxy's exit status after SIGTERM" 0 "$rc"
}

mark_log() { LOG_MARK=$(($(wc -l <"$NFTPROXY_LOG") + 1)); }

# Elements of a map by their key prefix: the element lines of an items file.
map_elem_keys() { awk -F'\t' -v m="map $2" '$1 == m && $2 ~ /^element / { sub(/^element /, "", $2); print $2 }' "$1"; }

# ---------------------------------------------------------------------------
# The services

want_of() {
	local s
	for s in "$@"; do
		case $s in
		steady) svc_expect demo steady 10.96.0.11 "" "$P" "1 2" ;;
		web) svc_expect demo web 10.96.0.10 "" "$P" "1 2" ;;
		web81) svc_expect demo web 10.96.0.10 "" "$P81" "1 2" ;;
		gone) svc_expect demo gone 10.96.0.12 "" "$P" "1" ;;
		gone2) svc_expect demo gone 10.96.0.12 "" "$P" "2 3" ;;
		busy) svc_expect demo busy 10.96.0.13 "" "$P" "2" ;;
		new) svc_expect demo new 10.96.0.30 "" "$P" "3" ;;
		esac
	done
}
svc_manifest demo steady 10.96.0.11 "" "$P" "1 2" | manifest_put steady.yaml
svc_manifest demo web 10.96.0.10 "" "$P" "1 2" | manifest_put web.yaml
svc_manifest demo gone 10.96.0.12 "" "$P" "1" | manifest_put gone.yaml
svc_manifest demo busy 10.96.0.13 "" "$P" "2" | manifest_put busy.yaml

section "startup beside the other programs' tables"
# A long sync period: no periodic resync repairs anything behind the test's
# back; min-sync-period 3s: a refused batch is retried no sooner than 3 s
# later, time enough to look at the table in between.
T0=$(date +%s)
nftproxy_start --sync-period 1h --min-sync-period 3s
mapfile -t want < <(want_of steady web gone busy)
wait_dump "${want[@]}"
probe_bg "$CLIENT" "$TMP/steady.out" --proto tcp --count 0 --interval-ms 50 --duration-ms 600000 \
	--timeout-ms 1000 --trace 10.96.0.11 80
LOOP_PID=$BG_PID
sleep 1
check_foreign "after startup"

section "syncs: a service added, endpoints changed"
svc_manifest demo gone 10.96.0.12 "" "$P" "2 3" | manifest_put gone.yaml
mapfile -t want < <(want_of steady web gone2 busy)
wait_dump "${want[@]}"
svc_manifest demo gone 10.96.0.12 "" "$P" "1" | manifest_put gone.yaml
mapfile -t want < <(want_of steady web gone busy)
wait_dump "${want[@]}"
sleep 3.2 # the token bucket refills: the next change syncs at once
check_foreign "after incremental syncs"

# ---------------------------------------------------------------------------
F=F1
section "F1: a foreign element at a new service's key (EEXIST)"
snap pre
nodeexec nft add element inet nftproxy service-ips '{ 10.96.0.30 . tcp . 80 : drop }'
snap fault
mark_log
svc_manifest demo new 10.96.0.30 "" "$P" "3" | manifest_put new.yaml
check_refused F1 demo/new '^map service-ips	element 10\.96\.0\.30 \. tcp \. 80 '
mapfile -t want < <(want_of steady web gone busy new)
check_repaired F1 "${want[@]}"
probe_run "$CLIENT" --proto tcp --count 10 10.96.0.30 80
assert_probe_ok
check_foreign "after F1"
sleep 3.2

# ---------------------------------------------------------------------------
F=F2
section "F2: a service chain deleted behind nftproxy's back, then its port changes (ENOENT)"
snap pre
svc=$(sed -n -E 's/^[[:space:]]*chain (svc-[^ ]+-demo\/web\/tcp\/http) \{.*/\1/p' "$TMP/$F-pre.nft" | head -n 1)
[[ -n $svc ]] || fail "no chain of demo/web found"
nodeexec nft delete element inet nftproxy service-ips '{ 10.96.0.10 . tcp . 80 }'
nodeexec nft flush chain inet nftproxy "$svc"
nodeexec nft delete chain inet nftproxy "$svc"
snap fault
mark_log
svc_manifest demo web 10.96.0.10 "" "$P81" "1 2" | manifest_put web.yaml
check_refused F2 demo/web "^chain ${svc//\//\\/}	|^map service-ips	element 10\\.96\\.0\\.10 \\. tcp \\. 80 "
mapfile -t want < <(want_of steady web81 gone busy new)
check_repaired F2 "${want[@]}"
probe_run "$CLIENT" --proto tcp --count 10 10.96.0.10 81
assert_probe_ok
probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 300 10.96.0.10 80
if (($(probe_get ok) == 0)); then
	pass "F2: the old port is no longer served ($(probe_summary))"
else
	check_failed "F2: the old port 80 still answers: $(probe_summary)"
fi
check_foreign "after F2"
sleep 3.2

# ---------------------------------------------------------------------------
F=F3
section "F3: a service's LB ranges deleted behind nftproxy's back, then its endpoints change (ENOENT)"
snap pre
gsvc=$(sed -n -E 's/^[[:space:]]*chain (svc-[^ ]+-demo\/gone\/tcp\/http) \{.*/\1/p' "$TMP/$F-pre.nft" | head -n 1)
body=$(nft_block "$(cat "$TMP/$F-pre.nft")" chain "$gsvc")
read -r mod off lb < <(nft_dnat_map_refs <<<"$body" | awk '{ print $2, $3, $4 }')
[[ -n ${lb:-} ]] || fail "no LB map rule in chain $gsvc: $body"
ranges=$(map_elem_keys "$TMP/$F-pre.items" "$lb" | awk -v lo="$off" -v n="$mod" '{ split($1, r, "-"); if (r[1] + 0 >= lo && r[1] + 0 < lo + n) print $1 }')
[[ -n $ranges ]] || fail "no range of demo/gone in map $lb"
nodeexec nft delete element inet nftproxy "$lb" "{ $(paste -sd, - <<<"$ranges") }"
snap fault
mark_log
svc_manifest demo gone 10.96.0.12 "" "$P" "2 3" | manifest_put gone.yaml
re=$(sed 's/[.]/\\./g' <<<"$ranges" | sed "s/^/^map $lb\telement /; s/\$/ /" | paste -sd'|' -)
check_refused F3 demo/gone "$re"
mapfile -t want < <(want_of steady web81 gone2 busy new)
check_repaired F3 "${want[@]}"
probe_run "$CLIENT" --proto tcp --count 30 10.96.0.12 80
assert_probe_ok
assert_replies_only pod-2 pod-3
check_foreign "after F3"
sleep 3.2

# ---------------------------------------------------------------------------
F=F4
section "F4: a foreign chain in our table jumps to a service chain, then the service goes (EBUSY)"
snap pre
bsvc=$(sed -n -E 's/^[[:space:]]*chain (svc-[^ ]+-demo\/busy\/tcp\/http) \{.*/\1/p' "$TMP/$F-pre.nft" | head -n 1)
[[ -n $bsvc ]] || fail "no chain of demo/busy found"
nodeexec nft add chain inet nftproxy intruder
nodeexec nft add rule inet nftproxy intruder ip daddr 198.18.0.1 jump "$bsvc"
snap fault
mark_log
manifest_rm busy.yaml
check_refused F4 demo/busy '^chain intruder	'
mapfile -t want < <(want_of steady web81 gone2 new)
check_repaired F4 "${want[@]}"
if nft_table | grep -qE "chain (intruder|${bsvc//\//\\/}) "; then
	check_failed "F4: the foreign chain or the deleted service's chain is still there"
else
	pass "F4: the foreign chain and the deleted service's chain are gone"
fi
check_foreign "after F4"

# ---------------------------------------------------------------------------
F=restart
section "SIGTERM, restart with a 2 s resync period: drift repair"
term_stop "after F1-F4"
snap stopped
sleep 0.5
check_foreign "after SIGTERM"
mark_log
nftproxy_start --sync-period 2s
wait_dump "${want[@]}"
sleep 2.5
snap restarted
if cmp -s "$TMP/$F-stopped.nft" "$TMP/$F-restarted.nft"; then
	pass "the restart left the table as it was"
else
	check_failed "the restart changed the table:
$(diff "$TMP/$F-stopped.nft" "$TMP/$F-restarted.nft" | head -n 20)"
fi
check_foreign "after the restart"
# A commit by another program to its own table: the resync's check sees the
# ruleset generation move, but must find our table intact and leave it.
mark_log
nodeexec nft add element inet other blocked4 '{ 203.0.113.9 }'
foreign_listing >"$TMP/foreign.ref"
sleep 4.5
if tail -n +"$LOG_MARK" "$NFTPROXY_LOG" | grep -qE "changed by someone else|was deleted by someone else"; then
	check_failed "a commit to another table was taken for drift of ours:
$(tail -n +"$LOG_MARK" "$NFTPROXY_LOG" | grep -E 'someone else')"
else
	pass "another program's commit to its own table is not taken for drift of ours"
fi
mark_log
nodeexec nft add chain inet nftproxy intruder2
nodeexec nft add rule inet nftproxy intruder2 counter
for ((k = 0; k < 80; k++)); do
	nft_table | grep -q 'chain intruder2' || break
	sleep 0.1
done
if nft_table | grep -q 'chain intruder2'; then
	check_failed "drift: the foreign chain in our table is still there after 8 s"
else
	pass "drift: the periodic resync removed a foreign chain from our table"
fi
wait_dump "${want[@]}"
check_foreign "after the drift repair"

# ---------------------------------------------------------------------------
section "the client loop to the unaffected service"
kill -TERM "$LOOP_PID" 2>/dev/null || true
wait "$LOOP_PID" 2>/dev/null || true
assert_loop_clean "$TMP/steady.out" "client TCP loop to demo/steady through F1-F4, drift repair, SIGTERM and restart"
LOOP_ATTEMPTS=$(probe_get attempts "$(cat "$TMP/steady.out")")

section "nftproxy --cleanup"
term_stop "after the drift repair"
nodeexec "$NFTPROXY" --cleanup >>"$NFTPROXY_LOG" 2>&1 || check_failed "nftproxy --cleanup failed: $(tail -n 3 "$NFTPROXY_LOG")"
if nodeexec nft list table inet nftproxy >/dev/null 2>&1; then
	check_failed "--cleanup left table inet nftproxy"
else
	pass "--cleanup deleted table inet nftproxy"
fi
# Without our table the service IPs lead nowhere: count with direct traffic.
probe_run "$CLIENT" --proto tcp --count 10 "$(pod_ip4 1)" 8080
assert_probe_ok
check_foreign "after nftproxy --cleanup"
assert_eq "tables left in the node" "$(printf '%s\n' "${FOREIGN[@]}" | sed 's/^/table /' | LC_ALL=C sort | paste -sd'|' -)" \
	"$(nodeexec nft list tables | LC_ALL=C sort | paste -sd'|' -)"
log "client loop: $LOOP_ATTEMPTS connections; runtime $(($(date +%s) - T0)) s"
finish
