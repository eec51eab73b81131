/* Integration tests of header handling: the real carapaced in front of the
 * test upstream's /raw mode, which answers the exact bytes of the request
 * head it received. Every assertion is on those bytes, read the way lenient
 * real servers read them (a bare CR or LF ends a line, as the JDK's server
 * does; blanks before the colon are ignored; names compare regardless of
 * case and of '-' versus '_', as CGI/WSGI upstreams see them), never on
 * what a strict parser made of them. Paths come from the environment (make
 * check sets them): CARAPACED, UPSTREAM. */
#include "config.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_run.h"
#include "testutil.h"

static char workdir[] = "/tmp/carapaced-headers-XXXXXX";
static pid_t up_pid = -1, gw_pid = -1;
static int up_port, gw_port;

/* ---- the lenient reader's view of a head ---- */

static int fold(int ch)
{
	if (ch == '_')
		return '-';
	return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

/* Whether name[0..len) is want, folded; prefix: want may be a prefix. */
static int folded_is(const char *name, size_t len, const char *want,
		     int prefix)
{
	size_t n = strlen(want);

	if (len < n || (!prefix && len != n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (fold((unsigned char)name[i]) !=
		    fold((unsigned char)want[i]))
			return 0;
	return 1;
}

/* Header lines of raw (the request line skipped), split at every CR and
 * LF, whose name (before the colon, trailing blanks dropped) is name
 * folded, or starts with it when prefix; with value non-NULL, only those
 * whose value (blanks trimmed) is exactly value. */
static int lenient_count(const char *raw, size_t len, const char *name,
			 int prefix, const char *value)
{
	const char *p = raw, *end = raw + len;
	int n = 0, first = 1;

	while (p < end) {
		const char *eol = p;
		while (eol < end && *eol != '\r' && *eol != '\n')
			eol++;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (!first && colon != NULL) {
			const char *ne = colon;
			while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
				ne--;
			const char *v = colon + 1, *ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (folded_is(p, (size_t)(ne - p), name, prefix) &&
			    (value == NULL ||
			     ((size_t)(ve - v) == strlen(value) &&
			      memcmp(v, value, (size_t)(ve - v)) == 0)))
				n++;
		}
		first = 0;
		p = eol + 1;
	}
	return n;
}

static int count_named(const char *raw, size_t len, const char *name)
{
	return lenient_count(raw, len, name, 0, NULL);
}

/* The exact bytes "\r\n<line>\r\n" are in raw. */
static int has_line(const char *raw, size_t len, const char *line)
{
	char want[256];
	int n = snprintf(want, sizeof(want), "\r\n%s\r\n", line);

	return n > 0 && memmem(raw, len, want, (size_t)n) != NULL;
}

static int contains(const char *raw, size_t len, const char *s)
{
	return memmem(raw, len, s, strlen(s)) != NULL;
}

/* Lines end in CRLF; no other control byte but HTAB anywhere. */
static int head_is_clean(const char *raw, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)raw[i];
		if (ch == '\r' && i + 1 < len && raw[i + 1] == '\n')
			i++;
		else if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return 0;
	}
	return 1;
}

/* ---- requests with every byte chosen ---- */

struct answer {
	int status;
	char *raw;          /* the head the upstream got (200 only) */
	size_t raw_len;
};

static void answer_free(struct answer *a)
{
	free(a->raw);
	memset(a, 0, sizeof(*a));
}

/* METHOD /tools/<tool>/raw with headers[0..len) as sent, byte for byte.
 * 0 when an answer was read, whatever its status. */
static int send_raw(const char *method, const char *tool, const char *headers,
		    size_t len, struct answer *a)
{
	char start[160], body[65536];
	struct tu_resp r = { 0 };
	size_t got = 0;
	ssize_t n;
	int fd = tu_connect(gw_port);
	int rc = -1;

	memset(a, 0, sizeof(*a));
	if (fd < 0)
		return -1;
	int k = snprintf(start, sizeof(start),
			 "%s /tools/%s/raw HTTP/1.1\r\nHost: 127.0.0.1\r\n",
			 method, tool);
	if (tu_send_all(fd, start, (size_t)k) < 0 ||
	    tu_send_all(fd, headers, len) < 0 ||
	    tu_send_all(fd, "\r\n", 2) < 0 || tu_read_head(&r, fd, 10000) < 0)
		goto out;
	a->status = r.status;
	if (strcmp(method, "HEAD") == 0)
		r.framing = TU_BODY_NONE;
	while ((n = tu_read_body(&r, body + got, sizeof(body) - 1 - got,
				 10000)) > 0)
		got += (size_t)n;
	if (n < 0)
		goto out;
	body[got] = '\0';
	rc = 0;
	if (a->status != 200)
		goto out;
	json_object *o = json_tokener_parse(body), *v;
	if (o != NULL && json_object_object_get_ex(o, "raw", &v)) {
		a->raw_len = (size_t)json_object_get_string_len(v);
		a->raw = malloc(a->raw_len + 1);
		if (a->raw != NULL)
			memcpy(a->raw, json_object_get_string(v),
			       a->raw_len + 1);
	}
	json_object_put(o);
	if (a->raw == NULL)
		rc = -1;
out:
	tu_resp_free(&r);
	close(fd);
	return rc;
}

static int send_text(const char *method, const char *tool,
		     const char *headers, struct answer *a)
{
	return send_raw(method, tool, headers, strlen(headers), a);
}

/* Requests the upstream has answered (not counting /_upstream/). */
static long upstream_requests(void)
{
	return tu_upstream_stat(up_port, "requests");
}

/* ---- set-up ---- */

static int write_config(const char *path)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"tools\": {\n"
		 "    \"creds\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"inject_headers\": {\n"
		 "        \"Authorization\": \"Bearer host-secret\",\n"
		 "        \"X-Api-Key\": \"k1\" } },\n"
		 "    \"plain\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\" },\n"
		 "    \"fwd\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"forward_headers\": [\"X-Forwarded-Proto\",\n"
		 "          \"X_HTTP_Method_Override\"] },\n"
		 "    \"xff\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"add_x_forwarded_for\": true },\n"
		 "    \"tracer\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"allow_http_methods\": [\"GET\", \"TRACE\"] }\n"
		 "  }\n}\n",
		 gw_port, up_port, up_port, up_port, up_port, up_port);
	return tu_write_file(path, text);
}

