/* secret — tokens and their hashes: SHA-256, a comparison whose time
 * does not depend on where two hashes differ, hex, and fresh random
 * tokens. The config holds only hashes (token_sha256,
 * admin_token_sha256); a token a client presents is hashed and compared
 * here, and nowhere else.
 *
 * Pure functions on caller-owned buffers; any thread. */
#ifndef CARAPACE_SECRET_H
#define CARAPACE_SECRET_H

#include <stddef.h>

#define SECRET_HASH_LEN 32u      /* SHA-256 */
#define SECRET_HEX_LEN 64u       /* its hex form */
#define SECRET_TOKEN_BYTES 32u   /* what secret_new_token draws */

/* SHA-256 of data[0..len) into out. 0, or -1 (GnuTLS failed). */
int secret_sha256(const void *data, size_t len,
		  unsigned char out[SECRET_HASH_LEN]);

/* 1 when a and b hold the same n bytes, else 0. Reads every byte of
 * both whatever the first difference, so its time tells nothing of
 * where they differ. */
int secret_equal(const void *a, const void *b, size_t n);

/* 64 hex digits (either case) into out; 0, or -1 when text is anything
 * else. */
int secret_hex_parse(const char *text, unsigned char out[SECRET_HASH_LEN]);
/* out: 64 lower-case hex digits and a NUL. */
void secret_hex_format(const unsigned char hash[SECRET_HASH_LEN],
		       char out[SECRET_HEX_LEN + 1]);

/* A fresh token: SECRET_TOKEN_BYTES from getrandom(2), as base64url
 * without padding (43 characters) into out, NUL-terminated. 0, or -1
 * with errno. */
int secret_new_token(char *out, size_t size);

#endif
