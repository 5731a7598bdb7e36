# shellcheck shell=bash
# A second node, external addresses and richer manifests for the tests of
# node ports, load balancers, external IPs and traffic policies. Sourced
# after lib.sh:
#
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/lib_cluster.sh"
#   nftp_require
#   topo_create 2; topo_add_node2 2   # node-1 with pods 1..2, node-2 with pods 1..2
#   pod_serve_all --show-peer; pod2_serve_all --show-peer
#   node_manifest node-1 zone-a | manifest_put node.yaml
#   svc_full_yaml ns=demo name=web type=NodePort ips=10.96.0.20 \
#           ports="http:80:TCP:8080:30080" | manifest_put web.yaml
#   slice_full_yaml ns=demo svc=web slice=web-v4 family=IPv4 ports="http:8080:TCP" \
#           eps="10.244.1.1@node-1 10.244.2.1@node-2" | manifest_put web-v4.yaml
#   nftproxy_start --hostname-override node-1
#
# Topology added to lib.sh's (nftproxy runs on "node", which is node-1):
#
#   client ns  eth0 192.0.2.2/24 2001:db8:0:2::2/64 (+ client_add_ip)
#                also routes 203.0.113.0/24, 2001:db8:ff::/64 (LB and external
#                IPs) and 198.51.100.0/24, 2001:db8:0:3::/64 via node
#   node ns    vnode2 198.51.100.1/24 2001:db8:0:3::1/64 (the node's second
#                address, outside the default --nodeport-addresses "primary")
#              routes 10.244.2.0/24, fd00:10:244::2:0/112 via node2
#              203.0.113.0/24, 2001:db8:ff::/64 routed into svc0 like the
#                service CIDRs: LB / external IP traffic nothing DNATs dies
#                there (a timeout), and the node's own processes find a route
#   node2 ns   eth0 198.51.100.2/24 2001:db8:0:3::2/64, default via node;
#              forwarding on; vpodI: 10.244.0.1/32, fd00:10:244::1/128, fe80::1
#   n2pod I ns eth0 10.244.2.I/32 fd00:10:244::2:I/128, default via 10.244.0.1 / fe80::1
#
# node2 runs no proxy: it only routes for its pods (podserver "n2pod-I").

NODE2="$PFX-node2"
NPODS2=0
NODE_ALT_IP4=198.51.100.1
NODE_ALT_IP6=2001:db8:0:3::1
NODE2_IP4=198.51.100.2
NODE2_IP6=2001:db8:0:3::2
NFTP_TOPO_EXTERNAL=0

pod2_ip4() { echo "10.244.2.$1"; }
pod2_ip6() { echo "fd00:10:244::2:$1"; }
pod2_ns() { echo "$PFX-n2pod$1"; }

# ---------------------------------------------------------------------------
# Topology

# topo_external: the client's routes to the LB / external IP ranges and to the
# node's second network, and the node's sink routes for the LB / external IP
# ranges. Needs topo_create first; topo_add_node2 calls it; runs once.
topo_external() {
	((NFTP_TOPO_EXTERNAL)) && return 0
	NFTP_TOPO_EXTERNAL=1
	ip -n "$CLIENT" route add 203.0.113.0/24 via "$NODE_IP4"
	ip -n "$CLIENT" route add 198.51.100.0/24 via "$NODE_IP4"
	ip -n "$CLIENT" -6 route add 2001:db8:ff::/64 via "$NODE_IP6"
	ip -n "$CLIENT" -6 route add 2001:db8:0:3::/64 via "$NODE_IP6"
	ip -n "$NODE" route add 203.0.113.0/24 dev svc0 src "$NODE_IP4"
	ip -n "$NODE" -6 route add 2001:db8:ff::/64 dev svc0 src "$NODE_IP6"
}

