#!/usr/bin/env bash
# Fault injection of the Kubernetes API server (issue 7, hardening), with
# real traffic. A client keeps connecting through a service IP with ready
# endpoints (10.96.0.10:80, a fresh TCP connection every 50 ms) while the
# test API server (tests/apiserver, its /_test/ switches) misbehaves in nine
# ways, one section each:
#
#  1. a watch stream cut in the middle of an event's bytes: an HTTP/2
#     RST_STREAM, then the whole TCP/TLS connection destroyed (cut-mid);
#  2. half-written JSON: an event that stops halfway and the stream ends,
#     and one that stops halfway and goes on with a new event (raw);
#  3. a 10 MB object: a Service with a 10 MB annotation (a 10 MB ADDED and
#     MODIFIED event, and a 10 MB list page after a forced relist); VmRSS
#     of the daemon before and after is logged and must stay sane;
#  4. wrong kinds and unknown event types: a ConfigMap in the services
#     watch (one with the name of a served Service), a Service in the
#     endpointslices watch, an event of type FROBNICATED;
#  5. a Service with 1,000 ports and its EndpointSlice: spot checks of
#     several ports with real traffic;
#  6. an EndpointSlice with 1,000 endpoints (1,000 addresses of a pod):
#     the dump shows all of them and traffic still works;
#  7. duplicate and out-of-order resourceVersions (see below);
#  8. slow responses: lists trickling one byte at a time at a restart, then
#     watch events trickling;
#  9. TLS handshake failures: a certificate from an unknown CA, one for
#     another name, and connections closed in the middle of the handshake.
#
# After each: nftproxy is alive, not one client connection failed, the
# rules (nftproxyctl dump) equal what the API server holds (computed from
# its objects by api_expect_lines), and a later change still reaches the
# kernel.
#
# Ordering of watch events (section 7). kube-proxy's informers do not
# compare resourceVersions: they apply events in the order of the stream,
# so an older version sent after a newer one would be served until the
# next event or relist. nftproxy does the same for everything it cannot
# order, but drops a watch event (ADDED, MODIFIED or DELETED) whose
# resourceVersion is older than the one it holds for that object, when both
# are decimal integers (kube-apiserver's are etcd revisions): it logs the
# event as out of order and keeps the newer version, which is what the
# server holds. An event with the very same resourceVersion (a duplicate)
# changes nothing. A list always replaces what was held.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_api.sh"
nftp_require
api_require
# `... | inject ...` runs inject in this shell (it counts the faults).
shopt -s lastpipe

topo_create 3
pod_serve_all
api_start
kube_node_yaml "$KUBE_NODE_NAME" zone-a "$NODE_IP4" | kube apply -f - >/dev/null

WEB_PORTS="http:80:TCP:8080"
WEB_EPS="1 2"
web_apply() {
	svc_manifest demo web 10.96.0.10 "" "$WEB_PORTS" "$WEB_EPS" | kube apply -f - >/dev/null
}
web_apply
nftproxy_use_api
nftproxy_start --v 3

FAULTS=0
PROBE_OUT=""
declare -a SUMMARY=()
SLICES=/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices
SERVICES=/api/v1/namespaces/demo/services

# inject WHAT CMD...: one fault (counted), its answer logged.
inject() {
	local what=$1 out
	shift
	out=$("$@") || fail "injecting $what failed: $out"
	FAULTS=$((FAULTS + 1))
	log "fault $FAULTS: $what: ${out:0:200}"
}

rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$NFTPROXY_PID/status"; }
hwm_kb() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$NFTPROXY_PID/status"; }