static int suite_init(void)
{
	const char *carapaced;
	char conf[600];

	up_pid = tu_suite_upstream(&carapaced, &up_port);
	gw_port = tu_free_port();
	snprintf(conf, sizeof(conf), "%s/carapaced.conf", workdir);
	if (up_pid < 0 || gw_port < 0 || write_config(conf) < 0)
		return -1;
	gw_pid = tu_start_daemon(&(struct tu_daemon){
		.conf = conf, .ports = { gw_port } });
	return gw_pid < 0 ? -1 : 0;
}

static int suite_clean(void)
{
	int rc = gw_pid > 0 ? tu_stop_daemon(gw_pid) : 0;

	if (up_pid > 0)
		tu_stop(up_pid);
	return rc;
}

/* ---- 1. control bytes and non-token names ---- */

struct raw_case {
	const char *label;
	const char *bytes;  /* header lines, each ending in CRLF */
	size_t len;         /* bytes may hold a NUL */
	int refused;        /* 400 from carapaced; else MHD settles it */
};

#define CASE(label, s, refused) { label, s, sizeof(s) - 1, refused }

/* Each smuggles, to a lenient reader, a header the client may not send.
 * carapaced refuses what MHD hands it; the rest MHD 0.9.75 settles
 * itself, and for those only the bytes upstream are checked: MHD ends a
 * value at a NUL and drops the rest of the line, refuses a NUL in a
 * name, ends the head at a line with an empty name and glues an
 * obs-fold continuation onto the name (with a blank: refused here). */
