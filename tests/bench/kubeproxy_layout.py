#!/usr/bin/env python3
"""Generate the nft script kube-proxy (nftables mode) would send on a cold full sync.

Usage: kubeproxy_layout.py SERVICES ENDPOINTS [OUTFILE]

The output reproduces, for S ClusterIP services with E endpoints each (TCP, IPv4),
the transaction that kube-proxy's nftables proxier (pkg/proxy/nftables/proxier.go in
kubernetes/kubernetes as of commit b0f823e6, via sigs.k8s.io/knftables) pipes into
`nft -f -` on its first sync after start-up:

  * table ip kube-proxy with its base chains (filter-prerouting/input/forward/output,
    filter-output-post-dnat, nat-prerouting/output/postrouting), the helper chains
    (services, masquerading, mark-for-masquerade, service-endpoints-check,
    nodeport-endpoints-check, firewall-check, cluster-ips-check, reject-chain) and their
    jump rules;
  * the sets/maps cluster-ips, service-ips, service-nodeports, no-endpoint-services,
    no-endpoint-nodeports, firewall-ips (all flushed, as a full sync does);
  * per service port: chain `service-HASH-ns/name/tcp/port` (add + flush) with
        ip daddr IP tcp dport PORT ip saddr != CLUSTER_CIDR jump mark-for-masquerade
        numgen random mod E vmap { 0 : goto endpoint-..., ... }   <- anonymous vmap
    plus `add element ... cluster-ips { IP }` and
    `add element ... service-ips { IP . tcp . PORT : goto service-... }`;
  * per endpoint: chain `endpoint-HASH-ns/name/tcp/port__EPIP/EPPORT` (add + flush) with
        ip saddr EPIP jump mark-for-masquerade
        meta l4proto tcp dnat to EPIP:EPPORT

Like knftables, every object is one command line, in the order kube-proxy adds it
(endpoint chains are created before the service chain, rules written per service).
Chain names use kube-proxy's scheme: the first 8 characters of base32(sha256(name)).
Service IPs come from 10.96.0.0/12, endpoint IPs from 10.128.0.0/9 (the cluster
CIDR used for the masquerade rule); everything is deterministic.

Not reproduced (not used by ClusterIP-only services with Cluster traffic policy):
external-/local-/firewall- chains, NodePorts, session affinity sets, stale chain
deletion (the table does not exist before a cold start).
"""

import base64
import hashlib
import ipaddress
import sys

TABLE = "ip kube-proxy"
MASQ_MARK = "0x4000"
CLUSTER_CIDR = "10.128.0.0/9"
SERVICE_CIDR = "10.96.0.0/12"
SERVICE_PORT = 80
ENDPOINT_PORT = 8080
PORT_NAME = "http"

# kube-proxy's base chains: name, type, hook, numeric priority
# (dstnat = -100, srcnat = 100; knftables accepts "dstnat-10" etc., nft 1.0.6 wants numbers
# in the output hook, so the numeric values are written).
BASE_CHAINS = [
    ("filter-prerouting", "filter", "prerouting", -110),
    ("filter-input", "filter", "input", -110),
    ("filter-forward", "filter", "forward", -110),
    ("filter-output", "filter", "output", -110),
    ("filter-output-post-dnat", "filter", "output", -90),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
]

# (destination chain, source base chain, rule prefix)
JUMP_CHAINS = [
    ("nodeport-endpoints-check", "filter-input", "ct state new "),
    ("service-endpoints-check", "filter-input", "ct state new "),
    ("service-endpoints-check", "filter-forward", "ct state new "),
    ("service-endpoints-check", "filter-output", "ct state new "),
    ("firewall-check", "filter-prerouting", "ct state new "),
    ("firewall-check", "filter-output", "ct state new "),
    ("services", "nat-output", ""),
    ("services", "nat-prerouting", ""),
    ("masquerading", "nat-postrouting", ""),
    ("cluster-ips-check", "filter-forward", "ct state new "),
    ("cluster-ips-check", "filter-output-post-dnat", "ct state new "),
]


def name_hash(name):
    """kube-proxy's chain-name prefix: first 8 chars of base32(sha256(name))."""
    return base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()[:8]


def service_ip(i):
    net = ipaddress.ip_network(SERVICE_CIDR)
    return str(net.network_address + 10 + i)


def endpoint_ip(i, j, e):
    net = ipaddress.ip_network(CLUSTER_CIDR)
    return str(net.network_address + 256 + i * e + j)


def service_names(i):
    ns = "ns-%03d" % (i % 100)
    svc = "svc-%05d" % i
    return ns, svc


