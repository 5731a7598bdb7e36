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
	void (*on_rule)(const char *chain, const struct nfr_rule_info *ri, void *data);
	void *data;
	char **sets;
	size_t n_sets;
	const char *cur_set;
	uint32_t table_use;
	int err;
};

static void build_table_filter(struct nlmsghdr *nlh, void *arg)
{
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, arg);
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rb *rb = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0 &&
	    nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == NFPROTO_INET &&
	    strcmp(nftnl_table_get_str(t, NFTNL_TABLE_NAME), rb->table) == 0) {
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
	    strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), rb->table) == 0) {
		int r = nft_state_put_chain(rb->s, nftnl_chain_get_str(c, NFTNL_CHAIN_NAME),
					    nfb_fp_init_nl(c), NULL);
		if (r < 0)
			rb->err = r;
	}
	nftnl_chain_free(c);
	return rb->err ? MNL_CB_ERROR : MNL_CB_OK;
}

struct decode_ctx {
	struct nfr_rule_info *ri;
	const void *reg1;
	uint32_t reg1_len;
	uint16_t reg2_port;
};

static int decode_expr(struct nftnl_expr *e, void *data)
{
	struct decode_ctx *d = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	uint32_t len;

	if (strcmp(name, "numgen") == 0) {
		d->ri->lb = true;
		d->ri->mod = nftnl_expr_get_u32(e, NFTNL_EXPR_NG_MODULUS);
		d->ri->offset = nftnl_expr_get_u32(e, NFTNL_EXPR_NG_OFFSET);
	} else if (strcmp(name, "lookup") == 0 && d->ri->lb) {
		snprintf(d->ri->set, sizeof(d->ri->set), "%s",
			 nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET));
	} else if (strcmp(name, "immediate") == 0 &&
		   nftnl_expr_is_set(e, NFTNL_EXPR_IMM_DATA)) {
		const void *v = nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &len);

		if (nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG) == NFT_REG_1) {
			d->reg1 = v;
			d->reg1_len = len;
		} else if (len == 2) {
			memcpy(&d->reg2_port, v, 2);
		}
	} else if (strcmp(name, "nat") == 0 && d->reg1) {
		d->ri->dnat = true;
		d->ri->addr.family = d->reg1_len == 16 ? AF_INET6 : AF_INET;
		memcpy(d->ri->addr.bytes, d->reg1, d->reg1_len <= 16 ? d->reg1_len : 16);
		d->ri->port = ntohs(d->reg2_port);
	}
	return 0;
}

void nfr_rule_decode(const struct nftnl_rule *r, struct nfr_rule_info *out)
{
	struct decode_ctx d = { .ri = out };

	memset(out, 0, sizeof(*out));
	nftnl_expr_foreach((struct nftnl_rule *)r, decode_expr, &d);
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rb *rb = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nft_ap_chain *c;
	struct nfr_rule_info ri;

	if (!r)
		return MNL_CB_ERROR;
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0 ||
	    strcmp(nftnl_rule_get_str(r, NFTNL_RULE_TABLE), rb->table) != 0)
		goto out;
	c = hmap_get(&rb->s->chains, nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
	if (!c)
		goto out;
	/* Rules come in chain order: fold each into its chain's fingerprint. */
	c->fp = nfb_fp_add_rule(c->fp, r);
	nfr_rule_decode(r, &ri);
	if (ri.lb && strncmp(ri.set, "lb-", 3) == 0) {
		uint32_t map = (uint32_t)strtoul(ri.set + 3, NULL, 10);

		if (ri.offset % NFT_LB_STRIDE == 0 &&
		    nft_lb_claim(&rb->s->lb, c->name, map, ri.offset / NFT_LB_STRIDE) == 0) {
			c->has_lb = true;
			c->lb_map = map;
			c->lb_slot = ri.offset / NFT_LB_STRIDE;
		}
	}
	if (rb->on_rule)
		rb->on_rule(c->name, &ri, rb->data);
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
	if (nftnl_set_nlmsg_parse(nlh, s) == 0 &&
	    strcmp(nftnl_set_get_str(s, NFTNL_SET_TABLE), rb->table) == 0) {
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

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	char **out = data;

	if (nftnl_udata_type(attr) == NFTNL_UDATA_SET_ELEM_COMMENT && !*out)
		*out = strndup(nftnl_udata_get(attr), nftnl_udata_len(attr));
	return 0;
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
		int r;

		if (!key || klen > NFT_KEY_MAX)
			continue;
		struct nft_ap_elem *ae;

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
			nftnl_udata_parse(u, ulen, comment_cb, &ae->comment);
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

int nfr_table_exists(struct nfk *n, const char *table, bool *exists, uint32_t *use)
{
	struct nft_state st = { 0 };
	struct rb rb = { .table = table, .s = &st };
	int r = nfk_dump(n, NFT_MSG_GETTABLE, build_table_filter, (void *)table, table_cb, &rb);

	if (r < 0 && r != -ENOENT)
		return log_error_errno(r, "Could not list nftables tables");
	*exists = st.table_exists;
	if (use)
		*use = rb.table_use;
	return 0;
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

int nfr_read(struct nfk *n, const char *table, struct nft_state *s,
	     void (*on_rule)(const char *chain, const struct nfr_rule_info *ri, void *data),
	     void *data)
{
	struct rb rb = { .table = table, .s = s, .on_rule = on_rule, .data = data };
	int r;

	r = nfr_table_exists(n, table, &s->table_exists, NULL);
	if (r < 0 || !s->table_exists)
		return r;
	r = nfk_dump(n, NFT_MSG_GETCHAIN, build_chain_filter, (void *)table, chain_cb, &rb);
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

			r = nfk_dump(n, NFT_MSG_GETRULE, build_rule_filter, &req, rule_cb, &rb);
		}
		free(names);
		if (r < 0 || rb.err < 0)
			goto fail;
	}
	r = nfk_dump(n, NFT_MSG_GETSET, build_set_filter, (void *)table, set_cb, &rb);
	if (r < 0 || rb.err < 0)
		goto fail;
	for (size_t i = 0; i < rb.n_sets; i++) {
		r = nft_state_add_set(s, rb.sets[i]);
		if (r < 0)
			goto fail;
		rb.cur_set = rb.sets[i];
		r = nfk_dump(n, NFT_MSG_GETSETELEM, build_elem_req, &rb, elem_cb, &rb);
		if (r < 0 || rb.err < 0)
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
	return r;
}
