/* See failalloc.h. Each __wrap_x decides whether to fail, and otherwise
 * calls __real_x: the C library's (or, in the ASan build, the
 * sanitizer's, which intercepts the same symbols). asprintf and
 * reallocarray are wrapped too: glibc implements them with its internal
 * malloc, which --wrap does not see. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/failalloc.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_reallocarray(void *p, size_t n, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **out, const char *fmt, va_list ap);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_reallocarray(void *p, size_t n, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap);
int __wrap_asprintf(char **out, const char *fmt, ...);

enum mode { OFF, COUNT, NTH, AFTER };

/* volatile: the compiler assumes malloc leaves globals alone, and would
 * otherwise fold failalloc_active's check to false. */
static volatile enum mode mode;
static volatile long limit, seen, failed;

static void arm(enum mode m, long n)
{
	mode = m;
	limit = n;
	seen = 0;
	failed = 0;
}

void failalloc_fail_nth(long n) { arm(NTH, n); }
void failalloc_fail_after(long n) { arm(AFTER, n); }
void failalloc_count_only(void) { arm(COUNT, 0); }
void failalloc_off(void) { mode = OFF; }
long failalloc_seen(void) { return seen; }
long failalloc_failed(void) { return failed; }

bool failalloc_active(void)
{
	enum mode saved = mode;
	long s = seen, f = failed, l = limit;
	void *volatile p; /* or the compiler drops the malloc/free pair */
	bool ok;

	arm(COUNT, 0);
	p = malloc(16);
	ok = seen == 1;
	free(p);
	mode = saved;
	seen = s;
	failed = f;
	limit = l;
	return ok;
}

/* Called at each injected failure: `break failalloc_trap if n == 62` in
 * gdb shows who allocates there. */
__attribute__((noinline)) void failalloc_trap(long n)
{
	__asm__ volatile("" ::: "memory");
	(void)n;
}

/* True when this allocation is to fail (then errno is ENOMEM). */
static bool should_fail(void)
{
	bool fail;

	if (mode == OFF)
		return false;
	seen++;
	fail = (mode == NTH && seen == limit) || (mode == AFTER && seen > limit);
	if (fail) {
		failed++;
		failalloc_trap(seen);
		errno = ENOMEM;
	}
	return fail;
}

void *__wrap_malloc(size_t size)
{
	return should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return should_fail() ? NULL : __real_calloc(n, size);
}

/* A failed realloc leaves p as it was, as the real one does. */
void *__wrap_realloc(void *p, size_t size)
{
	return should_fail() ? NULL : __real_realloc(p, size);
}

void *__wrap_reallocarray(void *p, size_t n, size_t size)
{
	return should_fail() ? NULL : __real_reallocarray(p, n, size);
}

char *__wrap_strdup(const char *s)
{
	return should_fail() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return should_fail() ? NULL : __real_strndup(s, n);
}

/* glibc leaves *out undefined on failure; callers must not read it. */
int __wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
	return should_fail() ? -1 : __real_vasprintf(out, fmt, ap);
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = __wrap_vasprintf(out, fmt, ap);
	va_end(ap);
	return r;
}

/* libnftnl's constructors, called by nft/build.c: their NULL is our
 * -ENOMEM path. (What libnftnl allocates inside them is not ours.) */
struct nftnl_rule;
struct nftnl_expr;
struct nftnl_chain;
struct nftnl_set;

struct nftnl_rule *__real_nftnl_rule_alloc(void);
struct nftnl_expr *__real_nftnl_expr_alloc(const char *name);
struct nftnl_chain *__real_nftnl_chain_alloc(void);
struct nftnl_set *__real_nftnl_set_alloc(void);
struct nftnl_rule *__wrap_nftnl_rule_alloc(void);
struct nftnl_expr *__wrap_nftnl_expr_alloc(const char *name);
struct nftnl_chain *__wrap_nftnl_chain_alloc(void);
struct nftnl_set *__wrap_nftnl_set_alloc(void);

struct nftnl_rule *__wrap_nftnl_rule_alloc(void)
{
	return should_fail() ? NULL : __real_nftnl_rule_alloc();
}

struct nftnl_expr *__wrap_nftnl_expr_alloc(const char *name)
{
	return should_fail() ? NULL : __real_nftnl_expr_alloc(name);
}

struct nftnl_chain *__wrap_nftnl_chain_alloc(void)
{
	return should_fail() ? NULL : __real_nftnl_chain_alloc();
}

struct nftnl_set *__wrap_nftnl_set_alloc(void)
{
	return should_fail() ? NULL : __real_nftnl_set_alloc();
}
