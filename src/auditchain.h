/* auditchain — the one definition of the audit trail's hash chain and of
 * its signed checkpoints, shared by carapaced (audit.c writes the chain)
 * and carapacectl (audit-verify checks it, audit-keygen makes a key).
 *
 * A line is the bytes of one audit record without its newline. Each line
 * begins {"seq":N,"prev":"H" where N counts lines (one up per line, never
 * reset) and H is the lower-case hex SHA-256 of the previous line's bytes
 * (64 zeros before the first line of a fresh chain, whose seq is 1). A
 * checkpoint is exactly the line
 *   {"seq":N,"prev":"H","event":"checkpoint","ts":"T","key":"K","sig":"S"}
 * K the signer's Ed25519 public key (64 hex), S (128 hex) its signature
 * of the message  "carapace-audit-checkpoint-v1\n" N "\n" H "\n" T "\n"
 * (N decimal, H and T as in the line): it vouches for every line before
 * it, through the chain that H ends.
 *
 * Functions on caller-owned state; any thread. auditchain_init() first
 * (it may be called again, from any thread). */
#ifndef CARAPACE_AUDITCHAIN_H
#define CARAPACE_AUDITCHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "error.h"

#define AUDITCHAIN_HASH_LEN 32
#define AUDITCHAIN_HEX_LEN 64
#define AUDITCHAIN_PK_LEN 32
#define AUDITCHAIN_SK_LEN 64
#define AUDITCHAIN_CHECKPOINT_LINES 1000 /* lines, then a checkpoint */
#define AUDITCHAIN_CHECKPOINT_SECS 60    /* or after this long */
#define AUDITCHAIN_LINE_MAX (64u << 20)  /* what verify reads of a line */
#define AUDITCHAIN_PREFIX_MAX 112        /* {"seq":N,"prev":"H" and NUL */
#define AUDITCHAIN_CHECKPOINT_MAX 512    /* a checkpoint line and NUL */
#define AUDITCHAIN_PUBKEY_TEXT 96        /* a public key file's line */

/* What the next line links to. */
struct auditchain {
	uint64_t seq;                            /* the next line's */
	unsigned char prev[AUDITCHAIN_HASH_LEN]; /* the last line's hash */
};

/* An Ed25519 key pair; clear it with auditchain_key_clear(). */
struct auditchain_key {
	unsigned char sk[AUDITCHAIN_SK_LEN];
	unsigned char pk[AUDITCHAIN_PK_LEN];
};

/* 0, or -1 when libsodium cannot start. */
int auditchain_init(void);

/* A fresh chain: seq 1, prev 64 zeros. */
void auditchain_fresh(struct auditchain *c);
/* {"seq":N,"prev":"H" (no comma) into buf, NUL-terminated: its length. */
size_t auditchain_prefix(const struct auditchain *c,
			 char buf[AUDITCHAIN_PREFIX_MAX]);
/* line[0..len) was written: c now links to it. */
void auditchain_advance(struct auditchain *c, const char *line, size_t len);
/* The same, for a line given in n pieces (as writev(2) writes it). */
void auditchain_advance_pieces(struct auditchain *c, const struct iovec *iov,
			       int n);
void auditchain_hash(const char *line, size_t len,
		     unsigned char out[AUDITCHAIN_HASH_LEN]);
void auditchain_hash_pieces(const struct iovec *iov, int n,
			    unsigned char out[AUDITCHAIN_HASH_LEN]);
/* The seq and prev a line begins with: 0, or -1 when it does not begin
 * as every chained line does. */
int auditchain_parse(const char *line, size_t len, uint64_t *seq,
		     unsigned char prev[AUDITCHAIN_HASH_LEN]);
/* 1 when the line begins as a checkpoint does (it may still be a
 * malformed one), else 0. */
int auditchain_is_checkpoint(const char *line, size_t len);

/* The checkpoint that is c's next line, made at ts (RFC 3339) and signed
 * with k, into buf (no newline): its length. */
size_t auditchain_checkpoint(const struct auditchain *c,
			     const struct auditchain_key *k, const char *ts,
			     char buf[AUDITCHAIN_CHECKPOINT_MAX]);
/* A checkpoint line checked: 0, its signature good under one of keys
 * (n public keys, AUDITCHAIN_PK_LEN bytes each), with the signer's index
 * in *which; -1 with why. */
int auditchain_checkpoint_check(const char *line, size_t len,
				const unsigned char *keys,
				size_t n, size_t *which, struct error *why);

/* The secret key file (one line "carapace-audit-secret-key" and the
 * 64-hex Ed25519 seed; no group or other access): 0, or -1 with why. */
int auditchain_key_load(const char *path, struct auditchain_key *k,
			struct error *why);
/* A public key file (one line "carapace-audit-public-key" and 64 hex). */
int auditchain_pubkey_load(const char *path,
			   unsigned char pk[AUDITCHAIN_PK_LEN],
			   struct error *why);
/* A new key pair: path (created, mode 0600, never over an existing
 * file) and path.pub (0644); the public key's line into text. */
int auditchain_keygen(const char *path, char text[AUDITCHAIN_PUBKEY_TEXT],
		      struct error *why);
void auditchain_pubkey_text(const unsigned char pk[AUDITCHAIN_PK_LEN],
			    char text[AUDITCHAIN_PUBKEY_TEXT]);
void auditchain_key_clear(struct auditchain_key *k);

/* ---- carrying on from the file carapaced finds at start ---- */

enum auditchain_found {
	AUDITCHAIN_NONE,       /* no line anywhere: a fresh chain */
	AUDITCHAIN_CONTINUED,  /* from the last line of from */
	AUDITCHAIN_UNPARSED,   /* from a last line that does not parse */
	AUDITCHAIN_UNREADABLE, /* a file there that cannot be read: fresh */
};

struct auditchain_resume {
	enum auditchain_found found;
	char from[4200];        /* the file read, for messages */
	int last_checkpoint;    /* its last line is a checkpoint */
};

/* The chain that goes on from path's last line or, when path is empty or
 * missing, from that of the file logrotate renamed it to (path.1; a
 * compressed path.1.gz cannot be read: a fresh chain). A last line that
 * does not parse is linked to as it is, and seq goes on from the last
 * line before it that does. Never fails: r says what was found. */
void auditchain_resume(const char *path, struct auditchain *c,
		       struct auditchain_resume *r);

/* ---- verifying ---- */

struct auditchain_verify {
	const unsigned char *keys; /* n_keys of them; NULL: none */
	size_t n_keys;
	uint64_t lines;           /* lines that passed */
	uint64_t checkpoints;     /* checkpoint lines seen (and verified) */
	uint64_t uncovered;       /* lines since the last verified one */
	uint64_t first_seq;
	int started, genesis;     /* genesis: the first line starts a chain */
	int signed_once;          /* a verified checkpoint has been seen */
	struct auditchain next;   /* what the next line must link to */
};

/* v emptied, with keys (borrowed; NULL: signatures not checked). */
void auditchain_verify_init(struct auditchain_verify *v,
			    const unsigned char *keys,
			    size_t n_keys);
/* The next line: 0, or -1 with what is wrong in why; *blame_prev is set
 * when the fault is the line before's (its bytes were changed). */
int auditchain_verify_line(struct auditchain_verify *v, const char *line,
			   size_t len, int *blame_prev, struct error *why);
/* After the last line: 0, or -1 with why (keys given and no line was
 * covered by a verified checkpoint). */
int auditchain_verify_end(const struct auditchain_verify *v,
			  struct error *why);

#endif
