#!/usr/bin/env python3
"""Many ClusterIP services for the manifests source, fast.

    gen_services.py services N FILE         N Services (kind List, JSON)
    gen_services.py slices N SET FILE       their EndpointSlices, endpoint set SET
    gen_services.py expect N SET            the `nftproxyctl dump` lines they give
                                            (lib.sh dump_lines format), sorted

Service i is bulk/s<i>, cluster IP 10.96.(1 + i / 250).(1 + i % 250), port
http 80/TCP -> 8080. Its slice bulk/s<i>-v4 has two ready endpoints: set A
puts them in 10.250.0.0/16, set B in 10.251.0.0/16, so going from A to B
changes every endpoint of every service (N <= 32000, the addresses fit).
Nothing routes these addresses: only the rules are looked at.
"""
import json
import sys


def svc_ip(i):
    return "10.96.%d.%d" % (1 + i // 250, 1 + i % 250)


def ep_ips(i, epset):
    second = {"A": 250, "B": 251}[epset]
    return ["10.%d.%d.%d" % (second, (2 * i + k) >> 8, (2 * i + k) & 255) for k in (0, 1)]


def services(n):
    return [{
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "s%d" % i, "namespace": "bulk"},
        "spec": {"type": "ClusterIP", "clusterIP": svc_ip(i), "clusterIPs": [svc_ip(i)],
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]},
    } for i in range(n)]


def slices(n, epset):
    return [{
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "s%d-v4" % i, "namespace": "bulk",
                     "labels": {"kubernetes.io/service-name": "s%d" % i}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in ep_ips(i, epset)],
    } for i in range(n)]


def write_list(items, path):
    # Written next to the target and renamed by the caller (lib.sh
    # manifest_put does it for stdin; here the caller passes a temp path).
    with open(path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f, separators=(",", ":"))


def expect(n, epset):
    lines = []
    for i in range(n):
        eps = ",".join(sorted("%s:8080" % a for a in ep_ips(i, epset)))
        lines.append("bulk/s%d http tcp %s 80 -> %s" % (i, svc_ip(i), eps))
    # LC_ALL=C sort: byte order.
    lines.sort(key=lambda s: s.encode())
    sys.stdout.write("".join(l + "\n" for l in lines))


def main(argv):
    if len(argv) >= 3 and argv[0] == "services":
        write_list(services(int(argv[1])), argv[2])
    elif len(argv) >= 4 and argv[0] == "slices":
        write_list(slices(int(argv[1]), argv[2]), argv[3])
    elif len(argv) >= 3 and argv[0] == "expect":
        expect(int(argv[1]), argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
