#include "nft/cleanup.h"
#include "nft/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "lib/util/log.h"

/* The socket is this module's own: nfk (nft/netlink.c) speaks only the
 * inet family, while everything here lives in ip and ip6 tables. */
#define RECV_BUF (1024 * 1024)
/* A KUBE-* chain costs two small messages (flush, delete): 1 MiB pages
 * and sendmsg's 1024 iovecs carry millions of them. */
#define BATCH_PAGE (1024 * 1024)
#define BATCH_OVERRUN (16 * 1024)
/* Reads and sends again when the ruleset changed in between, after a
 * pause that doubles from 10 ms up to 200 ms: about 1.2 s in all. */
#define ATTEMPTS 10
#define RETRY_MS_FIRST 10
#define RETRY_MS_MAX 200
/* x_tables: a table that changes between its size and its entries. */
#define XT_ATTEMPTS 4
#define ERRORS_LOGGED 5

#define KUBE_PREFIX "KUBE-"

/* kubelet's chains: it keeps them (and the jumps to them) itself, and
 * KUBE-FIREWALL drops martian traffic to 127.0.0.0/8 on route_localnet nodes. */
static const char *const kubelet_chains[] = { "KUBE-FIREWALL", "KUBE-KUBELET-CANARY" };

/* The tables iptables-nft keeps kube-proxy's chains in. */
static const char *const ipt_tables[] = { "filter", "nat", "mangle" };

static const struct {
	uint8_t nfproto;
	const char *name;
} families[] = {
	{ NFPROTO_IPV4, "ip" },
	{ NFPROTO_IPV6, "ip6" },
};

static bool kube_chain(const char *name)
{
	if (strncmp(name, KUBE_PREFIX, strlen(KUBE_PREFIX)) != 0)
		return false;
	for (size_t i = 0; i < sizeof(kubelet_chains) / sizeof(kubelet_chains[0]); i++)
		if (strcmp(name, kubelet_chains[i]) == 0)
			return false;
	return true;
}

/* ---------------------------------------------------------------------------
 * The socket */

struct cl_sock {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	char *buf;                 /* RECV_BUF bytes */
};

