#!/usr/bin/env bash
# The test API server (tests/apiserver/apiserver.js) speaks the real API: the
# real kubectl discovers it, applies, patches (strategic, merge, JSON), labels,
# pages, watches and deletes; curl checks watch bookmarks, 410 after
# /_test/expire (watch and continue token), HTTP/2 and HTTP/1.1 chunked
# watches, the fault switches, authentication (token, client certificate,
# wrong CA, wrong token), bulk loading and a restart with --state-file.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_api.sh"
nftp_require no
api_require

ns_add "$NODE"
api_start

# jq over a kubectl JSON answer
kjq() {
	local filter=$1
	shift
	kube "$@" -o json | jq -r "$filter"
}

# assert_match WHAT REGEX TEXT
assert_match() {
	if grep -qE -- "$2" <<<"$3"; then
		pass "$1"
	else
		check_failed "$1: no match for /$2/ in:
$(head -c 2000 <<<"$3")"
	fi
}

# assert_gt WHAT A B: integer A > B
assert_gt() {
	if [[ $2 =~ ^[0-9]+$ && $3 =~ ^[0-9]+$ ]] && (($2 > $3)); then
		pass "$1: $2 > $3"
	else
		check_failed "$1: expected $2 > $3"
	fi
}

section "discovery"
out=$(kube version 2>&1)
assert_match "kubectl version shows the server" '^Server Version: v1\.32\.0$' "$out"
out=$(kube api-resources 2>&1)
for r in services endpointslices nodes namespaces; do
	assert_match "api-resources lists $r" "^${r}[[:space:]]" "$out"
done
assert_match "endpointslices are discovery.k8s.io/v1" '^endpointslices[[:space:]].*discovery\.k8s\.io/v1[[:space:]]+true[[:space:]]+EndpointSlice' "$out"

section "kubectl apply: a Service and two EndpointSlices"
P1="http:80:TCP:8080 dns:53:UDP:5353"
{
	kube_svc_yaml demo web 10.96.0.10 "$P1"
	echo "---"
	kube_slice_yaml demo web web-a IPv4 "http:8080:TCP dns:5353:UDP" "10.244.1.1 10.244.1.2/notready"
	echo "---"
	kube_slice_yaml demo web web-b IPv4 "http:8080:TCP dns:5353:UDP" "10.244.1.3"
} >"$TMP/web1.yaml"
out=$(kube apply -f - <"$TMP/web1.yaml" 2>&1) || check_failed "kubectl apply failed: $out"
assert_match "apply created the Service" '^service/web created$' "$out"
assert_match "apply created the slices" '^endpointslice.discovery.k8s.io/web-b created$' "$out"
svc=$(kube get svc -n demo web -o json)
assert_eq "Service clusterIP" 10.96.0.10 "$(jq -r .spec.clusterIP <<<"$svc")"
assert_eq "Service ports" "http:80/TCP->8080 dns:53/UDP->5353" \
	"$(jq -r '[.spec.ports[] | "\(.name):\(.port)/\(.protocol)->\(.targetPort)"] | join(" ")' <<<"$svc")"
assert_eq "Service has the last-applied annotation" true \
	"$(jq '.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"] != null' <<<"$svc")"
assert_eq "Service metadata filled" "true true 1" \
	"$(jq -r '"\(.metadata.uid | length > 30) \(.metadata.creationTimestamp | test("^[0-9-]+T[0-9:]+Z$")) \(.metadata.generation)"' <<<"$svc")"
assert_eq "slices by service-name label" "web-a web-b" \
	"$(kjq '[.items[].metadata.name] | join(" ")' get endpointslices -n demo -l kubernetes.io/service-name=web)"
assert_eq "slice endpoints" "10.244.1.1:true 10.244.1.2:false" \
	"$(kjq '[.endpoints[] | "\(.addresses[0]):\(.conditions.ready)"] | join(" ")' get endpointslice -n demo web-a)"

