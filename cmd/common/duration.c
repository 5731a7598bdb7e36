/* Duration flags: Go's syntax, parsed by lib/config (the configuration file
 * and the flags must read durations alike). */
#include <errno.h>
#include <stdint.h>

#include "cmd/common/flags.h"
#include "lib/config/kpconfig.h"

int flags_parse_duration(const char *s, uint64_t *ms)
{
	int64_t ns;

	if (kpc_parse_duration(s, &ns) < 0 || ns < 0)
		return -EINVAL;
	*ms = kpc_ns_to_ms(ns);
	return 0;
}
