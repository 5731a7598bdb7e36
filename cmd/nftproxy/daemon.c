/* The daemon's loop: source changes mark the model dirty and ask for a
 * sync; one timer runs the syncs, rate-limited as kube-proxy's
 * BoundedFrequencyRunner: a token bucket of DAEMON_SYNC_BURST syncs that
 * refills one per min-sync-period, so an isolated change (even one that
 * arrives as two events, a Service and its EndpointSlice) is synced at
 * once, while a stream of changes costs one sync per period. A failed sync
 * is retried by the same timer with exponential backoff; a second timer
 * asks for a full resync every sync-period. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cmd/nftproxy/daemon.h"
#include "cmd/nftproxy/healthz.h"
#include "cmd/nftproxy/promsrv.h"
#include "lib/kube/apisrc.h"
#include "lib/kube/kubeconfig.h"
#include "lib/model/store.h"
#include "lib/source/source.h"
#include "lib/model/categorize.h"
#include "lib/util/log.h"
#include "lib/util/svchealth.h"
#include "nft/cleanup.h"
#include "nft/sync.h"

struct daemon {
	const struct daemon_config *cfg;
	uv_loop_t loop;
	/* Handles are embedded; the struct outlives uv_run, which returns only
	 * after every close callback ran. */
	uv_signal_t sigterm, sigint;
	uv_timer_t sync_timer;     /* the next sync: coalesced, or a retry */
	uv_timer_t resync_timer;   /* periodic full resync */
	bool handles_init;

	struct model *model;
	struct nft_sync *sync;
	struct svchealth *health;  /* healthCheckNodePort servers */
	struct healthz *healthz;   /* /healthz and /livez */
	struct promsrv *prom;      /* /metrics and /configz */
	bool node_seen;
	struct msrc *src;          /* --manifests */
	struct kapi *api;          /* or the API */
	bool source_ready;         /* the source holds a complete model: syncs may run */
	uint64_t start_time;       /* uv_hrtime at start, for the first sync's log line */
	bool first_sync_done;

	bool stopping;
	double tokens;             /* syncs that may start now (0 .. DAEMON_SYNC_BURST) */
	uint64_t tokens_at;        /* loop time tokens was last refilled */
	bool sync_armed;
	uint64_t sync_due;         /* loop time sync_timer fires */
	bool want_full;
	struct backoff backoff;    /* cur_ms is 0 while syncs succeed */
	unsigned failures;         /* consecutive failed syncs */
};

static void on_sync_timer(uv_timer_t *t);

/* Leftovers of kube-proxy's own modes, for a migration that must not
 * leave two proxies' rules on the node (kube-proxy's --cleanup removes its
 * other modes' rules too). */
int daemon_cleanup_kube_proxy(void)
{
	struct nft_cleanup_report rep;
	char what[160];
	int r;

	r = nft_cleanup_kube_proxy(true, &rep);
	if (r < 0) {
		log_error("--cleanup-kube-proxy: cannot remove kube-proxy's rules: %s; nothing of "
			  "them was changed", strerror(-r));
		return 1;
	}
	for (size_t i = 0; i < rep.n_tables; i++) {
		nft_cleanup_table_describe(&rep.tables[i], what, sizeof(what));
		log_info("--cleanup-kube-proxy: %s", what);
	}
	if (!rep.n_tables)
		log_info("--cleanup-kube-proxy: no rules of kube-proxy's nftables or iptables-nft "
			 "modes found");
	for (size_t i = 0; i < rep.n_legacy; i++)
		log_warn("--cleanup-kube-proxy: iptables-legacy table %s %s still holds %u KUBE-* "
			 "chains, which nftables cannot remove; see %s", rep.legacy[i].family,
			 rep.legacy[i].name, rep.legacy[i].chains, NFT_CLEANUP_LEGACY_HINT);
	return 0;
}


struct health_ctx {
	struct daemon *d;
	struct svchealth_service *v;
	size_t n, cap;
	size_t no_local_int, no_local_ext; /* Local policies without a local endpoint */
};