section "apply again: one port added, one removed (strategic merge of spec.ports)"
P2="http:80:TCP:8080 metrics:9090:TCP:9091"
kube_svc_yaml demo web 10.96.0.10 "$P2" >"$TMP/web2.yaml"
out=$(kube apply -f - <"$TMP/web2.yaml" 2>&1) || check_failed "second apply failed: $out"
assert_match "second apply configured the Service" '^service/web configured$' "$out"
svc=$(kube get svc -n demo web -o json)
assert_eq "ports after the second apply" "http:80/TCP->8080 metrics:9090/TCP->9091" \
	"$(jq -r '[.spec.ports[] | "\(.name):\(.port)/\(.protocol)->\(.targetPort)"] | join(" ")' <<<"$svc")"
assert_eq "generation after a spec change" 2 "$(jq -r .metadata.generation <<<"$svc")"
out=$(kube apply -f - <"$TMP/web2.yaml" 2>&1)
assert_match "the same apply is unchanged" '^service/web unchanged$' "$out"
# an EndpointSlice's endpoints are atomic: the new list replaces the old one
kube_slice_yaml demo web web-a IPv4 "http:8080:TCP" "10.244.1.4" | kube apply -f - >/dev/null
assert_eq "slice endpoints replaced by apply" "10.244.1.4:true" \
	"$(kjq '[.endpoints[] | "\(.addresses[0]):\(.conditions.ready)"] | join(" ")' get endpointslice -n demo web-a)"
assert_eq "slice ports replaced by apply" "http:8080" \
	"$(kjq '[.ports[] | "\(.name):\(.port)"] | join(" ")' get endpointslice -n demo web-a)"

section "kubectl patch (strategic, merge, json) and label"
kube patch svc -n demo web -p '{"spec":{"ports":[{"port":443,"name":"https","targetPort":8443},{"$patch":"delete","port":9090}]}}' >/dev/null
assert_eq "strategic patch merges ports by port" "http:80 https:443" \
	"$(kjq '[.spec.ports[] | "\(.name):\(.port)"] | join(" ")' get svc -n demo web)"
kube patch svc -n demo web --type merge -p '{"metadata":{"labels":{"tier":"front"}},"spec":{"sessionAffinity":"ClientIP"}}' >/dev/null
kube patch svc -n demo web --type json -p '[{"op":"add","path":"/metadata/annotations/note","value":"json-patched"},{"op":"replace","path":"/spec/ports/0/targetPort","value":8081}]' >/dev/null
kube label svc -n demo web color=blue >/dev/null
svc=$(kube get svc -n demo web -o json)
assert_eq "merge patch" "front ClientIP" "$(jq -r '"\(.metadata.labels.tier) \(.spec.sessionAffinity)"' <<<"$svc")"
assert_eq "json patch" "json-patched 8081" "$(jq -r '"\(.metadata.annotations.note) \(.spec.ports[0].targetPort)"' <<<"$svc")"
assert_eq "label" blue "$(jq -r .metadata.labels.color <<<"$svc")"
out=$(kube patch svc -n demo web --type merge -p '{"spec":{"clusterIP":"10.96.0.99"}}' 2>&1) && check_failed "clusterIP change accepted: $out"
assert_match "clusterIP is immutable (422 Invalid)" 'is invalid.*may not change once set' "$out"
out=$(kube patch svc -n demo web --type json -p '[{"op":"test","path":"/metadata/labels/color","value":"red"}]' 2>&1) &&
	check_failed "failed json patch test op accepted"

section "label selectors"
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: applied\n  labels:\n    team: a\n' | kube apply -f - >/dev/null
assert_eq "kubectl apply of a Namespace" "Active a" "$(kjq '"\(.status.phase) \(.metadata.labels.team)"' get namespace applied)"
kube_svc_yaml demo hl None "dns:53:UDP:53" | kube apply -f - >/dev/null
kube label svc -n demo hl service.kubernetes.io/headless= >/dev/null
kube_svc_yaml other api 10.96.0.20 "http:80:TCP:80" | kube apply -f - >/dev/null
kube label svc -n other api service.kubernetes.io/service-proxy-name=foreign >/dev/null
assert_eq "headless keeps clusterIP None" "None None" "$(kjq '"\(.spec.clusterIP) \(.spec.clusterIPs[0])"' get svc -n demo hl)"
assert_eq "-A -l !headless" "api web" \
	"$(kjq '[.items[].metadata.name] | sort | join(" ")' get svc -A -l '!service.kubernetes.io/headless')"
