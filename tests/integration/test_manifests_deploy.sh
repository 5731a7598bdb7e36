#!/usr/bin/env bash
# The deployment of issue 6: manifests/ renders with `kubectl kustomize`, the
# real kubectl applies it to the test API server, and every object reads back
# as written: RBAC exactly the least-privilege set (each rule expanded and
# checked), the DaemonSet's host network, priority, tolerations, update
# strategy, probes, capabilities and config mount, the ConfigMap a
# KubeProxyConfiguration that nftproxy's parser accepts (--init-only) and
# whose paths meet the mount. Re-applying changes nothing; an overlay (image,
# config, a flag) changes only what it names; delete removes everything.
#
# Then the pod as the DaemonSet describes it, without a kubelet: nftproxy as
# uid 65534 with CAP_NET_ADMIN as its only capability (a file capability, as
# packaging/Containerfile sets it), the DaemonSet's args and the ConfigMap's
# files, against the test API server, programs its table, and the probes'
# paths answer 200 on the probes' port. Controls: without the file
# capability, or under no_new_privs after an exec that cleared the
# capabilities, netlink refuses (why allowPrivilegeEscalation stays true);
# without NET_ADMIN in the bounding set the binary does not even execute; an
# ambient capability under no_new_privs works (packaging/nftproxy.service).
#
# Last, packaging lint: the unit passes `systemd-analyze verify`, grants the
# DaemonSet's capability and passes only flags honoured with --config, and
# the Containerfile's runtime stage installs the package of every shared
# library the binaries link.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_api.sh"
nftp_require
api_require

MDIR="$NFTP_REPO/manifests"
ns_add "$NODE"
api_start

# kget KIND NAME JSONPATH [ARGS]: one field of an object in kube-system.
kget() {
	local kind=$1 name=$2 jp=$3
	shift 3
	kube get -n kube-system "$kind" "$name" -o "jsonpath=$jp" "$@"
}

# assert_has WHAT LINE TEXT: TEXT has LINE as one of its lines.
assert_has() {
	if grep -qxF -- "$2" <<<"$3"; then
		pass "$1: $2"
	else
		check_failed "$1: no line '$2' in:
$3"
	fi
}

# jp_split NAME JSON: the array NAME gets the strings of a kubectl jsonpath
# array (["","events.k8s.io"]: an empty string and events.k8s.io). Values
# here hold no comma or quote.
jp_split() {
	local -n jp_out=$1
	local s=$2 e
	local -a parts=()
	jp_out=()
	s=${s#[}
	s=${s%]}
	[[ -n $s ]] || return 0
	IFS=, read -ra parts <<<"$s"
	for e in "${parts[@]}"; do jp_out+=("${e//\"/}"); done
}

# has_line TEXT PATTERN: 1 when a line of TEXT matches the ERE, else 0.
has_line() { grep -qE -- "$2" <<<"$1" && echo 1 || echo 0; }

section "kubectl kustomize renders manifests/"
rendered=$(kubectl kustomize "$MDIR" 2>&1) || fail "kubectl kustomize $MDIR failed: $rendered"
assert_eq "the objects rendered" "ClusterRole ClusterRoleBinding ConfigMap DaemonSet ServiceAccount" \
	"$(grep '^kind: ' <<<"$rendered" | awk '{ print $2 }' | LC_ALL=C sort | xargs)"
assert_eq "the image from the kustomization" "nftproxy:0.1.0" \
	"$(grep -E '^ +image: ' <<<"$rendered" | awk '{ print $2 }')"
assert_eq "nothing of manifests/examples rendered" 0 "$(grep -cE '^kind: (Service|EndpointSlice|Node)$' <<<"$rendered" || true)"

section "kubectl apply"
out=$(kube apply -f - <<<"$rendered" 2>&1) || fail "kubectl apply failed: $out"
for l in serviceaccount/nftproxy clusterrole.rbac.authorization.k8s.io/nftproxy \
	clusterrolebinding.rbac.authorization.k8s.io/nftproxy configmap/nftproxy daemonset.apps/nftproxy; do
	assert_has "apply" "$l created" "$out"
