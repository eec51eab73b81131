/* Tests for src/addr.c, table-driven: each case is a record, not code.
 * Parsing HOST:PORT (moved here from test_config.c), formatting, socket
 * addresses, sameness (the rule cfg.c's duplicate check and the server's
 * listener reuse share), loopback and upstream URLs. */
#include "config.h"

#include "addr.h"

#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cu_run.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define NAME64 \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"

struct addr_case {
	const char *text;
	int ok;
	const char *host;   /* when ok */
	unsigned short port;
	int is_ipv6;
	const char *why;    /* when not ok: substring */
};

#define WHY_FORM "expected HOST:PORT"
#define WHY_HOST "host must be a numeric IPv4 or [IPv6] address"
#define WHY_PORT "port must be 1..65535"

static const struct addr_case addr_cases[] = {
	{ "127.0.0.1:8765", 1, "127.0.0.1", 8765, 0, NULL },
	{ "0.0.0.0:1", 1, "0.0.0.0", 1, 0, NULL },
	{ "255.255.255.255:65535", 1, "255.255.255.255", 65535, 0, NULL },
	{ "[::1]:80", 1, "::1", 80, 1, NULL },
	{ "[::]:8080", 1, "::", 8080, 1, NULL },
	{ "[2001:db8::1]:443", 1, "2001:db8::1", 443, 1, NULL },
	{ "[::ffff:127.0.0.1]:8080", 1, "::ffff:127.0.0.1", 8080, 1, NULL },
	{ "", 0, NULL, 0, 0, WHY_FORM },
	{ "127.0.0.1", 0, NULL, 0, 0, WHY_FORM },
	{ "[::1]", 0, NULL, 0, 0, WHY_FORM },
	{ "[::1]80", 0, NULL, 0, 0, WHY_FORM },
	{ "[::1:80", 0, NULL, 0, 0, WHY_FORM },
	{ "localhost:80", 0, NULL, 0, 0, WHY_HOST },
	{ ":80", 0, NULL, 0, 0, WHY_HOST },
	{ "::1:80", 0, NULL, 0, 0, WHY_HOST },
	{ "[127.0.0.1]:80", 0, NULL, 0, 0, WHY_HOST },
	{ "[]:80", 0, NULL, 0, 0, WHY_HOST },
	{ "1.2.3:80", 0, NULL, 0, 0, WHY_HOST },
	{ "1.2.3.4.5:80", 0, NULL, 0, 0, WHY_HOST },
	{ " 1.2.3.4:80", 0, NULL, 0, 0, WHY_HOST },
	{ "[fe80::1%eth0]:80", 0, NULL, 0, 0, WHY_HOST },
	{ "[" NAME64 "]:80", 0, NULL, 0, 0, WHY_HOST },
	{ NAME64 ":80", 0, NULL, 0, 0, WHY_HOST },
	{ "[0000:0000:0000:0000:0000:ffff:255.255.255.255]:1", 1,
	  "0000:0000:0000:0000:0000:ffff:255.255.255.255", 1, 1, NULL },
	{ "1.2.3.4:80:81", 0, NULL, 0, 0, WHY_HOST },
	{ "1.2.3.4:0", 0, NULL, 0, 0, WHY_PORT },
	{ "1.2.3.4:65536", 0, NULL, 0, 0, WHY_PORT },
	{ "1.2.3.4:", 0, NULL, 0, 0, WHY_PORT },
	{ "1.2.3.4:+80", 0, NULL, 0, 0, WHY_PORT },
	{ "1.2.3.4:-1", 0, NULL, 0, 0, WHY_PORT },
	{ "1.2.3.4: 80", 0, NULL, 0, 0, WHY_PORT },
	{ "1.2.3.4:80x", 0, NULL, 0, 0, WHY_PORT },
	{ "1.2.3.4:80 ", 0, NULL, 0, 0, WHY_PORT },
	{ "1.2.3.4:0x50", 0, NULL, 0, 0, WHY_PORT },
	{ "1.2.3.4:99999999999999999999", 0, NULL, 0, 0, WHY_PORT },
	{ "[::1]:", 0, NULL, 0, 0, WHY_PORT },
};

