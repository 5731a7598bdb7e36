#!/usr/bin/env bash
# nftproxyctl cleanup --kube-proxy / --iptables: what kube-proxy's own modes
# left behind goes, everything else stays. In one namespace (no topology, no
# daemon) the test builds, with nft and iptables-nft:
#   - kube-proxy's nftables mode: table ip kube-proxy and table ip6 kube-proxy
#     (chains, sets, verdict maps, base chains on every hook it uses);
#   - its iptables mode through iptables-nft: KUBE-* chains in ip/ip6 filter,
#     nat and mangle, jumped to (and gone to) from the built-in chains and
#     from a user chain; kubelet's KUBE-FIREWALL and KUBE-KUBELET-CANARY;
#   - what must survive: user chains and rules in the same tables, another
#     program's `table inet other` (with a KUBE-* look-alike chain of its
#     own), and for the plain cleanup nftproxy's own table.
# Then: plain cleanup deletes only our table; --kube-proxy only the nftables
# tables; a reference the cleanup cannot remove makes the whole transaction
# fail with nothing changed; --kube-proxy --iptables leaves exactly the
# ruleset before minus the removed parts; a second run is a no-op (exit 0);
# iptables-legacy KUBE-* chains are reported, not touched.
# The iptables part is skipped when iptables cannot be installed.
source "$(dirname "$0")/lib.sh"
nftp_require

# Every nft and iptables command runs in the test's namespace, never on the host.
ns_add "$NODE"
in_ns() { ip netns exec "$NODE" "$@"; }

# The ruleset with counters zeroed, blank lines and nft's "managed by
# iptables-nft" warnings dropped, and the tables sorted by family and name
# (nft lists them in creation order, and the test recreates some), so that
# listings compare line by line.
ruleset() {
	in_ns nft list ruleset 2>/dev/null | grep -v '^#' | grep -v '^[[:space:]]*$' |
		sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/g' |
		awk '/^table / { key = $2 "/" $3 } { print key "\t" $0 }' |
		LC_ALL=C sort -s -t "$(printf '\t')" -k1,1 | cut -f2-
}

# expect_minus WHAT < LISTING: the listing without what a cleanup removes.
# WHAT is a comma-separated list: ours (table inet nftproxy), kube-proxy
# (tables ip/ip6 kube-proxy), iptables (KUBE-* chains of ip/ip6 filter, nat,
# mangle but kubelet's, and rules jumping or going to them).
expect_minus() {
	awk -v what=",$1," '
	BEGIN { kept["KUBE-FIREWALL"] = 1; kept["KUBE-KUBELET-CANARY"] = 1 }
	/^table / {
		fam = $2; name = $3
		skip_table = (index(what, ",kube-proxy,") && name == "kube-proxy" &&
			      (fam == "ip" || fam == "ip6")) ||
			     (index(what, ",ours,") && fam == "inet" && name == "nftproxy")
		ipt = index(what, ",iptables,") && (fam == "ip" || fam == "ip6") &&
		      (name == "filter" || name == "nat" || name == "mangle")
	}
	skip_table { if ($0 ~ /^}/) skip_table = 0; next }
	/^\tchain / { skip_chain = ipt && $2 ~ /^KUBE-/ && !($2 in kept) }
	skip_chain { if ($0 ~ /^\t}/) skip_chain = 0; next }
	ipt && /(jump|goto) KUBE-/ {
		t = $0; sub(/.*(jump|goto) /, "", t); sub(/ .*/, "", t)
		if (!(t in kept)) next
	}
	{ print }'
}

assert_same_ruleset() {
	local what=$1 want=$2 got=$3
	if [[ $want == "$got" ]]; then
		pass "$what ($(wc -l <<<"$got") lines)"
	else
		check_failed "$what: the ruleset differs (- expected, + got):"
		diff -u <(echo "$want") <(echo "$got") | tail -n +3 | sed 's/^/    /' >&2 || true
	fi
}

# run_cleanup NAME ARGS...: nftproxyctl cleanup in the namespace; sets RC,
# OUT (stdout) and ERR (stderr).
run_cleanup() {
	local name=$1
	shift
	RC=0
	nftproxyctl cleanup "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || RC=$?
	OUT=$(cat "$TMP/$name.out")
	ERR=$(cat "$TMP/$name.err")
	log "nftproxyctl cleanup $* -> exit $RC"
	sed 's/^/    | /' "$TMP/$name.out" "$TMP/$name.err"
}