done

section "ServiceAccount and ClusterRoleBinding"
assert_eq "ServiceAccount" "kube-system/nftproxy" "$(kget serviceaccount nftproxy '{.metadata.namespace}/{.metadata.name}')"
assert_eq "binding's role" "rbac.authorization.k8s.io ClusterRole nftproxy" \
	"$(kube get clusterrolebinding nftproxy -o 'jsonpath={.roleRef.apiGroup} {.roleRef.kind} {.roleRef.name}')"
assert_eq "binding's subjects: the ServiceAccount only" "ServiceAccount kube-system nftproxy" \
	"$(kube get clusterrolebinding nftproxy -o 'jsonpath={range .subjects[*]}{.kind} {.namespace} {.name}{"\n"}{end}')"

section "ClusterRole: least privilege, rule by rule"
rules=$(kube get clusterrole nftproxy -o 'jsonpath={range .rules[*]}{.apiGroups}|{.resources}|{.verbs}|{.resourceNames}|{.nonResourceURLs}{"\n"}{end}')
# What nftproxy may do at most (kube-proxy's reads without Endpoints, plus
# "get" on the three it reads), and what it must be able to do.
declare -A allowed=()
for g_r in "/services" "/nodes" "discovery.k8s.io/endpointslices"; do
	for v in list watch get; do allowed["$g_r:$v"]=1; done
done
for g in "" events.k8s.io; do
	for v in create patch; do allowed["$g/events:$v"]=1; done
done
granted=()
groups_l=() res_l=() verb_l=()
bad=0
while IFS='|' read -r groups resources verbs names urls; do
	[[ -n $groups$resources$verbs ]] || continue
	if [[ -n $names || -n $urls ]]; then
		check_failed "a rule with resourceNames or nonResourceURLs: $names $urls"
		bad=1
	fi
	jp_split groups_l "$groups"
	jp_split res_l "$resources"
	jp_split verb_l "$verbs"
	for g in "${groups_l[@]}"; do
		for r in "${res_l[@]}"; do
			for v in "${verb_l[@]}"; do
				t="$g/$r:$v"
				granted+=("$t")
				if [[ -z ${allowed[$t]:-} ]]; then
					check_failed "the ClusterRole grants $t, beyond least privilege"
					bad=1
				fi
			done
		done
	done
done <<<"$rules"
((bad)) || pass "every grant is within list/watch/get on services, endpointslices, nodes and create/patch on events (${#granted[@]} grants)"
assert_eq "the grants, exactly" \
	"/events:create /events:patch /nodes:list /nodes:watch /services:list /services:watch discovery.k8s.io/endpointslices:list discovery.k8s.io/endpointslices:watch events.k8s.io/events:create events.k8s.io/events:patch" \
	"$(printf '%s\n' "${granted[@]}" | LC_ALL=C sort -u | xargs)"
assert_eq "no wildcard anywhere" 0 "$(grep -c '\*' <<<"$rules" || true)"
assert_eq "no aggregation" "" "$(kube get clusterrole nftproxy -o 'jsonpath={.aggregationRule}')"

section "DaemonSet"
assert_eq "one container" "nftproxy" "$(kget ds nftproxy '{.spec.template.spec.containers[*].name}')"
assert_eq "selector selects the template" "nftproxy nftproxy" \
	"$(kget ds nftproxy '{.spec.selector.matchLabels.k8s-app} {.spec.template.metadata.labels.k8s-app}')"
assert_eq "host network" "true" "$(kget ds nftproxy '{.spec.template.spec.hostNetwork}')"
assert_eq "the node's resolver" "Default" "$(kget ds nftproxy '{.spec.template.spec.dnsPolicy}')"
assert_eq "priority class" "system-node-critical" "$(kget ds nftproxy '{.spec.template.spec.priorityClassName}')"
assert_eq "the priority class exists (built in)" "2000001000" "$(kube get priorityclass system-node-critical -o 'jsonpath={.value}')"
assert_eq "service account" "nftproxy" "$(kget ds nftproxy '{.spec.template.spec.serviceAccountName}')"
assert_eq "tolerations: everything, as kube-proxy" "Exists||" \
	"$(kget ds nftproxy '{range .spec.template.spec.tolerations[*]}{.operator}|{.key}|{.effect}{"\n"}{end}')"
