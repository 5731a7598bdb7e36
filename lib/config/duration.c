/* Go's duration syntax, which kube-proxy's flags (pflag DurationVar) and its
 * configuration file (metav1.Duration) both use. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/config/kpconfig.h"

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull

static const struct {
	const char *name;
	uint64_t ns;
} units[] = {
	{ "ns", 1 },
	{ "us", NS_PER_US },
	{ "\xc2\xb5s", NS_PER_US }, /* U+00B5 micro sign */
	{ "\xce\xbcs", NS_PER_US }, /* U+03BC Greek mu */
	{ "ms", NS_PER_MS },
	{ "s", NS_PER_S },
	{ "m", 60 * NS_PER_S },
	{ "h", 3600 * NS_PER_S },
};

/* Reads "123.456" at *p into whole and frac/scale (frac < scale). Returns
 * false when there is no digit, or the whole part overflows. */
static bool read_number(const char **p, uint64_t *whole, uint64_t *frac, uint64_t *scale)
{
	const char *s = *p;
	bool digits = false;

	*whole = 0;
	*frac = 0;
	*scale = 1;
	for (; isdigit((unsigned char)*s); s++, digits = true) {
		if (*whole > (UINT64_MAX - 9) / 10)
			return false;
		*whole = *whole * 10 + (uint64_t)(*s - '0');
	}
	if (*s == '.') {
		for (s++; isdigit((unsigned char)*s); s++, digits = true) {
			/* Digits past 1e-18 of an hour change nothing. */
			if (*scale >= 1000000000000000000ull)
				continue;
			*frac = *frac * 10 + (uint64_t)(*s - '0');
			*scale *= 10;
		}
	}
	*p = s;
	return digits;
}

/* *ns += whole.frac * unit; false past INT64_MAX (Go's limit, ~292 years). */
static bool add_scaled(uint64_t *ns, uint64_t whole, uint64_t frac, uint64_t scale,
		       uint64_t unit)
{
	unsigned __int128 v = (unsigned __int128)whole * unit +
			      (unsigned __int128)frac * unit / scale + *ns;

	if (v > (unsigned __int128)INT64_MAX + 1)
		return false;
	*ns = (uint64_t)v;
	return true;
}

int kpc_parse_duration(const char *s, int64_t *out)
{
	uint64_t ns = 0, whole, frac, scale;
	const char *p = s;
	bool neg = false;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!*p)
		return -EINVAL;
	/* A plain number: seconds ("0" is also Go's). */
	if (read_number(&p, &whole, &frac, &scale) && !*p) {
		if (!add_scaled(&ns, whole, frac, scale, NS_PER_S))
			return -EINVAL;
		goto done;
	}
	p = s + (*s == '+' || *s == '-');
	while (*p) {
		size_t best = 0, best_len = 0;

		if (!read_number(&p, &whole, &frac, &scale))
			return -EINVAL;
		/* The longest unit that matches, so that "ms" is not "m". */
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
	if (!neg && ns > INT64_MAX)
		return -EINVAL;
	*out = neg ? (int64_t)(0 - ns) : (int64_t)ns;
	return 0;
}

/* "whole" or "whole.frac" of v in units of `unit` (a power of ten), the
 * fraction without trailing zeros, as Go's fmtFrac/fmtInt do. */
static int put_scaled(char *buf, size_t size, uint64_t v, uint64_t unit, const char *suffix)
{
	char frac[24];
	uint64_t f = v % unit;
	size_t n = 0;

	if (!f)
		return snprintf(buf, size, "%" PRIu64 "%s", v / unit, suffix);
	/* unit is at most 1e9: at most 9 digits, leading zeros kept. */
	for (uint64_t u = unit / 10; u >= 1 && n < sizeof(frac) - 1; u /= 10)
		frac[n++] = (char)('0' + f / u % 10);
	while (n && frac[n - 1] == '0')
		n--;
	frac[n] = '\0';
	return snprintf(buf, size, "%" PRIu64 ".%s%s", v / unit, frac, suffix);
}

const char *kpc_format_duration(int64_t ns, char *buf, size_t size)
{
	uint64_t u = ns < 0 ? 0 - (uint64_t)ns : (uint64_t)ns;
	const char *sign = ns < 0 ? "-" : "";
	char rest[48];

	if (!size)
		return buf;
	if (u == 0) {
		snprintf(buf, size, "0s");
		return buf;
	}
	if (u < NS_PER_US)
		put_scaled(rest, sizeof(rest), u, 1, "ns");
	else if (u < NS_PER_MS)
		put_scaled(rest, sizeof(rest), u, NS_PER_US, "\xc2\xb5s");
	else if (u < NS_PER_S)
		put_scaled(rest, sizeof(rest), u, NS_PER_MS, "ms");
	else {
		uint64_t h = u / (3600 * NS_PER_S), m = u / (60 * NS_PER_S) % 60;
		char secs[32];

		put_scaled(secs, sizeof(secs), u % (60 * NS_PER_S), NS_PER_S, "s");
		if (h)
			snprintf(rest, sizeof(rest), "%" PRIu64 "h%" PRIu64 "m%s", h, m, secs);
		else if (m)
			snprintf(rest, sizeof(rest), "%" PRIu64 "m%s", m, secs);
		else
			snprintf(rest, sizeof(rest), "%s", secs);
	}
	snprintf(buf, size, "%s%s", sign, rest);
	return buf;
}

uint64_t kpc_ns_to_ms(int64_t ns)
{
	if (ns <= 0)
		return 0;
	return (uint64_t)ns / NS_PER_MS + ((uint64_t)ns % NS_PER_MS ? 1 : 0);
}