static int health_cb(const struct model_service *svc, void *data)
{
	struct health_ctx *c = data;
	int fam = svc->n_cluster_ips ? svc->cluster_ips[0].family : AF_INET;
	bool ext_local = svc->external_policy == SVC_POLICY_LOCAL && model_service_external(svc, 0);
	size_t local;

	if (model_service_ignored(svc) ||
	    (!ext_local && svc->internal_policy != SVC_POLICY_LOCAL))
		return 0;
	local = model_local_ready(c->d->model, svc, c->d->cfg->node_name, fam);
	if (!local) {
		c->no_local_int += svc->internal_policy == SVC_POLICY_LOCAL;
		c->no_local_ext += ext_local;
	}
	/* kube-proxy serves a health check node port for the services whose
	 * external traffic goes to local endpoints only. */
	if (!svc->health_check_node_port || !ext_local)
		return 0;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		struct svchealth_service *v = realloc(c->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = ncap;
	}
	c->v[c->n++] = (struct svchealth_service){
		.ns = svc->ns, .name = svc->name,
		.health_check_node_port = svc->health_check_node_port,
		/* One server for both families: the primary family's count, as
		 * kube-proxy's proxier of that family reports it. */
		.local_endpoints = (unsigned)local,
	};
	return 0;
}

/* After a sync: the health check node ports follow the services and their
 * local endpoints (kube-proxy updates them after each sync too). */
static void health_update(struct daemon *d)
{
	struct health_ctx c = { .d = d };
	int r;

	if (!d->health)
		return;
	r = model_service_foreach(d->model, health_cb, &c);
	if (r == 0)
		r = svchealth_sync(d->health, c.v, c.n);
	if (r < 0)
		log_error_errno(r, "Could not update the health check node ports; the next sync "
				   "retries");
	promsrv_model(d->prom, d->model, c.no_local_int, c.no_local_ext);
	free(c.v);
}

static void tokens_refill(struct daemon *d, uint64_t now)
{
	if (!d->cfg->min_sync_ms)
		d->tokens = DAEMON_SYNC_BURST;
	else
		d->tokens += (double)(now - d->tokens_at) / (double)d->cfg->min_sync_ms;
	if (d->tokens > DAEMON_SYNC_BURST)
		d->tokens = DAEMON_SYNC_BURST;
	d->tokens_at = now;
}

/* Asks for a sync. It runs at once when the last one started at least
 * min-sync-period ago, else when that period is over; requests in between
 * fold into the same run. */
static void sync_request(struct daemon *d, bool full)
{
	uint64_t now, due;

	if (full)
		d->want_full = true;
	healthz_queued(d->healthz);
	promsrv_queued(d->prom);
	/* Not before the source has the whole cluster: a sync of half of it
	 * would take away the rules of what it has not seen yet. */
	if (d->stopping || !d->source_ready)
		return;
	/* A retry is armed: it picks up whatever became dirty meanwhile. */
	if (d->backoff.cur_ms)
		return;
	now = uv_now(&d->loop);
	tokens_refill(d, now);
	due = now;
	if (d->tokens < 1)
		due += (uint64_t)((1 - d->tokens) * (double)d->cfg->min_sync_ms + 0.999);
	if (d->sync_armed && d->sync_due <= due)
		return;
	d->sync_armed = true;
	d->sync_due = due;
	uv_timer_start(&d->sync_timer, on_sync_timer, due - now, 0);
}

static void sync_failed(struct daemon *d, int err)
{
	uint64_t now = uv_now(&d->loop), delay;

	d->failures++;
	delay = backoff_next(&d->backoff);
	if (delay < d->cfg->min_sync_ms)
		delay = d->cfg->min_sync_ms;
	log_error("sync of table %s failed (%u in a row): %s; nothing changed in the kernel, "
		  "retrying in %.1fs", d->cfg->table, d->failures, strerror(-err),
		  (double)delay / 1000.0);
	d->sync_armed = true;
	d->sync_due = now + delay;
	uv_timer_start(&d->sync_timer, on_sync_timer, delay, 0);
}

