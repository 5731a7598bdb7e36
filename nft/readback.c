#include "nft/readback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "lib/util/log.h"
#include "nft/build.h"
#include "nft/netlink.h"
#include "nft/state.h"

struct rb {
	const char *table;
	struct nft_state *s;
	char **sets;
	size_t n_sets;
	const char *cur_set;
	bool cur_lb;               /* cur_set is an LB map: collect into iv */
	bool cur_hairpin;          /* cur_set is a hairpin set: into s->hairpin */
	struct iv_node *iv;
	size_t n_iv, cap_iv;
	struct hmap slots;         /* "lb-NNNN|slot" -> struct slot_ref */
	uint32_t table_use;
	int err;
};

/* An element of an interval map as the kernel lists it: a range's first
 * value with its data, or the value after its last (end). */
struct iv_node {
	uint32_t key;
	bool end;
	uint8_t data_len;
	uint8_t data[NFT_DATA_MAX];
};

static void build_table_filter(struct nlmsghdr *nlh, void *arg)
{
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, arg);
}

/* Whether an object's table attribute names ours. A message without one
 * (the kernel always sends it) is not ours. */
static bool ours(const struct rb *rb, const char *table)
{
	return table && strcmp(table, rb->table) == 0;
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rb *rb = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0 &&
	    nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == NFPROTO_INET &&
	    ours(rb, nftnl_table_get_str(t, NFTNL_TABLE_NAME))) {
		rb->s->table_exists = true;
		rb->table_use = nftnl_table_get_u32(t, NFTNL_TABLE_USE);
	}
	nftnl_table_free(t);
	return MNL_CB_OK;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rb *rb = data;
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 &&
	    ours(rb, nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE)) &&
	    nftnl_chain_get_str(c, NFTNL_CHAIN_NAME)) {
		struct nft_ap_chain *ac;
		int r = nft_state_put_chain(rb->s, nftnl_chain_get_str(c, NFTNL_CHAIN_NAME),
					    nfb_fp_init_nl(c), &ac);
		if (r < 0)
			rb->err = r;
		else if (nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM))
			ac->base_fp = (uint32_t)ac->fp | 1;
	}
	nftnl_chain_free(c);
	return rb->err ? MNL_CB_ERROR : MNL_CB_OK;
}

static int decode_expr(struct nftnl_expr *e, void *data)
{
	struct nfr_rule_info *ri = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (strcmp(name, "lookup") == 0 && !nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG)) {
		ri->plain_lookup = true;
	} else if (strcmp(name, "dynset") == 0) {
		ri->dynset = true;
	} else if (strcmp(name, "nat") == 0) {
		ri->nat = true;
	} else if (strcmp(name, "immediate") == 0 && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_DATA)) {
		uint32_t len, reg = nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG);
		const void *d = nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &len);
		uint16_t nport;

		if (reg == NFT_REG_1 && (len == 4 || len == 16)) {
			ri->addr.family = len == 4 ? AF_INET : AF_INET6;
			memcpy(ri->addr.bytes, d, len);
		} else if (reg == NFT_REG_2 && len >= 2) {
			memcpy(&nport, d, 2);
			ri->port = ntohs(nport);
		}
	} else if (strcmp(name, "numgen") == 0) {
		ri->lb = true;
		ri->mod = nftnl_expr_get_u32(e, NFTNL_EXPR_NG_MODULUS);
		ri->offset = nftnl_expr_get_u32(e, NFTNL_EXPR_NG_OFFSET);
	} else if (strcmp(name, "lookup") == 0 && ri->lb) {
		const char *set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);

		snprintf(ri->set, sizeof(ri->set), "%s", set ? set : "");
	}
	return 0;
}