# wait_api [TIMEOUT]: the dump becomes what the API server holds.
wait_api() {
	local -a want
	mapfile -t want < <(api_expect_lines)
	((${#want[@]})) || fail "api_expect_lines gave nothing"
	wait_dump --timeout "${1:-20}" "${want[@]}"
}

check_api() {
	local -a want
	mapfile -t want < <(api_expect_lines)
	check_dump "$1" "${want[@]}"
}

# assert_table_same WHAT TABLE: the table (nft_table) is still TABLE.
assert_table_same() {
	local now
	now=$(nft_table)
	if [[ $now == "$2" ]]; then
		pass "$1: the table did not change ($(wc -l <<<"$now") lines)"
	else
		check_failed "$1: the table changed:
$(diff <(echo "$2") <(echo "$now"))"
	fi
}

# log_since MARK: the nftproxy log after line MARK.
log_since() { tail -n +"$(($1 + 1))" "$NFTPROXY_LOG"; }
log_count_since() { log_since "$1" | grep -cE -- "$2" || true; }

LOOP=""
SECTION=""
# section_begin N TITLE: a section; the client loop starts.
section_begin() {
	SECTION=$1
	section "$1. $2"
	MARK=$(wc -l <"$NFTPROXY_LOG")
	probe_bg "$CLIENT" "$TMP/loop-$1.out" --proto tcp --count 0 --duration-ms 600000 --interval-ms 50 \
		--timeout-ms 1000 10.96.0.10 80
	LOOP=$BG_PID
	sleep 0.3
}

# later_change: demo/web gets another set of endpoints (the client loop is
# answered by either); it must reach the kernel.
later_change() {
	if [[ $WEB_EPS == "1 2" ]]; then WEB_EPS="1 2 3"; else WEB_EPS="1 2"; fi
	web_apply
	wait_api 20
	pass "section $SECTION: a later change (demo/web endpoints $WEB_EPS) reached the kernel"
}

# section_end: the checks after each fault.
section_end() {
	local out="$TMP/loop-$SECTION.out" n ok p left=()
	nftproxy_alive || fail "section $SECTION: nftproxy died"
	wait_api 20
	later_change
	kill -TERM "$LOOP" 2>/dev/null || true
	wait "$LOOP" || true
	for p in "${NFTP_PIDS[@]}"; do [[ $p == "$LOOP" ]] || left+=("$p"); done
	NFTP_PIDS=("${left[@]}")
	assert_loop_clean "$out" "section $SECTION: the client loop"
	n=$(probe_get attempts "$(cat "$out")")
	ok=$(probe_get ok "$(cat "$out")")
	SUMMARY+=("section $SECTION: $n connections, $((n - ok)) failed")
	nftproxy_alive || check_failed "section $SECTION: nftproxy died"
	log "section $SECTION: nftproxy VmRSS $(rss_kb) kB"
}

# The dump must match the API before anything goes wrong.
wait_api 10
sleep 1
RSS0=$(rss_kb)
log "nftproxy VmRSS at the start: $RSS0 kB"

# ---------------------------------------------------------------------------
section_begin 1 "a watch stream cut in the middle of an event"
inject "the next endpointslices event cut halfway, HTTP/2 stream reset" \
	api_test "cut-mid?resource=endpointslices"
WEB_EPS="1 2 3"
web_apply
wait_api 20
inject "the next services event cut halfway, TCP connection destroyed" \
	api_test "cut-mid?resource=services&socket=1"
WEB_PORTS="http:80:TCP:8080 alt:81:TCP:9000"
web_apply
wait_api 20
assert_eq "both events were cut by the server" 2 "$(api_stat '.faults.injected["cut-mid"]')"
assert_eq "the broken watches are logged and retried" 1 \
	"$(log_count_since "$MARK" 'watch (endpointslices|services) from https://127.0.0.1:6443 broke after .*watching (endpointslices|services) again in' |
		awk '{ print ($1 >= 2) }')"
assert_eq "no relist: the watches resumed from their resourceVersion" 0 \
	"$(log_count_since "$MARK" 'listed [0-9]+ (services|endpointslices)')"
section_end

# ---------------------------------------------------------------------------
section_begin 2 "half-written JSON"
printf '%s' '{"type":"MODIFIED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"web","namespace":"demo","resourceVersion":"9' |
	inject "an event stops halfway and the services watch ends" api_raw services end
sleep 1.5
printf '%s\n' '{"type":"MODIFIED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"web-v4","namespace":"demo"},"endpoints":[{"addre' |
	inject "an event stops halfway in the endpointslices watch, a new event follows" \
	api_raw endpointslices keep
# The new event: a real change, right behind the broken line.
WEB_EPS="1"
web_apply
wait_api 20
assert_eq "the event cut short by the end of the stream is logged" 1 \
	"$(log_count_since "$MARK" 'watch services from https://127.0.0.1:6443 ended inside an event' | awk '{ print ($1 >= 1) }')"
assert_eq "the broken line is logged as a malformed event" 1 \
	"$(log_count_since "$MARK" 'watch endpointslices from https://127.0.0.1:6443: malformed event: line [0-9]+ column [0-9]+' | awk '{ print ($1 >= 1) }')"
section_end

# ---------------------------------------------------------------------------
section_begin 3 "a 10 MB object"
head -c 10485760 /dev/zero | tr '\0' 'a' >"$TMP/blob"
# big_json PORTS_JSON: the Service demo/big with the 10 MB annotation, and its slice.
big_json() {
	jq -n --rawfile blob "$TMP/blob" --argjson ports "$1" --argjson eports "$2" '{items: [
		{kind: "Service", apiVersion: "v1",
		 metadata: {name: "big", namespace: "demo", annotations: {"example.com/blob": $blob}},
		 spec: {type: "ClusterIP", clusterIP: "10.96.0.40", clusterIPs: ["10.96.0.40"], ports: $ports}},
		{kind: "EndpointSlice", apiVersion: "discovery.k8s.io/v1",
		 metadata: {name: "big-v4", namespace: "demo", labels: {"kubernetes.io/service-name": "big"}},
		 addressType: "IPv4", ports: $eports,
		 endpoints: [{addresses: ["10.244.1.3"], conditions: {ready: true}}]}]}'
}
HWM0=$(hwm_kb)
RSS_BEFORE=$(rss_kb)
big_json '[{"name":"http","port":80,"protocol":"TCP","targetPort":8080}]' \
	'[{"name":"http","port":8080,"protocol":"TCP"}]' >"$TMP/big.json"
