#include "nft/diff.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/rule.h>

#include "lib/util/log.h"
#include "nft/build.h"
#include "nft/compile.h"
#include "nft/state.h"

void nft_plan_init(struct nft_plan *p, const char *table, bool full)
{
	memset(p, 0, sizeof(*p));
	p->table = table;
	p->full = full;
}

void nft_plan_fini(struct nft_plan *p)
{
	for (int ph = 0; ph < NFT_PH_COUNT; ph++)
		free(p->ops[ph]);
	for (size_t i = 0; i < p->n_frags; i++) {
		nft_frag_free(p->frags[i].frag);
		free(p->frags[i].fps);
		free(p->frags[i].ir_hashes);
	}
	free(p->frags);
	free(p->ct);
	ipcount_fini(&p->hairpin);
	hmap_strset_free(&p->claimed_sets);
	hmap_fini(&p->new_elems);
	arena_release(&p->arena);
	memset(p, 0, sizeof(*p));
}

size_t nft_plan_size(const struct nft_plan *p)
{
	size_t n = 0;

	for (int ph = 0; ph < NFT_PH_COUNT; ph++)
		n += p->n_ops[ph];
	return n;
}

static struct nft_op *op_add(struct nft_plan *p, enum nft_phase ph, enum nft_op_kind kind,
			     const char *owner)
{
	struct nft_op *op;

	if (p->n_ops[ph] == p->cap_ops[ph]) {
		size_t ncap = p->cap_ops[ph] ? p->cap_ops[ph] * 2 : 64;
		struct nft_op *n = realloc(p->ops[ph], ncap * sizeof(*n));

		if (!n)
			return NULL;
		p->ops[ph] = n;
		p->cap_ops[ph] = ncap;
	}
	op = &p->ops[ph][p->n_ops[ph]++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->owner = owner;
	return op;
}

static bool set_planned(const struct nft_plan *p, const char *name)
{
	for (size_t i = 0; i < p->n_ops[NFT_PH_SETS]; i++)
		if (p->ops[NFT_PH_SETS][i].kind == NFT_OP_ADD_SET &&
		    strcmp(p->ops[NFT_PH_SETS][i].set, name) == 0)
			return true;
	return false;
}

static int plan_set(struct nft_plan *p, struct nft_state *s, enum nft_set_kind kind,
		    const char *name, uint32_t lb_map, uint32_t timeout_s, const char *owner)
{
	struct nft_op *op;

	if (nft_state_has_set(s, name) || set_planned(p, name))
		return 0;
	/* An LB map is added for the first service that needs it: errors
	 * name that service. */
	op = op_add(p, NFT_PH_SETS, NFT_OP_ADD_SET, owner);
	if (!op)
		return -ENOMEM;
	op->set_kind = kind;
	op->lb_map = lb_map;
	op->timeout_s = timeout_s;
	snprintf(op->set, sizeof(op->set), "%s", name);
	return 0;
}

static int plan_del_set(struct nft_plan *p, const char *owner, const char *name)
{
	struct nft_op *op = op_add(p, NFT_PH_DEL_SETS, NFT_OP_DEL_SET, owner);

	if (!op)
		return -ENOMEM;
	snprintf(op->set, sizeof(op->set), "%s", name);
	return 0;
}

int nft_plan_base(struct nft_plan *p, struct nft_state *s)
{
	static const struct { const char *name; enum nft_set_kind kind; } fixed[] = {
		{ NFT_MAP_SERVICE_IPS, NFT_SET_SERVICE4 },
		{ NFT_MAP_SERVICE_IPS6, NFT_SET_SERVICE6 },
		{ NFT_MAP_NO_ENDPOINTS, NFT_SET_SERVICE4 },
		{ NFT_MAP_NO_ENDPOINTS6, NFT_SET_SERVICE6 },
		{ NFT_NAME_HAIRPIN, NFT_SET_HAIRPIN4 },
		{ NFT_NAME_HAIRPIN6, NFT_SET_HAIRPIN6 },
		{ NFT_SET_CLUSTER_IPS, NFT_SET_ADDR4 },
		{ NFT_SET_CLUSTER_IPS6, NFT_SET_ADDR6 },
		{ NFT_SET_NODEPORT_IPS, NFT_SET_ADDR4 },
		{ NFT_SET_NODEPORT_IPS6, NFT_SET_ADDR6 },
		{ NFT_MAP_NODEPORTS, NFT_SET_NODEPORT },
		{ NFT_MAP_NODEPORTS6, NFT_SET_NODEPORT },
		{ NFT_MAP_NO_EP_NODEPORTS, NFT_SET_NODEPORT },
		{ NFT_MAP_NO_EP_NODEPORTS6, NFT_SET_NODEPORT },
		{ NFT_MAP_FIREWALL_IPS, NFT_SET_SERVICE4 },
		{ NFT_MAP_FIREWALL_IPS6, NFT_SET_SERVICE6 },
	};
	int r;

	if (!s->table_exists && !op_add(p, NFT_PH_SETS, NFT_OP_ADD_TABLE, ""))
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		r = plan_set(p, s, fixed[i].kind, fixed[i].name, 0, 0, "");
		if (r < 0)
			return r;
	}
	return 0;
}

