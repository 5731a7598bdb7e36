#!/usr/bin/env bash
# kube-proxy's command line and KubeProxyConfiguration file, with the real
# binary in the node namespace:
#  - every bad flag or config file: exit status 2 (1 for a file that cannot
#    be read) at once, one line on stderr that names the flag or the file and
#    field, and no table in the namespace (nothing was touched);
#  - a good config file takes effect: nftables.masqueradeBit 5 is the mark in
#    the table, the service answers, /healthz answers on the file's address;
#    with --config the other flags are ignored as kube-proxy ignores them
#    (--iptables-masquerade-bit 7 changes nothing), --v and
#    --hostname-override still apply, /configz shows the result, and what
#    does not apply is logged;
#  - --cleanup removes the table the stopped daemon left;
#  - --write-config-to writes YAML that loads back to the same configuration
#    (written again: the same bytes), from YAML, JSON and from flags, and
#    touches no table.
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 2
pod_serve_all

P="http:80:TCP:8080"
svc_manifest demo web 10.96.0.10 "" "$P" "1 2" | manifest_put web.yaml
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "$P" "1 2")

tables() { ip netns exec "$NODE" nft list tables 2>&1; }

# bad WANT_RC NEEDLE ARGS...: nftproxy with ARGS (and a manifests directory,
# so that only ARGS can make it fail) exits with WANT_RC within 5 s, names
# NEEDLE in one line of stderr, and leaves the namespace without a table.
bad() {
	local want_rc=$1 needle=$2 rc=0 out lines
	shift 2
	out=$(ip netns exec "$NODE" timeout "$(nftp_scaled 5)" "${NFTPROXY_RUN[@]}" --manifests "$MANIFESTS" "$@" 2>&1 >/dev/null) || rc=$?
	lines=$(printf '%s\n' "$out" | grep -c . || true)
	if [[ $rc == "$want_rc" && $out == *"$needle"* && $lines == 1 && -z $(tables) ]]; then
		pass "nftproxy $*: exit $rc, \"$out\""
	else
		check_failed "nftproxy $*: expected exit $want_rc and one line naming '$needle', no table; got exit $rc, $lines line(s): $out; tables: $(tables)"
	fi
}

HEAD="apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration"
# conf NAME BODY: a config file $TMP/NAME with the type header and BODY.
conf() { printf '%s\n%s\n' "$HEAD" "$2" >"$TMP/$1"; }

section "bad flags: refused before anything is touched"
bad 2 "--proxy-mode" --proxy-mode iptables
bad 2 "--proxy-mode" --proxy-mode ipvs
bad 2 "--iptables-masquerade-bit: 99 is out of range" --iptables-masquerade-bit 99
bad 2 "--masquerade-bit" --masquerade-bit x
bad 2 "--sync-period: \"5x\" is not a duration" --sync-period 5x
bad 2 "--min-sync-period" --min-sync-period 1m --sync-period 30s
bad 2 "--healthz-bind-address" --healthz-bind-address localhost:10256
bad 2 "--metrics-bind-address" --metrics-bind-address 127.0.0.1:0
bad 2 "--cluster-cidr" --cluster-cidr 10.244.0.0/33
bad 2 "--nodeport-addresses" --nodeport-addresses primary,10.0.0.0/8
bad 2 "--detect-local-mode" --detect-local-mode BridgeInterface
bad 2 "--feature-gates" --feature-gates Foo=maybe
bad 2 "--bind-address" --bind-address node-1
bad 2 "unknown flag --no-such-flag" --no-such-flag
bad 2 "--conntrack-min" --conntrack-min many
bad 2 "--proxy-mode" --cleanup --proxy-mode iptables

section "bad config files: refused, naming the file and the field"
conf unknown.yaml "nftables:
  masqueradBit: 5"
bad 2 "$TMP/unknown.yaml: unknown field \"nftables.masqueradBit\"" --config "$TMP/unknown.yaml"
conf unknown-top.yaml "masqueradeAll: true"
bad 2 "unknown field \"masqueradeAll\"" --config "$TMP/unknown-top.yaml"
conf type.yaml "nftables:
  masqueradeBit: \"5\""
bad 2 "$TMP/type.yaml: nftables.masqueradeBit: \"5\" is a string, expected an integer" \
	--config "$TMP/type.yaml"
conf duration.yaml "nftables:
  syncPeriod: 30 seconds"
