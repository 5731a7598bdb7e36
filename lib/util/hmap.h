/* A string-keyed hash map with open addressing (linear probing, backward
 * shift on delete). Keys are borrowed: the caller keeps each key alive while
 * its entry exists, usually by pointing into the value it maps to. */
#ifndef NFTPROXY_UTIL_HMAP_H
#define NFTPROXY_UTIL_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_slot {
	const char *key;   /* NULL = empty */
	uint64_t hash;
	void *value;
};

struct hmap {
	struct hmap_slot *slots;
	size_t cap;        /* power of two, or 0 */
	size_t len;
};

#define HMAP_INIT { NULL, 0, 0 }

void hmap_init(struct hmap *m);
/* Frees the table only; values are the caller's. */
void hmap_fini(struct hmap *m);
void *hmap_get(const struct hmap *m, const char *key);
/* Inserts or replaces. Returns 0 or -ENOMEM; *old (may be NULL) gets the
 * replaced value or NULL. */
int hmap_put(struct hmap *m, const char *key, void *value, void **old);
/* Removes key; returns its value or NULL. */
void *hmap_del(struct hmap *m, const char *key);

/* A set of strings: the map owns a copy of each key, stored as its value
 * (free the values before hmap_fini). Adds key unless present. Returns 0
 * or -ENOMEM. */
int hmap_strset_add(struct hmap *m, const char *key);
/* Frees a string set's keys and its table. */
void hmap_strset_free(struct hmap *m);

/* Iteration: for (size_t i = 0; hmap_next(m, &i, &k, &v); ) ... Do not
 * insert or delete while iterating. */
int hmap_next(const struct hmap *m, size_t *iter, const char **key, void **value);

#endif