log "demo/big: $(wc -c <"$TMP/big.json") bytes of JSON"
inject "a Service with a 10 MB annotation (a 10 MB ADDED event)" api_bulk <"$TMP/big.json"
wait_api 30
probe_run "$CLIENT" --proto tcp --count 20 --timeout-ms 1000 10.96.0.40 80
assert_probe_ok
big_json '[{"name":"http","port":80,"protocol":"TCP","targetPort":8080},{"name":"alt","port":81,"protocol":"TCP","targetPort":9000}]' \
	'[{"name":"http","port":8080,"protocol":"TCP"},{"name":"alt","port":9000,"protocol":"TCP"}]' |
	sed 's/"aaaaaaaaaa/"bbbbbbbbbb/' >"$TMP/big.json"
inject "the 10 MB Service modified (a 10 MB MODIFIED event)" api_bulk <"$TMP/big.json"
wait_api 30
mark=$(wc -l <"$NFTPROXY_LOG")
inject "every resourceVersion expired: a relist whose page holds the 10 MB object" api_test expire
for ((i = 0; i < 200; i++)); do
	(($(log_count_since "$mark" 'listed [0-9]+ services') > 0)) && break
	sleep 0.1
done
assert_eq "the relist with the 10 MB object completed" 1 "$(log_count_since "$mark" 'listed [0-9]+ services')"
wait_api 30
probe_run "$CLIENT" --proto tcp --count 20 --timeout-ms 1000 10.96.0.40 81
assert_probe_ok
assert_eq "the 10 MB Service was decoded, not refused" 0 "$(log_count_since "$MARK" 'demo/big.*skipped|out of memory')"
assert_eq "no watch was lost over the 10 MB events" 0 "$(log_count_since "$MARK" 'broke after|malformed event|ended inside|stopped;')"
sleep 1
RSS_AFTER=$(rss_kb)
HWM1=$(hwm_kb)
log "nftproxy VmRSS before the 10 MB object: $RSS_BEFORE kB, after: $RSS_AFTER kB (peak before $HWM0 kB, after $HWM1 kB)"
RSS_REPORT="VmRSS before $RSS_BEFORE kB, after $RSS_AFTER kB, peak (VmHWM) $HWM0 -> $HWM1 kB"
# Sane: a few copies of 10 MB at most while decoding (the sanitizer build
# keeps freed memory in quarantine, so it gets more room).
limit=$((160 * 1024))
ldd "$NFTPROXY" 2>/dev/null | grep -q libasan && limit=$((600 * 1024))
assert_lt "VmRSS growth over the 10 MB object (kB)" "$((RSS_AFTER - RSS_BEFORE))" "$limit"
assert_lt "peak VmHWM growth over the 10 MB object (kB)" "$((HWM1 - HWM0))" "$limit"
api_curl "$SERVICES/big" -f -X DELETE >/dev/null
api_curl "$SLICES/big-v4" -f -X DELETE >/dev/null
rm -f "$TMP/blob" "$TMP/big.json"
section_end