/* Fingerprints the chain's rules and queues them (flushing the chain first
 * when it exists) unless the kernel already has them. The libnftnl objects
 * built for the fingerprint are dropped at once and built again when the
 * batch is serialised: holding them for a whole table would double the
 * peak memory of a cold start. */
static int plan_chain(struct nft_plan *p, struct nft_state *s, const struct nft_frag *f,
		      const struct nft_chain_ir *c, uint64_t *fp_out, uint64_t *irh_out,
		      bool *changed)
{
	struct nft_ap_chain *ap = hmap_get(&s->chains, c->name);
	uint64_t fp = nfb_fp_init(c), irh = nft_chain_ir_hash(c);
	struct nft_op *op;
	int r = 0;

	*irh_out = irh;
	/* Same IR as what the kernel got from us: same expressions. This keeps
	 * periodic full resyncs from rebuilding every rule of the table. */
	if (ap && ap->ir_hash == irh) {
		ap->gen = p->gen;
		*fp_out = ap->fp;
		return 0;
	}
	for (size_t i = 0; i < c->n_rules; i++) {
		struct nftnl_rule *nr;

		r = nfb_rule_build(p->table, c->name, &c->rules[i], &nr);
		if (r < 0)
			return r;
		fp = nfb_fp_add_rule(fp, nr);
		nftnl_rule_free(nr);
	}
	*fp_out = fp;

	/* A base chain's type, hook and priority cannot change in place: one
	 * that differs (an older layout) is deleted first and made anew. It
	 * is safe to delete early: nothing jumps to a base chain. */
	if (ap && c->hook != NFT_HOOK_NONE && ap->base_fp &&
	    ap->base_fp != ((uint32_t)nfb_fp_init(c) | 1)) {
		log_info("table %s: base chain %s has another hook or priority; replacing it",
			 p->table, c->name);
		op = op_add(p, NFT_PH_DEL_BASE, NFT_OP_FLUSH_CHAIN, f->owner);
		if (!op)
			return -ENOMEM;
		op->name = c->name;
		op = op_add(p, NFT_PH_DEL_BASE, NFT_OP_DEL_CHAIN, f->owner);
		if (!op)
			return -ENOMEM;
		op->name = c->name;
		ap->gen = p->gen;
		ap = NULL;
	}
	if (ap) {
		ap->gen = p->gen;
		if (ap->fp == fp)
			return 0;
		op = op_add(p, NFT_PH_RULES, NFT_OP_FLUSH_CHAIN, f->owner);
		if (!op)
			return -ENOMEM;
		op->name = c->name;
	} else {
		op = op_add(p, NFT_PH_CHAINS, NFT_OP_ADD_CHAIN, f->owner);
		if (!op)
			return -ENOMEM;
		op->chain = c;
		op->name = c->name;
	}
	*changed = true;
	for (size_t i = 0; i < c->n_rules; i++) {
		op = op_add(p, NFT_PH_RULES, NFT_OP_ADD_RULE, f->owner);
		if (!op)
			return -ENOMEM;
		op->name = c->name;
		op->rule = &c->rules[i];
	}
	return 0;
}

static int plan_del_elem(struct nft_plan *p, const char *owner, const struct nft_ap_elem *ap)
{
	struct nft_op *op = op_add(p, NFT_PH_DEL_ELEMS, NFT_OP_DEL_ELEM, owner);

	if (!op)
		return -ENOMEM;
	snprintf(op->set, sizeof(op->set), "%s", ap->set);
	memcpy(op->key, ap->key, ap->key_len);
	op->key_len = ap->key_len;
	op->interval = ap->interval;
	op->range_end = ap->range_end;
	return 0;
}

static int plan_del_chain(struct nft_plan *p, const char *owner, const char *name)
{
	struct nft_op *op = op_add(p, NFT_PH_DEL_CHAINS, NFT_OP_FLUSH_CHAIN, owner);

	if (!op)
		return -ENOMEM;
	op->name = name;
	op = op_add(p, NFT_PH_DEL_CHAINS, NFT_OP_DEL_CHAIN, owner);
	if (!op)
		return -ENOMEM;
	op->name = name;
	return 0;
}

/* Whether the kernel's element already is what the fragment wants. */
static bool elem_same(const struct nft_ap_elem *ap, const struct nft_elem_ir *e)
{
	return !ap->interval && strcmp(nft_ap_elem_target(ap), e->chain ? e->chain : "") == 0 &&
	       ap->comment_hash == nft_comment_hash(e->comment);
}

