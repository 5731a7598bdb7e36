# shellcheck shell=bash
# Helpers for tests that talk to the test API server (tests/apiserver), sourced
# after lib.sh:
#
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/lib_api.sh"
#   api_require                     # exit 77 without node, openssl, kubectl, curl
#   ns_add "$NODE"
#   api_start                       # in $NODE, 127.0.0.1:6443, state in $TMP/api
#   kube_svc_yaml demo web 10.96.0.10 "" "http:80:TCP:8080" | kube apply -f -
#   api_test /_test/cut-watches     # a fault switch
#   api_stats | jq '.requests["list services"]'
#
# Environment: APISERVER_JS (default <repo>/tests/apiserver/apiserver.js),
# NODEJS (default node), KUBECTL (default kubectl).

APISERVER_JS=${APISERVER_JS:-$NFTP_REPO/tests/apiserver/apiserver.js}
NODEJS=${NODEJS:-node}
KUBECTL=${KUBECTL:-kubectl}
API_PID=""
API_NS=""
API_DIR=""
API_PORT=""
API_URL=""
API_LOG=""
KUBECONFIG_FILE=""
declare -a API_ARGS=()

# api_require: skips the test unless node, openssl, kubectl and curl are there.
api_require() {
	command -v "$NODEJS" >/dev/null || skip "needs node ($NODEJS) for the test API server"
	command -v openssl >/dev/null || skip "needs the openssl command (test API server certificates)"
	command -v "$KUBECTL" >/dev/null || skip "needs kubectl ($KUBECTL)"
	command -v curl >/dev/null || skip "needs curl"
	[[ -f $APISERVER_JS ]] || fail "no test API server at $APISERVER_JS"
}