bad 2 "nftables.syncPeriod: \"30 seconds\" is not a duration" --config "$TMP/duration.yaml"
conf cidr.yaml "clusterCIDR: 10.244.0.0/16,10.245.0.0/16"
bad 2 "$TMP/cidr.yaml: clusterCIDR" --config "$TMP/cidr.yaml"
conf address.yaml "metricsBindAddress: 127.0.0.1:99999"
bad 2 "$TMP/address.yaml: metricsBindAddress" --config "$TMP/address.yaml"
conf mode.yaml "mode: iptables"
bad 2 "$TMP/mode.yaml: mode: \"iptables\" is not supported" --config "$TMP/mode.yaml"
printf '{"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",\n "mode": "ipvs"}\n' >"$TMP/mode.json"
bad 2 "$TMP/mode.json: mode: \"ipvs\"" --config "$TMP/mode.json"
printf 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n' >"$TMP/kind.yaml"
bad 2 "$TMP/kind.yaml: kind" --config "$TMP/kind.yaml"
printf '%s\nnftables: [\n' "$HEAD" >"$TMP/syntax.yaml"
bad 2 "$TMP/syntax.yaml: line" --config "$TMP/syntax.yaml"
bad 1 "$TMP/missing.yaml: cannot open" --config "$TMP/missing.yaml"

section "a good config file takes effect"
# kubeadm writes every section; those of other modes are logged as ignored.
conf good.yaml "bindAddress: 0.0.0.0
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 10.244.0.0/16,fd00:10:244::/48
healthzBindAddress: 127.0.0.1:12256
metricsBindAddress: 127.0.0.1:12249
hostnameOverride: from-the-file
mode: nftables
nftables:
  masqueradeBit: 5
  masqueradeAll: false
  minSyncPeriod: 100ms
  syncPeriod: 20s
iptables:
  masqueradeBit: 14
  syncPeriod: 30s
conntrack:
  maxPerCore: 0
  min: null
logging:
  verbosity: 0"
nftproxy_start --config "$TMP/good.yaml" --iptables-masquerade-bit 7 --hostname-override Node-1
wait_dump "${want[@]}"
probe_run "$CLIENT" --proto tcp --count 20 --timeout-ms 1000 10.96.0.10 80
assert_probe_ok
assert_replies_only pod-1 pod-2
table=$(nft_table)
if [[ $table == *"0x00000020"* && $table != *"0x00004000"* && $table != *"0x00000080"* ]]; then
	pass "the table uses mark 0x00000020 (nftables.masqueradeBit 5; --iptables-masquerade-bit 7 ignored)"
else
	check_failed "expected mark 0x00000020 only (masqueradeBit 5) in the table:
