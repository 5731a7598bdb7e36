#!/usr/bin/env bash
# 12. nftproxyctl dump shows, read back from the kernel, each service port's
# type, node port, external and load balancer addresses, its policies and
# affinity, and marks this node's endpoints; and the same in its table form.
# Then a policy change alone (the rules' chains may stay the same) changes
# what the dump says: the element comments are part of the diff.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require

topo_create 2
topo_add_node2 1
node_manifest node-1 zone-a | manifest_put node.yaml

P="http:80:TCP:8080:30380"
svc_lb() {
	{
		svc_full_yaml ns=demo name=lb type=LoadBalancer ips=10.96.0.80 ports="$P" \
			externalIPs=203.0.113.81 lbIPs=203.0.113.80 lbRanges=198.51.100.0/24 \
			etp="$1" itp="$2" affinity=ClientIP timeout=300
		cluster_slices demo lb "$P" "1 2 n2:1"
	} | manifest_put lb.yaml
}
svc_lb Local Cluster
{
	svc_full_yaml ns=demo name=plain ips=10.96.0.82 ports="http:80:TCP:8080"
	cluster_slices demo plain "http:80:TCP:8080" ""
	svc_full_yaml ns=demo name=onlyremote ips=10.96.0.83 ports="http:80:TCP:8080" itp=Local
	cluster_slices demo onlyremote "http:80:TCP:8080" "n2:1"
} | manifest_put more.yaml
nftproxy_start --hostname-override node-1
wait_dump_svc demo/lb demo/onlyremote

# jq_field SERVICE EXPR: EXPR over the dump's entry of demo/SERVICE (IPv4).
jq_field() {
	ip netns exec "$NODE" "$NFTPROXYCTL" dump --json |
		jq -c --arg n "$1" ".services[] | select(.name == \$n and .family == \"ipv4\") | $2"
}

section "demo/lb: LoadBalancer, node port, external IP, ranges, Local, affinity"
assert_eq "type" '"LoadBalancer"' "$(jq_field lb .type)"
assert_eq "node port" 30380 "$(jq_field lb .node_port)"
assert_eq "external IPs" '["203.0.113.81"]' "$(jq_field lb .external_ips)"
assert_eq "LB IPs" '["203.0.113.80"]' "$(jq_field lb .load_balancer_ips)"
assert_eq "source ranges" true "$(jq_field lb .load_balancer_source_ranges)"
assert_eq "externalTrafficPolicy" '"Local"' "$(jq_field lb .external_traffic_policy)"
assert_eq "internalTrafficPolicy" '"Cluster"' "$(jq_field lb .internal_traffic_policy)"
assert_eq "affinity" '"ClientIP"' "$(jq_field lb .session_affinity)"
assert_eq "affinity timeout" 300 "$(jq_field lb .affinity_timeout_seconds)"
assert_eq "local endpoints" '["10.244.1.1:8080","10.244.1.2:8080"]' \
	"$(jq_field lb '[.endpoints[] | select(.local) | "\(.ip):\(.port)"] | sort')"
assert_eq "remote endpoints" '["10.244.2.1:8080"]' \
	"$(jq_field lb '[.endpoints[] | select(.local | not) | "\(.ip):\(.port)"]')"

section "demo/plain and demo/onlyremote: defaults, reject vs drop"
assert_eq "type" '"ClusterIP"' "$(jq_field plain .type)"
assert_eq "no node port" null "$(jq_field plain .node_port)"
assert_eq "no endpoints: rejects" '"reject"' "$(jq_field plain .no_endpoints)"
assert_eq "affinity" '"None"' "$(jq_field plain .session_affinity)"
assert_eq "internalTrafficPolicy" '"Local"' "$(jq_field onlyremote .internal_traffic_policy)"
assert_eq "none local: drops" '"drop"' "$(jq_field onlyremote .no_endpoints)"

section "table form"
table=$(nftproxyctl dump)
printf '%s\n' "$table"
row=$(grep -E '^demo +lb ' <<<"$table" || true)
for want in LoadBalancer 10.96.0.80:80 node:30380 ext:203.0.113.81 'lb:203\.0\.113\.80\(ranges\)' \
	external=Local affinity=300s '10.244.1.1:8080\*' ; do
	if grep -qE -- "$want" <<<"$row"; then pass "table row has $want"; else check_failed "table row lacks $want: $row"; fi
done
grep -qE '^demo +onlyremote .*\(none here: drops\)' <<<"$table" && pass "onlyremote: (none here: drops)" ||
	check_failed "onlyremote row: $(grep onlyremote <<<"$table")"

section "a policy change shows in the dump"
svc_lb Cluster Local
for ((k = 0; k < 50; k++)); do
	[[ $(jq_field lb .external_traffic_policy) == '"Cluster"' ]] && break
	sleep 0.1
done
assert_eq "externalTrafficPolicy now" '"Cluster"' "$(jq_field lb .external_traffic_policy)"
assert_eq "internalTrafficPolicy now" '"Local"' "$(jq_field lb .internal_traffic_policy)"
assert_eq "endpoints now (local only)" '["10.244.1.1:8080","10.244.1.2:8080"]' \
	"$(jq_field lb '[.endpoints[] | "\(.ip):\(.port)"] | sort')"
finish
