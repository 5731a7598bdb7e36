/* The diff without a kernel: plans are computed, then committed to the
 * applied state as if the kernel had accepted them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "lib/model/store.h"
#include "nft/compile.h"
#include "nft/diff.h"
#include "nft/state.h"
#include "tests/common/gen.h"
#include "tests/unit/check.h"

static const struct nftc_config cfg = { .masq_mark = 0x4000 };

struct counts {
	size_t n[NFT_OP_DEL_SET + 1];
	size_t total;
};

static struct counts count_ops(const struct nft_plan *p)
{
	struct counts c = { 0 };

	for (int ph = 0; ph < NFT_PH_COUNT; ph++)
		for (size_t i = 0; i < p->n_ops[ph]; i++) {
			c.n[p->ops[ph][i].kind]++;
			c.total++;
		}
	return c;
}

/* One sync as nft/sync.c does it, minus the kernel. */
static struct counts sync_once(struct nft_state *s, struct model *m, bool full)
{
	struct nft_plan p;
	struct counts c;
	char **keys = NULL;
	int n = model_take_dirty(m, &keys);

	CHECK(n >= 0);
	nft_plan_init(&p, "nftproxy", full);
	CHECK_INT(nft_plan_base(&p, s), 0);
	if (full) {
		struct nft_frag *skel;

		CHECK_INT(nftc_skeleton(&cfg, m, NULL, 0, &skel), 0);
		CHECK_INT(nft_plan_frag(&p, s, skel), 0);
	}
	for (int i = 0; i < n; i++) {
		struct nft_frag *f;

		CHECK_INT(nftc_compile_service(&cfg, m, keys[i], s, &p.arena, &f), 0);
		CHECK_INT(nft_plan_frag(&p, s, f), 0);
		free(keys[i]);
	}
	free(keys);
	CHECK_INT(nft_plan_hairpin(&p, s), 0);
	if (full)
		CHECK_INT(nft_plan_strays(&p, s), 0);
	c = count_ops(&p);
	/* The kernel refuses a batch that adds one key twice (EEXIST): every
	 * plan adds each element at most once. */
	{
		struct hmap ids = HMAP_INIT;

		for (size_t i = 0; i < p.n_ops[NFT_PH_ADD_ELEMS]; i++) {
			const struct nft_op *op = &p.ops[NFT_PH_ADD_ELEMS][i];
			char id[NFT_ELEM_ID_MAX];

			nft_elem_id(id, op->set, op->key, op->key_len);
			if (hmap_get(&ids, id))
				fprintf(stderr, "element %s added twice in one plan\n", id);
			CHECK(!hmap_get(&ids, id));
			CHECK_INT(hmap_strset_add(&ids, id), 0);
		}
		hmap_strset_free(&ids);
	}
	CHECK_INT(nft_plan_commit(&p, s), 0);
	/* As nft/sync.c does: services that found their key taken are looked
	 * at again once elements were deleted. */
	if (s->blocked.len && p.n_ops[NFT_PH_DEL_ELEMS]) {
		size_t it = 0;
		void *v;

		while (hmap_next(&s->blocked, &it, NULL, &v)) {
			CHECK_INT(model_mark_dirty(m, v), 0);
			free(v);
		}
		hmap_fini(&s->blocked);
	}
	nft_plan_fini(&p);
	return c;
}

static void populate(struct model *m, unsigned n, unsigned eps)
{
	for (unsigned i = 0; i < n; i++) {
		CHECK_INT(model_service_upsert(m, gen_service(i)), 0);
		CHECK_INT(model_slice_upsert(m, gen_slice(i, eps, 0)), 0);
	}
}

/* The batch for one changed endpoint must not depend on the table's size. */
static struct counts one_endpoint_change(unsigned n_services)
{
	struct nft_state *s;
	struct model *m;
	struct counts cold, again, one;

