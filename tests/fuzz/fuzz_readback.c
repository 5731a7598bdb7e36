/* What the kernel answers to `nftproxyctl dump`, as any bytes: through the
 * same requests and parsing callbacks as nfr_read (nft/readback.c, by
 * nfr_read_from), into an nft_state, then nft_dump_from_state and both
 * output forms of nftproxyctl dump (table and JSON).
 *
 * Input: the kernel's answers in the order nfr_read asks (table, chains,
 * the rules of each chain, sets, the elements of each set), each one a
 * record: a 32-bit little-endian length, then that many bytes of netlink
 * messages as one recvfrom() returns them (a record that does not end in
 * NLMSG_DONE is followed by the next, as nfk_query receives again). Once
 * the input is spent every request gets an empty answer. readback_seed.c
 * records real ones (tests/fuzz/README.md).
 *
 * Checked: no crash or leak; the state is consistent (chains under their
 * names, LB slots claimed, element ids, targets and sets that exist); the
 * dump is sorted as nft/dump.h says and its types are the three it names;
 * both printers succeed and the JSON parses. */
#include "cmd/nftproxyctl/ctl.h"
#include "lib/kube/doc_json.h"
#include "nft/dump.h"
#include "nft/readback.h"
#include "nft/state.h"
#include "tests/fuzz/fuzz.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <sanitizer/allocator_interface.h>
#include <sanitizer/lsan_interface.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#define TABLE "nftproxy"

/* cmd/nftproxyctl/dump.c's ctl_dump calls these (main.c); it is not run. */
int ctl_usage_error(const char *sub, const char *msg)
{
	fuzz_fail(__FILE__, __LINE__, "ctl_usage_error called");
}

int ctl_table_name(const char *sub, const char *cluster, char *buf, size_t size)
{
	fuzz_fail(__FILE__, __LINE__, "ctl_table_name called");
}

struct answers {
	const uint8_t *p, *end;
	size_t requests;
};

/* libnftnl exit()s when an attribute has the wrong type or size ("nf_tables
 * kernel ABI is broken"), and 1.2 dereferences NULL or wild pointers for
 * some attributes that are missing or out of bounds (libmnl too, for a
 * message length of 2 GiB): the kernel never sends such messages, and
 * nftproxy would stop there, and so would the fuzzer. So each message is
 * parsed once more on its own first, under sigsetjmp with exit()
 * interposed and SIGSEGV/SIGBUS caught: if libnftnl gives up on it, the
 * answer ends in an error (-EPROTO) there, before the callback of
 * readback.c sees it. LSan is off during that parse (what an aborted parse
 * held cannot be freed); the object itself is freed. */
static sigjmp_buf probe_jmp;
static volatile sig_atomic_t probing;
static struct sigaction old_segv, old_bus;

typedef void exit_fn(int) __attribute__((noreturn));

void exit(int status)
{
	static exit_fn *real_exit;

	if (probing) {
		probing = 0;
		siglongjmp(probe_jmp, 1);
	}
	if (!real_exit)
		real_exit = (exit_fn *)dlsym(RTLD_NEXT, "exit");
	real_exit(status);
}

static void on_fault(int sig, siginfo_t *info, void *ctx)
{
	const struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;

	if (probing) {
		probing = 0;
		siglongjmp(probe_jmp, 1);
	}
	/* Not in libnftnl: ASan's report, as without this handler. */
	if (old->sa_flags & SA_SIGINFO)
		old->sa_sigaction(sig, info, ctx);
	else if (old->sa_handler != SIG_IGN && old->sa_handler != SIG_DFL)
		old->sa_handler(sig);
	else
		abort();
}

static void catch_faults(void)
{
	struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	FUZZ_CHECK(sigaction(SIGSEGV, &sa, &old_segv) == 0 && sigaction(SIGBUS, &sa, &old_bus) == 0,
		   "sigaction");
}

/* libnftnl 1.2 also dereferences NULL for an expression without a name
 * (nftnl_expr_parse: mnl_attr_get_str(tb[NFTA_EXPR_NAME])). The kernel
 * always names them; such input is refused here, as a wrong type is. */
static bool expr_named(const struct nlattr *expr)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, expr)
		if (mnl_attr_get_type(a) == NFTA_EXPR_NAME)
			return mnl_attr_validate(a, MNL_TYPE_STRING) == 0;
	return false;
}

static bool exprs_named(const struct nlattr *list)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, list)
		if (mnl_attr_get_type(a) == NFTA_LIST_ELEM && !expr_named(a))
			return false;
	return true;
}