assert_eq "linux nodes" "linux" "$(kget ds nftproxy '{.spec.template.spec.nodeSelector.kubernetes\.io/os}')"
assert_eq "update strategy" "RollingUpdate 1 0" \
	"$(kget ds nftproxy '{.spec.updateStrategy.type} {.spec.updateStrategy.rollingUpdate.maxUnavailable} {.spec.updateStrategy.rollingUpdate.maxSurge}')"
assert_eq "image" "nftproxy:0.1.0 IfNotPresent" "$(kget ds nftproxy '{.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].imagePullPolicy}')"
assert_eq "command" "/usr/local/bin/nftproxy" "$(kget ds nftproxy '{.spec.template.spec.containers[0].command[*]}')"
args=$(kget ds nftproxy '{range .spec.template.spec.containers[0].args[*]}{@}{"\n"}{end}')
assert_eq "args" '--config=/var/lib/nftproxy/config.conf --hostname-override=$(NODE_NAME) --cleanup-kube-proxy' "$(xargs <<<"$args")"
assert_eq "NODE_NAME from the pod's node" "NODE_NAME spec.nodeName" \
	"$(kget ds nftproxy '{range .spec.template.spec.containers[0].env[*]}{.name} {.valueFrom.fieldRef.fieldPath}{"\n"}{end}')"
assert_eq "readiness probe" "HTTP /healthz 10256" \
	"$(kget ds nftproxy '{.spec.template.spec.containers[0].readinessProbe.httpGet.scheme} {.spec.template.spec.containers[0].readinessProbe.httpGet.path} {.spec.template.spec.containers[0].readinessProbe.httpGet.port}')"
assert_eq "liveness probe" "HTTP /livez 10256" \
	"$(kget ds nftproxy '{.spec.template.spec.containers[0].livenessProbe.httpGet.scheme} {.spec.template.spec.containers[0].livenessProbe.httpGet.path} {.spec.template.spec.containers[0].livenessProbe.httpGet.port}')"
assert_eq "ports (host ports: host network)" "healthz 10256 10256 TCP,metrics 10249 10249 TCP," \
	"$(kget ds nftproxy '{range .spec.template.spec.containers[0].ports[*]}{.name} {.containerPort} {.hostPort} {.protocol},{end}')"
assert_eq "resource requests, no limits" "100m 64Mi " \
	"$(kget ds nftproxy '{.spec.template.spec.containers[0].resources.requests.cpu} {.spec.template.spec.containers[0].resources.requests.memory} {.spec.template.spec.containers[0].resources.limits}')"
sc='.spec.template.spec.containers[0].securityContext'
assert_eq "not privileged, not root" "false true 65534 65534" \
	"$(kget ds nftproxy "{$sc.privileged} {$sc.runAsNonRoot} {$sc.runAsUser} {$sc.runAsGroup}")"
assert_eq "file capabilities allowed, read-only root" "true true" \
	"$(kget ds nftproxy "{$sc.allowPrivilegeEscalation} {$sc.readOnlyRootFilesystem}")"
assert_eq "capabilities: NET_ADMIN only" "add NET_ADMIN drop ALL" \
	"$(kget ds nftproxy "add {$sc.capabilities.add[*]} drop {$sc.capabilities.drop[*]}")"
assert_eq "seccomp" "RuntimeDefault" "$(kget ds nftproxy '{.spec.template.spec.securityContext.seccompProfile.type}')"
assert_eq "no host path mounted" "config:" \
	"$(kget ds nftproxy '{range .spec.template.spec.volumes[*]}{.name}:{.hostPath.path}{end}')"
