/* A fault-injecting allocator for the unit tests. The test executable is
 * linked with -Wl,--wrap=malloc,... (tests/unit/meson.build): the
 * allocations of our static libraries and of the test go through the
 * __wrap_ functions of failalloc.c, the shared libraries' (yajl, libyaml,
 * libnftnl, libcurl, libuv) do not, so only our own allocation paths fail.
 *
 * Wrapped: malloc, calloc, realloc, reallocarray, strdup, strndup,
 * asprintf, vasprintf, and libnftnl's nftnl_{rule,expr,chain,set}_alloc
 * (what nft/build.c checks). An allocator the code starts to use (getline,
 * open_memstream, ...) is not seen until it is added here and to the link
 * flags. free is not wrapped.
 *
 * Armed, the allocator counts allocations and fails the chosen ones with
 * errno ENOMEM; off (the default) it only passes them through. Not
 * thread-safe: the unit tests that use it run one thread. */
#ifndef NFTPROXY_TESTS_FAILALLOC_H
#define NFTPROXY_TESTS_FAILALLOC_H

#include <stdbool.h>

/* Counts from now; fails only the nth allocation (1 = the next one). */
void failalloc_fail_nth(long n);
/* Counts from now; lets n allocations through, fails every one after. */
void failalloc_fail_after(long n);
/* Counts from now and fails nothing. */
void failalloc_count_only(void);
/* Stops counting and failing. */
void failalloc_off(void);

/* Since the last arming: allocations seen (failed ones included), and
 * injected failures. */
long failalloc_seen(void);
long failalloc_failed(void);

/* True when this executable really goes through the wrappers (the link
 * flags took effect): a malloc while armed is counted. */
bool failalloc_active(void);

/* Called at each injected failure with its number (for a debugger's
 * breakpoint). */
void failalloc_trap(long n);

#endif