assert_eq "nftproxy's selector" "web" \
	"$(kjq '[.items[].metadata.name] | sort | join(" ")' get svc -A -l '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless')"
assert_eq "in ()" "web" "$(kjq '[.items[].metadata.name] | sort | join(" ")' get svc -A -l 'color in (blue),tier=front' --ignore-not-found)"
kube label svc -n other api color=green tier=front >/dev/null
assert_eq "in (a,b), !=, notin" "api web|web|api hl" \
	"$(kjq '[.items[].metadata.name] | sort | join(" ")' get svc -A -l 'color in (blue,green),tier==front')|$(kjq '[.items[].metadata.name] | sort | join(" ")' get svc -A -l 'color!=green,tier')|$(kjq '[.items[].metadata.name] | sort | join(" ")' get svc -A -l 'color notin (blue)')"
assert_eq "field selector metadata.name" "api" \
	"$(kjq '[.items[].metadata.name] | join(" ")' get svc -A --field-selector metadata.name=api)"
assert_eq "field selector metadata.namespace!=" "api" \
	"$(kjq '[.items[].metadata.name] | join(" ")' get svc -A --field-selector metadata.namespace!=demo)"

section "pagination (--chunk-size=1)"
kube_slice_yaml demo hl hl-a IPv4 "dns:53:UDP" "10.244.1.5" | kube apply -f - >/dev/null
api_test reset-stats >/dev/null
assert_eq "all slices, one per page" "hl-a web-a web-b" \
	"$(kube get endpointslices -A --chunk-size=1 -o name | sed 's|.*/||' | sort | paste -sd' ')"
stats=$(api_stats)
assert_eq "the pages: 3 limited lists (2 with continue)" "3 2" \
	"$(jq -r '"\(.limited.endpointslices) \(.continues.endpointslices)"' <<<"$stats")"
page=$(api_curl "/apis/discovery.k8s.io/v1/endpointslices?limit=2")
assert_eq "first page: 2 items, remainingItemCount 1, items without kind" "2 1 null" \
	"$(jq -r '"\(.items | length) \(.metadata.remainingItemCount) \(.items[0].kind)"' <<<"$page")"

section "kubectl get --watch"
kube get svc -n demo web --watch --output-watch-events -o json >"$TMP/kwatch.out" 2>&1 &
kwatch=$!
NFTP_PIDS+=("$kwatch")
sleep 1
kube label svc -n demo web watched=yes >/dev/null
for ((k = 0; k < 50; k++)); do
	grep -q '"watched": "yes"' "$TMP/kwatch.out" && break
	sleep 0.1
done
kill "$kwatch" 2>/dev/null || true
wait "$kwatch" 2>/dev/null || true
events=$(jq -r '.type' "$TMP/kwatch.out" 2>/dev/null | paste -sd' ')
assert_eq "kubectl watch saw ADDED then MODIFIED" "ADDED MODIFIED" "$events"

