#include "nft/conntrack.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "lib/util/log.h"

struct ct_ctx {
	const struct nft_ct_flush *req;
	size_t n;
	struct nf_conntrack **victims;
	size_t n_victims, cap;
	int err;
};

static bool addr_is(const struct nf_conntrack *ct, int attr4, int attr6, const struct ip_addr *a)
{
	if (a->family == AF_INET)
		return memcmp(nfct_get_attr(ct, attr4), &a->v4, 4) == 0;
	return memcmp(nfct_get_attr(ct, attr6), &a->v6, 16) == 0;
}

static bool matches(const struct nf_conntrack *ct, const struct nft_ct_flush *r)
{
	int fam = r->svc.family;

	if (nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO) != fam ||
	    ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST)) != r->svc_port ||
	    (!r->any_addr && !addr_is(ct, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST, &r->svc)))
		return false;
	if (r->any_ep)
		return true;
	/* DNATed to the endpoint: the reply comes from it. */
	return ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC)) == r->ep_port &&
	       addr_is(ct, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, &r->ep);
}

static int dump_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct ct_ctx *c = data;

	if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_UDP)
		return NFCT_CB_CONTINUE;
	for (size_t i = 0; i < c->n; i++) {
		if (!matches(ct, &c->req[i]))
			continue;
		if (c->n_victims == c->cap) {
			size_t ncap = c->cap ? c->cap * 2 : 16;
			struct nf_conntrack **v = realloc(c->victims, ncap * sizeof(*v));

			if (!v) {
				c->err = -ENOMEM;
				return NFCT_CB_STOP;
			}
			c->victims = v;
			c->cap = ncap;
		}
		c->victims[c->n_victims] = nfct_clone(ct);
		if (c->victims[c->n_victims])
			c->n_victims++;
		break;
	}
	return NFCT_CB_CONTINUE;
}

static int flush_family(uint8_t family, const struct nft_ct_flush *req, size_t n)
{
	struct ct_ctx c = { .req = req, .n = n };
	struct nfct_handle *h = nfct_open(CONNTRACK, 0);
	uint32_t fam = family;
	int deleted = 0, r;

	if (!h)
		return -errno;
	nfct_callback_register(h, NFCT_T_ALL, dump_cb, &c);
	r = nfct_query(h, NFCT_Q_DUMP, &fam);
	if (r < 0) {
		r = -errno;
		goto out;
	}
	if (c.err < 0) {
		r = c.err;
		goto out;
	}
	/* A second query on the same handle from inside the dump callback is
	 * not allowed: delete once the dump is over. */
	for (size_t i = 0; i < c.n_victims; i++)
		if (nfct_query(h, NFCT_Q_DESTROY, c.victims[i]) == 0)
			deleted++;
	r = deleted;
out:
	for (size_t i = 0; i < c.n_victims; i++)
		nfct_destroy(c.victims[i]);
	free(c.victims);
	nfct_close(h);
	return r;
}

int nft_conntrack_flush(const struct nft_ct_flush *req, size_t n)
{
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	int total = 0;

	for (size_t f = 0; f < 2; f++) {
		bool any = false;
		int r;

		for (size_t i = 0; i < n && !any; i++)
			any = req[i].svc.family == families[f];
		if (!any)
			continue;
		r = flush_family(families[f], req, n);
		if (r < 0)
			return log_error_errno(r, "Could not delete stale UDP conntrack entries (%s)",
					       families[f] == AF_INET ? "IPv4" : "IPv6");
		total += r;
	}
	return total;
}