	CHECK_INT(model_new(&m), 0);
	CHECK_INT(nft_state_new(&s), 0);
	populate(m, n_services, 3);
	cold = sync_once(s, m, true);
	/* 16 fixed sets and maps (per family: service, no-endpoint, node port,
	 * no-endpoint node port and firewall maps, cluster and node port
	 * address sets, hairpin) + one LB map per NFT_LB_PER_MAP service ports */
	CHECK_INT(cold.n[NFT_OP_ADD_SET], 16 + (n_services + NFT_LB_PER_MAP - 1) / NFT_LB_PER_MAP);
	CHECK_INT(cold.n[NFT_OP_ADD_TABLE], 1);
	/* skeleton 14 chains; one chain per service port */
	CHECK_INT(cold.n[NFT_OP_ADD_CHAIN], 14 + n_services);
	/* per service its LB rule; skeleton 29 rules */
	CHECK_INT(cold.n[NFT_OP_ADD_RULE], 29 + n_services);
	/* per service: 1 service-ips element, 1 cluster-ips element, 3 LB
	 * ranges; one hairpin element per endpoint address */
	CHECK_INT(s->hairpin.len, 3 * n_services);
	CHECK_INT(cold.n[NFT_OP_ADD_ELEM], 5 * n_services + 3 * n_services);
	CHECK_INT(cold.n[NFT_OP_DEL_CHAIN] + cold.n[NFT_OP_DEL_ELEM], 0);

	/* Nothing changed: a full resync plans nothing. */
	CHECK_INT(model_mark_all_dirty(m), 0);
	again = sync_once(s, m, true);
	CHECK_INT(again.total, 0);

	/* The last endpoint of one service moves to a new address. */
	CHECK_INT(model_slice_upsert(m, gen_slice(n_services / 2, 3, 0x400000)), 0);
	one = sync_once(s, m, false);
	nft_state_free(s);
	model_free(m);
	return one;
}

static void test_one_endpoint_batch_is_small(void)
{
	struct counts small = one_endpoint_change(10);
	struct counts big = one_endpoint_change(10000);

	/* gen 0x400000 shifts all three addresses: the 3 LB ranges get new
	 * values and the 3 hairpin elements are replaced; no chain or rule
	 * changes (so the kernel re-validates nothing). */
	CHECK_INT(small.n[NFT_OP_ADD_CHAIN], 0);
	CHECK_INT(small.n[NFT_OP_ADD_RULE], 0);
	CHECK_INT(small.n[NFT_OP_DEL_ELEM], 3 + 3);
	CHECK_INT(small.n[NFT_OP_ADD_ELEM], 3 + 3);
	CHECK_INT(small.n[NFT_OP_DEL_CHAIN], 0);
	CHECK_INT(small.n[NFT_OP_FLUSH_CHAIN], 0);
	CHECK_INT(small.n[NFT_OP_ADD_SET], 0);
	fprintf(stderr, "one-endpoint plan: %zu ops at 10 services, %zu ops at 10000\n",
		small.total, big.total);
	CHECK_INT(big.total, small.total);
}

static void test_delete_and_no_endpoints(void)
{
	struct nft_state *s;
	struct model *m;
	struct counts c;

	CHECK_INT(model_new(&m), 0);
	CHECK_INT(nft_state_new(&s), 0);
	populate(m, 5, 2);
	sync_once(s, m, true);
	size_t chains = s->chains.len, elems = s->elems.len, hairpin = s->hairpin.len;
	/* LB ranges are not state elements: service-ips and cluster-ips */
	CHECK_INT(elems, 10);

	/* Slice gone: the service rejects (one no-endpoint element), its svc
	 * chain, LB ranges and its endpoints' hairpin elements go away. */
	CHECK_INT(model_slice_delete(m, "ns2", "svc2-abcde"), 0);
	c = sync_once(s, m, false);
	CHECK_INT(c.n[NFT_OP_DEL_CHAIN], 1);
	CHECK_INT(c.n[NFT_OP_ADD_ELEM], 1);
	CHECK_INT(c.n[NFT_OP_DEL_ELEM], 5); /* service-ips + 2 LB + 2 hairpin */
	CHECK_INT(s->chains.len, chains - 1);
	CHECK_INT(s->elems.len, elems - 1 + 1);
	CHECK_INT(s->hairpin.len, hairpin - 2);
	/* Its LB slot is free again and a new service takes it. */
	CHECK_INT(model_slice_upsert(m, gen_slice(2, 2, 0)), 0);
	c = sync_once(s, m, false);
	CHECK_INT(c.n[NFT_OP_ADD_CHAIN], 1);
	CHECK_INT(c.n[NFT_OP_ADD_SET], 0);
	CHECK_INT(c.n[NFT_OP_DEL_ELEM], 1); /* the no-endpoint element */
	CHECK_INT(c.n[NFT_OP_ADD_ELEM], 1 + 2 + 2);

	/* Service deleted: everything it had goes. */
	CHECK_INT(model_service_delete(m, "ns3", "svc3"), 0);
	c = sync_once(s, m, false);
	CHECK_INT(c.n[NFT_OP_DEL_CHAIN], 1);
	CHECK_INT(c.n[NFT_OP_DEL_ELEM], 6); /* and its cluster-ips element */
	CHECK_INT(c.n[NFT_OP_ADD_ELEM] + c.n[NFT_OP_ADD_CHAIN], 0);
	CHECK(nft_state_owner(s, "ns3/svc3") == NULL);
	nft_state_free(s);
	model_free(m);
}

