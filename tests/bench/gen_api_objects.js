// Prints {"items": [...]} for the test API server's /_test/bulk: N ClusterIP
// Services (one TCP port, every tenth also a UDP port) and one EndpointSlice
// each with M ready endpoints. Addresses are inside 10.96.0.0/12 and
// 10.224.0.0/12, which only the benchmark's own namespace ever sees.
//   node gen_api_objects.js N M > objects.json
'use strict';
const n = Number(process.argv[2] || 10000), m = Number(process.argv[3] || 10);
const ip = (base, i) => `${base + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
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
process.stdout.write(JSON.stringify({ items: out }));
