/* revoked — the clients revoked_clients_file names: refused at once,
 * whatever their credentials, until a line no longer names them.
 *
 * The file is the one record (carapacectl revoke and unrevoke edit it);
 * the daemon reads it at start, at reload and when the admin API is told
 * it changed (POST /v1/revocations). A set is shared by every thread:
 * revoked_has() from any, revoked_load() from one at a time. */
#ifndef CARAPACE_REVOKED_H
#define CARAPACE_REVOKED_H

#include "error.h"

/* A revocation file is a list of names: megabytes mean a wrong file. */
#define REVOKED_MAX_BYTES ((size_t)1 << 20)

struct revoked;

/* An empty set. NULL on out of memory. */
struct revoked *revoked_new(void);
void revoked_free(struct revoked *r);

/* Replaces the set with the names in file: one a line as carapacectl
 * writes them; every word of a line counts ("a b" revokes both), and
 * '#' starts a comment to the end of its line. file NULL or a file
 * that does not exist: nothing is revoked. 0, or -1 with why in err and
 * the set unchanged (a file that cannot be read is not taken for an
 * empty one). */
int revoked_load(struct revoked *r, const char *file, struct error *err);

/* Moves src's names into dst (dst's own are dropped, src is left
 * empty): a set loaded aside put in force once the rest of a reload
 * has succeeded. */
void revoked_move(struct revoked *dst, struct revoked *src);

/* Whether name is revoked. Any thread. */
int revoked_has(struct revoked *r, const char *name);
/* How many names the set holds. Any thread. */
unsigned revoked_count(struct revoked *r);

#endif
