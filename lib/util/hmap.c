#include "lib/util/hmap.h"
#include "lib/util/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void hmap_init(struct hmap *m)
{
	m->slots = NULL;
	m->cap = 0;
	m->len = 0;
}

void hmap_fini(struct hmap *m)
{
	free(m->slots);
	hmap_init(m);
}

static struct hmap_slot *hmap_find(const struct hmap *m, const char *key, uint64_t h)
{
	size_t mask = m->cap - 1;

	if (!m->cap)
		return NULL;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct hmap_slot *s = &m->slots[i];

		if (!s->key)
			return NULL;
		if (s->hash == h && strcmp(s->key, key) == 0)
			return s;
	}
}

void *hmap_get(const struct hmap *m, const char *key)
{
	struct hmap_slot *s = hmap_find(m, key, hash_str(key));

	return s ? s->value : NULL;
}

static void hmap_place(struct hmap_slot *slots, size_t cap, const char *key, uint64_t h,
		       void *value)
{
	size_t mask = cap - 1;
	size_t i = h & mask;

	while (slots[i].key)
		i = (i + 1) & mask;
	slots[i].key = key;
	slots[i].hash = h;
	slots[i].value = value;
}

static int hmap_grow(struct hmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16;
	struct hmap_slot *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			hmap_place(ns, ncap, m->slots[i].key, m->slots[i].hash, m->slots[i].value);
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

int hmap_put(struct hmap *m, const char *key, void *value, void **old)
{
	uint64_t h = hash_str(key);
	struct hmap_slot *s = hmap_find(m, key, h);
	int r;

	if (s) {
		if (old)
			*old = s->value;
		s->key = key;
		s->value = value;
		return 0;
	}
	/* Keep the load factor under 3/4 so probe runs stay short. */
	if ((m->len + 1) * 4 > m->cap * 3) {
		r = hmap_grow(m);
		if (r < 0)
			return r;
	}
	hmap_place(m->slots, m->cap, key, h, value);
	m->len++;
	if (old)
		*old = NULL;
	return 0;
}

void *hmap_del(struct hmap *m, const char *key)
{
	uint64_t h = hash_str(key);
	struct hmap_slot *s = hmap_find(m, key, h);
	size_t mask = m->cap - 1, i, j;
	void *value;

	if (!s)
		return NULL;
	value = s->value;
	i = (size_t)(s - m->slots);
	/* Backward-shift deletion: no tombstones, lookups stay short. */
	for (j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
		size_t home = m->slots[j].hash & mask;

		/* Move j into the hole at i unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].key = NULL;
	m->slots[i].value = NULL;
	m->len--;
	return value;
}

int hmap_strset_add(struct hmap *m, const char *key)
{
	char *k;
	int r;

	if (hmap_get(m, key))
		return 0;
	k = strdup(key);
	if (!k)
		return -ENOMEM;
	r = hmap_put(m, k, k, NULL);
	if (r < 0)
		free(k);
	return r;
}

void hmap_strset_free(struct hmap *m)
{
	size_t it = 0;
	void *v;

	while (hmap_next(m, &it, NULL, &v))
		free(v);
	hmap_fini(m);
}

int hmap_next(const struct hmap *m, size_t *iter, const char **key, void **value)
{
	for (; *iter < m->cap; (*iter)++) {
		if (m->slots[*iter].key) {
			if (key)
				*key = m->slots[*iter].key;
			if (value)
				*value = m->slots[*iter].value;
			(*iter)++;
			return 1;
		}
	}
	return 0;
}
