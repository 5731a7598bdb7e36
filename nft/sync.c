#include "nft/sync.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/model/store.h"
#include "lib/util/heap.h"
#include "lib/util/ifaddr.h"
#include "lib/util/log.h"
#include "nft/compile.h"
#include "nft/conntrack.h"
#include "nft/diff.h"
#include "nft/netlink.h"
#include "nft/readback.h"
#include "nft/state.h"

struct nft_sync {
	char table[64];
	struct nftc_config ccfg;
	bool nodeport_primary;
	struct svc_prefix nodeport_cidrs[NFTC_MAX_CIDRS];
	size_t n_nodeport_cidrs;
	unsigned node_gen;         /* the model's node generation the skeleton follows */
	bool warned_no_node;
	struct nfk *nl;
	struct nft_state *state;   /* NULL: unknown, read it back first */
	struct hmap pending;       /* owned keys of services not yet applied */
	bool need_full;            /* a full run failed: the retry is full too */
	bool unowned;              /* read back: no commit has given the objects owners yet */
	uint32_t genid;            /* ruleset generation after our last commit */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int nft_table_name(const char *cluster, char *buf, size_t size)
{
	size_t n;

	if (!cluster || !cluster[0]) {
		snprintf(buf, size, "nftproxy");
		return 0;
	}
	n = strlen(cluster);
	/* A DNS label, so the table name stays short and printable. */
	if (n > 50 || !isalnum((unsigned char)cluster[0]) || !isalnum((unsigned char)cluster[n - 1]))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)cluster[i]) && !isdigit((unsigned char)cluster[i]) &&
		    cluster[i] != '-')
			return -EINVAL;
	snprintf(buf, size, "nftproxy-%s", cluster);
	return 0;
}

int nft_sync_new(const struct nft_sync_config *cfg, struct nft_sync **out)
{
	struct nft_sync *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	snprintf(s->table, sizeof(s->table), "%s", cfg->table ? cfg->table : "nftproxy");
	s->ccfg = cfg->compile;
	if (!s->ccfg.masq_mark)
		s->ccfg.masq_mark = 0x4000;
	s->nodeport_primary = cfg->nodeport_primary;
	s->n_nodeport_cidrs = cfg->n_nodeport_cidrs < NFTC_MAX_CIDRS ? cfg->n_nodeport_cidrs
								     : NFTC_MAX_CIDRS;
	memcpy(s->nodeport_cidrs, cfg->nodeport_cidrs, sizeof(s->nodeport_cidrs));
	r = nfk_open(&s->nl);
	if (r < 0) {
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

static void pending_clear(struct nft_sync *s)
{
	size_t it = 0;
	void *v;

	while (hmap_next(&s->pending, &it, NULL, &v))
		free(v);
	hmap_fini(&s->pending);
}

void nft_sync_free(struct nft_sync *s)
{
	if (!s)
		return;
	pending_clear(s);
	nft_state_free(s->state);
	nfk_close(s->nl);
	free(s);
}

bool nft_sync_pending(const struct nft_sync *s)
{
	return s->pending.len > 0 || !s->state;
}

static int take_dirty(struct nft_sync *s, struct model *m)
{
	char **keys = NULL;
	int n = model_take_dirty(m, &keys);
	int r = 0;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		if (r == 0 && !hmap_get(&s->pending, keys[i])) {
			r = hmap_put(&s->pending, keys[i], keys[i], NULL);
			if (r == 0)
				continue;
		}
		free(keys[i]);
	}
	free(keys);
	/* The keys not kept are gone from the model's dirty set too: a full
	 * run recompiles every service (and deletes what the gone ones had). */
	if (r < 0)
		s->need_full = true;
	return r;
}

struct full_ctx {
	struct nft_sync *s;
	const struct model *m;
	struct nft_plan *p;
	size_t n;
};

static int plan_key(struct nft_sync *s, const struct model *m, struct nft_plan *p,
		    const char *key)
{
	struct nft_frag *f;
	int r = nftc_compile_service(&s->ccfg, m, key, s->state, &p->arena, &f);

	if (r < 0)
		return log_error_errno(r, "Could not compile the rules of service %s", key);
	return nft_plan_frag(p, s->state, f);
}

static int plan_service_cb(const struct model_service *svc, void *data)
{
	struct full_ctx *c = data;
	char key[512];

	snprintf(key, sizeof(key), "%s/%s", svc->ns, svc->name);
	c->n++;
	return plan_key(c->s, c->m, c->p, key);
}

/* The addresses that accept node ports: the Node's first address of each
 * family (kube-proxy's "primary"), or this host's inside the CIDRs. Read
 * at every skeleton compile, as kube-proxy does at every full sync. */
static int nodeport_addrs(struct nft_sync *s, const struct model *m, struct ip_addr **out)
{
	const struct model_node *node = model_node_get(m);
	struct ip_addr nets[NFTC_MAX_CIDRS];
	uint8_t lens[NFTC_MAX_CIDRS];
	struct ip_addr *a;
	int k = 0;

	*out = NULL;
	if (!s->nodeport_primary) {
		for (size_t i = 0; i < s->n_nodeport_cidrs; i++) {
			nets[i] = s->nodeport_cidrs[i].addr;
			lens[i] = s->nodeport_cidrs[i].len;
		}
		return ifaddr_in(nets, lens, s->n_nodeport_cidrs, out);
	}
	if (!node || !node->n_addrs) {
		if (!s->warned_no_node)
			log_warn("this node's addresses are not known yet (no Node %s): node ports "
				 "are not served until it is, or set --nodeport-addresses",
				 s->ccfg.node_name ? s->ccfg.node_name : "");
		s->warned_no_node = true;
		return 0;
	}
	s->warned_no_node = false;
	a = calloc(2, sizeof(*a));
	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < node->n_addrs && k < 2; i++) {
		bool have = false;

		for (int j = 0; j < k; j++)
			have = have || a[j].family == node->addrs[i].family;
		if (!have && node->addrs[i].family)
			a[k++] = node->addrs[i];
	}
	*out = a;
	return k;
}

