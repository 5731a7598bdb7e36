/* A small Prometheus metrics registry: counters, gauges and histograms,
 * optionally with one or two labels, rendered in the text exposition format
 * 0.0.4 exactly as client_golang (and so kube-proxy) writes it, so that
 * dashboards and alerts built on kube-proxy's /metrics keep working.
 *
 * What "exactly" means here: families sorted by name, series of a family
 * sorted by label values (labels themselves in name order, `le` last),
 * `# HELP` before `# TYPE`, help escaped (\\ and \n), label values escaped
 * (\\, \" and \n), every number written as Go's
 * strconv.FormatFloat(v, 'g', -1, 64) (shortest round-trip digits, exponent
 * form below 1e-4 and from 1e+06 up: 0.001, 1e-06, 16.384, 1.048576e+06),
 * histogram counts too; a labelled family with no series yet is left out, as
 * client_golang leaves out an empty Vec.
 *
 * Single-threaded: everything runs on the libuv loop, nothing locks.
 *
 * kube-proxy's metrics that we mean to serve: type, buckets, the help text
 * kube-proxy writes (component-base puts "[ALPHA] " before the help of every
 * ALPHA metric, so ours must too: "[ALPHA] SyncProxyRules latency in
 * seconds"), and what the number means for nftproxy. kube-proxy >= 1.33
 * adds an `ip_family` label to the ones marked (f); whether we follow is
 * the daemon's call (one `inet` table serves both families).
 *
 * kubeproxy_sync_proxy_rules_duration_seconds                 histogram S (f)
 *   help "SyncProxyRules latency in seconds"
 *   ours: wall time of one sync, full or partial, from the timer firing to
 *   the kernel's answer to the batch (refused batches included)
 * kubeproxy_sync_full_proxy_rules_duration_seconds            histogram S (f)
 *   help "SyncProxyRules latency in seconds for full resyncs"
 *   ours: the same, for syncs that diffed the whole desired table (the
 *   first sync, a sync after a failure)
 * kubeproxy_sync_partial_proxy_rules_duration_seconds         histogram S (f)
 *   help "SyncProxyRules latency in seconds for partial resyncs"
 *   ours: the same, for syncs that sent only what dirty services changed
 * kubeproxy_network_programming_duration_seconds              histogram N (f)
 *   help "In Cluster Network Programming Latency in seconds"
 *   ours: per EndpointSlice in a sync the kernel accepted, sync end minus
 *   its endpoints.kubernetes.io/last-change-trigger-time annotation (no
 *   observation without the annotation, or for a time in the future)
 * kubeproxy_sync_proxy_rules_last_timestamp_seconds           gauge (f)
 *   help "The last time proxy rules were successfully synced"
 *   ours: unix time (float seconds) of the last sync the kernel accepted
 * kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds    gauge (f)
 *   help "The last time a sync of proxy rules was queued"
 *   ours: unix time of the last change that marked something dirty (what
 *   /healthz compares with twice the sync period)
 * kubeproxy_sync_proxy_rules_service_changes_total            counter
 *   help "Cumulative proxy rules Service changes"
 *   ours: Service events (add, update, delete) that changed the model
 * kubeproxy_sync_proxy_rules_service_changes_pending          gauge
 *   help "Pending proxy rules Service changes"
 *   ours: services marked dirty by a Service change, not yet synced
 * kubeproxy_sync_proxy_rules_endpoint_changes_total           counter
 *   help "Cumulative proxy rules Endpoint changes"
 *   ours: EndpointSlice events (add, update, delete) that changed the model
 * kubeproxy_sync_proxy_rules_endpoint_changes_pending         gauge
 *   help "Pending proxy rules Endpoint changes"
 *   ours: services marked dirty by an endpoint change, not yet synced
 * kubeproxy_sync_proxy_rules_nftables_sync_failures_total     counter (f)
 *   help "Cumulative proxy nftables sync failures"
 *   ours: syncs whose batch the kernel refused or that failed before sending
 * kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy}  gauge (f)
 *   help "Number of services with a Local traffic policy and no endpoints"
 *   ours: recounted at each sync, services with internalTrafficPolicy
 *   Local (traffic_policy="internal") or externalTrafficPolicy Local
 *   (traffic_policy="external") and no ready endpoint on this node
 *   (kube-proxy's name says _total but it is a gauge)
 *
 * S: 15 bounds 0.001 * 2^i, i = 0..14 (0.001 ... 16.384), as
 *    metrics_buckets_exponential(0.001, 2, 15, b).
 * N: 81 bounds: 0; 0.25, 0.5; 1 to 59 by 1; 60 to 115 by 5; 120 to 300 by
 *    30 (kube-proxy appends linear runs to a leading 0), from
 *    metrics_buckets_linear() runs.
 *
 * metrics_register_process() adds client_golang's process collector subset
 * (no [ALPHA] prefix there): process_cpu_seconds_total,
 * process_open_fds, process_max_fds, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_virtual_memory_max_bytes,
 * process_start_time_seconds. */
