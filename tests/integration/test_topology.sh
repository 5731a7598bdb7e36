#!/usr/bin/env bash
# Topology aware routing (EndpointSlice hints.forZones), as kube-proxy does
# it: when every ready endpoint of a service port has zone hints and at
# least one is hinted for this node's zone, only the endpoints hinted for this
# zone get traffic; otherwise all do. The annotation
# service.kubernetes.io/topology-mode: Disabled turns hints off. The node's
# zone comes from its Node object's topology.kubernetes.io/zone label, or
# from --zone (which wins); with neither, hints are not used.
#
# Services (dual stack, http 80 -> 8080, pods 1..4; pods 1, 2 in zone-a,
# pods 3, 4 in zone-b):
#   hinted     1, 2 hinted zone-a; 3, 4 hinted zone-b       -> this zone's only
#   notready   as hinted, 4 not ready and without hints     -> this zone's only
#   multi      1 zone-a, 3 zone-a+zone-b, 2 and 4 zone-b    -> 1, 3 in zone-a
#   unhinted   as hinted, but 4 ready without hints         -> all
#   otherzone  1, 2 hinted zone-c; 3, 4 hinted zone-b       -> all
#   disabled   as hinted, annotation topology-mode Disabled -> all
#
# Without the feature every service sends to all of its ready endpoints, and
# the zone-only checks fail (also the --zone runs: the flag would not exist).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require

topo_create 4
pod_serve_all

