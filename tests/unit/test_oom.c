/* Out of memory on our allocation paths: each operation is run again and
 * again with its 1st, 2nd, 3rd, ... allocation failing (tests/unit/
 * failalloc.h), until a run completes without meeting an injected failure;
 * then the same with every allocation failing from the nth on. Each
 * failing run must return the operation's documented error (-ENOMEM, or
 * NULL), leave the objects it was given as they were, and free what it
 * allocated: the test runs under ASan/LeakSanitizer and valgrind
 * (meson test --setup valgrind), which fail it on any leak.
 *
 * Only our code's allocations fail: yajl, libyaml, libnftnl, libcurl and
 * libuv allocate through the real malloc (see failalloc.h); libnftnl's
 * constructors (nftnl_rule_alloc, ...) fail too, as nft/build.c sees them.
 *
 * OOM_ONLY=text walks only the operations whose name contains text;
 * OOM_DUMP=1 prints the applied state when a failed plan changed it; in
 * gdb, `break failalloc_trap if n == N` stops at the Nth allocation. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <uv.h>

#include "lib/config/kpconfig.h"
#include "lib/kube/decode.h"
#include "lib/kube/doc_json.h"
#include "lib/kube/doc_yaml.h"
#include "lib/kube/kubeconfig.h"
#include "lib/kube/reflector.h"
#include "lib/model/categorize.h"
#include "lib/model/store.h"
#include "lib/source/source.h"
#include "lib/util/hash.h"
#include "nft/build.h"
#include "nft/compile.h"
#include "nft/diff.h"
#include "nft/state.h"
#include "tests/common/gen.h"
#include "tests/unit/check.h"
#include "tests/unit/failalloc.h"

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

/* ---- the walk ---- */

/* One operation. setup builds what run works on (nothing fails then);
 * run is the operation, with failures injected, and returns 0 (any r >= 0
 * with ok_positive) on success, its error otherwise; check looks at the
 * fixture after run, failed telling whether an injected failure was met. */
struct oom_op {
	const char *name;
	void *(*setup)(void);
	int (*run)(void *fx);
	void (*check)(void *fx, int r, bool failed);
	void (*teardown)(void *fx);
	int err;                   /* what a failing run returns: -ENOMEM unless set */
	bool ok_positive;          /* success is any r >= 0 (a count) */
	/* The operation retries a failed step by itself (the reflector's
	 * backoff): a run that met a failure may succeed; check decides. */
	bool may_absorb;
};

/* Runs between arming and disarming print nothing: the library logs a
 * warning for many failures, thousands of times over. Only the FILE is
 * swapped: sanitizer and valgrind reports go to fd 2 and stay visible. */
static FILE *devnull, *real_stderr;

static void quiet(bool on)
{
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (!real_stderr)
		real_stderr = stderr;
	stderr = on && devnull ? devnull : real_stderr;
}

static bool ok_return(const struct oom_op *op, int r)
{
	return op->ok_positive ? r >= 0 : r == 0;
}

enum walk_mode { WALK_NTH, WALK_AFTER };

static long n_absorbed;             /* failing runs of the walk that recovered */

/* Returns the number of allocations of a clean run. */
static long walk_mode(const struct oom_op *op, enum walk_mode mode)
{
	int want = op->err ? op->err : -ENOMEM;

	for (long n = 1; n < 1000000; n++) {
		void *fx = op->setup ? op->setup() : NULL;
		long seen, failed;
		int r;

		quiet(true);
		if (mode == WALK_NTH)
			failalloc_fail_nth(n);
		else
			failalloc_fail_after(n - 1);
		r = op->run(fx);
		failalloc_off();
		quiet(false);
		seen = failalloc_seen();
		failed = failalloc_failed();
		if (failed && r != want && !(op->may_absorb && ok_return(op, r))) {
			fprintf(stderr, "%s: with allocation %ld %s failing: returned %d, expected %d\n",
				op->name, n, mode == WALK_NTH ? "alone" : "and all later ones", r, want);
			exit(1);
		}
		if (failed && r != want) {
			n_absorbed++;
			if (getenv("OOM_DUMP"))
				fprintf(stderr, "%s: allocation %ld %s failing: recovered\n", op->name,
					n, mode == WALK_NTH ? "alone" : "and all later ones");
		}
		if (!failed && !ok_return(op, r)) {
			fprintf(stderr, "%s: a run without failure (%ld allocations) returned %d\n",
				op->name, seen, r);
			exit(1);
		}
		if (op->check)
			op->check(fx, r, failed > 0);
		if (op->teardown)
			op->teardown(fx);
		if (!failed)
			return seen;
	}
	fprintf(stderr, "%s: does not converge\n", op->name);
	exit(1);
}

static size_t n_ops_walked;
static long n_points;

static void walk(const struct oom_op *op)
{
	const char *only = getenv("OOM_ONLY");
	long a, b;

	/* OOM_ONLY=substring: walk only the operations whose name has it. */
	if (only && !strstr(op->name, only))
		return;
	n_absorbed = 0;
	a = walk_mode(op, WALK_NTH);
	b = walk_mode(op, WALK_AFTER);
	fprintf(stderr, "oom: %-44s %5ld allocations; of %ld failing runs %ld returned %d",
		op->name, a, a + b, a + b - n_absorbed, op->err ? op->err : -ENOMEM);
	if (n_absorbed)
		fprintf(stderr, ", %ld recovered by themselves", n_absorbed);
	fprintf(stderr, "\n");
	CHECK(a > 0);
	n_ops_walked++;
	n_points += a + b;
}

