/* auditchain — see auditchain.h. The line format, the key files and the
 * checkpoint's signed message are defined here once; resuming from a file
 * is in auditchain_resume.c. */
#include "config.h"

#include "auditchain.h"
#include "auditchain_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text.h"

#define SIG_HEX (2 * crypto_sign_BYTES)
#define TS_MAX 40
#define SECRET_TAG "carapace-audit-secret-key "
#define PUBLIC_TAG "carapace-audit-public-key "
#define SIGNED_TAG "carapace-audit-checkpoint-v1\n"
#define CHECKPOINT_EVENT ",\"event\":\"checkpoint\""

int auditchain_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

static void hex_format(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Lower-case hex only, as written: another spelling is another line. */
static int hex_parse(const char *s, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < 2 * n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)(text_hex_digit(s[2 * i]) << 4 |
					 text_hex_digit(s[2 * i + 1]));
	return 0;
}

void auditchain_fresh(struct auditchain *c)
{
	c->seq = 1;
	memset(c->prev, 0, sizeof(c->prev));
}

size_t auditchain_prefix(const struct auditchain *c,
			 char buf[AUDITCHAIN_PREFIX_MAX])
{
	char hex[AUDITCHAIN_HEX_LEN + 1];

	hex_format(c->prev, sizeof(c->prev), hex);
	int n = snprintf(buf, AUDITCHAIN_PREFIX_MAX,
			 "{\"seq\":%" PRIu64 ",\"prev\":\"%s\"", c->seq, hex);
	return (size_t)n;
}

void auditchain_sha256_init(struct auditchain_sha256 *h)
{
	if (gnutls_hash_init(&h->gnutls, GNUTLS_DIG_SHA256) < 0) {
		h->gnutls = NULL;
		crypto_hash_sha256_init(&h->sodium);
	}
}

void auditchain_sha256_update(struct auditchain_sha256 *h, const void *p,
			      size_t n)
{
	if (h->gnutls != NULL)
		gnutls_hash(h->gnutls, p, n); /* fails only for no context */
	else
		crypto_hash_sha256_update(&h->sodium, p, n);
}

void auditchain_sha256_final(struct auditchain_sha256 *h,
			     unsigned char out[32])
{
	if (h->gnutls != NULL)
		gnutls_hash_deinit(h->gnutls, out);
	else
		crypto_hash_sha256_final(&h->sodium, out);
}

void auditchain_hash(const char *line, size_t len,
		     unsigned char out[AUDITCHAIN_HASH_LEN])
{
	struct iovec one = { (void *)(uintptr_t)line, len };

	auditchain_hash_pieces(&one, 1, out);
}

void auditchain_hash_pieces(const struct iovec *iov, int n,
			    unsigned char out[AUDITCHAIN_HASH_LEN])
{
	struct auditchain_sha256 h;

	auditchain_sha256_init(&h);
	for (int i = 0; i < n; i++)
		auditchain_sha256_update(&h, iov[i].iov_base, iov[i].iov_len);
	auditchain_sha256_final(&h, out);
}

void auditchain_advance(struct auditchain *c, const char *line, size_t len)
{
	auditchain_hash(line, len, c->prev);
	c->seq++;
}

void auditchain_advance_pieces(struct auditchain *c, const struct iovec *iov,
			       int n)
{
	auditchain_hash_pieces(iov, n, c->prev);
	c->seq++;
}

/* A cursor over one line, for the strict parses below. */
struct cur {
	const char *p, *end;
};

static int lit(struct cur *c, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

/* 1 to 20 digits, no leading zero, not 0, no overflow. */
static int number(struct cur *c, uint64_t *out)
{
	uint64_t v = 0;
	const char *start = c->p;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		c->p++;
	}
	if (c->p == start || *start == '0')
		return -1;
	*out = v;
	return 0;
}

static int hex_field(struct cur *c, unsigned char *out, size_t n)
{
	if ((size_t)(c->end - c->p) < 2 * n || hex_parse(c->p, n, out) < 0)
		return -1;
	c->p += 2 * n;
	return 0;
}

static int link_at(struct cur *c, uint64_t *seq, unsigned char *prev)
{
	return lit(c, "{\"seq\":") < 0 || number(c, seq) < 0 ||
	       lit(c, ",\"prev\":\"") < 0 ||
	       hex_field(c, prev, AUDITCHAIN_HASH_LEN) < 0 ||
	       lit(c, "\"") < 0 ? -1 : 0;
}

