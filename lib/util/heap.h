/* What the process's allocator holds, for the logs and the soak test's
 * "memory flat" check. */
#ifndef NFTPROXY_UTIL_HEAP_H
#define NFTPROXY_UTIL_HEAP_H

#include <stddef.h>

struct heap_stats {
	size_t in_use;          /* bytes in live allocations */
	size_t free;            /* bytes the allocator holds for reuse */
	size_t mapped;          /* bytes in blocks mapped on their own (glibc) */
	const char *allocator;  /* "glibc" or "asan" */
};

/* Gives free pages back to the system (glibc's malloc_trim) and reads the
 * allocator's counters. Under AddressSanitizer, which replaces malloc and
 * leaves mallinfo2 at zero, the counters are ASan's own: in_use is the
 * bytes allocated and not yet freed (freed blocks sitting in the
 * quarantine are not counted, so a leak still shows and the quarantine's
 * growth does not). */
void heap_trim_stats(struct heap_stats *hs);

#endif