static const struct raw_case smuggling[] = {
	CASE("bare CR in a value",
	     "X-Foo: a\rAuthorization: Bearer ATTACKER\r\n", 1),
	CASE("bare CR, then a blank",
	     "X-Foo: a\r X-Api-Key: ATTACKER\r\n", 1),
	CASE("bare CR ending a value", "X-Foo: a\r\r\n", 1),
	CASE("SOH in a value", "X-Foo: a\001b\r\n", 1),
	CASE("ESC in a value", "X-Foo: \033[2J\r\n", 1),
	CASE("VT in a value", "X-Foo: a\vX-Api-Key: ATTACKER\r\n", 1),
	CASE("FF in a value", "X-Foo: a\fX-Api-Key: ATTACKER\r\n", 1),
	CASE("DEL in a value", "X-Foo: a\177b\r\n", 1),
	CASE("blank before the colon",
	     "Authorization : Bearer ATTACKER\r\n", 1),
	CASE("tab before the colon",
	     "Authorization\t: Bearer ATTACKER\r\n", 1),
	CASE("blank inside a name", "X Api-Key: ATTACKER\r\n", 1),
	CASE("separator in a name", "X-Api-Key(1): ATTACKER\r\n", 1),
	CASE("slash in a name", "X/Foo: a\r\n", 1),
	CASE("CR in a name", "X-Api\r-Key: ATTACKER\r\n", 1),
	CASE("SOH in a name", "X\001Foo: a\r\n", 1),
	CASE("8-bit byte in a name", "X-Caf\xc3\xa9: a\r\n", 1),
	CASE("obs-fold", "X-Foo: a\r\n X-Api-Key: ATTACKER\r\n", 1),
	CASE("NUL in a value",
	     "X-Foo: a\0\rAuthorization: Bearer ATTACKER\r\n", 0),
	CASE("NUL in a name", "X-Api-Key\0: ATTACKER\r\n", 0),
	CASE("empty name", ": ATTACKER\r\n", 0),
};

static const struct raw_case accepted[] = {
	CASE("HTAB in a value", "X-Foo: a\tb\r\n", 0),
	CASE("8-bit bytes in a value", "X-Foo: caf\xc3\xa9\r\n", 0),
	CASE("every tchar in a name", "!#$%&'*+-.^_`|~09AZaz: a\r\n", 0),
	CASE("empty value", "X-Foo:\r\n", 0),
};

/* A header block that smuggles a second header (or a byte a lenient
 * parser reads as one) is refused with 400 and never reaches upstream. */
static void test_control_bytes_refused(void)
{
	size_t n = sizeof(smuggling) / sizeof(smuggling[0]);

	for (size_t i = 0; i < n; i++) {
		const struct raw_case *t = &smuggling[i];
		long before = upstream_requests();
		struct answer a;

		CU_ASSERT_EQUAL_FATAL(send_raw("GET", "creds", t->bytes,
					       t->len, &a),
				      0);
		if (t->refused && a.status != 400)
			fprintf(stderr, "\n  %s: status %d, want 400\n",
				t->label, a.status);
		if (t->refused) {
			CU_ASSERT_EQUAL(a.status, 400);
			CU_ASSERT_EQUAL(upstream_requests(), before);
		}
		if (a.raw != NULL) {
			/* what a lenient upstream believed */
			CU_ASSERT(head_is_clean(a.raw, a.raw_len));
			CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len,
						    "Authorization"),
					1);
			CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len,
						    "X-Api-Key"),
					1);
			CU_ASSERT(!contains(a.raw, a.raw_len, "ATTACKER"));
		}
		answer_free(&a);
	}
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		const struct raw_case *t = &accepted[i];
		struct answer a;
		char line[64];

		CU_ASSERT_EQUAL_FATAL(send_raw("GET", "plain", t->bytes,
					       t->len, &a),
				      0);
		if (a.status != 200)
			fprintf(stderr, "\n  %s: status %d, want 200\n",
				t->label, a.status);
		CU_ASSERT_EQUAL(a.status, 200);
		snprintf(line, sizeof(line), "%.*s", (int)(t->len - 2),
			 t->bytes);
		/* curl writes an empty value as "X-Foo:" */
		if (a.raw != NULL && strcmp(line, "X-Foo:") != 0)
			CU_ASSERT(has_line(a.raw, a.raw_len, line));
		answer_free(&a);
	}
}

/* ---- 2. Connection tokens ---- */

/* The client's Connection list removes the client's own headers, never
 * the ones the host injects. */
