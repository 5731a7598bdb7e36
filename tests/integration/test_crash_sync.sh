#!/usr/bin/env bash
# SIGKILL at random points of large syncs: the kernel holds the old ruleset
# or the new one, never a mix, because a sync is one netlink batch.
#
#   (a) the first sync of a fresh daemon that finds 10,000 services in its
#       manifests and a table holding none of them (only two other
#       services), and the other way round (all 10,000 gone);
#   (b) a large update: every endpoint of the 10,000 services changes (one
#       file of EndpointSlices replaced) under a running daemon.
# Each round kills the daemon with SIGKILL after a random delay (seeded:
# CRASH_SEED, logged) within the sync's calibrated duration, then takes the
# table's fingerprint (the `nftproxyctl dump` lines' count and hash, and the
# number of chains), which must be exactly the old state's or the new one's.
# After every kill of (b) a restart converges (dump equals the model).
# Meanwhile one long-lived TCP connection through a service IP exchanges a
# line every 100 ms across every kill and restart, and a client opens new
# connections to an unchanged service 20 times a second: neither may fail.
# CRASH_SERVICES (10000) and CRASH_ROUNDS (6 per part, 5 in an ASan build)
# size the run.
source "$(dirname "$0")/lib.sh"
nftp_require
command -v python3 >/dev/null || skip "needs python3 (manifest generator, TCP echo)"

N=${CRASH_SERVICES:-10000}
# A sanitizer build syncs and dumps several times slower: one round less
# keeps the run inside meson's timeout on a loaded machine.
if ldd "$NFTPROXY" 2>/dev/null | grep -q libasan; then ROUNDS=${CRASH_ROUNDS:-5}; else ROUNDS=${CRASH_ROUNDS:-6}; fi
SEED=${CRASH_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
RANDOM=$SEED
GEN=(python3 "$NFTP_LIB_DIR/gen_services.py")
ECHO=(python3 "$NFTP_LIB_DIR/tcp_echo.py")
T_START=$(date +%s)
log "seed $SEED (CRASH_SEED=$SEED reproduces the delays), $N services, $ROUNDS rounds per part"

topo_create 3
pod_serve_all
nodeexec() { ip netns exec "$NODE" "$@"; }

# The long-lived connection's server: pod-3, port 7000.
bg_start "$(pod_ns 3)" "$TMP/echo-server.log" "${ECHO[@]}" server 7000 "$TMP/echo.ready"
for ((k = 0; k < 100; k++)); do [[ -s $TMP/echo.ready ]] && break; sleep 0.05; done
[[ -s $TMP/echo.ready ]] || fail "the echo server did not start: $(cat "$TMP/echo-server.log")"

# ---------------------------------------------------------------------------
# The states: 0 = the two unchanged services only; A = those and N services
# with endpoint set A; B = the same N services, every endpoint moved.

P="http:80:TCP:8080"
svc_manifest demo echo 10.96.0.10 "" "tcp:7000:TCP:7000" "3" | manifest_put echo.yaml
svc_manifest demo steady 10.96.0.11 "" "$P" "1 2" | manifest_put steady.yaml
{
	svc_expect demo echo 10.96.0.10 "" "tcp:7000:TCP:7000" "3"
	svc_expect demo steady 10.96.0.11 "" "$P" "1 2"
} | LC_ALL=C sort >"$TMP/expect-0"
t0=$(date +%s.%N)
"${GEN[@]}" services "$N" "$TMP/bulk-services.json"
"${GEN[@]}" slices "$N" A "$TMP/slices-A.json"
"${GEN[@]}" slices "$N" B "$TMP/slices-B.json"
for s in A B; do
	{ cat "$TMP/expect-0"; "${GEN[@]}" expect "$N" "$s"; } | LC_ALL=C sort >"$TMP/expect-$s"
done
log "generated $N services and two sets of their slices ($(du -ch "$TMP"/bulk-services.json "$TMP"/slices-?.json | tail -n 1 | cut -f1)) in $(fdiff "$(date +%s.%N)" "$t0") s"

# put_file SRC NAME: SRC becomes $MANIFESTS/NAME in one rename.
put_file() { cp "$1" "$TMP/put.tmp" && mv -f "$TMP/put.tmp" "$MANIFESTS/$2"; }
# set_files STATE: the manifests directory describes STATE.
set_files() {
	echo "$1" >"$TMP/files.state"
	case $1 in
	0) rm -f "$MANIFESTS/bulk-services.json" "$MANIFESTS/bulk-slices.json" ;;
	A | B)
		put_file "$TMP/bulk-services.json" bulk-services.json
		put_file "$TMP/slices-$1.json" bulk-slices.json
		;;
	esac
}

