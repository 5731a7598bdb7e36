/* List responses through the reflector's list path into a real model, as
 * the HTTP callbacks would hand them over: each page's body cut into chunks,
 * then the page ended with its HTTP status. No crash or leak; the store of
 * keys and the model agree after every chunk; a complete list sets the
 * resourceVersion of its last page and calls synced once; a key the
 * reflector deletes is in the model; two empty relists leave nothing.
 *
 * Input: the first byte picks the resource (top two bits: Services,
 * EndpointSlices, Nodes) and the chunk size (the others); then the bodies
 * of the pages, each ended by a line "%%" with an optional HTTP status
 * ("%%410"; 200 when absent). What follows the last "%%" is one more page.
 * fuzz_watch does the same for watch streams. */
#include "lib/kube/decode.h"
#include "lib/kube/doc_json.h"
#include "lib/kube/reflector.h"
#include "lib/model/store.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

enum res { RES_SERVICES, RES_SLICES, RES_NODES };

static struct model *M;
static enum res R;
static size_t n_synced;

static int s_upsert(void *ud, const struct doc *obj, char *err, size_t err_size)
{
	struct model_service *svc;
	int r = kdec_service_from_doc(obj, &svc, err, err_size);

	if (r == 0)
		fuzz_check_service(svc);
	else
		FUZZ_CHECK(r == -ENOMEM || *err, "refused without a message");
	return r < 0 ? r : model_service_upsert(M, svc);
}

static int s_remove(void *ud, const char *ns, const char *name)
{
	int r = model_service_delete(M, ns, name);

	FUZZ_CHECK(r == 0, "the reflector deleted service %s/%s, which the model does not have",
		   ns, name);
	return 0;
}

static int e_upsert(void *ud, const struct doc *obj, char *err, size_t err_size)
{
	struct model_slice *s;
	int r = kdec_slice_from_doc(obj, &s, err, err_size);

	if (r == 0)
		fuzz_check_slice(s);
	else
		FUZZ_CHECK(r == -ENOMEM || *err, "refused without a message");
	return r < 0 ? r : model_slice_upsert(M, s);
}

static int e_remove(void *ud, const char *ns, const char *name)
{
	FUZZ_CHECK(model_slice_get(M, ns, name), "the reflector deleted slice %s/%s, which the "
		   "model does not have", ns, name);
	FUZZ_CHECK(model_slice_delete(M, ns, name) == 0, "deleting slice %s/%s", ns, name);
	return 0;
}

static void f_changed(void *ud)
{
}

static void f_synced(void *ud)
{
	n_synced++;
}

static const struct krefl_ops ops[] = {
	[RES_SERVICES] = { s_upsert, s_remove, f_changed, f_synced },
	[RES_SLICES] = { e_upsert, e_remove, f_changed, f_synced },
	[RES_NODES] = { fuzz_node_upsert, fuzz_node_remove, f_changed, f_synced },
};
/* A small page size changes nothing here (the pages are the input's), but
 * the path with continue=... is built from it. */
static const struct krefl_config cfgs[] = {
	[RES_SERVICES] = { .resource = "services", .kind = "Service", .path = "/api/v1/services" },
	[RES_SLICES] = { .resource = "endpointslices", .kind = "EndpointSlice",
			 .path = "/apis/discovery.k8s.io/v1/endpointslices", .page_size = 2 },
	[RES_NODES] = { .resource = "nodes", .kind = "Node", .path = "/api/v1/nodes",
			.cluster_scoped = true },
};

static size_t model_count(void)
{
	return R == RES_SERVICES ? model_service_count(M) : model_slice_count(M);
}

static void check_counts(struct krefl *r)
{
	if (R != RES_NODES)
		FUZZ_CHECK(krefl_count(r) == model_count(), "store %zu keys, model %zu objects",
			   krefl_count(r), model_count());
}

/* The resourceVersion a list must end at: its last page's. */
static int rv_cb(struct doc *root, void *data)
{
	char **rv = data;
	const char *s;

	if (!*rv && doc_get_string(doc_get(root, "metadata"), "resourceVersion", &s) == 0)
		*rv = strdup(s);
	doc_free(root);
	return 0;
}

