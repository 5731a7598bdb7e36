/* Command-line flags in kube-proxy's (pflag's) style, described by a table:
 *
 *   --name value   --name=value   -n value   -n=value   -nvalue
 *
 * Boolean flags take no separate value (--json, or --json=false). Parsing
 * stops at "--" or at the first argument that is not a flag, so that a
 * command can take positional arguments or a subcommand's own flags after
 * its own. Adding a flag is adding a row. */
#ifndef NFTPROXY_CMD_FLAGS_H
#define NFTPROXY_CMD_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum flag_type {
	FLAG_BOOL,                 /* target: bool * */
	FLAG_STRING,               /* target: const char ** (points into argv) */
	FLAG_INT,                  /* target: int *, within [min, max] */
	FLAG_DURATION,             /* target: uint64_t * in milliseconds */
};

struct flag {
	const char *name;          /* long name without dashes; NULL ends the table */
	char shorthand;            /* 0 = none */
	enum flag_type type;
	void *target;
	const char *metavar;       /* shown in the help: "DIR", "N", ... */
	const char *help;          /* one line; the default is appended if set */
	const char *def;           /* the default as shown in the help, or NULL */
	int min, max;              /* FLAG_INT only */
};

/* Parses argv[1..argc) against flags and writes the targets. On success
 * returns the index of the first argument left (argc when none). On a usage
 * error writes a one-line message ("unknown flag --foo") into err and
 * returns -EINVAL. */
int flags_parse(const struct flag *flags, int argc, char **argv, char *err, size_t err_size);
/* The same, and seen_at[i] (one per row of flags) gets the index in argv of
 * the last occurrence of flag i, 0 when it was not given: what a flag
 * parser's "changed" tells, and in which order. */
int flags_parse_seen(const struct flag *flags, int argc, char **argv, int *seen_at, char *err,
		     size_t err_size);

/* Prints "  -v, --v N    help (default 0)" lines, aligned. */
void flags_help(const struct flag *flags, FILE *out);

/* Parses a Go-style duration ("100ms", "1s", "1m30s", "1.5h", "250us") or
 * plain seconds ("2", "0.5") into milliseconds, rounding sub-millisecond
 * remainders up. Returns 0 or -EINVAL (negative, overflow, unknown unit). */
int flags_parse_duration(const char *s, uint64_t *ms);

#endif
