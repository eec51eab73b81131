/* Unit tests of cli_request.c, no daemon: a table of request bodies with
 * what each parses to or why it is refused; the cwd rule against real
 * directories and symlinks made for the test; and every allocation of a
 * parse and a cwd check made to fail in turn, each failure reported as
 * 500 "out of memory", never as an error left unset.
 *
 * The allocations fail through the linker, not through a hook in the
 * code under test: this program is linked with --wrap for malloc,
 * calloc, realloc and strdup (Makefile.am), which sends the calls that
 * carapace's own objects make to the __wrap_ functions below. json-c's
 * allocations, in its shared library, are not affected. */
#include "config.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_request.h"
#include "cu_run.h"

/* The fixture tools are built from string literals where the config
 * holds writable strings (it owns and frees its own); nothing here
 * writes through them, so -Wwrite-strings' const is dropped on purpose
 * in this file. */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"

/* --- allocation failure, injected ---------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

/* 0: no failure armed; n: the n-th allocation from now fails (and only
 * it). allocs counts the allocations seen while armed. */
static unsigned fail_at, allocs;

static int fails_now(void)
{
	if (fail_at == 0)
		return 0;
	if (++allocs != fail_at)
		return 0;
	errno = ENOMEM;
	return 1;
}

void *__wrap_malloc(size_t n)
{
	return fails_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fails_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fails_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fails_now() ? NULL : __real_strdup(s);
}

static void arm(unsigned n)
{
	fail_at = n;
	allocs = 0;
}

/* --- fixtures ------------------------------------------------------------ */

#define TOOL(allowed_v, allowed_n) \
	{ .name = "ct", .type = CFG_TOOL_CLI, \
	  .cli.cwd_allowed = { (allowed_v), (allowed_n) } }

static const struct cfg_tool plain_tool = TOOL(NULL, 0);

/* an error no function under test would write: shows whether one did */
static void poison(struct error *e)
{
	memset(e, 'x', sizeof(*e));
	e->key[sizeof(e->key) - 1] = '\0';
	e->msg[sizeof(e->msg) - 1] = '\0';
	e->status = -7;
}

static struct cli_request *parse(const struct cfg_tool *tool,
				 const char *body, struct error *e)
{
	poison(e);
	return cli_request_parse(tool, 0, body, strlen(body), e);
}

/* --- bodies -------------------------------------------------------------- */

struct good_case {
	const char *body;
	size_t argc;
	const char *argv[4];
	const char *stdin_data;  /* NULL: none */
	size_t stdin_len;
	const char *cwd;         /* NULL: none */
};

