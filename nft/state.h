/* What the kernel holds: the applied state, and the LB slot allocator.
 *
 * Chains are kept by name with a fingerprint of their rules (a hash of the
 * expressions as libnftnl prints them, so a chain read back from the kernel
 * and a chain compiled from the model compare equal when the kernel would
 * run the same rules). Elements are kept by map and key with the chain they
 * go to. Each object remembers its owner ("ns/name", or "" for the
 * skeleton) so that a sync of one service looks only at that service's
 * objects. */
#ifndef NFTPROXY_NFT_STATE_H
#define NFTPROXY_NFT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util/hmap.h"
#include "lib/util/ipcount.h"
#include "nft/ir.h"

/* How many service ports share one LB map, and how far apart their slot
 * ranges are (offset = slot * NFT_LB_STRIDE). See docs/layout.md. */
#ifndef NFT_LB_PER_MAP
#define NFT_LB_PER_MAP 32
#endif
#define NFT_LB_MAX_MAPS 1000000u

struct nft_owner;

struct nft_ap_chain {
	char *name;
	uint64_t fp;               /* fingerprint of the rules (and base chain hook) */
	uint64_t ir_hash;          /* nft_chain_ir_hash of what made fp; 0 = read back */
	struct nft_owner *owner;   /* NULL until a sync claims it (read back) */
	bool has_lb;
	uint32_t lb_map, lb_slot;
	/* The endpoints of the slot's ranges as the kernel has them (see
	 * nft_chain_ir): lb_n values of lb_dlen bytes, owned. The ranges are
	 * not kept as elements: they follow from the slot and lb_n. */
	uint8_t *lb_eps;
	uint32_t lb_n;
	uint8_t lb_dlen;
	/* Of a base chain: 32 bits of nfb_fp_init (type, hook, priority),
	 * which a rule change cannot change: 0 for a regular chain. */
	uint32_t base_fp;
	uint32_t gen;              /* last plan that claimed it */
};

/* One allocation per element (110k of them at 10k x 10): the id, set name,
 * key and value live in its tail, each as long as it is. */
struct nft_ap_elem {
	char *set;                 /* in the tail */
	uint8_t *key;              /* in the tail, key_len bytes */
	uint8_t *data;             /* in the tail, data_len bytes (LB elements) */
	/* The chain the element goes to (NULL: not a chain of this table). A
	 * pointer, not a copy of the name. Chains outlive the elements that go
	 * to them (the kernel refuses to delete a chain in use, and a commit
	 * deletes elements first). */
	struct nft_ap_chain *target;
	struct nft_owner *owner;
	char *comment;             /* only when read back: the element's comment */
	uint32_t comment_hash;     /* nft_comment_hash of its comment, kept always */
	uint32_t gen;              /* last plan that claimed it */
	/* LB map elements: the range key..range_end and its DNAT target. */
	uint32_t range_end;
	uint8_t key_len;
	uint8_t data_len;
	bool interval;
	bool drop;                 /* verdict drop (target is NULL) */
	char id[];                 /* "set|hexkey", the map key; then set, key, data */
};

struct nft_owner {
	struct nft_ap_chain **chains;
	size_t n_chains;
	struct nft_ap_elem **elems;
	size_t n_elems;
	char **sets;               /* owned names of the sets it owns (affinity) */
	size_t n_sets;
	char key[];                /* "ns/name", "" for the skeleton */
};

/* One family's LB maps (lb-NNNN for IPv4, lb6-NNNN for IPv6: a map's
 * values are addresses of one family). */
struct nft_lb_family {
	uint32_t n_maps;           /* maps 0 .. n_maps-1 exist or are wanted */
	uint32_t *used;            /* per map: bitmask of used slots */
	uint32_t hint;             /* first map that may have a free slot */
};

struct nft_lb_alloc {
	struct nft_lb_family fam[2];   /* [0] IPv4, [1] IPv6 */
	struct hmap by_chain;      /* svc chain name -> struct nft_lb_slot */
};