/* A state read back from the kernel has no owners: a full sync claims what
 * matches and deletes only what the model no longer has. */
static void test_full_sync_removes_strays(void)
{
	struct nft_state *s;
	struct model *m;
	struct counts c;

	CHECK_INT(model_new(&m), 0);
	CHECK_INT(nft_state_new(&s), 0);
	populate(m, 3, 1);
	sync_once(s, m, true);
	/* Something else left in the table: a chain and an element. */
	CHECK_INT(nft_state_put_chain(s, "svc-ZZZZZZZZ-old/gone/tcp/", 42, NULL), 0);
	CHECK_INT(nft_state_put_elem(s, "service-ips", (const uint8_t *)"123456789012", 12,
				     "svc-ZZZZZZZZ-old/gone/tcp/", NULL), 0);
	CHECK_INT(model_mark_all_dirty(m), 0);
	c = sync_once(s, m, true);
	CHECK_INT(c.n[NFT_OP_DEL_CHAIN], 1);
	CHECK_INT(c.n[NFT_OP_DEL_ELEM], 1);
	CHECK_INT(c.total, 3); /* flush + delete chain, delete element */
	CHECK(hmap_get(&s->chains, "svc-ZZZZZZZZ-old/gone/tcp/") == NULL);
	nft_state_free(s);
	model_free(m);
}

/* Slices of service 0 with endpoints [from, to) of gen_slice's addresses. */
static struct model_slice *slice_range(unsigned n_all, unsigned from, unsigned to)
{
	struct model_slice *sl = gen_slice(0, n_all, 0);
	unsigned k = 0;

	for (unsigned i = from; i < to && i < n_all; i++)
		sl->endpoints[k++] = sl->endpoints[i];
	sl->n_endpoints = k;
	return sl;
}

/* Endpoint changes are element changes only: no rule is rebuilt. With the
 * same number of endpoints the ranges stay, and an endpoint replaced by
 * another changes one range; a different number re-cuts the ranges. */
/* A base chain read back with another priority (an older layout) is
 * deleted and made anew: its priority cannot change in place. */
static void test_base_chain_replaced(void)
{
	struct nft_state *s;
	struct nft_ap_chain *c;
	struct model *m;
	struct counts k;

	CHECK_INT(model_new(&m), 0);
	CHECK_INT(nft_state_new(&s), 0);
	sync_once(s, m, true);
	c = hmap_get(&s->chains, "filter-input");
	CHECK(c != NULL && c->base_fp != 0);
	/* Same chain, as the kernel would report it at priority -110. */
	c->base_fp ^= 2;
	c->ir_hash = 0;
	k = sync_once(s, m, true);
	CHECK_INT(k.n[NFT_OP_DEL_CHAIN], 1);
	CHECK_INT(k.n[NFT_OP_ADD_CHAIN], 1);
	CHECK_INT(k.n[NFT_OP_ADD_RULE], 1);
	c = hmap_get(&s->chains, "filter-input");
	CHECK(c != NULL);
	k = sync_once(s, m, true);
	CHECK_INT(k.total, 0);
	nft_state_free(s);
	model_free(m);
}

/* A service that takes session affinity leaves its LB slot (ranges deleted,
 * slot free) and gets an affinity set per endpoint; back without affinity,
 * the sets go and it load-balances again. */
