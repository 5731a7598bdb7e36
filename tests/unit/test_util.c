/* lib/util: hash map, short hashes, IP parsing, UTF-8. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/arena.h"
#include "lib/util/hash.h"
#include "lib/util/hmap.h"
#include "lib/util/ipaddr.h"
#include "lib/util/ipcount.h"
#include "lib/util/utf8.h"
#include "tests/unit/check.h"

static void test_hmap_many(void)
{
	enum { N = 20000 };
	struct hmap m = HMAP_INIT;
	static char keys[N][16];
	size_t it = 0, seen = 0;
	void *v;

	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		CHECK_INT(hmap_put(&m, keys[i], (void *)(long)(i + 1), NULL), 0);
	}
	CHECK_INT(m.len, N);
	for (int i = 0; i < N; i++)
		CHECK_INT((long)hmap_get(&m, keys[i]), i + 1);
	/* Delete every other key: the rest must stay reachable (backward shift). */
	for (int i = 0; i < N; i += 2)
		CHECK_INT((long)hmap_del(&m, keys[i]), i + 1);
	CHECK_INT(m.len, N / 2);
	for (int i = 0; i < N; i++)
		CHECK_INT((long)hmap_get(&m, keys[i]), i % 2 ? i + 1 : 0);
	while (hmap_next(&m, &it, NULL, &v))
		seen++;
	CHECK_INT(seen, N / 2);
	CHECK(hmap_del(&m, "absent") == NULL);
	hmap_fini(&m);
}

static void test_hmap_replace(void)
{
	struct hmap m = HMAP_INIT;
	void *old = (void *)1;

	CHECK_INT(hmap_put(&m, "a", (void *)10, &old), 0);
	CHECK(old == NULL);
	CHECK_INT(hmap_put(&m, "a", (void *)20, &old), 0);
	CHECK((long)old == 10);
	CHECK_INT(m.len, 1);
	hmap_fini(&m);
}

static void test_hmap_strset(void)
{
	struct hmap m = HMAP_INIT;
	char key[] = "ns/web";
	size_t it = 0;
	void *v;

	CHECK_INT(hmap_strset_add(&m, key), 0);
	key[0] = 'X'; /* the set holds its own copy */
	CHECK_INT(hmap_strset_add(&m, "ns/web"), 0);
	CHECK_INT(m.len, 1);
	CHECK_STR(hmap_get(&m, "ns/web"), "ns/web");
	while (hmap_next(&m, &it, NULL, &v))
		free(v);
	hmap_fini(&m);
}

static void test_hash_short(void)
{
	char a[9], b[9], c[9];

	hash_short("default/web/tcp/http", a);
	hash_short("default/web/tcp/http", b);
	hash_short("default/web/tcp/https", c);
	CHECK_STR(a, b);
	CHECK(strcmp(a, c) != 0);
	CHECK_INT(strlen(a), 8);
	for (int i = 0; i < 8; i++)
		CHECK((a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= '2' && a[i] <= '7'));
}

static void test_ipaddr(void)
{
	struct ip_addr a, b;
	char buf[IP_ADDR_STRLEN];
	uint8_t len;

	CHECK_INT(ip_addr_parse("10.96.0.1", &a), 0);
	CHECK_INT(a.family, AF_INET);
	CHECK_STR(ip_addr_fmt(&a, buf), "10.96.0.1");
	CHECK_INT(ip_addr_parse("fd00::1", &b), 0);
	CHECK_INT(b.family, AF_INET6);
	CHECK_STR(ip_addr_fmt(&b, buf), "fd00::1");
	CHECK(ip_addr_cmp(&a, &b) != 0);
	CHECK_INT(ip_addr_parse("10.0.0.256", &a), -EINVAL);
	CHECK_INT(ip_addr_parse("", &a), -EINVAL);
	CHECK_INT(ip_addr_parse("None", &a), -EINVAL);
	CHECK_INT(ip_prefix_parse("192.0.2.0/24", &a, &len), 0);
	CHECK_INT(len, 24);
	CHECK_INT(ip_prefix_parse("fd00::/129", &a, &len), -EINVAL);
	CHECK_INT(ip_prefix_parse("10.0.0.1", &a, &len), 0);
	CHECK_INT(len, 32);
	CHECK_INT(ip_prefix_parse("10.0.0.1/", &a, &len), -EINVAL);
}

