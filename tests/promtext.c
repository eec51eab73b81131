/* promtext — see promtext.h.
 *
 * One pass over the lines. Families are kept in a plain array (texts are
 * small); the histogram samples of the family being read are kept until
 * its group of lines ends, since only then can its buckets be judged. */
#include "config.h"

#include "promtext.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum type { T_NONE = -1, T_COUNTER, T_GAUGE, T_HISTOGRAM, T_SUMMARY,
	    T_UNTYPED };
static const char *const type_names[] = {
	"counter", "gauge", "histogram", "summary", "untyped",
};

enum suffix { S_NONE, S_BUCKET, S_SUM, S_COUNT };
static const char *const suffixes[] = { "", "_bucket", "_sum", "_count" };

#define MAX_LABELS 32

struct sample {
	const char *name;
	size_t name_len;
	const char *labels; /* the text between the braces */
	size_t labels_len;
	double value;
	int has_le, has_quantile;
	double le;
	char *series;       /* the label text less le: one histogram series */
};

struct family {
	char *name;
	enum type type;
	int has_help;
	int has_samples;
	int done;           /* its group of lines has ended */
};

/* A histogram sample of the current family. */
struct rec {
	char *series;
	enum suffix kind;
	double le, value;
	unsigned line;
};

struct checker {
	struct family *fam;
	size_t n_fam;
	long cur;           /* index of the family being read, or -1 */
	struct rec *rec;
	size_t n_rec;
	char **seen;        /* "name{labels}" of every sample so far */
	size_t n_seen;
	unsigned line;
	char *err;
	size_t err_len;
};

__attribute__((format(printf, 3, 4))) static int
fail_at(struct checker *c, unsigned line, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (c->err_len > 0)
		snprintf(c->err, c->err_len, "line %u: %s", line, what);
	return -1;
}

/* --- the syntax of one line --- */

static int is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       ch == '_';
}

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Length of the name at p (metric names may hold colons). */
static size_t name_len(const char *p, const char *end, int colons)
{
	size_t n = 0;

	while (p + n < end && (is_alpha(p[n]) || (colons && p[n] == ':') ||
			       (n > 0 && is_digit(p[n]))))
		n++;
	return n;
}

static size_t digits(const char *p, const char *end)
{
	size_t n = 0;

	while (p + n < end && is_digit(p[n]))
		n++;
	return n;
}

/* [+-] digits [. digits] [e [+-] digits], at least one mantissa digit. */
static int decimal(const char *p, size_t len)
{
	const char *end = p + len;
	size_t mant;

	if (p < end && (*p == '+' || *p == '-'))
		p++;
	mant = digits(p, end);
	p += mant;
	if (p < end && *p == '.') {
		size_t frac = digits(++p, end);
		mant += frac;
		p += frac;
	}
	if (mant == 0)
		return 0;
	if (p < end && (*p == 'e' || *p == 'E')) {
		size_t exp;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if ((exp = digits(p, end)) == 0)
			return 0;
		p += exp;
	}
	return p == end;
}

static int same(const char *p, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(p, word, len) == 0;
}

/* p[0..len) is followed by a character no number continues with (a space,
 * a quote, a newline or the NUL), so strtod stops at len. */
static int parse_float(const char *p, size_t len, double *out)
{
	char *e;

	if (same(p, len, "+Inf") || same(p, len, "Inf"))
		*out = INFINITY;
	else if (same(p, len, "-Inf"))
		*out = -INFINITY;
	else if (same(p, len, "NaN"))
		*out = NAN;
	else if (!decimal(p, len))
		return -1;
	else if ((*out = strtod(p, &e)), e != p + len)
		return -1;
	return 0;
}

/* The quoted label value at *pp, moved past its closing quote. */
static const char *label_value(const char **pp, const char *end)
{
	const char *p = *pp;

	if (p >= end || *p++ != '"')
		return "a label value must be quoted";
	for (; p < end && *p != '"'; p++) {
		if (*p != '\\')
			continue;
		if (++p >= end || (*p != '\\' && *p != '"' && *p != 'n'))
			return "bad escape in a label value";
	}
	if (p >= end)
		return "unterminated label value";
	*pp = p + 1;
	return NULL;
}

/* le or quantile: a float in quotes. */
static int quoted_float(const char *v, const char *v_end, double *out)
{
	return parse_float(v + 1, (size_t)(v_end - v - 2), out);
}

/* Append pair to s->series, the label text without le. */
static void add_to_series(struct sample *s, const char *pair, size_t len)
{
	size_t n = strlen(s->series);

	if (n > 0)
		s->series[n++] = ',';
	memcpy(s->series + n, pair, len);
	s->series[n + len] = '\0';
}

