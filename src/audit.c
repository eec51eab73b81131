/* audit — see audit.h. */
#include "config.h"

#include "audit.h"
#include "auditchain.h"
#include "dbuf.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define REPORT_INTERVAL_SECS 10
#define RETRY_OPEN_SECS 1
#define FILE_MODE 0640
/* the line buffer's memory is kept for the next record up to this */
#define KEEP_BUF_BYTES 65536

struct audit_tail {
	struct audit_tail *next;
	struct stream *stream;          /* producer reference */
	audit_tail_fn deliver;          /* frames records into stream */
	char *tool;                     /* NULL: any */
	char *decision;                 /* NULL: any */
	uint64_t missed;                /* records not delivered since last */
};

struct audit {
	pthread_mutex_t lock;
	char *path;
	int fd;                         /* -1: no file, or waiting to reopen */
	int torn;                       /* last line ended short of '\n' */
	time_t last_open_try;
	int open_errno;                 /* why the last open failed */
	time_t last_report;
	uint64_t errors;                /* records not written, all time */
	uint64_t unreported;            /* ... since the last report */
	int failing;
	uint64_t dropped;
	struct audit_tail *tails;
	struct auditchain chain;        /* what the next record links to */
	struct dbuf line;               /* the record with its link */
	struct auditchain_key key;      /* valid when has_key */
	int has_key;
	uint64_t since_checkpoint;      /* lines since the last one */
	uint64_t checkpoint_ms;         /* when the timer's period began */
};

static int open_log(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
		    FILE_MODE);
}

/* Whether the file fd ends short of a newline (a record torn by a full
 * disk, or by someone else): the next record then starts a line. */
static int ends_torn(int fd)
{
	struct stat st;
	char last;

	return fstat(fd, &st) == 0 && st.st_size > 0 &&
	       pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n';
}

/* The chain goes on from the file's last line (or its rotated
 * sibling's); what could not be read is said, and the chain begins
 * afresh, which audit-verify will show as a break. */
static void resume_chain(struct audit *a)
{
	struct auditchain_resume r;

	auditchain_resume(a->path, &a->chain, &r);
	a->since_checkpoint = r.found != AUDITCHAIN_NONE && !r.last_checkpoint;
	switch (r.found) {
	case AUDITCHAIN_NONE:
		log_info("audit log %s: a new chain begins", a->path);
		break;
	case AUDITCHAIN_CONTINUED:
		log_info("audit log %s: the chain goes on from the last line "
			 "of %s", a->path, r.from);
		break;
	case AUDITCHAIN_UNPARSED:
		log_warnx("audit log %s: the last line of %s has no seq and "
			  "prev: linked to as it is, seq goes on from %llu",
			  a->path, r.from, (unsigned long long)a->chain.seq);
		break;
	default:
		log_warnx("audit log %s: %s cannot be read: a new chain begins"
			  " (audit-verify will show the break)", a->path,
			  r.from);
	}
}

struct audit *audit_new(const char *path, struct error *err)
{
	struct audit *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		error_set(err, 0, NULL, "out of memory");
		return NULL;
	}
	a->fd = -1;
	if (auditchain_init() < 0) {
		error_set(err, 0, NULL, "libsodium did not start");
		free(a);
		return NULL;
	}
	auditchain_fresh(&a->chain);
	dbuf_init(&a->line, SIZE_MAX);
	if (path != NULL) {
		a->path = strdup(path);
		a->fd = a->path ? open_log(path) : -1;
		if (a->fd < 0) {
			error_set(err, 0, NULL, "cannot open audit log %s: %s",
				 path, a->path ? strerror(errno) :
						 "out of memory");
			free(a->path);
			free(a);
			return NULL;
		}
		a->torn = ends_torn(a->fd);
		resume_chain(a);
	}
	pthread_mutex_init(&a->lock, NULL);
	return a;
}

static void tail_free(struct audit_tail *t)
{
	stream_finish(t->stream, STREAM_END_WHOLE);
	stream_release(t->stream);
	free(t->tool);
	free(t->decision);
	free(t);
}

static void checkpoint_locked(struct audit *a);

