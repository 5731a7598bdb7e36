/* Decoded objects through the model, so that merging, re-labelling and
 * deleting are fuzzed along with the decoders.
 *
 * Input: batches of manifests (JSON or YAML, as kdec_parse_buffer takes
 * them) separated by a line "%%". A batch whose first line is "#delete"
 * deletes the objects it names; any other batch upserts what it decodes.
 * After each batch the endpoints of every port of every service are merged
 * for both families and checked against model_endpoints()'s contract and
 * against model_ref.c, which applies the same batches to plain arrays. */
#include "lib/kube/decode.h"
#include "lib/model/store.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/model_ref.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH_SEP   "\n%%\n"
#define DELETE_MARK "#delete\n"

static void check_endpoints(const struct model *m, const struct model_service *svc,
			    const struct svc_port *port, int family)
{
	struct model_endpoint *eps = NULL;
	int n = model_endpoints(m, svc, port, family, &eps);

	FUZZ_CHECK(n >= 0, "model_endpoints: %d", n);
	FUZZ_CHECK((n == 0) == (eps == NULL), "%d endpoints at %p", n, (void *)eps);
	for (int i = 0; i < n; i++) {
		const struct model_endpoint *e = &eps[i];

		FUZZ_CHECK(e->addr.family == family, "endpoint %d of family %d, want %d", i,
			   e->addr.family, family);
		/* Sorted by address, one per address. */
		FUZZ_CHECK(i == 0 || ip_addr_cmp(&eps[i - 1].addr, &e->addr) < 0,
			   "endpoints %d and %d out of order or duplicated", i - 1, i);
		FUZZ_CHECK(e->src && e->src->n_addrs && ip_addr_eq(&e->src->addr, &e->addr),
			   "endpoint %d: not its source's first address", i);
		FUZZ_CHECK(e->ready == slice_endpoint_ready(e->src) &&
				   e->serving == slice_endpoint_serving(e->src) &&
				   e->terminating == slice_endpoint_terminating(e->src),
			   "endpoint %d: conditions differ from the slice's", i);
		FUZZ_CHECK(e->node_name == e->src->node_name && e->zone == e->src->zone,
			   "endpoint %d: node or zone not borrowed from the slice", i);
	}
	free(eps);
}

struct walk {
	const struct model *m;
	size_t n;
};

static int check_service(const struct model_service *svc, void *data)
{
	struct walk *w = data;

	w->n++;
	FUZZ_CHECK(model_service_get(w->m, svc->ns, svc->name) == svc, "%s/%s not found", svc->ns,
		   svc->name);
	(void)model_service_ignored(svc);
	for (size_t i = 0; i < svc->n_ports; i++) {
		check_endpoints(w->m, svc, &svc->ports[i], AF_INET);
		check_endpoints(w->m, svc, &svc->ports[i], AF_INET6);
	}
	return 0;
}

