/* Checks of the manual pages in $SRCDIR/man: each formats without a
 * warning (groff -man -ww -z), has the sections its kind needs, and
 * carapaced.conf(5) documents every key the parser knows (cfg_key_at) as
 * a bold term, with the type, bounds, default and "required" its table
 * row gives; carapaced(8) its options and signals. */
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
#include "dbuf.h"

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

/* ---- each key's type, bounds and default ---- */

/* carapaced.conf(5) as read: its .TP entries, each rendered as one line
 * of text with bold pieces in "**" and troff escapes resolved, and the
 * .SH section each is in. */
#define MAX_ENTRIES 256

struct ledger_entry {
	char section[64];
	struct dbuf text;
};

struct entries {
	struct ledger_entry v[MAX_ENTRIES];
	size_t n;
};

static void set_font(struct dbuf *b, int *bold, int want)
{
	if (want != *bold)
		dbuf_addstr(b, "**");
	*bold = want;
}

/* s[0] is a backslash: what the escape reads as, into b; its length. */
static size_t unescape(const char *s, struct dbuf *b, int *bold)
{
	if (s[1] == '\0')
		return 1;
	if (s[1] == 'f' && s[2] != '\0') {
		set_font(b, bold, s[2] == 'B');
		return 3;
	}
	if (s[1] == '(' && s[2] && s[3]) {
		dbuf_addstr(b, strncmp(s + 2, "dq", 2) == 0 ? "\"" :
			       strncmp(s + 2, "rs", 2) == 0 ? "\\" : "?");
		return 4;
	}
	if (strchr("&%:c", s[1]) == NULL)
		dbuf_add(b, s[1] == 'e' ? "\\" : s + 1, 1);
	return 2;
}

/* n bytes of troff text at s, rendered into b. */
static void render(struct dbuf *b, const char *s, size_t n, int *bold)
{
	for (size_t i = 0; i < n;)
		if (s[i] == '\\')
			i += unescape(s + i, b, bold);
		else
			dbuf_add(b, s + i++, 1);
}

/* A font macro line (.B .BR .RB .I .IR .BI .IB) rendered into b; 0 if l
 * is not one. Its arguments alternate between the fonts it names. */
static int render_macro(struct dbuf *b, const char *l, const char *end)
{
	static const char *const fonts[] = { "B", "BR", "RB", "BI", "IB",
					     "I", "IR", "RI", NULL };
	const char *arg[16], *sp = memchr(l, ' ', (size_t)(end - l));
	size_t len[16], n, k;
	int bold = 0;

	for (k = 0; sp && fonts[k]; k++)
		if ((size_t)(sp - l - 1) == strlen(fonts[k]) &&
		    strncmp(l + 1, fonts[k], strlen(fonts[k])) == 0)
			break;
	if (sp == NULL || fonts[k] == NULL)
		return 0;
	n = split_args(sp, end, arg, len, 16);
	for (size_t i = 0; i < n; i++) {
		set_font(b, &bold, fonts[k][i % strlen(fonts[k])] == 'B');
		if (strlen(fonts[k]) == 1 && i > 0)
			dbuf_addstr(b, " "); /* .B a b: one run */
		render(b, arg[i], len[i], &bold);
	}
	set_font(b, &bold, 0);
	return 1;
}

/* Macro l (".TP", ".SH NAME", ...) starts an entry, ends one, or is
 * neither (font changes, .in, .EX): 1, 0 or -1. */
static int entry_edge(struct entries *e, const char *l, const char *end,
		      char *section)
{
	if (strncmp(l, ".SH ", 4) == 0) {
		const char *p = l + 4 + (l[4] == '"');
		size_t n = (size_t)(end - p) - (end[-1] == '"');
		snprintf(section, 64, "%.*s", (int)n, p);
	}
	if (strncmp(l, ".TP", 3) == 0 && e->n < MAX_ENTRIES) {
		snprintf(e->v[e->n].section, 64, "%s", section);
		dbuf_init(&e->v[e->n++].text, 65536);
		return 1;
	}
	if (strncmp(l, ".SH", 3) == 0 || strncmp(l, ".SS", 3) == 0 ||
	    strncmp(l, ".PP", 3) == 0 || strncmp(l, ".IP", 3) == 0)
		return 0;
	return -1;
}

