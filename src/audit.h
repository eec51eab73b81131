/* audit — the audit trail: one JSON object per line in the audit_log file,
 * and the same records to every live tail (GET /v1/audit).
 *
 * A record is written whole with one write(2) on an O_APPEND descriptor,
 * under a lock, so lines never interleave or tear between writers. Writing
 * never blocks a request on a broken log: a failed write (disk full, file
 * or directory gone) is counted, reported to the operator at most once per
 * interval, and the file is opened again, at most once a second, until it
 * works. A live tail that reads too slowly misses records (counted, and
 * told to it) rather than slowing anyone down. Thread-safe.
 *
 * Every record is a link of a hash chain (auditchain.h): "seq" and "prev"
 * are spliced in as its first keys, and the file and the tails get the
 * same bytes. The chain goes on from the file's last line at start, from
 * the last record written across a reopen or a new path. With a signing
 * key, a checkpoint record follows every AUDITCHAIN_CHECKPOINT_LINES
 * lines, the first audit_tick() AUDITCHAIN_CHECKPOINT_SECS after the
 * last one (when lines were written since), a key change, and the stop
 * (audit_free). */
#ifndef CARAPACE_AUDIT_H
#define CARAPACE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "auditchain.h"
#include "error.h"
#include "stream.h"

struct audit;
struct audit_tail;

/* path NULL: no file, records go to live tails only. NULL on failure with
 * the reason in err (the file cannot be opened: a start-up error). */
struct audit *audit_new(const char *path, struct error *err);
/* Ends every live tail too; with a key, a last checkpoint first. */
void audit_free(struct audit *a);
/* The signing key from now on (copied), or none (NULL). The lines since
 * the last checkpoint are signed first with the old key, or with the new
 * one when there was none (the unsigned end of a run that did not stop
 * cleanly, at start). */
void audit_set_key(struct audit *a, const struct auditchain_key *key);
/* The timer: writes a checkpoint when one is due. The milliseconds until
 * the next is due, or -1 without a key (no timer). Main thread. */
long audit_tick(struct audit *a);
/* Opens the file anew (after logrotate renamed it). 0, or -1: counted,
 * reported, retried by later writes. */
int audit_reopen(struct audit *a);
/* A reload named another file (or none: NULL): the new one is opened
 * first, and only then replaces the old. 0, or -1 with why in err and
 * nothing changed. */
int audit_set_path(struct audit *a, const char *path, struct error *err);
/* The file written now (a copy into buf), or NULL when none. */
const char *audit_path(struct audit *a, char *buf, size_t len);

/* One record: line is a JSON object (no newline). tool and decision
 * ("allow" / "deny") are what live tails filter on. */
void audit_write(struct audit *a, const char *line, size_t len,
		 const char *tool, const char *decision);

uint64_t audit_write_errors(struct audit *a); /* records not written */
uint64_t audit_dropped(struct audit *a);      /* records tails missed */

/* How a live tail's stream gets its events (admin.c frames them): with
 * record[0..len), one record as written to the file (no newline), or with
 * record NULL when missed records were lost since the last one delivered.
 * Returns as stream_offer(): 0 queued; -2 no room (or no memory), and
 * that record is counted missed; -1 the reader is gone. Called under the
 * audit's lock, from the writer's thread: it must not call into audit. */
typedef int (*audit_tail_fn)(struct stream *s, const char *record,
			     size_t len, uint64_t missed);

/* A live tail into s, whose producer reference it takes; deliver gets
 * each later record (and each gap). tool / decision NULL: all. NULL on
 * out of memory (s is then released). */
struct audit_tail *audit_tail_new(struct audit *a, const char *tool,
				  const char *decision, struct stream *s,
				  audit_tail_fn deliver);
/* The reader is gone: stop feeding, finish and release the stream. */
void audit_tail_end(struct audit *a, struct audit_tail *t);

#endif