static int run_addr_case(const struct addr_case *ac)
{
	struct addr a = { "untouched", 7, 7 };
	struct error why = { 0, "", "" };
	int rc = addr_parse(ac->text, &a, &why);
	int good;

	if (ac->ok)
		good = rc == 0 && strcmp(a.host, ac->host) == 0 &&
		       a.port == ac->port && a.is_ipv6 == ac->is_ipv6;
	else /* and the output left alone */
		good = rc == -1 && strstr(why.msg, ac->why) &&
		       strcmp(a.host, "untouched") == 0 && a.port == 7;
	if (!good)
		fprintf(stderr, "\n  address \"%s\": rc=%d why=\"%s\"\n",
			ac->text, rc, why.msg);
	return good;
}

static void test_parse_addr(void)
{
	struct addr a;
	struct error why = { 0, "", "" };
	size_t i;

	for (i = 0; i < N_ELEMS(addr_cases); i++)
		CU_ASSERT(run_addr_case(&addr_cases[i]));
	CU_ASSERT_EQUAL(addr_parse(NULL, &a, &why), -1);
	CU_ASSERT_STRING_EQUAL(why.msg, WHY_FORM);
	CU_ASSERT_EQUAL(addr_parse("1.2.3.4:0", &a, NULL), -1);
}

/* A parsed address, or a host that never went through addr_parse(). */
static struct addr mk(const char *host, unsigned short port, int v6)
{
	struct addr a = { .port = port, .is_ipv6 = v6 };

	snprintf(a.host, sizeof(a.host), "%s", host);
	return a;
}

struct same_case {
	const char *a, *b;      /* hosts */
	unsigned short pa, pb;
	int v6a, v6b;
	int same;
};

static const struct same_case same_cases[] = {
	{ "127.0.0.1", "127.0.0.1", 80, 80, 0, 0, 1 },
	{ "127.0.0.1", "127.0.0.1", 80, 81, 0, 0, 0 },
	{ "127.0.0.1", "127.0.0.2", 80, 80, 0, 0, 0 },
	{ "::1", "0::1", 80, 80, 1, 1, 1 },
	{ "::1", "0:0:0:0:0:0:0:1", 80, 80, 1, 1, 1 },
	{ "::", "::1", 80, 80, 1, 1, 0 },
	{ "2001:db8::1", "2001:DB8:0::1", 443, 443, 1, 1, 1 },
	/* families differ, even for one IPv4 host mapped */
	{ "::ffff:127.0.0.1", "127.0.0.1", 80, 80, 1, 0, 0 },
	{ "0.0.0.0", "::", 80, 80, 0, 1, 0 },
	/* hosts that do not parse (never out of addr_parse): as text, so an
	 * address is the same as itself (server.c's copy said never) */
	{ "bogus", "bogus", 80, 80, 0, 0, 1 },
	{ "bogus", "Bogus", 80, 80, 0, 0, 0 },
	{ "bogus", "127.0.0.1", 80, 80, 0, 0, 0 },
	{ "fe80::1%eth0", "fe80::1%eth0", 80, 80, 1, 1, 1 },
};

static void test_same(void)
{
	size_t i;

	for (i = 0; i < N_ELEMS(same_cases); i++) {
		const struct same_case *c = &same_cases[i];
		struct addr a = mk(c->a, c->pa, c->v6a);
		struct addr b = mk(c->b, c->pb, c->v6b);
		int ab = addr_same(&a, &b), ba = addr_same(&b, &a);

		if (ab != c->same || ba != c->same)
			fprintf(stderr, "\n  same(%s:%u, %s:%u) = %d/%d\n",
				c->a, c->pa, c->b, c->pb, ab, ba);
		CU_ASSERT_EQUAL(ab, c->same);
		CU_ASSERT_EQUAL(ba, c->same);
		CU_ASSERT(addr_same(&a, &a));
	}
}

struct format_case {
	const char *text;       /* parsed, then formatted back */
	const char *out;
	size_t size;            /* buffer given to addr_format */
};

static const struct format_case format_cases[] = {
	{ "127.0.0.1:8765", "127.0.0.1:8765", 64 },
	{ "[::1]:80", "[::1]:80", 64 },
	{ "[0::1]:80", "[0::1]:80", 64 },     /* as written */
	{ "127.0.0.1:8765", "127.0.0", 8 },   /* cut, terminated */
	{ "[::1]:80", "", 1 },
};

static void test_format(void)
{
	size_t i;

	for (i = 0; i < N_ELEMS(format_cases); i++) {
		const struct format_case *c = &format_cases[i];
		char buf[64];
		struct addr a;

		memset(buf, 'x', sizeof(buf));
		CU_ASSERT_EQUAL_FATAL(addr_parse(c->text, &a, NULL), 0);
		addr_format(&a, buf, c->size);
		CU_ASSERT_STRING_EQUAL(buf, c->out);
	}
}

