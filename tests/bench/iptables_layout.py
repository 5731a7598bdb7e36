#!/usr/bin/env python3
"""Generate the iptables-restore input kube-proxy (iptables mode) would load for N services.

Usage: iptables_layout.py N [--target-ip IP] [--target-ep IP:PORT] [--cluster-cidr CIDR]
                            [OUTFILE]

The dataplane benchmark (dataplane.sh) loads this into its node namespace with
iptables-legacy-restore or iptables-nft-restore, to compare how fast new connections
get through kube-proxy's linear KUBE-SERVICES chain with nftproxy's verdict map.

N ClusterIP services with one TCP port (80 -> 8080) and one ready endpoint each:
N - 1 fillers bench/svc-I (I = 0..N-2) at 10.97.0.0 + I + 1 whose endpoint is
10.245.0.0 + I + 1 (pods that do not exist; nothing is ever sent there), then the
target bench/target (default 10.96.0.10 -> 10.244.1.1:8080). dataplane.sh writes the
same services as manifests for nftproxy. The target's KUBE-SERVICES rule is the LAST
service rule, so every new connection to it is matched against all N - 1 others first:
kube-proxy's worst case, as the benchmark issue asks.

The shape follows kube-proxy's iptables proxier (pkg/proxy/iptables/proxier.go in
kubernetes/kubernetes, v1.28 and later) for ClusterIP services with the Cluster traffic
policy:
  * nat: PREROUTING and OUTPUT jump to KUBE-SERVICES, POSTROUTING to KUBE-POSTROUTING
    (kube-proxy inserts these jumps itself; here they are part of the restore because the
    node namespace is fresh), KUBE-MARK-MASQ sets mark 0x4000, KUBE-POSTROUTING
    masquerades marked packets (--random-fully) after clearing the mark;
  * per service port, in KUBE-SERVICES:
        -d IP/32 -p tcp --dport 80 -j KUBE-SVC-HASH
    KUBE-SVC-HASH: with --cluster-cidr, `! -s CIDR -j KUBE-MARK-MASQ` first (kube-proxy
    writes it only when it knows the cluster CIDR; without it, off-cluster clients are
    not masqueraded, which is what nftproxy does, so that is the default); then one rule
    per endpoint: `-m statistic --mode random --probability 1/(n-i)` for all but the
    last, `-j KUBE-SEP-HASH` (with one endpoint per service: no statistic match);
    KUBE-SEP-HASH: `-s EPIP/32 -j KUBE-MARK-MASQ` (hairpin), then
    `-p tcp -j DNAT --to-destination EPIP:PORT`;
  * the last KUBE-SERVICES rule sends local destinations to KUBE-NODEPORTS (empty);
  * filter: the jump rules kube-proxy installs (KUBE-PROXY-FIREWALL, KUBE-SERVICES,
    KUBE-EXTERNAL-SERVICES, KUBE-FORWARD, KUBE-NODEPORTS, KUBE-FIREWALL) and KUBE-FORWARD's
    rules; the per-service filter chains are empty for services that have endpoints.
Chain names use kube-proxy's scheme: the first 16 characters of base32(sha256(...)) of
"ns/name:port" + "tcp" (KUBE-SVC-) and of that + the endpoint "IP:PORT" (KUBE-SEP-).

Not reproduced: NodePorts, external IPs, load balancers, session affinity, the
KUBE-MARK-DROP legacy chain, per-service comments' exact quoting. Counters are [0:0].
"""

import base64
import hashlib
import ipaddress
import sys

MASQ_MARK = "0x4000"
FILLER_SVC_BASE = ipaddress.IPv4Address("10.97.0.0")
FILLER_EP_BASE = ipaddress.IPv4Address("10.245.0.0")
SERVICE_PORT = 80
ENDPOINT_PORT = 8080
PORT_NAME = "http"
NAMESPACE = "bench"


def chain_hash(text):
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def services(n, target_ip, target_ep):
    """(name, cluster IP, [endpoint "IP:PORT"]) for the N services, target last."""
    for i in range(n - 1):
        yield (f"svc-{i}", str(FILLER_SVC_BASE + i + 1),
               [f"{FILLER_EP_BASE + i + 1}:{ENDPOINT_PORT}"])
    yield ("target", target_ip, [target_ep])


