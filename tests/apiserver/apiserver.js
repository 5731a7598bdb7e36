#!/usr/bin/env node
// A test double of kube-apiserver: services, endpointslices, nodes and
// namespaces over HTTPS (HTTP/2 and HTTP/1.1), with watch, pagination,
// selectors, strategic merge patch, and fault switches under /_test/; and the
// kinds nftproxy's own manifests are made of (serviceaccounts, configmaps,
// daemonsets, clusterroles, clusterrolebindings, priorityclasses), so that
// `kubectl apply -k manifests/` can be tested against it.
// Only Node's built-in modules. See README.md beside this file.
'use strict';

const http2 = require('http2');
const https = require('https');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { URL } = require('url');

// ---------------------------------------------------------------------------
// Command line

function usage(msg) {
	if (msg) process.stderr.write(`apiserver: ${msg}\n`);
	process.stderr.write(`usage: node apiserver.js --dir DIR [--listen HOST:PORT] [--http1-only]
       [--bookmark-interval-ms MS] [--history N] [--state-file FILE] [--quiet]\n`);
	process.exit(2);
}

const opt = {
	dir: '', listen: '127.0.0.1:6443', http1Only: false, bookmarkMs: 1000,
	history: 10000, stateFile: '', quiet: false,
};
{
	const a = process.argv.slice(2);
	for (let i = 0; i < a.length; i++) {
		const need = () => { if (i + 1 >= a.length) usage(`${a[i]} needs a value`); return a[++i]; };
		switch (a[i]) {
		case '--dir': opt.dir = need(); break;
		case '--listen': opt.listen = need(); break;
		case '--http1-only': opt.http1Only = true; break;
		case '--bookmark-interval-ms': opt.bookmarkMs = Number(need()); break;
		case '--history': opt.history = Number(need()); break;
		case '--state-file': opt.stateFile = need(); break;
		case '--quiet': opt.quiet = true; break;
		case '-h': case '--help': usage(); break;
		default: usage(`unknown argument ${a[i]}`);
		}
	}
	if (!opt.dir) usage('--dir is required');
	if (!(opt.bookmarkMs > 0)) usage('bad --bookmark-interval-ms');
	if (!(opt.history > 0)) usage('bad --history');
}
const m = /^(.*):(\d+)$/.exec(opt.listen);
if (!m) usage(`bad --listen ${opt.listen}`);
const LISTEN_HOST = m[1].replace(/^\[(.*)\]$/, '$1');
const LISTEN_PORT = Number(m[2]);
const DIR = path.resolve(opt.dir);
fs.mkdirSync(DIR, { recursive: true });

function logLine(s) {
	if (!opt.quiet) process.stderr.write(`${new Date().toISOString()} ${s}\n`);
}

// ---------------------------------------------------------------------------
// Certificates, token, kubeconfigs

const P = (f) => path.join(DIR, f);

function openssl(...args) {
	execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function genKey(file) {
	openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file);
	fs.chmodSync(file, 0o600);
}

function genCA(name, cn) {
	genKey(P(`${name}.key`));
	openssl('req', '-x509', '-new', '-key', P(`${name}.key`), '-subj', `/CN=${cn}`, '-days', '3650',
		'-addext', 'basicConstraints=critical,CA:TRUE',
		'-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
		'-out', P(`${name}.crt`));
}

function genLeaf(name, cn, ext, ca = 'ca') {
	const csr = P(`${name}.csr`), extf = P(`${name}.ext`);
	genKey(P(`${name}.key`));
	openssl('req', '-new', '-key', P(`${name}.key`), '-subj', `/CN=${cn}`, '-out', csr);
	fs.writeFileSync(extf, ext);
	openssl('x509', '-req', '-in', csr, '-CA', P(`${ca}.crt`), '-CAkey', P(`${ca}.key`),
		'-set_serial', '0x' + crypto.randomBytes(12).toString('hex'), '-days', '3650',
		'-extfile', extf, '-out', P(`${name}.crt`));
	fs.unlinkSync(csr);
	fs.unlinkSync(extf);
}

function writeAtomic(file, data) {
	const tmp = `${file}.tmp${process.pid}`;
	fs.writeFileSync(tmp, data);
	fs.renameSync(tmp, file);
}

function setupDir() {
	if (!fs.existsSync(P('ca.crt')) || !fs.existsSync(P('ca.key'))) genCA('ca', 'nftproxy-test-ca');
	if (!fs.existsSync(P('other-ca.crt'))) genCA('other-ca', 'unrelated-test-ca');
	const ip = (s) => /^[0-9.]+$/.test(s) || s.includes(':');
	const sans = ['IP:127.0.0.1', 'DNS:localhost', 'DNS:kubernetes.default.svc'];
	if (LISTEN_HOST && LISTEN_HOST !== '127.0.0.1' && LISTEN_HOST !== '0.0.0.0' && LISTEN_HOST !== '::')
		sans.push(ip(LISTEN_HOST) ? `IP:${LISTEN_HOST}` : `DNS:${LISTEN_HOST}`);
	const san = sans.join(',');
	let oldSan = '';
	try { oldSan = fs.readFileSync(P('server.san'), 'utf8'); } catch (e) { /* first start */ }
	if (oldSan !== san || !fs.existsSync(P('server.crt'))) {
		genLeaf('server', 'kube-apiserver', `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n` +
			'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
		fs.writeFileSync(P('server.san'), san);
	}
	if (!fs.existsSync(P('client.crt')))
		genLeaf('client', 'system:kube-proxy', 'basicConstraints=CA:FALSE\n' +
			'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
	if (!fs.existsSync(P('token'))) writeAtomic(P('token'), crypto.randomBytes(24).toString('hex') + '\n');
}

function kubeconfig(server, cluster, user) {
	const q = JSON.stringify;
	const lines = (o, ind) => Object.entries(o).map(([k, v]) => `${ind}${k}: ${q(v)}`).join('\n');
	return `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${q(server)}
${lines(cluster, '    ')}
users:
- name: test
  user:
${lines(user, '    ')}
contexts:
- name: test
  context:
    cluster: test
    user: test
    namespace: default
current-context: test
preferences: {}
`;
}

function writeKubeconfigs(port) {
	const host = (LISTEN_HOST === '0.0.0.0' || LISTEN_HOST === '' || LISTEN_HOST === '::') ? '127.0.0.1' : LISTEN_HOST;
	const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
	const b64 = (f) => fs.readFileSync(P(f)).toString('base64');
	const tok = readToken();
	const caData = { 'certificate-authority-data': b64('ca.crt') };
	writeAtomic(P('kubeconfig'), kubeconfig(server, caData, { token: tok }));
	writeAtomic(P('kubeconfig-files'), kubeconfig(server, { 'certificate-authority': P('ca.crt') },
		{ 'client-certificate': P('client.crt'), 'client-key': P('client.key') }));
	writeAtomic(P('kubeconfig-certdata'), kubeconfig(server, caData,
		{ 'client-certificate-data': b64('client.crt'), 'client-key-data': b64('client.key') }));
	writeAtomic(P('kubeconfig-tokenfile'), kubeconfig(server, caData, { tokenFile: P('token') }));
	writeAtomic(P('kubeconfig-wrong-ca'), kubeconfig(server, { 'certificate-authority-data': b64('other-ca.crt') },
		{ token: tok }));
	writeAtomic(P('kubeconfig-wrong-token'), kubeconfig(server, caData, { token: 'wrong-token' }));
}

let tokenCache = { sig: '', value: '' };
function readToken() {
	let st;
	try { st = fs.statSync(P('token')); } catch (e) { return tokenCache.value; }
	const sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
	if (sig !== tokenCache.sig) {
		try {
			tokenCache = { sig, value: fs.readFileSync(P('token'), 'utf8').trim() };
		} catch (e) { /* keep the old one */ }
	}
	return tokenCache.value;
}

// ---------------------------------------------------------------------------
// Resources

// status: has a /status subresource (the main resource ignores status
// changes); generation: metadata.generation counts spec changes; names:
// 'path' for kinds whose names only need to be a path segment (RBAC's
// "system:node-proxier"), else an RFC 1123 subdomain.
const RES = {
	services: { kind: 'Service', group: '', version: 'v1', namespaced: true, short: ['svc'], singular: 'service', status: true, generation: true },
	endpointslices: { kind: 'EndpointSlice', group: 'discovery.k8s.io', version: 'v1', namespaced: true, short: [], singular: 'endpointslice', status: false },
	nodes: { kind: 'Node', group: '', version: 'v1', namespaced: false, short: ['no'], singular: 'node', status: true },
	namespaces: { kind: 'Namespace', group: '', version: 'v1', namespaced: false, short: ['ns'], singular: 'namespace', status: true },
	serviceaccounts: { kind: 'ServiceAccount', group: '', version: 'v1', namespaced: true, short: ['sa'], singular: 'serviceaccount', status: false },
	configmaps: { kind: 'ConfigMap', group: '', version: 'v1', namespaced: true, short: ['cm'], singular: 'configmap', status: false },
	daemonsets: { kind: 'DaemonSet', group: 'apps', version: 'v1', namespaced: true, short: ['ds'], singular: 'daemonset', status: true, generation: true },
	clusterroles: { kind: 'ClusterRole', group: 'rbac.authorization.k8s.io', version: 'v1', namespaced: false, short: [], singular: 'clusterrole', status: false, names: 'path' },
	clusterrolebindings: { kind: 'ClusterRoleBinding', group: 'rbac.authorization.k8s.io', version: 'v1', namespaced: false, short: [], singular: 'clusterrolebinding', status: false, names: 'path' },
	priorityclasses: { kind: 'PriorityClass', group: 'scheduling.k8s.io', version: 'v1', namespaced: false, short: ['pc'], singular: 'priorityclass', status: false },
};
for (const [name, r] of Object.entries(RES)) {
	r.name = name;
	r.apiVersion = r.group ? `${r.group}/${r.version}` : r.version;
}
const KIND_TO_RES = Object.fromEntries(Object.values(RES).map((r) => [r.kind, r]));

// Strategic merge patch metadata: list fields that merge (by key, or as a
// set of primitives); every other list is atomic (replaced).
const SMP_COMMON = {
	'metadata.ownerReferences': { key: 'uid' },
	'metadata.finalizers': { primitive: true },
};
// The pod template's lists (a DaemonSet's spec.template.spec): containers by
// name and, inside them, env by name, ports by containerPort, mounts by path.
function podSpecSMP(p) {
	const m = {
		[`${p}.volumes`]: { key: 'name' },
		[`${p}.imagePullSecrets`]: { key: 'name' },
		[`${p}.hostAliases`]: { key: 'ip' },
		[`${p}.topologySpreadConstraints`]: { key: 'topologyKey' },
	};
	for (const c of ['containers', 'initContainers', 'ephemeralContainers']) {
		m[`${p}.${c}`] = { key: 'name' };
		m[`${p}.${c}.env`] = { key: 'name' };
		m[`${p}.${c}.ports`] = { key: 'containerPort' };
		m[`${p}.${c}.volumeMounts`] = { key: 'mountPath' };
		m[`${p}.${c}.volumeDevices`] = { key: 'devicePath' };
	}
	return m;
}
const SMP = {
	services: { 'spec.ports': { key: 'port' }, 'status.conditions': { key: 'type' } },
	endpointslices: {},
	nodes: { 'spec.podCIDRs': { primitive: true }, 'status.conditions': { key: 'type' }, 'status.addresses': { key: 'type' } },
	namespaces: { 'status.conditions': { key: 'type' } },
	serviceaccounts: { secrets: { key: 'name' }, imagePullSecrets: { key: 'name' } },
	configmaps: {},
	daemonsets: { ...podSpecSMP('spec.template.spec'), 'spec.template.metadata.finalizers': { primitive: true }, 'status.conditions': { key: 'type' } },
	// rules, subjects: atomic lists, as in the real types
	clusterroles: {},
	clusterrolebindings: {},
	priorityclasses: {},
};

// ---------------------------------------------------------------------------
// Store

let RV = 0;                         // the one global resourceVersion counter
const store = {};                   // resource -> Map(key -> object)
const sortedKeys = {};              // resource -> sorted key array, or null
for (const r of Object.keys(RES)) { store[r] = new Map(); sortedKeys[r] = null; }
let history = [];                   // [{rv, res, type, key, obj, prev}], increasing rv
let historyStart = 0;               // every event with rv > historyStart is in history
let compactRV = 0;                  // /_test/expire: RVs <= this are too old
const snapshots = new Map();        // "res|rv" -> sorted object array (list pages)
const usedIPs = new Set();
const usedNodePorts = new Set();

const keyOf = (r, ns, name) => (RES[r].namespaced ? `${ns}/${name}` : name);
function getKeys(r) {
	if (!sortedKeys[r]) sortedKeys[r] = Array.from(store[r].keys()).sort();
	return sortedKeys[r];
}

function trackAlloc(obj, add) {
	if (obj.kind !== 'Service' || !obj.spec) return;
	for (const ip of obj.spec.clusterIPs || [obj.spec.clusterIP]) {
		if (ip && ip !== 'None') { if (add) usedIPs.add(ip); else usedIPs.delete(ip); }
	}
	for (const p of obj.spec.ports || []) {
		if (p.nodePort) { if (add) usedNodePorts.add(p.nodePort); else usedNodePorts.delete(p.nodePort); }
	}
}

function saveState() {
	if (!opt.stateFile) return;
	const objects = {};
	for (const r of Object.keys(RES)) objects[r] = Array.from(store[r].values());
	writeAtomic(opt.stateFile, JSON.stringify({ resourceVersion: RV, objects }));
}

function loadState() {
	if (!opt.stateFile || !fs.existsSync(opt.stateFile)) return;
	const st = JSON.parse(fs.readFileSync(opt.stateFile, 'utf8'));
	RV = Number(st.resourceVersion) || 0;
	for (const r of Object.keys(RES)) {
		for (const o of (st.objects && st.objects[r]) || []) {
			store[r].set(keyOf(r, o.metadata.namespace, o.metadata.name), o);
			trackAlloc(o, true);
		}
	}
	historyStart = RV;
	logLine(`loaded ${opt.stateFile}: resourceVersion ${RV}, ` +
		Object.keys(RES).map((r) => `${store[r].size} ${r}`).join(', '));
}

const watchers = new Set();

function recordEvent(ev) {
	history.push(ev);
	if (history.length > opt.history * 2) {
		const drop = history.length - opt.history;
		historyStart = history[drop - 1].rv;
		history = history.slice(drop);
	}
	// /_test/cut-mid: this event is cut in the middle in every watch it goes to
	const cm = faults.cutMid && faults.cutMid.res === ev.res ? faults.cutMid : null;
	let n = 0;
	for (const w of Array.from(watchers)) {
		if (w.res !== ev.res) continue;
		w.cutNext = cm;
		w.deliver(ev);
		w.cutNext = null;
		n++;
	}
	if (cm && n) faults.cutMid = null;
}

// commit: stores obj (already complete but for the resourceVersion) as the
// new state of key, or deletes it (obj null). Returns the stored object.
function commit(r, key, obj, type) {
	const prev = store[r].get(key);
	RV++;
	let out;
	if (type === 'DELETED') {
		out = { ...prev, metadata: { ...prev.metadata, resourceVersion: String(RV) } };
		store[r].delete(key);
		sortedKeys[r] = null;
		trackAlloc(prev, false);
	} else {
		obj.metadata.resourceVersion = String(RV);
		out = obj;
		if (!prev) sortedKeys[r] = null;
		else trackAlloc(prev, false);
		store[r].set(key, obj);
		trackAlloc(obj, true);
	}
	recordEvent({ rv: RV, res: r, type, key, obj: out, prev });
	return out;
}

// ---------------------------------------------------------------------------
// Errors

class ApiError extends Error {
	constructor(code, reason, message, details) {
		super(message);
		this.code = code; this.reason = reason; this.details = details;
	}
}
function statusObj(code, reason, message, details) {
	const s = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason };
	if (details) s.details = details;
	s.code = code;
	return s;
}
const resDetails = (r, name) => {
	const d = { name, kind: r };
	if (RES[r] && RES[r].group) d.group = RES[r].group;
	return d;
};
const qualified = (r) => (RES[r].group ? `${r}.${RES[r].group}` : r);
const notFound = (r, name) => new ApiError(404, 'NotFound', `${qualified(r)} "${name}" not found`, resDetails(r, name));
const badRequest = (msg) => new ApiError(400, 'BadRequest', msg);
const invalid = (r, name, causes) => new ApiError(422, 'Invalid',
	`${RES[r].kind} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
	{ name, ...(RES[r].group ? { group: RES[r].group } : {}), kind: RES[r].kind, causes: causes.map((c) => ({ reason: 'FieldValueInvalid', message: c.message, field: c.field })) });
const conflict = (r, name) => new ApiError(409, 'Conflict',
	`Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
	resDetails(r, name));

// ---------------------------------------------------------------------------
// Selectors

function splitTop(s) {
	const out = [];
	let depth = 0, cur = '';
	for (const c of s) {
		if (c === '(') depth++;
		if (c === ')') depth--;
		if (c === ',' && depth === 0) { out.push(cur); cur = ''; } else cur += c;
	}
	out.push(cur);
	return out.map((x) => x.trim()).filter((x) => x !== '');
}

function parseLabelSelector(s) {
	if (!s) return null;
	const reqs = [];
	for (const part of splitTop(s)) {
		let mm;
		if ((mm = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part))) {
			const vals = new Set(mm[3].split(',').map((v) => v.trim()));
			reqs.push(mm[2] === 'in' ? (l) => l[mm[1]] !== undefined && vals.has(l[mm[1]])
				: (l) => l[mm[1]] === undefined || !vals.has(l[mm[1]]));
		} else if ((mm = /^!\s*([^=!\s]+)$/.exec(part))) {
			reqs.push((l) => l[mm[1]] === undefined);
		} else if ((mm = /^([^=!\s]+)\s*!=\s*(\S*)$/.exec(part))) {
			reqs.push((l) => l[mm[1]] !== mm[2]);
		} else if ((mm = /^([^=!\s]+)\s*==?\s*(\S*)$/.exec(part))) {
			reqs.push((l) => l[mm[1]] === mm[2]);
		} else if ((mm = /^([^=!\s()<>]+)$/.exec(part))) {
			reqs.push((l) => l[mm[1]] !== undefined);
		} else {
			throw badRequest(`unable to parse requirement: invalid label selector "${s}"`);
		}
	}
	return (o) => { const l = (o.metadata && o.metadata.labels) || {}; return reqs.every((f) => f(l)); };
}