static void check_finished(struct krefl *r, const uint8_t *page, size_t len)
{
	char *rv = NULL;

	FUZZ_CHECK(krefl_synced(r) && n_synced == 1, "after a complete list: synced %d, %zu "
		   "calls", krefl_synced(r), n_synced);
	FUZZ_CHECK(doc_json_parse((const char *)page, len, rv_cb, &rv, NULL, 0) >= 0,
		   "a page the reflector took does not parse whole");
	FUZZ_CHECK(strcmp(krefl_resource_version(r), rv ? rv : "") == 0,
		   "resourceVersion \"%s\", the last page says \"%s\"", krefl_resource_version(r),
		   rv ? rv : "");
	free(rv);
}

/* One page: its chunks, then its end. */
static void list_page(struct krefl *r, const uint8_t *page, size_t len, long status, size_t chunk)
{
	int q;

	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		if (krefl_test_list_feed(r, page + off, n) < 0) {
			/* The transfer is aborted and the list retried. */
			krefl_test_list_fail(r);
			check_counts(r);
			return;
		}
		check_counts(r);
	}
	q = krefl_test_list_page(r, NULL, 0, status);
	FUZZ_CHECK(q == 0 || q == 1 || q == -ESTALE || q == -EIO || q == -EBADMSG, "page end: %d",
		   q);
	if (q == 0)
		check_finished(r, page, len);
	else if (q < 0 && q != -ESTALE)
		krefl_test_list_fail(r);
	else
		FUZZ_CHECK(n_synced == (krefl_synced(r) ? 1 : 0), "synced %zu times", n_synced);
	check_counts(r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char empty[] = "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}";
	const uint8_t *p, *end;
	uv_loop_t loop;
	struct krefl *r;
	size_t chunk;

	if (!size)
		return 0;
	R = data[0] >> 6 == 1 ? RES_SLICES : data[0] >> 6 == 2 ? RES_NODES : RES_SERVICES;
	chunk = (size_t)(data[0] & 0x3f) % 23 + 1;
	p = data + 1;
	end = data + size;
	n_synced = 0;
	FUZZ_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
	FUZZ_CHECK(model_new(&M) == 0, "model_new");
	FUZZ_CHECK(krefl_new(&loop, NULL, &cfgs[R], &ops[R], M, &r) == 0, "krefl_new");

	while (p < end) {
		const uint8_t *sep, *next, *q;
		long status = 200;

		/* "%%" at the start of a line only; a stray one is body. */
		if (end - p >= 2 && p[0] == '%' && p[1] == '%') {
			sep = p;
		} else {
			q = memmem(p, (size_t)(end - p), "\n%%", 3);
			sep = q ? q + 1 : NULL;
		}
		if (!sep) {
			list_page(r, p, (size_t)(end - p), 200, chunk);
			break;
		}
		next = sep + 2;
		if (next < end && *next >= '1' && *next <= '9') {
			status = 0;
			for (int i = 0; i < 3 && next < end && *next >= '0' && *next <= '9'; i++)
				status = status * 10 + (*next++ - '0');
		}
		while (next < end && *next++ != '\n')
			;
		list_page(r, p, (size_t)(sep - p), status, chunk);
		p = next;
	}

	/* The first empty list ends what is in progress (its earlier pages'
	 * objects stay); the second is a new list that sees nothing. */
	for (int i = 0; i < 2; i++) {
		int q = krefl_test_list_page(r, empty, strlen(empty), 200);

		FUZZ_CHECK(q == 0, "empty relist %d: %d", i, q);
		check_counts(r);
	}
	FUZZ_CHECK(model_service_count(M) == 0 && model_slice_count(M) == 0 && !model_node_get(M) &&
			   krefl_count(r) == 0,
		   "after two empty relists: %zu services, %zu slices, store %zu",
		   model_service_count(M), model_slice_count(M), krefl_count(r));
	FUZZ_CHECK(n_synced == 1, "synced %zu times", n_synced);

	fuzz_reflector_close(r, &loop);
	model_free(M);
	M = NULL;
	return 0;
}
