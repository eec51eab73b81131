/* error — see error.h. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "error.h"

int error_set(struct error *e, int status, const char *key,
	      const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->status = status;
	snprintf(e->key, sizeof(e->key), "%s", key ? key : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void error_clear(struct error *e)
{
	e->status = 0;
	e->key[0] = '\0';
	e->msg[0] = '\0';
}
