#!/usr/bin/env bash
# i. --cluster-name foo programs `table inet nftproxy-foo` and nothing else;
# a second daemon for the default cluster keeps its own `table inet nftproxy`
# beside it; the rules stay when the daemon stops; `nftproxyctl cleanup
# --cluster-name foo` removes exactly that table, and plain `cleanup` the other.
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 2
pod_serve_all

tables() { ip netns exec "$NODE" nft list tables | LC_ALL=C sort | tr '\n' ';'; }

P="http:80:TCP:8080"
svc_manifest demo foo 10.96.0.41 fd00:10:96::41 "$P" "1" | manifest_put foo.yaml
mapfile -t want_foo < <(svc_expect demo foo 10.96.0.41 fd00:10:96::41 "$P" "1")
nftproxy_start --cluster-name foo
FOO_PID=$NFTPROXY_PID
wait_dump --cluster-name foo "${want_foo[@]}"
assert_eq "tables after --cluster-name foo" "table inet nftproxy-foo;" "$(tables)"
probe_run "$CLIENT" --proto tcp --count 10 10.96.0.41 80
assert_probe_ok
assert_replies_only pod-1

section "a second daemon for the default cluster"
BAR_DIR="$TMP/manifests-default"
mkdir -p "$BAR_DIR"
svc_manifest demo bar 10.96.0.42 fd00:10:96::42 "$P" "2" >"$BAR_DIR/bar.yaml"
mapfile -t want_bar < <(svc_expect demo bar 10.96.0.42 fd00:10:96::42 "$P" "2")
echo "---- $(date +%T.%3N) nftproxy --manifests $BAR_DIR (default cluster)" >>"$TMP/nftproxy-default.log"
nftproxy_bg "$NODE" "$TMP/nftproxy-default.log" --manifests "$BAR_DIR" --v 2
BAR_PID=$BG_PID
wait_dump "${want_bar[@]}"
assert_eq "both tables" "table inet nftproxy;table inet nftproxy-foo;" "$(tables)"
check_dump "default cluster's dump shows only its own services" "${want_bar[@]}"
for target in "10.96.0.41 pod-1" "fd00:10:96::42 pod-2"; do
	set -- $target
	probe_run "$CLIENT" --proto tcp --count 10 "$1" 80
	assert_probe_ok
	assert_replies_only "$2"
done

section "stop both daemons: the rules stay"
nftproxy_stop TERM
kill -TERM "$BAR_PID" 2>/dev/null || true
wait "$BAR_PID" 2>/dev/null || true
nftp_vg_daemon_ended "$BAR_PID" TERM
assert_eq "tables after both daemons stopped" "table inet nftproxy;table inet nftproxy-foo;" "$(tables)"
probe_run "$CLIENT" --proto tcp --count 5 10.96.0.41 80
assert_probe_ok

section "nftproxyctl cleanup --cluster-name foo"
rc=0
nftproxyctl cleanup --cluster-name foo >"$TMP/cleanup.out" 2>&1 || rc=$?
assert_eq "exit status of cleanup --cluster-name foo" 0 "$rc"
assert_eq "tables after cleanup of foo" "table inet nftproxy;" "$(tables)"
probe_run "$CLIENT" --proto tcp --count 2 --timeout-ms 300 10.96.0.41 80
assert_eq "10.96.0.41 no longer served after cleanup" 0 "$(probe_get ok)"
probe_run "$CLIENT" --proto tcp --count 5 10.96.0.42 80
assert_probe_ok

section "nftproxyctl cleanup (default cluster)"
rc=0
nftproxyctl cleanup >>"$TMP/cleanup.out" 2>&1 || rc=$?
assert_eq "exit status of cleanup" 0 "$rc"
assert_eq "tables after cleanup" "" "$(tables)"
rc=0
nftproxyctl cleanup --cluster-name foo >>"$TMP/cleanup.out" 2>&1 || rc=$?
log "cleanup of an absent table exits $rc: $(tail -n 1 "$TMP/cleanup.out")"

section "an invalid cluster name is refused"
rc=0
ip netns exec "$NODE" timeout "$(nftp_scaled 5)" "${NFTPROXY_RUN[@]}" --manifests "$MANIFESTS" --cluster-name 'bad name/../x' \
	>"$TMP/badname.log" 2>&1 || rc=$?
if ((rc != 0 && rc != 124)); then
	pass "nftproxy --cluster-name 'bad name/../x' exits $rc: $(head -n 1 "$TMP/badname.log")"
else
	check_failed "nftproxy accepted --cluster-name 'bad name/../x' (exit $rc); tables: $(tables)"
fi
assert_eq "no table created by the bad name" "" "$(tables)"

finish
