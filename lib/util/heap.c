#include "lib/util/heap.h"
#include <malloc.h>

/* gcc defines __SANITIZE_ADDRESS__ under -fsanitize=address; clang 14 only
 * answers __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define HEAP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_ASAN 1
#endif
#endif

#ifdef HEAP_ASAN
/* The sanitizer runtime's allocator statistics (declared by hand: gcc
 * ships the runtime but not <sanitizer/allocator_interface.h>). */
size_t __sanitizer_get_current_allocated_bytes(void);
size_t __sanitizer_get_free_bytes(void);
size_t __sanitizer_get_unmapped_bytes(void);

void heap_trim_stats(struct heap_stats *hs)
{
	hs->in_use = __sanitizer_get_current_allocated_bytes();
	hs->free = __sanitizer_get_free_bytes();
	hs->mapped = 0;
	hs->allocator = "asan";
}
#else
void heap_trim_stats(struct heap_stats *hs)
{
	struct mallinfo2 mi;

	malloc_trim(0);
	mi = mallinfo2();
	hs->in_use = mi.uordblks;
	hs->free = mi.fordblks;
	hs->mapped = mi.hblkhd;
	hs->allocator = "glibc";
}
#endif
