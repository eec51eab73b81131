/* Tests for src/identity.c: which client a request proves to be, from a
 * table of peers and Authorization headers against one config; the
 * header's strict parse; and that secret_equal reads the whole hash
 * (a memcmp-like early exit would pass unnoticed by timing in a unit
 * test, so the test makes the last byte unreadable instead). */
#include "config.h"

#include "identity.h"

#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cu_run.h"
#include "revoked.h"
#include "secret.h"
#include "text.h"

static struct cfg *cfg;

/* tokens of the clients (their hashes go in the config) */
#define TOK_A "tokenA-0123456789"
#define TOK_B "tokenB-0123456789"

static int hex_of(const char *token, char out[SECRET_HEX_LEN + 1])
{
	unsigned char h[SECRET_HASH_LEN];

	if (secret_sha256(token, strlen(token), h) < 0)
		return -1;
	secret_hex_format(h, out);
	return 0;
}

static int setup(void)
{
	char ha[SECRET_HEX_LEN + 1], hb[SECRET_HEX_LEN + 1], json[2048];
	struct error err;

	if (hex_of(TOK_A, ha) < 0 || hex_of(TOK_B, hb) < 0)
		return 1;
	snprintf(json, sizeof(json),
		 "{\"listen\":[\"127.0.0.1:1\",\"unix:/run/x.sock\","
		 "{\"address\":\"0.0.0.0:2\",\"tls_cert\":\"/c\","
		 "\"tls_key\":\"/k\",\"tls_client_ca\":\"/ca\"}],"
		 "\"tools\":{\"t\":{\"type\":\"http\",\"upstream\":\"http://h\"}},"
		 "\"clients\":{"
		 "\"a\":{\"token_sha256\":\"%s\",\"tools\":[\"t\"]},"
		 "\"b\":{\"token_sha256\":\"%s\","
		 "\"allow_from\":[\"10.0.0.0/8\",\"fd00::/8\"],"
		 "\"tools\":[\"t\"]},"
		 "\"addr\":{\"allow_from\":[\"192.168.1.5/32\"],"
		 "\"tools\":[\"t\"]},"
		 "\"box\":{\"unix_peer_uids\":[1000],\"unix_peer_gids\":[50],"
		 "\"tools\":[\"t\"]},"
		 "\"cert\":{\"tls_client_cn\":\"agent-7.example\","
		 "\"allow_from\":[\"172.16.0.0/12\"],"
		 "\"tools\":[\"t\"]}}}",
		 ha, hb);
	if (cfg_load_string(json, &cfg, &err) < 0) {
		fprintf(stderr, "config: %s: %s\n", err.key, err.msg);
		return 1;
	}
	return 0;
}

static int teardown(void)
{
	cfg_release(cfg);
	return 0;
}

/* ---- peers ---- */

static struct sockaddr_in v4(const char *ip)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };

	inet_pton(AF_INET, ip, &sa.sin_addr);
	return sa;
}

static struct sockaddr_in6 v6(const char *ip)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };

	inet_pton(AF_INET6, ip, &sa.sin6_addr);
	return sa;
}

static struct identity_peer tcp(const void *sa)
{
	return (struct identity_peer){ .addr = sa };
}

/* "Basic " + base64(text) */
static char *basic(const char *text)
{
	size_t n;
	char *b = text_base64_encode(text, strlen(text), &n);
	char *h = malloc(n + 7);

	snprintf(h, n + 7, "Basic %s", b);
	free(b);
	return h;
}

/* who (NULL: 401 expected) with err's message containing why */
static void expect(const struct identity_peer *p, const char *auth,
		   const char *who, const char *why)
{
	const struct cfg_client *cl = (void *)1;
	struct error err = { 0 };
	int rc = identity_of(cfg, p, auth, &cl, &err);

	if (who != NULL) {
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
		CU_ASSERT_STRING_EQUAL(cl->name, who);
		return;
	}
	CU_ASSERT_EQUAL(rc, -1);
	CU_ASSERT_PTR_NULL(cl);
	CU_ASSERT_EQUAL(err.status, 401);
	if (why != NULL && strstr(err.msg, why) == NULL) {
		fprintf(stderr, "\n  got \"%s\", expected \"%s\"\n", err.msg,
			why);
		CU_FAIL("message");
	}
	/* the token is never echoed */
	CU_ASSERT_PTR_NULL(strstr(err.msg, "token" "A"));
	CU_ASSERT_PTR_NULL(strstr(err.msg, "0123456789"));
}