assert_eq "the ConfigMap mounted read-only" "config /var/lib/nftproxy true -> nftproxy" \
	"$(kget ds nftproxy '{.spec.template.spec.containers[0].volumeMounts[0].name} {.spec.template.spec.containers[0].volumeMounts[0].mountPath} {.spec.template.spec.containers[0].volumeMounts[0].readOnly} -> {.spec.template.spec.volumes[0].configMap.name}')"
assert_eq "generation" 1 "$(kget ds nftproxy '{.metadata.generation}')"

section "ConfigMap: a KubeProxyConfiguration, and the paths meet the mount"
assert_eq "ConfigMap keys" "config.conf kubeconfig.conf " \
	"$(kube get -n kube-system cm nftproxy -o 'go-template={{range $k, $v := .data}}{{$k}} {{end}}')"
conf=$(kget cm nftproxy '{.data.config\.conf}')
kcfg=$(kget cm nftproxy '{.data.kubeconfig\.conf}')
# top-level and nested scalars, read without a YAML tool: "key: value" at
# the given indentation, or under PARENT (one level).
yaml_top() { awk -v k="$1:" '$1 == k && /^[^ ]/ { sub(/^[^:]*: */, ""); print; exit }' <<<"$2"; }
yaml_under() { awk -v p="$1:" -v k="$2:" '$0 ~ "^" p "$" { inp = 1; next } /^[^ ]/ { inp = 0 } inp && $1 == k { print $2; exit }' <<<"$3"; }
assert_eq "apiVersion" "kubeproxy.config.k8s.io/v1alpha1" "$(yaml_top apiVersion "$conf")"
assert_eq "kind" "KubeProxyConfiguration" "$(yaml_top kind "$conf")"
assert_eq "mode" "nftables" "$(yaml_top mode "$conf")"
assert_eq "healthz address (the probes' port)" "0.0.0.0:10256" "$(yaml_top healthzBindAddress "$conf")"
assert_eq "metrics address" "127.0.0.1:10249" "$(yaml_top metricsBindAddress "$conf")"
cidr=$(yaml_top clusterCIDR "$conf")
if [[ $cidr =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+(,[0-9a-fA-F:]+/[0-9]+)?$ ]]; then
	pass "clusterCIDR is a CIDR: $cidr"
else
	check_failed "clusterCIDR '$cidr' is not a CIDR"
fi
kpath=$(yaml_under clientConnection kubeconfig "$conf")
assert_eq "the kubeconfig is in the mount, under a key of the ConfigMap" "/var/lib/nftproxy/kubeconfig.conf" "$kpath"
assert_eq "the --config file is a key of the ConfigMap" "config.conf" \
	"$(sed -n 's|^--config=/var/lib/nftproxy/||p' <<<"$args")"
assert_eq "kubeconfig: the service account's token and CA" \
	"/var/run/secrets/kubernetes.io/serviceaccount/token /var/run/secrets/kubernetes.io/serviceaccount/ca.crt" \
	"$(awk '$1 == "tokenFile:" { t = $2 } $1 == "certificate-authority:" { c = $2 } END { print t, c }' <<<"$kcfg")"
server=$(awk '$1 == "server:" { print $2 }' <<<"$kcfg")
assert_eq "kubeconfig server: the placeholder that never resolves" "https://control-plane.invalid:6443" "$server"
# nftproxy's own parser: the file is a KubeProxyConfiguration it accepts,
# and what it makes of it.
printf '%s\n' "$conf" >"$TMP/config.conf"
out=$("$NFTPROXY" --config "$TMP/config.conf" --init-only 2>&1) && rc=0 || rc=$?
if ((rc == 0)); then
	pass "nftproxy --config config.conf --init-only accepts it"
else
	check_failed "nftproxy --config config.conf --init-only: exit $rc: $out"
fi
"$NFTPROXY" --config "$TMP/config.conf" --write-config-to "$TMP/effective.yaml" >/dev/null 2>&1 ||
	check_failed "nftproxy --write-config-to failed"
