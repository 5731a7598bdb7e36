#include "nft/netlink.h"

#include <errno.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <limits.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "lib/util/log.h"
#include "nft/build.h"
#include "nft/diff.h"

/* A netlink attribute length is 16 bits: keep element messages well under. */
#define ELEM_MSG_BUDGET (48 * 1024)
/* sendmsg() takes at most UIO_MAXIOV (1024) iovecs, one per batch page:
 * 4 MiB pages carry batches up to the kernel's own 2 GiB limit. Pages are
 * malloc'd (mmap'd) and only touched as far as they are filled. */
#define BATCH_PAGE (4 * 1024 * 1024)
#define BATCH_OVERRUN (80 * 1024)
#define RECV_BUF (1024 * 1024)

struct nfk {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	int rcvbuf;
	char *buf;                 /* RECV_BUF bytes for replies and dumps */
};

int nfk_mnl_open(struct mnl_socket **nl, uint32_t *portid)
{
	int one = 1, r;

	*nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!*nl)
		return log_error_errno(-errno, "Could not open a netfilter netlink socket");
	if (mnl_socket_bind(*nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		mnl_socket_close(*nl);
		*nl = NULL;
		return log_error_errno(r, "Could not bind the netfilter netlink socket");
	}
	/* The kernel's error message (extack) says which attribute it refused. */
	mnl_socket_setsockopt(*nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(*nl, NETLINK_CAP_ACK, &one, sizeof(one));
	*portid = mnl_socket_get_portid(*nl);
	return 0;
}

int nfk_open(struct nfk **out)
{
	struct nfk *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->buf = malloc(RECV_BUF);
	if (!n->buf) {
		free(n);
		return -ENOMEM;
	}
	r = nfk_mnl_open(&n->nl, &n->portid);
	if (r < 0) {
		free(n->buf);
		free(n);
		return r;
	}
	n->seq = (uint32_t)time(NULL);
	*out = n;
	return 0;
}

void nfk_close(struct nfk *n)
{
	if (!n)
		return;
	if (n->nl)
		mnl_socket_close(n->nl);
	free(n->buf);
	free(n);
}

/* seq -> the operation it carries, to name the object of a kernel error. */
struct seqmap {
	uint32_t first_seq;
	const struct nft_op **ops; /* index = seq - first_seq */
	uint32_t *counts;          /* ops carried by that message (element groups) */
	size_t n, cap;
};

static int seqmap_push(struct seqmap *m, const struct nft_op *op, uint32_t count)
{
	if (m->n == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 1024;
		const struct nft_op **o = realloc(m->ops, ncap * sizeof(*o));
		uint32_t *c;

		if (!o)
			return -ENOMEM;
		m->ops = o;
		c = realloc(m->counts, ncap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		m->counts = c;
		m->cap = ncap;
	}
	m->ops[m->n] = op;
	m->counts[m->n] = count;
	m->n++;
	return 0;
}

struct batch_ctx {
	struct nfk *n;
	const char *table;
	struct nftnl_batch *b;
	struct seqmap map;
	size_t messages;
	uint32_t set_id;
	size_t errors;
};

static struct nlmsghdr *msg_begin(struct batch_ctx *c, uint16_t type, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(c->b), type, NFPROTO_INET, flags,
				     c->n->seq++);
}

static int msg_end(struct batch_ctx *c, const struct nft_op *op, uint32_t count)
{
	c->messages++;
	if (nftnl_batch_update(c->b) < 0)
		return -ENOMEM;
	return seqmap_push(&c->map, op, count);
}

static int put_table(struct batch_ctx *c, const struct nft_op *op)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t)
		return -ENOMEM;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, c->table);
	nlh = msg_begin(c, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return msg_end(c, op, 1);
}

static int put_set(struct batch_ctx *c, const struct nft_op *op)
{
	struct nftnl_set *s;
	struct nlmsghdr *nlh;

	if (op->kind == NFT_OP_DEL_SET) {
		s = nftnl_set_alloc();
		if (!s)
			return -ENOMEM;
		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
		nftnl_set_set_str(s, NFTNL_SET_TABLE, c->table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, op->set);
		nlh = msg_begin(c, NFT_MSG_DELSET, 0);
		nftnl_set_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		return msg_end(c, op, 1);
	}
	s = nfb_set_build(c->table, op->set_kind, op->lb_map, op->timeout_s);
	if (!s)
		return -ENOMEM;
	nftnl_set_set_str(s, NFTNL_SET_NAME, op->set);
	/* The kernel wants an id to refer to a set added in the same batch. */
	nftnl_set_set_u32(s, NFTNL_SET_ID, ++c->set_id);
	nlh = msg_begin(c, NFT_MSG_NEWSET, NLM_F_CREATE);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return msg_end(c, op, 1);
}

