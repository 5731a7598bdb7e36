/* The model: every Service and EndpointSlice the proxy knows, with the
 * endpoints of each service port merged from all of its slices.
 *
 * Sources (manifest files, the API) upsert and delete objects; the model
 * marks the affected services dirty. The sync takes the dirty set, compiles
 * those services and applies them. The model knows nothing of nftables. */
#ifndef NFTPROXY_MODEL_STORE_H
#define NFTPROXY_MODEL_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/model/types.h"

struct model;

/* One endpoint of one service port, merged from the service's slices. */
struct model_endpoint {
	struct ip_addr addr;
	uint16_t port;             /* the slice port's number for this service port */
	bool ready;
	bool serving;
	bool terminating;
	const char *node_name;     /* borrowed from the slice; may be NULL */
	const char *zone;          /* borrowed; may be NULL */
	const struct slice_endpoint *src; /* borrowed: the slice endpoint (hints etc.) */
};

int model_new(struct model **out);
void model_free(struct model *m);

/* Why a service is not proxied, or NULL when it is: headless, ExternalName,
 * labelled service.kubernetes.io/service-proxy-name, no cluster IP. */
const char *model_service_ignored(const struct model_service *svc);

/* Takes ownership of svc in every case (freed on error or when unchanged).
 * Marks the service dirty unless it is equal to the stored one.
 * Returns 0, or -ENOMEM. */
int model_service_upsert(struct model *m, struct model_service *svc);
/* Returns 0, or -ENOENT if unknown. Marks the service dirty. */
int model_service_delete(struct model *m, const char *ns, const char *name);

/* Same contract as the service calls; marks the owning service dirty
 * (both the old and the new owner when the service-name label changed).
 * Slices of addressType FQDN are kept but contribute no endpoints. */
int model_slice_upsert(struct model *m, struct model_slice *slice);
int model_slice_delete(struct model *m, const char *ns, const char *name);

/* Looks up a slice; NULL if absent. Borrowed until the next upsert or delete. */
const struct model_slice *model_slice_get(const struct model *m, const char *ns,
					   const char *name);
size_t model_slice_count(const struct model *m);

/* This node. Takes ownership of node (NULL: the node was deleted). Returns
 * 1 when what the proxy uses of it changed, 0 when it did not (node freed).
 * A change marks every service dirty (zone, pod CIDRs and addresses shape
 * every service's rules) and bumps model_node_gen; on ENOMEM marking them
 * it still returns 1, and the next full resync catches up. */
int model_node_set(struct model *m, struct model_node *node);
/* Counts node changes: the table skeleton (node port addresses, local
 * traffic detection) follows the node. */
unsigned model_node_gen(const struct model *m);
/* NULL until the node is known. Borrowed until the next model_node_set. */
const struct model_node *model_node_get(const struct model *m);

/* Looks up a service; NULL if absent. Borrowed until the next upsert or delete. */
/* The "ns/name" of the service that has cluster IP ip, or NULL. A cluster
 * IP is one service's: another that lists it as an external or LB IP
 * does not get it (the compiler asks here). */
const char *model_cluster_ip_owner(const struct model *m, const struct ip_addr *ip);

const struct model_service *model_service_get(const struct model *m, const char *ns,
					       const char *name);

size_t model_service_count(const struct model *m);
/* Calls fn for every service (in no particular order); stops at and returns
 * fn's first negative return. */
int model_service_foreach(const struct model *m,
			  int (*fn)(const struct model_service *svc, void *data), void *data);

/* The endpoints of service port `port` of svc in address family `family`
 * (AF_INET / AF_INET6), merged from all slices of the service whose
 * addressType matches, matched by port name as kube-proxy does, deduplicated
 * by address (the first slice seen wins), sorted by address then port.
 * *out is a heap array the caller frees (elements borrow from the model;
 * NULL when the count is 0). Returns the count (>= 0) or -ENOMEM. */
int model_endpoints(const struct model *m, const struct model_service *svc,
		    const struct svc_port *port, int family, struct model_endpoint **out);

/* Number of distinct ready endpoint addresses of family on node `node`,
 * over all of svc's slices: what kube-proxy's health check node port
 * reports as localEndpoints (its proxier of that family counts its own). */
size_t model_local_ready(const struct model *m, const struct model_service *svc,
			 const char *node, int family);

/* Changes the model took (kube-proxy's service and endpoint change
 * metrics): events that changed something, in total and since the last
 * model_take_dirty. */
struct model_counters {
	uint64_t service_changes, endpoint_changes;
	uint64_t service_pending, endpoint_pending;
};
const struct model_counters *model_counters(const struct model *m);

/* The last-change-trigger-times of the slice changes since the last call
 * (for the network programming latency): *out is a heap array the caller
 * frees (NULL when none). Returns the count or -ENOMEM. */
int model_take_triggers(struct model *m, double **out);

/* Dirty services. Keys are "namespace/name". A key may name a service that
 * no longer exists (it was deleted): the sync then removes its rules. */
size_t model_dirty_count(const struct model *m);
/* Moves the dirty set to the caller: *keys is a heap array of heap strings
 * (free each and the array). Returns the count or -ENOMEM. */
int model_take_dirty(struct model *m, char ***keys);
/* Marks service key "ns/name" dirty (whether or not it exists): the sync
 * looks at it again. Returns 0 or -ENOMEM. */
int model_mark_dirty(struct model *m, const char *key);
/* Marks every known service dirty (used for full resyncs). */
int model_mark_all_dirty(struct model *m);

#endif