static void sock_close(struct cl_sock *s)
{
	if (s->nl)
		mnl_socket_close(s->nl);
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

static int sock_open(struct cl_sock *s)
{
	int r;

	s->buf = malloc(RECV_BUF);
	if (!s->buf)
		return -ENOMEM;
	r = nfk_mnl_open(&s->nl, &s->portid);
	if (r < 0) {
		sock_close(s);
		return r;
	}
	s->seq = (uint32_t)time(NULL);
	return 0;
}

/* One request (a dump when flags has NLM_F_DUMP) of family with up to two
 * string attributes (0: none). Returns 0, -ENOENT when the table does not
 * exist, -EINTR when the ruleset changed during a dump, or -errno. */
static int sock_query(struct cl_sock *s, uint16_t type, uint8_t family, uint16_t flags,
		      uint16_t attr1, const char *val1, uint16_t attr2, const char *val2,
		      mnl_cb_t cb, void *data)
{
	char req[1024] = { 0 }; /* attribute padding is not zeroed by libmnl */
	struct nlmsghdr *nlh;
	uint32_t seq = s->seq++;
	ssize_t len;
	int r;

	nlh = nftnl_nlmsg_build_hdr(req, type, family, flags | NLM_F_ACK, seq);
	if (attr1)
		mnl_attr_put_strz(nlh, attr1, val1);
	if (attr2)
		mnl_attr_put_strz(nlh, attr2, val2);
	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		len = mnl_socket_recvfrom(s->nl, s->buf, RECV_BUF);
		if (len < 0)
			return -errno;
		r = mnl_cb_run(s->buf, len, seq, s->portid, cb, data);
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

/* ---------------------------------------------------------------------------
 * What is there: read into a plan */

struct strv {
	char **v;
	size_t n, cap;
};

static int strv_push(struct strv *a, const char *s)
{
	char *d;

	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 16;
		char **v = realloc(a->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = ncap;
	}
	d = strdup(s);
	if (!d)
		return -ENOMEM;
	a->v[a->n++] = d;
	return 0;
}

static void strv_free(struct strv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* A rule of another chain that jumps or goes to a KUBE-* chain. */
struct jump {
	char *chain;
	char *target;
	uint64_t handle;
};

struct cl_table {
	uint8_t nfproto;
	const char *family, *name;
	bool whole;                /* delete the table (kube-proxy's own) */
	uint32_t chains, sets, maps; /* whole: what it holds */
	struct strv kube;          /* KUBE-* chains to flush and delete */
	struct jump *jumps;
	size_t n_jumps, cap_jumps;
};

struct plan {
	uint32_t genid;
	struct cl_table t[NFT_CLEANUP_MAX_TABLES];
	size_t n;
};

static void table_free(struct cl_table *t)
{
	strv_free(&t->kube);
	for (size_t j = 0; j < t->n_jumps; j++) {
		free(t->jumps[j].chain);
		free(t->jumps[j].target);
	}
	free(t->jumps);
	memset(t, 0, sizeof(*t));
}

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		table_free(&p->t[i]);
	memset(p, 0, sizeof(*p));
}

/* The tables of one family the cleanup looks at: kube-proxy's (slot 0),
 * then iptables-nft's. */
#define SLOT_KUBE_PROXY 0
#define N_SLOTS (1 + sizeof(ipt_tables) / sizeof(ipt_tables[0]))

struct family_scan {
	const char *names[N_SLOTS];
	bool want[N_SLOTS];        /* looked at in this run */
	bool exists[N_SLOTS];
	uint32_t chains[N_SLOTS];  /* kube-proxy's: how many it holds */
	struct strv kube[N_SLOTS], other[N_SLOTS]; /* iptables-nft's: by kind */
	int err;
};

static int slot_of(const struct family_scan *fs, const char *table)
{
	for (size_t i = 0; i < N_SLOTS; i++)
		if (fs->want[i] && strcmp(fs->names[i], table) == 0)
			return (int)i;
	return -1;
}

static void family_scan_free(struct family_scan *fs)
{
	for (size_t i = 0; i < N_SLOTS; i++) {
		strv_free(&fs->kube[i]);
		strv_free(&fs->other[i]);
	}
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct family_scan *fs = data;
	struct nftnl_table *t = nftnl_table_alloc();
	int slot;

	if (!t) {
		fs->err = -ENOMEM;
		return MNL_CB_ERROR;
	}
	if (nftnl_table_nlmsg_parse(nlh, t) == 0 &&
	    (slot = slot_of(fs, nftnl_table_get_str(t, NFTNL_TABLE_NAME))) >= 0)
		fs->exists[slot] = true;
	nftnl_table_free(t);
	return MNL_CB_OK;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct family_scan *fs = data;
	struct nftnl_chain *ch = nftnl_chain_alloc();
	const char *name;
	int slot;

	if (!ch) {
		fs->err = -ENOMEM;
		return MNL_CB_ERROR;
	}
	if (nftnl_chain_nlmsg_parse(nlh, ch) == 0 &&
	    (slot = slot_of(fs, nftnl_chain_get_str(ch, NFTNL_CHAIN_TABLE))) >= 0) {
		name = nftnl_chain_get_str(ch, NFTNL_CHAIN_NAME);
		fs->chains[slot]++;
		if (slot != SLOT_KUBE_PROXY)
			fs->err = strv_push(kube_chain(name) ? &fs->kube[slot] : &fs->other[slot],
					    name);
	}
	nftnl_chain_free(ch);
	return fs->err ? MNL_CB_ERROR : MNL_CB_OK;
}

struct sets_ctx {
	uint32_t sets, maps;
};

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct sets_ctx *c = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s) {
		errno = ENOMEM;
		return MNL_CB_ERROR;
	}
	/* Anonymous sets (`vmap { … }` in a rule) go with their rule and
	 * nobody named them: only named ones are counted. */
	if (nftnl_set_nlmsg_parse(nlh, s) == 0 &&
	    !(nftnl_set_get_u32(s, NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS)) {
		if (nftnl_set_get_u32(s, NFTNL_SET_FLAGS) & NFT_SET_MAP)
			c->maps++;
		else
			c->sets++;
	}
	nftnl_set_free(s);
	return MNL_CB_OK;
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();

	if (!g) {
		errno = ENOMEM;
		return MNL_CB_ERROR;
	}
	if (nftnl_gen_nlmsg_parse(nlh, g) == 0)
		*(uint32_t *)data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

struct rules_ctx {
	struct cl_table *t;
	const char *chain;
	int err;
};

/* immediate data: jump/goto KUBE-… (how iptables-nft writes -j/-g CHAIN) */
static int jump_expr_cb(struct nftnl_expr *e, void *data)
{
	const char **target = data;
	int32_t verdict;
	const char *chain;

	if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "immediate") != 0 ||
	    !nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT) ||
	    !nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN))
		return 0;
	verdict = (int32_t)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
	chain = nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN);
	/* Every KUBE-* chain of the table goes, so the name alone decides. */
	if ((verdict == NFT_JUMP || verdict == NFT_GOTO) && kube_chain(chain))
		*target = chain;
	return 0;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rules_ctx *c = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	const char *target = NULL;
	struct cl_table *t = c->t;

	if (!r) {
		c->err = -ENOMEM;
		return MNL_CB_ERROR;
	}
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0 ||
	    strcmp(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), c->chain) != 0)
		goto out;
	nftnl_expr_foreach(r, jump_expr_cb, &target);
	if (!target)
		goto out;
	if (t->n_jumps == t->cap_jumps) {
		size_t ncap = t->cap_jumps ? t->cap_jumps * 2 : 16;
		struct jump *j = realloc(t->jumps, ncap * sizeof(*j));

		if (!j) {
			c->err = -ENOMEM;
			goto out;
		}
		t->jumps = j;
		t->cap_jumps = ncap;
	}
	t->jumps[t->n_jumps] = (struct jump){
		.chain = strdup(c->chain),
		.target = strdup(target),
		.handle = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE),
	};
	if (!t->jumps[t->n_jumps].chain || !t->jumps[t->n_jumps].target) {
		free(t->jumps[t->n_jumps].chain);
		free(t->jumps[t->n_jumps].target);
		c->err = -ENOMEM;
		goto out;
	}
	t->n_jumps++;
