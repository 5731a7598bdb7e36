/* Removes what kube-proxy's own modes leave in the kernel, so that a node
 * migrated from kube-proxy to nftproxy does not run both rulesets:
 *
 *  - nftables mode: `table ip kube-proxy` and `table ip6 kube-proxy`;
 *  - iptables mode through iptables-nft: in the ip/ip6 tables filter, nat
 *    and mangle, every chain named KUBE-* and every rule of another chain
 *    that jumps or goes to one. kubelet's own chains (KUBE-FIREWALL,
 *    KUBE-KUBELET-CANARY) and the jumps to them stay: they are not
 *    kube-proxy's, and kubelet would only put them back.
 *
 * Everything goes in one atomic batch tied to the ruleset generation that
 * was read: if anyone changes the ruleset in between, the kernel refuses
 * the batch and the cleanup reads again. Other tables, chains and rules are
 * never touched.
 *
 * iptables-legacy rules live in the kernel's x_tables, which nftables
 * cannot change: they are only counted (read-only), for the caller to tell
 * the user to remove them with the legacy tools. */
#ifndef NFTPROXY_NFT_CLEANUP_H
#define NFTPROXY_NFT_CLEANUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What to tell the user to run when legacy KUBE-* chains are left. */
#define NFT_CLEANUP_LEGACY_HINT "iptables-legacy-save | grep KUBE (and ip6tables-legacy-save)"

/* One nftables table something was deleted from. */
struct nft_cleanup_table {
	const char *family;        /* "ip" or "ip6" (static) */
	const char *name;          /* "kube-proxy", "filter", "nat", "mangle" (static) */
	bool whole;                /* the whole table was deleted (kube-proxy's nftables mode) */
	uint32_t chains;           /* chains deleted (whole: the chains it held) */
	uint32_t sets, maps;       /* whole: the sets and the maps it held */
	uint32_t rules;            /* rules of other chains jumping to the deleted ones */
};

/* A legacy (x_tables) table holding KUBE-* chains, which stay. */
struct nft_cleanup_legacy {
	const char *family;        /* "ip" or "ip6" (static) */
	char name[32];
	uint32_t chains;           /* KUBE-* chains in it (kubelet's not counted) */
};

#define NFT_CLEANUP_MAX_TABLES 8   /* {ip, ip6} x {kube-proxy, filter, nat, mangle} */
#define NFT_CLEANUP_MAX_LEGACY 10  /* {ip, ip6} x the five x_tables tables */

struct nft_cleanup_report {
	struct nft_cleanup_table tables[NFT_CLEANUP_MAX_TABLES];
	size_t n_tables;           /* only tables something was deleted from */
	struct nft_cleanup_legacy legacy[NFT_CLEANUP_MAX_LEGACY];
	size_t n_legacy;           /* only legacy tables with KUBE-* chains */
	/* -errno when a legacy table exists but could not be read (so there
	 * may be KUBE-* chains in it); 0 otherwise. */
	int legacy_error;
};

/* Deletes kube-proxy's nftables tables and, with iptables, its iptables-nft
 * chains and the jumps to them (and looks for legacy ones), in the network
 * namespace of the calling thread. Finding nothing is not an error. Blocks
 * (it is meant for nftproxyctl and --cleanup, not for the event loop): while
 * others keep changing the ruleset it reads again, for at most about 1.2 s.
 * Returns 0 and fills rep, or -errno (nothing was changed; the error is
 * logged naming the object the kernel refused): -EAGAIN when the ruleset
 * never held still, -EBUSY when something the cleanup does not know still
 * refers to a KUBE-* chain, -EPERM without CAP_NET_ADMIN. */
int nft_cleanup_kube_proxy(bool iptables, struct nft_cleanup_report *rep);

/* "table ip kube-proxy (12 chains, 2 sets, 3 maps)" or
 * "7 KUBE-* chains and 3 rules jumping to them from table ip nat": what was
 * deleted, for log lines. */
void nft_cleanup_table_describe(const struct nft_cleanup_table *t, char *buf, size_t size);

#endif
