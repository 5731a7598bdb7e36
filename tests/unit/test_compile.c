/* The ruleset compiler, without a kernel: a model decoded from YAML gives
 * exactly these chains, rules and map elements. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/kube/decode.h"
#include "lib/model/store.h"
#include "lib/util/ipaddr.h"
#include "nft/compile.h"
#include "nft/dump.h"
#include "nft/state.h"
#include "tests/unit/check.h"

static const struct nftc_config cfg = { .masq_mark = 0x4000 };

static const char manifest[] =
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: web, namespace: shop}\n"
	"spec:\n"
	"  clusterIP: 10.96.0.10\n"
	"  clusterIPs: [10.96.0.10, fd00:10:96::10]\n"
	"  ipFamilies: [IPv4, IPv6]\n"
	"  ports:\n"
	"  - {name: http, port: 80, targetPort: 8080, protocol: TCP}\n"
	"  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}\n"
	"---\n"
	"apiVersion: discovery.k8s.io/v1\n"
	"kind: EndpointSlice\n"
	"metadata:\n"
	"  name: web-v4\n"
	"  namespace: shop\n"
	"  labels: {kubernetes.io/service-name: web}\n"
	"addressType: IPv4\n"
	"ports:\n"
	"- {name: http, port: 8080, protocol: TCP}\n"
	"- {name: dns, port: 5353, protocol: UDP}\n"
	"endpoints:\n"
	"- addresses: [10.244.1.12]\n"
	"  conditions: {ready: true}\n"
	"- addresses: [10.244.1.11]\n"
	"- addresses: [10.244.1.13]\n"
	"  conditions: {ready: false}\n"
	"---\n"
	"apiVersion: discovery.k8s.io/v1\n"
	"kind: EndpointSlice\n"
	"metadata:\n"
	"  name: web-v6\n"
	"  namespace: shop\n"
	"  labels: {kubernetes.io/service-name: web}\n"
	"addressType: IPv6\n"
	"ports:\n"
	"- {name: http, port: 8080, protocol: TCP}\n"
	"endpoints:\n"
	"- addresses: [fd00:10:244::11]\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: empty, namespace: shop}\n"
	"spec:\n"
	"  clusterIP: 10.96.0.20\n"
	"  ports:\n"
	"  - {port: 443, protocol: SCTP}\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: headless, namespace: shop}\n"
	"spec:\n"
	"  clusterIP: None\n"
	"  ports:\n"
	"  - {port: 80}\n";

static struct model *load_text(const char *text)
{
	struct kdec_result res = { 0 };
	struct model *m;
	char err[KDEC_ERR_MAX];

	CHECK_INT(model_new(&m), 0);
	CHECK_INT(kdec_parse_buffer(text, strlen(text), "test", &res, err, sizeof(err)), 0);
	CHECK_INT(res.n_rejected, 0);
	for (size_t i = 0; i < res.n_objects; i++) {
		struct kdec_object *o = &res.objects[i];

		if (o->svc)
			CHECK_INT(model_service_upsert(m, o->svc), 0);
		else
			CHECK_INT(model_slice_upsert(m, o->slice), 0);
		o->svc = NULL;
		o->slice = NULL;
	}
	kdec_result_fini(&res);
	return m;
}

static struct model *load(void)
{
	return load_text(manifest);
}

static const struct nft_chain_ir *find_chain(const struct nft_frag *f, const char *prefix,
					     const char *suffix)
{
	size_t ls = strlen(suffix);

	for (size_t i = 0; i < f->n_chains; i++) {
		const char *n = f->chains[i].name;
		size_t ln = strlen(n);

		if (strncmp(n, prefix, strlen(prefix)) == 0 && ln >= ls && strcmp(n + ln - ls, suffix) == 0)
			return &f->chains[i];
	}
	return NULL;
}

static const char *rule_text(const struct nft_chain_ir *c, size_t i)
{
	static char buf[512];

	CHECK(i < c->n_rules);
	nft_rule_print(&c->rules[i], buf, sizeof(buf));
	return buf;
}

static void test_dual_stack_service(void)
{
	struct model *m = load();
	struct nft_state *s;
	struct nft_frag *f;
	const struct nft_chain_ir *c;
	char name[NFT_NAME_MAX], key[128];
	size_t n_svc_elems = 0, n_lb = 0;
	uint64_t lb_total = 0;

	CHECK_INT(nft_state_new(&s), 0);
	CHECK_INT(nftc_compile_service(&cfg, m, "shop/web", s, NULL, &f), 0);
	/* One chain per service port and family with endpoints: v4 http (2
	 * ready endpoints), v4 dns (2), v6 http (1); v6 dns has no v6
	 * endpoint: no chain, a no-endpoint element. */
	CHECK_INT(f->n_chains, 3);

	c = find_chain(f, "svc-", "-shop/web/tcp/http");
	CHECK(c != NULL);
	nftc_svc_chain_name(name, AF_INET, "shop", "web", IPPROTO_TCP, "http");
	CHECK(strcmp(c->name, name) == 0 || (nftc_svc_chain_name(name, AF_INET6, "shop", "web",
							IPPROTO_TCP, "http"), strcmp(c->name, name) == 0));
	CHECK_INT(c->n_rules, 1);
	/* The LB rule does not depend on the endpoints: their changes are
	 * element changes only. */
	CHECK(strncmp(rule_text(c, 0), "meta l4proto tcp dnat ip", 24) == 0);
	CHECK(strstr(rule_text(c, 0), "to numgen random mod 1000000 offset ") != NULL);
	CHECK(strstr(rule_text(c, 0), " map @lb") != NULL);
	CHECK(find_chain(f, "ep-", "") == NULL);

	/* LB endpoints: each svc chain's values, in range order; the
	 * not-ready 10.244.1.13 is absent. */
	for (size_t i = 0; i < f->n_chains; i++) {
		const struct nft_chain_ir *sc = &f->chains[i];

		CHECK(sc->has_lb);
		for (uint32_t k = 0; k < sc->lb_n; k++) {
			struct ip_addr ip;
			uint16_t port;
			char a[IP_ADDR_STRLEN];
			uint32_t lo, hi;

			n_lb++;
			nft_data_target_get(sc->lb_eps + k * sc->lb_dlen, sc->lb_dlen, &ip, &port);
			ip_addr_fmt(&ip, a);
			CHECK(strcmp(a, "10.244.1.11") == 0 || strcmp(a, "10.244.1.12") == 0 ||
			      strcmp(a, "fd00:10:244::11") == 0);
			CHECK(port == 8080 || port == 5353);
			nft_lb_range(sc->lb_slot, k, sc->lb_n, &lo, &hi);
			CHECK(lo == sc->lb_slot * 1000000u + (uint32_t)(1000000u * k / sc->lb_n));
			lb_total += hi - lo + 1;
		}
	}
	for (size_t i = 0; i < f->n_elems; i++) {
		const struct nft_elem_ir *e = &f->elems[i];

		nft_elem_key_print(e, key, sizeof(key));
		if (strncmp(e->set, "cluster-ips", 11) == 0) {
			CHECK(e->chain == NULL);
			CHECK(strcmp(key, "10.96.0.10") == 0 || strcmp(key, "fd00:10:96::10") == 0);
			continue;
		}
		n_svc_elems++;
		if (strcmp(key, "10.96.0.10 . tcp . 80") == 0) {
			CHECK_STR(e->set, "service-ips");
			CHECK(strstr(e->chain, "-shop/web/tcp/http") != NULL);
			CHECK_STR(e->comment, "shop/web/tcp/http");
		} else if (strcmp(key, "fd00:10:96::10 . udp . 53") == 0) {
			CHECK_STR(e->set, "no-endpoint-services6");
			CHECK_STR(e->chain, "reject-chain");
		}
	}
	CHECK_INT(n_svc_elems, 4);
	CHECK_INT(n_lb, 2 + 2 + 1);
	/* Each service port's ranges cover its slot's million values. */
	CHECK_INT(lb_total, 3 * 1000000);
	nft_frag_free(f);

	/* Stable: compiling again gives the same names and LB slots. */
	CHECK_INT(nftc_compile_service(&cfg, m, "shop/web", s, NULL, &f), 0);
	c = find_chain(f, "svc-", "-shop/web/tcp/http");
	CHECK(c != NULL && c->has_lb);
	nft_frag_free(f);
	nft_state_free(s);
	model_free(m);
}