static const char *one_label(struct sample *s, const char **pp,
			     const char *end, const char **names,
			     size_t *lens, size_t n)
{
	const char *pair = *pp, *v;
	size_t len = name_len(pair, end, 0);
	const char *why;

	if (len == 0)
		return "bad label name";
	for (size_t i = 0; i < n; i++)
		if (lens[i] == len && memcmp(names[i], pair, len) == 0)
			return "a label appears twice";
	names[n] = pair;
	lens[n] = len;
	if (pair + len >= end || pair[len] != '=')
		return "'=' expected after a label name";
	v = pair + len + 1;
	*pp = v;
	if ((why = label_value(pp, end)) != NULL)
		return why;
	if (same(pair, len, "le")) {
		s->has_le = 1;
		if (quoted_float(v, *pp, &s->le) < 0)
			return "le is not a number";
		return NULL;
	}
	if (same(pair, len, "quantile"))
		s->has_quantile = 1;
	add_to_series(s, pair, (size_t)(*pp - pair));
	return NULL;
}

/* The label set from *pp (just past '{'), moved past '}'. */
static const char *labels(struct sample *s, const char **pp, const char *end)
{
	const char *names[MAX_LABELS], *p = *pp, *why;
	size_t lens[MAX_LABELS], n = 0;

	s->labels = p;
	while (p < end && *p != '}') {
		if (n == MAX_LABELS)
			return "too many labels";
		if ((why = one_label(s, &p, end, names, lens, n++)) != NULL)
			return why;
		if (p < end && *p == ',')
			p++;
		else if (p >= end || *p != '}')
			return "',' or '}' expected after a label";
	}
	if (p >= end)
		return "unterminated label set";
	s->labels_len = (size_t)(p - s->labels);
	*pp = p + 1;
	return NULL;
}

/* line[0..len): name[{labels}] value [timestamp]. s->series needs freeing
 * even on failure. */
static const char *parse_sample(const char *line, size_t len,
				struct sample *s)
{
	const char *p = line, *end = line + len, *v, *why;

	memset(s, 0, sizeof(*s));
	if ((s->series = calloc(1, len + 1)) == NULL)
		return "out of memory";
	s->name = p;
	if ((s->name_len = name_len(p, end, 1)) == 0)
		return "bad metric name";
	p += s->name_len;
	s->labels = "";
	if (p < end && *p == '{') {
		p++;
		if ((why = labels(s, &p, end)) != NULL)
			return why;
	}
	if (p >= end || *p++ != ' ')
		return "one space expected before the value";
	for (v = p; p < end && *p != ' '; p++)
		;
	if (parse_float(v, (size_t)(p - v), &s->value) < 0)
		return "bad value";
	if (p == end)
		return NULL;
	if (++p < end && *p == '-') /* a timestamp, in milliseconds */
		p++;
	if (p == end || p + digits(p, end) != end)
		return "bad timestamp";
	return NULL;
}

/* --- families --- */

static long family_find(struct checker *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->n_fam; i++)
		if (same(name, len, c->fam[i].name))
			return (long)i;
	return -1;
}

static long family_get(struct checker *c, const char *name, size_t len)
{
	long i = family_find(c, name, len);
	struct family *f;

	if (i >= 0)
		return i;
	f = realloc(c->fam, (c->n_fam + 1) * sizeof(*f));
	if (f == NULL)
		return -1;
	c->fam = f;
	f += c->n_fam;
	memset(f, 0, sizeof(*f));
	f->type = T_NONE;
	if ((f->name = strndup(name, len)) == NULL)
		return -1;
	return (long)c->n_fam++;
}

static void recs_clear(struct checker *c)
{
	for (size_t i = 0; i < c->n_rec; i++)
		free(c->rec[i].series);
	free(c->rec);
	c->rec = NULL;
	c->n_rec = 0;
}

/* The buckets, sum and count of the series that rec[first] belongs to. */
static int check_series(struct checker *c, size_t first)
{
	const char *series = c->rec[first].series;
	const struct rec *count = NULL, *sum = NULL;
	double le = -INFINITY, v = 0;

	for (size_t i = first; i < c->n_rec; i++) {
		const struct rec *r = &c->rec[i];
		if (strcmp(r->series, series) != 0)
			continue;
		if (r->kind == S_SUM) {
			sum = r;
		} else if (r->kind == S_COUNT) {
			count = r;
		} else if (!(r->le > le)) {
			return fail_at(c, r->line, "le does not increase");
		} else if (!(r->value >= v)) {
			return fail_at(c, r->line,
				       "bucket below the one before it "
				       "(not cumulative)");
		} else {
			le = r->le;
			v = r->value;
		}
	}
	if (le != INFINITY)
		return fail_at(c, c->rec[first].line,
			       "histogram series {%s} has no le=\"+Inf\" "
			       "bucket", series);
	if (count == NULL || sum == NULL)
		return fail_at(c, c->rec[first].line,
			       "histogram series {%s} lacks _%s", series,
			       count == NULL ? "count" : "sum");
	if (count->value != v)
		return fail_at(c, count->line,
			       "_count %g differs from the +Inf bucket %g",
			       count->value, v);
	return 0;
}