void nfr_rule_decode(const struct nftnl_rule *r, struct nfr_rule_info *out)
{
	memset(out, 0, sizeof(*out));
	nftnl_expr_foreach((struct nftnl_rule *)r, decode_expr, out);
	out->pick = out->dynset && out->nat && !out->plain_lookup && out->addr.family;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rb *rb = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nft_ap_chain *c;
	struct nfr_rule_info ri;

	if (!r)
		return MNL_CB_ERROR;
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0 || !ours(rb, nftnl_rule_get_str(r, NFTNL_RULE_TABLE)) ||
	    !nftnl_rule_get_str(r, NFTNL_RULE_CHAIN))
		goto out;
	c = hmap_get(&rb->s->chains, nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
	if (!c)
		goto out;
	/* Rules come in chain order: fold each into its chain's fingerprint. */
	c->fp = nfb_fp_add_rule(c->fp, r);
	nfr_rule_decode(r, &ri);
	uint32_t map;

	if (ri.pick) {
		/* Affinity draws come in endpoint order: the chain's endpoints. */
		uint8_t d[NFT_DATA_MAX], dlen;
		uint8_t *eps;

		nft_data_target(d, &dlen, &ri.addr, ri.port);
		if (c->lb_n && c->lb_dlen != dlen)
			goto out;
		eps = realloc(c->lb_eps, (size_t)(c->lb_n + 1) * dlen);
		if (!eps) {
			rb->err = -ENOMEM;
			goto out;
		}
		memcpy(eps + (size_t)c->lb_n * dlen, d, dlen);
		c->lb_eps = eps;
		c->lb_n++;
		c->lb_dlen = dlen;
	}
	if (ri.lb && nft_lb_map_parse(ri.set, &map) == 0) {
		if (ri.offset % NFT_LB_STRIDE == 0 &&
		    nft_lb_claim(&rb->s->lb, c->name, map, ri.offset / NFT_LB_STRIDE) == 0) {
			c->has_lb = true;
			c->lb_map = map;
			c->lb_slot = ri.offset / NFT_LB_STRIDE;
		}
	}
out:
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rb *rb = data;
	struct nftnl_set *s = nftnl_set_alloc();
	char **n;

	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_nlmsg_parse(nlh, s) == 0 && ours(rb, nftnl_set_get_str(s, NFTNL_SET_TABLE)) &&
	    nftnl_set_get_str(s, NFTNL_SET_NAME)) {
		n = realloc(rb->sets, (rb->n_sets + 1) * sizeof(*n));
		if (n) {
			rb->sets = n;
			n[rb->n_sets] = strdup(nftnl_set_get_str(s, NFTNL_SET_NAME));
			if (n[rb->n_sets])
				rb->n_sets++;
			else
				rb->err = -ENOMEM;
		} else {
			rb->err = -ENOMEM;
		}
	}
	nftnl_set_free(s);
	return rb->err ? MNL_CB_ERROR : MNL_CB_OK;
}

struct comment_ctx {
	char **out;
	const uint8_t *end;        /* of the element's userdata */
};

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	struct comment_ctx *c = data;
	const uint8_t *p = (const uint8_t *)attr;

	/* nftnl_udata_parse does not check a TLV (type, length, value)
	 * against the end of the buffer: stop at one that runs past it. */
	if (c->end - p < 2 || nftnl_udata_len(attr) > (size_t)(c->end - p - 2))
		return -1;
	if (nftnl_udata_type(attr) == NFTNL_UDATA_SET_ELEM_COMMENT && !*c->out)
		*c->out = strndup(nftnl_udata_get(attr), nftnl_udata_len(attr));
	return 0;
}

/* The svc chain whose LB rule uses a slot; the key lives in the value. */
struct slot_ref {
	struct nft_ap_chain *chain;
	char key[];
};

/* Which svc chain uses which LB slot, from the rules read back. */
static int index_slots(struct rb *rb)
{
	size_t it = 0;
	void *v;
	int r;

	while (hmap_next(&rb->s->chains, &it, NULL, &v)) {
		struct nft_ap_chain *c = v;
		struct slot_ref *ref;
		char m[16], k[48];

		if (!c->has_lb)
			continue;
		snprintf(k, sizeof(k), "%s|%u", nft_lb_map_name(c->lb_map, m), c->lb_slot);
		ref = malloc(sizeof(*ref) + strlen(k) + 1);
		if (!ref)
			return -ENOMEM;
		ref->chain = c;
		strcpy(ref->key, k);
		if ((r = hmap_put(&rb->slots, ref->key, ref, NULL)) < 0) {
			free(ref);
			return r;
		}
	}
	return 0;
}