int auditchain_parse(const char *line, size_t len, uint64_t *seq,
		     unsigned char prev[AUDITCHAIN_HASH_LEN])
{
	struct cur c = { line, line + len };

	if (link_at(&c, seq, prev) < 0 || c.p == c.end ||
	    (*c.p != ',' && *c.p != '}'))
		return -1;
	return 0;
}

int auditchain_is_checkpoint(const char *line, size_t len)
{
	struct cur c = { line, line + len };
	unsigned char prev[AUDITCHAIN_HASH_LEN];
	uint64_t seq;

	return link_at(&c, &seq, prev) == 0 && lit(&c, CHECKPOINT_EVENT) == 0;
}

/* The message a checkpoint's signature is of. */
static size_t signed_message(uint64_t seq, const char *prev_hex,
			     const char *ts, char *buf, size_t len)
{
	int n = snprintf(buf, len, SIGNED_TAG "%" PRIu64 "\n%s\n%s\n", seq,
			 prev_hex, ts);
	return n < 0 || (size_t)n >= len ? 0 : (size_t)n;
}

size_t auditchain_checkpoint(const struct auditchain *c,
			     const struct auditchain_key *k, const char *ts,
			     char buf[AUDITCHAIN_CHECKPOINT_MAX])
{
	char prev[AUDITCHAIN_HEX_LEN + 1], pk[AUDITCHAIN_HEX_LEN + 1];
	char msg[256], sig_hex[SIG_HEX + 1];
	unsigned char sig[crypto_sign_BYTES];

	hex_format(c->prev, sizeof(c->prev), prev);
	hex_format(k->pk, sizeof(k->pk), pk);
	size_t mlen = signed_message(c->seq, prev, ts, msg, sizeof(msg));
	crypto_sign_detached(sig, NULL, (const unsigned char *)msg, mlen,
			     k->sk);
	hex_format(sig, sizeof(sig), sig_hex);
	int n = snprintf(buf, AUDITCHAIN_CHECKPOINT_MAX,
			 "{\"seq\":%" PRIu64 ",\"prev\":\"%s\"" CHECKPOINT_EVENT
			 ",\"ts\":\"%s\",\"key\":\"%s\",\"sig\":\"%s\"}",
			 c->seq, prev, ts, pk, sig_hex);
	return n < 0 || n >= AUDITCHAIN_CHECKPOINT_MAX ? 0 : (size_t)n;
}

/* The time as written: digits and the few signs of RFC 3339. */
static int ts_field(struct cur *c, char *out)
{
	size_t n = 0;

	while (c->p < c->end && n < TS_MAX - 1 &&
	       strchr("0123456789-:.TZ", *c->p) != NULL && *c->p != '\0')
		out[n++] = *c->p++;
	out[n] = '\0';
	return n == 0 ? -1 : 0;
}

struct checkpoint {
	uint64_t seq;
	unsigned char prev[AUDITCHAIN_HASH_LEN];
	char ts[TS_MAX];
	unsigned char pk[AUDITCHAIN_PK_LEN];
	unsigned char sig[crypto_sign_BYTES];
};

static int checkpoint_parse(const char *line, size_t len,
			    struct checkpoint *cp)
{
	struct cur c = { line, line + len };

	return link_at(&c, &cp->seq, cp->prev) < 0 ||
	       lit(&c, CHECKPOINT_EVENT ",\"ts\":\"") < 0 ||
	       ts_field(&c, cp->ts) < 0 || lit(&c, "\",\"key\":\"") < 0 ||
	       hex_field(&c, cp->pk, sizeof(cp->pk)) < 0 ||
	       lit(&c, "\",\"sig\":\"") < 0 ||
	       hex_field(&c, cp->sig, sizeof(cp->sig)) < 0 ||
	       lit(&c, "\"}") < 0 || c.p != c.end ? -1 : 0;
}

