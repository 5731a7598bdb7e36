#!/usr/bin/env python3
"""Generate the iptables-restore input kube-proxy (iptables mode) would load for N services.

Usage: iptables_layout.py N [--endpoints M] [--target-ip IP] [--target-ep IP:PORT]
                            [--cluster-cidr CIDR] [--large-cluster-mode]
                            [--one-endpoint-change [--change-number K] [--changed-chains-only]]
                            [OUTFILE]

The dataplane benchmark (dataplane.sh) loads this into its node namespace with
iptables-legacy-restore or iptables-nft-restore, to compare how fast new connections
get through kube-proxy's linear KUBE-SERVICES chain with nftproxy's verdict map. The
control-plane benchmark (controlplane.sh) times loading it (cold, into a fresh namespace)
and then the --one-endpoint-change input applied to it with --noflush.

N ClusterIP services with one TCP port (80 -> 8080) and M ready endpoints each (default 1):
N - 1 fillers bench/svc-I (I = 0..N-2) at 10.97.0.0 + I + 1 whose first endpoint is
10.245.0.0 + I + 1, then the target bench/target (default 10.96.0.10 -> 10.244.1.1:8080).
With --endpoints M, endpoint J = 1..M-1 of service I (the target is I = N - 1) is
10.128.0.0 + I * (M - 1) + J (below 10.244.0.0). None of these pods exist and nothing is
ever sent to them; every address is unique. dataplane.sh writes the same services (one
endpoint each) as manifests for nftproxy. The target's KUBE-SERVICES rule is the LAST
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
    per endpoint, endpoints sorted by "IP:PORT" as kube-proxy's endpoints map sorts
    them: `-m statistic --mode random --probability 1/(M-i)` (10 decimals) for all but
    the last, `-j KUBE-SEP-HASH` (with one endpoint: no statistic match);
    KUBE-SEP-HASH: `-s EPIP/32 -j KUBE-MARK-MASQ` (hairpin), then
    `-p tcp -m tcp -j DNAT --to-destination EPIP:PORT`;
  * the last KUBE-SERVICES rule sends local destinations to KUBE-NODEPORTS (empty);
  * filter: the jump rules kube-proxy installs (KUBE-PROXY-FIREWALL, KUBE-SERVICES,
    KUBE-EXTERNAL-SERVICES, KUBE-FORWARD, KUBE-NODEPORTS, KUBE-FIREWALL) and KUBE-FORWARD's
    rules; the per-service filter chains are empty for services that have endpoints.
Chain names use kube-proxy's scheme: the first 16 characters of base32(sha256(...)) of
"ns/name:port" + "tcp" (KUBE-SVC-) and of that + the endpoint "IP:PORT" (KUBE-SEP-).

--large-cluster-mode: as kube-proxy does when the node has more than 1000 endpoints
(largeClusterMode), the KUBE-SVC and KUBE-SEP rules carry no comment (the KUBE-SERVICES
rules keep theirs). Off by default, so the output dataplane.sh loads does not change.

--one-endpoint-change: instead of the full table, write what kube-proxy (1.28 and later:
MinimizeIPTablesRestore, a partial sync; it runs `iptables-restore --noflush --counters`)
sends after the first endpoint of the first service (bench/svc-0; the target when N = 1)
changes address. Change number K (--change-number, default 1) moves that endpoint from
the address of change K - 1 (change 0 is the original address above) to 10.255.0.0 + K,
so changes 1, 2, 3, ... applied in order each really change something. A partial sync
rewrites everything that is not a per-service chain, and the per-service chains of the
changed services only:
  * *filter: the top-level chains re-declared (KUBE-SERVICES, KUBE-EXTERNAL-SERVICES,
    KUBE-FORWARD, KUBE-NODEPORTS, KUBE-PROXY-FIREWALL, KUBE-FIREWALL; under --noflush a
    ":CHAIN - [0:0]" line flushes the chain) and refilled (KUBE-FIREWALL's and
    KUBE-FORWARD's rules), COMMIT;
  * *nat: KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING and KUBE-MARK-MASQ re-declared
    and refilled, which means ALL N KUBE-SERVICES rules; the changed service's KUBE-SVC
    chain and all its KUBE-SEP chains (the new one included) re-declared and refilled with
    all their rules; the old KUBE-SEP chain re-declared (flushed) and deleted (-X); the
    KUBE-NODEPORTS tail rule of KUBE-SERVICES; COMMIT.
  The base-chain jumps are not in it (kube-proxy checks them with `iptables -C` only on a
  full sync). In large-cluster mode kube-proxy deletes stale chains at most once per sync
  period, after an `iptables-save -t nat`; here the -X is always written and no save is run.
--changed-chains-only (with --one-endpoint-change): only the *nat part that concerns the
changed endpoint: the KUBE-SVC chain re-declared and refilled, the new KUBE-SEP chain
declared and filled, the old one flushed and deleted, COMMIT (the lower bound of a
partial sync; kube-proxy itself always sends the rest too).

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
EXTRA_EP_BASE = ipaddress.IPv4Address("10.128.0.0")   # endpoints 2..M, below 10.244.0.0
EXTRA_EP_LIMIT = ipaddress.IPv4Address("10.244.0.0")
CHANGE_EP_BASE = ipaddress.IPv4Address("10.255.0.0")  # change K: 10.255.0.0 + K
SERVICE_LIMIT = ipaddress.IPv4Address("10.112.0.0")   # fillers stay inside 10.96.0.0/12
SERVICE_PORT = 80
ENDPOINT_PORT = 8080
PORT_NAME = "http"
NAMESPACE = "bench"
LARGE_CLUSTER_ENDPOINTS = 1000  # kube-proxy's largeClusterEndpointsThreshold

FILTER_TOP_CHAINS = ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD",
                     "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL")
NAT_TOP_CHAINS = ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ")
KUBE_FIREWALL_RULE = (
    '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block '
    'incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT '
    "-j DROP\n")
KUBE_FORWARD_RULES = (
    "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n",
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark '
    f"{MASQ_MARK}/{MASQ_MARK} -j ACCEPT\n",
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
    "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n")
NAT_TOP_RULES = (
    f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN\n",
    f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}\n",
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
    "-j MASQUERADE --random-fully\n",
    f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}\n")
NODEPORTS_TAIL_RULE = (
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must '
    'be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n')


def chain_hash(text):
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def services(n, m, target_ip, target_ep):
    """(name, cluster IP, [endpoint "IP:PORT"]) for the N services, target last.

    The first endpoint of each list is the one --one-endpoint-change changes."""
    for i in range(n):
        if i < n - 1:
            name, ip = f"svc-{i}", str(FILLER_SVC_BASE + i + 1)
            eps = [f"{FILLER_EP_BASE + i + 1}:{ENDPOINT_PORT}"]
        else:
            name, ip, eps = "target", target_ip, [target_ep]
        eps += [f"{EXTRA_EP_BASE + i * (m - 1) + j}:{ENDPOINT_PORT}" for j in range(1, m)]
        yield name, ip, eps


def change_address(k, original):
    """The changed endpoint's "IP:PORT" after change K (change 0: the original)."""
    return original if k == 0 else f"{CHANGE_EP_BASE + k}:{ENDPOINT_PORT}"