static int iv_push(struct rb *rb, struct nftnl_set_elem *e, const void *key, uint32_t klen)
{
	struct iv_node *n;

	if (klen != 4)
		return 0;
	if (rb->n_iv == rb->cap_iv) {
		size_t ncap = rb->cap_iv ? rb->cap_iv * 2 : 64;

		n = realloc(rb->iv, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		rb->iv = n;
		rb->cap_iv = ncap;
	}
	n = &rb->iv[rb->n_iv++];
	memset(n, 0, sizeof(*n));
	n->key = nft_key_u32_get(key);
	n->end = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
		 (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END);
	if (!n->end && nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_DATA)) {
		uint32_t dlen;
		const void *d = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &dlen);

		n->data_len = (uint8_t)(dlen <= NFT_DATA_MAX ? dlen : NFT_DATA_MAX);
		memcpy(n->data, d, n->data_len);
	}
	return 0;
}

static int iv_cmp(const void *a, const void *b)
{
	const struct iv_node *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	/* A range's end sorts before the next range's start at the same key. */
	return (int)y->end - (int)x->end;
}

/* The svc chain whose LB rule uses slot `slot` of map `set`, if any. */
static struct nft_ap_chain *slot_chain(struct rb *rb, const char *set, uint32_t slot)
{
	const struct slot_ref *ref;
	char k[48];

	snprintf(k, sizeof(k), "%s|%u", set, slot);
	ref = hmap_get(&rb->slots, k);
	return ref ? ref->chain : NULL;
}

/* A slot's ranges: if they are exactly the cut nftproxy makes for their
 * number, they become the chain's LB endpoints; anything else (ranges
 * someone else wrote, or a slot no rule uses) is kept as plain elements,
 * which the first full sync deletes and replaces. */
static int iv_slot(struct rb *rb, const struct iv_node **starts, const uint32_t *ends, size_t n)
{
	uint32_t slot = starts[0]->key / NFT_LB_STRIDE;
	struct nft_ap_chain *c = slot_chain(rb, rb->cur_set, slot);
	uint8_t dlen = starts[0]->data_len, *eps;
	bool ours = c && c->lb_n == 0 && (dlen == 8 || dlen == 20);
	int r;

	for (size_t i = 0; ours && i < n; i++) {
		uint32_t lo, hi;

		nft_lb_range(slot, i, n, &lo, &hi);
		ours = starts[i]->key == lo && ends[i] == hi && starts[i]->data_len == dlen;
	}
	if (ours) {
		eps = malloc(n * dlen);
		if (!eps)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			memcpy(eps + i * dlen, starts[i]->data, dlen);
		r = nft_ap_chain_set_lb(c, eps, (uint32_t)n, dlen);
		free(eps);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t key[NFT_KEY_MAX], klen;

		nft_key_u32(key, &klen, starts[i]->key);
		r = nft_state_put_range(rb->s, rb->cur_set, key, ends[i], starts[i]->data,
					starts[i]->data_len, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Pairs each range start with the end that follows it, and hands the
 * ranges to their slots. */
static int iv_flush(struct rb *rb)
{
	const struct iv_node *start = NULL, **starts = NULL;
	uint32_t *ends = NULL;
	size_t n = 0;
	int r = 0;

	if (rb->n_iv)  /* an LB map without elements: rb->iv may be NULL */
		qsort(rb->iv, rb->n_iv, sizeof(*rb->iv), iv_cmp);
	starts = calloc(rb->n_iv ? rb->n_iv : 1, sizeof(*starts));
	ends = calloc(rb->n_iv ? rb->n_iv : 1, sizeof(*ends));
	if (!starts || !ends) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < rb->n_iv; i++) {
		const struct iv_node *nd = &rb->iv[i];

		if (!nd->end) {
			start = nd;
			continue;
		}
		if (!start || nd->key == 0)
			continue;
		/* A new slot: hand over the ranges of the one before. */
		if (n && start->key / NFT_LB_STRIDE != starts[0]->key / NFT_LB_STRIDE) {
			if ((r = iv_slot(rb, starts, ends, n)) < 0)
				goto out;
			n = 0;
		}
		starts[n] = start;
		ends[n] = nd->key - 1;
		n++;
		start = NULL;
	}
	if (n)
		r = iv_slot(rb, starts, ends, n);
out:
	free(starts);
	free(ends);
	rb->n_iv = 0;
	return r;
}

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rb *rb = data;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;

	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0)
		goto out;
	it = nftnl_set_elems_iter_create(s);
	if (!it) {
		rb->err = -ENOMEM;
		goto out;
	}
	while ((e = nftnl_set_elems_iter_next(it))) {
		uint32_t klen;
		const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
		const char *target = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN) ?
			nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN) : "";

		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT) &&
		    (int)nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT) == NF_DROP)
			target = NFT_VERDICT_DROP;
		int r;

		struct nft_ap_elem *ae;

		if (!key || klen > NFT_KEY_MAX)
			continue;
		if (rb->cur_hairpin) {
			/* ADDR . ADDR: the kernel has the address in the set. */
			struct ipcount_entry *hp;
			struct ip_addr ip = { .family = klen == 8 ? AF_INET : AF_INET6 };

			memcpy(ip.bytes, key, klen / 2);
			hp = ipcount_get(&rb->s->hairpin, &ip);
			if (!hp) {
				rb->err = -ENOMEM;
				break;
			}
			hp->flag = 1;
			continue;
		}
		if (rb->cur_lb) {
			r = iv_push(rb, e, key, klen);
			if (r < 0) {
				rb->err = r;
				break;
			}
			continue;
		}

		r = nft_state_put_elem(rb->s, rb->cur_set, key, klen, target, &ae);
		if (r < 0) {
			rb->err = r;
			break;
		}
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_USERDATA)) {
			uint32_t ulen;
			const void *u = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &ulen);

			free(ae->comment);
			ae->comment = NULL;
			struct comment_ctx cc = { &ae->comment, (const uint8_t *)u + ulen };

			nftnl_udata_parse(u, ulen, comment_cb, &cc);
			ae->comment_hash = nft_comment_hash(ae->comment);
		}
	}
	nftnl_set_elems_iter_destroy(it);