static void test_no_endpoints_and_ignored(void)
{
	struct model *m = load();
	struct nft_state *s;
	struct nft_frag *f;
	char key[128];

	CHECK_INT(nft_state_new(&s), 0);
	CHECK_INT(nftc_compile_service(&cfg, m, "shop/empty", s, NULL, &f), 0);
	CHECK_INT(f->n_chains, 0);
	CHECK_INT(f->n_elems, 2); /* and its cluster-ips element */
	nft_elem_key_print(&f->elems[0], key, sizeof(key));
	CHECK_STR(key, "10.96.0.20 . sctp . 443");
	CHECK_STR(f->elems[0].set, "no-endpoint-services");
	CHECK_STR(f->elems[0].chain, "reject-chain");
	nft_frag_free(f);

	/* Headless and unknown services compile to nothing. */
	CHECK_INT(nftc_compile_service(&cfg, m, "shop/headless", s, NULL, &f), 0);
	CHECK_INT(f->n_chains + f->n_elems, 0);
	nft_frag_free(f);
	CHECK_INT(nftc_compile_service(&cfg, m, "shop/nope", s, NULL, &f), 0);
	CHECK_INT(f->n_chains + f->n_elems, 0);
	nft_frag_free(f);
	nft_state_free(s);
	model_free(m);
}