static void test_arena(void)
{
	struct arena a = ARENA_INIT;
	char *big, *s;
	void *p;

	for (int round = 0; round < 3; round++) {
		/* Many small pieces across several blocks, one bigger than a block. */
		for (int i = 0; i < 50000; i++) {
			p = arena_alloc(&a, (size_t)(i % 97) + 1);
			CHECK(p != NULL);
			CHECK_INT((uintptr_t)p % 16, 0);
			CHECK_INT(((unsigned char *)p)[0], 0); /* zeroed */
			memset(p, 0xab, (size_t)(i % 97) + 1);
		}
		big = arena_alloc(&a, 3u << 20);
		CHECK(big != NULL);
		big[(3u << 20) - 1] = 1;
		s = arena_strdup(&a, "svc-ABCDEFGH-default/web/tcp/http");
		CHECK_STR(s, "svc-ABCDEFGH-default/web/tcp/http");
		CHECK(a.total >= (3u << 20));
		arena_release(&a);
		CHECK(a.head == NULL);
		CHECK_INT(a.total, 0);
	}
}

static void ipcount_addr(unsigned i, struct ip_addr *a)
{
	char buf[64];

	/* Every third address IPv6, so both families share the table. */
	if (i % 3 == 0)
		snprintf(buf, sizeof(buf), "fd00::%x:%x", i >> 16, i & 0xffff);
	else
		snprintf(buf, sizeof(buf), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
	CHECK_INT(ip_addr_parse(buf, a), 0);
}

/* Counts survive growth and deletions (backward shift keeps every other
 * entry reachable). */
static void test_ipcount(void)
{
	enum { N = 20000 };
	struct ipcount t = IPCOUNT_INIT;
	struct ipcount_entry *e;
	struct ip_addr a, b;
	size_t it = 0, seen = 0;

	for (unsigned i = 0; i < N; i++) {
		ipcount_addr(i, &a);
		e = ipcount_get(&t, &a);
		CHECK(e != NULL);
		e->n += (int32_t)i + 1;
	}
	CHECK_INT(t.len, N);
	for (unsigned i = 0; i < N; i += 2) {
		ipcount_addr(i, &a);
		ipcount_del(&t, &a);
	}
	CHECK_INT(t.len, N / 2);
	for (unsigned i = 0; i < N; i++) {
		ipcount_addr(i, &a);
		e = ipcount_find(&t, &a);
		if (i % 2 == 0) {
			CHECK(e == NULL);
		} else {
			CHECK(e != NULL && e->n == (int32_t)i + 1);
			ipcount_entry_addr(e, &b);
			CHECK(ip_addr_eq(&a, &b));
		}
	}
	while ((e = ipcount_next(&t, &it)))
		seen++;
	CHECK_INT(seen, N / 2);
	ipcount_fini(&t);
	CHECK(ipcount_find(&t, &a) == NULL);
}

static void test_utf8(void)
{
	static const struct {
		const char *s;
		size_t len;
		bool valid;
		const char *repaired; /* NULL: as it is */
	} cases[] = {
		{ "", 0, true, NULL },
		{ "plain ascii", 11, true, NULL },
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, true, NULL },  /* é € 😀 */
		{ "\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf", 10, true, NULL }, /* U+D7FF U+E000 U+10FFFF */
		{ "a\0b", 3, true, NULL },                      /* NUL is a character */
		{ "\xed\xb7\x9d", 3, false, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* U+DDDD */
		{ "x\xed\xa0\x80y", 5, false, "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy" }, /* U+D800 */
		{ "\xc0\x80", 2, false, "\xef\xbf\xbd\xef\xbf\xbd" },          /* overlong NUL */
		{ "\xe0\x80\xaf", 3, false, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* overlong / */
		{ "\xf4\x90\x80\x80", 4, false,                                  /* U+110000 */
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "ok\xc3", 3, false, "ok\xef\xbf\xbd" },                       /* cut short */
		{ "\xe2\x82", 2, false, "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xff\xfe", 2, false, "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\x80z", 2, false, "\xef\xbf\xbdz" },                          /* stray continuation */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out;
		size_t n;

		fprintf(stderr, "    case %zu\n", i);
		CHECK_INT(utf8_valid(cases[i].s, cases[i].len), cases[i].valid);
		CHECK_INT(utf8_repair(cases[i].s, cases[i].len, &out, &n), 0);
		if (!cases[i].repaired) {
			CHECK(out == NULL);
			CHECK_INT(n, cases[i].len);
			continue;
		}
		CHECK(out != NULL);
		CHECK_INT(n, strlen(cases[i].repaired));
		CHECK(memcmp(out, cases[i].repaired, n) == 0);
		CHECK_INT(out[n], '\0');
		CHECK(utf8_valid(out, n));
		free(out);
	}
	/* The length bounds the look-ahead: a sequence cut by avail is not one. */
	CHECK_INT(utf8_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
	CHECK_INT(utf8_len((const unsigned char *)"\xe2\x82\xac", 2), 0);
	CHECK_INT(utf8_len((const unsigned char *)"a", 0), 0);
}

int main(void)
{
	RUN(test_ipcount);
	RUN(test_hmap_many);
	RUN(test_hmap_replace);
	RUN(test_hmap_strset);
	RUN(test_hash_short);
	RUN(test_ipaddr);
	RUN(test_arena);
	RUN(test_utf8);
	return 0;
}
