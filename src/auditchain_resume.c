/* auditchain_resume — where carapaced's chain goes on at start: the last
 * line of the audit log, or of the file logrotate renamed it to. See
 * auditchain.h. The file is read backwards from its end, a block at a
 * time, so a long log costs no more than its last lines; the last line is
 * hashed as it is read, whatever its length. */
#include "config.h"

#include "auditchain.h"
#include "auditchain_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 4096
/* how many lines before an unparsable last one are looked at for a seq */
#define LOOK_BACK_LINES 1000

/* Where the line that ends at end (exclusive) starts: just after the
 * newline before it, or 0. -1 on a read error. */
static off_t line_start(int fd, off_t end)
{
	char buf[BLOCK];

	while (end > 0) {
		off_t from = end > BLOCK ? end - BLOCK : 0;
		ssize_t n = pread(fd, buf, (size_t)(end - from), from);
		if (n != (ssize_t)(end - from))
			return -1;
		for (ssize_t i = n - 1; i >= 0; i--)
			if (buf[i] == '\n')
				return from + i + 1;
		end = from;
	}
	return 0;
}

/* The seq and prev of the line [start, end), from its first bytes. */
static int parse_at(int fd, off_t start, off_t end, uint64_t *seq,
		    unsigned char *prev, int *checkpoint)
{
	char buf[AUDITCHAIN_CHECKPOINT_MAX];
	size_t want = (size_t)(end - start) < sizeof(buf) ?
			      (size_t)(end - start) : sizeof(buf);
	ssize_t n = pread(fd, buf, want, start);

	if (n != (ssize_t)want)
		return -1;
	*checkpoint = auditchain_is_checkpoint(buf, want);
	return auditchain_parse(buf, want, seq, prev);
}

static int hash_range(int fd, off_t start, off_t end, unsigned char *out)
{
	struct auditchain_sha256 h;
	char buf[BLOCK];
	int rc = 0;

	auditchain_sha256_init(&h);
	while (start < end && rc == 0) {
		size_t want = end - start > BLOCK ? BLOCK :
						    (size_t)(end - start);
		ssize_t n = pread(fd, buf, want, start);
		if (n <= 0)
			rc = -1;
		else
			auditchain_sha256_update(&h, buf, (size_t)n);
		start += n > 0 ? n : 0;
	}
	auditchain_sha256_final(&h, out); /* frees the context */
	return rc;
}

/* The seq of the last line before start that parses, plus the lines
 * after it: what the line at start would have had. 0 when none. */
static uint64_t seq_before(int fd, off_t start)
{
	unsigned char prev[AUDITCHAIN_HASH_LEN];
	uint64_t seq;
	int checkpoint;

	for (uint64_t back = 1; back <= LOOK_BACK_LINES && start > 0; back++) {
		off_t end = start - 1; /* its newline */
		off_t s = line_start(fd, end);
		if (s < 0)
			return 0;
		if (parse_at(fd, s, end, &seq, prev, &checkpoint) == 0)
			return seq + back;
		start = s;
	}
	return 0;
}

/* 1: the chain goes on from fd's last line (c, r set); 0: fd holds no
 * line; -1: it cannot be read. */
static int from_last_line(int fd, struct auditchain *c,
			  struct auditchain_resume *r)
{
	struct stat st;
	char last;
	uint64_t seq;
	unsigned char prev[AUDITCHAIN_HASH_LEN];

	if (fstat(fd, &st) < 0)
		return -1;
	if (st.st_size == 0)
		return 0;
	off_t end = st.st_size;
	if (pread(fd, &last, 1, end - 1) != 1)
		return -1;
	if (last == '\n')
		end--;
	off_t start = line_start(fd, end);
	if (start < 0 || hash_range(fd, start, end, c->prev) < 0)
		return -1;
	if (parse_at(fd, start, end, &seq, prev, &r->last_checkpoint) == 0) {
		r->found = AUDITCHAIN_CONTINUED;
	} else {
		r->found = AUDITCHAIN_UNPARSED;
		r->last_checkpoint = 0;
		seq = seq_before(fd, start);
	}
	c->seq = seq + 1;
	return 1;
}

/* 1 found, 0 nothing there, -1 there but unreadable. */
static int try_file(const char *path, struct auditchain *c,
		    struct auditchain_resume *r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	snprintf(r->from, sizeof(r->from), "%s", path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	int rc = from_last_line(fd, c, r);
	close(fd);
	return rc;
}

void auditchain_resume(const char *path, struct auditchain *c,
		       struct auditchain_resume *r)
{
	char sibling[sizeof(r->from)], gz[sizeof(r->from)];
	struct stat st;

	memset(r, 0, sizeof(*r));
	auditchain_fresh(c);
	int rc = try_file(path, c, r);
	if (rc == 0 &&
	    (size_t)snprintf(sibling, sizeof(sibling), "%s.1", path) <
		    sizeof(sibling))
		rc = try_file(sibling, c, r);
	/* a compressed one (logrotate without delaycompress) */
	if (rc == 0 &&
	    (size_t)snprintf(gz, sizeof(gz), "%s.1.gz", path) < sizeof(gz) &&
	    stat(gz, &st) == 0) {
		snprintf(r->from, sizeof(r->from), "%s", gz);
		rc = -1;
	}
	if (rc < 0) {
		auditchain_fresh(c);
		r->found = AUDITCHAIN_UNREADABLE;
		r->last_checkpoint = 0;
	} else if (rc == 0) {
		r->found = AUDITCHAIN_NONE;
		r->from[0] = '\0';
	}
}