# ---------------------------------------------------------------------------
# The daemon, fingerprints

# daemon_start: nftproxy without lib.sh's start-up pause (the kill delays
# count from here). No periodic resync: only the syncs under test run.
daemon_start() {
	NFTPROXY_LOG="$TMP/nftproxy.log"
	nftproxy_log_mark
	echo "---- $(date +%T.%3N) nftproxy --manifests $MANIFESTS --v 2 --sync-period 1h" >>"$NFTPROXY_LOG"
	bg_start "$NODE" "$NFTPROXY_LOG" "$NFTPROXY" --manifests "$MANIFESTS" --v 2 --sync-period 1h
	NFTPROXY_PID=$BG_PID
}
daemon_kill() {
	kill -KILL "$NFTPROXY_PID" 2>/dev/null || true
	wait "$NFTPROXY_PID" 2>/dev/null || true
	NFTPROXY_PID=""
}
# fingerprint: the table as the kernel holds it now.
fingerprint() {
	local d c
	d=$(dump_lines) || d="(nftproxyctl dump failed: $(cat "$TMP/dump.err"))"
	printf '%s\n' "$d" >"$TMP/fp.dump"
	c=$(nodeexec nft list chains inet 2>/dev/null |
		awk '/^table / { t = ($2 == "inet" && $3 == "nftproxy") } t && $1 == "chain" { n++ } END { print n + 0 }')
	printf 'services=%s chains=%s dump=%s' "$(grep -c . <<<"$d")" "$c" "$(md5sum <<<"$d" | cut -c1-12)"
}

# check_converged STATE WHAT: the dump is exactly STATE's model.
check_converged() {
	local st=$1 what=$2
	if dump_lines >"$TMP/conv.dump" 2>/dev/null && cmp -s "$TMP/conv.dump" "$TMP/expect-$st"; then
		pass "$what: the dump equals the model of state $st ($(wc -l <"$TMP/expect-$st") service ports)"
	else
		check_failed "$what: the dump is not the model of state $st:
$(diff "$TMP/expect-$st" "$TMP/conv.dump" | head -n 10)
($(diff "$TMP/expect-$st" "$TMP/conv.dump" | grep -c '^[<>]') lines differ)"
	fi
}

# rand_ms LO HI: a seeded random integer in [LO, HI).
rand_ms() { echo $(($1 + (RANDOM * 32768 + RANDOM) % ($2 - $1))); }
# ms_sleep MS
ms_sleep() { sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }')"; }

declare -A FP=() CAL=() WIN=() STATE_COUNT=()
KILLS=0
RESULTS=()

# judge PART ROUND DELAY OLD NEW SYNCED: the fingerprint after a kill must be
# OLD's or NEW's; sets CUR to the state found.
judge() {
	local part=$1 round=$2 delay=$3 old=$4 new=$5 synced=$6 got found
	got=$(fingerprint)
	KILLS=$((KILLS + 1))
	if [[ $got == "${FP[$old]}" ]]; then
		found="old ($old)"
		CUR=$old
	elif [[ $got == "${FP[$new]}" ]]; then
		found="new ($new)"
		CUR=$new
	else
		found="MIXED"
	fi
	STATE_COUNT[$part-${found%% *}]=$((${STATE_COUNT[$part-${found%% *}]:-0} + 1))
	RESULTS+=("($part) round $round: $old -> $new, SIGKILL after $delay ms, $PHASE (sync logged before the kill: $synced): $found")
	log "($part) round $round: $old -> $new, killed after $delay ms ($PHASE; send window ${WIN[$old$new]} ms), sync logged: $synced, table: $found: $got"
	if [[ $found == MIXED ]]; then
		check_failed "($part) round $round: after SIGKILL at $delay ms the table is neither state $old nor $new:
got    $got
$old      ${FP[$old]}
$new      ${FP[$new]}
dump lines also in $old: $(LC_ALL=C comm -12 "$TMP/fp.dump" "$TMP/expect-$old" | wc -l), also in $new: $(LC_ALL=C comm -12 "$TMP/fp.dump" "$TMP/expect-$new" | wc -l), of $(wc -l <"$TMP/fp.dump")"
		# Go on from what the files say: a restart converges to it.
		CUR=unknown
	elif [[ $synced == yes && $found != new* ]]; then
		check_failed "($part) round $round: the daemon logged the sync before it was killed, but the table is the old one"
	fi
}