out:
	nftnl_rule_free(r);
	return c->err ? MNL_CB_ERROR : MNL_CB_OK;
}

/* The jumps to KUBE-* chains in the other chains of an iptables-nft
 * table. Only those chains' rules matter (the KUBE-* ones are flushed
 * whole): one dump per chain, and there are few of them. */
static int read_jumps(struct cl_sock *s, struct cl_table *t, const struct strv *other)
{
	int r = 0;

	for (size_t i = 0; i < other->n && r >= 0; i++) {
		struct rules_ctx rc = { .t = t, .chain = other->v[i] };

		r = sock_query(s, NFT_MSG_GETRULE, t->nfproto, NLM_F_DUMP, NFTA_RULE_TABLE,
			       t->name, NFTA_RULE_CHAIN, other->v[i], rule_cb, &rc);
		if (rc.err)
			r = rc.err;
	}
	return r;
}

/* One family: which of the tables exist, then one dump of the family's
 * chains (a dump filtered by table still walks every chain of the family
 * in the kernel, so one dump costs what one per table would each). */
static int read_family(struct cl_sock *s, uint8_t nfproto, const char *family, bool iptables,
		       struct plan *p)
{
	struct family_scan fs = { .names = { "kube-proxy" }, .want = { true } };
	bool any = false;
	int r;

