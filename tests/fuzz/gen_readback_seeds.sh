#!/usr/bin/env bash
# Records seeds for fuzz_readback: the kernel's answers when nftproxyctl
# dump reads a table that nftproxy made, in a throw-away cluster of network
# namespaces (tests/integration/lib.sh removes it on every exit). Needs root
# and the fuzz build (for readback_seed):
#
#   BUILD_DIR=/tmp/build-fuzz tests/fuzz/gen_readback_seeds.sh [OUT_DIR]
#
# OUT_DIR defaults to tests/fuzz/corpus/readback. Each seed stays well under
# 64 KiB.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../integration/lib_cluster.sh"
OUT=$(cd "${1:-$NFTP_REPO/tests/fuzz/corpus/readback}" && pwd)
SEED=${SEED:-$BUILD_DIR/tests/fuzz/readback_seed}
[[ -x $SEED ]] || fail "$SEED is missing: build with -Dfuzz=true (tests/fuzz/README.md)"
nftp_require

record() {
	ip netns exec "$NODE" "$SEED" "${2:-nftproxy}" >"$OUT/$1" || fail "readback_seed $1"
	log "recorded $1 ($(stat -c %s "$OUT/$1") bytes)"
}

topo_create 2
topo_add_node2 1
node_manifest node-1 zone-a | manifest_put node.yaml
# No table yet: the answer to the first request is an error.
ip netns exec "$NODE" "$SEED" >"$OUT/no-table.bin" 2>/dev/null || true

# The services of test_dump_features: LoadBalancer with everything, a
# service without endpoints, one with only remote endpoints under Local.
P="http:80:TCP:8080:30380"
{
	svc_full_yaml ns=demo name=lb type=LoadBalancer ips=10.96.0.80 ports="$P" \
		externalIPs=203.0.113.81 lbIPs=203.0.113.80 lbRanges=198.51.100.0/24 \
		etp=Local itp=Cluster affinity=ClientIP timeout=300
	cluster_slices demo lb "$P" "1 2 n2:1"
} | manifest_put lb.yaml
{
	svc_full_yaml ns=demo name=plain ips=10.96.0.82 ports="http:80:TCP:8080"
	cluster_slices demo plain "http:80:TCP:8080" ""
	svc_full_yaml ns=demo name=onlyremote ips=10.96.0.83 ports="http:80:TCP:8080" itp=Local
	cluster_slices demo onlyremote "http:80:TCP:8080" "n2:1"
} | manifest_put more.yaml
nftproxy_start --hostname-override node-1
wait_dump_svc demo/lb demo/onlyremote
record daemon-features.bin

# Dual stack, UDP and SCTP, several ports, a NodePort.
svc_manifest demo web 10.96.0.10 fd00:10:96::10 "http:80:TCP:8080 dns:53:UDP:5353" "1 2" |
	manifest_put web.yaml
{
	svc_full_yaml ns=other name=np type=NodePort ips=10.96.0.90 \
		ports="a:9000:TCP:9000:30900 s:9001:SCTP:9000"
	cluster_slices other np "a:9000:TCP:9000:30900 s:9001:SCTP:9000" "1"
} | manifest_put np.yaml
wait_dump_svc demo/web other/np
record daemon-dualstack.bin
nftproxy_stop
finish