/* And an element's data: one that holds neither a value nor a verdict
 * (here, a verdict longer than the data around it) is flagged with a data
 * type that was not parsed, the chain of the element before it in the
 * case found, and nftnl_set_elem_get(NFTNL_SET_ELEM_CHAIN) then strlen()s
 * NULL; so does a jump or goto verdict without a chain name. The kernel
 * sends neither. */
static bool elem_data_ok(const struct nlattr *data)
{
	const struct nlattr *v, *a;
	bool any = false;

	mnl_attr_for_each_nested(v, data) {
		bool jump = false, chain = false;

		if (mnl_attr_get_type(v) == NFTA_DATA_VALUE)
			any = true;
		if (mnl_attr_get_type(v) != NFTA_DATA_VERDICT)
			continue;
		any = true;
		mnl_attr_for_each_nested(a, v) {
			if (mnl_attr_get_type(a) == NFTA_VERDICT_CHAIN)
				chain = true;
			else if (mnl_attr_get_type(a) == NFTA_VERDICT_CODE &&
				 mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
				int32_t code = (int32_t)ntohl(mnl_attr_get_u32(a));

				jump = code == NFT_JUMP || code == NFT_GOTO;
			}
		}
		if (jump && !chain)
			return false;
	}
	return any;
}

/* libnftnl 1.2's element callback (nftnl_set_elem_parse_attr_cb) checks an
 * attribute's type against NFTA_SET_MAX, not NFTA_SET_ELEM_MAX, and stores
 * it in a table of NFTA_SET_ELEM_MAX + 1 on the stack: an element
 * attribute numbered above NFTA_SET_ELEM_MAX writes past it, over saved
 * registers (found as a wild pointer in elem_cb after the call). */
static bool elems_named(const struct nlattr *elems)
{
	const struct nlattr *e, *a;

	mnl_attr_for_each_nested(e, elems)
		mnl_attr_for_each_nested(a, e) {
			if (mnl_attr_get_type(a) > NFTA_SET_ELEM_MAX)
				return false;
			if (mnl_attr_get_type(a) == NFTA_SET_ELEM_EXPR && !expr_named(a))
				return false;
			if (mnl_attr_get_type(a) == NFTA_SET_ELEM_EXPRESSIONS && !exprs_named(a))
				return false;
			if (mnl_attr_get_type(a) == NFTA_SET_ELEM_DATA && !elem_data_ok(a))
				return false;
		}
	return true;
}

static bool names_ok(uint16_t msg_type, const struct nlmsghdr *nlh)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		uint16_t t = mnl_attr_get_type(a);

		if (msg_type == NFT_MSG_GETRULE && t == NFTA_RULE_EXPRESSIONS && !exprs_named(a))
			return false;
		if (msg_type == NFT_MSG_GETSET && t == NFTA_SET_EXPR && !expr_named(a))
			return false;
		if (msg_type == NFT_MSG_GETSET && t == NFTA_SET_EXPRESSIONS && !exprs_named(a))
			return false;
		if (msg_type == NFT_MSG_GETSETELEM && t == NFTA_SET_ELEM_LIST_ELEMENTS &&
		    !elems_named(a))
			return false;
	}
	return true;
}

/* Whether libnftnl parses nlh, an answer to msg_type, without exiting. */
static bool nftnl_takes(uint16_t msg_type, const struct nlmsghdr *nlh)
{
	volatile bool ok = false;
	void *volatile obj = NULL;
	size_t before;

	if (!names_ok(msg_type, nlh))
		return false;
	before = __sanitizer_get_current_allocated_bytes();
	__lsan_disable();
	if (sigsetjmp(probe_jmp, 1) == 0) {
		probing = 1;
		switch (msg_type) {
		case NFT_MSG_GETTABLE:
			obj = nftnl_table_alloc();
			nftnl_table_nlmsg_parse(nlh, obj);
			break;
		case NFT_MSG_GETCHAIN:
			obj = nftnl_chain_alloc();
			nftnl_chain_nlmsg_parse(nlh, obj);
			break;
		case NFT_MSG_GETRULE:
			obj = nftnl_rule_alloc();
			nftnl_rule_nlmsg_parse(nlh, obj);
			break;
		case NFT_MSG_GETSET:
			obj = nftnl_set_alloc();
			nftnl_set_nlmsg_parse(nlh, obj);
			break;
		case NFT_MSG_GETSETELEM:
			obj = nftnl_set_alloc();
			nftnl_set_elems_nlmsg_parse(nlh, obj);
			break;
		}
		ok = true;
	}
	probing = 0;
	__lsan_enable();
	switch (msg_type) {
	case NFT_MSG_GETTABLE:
		nftnl_table_free(obj);
		break;
	case NFT_MSG_GETCHAIN:
		nftnl_chain_free(obj);
		break;
	case NFT_MSG_GETRULE:
		nftnl_rule_free(obj);
		break;
	default:
		nftnl_set_free(obj);
		break;
	}
	/* What libnftnl allocated for the object and did not free with it: a
	 * string it keeps where its free function does not look, such as the
	 * chain of a verdict inside an element's key (the kernel sends values
	 * there). The message would leak in readback.c too. */
	return ok && __sanitizer_get_current_allocated_bytes() == before;
}