static void read_entries(const char *text, struct entries *e)
{
	char section[64] = "";
	struct dbuf *cur = NULL;
	int bold = 0;

	e->n = 0;
	for (const char *l = text, *end; *l; l = *end ? end + 1 : end) {
		end = strchr(l, '\n');
		if (end == NULL)
			end = l + strlen(l);
		int edge = l[0] == '.' ? entry_edge(e, l, end, section) : -1;
		if (edge >= 0) {
			cur = edge ? &e->v[e->n - 1].text : NULL;
			continue;
		}
		if (cur == NULL || l == end)
			continue;
		if (dbuf_len(cur) > 0)
			dbuf_addstr(cur, " ");
		if (l[0] != '.' || !render_macro(cur, l, end)) {
			if (l[0] != '.')
				render(cur, l, (size_t)(end - l), &bold);
			set_font(cur, &bold, 0);
		}
	}
}

static void free_entries(struct entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		dbuf_free(&e->v[i].text);
	e->n = 0;
}

/* At p a list of bold names ("**a**", "**a**, **b**", "**a** and
 * **b**"): whether name is one; *after is set past the last. */
static int names_have(const char *p, const char *name, const char **after)
{
	size_t n = strlen(name);
	int found = 0;

	*after = p;
	while (strncmp(p, "**", 2) == 0) {
		const char *close = strstr(p + 2, "**");
		if (close == NULL)
			break;
		if ((size_t)(close - p - 2) == n &&
		    strncmp(p + 2, name, n) == 0)
			found = 1;
		*after = p = close + 2;
		if (strncmp(p, ", and **", 8) == 0)
			p += 6;
		else if (strncmp(p, " and **", 7) == 0)
			p += 5;
		else if (strncmp(p, ", **", 4) == 0)
			p += 2;
		else
			break;
	}
	return found;
}

/* The "(...)" right after p, without the parentheses, into out; 0 if
 * none. */
static int paren(const char *p, char *out, size_t size)
{
	int depth = 0;
	size_t n = 0;

	if (strncmp(p, " (", 2) != 0)
		return 0;
	for (p += 1; *p; p++) {
		depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
		if (depth == 0)
			break;
		if (n + 1 < size && !(depth == 1 && *p == '('))
			out[n++] = *p;
	}
	out[n] = '\0';
	return 1;
}

/* The entry of section that names key at its head: 1 with its
 * description in desc, 0 named without one, -1 none. */
static int entry_desc(const struct entries *e, const char *section,
		      const char *key, char *desc, size_t size,
		      const char **text)
{
	const char *after;

	for (size_t i = 0; i < e->n; i++) {
		if (strcmp(e->v[i].section, section) != 0 ||
		    !names_have(dbuf_str(&e->v[i].text), key, &after))
			continue;
		*text = dbuf_str(&e->v[i].text);
		return paren(after, desc, size);
	}
	return -1;
}

/* Inside a parent entry's text: the first mention of key with a
 * description. 1 or -1. */
static int inner_desc(const char *text, const char *key, char *desc,
		      size_t size)
{
	char bold[128];
	const char *p = text, *after;

	snprintf(bold, sizeof(bold), "**%s**", key);
	for (; (p = strstr(p, bold)) != NULL; p += 2)
		if (names_have(p, key, &after) && paren(after, desc, size))
			return 1;
	return -1;
}

/* Whether d ("default: 30...", or NULL) gives k's default. */
static int default_is(const struct cfg_key_info *k, const char *d)
{
	const char *v = d ? d + strlen("default: ") : NULL;
	char *end;

	if (v == NULL)
		return 0;
	if (k->type == CFG_KEY_BOOL)
		return strncmp(v, k->dflt ? "true" : "false",
			       k->dflt ? 4 : 5) == 0;
	errno = 0;
	return strtoll(v, &end, 10) == k->dflt && end != v && errno == 0 &&
	       !(*end >= '0' && *end <= '9');
}

