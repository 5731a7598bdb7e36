/* Leveled logging in klog's format, so nftproxy's logs read like kube-proxy's.
 *
 *   I1130 04:52:34.123456    1234 sync.c:88] synced 3 services in 1.2ms
 *
 * log_v(N, ...) prints only when --v >= N. Errors and warnings always print.
 * Messages name the object they are about and say what happens next. */
#ifndef NFTPROXY_UTIL_LOG_H
#define NFTPROXY_UTIL_LOG_H

#include <stdbool.h>

/* Set once from --v before the loop starts; read everywhere. */
extern int log_verbosity;

void log_emit(char severity, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_enabled(n) (log_verbosity >= (n))
#define log_v(n, ...) \
	do { if (log_enabled(n)) log_emit('I', __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define log_info(...) log_emit('I', __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_emit('W', __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...) log_emit('E', __FILE__, __LINE__, __VA_ARGS__)

/* Logs at error level with strerror(-err) appended and returns err, so that
 * `return log_error_errno(r, "...")` logs and propagates in one line. */
int log_error_errno_(int err, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define log_error_errno(err, ...) log_error_errno_((err), __FILE__, __LINE__, __VA_ARGS__)

#endif
