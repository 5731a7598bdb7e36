#include "lib/util/backoff.h"

#include <sys/random.h>
#include <sys/types.h>

uint64_t backoff_jitter(uint64_t ms)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		return ms;
	return ms + (uint64_t)r % (ms / 5 + 1);
}

uint64_t backoff_next(struct backoff *b)
{
	b->cur_ms = b->cur_ms ? b->cur_ms * 2 : b->min_ms;
	if (b->cur_ms > b->max_ms)
		b->cur_ms = b->max_ms;
	return backoff_jitter(b->cur_ms);
}

void backoff_reset(struct backoff *b)
{
	b->cur_ms = 0;
}
