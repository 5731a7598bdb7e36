#!/usr/bin/env bash
# The harness checks itself, without nftproxy: the topology, podserver, probe,
# routing and IPv6 are exercised through a hand-written ruleset with the shape
# DESIGN.md gives nftproxy's table (verdict map -> service chain -> numgen
# vmap -> endpoint chain -> DNAT, reject for services without endpoints,
# hairpin masquerade via mark 0x4000). When this test fails, the other
# integration tests' failures say nothing about nftproxy.
source "$(dirname "$0")/lib.sh"
nftp_require no

topo_create 4
pod_serve_all

section "direct pod reachability (no rules loaded)"
for i in 1 2 3 4; do
	probe_run "$CLIENT" --proto tcp --count 2 "$(pod_ip4 "$i")" 8080
	assert_probe_ok
	probe_run "$CLIENT" --proto udp --count 2 "$(pod_ip6 "$i")" 5353
	assert_probe_ok
done
probe_run "$(pod_ns 1)" --proto tcp --count 2 "$(pod_ip6 2)" 8080
assert_probe_ok
probe_run "$NODE" --proto udp --count 2 "$(pod_ip4 3)" 5353
assert_probe_ok
probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 300 "$(pod_ip4 1)" 7777
assert_probe_refused 200

section "loading the hand-written table"
# ep_chain NAME IP PORT PROTO FAMILY
ep_chain() {
	local name=$1 ip=$2 port=$3 proto=$4 fam=$5 saddr to
	if [[ $fam == ip6 ]]; then to="[$ip]:$port"; else to="$ip:$port"; fi
	cat <<EOF
	chain $name {
		$fam saddr $ip meta mark set meta mark | 0x4000
		meta l4proto $proto dnat $fam to $to
	}
EOF
}
{
	cat <<'EOF'
table inet nftproxy {
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.96.0.10 . tcp . 80 : goto svc-web-tcp4,
			     10.96.0.10 . udp . 53 : goto svc-web-udp4,
			     10.96.0.11 . tcp . 80 : goto svc-self-tcp4 }
	}
	map service-ips6 {
		type ipv6_addr . inet_proto . inet_service : verdict
		elements = { fd00:10:96::10 . tcp . 80 : goto svc-web-tcp6,
			     fd00:10:96::10 . udp . 53 : goto svc-web-udp6,
			     fd00:10:96::11 . tcp . 80 : goto svc-self-tcp6 }
	}
	map no-endpoint-services {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.96.0.20 . tcp . 80 : goto reject-chain,
			     10.96.0.20 . udp . 53 : goto reject-chain }
	}
	map no-endpoint-services6 {
		type ipv6_addr . inet_proto . inet_service : verdict
		elements = { fd00:10:96::20 . tcp . 80 : goto reject-chain,
			     fd00:10:96::20 . udp . 53 : goto reject-chain }
	}
	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}
	chain nat-output {
		type nat hook output priority -100; policy accept;
		jump services
	}
	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		meta mark & 0x4000 == 0x4000 masquerade
	}
	chain filter-forward {
		type filter hook forward priority -10; policy accept;
		ct state new jump no-endpoints
	}
	chain filter-output {
		type filter hook output priority -10; policy accept;
		ct state new jump no-endpoints
	}
	chain no-endpoints {
		ip daddr . meta l4proto . th dport vmap @no-endpoint-services
		ip6 daddr . meta l4proto . th dport vmap @no-endpoint-services6
	}
	chain reject-chain {
		meta l4proto tcp reject with tcp reset
		reject
	}
	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
		ip6 daddr . meta l4proto . th dport vmap @service-ips6
	}
	chain svc-web-tcp4 {
		numgen random mod 3 vmap { 0 : goto ep-1-tcp4, 1 : goto ep-2-tcp4, 2 : goto ep-3-tcp4 }
	}
	chain svc-web-udp4 {
		numgen random mod 3 vmap { 0 : goto ep-1-udp4, 1 : goto ep-2-udp4, 2 : goto ep-3-udp4 }
	}
	chain svc-web-tcp6 {
		numgen random mod 3 vmap { 0 : goto ep-1-tcp6, 1 : goto ep-2-tcp6, 2 : goto ep-3-tcp6 }
	}
	chain svc-web-udp6 {
		numgen random mod 3 vmap { 0 : goto ep-1-udp6, 1 : goto ep-2-udp6, 2 : goto ep-3-udp6 }
	}
	chain svc-self-tcp4 {
		numgen random mod 1 vmap { 0 : goto ep-1-tcp4 }
	}
	chain svc-self-tcp6 {
		numgen random mod 1 vmap { 0 : goto ep-1-tcp6 }
	}