static int plan_skeleton(struct nft_sync *s, const struct model *m, struct nft_plan *p)
{
	struct nft_frag *skel;
	struct ip_addr *np;
	int n, r;

	n = nodeport_addrs(s, m, &np);
	/* Out of memory fails the run, which is retried; another error serves
	 * node ports on no address until the skeleton is compiled again. */
	if (n == -ENOMEM)
		return n;
	if (n < 0) {
		log_error_errno(n, "Could not list this host's addresses for node ports; serving "
				   "node ports on none of them until the next sync");
		n = 0;
	}
	r = nftc_skeleton(&s->ccfg, m, np, (size_t)n, &skel);
	free(np);
	if (r < 0)
		return r;
	s->node_gen = model_node_gen(m);
	return nft_plan_frag(p, s->state, skel);
}

static int plan_build(struct nft_sync *s, const struct model *m, bool full, struct nft_plan *p,
		      size_t *services)
{
	size_t it = 0;
	const char *key;
	int r;

	r = nft_plan_base(p, s->state);
	if (r < 0)
		return r;
	if (full) {
		struct full_ctx c = { .s = s, .m = m, .p = p };

		r = plan_skeleton(s, m, p);
		if (r < 0)
			return r;
		r = model_service_foreach(m, plan_service_cb, &c);
		if (r < 0)
			return r;
		*services = c.n;
		/* Services deleted since the last sync: empty fragments drop
		 * their owners; their objects are strays below anyway. */
		while (hmap_next(&s->pending, &it, &key, NULL)) {
			const char *slash = strchr(key, '/');
			char ns[256];

			if (!slash || (size_t)(slash - key) >= sizeof(ns))
				continue;
			memcpy(ns, key, slash - key);
			ns[slash - key] = '\0';
			if (model_service_get(m, ns, slash + 1))
				continue;
			r = plan_key(s, m, p, key);
			if (r < 0)
				return r;
		}
		r = nft_plan_hairpin(p, s->state);
		if (r < 0)
			return r;
		return nft_plan_strays(p, s->state);
	}
	*services = s->pending.len;
	if (model_node_gen(m) != s->node_gen && (r = plan_skeleton(s, m, p)) < 0)
		return r;
	while (hmap_next(&s->pending, &it, &key, NULL)) {
		r = plan_key(s, m, p, key);
		if (r < 0)
			return r;
	}
	return nft_plan_hairpin(p, s->state);
}

