/* Checks of the manual pages in $SRCDIR/man: each formats without a
 * warning (groff -man -ww -z), has the sections its kind needs, and
 * carapaced.conf(5) documents every key the parser knows (cfg_key_at)
 * as a bold term; carapaced(8) its options and signals. */
#include "config.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfg.h"
#include "cu_run.h"

#define MAX_TERMS 4096

/* The pages there must be, and the sections each must have. */
struct page {
	const char *file;
	const char *sections[12];
};

#define COMMON "NAME", "SYNOPSIS", "DESCRIPTION"
#define TAIL "FILES", "EXAMPLES", "SEE ALSO"
static const struct page pages[] = {
	{ "carapaced.8",
	  { COMMON, "OPTIONS", "SIGNALS", "EXIT STATUS", TAIL, NULL } },
	{ "carapaced.conf.5", { COMMON, TAIL, NULL } },
	{ "carapacectl.8", { COMMON, "OPTIONS", "EXIT STATUS", TAIL, NULL } },
	{ "carapace-shim.1",
	  { COMMON, "OPTIONS", "EXIT STATUS", TAIL, NULL } },
};
#define N_PAGES (sizeof(pages) / sizeof(pages[0]))

/* A failure with a message made at run time (CUnit copies it). */
static void fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "test_docs: %s\n", msg);
	CU_assertImplementation(CU_FALSE, __LINE__, msg, __FILE__, "", CU_FALSE);
}

static const char *man_dir(char *buf, size_t len)
{
	const char *src = getenv("SRCDIR");

	snprintf(buf, len, "%s/man", src && *src ? src : ".");
	return buf;
}

/* The whole file, NUL-terminated, or NULL (a failure recorded). */
static char *slurp(const char *file)
{
	char dir[4096], path[4200], *text = NULL;
	size_t len = 0, cap = 0, n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", man_dir(dir, sizeof(dir)), file);
	f = fopen(path, "r");
	if (f == NULL) {
		fail("%s: %s", path, strerror(errno));
		return NULL;
	}
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			char *t = realloc(text, cap + 1);
			if (t == NULL)
				break;
			text = t;
		}
		n = fread(text + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	if (text != NULL)
		text[len] = '\0';
	return text;
}

/* ---- formatting ---- */