function parseFieldSelector(s, r) {
	if (!s) return null;
	const reqs = [];
	for (const part of splitTop(s)) {
		const mm = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
		if (!mm) throw badRequest(`invalid field selector "${s}"`);
		let get;
		if (mm[1] === 'metadata.name') get = (o) => o.metadata.name;
		else if (mm[1] === 'metadata.namespace' && RES[r].namespaced) get = (o) => o.metadata.namespace;
		else if (mm[1] === 'spec.clusterIP' && r === 'services') get = (o) => (o.spec && o.spec.clusterIP) || '';
		else if (mm[1] === 'spec.unschedulable' && r === 'nodes') get = (o) => String(!!(o.spec && o.spec.unschedulable));
		else if (mm[1] === 'addressType' && r === 'endpointslices') get = (o) => o.addressType || '';
		else throw badRequest(`field label not supported: ${mm[1]}`);
		const v = mm[3];
		reqs.push(mm[2] === '!=' ? (o) => get(o) !== v : (o) => get(o) === v);
	}
	return (o) => reqs.every((f) => f(o));
}

// ---------------------------------------------------------------------------
// Patches

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

function mergePatch(target, patch) {
	if (!isObj(patch)) return clone(patch);
	const out = isObj(target) ? { ...target } : {};
	for (const [k, v] of Object.entries(patch)) {
		if (v === null) delete out[k];
		else out[k] = mergePatch(out[k], v);
	}
	return out;
}

function ptrParse(p) {
	if (p === '') return [];
	if (p[0] !== '/') throw new Error(`invalid JSON pointer ${p}`);
	return p.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}
function ptrParent(doc, toks) {
	let cur = doc;
	for (const t of toks.slice(0, -1)) {
		if (Array.isArray(cur)) cur = cur[Number(t)];
		else if (isObj(cur)) cur = cur[t];
		else cur = undefined;
		if (cur === undefined) throw new Error(`path not found: /${toks.join('/')}`);
	}
	return cur;
}
function ptrGet(doc, p) {
	let cur = doc;
	for (const t of ptrParse(p)) {
		cur = Array.isArray(cur) ? cur[Number(t)] : isObj(cur) ? cur[t] : undefined;
		if (cur === undefined) throw new Error(`path not found: ${p}`);
	}
	return cur;
}
function ptrRemove(doc, p) {
	const toks = ptrParse(p), par = ptrParent(doc, toks), last = toks[toks.length - 1];
	if (Array.isArray(par)) {
		const i = Number(last);
		if (!(i >= 0 && i < par.length)) throw new Error(`index out of range: ${p}`);
		return par.splice(i, 1)[0];
	}
	if (!isObj(par) || !(last in par)) throw new Error(`path not found: ${p}`);
	const v = par[last];
	delete par[last];
	return v;
}
function ptrAdd(doc, p, val, replace) {
	const toks = ptrParse(p);
	if (!toks.length) return val;
	const par = ptrParent(doc, toks), last = toks[toks.length - 1];
	if (Array.isArray(par)) {
		const i = last === '-' ? par.length : Number(last);
		if (!(i >= 0 && i <= par.length) || (replace && i >= par.length)) throw new Error(`index out of range: ${p}`);
		if (replace) par[i] = val; else par.splice(i, 0, val);
	} else if (isObj(par)) {
		if (replace && !(last in par)) throw new Error(`path not found: ${p}`);
		par[last] = val;
	} else throw new Error(`path not found: ${p}`);
	return doc;
}
function jsonPatch(doc, ops) {
	if (!Array.isArray(ops)) throw new Error('a JSON patch must be an array of operations');
	doc = clone(doc);
	for (const op of ops) {
		switch (op.op) {
		case 'add': doc = ptrAdd(doc, op.path, clone(op.value), false); break;
		case 'replace': doc = ptrParse(op.path).length ? ptrAdd(doc, op.path, clone(op.value), true) : clone(op.value); break;
		case 'remove': ptrRemove(doc, op.path); break;
		case 'move': { const v = ptrRemove(doc, op.from); doc = ptrAdd(doc, op.path, v, false); break; }
		case 'copy': doc = ptrAdd(doc, op.path, clone(ptrGet(doc, op.from)), false); break;
		case 'test':
			if (JSON.stringify(ptrGet(doc, op.path)) !== JSON.stringify(op.value))
				throw new Error(`testing value ${op.path} failed`);
			break;
		default: throw new Error(`unknown JSON patch operation ${JSON.stringify(op.op)}`);
		}
	}
	return doc;
}

function stripDirectives(v) {
	if (Array.isArray(v)) return v.filter((e) => !(isObj(e) && e.$patch)).map(stripDirectives);
	if (!isObj(v)) return v;
	const out = {};
	for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
	return out;
}

function smpMeta(r, p) { return SMP_COMMON[p] || SMP[r][p]; }