static void test_affinity_switch(void)
{
	struct nft_state *s;
	struct model_service *svc;
	struct model *m;
	struct counts k;
	const char *chain = NULL;
	size_t it = 0;
	const char *name;

	CHECK_INT(model_new(&m), 0);
	CHECK_INT(nft_state_new(&s), 0);
	populate(m, 3, 2);
	sync_once(s, m, true);
	while (hmap_next(&s->chains, &it, &name, NULL))
		if (strncmp(name, "svc-", 4) == 0 && strstr(name, "ns1/svc1/"))
			chain = name;
	CHECK(chain != NULL && nft_lb_has(&s->lb, chain));

	svc = gen_service(1);
	svc->affinity = SVC_AFFINITY_CLIENT_IP;
	svc->affinity_timeout = 60;
	CHECK_INT(model_service_upsert(m, svc), 0);
	k = sync_once(s, m, false);
	CHECK_INT(k.n[NFT_OP_ADD_SET], 2);         /* one affinity set per endpoint */
	/* its two LB ranges, and its service-ips element (the comment says affinity=60s) */
	CHECK_INT(k.n[NFT_OP_DEL_ELEM], 2 + 1);
	CHECK_INT(k.n[NFT_OP_ADD_RULE], 4);        /* per endpoint: affinity, draw */
	CHECK(!nft_lb_has(&s->lb, chain));
	CHECK_INT(nft_state_owner(s, "ns1/svc1")->n_sets, 2);
	CHECK_INT(model_mark_all_dirty(m), 0);
	k = sync_once(s, m, true);
	CHECK_INT(k.total, 0);                     /* converged */

	CHECK_INT(model_service_upsert(m, gen_service(1)), 0);
	k = sync_once(s, m, false);
	CHECK_INT(k.n[NFT_OP_DEL_SET], 2);
	CHECK_INT(k.n[NFT_OP_ADD_RULE], 1);        /* the LB rule */
	CHECK(nft_lb_has(&s->lb, chain));
	CHECK_INT(nft_state_owner(s, "ns1/svc1")->n_sets, 0);
	CHECK_INT(model_mark_all_dirty(m), 0);
	k = sync_once(s, m, true);
	CHECK_INT(k.total, 0);
	nft_state_free(s);
	model_free(m);
}

static void test_lb_ranges(void)
{
	struct nft_state *s;
	struct model *m;
	struct counts c;

	CHECK_INT(model_new(&m), 0);
	CHECK_INT(nft_state_new(&s), 0);
	CHECK_INT(model_service_upsert(m, gen_service(0)), 0);
	CHECK_INT(model_slice_upsert(m, slice_range(6, 0, 5)), 0);
	sync_once(s, m, true);

	/* Endpoint 0 replaced by endpoint 5: one range gets the new value. */
	CHECK_INT(model_slice_upsert(m, slice_range(6, 1, 6)), 0);
	c = sync_once(s, m, false);
	CHECK_INT(c.n[NFT_OP_ADD_CHAIN] + c.n[NFT_OP_ADD_RULE] + c.n[NFT_OP_DEL_CHAIN], 0);
	CHECK_INT(c.n[NFT_OP_DEL_ELEM], 1 + 1);   /* the range, the old hairpin element */
	CHECK_INT(c.n[NFT_OP_ADD_ELEM], 1 + 1);

	/* One endpoint less: 4 ranges instead of 5, one hairpin element less. */
	CHECK_INT(model_slice_upsert(m, slice_range(6, 2, 6)), 0);
	c = sync_once(s, m, false);
	CHECK_INT(c.n[NFT_OP_ADD_CHAIN] + c.n[NFT_OP_ADD_RULE] + c.n[NFT_OP_DEL_CHAIN], 0);
	CHECK_INT(c.n[NFT_OP_DEL_ELEM], 5 + 1);
	CHECK_INT(c.n[NFT_OP_ADD_ELEM], 4);
	CHECK_INT(s->hairpin.len, 4);
	nft_state_free(s);
	model_free(m);
}

/* Every element goes to a chain the state has, and every service chain is
 * the target of some element: nothing dangles, nothing is orphaned. */