section "resourceVersion: one counter over every resource"
rvs=()
rvs+=("$(kube create namespace rvtest -o jsonpath='{.metadata.resourceVersion}')")
rvs+=("$(kube_svc_yaml rvtest s1 10.96.0.30 "http:80:TCP:80" | kube create -f - -o jsonpath='{.metadata.resourceVersion}')")
rvs+=("$(kube_slice_yaml rvtest s1 s1-a IPv4 "http:80:TCP" "10.244.1.1" | kube create -f - -o jsonpath='{.metadata.resourceVersion}')")
rvs+=("$(printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\n' | kube create -f - -o jsonpath='{.metadata.resourceVersion}')")
# (kubectl label -o prints its local copy with the old resourceVersion: get it)
kube label svc -n rvtest s1 x=y >/dev/null
rvs+=("$(kube get svc -n rvtest s1 -o jsonpath='{.metadata.resourceVersion}')")
kube label endpointslice -n rvtest s1-a x=y >/dev/null
rvs+=("$(kube get endpointslice -n rvtest s1-a -o jsonpath='{.metadata.resourceVersion}')")
kube label namespace rvtest x=y >/dev/null
rvs+=("$(kube get namespace rvtest -o jsonpath='{.metadata.resourceVersion}')")
ok=1
for ((k = 1; k < ${#rvs[@]}; k++)); do
	[[ ${rvs[k]} =~ ^[0-9]+$ ]] && ((rvs[k] > rvs[k - 1])) || ok=0
done
if ((ok)); then pass "resourceVersions strictly increase: ${rvs[*]}"; else check_failed "resourceVersions: ${rvs[*]}"; fi
listrv=$(api_curl /api/v1/services | jq -r .metadata.resourceVersion)
assert_eq "a list has the store's resourceVersion" "$(api_stat .resourceVersion)" "$listrv"
out=$(api_curl /api/v1/namespaces/rvtest/services -X POST -H 'Content-Type: application/json' -d '{"apiVersion":"v1","kind":"Service","metadata":{"name":"s1"},"spec":{"ports":[{"port":80}]}}')
assert_eq "create twice: 409 AlreadyExists" "409 AlreadyExists" "$(jq -r '"\(.code) \(.reason)"' <<<"$out")"
out=$(api_curl /api/v1/namespaces/rvtest/services/s1 -X PUT -H 'Content-Type: application/json' -d "$(kube get svc -n rvtest s1 -o json | jq '.metadata.resourceVersion = "1"')")
assert_eq "update with a stale resourceVersion: 409 Conflict" "409 Conflict" "$(jq -r '"\(.code) \(.reason)"' <<<"$out")"
printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: auto\n  namespace: rvtest\nspec:\n  ports:\n  - port: 80\n' |
	kube create -f - >/dev/null
assert_match "a ClusterIP is allocated" '^10\.96\.[0-9]+\.[0-9]+ IPv4 SingleStack$' \
	"$(kjq '"\(.spec.clusterIP) \(.spec.ipFamilies[0]) \(.spec.ipFamilyPolicy)"' get svc -n rvtest auto)"
kube patch svc -n rvtest s1 --subresource=status --type merge -p '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.100"}]}}}' >/dev/null
assert_eq "status subresource" 192.0.2.100 "$(kjq '.status.loadBalancer.ingress[0].ip' get svc -n rvtest s1)"

section "kubectl delete"
out=$(kube delete svc -n demo web 2>&1)
assert_match "delete" '^service "web" deleted$' "$out"
out=$(kube get svc -n demo web 2>&1) && check_failed "get after delete succeeded"
assert_match "get after delete: NotFound" '^Error from server \(NotFound\): services "web" not found$' "$out"

section "watch over curl: bookmarks, replay, selector transitions"
rv0=$(api_stat .resourceVersion)
kube label --overwrite svc -n other api color=red >/dev/null
w=$(api_curl "/api/v1/namespaces/other/services?watch=1&allowWatchBookmarks=true&timeoutSeconds=2&resourceVersion=$rv0")
assert_eq "watch from RV replays, then bookmarks" "MODIFIED BOOKMARK" \
	"$(jq -r .type <<<"$w" | uniq | paste -sd' ')"
assert_eq "event objects have kind and apiVersion" "Service v1" "$(head -n1 <<<"$w" | jq -r '"\(.object.kind) \(.object.apiVersion)"')"
w=$(api_curl "/api/v1/services?watch=1&timeoutSeconds=1&labelSelector=color%3Dgreen&resourceVersion=$rv0")
assert_eq "an object that stops matching the selector: DELETED" "DELETED api" "$(jq -r '"\(.type) \(.object.metadata.name)"' <<<"$w")"
w=$(api_curl "/api/v1/services?watch=true&timeoutSeconds=1&fieldSelector=metadata.name%3Dapi")
assert_eq "watch without RV: ADDED for what exists" "ADDED api" "$(jq -r '"\(.type) \(.object.metadata.name)"' <<<"$w")"

section "/_test/expire: 410 for watches and continue tokens"
old_rv=$(api_stat .resourceVersion)
kube label svc -n other api expire=soon >/dev/null
page=$(api_curl "/apis/discovery.k8s.io/v1/endpointslices?limit=1")
token=$(jq -r .metadata.continue <<<"$page")
[[ -n $token && $token != null ]] || check_failed "no continue token: $page"
api_curl "/api/v1/services?watch=1&resourceVersion=$old_rv" -m 10 >"$TMP/expire-watch.out" &
cw=$!
NFTP_PIDS+=("$cw")
sleep 0.5
api_test expire >/dev/null
wait "$cw" 2>/dev/null || true
assert_eq "an open watch gets ERROR 410 Expired and ends" "ERROR 410 Expired" \
	"$(tail -n1 "$TMP/expire-watch.out" | jq -r '"\(.type) \(.object.code) \(.object.reason)"')"
w=$(api_curl "/api/v1/services?watch=1&resourceVersion=$old_rv" -m 5 -w '\nhttp=%{http_code}\n')
assert_eq "a watch from an expired RV: HTTP 200 then one ERROR 410" "ERROR 410 Expired Status Failure" \
	"$(head -n1 <<<"$w" | jq -r '"\(.type) \(.object.code) \(.object.reason) \(.object.kind) \(.object.status)"')"
assert_match "... whose message is the real one" '"message":"too old resource version: [0-9]+ \([0-9]+\)"' "$w"
assert_match "... with HTTP 200" '^http=200$' "$w"
out=$(api_curl "/apis/discovery.k8s.io/v1/endpointslices?limit=1&continue=$token" -w '\nhttp=%{http_code}\n')
assert_match "a continue token after expire: HTTP 410" '^http=410$' "$out"
assert_eq "... reason Expired" "Expired 410" "$(head -n1 <<<"$out" | jq -r '"\(.reason) \(.code)"')"
assert_match "... the real message" 'The provided continue parameter is too old' "$out"
assert_eq "lists still work after expire" 1 "$(api_curl /api/v1/namespaces/demo/services | jq '.items | length')"

page=$(api_curl "/apis/discovery.k8s.io/v1/endpointslices?limit=1")
assert_eq "paging right after expire" 1 \
	"$(api_curl "/apis/discovery.k8s.io/v1/endpointslices?limit=1&continue=$(jq -r .metadata.continue <<<"$page")" | jq '.items | length')"

section "HTTP/2: many watches on one connection"
out=$(ip netns exec "$NODE" node - "$API_URL" "$API_DIR" <<'JS'
const http2 = require('http2'), fs = require('fs');
const [url, dir] = process.argv.slice(2);
const tok = fs.readFileSync(`${dir}/token`, 'utf8').trim();
const s = http2.connect(url, { ca: fs.readFileSync(`${dir}/ca.crt`) });
const auth = { authorization: `Bearer ${tok}` };
const N = 20;
let got = 0, open = 0;
for (let i = 0; i < N; i++) {
	const st = s.request({ ':path': '/api/v1/namespaces/other/services?watch=1', ...auth });
	let buf = '', seen = false;
	st.on('response', () => { if (++open === N) patch(); });
	st.on('data', (d) => {
		buf += d;
		if (!seen && buf.includes('"h2mux":"yes"')) { seen = true; if (++got === N) { console.log(`${got}/${N}`); process.exit(0); } }
	});
}
function patch() {
	const p = s.request({ ':method': 'PATCH', ':path': '/api/v1/namespaces/other/services/api',
		'content-type': 'application/merge-patch+json', ...auth });
	p.end('{"metadata":{"labels":{"h2mux":"yes"}}}');
	p.resume();
}
setTimeout(() => { console.log(`${got}/${N} (timeout)`); process.exit(1); }, 5000);
JS
)
assert_eq "20 concurrent watches on one HTTP/2 connection each get the event" "20/20" "$out"

section "fault switches"
api_curl "/api/v1/services?watch=1" -m 10 >"$TMP/cut.out" 2>"$TMP/cut.err" &
cw=$!
NFTP_PIDS+=("$cw")
sleep 0.5
api_test cut-watches >/dev/null
rc=0
wait "$cw" || rc=$?
assert_match "cut-watches: curl sees the stream broken (rc $rc)" 'HTTP/2 stream .* was not closed cleanly|INTERNAL_ERROR|transfer closed' "$(cat "$TMP/cut.err")"
assert_eq "cut-watches: the last line is half an event" "no" "$(tail -n1 "$TMP/cut.out" | jq -e . >/dev/null 2>&1 && echo yes || echo no)"
api_curl "/api/v1/services?watch=1&timeoutSeconds=3" >"$TMP/mal.out" &
cw=$!
NFTP_PIDS+=("$cw")
sleep 0.5
api_test "malformed?resource=services&mode=object" >/dev/null
api_test "malformed?resource=services&mode=syntax" >/dev/null
wait "$cw" || true
assert_eq "malformed object event" "MODIFIED bad-svc not-a-number" \
	"$(grep bad-svc "$TMP/mal.out" | jq -r '"\(.type) \(.object.metadata.name) \(.object.spec.ports[0].port)"')"
assert_match "malformed syntax event" '^\{"type":"MODIFIED","object":\{"kind":\]\]\]$' "$(cat "$TMP/mal.out")"
api_test "fail?status=429&count=2&path=/api/v1/nodes&retry-after=1" >/dev/null
out=$(api_curl /api/v1/nodes -i)
assert_match "fail: 429 with Retry-After" '^retry-after: 1' "$out"
assert_match "fail: a TooManyRequests Status" '"reason":"TooManyRequests"' "$out"
api_curl /api/v1/nodes >/dev/null
assert_eq "fail: after count requests, normal again" node-1 "$(api_curl /api/v1/nodes | jq -r '.items[0].metadata.name')"
api_test "slow?ms=400" >/dev/null
t0=$(date +%s%N)
api_curl /api/v1/nodes >/dev/null
t1=$(date +%s%N)
api_test "slow?ms=0" >/dev/null
assert_gt "slow: the response took >= 400 ms" $(((t1 - t0) / 1000000)) 399
assert_eq "stats count open watches" "{}" "$(api_stats | jq -c .watches)"

section "authentication"
out=$(ip netns exec "$NODE" curl -sS --cacert "$API_DIR/ca.crt" -w '\nhttp=%{http_code}\n' "$API_URL/api/v1/services")
assert_match "no token: 401" '^http=401$' "$out"
assert_match "no token: Status Unauthorized" '"reason":"Unauthorized"' "$out"
out=$(KUBECONFIG_FILE=$API_DIR/kubeconfig-wrong-token kube get svc -A 2>&1) && check_failed "wrong token accepted"
assert_match "kubectl with a wrong token: Unauthorized" 'Unauthorized|must be logged in' "$out"
out=$(KUBECONFIG_FILE=$API_DIR/kubeconfig-wrong-ca kube get svc -A 2>&1) && check_failed "wrong CA accepted"
assert_match "kubectl with a wrong CA: x509 error" 'x509|certificate signed by unknown authority' "$out"
for kc in kubeconfig-files kubeconfig-certdata kubeconfig-tokenfile; do
	out=$(KUBECONFIG_FILE=$API_DIR/$kc kube get svc -n other -o name 2>&1) || true
	assert_eq "kubectl with $kc" "service/api" "$out"
done
assert_eq "HTTP/2" 2 "$(api_curl /version --http2 -o /dev/null -w '%{http_version}')"
api_curl "/api/v1/services?watch=1&timeoutSeconds=1" --http1.1 -D "$TMP/h1.hdr" -o "$TMP/h1.body"
assert_match "HTTP/1.1 watch is chunked" '^[Tt]ransfer-[Ee]ncoding: chunked' "$(tr -d '\r' <"$TMP/h1.hdr")"
cp "$API_DIR/token" "$TMP/token.orig"
echo "rotated-token-$RANDOM" >"$API_DIR/token.new"
mv "$API_DIR/token.new" "$API_DIR/token"
out=$(ip netns exec "$NODE" curl -sS --cacert "$API_DIR/ca.crt" -H "Authorization: Bearer $(cat "$TMP/token.orig")" -o /dev/null -w '%{http_code}' "$API_URL/version")
assert_eq "after rotating the token file, the old token: 401" 401 "$out"
assert_eq "... and the new one works" 200 "$(api_curl /version -o /dev/null -w '%{http_code}')"
cp "$TMP/token.orig" "$API_DIR/token"

section "bulk load: 10000 Services and 10000 EndpointSlices"
node -e '
const items = [];
for (let i = 0; i < 10000; i++) {
	const ip = `10.97.${i >> 8}.${i & 255}`;
	items.push({ apiVersion: "v1", kind: "Service", metadata: { name: `s${i}`, namespace: `bulk${i % 10}` },
		spec: { clusterIP: ip, ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }] } });
	items.push({ apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice",
		metadata: { name: `s${i}-a`, namespace: `bulk${i % 10}`, labels: { "kubernetes.io/service-name": `s${i}` } },
		addressType: "IPv4", ports: [{ name: "http", port: 8080, protocol: "TCP" }],
		endpoints: [{ addresses: [`10.244.${i >> 8}.${i & 255}`], conditions: { ready: true } }] });
}
process.stdout.write(JSON.stringify({ items }));' >"$TMP/bulk.json"
t0=$(date +%s%N)
out=$(api_curl /_test/bulk -f -X POST -H 'Content-Type: application/json' --data-binary @"$TMP/bulk.json")
t1=$(date +%s%N)
assert_eq "bulk created" 20000 "$(jq -r .created <<<"$out")"
assert_lt "bulk load seconds" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')" 10
t0=$(date +%s%N)
n=$(kube get svc -A --chunk-size=500 -o name | wc -l)
t1=$(date +%s%N)
assert_eq "kubectl lists them all in pages of 500" 10004 "$n"
assert_lt "... seconds" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')" 15
assert_eq "one namespace, server side" 1000 "$(api_curl '/apis/discovery.k8s.io/v1/namespaces/bulk3/endpointslices' | jq '.items | length')"
api_curl /api/v1/namespaces/bulk3/services -X DELETE >/dev/null # deletecollection

section "restart with --state-file"
all_objects() {
	local p
	for p in /api/v1/services /apis/discovery.k8s.io/v1/endpointslices /api/v1/nodes /api/v1/namespaces; do
		api_curl "$p" | jq -c '.items[] | [.metadata.namespace, .metadata.name, .metadata.uid, .metadata.resourceVersion]'
	done | sort | md5sum
}
before=$(all_objects)
rv_before=$(api_stat .resourceVersion)
api_restart KILL
after=$(all_objects)
if [[ $before == "$after" ]]; then
	pass "objects survive a SIGKILL restart ($(api_stats | jq -c .objects))"
else
	check_failed "objects differ after the restart"
fi
assert_eq "resourceVersion survives" "$rv_before" "$(api_stat .resourceVersion)"
kube label svc -n other api after=restart >/dev/null
rv=$(kube get svc -n other api -o jsonpath='{.metadata.resourceVersion}')
assert_gt "a write after the restart continues the counter" "$rv" "$rv_before"
w=$(api_curl "/api/v1/services?watch=1&resourceVersion=$old_rv" -m 5)
assert_eq "a watch from before the restart: 410" "ERROR 410" "$(head -n1 <<<"$w" | jq -r '"\(.type) \(.object.code)"')"

section "--http1-only"
api_stop
api_start "$NODE" --http1-only
assert_eq "curl --http2 gets HTTP/1.1" 1.1 "$(api_curl /version --http2 -o /dev/null -w '%{http_version}')"
api_curl "/api/v1/namespaces/other/services?watch=1&timeoutSeconds=1" --http2 -D "$TMP/h1.hdr" -o "$TMP/h1.body"
out=$(tr -d '\r' <"$TMP/h1.hdr")
assert_match "HTTP/1.1 watch" '^HTTP/1.1 200' "$out"
assert_match "... chunked" '^[Tt]ransfer-[Ee]ncoding: chunked' "$out"
assert_eq "... with the event" "ADDED Service api" "$(jq -r '"\(.type) \(.object.kind) \(.object.metadata.name)"' "$TMP/h1.body")"
assert_eq "kubectl over HTTP/1.1" "service/api" "$(kube get svc -n other -o name 2>&1)"
api_stop

finish