/* Elements went away: services that found one of their keys taken get
 * another look (the next run), so one of them takes over a freed key. */
static void unblock(struct nft_sync *s, struct model *m, const struct nft_plan *p)
{
	size_t it = 0;
	void *v;

	if (!s->state->blocked.len || !p->n_ops[NFT_PH_DEL_ELEMS])
		return;
	while (hmap_next(&s->state->blocked, &it, NULL, &v)) {
		if (model_mark_dirty(m, v) < 0)
			log_warn("service %s waits for a service address another service held; "
				 "out of memory marking it, the next full resync will retry", (char *)v);
		free(v);
	}
	hmap_fini(&s->state->blocked);
}

/* A full resync compares against what we believe the kernel holds. Did
 * someone else change the table meanwhile (delete it, add or remove a chain
 * or map)? The ruleset generation says whether anyone committed anything
 * since our last commit; if so, the table's use count (its chains and
 * maps) and its chain names say whether it was this table. On a mismatch
 * the state is dropped and this run reads the table back and restores it.
 * Rules edited inside our chains are not looked for (a restart finds them). */
static void check_drift(struct nft_sync *s)
{
	size_t ours = s->state->chains.len + s->state->sets.len;
	bool exists = false, match = true;
	uint32_t use = 0, genid = 0;

	if (!s->state->table_exists || nfr_genid(s->nl, &genid) < 0 || genid == s->genid)
		return;
	if (nfr_table_exists(s->nl, s->table, &exists, &use) < 0)
		return;
	if (exists && use == ours && nfr_chains_match(s->nl, s->table, s->state, &match) == 0 &&
	    match) {
		s->genid = genid; /* someone else's commit, not to our table */
		return;
	}
	if (exists)
		log_warn("table inet %s holds %u chains and maps, nftproxy wrote %zu%s: it was changed "
			 "by someone else; reading it back and restoring it", s->table, use, ours,
			 match ? "" : " (and other chain names)");
	else
		log_warn("table inet %s was deleted by someone else; recreating it", s->table);
	nft_state_free(s->state);
	s->state = NULL;
}

/* Remembers the generation our commit made (or found), for check_drift. */
static void note_genid(struct nft_sync *s)
{
	if (nfr_genid(s->nl, &s->genid) < 0)
		s->genid = 0;
}