/* ---- fixtures ---- */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	CHECK(f != NULL);
	CHECK(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	CHECK(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	CHECK(buf != NULL);
	CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* ---- 1. decoding ---- */

static const char node_yaml[] =
	"apiVersion: v1\nkind: Node\nmetadata: {name: node-1, labels: {"
	"topology.kubernetes.io/zone: zone-a, kubernetes.io/hostname: node-1}}\n"
	"spec: {podCIDRs: [10.244.1.0/24, 'fd00:10:244:1::/64']}\n"
	"status: {addresses: [{type: InternalIP, address: 192.0.2.1},"
	" {type: InternalIP, address: '2001:db8::1'}, {type: Hostname, address: node-1}]}\n"
	"---\napiVersion: v1\nkind: Node\nmetadata: {name: node-2}\n"
	"spec: {podCIDRs: [nope]}\n";

static const char node_json[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-1\","
	"\"labels\":{\"topology.kubernetes.io/zone\":\"zone-a\"}},"
	"\"spec\":{\"podCIDRs\":[\"10.244.1.0/24\"]},"
	"\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.0.2.1\"}]}}";

/* A rejected object: its record (ns, name, message) is allocated too. */
static const char bad_yaml[] =
	"apiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: shop}\n"
	"spec: {clusterIP: 10.96.0.1, ports: [{port: 70000}]}\n"
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n";

struct dec_fx {
	const char *buf;
	size_t len;
	unsigned flags;
	struct kdec_result res;
	/* What a run without failures gives. */
	size_t want_objects, want_rejected, want_ignored;
};

static struct dec_fx dec_cur;

static void *dec_setup(void)
{
	memset(&dec_cur.res, 0, sizeof(dec_cur.res));
	return &dec_cur;
}

static int dec_run(void *p)
{
	struct dec_fx *fx = p;
	char err[KDEC_ERR_MAX];

	return kdec_parse_buffer_flags(fx->buf, fx->len, "oom", fx->flags, &fx->res, err,
				       sizeof(err));
}

static void dec_check(void *p, int r, bool failed)
{
	struct dec_fx *fx = p;

	if (failed) {
		/* Nothing in *out: it was not written. */
		CHECK(fx->res.objects == NULL && fx->res.n_objects == 0);
		CHECK(fx->res.rejected == NULL && fx->res.n_rejected == 0);
		return;
	}
	CHECK_INT(fx->res.n_objects, fx->want_objects);
	CHECK_INT(fx->res.n_rejected, fx->want_rejected);
	CHECK_INT(fx->res.n_ignored, fx->want_ignored);
	for (size_t i = 0; i < fx->res.n_objects; i++)
		CHECK(fx->res.objects[i].desc != NULL);
	for (size_t i = 0; i < fx->res.n_rejected; i++)
		CHECK(fx->res.rejected[i].error != NULL);
}

static void dec_teardown(void *p)
{
	kdec_result_fini(&((struct dec_fx *)p)->res);
}

static void walk_decode(const char *name, const char *buf, size_t len, unsigned flags)
{
	struct oom_op op = { name, dec_setup, dec_run, dec_check, dec_teardown, 0, false, false };
	char err[KDEC_ERR_MAX];

	dec_cur = (struct dec_fx){ .buf = buf, .len = len, .flags = flags };
	CHECK_INT(kdec_parse_buffer_flags(buf, len, "oom", flags, &dec_cur.res, err, sizeof(err)),
		  0);
	dec_cur.want_objects = dec_cur.res.n_objects;
	dec_cur.want_rejected = dec_cur.res.n_rejected;
	dec_cur.want_ignored = dec_cur.res.n_ignored;
	CHECK(dec_cur.want_objects + dec_cur.want_rejected > 0);
	kdec_result_fini(&dec_cur.res);
	walk(&op);
}

static void walk_decode_file(const char *path, unsigned flags)
{
	char name[128];
	size_t len;
	char *buf = read_file(path, &len);

	snprintf(name, sizeof(name), "decode %s", strrchr(path, '/') + 1);
	walk_decode(name, buf, len, flags);
	free(buf);
}

static void test_decode(void)
{
	static const char *files[] = {
		"data/service-full.json", "data/service-full.yaml", "data/slice-full.json",
		"data/slice-full.yaml",   "data/list.json",         "data/list.yaml",
		"data/multi.yaml",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		walk_decode_file(files[i], 0);
	walk_decode("decode node yaml", node_yaml, strlen(node_yaml), KDEC_PARSE_NODES);
	walk_decode("decode node json", node_json, strlen(node_json), KDEC_PARSE_NODES);
	walk_decode("decode rejected object", bad_yaml, strlen(bad_yaml), 0);
}

/* The document trees alone. */
struct docs_fx {
	const char *buf;
	size_t len;
	bool json;
	struct doc *docs[16];
	size_t n;
};

static struct docs_fx docs_cur;

static int docs_cb(struct doc *root, void *data)
{
	struct docs_fx *fx = data;

	CHECK(fx->n < 16);
	fx->docs[fx->n++] = root;
	return 0;
}

static void *docs_setup(void)
{
	docs_cur.n = 0;
	return &docs_cur;
}

static int docs_run(void *p)
{
	struct docs_fx *fx = p;
	char err[256];

	if (fx->json)
		return doc_json_parse(fx->buf, fx->len, docs_cb, fx, err, sizeof(err));
	return doc_yaml_parse(fx->buf, fx->len, docs_cb, fx, err, sizeof(err));
}

static void docs_check(void *p, int r, bool failed)
{
	struct docs_fx *fx = p;

	if (!failed)
		CHECK(fx->n > 0 && fx->docs[0]->type == DOC_MAP);
	for (size_t i = 0; i < fx->n; i++)
		CHECK(fx->docs[i] != NULL);
}

static void docs_teardown(void *p)
{
	struct docs_fx *fx = p;

	for (size_t i = 0; i < fx->n; i++)
		doc_free(fx->docs[i]);
	fx->n = 0;
}

/* The streaming JSON parser fed byte by byte, as a watch stream may come. */
static int docs_run_chunks(void *p)
{
	struct docs_fx *fx = p;
	struct doc_json *j;
	int r;

	r = doc_json_new(docs_cb, fx, &j);
	if (r < 0)
		return r;
	for (size_t i = 0; i < fx->len && r >= 0; i += 7)
		r = doc_json_feed(j, fx->buf + i, fx->len - i < 7 ? fx->len - i : 7);
	if (r >= 0)
		r = doc_json_finish(j);
	doc_json_free(j);
	return r;
}

static void test_doc(void)
{
	struct oom_op json = { "doc_json_parse list.json", docs_setup, docs_run, docs_check,
			       docs_teardown, 0, false, false };
	struct oom_op chunks = { "doc_json_feed list.json in chunks", docs_setup, docs_run_chunks,
				 docs_check, docs_teardown, 0, false, false };
	struct oom_op yaml = { "doc_yaml_parse multi.yaml", docs_setup, docs_run, docs_check,
			       docs_teardown, 0, false, false };
	size_t len;
	char *buf = read_file("data/list.json", &len);

	docs_cur = (struct docs_fx){ .buf = buf, .len = len, .json = true };
	walk(&json);
	walk(&chunks);
	free(buf);
	buf = read_file("data/multi.yaml", &len);
	docs_cur = (struct docs_fx){ .buf = buf, .len = len, .json = false };
	walk(&yaml);
	free(buf);
}

/* ---- 2. kubeconfig and KubeProxyConfiguration ---- */

struct kcfg_fx {
	const char *path;
	const char *master;
	const char *sa_dir;        /* kcfg_in_cluster */
	struct kcfg *c;
	int expect;                /* what a clean run returns */
};

static struct kcfg_fx kcfg_cur;

static void *kcfg_setup(void)
{
	kcfg_cur.c = (struct kcfg *)&kcfg_cur; /* a poison: written only on success */
	return &kcfg_cur;
}

static int kcfg_run(void *p)
{
	struct kcfg_fx *fx = p;
	char err[KCFG_ERR_MAX];

	if (fx->sa_dir)
		return kcfg_in_cluster(fx->sa_dir, &fx->c, err, sizeof(err));
	if (fx->master)
		return kcfg_resolve(fx->path, fx->master, NULL, &fx->c, err, sizeof(err));
	return kcfg_load_file(fx->path, &fx->c, err, sizeof(err));
}

static void kcfg_check(void *p, int r, bool failed)
{
	struct kcfg_fx *fx = p;

	if (failed || r < 0) {
		CHECK(fx->c == (struct kcfg *)fx);
		fx->c = NULL;
		return;
	}
	CHECK(fx->c && fx->c->server && fx->c->origin);
	/* The token (read from its file when there is one) goes through
	 * kcfg_token, which allocates too. */
	quiet(true);
	failalloc_fail_nth(1);
	(void)kcfg_token(fx->c, true);
	failalloc_off();
	quiet(false);
}

static void kcfg_teardown(void *p)
{
	struct kcfg_fx *fx = p;

	kcfg_free(fx->c);
	fx->c = NULL;
}

static void test_kubeconfig(void)
{
	static const char *files[] = {
		"data/kubeconfig/data.yaml",  "data/kubeconfig/files.yaml",
		"data/kubeconfig/token.yaml", "data/kubeconfig/contexts.yaml",
	};
	char name[128];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct oom_op op = { name, kcfg_setup, kcfg_run, kcfg_check, kcfg_teardown, 0, false, false };
		char err[KCFG_ERR_MAX];
		struct kcfg *c;

		/* Only files that load cleanly are walked. */
		if (kcfg_load_file(files[i], &c, err, sizeof(err)) < 0) {
			fprintf(stderr, "oom: skipping %s: %s\n", files[i], err);
			continue;
		}
		kcfg_free(c);
		snprintf(name, sizeof(name), "kcfg_load_file %s", strrchr(files[i], '/') + 1);
		kcfg_cur = (struct kcfg_fx){ .path = files[i] };
		walk(&op);
	}
	{
		struct oom_op op = { "kcfg_resolve token.yaml --master", kcfg_setup, kcfg_run,
				     kcfg_check, kcfg_teardown, 0, false, false };

		kcfg_cur = (struct kcfg_fx){ .path = "data/kubeconfig/token.yaml",
					     .master = "https://192.0.2.1:443/" };
		walk(&op);
	}
	{
		struct oom_op op = { "kcfg_resolve --master only", kcfg_setup, kcfg_run, kcfg_check,
				     kcfg_teardown, 0, false, false };

		kcfg_cur = (struct kcfg_fx){ .path = NULL, .master = "https://[2001:db8::1]:6443" };
		walk(&op);
	}
	{
		/* The service account: the token is read at once. */
		struct oom_op op = { "kcfg_in_cluster", kcfg_setup, kcfg_run, kcfg_check,
				     kcfg_teardown, 0, false, false };
		char sa[] = "/tmp/nftp-oom-sa-XXXXXX", path[64];
		FILE *f;

		CHECK(mkdtemp(sa) != NULL);
		snprintf(path, sizeof(path), "%s/token", sa);
		CHECK((f = fopen(path, "w")) != NULL);
		CHECK(fputs("eyJhbGciOi.token\n", f) >= 0);
		CHECK(fclose(f) == 0);
		snprintf(path, sizeof(path), "%s/ca.crt", sa);
		CHECK((f = fopen(path, "w")) != NULL);
		CHECK(fputs("-----BEGIN CERTIFICATE-----\n", f) >= 0);
		CHECK(fclose(f) == 0);
		setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
		setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
		kcfg_cur = (struct kcfg_fx){ .sa_dir = sa };
		walk(&op);
		unsetenv("KUBERNETES_SERVICE_HOST");
		unsetenv("KUBERNETES_SERVICE_PORT");
		CHECK(unlink(path) == 0);
		snprintf(path, sizeof(path), "%s/token", sa);
		CHECK(unlink(path) == 0);
		CHECK(rmdir(sa) == 0);
	}
}

struct kpc_fx {
	const char *buf;
	size_t len;
	struct kpc_config c;
	bool inited;
};

static struct kpc_fx kpc_cur;

static void *kpc_setup(void)
{
	kpc_cur.inited = false;
	return &kpc_cur;
}

/* init, load, finish: as cmd/ does with --config. */
static int kpc_run(void *p)
{
	struct kpc_fx *fx = p;
	char err[512];
	int r;

	r = kpc_init(&fx->c);
	if (r < 0)
		return r;
	fx->inited = true;
	r = kpc_load_buffer(&fx->c, fx->buf, fx->len, "oom", err, sizeof(err));
	if (r < 0)
		return r;
	return kpc_finish(&fx->c, err, sizeof(err));
}

static void kpc_teardown(void *p)
{
	struct kpc_fx *fx = p;

	if (fx->inited)
		kpc_free(&fx->c);
	fx->inited = false;
}

static void test_kpconfig(void)
{
	static const char *files[] = { "data/config/good.yaml", "data/config/good.json",
				       "data/config/kubeadm.yaml" };
	char name[128];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct oom_op op = { name, kpc_setup, kpc_run, NULL, kpc_teardown, 0, false, false };
		size_t len;
		char *buf = read_file(files[i], &len);

		snprintf(name, sizeof(name), "kpc_load_buffer %s", strrchr(files[i], '/') + 1);
		kpc_cur = (struct kpc_fx){ .buf = buf, .len = len };
		/* A clean run must succeed, or the walk proves nothing. */
		CHECK_INT(kpc_run(&kpc_cur), 0);
		kpc_teardown(&kpc_cur);
		walk(&op);
		free(buf);
	}
}

/* ---- 3. the model ---- */

#define MODEL_N 6

/* A model of services 0..MODEL_N-1 with 3 endpoints each (gen.c). */
static struct model *model_fixture(void)
{
	struct model *m;
	char **keys;
	int n;

	CHECK_INT(model_new(&m), 0);
	for (unsigned i = 0; i < MODEL_N; i++) {
		CHECK_INT(model_service_upsert(m, gen_service(i)), 0);
		CHECK_INT(model_slice_upsert(m, gen_slice(i, 3, 0)), 0);
	}
	n = model_take_dirty(m, &keys);
	CHECK_INT(n, MODEL_N);
	for (int i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	return m;
}

/* What the model holds, all of it, order aside: a failed call must leave
 * this as it was (the dirty set aside: marking more dirty is harmless). */
static void model_expect(const struct model *m, unsigned n_svc, unsigned n_slices)
{
	CHECK_INT(model_service_count(m), n_svc);
	CHECK_INT(model_slice_count(m), n_slices);
}

static bool svc_is(const struct model *m, unsigned i, const struct model_service *want)
{
	char ns[16], name[32];
	const struct model_service *got;

	snprintf(ns, sizeof(ns), "ns%u", i % 100);
	snprintf(name, sizeof(name), "svc%u", i);
	got = model_service_get(m, ns, name);
	return want ? got && model_service_equal(got, want) : got == NULL;
}

static bool slice_is(const struct model *m, unsigned i, const struct model_slice *want)
{
	char ns[16], name[32];
	const struct model_slice *got;

	snprintf(ns, sizeof(ns), "ns%u", i % 100);
	snprintf(name, sizeof(name), "svc%u-abcde", i);
	got = model_slice_get(m, ns, name);
	return want ? got && model_slice_equal(got, want) : got == NULL;
}

/* The endpoints of service i's port as the model merges them. */
static int endpoints_of(const struct model *m, unsigned i, struct model_endpoint **eps)
{
	char ns[16], name[32];
	const struct model_service *svc;

	snprintf(ns, sizeof(ns), "ns%u", i % 100);
	snprintf(name, sizeof(name), "svc%u", i);
	svc = model_service_get(m, ns, name);
	CHECK(svc != NULL);
	return model_endpoints(m, svc, &svc->ports[0], AF_INET, eps);
}

struct model_fx {
	struct model *m;
	struct model_service *svc;   /* handed to the model by run */
	struct model_slice *slice;
	struct model_service *want_svc; /* copies, for the checks */
	struct model_slice *want_slice;
	struct model_endpoint *eps;
	struct model_split split;
	char **keys;
	int n_keys;
};

static struct model_fx *model_fx_new(void)
{
	struct model_fx *fx = calloc(1, sizeof(*fx));

	CHECK(fx != NULL);
	fx->m = model_fixture();
	return fx;
}

static void model_fx_teardown(void *p)
{
	struct model_fx *fx = p;

	for (int i = 0; i < fx->n_keys; i++)
		free(fx->keys[i]);
	free(fx->keys);
	free(fx->eps);
	model_split_fini(&fx->split);
	model_service_free(fx->want_svc);
	model_slice_free(fx->want_slice);
	model_free(fx->m);
	free(fx);
}

/* A new service. */
static void *svc_new_setup(void)
{
	struct model_fx *fx = model_fx_new();

	fx->svc = gen_service(MODEL_N);
	fx->want_svc = gen_service(MODEL_N);
	return fx;
}

static int svc_upsert_run(void *p)
{
	struct model_fx *fx = p;

	return model_service_upsert(fx->m, fx->svc);
}

static void svc_new_check(void *p, int r, bool failed)
{
	struct model_fx *fx = p;

	model_expect(fx->m, MODEL_N + !failed, MODEL_N);
	CHECK(svc_is(fx->m, MODEL_N, failed ? NULL : fx->want_svc));
	if (!failed)
		CHECK_INT(model_dirty_count(fx->m), 1);
}

/* A changed service: another port. */
static void *svc_change_setup(void)
{
	struct model_fx *fx = model_fx_new();

	fx->svc = gen_service(2);
	fx->svc->ports[0].port = 81;
	fx->want_svc = gen_service(2);
	return fx;
}

static void svc_change_check(void *p, int r, bool failed)
{
	struct model_fx *fx = p;

	model_expect(fx->m, MODEL_N, MODEL_N);
	if (!failed)
		fx->want_svc->ports[0].port = 81;
	CHECK(svc_is(fx->m, 2, fx->want_svc));
}

static void *model_plain_setup(void)
{
	return model_fx_new();
}

static int svc_delete_run(void *p)
{
	return model_service_delete(((struct model_fx *)p)->m, "ns3", "svc3");
}

static void svc_delete_check(void *p, int r, bool failed)
{
	struct model_fx *fx = p;

	model_expect(fx->m, MODEL_N - !failed, MODEL_N);
	if (failed) {
		struct model_service *want = gen_service(3);

		CHECK(svc_is(fx->m, 3, want));
		model_service_free(want);
	} else {
		CHECK(svc_is(fx->m, 3, NULL));
		CHECK_INT(model_dirty_count(fx->m), 1);
	}
}

/* A new slice of a service that has none yet (a new slice group). */
static void *slice_new_setup(void)
{
	struct model_fx *fx = model_fx_new();

	CHECK_INT(model_service_upsert(fx->m, gen_service(MODEL_N)), 0);
	fx->slice = gen_slice(MODEL_N, 4, 0);
	fx->want_slice = gen_slice(MODEL_N, 4, 0);
	return fx;
}

static int slice_upsert_run(void *p)
{
	struct model_fx *fx = p;

	return model_slice_upsert(fx->m, fx->slice);
}

static void slice_new_check(void *p, int r, bool failed)
{
	struct model_fx *fx = p;
	struct model_endpoint *eps;
	int n;

	model_expect(fx->m, MODEL_N + 1, MODEL_N + !failed);
	CHECK(slice_is(fx->m, MODEL_N, failed ? NULL : fx->want_slice));
	n = endpoints_of(fx->m, MODEL_N, &eps);
	CHECK_INT(n, failed ? 0 : 4);
	free(eps);
}

/* A changed slice: other endpoints. */
static void *slice_change_setup(void)
{
	struct model_fx *fx = model_fx_new();

	fx->slice = gen_slice(1, 5, 7);
	fx->want_slice = gen_slice(1, 3, 0);
	return fx;
}

static void slice_change_check(void *p, int r, bool failed)
{
	struct model_fx *fx = p;
	struct model_endpoint *eps;
	int n;

	model_expect(fx->m, MODEL_N, MODEL_N);
	if (!failed) {
		model_slice_free(fx->want_slice);
		fx->want_slice = gen_slice(1, 5, 7);
	}
	CHECK(slice_is(fx->m, 1, fx->want_slice));
	n = endpoints_of(fx->m, 1, &eps);
	CHECK_INT(n, failed ? 3 : 5);
	free(eps);
}

/* A slice whose service-name label moves it to another service. */
static void *slice_move_setup(void)
{
	struct model_fx *fx = model_fx_new();

	fx->slice = gen_slice(1, 3, 0);
	free(fx->slice->service_name);
	fx->slice->service_name = strdup("svc7");
	CHECK(fx->slice->service_name != NULL);
	fx->want_slice = gen_slice(1, 3, 0);
	return fx;
}

static void slice_move_check(void *p, int r, bool failed)
{
	struct model_fx *fx = p;
	struct model_endpoint *eps;
	int n;

	model_expect(fx->m, MODEL_N, MODEL_N);
	n = endpoints_of(fx->m, 1, &eps);
	CHECK_INT(n, failed ? 3 : 0);
	free(eps);
	if (failed)
		CHECK(slice_is(fx->m, 1, fx->want_slice));
	else
		CHECK_STR(model_slice_get(fx->m, "ns1", "svc1-abcde")->service_name, "svc7");
}

static int slice_delete_run(void *p)
{
	return model_slice_delete(((struct model_fx *)p)->m, "ns4", "svc4-abcde");
}

static void slice_delete_check(void *p, int r, bool failed)
{
	struct model_fx *fx = p;
	struct model_endpoint *eps;
	int n;

	model_expect(fx->m, MODEL_N, MODEL_N - !failed);
	n = endpoints_of(fx->m, 4, &eps);
	CHECK_INT(n, failed ? 3 : 0);
	free(eps);
}

static int endpoints_run(void *p)
{
	struct model_fx *fx = p;

	return endpoints_of(fx->m, 2, &fx->eps);
}

static void endpoints_check(void *p, int r, bool failed)
{
	struct model_fx *fx = p;

	CHECK_INT(r, failed ? -ENOMEM : 3);
	if (failed)
		fx->eps = NULL; /* not written: do not free it */
}

/* model_take_dirty and model_mark_all_dirty, armed in run. */
static void *dirty_setup(void)
{
	struct model_fx *fx = model_fx_new();

	CHECK_INT(model_mark_dirty(fx->m, "ns0/svc0"), 0);
	CHECK_INT(model_mark_dirty(fx->m, "gone/svc"), 0);
	return fx;
}

static int mark_all_run(void *p)
{
	return model_mark_all_dirty(((struct model_fx *)p)->m);
}

static void mark_all_check(void *p, int r, bool failed)
{
	struct model_fx *fx = p;

	/* What was dirty stays dirty; on success every service is. */
	CHECK(model_dirty_count(fx->m) >= 2);
	if (!failed)
		CHECK_INT(model_dirty_count(fx->m), MODEL_N + 1);
}

static int take_run(void *p)
{
	struct model_fx *fx = p;
	char **keys = (char **)fx; /* a poison: written only on success */
	int n = model_take_dirty(fx->m, &keys);

	if (n >= 0) {
		fx->keys = keys;
		fx->n_keys = n;
	} else {
		CHECK(keys == (char **)fx);
	}
	return n;
}

static void take_check(void *p, int r, bool failed)
{
	struct model_fx *fx = p;

	/* A failed take keeps the dirty set for the next try. */
	CHECK_INT(model_dirty_count(fx->m), failed ? 2 : 0);
	if (!failed) {
		CHECK_INT(fx->n_keys, 2);
		CHECK_STR(fx->keys[0], "gone/svc");
		CHECK_STR(fx->keys[1], "ns0/svc0");
	}
}

/* kube-proxy's CategorizeEndpoints, on endpoints with hints and nodes. */
static void *categorize_setup(void)
{
	struct model_fx *fx = model_fx_new();
	struct model_slice *sl = gen_slice(0, 6, 0);

	for (unsigned k = 0; k < sl->n_endpoints; k++) {
		sl->endpoints[k].node_name = strdup(k % 2 ? "node-a" : "node-b");
		sl->endpoints[k].zone = strdup(k % 3 ? "zone-1" : "zone-2");
		CHECK(sl->endpoints[k].node_name && sl->endpoints[k].zone);
		if (k == 5)
			sl->endpoints[k].ready = TRI_FALSE;
		/* Hints on every endpoint: topology narrows the cluster set. */
		sl->endpoints[k].hints = calloc(1, sizeof(*sl->endpoints[k].hints));
		CHECK(sl->endpoints[k].hints != NULL);
		sl->endpoints[k].hints->zones = calloc(1, sizeof(char *));
		CHECK(sl->endpoints[k].hints->zones != NULL);
		sl->endpoints[k].hints->zones[0] = strdup(sl->endpoints[k].zone);
		CHECK(sl->endpoints[k].hints->zones[0] != NULL);
		sl->endpoints[k].hints->n_zones = 1;
	}
	CHECK_INT(model_slice_upsert(fx->m, sl), 0);
	CHECK_INT(endpoints_of(fx->m, 0, &fx->eps), 6);
	fx->want_svc = gen_service(0);
	fx->want_svc->type = SVC_TYPE_NODE_PORT;
	fx->want_svc->ports[0].node_port = 30080;
	fx->want_svc->external_policy = SVC_POLICY_LOCAL;
	return fx;
}

static int categorize_run(void *p)
{
	struct model_fx *fx = p;

	memset(&fx->split, 0, sizeof(fx->split));
	return model_categorize(fx->want_svc, fx->eps, 6, "node-a", "zone-1", &fx->split);
}

static void categorize_check(void *p, int r, bool failed)
{
	struct model_fx *fx = p;
	struct model_split want = { 0 };

	if (failed) {
		/* Not written, or left empty for model_split_fini. */
		CHECK(fx->split.cluster == NULL && fx->split.local == NULL);
		return;
	}
	CHECK_INT(model_categorize(fx->want_svc, fx->eps, 6, "node-a", "zone-1", &want), 0);
	CHECK(fx->split.has_any && want.has_any);
	CHECK_INT(fx->split.n_cluster, want.n_cluster);
	CHECK_INT(fx->split.n_local, want.n_local);
	CHECK(fx->split.n_cluster >= 1 && fx->split.n_local >= 1);
	model_split_fini(&want);
}

static void test_model(void)
{
	const struct oom_op ops[] = {
		{ "model_service_upsert new", svc_new_setup, svc_upsert_run, svc_new_check,
		  model_fx_teardown, 0, false, false },
		{ "model_service_upsert changed", svc_change_setup, svc_upsert_run, svc_change_check,
		  model_fx_teardown, 0, false, false },
		{ "model_service_delete", model_plain_setup, svc_delete_run, svc_delete_check,
		  model_fx_teardown, 0, false, false },
		{ "model_slice_upsert new group", slice_new_setup, slice_upsert_run, slice_new_check,
		  model_fx_teardown, 0, false, false },
		{ "model_slice_upsert changed", slice_change_setup, slice_upsert_run,
		  slice_change_check, model_fx_teardown, 0, false, false },
		{ "model_slice_upsert moved", slice_move_setup, slice_upsert_run, slice_move_check,
		  model_fx_teardown, 0, false, false },
		{ "model_slice_delete", model_plain_setup, slice_delete_run, slice_delete_check,
		  model_fx_teardown, 0, false, false },
		{ "model_endpoints", model_plain_setup, endpoints_run, endpoints_check,
		  model_fx_teardown, 0, true, false },
		{ "model_mark_all_dirty", dirty_setup, mark_all_run, mark_all_check,
		  model_fx_teardown, 0, false, false },
		{ "model_take_dirty", dirty_setup, take_run, take_check, model_fx_teardown, 0, true, false },
		{ "model_categorize", categorize_setup, categorize_run, categorize_check,
		  model_fx_teardown, 0, false, false },
	};

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		walk(&ops[i]);
}

/* ---- 4. the compiler, the diff and the batch objects ---- */

/* Every kind of service the compiler has a path for: dual stack, UDP and
 * SCTP, no endpoints, headless, LoadBalancer with Local policy, node port,
 * external IP and source ranges, session affinity, topology hints. */
static const char world_yaml[] =
	"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
	"spec:\n  clusterIP: 10.96.0.10\n  clusterIPs: [10.96.0.10, fd00:10:96::10]\n"
	"  ipFamilies: [IPv4, IPv6]\n  ports:\n"
	"  - {name: http, port: 80, targetPort: 8080, protocol: TCP}\n"
	"  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}\n"
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: web-v4, namespace: shop, labels: {kubernetes.io/service-name: web}}\n"
	"addressType: IPv4\nports:\n- {name: http, port: 8080, protocol: TCP}\n"
	"- {name: dns, port: 5353, protocol: UDP}\nendpoints:\n"
	"- {addresses: [10.244.1.12], conditions: {ready: true}}\n- {addresses: [10.244.1.11]}\n"
	"- {addresses: [10.244.1.13], conditions: {ready: false}}\n"
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: web-v6, namespace: shop, labels: {kubernetes.io/service-name: web}}\n"
	"addressType: IPv6\nports:\n- {name: http, port: 8080, protocol: TCP}\n"
	"endpoints:\n- {addresses: ['fd00:10:244::11']}\n"
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: empty, namespace: shop}\n"
	"spec: {clusterIP: 10.96.0.20, ports: [{port: 443, protocol: SCTP}]}\n"
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: headless, namespace: shop}\n"
	"spec: {clusterIP: None, ports: [{port: 80}]}\n"
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: lb, namespace: shop}\n"
	"spec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.30\n  externalIPs: [203.0.113.20]\n"
	"  externalTrafficPolicy: Local\n  loadBalancerSourceRanges: [198.51.100.0/24]\n"
	"  healthCheckNodePort: 30999\n"
	"  ports:\n  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}\n"
	"status: {loadBalancer: {ingress: [{ip: 203.0.113.30}, {ip: 203.0.113.31, ipMode: Proxy}]}}\n"
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: lb-a, namespace: shop, labels: {kubernetes.io/service-name: lb}}\n"
	"addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n"
	"- {addresses: [10.244.1.1], nodeName: node-1, zone: zone-a,"
	" hints: {forZones: [{name: zone-a}]}}\n"
	"- {addresses: [10.244.2.1], nodeName: node-2, zone: zone-b,"
	" hints: {forZones: [{name: zone-b}]}}\n"
	"- {addresses: [10.244.2.2], nodeName: node-2, conditions: {ready: false, serving: true,"
	" terminating: true}}\n"
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: sticky, namespace: shop}\n"
	"spec:\n  type: NodePort\n  clusterIP: 10.96.0.40\n  sessionAffinity: ClientIP\n"
	"  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n"
	"  internalTrafficPolicy: Local\n"
	"  ports:\n  - {name: http, port: 80, targetPort: 8080, nodePort: 30081}\n"
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: sticky-a, namespace: shop, labels: {kubernetes.io/service-name: sticky}}\n"
	"addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n"
	"- {addresses: [10.244.1.5], nodeName: node-1}\n"
	"- {addresses: [10.244.2.5], nodeName: node-2}\n"
	"---\napiVersion: v1\nkind: Node\nmetadata: {name: node-1, labels: {"
	"topology.kubernetes.io/zone: zone-a}}\n"
	"spec: {podCIDRs: [10.244.1.0/24, 'fd00:10:244:1::/64']}\n"
	"status: {addresses: [{type: InternalIP, address: 192.0.2.1}]}\n";