# ---------------------------------------------------------------------------
section "state 0: the two unchanged services; the long-lived connection and the client loop start"
daemon_start
nftproxy_wait_log "first sync of table nftproxy done" >/dev/null
check_converged 0 "start"
FP[0]=$(fingerprint)
log "fingerprint of state 0: ${FP[0]}"
bg_start "$CLIENT" "$TMP/echo-client.log" "${ECHO[@]}" client 10.96.0.10 7000 "$TMP/echo.out" 100 2000
ECHO_PID=$BG_PID
probe_bg "$CLIENT" "$TMP/steady.out" --proto tcp --count 0 --interval-ms 50 --duration-ms 900000 \
	--timeout-ms 1000 --trace 10.96.0.11 80
LOOP_PID=$BG_PID
for ((k = 0; k < 100; k++)); do
	[[ -s $TMP/echo.out ]] && grep -q '^connected 1' "$TMP/echo.out" && break
	sleep 0.05
done
grep -q '^connected 1' "$TMP/echo.out" 2>/dev/null || fail "the long-lived connection did not connect: $(cat "$TMP/echo.out" "$TMP/echo-client.log" 2>/dev/null)"
log "long-lived connection $(awk '$1 == "local" { print $2 }' "$TMP/echo.out") -> 10.96.0.10:7000 (pod-3)"
daemon_kill

# calibrate FROM TO: an uninterrupted first sync of a fresh daemon from
# state FROM (in the kernel) to TO (in the files): its duration in ms from
# the start (CAL_MS), TO's fingerprint, and the batch it took.
calibrate() {
	local from=$1 to=$2 t0 line ms batches
	set_files "$to"
	t0=$(date +%s%N)
	daemon_start
	line=$(nftproxy_wait_log "first sync of table nftproxy done")
	ms=$(($(date +%s%N) / 1000000 - t0 / 1000000))
	batches=$(nftproxy_log_since | grep -c "synced table nftproxy" || true)
	log "calibration $from -> $to: first sync after $ms ms ($(sed -E 's/.*(done [0-9.]+ ms after start: [0-9]+ services).*/\1/' <<<"$line")); $(nftproxy_log_since | grep -m1 'synced table nftproxy' | sed 's/^.*\] //')"
	if ((batches == 1)); then
		pass "calibration $from -> $to: the whole sync was one batch"
	else
		check_failed "calibration $from -> $to: $batches batches logged for one sync:
$(nftproxy_log_since | grep 'synced table')"
	fi
	check_converged "$to" "calibration $from -> $to"
	[[ -n ${FP[$to]:-} ]] || FP[$to]=$(fingerprint)
	log "fingerprint of state $to: ${FP[$to]}"
	daemon_kill
	CAL_MS=$ms
	# Where the batch's sendmsg (in which the kernel checks and commits
	# it) fell, in ms after the start: an estimate to label the kills.
	SEND_WIN="$(send_window "$(sed -nE 's/.*done ([0-9]+)[.0-9]* ms after start.*/\1/p' <<<"$line")" \
		"$(nftproxy_log_since | grep -m1 'synced table nftproxy')")"
}

# send_window END_MS SYNC_LINE: "FROM TO" (ms), the sendmsg of the sync that
# ended at END_MS, from the send time the sync's log line gives.
send_window() {
	local send
	send=$(sed -nE 's/.*send ([0-9]+)[.0-9]* ms.*/\1/p' <<<"$2")
	echo "$(($1 - ${send:-0} - 20)) $1"
}

# phase_of DELAY WINDOW: where a kill at DELAY ms fell, roughly.
phase_of() {
	local d=$1 from to
	read -r from to <<<"$2"
	if ((d < from)); then echo "est. before the batch was sent"
	elif ((d <= to)); then echo "est. while the kernel processed the batch"
	else echo "est. after the batch"; fi
}

# ---------------------------------------------------------------------------
section "(a) SIGKILL during a fresh daemon's first sync: $N services added, or all removed"
calibrate 0 A
CAL[0A]=$CAL_MS
WIN[0A]=$SEND_WIN
calibrate A 0
CAL[A0]=$CAL_MS
WIN[A0]=$SEND_WIN
[[ ${FP[A]} != "${FP[0]}" ]] || fail "states 0 and A have the same fingerprint"
CUR=0
for ((round = 1; round <= ROUNDS; round++)); do
	if [[ $CUR == unknown ]]; then
		# After a mixed table: converge to the files, and go on from there.
		daemon_start
		nftproxy_wait_log "first sync of table nftproxy done" >/dev/null
		daemon_kill
		CUR=$(cat "$TMP/files.state")
	fi
	if [[ $CUR == 0 ]]; then to=A; else to=0; fi
	cal=${CAL[$CUR$to]}
	set_files "$to"
	delay=$(rand_ms $((cal * 3 / 10)) $((cal * 11 / 10)))
	PHASE=$(phase_of "$delay" "${WIN[$CUR$to]}")
	daemon_start
	ms_sleep "$delay"
	daemon_kill
	synced=no
	nftproxy_log_since | grep -q "first sync of table nftproxy done" && synced=yes
	judge a "$round" "$delay" "$CUR" "$to" "$synced"
