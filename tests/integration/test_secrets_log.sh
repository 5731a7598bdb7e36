#!/usr/bin/env bash
# No credential ever reaches the log, even at the highest verbosity (--v 10,
# where nftproxy logs every API request and response like client-go, and
# curl's own connection and TLS trace). nftproxy runs with every kind of
# kubeconfig the test API server writes (token, tokenFile, client
# certificate files and -data, a wrong token, a wrong CA), through a watch
# cut, a 401 that makes it re-read the token, and a relist. Then the log is
# searched for the token, every line of the client key, the client
# certificate and the CA (PEM bodies), and the base64 blobs of the
# kubeconfigs' *-data fields. The test first proves the log is the verbose
# one: request lines (--v 6), masked request headers (--v 7) and curl's TLS
# trace (--v 9) must be there, or the search would prove nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_api.sh"
nftp_require
api_require

topo_create 1
pod_serve_all
api_start
P="http:80:TCP:8080"
svc_manifest demo web 10.96.0.10 "" "$P" "1" | kube apply -f - >/dev/null
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "1")

# run_good KUBECONFIG: nftproxy --v 10 converges, lives through a cut
# watch, a forced 401 and a 410 relist, and stops.
run_good() {
	local kc=$1
	nftproxy_use_api "$kc"
	nftproxy_start --v 10
	wait_dump "${want[@]}"
	api_test "cut-watches" >/dev/null
	api_test "fail?status=401&count=2&path=/api/v1/services" >/dev/null
	api_test "expire" >/dev/null
	sleep 2
	check_dump "$(basename "$kc"): the rules stay through cut, 401 and relist" "${want[@]}"
	nftproxy_stop
}

# run_bad KUBECONFIG: nftproxy --v 10 fails for 3 s and stops.
run_bad() {
	nftproxy_use_api "$1"
	nftproxy_start --v 10
	sleep 3
	nftproxy_alive || fail "$(basename "$1"): nftproxy exited"
	nftproxy_stop
}

section "nftproxy --v 10 with every kind of kubeconfig"
run_good "$API_DIR/kubeconfig"
run_good "$API_DIR/kubeconfig-tokenfile"
run_good "$API_DIR/kubeconfig-files"
run_good "$API_DIR/kubeconfig-certdata"
run_bad "$API_DIR/kubeconfig-wrong-token"
run_bad "$API_DIR/kubeconfig-wrong-ca"
log "log: $(wc -l <"$NFTPROXY_LOG") lines, $(wc -c <"$NFTPROXY_LOG") bytes"

section "the log is the most verbose one"
assert_lt "request lines are logged (--v 6)" 0 \
	"$(nftproxy_log_count 'GET https://127\.0\.0\.1:6443/api/v1/services\?.* 200 in [0-9]+ ms')"
assert_lt "401 answers are logged (--v 6)" 0 \
	"$(nftproxy_log_count 'GET https://127\.0\.0\.1:6443/api/v1/services\?.* 401 in')"
assert_lt "request headers are logged, the token masked (--v 7)" 0 \
	"$(nftproxy_log_count 'request headers: .*Authorization: Bearer <masked>')"
assert_lt "curl's TLS trace is logged (--v 9)" 0 "$(nftproxy_log_count 'curl: .*(SSL|TLS)')"

section "no secret in the log"
# secrets_of FILE: the lines of a PEM file's base64 body (each is unique
# enough: 64 random-looking characters).
secrets_of() { grep -v -- '-----' "$1" | grep -E '.{20,}'; }
declare -a secrets=()
secrets+=("$(cat "$API_DIR/token")")
mapfile -t -O "${#secrets[@]}" secrets < <(secrets_of "$API_DIR/client.key")
mapfile -t -O "${#secrets[@]}" secrets < <(secrets_of "$API_DIR/client.crt")
mapfile -t -O "${#secrets[@]}" secrets < <(secrets_of "$API_DIR/ca.crt")
for f in kubeconfig kubeconfig-certdata; do
	mapfile -t -O "${#secrets[@]}" secrets < <(sed -n 's/^ *[a-z-]*-data: *//p' "$API_DIR/$f" | cut -c1-48)
done
log "searching the log for ${#secrets[@]} secret strings"
((${#secrets[@]} >= 10)) || fail "only ${#secrets[@]} secret strings found to search for"
found=0
for s in "${secrets[@]}"; do
	[[ -n $s ]] || continue
	if grep -qF -- "$s" "$NFTPROXY_LOG"; then
		found=$((found + 1))
		log "found in the log: ${s:0:12}... ($(grep -nF -- "$s" "$NFTPROXY_LOG" | head -n 1 | cut -c1-160))"
	fi
done
assert_eq "secret strings found in the log" 0 "$found"
assert_eq "lines that look like a PEM block" 0 "$(nftproxy_log_count 'BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)')"
assert_eq "bearer tokens not masked" 0 "$(grep -iE 'bearer +[^< ]' "$NFTPROXY_LOG" | grep -vc 'Bearer <masked>' || true)"

finish