def header(out):
    w = out.append
    w('add table %s { comment "rules for kube-proxy" ; }' % TABLE)
    # First sync of a kube-proxy process: add+delete every base chain so that it is
    # recreated with the right properties.
    for name, _, _, _ in BASE_CHAINS:
        w("add chain %s %s" % (TABLE, name))
        w("delete chain %s %s" % (TABLE, name))
    for name, typ, hook, prio in BASE_CHAINS:
        w("add chain %s %s { type %s hook %s priority %d ; }" % (TABLE, name, typ, hook, prio))
        w("flush chain %s %s" % (TABLE, name))

    created = set()

    def ensure_chain(name):
        if name in created:
            return
        created.add(name)
        w("add chain %s %s" % (TABLE, name))
        w("flush chain %s %s" % (TABLE, name))

    for dst, src, prefix in JUMP_CHAINS:
        ensure_chain(dst)
        w("add rule %s %s %sjump %s" % (TABLE, src, prefix, dst))
    for name in ("services", "cluster-ips-check", "masquerading", "mark-for-masquerade"):
        ensure_chain(name)

    w("add rule %s mark-for-masquerade mark set mark or %s" % (TABLE, MASQ_MARK))
    w("add rule %s masquerading mark and %s == 0 return" % (TABLE, MASQ_MARK))
    w("add rule %s masquerading mark set mark xor %s" % (TABLE, MASQ_MARK))
    w("add rule %s masquerading masquerade fully-random" % TABLE)

    w('add set %s cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }' % TABLE)
    w('add rule %s cluster-ips-check ip daddr @cluster-ips reject '
      'comment "Reject traffic to invalid ports of ClusterIPs"' % TABLE)
    w('add rule %s cluster-ips-check ip daddr { %s } drop '
      'comment "Drop traffic to unallocated ClusterIPs"' % (TABLE, SERVICE_CIDR))

    # --nodeport-addresses unset (match all): the set is added then deleted.
    w('add set %s nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }'
      % TABLE)
    w("delete set %s nodeport-ips" % TABLE)

    w('add map %s no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; '
      'comment "vmap to drop or reject packets to services with no endpoints" ; }' % TABLE)
    w('add map %s no-endpoint-nodeports { type inet_proto . inet_service : verdict ; '
      'comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }' % TABLE)
    w('add chain %s reject-chain { comment "helper for @no-endpoint-services / '
      '@no-endpoint-nodeports" ; }' % TABLE)
    w("flush chain %s reject-chain" % TABLE)
    w("add rule %s reject-chain reject" % TABLE)
    w("add rule %s service-endpoints-check ip daddr . meta l4proto . th dport "
      "vmap @no-endpoint-services" % TABLE)
    w("add rule %s nodeport-endpoints-check ip daddr != 127.0.0.0/8 meta l4proto . th dport "
      "vmap @no-endpoint-nodeports" % TABLE)

    w('add map %s firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; '
      'comment "destinations that are subject to LoadBalancerSourceRanges" ; }' % TABLE)
    ensure_chain("firewall-check")
    w("add rule %s firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips" % TABLE)

    w('add map %s service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; '
      'comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }' % TABLE)
    w('add map %s service-nodeports { type inet_proto . inet_service : verdict ; '
      'comment "NodePort traffic" ; }' % TABLE)
    w("add rule %s services ip daddr . meta l4proto . th dport vmap @service-ips" % TABLE)
    w("add rule %s services fib daddr type local ip daddr != 127.0.0.0/8 "
      "meta l4proto . th dport vmap @service-nodeports" % TABLE)

    # A full sync flushes every set/map it fills.
    w("flush set %s cluster-ips" % TABLE)
    for m in ("service-ips", "firewall-ips", "no-endpoint-services",
              "no-endpoint-nodeports", "service-nodeports"):
        w("flush map %s %s" % (TABLE, m))


def service(out, i, e):
    w = out.append
    ns, svc = service_names(i)
    vip = service_ip(i)
    base = "%s/%s/tcp/%s" % (ns, svc, PORT_NAME)
    svc_chain = "service-%s-%s" % (name_hash(base), base)

    eps = []
    for j in range(e):
        ip = endpoint_ip(i, j, e)
        ep_base = "%s__%s/%d" % (base, ip, ENDPOINT_PORT)
        eps.append((ip, "endpoint-%s-%s" % (name_hash(ep_base), ep_base)))

    # ensureChain for every endpoint chain, then the service (cluster policy) chain
    for _, ch in eps:
        w("add chain %s %s" % (TABLE, ch))
        w("flush chain %s %s" % (TABLE, ch))
    if eps:
        w("add chain %s %s" % (TABLE, svc_chain))
        w("flush chain %s %s" % (TABLE, svc_chain))

    w("add element %s cluster-ips { %s }" % (TABLE, vip))
    if eps:
        w("add element %s service-ips { %s . tcp . %d : goto %s }"
          % (TABLE, vip, SERVICE_PORT, svc_chain))
    else:
        w('add element %s no-endpoint-services { %s . tcp . %d comment "%s/%s:%s" '
          ': goto reject-chain }' % (TABLE, vip, SERVICE_PORT, ns, svc, PORT_NAME))
        return

    # internal traffic: masquerade off-cluster sources (local detector = cluster CIDR)
    w("add rule %s %s ip daddr %s tcp dport %d ip saddr != %s jump mark-for-masquerade"
      % (TABLE, svc_chain, vip, SERVICE_PORT, CLUSTER_CIDR))
    # load balancing: one anonymous verdict map per service chain
    vmap = ", ".join("%d : goto %s" % (j, ch) for j, (_, ch) in enumerate(eps))
    w("add rule %s %s numgen random mod %d vmap { %s }" % (TABLE, svc_chain, len(eps), vmap))

    for ip, ch in eps:
        w("add rule %s %s ip saddr %s jump mark-for-masquerade" % (TABLE, ch, ip))
        w("add rule %s %s meta l4proto tcp dnat to %s:%d" % (TABLE, ch, ip, ENDPOINT_PORT))


def generate(s, e):
    out = []
    header(out)
    for i in range(s):
        service(out, i, e)
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write("usage: %s SERVICES ENDPOINTS [OUTFILE]\n" % argv[0])
        return 2
    s, e = int(argv[1]), int(argv[2])
    if s < 0 or e < 0 or s >= (1 << 20) - 20 or (s * e + 256) >= (1 << 23):
        sys.stderr.write("out of range: services must fit 10.96.0.0/12, "
                         "endpoints 10.128.0.0/9\n")
        return 2
    text = generate(s, e)
    if len(argv) == 4:
        with open(argv[3], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