static int put_chain(struct batch_ctx *c, const struct nft_op *op)
{
	struct nftnl_chain *ch;
	struct nlmsghdr *nlh;
	uint16_t type = NFT_MSG_NEWCHAIN, flags = NLM_F_CREATE;

	if (op->kind == NFT_OP_ADD_CHAIN) {
		ch = nfb_chain_build(c->table, op->chain);
	} else {
		ch = nftnl_chain_alloc();
		if (ch) {
			nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
			nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, c->table);
			nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, op->name);
		}
		type = NFT_MSG_DELCHAIN;
		flags = 0;
	}
	if (!ch)
		return -ENOMEM;
	nlh = msg_begin(c, type, flags);
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	nftnl_chain_free(ch);
	return msg_end(c, op, 1);
}

static int put_rule(struct batch_ctx *c, const struct nft_op *op)
{
	struct nlmsghdr *nlh;

	if (op->kind == NFT_OP_ADD_RULE) {
		struct nftnl_rule *r;
		int ret = nfb_rule_build(c->table, op->name, op->rule, &r);

		if (ret < 0)
			return ret;
		nlh = msg_begin(c, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
		nftnl_rule_nlmsg_build_payload(nlh, r);
		nftnl_rule_free(r);
	} else {
		/* DELRULE naming only the chain flushes it. */
		struct nftnl_rule *r = nftnl_rule_alloc();

		if (!r)
			return -ENOMEM;
		nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
		nftnl_rule_set_str(r, NFTNL_RULE_TABLE, c->table);
		nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, op->name);
		nlh = msg_begin(c, NFT_MSG_DELRULE, 0);
		nftnl_rule_nlmsg_build_payload(nlh, r);
		nftnl_rule_free(r);
	}
	return msg_end(c, op, 1);
}

/* An element comment, as nft writes it: `nft list` shows it. */
static int put_comment(struct nftnl_set_elem *e, const char *comment)
{
	struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(strlen(comment) + 16);

	if (!u)
		return -ENOMEM;
	if (!nftnl_udata_put_strz(u, NFTNL_UDATA_SET_ELEM_COMMENT, comment)) {
		nftnl_udata_buf_free(u);
		return -ENOMEM;
	}
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(u),
			   nftnl_udata_buf_len(u));
	nftnl_udata_buf_free(u);
	return 0;
}

