/* ctl_clients — what carapacectl does for the operator about clients
 * without asking the daemon: the revocation file edited (revoke appends,
 * unrevoke rewrites), a new client's token and its config entry, a
 * token's hash.
 *
 * The revocation file is revoked_clients_file of carapaced.conf, one
 * name a line (revoked.h reads it the same way): an edit is durable
 * (fsync) before the daemon is told, and unrevoke replaces the file
 * whole (a temporary file in the same directory, renamed over it), so
 * that a daemon reading it meanwhile sees the old list or the new one.
 * Failures are told on stderr (ctl_complain) and returned as -1. One
 * thread. */
#ifndef CARAPACE_CTL_CLIENTS_H
#define CARAPACE_CTL_CLIENTS_H

/* Whether name is a client name as carapaced.conf allows one: 1 to 64
 * of A-Z a-z 0-9 . _ - */
int ctl_client_name_ok(const char *name);

/* Appends name and a newline to file (created with mode 0640 when
 * missing), unless a line names it already (*already then 1). 0, or -1
 * after a complaint. */
int ctl_revoked_add(const char *file, const char *name, int *already);
/* Rewrites file without the lines that name name (*found: how many
 * there were; 0 leaves the file untouched). Comments and other lines
 * are kept as they are, and so are the file's mode and owner. 0, or -1
 * after a complaint. */
int ctl_revoked_remove(const char *file, const char *name, unsigned *found);

/* A fresh token for client name on stdout, and its "clients" entry
 * (token_sha256, an empty "tools" for the operator to fill); as one JSON
 * object when json. 0, or -1 after a complaint. */
int ctl_new_client(const char *name, int json);
/* A token read from stdin (one trailing newline dropped; without echo
 * on a terminal), its SHA-256 in hex on stdout. 0, or -1 after a
 * complaint. */
int ctl_hash_token(void);

#endif
