#include "lib/util/hash.h"

#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

uint64_t hash_fnv1a(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = seed ? seed : FNV_OFFSET;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

uint64_t hash_str(const char *s)
{
	return hash_fnv1a(s, strlen(s), 0);
}

void hash_short(const char *s, char out[9])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint64_t h = hash_str(s);

	/* FNV's low bits mix poorly for short inputs; fold the halves first. */
	h ^= h >> 29;
	for (int i = 0; i < 8; i++) {
		out[i] = alphabet[h & 31];
		h >>= 5;
	}
	out[8] = '\0';
}