# ---------------------------------------------------------------------------
section_begin 4 "a watch event of an unknown kind or an unknown type"
table0=$(nft_table)
rv=$(api_stat .resourceVersion)
{
	# A ConfigMap with the name of a served Service, and a new one.
	printf '{"type":"MODIFIED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"web","namespace":"demo","resourceVersion":"%s"},"data":{"a":"b"}}}\n' "$rv"
	printf '{"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cm-x","namespace":"demo","resourceVersion":"%s"},"data":{}}}\n' "$rv"
} | inject "ConfigMaps in the services watch" api_raw services keep
api_curl "$SERVICES/web" -f | jq -c '{type: "MODIFIED", object: (.kind = "Service" | .metadata.name = "web-v4")}' |
	inject "a Service in the endpointslices watch, with the name of a served EndpointSlice" api_raw endpointslices keep
api_curl "$SERVICES/web" -f | jq -c '{type: "FROBNICATED", object: (.spec.ports = [])}' |
	inject "an event of an unknown type" api_raw services keep
sleep 1.5
assert_table_same "the table did not change" "$table0"
check_api "after the events of unknown kinds and types"
assert_eq "a ConfigMap in the services watch is logged and skipped" 1 \
	"$(log_count_since "$MARK" 'watch services from https://127.0.0.1:6443: ConfigMap demo/web: unexpected kind .*skipped' | awk '{ print ($1 == 1) }')"
assert_eq "a Service in the endpointslices watch is logged and skipped" 1 \
	"$(log_count_since "$MARK" 'watch endpointslices from https://127.0.0.1:6443: Service demo/web-v4: unexpected kind .*skipped')"
assert_eq "the unknown event type is logged and skipped" 1 \
	"$(log_count_since "$MARK" 'watch services: unknown event type "FROBNICATED"; skipped')"
section_end

# ---------------------------------------------------------------------------
section_begin 5 "a Service with 1,000 ports"
jq -n '[range(0; 1000) | {i: ., t: (if . % 2 == 0 then 8080 else 9000 end)}] as $p | {items: [
	{kind: "Service", apiVersion: "v1", metadata: {name: "many", namespace: "demo"},
	 spec: {type: "ClusterIP", clusterIP: "10.96.0.50", clusterIPs: ["10.96.0.50"],
	        ports: [$p[] | {name: "p\(.i)", port: (20000 + .i), protocol: "TCP", targetPort: .t}]}},
	{kind: "EndpointSlice", apiVersion: "discovery.k8s.io/v1",
	 metadata: {name: "many-v4", namespace: "demo", labels: {"kubernetes.io/service-name": "many"}},
	 addressType: "IPv4", ports: [$p[] | {name: "p\(.i)", port: .t, protocol: "TCP"}],
	 endpoints: [{addresses: ["10.244.1.2"], conditions: {ready: true}},
	             {addresses: ["10.244.1.3"], conditions: {ready: true}}]}]}' |
	inject "a Service with 1,000 ports and its EndpointSlice" api_bulk
wait_api 60
assert_eq "dump lines of demo/many" 1000 "$(dump_lines | grep -c '^demo/many ')"
for port in 20000 20001 20500 20777 20998 20999; do
	probe_run "$CLIENT" --proto tcp --count 10 --timeout-ms 1000 10.96.0.50 "$port"
	assert_probe_ok
	assert_replies_only pod-2 pod-3
done
api_curl "$SERVICES/many" -f -X DELETE >/dev/null
api_curl "$SLICES/many-v4" -f -X DELETE >/dev/null
section_end

# ---------------------------------------------------------------------------
section_begin 6 "an EndpointSlice with 1,000 endpoints"
# 1,000 addresses of pod 1 (10.244.4.1-250 ... 10.244.7.1-250), routed to it.
for b in 4 5 6 7; do
	for ((h = 1; h <= 250; h++)); do echo "addr add 10.244.$b.$h/32 dev eth0"; done
done | ip -n "$(pod_ns 1)" -b -
ip -n "$NODE" route add 10.244.4.0/22 dev vpod1
jq -n '[range(4; 8) as $b | range(1; 251) as $h | "10.244.\($b).\($h)"] as $eps | {items: [
	{kind: "Service", apiVersion: "v1", metadata: {name: "wide", namespace: "demo"},
	 spec: {type: "ClusterIP", clusterIP: "10.96.0.60", clusterIPs: ["10.96.0.60"],
	        ports: [{name: "http", port: 80, protocol: "TCP", targetPort: 8080}]}},
	{kind: "EndpointSlice", apiVersion: "discovery.k8s.io/v1",
	 metadata: {name: "wide-v4", namespace: "demo", labels: {"kubernetes.io/service-name": "wide"}},
	 addressType: "IPv4", ports: [{name: "http", port: 8080, protocol: "TCP"}],
	 endpoints: [$eps[] | {addresses: [.], conditions: {ready: true}}]}]}' |
	inject "an EndpointSlice with 1,000 endpoints" api_bulk
