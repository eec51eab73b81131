/* secret — see secret.h. */
#include "config.h"

#include "secret.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <sys/random.h>

#include "text.h"

int secret_sha256(const void *data, size_t len,
		  unsigned char out[SECRET_HASH_LEN])
{
	return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) == 0 ? 0
									 : -1;
}

int secret_equal(const void *a, const void *b, size_t n)
{
	/* volatile: the compiler may not stop at the first difference */
	const volatile unsigned char *x = a, *y = b;
	unsigned char diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(x[i] ^ y[i]);
	return diff == 0;
}

int secret_hex_parse(const char *text, unsigned char out[SECRET_HASH_LEN])
{
	if (text == NULL || strlen(text) != SECRET_HEX_LEN)
		return -1;
	for (size_t i = 0; i < SECRET_HASH_LEN; i++) {
		int hi = text_hex_digit(text[2 * i]);
		int lo = text_hex_digit(text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

void secret_hex_format(const unsigned char hash[SECRET_HASH_LEN],
		       char out[SECRET_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < SECRET_HASH_LEN; i++) {
		out[2 * i] = digits[hash[i] >> 4];
		out[2 * i + 1] = digits[hash[i] & 15];
	}
	out[SECRET_HEX_LEN] = '\0';
}

/* getrandom(2) until n bytes are in (it may return fewer, or EINTR). */
static int random_bytes(unsigned char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int secret_new_token(char *out, size_t size)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[SECRET_TOKEN_BYTES + 2] = { 0 };
	size_t k = 0, need = (SECRET_TOKEN_BYTES * 8 + 5) / 6;

	if (size < need + 1) {
		errno = ENOSPC;
		return -1;
	}
	if (random_bytes(raw, SECRET_TOKEN_BYTES) < 0)
		return -1;
	for (size_t i = 0; k < need; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 |
			     raw[i + 2];
		for (int s = 18; s >= 0 && k < need; s -= 6)
			out[k++] = b64url[(v >> s) & 63];
	}
	out[k] = '\0';
	memset(raw, 0, sizeof(raw));
	return 0;
}