PORTS="http:80:TCP:8080"
SPORTS="http:8080:TCP"
# svc_files NAME IP4 IP6 "EPS" [SVCARGS...]: EPS as "I@NODE@ZONE@hints=Z[/STATE]",
# each I a pod number (its addresses in the IPv4 and the IPv6 slice).
svc_files() {
	local name=$1 ip4=$2 ip6=$3 eps=$4 e i rest e4="" e6=""
	shift 4
	for e in $eps; do
		i=${e%%[@/]*}
		rest=${e#"$i"}
		e4+=" $(pod_ip4 "$i")$rest"
		e6+=" $(pod_ip6 "$i")$rest"
	done
	svc_full_yaml ns=demo name="$name" ips="$ip4,$ip6" ports="$PORTS" "$@"
	echo "---"
	slice_full_yaml ns=demo svc="$name" slice="$name-v4" family=IPv4 ports="$SPORTS" eps="$e4"
	echo "---"
	slice_full_yaml ns=demo svc="$name" slice="$name-v6" family=IPv6 ports="$SPORTS" eps="$e6"
}
A1="1@node-1@zone-a@hints=zone-a"
A2="2@node-1@zone-a@hints=zone-a"
B3="3@node-2@zone-b@hints=zone-b"
B4="4@node-2@zone-b@hints=zone-b"
svc_files hinted 10.96.0.70 fd00:10:96::70 "$A1 $A2 $B3 $B4" | manifest_put hinted.yaml
svc_files notready 10.96.0.75 fd00:10:96::75 "$A1 $A2 $B3 4@node-2@zone-b/notready" | manifest_put notready.yaml
svc_files multi 10.96.0.74 fd00:10:96::74 \
	"$A1 2@node-1@zone-a@hints=zone-b 3@node-2@zone-b@hints=zone-a+zone-b $B4" | manifest_put multi.yaml
svc_files unhinted 10.96.0.71 fd00:10:96::71 "$A1 $A2 $B3 4@node-2@zone-b" | manifest_put unhinted.yaml
svc_files otherzone 10.96.0.72 fd00:10:96::72 \
	"1@node-1@zone-a@hints=zone-c 2@node-1@zone-a@hints=zone-c $B3 $B4" | manifest_put otherzone.yaml
svc_files disabled 10.96.0.73 fd00:10:96::73 "$A1 $A2 $B3 $B4" \
	annotations="service.kubernetes.io/topology-mode=Disabled" | manifest_put disabled.yaml
svc_manifest demo sentinel 10.96.0.79 "" "$PORTS" "1" | manifest_put sentinel.yaml
SENTINEL=$(svc_expect demo sentinel 10.96.0.79 "" "$PORTS" "1")

section "harness: every pod answers directly"
for i in 1 2 3 4; do
	probe_run "$CLIENT" --proto tcp --count 2 "$(pod_ip4 "$i")" 8080
	assert_probe_ok
	probe_run "$CLIENT" --proto tcp --count 2 "$(pod_ip6 "$i")" 8080
	assert_probe_ok
done

# expect_only WHAT IP NAME...: 40 connections to IP:80, all answered, by
# exactly NAME... (polls up to 5 s first, as a change may still be on its
# way; when that state never shows, 5 connections tell what happens instead).
expect_only() {
	local what=$1 ip=$2 got want count=5 t0
	shift 2
	want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	t0=$(date +%s)
	while (($(date +%s) - t0 < 5)); do
		probe_run "$CLIENT" --proto tcp --count 30 --timeout-ms 200 "$ip" 80
		got=$(awk '$1 == "reply" { print $2 }' <<<"$PROBE_OUT" | sort | tr '\n' ' ')
		if [[ $PROBE_RC == 0 && $got == "$want" ]]; then
			count=40
			break
		fi
		sleep 0.2
	done
	log "$what"
	probe_run "$CLIENT" --proto tcp --count "$count" --timeout-ms 1000 "$ip" 80
	assert_probe_ok
	assert_replies_only "$@"
}

# check_zone ZONE: every service, both families, as a node in ZONE
# ("" = no zone known: hints unused).
check_zone() {
	local z=$1 ip sep
	for ip in 10.96.0 fd00:10:96:; do
		sep=.
		[[ $ip == *: ]] && sep=:
		case $z in
		zone-a)
			expect_only "hinted: zone-a's pods 1, 2" "$ip$sep"70 pod-1 pod-2
			expect_only "notready: zone-a's pods 1, 2 (unhinted pod-4 is not ready)" "$ip$sep"75 pod-1 pod-2
			expect_only "multi: pod-1 and pod-3 (hinted zone-a+zone-b)" "$ip$sep"74 pod-1 pod-3 ;;
		zone-b)
			expect_only "hinted: zone-b's pods 3, 4" "$ip$sep"70 pod-3 pod-4
			expect_only "notready: zone-b's ready pod-3" "$ip$sep"75 pod-3
			expect_only "multi: pod-2, pod-3 and pod-4 (hinted zone-b)" "$ip$sep"74 pod-2 pod-3 pod-4 ;;
		"")
			expect_only "hinted, no zone known: all" "$ip$sep"70 pod-1 pod-2 pod-3 pod-4
			expect_only "notready, no zone known: all ready" "$ip$sep"75 pod-1 pod-2 pod-3
			expect_only "multi, no zone known: all" "$ip$sep"74 pod-1 pod-2 pod-3 pod-4 ;;
		esac
		expect_only "unhinted: ready pod-4 without hints -> all" "$ip$sep"71 pod-1 pod-2 pod-3 pod-4
		if [[ $z == zone-b ]]; then
			expect_only "otherzone: zone-b's pods 3, 4" "$ip$sep"72 pod-3 pod-4
		else
			expect_only "otherzone: nothing hinted for this zone (${z:-none}) -> all" "$ip$sep"72 pod-1 pod-2 pod-3 pod-4
		fi
		expect_only "disabled: topology-mode Disabled -> all" "$ip$sep"73 pod-1 pod-2 pod-3 pod-4
	done
}

section "Node node-1 labelled zone-a (manifest)"
node_manifest node-1 zone-a | manifest_put node.yaml
nftproxy_start --hostname-override node-1
wait_dump_has "$SENTINEL"
check_zone zone-a

section "the Node's label changes to zone-b"
node_manifest node-1 zone-b | manifest_put node.yaml
check_zone zone-b

section "no Node object, no --zone: no zone, hints unused"
nftproxy_stop
manifest_rm node.yaml
nftproxy_start --hostname-override node-1
wait_dump_has "$SENTINEL"
check_zone ""

section "--zone zone-a, no Node object"
nftproxy_stop
nftproxy_start --hostname-override node-1 --zone zone-a
wait_dump_has "$SENTINEL"
check_zone zone-a

section "--zone zone-b wins over the Node's label zone-a"
nftproxy_stop
node_manifest node-1 zone-a | manifest_put node.yaml
nftproxy_start --hostname-override node-1 --zone zone-b
wait_dump_has "$SENTINEL"
check_zone zone-b

nftproxy_alive || check_failed "nftproxy died during the test"
finish
