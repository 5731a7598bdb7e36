/* Deletes conntrack entries after a sync (see struct nft_ct_flush). */
#ifndef NFTPROXY_NFT_CONNTRACK_H
#define NFTPROXY_NFT_CONNTRACK_H

#include <stddef.h>

#include "nft/diff.h"

/* One dump of the UDP conntrack table per family involved, deleting every
 * entry that matches a request. Returns the number deleted or -errno. */
int nft_conntrack_flush(const struct nft_ct_flush *req, size_t n);

#endif