struct nft_state {
	bool table_exists;
	bool sets_exist;           /* the fixed maps exist */
	struct hmap chains;        /* name -> struct nft_ap_chain */
	struct hmap elems;         /* id -> struct nft_ap_elem */
	struct hmap owners;        /* key -> struct nft_owner */
	struct hmap sets;          /* names of the maps that exist -> owned name */
	/* Services that lost a map key to another service ("already used"):
	 * looked at again when elements go away. key -> owned key. */
	struct hmap blocked;
	uint32_t gen;              /* plan generation counter */
	struct nft_lb_alloc lb;
	/* Hairpin: per endpoint address, how many committed LB elements DNAT
	 * to it (n), and whether the kernel's hairpin set has it (flag). The
	 * set's elements are kept here only, not in elems: one per endpoint
	 * address, 24 bytes each. */
	struct ipcount hairpin;
};

int nft_state_new(struct nft_state **out);
void nft_state_free(struct nft_state *s);

/* Element ids: "set|hex(key)" into buf (NFT_ELEM_ID_MAX). */
#define NFT_ELEM_ID_MAX (32 + 2 * NFT_KEY_MAX + 2)
void nft_elem_id(char *buf, const char *set, const uint8_t *key, size_t key_len);

/* Records objects (used by read-back and after a commit). Return 0 or -ENOMEM. */
int nft_state_put_chain(struct nft_state *s, const char *name, uint64_t fp,
			struct nft_ap_chain **out);
void nft_state_del_chain(struct nft_state *s, const char *name);
/* Sets a chain's LB endpoints (copied). Returns 0 or -ENOMEM. */
int nft_ap_chain_set_lb(struct nft_ap_chain *c, const uint8_t *eps, uint32_t n, uint8_t dlen);
/* target is a chain name, looked up in the state (must be there, or the
 * element records NULL). */
int nft_state_put_elem(struct nft_state *s, const char *set, const uint8_t *key,
		       size_t key_len, const char *target, struct nft_ap_elem **out);
/* An LB map element: the range key..range_end to data. */
int nft_state_put_range(struct nft_state *s, const char *set, const uint8_t *key,
			uint32_t range_end, const uint8_t *data, size_t data_len,
			struct nft_ap_elem **out);
/* A comment's hash (0 for none): comments carry the policies a dump shows,
 * so a changed comment is a changed element. */
uint32_t nft_comment_hash(const char *comment);
/* The name of the chain an element goes to, or "" if none. */
const char *nft_ap_elem_target(const struct nft_ap_elem *e);
void nft_state_del_elem(struct nft_state *s, const char *id);
/* Records that service `owner` waits for a key another service holds. */
int nft_state_block(struct nft_state *s, const char *owner);

/* Maps known to exist. */
bool nft_state_has_set(const struct nft_state *s, const char *name);
int nft_state_add_set(struct nft_state *s, const char *name);
void nft_state_del_set(struct nft_state *s, const char *name);
/* Prefix of the names of the sets fragments own (one per endpoint of a
 * service with session affinity). */
#define NFT_AFFINITY_PREFIX "aff-"
struct nft_owner *nft_state_owner(struct nft_state *s, const char *key);
int nft_state_owner_get(struct nft_state *s, const char *key, struct nft_owner **out);

/* LB slots. get returns the slot of svc chain `chain`, allocating a free one
 * in the family's maps (lowest map first) when it has none; *map is a map
 * id (NFT_LB_V6 set for IPv6). Returns 0, -ENOMEM or -ENOSPC. */
int nft_lb_get(struct nft_lb_alloc *lb, const char *chain, int family, uint32_t *map,
	       uint32_t *slot);
/* Parses "lb-NNNN" / "lb6-NNNN" into a map id. Returns 0 or -EINVAL. */
int nft_lb_map_parse(const char *name, uint32_t *map);
/* Marks a slot taken by `chain` (read back from the kernel). */
int nft_lb_claim(struct nft_lb_alloc *lb, const char *chain, uint32_t map, uint32_t slot);
void nft_lb_release(struct nft_lb_alloc *lb, const char *chain);
/* True if `chain` currently holds a slot. */
bool nft_lb_has(const struct nft_lb_alloc *lb, const char *chain);
/* Gives back the LB slots taken for f's chains that the kernel does not
 * have yet: for a fragment that fails to compile or never reaches (or
 * leaves) a plan, the slots are otherwise lost until a restart. */
void nft_state_release_new_slots(struct nft_state *s, const struct nft_frag *f);

#endif