/* groff's diagnostics for path into out; its exit status, or -1. */
static int run_groff(const char *path, char *out, size_t len)
{
	int fds[2], status;
	size_t used = 0;
	char chunk[1024];
	ssize_t n;
	pid_t pid;

	out[0] = '\0';
	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execlp("groff", "groff", "-man", "-ww", "-z", path, (char *)NULL);
		fprintf(stderr, "cannot run groff: %s\n", strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	/* all of it is read, what fits is kept */
	while ((n = read(fds[0], chunk, sizeof(chunk))) > 0 ||
	       (n < 0 && errno == EINTR)) {
		size_t keep = n > 0 ? (size_t)n : 0;
		if (keep > len - 1 - used)
			keep = len - 1 - used;
		memcpy(out + used, chunk, keep);
		used += keep;
	}
	out[used] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Every page in man/, not only the known ones: none may warn. */
static void test_groff_clean(void)
{
	char dir[4096], path[4096 + 256], out[8192];
	unsigned seen = 0;
	struct dirent *e;
	DIR *d = opendir(man_dir(dir, sizeof(dir)));

	if (d == NULL) {
		fail("%s: %s", dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n < 3 || e->d_name[n - 2] != '.' ||
		    e->d_name[n - 1] < '1' || e->d_name[n - 1] > '8')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		int rc = run_groff(path, out, sizeof(out));
		if (rc != 0 || out[0] != '\0')
			fail("groff -man -ww -z %s: exit %d, said: %s",
			     e->d_name, rc, out);
		seen++;
	}
	closedir(d);
	CU_ASSERT(seen >= N_PAGES);
}

/* ---- sections ---- */

static int has_section(const char *text, const char *name)
{
	size_t len = strlen(name);

	for (const char *l = text, *nl; l != NULL; l = nl ? nl + 1 : NULL) {
		nl = strchr(l, '\n');
		if (strncmp(l, ".SH", 3) != 0 || (l[3] != ' ' && l[3] != '\t'))
			continue;
		const char *p = l + 3;
		while (*p == ' ' || *p == '\t')
			p++;
		int quoted = *p == '"';
		p += quoted;
		if (strncmp(p, name, len) != 0)
			continue;
		p += len;
		if (quoted && *p == '"')
			p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\n' || *p == '\0')
			return 1;
	}
	return 0;
}

static void test_sections(void)
{
	for (size_t i = 0; i < N_PAGES; i++) {
		char *text = slurp(pages[i].file);
		if (text == NULL)
			continue;
		for (const char *const *s = pages[i].sections; *s; s++)
			if (!has_section(text, *s))
				fail("%s: no section %s", pages[i].file, *s);
		free(text);
	}
}

/* .TH names the page: ".TH CARAPACED.CONF 5 ..." for carapaced.conf.5. */
static void test_titles(void)
{
	for (size_t i = 0; i < N_PAGES; i++) {
		char *text = slurp(pages[i].file), want[128];
		if (text == NULL)
			continue;
		const char *f = pages[i].file, *dot = strrchr(f, '.');
		size_t n = 0;
		for (const char *p = f; p < dot && n < 100; p++)
			want[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		snprintf(want + n, sizeof(want) - n, " %s ", dot + 1);
		char *th = strncmp(text, ".TH ", 4) == 0 ? text + 4 : NULL;
		if (th == NULL || strncmp(th, want, strlen(want)) != 0)
			fail("%s: does not start with .TH %s", f, want);
		free(text);
	}
}

/* ---- bold terms ---- */

struct terms {
	char *v[MAX_TERMS];
	size_t n;
};

/* A term as it reads: without \& \% \: and with \- as -. */
static void add_term(struct terms *t, const char *s, size_t len)
{
	char *out;
	size_t n = 0;

	if (t->n == MAX_TERMS || (out = malloc(len + 1)) == NULL)
		return;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len &&
		    strchr("&%:", s[i + 1]) != NULL) {
			i++;
			continue;
		}
		if (s[i] == '\\' && i + 1 < len && s[i + 1] == '-')
			i++;
		out[n++] = s[i];
	}
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == ','))
		n--;
	out[n] = '\0';
	t->v[t->n++] = out;
}

/* Inline \fB...\fR (or \fP, \fI, any other font change). */
static void inline_bold(struct terms *t, const char *l, const char *end)
{
	const char *p = l;

	while ((p = strstr(p, "\\fB")) != NULL && p < end) {
		const char *b = p + 3, *q = b;
		while (q < end && !(q[0] == '\\' && q[1] == 'f'))
			q++;
		add_term(t, b, (size_t)(q - b));
		p = q;
	}
}

/* A macro line's arguments, as troff splits them. */
static size_t split_args(const char *p, const char *end, const char **arg,
			 size_t *len, size_t max)
{
	size_t n = 0;

	while (n < max) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p >= end)
			break;
		if (*p == '"') {
			const char *b = ++p;
			while (p < end && !(*p == '"' && (p + 1 >= end ||
							   p[1] != '"')))
				p += *p == '"' ? 2 : 1;
			arg[n] = b;
			len[n++] = (size_t)(p - b);
			p++;
		} else {
			arg[n] = p;
			while (p < end && *p != ' ' && *p != '\t')
				p++;
			len[n] = (size_t)(p - arg[n]);
			n++;
		}
	}
	return n;
}

/* Every bold piece of text of a page. */
static void bold_terms(const char *text, struct terms *t)
{
	const char *l = text;

	t->n = 0;
	while (*l != '\0') {
		const char *end = strchr(l, '\n');
		if (end == NULL)
			end = l + strlen(l);
		inline_bold(t, l, end);
		/* .B: all bold; .BR .BI: 1st, 3rd...; .RB .IB: 2nd, 4th... */
		int first = -1, step = 2;
		if (strncmp(l, ".B ", 3) == 0)
			first = 0, step = 1;
		else if (strncmp(l, ".BR ", 4) == 0 || strncmp(l, ".BI ", 4) == 0)
			first = 0;
		else if (strncmp(l, ".RB ", 4) == 0 || strncmp(l, ".IB ", 4) == 0)
			first = 1;
		if (first >= 0) {
			const char *arg[16];
			size_t len[16];
			size_t n = split_args(strchr(l, ' '), end, arg, len, 16);
			for (size_t i = (size_t)first; i < n; i += (size_t)step)
				add_term(t, arg[i], len[i]);
			if (step == 1 && n > 1) /* .B POST /v1/reload */
				add_term(t, arg[0],
					 (size_t)(arg[n - 1] + len[n - 1] -
						  arg[0]));
		}
		l = *end ? end + 1 : end;
	}
}