def generate(n, target_ip, target_ep, cluster_cidr, out):
    w = out.write
    svc_rules, svc_chains, chain_decls = [], [], []
    for name, ip, eps in services(n, target_ip, target_ep):
        spn = f"{NAMESPACE}/{name}:{PORT_NAME}"
        svc = "KUBE-SVC-" + chain_hash(spn + "tcp")
        chain_decls.append(svc)
        comment = f'"{spn} cluster IP"'
        svc_rules.append(f"-A KUBE-SERVICES -m comment --comment {comment} -m tcp -p tcp "
                         f"-d {ip}/32 --dport {SERVICE_PORT} -j {svc}\n")
        if cluster_cidr:
            svc_chains.append(f"-A {svc} -m comment --comment {comment} -m tcp -p tcp "
                              f"-d {ip}/32 --dport {SERVICE_PORT} ! -s {cluster_cidr} "
                              f"-j KUBE-MARK-MASQ\n")
        for k, ep in enumerate(eps):
            sep = "KUBE-SEP-" + chain_hash(spn + "tcp" + ep)
            chain_decls.append(sep)
            stat = ""
            if k < len(eps) - 1:
                stat = (f" -m statistic --mode random --probability "
                        f"{1.0 / (len(eps) - k):.10f}")
            svc_chains.append(f'-A {svc} -m comment --comment "{spn} -> {ep}"{stat} '
                              f"-j {sep}\n")
            ep_ip = ep.rsplit(":", 1)[0]
            svc_chains.append(f"-A {sep} -m comment --comment {spn} -s {ep_ip}/32 "
                              f"-j KUBE-MARK-MASQ\n")
            svc_chains.append(f"-A {sep} -m comment --comment {spn} -m tcp -p tcp "
                              f"-j DNAT --to-destination {ep}\n")

    w("*filter\n")
    for c in ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS",
              "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL", "KUBE-PROXY-CANARY"):
        w(f":{c} - [0:0]\n")
    w('-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer '
      'firewall" -j KUBE-PROXY-FIREWALL\n')
    w('-A INPUT -m comment --comment "kubernetes health check service ports" '
      "-j KUBE-NODEPORTS\n")
    w('-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally '
      'visible service portals" -j KUBE-EXTERNAL-SERVICES\n')
    w("-A INPUT -j KUBE-FIREWALL\n")
    w('-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer '
      'firewall" -j KUBE-PROXY-FIREWALL\n')
    w('-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD\n')
    w('-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service '
      'portals" -j KUBE-SERVICES\n')
    w('-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally '
      'visible service portals" -j KUBE-EXTERNAL-SERVICES\n')
    w('-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer '
      'firewall" -j KUBE-PROXY-FIREWALL\n')
    w('-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service '
      'portals" -j KUBE-SERVICES\n')
    w("-A OUTPUT -j KUBE-FIREWALL\n")
    w("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n")
    w('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark '
      f"{MASQ_MARK}/{MASQ_MARK} -j ACCEPT\n")
    w('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
      "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n")
    w('-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block '
      'incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT '
      "-j DROP\n")
    w("COMMIT\n")

    w("*nat\n")
    for c in ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ",
              "KUBE-PROXY-CANARY"):
        w(f":{c} - [0:0]\n")
    for c in chain_decls:
        w(f":{c} - [0:0]\n")
    w('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n')
    w('-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n')
    w('-A POSTROUTING -m comment --comment "kubernetes postrouting rules" '
      "-j KUBE-POSTROUTING\n")
    w(f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN\n")
    w(f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}\n")
    w('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
      "-j MASQUERADE --random-fully\n")
    w(f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}\n")
    out.writelines(svc_chains)
    out.writelines(svc_rules)
    w('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must '
      'be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n')
    w("COMMIT\n")


def main(argv):
    args = argv[1:]
    opts = {"--target-ip": "10.96.0.10", "--target-ep": "10.244.1.1:8080",
            "--cluster-cidr": ""}
    pos = []
    while args:
        a = args.pop(0)
        if a in opts:
            if not args:
                sys.exit(f"iptables_layout.py: {a} needs a value")
            opts[a] = args.pop(0)
        elif a.startswith("-"):
            sys.exit(__doc__)
        else:
            pos.append(a)
    if len(pos) not in (1, 2) or not pos[0].isdigit() or int(pos[0]) < 1:
        sys.exit(__doc__)
    n = int(pos[0])
    if n - 1 > 65534:
        sys.exit("iptables_layout.py: at most 65535 services (the fillers use one /16)")
    ipaddress.IPv4Address(opts["--target-ip"])
    if len(pos) == 2:
        with open(pos[1], "w") as out:
            generate(n, opts["--target-ip"], opts["--target-ep"], opts["--cluster-cidr"], out)
    else:
        generate(n, opts["--target-ip"], opts["--target-ep"], opts["--cluster-cidr"],
                 sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
