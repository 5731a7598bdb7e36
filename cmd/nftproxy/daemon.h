/* The nftproxy daemon: one libuv loop that runs the source (the Kubernetes
 * API, or a manifests directory), the coalesced syncs of the table, and
 * stops cleanly on SIGTERM/SIGINT. */
#ifndef NFTPROXY_CMD_DAEMON_H
#define NFTPROXY_CMD_DAEMON_H

#include <stdint.h>

#include "lib/util/backoff.h"
#include "nft/sync.h"

/* First retry after a failed sync, and the most the doubling reaches. */
#define DAEMON_BACKOFF_MIN_MS 1000
#define DAEMON_BACKOFF_MAX_MS 30000
/* Syncs that may follow each other at once before min-sync-period applies
 * (kube-proxy's burstSyncs). */
#define DAEMON_SYNC_BURST 2

struct daemon_config {
	const char *manifests;     /* directory of manifests; NULL: the API */
	const char *kubeconfig;    /* --kubeconfig, or NULL */
	const char *master;        /* --master, or NULL */
	const char *node_name;     /* this node's name (--hostname-override or the host name) */
	const char *table;         /* nft table name */
	uint64_t min_sync_ms;      /* no sync starts sooner than this after the last */
	uint64_t sync_ms;          /* full resync period; 0 = never */
	/* The rules' settings (sync.table is set from table). */
	struct nft_sync_config sync;
	/* HTTP servers, "HOST:PORT" ("0.0.0.0:10256", "[::]:10249"); NULL or
	 * "" disables one. healthz serves /healthz and /livez (kube-proxy's
	 * --healthz-bind-address), metrics serves /metrics (and /configz). */
	const char *healthz_addr;
	const char *metrics_addr;
	/* /configz: the effective configuration as JSON (owned by the caller;
	 * NULL: not served). */
	const char *configz_json;
	/* Remove kube-proxy's leftovers once the first sync is in. */
	bool cleanup_kube_proxy;
	/* --bind-address-hard-fail: a server that cannot bind stops the start. */
	bool bind_hard_fail;
};

/* Deletes kube-proxy's nftables tables and iptables-nft KUBE-* chains
 * (nft/cleanup.h), logging what went. Returns 0, or 1 when it could not
 * (logged; nothing of them changed). */
int daemon_cleanup_kube_proxy(void);

/* Runs until SIGTERM or SIGINT. The rules stay in the kernel when it stops,
 * as kube-proxy leaves them, so that a restart interrupts no traffic.
 * Returns the process exit status: 0 after a clean stop, 1 when it could
 * not start (logged). */
int daemon_run(const struct daemon_config *cfg);

#endif