int auditchain_checkpoint_check(const char *line, size_t len,
				const unsigned char *keys,
				size_t n, size_t *which, struct error *why)
{
	struct checkpoint cp;
	char prev[AUDITCHAIN_HEX_LEN + 1], msg[256];

	if (checkpoint_parse(line, len, &cp) < 0)
		return error_set(why, 0, NULL, "a malformed checkpoint");
	for (*which = 0; *which < n; (*which)++)
		if (memcmp(keys + *which * AUDITCHAIN_PK_LEN, cp.pk,
			   sizeof(cp.pk)) == 0)
			break;
	if (*which == n) {
		char pk[AUDITCHAIN_HEX_LEN + 1];
		hex_format(cp.pk, sizeof(cp.pk), pk);
		return error_set(why, 0, NULL, "a checkpoint signed by a key "
				 "not given (%s)", pk);
	}
	hex_format(cp.prev, sizeof(cp.prev), prev);
	size_t mlen = signed_message(cp.seq, prev, cp.ts, msg, sizeof(msg));
	if (mlen == 0 ||
	    crypto_sign_verify_detached(cp.sig, (const unsigned char *)msg,
					mlen, cp.pk) != 0)
		return error_set(why, 0, NULL, "a checkpoint whose signature "
				 "does not verify (forged or altered)");
	return 0;
}

/* ---- key files ---- */

/* The one line of a key file after tag: n bytes from 2n hex digits. */
static int key_file_read(const char *path, const char *tag, int secret,
			 unsigned char *out, size_t n, struct error *why)
{
	char buf[256];
	struct stat st;
	size_t tlen = strlen(tag);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return error_set(why, 0, NULL, "%s: %s", path, strerror(errno));
	ssize_t got = fstat(fd, &st) == 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	int err = errno;
	close(fd);
	if (got < 0)
		return error_set(why, 0, NULL, "%s: %s", path, strerror(err));
	if (secret && (st.st_mode & 077) != 0)
		return error_set(why, 0, NULL, "%s: readable by group or others"
				 " (chmod 600)", path);
	size_t len = (size_t)got;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len != tlen + 2 * n || memcmp(buf, tag, tlen) != 0 ||
	    hex_parse(buf + tlen, n, out) < 0) {
		sodium_memzero(buf, sizeof(buf));
		return error_set(why, 0, NULL, "%s: not a carapace audit %s key"
				 " file", path, secret ? "secret" : "public");
	}
	sodium_memzero(buf, sizeof(buf));
	return 0;
}

int auditchain_key_load(const char *path, struct auditchain_key *k,
			struct error *why)
{
	unsigned char seed[crypto_sign_SEEDBYTES];

	if (auditchain_init() < 0)
		return error_set(why, 0, NULL, "libsodium did not start");
	if (key_file_read(path, SECRET_TAG, 1, seed, sizeof(seed), why) < 0)
		return -1;
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
	sodium_memzero(seed, sizeof(seed));
	return 0;
}

int auditchain_pubkey_load(const char *path,
			   unsigned char pk[AUDITCHAIN_PK_LEN],
			   struct error *why)
{
	return key_file_read(path, PUBLIC_TAG, 0, pk, AUDITCHAIN_PK_LEN, why);
}

void auditchain_pubkey_text(const unsigned char pk[AUDITCHAIN_PK_LEN],
			    char text[AUDITCHAIN_PUBKEY_TEXT])
{
	char hex[AUDITCHAIN_HEX_LEN + 1];

	hex_format(pk, AUDITCHAIN_PK_LEN, hex);
	snprintf(text, AUDITCHAIN_PUBKEY_TEXT, PUBLIC_TAG "%s", hex);
}

void auditchain_key_clear(struct auditchain_key *k)
{
	sodium_memzero(k, sizeof(*k));
}

static int write_file(const char *path, int flags, mode_t mode,
		      const char *text, struct error *why)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | flags,
		      mode);
	size_t len = strlen(text);

	if (fd < 0)
		return error_set(why, 0, NULL, "%s: %s", path, strerror(errno));
	ssize_t n = write(fd, text, len);
	int err = n < 0 ? errno : ENOSPC;
	if (close(fd) < 0 && n == (ssize_t)len) {
		err = errno;
		n = -1;
	}
	if (n != (ssize_t)len) {
		unlink(path);
		return error_set(why, 0, NULL, "%s: %s", path, strerror(err));
	}
	return 0;
}

int auditchain_keygen(const char *path, char text[AUDITCHAIN_PUBKEY_TEXT],
		      struct error *why)
{
	unsigned char seed[crypto_sign_SEEDBYTES];
	struct auditchain_key k;
	char line[160], hex[AUDITCHAIN_HEX_LEN + 1], pub[4200];

