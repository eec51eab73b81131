/* The operator's addresses: allow_from networks (addr_cidr_parse), listen
 * addresses (addr_parse) and upstream URLs (addr_url_ok). A network that
 * parses contains its own base address and overlaps itself; an address
 * that parses formats to text that parses back to the same address. */
#include "config.h"

#include <netinet/in.h>

#include "addr.h"
#include "fuzz.h"

static void check_cidr(const char *text)
{
	struct addr_cidr c;
	struct error err;

	if (addr_cidr_parse(text, &c, &err) < 0)
		return;
	if ((c.is_ipv6 && c.prefix > 128) || (!c.is_ipv6 && c.prefix > 32))
		abort();
	struct sockaddr_storage ss = { 0 };
	if (c.is_ipv6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, c.net, 16);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, c.net, 4);
	}
	if (!addr_cidr_contains(&c, (struct sockaddr *)&ss) ||
	    !addr_cidr_overlap(&c, &c))
		abort();
}

static void check_addr(const char *text)
{
	struct addr a, b;
	struct error err;
	char buf[128];

	if (addr_parse(text, &a, &err) < 0)
		return;
	addr_format(&a, buf, sizeof(buf));
	if (addr_parse(buf, &b, &err) < 0 || !addr_same(&a, &b))
		abort();
	struct sockaddr_storage ss;
	addr_sockaddr(&a, &ss);
	addr_is_loopback(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);

	if (text == NULL)
		return 0;
	check_cidr(text);
	check_addr(text);
	addr_url_ok(text);
	free(text);
	return 0;
}
