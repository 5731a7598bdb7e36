#!/usr/bin/env bash
# Soak: nftproxy under continuous churn for NFTP_SOAK_SECONDS (default 30;
# the long variant is 300) while clients keep connecting.
#
#  - churn: a pool of NFTP_SOAK_POOL service slots (default 400), of which
#    NFTP_SOAK_FILL (default 300) hold a service at any time: TCP and UDP,
#    1-3 ports, IPv4, IPv6 or dual-stack. Every operation changes one
#    service: replaced (one removed, another added, so the count stays
#    constant: a steady state), its ports changed, or one of its endpoints
#    added, removed or moved ready -> not ready -> terminating -> gone. The
#    client's services get an endpoint step every second, always keeping a
#    ready endpoint (the new one comes before the old one leaves, and the
#    pods keep running). Full resyncs come on their own (--sync-period 5s).
#  - source: the manifests directory (files replaced atomically), or with
#    NFTP_SOAK_SOURCE=api the test API server (deletes and /_test/bulk
#    writes, batched every half second, each object its own watch event).
#  - clients: probe loops (TCP and UDP, IPv4 and IPv6, 20 attempts a second
#    each) to three stable services through their cluster IPs; none may fail.
#  - memory: the daemon's VmRSS/VmHWM every second and its malloc heap in
#    use after each full resync (--v 4 logs mallinfo2 after malloc_trim, or
#    ASan's live bytes in a sanitizer build, where RSS is not checked); a
#    warm-up baseline (at 20% of the run) against the end of the churn; its
#    open descriptors likewise.
#  - at the end: the dump equals the model of the final objects, the
#    table's chains, maps and sets match it (nothing orphaned), no batch was
#    refused, nothing logged an error, and SIGTERM ends the daemon cleanly.
#
# The figures go to the log (one "soak:" summary line) and to
# NFTP_SOAK_REPORT (default $TMP/soak.txt). NFTP_SOAK_RATE sets the churn
# operations per second (default 20; a slow machine does fewer, the summary
# says how many), NFTP_SOAK_SEED the random seed (printed).
# NFTP_SOAK_INJECT proves the test can fail: "outage" takes the last ready
# endpoint of a client's service away for 2 s mid-run (the probes must see
# it), "nowait" compares the rules with the final model without waiting for
# the daemon to apply the churn's last change.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_api.sh"
nftp_require
[[ ${NFTP_SOAK_SOURCE:-manifests} == manifests ]] || { [[ $NFTP_SOAK_SOURCE == api ]] && api_require; } ||
	fail "NFTP_SOAK_SOURCE must be manifests or api, not '$NFTP_SOAK_SOURCE'"
command -v curl >/dev/null || skip "needs curl (to read /metrics)"

SOAK_SECONDS=${NFTP_SOAK_SECONDS:-30}
POOL=${NFTP_SOAK_POOL:-400}
FILL=${NFTP_SOAK_FILL:-300}
RATE=${NFTP_SOAK_RATE:-20}
SEED=${NFTP_SOAK_SEED:-$$}
INJECT=${NFTP_SOAK_INJECT:-}
SOURCE=${NFTP_SOAK_SOURCE:-manifests}
REPORT=${NFTP_SOAK_REPORT:-$TMP/soak.txt}
[[ $SOAK_SECONDS =~ ^[0-9]+$ ]] && ((SOAK_SECONDS >= 10)) ||
	fail "NFTP_SOAK_SECONDS must be a whole number of seconds >= 10, not '$SOAK_SECONDS'"
((FILL < POOL && POOL <= 2000)) || fail "need NFTP_SOAK_FILL < NFTP_SOAK_POOL <= 2000"
RANDOM=$SEED
log "soak: ${SOAK_SECONDS} s from the $SOURCE source, pool $FILL of $POOL services, $RATE churn ops/s, seed $SEED${INJECT:+, injected fault: $INJECT}"

# ---------------------------------------------------------------------------
# The model: the services the source holds, and the dump lines they imply.

# Stable services, what the clients use (ports as for svc_manifest; their
# endpoints are pods 1-4, which run podservers).
declare -A ST_IP4=([web]=10.96.0.10 [api]=10.96.0.20 [fixed]=10.96.0.30)
declare -A ST_IP6=([web]=fd00:10:96::10 [api]=fd00:10:96::20 [fixed]=fd00:10:96::30)
declare -A ST_PORTS=([web]="http:80:TCP:8080 dns:53:UDP:5353"
		     [api]="grpc:8000:TCP:9000 stats:8001:UDP:9000"
		     [fixed]="dns:53:UDP:5353")
declare -A ST_EPS=([web]="1 2" [api]="3 4/notready" [fixed]="1 2 3 4")
STABLE=(web api fixed)
CHURNED=(web api) # "fixed" is the control: unrelated churn only

# Pool slot I: churn/sI-GEN in pool-I.yaml; family by I % 3, addresses by I
# (outside 10.96.0.0/24, where the stable ones are). Endpoints are pod
# numbers 5-254 (addresses nobody connects to).
declare -a SL_ON SL_GEN SL_PORTS SL_EPS
slot_ip4() { (($1 % 3 != 2)) && echo "10.96.$((10 + $1 / 200)).$(($1 % 200 + 1))" || echo ""; }
slot_ip6() { (($1 % 3 != 1)) && printf 'fd00:10:96::%x\n' $((0x1000 + $1)) || echo ""; }

