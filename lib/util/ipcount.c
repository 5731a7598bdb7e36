#include "lib/util/ipcount.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/util/hash.h"

static uint64_t entry_hash(const uint8_t *bytes, uint8_t family)
{
	return hash_fnv1a(bytes, family == AF_INET ? 4 : 16, family);
}

static bool entry_is(const struct ipcount_entry *e, const struct ip_addr *a)
{
	return e->family == (uint8_t)a->family &&
	       memcmp(e->bytes, a->bytes, a->family == AF_INET ? 4 : 16) == 0;
}

void ipcount_fini(struct ipcount *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static size_t find_slot(const struct ipcount *t, const struct ip_addr *a)
{
	size_t mask = t->cap - 1, i = entry_hash(a->bytes, (uint8_t)a->family) & mask;

	while (t->slots[i].family && !entry_is(&t->slots[i], a))
		i = (i + 1) & mask;
	return i;
}

struct ipcount_entry *ipcount_find(const struct ipcount *t, const struct ip_addr *a)
{
	size_t i;

	if (!t->cap)
		return NULL;
	i = find_slot(t, a);
	return t->slots[i].family ? &t->slots[i] : NULL;
}

static int grow(struct ipcount *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 64;
	struct ipcount_entry *old = t->slots, *n = calloc(ncap, sizeof(*n));
	size_t ocap = t->cap;

	if (!n)
		return -ENOMEM;
	t->slots = n;
	t->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		const struct ipcount_entry *e = &old[i];
		size_t k;

		if (!e->family)
			continue;
		k = entry_hash(e->bytes, e->family) & (ncap - 1);
		while (n[k].family)
			k = (k + 1) & (ncap - 1);
		n[k] = *e;
	}
	free(old);
	return 0;
}

struct ipcount_entry *ipcount_get(struct ipcount *t, const struct ip_addr *a)
{
	struct ipcount_entry *e;
	size_t i;

	/* At most 7/8 full: entries are small, so a longer probe costs less
	 * than the memory of a table twice the size (100,000 addresses fit
	 * 131,072 slots, 3 MiB). */
	if ((t->len + 1) * 8 > t->cap * 7 && grow(t) < 0)
		return NULL;
	i = find_slot(t, a);
	e = &t->slots[i];
	if (!e->family) {
		memset(e, 0, sizeof(*e));
		e->family = (uint8_t)a->family;
		memcpy(e->bytes, a->bytes, a->family == AF_INET ? 4 : 16);
		t->len++;
	}
	return e;
}

void ipcount_del(struct ipcount *t, const struct ip_addr *a)
{
	size_t mask, i, j;

	if (!t->cap)
		return;
	mask = t->cap - 1;
	i = find_slot(t, a);
	if (!t->slots[i].family)
		return;
	/* Backward shift: move later entries of the probe run into the hole. */
	for (j = (i + 1) & mask; t->slots[j].family; j = (j + 1) & mask) {
		size_t home = entry_hash(t->slots[j].bytes, t->slots[j].family) & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	memset(&t->slots[i], 0, sizeof(t->slots[i]));
	t->len--;
}

struct ipcount_entry *ipcount_next(const struct ipcount *t, size_t *iter)
{
	while (*iter < t->cap) {
		struct ipcount_entry *e = &t->slots[(*iter)++];

		if (e->family)
			return e;
	}
	return NULL;
}

void ipcount_entry_addr(const struct ipcount_entry *e, struct ip_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = e->family;
	memcpy(out->bytes, e->bytes, e->family == AF_INET ? 4 : 16);
}