done

# ---------------------------------------------------------------------------
section "(b) SIGKILL during a large update: every endpoint of $N services changes"
set_files A
daemon_start
nftproxy_wait_log "first sync of table nftproxy done" >/dev/null
check_converged A "restart onto state ${CUR}"
# Calibration: A -> B under the running daemon, from the rename to the
# sync's log line. (The start-up sync left a token of min-sync-period's
# burst: the update syncs as soon as the file is read.)
t0=$(date +%s%N)
nftproxy_log_mark
put_file "$TMP/slices-B.json" bulk-slices.json
line=$(nftproxy_wait_log "synced table nftproxy")
CAL[AB]=$(($(date +%s%N) / 1000000 - t0 / 1000000))
log "calibration A -> B (update): synced after ${CAL[AB]} ms: ${line#*] }"
# Polled every 50 ms: the sync's own end is up to that much earlier.
WIN[AB]=$(send_window "${CAL[AB]}" "$line")
WIN[BA]=${WIN[AB]}
if (($(nftproxy_log_since | grep -c "synced table nftproxy" || true) == 1)); then
	pass "calibration A -> B: the whole update was one batch"
else
	check_failed "calibration A -> B: more than one batch: $(nftproxy_log_since | grep 'synced table')"
fi
check_converged B "calibration A -> B"
FP[B]=$(fingerprint)
log "fingerprint of state B: ${FP[B]}"
[[ ${FP[B]} != "${FP[A]}" ]] || fail "states A and B have the same fingerprint"
CUR=B
echo B >"$TMP/files.state"
for ((round = 1; round <= ROUNDS; round++)); do
	if [[ $CUR == A ]]; then to=B; else to=A; fi
	delay=$(rand_ms $((CAL[AB] * 3 / 10)) $((CAL[AB] * 11 / 10)))
	PHASE=$(phase_of "$delay" "${WIN[$CUR$to]}")
	nftproxy_log_mark
	put_file "$TMP/slices-$to.json" bulk-slices.json
	echo "$to" >"$TMP/files.state"
	ms_sleep "$delay"
	daemon_kill
	synced=no
	nftproxy_log_since | grep -q "synced table nftproxy" && synced=yes
	judge b "$round" "$delay" "$CUR" "$to" "$synced"
	# The restart converges to the files' state, whatever the kill left.
	daemon_start
	nftproxy_wait_log "first sync of table nftproxy done" >/dev/null
	check_converged "$to" "(b) round $round: restart after the kill"
	CUR=$to
done
daemon_kill

# ---------------------------------------------------------------------------
section "results"
kill -TERM "$ECHO_PID" 2>/dev/null || true
wait "$ECHO_PID" 2>/dev/null || true
kill -TERM "$LOOP_PID" 2>/dev/null || true
wait "$LOOP_PID" 2>/dev/null || true
printf '%s\n' "${RESULTS[@]}"
for part in a b; do
	log "($part): $((${STATE_COUNT[$part-old]:-0} + ${STATE_COUNT[$part-new]:-0} + ${STATE_COUNT[$part-MIXED]:-0})) kills: old ${STATE_COUNT[$part-old]:-0}, new ${STATE_COUNT[$part-new]:-0}, mixed ${STATE_COUNT[$part-MIXED]:-0}"
done
echo_sent=$(awk '$1 == "sent" { print $2 }' "$TMP/echo.out")
echo_ok=$(awk '$1 == "echoed" { print $2 }' "$TMP/echo.out")
if grep -q '^failed 0' "$TMP/echo.out" && ((echo_ok > 0 && echo_ok == echo_sent)); then
	pass "the long-lived TCP connection through 10.96.0.10:7000 lived through $KILLS kills and every restart: $echo_ok of $echo_sent lines echoed, slowest $(awk '$1 == "max_rtt_ms" { print $2 }' "$TMP/echo.out") ms"
else
	check_failed "the long-lived TCP connection broke: $(tr '\n' ' ' <"$TMP/echo.out")"
fi
assert_loop_clean "$TMP/steady.out" "new connections to demo/steady across $KILLS kills and the restarts"
log "seed $SEED; runtime $(($(date +%s) - T_START)) s"
finish
