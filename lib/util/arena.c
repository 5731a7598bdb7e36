#include "lib/util/arena.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

/* 1 MiB blocks: large enough that a cold sync of 10k services maps a few
 * dozen, small enough that a one-service sync maps one. */
#define BLOCK_SIZE (1u << 20)

struct arena_block {
	struct arena_block *next;
	size_t size;
	/* data follows, 16-aligned */
};

#define HDR ((sizeof(struct arena_block) + 15) & ~(size_t)15)

void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b;
	size_t need = (size + 15) & ~(size_t)15, bsize;
	void *p;

	if (!a->head || a->used + need > a->head->size - HDR) {
		bsize = need + HDR > BLOCK_SIZE ? need + HDR : BLOCK_SIZE;
		/* Anonymous mappings come zeroed and go back to the kernel on
		 * munmap, whatever malloc's heap looks like. */
		p = mmap(NULL, bsize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		b = p;
		b->next = a->head;
		b->size = bsize;
		a->head = b;
		a->used = 0;
		a->total += bsize;
	}
	p = (char *)a->head + HDR + a->used;
	a->used += need;
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(a, n);

	if (p)
		memcpy(p, s, n);
	return p;
}

void arena_release(struct arena *a)
{
	struct arena_block *b = a->head;

	while (b) {
		struct arena_block *next = b->next;

		munmap(b, b->size);
		b = next;
	}
	a->head = NULL;
	a->used = 0;
	a->total = 0;
}
