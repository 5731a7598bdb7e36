/* Counts per IP address in a compact open-addressing table (24 bytes an
 * entry, no allocation per address): for sets that follow how many users
 * an address has, such as the hairpin set (one element per endpoint
 * address, whatever the number of services that DNAT to it). */
#ifndef NFTPROXY_UTIL_IPCOUNT_H
#define NFTPROXY_UTIL_IPCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util/ipaddr.h"

struct ipcount_entry {
	uint8_t bytes[16];
	uint8_t family;            /* 0 = empty slot; AF_INET / AF_INET6 */
	uint8_t flag;              /* the caller's (e.g. "in the kernel") */
	uint16_t pad;
	int32_t n;
};

struct ipcount {
	struct ipcount_entry *slots;
	size_t cap;                /* power of two, or 0 */
	size_t len;
};

#define IPCOUNT_INIT { NULL, 0, 0 }

void ipcount_fini(struct ipcount *t);
/* The entry of a, or NULL. */
struct ipcount_entry *ipcount_find(const struct ipcount *t, const struct ip_addr *a);
/* The entry of a, added (n = 0, flag = 0) if missing. NULL on ENOMEM.
 * Entries move when the table grows or an entry is deleted. */
struct ipcount_entry *ipcount_get(struct ipcount *t, const struct ip_addr *a);
void ipcount_del(struct ipcount *t, const struct ip_addr *a);
/* Iteration: for (size_t i = 0; (e = ipcount_next(t, &i)); ) ... Do not
 * add or delete while iterating. */
struct ipcount_entry *ipcount_next(const struct ipcount *t, size_t *iter);
void ipcount_entry_addr(const struct ipcount_entry *e, struct ip_addr *out);

#endif
