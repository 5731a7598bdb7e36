/* IR -> libnftnl objects: the one place that knows which expressions make
 * up each rule kind, and the fingerprints that let a compiled chain be
 * compared with one read back from the kernel. */
#ifndef NFTPROXY_NFT_BUILD_H
#define NFTPROXY_NFT_BUILD_H

#include <stdint.h>

#include "nft/ir.h"

struct nftnl_rule;
struct nftnl_chain;
struct nftnl_set;

/* Builds rule r for `table`/`chain`. Caller owns *out. Returns 0 or -ENOMEM. */
int nfb_rule_build(const char *table, const char *chain, const struct nft_rule_ir *r,
		   struct nftnl_rule **out);
struct nftnl_chain *nfb_chain_build(const char *table, const struct nft_chain_ir *c);
/* timeout_s: affinity sets only. */
struct nftnl_set *nfb_set_build(const char *table, enum nft_set_kind kind, uint32_t lb_map,
				uint32_t timeout_s);

/* Fingerprints: a hash of the rules' expressions as libnftnl prints them
 * (handles, positions and table/chain names left out), so a chain read back
 * from the kernel and one compiled from the model hash alike exactly when
 * they hold the same rules. fp_init, then fp_add_rule per rule in order. */
uint64_t nfb_fp_init(const struct nft_chain_ir *base_or_null);
uint64_t nfb_fp_add_rule(uint64_t fp, const struct nftnl_rule *r);
/* Same starting point as nfb_fp_init for a chain read back from the kernel. */
uint64_t nfb_fp_init_nl(const struct nftnl_chain *c);

#endif
