#!/usr/bin/env bash
# Credentials and trust. A wrong CA or a wrong token: a clear error naming
# the server and what failed, retries with backoff, and not one rule
# removed (the first sync waits for a complete list, which never comes).
# Client certificates (files and -data), a rotated tokenFile, --master over
# a kubeconfig, and the in-cluster service account (KUBERNETES_SERVICE_HOST
# and a token and CA mounted at /var/run/secrets/kubernetes.io/serviceaccount,
# in a private mount namespace) all work. No token ever reaches the log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_api.sh"
nftp_require
api_require
command -v unshare >/dev/null || skip "needs unshare (util-linux)"

topo_create 2
pod_serve_all
api_start
P="http:80:TCP:8080"
svc_manifest demo web 10.96.0.10 "" "$P" "1" | kube apply -f - >/dev/null
mapfile -t want1 < <(svc_expect demo web 10.96.0.10 "" "$P" "1")
mapfile -t want2 < <(svc_expect demo web 10.96.0.10 "" "$P" "1 2")

# run_with KUBECONFIG WANT...: nftproxy with that kubeconfig converges to WANT.
run_with() {
	local kc=$1
	shift
	nftproxy_use_api "$kc"
	nftproxy_start
	# The rules may be the previous section's already: the dump proves
	# this daemon's sync only once it has synced.
	nftproxy_wait_log 'first sync of table' 20 >/dev/null
	wait_dump "$@"
	nftproxy_stop
}

section "the token kubeconfig: rules for one endpoint"
run_with "$API_DIR/kubeconfig" "${want1[@]}"
svc_manifest demo web 10.96.0.10 "" "$P" "1 2" | kube apply -f - >/dev/null

# refused KUBECONFIG PATTERN WHAT: nftproxy keeps failing with PATTERN in its
# log, retries, and leaves the one-endpoint rules alone.
refused() {
	local kc=$1 pat=$2 what=$3 mark n k
	mark=$(wc -l <"$TMP/nftproxy.log" 2>/dev/null || echo 0)
	nftproxy_use_api "$kc"
	nftproxy_start
	sleep 4
	nftproxy_alive || fail "$what: nftproxy exited"
	n=$(tail -n +"$((mark + 1))" "$NFTPROXY_LOG" | grep -cE "$pat" || true)
	# A slowed daemon (NFTP_TIME_SCALE, valgrind) gets the scaled time.
	for ((k = 40; n < 6 && k < $(nftp_scaled 4) * 10; k++)); do
		sleep 0.1
		n=$(tail -n +"$((mark + 1))" "$NFTPROXY_LOG" | grep -cE "$pat" || true)
	done
	log "$what: $n failed requests logged in $((k / 10)) s"
	assert_eq "$what: the error is logged and retried (at least twice per resource)" 1 \
		"$(awk -v n="$n" 'BEGIN { print (n >= 6) }')"
	assert_eq "$what: no first sync" 0 \
		"$(tail -n +"$((mark + 1))" "$NFTPROXY_LOG" | grep -c 'first sync of table' || true)"
	check_dump "$what: the rules are untouched" "${want1[@]}"
	nftproxy_stop
}

section "a wrong CA"
refused "$API_DIR/kubeconfig-wrong-ca" \
	'list [a-z]+ from https://127.0.0.1:6443 failed: SSL certificate problem: .*the rules stay as they are, listing [a-z]+ again in' "wrong CA"
section "a wrong token"
refused "$API_DIR/kubeconfig-wrong-token" \
	'list [a-z]+ from https://127.0.0.1:6443 failed: HTTP 401.*check the credentials.*the rules stay as they are, listing' "wrong token"

section "a tls-server-name the server's certificate does not have"
sed 's#^\(    server: .*\)$#\1\n    tls-server-name: wrong.example#' "$API_DIR/kubeconfig" >"$TMP/kc-sni-bad"
refused "$TMP/kc-sni-bad" \
	"list [a-z]+ from https://127.0.0.1:6443 failed: SSL: no alternative certificate subject name matches target host name 'wrong.example'" \
	"wrong tls-server-name"