/* A LoadBalancer with externalTrafficPolicy Local, a node port, an
 * external IP and source ranges: kube-proxy's chains and elements. */
static const char lb_manifest[] =
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: web, namespace: shop}\n"
	"spec:\n"
	"  type: LoadBalancer\n"
	"  clusterIP: 10.96.0.30\n"
	"  externalIPs: [203.0.113.20]\n"
	"  externalTrafficPolicy: Local\n"
	"  loadBalancerSourceRanges: [198.51.100.0/24]\n"
	"  ports:\n"
	"  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}\n"
	"status: {loadBalancer: {ingress: [{ip: 203.0.113.30}, {ip: 203.0.113.31, ipMode: Proxy}]}}\n"
	"---\n"
	"apiVersion: discovery.k8s.io/v1\n"
	"kind: EndpointSlice\n"
	"metadata: {name: web-a, namespace: shop, labels: {kubernetes.io/service-name: web}}\n"
	"addressType: IPv4\n"
	"ports: [{name: http, port: 8080}]\n"
	"endpoints:\n"
	"- {addresses: [10.244.1.1], nodeName: node-1}\n"
	"- {addresses: [10.244.2.1], nodeName: node-2}\n";

static const struct nft_elem_ir *find_elem(const struct nft_frag *f, const char *set,
					   const char *key)
{
	char k[128];

	for (size_t i = 0; i < f->n_elems; i++) {
		nft_elem_key_print(&f->elems[i], k, sizeof(k));
		if (strcmp(f->elems[i].set, set) == 0 && strcmp(k, key) == 0)
			return &f->elems[i];
	}
	return NULL;
}