eff=$(tr -d '"' <"$TMP/effective.yaml" 2>/dev/null || true)
assert_eq "effective: mode, healthz, metrics, cluster CIDR, kubeconfig" \
	"nftables 0.0.0.0:10256 127.0.0.1:10249 10.244.0.0/16 /var/lib/nftproxy/kubeconfig.conf" \
	"$(yaml_top mode "$eff") $(yaml_top healthzBindAddress "$eff") $(yaml_top metricsBindAddress "$eff") $(yaml_top clusterCIDR "$eff") $(yaml_under clientConnection kubeconfig "$eff")"

section "apply again: nothing changes"
rv0=$(api_stat .resourceVersion)
out=$(kube apply -k "$MDIR" 2>&1) || fail "kubectl apply -k failed: $out"
assert_eq "every object unchanged" 5 "$(grep -c ' unchanged$' <<<"$out" || true)"
assert_eq "no write" "$rv0" "$(api_stat .resourceVersion)"

section "an overlay: another image, another cluster CIDR, one more flag"
OV="$TMP/overlay"
mkdir -p "$OV"
{
	sed -n '/^data:/q; p' "$MDIR/configmap.yaml" | grep -v '^#'
	echo "data:"
	echo "  config.conf: |"
	sed 's/^clusterCIDR: .*/clusterCIDR: 10.42.0.0\/16,fd00:42::\/56/; s/^/    /' <<<"$conf"
} >"$OV/configmap.yaml"
cat >"$OV/kustomization.yaml" <<EOF
resources:
- $(realpath --relative-to="$OV" "$MDIR")
images:
- name: nftproxy
  newName: registry.example/nftproxy
  newTag: 0.2.0
patches:
- path: configmap.yaml
- target:
    kind: DaemonSet
    name: nftproxy
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --v=2
EOF
out=$(kube apply -k "$OV" 2>&1) || fail "kubectl apply -k overlay failed: $out"
assert_has "overlay" "daemonset.apps/nftproxy configured" "$out"
assert_has "overlay" "configmap/nftproxy configured" "$out"
assert_eq "the rest unchanged" 3 "$(grep -c ' unchanged$' <<<"$out" || true)"
assert_eq "new image" "registry.example/nftproxy:0.2.0" "$(kget ds nftproxy '{.spec.template.spec.containers[0].image}')"
assert_eq "args merged" '--config=/var/lib/nftproxy/config.conf --hostname-override=$(NODE_NAME) --cleanup-kube-proxy --v=2' \
	"$(kget ds nftproxy '{.spec.template.spec.containers[0].args[*]}')"
assert_eq "env, mounts, probes kept" "NODE_NAME /var/lib/nftproxy /livez" \
	"$(kget ds nftproxy '{.spec.template.spec.containers[0].env[0].name} {.spec.template.spec.containers[0].volumeMounts[0].mountPath} {.spec.template.spec.containers[0].livenessProbe.httpGet.path}')"
assert_eq "generation bumped" 2 "$(kget ds nftproxy '{.metadata.generation}')"
assert_eq "new cluster CIDR, the rest of the file kept" "10.42.0.0/16,fd00:42::/56 nftables" \
	"$(kget cm nftproxy '{.data.config\.conf}' | sed -n 's/^clusterCIDR: //p; s/^mode: //p' | xargs | awk '{ print $2, $1 }')"
assert_eq "the kubeconfig key kept" "https://control-plane.invalid:6443" \
	"$(kget cm nftproxy '{.data.kubeconfig\.conf}' | awk '$1 == "server:" { print $2 }')"
out=$(kube apply -k "$MDIR" 2>&1) || fail "kubectl apply -k (back) failed: $out"
assert_eq "back to the base: image" "nftproxy:0.1.0" "$(kget ds nftproxy '{.spec.template.spec.containers[0].image}')"
assert_eq "back to the base: args" '--config=/var/lib/nftproxy/config.conf --hostname-override=$(NODE_NAME) --cleanup-kube-proxy' \
	"$(kget ds nftproxy '{.spec.template.spec.containers[0].args[*]}')"