static int check_histogram(struct checker *c)
{
	for (size_t i = 0; i < c->n_rec; i++) {
		size_t j = 0;
		while (j < i && strcmp(c->rec[j].series, c->rec[i].series))
			j++;
		if (j == i && check_series(c, i) < 0)
			return -1;
	}
	return 0;
}

/* The lines of the current family have ended. */
static int leave(struct checker *c)
{
	int rc = 0;

	if (c->cur < 0)
		return 0;
	if (c->fam[c->cur].type == T_HISTOGRAM)
		rc = check_histogram(c);
	recs_clear(c);
	c->fam[c->cur].done = 1;
	c->cur = -1;
	return rc;
}

/* A line of family i: it becomes the current one. */
static int enter(struct checker *c, long i)
{
	if (i == c->cur)
		return 0;
	if (c->fam[i].done)
		return fail_at(c, c->line, "the lines of %s are not together",
			       c->fam[i].name);
	if (leave(c) < 0)
		return -1;
	c->cur = i;
	return 0;
}

/* --- metadata lines --- */

/* "# HELP name doc" or "# TYPE name type", from just past "HELP". */
static long meta_family(struct checker *c, const char **pp, const char *end)
{
	const char *p = *pp;
	size_t len;
	long i;

	if (p >= end || *p++ != ' ' || (len = name_len(p, end, 1)) == 0)
		return fail_at(c, c->line, "metric name expected");
	if (p + len < end && p[len] != ' ')
		return fail_at(c, c->line, "bad metric name");
	if ((i = family_get(c, p, len)) < 0)
		return fail_at(c, c->line, "out of memory");
	if (enter(c, i) < 0)
		return -1;
	if (c->fam[i].has_samples)
		return fail_at(c, c->line, "HELP or TYPE after the samples of "
			       "%s", c->fam[i].name);
	*pp = p + len;
	return i;
}

static int help_line(struct checker *c, const char *p, const char *end)
{
	long i = meta_family(c, &p, end);

	if (i < 0)
		return -1;
	if (c->fam[i].has_help)
		return fail_at(c, c->line, "second HELP for %s",
			       c->fam[i].name);
	c->fam[i].has_help = 1;
	for (; p < end; p++)
		if (*p == '\\' && (++p == end || (*p != '\\' && *p != 'n')))
			return fail_at(c, c->line, "bad escape in HELP");
	return 0;
}

static int type_line(struct checker *c, const char *p, const char *end)
{
	long i = meta_family(c, &p, end);
	size_t t = 0;

	if (i < 0)
		return -1;
	if (c->fam[i].type != T_NONE)
		return fail_at(c, c->line, "second TYPE for %s",
			       c->fam[i].name);
	if (p < end && *p == ' ')
		p++;
	while (t < 5 && !same(p, (size_t)(end - p), type_names[t]))
		t++;
	if (t == 5)
		return fail_at(c, c->line, "unknown type");
	c->fam[i].type = (enum type)t;
	return 0;
}

/* --- samples --- */

static int has_suffix(const struct sample *s, enum suffix x, size_t *base)
{
	size_t n = strlen(suffixes[x]);

	*base = s->name_len - n;
	return s->name_len > n &&
	       memcmp(s->name + *base, suffixes[x], n) == 0;
}

/* The family a sample belongs to, and its suffix within it; -1 when it
 * has no TYPE. */
static long sample_family(struct checker *c, const struct sample *s,
			  enum suffix *x)
{
	long i = family_find(c, s->name, s->name_len);
	size_t base;

	*x = S_NONE;
	if (i >= 0 && c->fam[i].type != T_NONE)
		return i;
	for (enum suffix k = S_BUCKET; k <= S_COUNT; k++) {
		if (!has_suffix(s, k, &base))
			continue;
		i = family_find(c, s->name, base);
		if (i < 0)
			continue;
		if (c->fam[i].type == T_HISTOGRAM ||
		    (c->fam[i].type == T_SUMMARY && k != S_BUCKET)) {
			*x = k;
			return i;
		}
	}
	return -1;
}

static int record(struct checker *c, struct sample *s, enum suffix x)
{
	struct rec *r = realloc(c->rec, (c->n_rec + 1) * sizeof(*r));

	if (r == NULL)
		return fail_at(c, c->line, "out of memory");
	c->rec = r;
	r += c->n_rec++;
	r->series = s->series;
	s->series = NULL;
	r->kind = x;
	r->le = s->le;
	r->value = s->value;
	r->line = c->line;
	return 0;
}