// Strategic merge patch of a map (returns undefined for `$patch: delete`).
function smpMap(r, orig, patch, p) {
	if (patch.$patch === 'replace') return stripDirectives(patch);
	if (patch.$patch === 'delete') return undefined;
	let out = isObj(orig) ? { ...orig } : {};
	if (Array.isArray(patch.$retainKeys)) {
		const keep = new Set(patch.$retainKeys);
		for (const k of Object.keys(out)) if (!keep.has(k) && !(k in patch)) delete out[k];
	}
	const orders = [];
	for (const [k, v] of Object.entries(patch)) {
		if (k === '$patch' || k === '$retainKeys') continue;
		if (k.startsWith('$setElementOrder/')) { orders.push([k.slice(17), v]); continue; }
		if (k.startsWith('$deleteFromPrimitiveList/')) {
			const f = k.slice(25), del = new Set((v || []).map((x) => JSON.stringify(x)));
			if (Array.isArray(out[f])) out[f] = out[f].filter((x) => !del.has(JSON.stringify(x)));
			continue;
		}
		const fp = p ? `${p}.${k}` : k;
		if (v === null) delete out[k];
		else if (isObj(v)) {
			const nv = smpMap(r, out[k], v, fp);
			if (nv === undefined) delete out[k]; else out[k] = nv;
		} else if (Array.isArray(v)) {
			const meta = smpMeta(r, fp);
			out[k] = meta ? smpList(r, Array.isArray(out[k]) ? out[k] : [], v, meta, fp) : stripDirectives(v);
		} else out[k] = v;
	}
	for (const [f, order] of orders) {
		if (!Array.isArray(out[f]) || !Array.isArray(order)) continue;
		const meta = smpMeta(r, p ? `${p}.${f}` : f);
		const id = (e) => JSON.stringify(meta && meta.key && isObj(e) ? e[meta.key] : e);
		const pos = new Map(order.map((e, i) => [id(e), i]));
		const inOrder = out[f].filter((e) => pos.has(id(e))).sort((a, b) => pos.get(id(a)) - pos.get(id(b)));
		out[f] = inOrder.concat(out[f].filter((e) => !pos.has(id(e))));
	}
	return out;
}

function smpList(r, orig, patch, meta, p) {
	if (patch.some((e) => isObj(e) && e.$patch === 'replace'))
		return stripDirectives(patch.filter((e) => !(isObj(e) && e.$patch === 'replace')));
	let out = orig.slice();
	if (meta.primitive) {
		const have = new Set(out.map((x) => JSON.stringify(x)));
		for (const e of patch) if (!have.has(JSON.stringify(e))) { out.push(e); have.add(JSON.stringify(e)); }
		return out;
	}
	const k = meta.key;
	for (const e of patch) {
		if (!isObj(e)) { out.push(e); continue; }
		const i = out.findIndex((x) => isObj(x) && JSON.stringify(x[k]) === JSON.stringify(e[k]));
		if (e.$patch === 'delete') { if (i >= 0) out.splice(i, 1); continue; }
		if (i >= 0) out[i] = smpMap(r, out[i], e, p);
		else out.push(smpMap(r, {}, e, p));
	}
	out = out.filter((x) => x !== undefined);
	return out;
}

// ---------------------------------------------------------------------------
// Defaults and validation (just enough to look like the real server)

const nowTS = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const ipFamily = (ip) => (ip.includes(':') ? 'IPv6' : 'IPv4');
let nextIP4 = 10, nextIP6 = 10, nextNodePort = 30000;
function allocIP(fam) {
	for (let n = 0; n < 65534; n++) {
		let ip;
		if (fam === 'IPv4') {
			if (nextIP4 > 65534) nextIP4 = 10;
			const v = nextIP4++;
			ip = `10.96.${v >> 8}.${v & 255}`;
		} else {
			if (nextIP6 > 65534) nextIP6 = 10;
			ip = `fd00:10:96::${(nextIP6++).toString(16)}`;
		}
		if (!usedIPs.has(ip)) return ip;
	}
	throw new ApiError(500, 'InternalError', 'range is full');
}
function allocNodePort() {
	for (let n = 0; n < 2768; n++) {
		if (nextNodePort > 32767) nextNodePort = 30000;
		const p = nextNodePort++;
		if (!usedNodePorts.has(p)) return p;
	}
	throw new ApiError(500, 'InternalError', 'node port range is full');
}

function defaultService(o, old) {
	const s = o.spec = o.spec || {};
	if (!s.type) s.type = 'ClusterIP';
	if (old && old.spec) {
		// like the real server's patchAllocatedValues: an update that leaves
		// the allocated values out keeps them
		if (!s.clusterIP && !s.clusterIPs && old.spec.clusterIP) {
			s.clusterIP = old.spec.clusterIP;
			if (old.spec.clusterIPs) s.clusterIPs = old.spec.clusterIPs.slice();
		}
		if (!s.ipFamilies && old.spec.ipFamilies && s.clusterIP === old.spec.clusterIP) s.ipFamilies = old.spec.ipFamilies.slice();
		if (!s.ipFamilyPolicy && old.spec.ipFamilyPolicy && s.clusterIP === old.spec.clusterIP) s.ipFamilyPolicy = old.spec.ipFamilyPolicy;
		for (const p of s.ports || []) {
			if (p.nodePort) continue;
			const op = (old.spec.ports || []).find((x) => x.port === p.port && (x.protocol || 'TCP') === (p.protocol || 'TCP'));
			if (op && op.nodePort && s.type !== 'ClusterIP') p.nodePort = op.nodePort;
		}
	}
	if (s.type !== 'ExternalName') {
		if (!s.clusterIP && s.clusterIPs && s.clusterIPs.length) s.clusterIP = s.clusterIPs[0];
		if (!s.clusterIP) {
			const fam = (s.ipFamilies && s.ipFamilies[0]) || 'IPv4';
			s.clusterIP = allocIP(fam);
		}
		if (!s.clusterIPs) s.clusterIPs = [s.clusterIP];
		if (s.clusterIP === 'None') {
			if (!s.ipFamilies) s.ipFamilies = ['IPv4'];
			if (!s.ipFamilyPolicy) s.ipFamilyPolicy = 'SingleStack';
		} else {
			const dual = s.ipFamilyPolicy === 'RequireDualStack' || s.ipFamilyPolicy === 'PreferDualStack';
			if (dual && s.clusterIPs.length === 1) {
				s.clusterIPs.push(allocIP(ipFamily(s.clusterIP) === 'IPv4' ? 'IPv6' : 'IPv4'));
			}
			if (!s.ipFamilies) s.ipFamilies = s.clusterIPs.map(ipFamily);
			if (!s.ipFamilyPolicy) s.ipFamilyPolicy = s.clusterIPs.length > 1 ? 'RequireDualStack' : 'SingleStack';
		}
		if (!s.internalTrafficPolicy) s.internalTrafficPolicy = 'Cluster';
	}
	if (!s.sessionAffinity) s.sessionAffinity = 'None';
	if ((s.type === 'NodePort' || s.type === 'LoadBalancer') && !s.externalTrafficPolicy) s.externalTrafficPolicy = 'Cluster';
	if (s.type === 'LoadBalancer' && s.allocateLoadBalancerNodePorts === undefined) s.allocateLoadBalancerNodePorts = true;
	for (const p of s.ports || []) {
		if (!p.protocol) p.protocol = 'TCP';
		if (p.targetPort === undefined && s.clusterIP !== 'None') p.targetPort = p.port;
		if (!p.nodePort && (s.type === 'NodePort' || (s.type === 'LoadBalancer' && s.allocateLoadBalancerNodePorts)))
			p.nodePort = allocNodePort();
	}
}

