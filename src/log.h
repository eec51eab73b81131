/* log — operator messages: stderr in the foreground, syslog(3) otherwise.
 * Thread-safe; one line per call. Never used for the audit trail. */
#ifndef CARAPACE_LOG_H
#define CARAPACE_LOG_H

#include <stdarg.h>

void log_init(const char *ident, int foreground, int debug);
/* While fd >= 0, warnings also go there as "carapaced: ...\n" lines: how
 * a daemon still starting tells the process that launched it. -1 stops. */
void log_also_to(int fd);
void log_warn(const char *fmt, ...)  /* appends strerror(errno) */
	__attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_vwarnx(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));

#endif
