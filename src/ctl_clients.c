/* ctl_clients — see ctl_clients.h. */
#include "config.h"

#include "ctl_clients.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "ctl_show.h"
#include "dbuf.h"
#include "revoked.h"
#include "secret.h"

/* A token read from stdin: longer is not a token. */
#define MAX_TOKEN_IN 4096u

/* cfg_client.c's rule, which the daemon applies when it loads the
 * config (a name must also read plainly in a log and be HTTP Basic's
 * user): repeated here so that a bad name is refused before any edit. */
int ctl_client_name_ok(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= 64 &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

/* ---- the revocation file ---- */

/* Whether line[0..len) names name, as revoked.c reads a line: blanks
 * before, the name, then a blank, '#' or the end. */
static int line_names(const char *line, size_t len, const char *name)
{
	size_t skip = 0, n = strlen(name);

	while (skip < len && strchr(" \t\r", line[skip]) != NULL)
		skip++;
	line += skip;
	len -= skip;
	return len >= n && memcmp(line, name, n) == 0 &&
	       (len == n || strchr(" \t\r#", line[n]) != NULL);
}

/* The whole file into text (empty when it does not exist); 0 or -1. */
static int read_file(const char *file, struct dbuf *text)
{
	char chunk[4096];
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return ctl_complain("%s: %s", file, strerror(errno));
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || dbuf_add(text, chunk, (size_t)n) < 0)
			break;
	}
	int saved = n < 0 ? errno : dbuf_error(text);
	close(fd);
	if (saved == EMSGSIZE)
		return ctl_complain("%s: larger than 1 MiB: not a list of "
				    "names", file);
	if (saved != 0)
		return ctl_complain("%s: %s", file, strerror(saved));
	return 0;
}

/* How many lines of text name name. */
static unsigned count_names(const char *text, size_t len, const char *name)
{
	unsigned found = 0;

	for (size_t at = 0; at < len;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - text) : len;
		found += line_names(text + at, end - at, name);
		at = end + 1;
	}
	return found;
}

/* A new directory entry (a file created, a rename) survives a crash
 * once its directory is synced. */
static int sync_dir_of(const char *file)
{
	char copy[4096];

	if (snprintf(copy, sizeof(copy), "%s", file) >= (int)sizeof(copy))
		return ctl_complain("%s: path too long", file);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd >= 0 ? fsync(fd) : -1;
	if (fd >= 0)
		close(fd);
	return rc < 0 ? ctl_complain("%s: cannot sync its directory: %s",
				     file, strerror(errno)) : 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int ctl_revoked_add(const char *file, const char *name, int *already)
{
	struct dbuf text = DBUF_INIT(REVOKED_MAX_BYTES);
	struct stat st;
	char line[80];

	*already = 0;
	if (read_file(file, &text) < 0)
		goto fail;
	*already = count_names(dbuf_str(&text), dbuf_len(&text), name) > 0;
	/* a last line without its newline would take name as its tail */
	int joined = dbuf_len(&text) > 0 &&
		     dbuf_str(&text)[dbuf_len(&text) - 1] != '\n';
	dbuf_free(&text);
	if (*already)
		return 0;
	int created = stat(file, &st) < 0 && errno == ENOENT;
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
				    O_NOCTTY, 0640);
	if (fd < 0)
		return ctl_complain("%s: %s", file, strerror(errno));
	int n = snprintf(line, sizeof(line), "%s%s\n", joined ? "\n" : "",
			 name);
	int rc = write_all(fd, line, (size_t)n) < 0 || fsync(fd) < 0 ? -1 : 0;
	int saved = errno;
	if (close(fd) < 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	if (rc < 0)
		return ctl_complain("%s: cannot write: %s", file,
				    strerror(saved));
	return created ? sync_dir_of(file) : 0;
fail:
	dbuf_free(&text);
	return -1;
}

/* text without the lines that name name, into out. */
static void drop_lines(const char *text, size_t len, const char *name,
		       struct dbuf *out)
{
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - text) + 1 : len;
		if (!line_names(text + at, end - at - (nl != NULL), name))
			dbuf_add(out, text + at, end - at);
		at = end;
	}
}

/* out's bytes into a new file beside file, with its mode and owner,
 * synced and renamed over it. */
