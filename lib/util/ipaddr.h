/* IP addresses as the model and the ruleset compiler see them. */
#ifndef NFTPROXY_UTIL_IPADDR_H
#define NFTPROXY_UTIL_IPADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

struct ip_addr {
	int family;        /* AF_INET or AF_INET6; 0 = unset */
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t bytes[16];
	};
};

/* INET6_ADDRSTRLEN plus room for a prefix length. */
#define IP_ADDR_STRLEN 52

/* Parses a literal IPv4 or IPv6 address. Returns 0 or -EINVAL. */
int ip_addr_parse(const char *s, struct ip_addr *out);
/* Parses "addr/len"; a bare address gets the full length. Returns 0 or -EINVAL. */
int ip_prefix_parse(const char *s, struct ip_addr *addr, uint8_t *len);
/* Formats into buf (IP_ADDR_STRLEN) and returns buf. */
const char *ip_addr_fmt(const struct ip_addr *a, char *buf);
size_t ip_addr_len(const struct ip_addr *a);
int ip_addr_cmp(const struct ip_addr *a, const struct ip_addr *b);
bool ip_addr_eq(const struct ip_addr *a, const struct ip_addr *b);
/* Whether a is inside net/len (same family). */
bool ip_prefix_contains(const struct ip_addr *net, uint8_t len, const struct ip_addr *a);

#endif
