#include "cmd/nftproxy/promsrv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/config/kpconfig.h"
#include "lib/model/store.h"
#include "lib/util/httpd.h"
#include "lib/util/log.h"
#include "lib/util/metrics.h"
#include "nft/sync.h"

/* kube-proxy's help texts carry component-base's stability prefix. */
#define ALPHA "[ALPHA] "

struct promsrv {
	struct httpd *srv;
	char *configz;
	struct metrics *m;
	struct metrics_series *sync, *sync_full, *sync_partial, *netprog, *last_ts, *queued_ts,
		*svc_total, *svc_pending, *ep_total, *ep_pending, *failures, *no_local_int,
		*no_local_ext, *batch_bytes, *batch_msgs, *chains, *elements, *services, *slices;
};

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int handle(void *data, const struct httpd_request *req, struct httpd_response *resp)
{
	struct promsrv *p = data;
	size_t len;
	char *text;
	int r;

	if (strcmp(req->path, "/metrics") == 0) {
		r = metrics_render(p->m, &text, &len);
		if (r < 0)
			return r;
		r = httpd_respond(resp, 200, METRICS_CONTENT_TYPE, text, len);
		free(text);
		return r;
	}
	if (strcmp(req->path, "/configz") == 0 && p->configz)
		return httpd_respond(resp, 200, "application/json", p->configz, strlen(p->configz));
	return 0; /* 404 */
}

/* One family with its single series (labels: one label with value v1). */
static int reg(struct promsrv *p, enum metrics_type type, const char *name, const char *help,
	       const double *buckets, size_t n_buckets, const char *label, const char *v1,
	       struct metrics_series **out)
{
	struct metrics_opts o = { .type = type, .name = name, .help = help, .buckets = buckets,
				  .n_buckets = n_buckets, .labels = { label } };
	struct metrics_family *f;
	int r = metrics_register(p->m, &o, &f);

	return r < 0 ? r : metrics_series(f, label ? v1 : NULL, NULL, out);
}

static int reg_all(struct promsrv *p)
{
	double sync_b[15], np_b[81];
	struct metrics_family *f;
	struct metrics_opts o = { .type = METRICS_GAUGE,
				  .name = "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
				  .help = ALPHA "Number of services with a Local traffic policy and no "
					  "endpoints",
				  .labels = { "traffic_policy" } };
	size_t k = 0;
	int r;

	metrics_buckets_exponential(0.001, 2, 15, sync_b);
	/* kube-proxy's network programming buckets: 0, 0.25, 0.5, 1..59, 60..115
	 * by 5, 120..300 by 30. */
	np_b[k++] = 0;
	np_b[k++] = 0.25;
	np_b[k++] = 0.5;
	metrics_buckets_linear(1, 1, 59, np_b + k);
	k += 59;
	metrics_buckets_linear(60, 5, 12, np_b + k);
	k += 12;
	metrics_buckets_linear(120, 30, 7, np_b + k);
	k += 7;
	if ((r = metrics_register_process(p->m)) < 0 && r != -EEXIST)
		log_warn("metrics: no process_* metrics: %s", strerror(-r));
	if ((r = reg(p, METRICS_HISTOGRAM, "kubeproxy_sync_proxy_rules_duration_seconds",
		     ALPHA "SyncProxyRules latency in seconds", sync_b, 15, NULL, NULL, &p->sync)) < 0 ||
	    (r = reg(p, METRICS_HISTOGRAM, "kubeproxy_sync_full_proxy_rules_duration_seconds",
		     ALPHA "SyncProxyRules latency in seconds for full resyncs", sync_b, 15, NULL,
		     NULL, &p->sync_full)) < 0 ||
	    (r = reg(p, METRICS_HISTOGRAM, "kubeproxy_sync_partial_proxy_rules_duration_seconds",
		     ALPHA "SyncProxyRules latency in seconds for partial resyncs", sync_b, 15, NULL,
		     NULL, &p->sync_partial)) < 0 ||
	    (r = reg(p, METRICS_HISTOGRAM, "kubeproxy_network_programming_duration_seconds",
		     ALPHA "In Cluster Network Programming Latency in seconds", np_b, k, NULL, NULL,
		     &p->netprog)) < 0 ||
	    (r = reg(p, METRICS_GAUGE, "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
		     ALPHA "The last time proxy rules were successfully synced", NULL, 0, NULL, NULL,
		     &p->last_ts)) < 0 ||
	    (r = reg(p, METRICS_GAUGE, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
		     ALPHA "The last time a sync of proxy rules was queued", NULL, 0, NULL, NULL,
		     &p->queued_ts)) < 0 ||
	    (r = reg(p, METRICS_COUNTER, "kubeproxy_sync_proxy_rules_service_changes_total",
		     ALPHA "Cumulative proxy rules Service changes", NULL, 0, NULL, NULL,
		     &p->svc_total)) < 0 ||
	    (r = reg(p, METRICS_GAUGE, "kubeproxy_sync_proxy_rules_service_changes_pending",
		     ALPHA "Pending proxy rules Service changes", NULL, 0, NULL, NULL,
		     &p->svc_pending)) < 0 ||
	    (r = reg(p, METRICS_COUNTER, "kubeproxy_sync_proxy_rules_endpoint_changes_total",
		     ALPHA "Cumulative proxy rules Endpoint changes", NULL, 0, NULL, NULL,
		     &p->ep_total)) < 0 ||
	    (r = reg(p, METRICS_GAUGE, "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
		     ALPHA "Pending proxy rules Endpoint changes", NULL, 0, NULL, NULL,
		     &p->ep_pending)) < 0 ||
	    (r = reg(p, METRICS_COUNTER, "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
		     ALPHA "Cumulative proxy nftables sync failures", NULL, 0, NULL, NULL,
		     &p->failures)) < 0 ||
	    (r = reg(p, METRICS_GAUGE, "nftproxy_sync_batch_bytes",
		     "Size of the last netlink batch sent to the kernel, in bytes", NULL, 0, NULL,
		     NULL, &p->batch_bytes)) < 0 ||
	    (r = reg(p, METRICS_GAUGE, "nftproxy_sync_batch_messages",
		     "Netlink messages in the last batch sent to the kernel", NULL, 0, NULL, NULL,
		     &p->batch_msgs)) < 0 ||
	    (r = reg(p, METRICS_GAUGE, "nftproxy_table_chains",
		     "Chains in nftproxy's table after the last sync", NULL, 0, NULL, NULL,
		     &p->chains)) < 0 ||
	    (r = reg(p, METRICS_GAUGE, "nftproxy_table_elements",
		     "Map and set elements nftproxy keeps in its table (LB ranges not counted)",
		     NULL, 0, NULL, NULL, &p->elements)) < 0 ||
	    (r = reg(p, METRICS_GAUGE, "nftproxy_services", "Services in the model", NULL, 0, NULL,
		     NULL, &p->services)) < 0 ||
	    (r = reg(p, METRICS_GAUGE, "nftproxy_endpoint_slices", "EndpointSlices in the model",
		     NULL, 0, NULL, NULL, &p->slices)) < 0)
		return r;
	r = metrics_register(p->m, &o, &f);
	if (r == 0)
		r = metrics_series(f, "internal", NULL, &p->no_local_int);
	if (r == 0)
		r = metrics_series(f, "external", NULL, &p->no_local_ext);
	return r;
}