static int replace_file(const char *file, const struct dbuf *out)
{
	char tmp[4200];
	struct stat st;

	if (stat(file, &st) < 0)
		return ctl_complain("%s: %s", file, strerror(errno));
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", file);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ctl_complain("cannot create %s: %s", tmp,
				    strerror(errno));
	/* the owner may fail for a user who is not root: the mode is
	 * what keeps others out */
	if (fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM)
		goto fail;
	if (fchmod(fd, st.st_mode & 07777) < 0 ||
	    write_all(fd, dbuf_str(out), dbuf_len(out)) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, file) < 0)
		goto fail;
	return sync_dir_of(file);
fail:
	ctl_complain("cannot write %s: %s", tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

int ctl_revoked_remove(const char *file, const char *name, unsigned *found)
{
	struct dbuf text = DBUF_INIT(REVOKED_MAX_BYTES);
	struct dbuf out = DBUF_INIT(REVOKED_MAX_BYTES);
	char real[PATH_MAX];
	int rc = -1;

	/* a link is kept: the file it names is the one replaced */
	if (realpath(file, real) != NULL)
		file = real;
	*found = 0;
	if (read_file(file, &text) < 0)
		goto done;
	*found = count_names(dbuf_str(&text), dbuf_len(&text), name);
	if (*found == 0) {
		rc = 0;
		goto done;
	}
	drop_lines(dbuf_str(&text), dbuf_len(&text), name, &out);
	if (dbuf_error(&out))
		ctl_complain("%s", "out of memory");
	else
		rc = replace_file(file, &out);
done:
	dbuf_free(&text);
	dbuf_free(&out);
	return rc;
}

/* ---- tokens ---- */

int ctl_new_client(const char *name, int json)
{
	char token[64], hex[SECRET_HEX_LEN + 1];
	unsigned char hash[SECRET_HASH_LEN];

	if (secret_new_token(token, sizeof(token)) < 0)
		return ctl_complain("no random token: %s", strerror(errno));
	if (secret_sha256(token, strlen(token), hash) < 0) {
		explicit_bzero(token, sizeof(token));
		return ctl_complain("%s", "cannot hash the token");
	}
	secret_hex_format(hash, hex);
	if (json) {
		printf("{\"name\":\"%s\",\"token\":\"%s\",\"client\":"
		       "{\"token_sha256\":\"%s\",\"tools\":[]}}\n",
		       name, token, hex);
	} else {
		printf("token: %s\n", token);
		printf("\"%s\": { \"token_sha256\": \"%s\", \"tools\": [] }\n",
		       name, hex);
		fflush(stdout);
		ctl_complain("give the token to the client %s (Authorization: "
			     "Bearer, CARAPACE_TOKEN) and keep no other copy; "
			     "add the entry to \"clients\" in carapaced.conf "
			     "and fill in \"tools\": it may use none until you "
			     "do", name);
	}
	explicit_bzero(token, sizeof(token));
	return 0;
}

/* stdin into buf (to its end, or to the first newline on a terminal,
 * which does not echo it); its length with one trailing newline
 * dropped, -1 on a read error (errno), -2 when it does not fit. */
static ssize_t read_token(char *buf, size_t size)
{
	struct termios old, quiet;
	int tty = isatty(0) && tcgetattr(0, &old) == 0;
	size_t n = 0;
	ssize_t r = 0;

	if (tty) {
		fputs("token: ", stderr);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSAFLUSH, &quiet);
	}
	while (n < size) {
		r = read(0, buf + n, size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (tty && memchr(buf + n - r, '\n', (size_t)r) != NULL)
			break;
	}
	int saved = errno;
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	errno = saved;
	if (r < 0)
		return -1;
	if (n >= size)
		return -2;
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	return (ssize_t)n;
}

int ctl_hash_token(void)
{
	char buf[MAX_TOKEN_IN + 1], hex[SECRET_HEX_LEN + 1];
	unsigned char hash[SECRET_HASH_LEN];
	ssize_t n = read_token(buf, sizeof(buf));

	if (n < 0) {
		explicit_bzero(buf, sizeof(buf));
		return ctl_complain("hash-token: stdin: %s",
				    n == -1 ? strerror(errno) :
					      "longer than a token");
	}
	int rc = n == 0 ? -2 : secret_sha256(buf, (size_t)n, hash);
	explicit_bzero(buf, sizeof(buf));
	if (rc == -2)
		return ctl_complain("%s", "hash-token: the token is empty");
	if (rc < 0)
		return ctl_complain("%s", "hash-token: cannot hash");
	secret_hex_format(hash, hex);
	printf("%s\n", hex);
	return 0;
}