/* Elements of one map go in as few messages as fit the attribute limit. */
static int put_elems(struct batch_ctx *c, const struct nft_op *ops, size_t n)
{
	size_t i = 0;

	while (i < n) {
		struct nftnl_set *s = nftnl_set_alloc();
		bool add = ops[i].kind == NFT_OP_ADD_ELEM;
		size_t budget = 0, start = i;
		struct nlmsghdr *nlh;

		if (!s)
			return -ENOMEM;
		nftnl_set_set_str(s, NFTNL_SET_TABLE, c->table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, ops[i].set);
		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
		for (; i < n && strcmp(ops[i].set, ops[start].set) == 0; i++) {
			struct nftnl_set_elem *e;
			size_t cost = 64 + ops[i].key_len + ops[i].data_len +
				      (ops[i].interval ? 64 : 0) +
				      (add && ops[i].target ? strlen(ops[i].target) : 0) +
				      (add && ops[i].comment ? strlen(ops[i].comment) + 8 : 0);

			if (budget + cost > ELEM_MSG_BUDGET)
				break;
			e = nftnl_set_elem_alloc();
			if (!e) {
				nftnl_set_free(s);
				return -ENOMEM;
			}
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, ops[i].key, ops[i].key_len);
			if (add && ops[i].target && strcmp(ops[i].target, NFT_VERDICT_DROP) == 0) {
				nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, NF_DROP);
			} else if (add && ops[i].target) {
				nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, NFT_GOTO);
				nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, ops[i].target);
			} else if (add && ops[i].data_len) {
				nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, ops[i].data, ops[i].data_len);
			}
			if (add && ops[i].comment && put_comment(e, ops[i].comment) < 0) {
				nftnl_set_elem_free(e);
				nftnl_set_free(s);
				return -ENOMEM;
			}
			nftnl_set_elem_add(s, e);
			if (ops[i].interval) {
				/* An interval tree holds a range as its first value and,
				 * flagged, the value after its last. */
				uint8_t end[NFT_KEY_MAX], elen;

				e = nftnl_set_elem_alloc();
				if (!e) {
					nftnl_set_free(s);
					return -ENOMEM;
				}
				nft_key_u32(end, &elen, ops[i].range_end + 1);
				nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, end, elen);
				nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
				nftnl_set_elem_add(s, e);
			}
			budget += cost;
		}
		nlh = msg_begin(c, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
				add ? NLM_F_CREATE : 0);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		if (msg_end(c, &ops[start], (uint32_t)(i - start)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int put_op(struct batch_ctx *c, const struct nft_op *op)
{
	switch (op->kind) {
	case NFT_OP_ADD_TABLE: return put_table(c, op);
	case NFT_OP_ADD_SET:
	case NFT_OP_DEL_SET: return put_set(c, op);
	case NFT_OP_ADD_CHAIN:
	case NFT_OP_DEL_CHAIN: return put_chain(c, op);
	case NFT_OP_FLUSH_CHAIN:
	case NFT_OP_ADD_RULE: return put_rule(c, op);
	case NFT_OP_ADD_ELEM:
	case NFT_OP_DEL_ELEM: return put_elems(c, op, 1);
	}
	return -EINVAL;
}

static const char *op_verb(enum nft_op_kind k)
{
	switch (k) {
	case NFT_OP_ADD_TABLE: return "add table";
	case NFT_OP_ADD_SET: return "add map";
	case NFT_OP_DEL_SET: return "delete set";
	case NFT_OP_ADD_CHAIN: return "add chain";
	case NFT_OP_FLUSH_CHAIN: return "flush chain";
	case NFT_OP_ADD_RULE: return "add rule to chain";
	case NFT_OP_DEL_ELEM: return "delete elements from map";
	case NFT_OP_ADD_ELEM: return "add elements to map";
	case NFT_OP_DEL_CHAIN: return "delete chain";
	}
	return "?";
}

/* After this many, a batch's errors are only counted: one bad object can
 * make thousands of later messages fail with it. */
#define ERRORS_LOGGED 5

static void report_error(struct batch_ctx *c, const struct nlmsghdr *nlh, int err)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	uint32_t seq = e->msg.nlmsg_seq;
	const char *ext = NULL;
	const struct nft_op *op = NULL;
	uint32_t count = 0;
	char what[320];

	if (++c->errors > ERRORS_LOGGED)
		return;
	if (seq >= c->map.first_seq && seq - c->map.first_seq < c->map.n) {
		op = c->map.ops[seq - c->map.first_seq];
		count = c->map.counts[seq - c->map.first_seq];
	}
	/* Extended ack: the kernel's own words, after the echoed header. */
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		const struct nlattr *a;
		size_t off = sizeof(*e);

		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(e->msg);
		mnl_attr_for_each(a, nlh, off) {
			if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG)
				ext = mnl_attr_get_str(a);
		}
	}
	if (!op) {
		log_error("kernel refused the ruleset batch of table %s: %s%s%s; nothing was changed",
			  c->table, strerror(-err), ext ? ": " : "", ext ? ext : "");
		return;
	}
	if (op->kind == NFT_OP_ADD_ELEM || op->kind == NFT_OP_DEL_ELEM)
		snprintf(what, sizeof(what), "%s %s (%u elements)", op_verb(op->kind), op->set, count);
	else if (op->kind == NFT_OP_ADD_SET || op->kind == NFT_OP_DEL_SET)
		snprintf(what, sizeof(what), "%s %s", op_verb(op->kind), op->set);
	else
		snprintf(what, sizeof(what), "%s %s", op_verb(op->kind), op->name ? op->name : c->table);
	/* Deletions without an owner are the skeleton's or the strays a full
	 * run found (objects no service claims). */
	log_error("kernel refused %s for %s%s in table %s: %s%s%s; the whole batch was rolled back, "
		  "nothing was changed", what,
		  op->owner[0] ? "service " :
		  op->kind == NFT_OP_DEL_CHAIN || op->kind == NFT_OP_DEL_ELEM ||
		  op->kind == NFT_OP_DEL_SET ? "the table skeleton or a leftover no service claims" :
		  "the table skeleton", op->owner, c->table, strerror(-err), ext ? ": " : "",
		  ext ? ext : "");
}

