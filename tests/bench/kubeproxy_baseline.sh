#!/usr/bin/env bash
# Baseline: time `nft -f` loading kube-proxy's nftables layout for S services x E
# endpoints in one transaction, into a fresh, empty network namespace.
#
# Usage: tests/bench/kubeproxy_baseline.sh SERVICES ENDPOINTS
#   env KEEP=DIR      keep the generated nft script in DIR
#   env VERIFY=0      skip the chain count (listing chains of a huge table costs time)
#
# Needs root, python3, nft, iproute2. Touches nothing outside the namespace it creates.
# Last line of output:
#   kube-proxy-layout nft -f: services=S endpoints=E seconds=WALL user=U sys=S ...
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 SERVICES ENDPOINTS" >&2
	exit 2
fi
S=$1
E=$2
HERE=$(cd "$(dirname "$0")" && pwd)
NS="kpbase-$$-$RANDOM"
TMP=$(mktemp -d /tmp/kpbase.XXXXXX)
NS_CREATED=0

cleanup() {
	if [ "$NS_CREATED" = 1 ]; then
		ip netns del "$NS" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FILE="$TMP/kube-proxy-${S}x${E}.nft"
t0=$(date +%s.%N)
python3 "$HERE/kubeproxy_layout.py" "$S" "$E" "$FILE"
t1=$(date +%s.%N)
lines=$(wc -l <"$FILE")
bytes=$(stat -c %s "$FILE")
echo "generated $FILE: $lines commands, $bytes bytes in $(echo "$t1 - $t0" | bc) s" >&2
if [ -n "${KEEP:-}" ]; then
	mkdir -p "$KEEP"
	cp "$FILE" "$KEEP/"
fi

echo "machine: kernel $(uname -r), $(nft --version), nproc $(nproc)" >&2

ip netns add "$NS"
NS_CREATED=1

# Time the load. wait4() gives the rusage of nft (ip netns exec execs nft in place);
# /proc/stat deltas give the whole machine's CPU time over the same interval, which also
# catches kernel work deferred to worker threads.
python3 - "$NS" "$FILE" "$S" "$E" <<'EOF'
import os, subprocess, sys, time

ns, path, s, e = sys.argv[1:5]

def cpu():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    # user+nice, system+irq+softirq
    return (v[0] + v[1]) / hz, (v[2] + v[5] + v[6]) / hz

u0, k0 = cpu()
t0 = time.monotonic()
p = subprocess.Popen(["ip", "netns", "exec", ns, "nft", "-f", path])
_, status, ru = os.wait4(p.pid, 0)
wall = time.monotonic() - t0
u1, k1 = cpu()
rc = os.waitstatus_to_exitcode(status)
if rc != 0:
    print("nft -f failed with exit status %d after %.2f s" % (rc, wall), file=sys.stderr)
    sys.exit(1)
line = ("kube-proxy-layout nft -f: services=%s endpoints=%s seconds=%.2f "
        "user=%.2f sys=%.2f maxrss_mib=%.0f host_user=%.2f host_sys=%.2f"
        % (s, e, wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss / 1024.0, u1 - u0, k1 - k0))
print(line)
EOF

# Verify: count the chains in the namespace (the rules are not listed: too slow).
if [ "${VERIFY:-1}" != 0 ]; then
	want=$((16 + S * (E > 0 ? 1 + E : 0)))
	v0=$(date +%s.%N)
	got=$(ip netns exec "$NS" nft list chains ip | grep -c '^[[:space:]]*chain ')
	v1=$(date +%s.%N)
	echo "verify: $got chains in table ip kube-proxy (expected $want), listed in $(echo "$v1 - $v0" | bc) s" >&2
	if [ "$got" != "$want" ]; then
		echo "verify: chain count mismatch" >&2
		exit 1
	fi
	# service-ips holds one element per service; the last service chain holds its vmap.
	v0=$(date +%s.%N)
	want_elems=$((E > 0 ? S : 0))
	elems=$(ip netns exec "$NS" nft list map ip kube-proxy service-ips | { grep -o ': goto service-' || true; } | wc -l)
	v1=$(date +%s.%N)
	echo "verify: $elems elements in map service-ips (expected $want_elems), listed in $(echo "$v1 - $v0" | bc) s" >&2
	if [ "$elems" != "$want_elems" ]; then
		echo "verify: service-ips element count mismatch" >&2
		exit 1
	fi
	if [ "$S" -gt 0 ] && [ "$E" -gt 0 ]; then
		last=$(grep ' numgen random mod ' "$FILE" | tail -n 1 | awk '{print $5}')
		v0=$(date +%s.%N)
		body=$(ip netns exec "$NS" nft list chain ip kube-proxy "$last")
		v1=$(date +%s.%N)
		gotos=$(printf '%s\n' "$body" | { grep "numgen random mod $E vmap" || true; } | { grep -o ': goto endpoint-' || true; } | wc -l)
		echo "verify: chain $last has a $gotos-way numgen vmap (expected $E), listed in $(echo "$v1 - $v0" | bc) s" >&2
		if [ "$gotos" != "$E" ]; then
			echo "verify: service chain content mismatch" >&2
			printf '%s\n' "$body" >&2
			exit 1
		fi
	fi
fi

# Tear down explicitly (and time it) so that the next run does not overlap with the
# kernel freeing this table in the background.
d0=$(date +%s.%N)
ip netns exec "$NS" nft delete table ip kube-proxy
ip netns del "$NS"
NS_CREATED=0
d1=$(date +%s.%N)
echo "teardown (delete table + netns) took $(echo "$d1 - $d0" | bc) s" >&2
