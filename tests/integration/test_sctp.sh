#!/usr/bin/env bash
# h. SCTP services. When the kernel has no SCTP sockets (this one has none)
# no SCTP traffic can be sent, so the rules are checked by presence and shape:
# the dump shows the service with protocol sctp and its endpoints, the table
# has the service map element "IP . sctp . PORT", and following its verdicts
# through the chains reaches a DNAT to each endpoint and nothing else.
source "$(dirname "$0")/lib.sh"
nftp_require

if grep -q '^SCTP' /proc/net/protocols 2>/dev/null; then
	log "this kernel has SCTP sockets, but the test checks SCTP rules by shape only"
else
	log "this kernel has no SCTP sockets (no SCTP in /proc/net/protocols): SCTP is checked by the shape of the rules, not by traffic"
fi

topo_create 2
pod_serve_all

S="assoc:9999:SCTP:9999"
svc_manifest demo sctp 10.96.0.30 fd00:10:96::30 "$S" "1 2" | manifest_put sctp.yaml
svc_manifest demo mixed 10.96.0.31 "" "t:7000:TCP:8080 s:7000:SCTP:7001" "1" | manifest_put mixed.yaml
mapfile -t want < <(svc_expect demo sctp 10.96.0.30 fd00:10:96::30 "$S" "1 2"
		    svc_expect demo mixed 10.96.0.31 "" "t:7000:TCP:8080 s:7000:SCTP:7001" "1")
nftproxy_start
wait_dump "${want[@]}"
pass "dump shows the SCTP services: $(dump_lines | grep ' sctp ' | tr '\n' ';')"

table=$(nft_table)
echo "$table" >"$TMP/table.nft"

# check_element RE WANT_DNATS...: the element exists and leads to exactly these DNATs.
check_element() {
	local re=$1 got want
	shift
	local el
	el=$({ grep -oE -- "$re( comment \"[^\"]*\")? : (goto|jump) [^,}]+" <<<"$table" || true; } | sed -n 1p)
	if [[ -z $el ]]; then
		check_failed "no service map element matching /$re [comment \"...\"] : goto|jump .../ in nft list table"
		return
	fi
	pass "service map element: $el"
	got=$(nft_follow "$table" "$re" | grep '^dnat' | sed -E 's/^dnat (ip6? )?to //' | LC_ALL=C sort -u | tr '\n' ' ')
	want=$(printf '%s\n' "$@" | LC_ALL=C sort -u | tr '\n' ' ')
	assert_eq "DNAT targets reached from /$re/" "$want" "$got"
	nft_follow "$table" "$re" | sed 's/^/    /'
}

section "demo/sctp: element and chains"
check_element '10\.96\.0\.30 \. sctp \. 9999' 10.244.1.1:9999 10.244.1.2:9999
check_element 'fd00:10:96::30 \. sctp \. 9999' '[fd00:10:244::1:1]:9999' '[fd00:10:244::1:2]:9999'

section "demo/mixed: TCP and SCTP on the same port number are separate"
check_element '10\.96\.0\.31 \. tcp \. 7000' 10.244.1.1:8080
check_element '10\.96\.0\.31 \. sctp \. 7000' 10.244.1.1:7001
# The TCP half of the mixed service does carry traffic.
probe_run "$CLIENT" --proto tcp --count 5 10.96.0.31 7000
assert_probe_ok
assert_replies_only pod-1

section "an SCTP service without endpoints is listed for rejection"
svc_manifest demo sctp 10.96.0.30 fd00:10:96::30 "$S" "" | manifest_put sctp.yaml
wait_dump_has "$(svc_expect demo sctp 10.96.0.30 fd00:10:96::30 "$S" "" | sed -n 1,1p)"
table=$(nft_table)
if grep -Eq '10\.96\.0\.30 \. sctp \. 9999' <<<"$table"; then
	pass "the no-endpoint SCTP service still has an element: $({ grep -oE '10\.96\.0\.30 \. sctp \. 9999 [^,}]+' <<<"$table" || true; } | sed -n 1p)"
else
	check_failed "no element for 10.96.0.30 . sctp . 9999 once its endpoints are gone (expected one leading to reject)"
fi
if nft_follow "$table" '10\.96\.0\.30 \. sctp \. 9999' | grep -q '^dnat'; then
	check_failed "the SCTP service without endpoints still leads to a DNAT"
fi

nftproxy_alive || check_failed "nftproxy died during the test"
finish