# topo_add_node2 N: node2 with N pods behind it (see the picture above).
topo_add_node2() {
	local n=$1 i ns
	[[ -n $NODE ]] && ip netns list | grep -qw "^$NODE" || fail "topo_add_node2: run topo_create first"
	NPODS2=$n
	topo_external
	ns_add "$NODE2"
	ns_sysctl "$NODE2" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	ns_sysctl_try "$NODE2" net.ipv4.conf.all.accept_redirects=0 net.ipv4.conf.default.accept_redirects=0 \
		net.ipv6.conf.all.accept_redirects=0 net.ipv6.conf.default.accept_redirects=0
	# Traffic from node2 that node DNATs back to a pod of node2 leaves by the
	# link it came in on: no ICMP redirect, node stays on the path (conntrack).
	ns_sysctl_try "$NODE" net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0

	ip -n "$NODE" link add vnode2 type veth peer name eth0 netns "$NODE2"
	ns_sysctl_try "$NODE" net.ipv4.conf.vnode2.send_redirects=0 net.ipv4.conf.vnode2.rp_filter=0
	ip -n "$NODE" addr add "$NODE_ALT_IP4/24" dev vnode2
	ip -n "$NODE" addr add "$NODE_ALT_IP6/64" dev vnode2 nodad
	ip -n "$NODE" link set vnode2 up
	ip -n "$NODE2" addr add "$NODE2_IP4/24" dev eth0
	ip -n "$NODE2" addr add "$NODE2_IP6/64" dev eth0 nodad
	ip -n "$NODE2" link set eth0 up
	ip -n "$NODE2" route add default via "$NODE_ALT_IP4"
	ip -n "$NODE2" -6 route add default via "$NODE_ALT_IP6"
	ip -n "$NODE" route add 10.244.2.0/24 via "$NODE2_IP4"
	ip -n "$NODE" -6 route add fd00:10:244::2:0/112 via "$NODE2_IP6"

	for ((i = 1; i <= n; i++)); do
		pod_wire "$NODE2" "$(pod2_ns "$i")" "vpod$i" "$(pod2_ip4 "$i")" "$(pod2_ip6 "$i")"
	done
	log "topology: node2 $NODE2 ($NODE2_IP4, $NODE2_IP6), $n pods ($(pod2_ns 1) ...)"
}

# client_add_ip IP/PREFIX: one more address on the client's eth0 (a second
# source, for probe --source).
client_add_ip() {
	if [[ $1 == *:* ]]; then
		ip -n "$CLIENT" addr add "$1" dev eth0 nodad
	else
		ip -n "$CLIENT" addr add "$1" dev eth0
	fi
}

# pod2_serve I [--show-peer] [PORT...]: podserver "n2pod-I" in node2's pod I,
# as pod_serve does for the node's pods.
pod2_serve() {
	local i=$1
	shift
	podserver_in "$(pod2_ns "$i")" "n2pod-$i" "$@"
}

pod2_serve_all() {
	local i
	for ((i = 1; i <= NPODS2; i++)); do pod2_serve "$i" "$@"; done
}

# ---------------------------------------------------------------------------
# Manifests

# node_manifest NAME ZONE: the Node nftproxy runs as (--hostname-override NAME):
# InternalIPs 192.0.2.1 and 2001:db8:0:2::1, podCIDRs 10.244.1.0/24 and
# fd00:10:244::1:0/112, zone label ZONE ("" leaves the label out).
node_manifest() {
	local name=$1 zone=${2:-}
	cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $name
  labels:
    kubernetes.io/hostname: $name
EOF
	[[ -n $zone ]] && echo "    topology.kubernetes.io/zone: $zone"
	cat <<EOF
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs:
  - 10.244.1.0/24
  - fd00:10:244::1:0/112
status:
  addresses:
  - type: InternalIP
    address: $NODE_IP4
  - type: InternalIP
    address: $NODE_IP6
  - type: Hostname
    address: $name
EOF
}

# Splits "a,b c" (commas or blanks) into words, one per line.
cl_words() { tr ', ' '\n\n' <<<"$1" | { grep -v '^$' || true; }; }

