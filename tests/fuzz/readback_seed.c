/* Records what the kernel answers when nfr_read reads a table back, in the
 * input format of fuzz_readback (one record per request: a 32-bit
 * little-endian length, then the answer's messages and its NLMSG_DONE, or
 * the NLMSG_ERROR that ended it). Run as root where the table is:
 *
 *   ip netns exec NS readback_seed [TABLE] > seed.bin
 *
 * Exits 1 when the table cannot be read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "nft/netlink.h"
#include "nft/readback.h"
#include "nft/state.h"

struct rec {
	struct nfk *n;
	uint8_t *buf;
	size_t len, cap;
	int (*cb)(const struct nlmsghdr *nlh, void *data);
	void *data;
};

static int put(struct rec *r, const void *p, size_t len)
{
	if (r->len + len > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 65536;
		uint8_t *b;

		while (cap < r->len + len)
			cap *= 2;
		b = realloc(r->buf, cap);
		if (!b)
			return -ENOMEM;
		r->buf = b;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, p, len);
	r->len += len;
	return 0;
}

static int record_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rec *r = data;

	if (put(r, nlh, NLMSG_ALIGN(nlh->nlmsg_len)) < 0)
		return MNL_CB_ERROR;
	return r->cb(nlh, r->data);
}

static int record(void *src, uint16_t msg_type, void (*build)(struct nlmsghdr *, void *),
		  void *arg, int (*cb)(const struct nlmsghdr *, void *), void *data)
{
	struct rec *r = src;
	struct {
		struct nlmsghdr h;
		struct nlmsgerr e;
	} end = { 0 };
	uint8_t len[4];
	int q;

	r->len = 0;
	r->cb = cb;
	r->data = data;
	q = nfk_dump(r->n, msg_type, build, arg, record_cb, r);
	/* What ended the answer, which the callbacks never see. */
	if (q == 0) {
		end.h.nlmsg_len = NLMSG_HDRLEN;
		end.h.nlmsg_type = NLMSG_DONE;
	} else {
		end.h.nlmsg_len = sizeof(end);
		end.h.nlmsg_type = NLMSG_ERROR;
		end.e.error = q;
	}
	end.h.nlmsg_flags = NLM_F_MULTI;
	if (put(r, &end, end.h.nlmsg_len) < 0)
		return -ENOMEM;
	for (int i = 0; i < 4; i++)
		len[i] = (uint8_t)(r->len >> (8 * i));
	if (fwrite(len, 1, 4, stdout) != 4 || fwrite(r->buf, 1, r->len, stdout) != r->len)
		return -EIO;
	return q;
}

int main(int argc, char **argv)
{
	const char *table = argc > 1 ? argv[1] : "nftproxy";
	struct rec r = { 0 };
	struct nft_state *s = NULL;
	int q;

	q = nfk_open(&r.n);
	if (q == 0)
		q = nft_state_new(&s);
	if (q == 0)
		q = nfr_read_from(record, &r, table, s);
	if (q == 0 && !s->table_exists)
		q = -ENOENT;
	if (q == 0 && fflush(stdout) != 0)
		q = -errno;
	if (q < 0)
		fprintf(stderr, "readback_seed: table inet %s: %s\n", table, strerror(-q));
	nft_state_free(s);
	nfk_close(r.n);
	free(r.buf);
	return q < 0 ? 1 : 0;
}