int promsrv_new(uv_loop_t *loop, const char *hostport, const char *configz,
		struct promsrv **out)
{
	struct promsrv *p;
	char host[64];
	uint16_t port;
	int r;

	if (kpc_hostport_split(hostport, host, sizeof(host), &port) < 0)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	r = metrics_new(&p->m);
	if (r == 0)
		r = reg_all(p);
	if (r == 0 && configz && !(p->configz = strdup(configz)))
		r = -ENOMEM;
	if (r == 0)
		r = httpd_new(loop, host[0] ? host : NULL, port, handle, p, &p->srv);
	if (r < 0) {
		metrics_free(p->m);
		free(p->configz);
		free(p);
		return r;
	}
	log_v(2, "serving /metrics%s on %s", configz ? " and /configz" : "", hostport);
	*out = p;
	return 0;
}

void promsrv_queued(struct promsrv *p)
{
	if (p)
		metrics_set(p->queued_ts, wall_now());
}

void promsrv_sync(struct promsrv *p, const struct nft_sync_stats *st, bool ok)
{
	double secs;

	if (!p)
		return;
	secs = st->total_ms / 1000.0;
	metrics_observe(p->sync, secs);
	metrics_observe(st->full ? p->sync_full : p->sync_partial, secs);
	if (!ok) {
		metrics_inc(p->failures);
		return;
	}
	metrics_set(p->last_ts, wall_now());
	if (st->messages) {
		metrics_set(p->batch_bytes, (double)st->bytes);
		metrics_set(p->batch_msgs, (double)st->messages);
	}
	metrics_set(p->chains, (double)st->table_chains);
	metrics_set(p->elements, (double)st->table_elements);
}

void promsrv_model(struct promsrv *p, struct model *m, size_t no_local_internal,
		   size_t no_local_external)
{
	const struct model_counters *c = model_counters(m);
	double *t = NULL, now = wall_now();
	int n;

	if (!p)
		return;
	metrics_set(p->svc_total, (double)c->service_changes);
	metrics_set(p->ep_total, (double)c->endpoint_changes);
	metrics_set(p->svc_pending, (double)c->service_pending);
	metrics_set(p->ep_pending, (double)c->endpoint_pending);
	metrics_set(p->services, (double)model_service_count(m));
	metrics_set(p->slices, (double)model_slice_count(m));
	metrics_set(p->no_local_int, (double)no_local_internal);
	metrics_set(p->no_local_ext, (double)no_local_external);
	n = model_take_triggers(m, &t);
	for (int i = 0; i < n; i++) {
		double lat = now - t[i];

		/* A trigger time ahead of our clock (skew) says nothing. */
		if (lat >= 0) {
			metrics_observe(p->netprog, lat);
			log_v(4, "network programming latency %.3f s", lat);
		}
	}
	free(t);
}

void promsrv_close(struct promsrv *p)
{
	if (!p)
		return;
	httpd_close(p->srv);
	metrics_free(p->m);
	free(p->configz);
	free(p);
}
