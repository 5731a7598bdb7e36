/* Which endpoints of a service port get which traffic: kube-proxy's
 * CategorizeEndpoints, a pure function of the service, its endpoints and
 * this node (name and zone).
 *
 *   cluster: for internalTrafficPolicy Cluster and for external traffic
 *            with externalTrafficPolicy Cluster (and for the short-circuit
 *            of pod and node traffic to external addresses under Local):
 *            the ready endpoints, narrowed by topology hints when every
 *            ready endpoint has hints and one is for this zone (or node);
 *            if none is ready, the serving endpoints that are terminating.
 *   local:   for the Local policies: this node's ready endpoints; if none,
 *            this node's serving and terminating ones.
 *   has_any: any endpoint is usable at all (no: the service rejects). */
#ifndef NFTPROXY_MODEL_CATEGORIZE_H
#define NFTPROXY_MODEL_CATEGORIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/model/store.h"

struct model_split {
	const struct model_endpoint **cluster; /* heap array of pointers into eps */
	size_t n_cluster;
	const struct model_endpoint **local;
	size_t n_local;
	bool has_any;
	/* How topology narrowed cluster (for logs): NULL, "zone" or "node". */
	const char *topology;
};

/* Whether the service takes traffic at node ports, external IPs or load
 * balancer addresses of family (0: any family). */
bool model_service_external(const struct model_service *svc, int family);

/* eps[0..n) are one service port's endpoints (model_endpoints). node and
 * zone may be NULL (unknown). Fills *out (free with model_split_fini).
 * Returns 0 or -ENOMEM. */
int model_categorize(const struct model_service *svc, const struct model_endpoint *eps,
		     size_t n, const char *node, const char *zone, struct model_split *out);
void model_split_fini(struct model_split *s);

#endif