# The pod without a kubelet: needs setpriv (util-linux) to be another user
# and setcap/getcap (libcap2-bin) for the image's file capabilities.
run_pod() {
	section "the pod, as the DaemonSet runs it: uid 65534, CAP_NET_ADMIN alone"
	# The container's files: the ConfigMap's keys in the mount, the service
	# account's token and CA, the binaries with the image's file capability.
	# Paths move under $TMP/pod (the host's /var/lib is not ours to write); the
	# server is the test API server. uid 65534 must reach them.
	chmod 711 "$TMP"
	POD="$TMP/pod"
	install -d -m 0755 "$POD" "$POD/etc" "$POD/sa" "$POD/bin"
	install -m 0755 "$NFTPROXY" "$POD/bin/nftproxy"
	install -m 0755 "$NFTPROXYCTL" "$POD/bin/nftproxyctl"
	install -m 0755 "$NFTPROXYCTL" "$POD/bin/nftproxyctl-nocap"
	# the image's: "setcap CAPS /usr/local/bin/BINARY" in the Containerfile
	imgcap() { sed -n "s|.*setcap \(cap_[a-z_,]*+[eip]*\) /usr/local/bin/$1\( .*\)\{0,1\}$|\1|p" "$NFTP_REPO/packaging/Containerfile"; }
	assert_eq "the Containerfile's file capabilities" "cap_net_admin+ep cap_net_admin+ep" "$(imgcap nftproxy) $(imgcap nftproxyctl)"
	[[ -n $(imgcap nftproxy) && -n $(imgcap nftproxyctl) ]] || fail "no setcap of nftproxy and nftproxyctl in packaging/Containerfile"
	setcap "$(imgcap nftproxy)" "$POD/bin/nftproxy"
	setcap "$(imgcap nftproxyctl)" "$POD/bin/nftproxyctl"
	if [[ $(getcap "$POD/bin/nftproxy") != *cap_net_admin=ep* ]]; then
		log "SKIP part: this file system keeps no file capabilities ($TMP)"
		return 0
	fi
	install -m 0644 "$API_DIR/ca.crt" "$POD/sa/ca.crt"
	install -m 0644 "$API_DIR/token" "$POD/sa/token"
	podpath() { sed "s|/var/lib/nftproxy/|$POD/etc/|g; s|/var/run/secrets/kubernetes.io/serviceaccount/|$POD/sa/|g"; }
	podpath <<<"$conf" >"$POD/etc/config.conf"
	podpath <<<"$kcfg" | sed "s|https://control-plane.invalid:6443|$API_URL|" >"$POD/etc/kubeconfig.conf"
	chmod 0644 "$POD/etc/"*
	mapfile -t podargs < <(podpath <<<"$args" | sed 's/\$(NODE_NAME)/node-1/')

	kube_node_yaml node-1 zone-a "$NODE_IP4" | kube apply -f - >/dev/null
	svc_manifest demo web 10.96.0.10 "" "http:80:TCP:8080" "1 2" | kube apply -f - >/dev/null
	mapfile -t want < <(svc_expect demo web 10.96.0.10 "" "http:80:TCP:8080" "1 2")

	log "nftproxy ${podargs[*]}"
	NFTPROXY_LOG="$TMP/nftproxy.log"
	# The shell in between is executed as uid 65534 without file capabilities,
	# so it holds none when it executes nftproxy: like a runtime that clears a
	# non-root container's capabilities, the strictest case.
	bg_start "$NODE" "$NFTPROXY_LOG" setpriv --reuid 65534 --regid 65534 --clear-groups \
		--bounding-set -all,+net_admin -- sh -c 'exec "$@"' sh "$POD/bin/nftproxy" "${podargs[@]}" --v=2
	NFTPROXY_PID=$BG_PID
	wait_dump "${want[@]}"
	pass "uid 65534 with the file capability programmed table inet nftproxy"
	st=$(cat "/proc/$NFTPROXY_PID/status")
	assert_eq "its user" "65534" "$(awk '$1 == "Uid:" { print $2 }' <<<"$st")"
	assert_eq "its effective capabilities: CAP_NET_ADMIN (bit 12) alone" "0000000000001000" "$(awk '$1 == "CapEff:" { print $2 }' <<<"$st")"
	assert_eq "its bounding set: the same" "0000000000001000" "$(awk '$1 == "CapBnd:" { print $2 }' <<<"$st")"

	# The kubelet probes the pod's IP, the node's with a host network: the
	# healthz address (0.0.0.0) answers on every one, loopback too. Each probe
	# as the DaemonSet has it, until it answers 200 (at most 5 s).
	for pr in readinessProbe livenessProbe; do
		pth=$(kget ds nftproxy "{.spec.template.spec.containers[0].$pr.httpGet.path}")
		port=$(kget ds nftproxy "{.spec.template.spec.containers[0].$pr.httpGet.port}")
		code=""
		for ((k = 0; k < 50; k++)); do
			code=$(ip netns exec "$NODE" curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port$pth" || true)
			[[ $code == 200 ]] && break
			sleep 0.1
		done
		assert_eq "$pr: $pth on $port" 200 "$code"
	done
	body=$(ip netns exec "$NODE" curl -s --max-time 5 http://127.0.0.1:10249/metrics || true)
	assert_eq "metrics on the config's address" 1 \
		"$(grep -c '^kubeproxy_sync_proxy_rules_last_timestamp_seconds ' <<<"$body" || true)"

	section "the capability is what does it; no_new_privs would take it away"
	run_as() { ip netns exec "$NODE" setpriv --reuid 65534 --regid 65534 --clear-groups "$@" 2>&1; }
	out=$(run_as --bounding-set -all,+net_admin -- sh -c 'exec "$@"' sh "$POD/bin/nftproxyctl" dump) && rc=0 || rc=$?
	assert_eq "nftproxyctl with the file capability (kubectl exec into the pod)" "0 1" "$rc $(has_line "$out" '^demo +web ')"
	out=$(run_as --bounding-set -all,+net_admin -- sh -c 'exec "$@"' sh "$POD/bin/nftproxyctl-nocap" dump) && rc=0 || rc=$?
	assert_eq "without it: refused" "1 1" "$rc $(has_line "$out" 'Operation not permitted')"
	out=$(run_as --bounding-set -all,+net_raw -- sh -c 'exec "$@"' sh "$POD/bin/nftproxyctl" dump) && rc=0 || rc=$?
	assert_eq "a container without NET_ADMIN in its bounding set cannot even execute the image's binary" "126 1" \
		"$rc $(has_line "$out" 'Operation not permitted')"
	out=$(run_as --bounding-set -all,+net_admin -- setpriv --no-new-privs "$POD/bin/nftproxyctl" dump) && rc=0 || rc=$?
	assert_eq "file capability under no_new_privs (allowPrivilegeEscalation: false): refused" "1 1" \
		"$rc $(has_line "$out" 'Operation not permitted')"
	out=$(run_as --inh-caps -all,+net_admin --ambient-caps -all,+net_admin --bounding-set -all,+net_admin \
		--no-new-privs "$POD/bin/nftproxyctl-nocap" dump) && rc=0 || rc=$?
	assert_eq "ambient capability under no_new_privs (the systemd unit)" "0 1" "$rc $(has_line "$out" '^demo +web ')"

	section "SIGTERM: nftproxy exits, the rules stay"
	kill -TERM "$NFTPROXY_PID"
	rc=0
	wait "$NFTPROXY_PID" || rc=$?
	NFTPROXY_PID=""
	assert_eq "exit status" 0 "$rc"
	assert_eq "the table after it" "$(printf '%s\n' "${want[@]}" | LC_ALL=C sort)" "$(dump_lines)"
}
if command -v setpriv >/dev/null && command -v setcap >/dev/null && command -v getcap >/dev/null; then
	run_pod
else
	log "SKIP part: the pod as the DaemonSet runs it needs setpriv and setcap/getcap (util-linux, libcap2-bin)"
fi

section "kubectl delete"
out=$(kube delete -k "$MDIR" 2>&1) || fail "kubectl delete -k failed: $out"
assert_eq "deleted" 5 "$(grep -c ' deleted$' <<<"$out" || true)"
for o in "serviceaccount nftproxy" "configmap nftproxy" "daemonset nftproxy" "clusterrole nftproxy" "clusterrolebinding nftproxy"; do
	read -r kind name <<<"$o"
	out=$(kube get -n kube-system "$kind" "$name" 2>&1) && rc=0 || rc=$?
	assert_eq "$o is gone" "1 1" "$rc $(has_line "$out" 'NotFound')"
done

section "packaging"
UNIT="$NFTP_REPO/packaging/nftproxy.service"
assert_eq "the unit's capabilities: the DaemonSet's" "CAP_NET_ADMIN CAP_NET_ADMIN" \
	"$(sed -n 's/^CapabilityBoundingSet=//p; s/^AmbientCapabilities=//p' "$UNIT" | xargs)"
# With --config nftproxy ignores the other kube-proxy flags (as kube-proxy):
# the unit may pass no other, or it would silently not apply.
read -ra execstart <<<"$(sed -n 's/^ExecStart=//p' "$UNIT")"
extra=()
for a in "${execstart[@]:1}"; do
	[[ $a == --config=* || $a == --hostname-override=* || $a == --v=* ]] || extra+=("$a")
done
assert_eq "the unit's ExecStart: only flags honoured with --config" "/usr/local/bin/nftproxy --config=/etc/nftproxy/config.conf |" \
	"${execstart[*]:0:2} |${extra[*]}"
if command -v systemd-analyze >/dev/null; then
	# verify wants the binary it names: the built one stands in for it
	sed "s|/usr/local/bin/nftproxy|$NFTPROXY|" "$UNIT" >"$TMP/nftproxy.service"
	out=$(systemd-analyze verify "$TMP/nftproxy.service" 2>&1) && rc=0 || rc=$?
	assert_eq "systemd-analyze verify $(basename "$UNIT")" "0 " "$rc $out"
else
	log "SKIP part: no systemd-analyze"
fi
if command -v readelf >/dev/null && command -v dpkg >/dev/null; then
	# The runtime stage's apt-get install line(s), and the package of every
	# library the two binaries need, as this (Debian) build host has them.
	runtime=$(awk '/^FROM .*-slim/ { rt = 1 } rt' "$NFTP_REPO/packaging/Containerfile")
	missing=()
	pkgs=()
	for lib in $(readelf -d "$NFTPROXY" "$NFTPROXYCTL" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u); do
		path=$(ldconfig -p | awk -v l="$lib" '$1 == l && p == "" { p = $NF } END { print p }')
		[[ -n $path ]] || { missing+=("$lib(not found)"); continue; }
		pkg=$(dpkg -S "$(readlink -f "$path")" "$path" 2>/dev/null | awk -F: 'NR == 1 { print $1 }') || true
		[[ -n $pkg ]] || { missing+=("$lib(no package)"); continue; }
		pkgs+=("$pkg")
		# libc is in every image; sanitizer runtimes only in an instrumented
		# test build (build-sanitize), never in the release the image builds
		[[ $pkg == libc6 || $lib =~ ^lib(a|ub|t|l)san\. ]] && continue
		grep -qE "(^|[[:space:]])$pkg([[:space:]]|$)" <<<"$runtime" || missing+=("$lib($pkg)")
	done
	log "the binaries' libraries come from: $(printf '%s\n' "${pkgs[@]}" | sort -u | xargs)"
	((${#pkgs[@]} >= 7)) || check_failed "only ${#pkgs[@]} linked libraries found: ${pkgs[*]}"
	assert_eq "the runtime image installs every linked library's package" "" "${missing[*]}"
else
	log "SKIP part: no readelf or dpkg to check the Containerfile's libraries"
fi

finish