static void test_external_local(void)
{
	struct nftc_config c = cfg;
	struct model *m = load_text(lb_manifest);
	const struct nft_chain_ir *svc, *loc, *ext, *fw;
	const struct nft_elem_ir *e;
	struct nft_state *s;
	struct nft_frag *f;
	char want[NFT_NAME_MAX + 16];

	c.node_name = "node-1";
	c.local_mode = NFTC_LOCAL_CLUSTER_CIDR;
	c.n_cluster_cidrs = 1;
	CHECK_INT(ip_prefix_parse("10.244.0.0/16", &c.cluster_cidrs[0].addr, &c.cluster_cidrs[0].len), 0);
	CHECK_INT(nft_state_new(&s), 0);
	CHECK_INT(nftc_compile_service(&c, m, "shop/web", s, NULL, &f), 0);
	svc = find_chain(f, "svc-", "-shop/web/tcp/http");
	loc = find_chain(f, "local-", "-shop/web/tcp/http");
	ext = find_chain(f, "ext-", "-shop/web/tcp/http");
	fw = find_chain(f, "fw-", "-shop/web/tcp/http");
	CHECK(svc && loc && ext && fw);
	CHECK_INT(svc->lb_n, 2);
	CHECK_INT(loc->lb_n, 1);          /* node-1's endpoint only */
	CHECK(svc->lb_slot != loc->lb_slot);
	CHECK_INT(ext->n_rules, 4);
	snprintf(want, sizeof(want), "ip saddr 10.244.0.0/16 goto %s", svc->name);
	CHECK_STR(rule_text(ext, 0), want);
	CHECK_STR(rule_text(ext, 1), "fib saddr type local meta mark set meta mark | 0x00004000");
	snprintf(want, sizeof(want), "goto %s", loc->name);
	CHECK_STR(rule_text(ext, 3), want);
	CHECK_STR(rule_text(fw, 0), "ip saddr 198.51.100.0/24 return");
	CHECK_STR(rule_text(fw, 1), "drop");

	e = find_elem(f, "service-ips", "10.96.0.30 . tcp . 80");
	CHECK(e && strcmp(e->chain, svc->name) == 0);
	e = find_elem(f, "service-ips", "203.0.113.20 . tcp . 80");
	CHECK(e && strcmp(e->chain, ext->name) == 0);
	CHECK_STR(e->comment, "shop/web/tcp/http external-ip external=Local");
	e = find_elem(f, "service-ips", "203.0.113.30 . tcp . 80");
	CHECK(e && strcmp(e->chain, ext->name) == 0);
	CHECK(find_elem(f, "service-ips", "203.0.113.31 . tcp . 80") == NULL); /* ipMode Proxy */
	e = find_elem(f, "firewall-ips", "203.0.113.30 . tcp . 80");
	CHECK(e && strcmp(e->chain, fw->name) == 0);
	e = find_elem(f, "service-nodeports", "tcp . 30080");
	CHECK(e && strcmp(e->chain, ext->name) == 0);
	CHECK(find_elem(f, "cluster-ips", "10.96.0.30") != NULL);
	nft_frag_free(f);

	/* On a node without endpoints: external traffic is dropped, pod and
	 * node traffic still short-circuits to every endpoint. */
	c.node_name = "node-3";
	CHECK_INT(nftc_compile_service(&c, m, "shop/web", s, NULL, &f), 0);
	CHECK(find_chain(f, "local-", "-shop/web/tcp/http") == NULL);
	ext = find_chain(f, "ext-", "-shop/web/tcp/http");
	CHECK(ext && ext->n_rules == 3);
	e = find_elem(f, "no-endpoint-nodeports", "tcp . 30080");
	CHECK(e && strcmp(e->chain, NFT_VERDICT_DROP) == 0);
	e = find_elem(f, "no-endpoint-services", "203.0.113.30 . tcp . 80");
	CHECK(e && strcmp(e->chain, NFT_VERDICT_DROP) == 0);
	CHECK(find_elem(f, "service-nodeports", "tcp . 30080") != NULL);
	nft_frag_free(f);
	nft_state_free(s);
	model_free(m);
}

