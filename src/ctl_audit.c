/* ctl_audit — see ctl_audit.h. The files are read a block at a time and
 * each line is handed whole to auditchain_verify_line, so a line longer
 * than AUDITCHAIN_LINE_MAX is an error, never a buffer without end. */
#include "config.h"

#include "ctl_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditchain.h"
#include "ctl_show.h"

#define MAX_KEYS 16
#define READ_BLOCK 65536

/* ---- audit-keygen ---- */

int ctl_audit_keygen(int argc, char **argv)
{
	char text[AUDITCHAIN_PUBKEY_TEXT];
	struct error why;

	if (argc != 2 || argv[1][0] == '-') {
		ctl_complain("%s", "audit-keygen takes one FILE");
		return -2;
	}
	if (auditchain_keygen(argv[1], text, &why) < 0)
		return ctl_complain("audit-keygen: %s", why.msg);
	printf("%s\n", text);
	printf("# secret key in %s (mode 0600), public key in %s.pub\n",
	       argv[1], argv[1]);
	return 0;
}

/* ---- reading lines ---- */

struct reader {
	int fd;
	char *buf;
	size_t cap, len, pos;   /* bytes held: [pos, len) unread */
	int eof;
};

/* More bytes into r, growing it up to the line limit. 1 read, 0 end of
 * file, -1 error (errno), -2 a line over the limit. */
static int reader_fill(struct reader *r)
{
	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->len -= r->pos;
		r->pos = 0;
	}
	if (r->len == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : READ_BLOCK;
		if (r->cap > AUDITCHAIN_LINE_MAX)
			return -2;
		if (cap > AUDITCHAIN_LINE_MAX + 1)
			cap = AUDITCHAIN_LINE_MAX + 1;
		char *mem = realloc(r->buf, cap);
		if (mem == NULL)
			return -1;
		r->buf = mem;
		r->cap = cap;
	}
	ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
	if (n < 0)
		return errno == EINTR ? 1 : -1;
	r->len += (size_t)n;
	return n > 0;
}

/* The next line (without its newline, which *whole says it had). 1 a
 * line, 0 the end, -1 error (errno), -2 a line over the limit. */
static int reader_line(struct reader *r, const char **line, size_t *len,
		       int *whole)
{
	size_t scanned = 0;

	for (;;) {
		char *start = r->buf + r->pos;
		size_t have = r->len - r->pos;
		char *nl = have > scanned ?
				   memchr(start + scanned, '\n', have - scanned) :
				   NULL;
		if (nl != NULL || (r->eof && have > 0)) {
			*line = start;
			*len = nl ? (size_t)(nl - start) : have;
			*whole = nl != NULL;
			r->pos += *len + (nl != NULL);
			return *len > AUDITCHAIN_LINE_MAX ? -2 : 1;
		}
		if (r->eof)
			return 0;
		if (have > AUDITCHAIN_LINE_MAX)
			return -2;
		scanned = have;
		int rc = reader_fill(r);
		if (rc < 0)
			return rc;
		r->eof = rc == 0;
	}
}

/* ---- audit-verify ---- */

struct where {
	const char *file;
	uint64_t line;
};

struct verify {
	struct auditchain_verify v;
	struct where at, before;        /* this line, the one before */
	size_t files;
};

/* The first broken link, on stdout: -1. */
static int broken(const struct where *w, const char *what)
{
	printf("%s:%" PRIu64 ": %s\n", w->file, w->line, what);
	printf("audit-verify: FAILED\n");
	return -1;
}

static int check_line(struct verify *vf, const char *line, size_t len,
		      int whole)
{
	struct error why;
	int blame_prev;

	if (auditchain_verify_line(&vf->v, line, len, &blame_prev, &why) < 0) {
		if (blame_prev)
			return broken(&vf->before, why.msg);
		if (vf->at.line == 1 && strstr(why.msg, "missing") != NULL) {
			char more[sizeof(why.msg) + 80];
			snprintf(more, sizeof(more), "%s (the first line of "
				 "this file: a file or the end of the one "
				 "before is missing)", why.msg);
			return broken(&vf->at, more);
		}
		return broken(&vf->at, why.msg);
	}
	if (!whole)
		return broken(&vf->at, "no newline at the end: the line was "
			      "torn or cut");
	vf->before = vf->at;
	return 0;
}