static void test_connection_cannot_drop_injected(void)
{
	struct answer a;

	CU_ASSERT_EQUAL_FATAL(
		send_text("GET", "creds",
			  "Connection: X-Api-Key, Authorization\r\n"
			  "Connection: x_api_key,X-Scope\r\n"
			  "X-Scope: s\r\nX-Keep: k\r\n",
			  &a),
		0);
	CU_ASSERT_EQUAL(a.status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.raw);
	CU_ASSERT(head_is_clean(a.raw, a.raw_len));
	CU_ASSERT(has_line(a.raw, a.raw_len, "Authorization: Bearer "
					     "host-secret"));
	CU_ASSERT(has_line(a.raw, a.raw_len, "X-Api-Key: k1"));
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "Authorization"), 1);
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "X-Api-Key"), 1);
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "X-Scope"), 0);
	CU_ASSERT(has_line(a.raw, a.raw_len, "X-Keep: k"));
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "Connection"), 0);
	answer_free(&a);
}

/* ---- 3. underscore spellings ---- */

/* X_Api_Key is X-Api-Key to a CGI/WSGI upstream: a client header that
 * folds to an injected, credential or hop-by-hop name is dropped. */
static void test_underscore_spellings(void)
{
	const char *client = "X_Api_Key: ATTACKER\r\n"
			     "x_API-key: ATTACKER\r\n"
			     "AUTHORIZATION: Bearer ATTACKER\r\n"
			     "Proxy_Authorization: Basic eA==\r\n"
			     "Transfer_Encoding: chunked\r\n"
			     "Content_Length: 5\r\n"
			     "Keep_Alive: 5\r\n"
			     "Connection: X_Scope\r\n"
			     "X-Scope: s\r\n";
	struct answer a;

	CU_ASSERT_EQUAL_FATAL(send_text("GET", "creds", client, &a), 0);
	CU_ASSERT_EQUAL(a.status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.raw);
	CU_ASSERT(head_is_clean(a.raw, a.raw_len));
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "X-Api-Key"), 1);
	CU_ASSERT(has_line(a.raw, a.raw_len, "X-Api-Key: k1"));
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "Authorization"), 1);
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "Proxy-Authorization"),
			0);
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "Transfer-Encoding"),
			0);
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "Content-Length"), 0);
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "Keep-Alive"), 0);
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "X-Scope"), 0);
	CU_ASSERT(!contains(a.raw, a.raw_len, "ATTACKER"));
	answer_free(&a);

	/* where nothing is injected, the name is the client's to use */
	CU_ASSERT_EQUAL_FATAL(send_text("GET", "plain",
					"X_Api_Key: mine\r\n", &a),
			      0);
	CU_ASSERT_EQUAL(a.status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.raw);
	CU_ASSERT(has_line(a.raw, a.raw_len, "X_Api_Key: mine"));
	answer_free(&a);
}

/* ---- 4. spoofable and method-changing headers ---- */

static const char spoofs[] = "Forwarded: for=6.6.6.6\r\n"
			     "X-Forwarded-For: 6.6.6.6\r\n"
			     "X_Forwarded_For: 7.7.7.7\r\n"
			     "X-Forwarded-Host: evil.example\r\n"
			     "X-Forwarded-Proto: https\r\n"
			     "x-forwarded-prefix: /admin\r\n"
			     "X-Real-IP: 6.6.6.6\r\n"
			     "X_Real_Ip: 6.6.6.6\r\n"
			     "X-HTTP-Method-Override: DELETE\r\n"
			     "X-HTTP-Method: DELETE\r\n"
			     "X-Method-Override: DELETE\r\n"
			     "x_http_method_override: PUT\r\n";

static void expect_no_spoofs(const struct answer *a, int proto, int override)
{
	const char *r = a->raw;
	size_t n = a->raw_len;

	CU_ASSERT_EQUAL(count_named(r, n, "Forwarded"), 0);
	CU_ASSERT_EQUAL(count_named(r, n, "X-Forwarded-Host"), 0);
	CU_ASSERT_EQUAL(count_named(r, n, "X-Forwarded-Prefix"), 0);
	CU_ASSERT_EQUAL(count_named(r, n, "X-Forwarded-Proto"), proto);
	CU_ASSERT_EQUAL(count_named(r, n, "X-Real-IP"), 0);
	CU_ASSERT_EQUAL(count_named(r, n, "X-HTTP-Method"), 0);
	CU_ASSERT_EQUAL(count_named(r, n, "X-Method-Override"), 0);
	CU_ASSERT_EQUAL(count_named(r, n, "X-HTTP-Method-Override"),
			override);
	CU_ASSERT(!contains(r, n, "6.6.6.6"));
	CU_ASSERT(!contains(r, n, "7.7.7.7"));
}

