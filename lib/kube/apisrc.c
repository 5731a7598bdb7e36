/* Three reflectors on one HTTP client, and the decoders between their JSON
 * and the model. */
#include "lib/kube/apisrc.h"
#include "lib/kube/decode.h"
#include "lib/kube/http.h"
#include "lib/kube/kubeconfig.h"
#include "lib/kube/reflector.h"
#include "lib/model/store.h"
#include "lib/util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* kube-proxy's server-side filter, for Services and EndpointSlices alike. */
#define KAPI_LABEL_SELECTOR \
	"!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"

enum { KAPI_SERVICES, KAPI_SLICES, KAPI_NODE, KAPI_N };

struct kapi;

struct kapi_res {
	struct kapi *a;
	struct krefl *refl;
	struct krefl_config cfg;
};

struct kapi {
	uv_loop_t *loop;
	struct kcfg *cfg;
	struct khttp *http;
	struct model *model;
	struct kapi_callbacks cb;
	char *node_name;
	char label_selector[640];
	char node_selector[640];
	struct kapi_res res[KAPI_N];
	bool synced;
	unsigned node_gen;         /* model_node_gen last reported */
	int open;                  /* http + reflectors not yet closed */
	bool closing;
	void (*closed)(void *data);
	void *closed_data;
};

static int svc_upsert(void *ud, const struct doc *obj, char *err, size_t err_size)
{
	struct kapi_res *res = ud;
	struct model_service *svc;
	int r = kdec_service_from_doc(obj, &svc, err, err_size);

	return r < 0 ? r : model_service_upsert(res->a->model, svc);
}

static int svc_remove(void *ud, const char *ns, const char *name)
{
	struct kapi_res *res = ud;
	int r = model_service_delete(res->a->model, ns, name);

	return r == -ENOENT ? 0 : r;
}

static int slice_upsert(void *ud, const struct doc *obj, char *err, size_t err_size)
{
	struct kapi_res *res = ud;
	struct model_slice *slice;
	int r = kdec_slice_from_doc(obj, &slice, err, err_size);

	return r < 0 ? r : model_slice_upsert(res->a->model, slice);
}

static int slice_remove(void *ud, const char *ns, const char *name)
{
	struct kapi_res *res = ud;
	int r = model_slice_delete(res->a->model, ns, name);

	return r == -ENOENT ? 0 : r;
}

static int node_upsert(void *ud, const struct doc *obj, char *err, size_t err_size)
{
	struct kapi_res *res = ud;
	struct model_node *node;
	char buf[64];
	int r = kdec_node_from_doc(obj, &node, err, err_size);

	if (r < 0)
		return r;
	if (strcmp(node->name, res->a->node_name) != 0) {
		/* The field selector should have kept it away. */
		snprintf(err, err_size, "Node %s: not this node (%s)", node->name,
			 res->a->node_name);
		model_node_free(node);
		return -EINVAL;
	}
	if (model_node_set(res->a->model, node) > 0) {
		const struct model_node *n = model_node_get(res->a->model);
		const char *zone = kv_get(n->labels, n->n_labels, NODE_ZONE_LABEL);

		log_info("node %s: zone %s, %zu addresses (first %s), %zu pod CIDRs", n->name,
			 zone ? zone : "(none)", n->n_addrs,
			 n->n_addrs ? ip_addr_fmt(&n->addrs[0], buf) : "-", n->n_pod_cidrs);
	}
	return 0;
}

static int node_remove(void *ud, const char *ns, const char *name)
{
	struct kapi_res *res = ud;

	log_warn("node %s was deleted from the API; serving on without its labels", name);
	model_node_set(res->a->model, NULL);
	return 0;
}

static void on_changed(void *ud)
{
	struct kapi_res *res = ud;
	struct kapi *a = res->a;

	/* Before the first sync the model is incomplete: the owner waits for
	 * synced rather than syncing half a cluster. */
	if (!a->synced || !a->cb.changed)
		return;
	/* A node change matters even with no service (node port addresses). */
	if (model_dirty_count(a->model) > 0 || model_node_gen(a->model) != a->node_gen) {
		a->node_gen = model_node_gen(a->model);
		a->cb.changed(a->cb.data);
	}
}