static void check_consistent(struct nft_state *s)
{
	struct hmap targets = HMAP_INIT;
	size_t it = 0;
	void *v;

	while (hmap_next(&s->elems, &it, NULL, &v)) {
		struct nft_ap_elem *e = v;

		CHECK(!e->interval); /* LB ranges live in their chains */
		if (strncmp(e->set, "cluster-ips", 11) == 0 || strncmp(e->set, "nodeport-ips", 12) == 0) {
			CHECK(e->target == NULL); /* plain set elements */
			continue;
		}
		if (!e->target || hmap_get(&s->chains, e->target->name) != e->target) {
			fprintf(stderr, "element %s goes to a chain the state does not hold\n", e->id);
			exit(1);
		}
		CHECK_INT(hmap_put(&targets, e->target->name, e, NULL), 0);
	}
	it = 0;
	while (hmap_next(&s->chains, &it, NULL, &v)) {
		struct nft_ap_chain *c = v;

		/* Every LB endpoint is in the hairpin set. */
		for (uint32_t k = 0; k < c->lb_n; k++) {
			const struct ipcount_entry *hp;
			struct ip_addr ip;
			uint16_t port;

			nft_data_target_get(c->lb_eps + k * c->lb_dlen, c->lb_dlen, &ip, &port);
			hp = ipcount_find(&s->hairpin, &ip);
			CHECK(hp != NULL && hp->n > 0 && hp->flag);
		}
		if (strncmp(c->name, "svc-", 4) == 0 && !hmap_get(&targets, c->name)) {
			fprintf(stderr, "chain %s is not the target of any element\n", c->name);
			exit(1);
		}
	}
	hmap_fini(&targets);
}

/* Random changes, each synced incrementally; after each, a full resync of
 * the same model must find nothing to do: the incremental path leaves the
 * table exactly where compiling everything from scratch would. */
static void test_random_changes_converge(void)
{
	enum { SERVICES = 12, STEPS = 600 };
	struct nft_state *s;
	struct model *m;
	unsigned seed = 12345;

	CHECK_INT(model_new(&m), 0);
	CHECK_INT(nft_state_new(&s), 0);
	sync_once(s, m, true);
	for (int step = 0; step < STEPS; step++) {
		unsigned i = (unsigned)rand_r(&seed) % SERVICES;
		unsigned what = (unsigned)rand_r(&seed) % 6;
		char ns[16], name[32];
		struct counts c;

		snprintf(ns, sizeof(ns), "ns%u", i % 100);
		if (what == 0) {
			struct model_service *svc = gen_service(i);

			/* Another port, or another cluster IP, now and then. */
			if (rand_r(&seed) % 2)
				svc->ports[0].port = (uint16_t)(80 + rand_r(&seed) % 3);
			if (rand_r(&seed) % 3 == 0)
				svc->cluster_ips[0].v4.s_addr = htonl((10u << 24) | (97u << 16) | (i + 1));
			/* Two services claiming one address: the first keeps it. */
			else if (rand_r(&seed) % 4 == 0)
				svc->cluster_ips[0].v4.s_addr = htonl((10u << 24) | (98u << 16) | 1);
			CHECK_INT(model_service_upsert(m, svc), 0);
		} else if (what <= 2) {
			unsigned n = (unsigned)rand_r(&seed) % 6;
			struct model_slice *sl = gen_slice(i, n, (unsigned)rand_r(&seed) % 4);

			for (unsigned k = 0; k < n; k++)
				if (rand_r(&seed) % 4 == 0)
					sl->endpoints[k].ready = TRI_FALSE;
			CHECK_INT(model_slice_upsert(m, sl), 0);
		} else if (what == 3) {
			snprintf(name, sizeof(name), "svc%u", i);
			model_service_delete(m, ns, name);
		} else if (what == 4) {
			snprintf(name, sizeof(name), "svc%u-abcde", i);
			model_slice_delete(m, ns, name);
		} else {
			continue;
		}
		/* Until nothing is left dirty (a freed address is taken over in
		 * the run after the one that freed it). */
		for (int k = 0; k < 4 && (k == 0 || model_dirty_count(m)); k++)
			sync_once(s, m, false);
		CHECK_INT(model_dirty_count(m), 0);
		check_consistent(s);
		CHECK_INT(model_mark_all_dirty(m), 0);
		c = sync_once(s, m, true);
		if (c.total) {
			fprintf(stderr, "step %d: a full resync after an incremental one planned %zu ops\n",
				step, c.total);
			exit(1);
		}
	}
	nft_state_free(s);
	model_free(m);
}

