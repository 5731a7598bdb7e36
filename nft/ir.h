/* The ruleset's intermediate form: what the compiler produces, the diff
 * compares and the netlink layer serialises.
 *
 * Rules are drawn from a small vocabulary (enum nft_rule_kind): each kind
 * has one nft syntax (nft_rule_print) and one expression sequence
 * (nft/build.c). Everything one service contributes to the table is one
 * fragment (struct nft_frag): its chains and its map elements. */
#ifndef NFTPROXY_NFT_IR_H
#define NFTPROXY_NFT_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util/arena.h"
#include "lib/util/ipaddr.h"

/* Names of the fixed objects of every table. */
#define NFT_MAP_SERVICE_IPS "service-ips"
#define NFT_MAP_SERVICE_IPS6 "service-ips6"
#define NFT_MAP_NO_ENDPOINTS "no-endpoint-services"
#define NFT_MAP_NO_ENDPOINTS6 "no-endpoint-services6"
#define NFT_NAME_HAIRPIN "hairpin"
#define NFT_NAME_HAIRPIN6 "hairpin6"
#define NFT_CHAIN_SERVICES "services"
#define NFT_CHAIN_NO_ENDPOINTS "no-endpoints"
#define NFT_CHAIN_MASQUERADING "masquerading"
#define NFT_CHAIN_REJECT "reject-chain"
#define NFT_CHAIN_FIREWALL "firewall-check"
#define NFT_CHAIN_CLUSTER_IPS "cluster-ips-check"
#define NFT_SET_CLUSTER_IPS "cluster-ips"
#define NFT_SET_CLUSTER_IPS6 "cluster-ips6"
#define NFT_SET_NODEPORT_IPS "nodeport-ips"
#define NFT_SET_NODEPORT_IPS6 "nodeport-ips6"
#define NFT_MAP_NODEPORTS "service-nodeports"
#define NFT_MAP_NODEPORTS6 "service-nodeports6"
#define NFT_MAP_NO_EP_NODEPORTS "no-endpoint-nodeports"
#define NFT_MAP_NO_EP_NODEPORTS6 "no-endpoint-nodeports6"
#define NFT_MAP_FIREWALL_IPS "firewall-ips"
#define NFT_MAP_FIREWALL_IPS6 "firewall-ips6"

/* An element's verdict when it is `drop` rather than `goto CHAIN` (no
 * chain name starts with '@'). */
#define NFT_VERDICT_DROP "@drop"

/* Longest key we use: ipv6_addr . ipv6_addr (hairpin6); each field of a
 * concatenation is padded to 4 bytes as the kernel's registers are. */
#define NFT_KEY_MAX 32
/* Longest map value: ipv6_addr . inet_service (an LB map's DNAT target). */
#define NFT_DATA_MAX 20

/* LB map ids: the map number, with this bit for the IPv6 maps (lb6-NNNN). */
#define NFT_LB_V6 0x80000000u

enum nft_rule_kind {
	/* jump TARGET */
	NFT_RULE_JUMP,
	/* ct state new jump TARGET */
	NFT_RULE_CT_NEW_JUMP,
	/* ip daddr . meta l4proto . th dport vmap @SET   (ip6 when family is AF_INET6) */
	NFT_RULE_DISPATCH,
	/* meta l4proto PROTO dnat ip to numgen random mod MOD offset OFFSET map @lb-NNNN
	 * (ip6 and @lb6-NNNN for AF_INET6) */
	NFT_RULE_LB,
	/* ct status dnat ip saddr . ip daddr @SET masquerade fully-random  (ip6) */
	NFT_RULE_HAIRPIN,
	/* meta mark & MARK == 0 return */
	NFT_RULE_RETURN_UNLESS_MARK,
	/* meta mark set meta mark ^ MARK */
	NFT_RULE_CLEAR_MARK,
	/* masquerade fully-random */
	NFT_RULE_MASQUERADE,
	/* meta l4proto tcp reject with tcp reset */
	NFT_RULE_REJECT_TCP,
	/* reject   (icmpx port-unreachable) */
	NFT_RULE_REJECT,
	/* goto TARGET */
	NFT_RULE_GOTO,
	/* meta mark set meta mark | MARK */
	NFT_RULE_MARK,
	/* ip daddr @SET [ip saddr != ADDR/PLEN] meta mark set meta mark | MARK
	 * (no saddr match when addr.family is 0: --masquerade-all) */
	NFT_RULE_MASQ_CLUSTER,
	/* ip saddr ADDR/PLEN goto TARGET */
	NFT_RULE_SADDR_GOTO,
	/* ip saddr ADDR/PLEN return */
	NFT_RULE_SADDR_RETURN,
	/* fib saddr type local meta mark set meta mark | MARK */
	NFT_RULE_FIB_LOCAL_MARK,
	/* fib saddr type local goto TARGET */
	NFT_RULE_FIB_LOCAL_GOTO,
	/* ip daddr @SET meta l4proto . th dport vmap @TARGET */
	NFT_RULE_NODEPORT_DISPATCH,
	/* ip daddr @SET goto TARGET */
	NFT_RULE_DADDR_SET_GOTO,
	/* ip daddr ADDR/PLEN drop */
	NFT_RULE_DADDR_DROP,
	/* drop */
	NFT_RULE_DROP,
	/* Session affinity, per endpoint ADDR:PORT with its set SET:
	 *   ip saddr @SET update @SET { ip saddr } meta l4proto PROTO dnat ip to ADDR:PORT */
	NFT_RULE_AFFINITY,
	/* The draw among n endpoints, rule i of n (mod = n - i, 1 for the last):
	 *   [numgen random mod MOD 0] update @SET { ip saddr } meta l4proto PROTO dnat ip to ADDR:PORT */
	NFT_RULE_PICK,
};

