#!/usr/bin/env bash
# nftproxy in one command: installs what is missing (Debian), builds, and runs
# nftproxy in a throw-away sandbox of network namespaces -- a node, an outside
# client and three backend pods -- serving manifests/examples/demo-web.yaml.
# It sends real requests through the service's ClusterIPs, shows which pod
# answered each, prints `nftproxyctl dump`, and removes the sandbox again.
# The host's own network and ruleset are never touched.
#
#   sudo scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
source scripts/common.sh

if [[ $(id -u) != 0 ]]; then
	echo "scripts/demo.sh needs root (network namespaces, nf_tables): sudo scripts/demo.sh" >&2
	exit 1
fi
nftp_install_packages
nftp_build "$NFTP_REPO/build"

export BUILD_DIR="$NFTP_REPO/build"
# The test harness builds the sandbox and removes it on every exit path.
source tests/integration/lib.sh
nftp_require

nftp_say "sandbox: node, client and 3 pod network namespaces (prefix $PFX)"
topo_create 3
pod_serve_all 8080 5353
cp manifests/examples/demo-web.yaml manifests/examples/demo-node.yaml "$MANIFESTS/"
nftp_say "manifests: manifests/examples/demo-web.yaml (NodePort Service demo/web and its EndpointSlices), demo-node.yaml (Node node-1)"

nftp_say "nftproxy --manifests $MANIFESTS --hostname-override node-1 --cluster-cidr 10.244.0.0/16,fd00:10:244::/64   (in the node namespace; log: $TMP/nftproxy.log)"
nftproxy_start --hostname-override node-1 --cluster-cidr 10.244.0.0/16,fd00:10:244::/64
mapfile -t want < <(svc_expect demo web 10.96.0.10 fd00:10:96::10 "http:80:TCP:8080 dns:53:UDP:5353" "1 2 3")
wait_dump "${want[@]}"

# requests PROTO IP PORT N: N requests from the client, one line each.
requests() {
	local proto=$1 ip=$2 port=$3 n=$4 shown=$2
	[[ $ip == *:* ]] && shown="[$ip]"
	nftp_say "$n $proto requests to $shown:$port from the client namespace ($CLIENT_IP4 / $CLIENT_IP6)"
	probe_run "$CLIENT" --proto "$proto" --count "$n" --interval-ms 50 --trace "$ip" "$port"
	awk '$1 == "attempt" {
		r = $5; sub(/^reply=/, "", r); sub(/^result=/, "", $4); ms = $6; sub(/^ms=/, "", ms)
		printf "    request %2d -> %-8s (%s, %s ms)\n", $2, (r == "-" ? "no reply" : r), $4, ms
	}' <<<"$PROBE_OUT"
	echo "    answered: $(probe_replies)"
	((PROBE_RC == 0)) || fail "some requests were not answered: $(probe_summary)"
}
requests tcp 10.96.0.10 80 10
requests udp fd00:10:96::10 53 5
nftp_say "the node port: the node's address $NODE_IP4, port 30080"
requests tcp "$NODE_IP4" 30080 5

nftp_say "nftproxyctl dump   (the service map, read back from the kernel)"
nftproxyctl dump | sed 's/^/    /'

nftp_say "the table's entry point: nft list chain inet nftproxy services"
ip netns exec "$NODE" nft list chain inet nftproxy services | sed 's/^/    /'

nftproxy_stop TERM
nftp_say "removing the sandbox"
