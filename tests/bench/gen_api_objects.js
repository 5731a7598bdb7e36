// Prints {"items": [...]} for the test API server's /_test/bulk: N ClusterIP
// Services (one TCP port, every tenth also a UDP port) and one EndpointSlice
// each with M ready endpoints. Addresses are inside 10.96.0.0/12 and
// 10.224.0.0/12, which only the benchmark's own namespace ever sees.
//   node gen_api_objects.js N M > objects.json
//
// With --changes C it prints instead C endpoint changes to those objects, one
// a line: the slice's name, a TAB, and the JSON merge patch (the slice's whole
// endpoints list) for api_bench.sh's MODE=sequential. Change k replaces one
// endpoint of service k % N (round robin over the services): slot
// floor(k / N) % M moves to the fresh address 10.232.0.0 + k (changes
// accumulate: the patch carries the earlier changes of that slice), so every
// change removes one endpoint and adds one the table has never held.
//   node gen_api_objects.js --changes C N M > changes.tsv
'use strict';
const args = process.argv.slice(2);
const changes = args[0] === '--changes' ? Number(args.splice(0, 2)[1]) : -1;
const n = Number(args[0] || 10000), m = Number(args[1] || 10);
const ip = (base, i) => `${base + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

function objects() {
	const out = [];
	for (let i = 0; i < n; i++) {
		const name = `svc-${i}`;
		const ports = [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }];
		if (i % 10 === 0) ports.push({ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 });
		out.push({
			apiVersion: 'v1', kind: 'Service',
			metadata: { name, namespace: 'bench' },
			spec: { type: 'ClusterIP', clusterIP: `10.${ip(96, i)}`, ports },
		});
		const eps = [];
		for (let j = 0; j < m; j++)
			eps.push({ addresses: [`10.${ip(224, i * m + j)}`], conditions: { ready: true } });
		out.push({
			apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
			metadata: { name: `${name}-abcde`, namespace: 'bench',
				    labels: { 'kubernetes.io/service-name': name } },
			addressType: 'IPv4',
			ports: ports.map(p => ({ name: p.name, port: p.targetPort, protocol: p.protocol })),
			endpoints: eps,
		});
	}
	return out;
}

function changeLines(c) {
	if (!(n > 0 && m > 0 && c >= 0 && c <= 1 << 19))
		throw new Error('usage: gen_api_objects.js --changes C N M (C at most 524288)');
	const slices = new Map(), lines = [];
	for (let k = 0; k < c; k++) {
		const i = k % n, j = Math.floor(k / n) % m;
		if (!slices.has(i))
			slices.set(i, Array.from({ length: m }, (_, x) => `10.${ip(224, i * m + x)}`));
		const eps = slices.get(i);
		eps[j] = `10.${ip(232, k)}`;
		const patch = { endpoints: eps.map(a => ({ addresses: [a], conditions: { ready: true } })) };
		lines.push(`svc-${i}-abcde\t${JSON.stringify(patch)}\n`);
	}
	return lines.join('');
}

// One write: process.exit() would cut a pipe short, so none.
process.stdout.write(changes >= 0 ? changeLines(changes) : JSON.stringify({ items: objects() }));