static void check_model(struct model *m)
{
	struct walk w = { .m = m };
	char **keys = NULL;
	int n;

	FUZZ_CHECK(model_service_foreach(m, check_service, &w) == 0, "foreach");
	FUZZ_CHECK(w.n == model_service_count(m), "visited %zu of %zu services", w.n,
		   model_service_count(m));
	n = model_take_dirty(m, &keys);
	FUZZ_CHECK(n >= 0, "model_take_dirty: %d", n);
	for (int i = 1; i < n; i++)
		FUZZ_CHECK(strcmp(keys[i - 1], keys[i]) < 0, "dirty keys \"%s\", \"%s\" not sorted",
			   keys[i - 1], keys[i]);
	for (int i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	FUZZ_CHECK(model_dirty_count(m) == 0, "dirty after take");
}

static void apply(struct model *m, struct kdec_result *res, bool del)
{
	for (size_t i = 0; i < res->n_objects; i++) {
		struct kdec_object *o = &res->objects[i];
		int r;

		if (del && o->svc)
			r = model_service_delete(m, o->svc->ns, o->svc->name);
		else if (del)
			r = model_slice_delete(m, o->slice->ns, o->slice->name);
		else if (o->svc)
			r = model_service_upsert(m, o->svc);
		else
			r = model_slice_upsert(m, o->slice);
		FUZZ_CHECK(r == 0 || (del && r == -ENOENT), "%s %s: %d", del ? "delete" : "upsert",
			   o->desc, r);
		if (!del) {
			/* Taken in every case. */
			o->svc = NULL;
			o->slice = NULL;
		}
	}
	if (!del)
		return;
	/* A delete needs only a name: a rejected object gives one too. */
	for (size_t i = 0; i < res->n_rejected; i++) {
		const struct kdec_rejected *rej = &res->rejected[i];
		int r;

		if (!rej->ns)
			continue;
		if (rej->kind == KDEC_SERVICE)
			r = model_service_delete(m, rej->ns, rej->name);
		else
			r = model_slice_delete(m, rej->ns, rej->name);
		FUZZ_CHECK(r == 0 || r == -ENOENT, "delete %s/%s: %d", rej->ns, rej->name, r);
	}
	for (size_t i = 0; i < res->n_objects; i++) {
		struct kdec_object *o = &res->objects[i];

		if (o->svc)
			FUZZ_CHECK(!model_service_get(m, o->svc->ns, o->svc->name), "%s kept",
				   o->desc);
		else
			FUZZ_CHECK(!model_slice_get(m, o->slice->ns, o->slice->name), "%s kept",
				   o->desc);
	}
}

/* The reference gets its own copy of the batch's objects. */
static void apply_ref(struct model_ref *ref, struct kdec_result *res, bool del)
{
	for (size_t i = 0; i < res->n_objects; i++) {
		struct kdec_object *o = &res->objects[i];

		if (del && o->svc)
			model_ref_delete_service(ref, o->svc->ns, o->svc->name);
		else if (del)
			model_ref_delete_slice(ref, o->slice->ns, o->slice->name);
		else if (o->svc)
			model_ref_put_service(ref, o->svc);
		else
			model_ref_put_slice(ref, o->slice);
		if (!del) {
			o->svc = NULL;
			o->slice = NULL;
		}
	}
	for (size_t i = 0; del && i < res->n_rejected; i++) {
		const struct kdec_rejected *rej = &res->rejected[i];

		if (rej->ns && rej->kind == KDEC_SERVICE)
			model_ref_delete_service(ref, rej->ns, rej->name);
		else if (rej->ns)
			model_ref_delete_slice(ref, rej->ns, rej->name);
	}
}

static void batch(struct model *m, struct model_ref *ref, const uint8_t *data, size_t size)
{
	bool del =
		size >= strlen(DELETE_MARK) && memcmp(data, DELETE_MARK, strlen(DELETE_MARK)) == 0;
	struct kdec_result res = { 0 };
	char err[KDEC_ERR_MAX];
	char *buf;

	/* The mark is not part of the manifests, so that a JSON batch stays JSON. */
	if (del) {
		data += strlen(DELETE_MARK);
		size -= strlen(DELETE_MARK);
	}
	/* Its own heap block, so that reading past the batch is caught. */
	buf = malloc(size ? size : 1);
	FUZZ_CHECK(buf != NULL, "out of memory");
	memcpy(buf, data, size);
	if (kdec_parse_buffer(buf, size, "fuzz", &res, err, sizeof(err)) == 0) {
		apply(m, &res, del);
		kdec_result_fini(&res);
		FUZZ_CHECK(kdec_parse_buffer(buf, size, "fuzz", &res, err, sizeof(err)) == 0,
			   "second parse");
		apply_ref(ref, &res, del);
		kdec_result_fini(&res);
	}
	free(buf);
	check_model(m);
	model_ref_check(ref, m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const size_t seplen = strlen(BATCH_SEP);
	struct model_ref ref = { 0 };
	struct model *m;
	const uint8_t *end = data + size, *sep;
	int r;

	r = model_new(&m);
	FUZZ_CHECK(r == 0, "model_new: %d", r);
	for (;;) {
		sep = memmem(data, (size_t)(end - data), BATCH_SEP, seplen);
		if (!sep)
			break;
		batch(m, &ref, data, (size_t)(sep - data) + 1);
		data = sep + seplen;
	}
	batch(m, &ref, data, (size_t)(end - data));
	model_free(m);
	model_ref_fini(&ref);
	return 0;
}
