/* The sync: takes the model's dirty services, compiles them, diffs them
 * against what the kernel holds and sends the difference as one atomic
 * netlink batch. Owns the netlink socket and the applied state.
 *
 * The first run (and the run after a failure that left the applied state
 * unknown) reads the table back from the kernel and converges it fully, so a
 * restart with an unchanged model sends nothing and interrupts nothing. */
#ifndef NFTPROXY_NFT_SYNC_H
#define NFTPROXY_NFT_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nft/compile.h"

struct model;
struct nft_sync;

struct nft_sync_config {
	const char *table;         /* "nftproxy" or "nftproxy-<cluster>" */
	/* What the rules depend on besides the model (masq_mark 0 means
	 * 0x4000). Strings are borrowed for the life of the sync. */
	struct nftc_config compile;
	/* --nodeport-addresses: the Node's primary addresses (the first of
	 * each family), or this host's addresses inside these CIDRs. */
	bool nodeport_primary;
	struct svc_prefix nodeport_cidrs[NFTC_MAX_CIDRS];
	size_t n_nodeport_cidrs;
};

struct nft_sync_stats {
	size_t services;           /* services compiled in this run */
	size_t messages;           /* netlink messages in the batch (0 = nothing sent) */
	size_t bytes;              /* batch size */
	double compile_ms;         /* model -> plan (userspace) */
	double send_ms;            /* plan -> netlink batch -> kernel, acks included */
	double kernel_ms;          /* of send_ms: the kernel checking and committing */
	double total_ms;
	bool full;                 /* the run diffed the whole table */
	size_t table_chains;       /* what the table holds after the run */
	size_t table_elements;
};

/* Opens the netlink socket. Returns 0 or -errno. */
int nft_sync_new(const struct nft_sync_config *cfg, struct nft_sync **out);
void nft_sync_free(struct nft_sync *s);

/* Runs one sync. full: recompile every service (periodic resync, or the
 * first run). Dirty keys are taken from the model; when the kernel refuses
 * the batch they are kept inside the sync and retried by the next run,
 * nothing in the kernel has changed, and the error is logged naming the
 * object. Returns 0 or -errno. stats may be NULL. */
int nft_sync_run(struct nft_sync *s, struct model *m, bool full, struct nft_sync_stats *stats);

/* True while a previous run failed and its work is pending. */
bool nft_sync_pending(const struct nft_sync *s);

/* Removes the table (nftproxyctl cleanup). Returns 0, or -ENOENT if absent. */
int nft_table_delete(const char *table);

/* "nftproxy" or "nftproxy-<cluster>" into buf (size >= 64). Returns 0 or
 * -EINVAL when the name is not a valid cluster name. */
int nft_table_name(const char *cluster, char *buf, size_t size);

#endif
