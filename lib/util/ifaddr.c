#include "lib/util/ifaddr.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

static int addr_cmp(const void *a, const void *b)
{
	return ip_addr_cmp(a, b);
}

static bool is_loopback(const struct ip_addr *a)
{
	static const uint8_t lo6[16] = { [15] = 1 };

	return a->family == AF_INET ? a->bytes[0] == 127 : memcmp(a->bytes, lo6, 16) == 0;
}

int ifaddr_in(const struct ip_addr *nets, const uint8_t *lens, size_t n, struct ip_addr **out)
{
	struct ifaddrs *ifs, *i;
	struct ip_addr *res = NULL;
	size_t k = 0, cap = 0;

	*out = NULL;
	if (getifaddrs(&ifs) < 0)
		return -errno;
	for (i = ifs; i; i = i->ifa_next) {
		struct ip_addr a = { 0 };
		bool want = false;

		if (!i->ifa_addr || !(i->ifa_flags & IFF_UP))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			a.family = AF_INET;
			a.v4 = ((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			a.family = AF_INET6;
			a.v6 = ((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr;
			/* Link-local addresses need a zone: not a node address. */
			if (a.v6.s6_addr[0] == 0xfe && (a.v6.s6_addr[1] & 0xc0) == 0x80)
				continue;
		} else {
			continue;
		}
		if (is_loopback(&a))
			continue;
		for (size_t j = 0; j < n && !want; j++)
			want = ip_prefix_contains(&nets[j], lens[j], &a);
		if (!want)
			continue;
		if (k == cap) {
			struct ip_addr *p = realloc(res, (cap ? cap * 2 : 8) * sizeof(*p));

			if (!p) {
				free(res);
				freeifaddrs(ifs);
				return -ENOMEM;
			}
			res = p;
			cap = cap ? cap * 2 : 8;
		}
		res[k++] = a;
	}
	freeifaddrs(ifs);
	if (k)
		qsort(res, k, sizeof(*res), addr_cmp);
	/* An address on two interfaces (the test topology's gateway) once. */
	{
		size_t w = 0;

		for (size_t j = 0; j < k; j++)
			if (!w || !ip_addr_eq(&res[w - 1], &res[j]))
				res[w++] = res[j];
		k = w;
	}
	if (!k) {
		free(res);
		return 0;
	}
	*out = res;
	return (int)k;
}