function validate(r, o, old) {
	const causes = [];
	const name = o.metadata.name;
	if (RES[r].names === 'path') {
		if (name === '.' || name === '..' || /[/%]/.test(name))
			causes.push({ field: 'metadata.name', message: `Invalid value: "${name}": may not be '.' or '..' and may not contain '/' or '%'` });
	} else if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name))
		causes.push({ field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'` });
	const port = (v, f) => {
		if (!Number.isInteger(v) || v < 1 || v > 65535) causes.push({ field: f, message: `Invalid value: ${JSON.stringify(v)}: must be between 1 and 65535, inclusive` });
	};
	const str = (v, f) => {
		if (v !== undefined && v !== null && typeof v !== 'string') causes.push({ field: f, message: `Invalid value: ${JSON.stringify(v)}: must be a string` });
	};
	if (r === 'services') {
		const s = o.spec;
		if (!isObj(s)) throw invalid(r, name, [{ field: 'spec', message: 'Required value' }]);
		if (s.ports !== undefined && !Array.isArray(s.ports)) throw invalid(r, name, [{ field: 'spec.ports', message: 'must be a list' }]);
		(s.ports || []).forEach((p, i) => {
			port(p.port, `spec.ports[${i}].port`);
			str(p.name, `spec.ports[${i}].name`);
			str(p.protocol, `spec.ports[${i}].protocol`);
			if (p.targetPort !== undefined && typeof p.targetPort !== 'string' && !Number.isInteger(p.targetPort))
				causes.push({ field: `spec.ports[${i}].targetPort`, message: `Invalid value: ${JSON.stringify(p.targetPort)}` });
		});
		if (old && old.spec && old.spec.clusterIP && s.clusterIP !== old.spec.clusterIP && s.type !== 'ExternalName' && old.spec.type !== 'ExternalName')
			causes.push({ field: 'spec.clusterIPs[0]', message: 'Invalid value: ' + JSON.stringify(s.clusterIP) + ': may not change once set' });
		for (const ip of s.clusterIPs || []) {
			if (ip !== 'None' && !/^[0-9.]+$/.test(ip) && !/^[0-9a-fA-F:]+$/.test(ip))
				causes.push({ field: 'spec.clusterIPs', message: `Invalid value: "${ip}": must be a valid IP address` });
		}
	} else if (r === 'endpointslices') {
		if (!['IPv4', 'IPv6', 'FQDN'].includes(o.addressType))
			causes.push({ field: 'addressType', message: `Unsupported value: ${JSON.stringify(o.addressType)}` });
		if (old && old.addressType !== o.addressType)
			causes.push({ field: 'addressType', message: 'field is immutable' });
		if (o.ports !== undefined && o.ports !== null && !Array.isArray(o.ports)) throw invalid(r, name, [{ field: 'ports', message: 'must be a list' }]);
		if (o.endpoints !== undefined && o.endpoints !== null && !Array.isArray(o.endpoints)) throw invalid(r, name, [{ field: 'endpoints', message: 'must be a list' }]);
		(o.ports || []).forEach((p, i) => {
			if (p.port !== undefined && p.port !== null) port(p.port, `ports[${i}].port`);
			str(p.name, `ports[${i}].name`);
			str(p.protocol, `ports[${i}].protocol`);
		});
		(o.endpoints || []).forEach((e, i) => {
			if (!Array.isArray(e.addresses) || !e.addresses.length) causes.push({ field: `endpoints[${i}].addresses`, message: 'Required value' });
		});
	} else if (r === 'configmaps') {
		for (const f of ['data', 'binaryData']) {
			if (o[f] === undefined || o[f] === null) continue;
			if (!isObj(o[f])) { causes.push({ field: f, message: 'must be a map' }); continue; }
			for (const [k, v] of Object.entries(o[f])) {
				if (!/^[-._a-zA-Z0-9]+$/.test(k)) causes.push({ field: `${f}[${k}]`, message: `Invalid value: "${k}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'` });
				str(v, `${f}[${k}]`);
			}
		}
	} else if (r === 'daemonsets') {
		validateDaemonSet(o, old, causes);
	} else if (r === 'clusterroles') {
		if (o.rules !== undefined && o.rules !== null && !Array.isArray(o.rules)) throw invalid(r, name, [{ field: 'rules', message: 'must be a list' }]);
		(o.rules || []).forEach((rule, i) => {
			const list = (f) => Array.isArray(rule[f]) && rule[f].every((x) => typeof x === 'string');
			if (!list('verbs') || !rule.verbs.length) causes.push({ field: `rules[${i}].verbs`, message: 'Required value: verbs must contain at least one value' });
			for (const f of ['apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'])
				if (rule[f] !== undefined && !list(f)) causes.push({ field: `rules[${i}].${f}`, message: 'must be a list of strings' });
			const urls = (rule.nonResourceURLs || []).length, res = (rule.resources || []).length;
			if (!urls && !res) causes.push({ field: `rules[${i}].resources`, message: 'Required value: resource rules must supply at least one resource' });
			if (res && !Array.isArray(rule.apiGroups)) causes.push({ field: `rules[${i}].apiGroups`, message: 'Required value: resource rules must supply at least one api group' });
		});
	} else if (r === 'clusterrolebindings') {
		const ref = o.roleRef;
		if (!isObj(ref) || ref.kind !== 'ClusterRole' || ref.apiGroup !== 'rbac.authorization.k8s.io' || !ref.name)
			causes.push({ field: 'roleRef', message: 'Unsupported value: a ClusterRoleBinding refers to a ClusterRole (apiGroup rbac.authorization.k8s.io) by name' });
		if (old && JSON.stringify(old.roleRef) !== JSON.stringify(ref))
			causes.push({ field: 'roleRef', message: 'Invalid value: cannot change roleRef' });
		(o.subjects || []).forEach((sj, i) => {
			if (!['User', 'Group', 'ServiceAccount'].includes(sj.kind)) causes.push({ field: `subjects[${i}].kind`, message: `Unsupported value: ${JSON.stringify(sj.kind)}` });
			if (!sj.name) causes.push({ field: `subjects[${i}].name`, message: 'Required value' });
			if (sj.kind === 'ServiceAccount' && !sj.namespace) causes.push({ field: `subjects[${i}].namespace`, message: 'Required value' });
		});
	} else if (r === 'priorityclasses') {
		if (!Number.isInteger(o.value)) causes.push({ field: 'value', message: 'Required value' });
		if (old && o.value !== old.value) causes.push({ field: 'value', message: 'Forbidden: may not be changed in an update.' });
	}
	if (causes.length) throw invalid(r, name, causes);
}

// What the real validation refuses most often: a selector that does not
// select the template, a changed selector, a container without name or image.
function validateDaemonSet(o, old, causes) {
	const s = o.spec;
	if (!isObj(s)) { causes.push({ field: 'spec', message: 'Required value' }); return; }
	const sel = s.selector;
	const labels = (isObj(s.template) && isObj(s.template.metadata) && s.template.metadata.labels) || {};
	if (!isObj(sel) || (!isObj(sel.matchLabels) && !Array.isArray(sel.matchExpressions)))
		causes.push({ field: 'spec.selector', message: 'Required value' });
	else {
		const ok = Object.entries(sel.matchLabels || {}).every(([k, v]) => labels[k] === v) &&
			(sel.matchExpressions || []).every((e) => {
				const v = labels[e.key];
				switch (e.operator) {
				case 'In': return v !== undefined && (e.values || []).includes(v);
				case 'NotIn': return v === undefined || !(e.values || []).includes(v);
				case 'Exists': return v !== undefined;
				case 'DoesNotExist': return v === undefined;
				default: return false;
				}
			});
		if (!ok) causes.push({ field: 'spec.template.metadata.labels', message: `Invalid value: ${JSON.stringify(labels)}: \`selector\` does not match template \`labels\`` });
	}
	if (old && old.spec && JSON.stringify(old.spec.selector) !== JSON.stringify(sel))
		causes.push({ field: 'spec.selector', message: 'Invalid value: field is immutable' });
	const ps = isObj(s.template) && s.template.spec;
	if (!isObj(ps) || !Array.isArray(ps.containers) || !ps.containers.length) {
		causes.push({ field: 'spec.template.spec.containers', message: 'Required value' });
		return;
	}
	ps.containers.forEach((c, i) => {
		if (!c.name) causes.push({ field: `spec.template.spec.containers[${i}].name`, message: 'Required value' });
		if (!c.image) causes.push({ field: `spec.template.spec.containers[${i}].image`, message: 'Required value' });
		for (const [j, p] of (c.ports || []).entries())
			if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535)
				causes.push({ field: `spec.template.spec.containers[${i}].ports[${j}].containerPort`, message: `Invalid value: ${JSON.stringify(p.containerPort)}: must be between 1 and 65535, inclusive` });
	});
	const u = s.updateStrategy;
	if (u && u.type && !['RollingUpdate', 'OnDelete'].includes(u.type))
		causes.push({ field: 'spec.updateStrategy.type', message: `Unsupported value: ${JSON.stringify(u.type)}: supported values: "OnDelete", "RollingUpdate"` });
}

function defaults(r, o, old) {
	if (r === 'services') defaultService(o, old);
	else if (r === 'endpointslices') {
		for (const p of o.ports || []) {
			if (p.name === undefined) p.name = '';
			if (p.protocol === undefined) p.protocol = 'TCP';
		}
		if (o.endpoints === undefined || o.endpoints === null) o.endpoints = [];
	} else if (r === 'daemonsets') defaultDaemonSet(o);
	else if (r === 'priorityclasses') {
		if (o.globalDefault === undefined) o.globalDefault = false;
		if (o.preemptionPolicy === undefined) o.preemptionPolicy = 'PreemptLowerPriority';
	} else if (r === 'namespaces') {
		o.metadata.labels = { ...(o.metadata.labels || {}), 'kubernetes.io/metadata.name': o.metadata.name };
		o.spec = o.spec || {};
		if (!o.spec.finalizers) o.spec.finalizers = ['kubernetes'];
		o.status = { phase: 'Active', ...(o.status || {}) };
	}
}

// The real server's defaults for a DaemonSet and its pod template (apps/v1
// and core/v1 SetDefaults_*), those a manifest usually leaves out.
function defaultProbe(pr) {
	if (!isObj(pr)) return;
	if (pr.timeoutSeconds === undefined) pr.timeoutSeconds = 1;
	if (pr.periodSeconds === undefined) pr.periodSeconds = 10;
	if (pr.successThreshold === undefined) pr.successThreshold = 1;
	if (pr.failureThreshold === undefined) pr.failureThreshold = 3;
	if (isObj(pr.httpGet)) {
		if (!pr.httpGet.path) pr.httpGet.path = '/';
		if (!pr.httpGet.scheme) pr.httpGet.scheme = 'HTTP';
	}
}
function defaultContainer(c, hostNetwork) {
	if (!isObj(c)) return;
	if (!c.terminationMessagePath) c.terminationMessagePath = '/dev/termination-log';
	if (!c.terminationMessagePolicy) c.terminationMessagePolicy = 'File';
	if (!c.imagePullPolicy && typeof c.image === 'string') {
		const tag = /:([^/:@]+)$/.exec(c.image.split('@')[0]);
		c.imagePullPolicy = c.image.includes('@') || (tag && tag[1] !== 'latest') ? 'IfNotPresent' : 'Always';
	}
	for (const p of c.ports || []) {
		if (!isObj(p)) continue;
		if (!p.protocol) p.protocol = 'TCP';
		// a host-network pod's ports are the host's
		if (hostNetwork && p.hostPort === undefined) p.hostPort = p.containerPort;
	}
	for (const e of c.env || []) {
		const f = isObj(e) && isObj(e.valueFrom) && e.valueFrom.fieldRef;
		if (isObj(f) && !f.apiVersion) f.apiVersion = 'v1';
	}
	defaultProbe(c.readinessProbe);
	defaultProbe(c.livenessProbe);
	defaultProbe(c.startupProbe);
}
function defaultPodSpec(ps) {
	if (!ps.restartPolicy) ps.restartPolicy = 'Always';
	if (ps.terminationGracePeriodSeconds === undefined) ps.terminationGracePeriodSeconds = 30;
	if (!ps.dnsPolicy) ps.dnsPolicy = 'ClusterFirst';
	if (!ps.schedulerName) ps.schedulerName = 'default-scheduler';
	if (!ps.securityContext) ps.securityContext = {};
	for (const c of [...(ps.initContainers || []), ...(ps.containers || [])]) defaultContainer(c, !!ps.hostNetwork);
	for (const v of ps.volumes || []) {
		for (const f of ['configMap', 'secret']) {
			if (isObj(v) && isObj(v[f]) && v[f].defaultMode === undefined) v[f].defaultMode = 420;
		}
		if (isObj(v) && isObj(v.hostPath) && v.hostPath.type === undefined) v.hostPath.type = '';
	}
}
function defaultDaemonSet(o) {
	const s = o.spec = isObj(o.spec) ? o.spec : {};
	if (s.revisionHistoryLimit === undefined) s.revisionHistoryLimit = 10;
	if (!isObj(s.updateStrategy)) s.updateStrategy = {};
	if (!s.updateStrategy.type) s.updateStrategy.type = 'RollingUpdate';
	if (s.updateStrategy.type === 'RollingUpdate') {
		const ru = s.updateStrategy.rollingUpdate = isObj(s.updateStrategy.rollingUpdate) ? s.updateStrategy.rollingUpdate : {};
		if (ru.maxUnavailable === undefined) ru.maxUnavailable = 1;
		if (ru.maxSurge === undefined) ru.maxSurge = 0;
	}
	if (isObj(s.template)) {
		if (!isObj(s.template.metadata)) s.template.metadata = {};
		if (isObj(s.template.spec)) defaultPodSpec(s.template.spec);
	}
}

// ---------------------------------------------------------------------------
// Write operations

const canon = (o) => {
	const c = { ...o, metadata: { ...o.metadata } };
	delete c.metadata.resourceVersion;
	delete c.metadata.managedFields;
	return JSON.stringify(c);
};