int nft_sync_run(struct nft_sync *s, struct model *m, bool full, struct nft_sync_stats *stats)
{
	struct nft_sync_stats st = { 0 };
	struct nfk_send_stats ss = { 0 };
	struct nft_plan p;
	double t0 = now_ms(), t1, t2;
	int r;

	r = take_dirty(s, m);
	if (r < 0)
		return r;
	if (full && s->state)
		check_drift(s);
	if (!s->state) {
		r = nft_state_new(&s->state);
		if (r < 0)
			return r;
		r = nfr_read(s->nl, s->table, s->state);
		if (r < 0) {
			nft_state_free(s->state);
			s->state = NULL;
			return r;
		}
		log_v(2, "read back table inet %s: %s, %zu chains, %zu map elements", s->table,
		      s->state->table_exists ? "exists" : "absent", s->state->chains.len,
		      s->state->elems.len);
		full = true;
		s->unowned = true;
	}
	/* A failed full run is retried as a full run, or leftovers (strays)
	 * found by its read-back would stay until the next resync. */
	full = full || s->need_full;
	nft_plan_init(&p, s->table, full);
	r = plan_build(s, m, full, &p, &st.services);
	if (r >= 0)
		nft_plan_group_elems(&p);
	t1 = now_ms();
	if (r < 0)
		goto fail;
	if (nft_plan_size(&p) == 0) {
		/* Nothing to send, but after a read-back the plan claimed what it
		 * found in place: the kernel's objects get their owners here, or
		 * a service deleted later would leave its rules behind. Other
		 * empty plans change no owner (and skip a walk of every service). */
		r = s->unowned ? nft_plan_commit(&p, s->state) : 0;
		if (r < 0) {
			log_error_errno(r, "Could not record the applied state of table %s; "
					"will read it back", s->table);
			nft_state_free(s->state);
			s->state = NULL;
			goto out;
		}
		pending_clear(s);
		s->need_full = false;
		s->unowned = false;
		if (full)
			note_genid(s);
		goto done;
	}
	r = nfk_send_plan(s->nl, &p, &ss);
	t2 = now_ms();
	st.send_ms = t2 - t1;
	st.kernel_ms = ss.kernel_ms;
	st.messages = ss.messages;
	st.bytes = ss.bytes;
	if (r < 0)
		goto fail;
	r = nft_plan_commit(&p, s->state);
	if (r < 0) {
		/* The kernel has the batch but our view of it is incomplete:
		 * read it back on the next run rather than guess. */
		log_error_errno(r, "Could not record the applied state of table %s; will read it back",
				s->table);
		nft_state_free(s->state);
		s->state = NULL;
		goto out;
	}
	pending_clear(s);
	s->need_full = false;
	s->unowned = false;
	note_genid(s);
	unblock(s, m, &p);
	log_v(4, "table %s now holds %zu chains, %zu map elements, %zu hairpin addresses "
	      "(applied state: %zu + %zu + %zu slots)", s->table, s->state->chains.len,
	      s->state->elems.len, s->state->hairpin.len, s->state->chains.cap,
	      s->state->elems.cap, s->state->hairpin.tab[0].cap + s->state->hairpin.tab[1].cap);
	if (p.n_ct) {
		/* After the commit: new packets of those flows now find the new
		 * rules. A failure here is logged and costs only stale flows. */
		double tc = now_ms();
		int n = nft_conntrack_flush(p.ct, p.n_ct);

		if (n > 0)
			log_v(2, "deleted %d stale UDP conntrack entries", n);
		log_v(4, "table %s: conntrack flush for %zu UDP endpoints took %.1f ms", s->table,
		      p.n_ct, now_ms() - tc);
	}
done:
	st.compile_ms = t1 - t0;
	st.full = full;
	if (s->state) {
		st.table_chains = s->state->chains.len;
		st.table_elements = s->state->elems.len;
	}
	nft_plan_fini(&p);
	/* A big batch or a full plan leaves glibc holding free pages among the
	 * long-lived state: give them back, so the resident size is what the
	 * state needs (a few ms at 10,000 services). */
	if (full || st.bytes > 1u << 20) {
		struct heap_stats hs;

		heap_trim_stats(&hs);
		log_v(4, "heap after the sync: %.1f MiB in use, %.1f MiB free, %.1f MiB mapped (%s)",
		      (double)hs.in_use / 1048576, (double)hs.free / 1048576,
		      (double)hs.mapped / 1048576, hs.allocator);
	}
	st.total_ms = now_ms() - t0;
	if (stats)
		*stats = st;
	return 0;
fail:
	s->need_full = s->need_full || full;
	nft_plan_abort(&p, s->state);
	if (r == -ENOENT || r == -EEXIST || r == -EBUSY) {
		/* The kernel's table is not what we think it is (someone else
		 * changed it): read it back before the retry. */
		nft_state_free(s->state);
		s->state = NULL;
	}
out:
	st.compile_ms = t1 - t0;
	st.full = full;
	st.total_ms = now_ms() - t0;
	if (stats)
		*stats = st;
	nft_plan_fini(&p);
	return r;
}

int nft_table_delete(const char *table)
{
	struct nfk *n = NULL;
	bool exists = false;
	int r;

	r = nfk_open(&n);
	if (r < 0)
		return r;
	r = nfr_table_exists(n, table, &exists, NULL);
	if (r == 0)
		r = exists ? nfk_delete_table(n, table) : -ENOENT;
	nfk_close(n);
	return r;
}
