#include "nft/ir.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/types.h"
#include "lib/util/hash.h"

/* Allocation for a fragment and its parts: from its arena when it has one. */
static void *fa_alloc(struct arena *a, size_t size)
{
	return a ? arena_alloc(a, size) : calloc(1, size);
}

static char *fa_strdup(struct arena *a, const char *s)
{
	return a ? arena_strdup(a, s) : strdup(s);
}

/* realloc for arrays: an arena cannot grow in place, so copy (the old copy
 * stays in the arena until it is released; arrays double, so at most as
 * much again). */
static void *fa_grow(struct arena *a, void *old, size_t old_size, size_t new_size)
{
	void *p;

	if (!a)
		return realloc(old, new_size);
	p = arena_alloc(a, new_size);
	if (p && old)
		memcpy(p, old, old_size);
	return p;
}

int nft_frag_new(const char *owner, struct arena *arena, struct nft_frag **out)
{
	struct nft_frag *f = fa_alloc(arena, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->arena = arena;
	f->owner = fa_strdup(arena, owner);
	if (!f->owner) {
		if (!arena)
			free(f);
		return -ENOMEM;
	}
	*out = f;
	return 0;
}

void nft_frag_free(struct nft_frag *f)
{
	if (!f || f->arena)
		return;
	for (size_t i = 0; i < f->n_chains; i++) {
		free(f->chains[i].name);
		free(f->chains[i].rules);
		free(f->chains[i].lb_eps);
	}
	free(f->chains);
	free(f->elems);
	free(f->sets);
	for (size_t i = 0; i < f->n_strs; i++)
		free(f->strs[i]);
	free(f->strs);
	free(f->owner);
	free(f);
}

static int grow(struct arena *a, void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 4;
	p = fa_grow(a, *arr, *cap * elem, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int nft_frag_add_chain(struct nft_frag *f, const char *name, struct nft_chain_ir **out)
{
	struct nft_chain_ir *c;
	int r;

	r = grow(f->arena, (void **)&f->chains, &f->cap_chains, f->n_chains, sizeof(*f->chains));
	if (r < 0)
		return r;
	c = &f->chains[f->n_chains];
	memset(c, 0, sizeof(*c));
	c->arena = f->arena;
	c->name = fa_strdup(f->arena, name);
	if (!c->name)
		return -ENOMEM;
	f->n_chains++;
	*out = c;
	return 0;
}

int nft_chain_add_rule(struct nft_chain_ir *c, const struct nft_rule_ir *r)
{
	struct nft_rule_ir *p = c->rules;
	size_t n = c->n_rules;

	/* Chains hold a handful of rules. With malloc, grow by one. In an
	 * arena, which cannot grow in place, room for 4 and then doubling
	 * (the capacity follows from the count). */
	if (!c->arena)
		p = realloc(c->rules, (n + 1) * sizeof(*p));
	else if (n == 0)
		p = arena_alloc(c->arena, 4 * sizeof(*p));
	else if (n >= 4 && (n & (n - 1)) == 0)
		p = fa_grow(c->arena, c->rules, n * sizeof(*p), 2 * n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	p[c->n_rules++] = *r;
	c->rules = p;
	return 0;
}

int nft_chain_set_lb_n(struct nft_chain_ir *c, uint32_t n, uint8_t dlen)
{
	c->lb_eps = fa_alloc(c->arena, (size_t)(n ? n : 1) * dlen);
	if (!c->lb_eps)
		return -ENOMEM;
	c->lb_n = n;
	c->lb_dlen = dlen;
	return 0;
}

int nft_frag_add_elem(struct nft_frag *f, const struct nft_elem_ir *e)
{
	int r = grow(f->arena, (void **)&f->elems, &f->cap_elems, f->n_elems, sizeof(*f->elems));

	if (r < 0)
		return r;
	f->elems[f->n_elems++] = *e;
	return 0;
}

int nft_frag_add_set(struct nft_frag *f, const struct nft_set_ir *s)
{
	int r;

	for (size_t i = 0; i < f->n_sets; i++)
		if (strcmp(f->sets[i].name, s->name) == 0)
			return 0;
	r = grow(f->arena, (void **)&f->sets, &f->cap_sets, f->n_sets, sizeof(*f->sets));
	if (r < 0)
		return r;
	f->sets[f->n_sets++] = *s;
	return 0;
}

const char *nft_frag_strdup(struct nft_frag *f, const char *s)
{
	char **p;
	char *c;

	if (f->arena)
		return arena_strdup(f->arena, s);
	p = realloc(f->strs, (f->n_strs + 1) * sizeof(*p));
	if (!p)
		return NULL;
	f->strs = p;
	c = strdup(s);
	if (!c)
		return NULL;
	f->strs[f->n_strs++] = c;
	return c;
}

const char *nft_lb_map_name(uint32_t map, char buf[16])
{
	snprintf(buf, 16, "%s-%04u", map & NFT_LB_V6 ? "lb6" : "lb", map & ~NFT_LB_V6);
	return buf;
}

void nft_key_service(uint8_t key[NFT_KEY_MAX], uint8_t *len, const struct ip_addr *ip,
		     uint8_t proto, uint16_t port)
{
	size_t alen = ip_addr_len(ip);
	uint16_t nport = htons(port);

	/* Concatenations pad every field to a 4-byte register. */
	memset(key, 0, NFT_KEY_MAX);
	memcpy(key, ip->bytes, alen);
	key[alen] = proto;
	memcpy(key + alen + 4, &nport, 2);
	*len = (uint8_t)(alen + 8);
}

void nft_key_nodeport(uint8_t key[NFT_KEY_MAX], uint8_t *len, uint8_t proto, uint16_t port)
{
	uint16_t nport = htons(port);

	memset(key, 0, NFT_KEY_MAX);
	key[0] = proto;
	memcpy(key + 4, &nport, 2);
	*len = 8;
}

void nft_key_addr(uint8_t key[NFT_KEY_MAX], uint8_t *len, const struct ip_addr *ip)
{
	memset(key, 0, NFT_KEY_MAX);
	memcpy(key, ip->bytes, ip_addr_len(ip));
	*len = (uint8_t)ip_addr_len(ip);
}

void nft_key_u32(uint8_t key[NFT_KEY_MAX], uint8_t *len, uint32_t v)
{
	uint32_t be = htonl(v);

	memset(key, 0, NFT_KEY_MAX);
	memcpy(key, &be, 4);
	*len = 4;
}

void nft_lb_range(uint32_t slot, size_t i, size_t n, uint32_t *lo, uint32_t *hi)
{
	uint32_t base = slot * NFT_LB_STRIDE;

	*lo = base + (uint32_t)((uint64_t)NFT_LB_STRIDE * i / n);
	*hi = base + (uint32_t)((uint64_t)NFT_LB_STRIDE * (i + 1) / n) - 1;
}

uint32_t nft_key_u32_get(const uint8_t *key)
{
	uint32_t be;

	memcpy(&be, key, 4);
	return ntohl(be);
}

void nft_data_target(uint8_t data[NFT_DATA_MAX], uint8_t *len, const struct ip_addr *ip,
		     uint16_t port)
{
	size_t alen = ip_addr_len(ip);
	uint16_t nport = htons(port);

	/* Writes exactly alen + 4 bytes: callers pack values back to back. */
	memcpy(data, ip->bytes, alen);
	memcpy(data + alen, &nport, 2);
	memset(data + alen + 2, 0, 2);
	*len = (uint8_t)(alen + 4);
}

void nft_data_target_get(const uint8_t *data, uint8_t len, struct ip_addr *ip, uint16_t *port)
{
	uint16_t nport;

	memset(ip, 0, sizeof(*ip));
	ip->family = len == 8 ? AF_INET : AF_INET6;
	memcpy(ip->bytes, data, ip_addr_len(ip));
	memcpy(&nport, data + ip_addr_len(ip), 2);
	*port = ntohs(nport);
}

void nft_key_hairpin(uint8_t key[NFT_KEY_MAX], uint8_t *len, const struct ip_addr *ip)
{
	size_t alen = ip_addr_len(ip);

	memset(key, 0, NFT_KEY_MAX);
	memcpy(key, ip->bytes, alen);
	memcpy(key + alen, ip->bytes, alen);
	*len = (uint8_t)(2 * alen);
}

static const char *fam_kw(uint8_t family)
{
	return family == AF_INET6 ? "ip6" : "ip";
}

int nft_rule_print(const struct nft_rule_ir *r, char *buf, size_t size)
{
	char m[16], a[IP_ADDR_STRLEN];
	int n;

	switch (r->kind) {
	case NFT_RULE_JUMP:
		return snprintf(buf, size, "jump %s", r->target);
	case NFT_RULE_CT_NEW_JUMP:
		return snprintf(buf, size, "ct state new jump %s", r->target);
	case NFT_RULE_DISPATCH:
		return snprintf(buf, size, "%s daddr . meta l4proto . th dport vmap @%s",
				fam_kw(r->family), r->target);
	case NFT_RULE_LB:
		return snprintf(buf, size,
				"meta l4proto %s dnat %s to numgen random mod %u offset %u map @%s",
				proto_name(r->proto), fam_kw(r->family), r->mod, r->offset,
				nft_lb_map_name(r->map, m));
	case NFT_RULE_HAIRPIN:
		return snprintf(buf, size,
				"ct status dnat %s saddr . %s daddr @%s masquerade fully-random",
				fam_kw(r->family), fam_kw(r->family), r->target);
	case NFT_RULE_RETURN_UNLESS_MARK:
		return snprintf(buf, size, "meta mark & 0x%08x == 0x00000000 return", r->mark);
	case NFT_RULE_CLEAR_MARK:
		return snprintf(buf, size, "meta mark set meta mark ^ 0x%08x", r->mark);
	case NFT_RULE_MASQUERADE:
		return snprintf(buf, size, "masquerade fully-random");
	case NFT_RULE_REJECT_TCP:
		return snprintf(buf, size, "meta l4proto tcp reject with tcp reset");
	case NFT_RULE_REJECT:
		return snprintf(buf, size, "reject");
	case NFT_RULE_GOTO:
		return snprintf(buf, size, "goto %s", r->target);
	case NFT_RULE_MARK:
		return snprintf(buf, size, "meta mark set meta mark | 0x%08x", r->mark);
	case NFT_RULE_MASQ_CLUSTER:
		if (!r->addr.family)
			return snprintf(buf, size, "%s daddr @%s meta mark set meta mark | 0x%08x",
					fam_kw(r->family), r->set, r->mark);
		return snprintf(buf, size, "%s daddr @%s %s saddr != %s/%u meta mark set meta mark | 0x%08x",
				fam_kw(r->family), r->set, fam_kw(r->family),
				ip_addr_fmt(&r->addr, a), r->plen, r->mark);
	case NFT_RULE_SADDR_GOTO:
	case NFT_RULE_SADDR_RETURN:
		n = snprintf(buf, size, "%s saddr %s/%u ", fam_kw(r->family), ip_addr_fmt(&r->addr, a),
			     r->plen);
		if (r->kind == NFT_RULE_SADDR_RETURN)
			return n + snprintf(buf + n, size > (size_t)n ? size - n : 0, "return");
		return n + snprintf(buf + n, size > (size_t)n ? size - n : 0, "goto %s", r->target);
	case NFT_RULE_FIB_LOCAL_MARK:
		return snprintf(buf, size, "fib saddr type local meta mark set meta mark | 0x%08x",
				r->mark);
	case NFT_RULE_FIB_LOCAL_GOTO:
		return snprintf(buf, size, "fib saddr type local goto %s", r->target);
	case NFT_RULE_NODEPORT_DISPATCH:
		return snprintf(buf, size, "%s daddr @%s meta l4proto . th dport vmap @%s",
				fam_kw(r->family), r->set, r->target);
	case NFT_RULE_DADDR_SET_GOTO:
		return snprintf(buf, size, "%s daddr @%s goto %s", fam_kw(r->family), r->set,
				r->target);
	case NFT_RULE_DADDR_DROP:
		return snprintf(buf, size, "%s daddr %s/%u drop", fam_kw(r->family),
				ip_addr_fmt(&r->addr, a), r->plen);
	case NFT_RULE_DROP:
		return snprintf(buf, size, "drop");
	case NFT_RULE_AFFINITY:
	case NFT_RULE_PICK:
		ip_addr_fmt(&r->addr, a);
		if (r->kind == NFT_RULE_AFFINITY)
			n = snprintf(buf, size, "%s saddr @%s ", fam_kw(r->family), r->set);
		else if (r->mod > 1)
			n = snprintf(buf, size, "numgen random mod %u 0 ", r->mod);
		else
			n = 0;
		return n + snprintf(buf + n, size > (size_t)n ? size - n : 0,
				    "update @%s { %s saddr } meta l4proto %s dnat %s to %s%s%s:%u",
				    r->set, fam_kw(r->family), proto_name(r->proto), fam_kw(r->family),
				    r->family == AF_INET6 ? "[" : "", a,
				    r->family == AF_INET6 ? "]" : "", r->port);
	}
	return snprintf(buf, size, "<unknown rule kind %d>", (int)r->kind);
}

int nft_elem_key_print(const struct nft_elem_ir *e, char *buf, size_t size)
{
	char a[IP_ADDR_STRLEN];
	struct ip_addr ip = { 0 };
	uint16_t port;

	if (e->key_len == 8) { /* proto . port (node ports) */
		memcpy(&port, e->key + 4, 2);
		return snprintf(buf, size, "%s . %u", proto_name(e->key[0]), ntohs(port));
	}
	if (e->key_len == 4 || e->key_len == 16) { /* an address */
		ip.family = e->key_len == 4 ? AF_INET : AF_INET6;
		memcpy(ip.bytes, e->key, e->key_len);
		return snprintf(buf, size, "%s", ip_addr_fmt(&ip, a));
	}
	ip.family = e->key_len == 12 ? AF_INET : AF_INET6;
	memcpy(ip.bytes, e->key, ip_addr_len(&ip));
	memcpy(&port, e->key + ip_addr_len(&ip) + 4, 2);
	return snprintf(buf, size, "%s . %s . %u", ip_addr_fmt(&ip, a),
			proto_name(e->key[ip_addr_len(&ip)]), ntohs(port));
}

uint64_t nft_chain_ir_hash(const struct nft_chain_ir *c)
{
	uint64_t h = hash_fnv1a(&c->hook, sizeof(c->hook), 0);

	h = hash_fnv1a(&c->prio, sizeof(c->prio), h);
	for (size_t i = 0; i < c->n_rules; i++) {
		const struct nft_rule_ir *r = &c->rules[i];
		/* Field by field: the struct has padding. */
		uint32_t v[10] = { r->kind, r->family, r->proto, r->mod, r->offset, r->map, r->mark,
				   r->port, r->plen, (uint32_t)r->addr.family };

		h = hash_fnv1a(v, sizeof(v), h);
		if (r->addr.family)
			h = hash_fnv1a(r->addr.bytes, 16, h);
		if (r->target)
			h = hash_fnv1a(r->target, strlen(r->target) + 1, h);
		if (r->set)
			h = hash_fnv1a(r->set, strlen(r->set) + 1, h);
		h = hash_fnv1a("|", 1, h);
	}
	return h ? h : 1; /* 0 means "not known" (read back) */
}
