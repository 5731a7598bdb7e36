#include "lib/util/ipcount.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/util/hash.h"

/* Per family: [0] IPv4, [1] IPv6. */
static size_t alen_of(int v6) { return v6 ? 16 : 4; }
static size_t esize_of(int v6) { return sizeof(struct ipcount_entry) + alen_of(v6); }

static int is_v6(const struct ip_addr *a)
{
	return a->family == AF_INET6;
}

static struct ipcount_entry *slot_at(const struct ipcount_tab *t, int v6, size_t i)
{
	return (struct ipcount_entry *)(t->slots + i * esize_of(v6));
}

static uint64_t key_hash(const uint8_t *bytes, int v6)
{
	return hash_fnv1a(bytes, alen_of(v6), (uint64_t)v6);
}

void ipcount_fini(struct ipcount *t)
{
	free(t->tab[0].slots);
	free(t->tab[1].slots);
	memset(t, 0, sizeof(*t));
}

/* Inline compares: a call to memcmp per probe was a tenth of a cold sync's
 * userspace time. */
static bool same_key(const uint8_t *x, const uint8_t *y, int v6)
{
	uint64_t a[2], b[2];

	if (!v6) {
		uint32_t p, q;

		memcpy(&p, x, 4);
		memcpy(&q, y, 4);
		return p == q;
	}
	memcpy(a, x, 16);
	memcpy(b, y, 16);
	return a[0] == b[0] && a[1] == b[1];
}

static size_t find_slot(const struct ipcount_tab *t, int v6, const struct ip_addr *a)
{
	size_t mask = t->cap - 1, i = key_hash(a->bytes, v6) & mask;
	struct ipcount_entry *e;

	while ((e = slot_at(t, v6, i))->family && !same_key(e->bytes, a->bytes, v6))
		i = (i + 1) & mask;
	return i;
}

struct ipcount_entry *ipcount_find(const struct ipcount *t, const struct ip_addr *a)
{
	int v6 = is_v6(a);
	const struct ipcount_tab *tb = &t->tab[v6];
	struct ipcount_entry *e;

	if (!tb->cap)
		return NULL;
	e = slot_at(tb, v6, find_slot(tb, v6, a));
	return e->family ? e : NULL;
}

static int grow(struct ipcount_tab *t, int v6)
{
	size_t ncap = t->cap ? t->cap * 2 : 64, es = esize_of(v6);
	struct ipcount_tab n = { .cap = ncap, .len = t->len };

	n.slots = calloc(ncap, es);
	if (!n.slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		const struct ipcount_entry *e = slot_at(t, v6, i);
		size_t k;

		if (!e->family)
			continue;
		k = key_hash(e->bytes, v6) & (ncap - 1);
		while (slot_at(&n, v6, k)->family)
			k = (k + 1) & (ncap - 1);
		memcpy(slot_at(&n, v6, k), e, es);
	}
	free(t->slots);
	*t = n;
	return 0;
}

struct ipcount_entry *ipcount_get(struct ipcount *t, const struct ip_addr *a)
{
	int v6 = is_v6(a);
	struct ipcount_tab *tb = &t->tab[v6];
	struct ipcount_entry *e;

	/* At most 4/5 full: entries are small, so a longer probe costs less
	 * than the memory of a table twice the size (100,000 IPv4 addresses
	 * fit 131,072 slots, 1.5 MiB). */
	if ((tb->len + 1) * 5 > tb->cap * 4 && grow(tb, v6) < 0)
		return NULL;
	e = slot_at(tb, v6, find_slot(tb, v6, a));
	if (!e->family) {
		memset(e, 0, esize_of(v6));
		e->family = (uint8_t)a->family;
		memcpy(e->bytes, a->bytes, alen_of(v6));
		tb->len++;
		t->len++;
	}
	return e;
}

void ipcount_del(struct ipcount *t, const struct ip_addr *a)
{
	int v6 = is_v6(a);
	struct ipcount_tab *tb = &t->tab[v6];
	size_t mask, i, j, es = esize_of(v6);

	if (!tb->cap)
		return;
	mask = tb->cap - 1;
	i = find_slot(tb, v6, a);
	if (!slot_at(tb, v6, i)->family)
		return;
	/* Backward shift: move later entries of the probe run into the hole. */
	for (j = (i + 1) & mask; slot_at(tb, v6, j)->family; j = (j + 1) & mask) {
		size_t home = key_hash(slot_at(tb, v6, j)->bytes, v6) & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			memcpy(slot_at(tb, v6, i), slot_at(tb, v6, j), es);
			i = j;
		}
	}
	memset(slot_at(tb, v6, i), 0, es);
	tb->len--;
	t->len--;
}

struct ipcount_entry *ipcount_next(const struct ipcount *t, size_t *iter)
{
	/* iter runs over the IPv4 table's slots, then the IPv6 one's. */
	for (;;) {
		int v6 = *iter >= t->tab[0].cap;
		size_t i = v6 ? *iter - t->tab[0].cap : *iter;
		struct ipcount_entry *e;

		if (v6 && i >= t->tab[1].cap)
			return NULL;
		(*iter)++;
		e = slot_at(&t->tab[v6], v6, i);
		if (e->family)
			return e;
	}
}

void ipcount_entry_addr(const struct ipcount_entry *e, struct ip_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = e->family;
	memcpy(out->bytes, e->bytes, e->family == AF_INET ? 4 : 16);
}
