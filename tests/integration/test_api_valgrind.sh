#!/usr/bin/env bash
# nftproxy --kubeconfig under valgrind through the API source's life: list,
# watch events from kubectl, watches cut mid-stream, malformed events, a
# forced 410 and relist, the API server restarted, SIGTERM. No invalid
# access, no uninitialised use, no leak (suppressions: tests/valgrind.supp).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_api.sh"
nftp_require
api_require
valgrind_require

topo_create 2
pod_serve_all
api_start
P="http:80:TCP:8080"
svc_manifest demo web 10.96.0.10 "" "$P" "1" | kube apply -f - >/dev/null
kube_node_yaml "$KUBE_NODE_NAME" zone-a "$NODE_IP4" | kube apply -f - >/dev/null
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "1")

NFTPROXY_LOG="$TMP/nftproxy.log"
bg_start "$NODE" "$NFTPROXY_LOG" "${VG[@]}" --log-file="$TMP/vg-daemon.log" "$NFTPROXY" \
	--kubeconfig "$KUBECONFIG_FILE" --hostname-override "$KUBE_NODE_NAME" --v 4 \
	--min-sync-period 100ms
NFTPROXY_PID=$BG_PID
wait_dump --timeout 60 "${want[@]}"

svc_manifest demo web 10.96.0.10 "" "$P" "1 2" | kube apply -f - >/dev/null
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "1 2")
wait_dump --timeout 30 "${want[@]}"
api_test cut-watches >/dev/null
sleep 2
api_test "malformed?resource=services&mode=object" >/dev/null
api_test "malformed?resource=endpointslices&mode=syntax" >/dev/null
sleep 2
api_test expire >/dev/null
sleep 2
api_restart
kube delete -n demo service web >/dev/null
wait_dump --timeout 40
nftproxy_alive || fail "nftproxy died under valgrind: $(tail -n 30 "$TMP/vg-daemon.log")"

valgrind_stop_daemon "nftproxy --kubeconfig" "$TMP/vg-daemon.log"
finish