static void test_sockaddr(void)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	struct addr a;

	CU_ASSERT_EQUAL_FATAL(addr_parse("127.0.0.2:8080", &a, NULL), 0);
	CU_ASSERT_EQUAL(addr_sockaddr(&a, &ss), 0);
	CU_ASSERT_EQUAL(s4->sin_family, AF_INET);
	CU_ASSERT_EQUAL(ntohs(s4->sin_port), 8080);
	CU_ASSERT_EQUAL(ntohl(s4->sin_addr.s_addr), 0x7f000002u);
	CU_ASSERT_EQUAL_FATAL(addr_parse("[::1]:443", &a, NULL), 0);
	CU_ASSERT_EQUAL(addr_sockaddr(&a, &ss), 0);
	CU_ASSERT_EQUAL(s6->sin6_family, AF_INET6);
	CU_ASSERT_EQUAL(ntohs(s6->sin6_port), 443);
	CU_ASSERT(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));
	a = mk("bogus", 80, 0);
	CU_ASSERT_EQUAL(addr_sockaddr(&a, &ss), -1);
	a = mk("127.0.0.1", 80, 1); /* family and host disagree */
	CU_ASSERT_EQUAL(addr_sockaddr(&a, &ss), -1);
}

struct loopback_case {
	const char *text;
	int loopback;
};

static const struct loopback_case loopback_cases[] = {
	{ "127.0.0.1:1", 1 },
	{ "127.255.255.254:1", 1 },
	{ "128.0.0.1:1", 0 },
	{ "0.0.0.0:1", 0 },
	{ "10.0.0.1:1", 0 },
	{ "[::1]:1", 1 },
	{ "[0:0:0:0:0:0:0:1]:1", 1 },
	/* only those two spellings, as the config always accepted */
	{ "[0::1]:1", 0 },
	{ "[::]:1", 0 },
	{ "[::ffff:127.0.0.1]:1", 0 },
};

static void test_loopback(void)
{
	size_t i;
	struct addr a;

	for (i = 0; i < N_ELEMS(loopback_cases); i++) {
		CU_ASSERT_EQUAL_FATAL(addr_parse(loopback_cases[i].text, &a,
						 NULL), 0);
		if (addr_is_loopback(&a) != loopback_cases[i].loopback)
			fprintf(stderr, "\n  loopback %s\n",
				loopback_cases[i].text);
		CU_ASSERT_EQUAL(addr_is_loopback(&a),
				loopback_cases[i].loopback);
	}
}

struct url_case {
	const char *url;
	int ok;
};

static const struct url_case url_cases[] = {
	{ "http://h", 1 },
	{ "https://h:443/", 1 },
	{ "http://127.0.0.1:18080/api", 1 },
	{ "http://[::1]:8080/x", 1 },
	{ "http://under_score.example", 1 },
	{ "ftp://h", 0 },
	{ "http://", 0 },
	{ "http://:80", 0 },
	{ "http://h:0", 0 },
	{ "http://h:65536", 0 },
	{ "http://h:", 0 },
	{ "http://u@h", 0 },
	{ "http://h/?q", 0 },
	{ "http://h/#f", 0 },
	{ "http://h /", 0 },
	{ "http://[::1", 0 },
	{ "http://[h]:80", 0 },
	{ "http://h%41", 0 },
	{ "HTTP://h", 0 },
};

static void test_url(void)
{
	size_t i;

	for (i = 0; i < N_ELEMS(url_cases); i++) {
		if (addr_url_ok(url_cases[i].url) != url_cases[i].ok)
			fprintf(stderr, "\n  url %s\n", url_cases[i].url);
		CU_ASSERT_EQUAL(addr_url_ok(url_cases[i].url),
				url_cases[i].ok);
	}
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("addr", NULL, NULL);
	CU_add_test(s, "addr_parse", test_parse_addr);
	CU_add_test(s, "addr_same", test_same);
	CU_add_test(s, "addr_format", test_format);
	CU_add_test(s, "addr_sockaddr", test_sockaddr);
	CU_add_test(s, "addr_is_loopback", test_loopback);
	CU_add_test(s, "addr_url_ok", test_url);
	return cu_run();
}