# ---------------------------------------------------------------------------
# kube-proxy's nftables mode, in its shape (names made up for the test)

kube_proxy_tables() {
	in_ns nft -f - <<'EOF'
table ip kube-proxy {
	comment "rules for kube-proxy"
	set cluster-ips {
		type ipv4_addr
		elements = { 10.96.0.1, 10.96.0.10 }
	}
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
	}
	map no-endpoint-services {
		type ipv4_addr . inet_proto . inet_service : verdict
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
		jump masquerading
	}
	chain filter-input {
		type filter hook input priority -110; policy accept;
		ct state new jump firewall-check
	}
	chain firewall-check {
		ip daddr . meta l4proto . th dport vmap @no-endpoint-services
	}
	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
	}
	chain masquerading {
		meta mark & 0x4000 == 0 return
		meta mark set meta mark ^ 0x4000
		masquerade fully-random
	}
	chain mark-for-masquerade {
		meta mark set meta mark | 0x4000
	}
	chain reject-chain {
		reject
	}
	chain svc-TESTAAAA-default/kubernetes/tcp/https {
		ip daddr 10.96.0.1 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
		numgen random mod 1 vmap { 0 : goto ep-TESTBBBB-default/kubernetes/tcp/https__192.0.2.10/6443 }
	}
	chain ep-TESTBBBB-default/kubernetes/tcp/https__192.0.2.10/6443 {
		ip saddr 192.0.2.10 jump mark-for-masquerade
		meta l4proto tcp dnat to 192.0.2.10:6443
	}
}
add element ip kube-proxy service-ips { 10.96.0.1 . tcp . 443 : goto svc-TESTAAAA-default/kubernetes/tcp/https }
add element ip kube-proxy no-endpoint-services { 10.96.0.10 . udp . 53 : goto reject-chain }
table ip6 kube-proxy {
	map service-ips {
		type ipv6_addr . inet_proto . inet_service : verdict
	}
	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}
	chain services {
		ip6 daddr . meta l4proto . th dport vmap @service-ips
	}
	chain svc-TESTCCCC-default/kubernetes/tcp/https {
		meta l4proto tcp dnat to [2001:db8::10]:6443
	}
}
add element ip6 kube-proxy service-ips { fd00:10:96::1 . tcp . 443 : goto svc-TESTCCCC-default/kubernetes/tcp/https }
EOF
}
# What the cleanup should say it deleted from them.
KP4_LINE="deleted table ip kube-proxy (11 chains, 1 set, 2 maps)"
KP6_LINE="deleted table ip6 kube-proxy (3 chains, 0 sets, 1 map)"

# Ours, as nftproxy would have left it, and another program's table.
ours_table() {
	in_ns nft -f - <<'EOF'
table inet nftproxy {
	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}
	chain services {
	}
}
EOF
}

section "setup: kube-proxy's nftables tables, ours, another program's"
kube_proxy_tables || fail "nft -f of the kube-proxy tables failed"
ours_table || fail "nft -f of table inet nftproxy failed"
in_ns nft -f - <<'EOF' || fail "nft -f of table inet other failed"
table inet other {
	chain input {
		type filter hook input priority 10; policy accept;
		tcp dport 22 counter accept
		jump KUBE-LOOKALIKE
	}
	chain KUBE-LOOKALIKE {
		ip saddr 198.51.100.7 drop
	}
}
EOF

# ---------------------------------------------------------------------------
# kube-proxy's iptables mode through iptables-nft

HAVE_IPT=0
if ! in_ns iptables-nft --version >/dev/null 2>&1 || ! in_ns ip6tables-nft --version >/dev/null 2>&1; then
	log "iptables-nft missing: apt-get install -y iptables"
	DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q iptables \
		>"$TMP/apt.log" 2>&1 || log "could not install iptables: $(tail -n 1 "$TMP/apt.log")"
fi
if in_ns iptables-nft --version >/dev/null 2>&1 && in_ns ip6tables-nft --version >/dev/null 2>&1; then
	HAVE_IPT=1
fi

ipt() { in_ns iptables-nft -w 5 "$@"; }
ip6t() { in_ns ip6tables-nft -w 5 "$@"; }