static void add_external(struct model_service *svc, const struct ip_addr *ip, bool lb)
{
	struct ip_addr **v = lb ? &svc->lb_ingress_ips : &svc->external_ips;
	size_t *n = lb ? &svc->n_lb_ingress_ips : &svc->n_external_ips;

	*v = realloc(*v, (*n + 1) * sizeof(**v));
	CHECK(*v != NULL);
	(*v)[(*n)++] = *ip;
}

/* The holder of a service-ips key, as the state has it after a commit. */
static const char *key_owner(struct nft_state *s, const struct ip_addr *ip)
{
	struct nft_ap_elem *e;
	char id[NFT_ELEM_ID_MAX];
	uint8_t key[NFT_KEY_MAX], len;

	nft_key_service(key, &len, ip, IPPROTO_TCP, 80);
	nft_elem_id(id, NFT_MAP_SERVICE_IPS, key, len);
	e = hmap_get(&s->elems, id);
	return e && e->owner ? e->owner->key : NULL;
}

/* Services that claim one address: another service's cluster IP is never
 * theirs (whatever the order), a key two claim goes to one of them only,
 * and a key a service lists twice is added once. In a cold plan, where the
 * state knows none of the keys yet, a second add would make the kernel
 * refuse the whole batch. */
static void test_address_claims(void)
{
	struct model_service *svc;
	struct nft_state *s;
	struct model *m;
	struct ip_addr cip0, ext = { .family = AF_INET };
	const char *o;

	inet_pton(AF_INET, "203.0.113.7", &ext.v4);
	CHECK_INT(model_new(&m), 0);
	CHECK_INT(nft_state_new(&s), 0);
	for (unsigned i = 0; i < 6; i++) {
		svc = gen_service(i);
		if (i == 0)
			cip0 = svc->cluster_ips[0];
		if (i == 1 || i == 5) {
			/* Service 0's cluster IP, as an external and an LB IP. */
			add_external(svc, &cip0, false);
			add_external(svc, &cip0, true);
		}
		if (i == 2) {
			/* The same address three times. */
			add_external(svc, &ext, false);
			add_external(svc, &ext, false);
			add_external(svc, &ext, true);
		}
		if (i == 3 || i == 4)
			add_external(svc, &ext, false);
		CHECK_INT(model_service_upsert(m, svc), 0);
		CHECK_INT(model_slice_upsert(m, gen_slice(i, 2, 0)), 0);
	}
	CHECK_STR(model_cluster_ip_owner(m, &cip0), "ns0/svc0");
	CHECK(model_cluster_ip_owner(m, &ext) == NULL);
	sync_once(s, m, true);
	CHECK_STR(key_owner(s, &cip0), "ns0/svc0");
	o = key_owner(s, &ext);
	CHECK(o && (!strcmp(o, "ns2/svc2") || !strcmp(o, "ns3/svc3") || !strcmp(o, "ns4/svc4")));

	/* Service 0 goes: its address is free, and a claimant of it is
	 * compiled again (the model marks it) and takes it. */
	CHECK_INT(model_service_delete(m, "ns0", "svc0"), 0);
	CHECK(model_cluster_ip_owner(m, &cip0) == NULL);
	CHECK_INT(model_dirty_count(m), 3); /* svc0, and its claimants 1 and 5 */
	sync_once(s, m, false);
	/* A claimant planned before svc0's deletion found the key still held:
	 * it is blocked and planned again once the key was deleted. */
	sync_once(s, m, false);
	o = key_owner(s, &cip0);
	CHECK(o && (!strcmp(o, "ns1/svc1") || !strcmp(o, "ns5/svc5")));

	/* It comes back: its cluster IP is its own again at once. */
	CHECK_INT(model_service_upsert(m, gen_service(0)), 0);
	CHECK_INT(model_dirty_count(m), 3);
	sync_once(s, m, false);
	sync_once(s, m, false); /* the freed key, taken by the next run */
	CHECK_STR(key_owner(s, &cip0), "ns0/svc0");
	CHECK_INT(model_dirty_count(m), 0);
	nft_state_free(s);
	model_free(m);
}

int main(void)
{
	RUN(test_one_endpoint_batch_is_small);
	RUN(test_delete_and_no_endpoints);
	RUN(test_full_sync_removes_strays);
	RUN(test_base_chain_replaced);
	RUN(test_affinity_switch);
	RUN(test_lb_ranges);
	RUN(test_address_claims);
	RUN(test_random_changes_converge);
	return 0;
}