	for (size_t i = 1; i < N_SLOTS; i++) {
		fs.names[i] = ipt_tables[i - 1];
		fs.want[i] = iptables;
	}
	r = sock_query(s, NFT_MSG_GETTABLE, nfproto, NLM_F_DUMP, 0, NULL, 0, NULL, table_cb, &fs);
	if (r < 0 || fs.err < 0)
		goto out;
	for (size_t i = 0; i < N_SLOTS; i++)
		any |= fs.exists[i];
	if (!any)
		goto out;
	r = sock_query(s, NFT_MSG_GETCHAIN, nfproto, NLM_F_DUMP, 0, NULL, 0, NULL, chain_cb, &fs);
	if (r < 0 || fs.err < 0)
		goto out;
	for (size_t i = 0; i < N_SLOTS && r >= 0; i++) {
		struct cl_table t = { .nfproto = nfproto, .family = family, .name = fs.names[i] };

		if (!fs.exists[i])
			continue;
		if (i == SLOT_KUBE_PROXY) {
			struct sets_ctx sc = { 0 };

			r = sock_query(s, NFT_MSG_GETSET, nfproto, NLM_F_DUMP, NFTA_SET_TABLE,
				       t.name, 0, NULL, set_cb, &sc);
			t.whole = true;
			t.chains = fs.chains[i];
			t.sets = sc.sets;
			t.maps = sc.maps;
		} else if (fs.kube[i].n) {
			r = read_jumps(s, &t, &fs.other[i]);
			t.kube = fs.kube[i];  /* the plan takes them */
			fs.kube[i] = (struct strv){ 0 };
		} else {
			continue;      /* nothing of kube-proxy's in it */
		}
		if (r < 0) {
			table_free(&t);
			break;
		}
		p->t[p->n++] = t;
	}
out:
	family_scan_free(&fs);
	if (!r && fs.err)
		r = fs.err;
	if (r < 0 && r != -EINTR && r != -ENOENT)
		log_error_errno(r, "Could not list the %s tables", family);
	/* A table deleted while it was read is not there. */
	return r == -ENOENT ? -EINTR : r;
}

static int plan_read(struct cl_sock *s, bool iptables, struct plan *p)
{
	int r;

	/* First: the batch is refused if anything commits after this. */
	r = sock_query(s, NFT_MSG_GETGEN, NFPROTO_UNSPEC, 0, 0, NULL, 0, NULL, gen_cb, &p->genid);
	if (r < 0)
		return log_error_errno(r, "Could not read the nftables ruleset generation");
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]) && r >= 0; f++)
		r = read_family(s, families[f].nfproto, families[f].name, iptables, p);
	return r;
}

/* ---------------------------------------------------------------------------
 * The batch */

enum msg_kind { MSG_DEL_RULE, MSG_FLUSH_CHAIN, MSG_DEL_CHAIN, MSG_DEL_TABLE };

/* What each message of the batch does, to name the object of an error. */
struct msg_ref {
	enum msg_kind kind;
	const struct cl_table *t;
	const struct jump *jump;   /* MSG_DEL_RULE */
	const char *chain;         /* MSG_FLUSH_CHAIN, MSG_DEL_CHAIN */
};

struct batch {
	struct cl_sock *s;
	struct nftnl_batch *b;
	struct msg_ref *refs;
	size_t n_refs, cap_refs;
	uint32_t begin_seq, first_seq;
	size_t errors;
};

static int batch_msg(struct batch *c, const struct msg_ref *ref, uint16_t type,
		     struct nlmsghdr **nlh)
{
	if (c->n_refs == c->cap_refs) {
		size_t ncap = c->cap_refs ? c->cap_refs * 2 : 64;
		struct msg_ref *r = realloc(c->refs, ncap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		c->refs = r;
		c->cap_refs = ncap;
	}
	c->refs[c->n_refs++] = *ref;
	*nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(c->b), type, ref->t->nfproto, 0,
				     c->s->seq++);
	return 0;
}

/* DELRULE naming a handle deletes that rule; naming only the chain
 * flushes it. */
static int put_rule_del(struct batch *c, const struct msg_ref *ref)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;
	int ret;

	if (!r)
		return -ENOMEM;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, ref->t->nfproto);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, ref->t->name);
	if (ref->kind == MSG_DEL_RULE) {
		nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, ref->jump->chain);
		nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, ref->jump->handle);
	} else {
		nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, ref->chain);
	}
	ret = batch_msg(c, ref, NFT_MSG_DELRULE, &nlh);
	if (ret == 0) {
		nftnl_rule_nlmsg_build_payload(nlh, r);
		ret = nftnl_batch_update(c->b) < 0 ? -ENOMEM : 0;
	}
	nftnl_rule_free(r);
	return ret;
}