struct nft_rule_ir {
	enum nft_rule_kind kind;
	uint8_t family;            /* AF_INET / AF_INET6 for address matches */
	uint8_t proto;             /* IPPROTO_* for DNAT */
	uint32_t mod, offset;      /* LB */
	uint32_t map;              /* LB: map id (NFT_LB_V6 | number for lb6-NNNN) */
	uint32_t mark;
	const char *target;        /* JUMP / GOTO / DISPATCH / HAIRPIN: chain or map name
				    * (static, or a chain name of the same fragment) */
	const char *set;           /* a set the rule looks up (static or the fragment's) */
	struct ip_addr addr;       /* prefix matches (with plen), DNAT targets (with port) */
	uint16_t port;
	uint8_t plen;
};

enum nft_hook { NFT_HOOK_NONE = 0, NFT_HOOK_PREROUTING, NFT_HOOK_INPUT, NFT_HOOK_FORWARD,
		NFT_HOOK_OUTPUT, NFT_HOOK_POSTROUTING };

struct nft_chain_ir {
	char *name;                /* owned */
	/* base chains only */
	enum nft_hook hook;
	const char *type;          /* "nat" / "filter" */
	int32_t prio;
	struct nft_rule_ir *rules; /* owned */
	size_t n_rules;
	/* svc chains: the LB slot they use (valid when has_lb), and the
	 * endpoints its ranges DNAT to, in range order: lb_n values of lb_dlen
	 * bytes (ADDR . PORT). Range i of n is nft_lb_range(slot, i, n). */
	bool has_lb;
	uint32_t lb_map, lb_slot;
	uint8_t *lb_eps;           /* owned (or in the arena) */
	uint32_t lb_n;
	uint8_t lb_dlen;
	struct arena *arena;       /* the fragment's, or NULL (malloc) */
};

/* A service map element: KEY to `goto CHAIN`. (LB map ranges are not
 * elements of a fragment: they follow from an svc chain's lb_eps.) */
struct nft_elem_ir {
	const char *set;           /* static map name */
	uint8_t key[NFT_KEY_MAX];
	uint8_t key_len;
	/* borrowed: a chain of the same fragment, a static one, NFT_VERDICT_DROP,
	 * or NULL for an element of a plain set (no value) */
	const char *chain;
	const char *comment;       /* borrowed from the fragment: "ns/name/proto/port" */
	bool refused;              /* the key is another service's: not ours to claim */
};

enum nft_set_kind { NFT_SET_SERVICE4, NFT_SET_SERVICE6, NFT_SET_LB, NFT_SET_HAIRPIN4,
		    NFT_SET_HAIRPIN6,
		    NFT_SET_NODEPORT,          /* inet_proto . inet_service : verdict */
		    NFT_SET_ADDR4, NFT_SET_ADDR6,  /* plain address sets */
		    NFT_SET_AFFINITY4, NFT_SET_AFFINITY6, /* dynamic, with a timeout */
};

/* A set a fragment owns: a session-affinity set of one endpoint. */
struct nft_set_ir {
	char name[32];
	enum nft_set_kind kind;
	uint32_t timeout_s;
};

