/* A bump allocator over blocks mapped straight from the kernel: everything
 * is released at once. The sync builds each plan's fragments in one, so the
 * short-lived memory of a plan never lands between the long-lived objects
 * of the applied state in malloc's heap, where it would leave holes behind
 * (47 MB of them after a 10k x 10 cold sync before this). */
#ifndef NFTPROXY_UTIL_ARENA_H
#define NFTPROXY_UTIL_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *head;
	size_t used;               /* bytes taken from head */
	size_t total;              /* bytes mapped, for stats */
};

#define ARENA_INIT { NULL, 0, 0 }

/* size bytes aligned to 16, or NULL (ENOMEM). Zeroed. */
void *arena_alloc(struct arena *a, size_t size);
char *arena_strdup(struct arena *a, const char *s);
/* Unmaps every block; the arena can be used again. */
void arena_release(struct arena *a);

#endif