static void test_bearer(void)
{
	struct sockaddr_in lo = v4("127.0.0.1"), ten = v4("10.1.2.3");
	struct sockaddr_in6 six = v6("fd00::5"), mapped = v6("::ffff:10.9.9.9");
	struct identity_peer p = tcp(&lo);

	expect(&p, "Bearer " TOK_A, "a", NULL);
	expect(&p, "bearer " TOK_A, "a", NULL);
	expect(&p, "BEARER " TOK_A, "a", NULL);
	expect(&p, "Bearer nope", NULL, "match no client");
	/* b's token from outside its networks */
	expect(&p, "Bearer " TOK_B, NULL, "allow_from");
	p = tcp(&ten);
	expect(&p, "Bearer " TOK_B, "b", NULL);
	p = tcp(&six);
	expect(&p, "Bearer " TOK_B, "b", NULL);
	p = tcp(&mapped);
	expect(&p, "Bearer " TOK_B, "b", NULL);
	/* a token client on a unix socket: no address, so b cannot match */
	p = (struct identity_peer){ .is_unix = 1, .has_cred = 1, .uid = 7 };
	expect(&p, "Bearer " TOK_A, "a", NULL);
	expect(&p, "Bearer " TOK_B, NULL, "allow_from");
}

static void test_basic(void)
{
	struct sockaddr_in lo = v4("127.0.0.1");
	struct identity_peer p = tcp(&lo);
	char *h;

	expect(&p, h = basic("a:" TOK_A), "a", NULL), free(h);
	expect(&p, h = basic("b:" TOK_A), NULL, "match no client"), free(h);
	expect(&p, h = basic("a:" TOK_B), NULL, "match no client"), free(h);
	expect(&p, h = basic("nobody:" TOK_A), NULL, NULL), free(h);
	/* the password holds ':' after the first: still the token */
	expect(&p, h = basic("a:x:y"), NULL, "match no client"), free(h);
	expect(&p, h = basic("a" TOK_A), NULL, "NAME:TOKEN"), free(h);
	expect(&p, h = basic("a:"), NULL, "empty"), free(h);
	expect(&p, h = basic(":" TOK_A), NULL, "empty"), free(h);
	expect(&p, "basic YTp0b2tlbkEtMDEyMzQ1Njc4OQ==", "a", NULL);
	expect(&p, "Basic YTp0b2tlbkEtMDEyMzQ1Njc4OQ", NULL, "base64");
	expect(&p, "Basic !!!!", NULL, NULL);
	expect(&p, "Basic YTp0b2tlbkEtMDEyMzQ1Njc4OQ==x", NULL, NULL);
	/* a NUL inside: "a\0:tok" */
	expect(&p, "Basic YQA6dG9r", NULL, "NAME:TOKEN");
}

static void test_malformed(void)
{
	struct sockaddr_in lo = v4("127.0.0.1");
	struct identity_peer p = tcp(&lo);
	size_t big = 64 * 1024;
	char *huge = malloc(big + 8);

	expect(&p, "", NULL, "scheme");
	expect(&p, "Bearer", NULL, "one space");
	expect(&p, "Bearer ", NULL, "one space");
	expect(&p, "Bearer  " TOK_A, NULL, "one space");
	expect(&p, " Bearer " TOK_A, NULL, "scheme");
	expect(&p, "Bearer " TOK_A " ", NULL, "one space");
	expect(&p, "Bearer\t" TOK_A, NULL, "scheme");
	expect(&p, "Bearer " TOK_A " x", NULL, NULL);
	expect(&p, "Bearerx " TOK_A, NULL, "scheme");
	expect(&p, "Token " TOK_A, NULL, "scheme");
	expect(&p, "Digest username=\"a\"", NULL, "scheme");
	expect(&p, "Bearer =abc", NULL, NULL);
	expect(&p, "Bearer tok\"en", NULL, NULL);
	memcpy(huge, "Bearer ", 7);
	memset(huge + 7, 'x', big);
	huge[7 + big] = '\0';
	expect(&p, huge, NULL, "longer than");
	memcpy(huge, "Basic ", 6);
	memset(huge + 6, 'Q', big);
	huge[6 + big] = '\0';
	expect(&p, huge, NULL, "longer than");
	free(huge);
	/* an address-only client cannot be reached with a header the parser
	 * refuses (fail closed), nor with any header at all */
	struct sockaddr_in home = v4("192.168.1.5");
	p = tcp(&home);
	expect(&p, NULL, "addr", NULL);
	expect(&p, "Bearer junk", NULL, NULL);
	expect(&p, "Bogus", NULL, "scheme");
}