/* NULL when desc ("integer, 1..86400; default: 30") says what k is,
 * else what is wrong, in why. */
static const char *desc_wrong(const struct cfg_key_info *k, const char *desc,
			      char *why, size_t size)
{
	static const char *const types[] = {
		[CFG_KEY_STRING] = "string", [CFG_KEY_INT] = "integer",
		[CFG_KEY_STRINGS] = "array", [CFG_KEY_OBJECT] = "object",
		[CFG_KEY_BOOL] = "boolean", [CFG_KEY_ARRAY] = "array",
		[CFG_KEY_LISTEN] = "string or object",
	};
	const char *t = types[k->type], *d = strstr(desc, "default: ");
	long long lo, hi;
	char num[32];

	if (strncmp(desc, t, strlen(t)) != 0)
		snprintf(why, size, "type %s", t);
	else if (k->type == CFG_KEY_INT &&
		 (sscanf(desc, "integer, %lld..%lld", &lo, &hi) != 2 ||
		  lo != k->min || hi != k->max))
		snprintf(why, size, "bounds %lld..%lld", k->min, k->max);
	else if (k->required != (strstr(desc, "required") != NULL))
		snprintf(why, size, "%srequired", k->required ? "" : "not ");
	else if (k->inherits &&
		 (d == NULL || strcmp(d, "default: the top-level value") != 0))
		snprintf(why, size, "default: the top-level value");
	else if (k->has_default && !default_is(k, d))
		snprintf(why, size, "default: %s",
			 k->type == CFG_KEY_BOOL ? (k->dflt ? "true" : "false")
						 : (snprintf(num, sizeof(num),
							     "%lld", k->dflt),
						    num));
	else
		return NULL;
	return why;
}

/* "tools.*.audit.log_body": parent "audit", name "log_body"; parent ""
 * for a key of a tool or of the top level. */
static void split_path(const char *path, char *parent, char *name)
{
	const char *last = strrchr(path, '.'), *p = path;
	const char *parts[8];
	size_t n = 0;

	snprintf(name, 64, "%s", last ? last + 1 : path);
	parent[0] = '\0';
	for (; p && n < 8; p = strchr(p, '.'), p = p ? p + 1 : NULL)
		if (*p != '*')
			parts[n++] = p;
	/* parts: [tools] [parent] name, or name */
	if (n >= 3)
		snprintf(parent, 64, "%.*s", (int)strcspn(parts[n - 2], "."),
			 parts[n - 2]);
}

/* Where k is described and what the page says of it: 1 with desc, 0 a
 * mention without one that defers to another entry, -1 none; text is
 * the entry. */
static int find_desc(const struct entries *e, const struct cfg_key_info *k,
		     const char *section, char *desc, size_t size,
		     const char **text)
{
	char parent[64], name[64], keys[80];
	const char *ptext;
	int rc;

	split_path(k->path, parent, name);
	if (parent[0] == '\0')
		return entry_desc(e, section, name, desc, size, text);
	snprintf(keys, sizeof(keys), "%s KEYS", parent);
	for (char *c = keys; *c; c++)
		*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
	rc = entry_desc(e, keys, name, desc, size, text);
	if (rc >= 0)
		return rc;
	rc = entry_desc(e, section, parent, desc, size, &ptext);
	if (rc <= 0) /* none, or "as for http tools" */
		return rc;
	*text = ptext;
	return inner_desc(ptext, name, desc, size);
}

/* A top-level object's keys have a section of their own. */
static const char *own_section(const struct cfg_key_info *k,
			       const char *section)
{
	if (strncmp(k->path, "listen.", 7) == 0)
		return "LISTEN KEYS";
	if (strncmp(k->path, "clients.", 8) == 0)
		return "CLIENT KEYS";
	return section;
}