struct probe_cb {
	uint16_t msg_type;
	int (*cb)(const struct nlmsghdr *nlh, void *data);
	void *data;
};

static int probe_then_cb(const struct nlmsghdr *nlh, void *data)
{
	struct probe_cb *p = data;

	if (!nftnl_takes(p->msg_type, nlh)) {
		errno = EPROTO;
		return MNL_CB_ERROR;
	}
	return p->cb(nlh, p->data);
}

/* The next record, copied so that it is aligned and ends where ASan sees
 * it end, but for one NUL byte: libnftnl strdup()s string attributes that
 * the kernel always terminates, and nfk_query's receive buffer is larger
 * than any answer, so a string at the very end runs into that byte there,
 * not off the buffer. NULL when the input is spent. */
static uint8_t *next_record(struct answers *a, size_t *len)
{
	uint32_t n;
	uint8_t *buf;

	if (a->end - a->p < 4)
		return NULL;
	n = (uint32_t)a->p[0] | (uint32_t)a->p[1] << 8 | (uint32_t)a->p[2] << 16 |
	    (uint32_t)a->p[3] << 24;
	a->p += 4;
	if (n > (size_t)(a->end - a->p))
		n = (uint32_t)(a->end - a->p);
	buf = malloc(n + 1);
	FUZZ_CHECK(buf, "out of memory");
	memcpy(buf, a->p, n);
	buf[n] = '\0';
	a->p += n;
	*len = n;
	return buf;
}

/* libmnl 1.0 casts nlmsg_len to int, so a length of 2 GiB or more passes
 * mnl_nlmsg_ok and sends mnl_nlmsg_next anywhere. No datagram the kernel
 * sends is that long: the record ends before such a message. */
static size_t sane_length(const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (len - off >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *h = (const void *)(buf + off);

		if (h->nlmsg_len >= 0x80000000u)
			return off;
		if (h->nlmsg_len < sizeof(*h) || NLMSG_ALIGN(h->nlmsg_len) > len - off)
			break;
		off += NLMSG_ALIGN(h->nlmsg_len);
	}
	return len;
}