section "client certificate files"
run_with "$API_DIR/kubeconfig-files" "${want2[@]}"
section "client certificate and key as -data"
svc_manifest demo web 10.96.0.10 "" "$P" "2" | kube apply -f - >/dev/null
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "2")
run_with "$API_DIR/kubeconfig-certdata" "${want[@]}"
section "tls-server-name: the certificate is checked for that name, not the address"
sed 's#^\(    server: .*\)$#\1\n    tls-server-name: kubernetes.default.svc#' "$API_DIR/kubeconfig" >"$TMP/kc-sni"
run_with "$TMP/kc-sni" "${want[@]}"
section "insecure-skip-tls-verify: served with a server of another CA, and warned about"
grep -v 'certificate-authority' "$API_DIR/kubeconfig-wrong-ca" |
	sed 's#^\(    server: .*\)$#\1\n    insecure-skip-tls-verify: true#' >"$TMP/kc-insecure"
grep -q 'insecure-skip-tls-verify: true' "$TMP/kc-insecure" || fail "could not write the insecure kubeconfig"
run_with "$TMP/kc-insecure" "${want[@]}"
assert_eq "the daemon warns that the server's identity is not checked" 1 \
	"$(nftproxy_log_since | grep -c 'insecure-skip-tls-verify is set: the identity of https://127.0.0.1:6443 is not checked' || true)"
section "--master overrides the kubeconfig's server"
sed 's#server: https://127.0.0.1:6443#server: https://127.0.0.1:1#' "$API_DIR/kubeconfig" >"$TMP/kc-badserver"
nftproxy_use_api "$TMP/kc-badserver"
NFTPROXY_SOURCE+=(--master "https://127.0.0.1:6443")
nftproxy_start
nftproxy_wait_log 'first sync of table' 20 >/dev/null
wait_dump "${want[@]}"
nftproxy_stop

section "tokenFile, rotated while nftproxy runs"
nftproxy_use_api "$API_DIR/kubeconfig-tokenfile"
nftproxy_start
nftproxy_wait_log 'first sync of table' 20 >/dev/null
wait_dump "${want[@]}"
old_token=$(cat "$API_DIR/token")
new_token="rotated-$RANDOM$RANDOM$RANDOM"
# As the kubelet does: a new file swapped in (the server re-reads it too).
printf '%s\n' "$new_token" >"$API_DIR/token.new"
mv -f "$API_DIR/token.new" "$API_DIR/token"
sleep 0.5
if kube get -n demo service web >/dev/null 2>&1; then
	check_failed "the server still takes the old token after the rotation"
fi
# From now on kubectl uses its client certificate.
KUBECONFIG_FILE="$API_DIR/kubeconfig-files"
api_test cut-watches >/dev/null
svc_manifest demo web 10.96.0.10 "" "$P" "1 2" | kube apply -f - >/dev/null
wait_dump --timeout 8 "${want2[@]}"
nftproxy_stop

section "in-cluster: the service account of a pod"
sa="$TMP/sa"
mkdir -p "$sa"
cp "$API_DIR/ca.crt" "$sa/ca.crt"
cp "$API_DIR/token" "$sa/token"
svc_manifest demo web 10.96.0.10 "" "$P" "1" | kube apply -f - >/dev/null
NFTPROXY_LOG="$TMP/nftproxy.log"
echo "---- $(date +%T.%3N) nftproxy in-cluster" >>"$NFTPROXY_LOG"
# A private mount namespace with a tmpfs on /run: the host's /run is untouched.
bg_start "$NODE" "$NFTPROXY_LOG" unshare -m --propagation private sh -c '
	mount -t tmpfs tmpfs /run &&
	mkdir -p /run/secrets/kubernetes.io/serviceaccount &&
	cp "$1"/token "$1"/ca.crt /run/secrets/kubernetes.io/serviceaccount/ &&
	exec env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=6443 "$2" --hostname-override node-1 --v 2' \
	sh "$sa" "$NFTPROXY"
NFTPROXY_PID=$BG_PID
wait_dump "${want1[@]}"
assert_eq "the in-cluster config was used" 1 "$(nftproxy_log_count 'in-cluster config' | awk '{ print ($1 >= 1) }')"
nftproxy_stop

section "no token in the log"
for t in "$old_token" "$new_token"; do
	assert_eq "times a token appears in the log" 0 "$(grep -cF -- "$t" "$NFTPROXY_LOG" || true)"
done

finish