static const char *const world_keys[] = { "shop/web", "shop/empty", "shop/headless",
					  "shop/lb", "shop/sticky", "shop/gone" };
#define N_WORLD_KEYS (sizeof(world_keys) / sizeof(world_keys[0]))

static struct nftc_config world_cfg(void)
{
	struct nftc_config c = { .masq_mark = 0x4000, .node_name = "node-1",
				 .local_mode = NFTC_LOCAL_NODE_CIDR };

	c.n_service_cidrs = 1;
	c.service_cidrs[0].addr.family = AF_INET;
	c.service_cidrs[0].addr.v4.s_addr = htonl(10u << 24 | 96u << 16);
	c.service_cidrs[0].len = 12;
	return c;
}

static struct model *world_model(void)
{
	struct kdec_result res = { 0 };
	struct model *m;
	char err[KDEC_ERR_MAX], **keys;
	int n;

	CHECK_INT(model_new(&m), 0);
	CHECK_INT(kdec_parse_buffer_flags(world_yaml, strlen(world_yaml), "world", KDEC_PARSE_NODES,
					  &res, err, sizeof(err)),
		  0);
	CHECK_INT(res.n_rejected, 0);
	for (size_t i = 0; i < res.n_objects; i++) {
		struct kdec_object *o = &res.objects[i];

		if (o->svc)
			CHECK_INT(model_service_upsert(m, o->svc), 0);
		else if (o->slice)
			CHECK_INT(model_slice_upsert(m, o->slice), 0);
		else
			CHECK_INT(model_node_set(m, o->node), 1);
		o->svc = NULL;
		o->slice = NULL;
		o->node = NULL;
	}
	kdec_result_fini(&res);
	/* And a few plain ones, so that LB maps fill. */
	for (unsigned i = 0; i < 4; i++) {
		CHECK_INT(model_service_upsert(m, gen_service(i)), 0);
		CHECK_INT(model_slice_upsert(m, gen_slice(i, 2, 0)), 0);
	}
	n = model_take_dirty(m, &keys);
	CHECK(n > 0);
	for (int i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	return m;
}

/* Everything the applied state says, order aside: entries are hashed one
 * by one and the hashes summed. The plan generation marks (gen) are left
 * out: they say which plan looked at an object last, not what it is. */
/* OOM_DUMP=1: print what state_print hashes (to find what differs). */
static FILE *state_dump;

static uint64_t mix(uint64_t acc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static uint64_t mix(uint64_t acc, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	CHECK(n >= 0 && (size_t)n < sizeof(buf));
	if (state_dump)
		fprintf(state_dump, "%s\n", buf);
	return acc + hash_fnv1a(buf, (size_t)n, 0x9e3779b97f4a7c15ull);
}

static bool with_blocked = true;

static uint64_t state_print(struct nft_state *s)
{
	uint64_t h = 0;
	const char *key;
	size_t it = 0;
	void *v;

	h = mix(h, "flags %d %d n %zu %zu %zu %zu", s->table_exists, s->sets_exist, s->chains.len,
		s->elems.len, s->owners.len, s->sets.len);
	while (hmap_next(&s->chains, &it, &key, &v)) {
		struct nft_ap_chain *c = v;
		uint64_t eh = hash_fnv1a(c->lb_eps, (size_t)c->lb_n * c->lb_dlen, 0);

		CHECK_STR(key, c->name);
		h = mix(h, "chain %s fp %" PRIx64 " irh %" PRIx64 " owner %s lb %d %u %u eps %u %u %"
			PRIx64 " base %u", c->name, c->fp, c->ir_hash, c->owner ? c->owner->key : "-",
			c->has_lb, c->lb_map, c->lb_slot, c->lb_n, c->lb_dlen, eh, c->base_fp);
	}
	it = 0;
	while (hmap_next(&s->elems, &it, &key, &v)) {
		struct nft_ap_elem *e = v;

		CHECK_STR(key, e->id);
		h = mix(h, "elem %s set %s -> %s owner %s c %u end %u %d %d %u %u", e->id, e->set,
			nft_ap_elem_target(e), e->owner ? e->owner->key : "-", e->comment_hash,
			e->range_end, e->interval, e->drop, e->key_len, e->data_len);
	}
	it = 0;
	while (hmap_next(&s->owners, &it, &key, &v)) {
		struct nft_owner *o = v;

		h = mix(h, "owner %s %zu %zu %zu", o->key, o->n_chains, o->n_elems, o->n_sets);
		for (size_t k = 0; k < o->n_chains; k++)
			h = mix(h, "owner %s chain %s", o->key, o->chains[k]->name);
		for (size_t k = 0; k < o->n_elems; k++)
			h = mix(h, "owner %s elem %s", o->key, o->elems[k]->id);
		for (size_t k = 0; k < o->n_sets; k++)
			h = mix(h, "owner %s set %s", o->key, o->sets[k]);
	}
	it = 0;
	while (hmap_next(&s->sets, &it, &key, NULL))
		h = mix(h, "set %s", key);
	/* Services that found a key taken: a hint the plan leaves for the
	 * sync (look at them again after deletions), not what the kernel
	 * holds. A failed plan may leave one: the cost is one more compile. */
	it = 0;
	while (with_blocked && hmap_next(&s->blocked, &it, &key, NULL))
		h = mix(h, "blocked %s", key);
	it = 0;
	while (hmap_next(&s->lb.by_chain, &it, &key, NULL)) {
		uint32_t map, slot;

		CHECK_INT(nft_lb_get(&s->lb, key, strncmp(key, "svc6", 4) ? AF_INET : AF_INET6, &map,
				     &slot), 0);
		h = mix(h, "lb %s %u %u", key, map, slot);
	}
	/* n_maps is the bitmap's capacity: only the used slots count. */
	for (int f = 0; f < 2; f++)
		for (uint32_t k = 0; k < s->lb.fam[f].n_maps; k++)
			if (s->lb.fam[f].used[k])
				h = mix(h, "lbused %d %u %x", f, k, s->lb.fam[f].used[k]);
	{
		struct ipcount_entry *e;

		it = 0;
		h = mix(h, "hairpin %zu", s->hairpin.len);
		while ((e = ipcount_next(&s->hairpin, &it))) {
			struct ip_addr a;
			char ip[64];

			ipcount_entry_addr(e, &a);
			inet_ntop(a.family, &a.v4, ip, sizeof(ip));
			h = mix(h, "hp %s %u %d", ip, (unsigned)e->n, (int)e->flag);
		}
	}
	return h;
}

/* nftc_skeleton */
struct frag_fx {
	struct nftc_config cfg;
	struct model *m;
	struct nft_state *s;
	struct nft_frag *f;
	uint64_t before;
	const char *key;
};

static struct frag_fx *frag_fx_new(void)
{
	struct frag_fx *fx = calloc(1, sizeof(*fx));

	CHECK(fx != NULL);
	fx->cfg = world_cfg();
	fx->m = world_model();
	CHECK_INT(nft_state_new(&fx->s), 0);
	fx->f = (struct nft_frag *)fx; /* a poison: written only on success */
	fx->before = state_print(fx->s);
	return fx;
}

static void *skel_setup(void)
{
	return frag_fx_new();
}

static int skel_run(void *p)
{
	struct frag_fx *fx = p;
	struct ip_addr np[2] = { { .family = AF_INET }, { .family = AF_INET6 } };

	np[0].v4.s_addr = htonl(0xc0000201);
	np[1].v6.s6_addr[15] = 1;
	return nftc_skeleton(&fx->cfg, fx->m, np, 2, &fx->f);
}

static void frag_check(void *p, int r, bool failed)
{
	struct frag_fx *fx = p;

	if (failed) {
		CHECK(fx->f == (struct nft_frag *)fx);
		fx->f = NULL;
		/* A failed compile gives back what it took of the LB slots. */
		if (state_print(fx->s) != fx->before) {
			fprintf(stderr, "%s: the state changed\n", fx->key ? fx->key : "skeleton");
			if (getenv("OOM_DUMP")) {
				state_dump = stderr;
				state_print(fx->s);
			}
			exit(1);
		}
		return;
	}
	CHECK(fx->f != NULL && fx->f != (struct nft_frag *)fx);
}

static void frag_teardown(void *p)
{
	struct frag_fx *fx = p;

	if (fx->f != (struct nft_frag *)fx)
		nft_frag_free(fx->f);
	nft_state_free(fx->s);
	model_free(fx->m);
	free(fx);
}

static const char *compile_key;

static void *compile_setup(void)
{
	struct frag_fx *fx = frag_fx_new();

	fx->key = compile_key;
	return fx;
}

static int compile_run(void *p)
{
	struct frag_fx *fx = p;

	return nftc_compile_service(&fx->cfg, fx->m, fx->key, fx->s, NULL, &fx->f);
}

/* One sync as nft/sync.c runs it, minus the kernel: take the dirty
 * services, plan, and commit as if the kernel had taken the batch. On a
 * failure before the commit the plan is aborted (sync.c's fail path); a
 * failed commit drops the state (sync.c reads the table back then). */
enum sync_stage { ST_PLAN = 1, ST_COMMIT };

struct sync_fx {
	struct nftc_config cfg;
	struct model *m;
	struct nft_state *s;
	bool full;
	enum sync_stage stage;     /* where run failed */
	uint64_t before, before_nb; /* the state before run, and without blocked */
	size_t n_ops;              /* of the plan of a clean run */
	size_t want_ops;
	uint64_t want_after;       /* the state after a clean run */
	char **keys;
	int n_keys;
	void (*change)(struct model *m);
};

static int sync_plan(struct sync_fx *fx, struct nft_plan *p)
{
	int r;

	r = nft_plan_base(p, fx->s);
	if (r < 0)
		return r;
	if (fx->full) {
		struct nft_frag *skel;

		r = nftc_skeleton(&fx->cfg, fx->m, NULL, 0, &skel);
		if (r < 0)
			return r;
		r = nft_plan_frag(p, fx->s, skel);
		if (r < 0)
			return r;
	}
	for (int i = 0; i < fx->n_keys; i++) {
		struct nft_frag *f;

		r = nftc_compile_service(&fx->cfg, fx->m, fx->keys[i], fx->s, &p->arena, &f);
		if (r < 0)
			return r;
		r = nft_plan_frag(p, fx->s, f);
		if (r < 0)
			return r;
	}
	r = nft_plan_hairpin(p, fx->s);
	if (r < 0)
		return r;
	if (fx->full)
		r = nft_plan_strays(p, fx->s);
	if (r >= 0)
		nft_plan_group_elems(p);
	return r;
}

static int sync_run(void *q)
{
	struct sync_fx *fx = q;
	struct nft_plan p;
	int r;

	nft_plan_init(&p, "nftproxy", fx->full);
	fx->stage = ST_PLAN;
	r = sync_plan(fx, &p);
	if (r < 0) {
		nft_plan_abort(&p, fx->s);
		nft_plan_fini(&p);
		return r;
	}
	fx->n_ops = nft_plan_size(&p);
	fx->stage = ST_COMMIT;
	r = nft_plan_commit(&p, fx->s);
	nft_plan_fini(&p);
	if (r < 0) {
		nft_state_free(fx->s);
		fx->s = NULL;
	}
	return r;
}

static void sync_keys(struct sync_fx *fx)
{
	fx->n_keys = model_take_dirty(fx->m, &fx->keys);
	CHECK(fx->n_keys >= 0);
}

static void sync_fx_free_keys(struct sync_fx *fx)
{
	for (int i = 0; i < fx->n_keys; i++)
		free(fx->keys[i]);
	free(fx->keys);
	fx->keys = NULL;
	fx->n_keys = 0;
}

static struct sync_fx sync_proto;   /* full, change: what the op is */

static void *sync_setup(void)
{
	struct sync_fx *fx = calloc(1, sizeof(*fx));

	CHECK(fx != NULL);
	fx->cfg = world_cfg();
	fx->m = world_model();
	fx->full = sync_proto.full;
	fx->want_ops = sync_proto.want_ops;
	fx->want_after = sync_proto.want_after;
	CHECK_INT(nft_state_new(&fx->s), 0);
	if (sync_proto.change) {
		/* A table in step with the model first, then the change. */
		CHECK_INT(model_mark_all_dirty(fx->m), 0);
		sync_keys(fx);
		fx->full = true;
		CHECK_INT(sync_run(fx), 0);
		sync_fx_free_keys(fx);
		fx->full = sync_proto.full;
		sync_proto.change(fx->m);
		/* A full run looks at every service (and the deleted ones). */
		if (fx->full)
			CHECK_INT(model_mark_all_dirty(fx->m), 0);
	} else {
		CHECK_INT(model_mark_all_dirty(fx->m), 0);
	}
	sync_keys(fx);
	fx->before = state_print(fx->s);
	with_blocked = false;
	fx->before_nb = state_print(fx->s);
	with_blocked = true;
	return fx;
}

static void sync_check(void *q, int r, bool failed)
{
	struct sync_fx *fx = q;
	int again;

	if (!failed) {
		CHECK(fx->n_ops > 0);
		if (fx->want_ops) {
			CHECK_INT(fx->n_ops, fx->want_ops);
			CHECK(state_print(fx->s) == fx->want_after);
		}
		return;
	}
	if (fx->stage == ST_COMMIT) {
		CHECK(fx->s == NULL);
		return;
	}
	/* A failed plan changed nothing: the state is what it was, and the
	 * retry plans what a clean run would have. */
	with_blocked = false;
	if (state_print(fx->s) != fx->before_nb) {
		fprintf(stderr, "a failed plan changed the state\n");
		if (getenv("OOM_DUMP")) {
			state_dump = stderr;
			state_print(fx->s);
		}
		exit(1);
	}
	with_blocked = true;
	again = sync_run(fx);
	CHECK_INT(again, 0);
	CHECK_INT(fx->n_ops, fx->want_ops);
	CHECK(state_print(fx->s) == fx->want_after);
}

static void sync_teardown(void *q)
{
	struct sync_fx *fx = q;

	sync_fx_free_keys(fx);
	nft_state_free(fx->s);
	model_free(fx->m);
	free(fx);
}

/* The changes an incremental sync applies. */
static void change_mixed(struct model *m)
{
	struct model_service *svc = gen_service(1);

	/* Service 1 takes session affinity, service 2 goes, service 3 gets
	 * other endpoints, service 9 arrives, the lb service loses a slice. */
	svc->affinity = SVC_AFFINITY_CLIENT_IP;
	svc->affinity_timeout = 30;
	CHECK_INT(model_service_upsert(m, svc), 0);
	CHECK_INT(model_service_delete(m, "ns2", "svc2"), 0);
	CHECK_INT(model_slice_upsert(m, gen_slice(3, 4, 0x1000)), 0);
	CHECK_INT(model_service_upsert(m, gen_service(9)), 0);
	CHECK_INT(model_slice_upsert(m, gen_slice(9, 3, 0)), 0);
	CHECK_INT(model_slice_delete(m, "shop", "lb-a"), 0);
}

static void change_endpoints(struct model *m)
{
	CHECK_INT(model_slice_upsert(m, gen_slice(0, 2, 0x400000)), 0);
}

static void walk_sync(const char *name, bool full, void (*change)(struct model *m))
{
	struct oom_op op = { name, sync_setup, sync_run, sync_check, sync_teardown, 0, false, false };
	struct sync_fx *fx;

	/* The reference: a clean run. */
	sync_proto = (struct sync_fx){ .full = full, .change = change };
	fx = sync_setup();
	CHECK_INT(sync_run(fx), 0);
	sync_proto.want_ops = fx->n_ops;
	sync_proto.want_after = state_print(fx->s);
	CHECK(sync_proto.want_ops > 0);
	sync_teardown(fx);
	walk(&op);
}

/* The libnftnl objects of a plan's batch, as nft/netlink.c builds them
 * (nfb_set_build, nfb_chain_build, nfb_rule_build), without sending. */
struct batch_fx {
	struct sync_fx *sync;
	struct nft_plan p;
	size_t n_built;
};

static void *batch_setup(void)
{
	struct batch_fx *fx = calloc(1, sizeof(*fx));

	CHECK(fx != NULL);
	sync_proto = (struct sync_fx){ .full = true };
	fx->sync = sync_setup();
	nft_plan_init(&fx->p, "nftproxy", true);
	CHECK_INT(sync_plan(fx->sync, &fx->p), 0);
	return fx;
}

static int batch_run(void *q)
{
	struct batch_fx *fx = q;

	for (int ph = 0; ph < NFT_PH_COUNT; ph++) {
		for (size_t i = 0; i < fx->p.n_ops[ph]; i++) {
			const struct nft_op *op = &fx->p.ops[ph][i];
			struct nftnl_rule *nr;
			struct nftnl_chain *nc;
			struct nftnl_set *ns;
			int r;

			switch (op->kind) {
			case NFT_OP_ADD_SET:
				ns = nfb_set_build("nftproxy", op->set_kind, op->lb_map, op->timeout_s);
				if (!ns)
					return -ENOMEM;
				nftnl_set_free(ns);
				break;
			case NFT_OP_ADD_CHAIN:
				nc = nfb_chain_build("nftproxy", op->chain);
				if (!nc)
					return -ENOMEM;
				nftnl_chain_free(nc);
				break;
			case NFT_OP_ADD_RULE:
				r = nfb_rule_build("nftproxy", op->name, op->rule, &nr);
				if (r < 0)
					return r;
				nftnl_rule_free(nr);
				break;
			default:
				continue;
			}
			fx->n_built++;
		}
	}
	return 0;
}

static void batch_check(void *q, int r, bool failed)
{
	if (!failed)
		CHECK(((struct batch_fx *)q)->n_built > 20);
}

static void batch_teardown(void *q)
{
	struct batch_fx *fx = q;

	nft_plan_abort(&fx->p, fx->sync->s);
	nft_plan_fini(&fx->p);
	sync_teardown(fx->sync);
	free(fx);
}

static void test_nft(void)
{
	struct oom_op skel = { "nftc_skeleton", skel_setup, skel_run, frag_check, frag_teardown,
			       0, false, false };
	struct oom_op batch = { "batch objects of a full plan (nft/build.c)", batch_setup,
				batch_run, batch_check, batch_teardown, 0, false, false };
	char name[N_WORLD_KEYS][64];

	walk(&skel);
	for (size_t i = 0; i < N_WORLD_KEYS; i++) {
		struct oom_op op = { name[i], compile_setup, compile_run, frag_check, frag_teardown,
				     0, false, false };

		snprintf(name[i], sizeof(name[i]), "nftc_compile_service %s", world_keys[i]);
		compile_key = world_keys[i];
		walk(&op);
	}
	walk_sync("sync full (plan + commit), empty state", true, NULL);
	walk_sync("sync incremental, mixed changes", false, change_mixed);
	walk_sync("sync full after mixed changes", true, change_mixed);
	walk_sync("sync incremental, one endpoint change", false, change_endpoints);
	walk(&batch);
}

/* ---- 5. the reflector and the manifest source ---- */

static struct model *RM;           /* the reflector's owner's model */

static int r_upsert(void *ud, const struct doc *obj, char *err, size_t err_size)
{
	struct model_service *svc;
	int r = kdec_service_from_doc(obj, &svc, err, err_size);

	return r < 0 ? r : model_service_upsert(RM, svc);
}

static int r_remove(void *ud, const char *ns, const char *name)
{
	int r = model_service_delete(RM, ns, name);

	return r == -ENOENT ? 0 : r;
}

static void r_changed(void *ud)
{
}

static const struct krefl_ops r_ops = { r_upsert, r_remove, r_changed, NULL };
static const struct krefl_config r_cfg = { .resource = "services", .path = "/api/v1/services" };

static char *svc_json(const char *name, const char *ip, int port, int rv)
{
	char *s;

	CHECK(asprintf(&s, "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"%s\","
		       "\"resourceVersion\":\"%d\"},\"spec\":{\"clusterIP\":\"%s\","
		       "\"ports\":[{\"name\":\"http\",\"port\":%d,\"protocol\":\"TCP\"}]}}",
		       name, rv, ip, port) > 0);
	return s;
}

static char *list_json(const char *rv, const char *cont, const char *a, const char *b)
{
	char *s;

	CHECK(asprintf(&s, "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"%s\"%s%s%s},"
		       "\"items\":[%s%s%s]}", rv, cont ? ",\"continue\":\"" : "", cont ? cont : "",
		       cont ? "\"" : "", a, b ? "," : "", b ? b : "") > 0);
	return s;
}

/* The bytes the tests feed: a first list (a, b, c), a relist in two
 * pages (a changed, c, d: b was deleted), and a watch stream. */
static char *r_list1, *r_page1, *r_page2, *r_watch;

static void reflector_data(void)
{
	char *a = svc_json("a", "10.96.0.1", 80, 10), *b = svc_json("b", "10.96.0.2", 80, 11);
	char *c = svc_json("c", "10.96.0.3", 80, 12), *a2 = svc_json("a", "10.96.0.1", 81, 20);
	char *d = svc_json("d", "10.96.0.4", 80, 21);
	char *tmp;

	CHECK(asprintf(&tmp, "%s,%s", a, b) > 0);
	r_list1 = list_json("15", NULL, tmp, c);
	free(tmp);
	r_page1 = list_json("30", "tok", a2, NULL);
	r_page2 = list_json("30", NULL, c, d);
	free(a);
	free(b);
	free(c);
	free(a2);
	free(d);
	a = svc_json("e", "10.96.0.5", 80, 16);
	b = svc_json("a", "10.96.0.1", 8080, 17);
	c = svc_json("b", "10.96.0.2", 80, 18);
	CHECK(asprintf(&r_watch, "{\"type\":\"ADDED\",\"object\":%s}\n{\"type\":\"MODIFIED\","
		       "\"object\":%s}\n{\"type\":\"DELETED\",\"object\":%s}\n{\"type\":\"BOOKMARK\","
		       "\"object\":{\"kind\":\"Service\",\"metadata\":{\"resourceVersion\":\"19\"}}}\n",
		       a, b, c) > 0);
	free(a);
	free(b);
	free(c);
}

struct refl_fx {
	uv_loop_t loop;
	struct model *m;
	struct krefl *r;
	int which;                 /* 0: relist in two pages, 1: watch */
};

static int refl_which;

static void *refl_setup(void)
{
	struct refl_fx *fx = calloc(1, sizeof(*fx));

	CHECK(fx != NULL);
	fx->which = refl_which;
	CHECK_INT(uv_loop_init(&fx->loop), 0);
	CHECK_INT(model_new(&fx->m), 0);
	RM = fx->m;
	CHECK_INT(krefl_new(&fx->loop, NULL, &r_cfg, &r_ops, NULL, &fx->r), 0);
	CHECK_INT(krefl_test_list_page(fx->r, r_list1, strlen(r_list1), 200), 0);
	CHECK_INT(model_service_count(fx->m), 3);
	if (fx->which == 1)
		krefl_test_watch_begin(fx->r);
	return fx;
}

/* Feeds the watch in chunks of 13 bytes. */
static int watch_feed(struct krefl *r)
{
	size_t len = strlen(r_watch);

	for (size_t i = 0; i < len; i += 13) {
		int q = krefl_test_watch_feed(r, r_watch + i, len - i < 13 ? len - i : 13);

		if (q < 0)
			return q;
	}
	return 0;
}

static int refl_run(void *p)
{
	struct refl_fx *fx = p;
	int q;

	RM = fx->m;
	if (fx->which == 1)
		return watch_feed(fx->r);
	q = krefl_test_list_page(fx->r, r_page1, strlen(r_page1), 200);
	if (q != 1)
		return q < 0 ? q : -EPROTO;
	return krefl_test_list_page(fx->r, r_page2, strlen(r_page2), 200);
}

static uint16_t port_of(const struct model *m, const char *name)
{
	const struct model_service *svc = model_service_get(m, "shop", name);

	return svc && svc->n_ports == 1 ? svc->ports[0].port : 0;
}

/* After the relist: a on 81, b gone, c, d. After the watch: a on 8080,
 * b gone, c, e. */
static void refl_expect_done(struct refl_fx *fx, bool failed)
{
	CHECK_INT(model_service_count(fx->m), 3);
	CHECK(!model_service_get(fx->m, "shop", "b"));
	CHECK(model_service_get(fx->m, "shop", "c"));
	CHECK_INT(krefl_count(fx->r), 3);
	if (fx->which == 1) {
		CHECK_INT(port_of(fx->m, "a"), 8080);
		CHECK(model_service_get(fx->m, "shop", "e"));
		/* Out of memory noting a version keeps the one before (see
		 * note_rv): at worst the next watch replays an event. */
		if (!failed || strcmp(krefl_resource_version(fx->r), "18") != 0)
			CHECK_STR(krefl_resource_version(fx->r), "19");
	} else {
		CHECK_INT(port_of(fx->m, "a"), 81);
		CHECK(model_service_get(fx->m, "shop", "d"));
		CHECK_STR(krefl_resource_version(fx->r), "30");
	}
}

static void refl_check(void *p, int r, bool failed)
{
	struct refl_fx *fx = p;

	RM = fx->m;
	if (!failed || r == 0) {
		refl_expect_done(fx, failed);
		return;
	}
	if (fx->which == 0) {
		/* A list that failed deletes nothing unless it got to its end;
		 * listing again (what on_list_done does) converges. */
		CHECK(model_service_get(fx->m, "shop", "c"));
		if (model_service_get(fx->m, "shop", "d") == NULL)
			CHECK(model_service_get(fx->m, "shop", "b"));
		CHECK(!krefl_synced(fx->r) || strcmp(krefl_resource_version(fx->r), "30") != 0);
		krefl_test_list_fail(fx->r);
		CHECK_INT(refl_run(fx), 0);
	} else {
		/* A watch that failed is watched again from the last version
		 * it applied, or listed again: the events replay. */
		if (krefl_test_wants_relist(fx->r)) {
			krefl_close(fx->r, NULL, NULL);
			CHECK_INT(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
			fx->r = NULL;
			return;
		}
		CHECK(strcmp(krefl_resource_version(fx->r), "19") != 0);
		krefl_test_watch_begin(fx->r);
		CHECK_INT(watch_feed(fx->r), 0);
	}
	refl_expect_done(fx, true);
}

static void refl_teardown(void *p)
{
	struct refl_fx *fx = p;

	if (fx->r) {
		krefl_close(fx->r, NULL, NULL);
		CHECK_INT(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
	}
	CHECK_INT(uv_loop_close(&fx->loop), 0);
	model_free(fx->m);
	free(fx);
}

static void test_reflector(void)
{
	struct oom_op list = { "krefl relist in two pages", refl_setup, refl_run, refl_check,
			       refl_teardown, 0, false, true };
	struct oom_op watch = { "krefl watch events in chunks", refl_setup, refl_run, refl_check,
				refl_teardown, 0, false, true };

	reflector_data();
	refl_which = 0;
	walk(&list);
	refl_which = 1;
	walk(&watch);
	free(r_list1);
	free(r_page1);
	free(r_page2);
	free(r_watch);
}

/* The manifest source's first load of a directory. */
struct src_fx {
	uv_loop_t loop;
	struct model *m;
	struct msrc *src;
};

static char src_dir[64];
static size_t src_want_services, src_want_slices;

static void src_changed(void *data)
{
}

static void *src_setup(void)
{
	struct src_fx *fx = calloc(1, sizeof(*fx));

	CHECK(fx != NULL);
	CHECK_INT(uv_loop_init(&fx->loop), 0);
	CHECK_INT(model_new(&fx->m), 0);
	return fx;
}

static int src_run(void *p)
{
	struct src_fx *fx = p;
	int r;

	r = msrc_new(&fx->loop, src_dir, fx->m, src_changed, fx, &fx->src);
	if (r < 0) {
		fx->src = NULL;
		return r;
	}
	r = msrc_set_node_name(fx->src, "node-1");
	if (r < 0)
		return r;
	return msrc_start(fx->src);
}

static void src_check(void *p, int r, bool failed)
{
	struct src_fx *fx = p;

	if (r == 0) {
		CHECK_INT(model_service_count(fx->m), src_want_services);
		CHECK_INT(model_slice_count(fx->m), src_want_slices);
		CHECK(model_node_get(fx->m) != NULL);
	}
}

static void src_teardown(void *p)
{
	struct src_fx *fx = p;

	if (fx->src)
		msrc_close(fx->src, NULL);
	CHECK_INT(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
	CHECK_INT(uv_loop_close(&fx->loop), 0);
	model_free(fx->m);
	free(fx);
}

static void write_manifest(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", src_dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	CHECK(fputs(text, f) >= 0);
	CHECK(fclose(f) == 0);
}

static void test_source(void)
{
	/* may absorb: the model's index of claimed addresses (lib/model/
	 * addrs.c) degrades to "every address is claimed" rather than fail an
	 * upsert; then the load must still be complete. */
	struct oom_op op = { "msrc_new + msrc_start (3 files)", src_setup, src_run, src_check,
			     src_teardown, 0, false, true };
	char path[128];
	size_t len;
	char *buf;

	snprintf(src_dir, sizeof(src_dir), "/tmp/nftp-oom-XXXXXX");
	CHECK(mkdtemp(src_dir) != NULL);
	buf = read_file("data/multi.yaml", &len);
	write_manifest("multi.yaml", buf);
	free(buf);
	buf = read_file("data/service-full.json", &len);
	write_manifest("svc.json", buf);
	free(buf);
	write_manifest("node.yaml", node_yaml);
	{
		struct src_fx *fx = src_setup();

		CHECK_INT(src_run(fx), 0);
		src_want_services = model_service_count(fx->m);
		src_want_slices = model_slice_count(fx->m);
		CHECK(src_want_services >= 2);
		src_teardown(fx);
	}
	walk(&op);
	snprintf(path, sizeof(path), "%s/multi.yaml", src_dir);
	CHECK(unlink(path) == 0);
	snprintf(path, sizeof(path), "%s/svc.json", src_dir);
	CHECK(unlink(path) == 0);
	snprintf(path, sizeof(path), "%s/node.yaml", src_dir);
	CHECK(unlink(path) == 0);
	CHECK(rmdir(src_dir) == 0);
}

int main(void)
{
	if (!failalloc_active()) {
		fprintf(stderr, "the allocator wrappers are not linked in (see meson.build)\n");
		return 1;
	}
	RUN(test_decode);
	RUN(test_doc);
	RUN(test_kubeconfig);
	RUN(test_kpconfig);
	RUN(test_model);
	RUN(test_nft);
	RUN(test_reflector);
	RUN(test_source);
	fprintf(stderr, "oom: %zu operations, %ld failing runs: each returned its error or "
		"recovered, and left its objects as they were\n", n_ops_walked, n_points);
	return 0;
}