static void on_sync_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;
	struct nft_sync_stats st;
	bool full = d->want_full;
	int r;

	d->sync_armed = false;
	d->want_full = false;
	uv_update_time(&d->loop);
	tokens_refill(d, uv_now(&d->loop));
	d->tokens = d->tokens >= 1 ? d->tokens - 1 : 0;

	memset(&st, 0, sizeof(st));
	r = nft_sync_run(d->sync, d->model, full, &st);
	uv_update_time(&d->loop);
	promsrv_sync(d->prom, &st, r >= 0);
	if (r < 0) {
		sync_failed(d, r);
		return;
	}
	if (d->failures)
		log_info("sync of table %s succeeded after %u failed attempts", d->cfg->table,
			 d->failures);
	d->failures = 0;
	backoff_reset(&d->backoff);
	health_update(d);
	if (!model_dirty_count(d->model) && !nft_sync_pending(d->sync))
		healthz_updated(d->healthz);
	{
		/* kube-proxy's node eligibility: not while the Node is being
		 * deleted, nor once it is gone. */
		const struct model_node *node = model_node_get(d->model);

		d->node_seen = d->node_seen || node;
		healthz_set_node_eligible(d->healthz, node ? !node->deleting : !d->node_seen);
	}
	if (!d->first_sync_done) {
		d->first_sync_done = true;
		log_info("first sync of table %s done %.1f ms after start: %zu services", d->cfg->table,
			 (double)(uv_hrtime() - d->start_time) / 1e6, model_service_count(d->model));
		/* Our rules are in: kube-proxy's can go without a moment with
		 * neither (a failure is logged; ours stay either way). */
		if (d->cfg->cleanup_kube_proxy)
			(void)daemon_cleanup_kube_proxy();
	}
	if (st.messages)
		log_v(1, "synced table %s%s: %zu services, %zu messages, %zu bytes in %.1f ms "
		      "(compile %.1f ms, send %.1f ms of which kernel %.1f ms)", d->cfg->table,
		      full ? " (full)" : "", st.services, st.messages, st.bytes, st.total_ms,
		      st.compile_ms, st.send_ms, st.kernel_ms);
	else
		log_v(2, "synced table %s%s: %zu services, nothing to send, %.1f ms",
		      d->cfg->table, full ? " (full)" : "", st.services, st.total_ms);

	/* Nothing can change the model while the sync runs (one thread), so
	 * this is a safety net: whatever is still dirty gets its own run. */
	if (d->want_full || model_dirty_count(d->model) > 0)
		sync_request(d, false);
}

static void on_resync_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;

	log_v(3, "table %s: periodic full resync", d->cfg->table);
	sync_request(d, true);
}

static void on_source_changed(void *data)
{
	sync_request(data, false);
}

/* The API source has listed everything: the first sync converges the
 * table fully (whatever an earlier run left there is read back). */
static void on_source_synced(void *data)
{
	struct daemon *d = data;

	d->source_ready = true;
	sync_request(d, true);
}

/* Closes everything; uv_run returns once the last handle is closed. */
static void daemon_stop(struct daemon *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	if (d->handles_init) {
		uv_close((uv_handle_t *)&d->sigterm, NULL);
		uv_close((uv_handle_t *)&d->sigint, NULL);
		uv_close((uv_handle_t *)&d->sync_timer, NULL);
		uv_close((uv_handle_t *)&d->resync_timer, NULL);
	}
	svchealth_close(d->health);
	d->health = NULL;
	healthz_close(d->healthz);
	d->healthz = NULL;
	promsrv_close(d->prom);
	d->prom = NULL;
	if (d->src)
		msrc_close(d->src, NULL);
	d->src = NULL;
	if (d->api)
		kapi_close(d->api, NULL, NULL);
	d->api = NULL;
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	log_info("received %s; stopping, the rules in table %s stay in place",
		 signum == SIGTERM ? "SIGTERM" : "SIGINT", d->cfg->table);
	daemon_stop(d);
}

static int handles_init(struct daemon *d)
{
	int r;

	uv_timer_init(&d->loop, &d->sync_timer);
	uv_timer_init(&d->loop, &d->resync_timer);
	uv_signal_init(&d->loop, &d->sigterm);
	uv_signal_init(&d->loop, &d->sigint);
	d->sync_timer.data = d->resync_timer.data = d;
	d->sigterm.data = d->sigint.data = d;
	d->handles_init = true;

	r = uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	if (r == 0)
		r = uv_signal_start(&d->sigint, on_signal, SIGINT);
	if (r < 0) {
		log_error("cannot handle SIGTERM/SIGINT: %s", uv_strerror(r));
		return r;
	}
	return 0;
}

static int start_manifests(struct daemon *d)
{
	int r;

	r = msrc_new(&d->loop, d->cfg->manifests, d->model, on_source_changed, d, &d->src);
	if (r < 0)
		return log_error_errno(r, "manifests %s: cannot create the source",
				       d->cfg->manifests);
	r = msrc_set_node_name(d->src, d->cfg->node_name);
	if (r < 0)
		return log_error_errno(r, "manifests %s: cannot set the node name", d->cfg->manifests);
	/* Loads synchronously and logs why it failed. */
	r = msrc_start(d->src);
	if (r < 0)
		return r;
	log_info("serving manifests from %s into table %s (min sync period %llu ms, "
		 "full resync every %llu ms)", d->cfg->manifests, d->cfg->table,
		 (unsigned long long)d->cfg->min_sync_ms, (unsigned long long)d->cfg->sync_ms);
	d->source_ready = true;
	return 0;
}