static int put_chain_del(struct batch *c, const struct msg_ref *ref)
{
	struct nftnl_chain *ch = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	int ret;

	if (!ch)
		return -ENOMEM;
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, ref->t->nfproto);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, ref->t->name);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, ref->chain);
	ret = batch_msg(c, ref, NFT_MSG_DELCHAIN, &nlh);
	if (ret == 0) {
		nftnl_chain_nlmsg_build_payload(nlh, ch);
		ret = nftnl_batch_update(c->b) < 0 ? -ENOMEM : 0;
	}
	nftnl_chain_free(ch);
	return ret;
}

static int put_table_del(struct batch *c, const struct msg_ref *ref)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int ret;

	if (!t)
		return -ENOMEM;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, ref->t->nfproto);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, ref->t->name);
	ret = batch_msg(c, ref, NFT_MSG_DELTABLE, &nlh);
	if (ret == 0) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		ret = nftnl_batch_update(c->b) < 0 ? -ENOMEM : 0;
	}
	nftnl_table_free(t);
	return ret;
}

/* Rules that jump first, so that flushing drops the KUBE-* chains' last
 * users and their deletion finds them unused; the whole tables last. */
static int batch_fill(struct batch *c, const struct plan *p)
{
	int r = 0;

	for (size_t i = 0; i < p->n && r >= 0; i++)
		for (size_t j = 0; j < p->t[i].n_jumps && r >= 0; j++)
			r = put_rule_del(c, &(struct msg_ref){ .kind = MSG_DEL_RULE, .t = &p->t[i],
							       .jump = &p->t[i].jumps[j] });
	for (size_t i = 0; i < p->n && r >= 0; i++)
		for (size_t j = 0; j < p->t[i].kube.n && r >= 0; j++)
			r = put_rule_del(c, &(struct msg_ref){ .kind = MSG_FLUSH_CHAIN,
							       .t = &p->t[i],
							       .chain = p->t[i].kube.v[j] });
	for (size_t i = 0; i < p->n && r >= 0; i++)
		for (size_t j = 0; j < p->t[i].kube.n && r >= 0; j++)
			r = put_chain_del(c, &(struct msg_ref){ .kind = MSG_DEL_CHAIN, .t = &p->t[i],
								.chain = p->t[i].kube.v[j] });
	for (size_t i = 0; i < p->n && r >= 0; i++)
		if (p->t[i].whole)
			r = put_table_del(c, &(struct msg_ref){ .kind = MSG_DEL_TABLE, .t = &p->t[i] });
	return r;
}

static void describe_ref(const struct msg_ref *ref, char *buf, size_t size)
{
	switch (ref->kind) {
	case MSG_DEL_RULE:
		snprintf(buf, size, "deleting rule %llu (jump to %s) of chain %s in table %s %s",
			 (unsigned long long)ref->jump->handle, ref->jump->target, ref->jump->chain,
			 ref->t->family, ref->t->name);
		return;
	case MSG_FLUSH_CHAIN:
		snprintf(buf, size, "flushing chain %s of table %s %s", ref->chain, ref->t->family,
			 ref->t->name);
		return;
	case MSG_DEL_CHAIN:
		snprintf(buf, size, "deleting chain %s of table %s %s", ref->chain, ref->t->family,
			 ref->t->name);
		return;
	case MSG_DEL_TABLE:
		snprintf(buf, size, "deleting table %s %s", ref->t->family, ref->t->name);
		return;
	}
	snprintf(buf, size, "?");
}

