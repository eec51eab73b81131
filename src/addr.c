/* addr — see addr.h.
 *
 * One parser for the numeric HOST:PORT form the config file uses, and the
 * URL check built on the same host and port rules, so a listener and an
 * upstream cannot disagree about what a port or an IPv6 literal is. */
#include "config.h"

#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIGITS "0123456789"
#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" DIGITS
/* URL hosts: DNS names and IPv4 literals; IPv6 comes in brackets. */
#define URL_HOST_CHARS ALNUM ".-_"

/* Exactly the n bytes at p: decimal 1..65535, no sign, blank or junk. */
static int parse_port(const char *p, size_t n, unsigned short *port)
{
	char *end;
	long v;

	if (n == 0 || p[0] < '0' || p[0] > '9')
		return -1;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno != 0 || end != p + n || v < 1 || v > 65535)
		return -1;
	*port = (unsigned short)v;
	return 0;
}

/* Numeric literal of family af in the n bytes at p, copied to host. */
static int parse_host(int af, const char *p, size_t n, char *host,
		      size_t size)
{
	unsigned char bin[sizeof(struct in6_addr)];

	if (n == 0 || n >= size)
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	return inet_pton(af, host, bin) == 1 ? 0 : -1;
}

/* Splits "HOST:PORT" / "[V6]:PORT"; host is not NUL-terminated. */
static int split_hostport(const char *text, const char **host,
			  size_t *host_len, const char **port, int *is_ipv6)
{
	const char *sep;

	*is_ipv6 = text[0] == '[';
	if (*is_ipv6) {
		sep = strchr(text, ']');
		if (!sep || sep[1] != ':')
			return -1;
		*host = text + 1;
		*host_len = (size_t)(sep - *host);
		*port = sep + 2;
		return 0;
	}
	sep = strrchr(text, ':');
	if (!sep)
		return -1;
	*host = text;
	*host_len = (size_t)(sep - text);
	*port = sep + 1;
	return 0;
}