wait_api 60
assert_eq "endpoints of demo/wide in the dump" 1000 \
	"$(dump_lines | awk '$1 == "demo/wide" { print split($NF, a, ",") }')"
probe_run "$CLIENT" --proto tcp --count 100 --timeout-ms 1000 10.96.0.60 80
assert_probe_ok
api_curl "$SERVICES/wide" -f -X DELETE >/dev/null
api_curl "$SLICES/wide-v4" -f -X DELETE >/dev/null
section_end

# ---------------------------------------------------------------------------
section_begin 7 "duplicate and out-of-order resourceVersions"
old_svc=$(api_curl "$SERVICES/web" -f)
old_slice=$(api_curl "$SLICES/web-v4" -f)
WEB_PORTS="http:80:TCP:8080 alt:81:TCP:9000 extra:82:TCP:5353"
if [[ $WEB_EPS == "1 2" ]]; then WEB_EPS="2 3"; else WEB_EPS="1 2"; fi
web_apply
wait_api 20
new_svc=$(api_curl "$SERVICES/web" -f)
new_slice=$(api_curl "$SLICES/web-v4" -f)
log "demo/web: resourceVersion $(jq -r .metadata.resourceVersion <<<"$old_svc") -> $(jq -r .metadata.resourceVersion <<<"$new_svc"), web-v4 $(jq -r .metadata.resourceVersion <<<"$old_slice") -> $(jq -r .metadata.resourceVersion <<<"$new_slice")"
table0=$(nft_table)
{
	jq -c '{type: "MODIFIED", object: .}' <<<"$new_svc"
	jq -c '{type: "MODIFIED", object: .}' <<<"$new_svc"
	jq -c '{type: "ADDED", object: .}' <<<"$new_svc"
} | inject "the last services event twice more (and as ADDED)" api_raw services keep
{
	jq -c '{type: "MODIFIED", object: .}' <<<"$new_slice"
	jq -c '{type: "MODIFIED", object: .}' <<<"$new_slice"
} | inject "the last endpointslices event twice more" api_raw endpointslices keep
sleep 1
assert_table_same "duplicates: the table did not change" "$table0"
jq -c '{type: "MODIFIED", object: .}' <<<"$old_svc" |
	inject "the older version of demo/web after the newer one" api_raw services keep
jq -c '{type: "MODIFIED", object: .}' <<<"$old_slice" |
	inject "the older version of demo/web-v4 after the newer one" api_raw endpointslices keep
jq -c '{type: "DELETED", object: .}' <<<"$old_svc" |
	inject "a DELETED of demo/web at its older resourceVersion" api_raw services keep
sleep 1.5
check_api "after the out-of-order events: the newer state is served"
assert_table_same "out of order: the table did not change" "$table0"
assert_eq "the events older than the version held are logged as out of order" 3 \
	"$(log_count_since "$MARK" 'watch (services|endpointslices) from https://127.0.0.1:6443: (MODIFIED|DELETED) (Service|EndpointSlice) demo/web(-v4)? at resourceVersion [0-9]+ is older than the version held \([0-9]+\); skipped')"
probe_run "$CLIENT" --proto tcp --count 20 --timeout-ms 1000 10.96.0.10 82
assert_probe_ok
# The watches resume from the newest resourceVersion: a cut replays nothing old.
inject "every watch cut (they resume from their resourceVersion)" api_test cut-watches
section_end

# ---------------------------------------------------------------------------
section_begin 8 "slow responses"
size=$(api_curl "/api/v1/services?limit=500" -f | wc -c)
# One byte at a time; the slowest pace at which the services list takes
# about 8 s (one byte per 50 ms for a list of 160 bytes).
ms=$((8000 / size))
((ms < 2)) && ms=2
((ms > 50)) && ms=50
log "the services list is $size bytes: trickled one byte per $ms ms"
nftproxy_stop
table0=$(nft_table)
mark=$(wc -l <"$NFTPROXY_LOG")
inject "lists trickle one byte per $ms ms" api_test "trickle?bytes=1&ms=$ms&path=limit%3D"
t0=$(date +%s.%N)
nftproxy_start --v 3
sleep 3
assert_eq "no sync while the lists trickle in" 0 "$(log_count_since "$mark" 'first sync of table')"
assert_table_same "the table is as the last run left it" "$table0"
for ((i = 0; i < 600; i++)); do
	(($(log_count_since "$mark" 'first sync of table') > 0)) && break
	nftproxy_check_running
	sleep 0.1