static void report_error(struct batch *c, const struct nlmsghdr *nlh, int err)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	uint32_t seq = e->msg.nlmsg_seq;
	const char *ext = NULL;
	char what[512];

	if (err == -ERESTART && seq == c->begin_seq)
		return;            /* the ruleset changed since it was read: retried */
	if (++c->errors > ERRORS_LOGGED)
		return;
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
	if (seq >= c->first_seq && seq - c->first_seq < c->n_refs)
		describe_ref(&c->refs[seq - c->first_seq], what, sizeof(what));
	else
		snprintf(what, sizeof(what), "the cleanup batch");
	log_error("kernel refused %s: %s%s%s%s; the whole cleanup was rolled back, nothing was "
		  "changed", what, strerror(-err), ext ? ": " : "", ext ? ext : "",
		  err == -EBUSY ? " (something else still refers to it: a rule or map the "
				  "cleanup does not know)" : "");
}

/* nfnetlink runs the batch inside sendmsg: every error is queued by the
 * time it returns, and none means the kernel committed it. */
static int batch_recv_errors(struct batch *c)
{
	int first = 0;

	for (;;) {
		ssize_t len = recv(mnl_socket_get_fd(c->s->nl), c->s->buf, RECV_BUF, MSG_DONTWAIT);
		const struct nlmsghdr *nlh;
		int rem;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK && !first)
				first = -errno;
			if (c->errors > ERRORS_LOGGED)
				log_error("kernel refused %zu more messages of the cleanup batch",
					  c->errors - ERRORS_LOGGED);
			return first;
		}
		rem = (int)len;
		for (nlh = (const struct nlmsghdr *)c->s->buf; mnl_nlmsg_ok(nlh, rem);
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

static int batch_send(struct batch *c)
{
	int iovlen = nftnl_batch_iovec_len(c->b);
	struct iovec *iov = calloc(iovlen, sizeof(*iov));
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr msg = { .msg_name = &snl, .msg_namelen = sizeof(snl) };
	int fd = mnl_socket_get_fd(c->s->nl), sz, rcv = 4 << 20;
	size_t total = 0;
	ssize_t r;

	if (!iov)
		return -ENOMEM;
	nftnl_batch_iovec(c->b, iov, iovlen);
	for (int i = 0; i < iovlen; i++)
		total += iov[i].iov_len;
	/* The batch is one skb: the send buffer must hold it, and the receive
	 * buffer the errors it may cause. Root may force both. */
	sz = total + 65536 > (size_t)INT32_MAX / 2 ? INT32_MAX / 2 : (int)(total + 65536);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	msg.msg_iov = iov;
	msg.msg_iovlen = iovlen;
	do
		r = sendmsg(fd, &msg, 0);
	while (r < 0 && errno == EINTR);
	free(iov);
	if (r < 0)
		return log_error_errno(-errno, "Could not send the cleanup batch (%zu bytes)", total);
	return batch_recv_errors(c);
}

static int plan_send(struct cl_sock *s, const struct plan *p)
{
	struct batch c = { .s = s };
	struct nlmsghdr *nlh;
	int r = -ENOMEM;

	c.b = nftnl_batch_alloc(BATCH_PAGE, BATCH_OVERRUN);
	if (!c.b)
		goto out;
	c.begin_seq = s->seq++;
	nlh = nftnl_batch_begin(nftnl_batch_buffer(c.b), c.begin_seq);
	/* Refused (ERESTART) unless the ruleset is still the one read. */
	mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(p->genid));
	if (nftnl_batch_update(c.b) < 0)
		goto out;
	c.first_seq = s->seq;
	r = batch_fill(&c, p);
	if (r < 0)
		goto out;
	nftnl_batch_end(nftnl_batch_buffer(c.b), s->seq++);
	if (nftnl_batch_update(c.b) < 0) {
		r = -ENOMEM;
		goto out;
	}
	r = batch_send(&c);
out:
	free(c.refs);
	if (c.b)
		nftnl_batch_free(c.b);
	return r;
}

static void plan_report(const struct plan *p, struct nft_cleanup_report *rep)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct cl_table *t = &p->t[i];

		rep->tables[rep->n_tables++] = (struct nft_cleanup_table){
			.family = t->family,
			.name = t->name,
			.whole = t->whole,
			.chains = t->whole ? t->chains : (uint32_t)t->kube.n,
			.sets = t->sets,
			.maps = t->maps,
			.rules = (uint32_t)t->n_jumps,
		};
	}
}