int addr_parse(const char *text, struct addr *out, struct error *err)
{
	struct addr a = { .port = 0 };
	const char *host, *port, *msg;
	size_t host_len;

	msg = "expected HOST:PORT";
	if (!text || split_hostport(text, &host, &host_len, &port,
				    &a.is_ipv6) < 0)
		goto fail;
	msg = "host must be a numeric IPv4 or [IPv6] address";
	if (parse_host(a.is_ipv6 ? AF_INET6 : AF_INET, host, host_len,
		       a.host, sizeof(a.host)) < 0)
		goto fail;
	msg = "port must be 1..65535";
	if (parse_port(port, strlen(port), &a.port) < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	return error_set(err, 0, NULL, "%s", msg);
}

int addr_sockaddr(const struct addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->is_ipv6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		return inet_pton(AF_INET6, a->host, &s6->sin6_addr) == 1 ? 0 :
									  -1;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(a->port);
	return inet_pton(AF_INET, a->host, &s4->sin_addr) == 1 ? 0 : -1;
}

void addr_format(const struct addr *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s:%u", a->is_ipv6 ? "[" : "", a->host,
		 a->is_ipv6 ? "]" : "", a->port);
}

/* Two versions once disagreed on a host that does not parse: equal text
 * (the config's duplicate check) or never equal (the server's listener
 * reuse).  addr_parse() lets no such host through, so neither ever saw
 * one; equal text is kept because it keeps the relation reflexive. */
int addr_same(const struct addr *a, const struct addr *b)
{
	unsigned char x[sizeof(struct in6_addr)] = { 0 };
	unsigned char y[sizeof(struct in6_addr)] = { 0 };
	int af = a->is_ipv6 ? AF_INET6 : AF_INET;

	if (a->port != b->port || a->is_ipv6 != b->is_ipv6)
		return 0;
	if (inet_pton(af, a->host, x) != 1 || inet_pton(af, b->host, y) != 1)
		return strcmp(a->host, b->host) == 0;
	return memcmp(x, y, sizeof(x)) == 0;
}

/* The admin API shows every request and reloads the daemon, so the config
 * allows it only here. */
int addr_is_loopback(const struct addr *a)
{
	struct in_addr v4;

	if (a->is_ipv6)
		return strcmp(a->host, "::1") == 0 ||
		       strcmp(a->host, "0:0:0:0:0:0:0:1") == 0;
	return inet_pton(AF_INET, a->host, &v4) == 1 &&
	       (ntohl(v4.s_addr) >> 24) == 127;
}

/* HOST[:PORT] in the n bytes at a, where HOST is a name, an IPv4 literal
 * or a bracketed IPv6 literal. */
static int url_authority_ok(const char *a, size_t n)
{
	char v6[INET6_ADDRSTRLEN + 1];
	unsigned short port;
	const char *close;
	size_t host_len;

	if (n > 0 && a[0] == '[') {
		close = memchr(a, ']', n);
		if (!close || parse_host(AF_INET6, a + 1,
					 (size_t)(close - a - 1), v6,
					 sizeof(v6)) < 0)
			return 0;
		host_len = (size_t)(close - a) + 1;
	} else {
		/* stops at ':' and '/', so never beyond n */
		host_len = strspn(a, URL_HOST_CHARS);
		if (host_len == 0)
			return 0;
	}
	if (host_len == n)
		return 1;
	return a[host_len] == ':' &&
	       parse_port(a + host_len + 1, n - host_len - 1, &port) == 0;
}

int addr_url_ok(const char *s)
{
	const char *host;
	const char *p;

	if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return 0;
	for (p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f ||
		    strchr("@?#", *p))
			return 0;
	return url_authority_ok(host, strcspn(host, "/"));
}

/* ---- allow_from ---- */

/* Whether the bits of net past prefix are all zero. */
static int host_bits_zero(const unsigned char *net, size_t len,
			  unsigned prefix)
{
	for (size_t i = 0; i < len; i++) {
		unsigned keep = prefix >= 8 * (i + 1) ? 8 :
				prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;
		/* the host bits of this byte */
		unsigned char mask = (unsigned char)(0xffu >> keep);
		if (net[i] & mask)
			return 0;
	}
	return 1;
}

int addr_cidr_parse(const char *text, struct addr_cidr *out,
		    struct error *err)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t host_len = slash ? (size_t)(slash - text) : strlen(text);
	struct addr_cidr c = { .prefix = 0 };
	unsigned max;

	if (host_len == 0 || host_len >= sizeof(host))
		return error_set(err, 0, NULL, "not an address or network");
	memcpy(host, text, host_len);
	host[host_len] = '\0';
	c.is_ipv6 = strchr(host, ':') != NULL;
	if (inet_pton(c.is_ipv6 ? AF_INET6 : AF_INET, host, c.net) != 1)
		return error_set(err, 0, NULL, "not an address or network");
	max = c.is_ipv6 ? 128 : 32;
	c.prefix = max;
	if (slash != NULL) {
		char *end;
		unsigned long p;
		if (slash[1] < '0' || slash[1] > '9')
			return error_set(err, 0, NULL, "bad prefix length");
		p = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || p > max)
			return error_set(err, 0, NULL, "bad prefix length");
		c.prefix = (unsigned)p;
	}
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0,
						  0, 0, 0, 0, 0xff, 0xff };
	/* a peer's IPv4-mapped address is compared as IPv4 */
	if (c.is_ipv6 && memcmp(c.net, mapped, sizeof(mapped)) == 0)
		return error_set(err, 0, NULL, "an IPv4-mapped network: write "
				 "it as IPv4 (10.0.0.0/8)");
	if (!host_bits_zero(c.net, max / 8, c.prefix))
		return error_set(err, 0, NULL, "address bits set past the "
				 "prefix length");
	*out = c;
	return 0;
}

/* The first bits of a and b agree. */
static int prefix_equal(const unsigned char *a, const unsigned char *b,
			unsigned bits)
{
	size_t whole = bits / 8;
	unsigned rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff00u >> rest);
	return (a[whole] & mask) == (b[whole] & mask);
}

int addr_cidr_contains(const struct addr_cidr *c, const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0,
						  0, 0, 0, 0, 0xff, 0xff };
	const unsigned char *bytes;
	int v6;

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		bytes = (const unsigned char *)&(
			(const struct sockaddr_in *)(const void *)sa)->sin_addr;
		v6 = 0;
	} else if (sa->sa_family == AF_INET6) {
		bytes = ((const struct sockaddr_in6 *)(const void *)sa)
				->sin6_addr.s6_addr;
		v6 = 1;
		if (memcmp(bytes, mapped, sizeof(mapped)) == 0) {
			bytes += sizeof(mapped);
			v6 = 0;
		}
	} else {
		return 0;
	}
	return v6 == c->is_ipv6 && prefix_equal(bytes, c->net, c->prefix);
}

int addr_cidr_overlap(const struct addr_cidr *a, const struct addr_cidr *b)
{
	if (a->is_ipv6 != b->is_ipv6)
		return 0;
	return prefix_equal(a->net, b->net,
			    a->prefix < b->prefix ? a->prefix : b->prefix);
}
