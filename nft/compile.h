/* The ruleset compiler: a pure function from the model and the applied
 * state to fragments of the desired table (nft/ir.h). It touches no socket.
 * From the applied state it reads which endpoint each LB slot holds (so
 * slots stay put), and it changes only the LB slot allocator, so that a
 * service keeps its range across syncs and restarts. */
#ifndef NFTPROXY_NFT_COMPILE_H
#define NFTPROXY_NFT_COMPILE_H

#include <stdint.h>

#include "nft/ir.h"

struct model;
struct model_service;
struct nft_state;

struct nftc_config {
	uint32_t masq_mark;        /* 0x4000 by default, as kube-proxy */
};

/* The fixed part of every table: base chains, dispatch and masquerade
 * chains. Caller owns *out. Returns 0 or -ENOMEM. */
int nftc_skeleton(const struct nftc_config *cfg, struct nft_frag **out);

/* Compiles service `key` ("ns/name"): its service ports in each of its
 * families. A key whose service is gone or ignored yields an empty fragment
 * (the diff then removes what it had). The fragment lives in arena (may
 * be NULL: malloc'd, the caller frees it). Returns 0,
 * -ENOMEM, or -ENOSPC when no LB slot is left. */
int nftc_compile_service(const struct nftc_config *cfg, const struct model *m, const char *key,
			 struct nft_state *st, struct arena *arena, struct nft_frag **out);

/* Stable chain names: "svc-HASH-ns/name/proto/port". buf must hold
 * NFT_NAME_MAX. */
#define NFT_NAME_MAX 256
void nftc_svc_chain_name(char *buf, int family, const char *ns, const char *name,
			 uint8_t proto, const char *port_name);

#endif
