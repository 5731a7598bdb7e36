/* A watch stream of any bytes, cut into chunks of any sizes, through the
 * reflector into a real model: no crash or leak, the reflector's store of
 * keys always agrees with the model (every key it deletes is there), and a
 * relist with an empty list leaves the model empty. The first byte of the
 * input picks the chunk sizes, and with its top bit the resource: Services
 * (namespaced) or Nodes (cluster-scoped, through the Node decoder). */
#include "lib/kube/decode.h"
#include "lib/kube/reflector.h"
#include "lib/model/store.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <uv.h>

static struct model *M;

static int f_upsert(void *ud, const struct doc *obj, char *err, size_t err_size)
{
	struct model_service *svc;
	int r = kdec_service_from_doc(obj, &svc, err, err_size);

	if (r == 0)
		fuzz_check_service(svc);
	return r < 0 ? r : model_service_upsert(M, svc);
}

static int f_remove(void *ud, const char *ns, const char *name)
{
	int r = model_service_delete(M, ns, name);

	FUZZ_CHECK(r == 0, "the reflector deleted %s/%s, which the model does not have", ns, name);
	return 0;
}

static void f_changed(void *ud)
{
}

static const struct krefl_ops ops = { f_upsert, f_remove, f_changed, NULL };
static const struct krefl_ops node_ops = { fuzz_node_upsert, fuzz_node_remove, f_changed, NULL };
static const struct krefl_config cfg = { .resource = "services", .path = "/api/v1/services" };
static const struct krefl_config node_cfg = { .resource = "nodes", .path = "/api/v1/nodes",
					      .cluster_scoped = true };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char empty[] = "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}";
	uv_loop_t loop;
	struct krefl *r;
	size_t chunk, off;
	bool nodes;

	if (!size)
		return 0;
	nodes = data[0] & 0x80;
	chunk = (size_t)(data[0] & 0x7f) % 17 + 1;
	data++;
	size--;
	FUZZ_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
	FUZZ_CHECK(model_new(&M) == 0, "model_new");
	FUZZ_CHECK(krefl_new(&loop, NULL, nodes ? &node_cfg : &cfg, nodes ? &node_ops : &ops, M,
			     &r) == 0, "krefl_new");
	FUZZ_CHECK(krefl_test_list_page(r, empty, strlen(empty), 200) == 0, "first list");

	krefl_test_watch_begin(r);
	for (off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		/* Stops at the first error, as the HTTP callback would. */
		if (krefl_test_watch_feed(r, data + off, n) < 0)
			break;
		FUZZ_CHECK(nodes || krefl_count(r) == model_service_count(M),
			   "store %zu keys, model %zu services", krefl_count(r),
			   model_service_count(M));
	}
	FUZZ_CHECK(nodes || krefl_count(r) == model_service_count(M),
		   "store %zu keys, model %zu services", krefl_count(r), model_service_count(M));

	/* A relist that finds nothing deletes everything. */
	FUZZ_CHECK(krefl_test_list_page(r, empty, strlen(empty), 200) == 0, "relist");
	FUZZ_CHECK(model_service_count(M) == 0 && !model_node_get(M) && krefl_count(r) == 0,
		   "after an empty relist: model %zu, store %zu", model_service_count(M),
		   krefl_count(r));

	fuzz_reflector_close(r, &loop);
	model_free(M);
	M = NULL;
	return 0;
}
