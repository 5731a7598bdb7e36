/* Counts per IP address in compact open-addressing tables (12 bytes an
 * IPv4 entry, 24 an IPv6 one, no allocation per address): for sets that
 * follow how many users an address has, such as the hairpin set (one
 * element per endpoint address, whatever the number of services that DNAT
 * to it). */
#ifndef NFTPROXY_UTIL_IPCOUNT_H
#define NFTPROXY_UTIL_IPCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util/ipaddr.h"

struct ipcount_entry {
	int32_t n;
	uint8_t flag;              /* the caller's (e.g. "in the kernel") */
	uint8_t family;            /* 0 = empty slot; AF_INET / AF_INET6 */
	uint16_t pad;
	uint8_t bytes[];           /* 4 or 16 */
};

/* One family's table. */
struct ipcount_tab {
	uint8_t *slots;
	size_t cap;                /* power of two, or 0 */
	size_t len;
};

struct ipcount {
	struct ipcount_tab tab[2]; /* IPv4, IPv6 */
	size_t len;
};

#define IPCOUNT_INIT { { { NULL, 0, 0 }, { NULL, 0, 0 } }, 0 }

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