/* A fragment: the objects one owner (a service "ns/name", or the table's
 * skeleton "") puts into the table. Owns its chains and elements. */
struct nft_frag {
	struct arena *arena;       /* NULL: malloc'd, freed by nft_frag_free */
	char *owner;
	struct nft_chain_ir *chains;
	size_t n_chains, cap_chains;
	struct nft_elem_ir *elems;
	size_t n_elems, cap_elems;
	struct nft_set_ir *sets;
	size_t n_sets, cap_sets;
	char **strs;               /* strings elements borrow */
	size_t n_strs;
};

/* arena may be NULL: the fragment is malloc'd and nft_frag_free frees it;
 * else it lives in the arena and goes with it (nft_frag_free does nothing). */
int nft_frag_new(const char *owner, struct arena *arena, struct nft_frag **out);
void nft_frag_free(struct nft_frag *f);
/* Adds a chain named `name` (copied); returns it through *out, valid until
 * the next add. Returns 0 or -ENOMEM. */
int nft_frag_add_chain(struct nft_frag *f, const char *name, struct nft_chain_ir **out);
int nft_chain_add_rule(struct nft_chain_ir *c, const struct nft_rule_ir *r);
/* Makes room for an svc chain's n LB endpoints of dlen bytes each (filled
 * by the caller). Returns 0 or -ENOMEM. */
int nft_chain_set_lb_n(struct nft_chain_ir *c, uint32_t n, uint8_t dlen);
/* Adds an element; chain must outlive the fragment (a chain name of the same
 * fragment: pass the index with nft_frag_chain_name after all chains are added). */
int nft_frag_add_elem(struct nft_frag *f, const struct nft_elem_ir *e);

/* Adds set s unless the fragment has one of that name. Returns 0 or -ENOMEM. */
int nft_frag_add_set(struct nft_frag *f, const struct nft_set_ir *s);

/* Copies s into the fragment; the copy lives as long as f. NULL on ENOMEM. */
const char *nft_frag_strdup(struct nft_frag *f, const char *s);

/* Name of an LB map: "lb-NNNN" / "lb6-NNNN" into buf[16]. */
const char *nft_lb_map_name(uint32_t map, char buf[16]);

/* A hash of what the chain's IR says (hook, rules): equal IR builds equal
 * expressions, so a chain whose IR hash is unchanged needs no rebuild. */
uint64_t nft_chain_ir_hash(const struct nft_chain_ir *c);

/* nft syntax of a rule / a key, for logs, tests and dumps. Returns the
 * length written (snprintf semantics). */
int nft_rule_print(const struct nft_rule_ir *r, char *buf, size_t size);
int nft_elem_key_print(const struct nft_elem_ir *e, char *buf, size_t size);

/* Service map keys. */
void nft_key_service(uint8_t key[NFT_KEY_MAX], uint8_t *len, const struct ip_addr *ip,
		     uint8_t proto, uint16_t port);
/* Node port map keys: PROTO . PORT. */
void nft_key_nodeport(uint8_t key[NFT_KEY_MAX], uint8_t *len, uint8_t proto, uint16_t port);
/* Plain address set keys. */
void nft_key_addr(uint8_t key[NFT_KEY_MAX], uint8_t *len, const struct ip_addr *ip);
/* LB slots hold NFT_LB_STRIDE numgen values each (offset = slot * stride);
 * endpoint i of n gets [*lo, *hi]: n ranges that differ in size by at most
 * one value, so each endpoint gets 1/n of new connections to within 1e-6. */
#define NFT_LB_STRIDE 1000000u
void nft_lb_range(uint32_t slot, size_t i, size_t n, uint32_t *lo, uint32_t *hi);

/* An LB map key: numgen's value, big endian (the LB rule converts it, so
 * that the kernel's interval tree orders keys as numbers). */
void nft_key_u32(uint8_t key[NFT_KEY_MAX], uint8_t *len, uint32_t v);
uint32_t nft_key_u32_get(const uint8_t *key);
/* An LB map value: ADDR . PORT (writes exactly *len bytes: 8 or 20). */
void nft_data_target(uint8_t data[NFT_DATA_MAX], uint8_t *len, const struct ip_addr *ip,
		     uint16_t port);
void nft_data_target_get(const uint8_t *data, uint8_t len, struct ip_addr *ip, uint16_t *port);
/* A hairpin set key: ADDR . ADDR. */
void nft_key_hairpin(uint8_t key[NFT_KEY_MAX], uint8_t *len, const struct ip_addr *ip);

#endif