static int verify_file(struct verify *vf, const char *path)
{
	struct reader r = { .fd = open(path, O_RDONLY | O_CLOEXEC) };
	const char *line;
	size_t len;
	int whole, rc;

	if (r.fd < 0)
		return ctl_complain("audit-verify: %s: %s", path,
				    strerror(errno));
	vf->at = (struct where){ path, 0 };
	while ((rc = reader_line(&r, &line, &len, &whole)) == 1) {
		vf->at.line++;
		if (check_line(vf, line, len, whole) < 0)
			break;
	}
	if (rc == -2) {
		vf->at.line++;
		broken(&vf->at, "a line longer than 64 MiB");
	} else if (rc == -1) {
		ctl_complain("audit-verify: %s: %s", path, strerror(errno));
	}
	close(r.fd);
	free(r.buf);
	vf->files++;
	return rc == 0 ? 0 : -1;
}

static void summary(const struct verify *vf)
{
	const struct auditchain_verify *v = &vf->v;

	printf("verified %" PRIu64 " lines in %zu file(s), seq %" PRIu64
	       " to %" PRIu64 "\n", v->lines, vf->files, v->first_seq,
	       v->next.seq - 1);
	if (v->lines > 0 && !v->genesis)
		printf("the first line links to a line not given (seq %" PRIu64
		       ")\n", v->first_seq - 1);
	if (v->keys == NULL) {
		printf("checkpoints not verified (no --pubkey): %" PRIu64
		       " seen\n", v->checkpoints);
		return;
	}
	printf("%" PRIu64 " checkpoint(s) verified\n", v->checkpoints);
	if (v->uncovered > 0)
		printf("%" PRIu64 " line(s) after the last checkpoint are not "
		       "covered by a signature\n", v->uncovered);
}

static int verify_options(int argc, char **argv,
			  unsigned char keys[MAX_KEYS][AUDITCHAIN_PK_LEN],
			  size_t *n_keys)
{
	static const struct option longopts[] = {
		{ "pubkey", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	struct error why;
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
		if (ch != 'k') {
			ctl_complain("audit-verify: unknown option or missing "
				     "value: %s", argv[optind - 1]);
			return -2;
		}
		if (*n_keys == MAX_KEYS) {
			ctl_complain("audit-verify: at most %d --pubkey",
				     MAX_KEYS);
			return -2;
		}
		if (auditchain_pubkey_load(optarg, keys[*n_keys], &why) < 0)
			return ctl_complain("audit-verify: %s", why.msg);
		(*n_keys)++;
	}
	if (optind >= argc) {
		ctl_complain("%s", "audit-verify: no FILE");
		return -2;
	}
	return 0;
}

int ctl_audit_verify(int argc, char **argv)
{
	static unsigned char keys[MAX_KEYS][AUDITCHAIN_PK_LEN];
	struct verify vf = { 0 };
	struct error why;
	size_t n_keys = 0;

	if (auditchain_init() < 0)
		return ctl_complain("%s", "libsodium did not start");
	int rc = verify_options(argc, argv, keys, &n_keys);
	if (rc < 0)
		return rc;
	auditchain_verify_init(&vf.v, n_keys ? keys[0] : NULL,
			       n_keys);
	for (int i = optind; i < argc; i++)
		if (verify_file(&vf, argv[i]) < 0)
			return -1;
	if (auditchain_verify_end(&vf.v, &why) < 0) {
		printf("%s\n", why.msg);
		printf("audit-verify: FAILED\n");
		return -1;
	}
	summary(&vf);
	printf("audit-verify: OK\n");
	return 0;
}