def names(name):
    spn = f"{NAMESPACE}/{name}:{PORT_NAME}"
    return spn, "KUBE-SVC-" + chain_hash(spn + "tcp")


def sep_chain(spn, ep):
    return "KUBE-SEP-" + chain_hash(spn + "tcp" + ep)


def services_rule(spn, ip, svc):
    return (f'-A KUBE-SERVICES -m comment --comment "{spn} cluster IP" -m tcp -p tcp '
            f"-d {ip}/32 --dport {SERVICE_PORT} -j {svc}\n")


def service_chains(spn, svc, ip, eps, cluster_cidr, comments):
    """The chain names (KUBE-SVC first, then the KUBE-SEPs) and the rules of one service
    port's own chains, in the order kube-proxy writes them."""
    eps = sorted(eps)
    seps = [sep_chain(spn, ep) for ep in eps]
    rules = []
    if cluster_cidr:
        rules.append(f'-A {svc} -m comment --comment "{spn} cluster IP" -m tcp -p tcp '
                     f"-d {ip}/32 --dport {SERVICE_PORT} ! -s {cluster_cidr} "
                     f"-j KUBE-MARK-MASQ\n")
    for k, (ep, sep) in enumerate(zip(eps, seps)):
        comment = f' -m comment --comment "{spn} -> {ep}"' if comments else ""
        stat = ""
        if k < len(eps) - 1:
            stat = f" -m statistic --mode random --probability {1.0 / (len(eps) - k):.10f}"
        rules.append(f"-A {svc}{comment}{stat} -j {sep}\n")
    for ep, sep in zip(eps, seps):
        comment = f" -m comment --comment {spn}" if comments else ""
        ep_ip = ep.rsplit(":", 1)[0]
        rules.append(f"-A {sep}{comment} -s {ep_ip}/32 -j KUBE-MARK-MASQ\n")
        rules.append(f"-A {sep}{comment} -m tcp -p tcp -j DNAT --to-destination {ep}\n")
    return [svc] + seps, rules