/* ---------------------------------------------------------------------------
 * iptables-legacy (x_tables): read only */

struct xt_family {
	const char *family;
	const char *names;         /* the tables of this netns, one a line */
	int af, level, opt_info, opt_entries;
	size_t entries_off;        /* where the entries start in *_get_entries */
	size_t target_off, next_off; /* of the u16 fields in *_entry */
};

static const struct xt_family xt_families[] = {
	{ "ip", "/proc/net/ip_tables_names", AF_INET, IPPROTO_IP, IPT_SO_GET_INFO,
	  IPT_SO_GET_ENTRIES, offsetof(struct ipt_get_entries, entrytable),
	  offsetof(struct ipt_entry, target_offset), offsetof(struct ipt_entry, next_offset) },
	{ "ip6", "/proc/net/ip6_tables_names", AF_INET6, IPPROTO_IPV6, IP6T_SO_GET_INFO,
	  IP6T_SO_GET_ENTRIES, offsetof(struct ip6t_get_entries, entrytable),
	  offsetof(struct ip6t_entry, target_offset), offsetof(struct ip6t_entry, next_offset) },
};

/* Both families' getinfo and get_entries headers are the same. */
_Static_assert(sizeof(struct ipt_getinfo) == sizeof(struct ip6t_getinfo), "getinfo layout");
_Static_assert(offsetof(struct ipt_get_entries, size) ==
	       offsetof(struct ip6t_get_entries, size), "get_entries layout");

static uint16_t get_u16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* KUBE-* user chains of one legacy table: a user chain starts with an
 * ERROR target whose data is its name. */
static int xt_count_kube(int fd, const struct xt_family *xf, const char *table, uint32_t *out)
{
	struct ipt_getinfo info;
	struct ipt_get_entries *ge = NULL;
	socklen_t len;
	uint32_t n = 0;
	int r = 0;

	for (int attempt = 0; attempt < XT_ATTEMPTS; attempt++) {
		const unsigned char *base;

		memset(&info, 0, sizeof(info));
		snprintf(info.name, sizeof(info.name), "%.*s", XT_TABLE_MAXNAMELEN - 1, table);
		len = sizeof(info);
		if (getsockopt(fd, xf->level, xf->opt_info, &info, &len) < 0)
			return -errno;
		free(ge);
		ge = calloc(1, xf->entries_off + info.size);
		if (!ge)
			return -ENOMEM;
		snprintf(ge->name, sizeof(ge->name), "%.*s", XT_TABLE_MAXNAMELEN - 1, table);
		ge->size = info.size;
		len = (socklen_t)(xf->entries_off + info.size);
		if (getsockopt(fd, xf->level, xf->opt_entries, ge, &len) < 0) {
			r = -errno;
			if (r == -EAGAIN)
				continue;  /* changed between the two calls */
			goto out;
		}
		r = 0;
		base = (const unsigned char *)ge + xf->entries_off;
		for (size_t off = 0; off + xf->next_off + 2 <= info.size;) {
			const unsigned char *e = base + off;
			uint16_t toff = get_u16(e + xf->target_off), next = get_u16(e + xf->next_off);
			const struct xt_error_target *et = (const void *)(e + toff);

			if (next == 0 || off + next > info.size)
				break;
			if ((size_t)toff + sizeof(*et) <= next &&
			    strncmp(et->target.u.user.name, XT_ERROR_TARGET,
				    sizeof(et->target.u.user.name)) == 0) {
				char name[XT_FUNCTION_MAXNAMELEN + 1];

				memcpy(name, et->errorname, XT_FUNCTION_MAXNAMELEN);
				name[XT_FUNCTION_MAXNAMELEN] = '\0';
				if (kube_chain(name))
					n++;
			}
			off += next;
		}
		*out = n;
		goto out;
	}
out:
	free(ge);
	return r;
}

/* Only tables that already exist in this netns are read: asking for
 * another would make the kernel instantiate it. */