#ifndef NFTPROXY_UTIL_METRICS_H
#define NFTPROXY_UTIL_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* The Content-Type of what metrics_render() writes. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#define METRICS_MAX_LABELS 2
/* Series per labelled family: labels are for a handful of values (policy,
 * family, status code), never for objects such as services. */
#define METRICS_MAX_SERIES 64
/* Bucket bounds per histogram, +Inf not counted. */
#define METRICS_MAX_BUCKETS 256
/* Room for any double metrics_format_double() writes, with its NUL. */
#define METRICS_DOUBLE_LEN 32

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

struct metrics;	       /* the registry */
struct metrics_family; /* one metric name: its type, help, labels, series */
struct metrics_series; /* one set of label values of a family, and its value */

struct metrics_opts {
	enum metrics_type type;
	const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]* */
	const char *help; /* any text; NULL is "" */
	/* 0, 1 or 2 label names ([a-zA-Z_][a-zA-Z0-9_]*, not starting with
	 * "__", not "le" for a histogram), the rest NULL. */
	const char *labels[METRICS_MAX_LABELS];
	/* Histograms: strictly increasing upper bounds, no NaN; a last +Inf
	 * is dropped (the +Inf bucket is always there). At least one. */
	const double *buckets;
	size_t n_buckets;
};

/* An empty registry. Returns 0 and *out (free with metrics_free()) or
 * -ENOMEM. */
int metrics_new(struct metrics **out);
/* Frees the registry, its families and series (NULL is fine): every
 * family and series pointer it gave out dies with it. */
void metrics_free(struct metrics *m);

/* Adds a family; the registry copies what opts points to. A family
 * without labels has its one series from the start (it renders as 0).
 * Returns 0 and *out (owned by the registry), -EINVAL for a bad name,
 * label name or bucket list, -EEXIST for a name already registered, or
 * -ENOMEM. */
int metrics_register(struct metrics *m, const struct metrics_opts *opts,
		     struct metrics_family **out);

/* The series of f for these label values, given in the order of
 * opts.labels; created (at zero) on first use. A family without labels
 * takes (NULL, NULL). Values may be "" but not NULL, and must be UTF-8.
 * Returns 0 and *out (owned by the registry), -EINVAL for the wrong number
 * of values, -EILSEQ for a value that is not UTF-8, -E2BIG when f already
 * has METRICS_MAX_SERIES series, or -ENOMEM. */
int metrics_series(struct metrics_family *f, const char *v1, const char *v2,
		   struct metrics_series **out);

/* Updates. They cannot fail; a call that does not fit the series' type
 * (observe on a counter, set on a histogram, a negative add to a counter)
 * is ignored, as a programming error that must not take the loop down. */
void metrics_inc(struct metrics_series *s);	      /* counter, gauge */
void metrics_add(struct metrics_series *s, double v); /* counter (v >= 0), gauge */
/* Gauge; counter only to mirror a count kept elsewhere that never
 * decreases. */
void metrics_set(struct metrics_series *s, double v);
/* Histogram: v goes into the first bucket whose bound is >= v (a value
 * equal to a bound is in that bucket), else +Inf (also NaN). */
void metrics_observe(struct metrics_series *s, double v);

/* A counter's or gauge's value; a histogram's sum. */
double metrics_value(const struct metrics_series *s);
/* A histogram's number of observations (0 for other types). */
uint64_t metrics_count(const struct metrics_series *s);

/* client_golang's bucket helpers, computed the same way (repeated *= and
 * += , so the bounds are the same doubles and render the same): n bounds
 * into out. Return 0, or -EINVAL for n == 0, start <= 0 or factor <= 1
 * (exponential), width <= 0 (linear). */
int metrics_buckets_exponential(double start, double factor, size_t n, double *out);
int metrics_buckets_linear(double start, double width, size_t n, double *out);

/* Adds the process_* families, read from /proc/self at each render (the
 * start time once, here). Returns 0, -EEXIST when already added, -errno
 * when /proc cannot be read, or -ENOMEM. A family whose source cannot be
 * read at render time is left out of that render. */
int metrics_register_process(struct metrics *m);

/* Writes every family in the text format 0.0.4. Returns 0 and *out (a
 * NUL-terminated string, free() it) and *len (without the NUL), or
 * -ENOMEM. */
int metrics_render(const struct metrics *m, char **out, size_t *len);

/* v as Go's strconv.FormatFloat(v, 'g', -1, 64) with client_golang's
 * spellings of the specials (+Inf, -Inf, NaN; -0 is "0"). buf holds at
 * least METRICS_DOUBLE_LEN bytes. Returns the length written. */
size_t metrics_format_double(double v, char *buf);

#endif