static void test_peer_only(void)
{
	struct sockaddr_in home = v4("192.168.1.5"), other = v4("192.168.1.6");
	struct sockaddr_in agent = v4("172.16.0.9");
	struct identity_peer p = tcp(&other);
	const char *names[] = { "other", "agent-7.example", "AGENT-7.example" };

	expect(&p, NULL, NULL, "authentication required");
	p = tcp(&home);
	expect(&p, NULL, "addr", NULL);
	/* on a unix socket: no address */
	p = (struct identity_peer){ .is_unix = 1, .has_cred = 1, .uid = 1000,
				    .gid = 1 };
	expect(&p, NULL, "box", NULL);
	p.uid = 1001;
	expect(&p, NULL, NULL, NULL);
	p.gid = 50;
	expect(&p, NULL, "box", NULL);
	p.has_cred = 0; /* SO_PEERCRED failed: nothing proven */
	expect(&p, NULL, NULL, NULL);
	p = (struct identity_peer){ .is_unix = 0, .uid = 1000,
				    .addr = (const void *)&home };
	expect(&p, "Bearer " TOK_A, "a", NULL);
	/* certificates: verified, and a name that is tls_client_cn */
	p = (struct identity_peer){ .addr = (const void *)&agent, .tls = 1,
				    .cert_verified = 1, .cert_names = names,
				    .n_cert_names = 1 };
	expect(&p, NULL, NULL, NULL);
	p.n_cert_names = 2;
	expect(&p, NULL, "cert", NULL);
	p.cert_names = names + 2;
	p.n_cert_names = 1;
	expect(&p, NULL, "cert", NULL);
	p.cert_names = names;
	p.n_cert_names = 2;
	p.cert_verified = 0;
	expect(&p, NULL, NULL, NULL);
	p.cert_verified = 1;
	p.tls = 0;
	expect(&p, NULL, NULL, NULL);
}

/* ---- secret_equal reads every byte ---- */

/* In a child: a and b differ at byte 0; b's last byte is the first of a
 * page that cannot be read. A comparison that stops at the first
 * difference returns; one that reads the whole hash faults. */
static int child_compares(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char a[SECRET_HASH_LEN];

	if (map == MAP_FAILED)
		return 2;
	unsigned char *b = map + pg - (SECRET_HASH_LEN - 1);
	memset(a, 0x11, sizeof(a));
	memset(b, 0x22, SECRET_HASH_LEN - 1);
	if (mprotect(map + pg, (size_t)pg, PROT_NONE) < 0)
		return 2;
	signal(SIGSEGV, SIG_DFL);
	volatile int r = secret_equal(a, b, SECRET_HASH_LEN);
	(void)r;
	return 0; /* it stopped early */
}

static int run_child(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(child_compares());
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

static void test_secret_equal_reads_all(void)
{
	int st = run_child();

	CU_ASSERT_FATAL(st != -1);
	CU_ASSERT(WIFSIGNALED(st));
	if (WIFSIGNALED(st))
		CU_ASSERT_EQUAL(WTERMSIG(st), SIGSEGV);
	if (WIFEXITED(st))
		fprintf(stderr, "\n  the comparison stopped early (exit %d)\n",
			WEXITSTATUS(st));
}

/* And that equal and unequal hashes are told apart at every position. */
static void test_secret_equal_values(void)
{
	unsigned char a[SECRET_HASH_LEN], b[SECRET_HASH_LEN];

	memset(a, 7, sizeof(a));
	memcpy(b, a, sizeof(b));
	CU_ASSERT_EQUAL(secret_equal(a, b, sizeof(a)), 1);
	for (size_t i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x80;
		CU_ASSERT_EQUAL(secret_equal(a, b, sizeof(a)), 0);
		b[i] ^= 0x80;
	}
}

/* The revocation file: every word of a line is a name, '#' a comment; a
 * missing file names nobody, an unreadable one is an error that leaves
 * the set as it was. */
static void test_revoked_file(void)
{
	char dir[] = "/tmp/carapace-revoked-XXXXXX", path[128];
	struct revoked *r = revoked_new();
	struct error err;
	FILE *f;

	CU_ASSERT_FATAL(r != NULL && mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/revoked", dir);
	CU_ASSERT_EQUAL(revoked_load(r, path, &err), 0); /* missing */
	CU_ASSERT_EQUAL(revoked_count(r), 0);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("# revoked\nalice\n  bob carol # both\r\n\n#dave\neve#x\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(revoked_load(r, path, &err), 0);
	CU_ASSERT_EQUAL(revoked_count(r), 4);
	CU_ASSERT(revoked_has(r, "alice") && revoked_has(r, "bob") &&
		  revoked_has(r, "carol") && revoked_has(r, "eve"));
	CU_ASSERT(!revoked_has(r, "dave") && !revoked_has(r, "both") &&
		  !revoked_has(r, "#"));
	/* a directory cannot be read as the file: refused, set kept */
	CU_ASSERT_EQUAL(revoked_load(r, dir, &err), -1);
	CU_ASSERT(strstr(err.msg, dir) != NULL);
	CU_ASSERT_EQUAL(revoked_count(r), 4);
	unlink(path);
	rmdir(dir);
	revoked_free(r);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("identity", setup, teardown);
	if (s == NULL || !CU_add_test(s, "Bearer", test_bearer) ||
	    !CU_add_test(s, "Basic", test_basic) ||
	    !CU_add_test(s, "malformed Authorization", test_malformed) ||
	    !CU_add_test(s, "address, unix peer, certificate",
			 test_peer_only) ||
	    !CU_add_test(s, "secret_equal reads the whole hash",
			 test_secret_equal_reads_all) ||
	    !CU_add_test(s, "secret_equal values", test_secret_equal_values) ||
	    !CU_add_test(s, "the revocation file", test_revoked_file)) {
		CU_cleanup_registry();
		return 1;
	}
	return cu_run();
}
