#!/usr/bin/env bash
# g. A malformed manifest (YAML syntax error, truncated JSON) and bad objects
# (unparsable IP, port 70000, a bad EndpointSlice) next to good ones change
# nothing for the good ones: traffic still flows, the dump and the table stay
# the same, the daemon stays up, and the log names each bad file or object.
# A good object in the same file as a bad one is still served, and fixing the
# broken file brings its service in.
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 3
pod_serve_all

P="http:80:TCP:8080 dns:53:UDP:5353"
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3" | manifest_put web.yaml
mapfile -t want < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3")
nftproxy_start
wait_dump "${want[@]}"
sleep 1.2
table_before=$(nft_table)
echo "$table_before" >"$TMP/table.before"

section "add broken files and bad objects"
manifest_put syntax-error.yaml <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: broken
  namespace: demo
spec:
  clusterIP: 10.96.0.50
  ports: [ {port: 80, protocol: TCP
    targetPort: 8080
YAML
manifest_put truncated.json <<'JSON'
{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "trunc", "namespace": "demo"},
 "spec": {"clusterIP": "10.96.0.51", "ports": [{"port": 80
JSON
manifest_put bad-objects.yaml <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: badip
  namespace: demo
spec:
  clusterIP: 10.96.0.999
  clusterIPs: [10.96.0.999]
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: badport
  namespace: demo
spec:
  clusterIP: 10.96.0.52
  clusterIPs: [10.96.0.52]
  ports:
  - name: http
    port: 70000
    protocol: TCP
    targetPort: 8080
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-badslice
  namespace: demo
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
ports:
- name: http
  port: 70000
  protocol: TCP
endpoints:
- addresses: ["10.244.1.300"]
  conditions: {ready: true}
YAML
# Give the daemon time to see the files and to run a sync.
sleep 2.5

nftproxy_alive && pass "nftproxy is still running" || check_failed "nftproxy died on bad input"
check_dump "after the bad files" "${want[@]}"
if [[ "$(nft_table)" == "$table_before" ]]; then
	pass "nft list table unchanged by the bad files"
else
	check_failed "the bad files changed the table:
$(diff "$TMP/table.before" <(nft_table))"
fi
for target in "tcp 10.96.0.10 80" "udp fd00:10:96::10 53"; do
	probe_run "$CLIENT" --proto ${target%% *} --count 30 ${target#* }
	assert_probe_ok
	assert_replies_only pod-1 pod-2 pod-3
done
probe_run "$CLIENT" --proto tcp --count 1 --timeout-ms 300 10.96.0.52 80
assert_eq "nothing answers on the bad service's address 10.96.0.52:80" 0 "$(probe_get ok)"

section "the log names each bad file or object"
# One line of the log must name the file, or the object, with what is wrong.
log_has() {
	local what=$1 re=$2 line
	line=$(grep -E -- "$re" "$NFTPROXY_LOG" | sed -n 1p || true)
	if [[ -n $line ]]; then
		pass "log names $what: $line"
	else
		check_failed "no log line names $what (looked for /$re/)"
	fi
}
log_has "the YAML syntax error" 'syntax-error\.yaml'
log_has "the truncated JSON" 'truncated\.json'
log_has "the unparsable clusterIP" 'badip|bad-objects\.yaml.*10\.96\.0\.999|10\.96\.0\.999.*bad-objects\.yaml'
log_has "the port 70000" 'badport|bad-objects\.yaml.*70000|70000.*bad-objects\.yaml'
log_has "the bad EndpointSlice" 'web-badslice|10\.244\.1\.300'

section "a good service next to a bad one in the same file"
{
	svc_manifest demo good2 10.96.0.60 "" ":8000:TCP:9000" "2"
	echo "---"
	svc_yaml demo badip2 10.96.0.999 "http:80:TCP:8080"
} | manifest_put mixed.yaml
mapfile -t want_mixed < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2 3"
			  svc_expect demo good2 10.96.0.60 "" ":8000:TCP:9000" "2")
wait_dump_has --timeout 5 "${want_mixed[@]}"
probe_run "$CLIENT" --proto tcp --count 10 10.96.0.60 8000
assert_probe_ok
assert_replies_only pod-2

section "fixing the broken file brings its service in"
svc_manifest demo broken 10.96.0.50 "" "http:80:TCP:8080" "1" | manifest_put syntax-error.yaml
wait_dump_has --timeout 5 "$(svc_expect demo broken 10.96.0.50 "" "http:80:TCP:8080" "1")"
probe_run "$CLIENT" --proto tcp --count 10 10.96.0.50 80
assert_probe_ok
assert_replies_only pod-1
check_dump "at the end" "${want_mixed[@]}" "$(svc_expect demo broken 10.96.0.50 "" "http:80:TCP:8080" "1")"

nftproxy_alive || check_failed "nftproxy died during the test"
finish
