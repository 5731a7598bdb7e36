#!/usr/bin/env bash
# nftproxy and nftproxyctl under valgrind through a short life: start, serve,
# follow an endpoint change, a broken manifest, SIGTERM; then dump and
# cleanup. No invalid access, no uninitialised use, no leak (the only
# suppression is libmnl's attribute padding, tests/valgrind.supp).
source "$(dirname "$0")/lib.sh"
nftp_require
valgrind_require

topo_create 2
pod_serve_all
P="http:80:TCP:8080 dns:53:UDP:5353"
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2" | manifest_put web.yaml
mapfile -t want < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2")

NFTPROXY_LOG="$TMP/nftproxy.log"
bg_start "$NODE" "$NFTPROXY_LOG" "${VG[@]}" --log-file="$TMP/vg-daemon.log" "$NFTPROXY" \
	--manifests "$MANIFESTS" --v 4 --min-sync-period 100ms
NFTPROXY_PID=$BG_PID
wait_dump --timeout 30 "${want[@]}"
probe_run "$CLIENT" --proto tcp --count 5 10.96.0.10 80
assert_probe_ok

svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "2" | manifest_put web.yaml
mapfile -t want < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "2")
wait_dump --timeout 30 "${want[@]}"
printf 'kind: Service\nmetadata: {name: [\n' | manifest_put broken.yaml
sleep 2
nftproxy_alive || fail "nftproxy died under valgrind: $(tail -n 30 "$TMP/vg-daemon.log")"

valgrind_stop_daemon "nftproxy" "$TMP/vg-daemon.log"

for args in "dump" "dump --json" "cleanup"; do
	rc=0
	# shellcheck disable=SC2086
	ip netns exec "$NODE" "${VG[@]}" --log-file="$TMP/vg-ctl.log" "$NFTPROXYCTL" $args \
		>/dev/null 2>&1 || rc=$?
	if ((rc == 0)); then
		pass "nftproxyctl $args under valgrind: no errors, no leaks"
	else
		check_failed "nftproxyctl $args under valgrind exited $rc:
$(tail -n 30 "$TMP/vg-ctl.log")"
	fi
done
finish