function prepareNew(r, body, ns, old) {
	if (!isObj(body)) throw badRequest('the body of the request was in an unknown format');
	const R = RES[r];
	if (body.kind && body.kind !== R.kind)
		throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${R.apiVersion})`);
	// kind and apiVersion first, like the real server's encoding
	const o = { kind: R.kind, apiVersion: R.apiVersion, ...clone(body) };
	o.kind = R.kind;
	o.apiVersion = R.apiVersion;
	o.metadata = isObj(o.metadata) ? o.metadata : {};
	if (R.namespaced) {
		if (o.metadata.namespace && o.metadata.namespace !== ns)
			throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
		o.metadata.namespace = ns;
	} else delete o.metadata.namespace;
	return o;
}

function doCreate(r, ns, body, dryRun) {
	const o = prepareNew(r, body, ns, null);
	if (!o.metadata.name && o.metadata.generateName)
		o.metadata.name = o.metadata.generateName + crypto.randomBytes(3).toString('hex').slice(0, 5);
	if (!o.metadata.name) throw invalid(r, '', [{ field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
	const key = keyOf(r, ns, o.metadata.name);
	if (store[r].has(key))
		throw new ApiError(409, 'AlreadyExists', `${qualified(r)} "${o.metadata.name}" already exists`, resDetails(r, o.metadata.name));
	delete o.metadata.resourceVersion;
	o.metadata.uid = crypto.randomUUID();
	o.metadata.creationTimestamp = nowTS();
	delete o.metadata.deletionTimestamp;
	if (RES[r].generation) o.metadata.generation = 1;
	// status is the server's to set: a create starts from the empty one
	if (r === 'services') o.status = { loadBalancer: {} };
	else if (r === 'daemonsets')
		o.status = { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 };
	validate(r, o, null);
	defaults(r, o, null);
	if (dryRun) return o;
	if (RES[r].namespaced) autoNamespace(ns);
	return commit(r, key, o, 'ADDED');
}

// Like the NamespaceAutoProvision admission plugin: a namespace comes into
// existence when the first object is created in it.
function autoNamespace(ns) {
	if (store.namespaces.has(ns)) return;
	doCreate('namespaces', '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, false);
}

// Replaces the object at key with o (a full object from PUT or a patch),
// keeping what the client may not change. sub: 'status' or ''.
function doReplace(r, key, o, cur, sub, dryRun, preconditionRV) {
	if (preconditionRV && preconditionRV !== cur.metadata.resourceVersion) throw conflict(r, cur.metadata.name);
	if (o.metadata.name && o.metadata.name !== cur.metadata.name)
		throw badRequest(`the name of the object (${o.metadata.name}) does not match the name on the URL (${cur.metadata.name})`);
	let n;
	if (sub === 'status') {
		n = clone(cur);
		n.status = o.status;
	} else {
		n = o;
		n.metadata.name = cur.metadata.name;
		// the main resource ignores status changes, like the real server
		if (RES[r].status) n.status = clone(cur.status);
	}
	n.kind = RES[r].kind;
	n.apiVersion = RES[r].apiVersion;
	n.metadata.uid = cur.metadata.uid;
	n.metadata.creationTimestamp = cur.metadata.creationTimestamp;
	if (RES[r].namespaced) n.metadata.namespace = cur.metadata.namespace;
	if (cur.metadata.generation !== undefined) {
		n.metadata.generation = cur.metadata.generation;
		if (JSON.stringify(n.spec) !== JSON.stringify(cur.spec)) n.metadata.generation++;
	}
	defaults(r, n, cur);
	validate(r, n, cur);
	n.metadata.resourceVersion = cur.metadata.resourceVersion;
	if (canon(n) === canon(cur)) return cur; // no-op: no new resourceVersion, no event
	if (dryRun) return n;
	return commit(r, key, n, 'MODIFIED');
}

function doUpdate(r, key, body, ns, sub, dryRun) {
	const cur = store[r].get(key);
	const o = prepareNew(r, body, ns, cur);
	if (!cur) throw notFound(r, o.metadata.name || key);
	return doReplace(r, key, o, cur, sub, dryRun, o.metadata.resourceVersion);
}

function doPatch(r, key, name, body, ctype, sub, dryRun) {
	const cur = store[r].get(key);
	if (!cur) throw notFound(r, name);
	let patch;
	try { patch = JSON.parse(body.toString('utf8') || 'null'); } catch (e) {
		throw badRequest(`error decoding patch: ${e.message}`);
	}
	const t = (ctype || '').split(';')[0].trim();
	let res;
	try {
		if (t === 'application/merge-patch+json') res = mergePatch(cur, patch);
		else if (t === 'application/json-patch+json') res = jsonPatch(cur, patch);
		else if (t === 'application/strategic-merge-patch+json') {
			if (!isObj(patch)) throw new Error('a strategic merge patch must be a JSON object');
			res = smpMap(r, cur, patch, '');
		} else if (t === 'application/apply-patch+yaml') {
			throw new ApiError(415, 'UnsupportedMediaType', 'server-side apply is not implemented by this test server');
		} else throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
	} catch (e) {
		if (e instanceof ApiError) throw e;
		throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${e.message}`);
	}
	if (!isObj(res)) throw badRequest('the patched object is not an object');
	res.metadata = isObj(res.metadata) ? res.metadata : {};
	const wantRV = res.metadata.resourceVersion;
	return doReplace(r, key, res, cur, sub, dryRun, wantRV !== cur.metadata.resourceVersion ? wantRV : '');
}

function doDelete(r, key, name, body, dryRun) {
	const cur = store[r].get(key);
	if (!cur) throw notFound(r, name);
	let opts = {};
	try { opts = body && body.length ? JSON.parse(body.toString('utf8')) : {}; } catch (e) { /* ignore */ }
	const pre = (opts && opts.preconditions) || {};
	if (pre.uid && pre.uid !== cur.metadata.uid)
		throw new ApiError(409, 'Conflict', `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`, resDetails(r, name));
	if (pre.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion)
		throw new ApiError(409, 'Conflict', `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`, resDetails(r, name));
	if (dryRun) return cur;
	return commit(r, key, null, 'DELETED');
}

// ---------------------------------------------------------------------------
// Lists

function stripTypeMeta(o) {
	const { kind, apiVersion, ...rest } = o; // eslint-disable-line no-unused-vars
	return rest;
}

function lowerBound(arr, key, keyFn) {
	let lo = 0, hi = arr.length;
	while (lo < hi) {
		const mid = (lo + hi) >> 1;
		if (keyFn(arr[mid]) < key) lo = mid + 1; else hi = mid;
	}
	return lo;
}

const objKey = (r) => (o) => keyOf(r, o.metadata.namespace, o.metadata.name);

function snapshotAt(r, rv) {
	const id = `${r}|${rv}`;
	let s = snapshots.get(id);
	if (!s) {
		s = getKeys(r).map((k) => store[r].get(k));
		snapshots.set(id, s);
		while (snapshots.size > 64) snapshots.delete(snapshots.keys().next().value);
	}
	return s;
}

const CONTINUE_EXPIRED = 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.';

function doList(r, ns, q, stats) {
	const lsel = parseLabelSelector(q.get('labelSelector'));
	const fsel = parseFieldSelector(q.get('fieldSelector'), r);
	const limit = Number(q.get('limit') || 0);
	const cont = q.get('continue');
	let rv = RV, start = '';
	if (cont) {
		stats.continues[r] = (stats.continues[r] || 0) + 1;
		let tok;
		try { tok = JSON.parse(Buffer.from(cont, 'base64').toString('utf8')); } catch (e) { tok = null; }
		if (!tok || typeof tok.rv !== 'number' || typeof tok.start !== 'string')
			throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
		rv = tok.rv;
		start = tok.start;
	}
	if (limit > 0) stats.limited[r] = (stats.limited[r] || 0) + 1;
	let items;
	if (cont) {
		// the pages of one list come from the snapshot its first page made;
		// /_test/expire (and a restart) drops them
		items = snapshots.get(`${r}|${rv}`);
		if (!items) throw new ApiError(410, 'Expired', CONTINUE_EXPIRED);
	} else if (limit > 0) items = snapshotAt(r, rv);
	else items = getKeys(r).map((k) => store[r].get(k));
	const kf = objKey(r);
	let i = start ? lowerBound(items, start, kf) : 0;
	if (ns && RES[r].namespaced && !start) i = lowerBound(items, `${ns}/`, kf);
	const out = [];
	let last = null;
	for (; i < items.length; i++) {
		const o = items[i];
		if (ns && RES[r].namespaced && o.metadata.namespace !== ns) {
			if (o.metadata.namespace > ns) { i = items.length; break; }
			continue;
		}
		if ((lsel && !lsel(o)) || (fsel && !fsel(o))) continue;
		if (limit > 0 && out.length >= limit) break;
		out.push(stripTypeMeta(o));
		last = o;
	}
	const meta = { resourceVersion: String(rv) };
	if (limit > 0 && i < items.length) {
		// more may follow (the real server also says so when the rest does not match)
		let more = false;
		for (let j = i; j < items.length; j++) {
			const o = items[j];
			if (ns && RES[r].namespaced && o.metadata.namespace !== ns) continue;
			more = true;
			break;
		}
		if (more && last) {
			meta.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: kf(last) + '\u0000' })).toString('base64');
			if (!lsel && !fsel) {
				let rem = 0;
				for (let j = i; j < items.length; j++) if (!(ns && RES[r].namespaced && items[j].metadata.namespace !== ns)) rem++;
				meta.remainingItemCount = rem;
			}
		}
	}
	return { kind: `${RES[r].kind}List`, apiVersion: RES[r].apiVersion, metadata: meta, items: out };
}

// ---------------------------------------------------------------------------
// Watches

// A response body written through /_test/trickle: while it is on (for
// this request's path), bytes leave a few at a time on a timer, in order;
// else at once (after what is queued).
class Pipe {
	constructor(res, url) {
		this.res = res; this.url = url || '';
		this.q = []; this.timer = null; this.ending = false;
	}
	trickle() {
		const t = faults.trickle;
		return t && (!t.path || this.url.includes(t.path)) ? t : null;
	}
	write(data, cb) {
		const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
		if (!this.q.length && !this.trickle()) {
			if (!this.res.destroyed && !this.res.writableEnded) this.res.write(b, cb);
			return;
		}
		this.q.push({ b, cb });
		this.pump();
	}
	end() {
		this.ending = true;
		if (!this.q.length) { if (!this.res.writableEnded) this.res.end(); }
		else this.pump();
	}
	pump() {
		if (this.timer) return;
		const t = this.trickle();
		if (!t) {
			// switched off: the rest at once
			for (const { b, cb } of this.q.splice(0)) if (!this.res.destroyed) this.res.write(b, cb);
			if (this.ending && !this.res.writableEnded) this.res.end();
			return;
		}
		this.timer = setTimeout(() => {
			this.timer = null;
			if (this.res.destroyed || this.res.writableEnded) { this.q = []; return; }
			let n = t.bytes;
			while (n > 0 && this.q.length) {
				const e = this.q[0];
				const k = Math.min(n, e.b.length);
				const last = k === e.b.length;
				this.res.write(e.b.subarray(0, k), last ? e.cb : undefined);
				if (last) this.q.shift(); else e.b = e.b.subarray(k);
				n -= k;
				faults.injected.trickled = (faults.injected.trickled || 0) + k;
			}
			if (this.q.length) this.pump();
			else if (this.ending && !this.res.writableEnded) this.res.end();
		}, t.ms);
	}
}

let watchSeq = 0;
const tooOld = (have, oldest) => statusObj(410, 'Expired', `too old resource version: ${have} (${oldest})`);