$table"
fi
status=$(ip netns exec "$NODE" bash -c 'exec 3<>/dev/tcp/127.0.0.1/12256 &&
	printf "GET /livez HTTP/1.0\r\n\r\n" >&3 && head -n 1 <&3' 2>&1 | tr -d '\r') || true
if [[ $status =~ ^HTTP/1\.[01]\ 200 ]]; then
	pass "GET /livez on healthzBindAddress 127.0.0.1:12256: $status"
else
	check_failed "GET /livez on healthzBindAddress 127.0.0.1:12256: expected 200, got '$status'"
fi
# /configz on the file's metricsBindAddress: the effective configuration.
configz=$(ip netns exec "$NODE" bash -c 'exec 3<>/dev/tcp/127.0.0.1/12249 &&
	printf "GET /configz HTTP/1.0\r\n\r\n" >&3 && cat <&3' 2>/dev/null | sed '1,/^\r*$/d') || true
got=$(jq -r '."kubeproxy.config.k8s.io" | "\(.mode) \(.nftables.masqueradeBit) \(.nftables.minSyncPeriod) \(.hostnameOverride)"' \
	<<<"$configz" 2>/dev/null) || got="not JSON: $configz"
assert_eq "/configz on metricsBindAddress 127.0.0.1:12249" "nftables 5 100ms node-1" "$got"
for want_log in "ignored: --iptables-masquerade-bit: --config $TMP/good.yaml sets the configuration" \
	"ignored: $TMP/good.yaml: iptables (masqueradeBit, syncPeriod): does not apply to nftproxy" \
	"ignored: $TMP/good.yaml: conntrack.maxPerCore: does not apply to nftproxy"; do
	if grep -qF -- "$want_log" "$NFTPROXY_LOG"; then
		pass "logged: $want_log"
	else
		check_failed "not logged: $want_log"
	fi
done
# --v 2 (nftproxy_start's) overrides the file's verbosity 0: V(2) lines appear.
if grep -q "serving /healthz and /livez on 127.0.0.1:12256" "$NFTPROXY_LOG"; then
	pass "--v 2 overrides logging.verbosity 0"
else
	check_failed "no V(2) line: --v did not override the file's verbosity"
fi
nftproxy_stop

section "--cleanup removes the table the daemon left"
[[ -n $(tables) ]] || check_failed "the stopped daemon should have left its table"
rc=0
ip netns exec "$NODE" "${NFTPROXY_RUN[@]}" --cleanup >"$TMP/cleanup.log" 2>&1 || rc=$?
assert_eq "nftproxy --cleanup exit status" 0 "$rc"
assert_eq "tables after --cleanup" "" "$(tables)"
rc=0
ip netns exec "$NODE" "${NFTPROXY_RUN[@]}" --cleanup >>"$TMP/cleanup.log" 2>&1 || rc=$?
assert_eq "nftproxy --cleanup without a table: exit status" 0 "$rc"

section "--write-config-to: the written file loads back to the same configuration"
# rt ARGS...: writes with ARGS, reloads the result and writes again.
rt() {
	local a="$TMP/rt-a.yaml" b="$TMP/rt-b.yaml" rc=0
	rm -f "$a" "$b"
	ip netns exec "$NODE" "${NFTPROXY_RUN[@]}" "$@" --write-config-to "$a" 2>"$TMP/rt.err" || rc=$?
	[[ $rc == 0 ]] || { check_failed "nftproxy $* --write-config-to: exit $rc: $(cat "$TMP/rt.err")"; return; }
	ip netns exec "$NODE" "${NFTPROXY_RUN[@]}" --config "$a" --write-config-to "$b" 2>>"$TMP/rt.err" || rc=$?
	if [[ $rc == 0 ]] && cmp -s "$a" "$b"; then
		pass "nftproxy $*: written, reloaded, written again: identical"
	else
		check_failed "nftproxy $*: round trip differs (exit $rc): $(diff "$a" "$b" 2>&1) $(cat "$TMP/rt.err")"
	fi
}
rt --config "$TMP/good.yaml"
if grep -q '^  masqueradeBit: 5$' "$TMP/rt-a.yaml" && grep -q '^  syncPeriod: "20s"$' "$TMP/rt-a.yaml" &&
	grep -q '^hostnameOverride: "from-the-file"$' "$TMP/rt-a.yaml"; then
	pass "the written file has the file's masqueradeBit, syncPeriod and hostnameOverride"
else
	check_failed "written file lacks the file's values: $(cat "$TMP/rt-a.yaml")"
fi
cp "$TMP/rt-a.yaml" "$TMP/from-yaml.yaml"
# The same configuration as JSON writes the same YAML.
jq -n '{apiVersion: "kubeproxy.config.k8s.io/v1alpha1", kind: "KubeProxyConfiguration",
	bindAddress: "0.0.0.0", clientConnection: {kubeconfig: "/var/lib/kube-proxy/kubeconfig.conf"},
	clusterCIDR: "10.244.0.0/16,fd00:10:244::/48", healthzBindAddress: "127.0.0.1:12256",
	metricsBindAddress: "127.0.0.1:12249", hostnameOverride: "from-the-file", mode: "nftables",
	nftables: {masqueradeBit: 5, minSyncPeriod: "100ms", syncPeriod: "20s"},
	conntrack: {maxPerCore: 0}}' >"$TMP/good.json"
rt --config "$TMP/good.json"
if cmp -s "$TMP/rt-a.yaml" "$TMP/from-yaml.yaml"; then
	pass "the JSON file writes the same YAML as the YAML file"
else
	check_failed "JSON and YAML differ: $(diff "$TMP/from-yaml.yaml" "$TMP/rt-a.yaml")"
fi
rt --cluster-cidr 10.244.0.0/16 --iptables-masquerade-bit 3 --min-sync-period 250ms \
	--nodeport-addresses 192.0.2.0/24 --hostname-override node-1 --feature-gates A=true
assert_eq "tables after --write-config-to" "" "$(tables)"

finish
