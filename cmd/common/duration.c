/* Go's time.ParseDuration syntax, which kube-proxy's duration flags use,
 * plus plain numbers of seconds for convenience. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cmd/common/flags.h"

#define NS_PER_MS 1000000ull

static const struct {
	const char *name;
	uint64_t ns;
} units[] = {
	{ "ns", 1 },
	{ "us", 1000 },
	{ "\xc2\xb5s", 1000 },     /* U+00B5 micro sign */
	{ "\xce\xbcs", 1000 },     /* U+03BC Greek mu */
	{ "ms", NS_PER_MS },
	{ "s", 1000 * NS_PER_MS },
	{ "m", 60 * 1000 * NS_PER_MS },
	{ "h", 3600 * 1000 * NS_PER_MS },
};

/* Reads "123.456" at *p. Returns false when there is no digit at all. */
static bool read_number(const char **p, uint64_t *whole, uint64_t *frac, uint64_t *scale,
			bool *overflow)
{
	const char *s = *p;
	bool digits = false;

	*whole = 0;
	*frac = 0;
	*scale = 1;
	for (; isdigit((unsigned char)*s); s++, digits = true) {
		if (*whole > (UINT64_MAX - 9) / 10)
			*overflow = true;
		else
			*whole = *whole * 10 + (uint64_t)(*s - '0');
	}
	if (*s == '.') {
		for (s++; isdigit((unsigned char)*s); s++, digits = true) {
			/* Beyond nanoseconds of an hour nothing counts. */
			if (*scale >= 1000000000000000000ull)
				continue;
			*frac = *frac * 10 + (uint64_t)(*s - '0');
			*scale *= 10;
		}
	}
	*p = s;
	return digits;
}

/* Adds whole.frac units of `unit` ns to *ns. Returns false on overflow. */
static bool add_scaled(uint64_t *ns, uint64_t whole, uint64_t frac, uint64_t scale,
		       uint64_t unit)
{
	unsigned __int128 v = (unsigned __int128)whole * unit +
			      (unsigned __int128)frac * unit / scale + *ns;

	if (v > UINT64_MAX)
		return false;
	*ns = (uint64_t)v;
	return true;
}

int flags_parse_duration(const char *s, uint64_t *ms)
{
	const char *p = s;
	uint64_t ns = 0, whole, frac, scale;
	bool overflow = false;

	if (*p == '+')
		p++;
	if (!*p)
		return -EINVAL;
	/* Plain seconds: "2", "0.5". */
	if (read_number(&p, &whole, &frac, &scale, &overflow) && !*p) {
		if (overflow || !add_scaled(&ns, whole, frac, scale, units[5].ns))
			return -EINVAL;
		goto done;
	}
	p = *s == '+' ? s + 1 : s;
	while (*p) {
		size_t best = 0, best_len = 0;

		if (!read_number(&p, &whole, &frac, &scale, &overflow) || overflow)
			return -EINVAL;
		/* Longest unit that matches, so "ms" is not read as "m". */
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].name);

			if (n > best_len && strncmp(p, units[i].name, n) == 0) {
				best = i;
				best_len = n;
			}
		}
		if (!best_len)
			return -EINVAL;
		p += best_len;
		if (!add_scaled(&ns, whole, frac, scale, units[best].ns))
			return -EINVAL;
	}
done:
	*ms = ns / NS_PER_MS + (ns % NS_PER_MS ? 1 : 0);
	return 0;
}
