#include "lib/util/utf8.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t utf8_len(const unsigned char *s, size_t avail)
{
	unsigned char c, lo = 0x80, hi = 0xbf;
	size_t n;

	if (!avail)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	/* The second byte's range is narrower after E0 (no overlong
	 * three-byte forms), ED (no surrogates), F0 (no overlong four-byte
	 * forms) and F4 (nothing past U+10FFFF). */
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (avail < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Bytes of s that are UTF-8 before the first that is not. */
static size_t utf8_prefix(const unsigned char *s, size_t len)
{
	size_t i = 0, k;

	while (i < len && (k = utf8_len(s + i, len - i)))
		i += k;
	return i;
}

bool utf8_valid(const char *s, size_t len)
{
	return utf8_prefix((const unsigned char *)s, len) == len;
}

int utf8_repair(const char *s, size_t len, char **out, size_t *out_len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = utf8_prefix(u, len), n = i, k;
	char *fixed;

	*out = NULL;
	*out_len = len;
	if (i == len)
		return 0;
	/* At worst every remaining byte becomes the three of U+FFFD. */
	fixed = malloc(i + (len - i) * 3 + 1);
	if (!fixed)
		return -ENOMEM;
	memcpy(fixed, s, i);
	for (; i < len; i += k ? k : 1) {
		k = utf8_len(u + i, len - i);
		if (k) {
			memcpy(fixed + n, u + i, k);
			n += k;
		} else {
			memcpy(fixed + n, "\xef\xbf\xbd", 3);
			n += 3;
		}
	}
	fixed[n] = '\0';
	*out = fixed;
	*out_len = n;
	return 0;
}