void audit_free(struct audit *a)
{
	if (a == NULL)
		return;
	/* the last record of a clean stop vouches for all before it */
	pthread_mutex_lock(&a->lock);
	if (a->has_key && a->since_checkpoint > 0)
		checkpoint_locked(a);
	auditchain_key_clear(&a->key);
	pthread_mutex_unlock(&a->lock);
	while (a->tails != NULL) {
		struct audit_tail *t = a->tails;
		a->tails = t->next;
		tail_free(t);
	}
	if (a->fd >= 0)
		close(a->fd);
	pthread_mutex_destroy(&a->lock);
	dbuf_free(&a->line);
	free(a->path);
	free(a);
}

const char *audit_path(struct audit *a, char *buf, size_t len)
{
	pthread_mutex_lock(&a->lock);
	const char *path = a->path ? buf : NULL;
	if (path != NULL)
		snprintf(buf, len, "%s", a->path);
	pthread_mutex_unlock(&a->lock);
	return path;
}

static int same_path(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int audit_set_path(struct audit *a, const char *path, struct error *err)
{
	char *copy = path ? strdup(path) : NULL;
	int fd = copy ? open_log(copy) : -1;

	if (path != NULL && fd < 0) {
		error_set(err, 0, NULL, "cannot open audit log %s: %s", path,
			 copy ? strerror(errno) : "out of memory");
		free(copy);
		return -1;
	}
	pthread_mutex_lock(&a->lock);
	if (same_path(a->path, path)) {
		/* the same file: a reopen, as for logrotate */
		int old = a->fd;
		a->fd = fd;
		fd = old;
	} else {
		int old = a->fd;
		char *old_path = a->path;
		a->fd = fd;
		a->path = copy;
		copy = old_path;
		fd = old;
	}
	a->torn = a->fd >= 0 && ends_torn(a->fd);
	a->failing = 0;
	pthread_mutex_unlock(&a->lock);
	if (fd >= 0)
		close(fd);
	free(copy);
	return 0;
}

/* Lock held. Once per interval at most, so a full disk is one message
 * every few seconds, not one per request; force: say it now. */
static void report_locked(struct audit *a, int err, int force)
{
	time_t now = (time_t)(text_mono_ms() / 1000);

	if (a->failing && !force && now - a->last_report < REPORT_INTERVAL_SECS)
		return;
	log_warnx("audit log %s: %s; %llu record(s) not written", a->path,
		  strerror(err), (unsigned long long)a->unreported);
	a->failing = 1;
	a->last_report = now;
	a->unreported = 0;
}

/* Lock held: one record lost. */
static void lost_locked(struct audit *a, int err)
{
	a->errors++;
	a->unreported++;
	report_locked(a, err, 0);
}

static void recovered_locked(struct audit *a)
{
	if (!a->failing)
		return;
	log_info("audit log %s: writing again; %llu more record(s) were not "
		 "written", a->path, (unsigned long long)a->unreported);
	a->failing = 0;
	a->unreported = 0;
}

/* Lock held. The new file replaces the old one only once it is open, so
 * records keep going to the renamed file until then. */
static int reopen_locked(struct audit *a)
{
	a->last_open_try = (time_t)(text_mono_ms() / 1000);
	int fd = open_log(a->path);
	if (fd < 0) {
		a->open_errno = errno;
		if (a->fd >= 0)
			close(a->fd);
		a->fd = -1;
		return -1;
	}
	if (a->fd >= 0)
		close(a->fd);
	a->fd = fd;
	a->torn = ends_torn(fd);
	return 0;
}

int audit_reopen(struct audit *a)
{
	if (a->path == NULL)
		return 0;
	pthread_mutex_lock(&a->lock);
	int rc = reopen_locked(a);
	if (rc < 0)
		report_locked(a, a->open_errno, 1);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* A line as it is written: up to three pieces (the link, a comma, the
 * record after its brace), so that a large record is not copied. */
struct line {
	struct iovec iov[3];
	int n;
	size_t len;
};

static void line_add(struct line *l, const char *p, size_t n)
{
	/* writev and the hash only read what iov_base points at */
	l->iov[l->n++] = (struct iovec){ (void *)(uintptr_t)p, n };
	l->len += n;
}

/* Lock held. A short write leaves a torn line; the next record starts on
 * a line of its own so only the torn one is lost. */
static void write_locked(struct audit *a, const struct line *l)
{
	if (a->fd < 0 && (time_t)(text_mono_ms() / 1000) - a->last_open_try >= RETRY_OPEN_SECS)
		reopen_locked(a);
	if (a->fd < 0) {
		lost_locked(a, a->open_errno);
		return;
	}
	struct iovec iov[5];
	int n_iov = 0;
	iov[n_iov++] = (struct iovec){ (void *)(uintptr_t)"\n",
				       a->torn ? 1 : 0 };
	for (int i = 0; i < l->n; i++)
		iov[n_iov++] = l->iov[i];
	iov[n_iov++] = (struct iovec){ (void *)(uintptr_t)"\n", 1 };
	size_t want = iov[0].iov_len + l->len + 1;
	ssize_t n = writev(a->fd, iov, n_iov);
	if (n == (ssize_t)want) {
		a->torn = 0;
		recovered_locked(a);
		return;
	}
	if (n > 0)
		a->torn = 1;
	lost_locked(a, n < 0 ? errno : ENOSPC);
}

static int tail_wants(const struct audit_tail *t, const char *tool,
		      const char *decision)
{
	return (t->tool == NULL || (tool && strcmp(t->tool, tool) == 0)) &&
	       (t->decision == NULL ||
		(decision && strcmp(t->decision, decision) == 0));
}

/* Lock held. The note of a gap goes first; while it finds no room, the
 * record is missed too. -1: the reader is gone. */
static int feed_tail(struct audit *a, struct audit_tail *t, const char *line,
		     size_t len)
{
	if (t->missed > 0) {
		int rc = t->deliver(t->stream, NULL, 0, t->missed);
		if (rc == -1)
			return -1;
		if (rc == -2) {
			t->missed++;
			a->dropped++;
			return 0;
		}
		t->missed = 0;
	}
	int rc = t->deliver(t->stream, line, len, 0);
	if (rc == -2) {
		t->missed++;
		a->dropped++;
	}
	return rc == -1 ? -1 : 0;
}

/* Lock held: l in one piece for the tails, in a->line unless it is one
 * already. NULL out of memory. */
static const char *tail_text(struct audit *a, const struct line *l)
{
	if (l->n == 1)
		return l->iov[0].iov_base;
	if (a->line.cap > KEEP_BUF_BYTES)
		dbuf_free(&a->line);
	dbuf_reset(&a->line);
	dbuf_reserve(&a->line, l->len);
	for (int i = 0; i < l->n; i++)
		dbuf_add(&a->line, l->iov[i].iov_base, l->iov[i].iov_len);
	return dbuf_error(&a->line) ? NULL : dbuf_str(&a->line);
}

/* Lock held: the tails that want the line get it; without the memory to
 * join it, they miss it (counted, and told as a gap). */
static void feed_tails(struct audit *a, const struct line *l,
		       const char *tool, const char *decision)
{
	const char *text = NULL;
	int joined = 0;

	for (struct audit_tail *t = a->tails; t != NULL; t = t->next) {
		if (!tail_wants(t, tool, decision))
			continue;
		if (!joined) {
			text = tail_text(a, l);
			joined = 1;
		}
		if (text != NULL) {
			feed_tail(a, t, text, l->len);
		} else {
			t->missed++;
			a->dropped++;
		}
	}
}

/* Lock held: l as written, to the file and the tails, and the chain now
 * links to it. A line lost on the way to the file (the disk full) is
 * still a link: audit-verify shows the loss where it was. */
static void emit_locked(struct audit *a, const struct line *l,
			const char *tool, const char *decision)
{
	if (a->path != NULL)
		write_locked(a, l);
	feed_tails(a, l, tool, decision);
	auditchain_advance_pieces(&a->chain, l->iov, l->n);
}

/* The record with "seq" and "prev" as its first keys, spliced in after
 * its opening brace: prefix, then the record's rest. */
static void link_line(struct line *l, const char *prefix, size_t plen,
		      const char *record, size_t len)
{
	static const char malformed[] = ",\"event\":\"malformed_record\"}";

	*l = (struct line){ .n = 0 };
	line_add(l, prefix, plen);
	if (len < 2 || record[0] != '{' || record[len - 1] != '}') {
		/* never made by the ledger; kept as a link all the same */
		line_add(l, malformed, sizeof(malformed) - 1);
		return;
	}
	if (len > 2)
		line_add(l, ",", 1);
	line_add(l, record + 1, len - 1);
}

/* Lock held, a key set: the checkpoint, to the file and every tail. */
static void checkpoint_locked(struct audit *a)
{
	char text[AUDITCHAIN_CHECKPOINT_MAX], ts[32];
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	text_rfc3339(&now, ts, sizeof(ts));
	struct line l = { .n = 0 };
	size_t len = auditchain_checkpoint(&a->chain, &a->key, ts, text);
	if (len == 0)
		return; /* cannot be: every part is bounded */
	line_add(&l, text, len);
	emit_locked(a, &l, NULL, NULL);
	a->since_checkpoint = 0;
	a->checkpoint_ms = text_mono_ms();
}

void audit_write(struct audit *a, const char *line, size_t len,
		 const char *tool, const char *decision)
{
	char prefix[AUDITCHAIN_PREFIX_MAX];
	struct line l;

	pthread_mutex_lock(&a->lock);
	size_t plen = auditchain_prefix(&a->chain, prefix);
	link_line(&l, prefix, plen, line, len);
	emit_locked(a, &l, tool, decision);
	a->since_checkpoint++;
	if (a->has_key && a->since_checkpoint >= AUDITCHAIN_CHECKPOINT_LINES)
		checkpoint_locked(a);
	pthread_mutex_unlock(&a->lock);
}

void audit_set_key(struct audit *a, const struct auditchain_key *key)
{
	pthread_mutex_lock(&a->lock);
	/* the lines the old key has seen are signed with it */
	if (a->has_key && a->since_checkpoint > 0)
		checkpoint_locked(a);
	auditchain_key_clear(&a->key);
	a->has_key = key != NULL;
	if (key != NULL) {
		a->key = *key;
		a->checkpoint_ms = text_mono_ms();
		/* at start: the lines of a run that did not stop cleanly */
		if (a->since_checkpoint > 0)
			checkpoint_locked(a);
	}
	pthread_mutex_unlock(&a->lock);
}

long audit_tick(struct audit *a)
{
	const uint64_t period = AUDITCHAIN_CHECKPOINT_SECS * 1000;
	long wait = -1;

	pthread_mutex_lock(&a->lock);
	if (a->has_key) {
		uint64_t now = text_mono_ms();
		if (now >= a->checkpoint_ms + period) {
			if (a->since_checkpoint > 0)
				checkpoint_locked(a);
			a->checkpoint_ms = now;
		}
		wait = (long)(a->checkpoint_ms + period - now);
	}
	pthread_mutex_unlock(&a->lock);
	return wait;
}

uint64_t audit_write_errors(struct audit *a)
{
	pthread_mutex_lock(&a->lock);
	uint64_t n = a->errors;
	pthread_mutex_unlock(&a->lock);
	return n;
}

uint64_t audit_dropped(struct audit *a)
{
	pthread_mutex_lock(&a->lock);
	uint64_t n = a->dropped;
	pthread_mutex_unlock(&a->lock);
	return n;
}

struct audit_tail *audit_tail_new(struct audit *a, const char *tool,
				  const char *decision, struct stream *s,
				  audit_tail_fn deliver)
{
	struct audit_tail *t = calloc(1, sizeof(*t));

	if (t == NULL)
		goto fail;
	t->stream = s;
	t->deliver = deliver;
	t->tool = tool ? strdup(tool) : NULL;
	t->decision = decision ? strdup(decision) : NULL;
	if ((tool && !t->tool) || (decision && !t->decision)) {
		tail_free(t);
		return NULL;
	}
	pthread_mutex_lock(&a->lock);
	t->next = a->tails;
	a->tails = t;
	pthread_mutex_unlock(&a->lock);
	return t;
fail:
	stream_finish(s, STREAM_END_BROKEN);
	stream_release(s);
	return NULL;
}

void audit_tail_end(struct audit *a, struct audit_tail *t)
{
	pthread_mutex_lock(&a->lock);
	for (struct audit_tail **p = &a->tails; *p != NULL; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	pthread_mutex_unlock(&a->lock);
	tail_free(t);
}
