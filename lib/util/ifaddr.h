/* This host's (this network namespace's) own addresses, for node ports
 * served on "local addresses inside these CIDRs" (--nodeport-addresses). */
#ifndef NFTPROXY_UTIL_IFADDR_H
#define NFTPROXY_UTIL_IFADDR_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util/ipaddr.h"

/* The addresses of up interfaces inside one of nets[i]/lens[i], loopback
 * addresses excepted (node ports are never served on loopback), each once,
 * sorted. *out is a heap array (NULL when none). Returns the count or
 * -errno. */
int ifaddr_in(const struct ip_addr *nets, const uint8_t *lens, size_t n, struct ip_addr **out);

#endif