# api_start [NS [FLAGS...]]: starts the test API server in NS (default $NODE)
# on 127.0.0.1:6443 with --dir $TMP/api --state-file $TMP/api/state.json (FLAGS
# come after these, so --listen etc. can override them); log in
# $TMP/apiserver.log (appended across restarts). Waits up to 10 s for
# $API_DIR/ready. Sets API_PID, API_NS, API_DIR, API_PORT, API_URL,
# KUBECONFIG_FILE ($API_DIR/kubeconfig).
api_start() {
	local ns=${1:-$NODE} k
	(($#)) && shift
	API_NS=$ns
	API_ARGS=("$@")
	API_DIR="$TMP/api"
	API_LOG="$TMP/apiserver.log"
	mkdir -p "$API_DIR"
	rm -f "$API_DIR/ready" "$API_DIR/port"
	echo "---- $(date +%T.%3N) apiserver.js in $ns: $*" >>"$API_LOG"
	bg_start "$ns" "$API_LOG" "$NODEJS" "$APISERVER_JS" --dir "$API_DIR" --listen 127.0.0.1:6443 \
		--state-file "$API_DIR/state.json" "$@"
	API_PID=$BG_PID
	# bg_start registers the log on every start: keep it once.
	local -A seen=()
	local -a logs=()
	for k in "${NFTP_LOGS[@]}"; do
		[[ -n ${seen[$k]:-} ]] && continue
		seen[$k]=1
		logs+=("$k")
	done
	NFTP_LOGS=("${logs[@]}")
	for ((k = 0; k < 200; k++)); do
		[[ -s $API_DIR/ready ]] && break
		if ! kill -0 "$API_PID" 2>/dev/null; then
			wait "$API_PID" 2>/dev/null || true
			API_PID=""
			fail "test API server exited at once: $(tail -n 20 "$API_LOG")"
		fi
		sleep 0.05
	done
	[[ -s $API_DIR/ready ]] || fail "test API server not ready in 10 s: $(tail -n 20 "$API_LOG")"
	API_PORT=$(cat "$API_DIR/port")
	API_URL="https://127.0.0.1:$API_PORT"
	KUBECONFIG_FILE="$API_DIR/kubeconfig"
	log "test API server started (pid $API_PID, $API_URL in ${ns#"$PFX"-})"
}

# api_stop [SIGNAL]: default TERM; waits for the server to exit.
api_stop() {
	local sig=${1:-TERM} rc=0 p
	[[ -n $API_PID ]] || return 0
	kill -"$sig" "$API_PID" 2>/dev/null || true
	wait "$API_PID" 2>/dev/null || rc=$?
	log "test API server (pid $API_PID) stopped with SIG$sig, exit status $rc"
	local -a left=()
	for p in "${NFTP_PIDS[@]}"; do [[ $p == "$API_PID" ]] || left+=("$p"); done
	NFTP_PIDS=("${left[@]}")
	API_PID=""
}

# api_restart [SIGNAL]: api_stop SIGNAL, then api_start with the same arguments.
api_restart() {
	api_stop "${1:-TERM}"
	api_start "$API_NS" "${API_ARGS[@]}"
}

api_alive() { [[ -n $API_PID ]] && kill -0 "$API_PID" 2>/dev/null; }

# kube ARGS...: the real kubectl against the test server, in the server's
# namespace, with a discovery cache of this test's own.
kube() {
	ip netns exec "${API_NS:-$NODE}" "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" \
		--cache-dir "$TMP/kubectl-cache" "$@"
}

# api_curl PATH [CURL ARGS...]: curl of $API_URL/PATH in the server's
# namespace with the CA and the bearer token (-sS; add -f, -X, -d as needed).
api_curl() {
	local p=$1
	shift
	ip netns exec "${API_NS:-$NODE}" curl -sS --cacert "$API_DIR/ca.crt" \
		-H "Authorization: Bearer $(cat "$API_DIR/token")" "$@" "$API_URL$p"
}

# api_test PATH [CURL ARGS...]: POSTs a fault switch ("/_test/expire" or just
# "expire", with its query); prints the JSON answer; fails on an HTTP error.
api_test() {
	local p=$1
	shift
	[[ $p == /* ]] || p="/_test/$p"
	api_curl "$p" -f -X POST "$@"
}

# api_stats: the /_test/stats JSON.
api_stats() { api_curl /_test/stats -f; }

# api_stat JQ_PATH: one number from the stats, 0 when absent
# (api_stat '.requests["list services"]').
api_stat() { api_stats | jq -r "($1) // 0"; }

# kube_svc_yaml NS NAME CLUSTERIPS PORTS and kube_slice_yaml NS SERVICE
# SLICENAME FAMILY PORTS ENDPOINTS: YAML for `kube apply -f -`. lib.sh's
# svc_yaml and slice_yaml already write valid Kubernetes objects (same
# arguments), so these are them.
kube_svc_yaml() { svc_yaml "$@"; }
kube_slice_yaml() { slice_yaml "$@"; }

# api_bulk: POSTs stdin ({"items":[...]}, JSON) to /_test/bulk (each object
# created or replaced, with its own resourceVersion and watch event).
api_bulk() { api_test bulk -H 'Content-Type: application/json' --data-binary @-; }

# api_raw RESOURCE [THEN [CURL ARGS...]]: stdin, byte for byte, into every
# open watch of RESOURCE (/_test/raw); THEN is keep (default), end, reset or
# cut. Prints the JSON answer ({"watches":N,...}).
api_raw() {
	local r=$1 then=${2:-keep}
	shift $(($# < 2 ? $# : 2))
	api_test "raw?resource=$r&then=$then" -H 'Content-Type: application/octet-stream' \
		--data-binary @- "$@"
}

# api_expect_lines [CURL ARGS...]: the dump lines (lib.sh's dump_lines
# format) that the Services and EndpointSlices the API server holds now
# should give, for ClusterIP services with ports matched by name and
# protocol and ready endpoints (ready absent = ready). Only what these tests
# use: no NodePorts, topology or traffic policies. Objects with kube-proxy's
# excluded labels are left out, as nftproxy's selector does.
api_expect_lines() {
	local sel='labelSelector=%21service.kubernetes.io%2Fservice-proxy-name%2C%21service.kubernetes.io%2Fheadless'
	api_curl "/api/v1/services?$sel" -f "$@" >"$TMP/expect-svcs.json" || return 1
	api_curl "/apis/discovery.k8s.io/v1/endpointslices?$sel" -f "$@" >"$TMP/expect-slices.json" || return 1
	jq -rn --slurpfile s "$TMP/expect-svcs.json" --slurpfile e "$TMP/expect-slices.json" '
		($e[0].items) as $slices
		| $s[0].items[]
		| select((.spec.clusterIP // "") != "" and .spec.clusterIP != "None")
		| . as $svc
		| (.spec.clusterIPs // [.spec.clusterIP])[] as $ip
		| ($svc.spec.ports // [])[] as $p
		| (if ($ip | contains(":")) then "IPv6" else "IPv4" end) as $fam
		| [ $slices[]
		    | select(.metadata.namespace == $svc.metadata.namespace
		        and (.metadata.labels["kubernetes.io/service-name"] // "") == $svc.metadata.name
		        and .addressType == $fam)
		    | ([(.ports // [])[] | select((.name // "") == ($p.name // "")
		        and (.protocol // "TCP") == ($p.protocol // "TCP")) | .port] | first) as $port
		    | select($port != null)
		    | (.endpoints // [])[] | select((.conditions.ready // true) == true)
		    | "\(.addresses[0] | ascii_downcase):\($port)" ]
		| unique | join(",") as $eps
		| "\($svc.metadata.namespace)/\($svc.metadata.name) \(if ($p.name // "") == "" then "-" else $p.name end) \($p.protocol // "TCP" | ascii_downcase) \($ip | ascii_downcase) \($p.port) -> \($eps)"' |
		LC_ALL=C sort
}
