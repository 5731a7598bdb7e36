/* The metrics server on --metrics-bind-address: /metrics in Prometheus's
 * text format with kube-proxy's metric names where the meaning matches
 * (README: "Metrics"), our own under nftproxy_, and /configz (the
 * effective configuration as JSON, as kube-proxy's /configz). */
#ifndef NFTPROXY_CMD_PROMSRV_H
#define NFTPROXY_CMD_PROMSRV_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

struct model;
struct nft_sync_stats;
struct promsrv;

/* hostport as healthz_new's; configz may be NULL (no /configz), else it
 * is copied. Returns 0, -EINVAL or -errno of the bind. */
int promsrv_new(uv_loop_t *loop, const char *hostport, const char *configz,
		struct promsrv **out);
/* A change was queued (the last queued timestamp). */
void promsrv_queued(struct promsrv *p);
/* A sync ran: ok says whether the kernel took it. */
void promsrv_sync(struct promsrv *p, const struct nft_sync_stats *st, bool ok);
/* After a successful sync: the model's counters, pending changes, the
 * network programming latency of the slice changes it applied, and the
 * services whose Local policy finds no local endpoint. */
void promsrv_model(struct promsrv *p, struct model *m, size_t no_local_internal,
		   size_t no_local_external);
/* NULL is a no-op. */
void promsrv_close(struct promsrv *p);

#endif
