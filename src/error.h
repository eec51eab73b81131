/* error — the one way a failure is described on its way up: the status a
 * client would be told (an HTTP code; 0 where none applies), what it is
 * about (a config key path, a field, a tool; may be empty) and a message
 * for a person. Fixed size, so setting one never fails. */
#ifndef CARAPACE_ERROR_H
#define CARAPACE_ERROR_H

struct error {
	int status;
	char key[256]; /* a config key path: env names alone are 128 */
	char msg[512];
};

/* Fills e (NULL is a no-op); key may be NULL. Truncates, always
 * terminated. Returns -1, so "return error_set(...)" reads as failing. */
int error_set(struct error *e, int status, const char *key,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Empties e: status 0, key and msg "". */
void error_clear(struct error *e);

#endif
