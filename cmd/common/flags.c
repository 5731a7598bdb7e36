/* The flag table parser shared by nftproxy and nftproxyctl. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/common/flags.h"

static const struct flag *find_long(const struct flag *flags, const char *name, size_t len)
{
	for (const struct flag *f = flags; f->name; f++)
		if (strlen(f->name) == len && strncmp(f->name, name, len) == 0)
			return f;
	return NULL;
}

static const struct flag *find_short(const struct flag *flags, char c)
{
	for (const struct flag *f = flags; f->name; f++)
		if (f->shorthand && f->shorthand == c)
			return f;
	return NULL;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "1", "t", "T", "true", "TRUE", "True" };
	static const char *const no[] = { "0", "f", "F", "false", "FALSE", "False" };

	/* The spellings Go's strconv.ParseBool accepts. */
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Stores value into f's target. display: how the user spelled the flag. */
static int set_value(const struct flag *f, const char *display, const char *value, char *err,
		     size_t err_size)
{
	char *end;
	long n;

	switch (f->type) {
	case FLAG_BOOL:
		if (parse_bool(value, f->target) < 0)
			goto bad;
		return 0;
	case FLAG_STRING:
		*(const char **)f->target = value;
		return 0;
	case FLAG_INT:
		errno = 0;
		n = strtol(value, &end, 0);
		if (errno || end == value || *end)
			goto bad;
		if (n < f->min || n > f->max) {
			snprintf(err, err_size, "invalid value \"%s\" for %s: must be between %d and %d",
				 value, display, f->min, f->max);
			return -EINVAL;
		}
		*(int *)f->target = (int)n;
		return 0;
	case FLAG_DURATION:
		if (flags_parse_duration(value, f->target) < 0) {
			snprintf(err, err_size,
				 "invalid value \"%s\" for %s: expected a duration like 100ms, 1s "
				 "or 1m30s", value, display);
			return -EINVAL;
		}
		return 0;
	}
bad:
	snprintf(err, err_size, "invalid value \"%s\" for %s", value, display);
	return -EINVAL;
}

int flags_parse(const struct flag *flags, int argc, char **argv, char *err, size_t err_size)
{
	return flags_parse_seen(flags, argc, argv, NULL, err, err_size);
}

int flags_parse_seen(const struct flag *flags, int argc, char **argv, int *seen_at, char *err,
		     size_t err_size)
{
	int i;

	if (seen_at)
		for (const struct flag *f = flags; f->name; f++)
			seen_at[f - flags] = 0;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *name, *value = NULL, *eq;
		const struct flag *f;
		char display[128];
		size_t len;

		if (strcmp(arg, "--") == 0)
			return i + 1;
		if (arg[0] != '-' || arg[1] == '\0')
			return i;
		if (arg[1] == '-') {
			name = arg + 2;
			eq = strchr(name, '=');
			len = eq ? (size_t)(eq - name) : strlen(name);
			f = find_long(flags, name, len);
			snprintf(display, sizeof(display), "--%.*s", (int)len, name);
			if (eq)
				value = eq + 1;
		} else {
			/* -v 2, -v=2, -v2 */
			name = arg + 1;
			len = 1;
			f = find_short(flags, name[0]);
			snprintf(display, sizeof(display), "-%c", name[0]);
			if (name[1] == '=')
				value = name + 2;
			else if (name[1])
				value = name + 1;
		}
		if (!f) {
			snprintf(err, err_size, "unknown flag %s", display);
			return -EINVAL;
		}
		if (!value && f->type == FLAG_BOOL)
			value = "true";
		if (!value) {
			if (i + 1 >= argc) {
				snprintf(err, err_size, "flag needs an argument: %s", display);
				return -EINVAL;
			}
			value = argv[++i];
		}
		if (seen_at)
			seen_at[f - flags] = i;
		if (set_value(f, display, value, err, err_size) < 0)
			return -EINVAL;
	}
	return i;
}

void flags_help(const struct flag *flags, FILE *out)
{
	size_t width = 0;

	for (const struct flag *f = flags; f->name; f++) {
		size_t n = strlen(f->name) + 6 + (f->metavar ? strlen(f->metavar) + 1 : 0);

		if (n > width)
			width = n;
	}
	for (const struct flag *f = flags; f->name; f++) {
		char left[256];

		snprintf(left, sizeof(left), "%c%c%s--%s%s%s", f->shorthand ? '-' : ' ',
			 f->shorthand ? f->shorthand : ' ', f->shorthand ? ", " : "  ", f->name,
			 f->metavar ? " " : "", f->metavar ? f->metavar : "");
		fprintf(out, "  %-*s  %s", (int)width, left, f->help);
		if (f->def)
			fprintf(out, " (default %s)", f->def);
		fputc('\n', out);
	}
}