# A random shape: 1-3 ports, TCP or UDP each, distinct numbers.
rand_ports() {
	local n=$((RANDOM % 3 + 1)) j out="" proto
	for ((j = 0; j < n; j++)); do
		((RANDOM % 2)) && proto=TCP || proto=UDP
		out+="${out:+ }p$j:$((1000 + j * 100 + RANDOM % 100)):$proto:$((8000 + RANDOM % 1000))"
	done
	echo "$out"
}

rand_state() {
	case $((RANDOM % 6)) in
	0) echo /notready ;;
	1) echo /terminating ;;
	*) echo "" ;;
	esac
}

# A random endpoint list: 0-6 of pods 5-254, some not ready or terminating.
rand_eps() {
	local n=$((RANDOM % 7)) k out="" p
	for ((k = 0; k < n; k++)); do
		p=$((5 + RANDOM % 250))
		[[ " ${out//\// } " == *" $p "* ]] && continue
		out+="${out:+ }$p$(rand_state)"
	done
	echo "$out"
}

# model_expect FILE: the sorted dump lines (dump_lines' format) of a model
# file (see model_write): per service port and family its ready endpoints, or
# when it has none its serving terminating ones (kube-proxy's fallback); not
# ready ones never. Pod N is lib.sh's pod_ip4/pod_ip6 N: 10.244.1.N and
# fd00:10:244::1:N (awk, not svc_expect: thousands of units).
model_expect() {
	LC_ALL=C awk -F'\t' '
	{
		nu = 0
		ne = split($6, e, " ")
		for (k = 1; k <= ne; k++) if (e[k] !~ /\//) u[++nu] = e[k]
		if (!nu) for (k = 1; k <= ne; k++) if (e[k] ~ /\/terminating$/) { sub(/\/.*/, "", e[k]); u[++nu] = e[k] }
		np = split($5, ports, " ")
		for (j = 1; j <= np; j++) {
			split(ports[j], q, ":")
			for (f = 3; f <= 4; f++) {
				if ($f == "") continue
				n = 0
				for (k = 1; k <= nu; k++) l[++n] = (f == 3 ? "10.244.1." : "fd00:10:244::1:") u[k] ":" q[4]
				for (a = 2; a <= n; a++) for (b = a; b > 1 && l[b - 1] > l[b]; b--) { t = l[b]; l[b] = l[b - 1]; l[b - 1] = t }
				list = ""
				for (k = 1; k <= n; k++) list = list (k > 1 ? "," : "") l[k]
				printf "%s/%s %s %s %s %s -> %s\n", $1, $2, (q[1] == "" ? "-" : q[1]), tolower(q[3]), $f, q[2], list
			}
		}
	}' "$1" | LC_ALL=C sort
}

# The objects of a service as items of the test API server's bulk body
# (Service, EndpointSlice per family, comma-separated JSON): the same objects
# as svc_manifest's YAML (slices NAME-v4 / NAME-v6).
svc_bulk_items() {
	local ns=$1 name=$2 ip4=$3 ip6=$4 ports=$5 eps=$6 ips="" famlist="" sp="" slp="" p pname pport pproto ptarget
	local policy=SingleStack ip fam e st addr items="" epj
	for ip in $ip4 $ip6; do
		ips+="${ips:+,}\"$ip\""
		[[ $ip == *:* ]] && famlist+="${famlist:+,}\"IPv6\"" || famlist+="${famlist:+,}\"IPv4\""
	done
	[[ -n $ip4 && -n $ip6 ]] && policy=RequireDualStack
	for p in $ports; do
		IFS=: read -r pname pport pproto ptarget <<<"$p"
		sp+="${sp:+,}{\"name\":\"$pname\",\"port\":$pport,\"protocol\":\"$pproto\",\"targetPort\":$ptarget}"
		slp+="${slp:+,}{\"name\":\"$pname\",\"port\":$ptarget,\"protocol\":\"$pproto\"}"
	done
	ip=${ip4:-$ip6}
	items="{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"$name\",\"namespace\":\"$ns\"},\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"$ip\",\"clusterIPs\":[$ips],\"ipFamilyPolicy\":\"$policy\",\"ipFamilies\":[$famlist],\"ports\":[$sp]}}"
	for fam in 4 6; do
		[[ $fam == 4 && -z $ip4 || $fam == 6 && -z $ip6 ]] && continue
		epj=""
		for e in $eps; do
			st=ready
			[[ $e == */* ]] && st=${e#*/}
			if [[ $fam == 4 ]]; then addr=$(pod_ip4 "${e%%/*}"); else addr=$(pod_ip6 "${e%%/*}"); fi
			case $st in
			ready) st='"ready":true' ;;
			notready) st='"ready":false' ;;
			terminating) st='"ready":false,"serving":true,"terminating":true' ;;
			esac
			epj+="${epj:+,}{\"addresses\":[\"$addr\"],\"conditions\":{$st}}"
		done
		items+=",{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"$name-v$fam\",\"namespace\":\"$ns\",\"labels\":{\"kubernetes.io/service-name\":\"$name\"}},\"addressType\":\"IPv$fam\",\"ports\":[$slp],\"endpoints\":[$epj]}"
	done
	printf '%s' "$items"
}

# API mode: curl in the API server's namespace, token read once.
api_call() {
	ip netns exec "$API_NS" curl -sS --max-time 20 --cacert "$API_DIR/ca.crt" \
		-H "Authorization: Bearer $API_TOKEN" "$@"
}