static void on_synced(void *ud)
{
	struct kapi_res *res = ud;
	struct kapi *a = res->a;

	for (int i = 0; i < KAPI_N; i++)
		if (!krefl_synced(a->res[i].refl))
			return;
	a->synced = true;
	log_info("listed everything from %s: %zu services, %zu endpoint slices, node %s %s",
		 khttp_server(a->http), model_service_count(a->model),
		 model_slice_count(a->model), a->node_name,
		 model_node_get(a->model) ? "found" : "not found");
	if (a->cb.synced)
		a->cb.synced(a->cb.data);
}

static const struct krefl_ops kapi_ops[KAPI_N] = {
	[KAPI_SERVICES] = { svc_upsert, svc_remove, on_changed, on_synced },
	[KAPI_SLICES] = { slice_upsert, slice_remove, on_changed, on_synced },
	[KAPI_NODE] = { node_upsert, node_remove, on_changed, on_synced },
};

static void kapi_free(struct kapi *a)
{
	kcfg_free(a->cfg);
	free(a->node_name);
	free(a);
}

static void on_part_closed(void *data)
{
	struct kapi *a = data;
	void (*closed)(void *) = a->closed;
	void *cdata = a->closed_data;

	if (--a->open > 0)
		return;
	kapi_free(a);
	if (closed)
		closed(cdata);
}

int kapi_new(uv_loop_t *loop, struct kcfg *cfg, const char *node_name, struct model *m,
	     const struct kapi_callbacks *cb, struct kapi **out)
{
	static const char *const resources[KAPI_N] = { "services", "endpointslices", "nodes" };
	static const char *const kinds[KAPI_N] = { "Service", "EndpointSlice", "Node" };
	static const char *const paths[KAPI_N] = {
		"/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/nodes",
	};
	char esc[600], sel[300];
	struct kapi *a;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a) {
		kcfg_free(cfg);
		return -ENOMEM;
	}
	a->loop = loop;
	a->cfg = cfg;
	a->model = m;
	a->cb = *cb;
	a->node_name = strdup(node_name);
	if (!a->node_name)
		goto oom;
	if (!khttp_escape(KAPI_LABEL_SELECTOR, esc, sizeof(esc)))
		goto inval;
	snprintf(a->label_selector, sizeof(a->label_selector), "labelSelector=%s", esc);
	snprintf(sel, sizeof(sel), "metadata.name=%s", node_name);
	if (!khttp_escape(sel, esc, sizeof(esc)))
		goto inval;
	snprintf(a->node_selector, sizeof(a->node_selector), "fieldSelector=%s", esc);

	r = khttp_new(loop, cfg, &a->http);
	if (r < 0)
		goto fail;
	a->open = 1;
	for (int i = 0; i < KAPI_N; i++) {
		struct kapi_res *res = &a->res[i];

		res->a = a;
		res->cfg.resource = resources[i];
		res->cfg.kind = kinds[i];
		res->cfg.path = paths[i];
		res->cfg.selector = i == KAPI_NODE ? a->node_selector : a->label_selector;
		res->cfg.cluster_scoped = i == KAPI_NODE;
		r = krefl_new(loop, a->http, &res->cfg, &kapi_ops[i], res, &res->refl);
		if (r < 0)
			goto fail;
		a->open++;
	}
	*out = a;
	return 0;
oom:
	r = -ENOMEM;
	goto fail;
inval:
	r = -EINVAL;
fail:
	if (a->open) {
		/* Handles exist: they close through the loop. */
		kapi_close(a, NULL, NULL);
		return r;
	}
	kapi_free(a);
	return r;
}

void kapi_start(struct kapi *a)
{
	log_info("watching services, endpointslices and node %s at %s (%s)", a->node_name,
		 a->cfg->server, a->cfg->origin ? a->cfg->origin : "");
	for (int i = 0; i < KAPI_N; i++)
		krefl_start(a->res[i].refl);
}

void kapi_close(struct kapi *a, void (*closed)(void *data), void *data)
{
	if (!a || a->closing)
		return;
	a->closing = true;
	a->closed = closed;
	a->closed_data = data;
	/* Reflectors first: they cancel their requests on the client. */
	for (int i = 0; i < KAPI_N; i++)
		if (a->res[i].refl)
			krefl_close(a->res[i].refl, on_part_closed, a);
	khttp_close(a->http, on_part_closed, a);
}

bool kapi_synced(const struct kapi *a)
{
	return a->synced;
}

const char *kapi_server(const struct kapi *a)
{
	return a->cfg->server;
}