class Watcher {
	constructor(r, ns, lsel, fsel, req, res, q) {
		this.id = ++watchSeq;
		this.res = r; this.ns = ns; this.lsel = lsel; this.fsel = fsel;
		this.req = req; this.resp = res;
		this.pipe = new Pipe(res, req.url);
		this.h2 = req.httpVersion === '2.0';
		this.lastRV = 0;
		this.closed = false;
		this.timers = [];
		if (q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1')
			this.timers.push(setInterval(() => this.bookmark(), opt.bookmarkMs));
		const to = Number(q.get('timeoutSeconds') || 0);
		if (to > 0) this.timers.push(setTimeout(() => this.end(), to * 1000));
	}
	matches(o) {
		if (this.ns && RES[this.res].namespaced && o.metadata.namespace !== this.ns) return false;
		return (!this.lsel || this.lsel(o)) && (!this.fsel || this.fsel(o));
	}
	write(s) {
		if (this.closed) return;
		this.pipe.write(s);
	}
	send(type, obj) {
		const line = JSON.stringify({ type, object: obj }) + '\n';
		const cm = this.cutNext;
		if (cm && type !== 'BOOKMARK') {
			this.cutNext = null;
			// /_test/cut-mid: this event is the one cut in its middle
			faults.injected['cut-mid'] = (faults.injected['cut-mid'] || 0) + 1;
			logLine(`cut-mid: watch ${this.id} of ${this.res}: ${type} cut after ${Buffer.byteLength(line) >> 1} of ${Buffer.byteLength(line)} bytes${cm.socket ? ', connection destroyed' : ''}`);
			this.cut(line, cm.socket);
			return;
		}
		this.write(line);
	}
	deliver(ev) {
		if (this.closed) return;
		const cur = ev.type !== 'DELETED' && this.matches(ev.obj);
		const old = ev.prev ? this.matches(ev.prev) : false;
		if (cur && !old) this.send('ADDED', ev.obj);
		else if (cur && old) this.send(ev.type, ev.obj);
		else if (!cur && old) {
			const o = ev.type === 'DELETED' ? ev.obj
				: { ...ev.prev, metadata: { ...ev.prev.metadata, resourceVersion: String(ev.rv) } };
			this.send('DELETED', o);
		}
		this.lastRV = ev.rv;
	}
	bookmark(extra) {
		const o = { kind: RES[this.res].kind, apiVersion: RES[this.res].apiVersion, metadata: { resourceVersion: String(RV) } };
		if (extra) o.metadata.annotations = extra;
		this.send('BOOKMARK', o);
	}
	cleanup() {
		this.closed = true;
		for (const t of this.timers) { clearInterval(t); clearTimeout(t); }
		watchers.delete(this);
	}
	end() {
		if (this.closed) return;
		this.cleanup();
		this.pipe.end();
	}
	expire() {
		if (this.closed) return;
		this.write(JSON.stringify({ type: 'ERROR', object: tooOld(this.lastRV || compactRV, compactRV + 1) }) + '\n');
		this.end();
	}
	// The first half of an event's bytes (line, default: a MODIFIED of
	// an object the watch matches), then the stream is reset (h2
	// RST_STREAM, 1.1: the socket destroyed), or with socket the TCP
	// connection is destroyed (over h2 every stream on it breaks).
	cut(line, socket) {
		if (this.closed) return;
		if (!line) line = JSON.stringify({ type: 'MODIFIED', object: this.sample() }) + '\n';
		const buf = Buffer.from(line);
		const half = buf.subarray(0, Math.max(1, buf.length >> 1));
		this.cleanup();
		this.pipe.write(half, () => setTimeout(() => this.abort(socket), 20));
	}
	// Ends the response without a clean end: see cut.
	abort(socket) {
		this.cleanup();
		const resp = this.resp, req = this.req;
		if (!this.h2) { if (resp.socket) resp.socket.destroy(); return; }
		if (!socket) {
			if (req.stream && !req.stream.destroyed) req.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
			return;
		}
		// an h2 session's socket is a proxy that refuses destroy(): the
		// real one is found by its peer's address
		const peer = req.socket;
		const real = Array.from(tlsLive).find((t) => peer && t.remotePort === peer.remotePort && t.remoteAddress === peer.remoteAddress);
		if (real) real.destroy();
		else if (req.stream && req.stream.session) req.stream.session.destroy();
	}
	sample() {
		for (const o of store[this.res].values()) if (this.matches(o)) return o;
		return { kind: RES[this.res].kind, apiVersion: RES[this.res].apiVersion, metadata: { name: 'cut', namespace: 'default', resourceVersion: String(RV) } };
	}
}

function startWatch(r, ns, q, req, res) {
	const lsel = parseLabelSelector(q.get('labelSelector'));
	const fsel = parseFieldSelector(q.get('fieldSelector'), r);
	const rvs = q.get('resourceVersion') || '';
	if (rvs !== '' && !/^\d+$/.test(rvs)) throw badRequest(`invalid resource version: ${rvs}`);
	res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
	if (typeof res.flushHeaders === 'function') res.flushHeaders();
	if (!res.stream && res.socket) res.socket.setNoDelay(true);
	const w = new Watcher(r, ns, lsel, fsel, req, res, q);
	const onClose = () => { if (!w.closed) w.cleanup(); };
	res.on('close', onClose);
	req.on('close', onClose);
	const rv = Number(rvs || 0);
	const initial = q.get('sendInitialEvents') === 'true';
	if (rvs === '' || rv === 0 || initial) {
		for (const k of getKeys(r)) {
			const o = store[r].get(k);
			if (w.matches(o)) w.send('ADDED', o);
		}
		w.lastRV = RV;
		if (initial) w.bookmark({ 'k8s.io/initial-events-end': 'true' });
	} else {
		// Events after rv are what a watch from rv gets: rv itself may be the
		// compaction point (a list right after it returns that version).
		if (rv < historyStart || rv < compactRV) {
			w.write(JSON.stringify({ type: 'ERROR', object: tooOld(rv, Math.max(historyStart, compactRV) + 1) }) + '\n');
			w.cleanup();
			w.pipe.end();
			return w;
		}
		let i = lowerBound(history, rv + 1, (e) => e.rv);
		for (; i < history.length; i++) if (history[i].res === r) w.deliver(history[i]);
		w.lastRV = RV;
	}
	watchers.add(w);
	return w;
}

// ---------------------------------------------------------------------------
// Discovery and OpenAPI

const VERSION = {
	major: '1', minor: '32', gitVersion: 'v1.32.0', gitCommit: '70d3cc986aa8221cd1dfb1121852688902d3bf53',
	gitTreeState: 'clean', buildDate: '2024-12-11T17:59:15Z', goVersion: 'go1.23.3', compiler: 'gc',
	platform: 'linux/amd64',
};
const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

function apiResourceList(gv) {
	const resources = [];
	for (const R of Object.values(RES)) {
		if (R.apiVersion !== gv) continue;
		resources.push({ name: R.name, singularName: R.singular, namespaced: R.namespaced, kind: R.kind, verbs: VERBS, ...(R.short.length ? { shortNames: R.short } : {}) });
		if (R.status) resources.push({ name: `${R.name}/status`, singularName: '', namespaced: R.namespaced, kind: R.kind, verbs: ['get', 'patch', 'update'] });
	}
	return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources };
}

// API groups (but the core one) and their versions, from the resources.
const GROUPS = {};
for (const R of Object.values(RES)) {
	if (!R.group) continue;
	GROUPS[R.group] = GROUPS[R.group] || [];
	if (!GROUPS[R.group].includes(R.version)) GROUPS[R.group].push(R.version);
}