out:
	nftnl_set_free(s);
	return rb->err ? MNL_CB_ERROR : MNL_CB_OK;
}

static void build_elem_req(struct nlmsghdr *nlh, void *arg)
{
	struct rb *rb = arg;

	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, rb->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, rb->cur_set);
}

static void build_chain_filter(struct nlmsghdr *nlh, void *arg)
{
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, arg);
}

struct rule_req {
	const char *table;
	const char *chain;
};

static void build_rule_filter(struct nlmsghdr *nlh, void *arg)
{
	const struct rule_req *req = arg;

	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, req->table);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, req->chain);
}

static void build_set_filter(struct nlmsghdr *nlh, void *arg)
{
	mnl_attr_put_strz(nlh, NFTA_SET_TABLE, arg);
}

static int table_exists_from(nfr_dump_fn *dump, void *src, const char *table, bool *exists,
			     uint32_t *use)
{
	struct nft_state st = { 0 };
	struct rb rb = { .table = table, .s = &st };
	int r = dump(src, NFT_MSG_GETTABLE, build_table_filter, (void *)table, table_cb, &rb);

	if (r < 0 && r != -ENOENT)
		return log_error_errno(r, "Could not list nftables tables");
	*exists = st.table_exists;
	if (use)
		*use = rb.table_use;
	return 0;
}

/* The kernel as the source: nfk_dump with its nfk. */
static int nfk_source(void *src, uint16_t msg_type, void (*build)(struct nlmsghdr *, void *),
		      void *arg, int (*cb)(const struct nlmsghdr *, void *), void *data)
{
	return nfk_dump(src, msg_type, build, arg, cb, data);
}

int nfr_table_exists(struct nfk *n, const char *table, bool *exists, uint32_t *use)
{
	return table_exists_from(nfk_source, n, table, exists, use);
}

static void build_chain_filter(struct nlmsghdr *nlh, void *arg);

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();

	if (!g)
		return MNL_CB_ERROR;
	if (nftnl_gen_nlmsg_parse(nlh, g) == 0)
		*(uint32_t *)data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

int nfr_genid(struct nfk *n, uint32_t *genid)
{
	uint32_t id = 0;
	int r = nfk_query(n, NFT_MSG_GETGEN, 0, NULL, NULL, gen_cb, &id);

	if (r < 0)
		return log_error_errno(r, "Could not read the nftables generation");
	*genid = id;
	return 0;
}

struct names_ctx {
	const char *table;
	const struct nft_state *s;
	size_t seen;
	bool match;
};