EOF
	for i in 1 2 3; do
		ep_chain "ep-$i-tcp4" "$(pod_ip4 "$i")" 8080 tcp ip
		ep_chain "ep-$i-udp4" "$(pod_ip4 "$i")" 5353 udp ip
		ep_chain "ep-$i-tcp6" "$(pod_ip6 "$i")" 8080 tcp ip6
		ep_chain "ep-$i-udp6" "$(pod_ip6 "$i")" 5353 udp ip6
	done
	echo "}"
} >"$TMP/ruleset.nft"
ip netns exec "$NODE" nft -f "$TMP/ruleset.nft" || fail "the hand-written ruleset does not load: $(cat "$TMP/ruleset.nft")"
pass "ruleset loaded"

section "service traffic from the outside client"
for args in "tcp 10.96.0.10 80" "udp 10.96.0.10 53" "tcp fd00:10:96::10 80" "udp fd00:10:96::10 53"; do
	set -- $args
	probe_run "$CLIENT" --proto "$1" --count 60 "$2" "$3"
	assert_probe_ok
	assert_replies_only pod-1 pod-2 pod-3
done

section "no endpoints: refused at once"
for args in "tcp 10.96.0.20 80" "udp 10.96.0.20 53" "tcp fd00:10:96::20 80" "udp fd00:10:96::20 53"; do
	set -- $args
	for ns in "$CLIENT" "$NODE" "$(pod_ns 2)"; do
		probe_run "$ns" --proto "$1" --count 10 --timeout-ms 1000 "$2" "$3"
		assert_probe_refused 500
	done
done

section "hairpin: pod-1 through its own service"
probe_run "$(pod_ns 1)" --proto tcp --count 10 10.96.0.11 80
assert_probe_ok
assert_replies_only pod-1
probe_run "$(pod_ns 1)" --proto tcp --count 10 fd00:10:96::11 80
assert_probe_ok
assert_replies_only pod-1
probe_run "$(pod_ns 1)" --proto tcp --count 60 10.96.0.10 80
assert_probe_ok
assert_replies_only pod-1 pod-2 pod-3
probe_run "$(pod_ns 1)" --proto udp --count 60 fd00:10:96::10 53
assert_probe_ok
assert_replies_only pod-1 pod-2 pod-3

section "node-local processes"
for args in "tcp 10.96.0.10 80" "udp 10.96.0.10 53" "tcp fd00:10:96::10 80" "udp fd00:10:96::10 53"; do
	set -- $args
	probe_run "$NODE" --proto "$1" --count 30 "$2" "$3"
	assert_probe_ok
	assert_replies_only pod-1 pod-2 pod-3
done

section "a background loop and a timeout"
probe_bg "$CLIENT" "$TMP/loop.out" --proto tcp --count 0 --interval-ms 20 --duration-ms 1000 --trace 10.96.0.10 80
loop_pid=$BG_PID
probe_run "$CLIENT" --proto udp --count 2 --timeout-ms 300 10.96.0.99 53
assert_eq "probe to an unserved ClusterIP times out" "2" "$(probe_get timeout)"
wait "$loop_pid" || check_failed "background probe loop failed: $(cat "$TMP/loop.out.err")"
out=$(cat "$TMP/loop.out")
assert_eq "background loop: no failures" "$(probe_get attempts "$out")" "$(probe_get ok "$out")"
n=$(grep -c '^attempt ' "$TMP/loop.out" || true)
assert_lt "background loop paced (attempts in 1 s at 20 ms)" "$n" 52

finish