static void test_good_bodies(void)
{
	static const struct good_case cases[] = {
		{ "{\"argv\":[]}", 0, { NULL }, NULL, 0, NULL },
		{ " \n{\"argv\":[\"a\"]}\t\r\n", 1, { "a" }, NULL, 0, NULL },
		{ "{\"argv\":[\"item\",\"get\",\"a b\",\"\"]}", 4,
		  { "item", "get", "a b", "" }, NULL, 0, NULL },
		{ "{\"argv\":[\"x;rm -rf /\",\"$(id)\"]}", 2,
		  { "x;rm -rf /", "$(id)" }, NULL, 0, NULL },
		{ "{\"stdin\":\"a\\u0000b\",\"argv\":[\"cat\"]}", 1, { "cat" },
		  "a\0b", 3, NULL },
		{ "{\"argv\":[\"\\u00e9\"],\"stdin\":\"\",\"cwd\":\"/tmp\"}", 1,
		  { "\xc3\xa9" }, "", 0, "/tmp" },
		{ "{\"argv\":[],\"cwd\":\"relative/too\"}", 0, { NULL }, NULL,
		  0, "relative/too" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct good_case *c = &cases[i];
		struct error e;
		struct cli_request *r = parse(&plain_tool, c->body, &e);
		size_t argc = 99;

		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		char *const *argv = cli_request_argv(r, &argc);
		CU_ASSERT_EQUAL(argc, c->argc);
		for (size_t j = 0; j < c->argc && j < argc; j++)
			CU_ASSERT_STRING_EQUAL(argv[j], c->argv[j]);
		CU_ASSERT_PTR_NULL(argv[argc]);
		CU_ASSERT_EQUAL(r->stdin_data == NULL, c->stdin_data == NULL);
		CU_ASSERT_EQUAL(r->stdin_len, c->stdin_len);
		if (r->stdin_data != NULL && c->stdin_data != NULL)
			CU_ASSERT_EQUAL(memcmp(r->stdin_data, c->stdin_data,
					       c->stdin_len), 0);
		CU_ASSERT_EQUAL(r->cwd == NULL, c->cwd == NULL);
		if (r->cwd != NULL && c->cwd != NULL)
			CU_ASSERT_STRING_EQUAL(r->cwd, c->cwd);
		CU_ASSERT_EQUAL(r->cwd_fd, -1); /* parsed, not checked */
		CU_ASSERT_EQUAL(r->sse, 0);
		cli_request_free(r);
	}
}

struct bad_case {
	const char *body;
	const char *msg;  /* the whole message */
	const char *key;  /* the member at fault; "" none */
};

static void test_bad_bodies(void)
{
	static const struct bad_case cases[] = {
		{ "", "body is not JSON: empty", "" },
		{ " \r\n", "body is not JSON: empty", "" },
		{ "{\"argv\":[\"a\tb\"]}",
		  "body is not JSON: control character in a string", "" },
		{ "{\"argv\":[]", "body is not JSON: unexpected end of data",
		  "" },
		{ "{\"argv\":[]} x", "body is not JSON: unexpected character",
		  "" },
		{ "{\"argv\":[]}{}", "body is not JSON: unexpected character",
		  "" },
		{ "null", "body must be a JSON object", "" },
		{ "[\"argv\"]", "body must be a JSON object", "" },
		{ "\"argv\"", "body must be a JSON object", "" },
		{ "{}", "argv is required", "argv" },
		{ "{\"stdin\":\"x\"}", "argv is required", "argv" },
		{ "{\"argv\":\"ls\"}", "argv must be an array of strings",
		  "argv" },
		{ "{\"argv\":null}", "argv must be an array of strings",
		  "argv" },
		{ "{\"argv\":[1]}", "argv[0] must be a string without NUL",
		  "argv" },
		{ "{\"argv\":[\"a\",[\"b\"]]}",
		  "argv[1] must be a string without NUL", "argv" },
		{ "{\"argv\":[\"a\",\"b\",\"c\\u0000d\"]}",
		  "argv[2] must be a string without NUL", "argv" },
		{ "{\"argv\":[],\"stdin\":1}", "stdin must be a string",
		  "stdin" },
		{ "{\"argv\":[],\"stdin\":[\"x\"]}", "stdin must be a string",
		  "stdin" },
		{ "{\"argv\":[],\"cwd\":null}", "cwd must be a string", "cwd" },
		{ "{\"argv\":[],\"cwd\":\"/tmp\\u0000/etc\"}",
		  "cwd must be a string", "cwd" },
		{ "{\"argv\":[],\"env\":{}}", "unknown key env", "env" },
		{ "{\"argv\":[],\"Argv\":[]}", "unknown key Argv", "Argv" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];
		struct error e;

		CU_ASSERT_PTR_NULL(parse(&plain_tool, c->body, &e));
		CU_ASSERT_EQUAL(e.status, 400);
		CU_ASSERT_STRING_EQUAL(e.msg, c->msg);
		CU_ASSERT_STRING_EQUAL(e.key, c->key);
		if (strcmp(e.msg, c->msg) != 0)
			fprintf(stderr, "\n  %s: %s\n", c->body, e.msg);
	}
}

/* A body whose text is n copies of piece between head and tail. */
static char *repeat(const char *head, const char *piece, size_t n,
		    const char *tail)
{
	size_t hl = strlen(head), pl = strlen(piece), tl = strlen(tail);
	char *s = malloc(hl + pl * n + tl + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, head, hl);
	for (size_t i = 0; i < n; i++)
		memcpy(s + hl + i * pl, piece, pl);
	memcpy(s + hl + n * pl, tail, tl + 1);
	return s;
}

static void test_bounds(void)
{
	struct error e;
	size_t argc;

	/* many arguments: each one kept, in order */
	char *body = repeat("{\"argv\":[\"x\"", ",\"y\"", 9999, "]}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	struct cli_request *r = parse(&plain_tool, body, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	char *const *argv = cli_request_argv(r, &argc);
	CU_ASSERT_EQUAL(argc, 10000);
	CU_ASSERT_STRING_EQUAL(argv[0], "x");
	CU_ASSERT_STRING_EQUAL(argv[9999], "y");
	cli_request_free(r);
	free(body);

	/* the one bad argument named by its index, however far in */
	body = repeat("{\"argv\":[\"x\"", ",\"y\"", 4999, ",false]}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	CU_ASSERT_PTR_NULL(parse(&plain_tool, body, &e));
	CU_ASSERT_STRING_EQUAL(e.msg,
			       "argv[5000] must be a string without NUL");
	free(body);

	/* too deep, too costly: refused before json-c builds it */
	body = repeat("{\"argv\":", "[", 40, "");
	CU_ASSERT_PTR_NULL(parse(&plain_tool, body, &e));
	CU_ASSERT_EQUAL(e.status, 400);
	CU_ASSERT_STRING_EQUAL(e.msg,
			       "body refused: nesting too deep (over 32 "
			       "levels)");
	free(body);
	body = repeat("{\"argv\":[{}", ",{}", 100000, "]}");
	CU_ASSERT_PTR_NULL(parse(&plain_tool, body, &e));
	CU_ASSERT_EQUAL(e.status, 400);
	CU_ASSERT_EQUAL(strncmp(e.msg, "body refused: ", 14), 0);
	free(body);
}

/* --- cwd ----------------------------------------------------------------- */

static char base[PATH_MAX];   /* a fresh directory, its real path */

/* base/rel into out (PATH_MAX bytes); 0, or -1 when it does not fit. */
static int path_of(char *out, const char *rel)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", base, rel);

	return n > 0 && n < PATH_MAX ? 0 : -1;
}

static int make_tree(void)
{
	static const char *const dirs[] = { "allowed", "allowed/sub",
					    "allowed/sub/deep", "other",
					    "allowed-not" };
	static const char *const links[][2] = {
		{ "../other", "allowed/to-other" },
		{ "sub", "allowed/to-sub" },
		{ "allowed", "allowed-link" },
		{ "file", "allowed/to-file" },
	};
	char tmpl[] = "/tmp/test_cli_request.XXXXXX", p[PATH_MAX];

	if (mkdtemp(tmpl) == NULL || realpath(tmpl, base) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (path_of(p, dirs[i]) < 0 || mkdir(p, 0700) < 0)
			return -1;
	}
	if (path_of(p, "allowed/file") < 0)
		return -1;
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || close(fd) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (path_of(p, links[i][1]) < 0 ||
		    symlink(links[i][0], p) < 0)
			return -1;
	}
	return 0;
}

static int remove_tree(void)
{
	char cmd[PATH_MAX + 16];

	if (base[0] != '/')
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

struct cwd_case {
	const char *cwd;     /* "@x": base/x; else as it is */
	const char *allowed; /* one cwd_allowed entry, "@x" as cwd; NULL:
			      * none */
	const char *msg;     /* NULL: allowed; else the denial */
	const char *same_as; /* allowed: the directory it must hold open */
};

#define OUTSIDE "denied by policy: cwd is outside cwd_allowed"
#define SYMLINK \
	"denied by policy: cwd is not a directory reached without symlinks"
#define UNRESOLVED "denied by policy: cwd does not resolve"

static const struct cwd_case cwd_cases[] = {
	{ "@allowed", "@allowed", NULL, "@allowed" },
	{ "@allowed/", "@allowed", NULL, "@allowed" },
	{ "@allowed//sub/./deep", "@allowed", NULL, "@allowed/sub/deep" },
	{ "@allowed/sub/..", "@allowed", NULL, "@allowed" },
	{ "@allowed/sub", "@allowed/", NULL, "@allowed/sub" },
	{ "@other", "@allowed", OUTSIDE, NULL },
	{ "@allowed/..", "@allowed", OUTSIDE, NULL },
	{ "@allowed/../other", "@allowed", OUTSIDE, NULL },
	/* a name that merely starts like the allowed one */
	{ "@allowed-not", "@allowed", OUTSIDE, NULL },
	{ "/", "@allowed", OUTSIDE, NULL },
	/* the deeper rule does not allow what is above it */
	{ "@allowed", "@allowed/sub", OUTSIDE, NULL },
	/* symlinks: never followed, wherever they are, even to inside */
	{ "@allowed/to-other", "@allowed", SYMLINK, NULL },
	{ "@allowed/to-sub", "@allowed", SYMLINK, NULL },
	{ "@allowed-link/sub", "@allowed", SYMLINK, NULL },
	{ "@allowed/to-file", "@allowed", SYMLINK, NULL },
	{ "@allowed/file", "@allowed", SYMLINK, NULL },
	/* an allowed entry written through a symlink allows nothing */
	{ "@allowed", "@allowed-link", OUTSIDE, NULL },
	{ "@allowed/missing", "@allowed", UNRESOLVED, NULL },
	{ "/nonexistent-carapace-dir", "@allowed", UNRESOLVED, NULL },
	{ "allowed", "@allowed", "denied by policy: cwd is not an absolute "
				 "path", NULL },
	{ "", "@allowed", "denied by policy: cwd is not an absolute path",
	  NULL },
	{ "@allowed", NULL, "denied by policy: this tool takes no cwd", NULL },
};

static void expand(char *out, const char *s)
{
	if (s[0] == '@') {
		CU_ASSERT_FATAL(path_of(out, s + 1) == 0);
	} else {
		snprintf(out, PATH_MAX, "%s", s);
	}
}

static void check_cwd_case(const struct cwd_case *c)
{
	char cwd[PATH_MAX], allowed[PATH_MAX], want[PATH_MAX];
	char *allowed_v[1] = { allowed };
	const struct cfg_tool tool = TOOL(allowed_v, c->allowed ? 1 : 0);
	struct cli_request *r = cli_request_new(&tool, 0);
	struct error e;
	struct stat a, b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	expand(cwd, c->cwd);
	if (c->allowed != NULL)
		expand(allowed, c->allowed);
	CU_ASSERT_EQUAL_FATAL(cli_request_set_cwd(r, cwd), 0);
	poison(&e);
	int rc = cli_request_check_cwd(r, &e);
	CU_ASSERT_EQUAL(rc, c->msg ? -1 : 0);
	if (c->msg != NULL) {
		CU_ASSERT_EQUAL(e.status, 403);
		CU_ASSERT_STRING_EQUAL(e.msg, c->msg);
		CU_ASSERT_STRING_EQUAL(e.key, "cwd");
		CU_ASSERT_EQUAL(r->cwd_fd, -1);
		if (rc == 0 || strcmp(e.msg, c->msg) != 0)
			fprintf(stderr, "\n  %s: %s\n", c->cwd, e.msg);
	} else {
		expand(want, c->same_as);
		CU_ASSERT_FATAL(r->cwd_fd >= 0);
		CU_ASSERT_EQUAL(fstat(r->cwd_fd, &a), 0);
		CU_ASSERT_EQUAL(stat(want, &b), 0);
		CU_ASSERT(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
	}
	cli_request_free(r);
}

static void test_cwd(void)
{
	for (size_t i = 0; i < sizeof(cwd_cases) / sizeof(cwd_cases[0]); i++)
		check_cwd_case(&cwd_cases[i]);
}

/* No cwd asked: passes, nothing held open (the child runs in "/"). */
static void test_no_cwd(void)
{
	char *none[1] = { NULL };
	const struct cfg_tool tool = TOOL(none, 0);
	struct error e;
	struct cli_request *r = parse(&tool, "{\"argv\":[]}", &e);

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(cli_request_check_cwd(r, &e), 0);
	CU_ASSERT_EQUAL(r->cwd_fd, -1);
	cli_request_free(r);
}

/* A component longer than NAME_MAX resolves to nothing (and is not
 * copied past the buffer that holds one). */
static void test_cwd_long_name(void)
{
	char cwd[PATH_MAX], allowed[PATH_MAX];
	char *allowed_v[1] = { allowed };
	const struct cfg_tool tool = TOOL(allowed_v, 1);
	struct cli_request *r = cli_request_new(&tool, 0);
	struct error e;
	size_t n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_FATAL(path_of(allowed, "allowed") == 0);
	n = (size_t)snprintf(cwd, sizeof(cwd), "%s/", allowed);
	memset(cwd + n, 'a', NAME_MAX + 1);
	cwd[n + NAME_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(cli_request_set_cwd(r, cwd), 0);
	poison(&e);
	CU_ASSERT_EQUAL(cli_request_check_cwd(r, &e), -1);
	CU_ASSERT_EQUAL(e.status, 403);
	CU_ASSERT_STRING_EQUAL(e.msg, UNRESOLVED);
	cli_request_free(r);
}

/* --- out of memory ------------------------------------------------------- */

/* Fails each allocation of a parse of body in turn, until one parse
 * makes no more allocations than the failure waits for. Every failed
 * parse must say 500 "out of memory". The number of failures tried. */
static unsigned fail_each_allocation(const struct cfg_tool *tool,
				     const char *body)
{
	struct error e;
	unsigned n;

	for (n = 1; n < 1000; n++) {
		poison(&e);
		arm(n);
		struct cli_request *r = cli_request_parse(tool, 1, body,
							  strlen(body), &e);
		unsigned seen = allocs;
		arm(0);
		if (r != NULL) {
			CU_ASSERT(seen < n); /* nothing failed, or so it says */
			cli_request_free(r);
			break;
		}
		CU_ASSERT_EQUAL(e.status, 500);
		CU_ASSERT_STRING_EQUAL(e.msg, "out of memory");
		CU_ASSERT_STRING_EQUAL(e.key, "");
	}
	CU_ASSERT(n < 1000);
	return n - 1;
}

static void test_parse_out_of_memory(void)
{
	/* the request, each argument, its stdin and its cwd allocate */
	CU_ASSERT(fail_each_allocation(&plain_tool,
				       "{\"argv\":[\"a\",\"b\"],\"stdin\":"
				       "\"in\",\"cwd\":\"/tmp\"}") >= 6);
	CU_ASSERT(fail_each_allocation(&plain_tool, "{\"argv\":[]}") >= 2);
}

static void test_cwd_out_of_memory(void)
{
	char cwd[PATH_MAX];
	char *allowed_v[1] = { cwd };
	const struct cfg_tool tool = TOOL(allowed_v, 1);
	struct cli_request *r = cli_request_new(&tool, 0);
	struct error e;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_FATAL(path_of(cwd, "allowed") == 0);
	CU_ASSERT_EQUAL_FATAL(cli_request_set_cwd(r, cwd), 0);
	poison(&e);
	arm(1);
	int rc = cli_request_check_cwd(r, &e);
	arm(0);
	CU_ASSERT_EQUAL(rc, -1);
	CU_ASSERT_EQUAL(e.status, 500);
	CU_ASSERT_STRING_EQUAL(e.msg, "out of memory");
	CU_ASSERT_EQUAL(r->cwd_fd, -1);
	/* and with memory, the same request passes */
	CU_ASSERT_EQUAL(cli_request_check_cwd(r, &e), 0);
	CU_ASSERT(r->cwd_fd >= 0);
	cli_request_free(r);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("bodies", NULL, NULL);
	CU_add_test(s, "good bodies", test_good_bodies);
	CU_add_test(s, "bad bodies", test_bad_bodies);
	CU_add_test(s, "bounds", test_bounds);
	CU_add_test(s, "out of memory", test_parse_out_of_memory);
	s = CU_add_suite("cwd", make_tree, remove_tree);
	CU_add_test(s, "inside and outside cwd_allowed", test_cwd);
	CU_add_test(s, "no cwd", test_no_cwd);
	CU_add_test(s, "a name too long", test_cwd_long_name);
	CU_add_test(s, "out of memory", test_cwd_out_of_memory);
	return cu_run();
}