done
log "first sync $(fdiff "$(date +%s.%N)" "$t0") s after the start"
assert_eq "the first sync after the trickled lists sent nothing" 1 \
	"$(log_count_since "$mark" 'synced table nftproxy \(full\): [0-9]+ services, nothing to send')"
inject "lists at full speed again" api_test "trickle?bytes=0"
check_api "after the trickled lists"
sleep 1.5
mark=$(wc -l <"$NFTPROXY_LOG")
inject "watch streams trickle two bytes per 5 ms" api_test "trickle?bytes=2&ms=5&path=watch%3D1"
later_change
assert_eq "no watch broke and nothing was listed again while events trickled" 0 \
	"$(log_count_since "$mark" 'broke after|stopped|listed [0-9]+ (services|endpointslices)')"
inject "watch streams at full speed again" api_test "trickle?bytes=0"
assert_lt "bytes trickled by the server (more than 0)" 0 "$(api_stat '.faults.injected.trickled')"
section_end

# ---------------------------------------------------------------------------
section_begin 9 "TLS handshake failures"
# tls_fault MODE PATTERN: the server's handshakes fail in MODE for 6 s
# (it switches back by itself, so the test needs no handshake of its own):
# errors naming the server and TLS, retried with backoff, rules untouched.
tls_fault() {
	local mode=$1 pat=$2 mark n delays res counts=""
	sleep 1.5
	mark=$(wc -l <"$NFTPROXY_LOG")
	table0=$(nft_table)
	inject "TLS handshakes: $mode for 6 s" api_test "tls-fail?mode=$mode&seconds=6"
	sleep 6.5
	nftproxy_alive || fail "nftproxy died ($mode)"
	# Per resource: the injection cuts every watch, and one that had no
	# event since its last failure (the node's, usually) may still be
	# backing off (8 s and more) when the window closes, so only services
	# and endpointslices, which carried events just before, must have
	# retried in it.
	for res in services endpointslices nodes; do
		n=$(log_count_since "$mark" "(list|watch) $res from https://127.0.0.1:6443 (failed|broke after [0-9]+ ms and [0-9]+ events): .*($pat).* \(in the TLS handshake\); the rules stay as they are, .* again in")
		counts+="$res $n, "
		[[ $res == nodes ]] && continue
		assert_eq "TLS $mode: $res: errors naming the server and TLS, retried (at least 2)" 1 \
			"$(awk -v n="$n" 'BEGIN { print (n >= 2) }')"
	done
	log "TLS $mode: failed requests logged: ${counts%, }"
	log_since "$mark" | grep -m 3 -F '(in the TLS handshake)' | sed 's/^/    /' || true
	delays=$(log_since "$mark" | grep -E 'watch services from .*\(in the TLS handshake\)' |
		sed -n 's/.* again in \([0-9.]*\)s$/\1/p' | tr '\n' ' ')
	log "TLS $mode: the services watch retried after: $delays(s)"
	assert_eq "TLS $mode: the retries back off" 1 \
		"$(awk -v d="$delays" 'BEGIN { n = split(d, a, " "); print (n >= 2 && a[n] > a[1]) }')"
	assert_table_same "TLS $mode: the rules were not touched" "$table0"
	# The server is right again: the watches come back.
	later_change
}
tls_fault wrong-ca 'SSL certificate problem'
tls_fault wrong-name 'no alternative certificate subject name matches'
tls_fault reset 'SSL_connect|SSL_ERROR_SYSCALL|reset by peer|handshake'
assert_eq "handshakes the server broke off (reset mode)" 1 \
	"$(api_stat '.faults.injected["tls-reset"]' | awk '{ print ($1 >= 3) }')"
section_end

# ---------------------------------------------------------------------------
section "summary"
log "faults injected: $FAULTS"
for s in "${SUMMARY[@]}"; do log "$s"; done
log "10 MB object: $RSS_REPORT"
log "nftproxy VmRSS at the start $RSS0 kB, at the end $(rss_kb) kB"
assert_eq "a first sync, and one more after the restart in section 8" 2 "$(nftproxy_log_count 'first sync of table')"
nftproxy_alive || check_failed "nftproxy died during the test"
finish