static int names_cb(const struct nlmsghdr *nlh, void *data)
{
	struct names_ctx *c = data;
	struct nftnl_chain *ch = nftnl_chain_alloc();

	if (!ch)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, ch) == 0 &&
	    strcmp(nftnl_chain_get_str(ch, NFTNL_CHAIN_TABLE), c->table) == 0) {
		c->seen++;
		if (!hmap_get(&c->s->chains, nftnl_chain_get_str(ch, NFTNL_CHAIN_NAME)))
			c->match = false;
	}
	nftnl_chain_free(ch);
	return MNL_CB_OK;
}

int nfr_chains_match(struct nfk *n, const char *table, const struct nft_state *s, bool *match)
{
	struct names_ctx c = { .table = table, .s = s, .match = true };
	int r = nfk_dump(n, NFT_MSG_GETCHAIN, build_chain_filter, (void *)table, names_cb, &c);

	if (r < 0)
		return r;
	*match = c.match && c.seen == s->chains.len;
	return 0;
}

int nfr_read(struct nfk *n, const char *table, struct nft_state *s)
{
	return nfr_read_from(nfk_source, n, table, s);
}

int nfr_read_from(nfr_dump_fn *dump, void *src, const char *table, struct nft_state *s)
{
	struct rb rb = { .table = table, .s = s };
	int r;

	r = table_exists_from(dump, src, table, &s->table_exists, NULL);
	if (r < 0 || !s->table_exists)
		return r;
	r = dump(src, NFT_MSG_GETCHAIN, build_chain_filter, (void *)table, chain_cb, &rb);
	if (r < 0 || rb.err < 0)
		goto fail;
	/* One dump per chain: the kernel finds a chain by hash, while a dump
	 * of the whole table restarts its walk from the first rule for every
	 * 32 KiB it returns (quadratic: 10 s at 10,000 x 10 instead of ~1). */
	{
		size_t it = 0, k = 0;
		const char **names = calloc(s->chains.len ? s->chains.len : 1, sizeof(*names));
		const char *name;

		if (!names) {
			r = -ENOMEM;
			goto fail;
		}
		while (hmap_next(&s->chains, &it, &name, NULL))
			names[k++] = name;
		for (size_t i = 0; i < k && r >= 0 && !rb.err; i++) {
			struct rule_req req = { .table = table, .chain = names[i] };

			r = dump(src, NFT_MSG_GETRULE, build_rule_filter, &req, rule_cb, &rb);
		}
		free(names);
		if (r < 0 || rb.err < 0)
			goto fail;
	}
	r = index_slots(&rb);
	if (r < 0)
		goto fail;
	r = dump(src, NFT_MSG_GETSET, build_set_filter, (void *)table, set_cb, &rb);
	if (r < 0 || rb.err < 0)
		goto fail;
	for (size_t i = 0; i < rb.n_sets; i++) {
		r = nft_state_add_set(s, rb.sets[i]);
		if (r < 0)
			goto fail;
		/* An affinity set's elements are the kernel's (clients seen),
		 * not ours to diff. */
		if (strncmp(rb.sets[i], NFT_AFFINITY_PREFIX, strlen(NFT_AFFINITY_PREFIX)) == 0)
			continue;
		rb.cur_set = rb.sets[i];
		rb.cur_lb = nft_lb_map_parse(rb.sets[i], &(uint32_t){ 0 }) == 0;
		rb.cur_hairpin = strcmp(rb.sets[i], NFT_NAME_HAIRPIN) == 0 ||
				 strcmp(rb.sets[i], NFT_NAME_HAIRPIN6) == 0;
		r = dump(src, NFT_MSG_GETSETELEM, build_elem_req, &rb, elem_cb, &rb);
		if (r < 0 || rb.err < 0)
			goto fail;
		if (rb.cur_lb && (r = iv_flush(&rb)) < 0)
			goto fail;
	}
	r = 0;
fail:
	if (!r && rb.err)
		r = rb.err;
	if (r < 0)
		log_error_errno(r, "Could not read table inet %s back from the kernel", table);
	for (size_t i = 0; i < rb.n_sets; i++)
		free(rb.sets[i]);
	free(rb.sets);
	free(rb.iv);
	{
		size_t it = 0;
		void *v;

		while (hmap_next(&rb.slots, &it, NULL, &v))
			free(v);
		hmap_fini(&rb.slots);
	}
	return r;
}
