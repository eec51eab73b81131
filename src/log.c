/* log — see log.h. */
#include "config.h"

#include "log.h"
#include "text.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_to_stderr = 1;
static int log_debug_on;
static int log_extra_fd = -1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_also_to(int fd)
{
	pthread_mutex_lock(&log_lock);
	log_extra_fd = fd;
	pthread_mutex_unlock(&log_lock);
}

/* Lock held. Best effort: the reader may have gone. */
static void emit_extra(const char *line, const char *suffix)
{
	char text[4200];
	int n = snprintf(text, sizeof(text), "carapaced: %s%s\n", line, suffix);

	if (n >= (int)sizeof(text))
		n = (int)sizeof(text) - 1; /* cut: never past the buffer */
	if (n > 0 && write(log_extra_fd, text, (size_t)n) < 0)
		log_extra_fd = -1;
}

void log_init(const char *ident, int foreground, int debug)
{
	log_to_stderr = foreground;
	log_debug_on = debug;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* A client's bytes reach log lines (paths, methods, arguments): a
 * control byte is written \xNN, so no line can end early, forge another
 * or drive a terminal. */
static void clean_line(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (; *in != '\0' && n + 5 <= size; in++) {
		unsigned char c = (unsigned char)*in;
		if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(out + n, size - n, "\\x%02x", c);
		else
			out[n++] = (char)c;
	}
	out[n] = '\0';
}

static void log_emit(int prio, const char *suffix, const char *fmt,
		     va_list ap)
{
	char raw[1024], line[4 * sizeof(raw)];
	int n = vsnprintf(raw, sizeof(raw), fmt, ap);

	if (n < 0)
		return;
	clean_line(raw, line, sizeof(line));
	if (prio <= LOG_WARNING) {
		pthread_mutex_lock(&log_lock);
		if (log_extra_fd >= 0)
			emit_extra(line, suffix);
		pthread_mutex_unlock(&log_lock);
	}
	if (!log_to_stderr) {
		syslog(prio, "%s%s", line, suffix);
		return;
	}
	struct timespec ts;
	char when[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	text_rfc3339(&ts, when, sizeof(when));
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s carapaced: %s%s\n", when, line, suffix);
	pthread_mutex_unlock(&log_lock);
}

void log_warn(const char *fmt, ...)
{
	char suffix[160];
	va_list ap;

	snprintf(suffix, sizeof(suffix), ": %s", strerror(errno));
	va_start(ap, fmt);
	log_emit(LOG_WARNING, suffix, fmt, ap);
	va_end(ap);
}

void log_vwarnx(const char *fmt, va_list ap)
{
	log_emit(LOG_WARNING, "", fmt, ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, "", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_INFO, "", fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, "", fmt, ap);
	va_end(ap);
}
