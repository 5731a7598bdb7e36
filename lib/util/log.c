#include "lib/util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_verbosity;

static void log_vemit(char severity, const char *file, int line, const char *fmt,
		      va_list ap, int err)
{
	struct timeval tv;
	struct tm tm;
	const char *base = strrchr(file, '/');
	char msg[2048];

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf per line so concurrent writers do not interleave. */
	if (err)
		fprintf(stderr, "%c%02d%02d %02d:%02d:%02d.%06ld %7d %s:%d] %s: %s\n", severity,
			tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			(long)tv.tv_usec, (int)getpid(), base ? base + 1 : file, line, msg,
			strerror(err));
	else
		fprintf(stderr, "%c%02d%02d %02d:%02d:%02d.%06ld %7d %s:%d] %s\n", severity,
			tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			(long)tv.tv_usec, (int)getpid(), base ? base + 1 : file, line, msg);
}

void log_emit(char severity, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(severity, file, line, fmt, ap, 0);
	va_end(ap);
}

int log_error_errno_(int err, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit('E', file, line, fmt, ap, err < 0 ? -err : err);
	va_end(ap);
	return err;
}