static int is_term(const struct terms *t, const char *word)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i], word) == 0)
			return 1;
	return 0;
}

static void free_terms(struct terms *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	t->n = 0;
}

/* Each known key, by its last component: "tools.*.audit.log_body" is
 * documented as log_body. */
static void test_conf_keys(void)
{
	static struct terms t;
	char *text = slurp("carapaced.conf.5");
	size_t n = 0;

	if (text == NULL)
		return;
	bold_terms(text, &t);
	for (; n < cfg_key_count(); n++) {
		const char *k = cfg_key_at(n)->path;
		const char *last = strrchr(k, '.');
		last = last ? last + 1 : k;
		if (!is_term(&t, last))
			fail("carapaced.conf.5: key %s (%s) is not a bold term",
			     last, k);
	}
	CU_ASSERT(n >= 30); /* the list itself is there */
	if (!is_term(&t, "run_tools_as_root"))
		fail("carapaced.conf.5: run_tools_as_root is not a bold term");
	free_terms(&t);
	free(text);
}

/* The command line and the signals of carapaced. */
static void test_daemon_page(void)
{
	static const char *const words[] = {
		"-c", "--config", "-f", "--foreground", "-t", "--test-config",
		"-p", "--pidfile", "-u", "--user", "-d", "--debug",
		"-V", "--version", "-h", "--help",
		"SIGHUP", "SIGUSR1", "SIGTERM", "SIGINT",
		"POST /v1/reload", "run_tools_as_root", NULL
	};
	static struct terms t;
	char *text = slurp("carapaced.8");

	if (text == NULL)
		return;
	bold_terms(text, &t);
	for (const char *const *w = words; *w; w++)
		if (!is_term(&t, *w))
			fail("carapaced.8: %s is not a bold term", *w);
	free_terms(&t);
	free(text);
}

/* The checker itself: what it must find and what it must not. */
static void test_term_parser(void)
{
	static struct terms t;

	bold_terms(".TP\n.BR listen \" (array)\"\n"
		   "x \\fBtimeout_secs\\fR y\n"
		   ".RB ( \\-\\-user ) \\-\\-group ,\nplain\n"
		   ".B \"a b\"\n.I italic\n.BI \\-c \" file\"\n",
		   &t);
	CU_ASSERT(is_term(&t, "listen"));
	CU_ASSERT(is_term(&t, "timeout_secs"));
	CU_ASSERT(is_term(&t, "--user"));
	CU_ASSERT(is_term(&t, "--group"));
	CU_ASSERT(!is_term(&t, ")"));
	CU_ASSERT(is_term(&t, "a b"));
	CU_ASSERT(!is_term(&t, "a"));
	CU_ASSERT(is_term(&t, "-c"));
	CU_ASSERT(!is_term(&t, "(array)"));
	CU_ASSERT(!is_term(&t, "plain"));
	CU_ASSERT(!is_term(&t, "italic"));
	CU_ASSERT(!is_term(&t, "file"));
	CU_ASSERT(!is_term(&t, "y"));
	free_terms(&t);
	CU_ASSERT(has_section(".SH NAME\n.SH \"SEE ALSO\"\n", "SEE ALSO"));
	CU_ASSERT(has_section(".SH EXIT STATUS\n", "EXIT STATUS"));
	CU_ASSERT(!has_section(".SH EXIT STATUSES\n", "EXIT STATUS"));
	CU_ASSERT(!has_section(".SS FILES\n", "FILES"));
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("docs", NULL, NULL);
	CU_add_test(s, "the checker finds bold terms", test_term_parser);
	CU_add_test(s, "groff -ww formats every page silently",
		    test_groff_clean);
	CU_add_test(s, "each page has its sections", test_sections);
	CU_add_test(s, "each page's .TH names it", test_titles);
	CU_add_test(s, "carapaced.conf(5) has every key", test_conf_keys);
	CU_add_test(s, "carapaced(8) has every option and signal",
		    test_daemon_page);
	return cu_run();
}
