#!/usr/bin/env bash
# kube-proxy's health and metrics endpoints, scraped with curl:
#  - /healthz and /livez on --healthz-bind-address (all addresses, port
#    10256): 200 with kube-proxy's JSON; 503 once a queued change has waited
#    longer than twice --sync-period (the kernel refuses every batch), 200
#    again when it goes in; /healthz (not /livez) 503 while the Node is
#    being deleted;
#  - /metrics on --metrics-bind-address (loopback by default): kube-proxy's
#    metric names, sync histograms that count syncs, change counters, the
#    network programming latency from the EndpointSlice trigger time, the
#    sync failure counter; nftproxy_* gauges; /configz; not reachable from
#    another host.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require
command -v curl >/dev/null || skip "needs curl"

topo_create 2
pod_serve_all
node_manifest node-1 zone-a | manifest_put node.yaml
P="http:80:TCP:8080"
PA="http:80:TCP:8080"
for ((k = 1; k < 32; k++)); do PA+=" p$k:$((8000 + k)):TCP:8080"; done
svc_manifest demo a 10.96.0.10 "" "$PA" "1 2" | manifest_put a.yaml
nftproxy_start --hostname-override node-1 --sync-period 2s
wait_dump_svc demo/a

# get NS URL: HTTP_CODE and HTTP_BODY (lib_cluster.sh's http_get).
metric() { # NAME: the value of an unlabelled series in the last /metrics body
	awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print "missing" }' <<<"$METRICS"
}
scrape() {
	http_get "$NODE" "http://127.0.0.1:10249/metrics"
	[[ $HTTP_CODE == 200 ]] || check_failed "GET /metrics: HTTP $HTTP_CODE"
	METRICS=$HTTP_BODY
}

section "/healthz and /livez: healthy"
for path in healthz livez; do
	http_get "$CLIENT" "http://$NODE_IP4:10256/$path"
	assert_eq "/$path from the client" 200 "$HTTP_CODE"
	assert_eq "/$path body has lastUpdated and currentTime" true \
		"$(jq 'has("lastUpdated") and has("currentTime")' <<<"$HTTP_BODY" 2>/dev/null || echo "not JSON: $HTTP_BODY")"
done
http_get "$CLIENT" "http://$NODE_IP4:10256/healthz"
assert_eq "/healthz nodeEligible" true "$(jq .nodeEligible <<<"$HTTP_BODY")"
http_get "$CLIENT" "http://$NODE_IP4:10256/other"
assert_eq "another path" 404 "$HTTP_CODE"

section "/metrics: kube-proxy's names"
scrape
for name in kubeproxy_sync_proxy_rules_duration_seconds_count kubeproxy_sync_full_proxy_rules_duration_seconds_count \
	kubeproxy_sync_proxy_rules_last_timestamp_seconds kubeproxy_sync_proxy_rules_service_changes_total \
	kubeproxy_sync_proxy_rules_endpoint_changes_total kubeproxy_sync_proxy_rules_nftables_sync_failures_total \
	kubeproxy_network_programming_duration_seconds_count nftproxy_table_chains nftproxy_services \
	process_resident_memory_bytes; do
	v=$(metric "$name")
	[[ $v != missing ]] && pass "$name = $v" || check_failed "/metrics lacks $name"
done
assert_eq "one service in the model" 1 "$(metric nftproxy_services)"
grep -q '^# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram$' <<<"$METRICS" &&
	pass "duration is a histogram" || check_failed "no TYPE line for the duration histogram"
syncs0=$(metric kubeproxy_sync_proxy_rules_duration_seconds_count)
eps0=$(metric kubeproxy_sync_proxy_rules_endpoint_changes_total)
np0=$(metric kubeproxy_network_programming_duration_seconds_count)

section "an EndpointSlice change with a trigger time"
ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
svc_manifest demo a 10.96.0.10 "" "$PA" "1" |
	sed "/^  name: a-v4$/a\\  annotations:\\n    endpoints.kubernetes.io/last-change-trigger-time: \"$ts\"" |
	manifest_put a.yaml
