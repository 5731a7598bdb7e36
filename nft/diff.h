/* The diff: desired fragments against the applied state -> a plan, the
 * ordered operations of one batch.
 *
 * Phases keep every reference valid at every point of the batch: tables
 * and maps, then new chains, then rules (a chain whose rules changed is
 * flushed and refilled), then element deletions and additions, and last the
 * chains nothing refers to any more. */
#ifndef NFTPROXY_NFT_DIFF_H
#define NFTPROXY_NFT_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util/hmap.h"
#include "lib/util/ipcount.h"
#include "nft/ir.h"

struct nft_state;
struct nftnl_rule;

enum nft_op_kind {
	NFT_OP_ADD_TABLE,
	NFT_OP_ADD_SET,
	NFT_OP_ADD_CHAIN,
	NFT_OP_FLUSH_CHAIN,
	NFT_OP_ADD_RULE,
	NFT_OP_DEL_ELEM,
	NFT_OP_ADD_ELEM,
	NFT_OP_DEL_CHAIN,
	NFT_OP_DEL_SET,
};

enum nft_phase { NFT_PH_SETS, NFT_PH_DEL_BASE, NFT_PH_CHAINS, NFT_PH_RULES, NFT_PH_DEL_ELEMS, NFT_PH_ADD_ELEMS,
		 NFT_PH_DEL_CHAINS, NFT_PH_DEL_SETS, NFT_PH_COUNT };

struct nft_op {
	enum nft_op_kind kind;
	const char *owner;                 /* "ns/name" or "" (skeleton) */
	const struct nft_chain_ir *chain;  /* ADD_CHAIN */
	const char *name;                  /* chain of FLUSH/DEL/ADD_RULE */
	const struct nft_rule_ir *rule;    /* ADD_RULE: built when serialised */
	enum nft_set_kind set_kind;        /* ADD_SET */
	uint32_t lb_map;                   /* ADD_SET of an LB map */
	uint32_t timeout_s;                /* ADD_SET of an affinity set */
	char set[32];                      /* elements: map name */
	uint8_t key[NFT_KEY_MAX];
	uint8_t key_len;
	const char *target;                /* ADD_ELEM: goto chain, NFT_VERDICT_DROP, or NULL */
	const char *comment;               /* ADD_ELEM: may be NULL */
	/* LB elements: the range key..range_end (both ADD and DEL), and for
	 * ADD the value. */
	bool interval;
	uint8_t data_len;
	uint32_t range_end;
	uint8_t data[NFT_DATA_MAX];
};

/* Conntrack entries to delete once the batch is in: UDP flows that the
 * kernel would otherwise keep sending to an endpoint that is gone, or that
 * were rejected before a service had endpoints (kube-proxy does the same). */
struct nft_ct_flush {
	struct ip_addr svc;        /* original destination (its family always counts) */
	bool any_addr;             /* any destination address: node ports */
	uint16_t svc_port;
	bool any_ep;               /* every flow to svc:svc_port */
	struct ip_addr ep;         /* else only those DNATed to ep:ep_port */
	uint16_t ep_port;
};

struct nft_plan_frag {
	struct nft_frag *frag;             /* owned */
	uint64_t *fps;                     /* per chain of frag */
	uint64_t *ir_hashes;               /* per chain of frag */
};

struct nft_plan {
	const char *table;
	struct nft_op *ops[NFT_PH_COUNT];
	size_t n_ops[NFT_PH_COUNT], cap_ops[NFT_PH_COUNT];
	struct nft_plan_frag *frags;       /* what the state becomes for each owner */
	size_t n_frags, cap_frags;
	bool full;                         /* objects no fragment claims are deleted */
	uint32_t gen;
	size_t n_changed;                  /* owners with at least one op */
	struct nft_ct_flush *ct;
	size_t n_ct;
	/* Hairpin set: per endpoint address, how many LB elements DNAT to
	 * it: a count in a full plan, a change of count otherwise. */
	struct ipcount hairpin;
	struct hmap claimed_sets;          /* full plans: fragment set names (owned) */
	/* Elements this plan adds that the state lacks: id -> the owner key
	 * that claimed it (both in the plan's arena or fragments). */
	struct hmap new_elems;
	struct arena arena;                /* where the plan's fragments live */
};

void nft_plan_init(struct nft_plan *p, const char *table, bool full);
void nft_plan_fini(struct nft_plan *p);
size_t nft_plan_size(const struct nft_plan *p);

/* Adds the table and fixed maps (idempotent in the kernel). */
int nft_plan_base(struct nft_plan *p, struct nft_state *s);
/* Diffs fragment f (ownership passes to the plan in every case) against
 * what the state holds for f's owner. Returns 0 or -ENOMEM. */
int nft_plan_frag(struct nft_plan *p, struct nft_state *s, struct nft_frag *f);
/* Adds and deletes hairpin set elements for the endpoint addresses the
 * plan's fragments start or stop using. Call after the fragments, before
 * nft_plan_strays. */
int nft_plan_hairpin(struct nft_plan *p, struct nft_state *s);
/* With a full plan: deletes everything no fragment claimed. Call last. */
int nft_plan_strays(struct nft_plan *p, struct nft_state *s);

/* Sorts each element phase by map and key: element operations commute
 * within a phase, and a map's elements then share messages (the kernel
 * finds a map by walking the table's list of maps, once per message: in
 * fragment order a cold sync of 30,000 services sent a message per service
 * port and map). Call once the plan is complete. */
void nft_plan_group_elems(struct nft_plan *p);

/* After the kernel accepted the batch: make the state what the plan says. */
int nft_plan_commit(struct nft_plan *p, struct nft_state *s);
/* After a failure: give back LB slots taken for chains that never made it. */
void nft_plan_abort(struct nft_plan *p, struct nft_state *s);

#endif