/* Whether a read-back element that no sync has claimed yet names another
 * service in its comment ("ns/name/proto/port ..."). After a restart that
 * service keeps it: the first full run must not hand a service address to
 * whichever claimant it happens to plan first. */
static size_t comment_owner_len(const char *comment)
{
	const char *slash = strchr(comment, '/');
	size_t n = strcspn(comment, " ");

	slash = slash ? strchr(slash + 1, '/') : NULL;
	return slash && (size_t)(slash - comment) < n ? (size_t)(slash - comment) : n;
}

static bool elem_named_for_other(const struct nft_ap_elem *ap, const char *owner)
{
	size_t n = strlen(owner);

	if (ap->owner || !ap->comment || !owner[0])
		return false;
	return comment_owner_len(ap->comment) != n || strncmp(ap->comment, owner, n) != 0;
}

static int plan_elem(struct nft_plan *p, struct nft_state *s, struct nft_frag *f,
		     const struct nft_owner *owner, struct nft_elem_ir *e, bool *changed)
{
	char id[NFT_ELEM_ID_MAX], keybuf[128];
	const char *set = e->set, *holder = NULL;
	struct nft_ap_elem *ap;
	struct nft_op *op;
	int r;

	nft_elem_id(id, set, e->key, e->key_len);
	ap = hmap_get(&s->elems, id);
	/* The service lists the key twice (an external IP that is also its
	 * LB IP, a repeated entry): once is enough, and a second add of the
	 * key would make the kernel refuse the whole batch. */
	if ((ap && ap->gen == p->gen && owner && ap->owner == owner) ||
	    (!ap && (holder = hmap_get(&p->new_elems, id)) && strcmp(holder, f->owner) == 0)) {
		nft_elem_key_print(e, keybuf, sizeof(keybuf));
		log_v(2, "service %s: %s %s is listed twice; using it once", f->owner, set, keybuf);
		e->refused = true;
		return 0;
	}
	if (ap ? ap->gen == p->gen || (ap->owner && ap->owner != owner && ap->owner->key[0]) ||
		     elem_named_for_other(ap, f->owner)
	       : holder != NULL) {
		char buf[NFT_NAME_MAX];

		if (!ap)
			snprintf(buf, sizeof(buf), "%s", holder);
		else if (ap->owner)
			snprintf(buf, sizeof(buf), "%s", ap->owner->key);
		else if (ap->comment)
			snprintf(buf, sizeof(buf), "%.*s", (int)comment_owner_len(ap->comment),
				 ap->comment);
		else
			snprintf(buf, sizeof(buf), "(another service)");
		nft_elem_key_print(e, keybuf, sizeof(keybuf));
		log_warn("service %s: %s %s is already used by service %s; ignoring it here",
			 f->owner, set, keybuf, buf);
		e->refused = true; /* not ours: commit must not claim it */
		return nft_state_block(s, f->owner);
	}
	if (!ap) {
		/* New to the kernel: the next claimant in this plan must see it
		 * taken (the state learns of it only at commit). */
		char *k = arena_strdup(&p->arena, id);

		if (!k || hmap_put(&p->new_elems, k, (void *)f->owner, NULL) < 0)
			return -ENOMEM;
	}
	if (ap) {
		ap->gen = p->gen;
		if (elem_same(ap, e))
			return 0;
		r = plan_del_elem(p, f->owner, ap);
		if (r < 0)
			return r;
	}
	op = op_add(p, NFT_PH_ADD_ELEMS, NFT_OP_ADD_ELEM, f->owner);
	if (!op)
		return -ENOMEM;
	snprintf(op->set, sizeof(op->set), "%s", set);
	memcpy(op->key, e->key, e->key_len);
	op->key_len = e->key_len;
	op->target = e->chain;
	op->comment = e->comment;
	*changed = true;
	return 0;
}

/* Range i of n of an LB slot: deleted, or added with value data. */
static int plan_range(struct nft_plan *p, const char *owner, uint32_t map, uint32_t slot,
		      size_t i, size_t n, const uint8_t *data, uint8_t dlen)
{
	struct nft_op *op = data ? op_add(p, NFT_PH_ADD_ELEMS, NFT_OP_ADD_ELEM, owner)
				 : op_add(p, NFT_PH_DEL_ELEMS, NFT_OP_DEL_ELEM, owner);
	uint32_t lo;

	if (!op)
		return -ENOMEM;
	nft_lb_map_name(map, op->set);
	nft_lb_range(slot, i, n, &lo, &op->range_end);
	nft_key_u32(op->key, &op->key_len, lo);
	op->interval = true;
	if (data) {
		memcpy(op->data, data, dlen);
		op->data_len = dlen;
	}
	return 0;
}

static int plan_del_lb(struct nft_plan *p, const char *owner, const struct nft_ap_chain *ap)
{
	int r;

	for (uint32_t i = 0; ap->has_lb && i < ap->lb_n; i++)
		if ((r = plan_range(p, owner, ap->lb_map, ap->lb_slot, i, ap->lb_n, NULL, 0)) < 0)
			return r;
	return 0;
}