/* Checks k against each section that should describe it. */
static void check_key(const struct entries *e, const struct cfg_key_info *k)
{
	static const struct { unsigned scope; const char *section; } at[] = {
		{ 0, "TOP-LEVEL KEYS" },
		{ CFG_KEY_HTTP, "HTTP TOOLS" },
		{ CFG_KEY_CLI, "CLI TOOLS" },
	};
	char desc[512], why[128];
	const char *text = NULL;
	int described = 0;

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		if (at[i].scope ? !(k->scope & at[i].scope) : k->scope != 0)
			continue;
		int rc = find_desc(e, k, own_section(k, at[i].section), desc,
				   sizeof(desc), &text);
		if (rc < 0 || (rc == 0 && !described))
			fail("carapaced.conf.5: %s: no description in %s",
			     k->path, at[i].section);
		else if (rc > 0 && desc_wrong(k, desc, why, sizeof(why)))
			fail("carapaced.conf.5: %s (in %s): the page says "
			     "(%s), the table %s", k->path, at[i].section,
			     desc, why);
		if (k->later && text && !strstr(text, "Not supported yet"))
			fail("carapaced.conf.5: %s: not said to be refused",
			     k->path);
		described |= rc > 0;
	}
}

static void test_conf_key_descriptions(void)
{
	static struct entries e;
	char *text = slurp("carapaced.conf.5");
	size_t n = cfg_key_count();

	if (text == NULL)
		return;
	read_entries(text, &e);
	CU_ASSERT(e.n >= 40);
	for (size_t i = 0; i < n; i++)
		check_key(&e, cfg_key_at(i));
	CU_ASSERT_PTR_NULL(cfg_key_at(n));
	free_entries(&e);
	free(text);
}

/* The description checker itself, on a page made up here. */
static void test_desc_checker(void)
{
	static struct entries e;
	const struct cfg_key_info k = {
		.path = "tools.*.t", .type = CFG_KEY_INT, .min = 1, .max = 9,
		.has_default = 1, .dflt = 3, .scope = CFG_KEY_HTTP,
	};
	char desc[128], why[128];
	const char *text;

	read_entries(".SH \"HTTP TOOLS\"\n.TP\n.BR t \" (integer, 1..9; "
		     "default: 3)\"\nText.\n.TP\n.BR a \", \" b\n.PP\n"
		     ".TP\n.BR r \" (object)\"\n.B x\nand\n.B y\n"
		     "(integer, 2..\\fB5\\fR; required) end\n", &e);
	CU_ASSERT_EQUAL_FATAL(e.n, 3);
	CU_ASSERT_STRING_EQUAL(dbuf_str(&e.v[1].text), "**a**, **b**");
	CU_ASSERT_EQUAL(find_desc(&e, &k, "HTTP TOOLS", desc, sizeof(desc),
				  &text), 1);
	CU_ASSERT_STRING_EQUAL(desc, "integer, 1..9; default: 3");
	CU_ASSERT_PTR_NULL(desc_wrong(&k, desc, why, sizeof(why)));
	CU_ASSERT_PTR_NOT_NULL(desc_wrong(&k, "integer, 1..8; default: 3",
					  why, sizeof(why)));
	CU_ASSERT_PTR_NOT_NULL(desc_wrong(&k, "integer, 1..9; default: 30",
					  why, sizeof(why)));
	CU_ASSERT_PTR_NOT_NULL(desc_wrong(&k, "integer, 1..9; required",
					  why, sizeof(why)));
	CU_ASSERT_PTR_NOT_NULL(desc_wrong(&k, "string; default: 3", why,
					  sizeof(why)));
	CU_ASSERT_EQUAL(inner_desc(dbuf_str(&e.v[2].text), "x", desc,
				   sizeof(desc)), 1);
	CU_ASSERT_STRING_EQUAL(desc, "integer, 2..**5**; required");
	CU_ASSERT_EQUAL(inner_desc(dbuf_str(&e.v[2].text), "z", desc,
				   sizeof(desc)), -1);
	free_entries(&e);
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
	CU_add_test(s, "the description checker reads them",
		    test_desc_checker);
	CU_add_test(s, "carapaced.conf(5) gives each key's type, bounds "
		    "and default as the parser has them",
		    test_conf_key_descriptions);
	CU_add_test(s, "carapaced(8) has every option and signal",
		    test_daemon_page);
	return cu_run();
}