mapfile -t want < <(svc_expect demo a 10.96.0.10 "" "$PA" "1")
wait_dump "${want[@]}"
sleep 0.3
scrape
assert_eq "endpoint changes counted" 1 "$(awk -v a="$(metric kubeproxy_sync_proxy_rules_endpoint_changes_total)" -v b="$eps0" 'BEGIN { print (a > b) }')"
assert_eq "syncs counted" 1 "$(awk -v a="$(metric kubeproxy_sync_proxy_rules_duration_seconds_count)" -v b="$syncs0" 'BEGIN { print (a > b) }')"
assert_eq "network programming latency observed once" 1 \
	"$(awk -v a="$(metric kubeproxy_network_programming_duration_seconds_count)" -v b="$np0" 'BEGIN { print a - b }')"
http_get "$NODE" "http://127.0.0.1:10249/configz"
assert_eq "/configz" 200 "$HTTP_CODE"

section "metrics are on loopback only"
http_get "$CLIENT" "http://$NODE_IP4:10249/metrics"
assert_eq "/metrics from another host" 000 "$HTTP_CODE"

section "the kernel refuses every batch: unhealthy after twice the sync period"
fail0=$(metric kubeproxy_sync_proxy_rules_nftables_sync_failures_total)
ip netns exec "$NODE" nft add map inet nftproxy lb-0001 '{ type ipv6_addr : verdict; }'
svc_manifest demo b 10.96.0.21 "" "$P" "1" | manifest_put b.yaml
for ((k = 0; k < 80; k++)); do
	http_get "$CLIENT" "http://$NODE_IP4:10256/livez"
	[[ $HTTP_CODE == 503 ]] && break
	sleep 0.1
done
assert_eq "/livez while changes wait" 503 "$HTTP_CODE"
http_get "$CLIENT" "http://$NODE_IP4:10256/healthz"
assert_eq "/healthz while changes wait" 503 "$HTTP_CODE"
scrape
assert_eq "sync failures counted" 1 "$(awk -v a="$(metric kubeproxy_sync_proxy_rules_nftables_sync_failures_total)" -v b="$fail0" 'BEGIN { print (a > b) }')"
ip netns exec "$NODE" nft delete map inet nftproxy lb-0001
for ((k = 0; k < 400; k++)); do
	http_get "$CLIENT" "http://$NODE_IP4:10256/livez"
	[[ $HTTP_CODE == 200 ]] && break
	sleep 0.1
done
assert_eq "/livez once the batch went in" 200 "$HTTP_CODE"

section "the Node is being deleted: /healthz 503, /livez 200"
node_manifest node-1 zone-a | sed '/^  name: node-1$/a\  deletionTimestamp: "2026-01-01T00:00:00Z"' | manifest_put node.yaml
for ((k = 0; k < 50; k++)); do
	http_get "$CLIENT" "http://$NODE_IP4:10256/healthz"
	[[ $HTTP_CODE == 503 ]] && break
	sleep 0.1
done
assert_eq "/healthz while the node is deleted" 503 "$HTTP_CODE"
assert_eq "nodeEligible" false "$(jq .nodeEligible <<<"$HTTP_BODY")"
http_get "$CLIENT" "http://$NODE_IP4:10256/livez"
assert_eq "/livez meanwhile" 200 "$HTTP_CODE"

section "a port already taken: logged and served without it, or --bind-address-hard-fail"
# A second daemon (its own table) in the same namespace finds 10256 taken.
rc=0
ip netns exec "$NODE" timeout "$(nftp_scaled 5)" "${NFTPROXY_RUN[@]}" --manifests "$MANIFESTS" --cluster-name second \
	--metrics-bind-address "" --bind-address-hard-fail >"$TMP/second.log" 2>&1 || rc=$?
assert_eq "with --bind-address-hard-fail: exit status" 1 "$rc"
grep -q "cannot serve /healthz and /livez on 0.0.0.0:10256" "$TMP/second.log" &&
	pass "the error names the address" || check_failed "no error naming 0.0.0.0:10256: $(tail -n 3 "$TMP/second.log")"
assert_eq "and it touched no rule (no table nftproxy-second)" 1 \
	"$(ip netns exec "$NODE" nft list table inet nftproxy-second >/dev/null 2>&1 && echo 0 || echo 1)"
rc=0
ip netns exec "$NODE" timeout 2 "${NFTPROXY_RUN[@]}" --manifests "$MANIFESTS" --cluster-name second \
	--metrics-bind-address "" >"$TMP/second.log" 2>&1 || rc=$?
assert_eq "without it: still running when stopped (timeout's status)" 124 "$rc"
ip netns exec "$NODE" "${NFTPROXY_RUN[@]}" --cleanup --cluster-name second >/dev/null 2>&1 || true
finish
