/* The service map as the kernel holds it, for `nftproxyctl dump`. Read
 * back over netlink from the table itself, not from the daemon. */
#ifndef NFTPROXY_NFT_DUMP_H
#define NFTPROXY_NFT_DUMP_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util/ipaddr.h"

struct nft_dump_endpoint {
	struct ip_addr ip;
	uint16_t port;
};

struct nft_dump_service {
	char *ns, *name, *port_name;   /* port_name is "" for an unnamed port */
	int family;                    /* AF_INET / AF_INET6 */
	uint8_t proto;                 /* IPPROTO_* */
	struct ip_addr ip;
	uint16_t port;
	struct nft_dump_endpoint *eps; /* sorted by address, port */
	size_t n_eps;                  /* 0: new connections are rejected */
};

struct nft_dump {
	char *table;
	struct nft_dump_service *svcs; /* sorted by ns, name, port name, family */
	size_t n_svcs;
};

/* Returns 0, -ENOENT when the table does not exist, or -errno. */
int nft_dump_read(const char *table, struct nft_dump **out);
void nft_dump_free(struct nft_dump *d);

/* Splits a chain name "svc-HASH-ns/name/proto/port[__...]" into its parts
 * (heap strings the caller frees). Returns 0 or -EINVAL. */
int nft_chain_name_parse(const char *chain, char **ns, char **name, char **port_name);

#endif
