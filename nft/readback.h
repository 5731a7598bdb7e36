/* Reads our table back from the kernel: chains with the fingerprints of
 * their rules, map elements, and the LB slots in use, into an nft_state, so
 * that the first sync after a start changes only what differs. */
#ifndef NFTPROXY_NFT_READBACK_H
#define NFTPROXY_NFT_READBACK_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/util/ipaddr.h"

struct nfk;
struct nftnl_rule;
struct nft_state;

/* What a rule we wrote means, for dumps. */
struct nfr_rule_info {
	bool lb;                   /* dnat to numgen random mod MOD offset OFFSET map @SET */
	uint32_t mod, offset;
	char set[32];
	/* update @SET { ip saddr } ... dnat to ADDR:PORT without a set lookup
	 * first: a session-affinity service's draw (NFT_RULE_PICK), whose
	 * target is one of the chain's endpoints. */
	bool pick;
	bool plain_lookup, dynset, nat;
	struct ip_addr addr;
	uint16_t port;
};

void nfr_rule_decode(const struct nftnl_rule *r, struct nfr_rule_info *out);

/* Whether table inet `table` exists, and (use may be NULL) how many chains
 * and sets it holds (the kernel's use count). Returns 0 or -errno. */
int nfr_table_exists(struct nfk *n, const char *table, bool *exists, uint32_t *use);

/* The ruleset generation: every commit, by anyone, changes it. */
int nfr_genid(struct nfk *n, uint32_t *genid);

/* Whether the table's chains are exactly the state's, by name. */
int nfr_chains_match(struct nfk *n, const char *table, const struct nft_state *s, bool *match);

/* Fills the empty state s with table `table`: chains, their LB slots and
 * endpoints, elements, hairpin addresses. Returns 0 (s->table_exists tells
 * whether it exists) or -errno. */
int nfr_read(struct nfk *n, const char *table, struct nft_state *s);

/* Where nfr_read_from gets the kernel's answers: runs one dump request
 * (msg_type, filled by build(nlh, arg)) and calls cb(nlh, data) for each
 * message of the answer, with the returns of nfk_dump. nfr_read passes
 * nfk_dump on its socket; the fuzzer and the seed recorder (tests/fuzz)
 * pass recorded answers. */
struct nlmsghdr;
typedef int nfr_dump_fn(void *src, uint16_t msg_type,
			void (*build)(struct nlmsghdr *nlh, void *arg), void *arg,
			int (*cb)(const struct nlmsghdr *nlh, void *data), void *data);

/* nfr_read with the answers from dump(src, ...): the same requests in the
 * same order, the same parsing. */
int nfr_read_from(nfr_dump_fn *dump, void *src, const char *table, struct nft_state *s);

#endif