static int start_api(struct daemon *d)
{
	struct kapi_callbacks cb = {
		.changed = on_source_changed,
		.synced = on_source_synced,
		.data = d,
	};
	struct kcfg *kc = NULL;
	char err[KCFG_ERR_MAX];
	int r;

	err[0] = '\0';
	r = kcfg_resolve(d->cfg->kubeconfig, d->cfg->master, NULL, &kc, err, sizeof(err));
	if (r < 0) {
		log_error("cannot configure the Kubernetes API client: %s",
			  err[0] ? err : strerror(-r));
		return r;
	}
	r = kapi_new(&d->loop, kc, d->cfg->node_name, d->model, &cb, &d->api);
	if (r < 0)
		return log_error_errno(r, "cannot create the Kubernetes API client");
	log_info("serving the Kubernetes API at %s into table %s as node %s (min sync period "
		 "%llu ms, full resync every %llu ms); the first sync waits for the lists",
		 kapi_server(d->api), d->cfg->table, d->cfg->node_name,
		 (unsigned long long)d->cfg->min_sync_ms, (unsigned long long)d->cfg->sync_ms);
	kapi_start(d->api);
	return 0;
}

static int daemon_start(struct daemon *d)
{
	struct nft_sync_config sc = d->cfg->sync;
	int r;

	sc.table = d->cfg->table;

	r = handles_init(d);
	if (r < 0)
		return r;
	r = model_new(&d->model);
	if (r < 0)
		return log_error_errno(r, "cannot create the model");
	r = svchealth_new(&d->loop, &d->health);
	if (r < 0)
		return log_error_errno(r, "cannot create the health check server");
	if (d->cfg->healthz_addr && *d->cfg->healthz_addr) {
		/* kube-proxy's health timeout: twice the sync period. */
		uint64_t timeout = 2 * (d->cfg->sync_ms ? d->cfg->sync_ms : 30000);

		r = healthz_new(&d->loop, d->cfg->healthz_addr, timeout, &d->healthz);
		if (r < 0 && d->cfg->bind_hard_fail)
			return log_error_errno(r, "cannot serve /healthz and /livez on %s "
					       "(--bind-address-hard-fail)", d->cfg->healthz_addr);
		if (r < 0)
			log_error("cannot serve /healthz and /livez on %s: %s; running without them "
				  "(the probes will fail)", d->cfg->healthz_addr, strerror(-r));
		healthz_queued(d->healthz); /* the first sync is pending */
	}
	if (d->cfg->metrics_addr && *d->cfg->metrics_addr) {
		r = promsrv_new(&d->loop, d->cfg->metrics_addr, d->cfg->configz_json, &d->prom);
		if (r < 0 && d->cfg->bind_hard_fail)
			return log_error_errno(r, "cannot serve /metrics on %s "
					       "(--bind-address-hard-fail)", d->cfg->metrics_addr);
		if (r < 0)
			log_error("cannot serve /metrics on %s: %s; running without metrics",
				  d->cfg->metrics_addr, strerror(-r));
	}
	r = nft_sync_new(&sc, &d->sync);
	if (r < 0)
		return log_error_errno(r, "table %s: cannot open the netfilter netlink socket",
				       d->cfg->table);
	r = d->cfg->manifests ? start_manifests(d) : start_api(d);
	if (r < 0)
		return r;
	/* With manifests the first sync runs right after the initial load;
	 * with the API once every list is in (on_source_synced). */
	sync_request(d, true);
	if (d->cfg->sync_ms)
		uv_timer_start(&d->resync_timer, on_resync_timer, d->cfg->sync_ms,
			       d->cfg->sync_ms);
	return 0;
}

int daemon_run(const struct daemon_config *cfg)
{
	struct daemon d;
	int r, status = 0;

	memset(&d, 0, sizeof(d));
	d.cfg = cfg;
	d.start_time = uv_hrtime();
	d.tokens = DAEMON_SYNC_BURST;
	d.backoff.min_ms = DAEMON_BACKOFF_MIN_MS;
	d.backoff.max_ms = DAEMON_BACKOFF_MAX_MS;
	r = uv_loop_init(&d.loop);
	if (r < 0) {
		log_error("cannot create the event loop: %s; exiting", uv_strerror(r));
		return 1;
	}
	if (daemon_start(&d) < 0) {
		log_error("cannot start; exiting with status 1");
		status = 1;
		daemon_stop(&d);
	}
	uv_run(&d.loop, UV_RUN_DEFAULT);

	r = uv_loop_close(&d.loop);
	if (r < 0)
		log_error("event loop still has handles at exit: %s", uv_strerror(r));
	nft_sync_free(d.sync);
	model_free(d.model);
	if (status == 0)
		log_info("stopped");
	return status;
}
