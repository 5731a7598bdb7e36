/* kube-proxy's proxier health server on --healthz-bind-address:
 *
 *   /livez    200 while every queued change reached the kernel within the
 *             health timeout (twice the sync period), else 503
 *   /healthz  the same, and 503 while this node is being deleted (so load
 *             balancers drain it first)
 *
 * with kube-proxy's JSON body: {"lastUpdated": "...","currentTime": "..."}
 * (and "nodeEligible" for /healthz). Served from the daemon's loop. */
#ifndef NFTPROXY_CMD_HEALTHZ_H
#define NFTPROXY_CMD_HEALTHZ_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

struct healthz;

/* "HOST:PORT" ("0.0.0.0:10256", "[::]:10256", ":10256" for all addresses).
 * Returns 0, -EINVAL (not HOST:PORT) or -errno of the bind. */
int healthz_new(uv_loop_t *loop, const char *hostport, uint64_t timeout_ms,
		struct healthz **out);
/* A change is queued: the oldest one not yet synced counts. */
void healthz_queued(struct healthz *h);
/* Everything queued is in the kernel. */
void healthz_updated(struct healthz *h);
void healthz_set_node_eligible(struct healthz *h, bool eligible);
/* What /livez says now. */
bool healthz_healthy(const struct healthz *h);
/* NULL is a no-op; freed once the loop closed the sockets. */
void healthz_close(struct healthz *h);

#endif