static void test_spoofable_headers_dropped(void)
{
	struct answer a;

	CU_ASSERT_EQUAL_FATAL(send_text("GET", "plain", spoofs, &a), 0);
	CU_ASSERT_EQUAL(a.status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.raw);
	expect_no_spoofs(&a, 0, 0);
	CU_ASSERT_EQUAL(lenient_count(a.raw, a.raw_len, "X-Forwarded-", 1,
				      NULL),
			0);
	answer_free(&a);

	/* forward_headers lets the names it lists through, folded */
	CU_ASSERT_EQUAL_FATAL(send_text("GET", "fwd", spoofs, &a), 0);
	CU_ASSERT_EQUAL(a.status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.raw);
	expect_no_spoofs(&a, 1, 2);
	CU_ASSERT(has_line(a.raw, a.raw_len, "X-Forwarded-Proto: https"));
	CU_ASSERT(has_line(a.raw, a.raw_len, "X-HTTP-Method-Override: "
					     "DELETE"));
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "X-Forwarded-For"), 0);
	answer_free(&a);
}

/* add_x_forwarded_for: exactly one, carapaced's, whatever the client
 * sends or lists in Connection; no port. */
static void test_add_x_forwarded_for(void)
{
	char client[sizeof(spoofs) + 64];
	struct answer a;

	snprintf(client, sizeof(client), "%sConnection: X-Forwarded-For\r\n",
		 spoofs);
	CU_ASSERT_EQUAL_FATAL(send_text("GET", "xff", client, &a), 0);
	CU_ASSERT_EQUAL(a.status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.raw);
	expect_no_spoofs(&a, 0, 0);
	CU_ASSERT_EQUAL(count_named(a.raw, a.raw_len, "X-Forwarded-For"), 1);
	CU_ASSERT(has_line(a.raw, a.raw_len, "X-Forwarded-For: 127.0.0.1"));
	answer_free(&a);
}

/* ---- 5. TRACE and TRACK ---- */

static void expect_status(const char *method, const char *tool, int want)
{
	long before = upstream_requests();
	struct answer a;

	CU_ASSERT_EQUAL_FATAL(send_text(method, tool, "", &a), 0);
	if (a.status != want)
		fprintf(stderr, "\n  %s on %s: status %d, want %d\n", method,
			tool, a.status, want);
	CU_ASSERT_EQUAL(a.status, want);
	if (want != 200)
		CU_ASSERT_EQUAL(upstream_requests(), before);
	answer_free(&a);
}

/* A reflecting upstream would echo the injected secrets back. */
static void test_trace_track_refused(void)
{
	expect_status("TRACE", "creds", 405);
	expect_status("TRACK", "creds", 405);
	expect_status("TRACE", "plain", 405);
	expect_status("TRACK", "plain", 405);
	expect_status("trace", "plain", 405);
	expect_status("GET", "plain", 200);
	/* named in allow_http_methods: the operator asked for it */
	expect_status("TRACE", "tracer", 200);
	expect_status("TRACK", "tracer", 405);
	expect_status("GET", "tracer", 200);
}

int main(void)
{
	static pid_t *const children[] = { &gw_pid, &up_pid };

	tu_watchdog("test_headers", 300, children, 2);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("headers", suite_init, suite_clean);
	CU_add_test(s, "control bytes and non-token names refused",
		    test_control_bytes_refused);
	CU_add_test(s, "Connection cannot drop injected headers",
		    test_connection_cannot_drop_injected);
	CU_add_test(s, "underscore spellings", test_underscore_spellings);
	CU_add_test(s, "spoofable headers dropped",
		    test_spoofable_headers_dropped);
	CU_add_test(s, "add_x_forwarded_for", test_add_x_forwarded_for);
	CU_add_test(s, "TRACE and TRACK refused", test_trace_track_refused);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
