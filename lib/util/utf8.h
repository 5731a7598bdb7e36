/* UTF-8 as RFC 3629 defines it (and Go's unicode/utf8, which the
 * Kubernetes API and client_golang use): no overlong forms, no surrogates
 * (U+D800-U+DFFF), nothing past U+10FFFF. Text from outside (API objects,
 * files, the kernel's element comments) is checked with these before it
 * goes where only UTF-8 may go: YAML, JSON output, metric labels. */
#ifndef NFTPROXY_UTIL_UTF8_H
#define NFTPROXY_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the UTF-8 sequence at s (1-4), or 0 when the bytes there, at
 * most avail of them, are not one (avail 0 also gives 0). */
size_t utf8_len(const unsigned char *s, size_t avail);

/* Whether the len bytes at s are UTF-8 throughout. */
bool utf8_valid(const char *s, size_t len);

/* The len bytes at s with every byte that is not part of a UTF-8 sequence
 * replaced by U+FFFD, as Go's decoders replace them. Returns 0 with *out
 * NULL when s is UTF-8 already (use s itself); else 0 with *out a
 * NUL-terminated copy of *out_len bytes, which the caller frees; or
 * -ENOMEM. */
int utf8_repair(const char *s, size_t len, char **out, size_t *out_len);

#endif