/* nfk_query's loop (nft/netlink.c) with the records for recvfrom. */
static int replay(void *src, uint16_t msg_type, void (*build)(struct nlmsghdr *, void *),
		  void *arg, int (*cb)(const struct nlmsghdr *, void *), void *data)
{
	struct answers *a = src;
	struct probe_cb p = { msg_type, cb, data };
	char req[65536] __attribute__((aligned(8))) = { 0 };
	struct nlmsghdr *nlh;

	FUZZ_CHECK(msg_type == NFT_MSG_GETTABLE || msg_type == NFT_MSG_GETCHAIN ||
			   msg_type == NFT_MSG_GETRULE || msg_type == NFT_MSG_GETSET ||
			   msg_type == NFT_MSG_GETSETELEM,
		   "request %u", msg_type);
	a->requests++;
	/* The request as nfk_query builds it: the filters must run on what
	 * was read back before (chain and set names). */
	nlh = nftnl_nlmsg_build_hdr(req, msg_type, NFPROTO_INET, NLM_F_DUMP | NLM_F_ACK, 1);
	if (build)
		build(nlh, arg);
	for (;;) {
		size_t len;
		uint8_t *buf = next_record(a, &len);
		int r;

		if (!buf)
			return 0;
		len = sane_length(buf, len);
		/* seq and portid 0: libmnl then checks neither. */
		r = mnl_cb_run(buf, len, 0, 0, probe_then_cb, &p);
		free(buf);
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static void check_state(const struct nft_state *s)
{
	char id[NFT_ELEM_ID_MAX];
	const char *key;
	size_t it = 0;
	void *v;

	while (hmap_next(&s->chains, &it, &key, &v)) {
		const struct nft_ap_chain *c = v;

		FUZZ_CHECK(c->name && strcmp(key, c->name) == 0, "chain %s under key %s", c->name,
			   key);
		FUZZ_CHECK(!c->has_lb || nft_lb_has(&s->lb, c->name), "chain %s: LB slot not "
			   "claimed", c->name);
		FUZZ_CHECK(!c->lb_n || (c->lb_eps && c->lb_dlen), "chain %s: %u endpoints of %u "
			   "bytes", c->name, c->lb_n, c->lb_dlen);
	}
	for (it = 0; hmap_next(&s->elems, &it, &key, &v);) {
		const struct nft_ap_elem *e = v;

		nft_elem_id(id, e->set, e->key, e->key_len);
		FUZZ_CHECK(strcmp(id, key) == 0, "element %s under key %s", id, key);
		FUZZ_CHECK(!e->target || hmap_get(&s->chains, e->target->name) == e->target,
			   "element %s goes to a chain not in the state", key);
		FUZZ_CHECK(nft_state_has_set(s, e->set), "element %s of a set not read", key);
	}
}

static void check_dump(const struct nft_dump *d)
{
	FUZZ_CHECK(d->table && strcmp(d->table, TABLE) == 0, "table");
	for (size_t i = 0; i < d->n_svcs; i++) {
		const struct nft_dump_service *s = &d->svcs[i];

		FUZZ_CHECK(s->ns && s->name && s->port_name, "service %zu: a NULL name", i);
		FUZZ_CHECK(s->family == AF_INET || s->family == AF_INET6, "family %d", s->family);
		FUZZ_CHECK(s->ip.family == s->family, "cluster IP of family %d", s->ip.family);
		FUZZ_CHECK(s->type && (!strcmp(s->type, "ClusterIP") || !strcmp(s->type, "NodePort") ||
				       !strcmp(s->type, "LoadBalancer")),
			   "type %s", s->type ? s->type : "(null)");
		FUZZ_CHECK(!s->n_eps || s->eps, "endpoints");
		for (size_t k = 1; k < s->n_eps; k++) {
			int c = ip_addr_cmp(&s->eps[k - 1].ip, &s->eps[k].ip);

			FUZZ_CHECK(c < 0 || (c == 0 && s->eps[k - 1].port <= s->eps[k].port),
				   "endpoints of %s/%s not sorted at %zu", s->ns, s->name, k);
		}
		if (i) {
			const struct nft_dump_service *p = &d->svcs[i - 1];
			int c = strcmp(p->ns, s->ns);

			if (!c)
				c = strcmp(p->name, s->name);
			if (!c)
				c = strcmp(p->port_name, s->port_name);
			FUZZ_CHECK(c < 0 || (c == 0 && (p->proto < s->proto ||
						       (p->proto == s->proto &&
							p->family <= s->family))),
				   "services not sorted at %zu", i);
		}
	}
}

static int count_doc(struct doc *root, void *data)
{
	(*(size_t *)data)++;
	doc_free(root);
	return 0;
}

static void print_dump(const struct nft_dump *d)
{
	char *text = NULL, msg[256] = "";
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&text, &len);

	FUZZ_CHECK(f, "open_memstream");
	FUZZ_CHECK(ctl_dump_table(d, f) == 0, "ctl_dump_table");
	FUZZ_CHECK(fclose(f) == 0, "fclose");
	/* FUZZ_PRINT=1: shows what a seed holds (both forms). */
	if (getenv("FUZZ_PRINT"))
		fprintf(stdout, "%s", text);
	free(text);
	text = NULL;
	f = open_memstream(&text, &len);
	FUZZ_CHECK(f, "open_memstream");
	FUZZ_CHECK(ctl_dump_json(d, f) == 0, "ctl_dump_json");
	FUZZ_CHECK(fclose(f) == 0, "fclose");
	FUZZ_CHECK(doc_json_parse(text, len, count_doc, &n, msg, sizeof(msg)) == 0 && n == 1,
		   "the JSON dump does not parse: %s", msg);
	if (getenv("FUZZ_PRINT"))
		fprintf(stdout, "%s", text);
	free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	catch_faults();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct answers a = { .p = data, .end = data + size };
	struct nft_state *s;
	struct nft_dump *d = NULL;
	int r;

	FUZZ_CHECK(nft_state_new(&s) == 0, "nft_state_new");
	r = nfr_read_from(replay, &a, TABLE, s);
	if (r == 0) {
		check_state(s);
		r = nft_dump_from_state(TABLE, s, &d);
		FUZZ_CHECK(r == 0 || (r == -ENOENT && !s->table_exists), "nft_dump_from_state: %d",
			   r);
		if (d) {
			check_dump(d);
			print_dump(d);
			nft_dump_free(d);
		}
	}
	nft_state_free(s);
	return 0;
}