static int recv_errors(struct batch_ctx *c)
{
	int first = 0;

	for (;;) {
		ssize_t len = recv(mnl_socket_get_fd(c->n->nl), c->n->buf, RECV_BUF, MSG_DONTWAIT);
		const struct nlmsghdr *nlh;
		int rem;

		if (len < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (c->errors > ERRORS_LOGGED)
					log_error("kernel refused %zu more messages of the same batch of "
						  "table %s", c->errors - ERRORS_LOGGED, c->table);
				return first;
			}
			if (errno == EINTR)
				continue;
			return first ? first : -errno;
		}
		rem = (int)len;
		for (nlh = (const struct nlmsghdr *)c->n->buf; mnl_nlmsg_ok(nlh, rem);
		     nlh = mnl_nlmsg_next(nlh, &rem)) {
			const struct nlmsgerr *e;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error == 0)
				continue;
			report_error(c, nlh, e->error);
			if (!first)
				first = e->error;
		}
	}
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int batch_send(struct batch_ctx *c, size_t *bytes, double *kernel_ms)
{
	double t0;
	int iovlen = nftnl_batch_iovec_len(c->b);
	struct iovec *iov = calloc(iovlen, sizeof(*iov));
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr msg = { 0 };
	size_t total = 0;
	int sz, r;

	if (!iov)
		return -ENOMEM;
	nftnl_batch_iovec(c->b, iov, iovlen);
	for (int i = 0; i < iovlen; i++)
		total += iov[i].iov_len;
	*bytes = total;
	/* The whole batch is one skb: the send buffer must hold it, and the
	 * receive buffer every error it may cause. Root may force both. */
	sz = total + 65536 > (size_t)INT32_MAX / 2 ? INT32_MAX / 2 : (int)(total + 65536);
	setsockopt(mnl_socket_get_fd(c->n->nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	if (c->n->rcvbuf < 4 << 20) {
		c->n->rcvbuf = 4 << 20;
		setsockopt(mnl_socket_get_fd(c->n->nl), SOL_SOCKET, SO_RCVBUFFORCE, &c->n->rcvbuf,
			   sizeof(c->n->rcvbuf));
	}
	msg.msg_name = &snl;
	msg.msg_namelen = sizeof(snl);
	msg.msg_iov = iov;
	msg.msg_iovlen = iovlen;
	t0 = mono_ms();
	do
		r = (int)sendmsg(mnl_socket_get_fd(c->n->nl), &msg, 0);
	while (r < 0 && errno == EINTR);
	free(iov);
	if (r < 0) {
		r = -errno;
		if (r == -EMSGSIZE)
			return log_error_errno(r, "Could not send a %zu-byte batch in %d pieces to the "
					       "kernel (socket buffer too small, or more than %d pieces; "
					       "is this process root?)", total, iovlen, UIO_MAXIOV);
		return log_error_errno(r, "Could not send the ruleset batch (%zu bytes)", total);
	}
	/* nfnetlink processes the batch inside sendmsg: every error is queued
	 * by now, and no error means the kernel committed it. */
	r = recv_errors(c);
	*kernel_ms = mono_ms() - t0;
	return r;
}

int nfk_send_plan(struct nfk *n, const struct nft_plan *p, struct nfk_send_stats *st)
{
	struct batch_ctx c = { .n = n, .table = p->table };
	size_t bytes = 0;
	double kernel_ms = 0;
	int r = 0;

	c.b = nftnl_batch_alloc(BATCH_PAGE, BATCH_OVERRUN);
	if (!c.b)
		return -ENOMEM;
	nftnl_batch_begin(nftnl_batch_buffer(c.b), n->seq++);
	if (nftnl_batch_update(c.b) < 0) {
		r = -ENOMEM;
		goto out;
	}
	c.map.first_seq = n->seq;
	for (int ph = 0; ph < NFT_PH_COUNT && r >= 0; ph++) {
		const struct nft_op *ops = p->ops[ph];
		size_t cnt = p->n_ops[ph];

		if (ph == NFT_PH_DEL_ELEMS || ph == NFT_PH_ADD_ELEMS) {
			/* Consecutive elements of the same map share messages;
			 * sorting is not needed for correctness, only for size. */
			size_t i = 0;

			while (i < cnt && r >= 0) {
				size_t j = i + 1;

				while (j < cnt && strcmp(ops[j].set, ops[i].set) == 0)
					j++;
				r = put_elems(&c, &ops[i], j - i);
				i = j;
			}
			continue;
		}
		if (ph == NFT_PH_DEL_CHAINS) {
			/* Every doomed chain is flushed before the first one is
			 * deleted: a chain still jumping to another (a leftover, or
			 * one someone else added to our table) holds it in use, and
			 * the kernel refuses to delete a chain in use (EBUSY). */
			for (size_t i = 0; i < cnt && r >= 0; i++)
				if (ops[i].kind == NFT_OP_FLUSH_CHAIN)
					r = put_op(&c, &ops[i]);
			for (size_t i = 0; i < cnt && r >= 0; i++)
				if (ops[i].kind != NFT_OP_FLUSH_CHAIN)
					r = put_op(&c, &ops[i]);
			continue;
		}
		for (size_t i = 0; i < cnt && r >= 0; i++)
			r = put_op(&c, &ops[i]);
	}
	if (r < 0)
		goto out;
	nftnl_batch_end(nftnl_batch_buffer(c.b), n->seq++);
	if (nftnl_batch_update(c.b) < 0) {
		r = -ENOMEM;
		goto out;
	}
	r = batch_send(&c, &bytes, &kernel_ms);
out:
	if (st) {
		st->messages = c.messages;
		st->bytes = bytes;
		st->kernel_ms = kernel_ms;
	}
	free(c.map.ops);
	free(c.map.counts);
	nftnl_batch_free(c.b);
	return r;
}

int nfk_dump(struct nfk *n, uint16_t msg_type, void (*build)(struct nlmsghdr *nlh, void *arg),
	      void *arg, int (*cb)(const struct nlmsghdr *nlh, void *data), void *data)
{
	return nfk_query(n, msg_type, NLM_F_DUMP, build, arg, cb, data);
}

int nfk_query(struct nfk *n, uint16_t msg_type, uint16_t flags,
	      void (*build)(struct nlmsghdr *nlh, void *arg), void *arg,
	      int (*cb)(const struct nlmsghdr *nlh, void *data), void *data)
{
	char req[4096] = { 0 };
	struct nlmsghdr *nlh;
	uint32_t seq = n->seq++;
	ssize_t len;
	int r;

	/* With NLM_F_ACK a plain request ends with an ack as a dump ends with
	 * NLMSG_DONE: either way mnl_cb_run returns MNL_CB_STOP. */
	nlh = nftnl_nlmsg_build_hdr(req, msg_type, NFPROTO_INET, flags | NLM_F_ACK, seq);
	if (build)
		build(nlh, arg);
	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		len = mnl_socket_recvfrom(n->nl, n->buf, RECV_BUF);
		if (len < 0)
			return errno == EINTR ? -EINTR : -errno;
		r = mnl_cb_run(n->buf, len, seq, n->portid, (mnl_cb_t)cb, data);
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

int nfk_delete_table(struct nfk *n, const char *name)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_batch *b = nftnl_batch_alloc(BATCH_PAGE, BATCH_OVERRUN);
	struct batch_ctx c = { .n = n, .table = name, .b = b };
	struct nlmsghdr *nlh;
	size_t bytes;
	double kernel_ms;
	int r = -ENOMEM;

	if (!t || !b)
		goto out;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nftnl_batch_begin(nftnl_batch_buffer(b), n->seq++);
	nftnl_batch_update(b);
	nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b), NFT_MSG_DELTABLE, NFPROTO_INET, 0,
				    n->seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_batch_update(b);
	nftnl_batch_end(nftnl_batch_buffer(b), n->seq++);
	nftnl_batch_update(b);
	r = batch_send(&c, &bytes, &kernel_ms);
out:
	free(c.map.ops);
	free(c.map.counts);
	nftnl_table_free(t);
	nftnl_batch_free(b);
	return r;
}
