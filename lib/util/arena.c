#include "lib/util/arena.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

/* Under ASan every allocation gets a poisoned tail, so an overflow inside
 * a block is still reported. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define REDZONE 16
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define REDZONE 0
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

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
	size_t need = ((size + 15) & ~(size_t)15) + REDZONE, bsize;
	void *p;

	if (!a->head || a->used + need > a->head->size - HDR) {
		bsize = need + HDR > BLOCK_SIZE ? need + HDR : BLOCK_SIZE;
		/* Anonymous mappings come zeroed and go back to the kernel on
		 * munmap, whatever malloc's heap looks like. */
		p = mmap(NULL, bsize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		/* The shadow of a reused address range may still say poisoned. */
		UNPOISON(p, bsize);
		b = p;
		b->next = a->head;
		b->size = bsize;
		a->head = b;
		a->used = 0;
		a->total += bsize;
	}
	p = (char *)a->head + HDR + a->used;
	a->used += need;
	POISON((char *)p + need - REDZONE, REDZONE);
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
		size_t size = b->size;

		UNPOISON(b, size);
		munmap(b, size);
		b = next;
	}
	a->head = NULL;
	a->used = 0;
	a->total = 0;
}
