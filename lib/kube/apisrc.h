/* The API source: Services, EndpointSlices and this node's Node from the
 * Kubernetes API server, each kept by a reflector (list+watch), decoded
 * into the model the manifest source feeds too.
 *
 * As kube-proxy, it asks the server to filter: Services and EndpointSlices
 * labelled service.kubernetes.io/service-proxy-name (another proxy's) or
 * service.kubernetes.io/headless are never sent, and of the Nodes only the
 * one named node_name. */
#ifndef NFTPROXY_KUBE_APISRC_H
#define NFTPROXY_KUBE_APISRC_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

struct kcfg;
struct model;
struct kapi;

struct kapi_callbacks {
	/* Objects went into the model: schedule a sync. */
	void (*changed)(void *data);
	/* Every resource has been listed once: the model is complete, the
	 * first sync may run. */
	void (*synced)(void *data);
	void *data;
};

/* Takes ownership of cfg (in every case). Borrows loop, m and cb, which
 * must outlive the source; copies node_name. Returns 0 or -errno. */
int kapi_new(uv_loop_t *loop, struct kcfg *cfg, const char *node_name, struct model *m,
	     const struct kapi_callbacks *cb, struct kapi **out);
/* Starts listing. */
void kapi_start(struct kapi *a);
/* Stops every request; a is freed once libuv has closed its handles, then
 * closed(data) is called (may be NULL). The model keeps what it was given. */
void kapi_close(struct kapi *a, void (*closed)(void *data), void *data);

bool kapi_synced(const struct kapi *a);
/* "https://host:port" */
const char *kapi_server(const struct kapi *a);

#endif
