#!/usr/bin/env bash
# The table nftproxy programs lists as valid nft syntax: `nft list table inet
# nftproxy` loaded with `nft -f` into a scratch namespace gives back the same
# listing. Operators save and restore rulesets that way, and golden dumps of
# the table are only reviewable if they are real nft syntax.
source "$(dirname "$0")/lib.sh"
nftp_require

topo_create 2
P="http:80:TCP:8080 dns:53:UDP:5353"
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2" | manifest_put web.yaml
svc_manifest demo empty 10.96.0.20 fd00:10:96::20 "$P" none | manifest_put empty.yaml
svc_manifest demo sctp 10.96.0.30 "" "assoc:9999:SCTP:9999" "1" | manifest_put sctp.yaml
mapfile -t want < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "$P" "1 2"
		    svc_expect demo sctp 10.96.0.30 "" "assoc:9999:SCTP:9999" "1")
nftproxy_start
wait_dump_has "${want[@]}"
sleep 1

ip netns exec "$NODE" nft list table inet nftproxy >"$TMP/listing.nft"
SCRATCH="$PFX-scratch"
ns_add "$SCRATCH"
if ip netns exec "$SCRATCH" nft -f "$TMP/listing.nft" 2>"$TMP/reload.err"; then
	pass "nft -f accepts the listing ($(wc -l <"$TMP/listing.nft") lines)"
	ip netns exec "$SCRATCH" nft list table inet nftproxy >"$TMP/relisted.nft"
	if diff -u "$TMP/listing.nft" "$TMP/relisted.nft" >"$TMP/relist.diff"; then
		pass "the reloaded table lists the same"
	else
		check_failed "the reloaded table lists differently:
$(cat "$TMP/relist.diff")"
	fi
else
	check_failed "nft -f rejects nftproxy's own listing:
$(sed -n 1,30p "$TMP/reload.err")
--- the lines it rejects:
$(grep -oE 'listing\.nft:[0-9]+' "$TMP/reload.err" | cut -d: -f2 | sort -un | while read -r n; do printf '%5d: %s\n' "$n" "$(sed -n "${n}p" "$TMP/listing.nft")"; done)"
fi

finish