/* An svc chain's LB ranges against the kernel's. With as many endpoints as
 * before the ranges stay and only those whose endpoint changed are
 * replaced; otherwise the slot is cut anew. Element changes only: the LB
 * rule does not depend on the endpoints. */
static int plan_lb(struct nft_plan *p, const char *owner, const struct nft_chain_ir *c,
		   const struct nft_ap_chain *ap, bool *changed)
{
	bool known = ap && ap->has_lb && ap->lb_map == c->lb_map && ap->lb_slot == c->lb_slot &&
		     (!ap->lb_n || ap->lb_dlen == c->lb_dlen);
	uint32_t old_n = known ? ap->lb_n : 0;
	bool same_n = old_n == c->lb_n;
	int r;

	for (uint32_t i = 0; i < old_n; i++) {
		if (same_n && memcmp(ap->lb_eps + i * ap->lb_dlen, c->lb_eps + i * c->lb_dlen,
				     c->lb_dlen) == 0)
			continue;
		if ((r = plan_range(p, owner, ap->lb_map, ap->lb_slot, i, old_n, NULL, 0)) < 0)
			return r;
		*changed = true;
	}
	for (uint32_t i = 0; i < c->lb_n; i++) {
		const uint8_t *d = c->lb_eps + i * c->lb_dlen;

		if (same_n && memcmp(ap->lb_eps + i * ap->lb_dlen, d, c->lb_dlen) == 0)
			continue;
		if ((r = plan_range(p, owner, c->lb_map, c->lb_slot, i, c->lb_n, d, c->lb_dlen)) < 0)
			return r;
		*changed = true;
	}
	return 0;
}