function openapiRoot() {
	const paths = {};
	const gvs = new Set(Object.values(RES).map((R) => R.apiVersion));
	for (const gv of gvs) {
		const p = gv === 'v1' ? 'api/v1' : `apis/${gv}`;
		paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${crypto.createHash('sha512').update(JSON.stringify(openapiGV(gv))).digest('hex').toUpperCase()}` };
	}
	return { paths };
}

// A minimal OpenAPI v3 document per group version: the PATCH operations with
// their x-kubernetes-group-version-kind and the fieldValidation parameter, so
// kubectl knows the server validates fields (and skips its own schema check).
function openapiGV(gv) {
	const paths = {};
	for (const R of Object.values(RES)) {
		if (R.apiVersion !== gv) continue;
		const base = gv === 'v1' ? '/api/v1' : `/apis/${gv}`;
		const p = R.namespaced ? `${base}/namespaces/{namespace}/${R.name}/{name}` : `${base}/${R.name}/{name}`;
		const gvk = { group: R.group, version: R.version, kind: R.kind };
		const params = ['dryRun', 'fieldManager', 'fieldValidation', 'force'].map((n) => ({ name: n, in: 'query', schema: { type: 'string' }, uniqueItems: true }));
		paths[p] = {
			patch: {
				operationId: `patch${R.kind}`,
				parameters: params,
				responses: { 200: { description: 'OK' } },
				'x-kubernetes-action': 'patch',
				'x-kubernetes-group-version-kind': gvk,
			},
		};
	}
	return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths, components: { schemas: {} } };
}

// ---------------------------------------------------------------------------
// Fault switches and stats

// cutMid: {res, socket} armed by /_test/cut-mid; trickle: {bytes, ms, path};
// tls: /_test/tls-fail's mode; injected: counts of what the faults did.
const faults = { slowMs: 0, fail: null, cutMid: null, trickle: null, tls: 'off', injected: {} };
const stats = { requests: {}, continues: {}, limited: {}, protocols: {} };
function resetStats() {
	stats.requests = {}; stats.continues = {}; stats.limited = {}; stats.protocols = {};
}

function malformed(q) {
	const r = q.get('resource') || 'services';
	if (!RES[r]) throw badRequest(`unknown resource ${r}`);
	const mode = q.get('mode') || 'object';
	let ns = 'default', name = 'bad-svc';
	if (q.get('name')) {
		const nn = q.get('name').split('/');
		if (nn.length === 2) [ns, name] = nn; else name = nn[0];
	} else if (r !== 'services') name = r === 'nodes' ? 'bad-node' : 'bad-slice';
	let line;
	if (mode === 'syntax') {
		line = '{"type":"MODIFIED","object":{"kind":]]]\n';
	} else {
		// The bad event takes a resourceVersion of its own, kept across a
		// restart, so versions never repeat.
		RV++;
		saveState();
		const R = RES[r];
		const real = store[r].get(keyOf(r, ns, name));
		const meta = { name, resourceVersion: String(RV), uid: real ? real.metadata.uid : crypto.randomUUID(),
			creationTimestamp: real ? real.metadata.creationTimestamp : nowTS() };
		if (R.namespaced) meta.namespace = ns;
		const obj = { kind: R.kind, apiVersion: R.apiVersion, metadata: meta };
		if (r === 'services') obj.spec = { clusterIP: '10.96.255.254', ports: [{ port: 'not-a-number', protocol: 'TCP' }] };
		else if (r === 'endpointslices') Object.assign(obj, { addressType: 'IPv4', endpoints: 'not-a-list', ports: [{ port: 'not-a-number' }] });
		else obj.status = { addresses: 'not-a-list' };
		line = JSON.stringify({ type: 'MODIFIED', object: obj }) + '\n';
	}
	let n = 0;
	for (const w of watchers) if (w.res === r && !w.closed) { w.write(line); n++; }
	return { resource: r, mode, watches: n };
}

// /_test/raw: the body, byte for byte, into every open watch of a
// resource; then the stream goes on (then=keep), ends cleanly (end), is
// reset (reset: h2 RST_STREAM, 1.1 socket destroyed) or its TCP connection
// destroyed (cut). Nothing is stored.
function raw(q, body) {
	const r = q.get('resource') || 'services';
	if (!RES[r]) throw badRequest(`unknown resource ${r}`);
	const then = q.get('then') || 'keep';
	if (!['keep', 'end', 'reset', 'cut'].includes(then)) throw badRequest(`raw: then=${then}: keep, end, reset or cut`);
	let n = 0;
	for (const w of Array.from(watchers)) {
		if (w.res !== r || w.closed) continue;
		n++;
		if (then === 'keep') { w.write(body); continue; }
		if (then === 'end') { w.write(body); w.end(); continue; }
		w.cleanup();
		w.pipe.write(body, () => setTimeout(() => w.abort(then === 'cut'), 20));
	}
	faults.injected.raw = (faults.injected.raw || 0) + n;
	logLine(`raw: ${body.length} bytes into ${n} watch(es) of ${r}, then ${then}`);
	return { resource: r, watches: n, bytes: body.length, then };
}

function bulk(body) {
	let doc;
	try { doc = JSON.parse(body.toString('utf8')); } catch (e) { throw badRequest(`bad JSON: ${e.message}`); }
	const items = (doc && doc.items) || [];
	let created = 0, replaced = 0;
	for (const it of items) {
		const R = it && KIND_TO_RES[it.kind];
		if (!R) throw badRequest(`bulk: unknown kind ${it && it.kind}`);
		const r = R.name;
		const ns = R.namespaced ? ((it.metadata && it.metadata.namespace) || 'default') : '';
		const name = it.metadata && it.metadata.name;
		const key = keyOf(r, ns, name);
		const cur = store[r].get(key);
		if (cur) {
			const o = prepareNew(r, it, ns, cur);
			delete o.metadata.resourceVersion;
			const n = doReplace(r, key, o, cur, '', false, '');
			if (n !== cur) replaced++;
			// bulk also replaces the status
			if (it.status !== undefined && JSON.stringify(store[r].get(key).status) !== JSON.stringify(it.status)) {
				const s = clone(store[r].get(key));
				s.status = clone(it.status);
				commit(r, key, s, 'MODIFIED');
			}
		} else {
			const o = doCreate(r, ns, it, false);
			if (it.status !== undefined && r === 'services') o.status = clone(it.status);
			created++;
		}
	}
	return { created, replaced, resourceVersion: String(RV) };
}

function statsJSON() {
	const open = {};
	for (const w of watchers) open[w.res] = (open[w.res] || 0) + 1;
	const objects = {};
	for (const r of Object.keys(RES)) objects[r] = store[r].size;
	return {
		requests: stats.requests, continues: stats.continues, limited: stats.limited,
		protocols: stats.protocols, watches: open, resourceVersion: String(RV), objects,
		historyStart: String(historyStart), compactedResourceVersion: String(compactRV),
		faults: { cutMid: faults.cutMid, trickle: faults.trickle, tls: faults.tls, injected: faults.injected },
	};
}

// ---------------------------------------------------------------------------
// HTTP

function sendJSON(res, code, obj, extraHeaders) {
	if (res.headersSent || res.writableEnded) return;
	const body = JSON.stringify(obj);
	res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache, private', ...(extraHeaders || {}) });
	const url = res.nftpUrl || '';
	if (faults.trickle && url && !url.startsWith('/_test/')) {
		const pipe = new Pipe(res, url);
		pipe.write(body);
		pipe.end();
		return;
	}
	res.end(body);
}
function sendError(res, e) {
	if (e instanceof ApiError) sendJSON(res, e.code, statusObj(e.code, e.reason, e.message, e.details));
	else {
		logLine(`internal error: ${e && e.stack}`);
		sendJSON(res, 500, statusObj(500, 'InternalError', `Internal error occurred: ${e && e.message}`));
	}
}

function readBody(req) {
	return new Promise((resolve, reject) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => resolve(Buffer.concat(chunks)));
		req.on('error', reject);
	});
}

// Protocol buffers: kubectl's typed clients (`kubectl create namespace NAME`)
// send protobuf bodies ("k8s\0" + runtime.Unknown). Only what those send for a
// Namespace is decoded (metadata name, generateName, labels, annotations).
function pbFields(buf) {
	const out = [];
	let i = 0;
	const varint = () => {
		let v = 0n, sh = 0n;
		for (;;) {
			if (i >= buf.length) throw new Error('truncated varint');
			const b = buf[i++];
			v |= BigInt(b & 0x7f) << sh;
			if (!(b & 0x80)) return v;
			sh += 7n;
		}
	};
	while (i < buf.length) {
		const tag = Number(varint()), f = tag >> 3, wt = tag & 7;
		if (wt === 0) out.push([f, varint()]);
		else if (wt === 2) {
			const n = Number(varint());
			if (i + n > buf.length) throw new Error('truncated field');
			out.push([f, buf.subarray(i, i + n)]);
			i += n;
		} else if (wt === 1) i += 8;
		else if (wt === 5) i += 4;
		else throw new Error(`unsupported wire type ${wt}`);
	}
	return out;
}
function pbObjectMeta(buf) {
	const md = {};
	for (const [f, v] of pbFields(buf)) {
		const str = () => v.toString('utf8');
		if (f === 1 && str()) md.name = str();
		else if (f === 2 && str()) md.generateName = str();
		else if (f === 3 && str()) md.namespace = str();
		else if (f === 11 || f === 12) {
			const kv = Object.fromEntries(pbFields(v).map(([k, x]) => [k, x.toString('utf8')]));
			const which = f === 11 ? 'labels' : 'annotations';
			md[which] = { ...(md[which] || {}), [kv[1] || '']: kv[2] || '' };
		}
	}
	return md;
}
function decodeProtobuf(buf) {
	let tm = {}, raw = null;
	for (const [f, v] of pbFields(buf.subarray(4))) {
		if (f === 1) tm = Object.fromEntries(pbFields(v).map(([k, x]) => [k, x.toString('utf8')]));
		else if (f === 2) raw = v;
	}
	const apiVersion = tm[1], kind = tm[2];
	if (kind !== 'Namespace' || !raw)
		throw new ApiError(415, 'UnsupportedMediaType', `protobuf bodies are only decoded for Namespace by this test server (got ${kind}); send JSON`);
	const o = { apiVersion, kind, metadata: {} };
	for (const [f, v] of pbFields(raw)) if (f === 1) o.metadata = pbObjectMeta(v);
	return o;
}

function parseJSONBody(buf) {
	if (!buf.length) throw badRequest('the request body is empty');
	if (buf.length >= 4 && buf.subarray(0, 4).toString('latin1') === 'k8s\u0000') {
		try { return decodeProtobuf(buf); } catch (e) {
			if (e instanceof ApiError) throw e;
			throw badRequest(`cannot decode the protobuf body: ${e.message}`);
		}
	}
	try { return JSON.parse(buf.toString('utf8')); } catch (e) {
		throw badRequest(`the body of the request was in an unknown format (only JSON is accepted): ${e.message}`);
	}
}

function authenticate(req) {
	const h = req.headers.authorization || '';
	const mm = /^Bearer\s+(.+)$/i.exec(h);
	if (mm) {
		const tok = readToken();
		const a = Buffer.from(mm[1].trim()), b = Buffer.from(tok);
		return a.length === b.length && b.length > 0 && crypto.timingSafeEqual(a, b);
	}
	const sock = req.socket;
	return !!(sock && sock.authorized);
}

// Parses an API path: {r, ns, name, sub} or null.
function parsePath(p) {
	let segs = p.split('/').filter((s) => s !== '');
	let gv;
	if (segs[0] === 'api' && segs[1] === 'v1') { gv = 'v1'; segs = segs.slice(2); }
	else if (segs[0] === 'apis' && segs.length >= 3) { gv = `${segs[1]}/${segs[2]}`; segs = segs.slice(3); }
	else return null;
	let watchPath = false;
	if (segs[0] === 'watch') { watchPath = true; segs = segs.slice(1); }
	const ok = (r) => RES[r] && RES[r].apiVersion === gv;
	let ns = '', r, name = '', sub = '';
	if (segs[0] === 'namespaces' && segs.length >= 3 && ok(segs[2]) && RES[segs[2]].namespaced) {
		ns = segs[1]; r = segs[2]; name = segs[3] || ''; sub = segs[4] || '';
		if (segs.length > 5) return null;
	} else if (ok(segs[0])) {
		r = segs[0]; name = segs[1] || ''; sub = segs[2] || '';
		if (segs.length > 3) return null;
		if (name && RES[r].namespaced) return null;
	} else return null;
	if (sub && !(sub === 'status' && RES[r].status) && !(r === 'namespaces' && sub === 'finalize')) return null;
	return { r, ns, name, sub, watchPath };
}

const notFoundPath = () => new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});

async function handleTest(req, res, url, body) {
	const q = url.searchParams;
	const what = url.pathname.slice('/_test/'.length);
	if (what === 'stats') return sendJSON(res, 200, statsJSON());
	if (req.method !== 'POST') throw new ApiError(405, 'MethodNotAllowed', `${what}: use POST`);
	switch (what) {
	case 'reset-stats': resetStats(); return sendJSON(res, 200, { ok: true });
	case 'cut-watches': {
		const clean = q.get('clean') === '1' || q.get('clean') === 'true';
		const socket = q.get('socket') === '1' || q.get('socket') === 'true';
		const only = q.get('resource') || '';
		let n = 0;
		for (const w of Array.from(watchers)) {
			if (only && w.res !== only) continue;
			if (clean) w.end(); else w.cut(null, socket);
			n++;
		}
		return sendJSON(res, 200, { ok: true, cut: n, clean, socket });
	}
	case 'cut-mid': {
		const r = q.get('resource') || 'services';
		if (!RES[r]) throw badRequest(`unknown resource ${r}`);
		faults.cutMid = q.get('off') === '1' ? null : { res: r, socket: q.get('socket') === '1' || q.get('socket') === 'true' };
		return sendJSON(res, 200, { ok: true, cutMid: faults.cutMid });
	}
	case 'raw': return sendJSON(res, 200, { ok: true, ...raw(q, body) });
	case 'trickle': {
		const bytes = Number(q.get('bytes') || 0), ms = Number(q.get('ms') || 50);
		if (!(bytes >= 0) || !(ms > 0)) throw badRequest('trickle: bytes >= 0 and ms > 0');
		faults.trickle = bytes > 0 ? { bytes, ms, path: q.get('path') || '' } : null;
		// what was queued goes at once when it is switched off
		if (!faults.trickle) for (const w of watchers) w.pipe.pump();
		return sendJSON(res, 200, { ok: true, trickle: faults.trickle });
	}
	case 'tls-fail': {
		const asker = req.socket;
		return sendJSON(res, 200, { ok: true, ...tlsFail(q.get('mode') || 'off', Number(q.get('seconds') || 0), asker) });
	}
	case 'malformed': return sendJSON(res, 200, { ok: true, ...malformed(q) });
	case 'expire': {
		compactRV = RV;
		historyStart = RV;
		history = [];
		snapshots.clear();
		let n = 0;
		for (const w of Array.from(watchers)) { w.expire(); n++; }
		return sendJSON(res, 200, { ok: true, expired: n, resourceVersion: String(RV) });
	}
	case 'slow': faults.slowMs = Number(q.get('ms') || 0); return sendJSON(res, 200, { ok: true, ms: faults.slowMs });
	case 'fail': {
		const count = Number(q.get('count') || 1), status = Number(q.get('status') || 500);
		faults.fail = count > 0 ? { status, count, path: q.get('path') || '', retryAfter: q.get('retry-after') || '' } : null;
		return sendJSON(res, 200, { ok: true, fail: faults.fail });
	}
	case 'bulk': {
		const r = bulk(body);
		saveState();
		return sendJSON(res, 200, { ok: true, ...r });
	}
	default: throw new ApiError(404, 'NotFound', `unknown test switch ${what}`);
	}
}

// /_test/tls-fail: what new TLS handshakes get. "wrong-ca": a server
// certificate (right names) from other-ca, which clients trusting ca.crt
// must refuse; "wrong-name": one from the right CA for DNS:wrong.example
// only; "reset": the connection is closed in the middle of the handshake
// (once the server has read the ClientHello and derived its first keys);
// "off": the normal certificate. Every open connection but the one that
// asked is closed at once, so clients must handshake again. seconds=N:
// back to "off" after N s (the only way out of "reset", which no client
// gets through).
let tlsServer = null;
const tlsLive = new Set();
let tlsGood = null;
function onKeylogReset(line, sock) {
	faults.injected['tls-reset'] = (faults.injected['tls-reset'] || 0) + 1;
	sock.destroy();
}
let tlsTimer = null;
function tlsFail(mode, seconds, asker) {
	const modes = ['off', 'wrong-ca', 'wrong-name', 'reset'];
	if (!modes.includes(mode)) throw badRequest(`tls-fail: mode=${mode}: one of ${modes.join(', ')}`);
	if (!tlsServer) throw new ApiError(503, 'ServiceUnavailable', 'not listening yet');
	const serverExt = (san) => `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n` +
		'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n';
	let ctx = tlsGood;
	if (mode === 'wrong-ca') {
		if (!fs.existsSync(P('wrong-ca-server.crt')))
			genLeaf('wrong-ca-server', 'kube-apiserver', serverExt(fs.readFileSync(P('server.san'), 'utf8')), 'other-ca');
		ctx = { ...tlsGood, key: fs.readFileSync(P('wrong-ca-server.key')), cert: fs.readFileSync(P('wrong-ca-server.crt')) };
	} else if (mode === 'wrong-name') {
		if (!fs.existsSync(P('wrong-name-server.crt')))
			genLeaf('wrong-name-server', 'wrong.example', serverExt('DNS:wrong.example'));
		ctx = { ...tlsGood, key: fs.readFileSync(P('wrong-name-server.key')), cert: fs.readFileSync(P('wrong-name-server.crt')) };
	}
	tlsServer.setSecureContext(ctx);
	tlsServer.removeListener('keylog', onKeylogReset);
	if (mode === 'reset') tlsServer.on('keylog', onKeylogReset);
	faults.tls = mode;
	let n = 0;
	// (over h2 the asker's socket is a proxy of the real one: compare addresses)
	const same = (a, b) => a && b && a.remotePort === b.remotePort && a.remoteAddress === b.remoteAddress;
	for (const sock of Array.from(tlsLive)) if (!same(sock, asker)) { sock.destroy(); n++; }
	if (tlsTimer) clearTimeout(tlsTimer);
	tlsTimer = null;
	if (mode !== 'off' && seconds > 0) tlsTimer = setTimeout(() => { tlsTimer = null; tlsFail('off', 0, null); }, seconds * 1000);
	logLine(`tls-fail: mode ${mode}${tlsTimer ? ` for ${seconds} s` : ''}, ${n} open connection(s) closed`);
	return { mode, closed: n, seconds: tlsTimer ? seconds : 0 };
}

const REASONS = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict', 410: 'Expired', 422: 'Invalid', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout' };

function verbOf(method, pp, q) {
	const watch = pp.watchPath || q.get('watch') === 'true' || q.get('watch') === '1';
	switch (method) {
	case 'GET': return pp.name ? (watch ? 'watch' : 'get') : (watch ? 'watch' : 'list');
	case 'POST': return 'create';
	case 'PUT': return 'update';
	case 'PATCH': return 'patch';
	case 'DELETE': return pp.name ? 'delete' : 'deletecollection';
	default: return method.toLowerCase();
	}
}

async function handle(req, res) {
	const t0 = process.hrtime.bigint();
	const proto = req.httpVersion === '2.0' ? 'h2' : req.httpVersion;
	const url = new URL(req.url, 'https://x');
	let watching = false;
	res.nftpUrl = req.url;   // for /_test/trickle (sendJSON)
	res.on('close', () => {
		const ms = Number(process.hrtime.bigint() - t0) / 1e6;
		logLine(`${req.method} ${req.url} ${res.statusCode} ${proto} ${ms.toFixed(1)}ms${watching ? ' (watch)' : ''}`);
	});
	try {
		const body = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(req.method) ? await readBody(req) : Buffer.alloc(0);
		const p = url.pathname;
		if (p === '/healthz' || p === '/livez' || p === '/readyz') {
			res.writeHead(200, { 'content-type': 'text/plain' });
			return res.end('ok');
		}
		if (!authenticate(req)) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
		stats.protocols[proto] = (stats.protocols[proto] || 0) + 1;
		if (p.startsWith('/_test/')) return await handleTest(req, res, url, body);
		if (faults.fail && (!faults.fail.path || req.url.includes(faults.fail.path))) {
			const f = faults.fail;
			if (--f.count <= 0) faults.fail = null;
			const h = f.status === 429 || f.retryAfter ? { 'retry-after': f.retryAfter || '1' } : {};
			const reason = REASONS[f.status] || 'InternalError';
			return sendJSON(res, f.status, statusObj(f.status, reason, `injected failure (${f.status}) by /_test/fail`, f.status === 429 ? { retryAfterSeconds: Number(f.retryAfter || 1) } : undefined), h);
		}
		if (faults.slowMs > 0) await new Promise((resolve) => setTimeout(resolve, faults.slowMs));
		if (res.destroyed || res.writableEnded) return;
		return route(req, res, url, body, (w) => { watching = w; });
	} catch (e) {
		sendError(res, e);
	}
}

function route(req, res, url, body, setWatching) {
	const p = url.pathname.replace(/\/+$/, '') || '/';
	const q = url.searchParams;
	if (req.method === 'GET') {
		if (p === '/version') return sendJSON(res, 200, VERSION);
		if (p === '/api') return sendJSON(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${LISTEN_HOST}:${actualPort}` }] });
		if (p === '/api/v1') return sendJSON(res, 200, apiResourceList('v1'));
		if (p === '/apis') {
			return sendJSON(res, 200, {
				kind: 'APIGroupList', apiVersion: 'v1',
				groups: Object.entries(GROUPS).map(([g, vs]) => ({
					name: g, versions: vs.map((v) => ({ groupVersion: `${g}/${v}`, version: v })),
					preferredVersion: { groupVersion: `${g}/${vs[0]}`, version: vs[0] },
				})),
			});
		}
		for (const [g, vs] of Object.entries(GROUPS)) {
			if (p === `/apis/${g}`) return sendJSON(res, 200, { kind: 'APIGroup', apiVersion: 'v1', name: g, versions: vs.map((v) => ({ groupVersion: `${g}/${v}`, version: v })), preferredVersion: { groupVersion: `${g}/${vs[0]}`, version: vs[0] } });
			for (const v of vs) if (p === `/apis/${g}/${v}`) return sendJSON(res, 200, apiResourceList(`${g}/${v}`));
		}
		if (p === '/openapi/v3') return sendJSON(res, 200, openapiRoot());
		if (p.startsWith('/openapi/v3/')) {
			const rest = p.slice('/openapi/v3/'.length);
			const gv = rest === 'api/v1' ? 'v1' : rest.startsWith('apis/') ? rest.slice(5) : '';
			if (gv && Object.values(RES).some((R) => R.apiVersion === gv)) return sendJSON(res, 200, openapiGV(gv));
		}
	}
	const pp = parsePath(p);
	if (!pp) throw notFoundPath();
	const { r, name, sub } = pp;
	let ns = pp.ns;
	const verb = verbOf(req.method, pp, q);
	const sk = `${verb} ${r}${sub ? `/${sub}` : ''}`;
	stats.requests[sk] = (stats.requests[sk] || 0) + 1;
	const dryRun = q.getAll('dryRun').includes('All');
	const R = RES[r];
	const key = name ? keyOf(r, ns, name) : '';
	if (r === 'namespaces' && sub === 'finalize') throw new ApiError(405, 'MethodNotAllowed', 'finalize is not implemented');
	switch (verb) {
	case 'list': return sendJSON(res, 200, doList(r, ns, q, stats));
	case 'watch': {
		if (name) {
			// GET .../watch/NAME: a watch restricted to that name
			q.set('fieldSelector', [q.get('fieldSelector'), `metadata.name=${name}`].filter(Boolean).join(','));
		}
		setWatching(true);
		startWatch(r, ns, q, req, res);
		return;
	}
	case 'get': {
		const o = store[r].get(key);
		if (!o) throw notFound(r, name);
		return sendJSON(res, 200, o);
	}
	case 'create': {
		if (name) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
		const b = parseJSONBody(body);
		if (!R.namespaced) ns = '';
		else if (!ns) throw notFoundPath();
		const o = doCreate(r, ns, b, dryRun);
		if (!dryRun) saveState();
		return sendJSON(res, 201, o);
	}
	case 'update': {
		if (!name) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
		const o = doUpdate(r, key, parseJSONBody(body), ns, sub, dryRun);
		if (!dryRun) saveState();
		return sendJSON(res, 200, o);
	}
	case 'patch': {
		if (!name) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
		const o = doPatch(r, key, name, body, req.headers['content-type'], sub, dryRun);
		if (!dryRun) saveState();
		return sendJSON(res, 200, o);
	}
	case 'delete': {
		if (sub) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
		const o = doDelete(r, key, name, body, dryRun);
		if (!dryRun) saveState();
		return sendJSON(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { ...resDetails(r, name), uid: o.metadata.uid } });
	}
	case 'deletecollection': {
		const list = doList(r, ns, new URLSearchParams({ labelSelector: q.get('labelSelector') || '', fieldSelector: q.get('fieldSelector') || '' }), { continues: {}, limited: {} });
		const out = [];
		for (const it of list.items) {
			const k = keyOf(r, it.metadata.namespace, it.metadata.name);
			if (!dryRun) out.push(stripTypeMeta(commit(r, k, null, 'DELETED')));
			else out.push(it);
		}
		if (!dryRun) saveState();
		return sendJSON(res, 200, { kind: `${R.kind}List`, apiVersion: R.apiVersion, metadata: { resourceVersion: String(RV) }, items: out });
	}
	default: throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
	}
}

