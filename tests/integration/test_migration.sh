#!/usr/bin/env bash
# Replacing kube-proxy on a node: kube-proxy (its nftables mode's table,
# here a stand-in that DNATs the service IP to pod-1) is serving when
# nftproxy starts with --cleanup-kube-proxy. Once nftproxy's first sync is
# in, kube-proxy's table goes; a client looping on the service IP
# throughout never fails, and afterwards only nftproxy's rules remain (its
# endpoints: pod-1 and pod-2, no more double DNAT). Another program's table
# is left alone.
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 2
pod_serve_all
svc_manifest demo web 10.96.0.10 "" "http:80:TCP:8080" "1 2" | manifest_put web.yaml

# kube-proxy's nftables mode, reduced to what matters: its own table,
# DNATing the service to pod-1 at dstnat.
ip netns exec "$NODE" nft -f - <<'NFT'
table ip kube-proxy {
	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 10.96.0.10 tcp dport 80 dnat to 10.244.1.1:8080
	}
	chain nat-output {
		type nat hook output priority -100; policy accept;
		ip daddr 10.96.0.10 tcp dport 80 dnat to 10.244.1.1:8080
	}
}
table inet other {
	chain c {
		type filter hook input priority 0; policy accept;
		tcp dport 9 counter
	}
}
NFT
probe_run "$CLIENT" --proto tcp --count 10 10.96.0.10 80
assert_probe_ok
assert_replies_only pod-1

probe_bg "$CLIENT" "$TMP/loop.out" --proto tcp --count 0 --interval-ms 20 --duration-ms 4000 \
	--timeout-ms 1000 --trace 10.96.0.10 80
loop=$BG_PID
sleep 0.5
nftproxy_start --cleanup-kube-proxy
mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "http:80:TCP:8080" "1 2")
wait_dump "${want[@]}"
for ((k = 0; k < 50; k++)); do
	ip netns exec "$NODE" nft list table ip kube-proxy >/dev/null 2>&1 || break
	sleep 0.1
done
wait "$loop" || true
assert_loop_clean "$TMP/loop.out" "client loop across the migration"

section "after: nftproxy's rules only"
if ip netns exec "$NODE" nft list table ip kube-proxy >/dev/null 2>&1; then
	check_failed "kube-proxy's table is still there"
else
	pass "kube-proxy's table was deleted after nftproxy's first sync"
fi
assert_eq "the first sync came before the cleanup" 1 \
	"$(awk '/first sync of table/ { s = NR } /--cleanup-kube-proxy: table ip kube-proxy/ { c = NR } END { print (s && c > s) ? 1 : 0 }' "$NFTPROXY_LOG")"
ip netns exec "$NODE" nft list table inet other >/dev/null 2>&1 && pass "another program's table stays" ||
	check_failed "table inet other is gone"
probe_run "$CLIENT" --proto tcp --count 40 10.96.0.10 80
assert_probe_ok
assert_replies_only pod-1 pod-2
finish