static int frags_push(struct nft_plan *p, struct nft_frag *f, uint64_t *fps, uint64_t *irh)
{
	if (p->n_frags == p->cap_frags) {
		size_t ncap = p->cap_frags ? p->cap_frags * 2 : 16;
		struct nft_plan_frag *n = realloc(p->frags, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->frags = n;
		p->cap_frags = ncap;
	}
	p->frags[p->n_frags].frag = f;
	p->frags[p->n_frags].fps = fps;
	p->frags[p->n_frags].ir_hashes = irh;
	p->n_frags++;
	return 0;
}

static bool is_service_map(const char *set)
{
	return strcmp(set, NFT_MAP_SERVICE_IPS) == 0 || strcmp(set, NFT_MAP_SERVICE_IPS6) == 0 ||
	       strcmp(set, NFT_MAP_NO_ENDPOINTS) == 0 || strcmp(set, NFT_MAP_NO_ENDPOINTS6) == 0;
}

static int ct_push(struct nft_plan *p, const struct nft_ct_flush *c)
{
	struct nft_ct_flush *n = realloc(p->ct, (p->n_ct + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	p->ct = n;
	p->ct[p->n_ct++] = *c;
	return 0;
}

/* Whether svc chain c (may be NULL) DNATs new connections to data. */
static bool chain_has_target(const struct nft_chain_ir *c, const uint8_t *data, uint8_t dlen)
{
	for (uint32_t i = 0; c && i < c->lb_n; i++)
		if (c->lb_dlen == dlen && memcmp(c->lb_eps + i * dlen, data, dlen) == 0)
			return true;
	return false;
}

static bool frag_has_set(const struct nft_frag *f, const char *name)
{
	for (size_t i = 0; i < f->n_sets; i++)
		if (strcmp(f->sets[i].name, name) == 0)
			return true;
	return false;
}

static const struct nft_chain_ir *frag_chain(const struct nft_frag *f, const char *name)
{
	for (size_t i = 0; i < f->n_chains; i++)
		if (strcmp(f->chains[i].name, name) == 0)
			return &f->chains[i];
	return NULL;
}

static bool is_nodeport_map(const char *set)
{
	return strcmp(set, NFT_MAP_NODEPORTS) == 0 || strcmp(set, NFT_MAP_NODEPORTS6) == 0 ||
	       strcmp(set, NFT_MAP_NO_EP_NODEPORTS) == 0 || strcmp(set, NFT_MAP_NO_EP_NODEPORTS6) == 0;
}

/* Flushes the flows of c's endpoints that the fragment's chain of the same
 * name (if any) no longer DNATs to. */
static int ct_gone(struct nft_plan *p, struct nft_ct_flush *req, const struct nft_ap_chain *c,
		   const struct nft_frag *f)
{
	const struct nft_chain_ir *now = frag_chain(f, c->name);
	int r;

	for (uint32_t k = 0; k < c->lb_n; k++) {
		const uint8_t *d = c->lb_eps + k * c->lb_dlen;

		if (chain_has_target(now, d, c->lb_dlen))
			continue;
		nft_data_target_get(d, c->lb_dlen, &req->ep, &req->ep_port);
		if ((r = ct_push(p, req)) < 0)
			return r;
	}
	return 0;
}

/* The flush request for a service map key: ADDR . PROTO . PORT, or PROTO .
 * PORT of a node port map (any address). False unless UDP. */
static bool ct_key(const char *set, const uint8_t *key, uint8_t key_len, struct nft_ct_flush *c)
{
	bool np = is_nodeport_map(set);
	size_t alen = np ? 0 : key_len == 12 ? 4 : 16;
	uint16_t port;

	if ((!np && !is_service_map(set)) || key[alen] != IPPROTO_UDP)
		return false;
	memset(c, 0, sizeof(*c));
	c->svc.family = np ? (set[strlen(set) - 1] == '6' ? AF_INET6 : AF_INET)
			   : alen == 4 ? AF_INET : AF_INET6;
	c->any_addr = np;
	memcpy(c->svc.bytes, key, alen);
	memcpy(&port, key + alen + 4, 2);
	c->svc_port = ntohs(port);
	return true;
}

static bool is_served_map(const char *set)
{
	return strcmp(set, NFT_MAP_SERVICE_IPS) == 0 || strcmp(set, NFT_MAP_SERVICE_IPS6) == 0 ||
	       strcmp(set, NFT_MAP_NODEPORTS) == 0 || strcmp(set, NFT_MAP_NODEPORTS6) == 0;
}

/* UDP has no connection to close: a flow keeps its conntrack entry, and so
 * its endpoint, as long as it sends. When an endpoint goes away, or a
 * service address starts being served (a service's first endpoint, or a
 * new service), the entries that would keep flows on the old path must
 * go: for the cluster IP, external and load balancer addresses, and node
 * ports. What the kernel already serves (read back at a restart) is not
 * new: a restart flushes nothing. */
static int plan_conntrack(struct nft_plan *p, const struct nft_state *s,
			  const struct nft_owner *owner, const struct nft_frag *f)
{
	struct nft_ct_flush c;
	char id[NFT_ELEM_ID_MAX];
	int r;

	for (size_t i = 0; i < f->n_elems; i++) {
		const struct nft_elem_ir *e = &f->elems[i];

		if (e->refused || !is_served_map(e->set) || !ct_key(e->set, e->key, e->key_len, &c))
			continue;
		nft_elem_id(id, e->set, e->key, e->key_len);
		if (hmap_get(&s->elems, id))
			continue;
		c.any_ep = true;
		if ((r = ct_push(p, &c)) < 0)
			return r;
	}
	for (size_t i = 0; owner && i < owner->n_elems; i++) {
		const struct nft_ap_elem *e = owner->elems[i];
		const struct nft_ap_chain *tc = e->target;

		if (!tc || !ct_key(e->set, e->key, e->key_len, &c))
			continue;
		if (strncmp(tc->name, NFTC_EXT "-", strlen(NFTC_EXT) + 1) == 0) {
			/* External traffic's endpoints are those of the service
			 * port's svc- and local- chains ("KIND-HASH-unit"). */
			const char *tail = tc->name + strlen(NFTC_EXT);

			for (size_t k = 0; k < owner->n_chains; k++) {
				const struct nft_ap_chain *oc = owner->chains[k];
				size_t kl = strncmp(oc->name, NFTC_SVC "-", 4) == 0 ? strlen(NFTC_SVC) :
					    strncmp(oc->name, NFTC_LOCAL "-", 6) == 0 ? strlen(NFTC_LOCAL) : 0;

				if (kl && strcmp(oc->name + kl, tail) == 0 &&
				    (r = ct_gone(p, &c, oc, f)) < 0)
					return r;
			}
			continue;
		}
		if ((r = ct_gone(p, &c, tc, f)) < 0)
			return r;
	}
	return 0;
}

static int hp_add(struct nft_plan *p, const uint8_t *data, uint8_t data_len, int32_t d)
{
	struct ipcount_entry *c;
	struct ip_addr ip;
	uint16_t port;

	nft_data_target_get(data, data_len, &ip, &port);
	c = ipcount_get(&p->hairpin, &ip);
	if (!c)
		return -ENOMEM;
	c->n += d;
	return 0;
}

/* The fragment's change to the hairpin counts: in a full plan every
 * fragment counts its endpoints; otherwise a changed fragment adds its new
 * ones and takes away those its owner had. */
static int plan_hairpin_frag(struct nft_plan *p, const struct nft_owner *owner,
			     const struct nft_frag *f, bool changed)
{
	int r;

	if (!p->full && !changed)
		return 0;
	for (size_t i = 0; i < f->n_chains; i++) {
		const struct nft_chain_ir *c = &f->chains[i];

		for (uint32_t k = 0; k < c->lb_n; k++)
			if ((r = hp_add(p, c->lb_eps + k * c->lb_dlen, c->lb_dlen, 1)) < 0)
				return r;
	}
	for (size_t i = 0; !p->full && owner && i < owner->n_chains; i++) {
		const struct nft_ap_chain *c = owner->chains[i];

		for (uint32_t k = 0; k < c->lb_n; k++)
			if ((r = hp_add(p, c->lb_eps + k * c->lb_dlen, c->lb_dlen, -1)) < 0)
				return r;
	}
	return 0;
}

static int hp_op(struct nft_plan *p, const struct ip_addr *ip, bool add)
{
	struct nft_op *op = add ? op_add(p, NFT_PH_ADD_ELEMS, NFT_OP_ADD_ELEM, "")
				: op_add(p, NFT_PH_DEL_ELEMS, NFT_OP_DEL_ELEM, "");

	if (!op)
		return -ENOMEM;
	snprintf(op->set, sizeof(op->set), "%s",
		 ip->family == AF_INET6 ? NFT_NAME_HAIRPIN6 : NFT_NAME_HAIRPIN);
	nft_key_hairpin(op->key, &op->key_len, ip);
	return 0;
}

int nft_plan_hairpin(struct nft_plan *p, struct nft_state *s)
{
	const struct ipcount_entry *c;
	struct ip_addr ip;
	size_t it = 0;
	int r;

	while ((c = ipcount_next(&p->hairpin, &it))) {
		const struct ipcount_entry *had;
		int32_t now;

		ipcount_entry_addr(c, &ip);
		had = ipcount_find(&s->hairpin, &ip);
		now = p->full ? c->n : (had ? had->n : 0) + c->n;
		if ((now > 0) != (had && had->flag) && (r = hp_op(p, &ip, now > 0)) < 0)
			return r;
	}
	/* A full plan also removes what the kernel has and nothing uses. */
	for (it = 0; p->full && (c = ipcount_next(&s->hairpin, &it));) {
		ipcount_entry_addr(c, &ip);
		if (c->flag && !ipcount_find(&p->hairpin, &ip) && (r = hp_op(p, &ip, false)) < 0)
			return r;
	}
	return 0;
}

/* After the commit: the counts the kernel's hairpin set now follows (an
 * address is in the set while its count is above zero). */
static int hairpin_commit(struct nft_plan *p, struct nft_state *s)
{
	struct ipcount_entry *c, *e;
	struct ip_addr ip;
	size_t it = 0;

	if (p->full) {
		ipcount_fini(&s->hairpin);
	}
	while ((c = ipcount_next(&p->hairpin, &it))) {
		int32_t now;

		ipcount_entry_addr(c, &ip);
		e = ipcount_get(&s->hairpin, &ip);
		if (!e)
			return -ENOMEM;
		now = e->n + c->n;
		if (now <= 0) {
			ipcount_del(&s->hairpin, &ip);
			continue;
		}
		e->n = now;
		e->flag = 1;
	}
	return 0;
}

int nft_plan_frag(struct nft_plan *p, struct nft_state *s, struct nft_frag *f)
{
	struct nft_owner *owner = nft_state_owner(s, f->owner);
	size_t ops_before = nft_plan_size(p);
	bool changed = false;
	uint64_t *fps, *irh;
	char m[16];
	int r;

	if (!p->gen)
		p->gen = ++s->gen;
	fps = calloc(f->n_chains ? f->n_chains : 1, sizeof(*fps));
	irh = calloc(f->n_chains ? f->n_chains : 1, sizeof(*irh));
	if (!fps || !irh || frags_push(p, f, fps, irh) < 0) {
		free(fps);
		free(irh);
		/* Not in the plan, so nft_plan_abort would not see its slots. */
		nft_state_release_new_slots(s, f);
		nft_frag_free(f);
		return -ENOMEM;
	}
	for (size_t i = 0; i < f->n_sets; i++) {
		if (!nft_state_has_set(s, f->sets[i].name))
			changed = true;
		r = plan_set(p, s, f->sets[i].kind, f->sets[i].name, 0, f->sets[i].timeout_s,
			     f->owner);
		if (r < 0)
			return r;
		if (p->full && (r = hmap_strset_add(&p->claimed_sets, f->sets[i].name)) < 0)
			return r;
	}
	for (size_t i = 0; i < f->n_chains; i++) {
		const struct nft_chain_ir *c = &f->chains[i];

		if (c->has_lb) {
			r = plan_set(p, s, NFT_SET_LB, nft_lb_map_name(c->lb_map, m), c->lb_map,
				     0, f->owner);
			if (r < 0)
				return r;
		}
		r = plan_chain(p, s, f, c, &fps[i], &irh[i], &changed);
		if (r < 0)
			return r;
		if (c->has_lb) {
			r = plan_lb(p, f->owner, c, hmap_get(&s->chains, c->name), &changed);
			if (r < 0)
				return r;
		} else {
			/* A chain that load-balanced and no longer does (its service
			 * took session affinity): its ranges go. */
			const struct nft_ap_chain *ap = hmap_get(&s->chains, c->name);

			if (ap && ap->has_lb && ap->lb_n) {
				if ((r = plan_del_lb(p, f->owner, ap)) < 0)
					return r;
				changed = true;
			}
		}
	}
	for (size_t i = 0; i < f->n_elems; i++) {
		r = plan_elem(p, s, f, owner, &f->elems[i], &changed);
		if (r < 0)
			return r;
	}
	/* What the owner had and no longer has. Elements go before the chains
	 * they point to, by phase. In a full plan the strays pass deletes them
	 * (as it does the sets below): queued here too, they would be deleted
	 * twice, which the kernel refuses (and the commit freed a chain name
	 * twice). */
	for (size_t i = 0; owner && i < owner->n_elems; i++) {
		if (owner->elems[i]->gen != p->gen) {
			if (!p->full && (r = plan_del_elem(p, f->owner, owner->elems[i])) < 0)
				return r;
			changed = true;
		}
	}
	for (size_t i = 0; owner && i < owner->n_chains; i++) {
		if (owner->chains[i]->gen != p->gen) {
			if (!p->full &&
			    ((r = plan_del_lb(p, f->owner, owner->chains[i])) < 0 ||
			     (r = plan_del_chain(p, f->owner, owner->chains[i]->name)) < 0))
				return r;
			changed = true;
		}
	}
	/* Sets go last: the rules that use them are gone by then. In a full
	 * plan the strays pass deletes them (no double delete). */
	for (size_t i = 0; !p->full && owner && i < owner->n_sets; i++) {
		if (frag_has_set(f, owner->sets[i]) || !nft_state_has_set(s, owner->sets[i]))
			continue;
		if ((r = plan_del_set(p, f->owner, owner->sets[i])) < 0)
			return r;
		changed = true;
	}
	if (changed) {
		p->n_changed++;
		log_v(3, "%s%s: %zu chains, %zu map elements; %zu operations queued",
		      f->owner[0] ? "service " : "table skeleton", f->owner, f->n_chains,
		      f->n_elems, nft_plan_size(p) - ops_before);
	}
	r = plan_hairpin_frag(p, owner, f, changed);
	if (r < 0)
		return r;
	if (changed)
		return plan_conntrack(p, s, owner, f);
	return 0;
}

static int op_elem_cmp(const void *a, const void *b)
{
	const struct nft_op *x = a, *y = b;
	int c = strcmp(x->set, y->set);

	if (c)
		return c;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return memcmp(x->key, y->key, x->key_len);
}

void nft_plan_group_elems(struct nft_plan *p)
{
	static const enum nft_phase phases[] = { NFT_PH_DEL_ELEMS, NFT_PH_ADD_ELEMS };

	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		if (p->n_ops[phases[i]] > 1) /* qsort's base may not be NULL */
			qsort(p->ops[phases[i]], p->n_ops[phases[i]], sizeof(struct nft_op),
			      op_elem_cmp);
}

int nft_plan_strays(struct nft_plan *p, struct nft_state *s)
{
	size_t it = 0;
	void *v;
	int r;

	if (!p->gen)
		p->gen = ++s->gen;
	while (hmap_next(&s->elems, &it, NULL, &v)) {
		struct nft_ap_elem *e = v;

		if (e->gen != p->gen && (r = plan_del_elem(p, "", e)) < 0)
			return r;
	}
	it = 0;
	while (hmap_next(&s->chains, &it, NULL, &v)) {
		struct nft_ap_chain *c = v;

		if (c->gen != p->gen &&
		    ((r = plan_del_lb(p, "", c)) < 0 || (r = plan_del_chain(p, "", c->name)) < 0))
			return r;
	}
	it = 0;
	while (hmap_next(&s->sets, &it, NULL, &v)) {
		const char *name = v;

		if (strncmp(name, NFT_AFFINITY_PREFIX, strlen(NFT_AFFINITY_PREFIX)) == 0 &&
		    !hmap_get(&p->claimed_sets, name) && (r = plan_del_set(p, "", name)) < 0)
			return r;
	}
	return 0;
}

static int owner_set(struct nft_state *s, struct nft_owner *o, const struct nft_frag *f,
		     const uint64_t *fps, const uint64_t *irh)
{
	struct nft_ap_chain **chains = calloc(f->n_chains ? f->n_chains : 1, sizeof(*chains));
	struct nft_ap_elem **elems = calloc(f->n_elems ? f->n_elems : 1, sizeof(*elems));
	char **sets = calloc(f->n_sets ? f->n_sets : 1, sizeof(*sets));
	size_t nc = 0, ne = 0, ns = 0;
	int r = -ENOMEM;

	if (!chains || !elems || !sets)
		goto fail;
	for (; ns < f->n_sets; ns++) {
		sets[ns] = strdup(f->sets[ns].name);
		if (!sets[ns])
			goto fail;
	}
	for (size_t i = 0; i < f->n_chains; i++) {
		struct nft_ap_chain *c;

		r = nft_state_put_chain(s, f->chains[i].name, fps[i], &c);
		if (r < 0)
			goto fail;
		c->owner = o;
		c->gen = s->gen;
		c->ir_hash = irh[i];
		c->base_fp = f->chains[i].hook != NFT_HOOK_NONE ?
				     ((uint32_t)nfb_fp_init(&f->chains[i]) | 1) : 0;
		c->has_lb = f->chains[i].has_lb;
		c->lb_map = f->chains[i].lb_map;
		c->lb_slot = f->chains[i].lb_slot;
		r = nft_ap_chain_set_lb(c, f->chains[i].lb_eps, f->chains[i].lb_n,
					f->chains[i].lb_dlen);
		if (r < 0)
			goto fail;
		chains[nc++] = c;
	}
	for (size_t i = 0; i < f->n_elems; i++) {
		const struct nft_elem_ir *e = &f->elems[i];
		struct nft_ap_elem *ae;

		if (e->refused)
			continue;
		r = nft_state_put_elem(s, e->set, e->key, e->key_len,
				       e->chain, &ae);
		if (r < 0)
			goto fail;
		ae->owner = o;
		ae->gen = s->gen;
		ae->comment_hash = nft_comment_hash(e->comment);
		elems[ne++] = ae;
	}
	free(o->chains);
	free(o->elems);
	for (size_t i = 0; i < o->n_sets; i++)
		free(o->sets[i]);
	free(o->sets);
	o->chains = chains;
	o->n_chains = nc;
	o->elems = elems;
	o->n_elems = ne;
	o->sets = sets;
	o->n_sets = ns;
	return 0;
fail:
	free(chains);
	free(elems);
	for (size_t i = 0; sets && i < ns; i++)
		free(sets[i]);
	free(sets);
	return r;
}

int nft_plan_commit(struct nft_plan *p, struct nft_state *s)
{
	int r;

	s->table_exists = true;
	for (size_t i = 0; i < p->n_ops[NFT_PH_SETS]; i++) {
		const struct nft_op *op = &p->ops[NFT_PH_SETS][i];

		if (op->kind == NFT_OP_ADD_SET && (r = nft_state_add_set(s, op->set)) < 0)
			return r;
	}
	/* Deletions first (they free names the ops borrowed; the ops are done). */
	for (size_t i = 0; i < p->n_ops[NFT_PH_DEL_ELEMS]; i++) {
		const struct nft_op *op = &p->ops[NFT_PH_DEL_ELEMS][i];
		char id[NFT_ELEM_ID_MAX];
		struct nft_ap_elem *e;

		nft_elem_id(id, op->set, op->key, op->key_len);
		e = hmap_get(&s->elems, id);
		/* A replaced element is deleted and re-added: keep the ones claimed. */
		if (e && e->gen != p->gen)
			nft_state_del_elem(s, id);
	}
	for (size_t i = 0; i < p->n_ops[NFT_PH_DEL_CHAINS]; i++) {
		const struct nft_op *op = &p->ops[NFT_PH_DEL_CHAINS][i];

		if (op->kind != NFT_OP_DEL_CHAIN)
			continue;
		nft_lb_release(&s->lb, op->name);
		nft_state_del_chain(s, op->name);
	}
	for (size_t i = 0; i < p->n_ops[NFT_PH_DEL_SETS]; i++)
		nft_state_del_set(s, p->ops[NFT_PH_DEL_SETS][i].set);
	for (size_t i = 0; i < p->n_frags; i++) {
		const struct nft_frag *f = p->frags[i].frag;
		struct nft_owner *o;

		if (!f->n_chains && !f->n_elems) {
			o = hmap_del(&s->owners, f->owner);
			if (o) {
				/* Everything it had was deleted above. */
				for (size_t k = 0; k < o->n_chains; k++)
					o->chains[k]->owner = NULL;
				for (size_t k = 0; k < o->n_elems; k++)
					o->elems[k]->owner = NULL;
				free(o->chains);
				free(o->elems);
				for (size_t k = 0; k < o->n_sets; k++)
					free(o->sets[k]);
				free(o->sets);
				free(o);
			}
			continue;
		}
		r = nft_state_owner_get(s, f->owner, &o);
		if (r < 0)
			return r;
		r = owner_set(s, o, f, p->frags[i].fps, p->frags[i].ir_hashes);
		if (r < 0)
			return r;
		/* Chains that gave up load balancing give up their slot. */
		for (size_t k = 0; k < f->n_chains; k++)
			if (!f->chains[k].has_lb && nft_lb_has(&s->lb, f->chains[k].name))
				nft_lb_release(&s->lb, f->chains[k].name);
	}
	return hairpin_commit(p, s);
}

void nft_plan_abort(struct nft_plan *p, struct nft_state *s)
{
	for (size_t i = 0; i < p->n_frags; i++)
		nft_state_release_new_slots(s, p->frags[i].frag);
}