iptables_rules() {
	# nat: the service path, with jumps from the built-in chains and a goto
	# from a user chain; the user's own chain and rules stay.
	local c
	for c in KUBE-SERVICES KUBE-SVC-TESTAAAA KUBE-SEP-TESTBBBB KUBE-MARK-MASQ \
		KUBE-POSTROUTING USER-NAT; do
		ipt -t nat -N "$c"
	done
	ipt -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
	ipt -t nat -A PREROUTING -j USER-NAT
	ipt -t nat -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
	ipt -t nat -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
	ipt -t nat -A POSTROUTING -s 198.51.100.0/24 -j MASQUERADE
	ipt -t nat -A USER-NAT -d 203.0.113.0/24 -j RETURN
	ipt -t nat -A USER-NAT -p udp --dport 53 -g KUBE-SERVICES
	ipt -t nat -A KUBE-SERVICES -d 10.96.0.1/32 -p tcp --dport 443 -j KUBE-SVC-TESTAAAA
	ipt -t nat -A KUBE-SVC-TESTAAAA -j KUBE-SEP-TESTBBBB
	ipt -t nat -A KUBE-SEP-TESTBBBB -s 192.0.2.10/32 -j KUBE-MARK-MASQ
	ipt -t nat -A KUBE-SEP-TESTBBBB -p tcp -j DNAT --to-destination 192.0.2.10:6443
	ipt -t nat -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
	ipt -t nat -A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
	# filter: kube-proxy's chains, kubelet's KUBE-FIREWALL (stays, and the
	# jumps to it), the user's chain and rules.
	for c in KUBE-SERVICES KUBE-FORWARD KUBE-PROXY-FIREWALL KUBE-PROXY-CANARY \
		KUBE-FIREWALL KUBE-KUBELET-CANARY USER-FILTER; do
		ipt -t filter -N "$c"
	done
	ipt -t filter -A INPUT -p tcp --dport 22 -j ACCEPT
	ipt -t filter -A INPUT -m conntrack --ctstate NEW -j KUBE-PROXY-FIREWALL
	ipt -t filter -A INPUT -j KUBE-FIREWALL
	ipt -t filter -A INPUT -j USER-FILTER
	ipt -t filter -A FORWARD -j KUBE-FORWARD
	ipt -t filter -A OUTPUT -m conntrack --ctstate NEW -j KUBE-SERVICES
	ipt -t filter -A OUTPUT -j KUBE-FIREWALL
	ipt -t filter -A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP
	ipt -t filter -A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT
	ipt -t filter -A KUBE-SERVICES -d 10.96.0.10/32 -p udp --dport 53 -j REJECT
	ipt -t filter -A USER-FILTER -s 203.0.113.0/24 -j DROP
	# mangle: the canaries.
	ipt -t mangle -N KUBE-PROXY-CANARY
	ipt -t mangle -N KUBE-KUBELET-CANARY
	# IPv6: nat and filter.
	ip6t -t nat -N KUBE-SERVICES
	ip6t -t nat -N KUBE-SVC-TESTCCCC
	ip6t -t nat -A PREROUTING -j KUBE-SERVICES
	ip6t -t nat -A OUTPUT -j KUBE-SERVICES
	ip6t -t nat -A KUBE-SERVICES -d fd00:10:96::1/128 -p tcp --dport 443 -j KUBE-SVC-TESTCCCC
	ip6t -t nat -A KUBE-SVC-TESTCCCC -p tcp -j DNAT --to-destination [2001:db8::10]:6443
	ip6t -t filter -N KUBE-FORWARD
	ip6t -t filter -A FORWARD -j KUBE-FORWARD
	ip6t -t filter -A FORWARD -p tcp --dport 80 -j ACCEPT
}
IPT_LINES=(
	"deleted 4 KUBE-* chains and 3 rules jumping to them from table ip filter"
	"deleted 5 KUBE-* chains and 4 rules jumping to them from table ip nat"
	"deleted 1 KUBE-* chain from table ip mangle"
	"deleted 1 KUBE-* chain and 1 rule jumping to them from table ip6 filter"
	"deleted 2 KUBE-* chains and 2 rules jumping to them from table ip6 nat"
)

if ((HAVE_IPT)); then
	section "setup: kube-proxy's iptables-nft chains, kubelet's, the user's"
	iptables_rules || fail "creating the iptables-nft rules failed"
else
	log "SKIP (part): no iptables-nft, the iptables checks are left out"
fi

BEFORE=$(ruleset)
echo "$BEFORE" >"$TMP/before.nft"
log "ruleset before: $(wc -l <<<"$BEFORE") lines, tables: $(in_ns nft list tables | tr '\n' ';')"