	if (auditchain_init() < 0)
		return error_set(why, 0, NULL, "libsodium did not start");
	if ((size_t)snprintf(pub, sizeof(pub), "%s.pub", path) >= sizeof(pub))
		return error_set(why, 0, NULL, "%s: path too long", path);
	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(k.pk, k.sk, seed);
	hex_format(seed, sizeof(seed), hex);
	snprintf(line, sizeof(line), SECRET_TAG "%s\n", hex);
	auditchain_pubkey_text(k.pk, text);
	int rc = write_file(path, O_EXCL, 0600, line, why);
	sodium_memzero(line, sizeof(line));
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(seed, sizeof(seed));
	auditchain_key_clear(&k);
	if (rc < 0)
		return -1;
	char publine[AUDITCHAIN_PUBKEY_TEXT + 1];
	snprintf(publine, sizeof(publine), "%s\n", text);
	if (write_file(pub, O_TRUNC, 0644, publine, why) < 0) {
		unlink(path);
		return -1;
	}
	return 0;
}

/* ---- verifying ---- */

void auditchain_verify_init(struct auditchain_verify *v,
			    const unsigned char *keys,
			    size_t n_keys)
{
	memset(v, 0, sizeof(*v));
	v->keys = keys;
	v->n_keys = n_keys;
	auditchain_fresh(&v->next);
}

static int is_genesis(uint64_t seq, const unsigned char *prev)
{
	static const unsigned char zero[AUDITCHAIN_HASH_LEN];

	return seq == 1 && memcmp(prev, zero, sizeof(zero)) == 0;
}

/* The link of a line that is not the first: seq, then prev. */
static int link_ok(const struct auditchain_verify *v, uint64_t seq,
		   const unsigned char *prev, int *blame_prev,
		   struct error *why)
{
	uint64_t want = v->next.seq;

	if (is_genesis(seq, prev))
		return error_set(why, 0, NULL, "the chain starts again here "
				 "(seq 1): the lines before it are not "
				 "linked to");
	if (seq > want)
		return error_set(why, 0, NULL, "seq %" PRIu64 " where %" PRIu64
				 " was due: %" PRIu64 " line(s) missing (or "
				 "moved) before this one", seq, want,
				 seq - want);
	if (seq < want)
		return error_set(why, 0, NULL, "seq %" PRIu64 " where %" PRIu64
				 " was due: lines out of order or repeated",
				 seq, want);
	if (memcmp(prev, v->next.prev, AUDITCHAIN_HASH_LEN) != 0) {
		*blame_prev = 1;
		return error_set(why, 0, NULL, "changed: its SHA-256 is not "
				 "the prev of the line after it (seq %" PRIu64
				 ")", seq);
	}
	return 0;
}

/* A checkpoint line, when keys are given: its signature, and the lines
 * since the one before. */
static int checkpoint_ok(struct auditchain_verify *v, const char *line,
			 size_t len, struct error *why)
{
	size_t which;

	if (v->keys != NULL &&
	    auditchain_checkpoint_check(line, len, v->keys, v->n_keys, &which,
					why) < 0)
		return -1;
	v->checkpoints++;
	v->signed_once = v->keys != NULL;
	v->uncovered = 0;
	return 0;
}

int auditchain_verify_line(struct auditchain_verify *v, const char *line,
			   size_t len, int *blame_prev, struct error *why)
{
	unsigned char prev[AUDITCHAIN_HASH_LEN];
	uint64_t seq;

	*blame_prev = 0;
	if (auditchain_parse(line, len, &seq, prev) < 0)
		return error_set(why, 0, NULL, "not a chained audit line (it "
				 "does not begin with seq and prev)");
	if (!v->started) {
		v->started = 1;
		v->first_seq = seq;
		v->genesis = is_genesis(seq, prev);
	} else if (link_ok(v, seq, prev, blame_prev, why) < 0) {
		return -1;
	}
	if (auditchain_is_checkpoint(line, len)) {
		if (checkpoint_ok(v, line, len, why) < 0)
			return -1;
	} else if (++v->uncovered > AUDITCHAIN_CHECKPOINT_LINES &&
		   v->signed_once) {
		return error_set(why, 0, NULL, "more than %d lines after a "
				 "checkpoint without another (one was removed,"
				 " or signing was switched off)",
				 AUDITCHAIN_CHECKPOINT_LINES);
	}
	v->lines++;
	v->next.seq = seq;
	auditchain_advance(&v->next, line, len);
	return 0;
}

int auditchain_verify_end(const struct auditchain_verify *v,
			  struct error *why)
{
	if (v->keys != NULL && !v->signed_once)
		return error_set(why, 0, NULL, "no checkpoint signed by the "
				 "given key: nothing is vouched for%s",
				 v->lines == 0 ? " (no line at all)" : "");
	return 0;
}
