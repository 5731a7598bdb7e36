#!/usr/bin/env bash
# What a user who may create Services can do to another service's traffic
# (docs/SECURITY.md). Service demo/web owns cluster IP 10.96.0.10 port 80 and
# node port 30080. Then evil/grab claims that same address and port as an
# externalIP and as a LoadBalancer ingress IP, and evil/ports claims the node
# port: each claim is refused with a warning naming both services, the
# claimant's other addresses work, and demo/web keeps every connection
# (a client connects all the while). A restart of nftproxy keeps the owner,
# and so does a cold start onto an empty table with more claimants, whatever
# order they are compiled in: a cluster IP is never served for another
# service, on any port. Only once demo/web is gone do the claims take
# effect. Other addresses (node ports, external IPs) belong to one service
# at a time, the one that had it first.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_cluster.sh"
nftp_require

topo_create 2
topo_external
pod_serve_all
node_manifest node-1 "" | manifest_put node.yaml

P="http:80:TCP:8080:30080"
{
	svc_full_yaml ns=demo name=web type=NodePort ips=10.96.0.10 ports="$P"
	cluster_slices demo web "$P" "1"
} | manifest_put web.yaml
mapfile -t want_web < <(cluster_expect demo web 10.96.0.10 "" "$P" "1")

# served_by POD IP PORT COUNT: COUNT TCP connections from the client to
# IP:PORT all answered, by POD alone.
served_by() {
	probe_run "$CLIENT" --proto tcp --count "$4" --timeout-ms 1000 "$2" "$3"
	assert_probe_ok
	assert_replies_only "$1"
}

nftproxy_start --hostname-override node-1
wait_dump_has "${want_web[@]}"
wait_probe "$CLIENT" ok 5 --proto tcp 10.96.0.10 80
# The guard: a client of demo/web the whole time the others claim its addresses.
probe_bg "$CLIENT" "$TMP/guard.out" --proto tcp --count 0 --interval-ms 50 --duration-ms 20000 \
	--timeout-ms 1000 10.96.0.10 80
guard=$BG_PID

section "an externalIP and an LB ingress IP that are demo/web's cluster IP"
G="http:80:TCP:8080"
{
	svc_full_yaml ns=evil name=grab type=LoadBalancer ips=10.96.0.20 ports="$G" \
		externalIPs="10.96.0.10 203.0.113.30" lbIPs="10.96.0.10 203.0.113.31"
	cluster_slices evil grab "$G" "2"
} | manifest_put grab.yaml
mapfile -t want_grab < <(cluster_expect evil grab 10.96.0.20 "" "$G" "2")
wait_dump_has "${want_grab[@]}"
wait_probe "$CLIENT" ok 5 --proto tcp 203.0.113.31 80
claims=$(nftproxy_log_count 'service evil/grab.*10\.96\.0\.10.* is already used by service demo/web')
assert_lt "the claims of 10.96.0.10:80 are refused and logged, naming both services" 0 "$claims"
served_by pod-1 10.96.0.10 80 40
for ip in 10.96.0.20 203.0.113.30 203.0.113.31; do
	served_by pod-2 "$ip" 80 20
done

section "a node port that is demo/web's"
NP="http:81:TCP:8080:30080"
{
	svc_full_yaml ns=evil name=ports type=NodePort ips=10.96.0.21 ports="$NP"
	cluster_slices evil ports "$NP" "2"
} | manifest_put ports.yaml
mapfile -t want_ports < <(cluster_expect evil ports 10.96.0.21 "" "$NP" "2")
wait_dump_has "${want_ports[@]}"
sleep 0.5
assert_lt "the node port claim is refused and logged" 0 \
	"$(nftproxy_log_count 'service evil/ports.* is already used by service demo/web')"
served_by pod-1 "$NODE_IP4" 30080 40

section "a restart keeps the owner"
nftproxy_stop KILL
nftproxy_start --hostname-override node-1
wait_dump_has "${want_web[@]}" "${want_grab[@]}" "${want_ports[@]}"
sleep 1
served_by pod-1 10.96.0.10 80 40
served_by pod-1 "$NODE_IP4" 30080 40

wait "$guard" || true
guard_out=$(cat "$TMP/guard.out")
log "the guard client: $(PROBE_OUT=$guard_out probe_summary)"
assert_lt "the guard client connected" 100 "$(probe_get attempts "$guard_out")"
assert_eq "demo/web: connections failed while others claimed its addresses" \
	"$(probe_get attempts "$guard_out")" "$(probe_get ok "$guard_out")"
assert_eq "demo/web: every guard connection reached demo/web's pod" \
	"pod-1=$(probe_get ok "$guard_out")" "$(probe_replies "$guard_out")"

section "a cold start (empty table): the cluster IP wins whatever the order"
# Two more claimants of 10.96.0.10, one on demo/web's port and one on a
# port demo/web lacks; the compile order of the three is the model's.
nftproxy_stop TERM
ip netns exec "$NODE" "$NFTPROXY" --cleanup >>"$NFTPROXY_LOG" 2>&1 || fail "nftproxy --cleanup failed"
[[ -z $(nft_table 2>/dev/null) ]] || fail "the table is still there after --cleanup"
for n in a b; do
	{
		svc_full_yaml ns="$n" name=grab ips=10.96.0.3$([[ $n == a ]] && echo 0 || echo 1) \
			ports="$G https:443:TCP:8080" externalIPs="10.96.0.10"
		cluster_slices "$n" grab "$G https:443:TCP:8080" "2"
	} | manifest_put "grab-$n.yaml"
done
nftproxy_start --hostname-override node-1
wait_dump_has "${want_web[@]}"
sleep 1
served_by pod-1 10.96.0.10 80 40
probe_run "$CLIENT" --proto tcp --count 3 --timeout-ms 400 10.96.0.10 443
assert_eq "10.96.0.10:443 (a port demo/web lacks) is not served for a claimant" 0 \
	"$(probe_get ok)"
assert_lt "the claims of a cluster IP are refused at compile time, naming the owner" 1 \
	"$(nftproxy_log_count 'service [ab]/grab: externalIP 10\.96\.0\.10 is already used by service demo/web as its cluster IP')"
manifest_rm grab-a.yaml
manifest_rm grab-b.yaml


section "once demo/web is gone, the claims take effect"
manifest_rm web.yaml
for ((k = 0; k < 100; k++)); do
	probe_run "$CLIENT" --proto tcp --count 1 --timeout-ms 300 10.96.0.10 80
	[[ $(probe_reply_count pod-2) == 1 ]] && break
	sleep 0.1
done
log "10.96.0.10:80 went to evil/grab after $k tries"
served_by pod-2 10.96.0.10 80 40
served_by pod-2 "$NODE_IP4" 30080 40

finish