# ---------------------------------------------------------------------------
section "plain cleanup: only table inet nftproxy"
run_cleanup plain
assert_eq "exit status" 0 "$RC"
assert_eq "output" "deleted table inet nftproxy" "$OUT"
assert_same_ruleset "everything but table inet nftproxy stays" \
	"$(expect_minus ours <<<"$BEFORE")" "$(ruleset)"

# ---------------------------------------------------------------------------
section "a reference the cleanup cannot remove: the whole transaction fails"
if ((HAVE_IPT)); then
	# A verdict map element is not a rule's immediate jump: the cleanup
	# does not delete it, so the kernel refuses to delete KUBE-FORWARD.
	in_ns nft add chain ip filter user-vmap
	in_ns nft add rule ip filter user-vmap tcp dport vmap { 8080 : jump KUBE-FORWARD }
	HELD=$(ruleset)
	run_cleanup busy --kube-proxy --iptables
	assert_eq "exit status with a foreign reference" 1 "$RC"
	if grep -q "KUBE-FORWARD of table ip filter" <<<"$ERR" && grep -q "nothing was changed" <<<"$ERR"; then
		pass "the error names the chain and says nothing changed"
	else
		check_failed "the error should name chain KUBE-FORWARD of table ip filter: $ERR"
	fi
	assert_same_ruleset "nothing changed, kube-proxy's tables included" "$HELD" "$(ruleset)"
	in_ns nft delete chain ip filter user-vmap 2>/dev/null ||
		{ in_ns nft flush chain ip filter user-vmap && in_ns nft delete chain ip filter user-vmap; }
	assert_same_ruleset "the foreign reference removed again" \
		"$(expect_minus ours <<<"$BEFORE")" "$(ruleset)"
else
	log "skipped: needs iptables-nft"
fi

# ---------------------------------------------------------------------------
section "cleanup --kube-proxy: kube-proxy's nftables tables only"
ours_table
run_cleanup kp --kube-proxy
assert_eq "exit status" 0 "$RC"
assert_eq "output" "deleted table inet nftproxy
$KP4_LINE
$KP6_LINE" "$OUT"
assert_same_ruleset "iptables-nft chains untouched, the rest stays" \
	"$(expect_minus ours,kube-proxy <<<"$BEFORE")" "$(ruleset)"

# ---------------------------------------------------------------------------
section "cleanup --kube-proxy --iptables: everything kube-proxy left"
kube_proxy_tables
ours_table
assert_same_ruleset "the setup restored" "$BEFORE" "$(ruleset)"
run_cleanup full --kube-proxy --iptables
assert_eq "exit status" 0 "$RC"
# One family after the other: kube-proxy's table, then filter, nat, mangle.
if ((HAVE_IPT)); then
	want=$(printf '%s\n' "deleted table inet nftproxy" "$KP4_LINE" "${IPT_LINES[@]:0:3}" \
		"$KP6_LINE" "${IPT_LINES[@]:3}")
else
	want=$(printf '%s\n' "deleted table inet nftproxy" "$KP4_LINE" "$KP6_LINE")
fi
assert_eq "output" "$want" "$OUT"
AFTER=$(ruleset)
echo "$AFTER" >"$TMP/after.nft"
assert_same_ruleset "the ruleset before minus kube-proxy's" \
	"$(expect_minus ours,kube-proxy,iptables <<<"$BEFORE")" "$AFTER"
