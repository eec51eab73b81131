/* text — see text.h. */
#include "config.h"

#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t text_utf8_char(const void *data, size_t n, uint32_t *cp_out)
{
	const unsigned char *s = data;

	if (n == 0)
		return 0;
	unsigned char c = s[0];
	size_t k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 :
		   (c >> 3) == 30 ? 3 : 4;
	if (k == 4 || k >= n)
		return 0; /* not a lead byte, or cut short */
	uint32_t cp = k == 0 ? c : c & (0x3f >> k);
	for (size_t j = 1; j <= k; j++) {
		if ((s[j] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[j] & 0x3f);
	}
	if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
	    (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (cp_out != NULL)
		*cp_out = cp;
	return k + 1;
}

int text_utf8_valid(const void *data, size_t n)
{
	const unsigned char *s = data;

	for (size_t i = 0, k; i < n; i += k)
		if ((k = text_utf8_char(s + i, n - i, NULL)) == 0)
			return 0;
	return 1;
}

/* One pass of text_json_clean: writes to out when not NULL; the length
 * either way. */
static size_t json_clean(const unsigned char *s, size_t n, char *out)
{
	size_t len = 0;

	for (size_t i = 0, k; i < n; i += k) {
		uint32_t cp = 0;
		const char *esc = NULL;
		char hex[8];
		k = text_utf8_char(s + i, n - i, &cp);
		if (k == 0) {
			esc = "\\ufffd";
			k = 1;
		} else if (cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
			snprintf(hex, sizeof(hex), "\\u%04x", (unsigned)cp);
			esc = hex;
		}
		if (esc != NULL) {
			if (out != NULL)
				memcpy(out + len, esc, 6);
			len += 6;
		} else {
			if (out != NULL)
				memcpy(out + len, s + i, k);
			len += k;
		}
	}
	return len;
}

char *text_json_clean(const char *json, size_t len, size_t *out_len)
{
	size_t n = json_clean((const unsigned char *)json, len, NULL);
	char *out = malloc(n + 1);

	if (out == NULL)
		return NULL;
	json_clean((const unsigned char *)json, len, out);
	out[n] = '\0';
	if (out_len != NULL)
		*out_len = n;
	return out;
}

char *text_base64_encode(const void *data, size_t n, size_t *out_len)
{
	const unsigned char *s = data;
	size_t len = (n + 2) / 3 * 4;
	char *out = malloc(len + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? alphabet[v & 63] : '=';
	}
	*o = '\0';
	if (out_len != NULL)
		*out_len = len;
	return out;
}

static int sextet(char c)
{
	const char *p = c ? strchr(alphabet, c) : NULL;

	return p ? (int)(p - alphabet) : -1;
}

void *text_base64_decode(const char *t, size_t len, size_t *out_len)
{
	unsigned char *out = len % 4 == 0 ? malloc(len / 4 * 3 + 1) : NULL;
	size_t n = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 4) {
		int last = i + 4 == len;
		int pad = last ? (t[i + 3] == '=') + (t[i + 2] == '=') : 0;
		int v[4];
		for (int k = 0; k < 4; k++)
			v[k] = k >= 4 - pad ? 0 : sextet(t[i + k]);
		if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0 ||
		    (pad == 1 && t[i + 2] == '=')) {
			free(out);
			return NULL;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[n++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[n++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[n++] = (unsigned char)w;
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

void text_rfc3339(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts->tv_nsec / 1000000);
}

uint64_t text_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int text_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
