/* addr — listen addresses and upstream URLs as the config writes them:
 * parsed, compared, formatted and turned into socket addresses.
 *
 * Pure functions on caller-owned values; any thread may call them. */
#ifndef CARAPACE_ADDR_H
#define CARAPACE_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "error.h"

/* A listen address as written: host is a numeric IPv4 or IPv6 literal
 * (IPv6 written in brackets in the file, stored without them). */
struct addr {
	char host[64];
	unsigned short port;
	int is_ipv6;
};

/* Parse "HOST:PORT" / "[V6]:PORT"; 0, or -1 with *out untouched and the
 * reason in err's msg (err may be NULL). */
int addr_parse(const char *text, struct addr *out, struct error *err);

/* The socket address of a; 0, or -1 when its host does not parse. */
int addr_sockaddr(const struct addr *a, struct sockaddr_storage *ss);

/* "127.0.0.1:8765" or "[::1]:8765" into buf (always terminated). */
void addr_format(const struct addr *a, char *buf, size_t len);

/* Whether a and b are one address: same family and port, and hosts equal
 * as binary ("::1" and "0::1" are one). A host that does not parse is
 * compared as text, so an address is always the same as itself. */
int addr_same(const struct addr *a, const struct addr *b);

/* Whether a is on 127.0.0.0/8, or is [::1] written as "::1" or
 * "0:0:0:0:0:0:0:1" (other spellings are refused, as they always were). */
int addr_is_loopback(const struct addr *a);

/* Whether s is http(s)://HOST[:PORT][/PATH] with nothing another parser
 * could read differently: HOST a DNS name, an IPv4 literal or a bracketed
 * IPv6 literal; no userinfo, query, fragment, blank or control byte. */
int addr_url_ok(const char *s);

/* An allow_from entry, "10.0.0.0/8", "fd00::/8" or a single address:
 * the first prefix bits of net (network order; 4 bytes for IPv4). */
struct addr_cidr {
	unsigned char net[16];
	int is_ipv6;
	unsigned prefix;
};

/* Parse text; bits past the prefix must be zero ("10.0.0.1/8" is a
 * mistake, refused). 0, or -1 with the reason in err's msg. */
int addr_cidr_parse(const char *text, struct addr_cidr *out,
		    struct error *err);
/* Whether sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts
 * as IPv4) lies in c. Any other family: no. */
int addr_cidr_contains(const struct addr_cidr *c, const struct sockaddr *sa);
/* Whether some address lies in both. */
int addr_cidr_overlap(const struct addr_cidr *a, const struct addr_cidr *b);

#endif