def generate(n, m, target_ip, target_ep, cluster_cidr, comments, out):
    w = out.write
    svc_rules, svc_chains, chain_decls = [], [], []
    for name, ip, eps in services(n, m, target_ip, target_ep):
        spn, svc = names(name)
        svc_rules.append(services_rule(spn, ip, svc))
        decls, rules = service_chains(spn, svc, ip, eps, cluster_cidr, comments)
        chain_decls += decls
        svc_chains += rules

    w("*filter\n")
    for c in FILTER_TOP_CHAINS + ("KUBE-FIREWALL", "KUBE-PROXY-CANARY"):
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
    out.writelines(KUBE_FORWARD_RULES)
    w(KUBE_FIREWALL_RULE)
    w("COMMIT\n")

    w("*nat\n")
    for c in NAT_TOP_CHAINS + ("KUBE-PROXY-CANARY",):
        w(f":{c} - [0:0]\n")
    for c in chain_decls:
        w(f":{c} - [0:0]\n")
    w('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n')
    w('-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n')
    w('-A POSTROUTING -m comment --comment "kubernetes postrouting rules" '
      "-j KUBE-POSTROUTING\n")
    out.writelines(NAT_TOP_RULES)
    out.writelines(svc_chains)
    out.writelines(svc_rules)
    w(NODEPORTS_TAIL_RULE)
    w("COMMIT\n")


def generate_change(n, m, target_ip, target_ep, cluster_cidr, comments, change,
                    changed_only, out):
    w = out.write
    svc_rules, changed = [], None
    for idx, (name, ip, eps) in enumerate(services(n, m, target_ip, target_ep)):
        spn, svc = names(name)
        svc_rules.append(services_rule(spn, ip, svc))
        if idx == 0:
            old = change_address(change - 1, eps[0])
            new_eps = [change_address(change, eps[0])] + eps[1:]
            decls, rules = service_chains(spn, svc, ip, new_eps, cluster_cidr, comments)
            new_sep = sep_chain(spn, new_eps[0])
            changed = (svc, decls, rules, new_sep, sep_chain(spn, old))
    svc, decls, rules, new_sep, old_sep = changed

    if changed_only:
        w("*nat\n")
        for c in (svc, new_sep, old_sep):
            w(f":{c} - [0:0]\n")
        out.writelines(r for r in rules if r.startswith((f"-A {svc} ", f"-A {new_sep} ")))
        w(f"-X {old_sep}\n")
        w("COMMIT\n")
        return

    w("*filter\n")
    for c in FILTER_TOP_CHAINS + ("KUBE-FIREWALL",):
        w(f":{c} - [0:0]\n")
    w(KUBE_FIREWALL_RULE)
    out.writelines(KUBE_FORWARD_RULES)
    w("COMMIT\n")

    w("*nat\n")
    for c in NAT_TOP_CHAINS + tuple(decls) + (old_sep,):
        w(f":{c} - [0:0]\n")
    out.writelines(NAT_TOP_RULES)
    out.writelines(svc_rules)
    out.writelines(rules)
    w(f"-X {old_sep}\n")
    w(NODEPORTS_TAIL_RULE)
    w("COMMIT\n")


def main(argv):
    args = argv[1:]
    opts = {"--target-ip": "10.96.0.10", "--target-ep": "10.244.1.1:8080",
            "--cluster-cidr": "", "--endpoints": "1", "--change-number": "1"}
    flags = {"--one-endpoint-change": False, "--changed-chains-only": False,
             "--large-cluster-mode": False}
    pos = []
    while args:
        a = args.pop(0)
        if a in opts:
            if not args:
                sys.exit(f"iptables_layout.py: {a} needs a value")
            opts[a] = args.pop(0)
        elif a in flags:
            flags[a] = True
        elif a.startswith("-"):
            sys.exit(__doc__)
        else:
            pos.append(a)
    if len(pos) not in (1, 2) or not pos[0].isdigit() or int(pos[0]) < 1:
        sys.exit(__doc__)
    for o in ("--endpoints", "--change-number"):
        if not opts[o].isdigit() or int(opts[o]) < 1:
            sys.exit(f"iptables_layout.py: {o} needs a positive integer")
    n, m, change = int(pos[0]), int(opts["--endpoints"]), int(opts["--change-number"])
    if FILLER_EP_BASE + n >= CHANGE_EP_BASE or FILLER_SVC_BASE + n >= SERVICE_LIMIT:
        sys.exit("iptables_layout.py: too many services for the filler address ranges")
    if EXTRA_EP_BASE + n * (m - 1) >= EXTRA_EP_LIMIT:
        sys.exit("iptables_layout.py: too many endpoints for 10.128.0.0-10.243.255.255")
    if CHANGE_EP_BASE + change >= ipaddress.IPv4Address("10.255.255.255"):
        sys.exit("iptables_layout.py: --change-number is at most 65534")
    if flags["--changed-chains-only"] and not flags["--one-endpoint-change"]:
        sys.exit("iptables_layout.py: --changed-chains-only goes with --one-endpoint-change")
    ipaddress.IPv4Address(opts["--target-ip"])
    comments = not (flags["--large-cluster-mode"] and n * m > LARGE_CLUSTER_ENDPOINTS)
    common = (n, m, opts["--target-ip"], opts["--target-ep"], opts["--cluster-cidr"], comments)
    out = open(pos[1], "w") if len(pos) == 2 else sys.stdout
    with out:
        if flags["--one-endpoint-change"]:
            generate_change(*common, change, flags["--changed-chains-only"], out)
        else:
            generate(*common, out)


if __name__ == "__main__":
    main(sys.argv)