static int typed_sample(struct checker *c, struct sample *s,
			enum type t, enum suffix x)
{
	switch (t) {
	case T_COUNTER:
		if (!(s->value >= 0))
			return fail_at(c, c->line, "negative counter");
		return 0;
	case T_HISTOGRAM:
		if (x == S_NONE)
			return fail_at(c, c->line, "a histogram's samples are "
				       "_bucket, _sum and _count");
		if ((x == S_BUCKET) != s->has_le)
			return fail_at(c, c->line, "le %s",
				       s->has_le ? "outside a bucket"
						 : "missing");
		return record(c, s, x);
	case T_SUMMARY:
		if ((x == S_NONE) != s->has_quantile)
			return fail_at(c, c->line, "quantile %s",
				       s->has_quantile ? "misplaced"
						       : "missing");
		return 0;
	default:
		return 0;
	}
}

/* Remember the sample, failing if it was seen before. */
static int unique(struct checker *c, const struct sample *s)
{
	char *key, **seen;

	if (asprintf(&key, "%.*s{%.*s}", (int)s->name_len, s->name,
		     (int)s->labels_len, s->labels) < 0)
		return fail_at(c, c->line, "out of memory");
	for (size_t i = 0; i < c->n_seen; i++) {
		if (strcmp(c->seen[i], key) == 0) {
			free(key);
			return fail_at(c, c->line, "a second sample %s",
				       c->seen[i]);
		}
	}
	seen = realloc(c->seen, (c->n_seen + 1) * sizeof(*seen));
	if (seen == NULL) {
		free(key);
		return fail_at(c, c->line, "out of memory");
	}
	c->seen = seen;
	c->seen[c->n_seen++] = key;
	return 0;
}

static int sample_line(struct checker *c, const char *line, size_t len)
{
	struct sample s;
	const char *why = parse_sample(line, len, &s);
	enum suffix x;
	long i = -1;
	int rc;

	if (why != NULL)
		rc = fail_at(c, c->line, "%s", why);
	else if ((i = sample_family(c, &s, &x)) < 0)
		rc = fail_at(c, c->line, "%.*s has no TYPE before it",
			     (int)s.name_len, s.name);
	else if ((rc = enter(c, i)) == 0 && (rc = unique(c, &s)) == 0)
		rc = typed_sample(c, &s, c->fam[i].type, x);
	if (rc == 0)
		c->fam[i].has_samples = 1;
	free(s.series);
	return rc;
}

static int is_meta(const char *p, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && memcmp(p, word, n) == 0 && (len == n || p[n] == ' ');
}

static int check_line(struct checker *c, const char *line, size_t len)
{
	const char *end = line + len;

	if (len == 0)
		return 0;
	if (is_meta(line, len, "# HELP"))
		return help_line(c, line + 6, end);
	if (is_meta(line, len, "# TYPE"))
		return type_line(c, line + 6, end);
	if (line[0] == '#')
		return 0;
	return sample_line(c, line, len);
}

static int check_lines(struct checker *c, const char *text)
{
	const char *p = text, *nl;

	if (*p == '\0')
		return fail_at(c, 1, "empty text");
	for (; *p != '\0'; p = nl + 1) {
		c->line++;
		if ((nl = strchr(p, '\n')) == NULL)
			return fail_at(c, c->line,
				       "no newline at the end of the text");
		if (check_line(c, p, (size_t)(nl - p)) < 0)
			return -1;
	}
	return leave(c);
}

int promtext_check(const char *text, char *err, size_t err_len)
{
	struct checker c = { .cur = -1, .err = err, .err_len = err_len };
	int rc;

	if (err_len > 0)
		err[0] = '\0';
	rc = check_lines(&c, text);
	recs_clear(&c);
	for (size_t i = 0; i < c.n_fam; i++)
		free(c.fam[i].name);
	free(c.fam);
	for (size_t i = 0; i < c.n_seen; i++)
		free(c.seen[i]);
	free(c.seen);
	return rc;
}

int promtext_value(const char *text, const char *name, const char *labels,
		   double *out)
{
	const char *p, *next;

	if (labels == NULL)
		labels = "";
	for (p = text; *p != '\0'; p = next) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		struct sample s;
		int found;

		next = p + len + (nl != NULL);
		if (len == 0 || *p == '#')
			continue;
		found = parse_sample(p, len, &s) == NULL &&
			same(s.name, s.name_len, name) &&
			same(s.labels, s.labels_len, labels);
		free(s.series);
		if (found) {
			*out = s.value;
			return 0;
		}
	}
	return -1;
}