want="table inet other;"
((HAVE_IPT)) && want+="table ip filter;table ip mangle;table ip nat;table ip6 filter;table ip6 nat;"
assert_eq "tables left" "$want" "$(in_ns nft list tables | LC_ALL=C sort | tr '\n' ';')"
left=$(grep -c 'KUBE-' <<<"$AFTER" || true)
log "KUBE- names left in the ruleset: $left"
if ((HAVE_IPT)); then
	# Cross-checked with iptables itself: only kubelet's chains and their jumps.
	assert_eq "iptables-nft nat after" \
		"-P PREROUTING ACCEPT|-P INPUT ACCEPT|-P OUTPUT ACCEPT|-P POSTROUTING ACCEPT|-N USER-NAT|-A PREROUTING -j USER-NAT|-A POSTROUTING -s 198.51.100.0/24 -j MASQUERADE|-A USER-NAT -d 203.0.113.0/24 -j RETURN|" \
		"$(ipt -t nat -S | tr '\n' '|')"
	assert_eq "iptables-nft filter after" \
		"-P INPUT ACCEPT|-P FORWARD ACCEPT|-P OUTPUT ACCEPT|-N KUBE-FIREWALL|-N KUBE-KUBELET-CANARY|-N USER-FILTER|-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT|-A INPUT -j KUBE-FIREWALL|-A INPUT -j USER-FILTER|-A OUTPUT -j KUBE-FIREWALL|-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP|-A USER-FILTER -s 203.0.113.0/24 -j DROP|" \
		"$(ipt -t filter -S | tr '\n' '|')"
	assert_eq "iptables-nft mangle after: kubelet's canary" \
		"-N KUBE-KUBELET-CANARY" "$(ipt -t mangle -S | grep -- '^-N' | tr '\n' ' ' | sed 's/ $//')"
	assert_eq "ip6tables-nft after" "-A FORWARD -p tcp -m tcp --dport 80 -j ACCEPT|" \
		"$( (ip6t -t nat -S; ip6t -t filter -S) | grep -v -- '^-P' | tr '\n' '|')"
	assert_eq "KUBE- names left: kubelet's chains, the jumps to them, table inet other's" \
		"KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-LOOKALIKE" \
		"$(grep -o 'KUBE-[A-Z-]*' <<<"$AFTER" | LC_ALL=C sort -u | tr '\n' ' ' | sed 's/ $//')"
fi

# ---------------------------------------------------------------------------
section "twice: a no-op that exits 0"
run_cleanup again --kube-proxy --iptables
assert_eq "exit status of the second run" 0 "$RC"
assert_eq "output of the second run" "table inet nftproxy does not exist; nothing to clean up
no kube-proxy tables or iptables-nft KUBE-* chains found; nothing to clean up" "$OUT"
assert_same_ruleset "the second run changed nothing" "$AFTER" "$(ruleset)"
run_cleanup again_kp --kube-proxy
assert_eq "exit status of --kube-proxy with nothing left" 0 "$RC"
assert_eq "output of --kube-proxy with nothing left" "table inet nftproxy does not exist; nothing to clean up
no kube-proxy tables found; nothing to clean up" "$OUT"

section "an empty kube-proxy table goes too"
in_ns nft add table ip6 kube-proxy
run_cleanup empty --kube-proxy
assert_eq "exit status" 0 "$RC"
assert_eq "output" "table inet nftproxy does not exist; nothing to clean up
deleted table ip6 kube-proxy (0 chains, 0 sets, 0 maps)" "$OUT"
assert_same_ruleset "nothing else changed" "$AFTER" "$(ruleset)"

# ---------------------------------------------------------------------------
section "iptables-legacy: reported, not touched"
if ((HAVE_IPT)) && in_ns iptables-legacy -w 5 -t nat -N KUBE-SVC-LEGACY 2>/dev/null; then
	in_ns iptables-legacy -w 5 -t nat -N KUBE-SEP-LEGACY
	in_ns iptables-legacy -w 5 -t filter -N KUBE-FIREWALL   # kubelet's: not counted
	in_ns iptables-legacy -w 5 -t filter -N USER-LEGACY
	LEGACY=$(in_ns iptables-legacy-save | grep -v '^#')
	run_cleanup legacy --kube-proxy --iptables
	assert_eq "exit status with legacy chains" 0 "$RC"
	if grep -q "iptables-legacy table ip nat still holds 2 KUBE-\* chains" <<<"$ERR" &&
		grep -q "iptables-legacy-save | grep KUBE" <<<"$ERR"; then
		pass "legacy KUBE-* chains reported with the command to see them"
	else
		check_failed "expected a warning about 2 legacy KUBE-* chains in nat: $ERR"
	fi
	if grep -q "table ip filter" <<<"$ERR"; then
		check_failed "kubelet's legacy KUBE-FIREWALL should not be reported: $ERR"
	else
		pass "kubelet's legacy KUBE-FIREWALL not reported"
	fi
	assert_eq "legacy tables untouched" "$LEGACY" "$(in_ns iptables-legacy-save | grep -v '^#')"
	assert_same_ruleset "nftables untouched" "$AFTER" "$(ruleset)"
else
	log "skipped: iptables-legacy is not usable here"
fi

section "the host was not touched"
log "every nft and iptables command above ran with ip netns exec $NODE"

finish