static void legacy_scan(struct nft_cleanup_report *rep)
{
	for (size_t f = 0; f < sizeof(xt_families) / sizeof(xt_families[0]); f++) {
		const struct xt_family *xf = &xt_families[f];
		FILE *in = fopen(xf->names, "re");
		char line[64];
		int fd = -1;

		if (!in)
			continue;      /* no x_tables in this kernel */
		while (fgets(line, sizeof(line), in)) {
			uint32_t n = 0;
			int r;

			line[strcspn(line, "\n")] = '\0';
			if (!line[0] || strlen(line) >= XT_TABLE_MAXNAMELEN)
				continue;
			if (fd < 0) {
				fd = socket(xf->af, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
				if (fd < 0) {
					rep->legacy_error = -errno;
					break;
				}
			}
			r = xt_count_kube(fd, xf, line, &n);
			if (r < 0) {
				log_error_errno(r, "Could not read iptables-legacy table %s %s",
						xf->family, line);
				rep->legacy_error = r;
				continue;
			}
			if (n && rep->n_legacy < NFT_CLEANUP_MAX_LEGACY) {
				struct nft_cleanup_legacy *l = &rep->legacy[rep->n_legacy++];

				l->family = xf->family;
				snprintf(l->name, sizeof(l->name), "%.*s", XT_TABLE_MAXNAMELEN - 1, line);
				l->chains = n;
			}
		}
		if (fd >= 0)
			close(fd);
		fclose(in);
	}
}

/* ---------------------------------------------------------------------------
 * The entry points */

int nft_cleanup_kube_proxy(bool iptables, struct nft_cleanup_report *rep)
{
	struct nft_cleanup_report out = { 0 };
	struct cl_sock s = { 0 };
	unsigned pause_ms = RETRY_MS_FIRST;
	int r;

	for (int attempt = 1;; attempt++) {
		struct plan p = { 0 };

		/* A fresh socket each time: an interrupted dump leaves the rest
		 * of its messages queued on the old one. */
		r = sock_open(&s);
		if (r < 0)
			return r;
		r = plan_read(&s, iptables, &p);
		if (r == 0 && p.n)
			r = plan_send(&s, &p);
		if (r == 0)
			plan_report(&p, &out);
		plan_free(&p);
		sock_close(&s);
		/* EINTR: a dump saw the ruleset change; ERESTART: the batch was
		 * built from an older generation. Either way read it again. */
		if ((r == -EINTR || r == -ERESTART) && attempt < ATTEMPTS) {
			log_v(1, "the ruleset changed while kube-proxy's leftovers were read; "
			      "reading it again in %u ms (attempt %d of %d)", pause_ms, attempt + 1,
			      ATTEMPTS);
			nanosleep(&(struct timespec){ .tv_nsec = (long)pause_ms * 1000000L }, NULL);
			pause_ms = pause_ms * 2 > RETRY_MS_MAX ? RETRY_MS_MAX : pause_ms * 2;
			continue;
		}
		if (r == -EINTR || r == -ERESTART) {
			r = -EAGAIN;
			log_error("Could not clean up kube-proxy's rules: the ruleset changed while it "
				  "was read, %d times in a row (is kube-proxy still running?); nothing "
				  "was changed", ATTEMPTS);
		}
		break;
	}
	if (r < 0)
		return r;
	if (iptables)
		legacy_scan(&out);
	*rep = out;
	return 0;
}

void nft_cleanup_table_describe(const struct nft_cleanup_table *t, char *buf, size_t size)
{
	if (t->whole)
		snprintf(buf, size, "table %s %s (%u chain%s, %u set%s, %u map%s)", t->family,
			 t->name, t->chains, t->chains == 1 ? "" : "s", t->sets,
			 t->sets == 1 ? "" : "s", t->maps, t->maps == 1 ? "" : "s");
	else if (t->rules)
		snprintf(buf, size, "%u KUBE-* chain%s and %u rule%s jumping to them from table %s %s",
			 t->chains, t->chains == 1 ? "" : "s", t->rules, t->rules == 1 ? "" : "s",
			 t->family, t->name);
	else
		snprintf(buf, size, "%u KUBE-* chain%s from table %s %s", t->chains,
			 t->chains == 1 ? "" : "s", t->family, t->name);
}