# svc_full_yaml KEY=VALUE...: a Service. Keys:
#   ns name (required); type (ClusterIP | NodePort | LoadBalancer, default
#   ClusterIP); ips: cluster IPs, comma separated, primary first (default
#   none: no clusterIP field; "None" makes it headless);
#   ports: NAME:PORT:PROTO:TARGET[:NODEPORT] ... (an empty NAME: unnamed);
#   externalIPs: IPs; lbIPs: status.loadBalancer.ingress IPs, each IP or
#   IP/Proxy or IP/VIP (ipMode); lbRanges: loadBalancerSourceRanges CIDRs;
#   etp / itp: externalTrafficPolicy / internalTrafficPolicy (Cluster|Local);
#   hcnp: healthCheckNodePort; affinity: sessionAffinity (ClientIP|None);
#   timeout: sessionAffinityConfig.clientIP.timeoutSeconds;
#   annotations: K=V ... (blank separated); families: ipFamilies (default
#   from ips); policy: ipFamilyPolicy (default from ips).
# Lists take commas or blanks.
svc_full_yaml() {
	local kv k v ns="" name="" type=ClusterIP ips="" ports="" ext="" lbips="" lbranges=""
	local etp="" itp="" hcnp="" affinity="" timeout="" annotations="" families="" policy=""
	local ip p pname pport pproto ptarget pnode a mode
	for kv in "$@"; do
		[[ $kv == *=* ]] || fail "svc_full_yaml: not KEY=VALUE: $kv"
		k=${kv%%=*}
		v=${kv#*=}
		case $k in
		ns) ns=$v ;;
		name) name=$v ;;
		type) type=$v ;;
		ips) ips=$v ;;
		ports) ports=$v ;;
		externalIPs) ext=$v ;;
		lbIPs) lbips=$v ;;
		lbRanges) lbranges=$v ;;
		etp) etp=$v ;;
		itp) itp=$v ;;
		hcnp) hcnp=$v ;;
		affinity) affinity=$v ;;
		timeout) timeout=$v ;;
		annotations) annotations=$v ;;
		families) families=$v ;;
		policy) policy=$v ;;
		*) fail "svc_full_yaml: unknown key $k" ;;
		esac
	done
	[[ -n $ns && -n $name ]] || fail "svc_full_yaml: ns= and name= are required"
	local -a iplist=() fams=()
	mapfile -t iplist < <(cl_words "$ips")
	if [[ -n $families ]]; then
		mapfile -t fams < <(cl_words "$families")
	else
		for ip in "${iplist[@]}"; do
			[[ $ip == None ]] && continue
			if [[ $ip == *:* ]]; then fams+=(IPv6); else fams+=(IPv4); fi
		done
	fi
	if [[ -z $policy ]] && ((${#fams[@]})); then
		if ((${#fams[@]} > 1)); then policy=RequireDualStack; else policy=SingleStack; fi
	fi
	cat <<EOF
apiVersion: v1
kind: Service
metadata:
  name: $name
  namespace: $ns
EOF
	if [[ -n $annotations ]]; then
		echo "  annotations:"
		for a in $annotations; do
			printf '    %s: "%s"\n' "${a%%=*}" "${a#*=}"
		done
	fi
	echo "spec:"
	echo "  type: $type"
	if ((${#iplist[@]})); then
		echo "  clusterIP: ${iplist[0]}"
		echo "  clusterIPs:"
		for ip in "${iplist[@]}"; do echo "  - $ip"; done
	fi
	[[ -n $policy ]] && echo "  ipFamilyPolicy: $policy"
	if ((${#fams[@]})); then
		echo "  ipFamilies:"
		for ip in "${fams[@]}"; do echo "  - $ip"; done
	fi
	if [[ -n $ext ]]; then
		echo "  externalIPs:"
		for ip in $(cl_words "$ext"); do echo "  - $ip"; done
	fi
	if [[ -n $lbranges ]]; then
		echo "  loadBalancerSourceRanges:"
		for ip in $(cl_words "$lbranges"); do echo "  - $ip"; done
	fi
	[[ -n $etp ]] && echo "  externalTrafficPolicy: $etp"
	[[ -n $itp ]] && echo "  internalTrafficPolicy: $itp"
	[[ -n $hcnp ]] && echo "  healthCheckNodePort: $hcnp"
	if [[ -n $affinity ]]; then
		echo "  sessionAffinity: $affinity"
		if [[ -n $timeout ]]; then
			printf '  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: %s\n' "$timeout"
		fi
	fi
	if [[ -n $ports ]]; then
		echo "  ports:"
		for p in $ports; do
			IFS=: read -r pname pport pproto ptarget pnode <<<"$p"
			[[ -n $pname ]] && echo "  - name: $pname" || echo "  -"
			echo "    port: $pport"
			echo "    protocol: $pproto"
			echo "    targetPort: $ptarget"
			[[ -n $pnode ]] && echo "    nodePort: $pnode"
		done
	else
		echo "  ports: []"
	fi
	if [[ -n $lbips ]]; then
		printf 'status:\n  loadBalancer:\n    ingress:\n'
		for ip in $(cl_words "$lbips"); do
			mode=""
			[[ $ip == */* ]] && mode=${ip#*/} && ip=${ip%%/*}
			echo "    - ip: $ip"
			[[ -n $mode ]] && echo "      ipMode: $mode"
		done
	fi
	return 0
}

# slice_full_yaml KEY=VALUE...: an EndpointSlice. Keys: ns svc slice family
# (IPv4|IPv6) ports (NAME:PORT:PROTO ..., as slice_yaml) eps: endpoints,
# blank separated, each
#   IP[@NODENAME[@ZONE[@hints=Z1+Z2]]][/STATE]
# STATE: ready (default) | notready | terminating (not ready, serving) |
# notserving (terminating, neither ready nor serving) | noconditions.
# An empty NODENAME or ZONE leaves the field out; eps="" gives an empty list.
slice_full_yaml() {
	local kv k v ns="" svc="" slice="" fam="" ports="" eps="" p pname pport pproto
	local e addr state node zone hints rest z
	for kv in "$@"; do
		[[ $kv == *=* ]] || fail "slice_full_yaml: not KEY=VALUE: $kv"
		k=${kv%%=*}
		v=${kv#*=}
		case $k in
		ns) ns=$v ;;
		svc) svc=$v ;;
		slice) slice=$v ;;
		family) fam=$v ;;
		ports) ports=$v ;;
		eps) eps=$v ;;
		*) fail "slice_full_yaml: unknown key $k" ;;
		esac
	done
	[[ -n $ns && -n $svc && -n $fam ]] || fail "slice_full_yaml: ns=, svc= and family= are required"
	[[ -n $slice ]] || slice="$svc-${fam,,}"
	cat <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $slice
  namespace: $ns
  labels:
    kubernetes.io/service-name: $svc
addressType: $fam
EOF
	if [[ -n $ports ]]; then
		echo "ports:"
		for p in $ports; do
			IFS=: read -r pname pport pproto <<<"$p"
			[[ -n $pname ]] && echo "- name: $pname" || echo "- name: \"\""
			echo "  port: $pport"
			echo "  protocol: $pproto"
		done
	else
		echo "ports: []"
	fi
	if [[ -z $eps ]]; then
		echo "endpoints: []"
		return 0
	fi
	echo "endpoints:"
	for e in $eps; do
		state=ready
		if [[ $e == */* ]]; then
			state=${e##*/}
			e=${e%/*}
		fi
		IFS=@ read -r addr node zone rest <<<"$e"
		hints=""
		[[ $rest == hints=* ]] && hints=${rest#hints=}
		[[ -z $rest || -n $hints ]] || fail "slice_full_yaml: bad endpoint field '$rest' in $e"
		echo "- addresses:"
		echo "  - \"$addr\""
		echo "  conditions:"
		case $state in
		ready) echo "    ready: true" ;;
		notready) echo "    ready: false" ;;
		terminating) printf '    ready: false\n    serving: true\n    terminating: true\n' ;;
		notserving) printf '    ready: false\n    serving: false\n    terminating: true\n' ;;
		noconditions) echo "    {}" ;;
		*) fail "slice_full_yaml: unknown endpoint state $state" ;;
		esac
		[[ -n $node ]] && echo "  nodeName: $node"
		[[ -n $zone ]] && echo "  zone: $zone"
		if [[ -n $hints ]]; then
			echo "  hints:"
			echo "    forZones:"
			for z in ${hints//+/ }; do echo "    - name: $z"; done
		fi
	done
	return 0
}

# cl_ep FAMILY ITEM: an endpoint for slice_full_yaml from a pod reference:
# "I" is pod I of node-1, "n2:I" pod I of node-2, either with an optional
# /STATE ("n2:1/terminating"). FAMILY: 4 or 6. Prints IP@NODENAME[/STATE].
cl_ep() {
	local fam=$1 item=$2 st="" i ip node=node-1
	if [[ $item == */* ]]; then
		st="/${item#*/}"
		item=${item%%/*}
	fi
	i=$item
	if [[ $item == n2:* ]]; then
		i=${item#n2:}
		node=node-2
		if [[ $fam == 6 ]]; then ip=$(pod2_ip6 "$i"); else ip=$(pod2_ip4 "$i"); fi
	else
		if [[ $fam == 6 ]]; then ip=$(pod_ip6 "$i"); else ip=$(pod_ip4 "$i"); fi
	fi
	echo "$ip@$node$st"
}

# cluster_slices NS SVC SVCPORTS PODS: an IPv4 and an IPv6 EndpointSlice
# (SVC-v4, SVC-v6), each after a "---" line, for the service ports SVCPORTS
# (NAME:PORT:PROTO:TARGET[:NODEPORT] ..., as for svc_full_yaml) and the pods
# PODS ("1 2 n2:1 n2:2/notready", see cl_ep; "" = no endpoints).
cluster_slices() {
	local ns=$1 svc=$2 ports=$3 pods=$4 p pname pport pproto ptarget sports="" fam item eps
	for p in $ports; do
		IFS=: read -r pname pport pproto ptarget _ <<<"$p"
		sports+=" $pname:$ptarget:$pproto"
	done
	for fam in 4 6; do
		eps=""
		for item in $pods; do eps+=" $(cl_ep "$fam" "$item")"; done
		echo "---"
		slice_full_yaml ns="$ns" svc="$svc" slice="$svc-v$fam" family="IPv$fam" \
			ports="$sports" eps="${eps# }"
	done
}

# cluster_expect NS SVC IP4 IP6 SVCPORTS PODS: the dump lines (see dump_lines)
# of the cluster IPs IP4 / IP6 ("" leaves one out) of a service with
# cluster_slices' endpoints: those without a /STATE (ready ones).
cluster_expect() {
	local ns=$1 svc=$2 ip4=$3 ip6=$4 ports=$5 pods=$6 p pname pport pproto ptarget ip item list fam
	for p in $ports; do
		IFS=: read -r pname pport pproto ptarget _ <<<"$p"
		for ip in $ip4 $ip6; do
			fam=4
			[[ $ip == *:* ]] && fam=6
			list=""
			for item in $pods; do
				[[ $item == */* ]] && continue
				list+="$(cl_ep "$fam" "$item" | cut -d@ -f1):$ptarget"$'\n'
			done
			list=$(printf '%s' "$list" | LC_ALL=C sort | paste -sd, -)
			printf '%s/%s %s %s %s %s -> %s\n' "$ns" "$svc" "${pname:--}" \
				"${pproto,,}" "$ip" "$pport" "$list"
		done
	done
}

# wait_dump_svc [--timeout S] NS/NAME...: polls the dump until it has a line
# for each service (whatever its endpoints): the daemon's rules for it are in
# the kernel (one sync is one transaction).
wait_dump_svc() {
	local timeout=10 got svc missing k
	if [[ $1 == --timeout ]]; then
		timeout=$2
		shift 2
	fi
	timeout=$(nftp_scaled "$timeout")
	for ((k = 0; k < timeout * 10; k++)); do
		got=$(dump_lines 2>/dev/null) || got=""
		missing=""
		for svc in "$@"; do
			grep -q "^$svc " <<<"$got" || missing+=" $svc"
		done
		[[ -z $missing ]] && return 0
		nftproxy_check_running
		sleep 0.1
	done
	fail "the dump has no line for:$missing after $timeout s; got:
$got"
}

# nftproxy_fresh ARGS...: stops nftproxy, deletes its table and the node's
# conntrack entries, and starts it again with ARGS: the next wait_dump* then
# sees rules made by the new flags only.
nftproxy_fresh() {
	nftproxy_stop
	ip netns exec "$NODE" nft delete table inet "$NFTPROXY_TABLE" 2>/dev/null || true
	ct_flush
	nftproxy_start "$@"
}

# ct_flush: forgets the node's connection tracking entries (when conntrack is
# installed), so earlier flows do not keep an earlier NAT decision.
ct_flush() {
	command -v conntrack >/dev/null || return 0
	ip netns exec "$NODE" conntrack -F >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------------------
# Probing

# probe_peers [OUTPUT]: "pod-1@192.0.2.2=20 n2pod-1@198.51.100.1=9 ..." (sorted):
# the source addresses the pods saw (replies of podserver --show-peer).
probe_peers() {
	awk '$1 == "peer" && NF == 4 { print $2 "@" $3 "=" $4 }' <<<"${1:-$PROBE_OUT}" |
		LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}

# assert_peers_only ADDR...: every reply of the last probe_run named a source
# address among ADDR... (and there were replies with a peer).
assert_peers_only() {
	local got bad="" a
	got=$(awk '$1 == "peer" && NF == 4 { print $3 }' <<<"$PROBE_OUT" | sort -u)
	for a in $got; do
		[[ " $* " == *" $a "* ]] || bad+=" $a"
	done
	if [[ -n $got && -z $bad ]]; then
		pass "$PROBE_DESC: the pods saw sources {$(echo $got)} within {$*}: $(probe_peers)"
	else
		check_failed "$PROBE_DESC: expected the pods to see only sources {$*}; got ${got:+$(probe_peers)}${got:-no peer lines (podserver --show-peer?)}${bad:+ (unexpected:$bad)}"
	fi
}

# assert_probe_timeout: every attempt of the last probe_run timed out (the
# traffic was dropped silently: no reply, no reset, no ICMP error).
assert_probe_timeout() {
	local n to
	n=$(probe_get attempts)
	to=$(probe_get timeout)
	if ((n > 0 && to == n)); then
		pass "$PROBE_DESC: all $n dropped (timeout)"
	else
		check_failed "$PROBE_DESC: expected every attempt dropped (timeout, not refused or answered), got $(probe_summary)
$PROBE_ERR"
	fi
}

# assert_probe_not_served: no attempt of the last probe_run was answered
# (refused, unreachable or timed out: not DNATed to a pod).
assert_probe_not_served() {
	local n ok
	n=$(probe_get attempts)
	ok=$(probe_get ok)
	if ((n > 0 && ok == 0)); then
		pass "$PROBE_DESC: not served: $(probe_summary)"
	else
		check_failed "$PROBE_DESC: expected no answer from any pod, got $(probe_summary)"
	fi
}

# wait_probe NS RESULT TIMEOUT_S PROBEARGS...: single probes (timeout 300 ms,
# unless PROBEARGS set one) until one ends as RESULT (ok, refused, timeout,
# unreachable), e.g. to know a change reached the kernel when the dump cannot
# tell; fails after TIMEOUT_S seconds with the last outcome.
wait_probe() {
	local ns=$1 want=$2 timeout=$3 out="" t0 k
	shift 3
	timeout=$(nftp_scaled "$timeout")
	t0=$(date +%s)
	for ((k = 0; ; k++)); do
		out=$(ip netns exec "$ns" "$PROBE" --timeout-ms 300 --expect any "$@" 2>/dev/null) || true
		(($(probe_get "$want" "$out") > 0)) && return 0
		nftproxy_check_running
		(($(date +%s) - t0 >= timeout)) && break
		sleep 0.1
	done
	fail "probe in ${ns#"$PFX"-} $* did not end as '$want' within $timeout s; last: $(tr '\n' ' ' <<<"$out")"
}

# http_get NS URL: curl in NS (2 s timeout); sets HTTP_CODE ("000" when no
# HTTP answer) and HTTP_BODY.
http_get() {
	local ns=$1 url=$2 out
	command -v curl >/dev/null || skip "needs curl"
	out=$(ip netns exec "$ns" curl -sS --max-time 2 -o "$TMP/http.body" -w '%{http_code}' "$url" 2>"$TMP/http.err") || true
	HTTP_CODE=${out:-000}
	HTTP_BODY=$(cat "$TMP/http.body" 2>/dev/null || true)
	rm -f "$TMP/http.body"
}
