#include "lib/util/ipaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ip_addr_parse(const char *s, struct ip_addr *out)
{
	struct ip_addr a = { 0 };

	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, &a.v4) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, &a.v6) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	*out = a;
	return 0;
}

int ip_prefix_parse(const char *s, struct ip_addr *addr, uint8_t *len)
{
	char buf[IP_ADDR_STRLEN];
	const char *slash;
	struct ip_addr a;
	long l;
	char *end;
	int r;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash) {
		r = ip_addr_parse(s, &a);
		if (r < 0)
			return r;
		*addr = a;
		*len = a.family == AF_INET ? 32 : 128;
		return 0;
	}
	if ((size_t)(slash - s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, slash - s);
	buf[slash - s] = '\0';
	r = ip_addr_parse(buf, &a);
	if (r < 0)
		return r;
	errno = 0;
	l = strtol(slash + 1, &end, 10);
	if (errno || *end || end == slash + 1 || l < 0 || l > (a.family == AF_INET ? 32 : 128))
		return -EINVAL;
	*addr = a;
	*len = (uint8_t)l;
	return 0;
}

const char *ip_addr_fmt(const struct ip_addr *a, char *buf)
{
	if (!a->family || !inet_ntop(a->family, a->bytes, buf, IP_ADDR_STRLEN))
		snprintf(buf, IP_ADDR_STRLEN, "<unset>");
	return buf;
}

size_t ip_addr_len(const struct ip_addr *a)
{
	return a->family == AF_INET ? 4 : a->family == AF_INET6 ? 16 : 0;
}

int ip_addr_cmp(const struct ip_addr *a, const struct ip_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, ip_addr_len(a));
}

bool ip_addr_eq(const struct ip_addr *a, const struct ip_addr *b)
{
	return ip_addr_cmp(a, b) == 0;
}

bool ip_prefix_contains(const struct ip_addr *net, uint8_t len, const struct ip_addr *a)
{
	size_t bytes = ip_addr_len(net);

	if (!net->family || net->family != a->family || len > 8 * bytes)
		return false;
	for (size_t i = 0; i < bytes; i++) {
		int bits = (int)len - (int)(8 * i);
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));

		if ((net->bytes[i] & mask) != (a->bytes[i] & mask))
			return false;
	}
	return true;
}