// ---------------------------------------------------------------------------
// Main

let actualPort = LISTEN_PORT;

// What a new cluster already has: the default and system namespaces and
// the two system priority classes (DaemonSets like nftproxy's name
// system-node-critical). Only what is missing, so a restart changes nothing.
function seedBuiltins() {
	let changed = false;
	for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
		if (!store.namespaces.has(ns)) { autoNamespace(ns); changed = true; }
	}
	const pcs = [
		['system-node-critical', 2000001000, 'Used for system critical pods that must not be moved from their current node.'],
		['system-cluster-critical', 2000000000, 'Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.'],
	];
	for (const [name, value, description] of pcs) {
		if (store.priorityclasses.has(name)) continue;
		doCreate('priorityclasses', '', { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name }, value, description }, false);
		changed = true;
	}
	if (changed) saveState();
}

function main() {
	setupDir();
	loadState();
	seedBuiltins();
	const tlsOpts = {
		key: fs.readFileSync(P('server.key')), cert: fs.readFileSync(P('server.crt')), ca: fs.readFileSync(P('ca.crt')),
		requestCert: true, rejectUnauthorized: false,
	};
	const handler = (req, res) => { handle(req, res).catch((e) => sendError(res, e)); };
	let server;
	if (opt.http1Only) {
		server = https.createServer({ ...tlsOpts, ALPNProtocols: ['http/1.1'] }, handler);
		server.keepAliveTimeout = 60000;
		server.requestTimeout = 0;
	} else {
		server = http2.createSecureServer({ ...tlsOpts, allowHTTP1: true, settings: { maxConcurrentStreams: 1000 } }, handler);
		server.on('sessionError', (e) => { if (e.code !== 'ECONNRESET') logLine(`session error: ${e.message}`); });
	}
	server.on('tlsClientError', (e) => logLine(`TLS handshake failed: ${e.message}`));
	tlsServer = server;
	tlsGood = { key: tlsOpts.key, cert: tlsOpts.cert, ca: tlsOpts.ca };
	server.on('secureConnection', (sock) => {
		tlsLive.add(sock);
		sock.on('close', () => tlsLive.delete(sock));
	});
	server.on('error', (e) => { logLine(`listen ${opt.listen}: ${e.message}`); process.exit(1); });
	server.listen(LISTEN_PORT, LISTEN_HOST || undefined, () => {
		actualPort = server.address().port;
		writeKubeconfigs(actualPort);
		writeAtomic(P('port'), `${actualPort}\n`);
		writeAtomic(P('ready'), `${process.pid}\n`);
		logLine(`listening on https://${LISTEN_HOST}:${actualPort} (${opt.http1Only ? 'HTTP/1.1 only' : 'HTTP/2 and HTTP/1.1'}), dir ${DIR}, resourceVersion ${RV}`);
	});
	const bye = (sig) => {
		logLine(`${sig}: exiting`);
		try { fs.unlinkSync(P('ready')); } catch (e) { /* gone */ }
		process.exit(0);
	};
	process.on('SIGTERM', () => bye('SIGTERM'));
	process.on('SIGINT', () => bye('SIGINT'));
}

main();