# API mode batches the changes, as a controller's writes would come: every
# half second one DELETE request per object gone (a single curl, one
# connection), then one /_test/bulk of every object created or replaced;
# each object still gets its own resourceVersion and watch event. A delete of
# an object put in the same batch sends the batch first, so the order holds.
API_PUTS=""
declare -a API_DELS=()
declare -A API_PENDING=()
api_flush() {
	if ((${#API_DELS[@]})); then
		api_call -X DELETE "${API_DELS[@]}" >/dev/null
		API_DELS=()
	fi
	if [[ -n $API_PUTS ]]; then
		printf '{"items":[%s]}' "$API_PUTS" |
			api_call -f -X POST -H 'Content-Type: application/json' --data-binary @- -o /dev/null "$API_URL/_test/bulk"
		API_PUTS=""
	fi
	API_PENDING=()
}

# obj_put FILE NS NAME IP4 IP6 PORTS EPS: a service and its slices created
# or replaced: one file written atomically, or queued for the next bulk.
obj_put() {
	local f=$1
	shift
	if [[ $SOURCE == api ]]; then
		API_PUTS+="${API_PUTS:+,}$(svc_bulk_items "$@")"
		API_PENDING[$1/$2]=1
	else
		svc_manifest "$@" | manifest_put "$f"
	fi
}

# obj_rm FILE NS NAME: a service and its slices gone (the file, or three
# DELETEs; the slice of a family the service does not have answers 404).
obj_rm() {
	if [[ $SOURCE == api ]]; then
		[[ -z ${API_PENDING[$2/$3]:-} ]] || api_flush
		API_DELS+=("$API_URL/api/v1/namespaces/$2/services/$3"
			   "$API_URL/apis/discovery.k8s.io/v1/namespaces/$2/endpointslices/$3-v4"
			   "$API_URL/apis/discovery.k8s.io/v1/namespaces/$2/endpointslices/$3-v6")
	else
		manifest_rm "$1"
	fi
}

put_slot() {
	local i=$1
	obj_put "pool-$i.yaml" churn "s$i-${SL_GEN[i]}" "$(slot_ip4 "$i")" "$(slot_ip6 "$i")" "${SL_PORTS[i]}" "${SL_EPS[i]:-}"
}
put_stable() {
	obj_put "stable-$1.yaml" stable "$1" "${ST_IP4[$1]}" "${ST_IP6[$1]}" "${ST_PORTS[$1]}" "$2"
}

# model_write FILE: one tab-separated line per service: NS NAME IP4 IP6 PORTS EPS.
model_write() {
	local i s
	{
		for s in "${STABLE[@]}"; do
			printf 'stable\t%s\t%s\t%s\t%s\t%s\n' "$s" "${ST_IP4[$s]}" "${ST_IP6[$s]}" "${ST_PORTS[$s]}" "${ST_EPS[$s]}"
		done
		for ((i = 0; i < POOL; i++)); do
			((SL_ON[i])) || continue
			printf 'churn\ts%s-%s\t%s\t%s\t%s\t%s\n' "$i" "${SL_GEN[i]}" "$(slot_ip4 "$i")" "$(slot_ip6 "$i")" \
				"${SL_PORTS[i]}" "${SL_EPS[i]:-}"
		done
	} >"$1"
}

# ---------------------------------------------------------------------------
# Churn (runs in a background subshell; its state is its own, so it writes
# the final model and its counters to files when it ends).

# One endpoint step on a pool slot: add, remove, or advance one endpoint's
# state (ready -> not ready -> terminating -> gone).
slot_eps_step() {
	local i=$1 eps arr n k e p out=""
	eps=${SL_EPS[i]:-}
	read -r -a arr <<<"$eps"
	n=${#arr[@]}
	if ((n == 0)) || { ((n < 6)) && ((RANDOM % 3 == 0)); }; then
		p=$((5 + RANDOM % 250))
		[[ " ${eps//\// } " == *" $p "* ]] || eps+="${eps:+ }$p"
		SL_EPS[i]=$eps
		return
	fi
	k=$((RANDOM % n))
	e=${arr[k]}
	if ((n >= 6)) || ((RANDOM % 4 == 0)); then
		arr[k]=""
	else
		case $e in
		*/notready) arr[k]="${e%%/*}/terminating" ;;
		*/terminating) arr[k]="" ;;
		*) arr[k]="$e/notready" ;;
		esac
	fi
	for e in "${arr[@]}"; do [[ -n $e ]] && out+="${out:+ }$e"; done
	SL_EPS[i]=$out
}

# One endpoint step on a client's service, pods 1-4, never leaving it
# without a ready endpoint: a pod becomes ready while fewer than two are,
# else one of: another pod becomes ready (up to three), a ready one goes not
# ready, a not ready one terminating, a terminating one away.
stable_step() {
	local s=$1 p st nready=0 cand=() e
	declare -A state=()
	for e in ${ST_EPS[$s]}; do
		if [[ $e == */* ]]; then state[${e%%/*}]=${e#*/}; else state[$e]=ready; fi
	done
	for p in 1 2 3 4; do [[ ${state[$p]:-} == ready ]] && nready=$((nready + 1)); done
	local action
	if ((nready < 2)); then
		action=up
	else
		case $((RANDOM % 4)) in
		0) action=up ;;
		1) action=down ;;
		*) action=age ;;
		esac
		((nready >= 3)) && [[ $action == up ]] && action=down
	fi
	case $action in
	up)
		for p in 1 2 3 4; do [[ ${state[$p]:-} != ready ]] && cand+=("$p"); done
		p=${cand[RANDOM % ${#cand[@]}]}
		state[$p]=ready
		;;
	down)
		for p in 1 2 3 4; do [[ ${state[$p]:-} == ready ]] && cand+=("$p"); done
		p=${cand[RANDOM % ${#cand[@]}]}
		state[$p]=notready
		;;
	age)
		for p in 1 2 3 4; do [[ -n ${state[$p]:-} && ${state[$p]} != ready ]] && cand+=("$p"); done
		if ((${#cand[@]} == 0)); then
			for p in 1 2 3 4; do [[ ${state[$p]:-} == ready ]] && cand+=("$p"); done
			p=${cand[RANDOM % ${#cand[@]}]}
			state[$p]=notready
		else
			p=${cand[RANDOM % ${#cand[@]}]}
			case ${state[$p]} in
			notready) state[$p]=terminating ;;
			terminating) unset "state[$p]" ;;
			esac
		fi
		;;
	esac
	local out=""
	for p in 1 2 3 4; do
		case ${state[$p]:-} in
		"") ;;
		ready) out+="${out:+ }$p" ;;
		*) out+="${out:+ }$p/${state[$p]}" ;;
		esac
	done
	ST_EPS[$s]=$out
}

now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }

churn_main() {
	local t0 end due now i j k op last_flush=0
	local added=0 removed=0 svc_changes=0 ep_changes=0 stable_steps=0 ops=0 inject_done=0 restore_at=0
	local -a on_list off_list
	t0=$(now_us)
	end=$((t0 + SOAK_SECONDS * 1000000))
	due=$t0
	local next_stable=$((t0 + 1000000)) which=0
	while :; do
		now=$(now_us)
		((now >= end)) || [[ -e $TMP/churn.stop ]] && break
		if ((now >= next_stable)); then
			local s=${CHURNED[which % ${#CHURNED[@]}]}
			which=$((which + 1))
			if [[ $INJECT == outage ]] && ((!inject_done && now - t0 >= SOAK_SECONDS * 500000)); then
				# The fault: every endpoint of web not ready for 2 s.
				put_stable web "1/notready 2/notready 3/notready 4/notready"
				echo "$(date +%T.%3N) injected: stable/web without a ready endpoint" >>"$TMP/churn.log"
				inject_done=1
				restore_at=$((now + 2000000))
			elif ((restore_at && now >= restore_at)); then
				put_stable web "${ST_EPS[web]}"
				restore_at=0
			elif [[ $s != web ]] || ((!restore_at)); then
				stable_step "$s"
				put_stable "$s" "${ST_EPS[$s]}"
				echo "$(date +%T.%3N) stable/$s: ${ST_EPS[$s]}" >>"$TMP/churn.log"
				stable_steps=$((stable_steps + 1))
			fi
			next_stable=$((next_stable + 1000000 / ${#CHURNED[@]}))
		fi
		op=$((RANDOM % 20))
		if ((op < 5)); then
			# Replace a service: one goes, a new one (new name, new shape)
			# comes in another slot, so the count stays at FILL.
			on_list=() off_list=()
			for ((i = 0; i < POOL; i++)); do
				if ((SL_ON[i])); then on_list+=("$i"); else off_list+=("$i"); fi
			done
			i=${on_list[RANDOM % ${#on_list[@]}]}
			j=${off_list[RANDOM % ${#off_list[@]}]}
			obj_rm "pool-$i.yaml" churn "s$i-${SL_GEN[i]}"
			SL_ON[i]=0
			SL_ON[j]=1
			SL_GEN[j]=$((${SL_GEN[j]:-0} + 1))
			SL_PORTS[j]=$(rand_ports)
			SL_EPS[j]=$(rand_eps)
			put_slot "$j"
			added=$((added + 1))
			removed=$((removed + 1))
		else
			# An existing service: its ports (1 op in 20) or one endpoint.
			k=$((RANDOM % POOL))
			while ((!SL_ON[k])); do k=$(((k + 1) % POOL)); done
			if ((op == 5)); then
				SL_PORTS[k]=$(rand_ports)
				svc_changes=$((svc_changes + 1))
			else
				slot_eps_step "$k"
				ep_changes=$((ep_changes + 1))
			fi
			put_slot "$k"
		fi
		ops=$((ops + 1))
		if [[ $SOURCE == api ]] && ((now - last_flush >= 500000)); then
			api_flush
			last_flush=$now
		fi
		# Paced from a fixed schedule; a slow machine just does fewer.
		due=$((due + 1000000 / RATE))
		now=$(now_us)
		if ((due > now)); then
			sleep "$(printf '0.%06d' $((due - now < 999999 ? due - now : 999999)))"
		elif ((now - due > 2000000)); then
			due=$now # do not try to catch up on a long stall
		fi
	done
	((restore_at)) && put_stable web "${ST_EPS[web]}"
	[[ $SOURCE != api ]] || api_flush
	if [[ $INJECT == nowait ]]; then
		# The fault: one last change that the comparison will not wait for.
		k=$((RANDOM % POOL))
		while ((!SL_ON[k])); do k=$(((k + 1) % POOL)); done
		i=$((5 + RANDOM % 250))
		while [[ " ${SL_EPS[k]//\// } " == *" $i "* ]]; do i=$((5 + (i - 4) % 250)); done
		SL_EPS[k]="${SL_EPS[k]:-}${SL_EPS[k]:+ }$i"
		ep_changes=$((ep_changes + 1))
		ops=$((ops + 1))
	fi
	model_write "$TMP/model.tsv"
	printf 'ops %d\nadded %d\nremoved %d\nsvc_changes %d\nep_changes %d\nstable_steps %d\nelapsed_ms %d\n' \
		"$ops" "$added" "$removed" "$svc_changes" "$ep_changes" "$stable_steps" $((($(now_us) - t0) / 1000)) \
		>"$TMP/churn.counts"
	[[ $INJECT != nowait ]] || put_slot "$k"
	[[ $SOURCE != api ]] || api_flush
}

# ---------------------------------------------------------------------------
# Memory: VmRSS and VmHWM (kB) of the daemon every second: "T RSS HWM".

mem_sampler() {
	local pid=$1 key val _ rss hwm
	while [[ -r /proc/$pid/status ]]; do
		rss="" hwm=""
		while read -r key val _; do
			case $key in
			VmRSS:) rss=$val ;;
			VmHWM:) hwm=$val ;;
			esac
		done <"/proc/$pid/status" 2>/dev/null || break
		[[ -n $rss ]] && echo "$(now_us) $rss $hwm" >>"$TMP/mem.log"
		sleep 1
	done
}

# mem_at T_US: the sample's RSS nearest before T_US (microseconds).
mem_at() { awk -v t="$1" '$1 <= t { r = $2 } END { print r + 0 }' "$TMP/mem.log"; }
heap_lines() { grep -c 'heap after the sync' "$NFTPROXY_LOG" || true; }
# heap_nth N: the malloc heap in use (MiB) logged by the Nth full resync.
heap_nth() { grep 'heap after the sync' "$NFTPROXY_LOG" | sed -n "${1}p" | sed -E 's/.*: ([0-9.]+) MiB in use.*/\1/'; }

fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
metrics() { ip netns exec "$NODE" curl -sS --max-time 5 http://127.0.0.1:10249/metrics 2>/dev/null || true; }
metric() { awk -v n="$1" '$1 == n { printf "%.0f\n", $2; f = 1 } END { if (!f) print "missing" }' <<<"$2"; }

# ---------------------------------------------------------------------------
section "setup: 4 pods, 3 stable services, $FILL of $POOL pool services"
topo_create 4
pod_serve_all
if [[ $SOURCE == api ]]; then
	api_start
	API_TOKEN=$(cat "$API_DIR/token")
	nftproxy_use_api
fi
for s in "${STABLE[@]}"; do put_stable "$s" "${ST_EPS[$s]}"; done
for ((i = 0; i < POOL; i++)); do
	SL_ON[i]=0
	SL_GEN[i]=0
done
# FILL distinct slots, drawn at random.
n=0
while ((n < FILL)); do
	i=$((RANDOM % POOL))
	((SL_ON[i])) && continue
	SL_ON[i]=1
	SL_GEN[i]=1
	SL_PORTS[i]=$(rand_ports)
	SL_EPS[i]=$(rand_eps)
	put_slot "$i"
	n=$((n + 1))
done
[[ $SOURCE != api ]] || api_flush
model_write "$TMP/model.start.tsv"
model_expect "$TMP/model.start.tsv" >"$TMP/expect.start"
log "initial model: $(wc -l <"$TMP/model.start.tsv") services, $(wc -l <"$TMP/expect.start") service ports x families"

nftproxy_start --v 4 --sync-period 5s --min-sync-period 250ms
mapfile -t want <"$TMP/expect.start"
wait_dump --timeout 60 "${want[@]}"
# The sampler reads this PID's memory: it must be the daemon (memcheck's
# process in valgrind mode, where memory is valgrind's and only reported).
comm=$(cat "/proc/$NFTPROXY_PID/comm")
[[ $comm == nftproxy || $NFTP_VALGRIND_DAEMON == 1 && $comm == memcheck* ]] ||
	fail "pid $NFTPROXY_PID is $comm, not nftproxy"
# table_chains: the chain names of the table, sorted.
table_chains() { grep -oE '^	chain "?[^ "]+' | awk '{ gsub(/"/, "", $2); print $2 }' | LC_ALL=C sort; }
skeleton_start=$(nft_table | table_chains | grep -vcE '^(svc|ext|local|fw)-' || true)
M0=$(metrics)

section "churn for $SOAK_SECONDS s while the clients connect"
: >"$TMP/mem.log"
mem_sampler "$NFTPROXY_PID" &
SAMPLER_PID=$!
NFTP_PIDS+=("$SAMPLER_PID")
PROBE_MS=$(((SOAK_SECONDS + 240) * 1000)) # a ceiling; they are stopped with SIGTERM
declare -A PROBES=(
	[web-tcp4]="--proto tcp ${ST_IP4[web]} 80"
	[web-udp6]="--proto udp ${ST_IP6[web]} 53"
	[api-tcp6]="--proto tcp ${ST_IP6[api]} 8000"
	[api-udp4]="--proto udp ${ST_IP4[api]} 8001"
	[fixed-udp4]="--proto udp ${ST_IP4[fixed]} 53"
)
declare -A PROBE_PID=()
for p in "${!PROBES[@]}"; do
	# shellcheck disable=SC2086 # the words of the probe's arguments
	probe_bg "$CLIENT" "$TMP/probe-$p.out" --count 0 --interval-ms 50 --duration-ms "$PROBE_MS" \
		--timeout-ms 3000 --trace ${PROBES[$p]}
	PROBE_PID[$p]=$BG_PID
done
sleep 0.5
T_START=$(now_us)
heap_start_idx=$(heap_lines)
churn_main &
CHURN_PID=$!
NFTP_PIDS+=("$CHURN_PID")

# The warm-up baseline: a fifth into the run.
sleep "$((SOAK_SECONDS / 5))"
nftproxy_check_running
T_BASE=$(now_us)
heap_base_idx=$(heap_lines)
fds_base=$(fd_count "$NFTPROXY_PID")
log "warm-up baseline taken: RSS $(mem_at "$T_BASE") kB"

churn_rc=0
wait "$CHURN_PID" || churn_rc=$?
T_END=$(now_us)
heap_end_idx=$(heap_lines)
fds_end=$(fd_count "$NFTPROXY_PID")
nftproxy_check_running
((churn_rc == 0)) || fail "the churn loop failed (exit status $churn_rc)"
declare -A CH=()
while read -r k v; do CH[$k]=$v; done <"$TMP/churn.counts"
log "churn done: ${CH[ops]} operations in ${CH[elapsed_ms]} ms (${CH[added]} services added, ${CH[removed]} removed, ${CH[svc_changes]} port changes, ${CH[ep_changes]} endpoint changes, ${CH[stable_steps]} client service endpoint steps)"

section "settle: the rules are the final model's"
model_expect "$TMP/model.tsv" >"$TMP/expect.end"
mapfile -t want <"$TMP/expect.end"
if [[ $INJECT == nowait ]]; then
	check_dump "right after the churn (injected: no wait)" "${want[@]}"
else
	wait_dump --timeout 60 "${want[@]}"
	# One more full resync over the settled state must change nothing.
	full0=$(metric kubeproxy_sync_full_proxy_rules_duration_seconds_count "$(metrics)")
	for ((k = 0; k < 150; k++)); do
		[[ $(metric kubeproxy_sync_full_proxy_rules_duration_seconds_count "$(metrics)") != "$full0" ]] && break
		sleep 0.1
	done
	check_dump "after the next full resync" "${want[@]}"
fi

section "the table against the model"
TABLE=$(nft_table)
echo "$TABLE" >"$TMP/table.end"
# Service port x family units, with and without endpoints.
units=$(wc -l <"$TMP/expect.end")
with_eps=$(grep -c -- '-> .' "$TMP/expect.end" || true)
no_eps=$((units - with_eps))
eps_total=$(awk '$NF != "->" { n += split($NF, a, ",") } END { print n + 0 }' "$TMP/expect.end")
hp4=$(awk '$NF != "->" && $4 !~ /:/ { n = split($NF, a, ","); for (i = 1; i <= n; i++) { sub(/:[0-9]+$/, "", a[i]); u[a[i]] = 1 } } END { print length(u) }' "$TMP/expect.end")
hp6=$(awk '$NF != "->" && $4 ~ /:/ { n = split($NF, a, ","); for (i = 1; i <= n; i++) { sub(/:[0-9]+$/, "", a[i]); u[a[i]] = 1 } } END { print length(u) }' "$TMP/expect.end")
cips4=$(awk -F'\t' '$3 != "" { print $3 }' "$TMP/model.tsv" | sort -u | wc -l)
cips6=$(awk -F'\t' '$4 != "" { print $4 }' "$TMP/model.tsv" | sort -u | wc -l)

# elements MAPKIND NAME: the elements of a set or map in the listing.
elements() {
	nft_block "$TABLE" "$1" "$2" | tr '\n' ' ' | sed -n 's/.*elements = {\(.*\)}.*/\1/p' |
		tr ',' '\n' | { grep -c '[^[:space:]]' || true; }
}
chains=$(table_chains <<<"$TABLE")
svc_chains=$(grep -E '^(svc|ext|local|fw)-' <<<"$chains" || true)
n_svc_chains=$(grep -c . <<<"$svc_chains" || true)
skeleton=$(grep -vcE '^(svc|ext|local|fw)-' <<<"$chains" || true)
assert_eq "svc- chains: one per service port and family with endpoints" "$with_eps" "$n_svc_chains"
# Every service chain is the target of a service-ips element, and every
# service-ips target exists: nothing orphaned, nothing dangling.
targets=$(for m in service-ips service-ips6; do nft_block "$TABLE" map "$m"; done | nft_verdict_targets | LC_ALL=C sort -u)
orphans=$(comm -23 <(echo "$svc_chains") <(echo "$targets") | { grep . || true; })
dangling=$(comm -13 <(echo "$svc_chains") <(echo "$targets") | { grep . || true; })
[[ -z $orphans ]] && pass "every service chain is referenced from service-ips" ||
	check_failed "service chains nothing refers to: $(head -n 5 <<<"$orphans" | tr '\n' ' ')"
[[ -z $dangling ]] && pass "every service-ips target is a service chain" ||
	check_failed "service-ips targets without a chain: $(head -n 5 <<<"$dangling" | tr '\n' ' ')"
assert_eq "service-ips + service-ips6 elements" "$with_eps" $(($(elements map service-ips) + $(elements map service-ips6)))
assert_eq "no-endpoint-services(6) elements" "$no_eps" $(($(elements map no-endpoint-services) + $(elements map no-endpoint-services6)))
lb_maps=$(grep -oE '^	map lb6?-[0-9]+' <<<"$TABLE" | awk '{ print $2 }')
lb_elems=0
for m in $lb_maps; do lb_elems=$((lb_elems + $(elements map "$m"))); done
assert_eq "LB map ranges: one per endpoint of each unit" "$eps_total" "$lb_elems"
unused_lb=""
for m in $lb_maps; do
	(($(elements map "$m"))) || continue
	grep -q "map @$m\$" <<<"$TABLE" || unused_lb+=" $m"
done
[[ -z $unused_lb ]] && pass "every non-empty LB map ($(wc -w <<<"$lb_maps") maps) is used by a chain" ||
	check_failed "LB maps with ranges but no chain using them:$unused_lb"
# An LB map serves up to 32 service ports of one family (docs/layout.md):
# churn may leave them partly used, but maps must not pile up.
for fam in 4 6; do
	if [[ $fam == 4 ]]; then
		need=$(awk '$NF != "->" && $4 !~ /:/' "$TMP/expect.end" | wc -l)
		have=$(grep -c '^lb-' <<<"$lb_maps" || true)
	else
		need=$(awk '$NF != "->" && $4 ~ /:/' "$TMP/expect.end" | wc -l)
		have=$(grep -c '^lb6-' <<<"$lb_maps" || true)
	fi
	need=$(((need + 31) / 32))
	if ((have <= 2 * need + 2)); then
		pass "IPv$fam LB maps: $have for $need maps' worth of service ports"
	else
		check_failed "IPv$fam LB maps piled up: $have for $need maps' worth of service ports"
	fi
done
assert_eq "hairpin elements (distinct IPv4 endpoint addresses)" "$hp4" "$(elements set hairpin)"
assert_eq "hairpin6 elements (distinct IPv6 endpoint addresses)" "$hp6" "$(elements set hairpin6)"
assert_eq "cluster-ips elements" "$cips4" "$(elements set cluster-ips)"
assert_eq "cluster-ips6 elements" "$cips6" "$(elements set cluster-ips6)"
assert_eq "skeleton chains (as many as at the start)" "$skeleton_start" "$skeleton"
M1=$(metrics)
assert_eq "nftproxy_table_chains is the listing's chain count" "$(grep -c . <<<"$chains")" "$(metric nftproxy_table_chains "$M1")"
assert_eq "nftproxy_services is the model's" "$(wc -l <"$TMP/model.tsv")" "$(metric nftproxy_services "$M1")"
assert_eq "batches the kernel refused" 0 "$(metric kubeproxy_sync_proxy_rules_nftables_sync_failures_total "$M1")"

section "clients: no failed connection"
for p in "${!PROBE_PID[@]}"; do kill -TERM "${PROBE_PID[$p]}" 2>/dev/null || true; done
for p in "${!PROBE_PID[@]}"; do wait "${PROBE_PID[$p]}" 2>/dev/null || true; done
attempts=0 failed=0 spread=""
for p in $(printf '%s\n' "${!PROBES[@]}" | LC_ALL=C sort); do
	out=$(grep -v '^attempt ' "$TMP/probe-$p.out")
	a=$(probe_get attempts "$out")
	ok=$(probe_get ok "$out")
	attempts=$((attempts + a))
	failed=$((failed + a - ok))
	spread+=" ${p}[$(probe_replies "$out")]"
	assert_loop_clean "$TMP/probe-$p.out" "client $p (${PROBES[$p]#--proto })"
	# The churned services' traffic must have moved between pods.
	if [[ $p != fixed-* ]] && (($(grep -c '^reply ' <<<"$out") < 2)); then
		check_failed "client $p: replies from fewer than 2 pods while its endpoints churned: $(probe_replies "$out")"
	fi
done
log "replies per pod:$spread"

section "memory"
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
rss_base=$(mem_at "$T_BASE")
rss_end=$(mem_at "$T_END")
rss_start=$(mem_at "$T_START")
rss_peak=$(awk -v a="$T_START" -v b="$T_END" '$1 >= a && $1 <= b && $2 > m { m = $2 } END { print m + 0 }' "$TMP/mem.log")
hwm_end=$(awk -v t="$T_END" '$1 <= t { h = $3 } END { print h + 0 }' "$TMP/mem.log")
samples=$(awk -v a="$T_START" -v b="$T_END" '$1 >= a && $1 <= b' "$TMP/mem.log" | wc -l)
# The bound: 2 MiB or 10% of the baseline, whichever is larger. The state
# for this pool is a few MiB; malloc's arenas, the libuv/curl buffers and
# the page granularity of RSS move it by a few hundred kB between samples
# of the same steady state, while a leak of even 100 bytes per changed
# service (~20 a second) adds ~0.5 MiB over 30 s and ~5 MiB over 300 s.
bound=$((rss_base / 10 > 2048 ? rss_base / 10 : 2048))
growth=$((rss_end - rss_base))
log "RSS (kB): start $rss_start, baseline $rss_base, end $rss_end, peak $rss_peak, VmHWM $hwm_end ($samples samples)"
if [[ $NFTP_VALGRIND_DAEMON == 1 ]]; then
	# memcheck's own shadow memory and freed-block queue: valgrind checks
	# for leaks at the exit instead.
	log "RSS not checked under valgrind (the process is memcheck's)"
elif ldd "$NFTPROXY" 2>/dev/null | grep -q libasan; then
	# ASan keeps freed blocks in its quarantine (up to 256 MiB) to catch
	# use-after-free, so RSS climbs by design; the heap in use below is
	# ASan's own count of live bytes, and LeakSanitizer checks the exit.
	log "RSS not checked in a sanitizer build (ASan's quarantine); the heap in use is"
elif ((rss_base > 0 && rss_end > 0 && growth <= bound)); then
	pass "RSS flat: $growth kB growth from the warm-up baseline to the end (bound $bound kB)"
else
	check_failed "RSS grew $growth kB from the warm-up baseline $rss_base kB to $rss_end kB (bound $bound kB)"
fi
heap_base=$(heap_nth "$((heap_base_idx > heap_start_idx ? heap_base_idx : heap_start_idx + 1))")
heap_end=$(heap_nth "$heap_end_idx")
heap_max=$(grep 'heap after the sync' "$NFTPROXY_LOG" | sed -n "$((heap_start_idx + 1)),${heap_end_idx}p" |
	sed -E 's/.*: ([0-9.]+) MiB in use.*/\1/' | sort -g | tail -n 1)
log "malloc heap in use after full resyncs (MiB): baseline ${heap_base:-?}, end ${heap_end:-?}, max ${heap_max:-?} ($((heap_end_idx - heap_start_idx)) resyncs)"
if [[ $NFTP_VALGRIND_DAEMON == 1 ]]; then
	log "heap not checked under valgrind: memcheck replaces malloc (mallinfo2 reads 0) and checks for leaks at the exit"
elif [[ -n $heap_base && -n $heap_end ]] &&
	awk -v b="$heap_base" -v e="$heap_end" 'BEGIN { l = b * 0.1; if (l < 0.5) l = 0.5; exit !(b > 0 && e - b <= l) }'; then
	pass "heap in use flat: $heap_base -> $heap_end MiB (bound: 0.5 MiB or 10%)"
else
	# (0 in use means the allocator's counters were not read at all)
	check_failed "heap in use grew from ${heap_base:-?} to ${heap_end:-?} MiB, or reads 0 (bound: 0.5 MiB or 10%)"
fi

# A sync or a scrape in progress holds a socket or two for a moment; a
# descriptor lost per sync would be dozens.
if ((fds_end <= fds_base + 4)); then
	pass "open descriptors flat: $fds_base at the baseline, $fds_end at the end"
else
	check_failed "open descriptors grew from $fds_base to $fds_end: $(ls -l "/proc/$NFTPROXY_PID/fd" 2>/dev/null | tail -n 5)"
fi

section "SIGTERM: a clean exit"
# mdelta NAME: how much a counter grew from the start of the churn to the end.
mdelta() {
	local a b
	a=$(metric "$1" "$M0")
	b=$(metric "$1" "$M1")
	[[ $a != missing && $b != missing ]] && echo $((b - a)) || echo "?"
}
for name in kubeproxy_sync_proxy_rules_duration_seconds_count kubeproxy_sync_full_proxy_rules_duration_seconds_count \
	kubeproxy_sync_proxy_rules_service_changes_total kubeproxy_sync_proxy_rules_endpoint_changes_total; do
	[[ $(mdelta "$name") != "?" ]] || check_failed "/metrics lacks $name (start or end of the run)"
done
syncs=$(mdelta kubeproxy_sync_proxy_rules_duration_seconds_count)
fulls=$(mdelta kubeproxy_sync_full_proxy_rules_duration_seconds_count)
svc_ev=$(mdelta kubeproxy_sync_proxy_rules_service_changes_total)
ep_ev=$(mdelta kubeproxy_sync_proxy_rules_endpoint_changes_total)
pid=$NFTPROXY_PID
rc=0
kill -TERM "$pid"
wait "$pid" || rc=$?
NFTPROXY_PID=""
assert_eq "nftproxy exit status after SIGTERM" 0 "$rc"
tail -n 1 "$NFTPROXY_LOG" | grep -q 'stopped$' && pass "its last log line: stopped" ||
	check_failed "the log does not end with 'stopped': $(tail -n 3 "$NFTPROXY_LOG")"
errors=$(grep -E '^[EF][0-9]{4} ' "$NFTPROXY_LOG" | head -n 5 || true)
[[ -z $errors ]] && pass "no error in the daemon's log" || check_failed "errors in the daemon's log:
$errors"

summary="soak: ${SOAK_SECONDS}s seed=$SEED churn_ops=${CH[ops]} services_added=${CH[added]} services_removed=${CH[removed]} port_changes=${CH[svc_changes]} endpoint_changes=${CH[ep_changes]} client_endpoint_steps=${CH[stable_steps]} daemon_service_events=$svc_ev daemon_endpoint_events=$ep_ev syncs=$syncs full_syncs=$fulls connections=$attempts failed=$failed rss_kb_start=$rss_start rss_kb_baseline=$rss_base rss_kb_end=$rss_end rss_kb_peak=$rss_peak vmhwm_kb=$hwm_end fds=$fds_base/$fds_end heap_mib_baseline=${heap_base:-?} heap_mib_end=${heap_end:-?} units=$units failures=$NFTP_FAILURES"
echo "$summary"
# The report: the summary, then the series (seconds into the churn) for
# plotting: "rss T KB HWM_KB" and "heap T MIB CHAINS ELEMENTS" (the table's
# size at that full resync).
{
	echo "$summary"
	echo "replies:$spread"
	awk -v t0="$T_START" '{ printf "rss %.1f %s %s\n", ($1 - t0) / 1e6, $2, $3 }' "$TMP/mem.log"
	# Log lines carry the time of day (klog); the churn started at s0.
	s0=$(date -d "@$((T_START / 1000000))" +%H:%M:%S | awk -F: -v us="$((T_START % 1000000))" '{ print $1 * 3600 + $2 * 60 + $3 + us / 1e6 }')
	awk -v s0="$s0" '
		/ now holds / { for (i = 1; i <= NF; i++) { if ($i == "chains,") c = $(i - 1); if ($i == "map" && $(i + 1) == "elements,") e = $(i - 1) } }
		/heap after the sync/ { split($2, t, ":"); d = t[1] * 3600 + t[2] * 60 + t[3] - s0
			for (i = 1; i <= NF; i++) if ($i == "MiB" && $(i + 1) == "in") h = $(i - 1)
			printf "heap %.1f %s %s %s\n", d, h, c, e }' "$NFTPROXY_LOG"
} >"$REPORT"
finish