static void test_skeleton(void)
{
	struct nft_frag *f;
	const struct nft_chain_ir *c;
	struct model *m;

	CHECK_INT(model_new(&m), 0);
	CHECK_INT(nftc_skeleton(&cfg, m, NULL, 0, &f), 0);
	c = find_chain(f, "services", "services");
	CHECK(c != NULL);
	CHECK_STR(rule_text(c, 0), "ip daddr . meta l4proto . th dport vmap @service-ips");
	CHECK_STR(rule_text(c, 1), "ip6 daddr . meta l4proto . th dport vmap @service-ips6");
	CHECK_STR(rule_text(c, 2),
		  "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports");
	c = find_chain(f, "masquerading", "masquerading");
	CHECK(c != NULL);
	CHECK_STR(rule_text(c, 0),
		  "ct status dnat ip saddr . ip daddr @hairpin masquerade fully-random");
	CHECK_STR(rule_text(c, 1),
		  "ct status dnat ip6 saddr . ip6 daddr @hairpin6 masquerade fully-random");
	CHECK_STR(rule_text(c, 2), "meta mark & 0x00004000 == 0x00000000 return");
	CHECK_STR(rule_text(c, 3), "meta mark set meta mark ^ 0x00004000");
	CHECK_STR(rule_text(c, 4), "masquerade fully-random");
	c = find_chain(f, "filter-forward", "filter-forward");
	CHECK(c != NULL && c->hook == NFT_HOOK_FORWARD && c->prio == 0);
	CHECK_STR(rule_text(c, 0), "ct state new jump no-endpoints");
	c = find_chain(f, "nat-prerouting", "nat-prerouting");
	CHECK(c != NULL && c->hook == NFT_HOOK_PREROUTING && c->prio == -100);
	CHECK_STR(rule_text(c, 0), "jump services");
	nft_frag_free(f);
	model_free(m);
}

static void test_chain_names(void)
{
	char a[NFT_NAME_MAX], b[NFT_NAME_MAX];

	nftc_svc_chain_name(a, AF_INET, "kube-system", "dns", IPPROTO_UDP, "dns");
	nftc_svc_chain_name(b, AF_INET6, "kube-system", "dns", IPPROTO_UDP, "dns");
	CHECK(strncmp(a, "svc-", 4) == 0);
	CHECK(strcmp(a + 12, "-kube-system/dns/udp/dns") == 0);
	CHECK(strcmp(a, b) != 0); /* families differ by hash */
	nftc_svc_chain_name(b, AF_INET, "kube-system", "dns", IPPROTO_UDP, "dns");
	CHECK_STR(a, b);
	nftc_svc_chain_name(a, AF_INET, "default", "web", IPPROTO_TCP, NULL);
	CHECK(strcmp(a + 12, "-default/web/tcp/") == 0);
}

/* nftproxyctl dump names services from chain names and element comments. */
static void test_chain_name_parse(void)
{
	char buf[NFT_NAME_MAX], *ns, *name, *port;

	nftc_svc_chain_name(buf, AF_INET, "kube-system", "core-dns", IPPROTO_UDP, "dns-udp");
	CHECK_INT(nft_chain_name_parse(buf, &ns, &name, &port), 0);
	CHECK_STR(ns, "kube-system");
	CHECK_STR(name, "core-dns");
	CHECK_STR(port, "dns-udp");
	free(ns), free(name), free(port);

	nftc_svc_chain_name(buf, AF_INET6, "default", "web", IPPROTO_TCP, NULL);
	CHECK_INT(nft_chain_name_parse(buf, &ns, &name, &port), 0);
	CHECK_STR(ns, "default");
	CHECK_STR(name, "web");
	CHECK_STR(port, "");
	free(ns), free(name), free(port);

	CHECK_INT(nft_chain_name_parse("services", &ns, &name, &port), -EINVAL);
	CHECK_INT(nft_chain_name_parse("svc-ABCDEFGH-only/two", &ns, &name, &port), -EINVAL);
}

int main(void)
{
	RUN(test_dual_stack_service);
	RUN(test_no_endpoints_and_ignored);
	RUN(test_external_local);
	RUN(test_skeleton);
	RUN(test_chain_names);
	RUN(test_chain_name_parse);
	return 0;
}
