/* revoked — see revoked.h. */
#include "config.h"

#include "revoked.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbuf.h"

struct revoked {
	pthread_mutex_t lock;
	char **names;                   /* under lock */
	size_t n;
};

struct revoked *revoked_new(void)
{
	struct revoked *r = calloc(1, sizeof(*r));

	if (r != NULL)
		pthread_mutex_init(&r->lock, NULL);
	return r;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

void revoked_free(struct revoked *r)
{
	if (r == NULL)
		return;
	free_names(r->names, r->n);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* r's names become names[0..n) (taken); its old ones are freed. */
static void replace(struct revoked *r, char **names, size_t n)
{
	pthread_mutex_lock(&r->lock);
	char **old = r->names;
	size_t old_n = r->n;
	r->names = names;
	r->n = n;
	pthread_mutex_unlock(&r->lock);
	free_names(old, old_n);
}

/* The file into buf; 1 when it does not exist. */
static int read_text(const char *file, struct dbuf *buf, struct error *err)
{
	char chunk[4096];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0)
		return error_set(err, 0, NULL, "cannot open %s: %s", file,
				 strerror(errno));
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || dbuf_add(buf, chunk, (size_t)n) < 0) {
			int e = n < 0 ? errno : dbuf_error(buf);
			close(fd);
			return error_set(err, 0, NULL, "cannot read %s: %s", file,
					 e == EMSGSIZE ? "file too large" :
							 strerror(e));
		}
	}
	close(fd);
	return 0;
}

/* Appends name[0..len) to *names (k of them). -1 on out of memory. */
static int add_name(char ***names, size_t *k, const char *name, size_t len)
{
	char **grown = realloc(*names, (*k + 1) * sizeof(**names));
	char *copy = grown ? strndup(name, len) : NULL;

	if (grown)
		*names = grown;
	if (copy == NULL)
		return -1;
	(*names)[(*k)++] = copy;
	return 0;
}

/* Each name of text (NUL-terminated) into a new array: every word of a
 * line up to a '#', so that "alice bob" revokes both rather than one
 * (a mistake here errs on the side of refusing). -1 on out of memory. */
static int split_names(char *text, char ***out, size_t *n)
{
	char **names = NULL;
	size_t k = 0;

	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "#")] = '\0';
		for (char *w = line + strspn(line, " \t\r"); *w != '\0';
		     w += strspn(w, " \t\r")) {
			size_t len = strcspn(w, " \t\r");
			if (add_name(&names, &k, w, len) < 0) {
				free_names(names, k);
				return -1;
			}
			w += len;
		}
	}
	*out = names;
	*n = k;
	return 0;
}

int revoked_load(struct revoked *r, const char *file, struct error *err)
{
	struct dbuf text = DBUF_INIT(REVOKED_MAX_BYTES);
	char **names = NULL;
	size_t n = 0;
	int rc = 0;

	if (file != NULL)
		rc = read_text(file, &text, err);
	if (rc < 0) {
		dbuf_free(&text);
		return -1;
	}
	if (rc == 0 && dbuf_len(&text) > 0) {
		if (memchr(dbuf_str(&text), '\0', dbuf_len(&text)) != NULL) {
			dbuf_free(&text);
			return error_set(err, 0, NULL, "%s holds a NUL byte",
					 file);
		}
		char *copy = strdup(dbuf_str(&text));
		rc = copy ? split_names(copy, &names, &n) : -1;
		free(copy);
		if (rc < 0) {
			dbuf_free(&text);
			return error_set(err, 0, NULL, "out of memory");
		}
	}
	dbuf_free(&text);
	replace(r, names, n);
	return 0;
}

void revoked_move(struct revoked *dst, struct revoked *src)
{
	pthread_mutex_lock(&src->lock);
	char **names = src->names;
	size_t n = src->n;
	src->names = NULL;
	src->n = 0;
	pthread_mutex_unlock(&src->lock);
	replace(dst, names, n);
}

int revoked_has(struct revoked *r, const char *name)
{
	int found = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && !found; i++)
		found = strcmp(r->names[i], name) == 0;
	pthread_mutex_unlock(&r->lock);
	return found;
}

unsigned revoked_count(struct revoked *r)
{
	pthread_mutex_lock(&r->lock);
	unsigned n = (unsigned)r->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}
