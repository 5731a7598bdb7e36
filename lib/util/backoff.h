/* Capped exponential backoff with jitter, for retries of anything that
 * failed: a sync the kernel refused, a request the API server did not
 * answer. */
#ifndef NFTPROXY_UTIL_BACKOFF_H
#define NFTPROXY_UTIL_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint64_t min_ms;           /* the first delay */
	uint64_t max_ms;           /* the doubling stops here */
	uint64_t cur_ms;           /* 0 while nothing failed */
};

/* The next delay: min_ms, then doubled up to max_ms, each with up to a
 * fifth added at random so that many clients failing together do not
 * retry in lockstep. */
uint64_t backoff_next(struct backoff *b);
/* Success: the next failure starts again at min_ms. */
void backoff_reset(struct backoff *b);

/* ms plus up to a fifth of it at random. */
uint64_t backoff_jitter(uint64_t ms);

#endif
