/* Small, stable hashes: chain names must be the same on every run. */
#ifndef NFTPROXY_UTIL_HASH_H
#define NFTPROXY_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hash_fnv1a(const void *data, size_t len, uint64_t seed);
uint64_t hash_str(const char *s);

/* Writes the first 8 characters of the base32 (RFC 4648, upper case) form
 * of hash_str(s) and a NUL into out[9]; used for readable, stable chain names. */
void hash_short(const char *s, char out[9]);

#endif
