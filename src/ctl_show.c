/* ctl_show — carapacectl's messages, JSON readers, formats and tables;
 * see ctl_show.h. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_show.h"
#include "jsonparse.h"
#include "text.h"

#define MAX_COLS 8
/* json-c's heap for one answer: 24 bytes a byte of the 16 MiB an answer
 * may hold. /v1/streams costs ~18.5 (4.1 KiB for a 226-byte stream), so
 * any that fits parses; 16 MiB of "{}," (4 GiB) does not. */
#define MAX_JSON_COST ((size_t)384 << 20)

/* Returns -1 so that a caller can end with `return ctl_complain(...)`. */
int ctl_complain(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout); /* what was printed so far comes first */
	fputs("carapacectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* Paths, reasons and method names come from the gateway's clients: an
 * escape sequence in one must not reach the operator's terminal. C0, DEL,
 * C1 (U+0080..U+009F) and bytes that are not well-formed UTF-8 (a lone
 * 0x9b is CSI to an 8-bit terminal) are shown as \xNN, byte by byte. */
void ctl_clean(struct dbuf *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, start = 0;

	while (i < n) {
		uint32_t cp = 0;
		size_t k = text_utf8_char(u + i, n - i, &cp);
		if (k > 0 && cp >= 0x20 && cp != 0x7f &&
		    (cp < 0x80 || cp > 0x9f)) {
			i += k;
			continue;
		}
		dbuf_add(b, s + start, i - start);
		for (size_t j = 0; j < (k ? k : 1); j++)
			dbuf_printf(b, "\\x%02x", u[i + j]);
		i += k ? k : 1;
		start = i;
	}
	dbuf_add(b, s + start, i - start);
}

/* Columns line up on a terminal: count characters, not UTF-8 bytes. */
size_t ctl_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* ---- reading the daemon's JSON: absent and null alike ---- */

json_object *ctl_jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

const char *ctl_jstr(json_object *o, const char *key)
{
	json_object *v = ctl_jget(o, key);

	return json_object_is_type(v, json_type_string) ?
		       json_object_get_string(v) : NULL;
}

/* o's member key when it is a number, else NULL. */
static json_object *jnumber(json_object *o, const char *key)
{
	json_object *v = ctl_jget(o, key);

	return json_object_is_type(v, json_type_int) ||
			       json_object_is_type(v, json_type_double) ?
		       v : NULL;
}

int ctl_jnum(json_object *o, const char *key, double *out)
{
	json_object *v = jnumber(o, key);

	if (v == NULL)
		return -1;
	*out = json_object_get_double(v);
	return 0;
}

int ctl_jint(json_object *o, const char *key, int64_t *out)
{
	json_object *v = jnumber(o, key);

	if (v == NULL)
		return -1;
	*out = json_object_get_int64(v);
	return 0;
}

/* Element i of an array as text: "" for null, JSON for the rest. */
const char *ctl_jitem(json_object *arr, size_t i)
{
	const char *s =
		json_object_get_string(json_object_array_get_idx(arr, i));

	return s ? s : "";
}

/* Exactly one JSON object and nothing after it but blanks. */
json_object *ctl_parse_object(const char *text, size_t len)
{
	json_object *o;

	if (jsonparse_strict_max(text, len, MAX_JSON_COST, &o, NULL) !=
	    JSONPARSE_OK)
		return NULL;
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* ---- formats ---- */

/* 12s, 3m04s, 2h05m, 3d04h: precise when it matters, short always. */
static const char *fmt_age(double secs, char *buf, size_t size)
{
	if (!(secs >= 0) || secs > 1e12)
		return "-";
	unsigned long long s = (unsigned long long)secs;
	if (s < 60)
		snprintf(buf, size, "%llus", s);
	else if (s < 3600)
		snprintf(buf, size, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%llud%02lluh", s / 86400, s % 86400 / 3600);
	return buf;
}

const char *ctl_fmt_ms(double ms, char *buf, size_t size)
{
	if (!(ms >= 0))
		return "-";
	if (ms < 1000)
		snprintf(buf, size, "%.0fms", ms);
	else if (ms < 60000)
		snprintf(buf, size, "%.1fs", ms / 1000);
	else
		return fmt_age(ms / 1000, buf, size);
	return buf;
}

const char *ctl_fmt_bytes(int64_t n, char *buf, size_t size)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t i = 0;

	if (n < 0)
		return "-";
	while (v >= 1024 && i + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, size, "%" PRId64 "B", n);
	else
		snprintf(buf, size, v < 10 ? "%.1f%s" : "%.0f%s", v, unit[i]);
	return buf;
}

/* The daemon writes RFC 3339 in UTC with milliseconds; offsets and other
 * precisions are taken too. */
static int parse_time(const char *s, time_t *t, int *ms)
{
	struct tm tm = { 0 };
	int n = 0, off = 0, oh, om;

	if (s == NULL ||
	    sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year,
		   &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec, &n) != 6 || n == 0)
		return -1;
	s += n;
	*ms = 0;
	if (*s == '.') {
		for (int place = 100; *++s >= '0' && *s <= '9'; place /= 10)
			*ms += (*s - '0') * place;
	}
	if ((*s == '+' || *s == '-') &&
	    sscanf(s + 1, "%2d:%2d", &oh, &om) == 2)
		off = (*s == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	else if (*s != 'Z' && *s != 'z')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*t = timegm(&tm) - off;
	return 0;
}

static const char *fmt_date(const char *ts, char *buf, size_t size)
{
	struct tm tm;
	time_t t;
	int ms;

	if (ts == NULL)
		return "-";
	if (parse_time(ts, &t, &ms) < 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		return ts;
	return buf;
}

const char *ctl_fmt_clock(const char *ts, char *buf, size_t size)
{
	struct tm tm;
	time_t t;
	int ms;

	if (parse_time(ts, &t, &ms) < 0 || localtime_r(&t, &tm) == NULL)
		return "??:??:??.???";
	snprintf(buf, size, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min,
		 tm.tm_sec, ms);
	return buf;
}

/* The value of key for a table cell; "-" when absent or null. */
const char *ctl_cell_str(json_object *o, const char *key)
{
	const char *s = ctl_jstr(o, key);

	return s ? s : "-";
}

static const char *cell_int(json_object *o, const char *key, char *buf,
			    size_t size)
{
	int64_t n;

	if (ctl_jint(o, key, &n) < 0)
		return "-";
	snprintf(buf, size, "%" PRId64, n);
	return buf;
}

static const char *cell_age(json_object *o, const char *key, char *buf,
			    size_t size)
{
	double secs;

	return ctl_jnum(o, key, &secs) < 0 ? "-" : fmt_age(secs, buf, size);
}

static const char *cell_bytes(json_object *o, const char *key, char *buf,
			      size_t size)
{
	int64_t n;

	return ctl_jint(o, key, &n) < 0 ? "-" : ctl_fmt_bytes(n, buf, size);
}

/* ---- aligned columns ---- */

/* Cells are kept cleaned, each ended by a NUL, row after row in one
 * buffer. */
struct table {
	size_t ncols;
	unsigned right;      /* bit i: column i holds numbers, aligned right */
	struct dbuf text;
	size_t ncells;
};

#define TABLE_INIT(cols, right_bits) \
	{ (cols), (right_bits), DBUF_INIT(CTL_MAX_TEXT), 0 }

static void table_row(struct table *t, const char *const *v)
{
	for (size_t i = 0; i < t->ncols; i++) {
		ctl_clean(&t->text, v[i]);
		dbuf_add(&t->text, "", 1);
		t->ncells++;
	}
}

static int table_print(const struct table *t)
{
	size_t w[MAX_COLS] = { 0 };
	const char *cell = dbuf_str(&t->text);

	if (dbuf_error(&t->text) == ENOMEM)
		return ctl_complain("%s", "out of memory");
	if (dbuf_error(&t->text))
		return ctl_complain("%s", "the table is too large to show");
	for (size_t i = 0; i < t->ncells; i++, cell += strlen(cell) + 1)
		if (ctl_width(cell) > w[i % t->ncols])
			w[i % t->ncols] = ctl_width(cell);
	cell = dbuf_str(&t->text);
	for (size_t i = 0; i < t->ncells; i++, cell += strlen(cell) + 1) {
		size_t col = i % t->ncols, pad = w[col] - ctl_width(cell);
		int last = col + 1 == t->ncols, right = t->right >> col & 1;
		printf("%*s%s%*s%s", right ? (int)pad : 0, "", cell,
		       right || last ? 0 : (int)pad, "", last ? "\n" : "  ");
	}
	return 0;
}

static void table_free(struct table *t)
{
	dbuf_free(&t->text);
}

/* ---- status, streams ---- */

void ctl_put_json(const char *text, size_t len)
{
	size_t n = 0;
	char *clean = text_json_clean(text, len, &n);

	if (clean == NULL) {
		ctl_complain("%s", "out of memory");
		return;
	}
	fwrite(clean, 1, n, stdout);
	if (n == 0 || clean[n - 1] != '\n')
		putchar('\n');
	free(clean);
}

static const char *joined(json_object *arr, struct dbuf *b)
{
	size_t n = json_object_is_type(arr, json_type_array) ?
			   json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++)
		dbuf_printf(b, "%s%s", i ? ", " : "", ctl_jitem(arr, i));
	return dbuf_len(b) ? dbuf_str(b) : "-";
}

static int status_tools(json_object *tools)
{
	static const char *const head[] = { "NAME",	"TYPE",	  "MODE",
					    "LISTEN",	"REQUESTS", "DENIED",
					    "STREAMS" };
	struct table t = TABLE_INIT(7, 0160);
	size_t n = json_object_is_type(tools, json_type_array) ?
			   json_object_array_length(tools) : 0;

	table_row(&t, head);
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(tools, i);
		char r[24], d[24], s[24];
		const char *row[] = {
			ctl_cell_str(o, "name"),
			ctl_cell_str(o, "type"),
			ctl_cell_str(o, "mode"),
			ctl_cell_str(o, "listen"),
			cell_int(o, "requests_total", r, sizeof(r)),
			cell_int(o, "denied_total", d, sizeof(d)),
			cell_int(o, "active_streams", s, sizeof(s)),
		};
		table_row(&t, row);
	}
	putchar('\n');
	int r = n == 0 ? puts("no tools") : table_print(&t);
	table_free(&t);
	return r < 0 ? -1 : 0;
}

int ctl_print_status(json_object *o)
{
	char pid[24], started[64], up[24], loaded[64], errs[24], req[24],
		den[24], act[24], rev[24];
	struct dbuf listen = DBUF_INIT(CTL_MAX_TEXT);
	const char *audit = ctl_jstr(o, "audit_log");
	const char *kv[][2] = {
		{ "version:", ctl_cell_str(o, "version") },
		{ "pid:", cell_int(o, "pid", pid, sizeof(pid)) },
		{ "started:", fmt_date(ctl_jstr(o, "started"), started,
				       sizeof(started)) },
		{ "uptime:", cell_age(o, "uptime_secs", up, sizeof(up)) },
		{ "config file:", ctl_cell_str(o, "config_file") },
		{ "config loaded:", fmt_date(ctl_jstr(o, "config_loaded"),
					     loaded, sizeof(loaded)) },
		{ "listen:", joined(ctl_jget(o, "listen"), &listen) },
		{ "admin listen:", ctl_cell_str(o, "admin_listen") },
		{ "audit log:", audit ? audit : "off" },
		{ "audit write errors:",
		  cell_int(o, "audit_write_errors", errs, sizeof(errs)) },
		{ "requests:", cell_int(o, "requests_total", req, sizeof(req)) },
		{ "denied:", cell_int(o, "denied_total", den, sizeof(den)) },
		{ "active streams:",
		  cell_int(o, "active_streams", act, sizeof(act)) },
		{ "revoked clients:",
		  cell_int(o, "revoked_clients", rev, sizeof(rev)) },
	};
	struct table t = TABLE_INIT(2, 0);

	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		table_row(&t, kv[i]);
	int r = dbuf_error(&listen) ? ctl_complain("%s", "out of memory") :
				      table_print(&t);
	table_free(&t);
	dbuf_free(&listen);
	return r < 0 ? -1 : status_tools(ctl_jget(o, "tools"));
}

static void stream_row(struct table *t, json_object *s)
{
	char age[24], bytes[24], idle[24];
	const char *row[] = {
		ctl_cell_str(s, "id"),
		ctl_cell_str(s, "client"),
		ctl_cell_str(s, "tool"),
		ctl_cell_str(s, "http_method"),
		ctl_cell_str(s, "path"),
		cell_age(s, "age_secs", age, sizeof(age)),
		cell_bytes(s, "bytes_out", bytes, sizeof(bytes)),
		cell_age(s, "idle_secs", idle, sizeof(idle)),
	};

	table_row(t, row);
}

int ctl_print_streams(json_object *o)
{
	static const char *const head[] = { "ID",     "CLIENT", "TOOL",
					    "METHOD", "PATH",   "AGE",
					    "BYTES",  "IDLE" };
	json_object *list = ctl_jget(o, "streams");
	struct table t = TABLE_INIT(8, 0340);

	if (!json_object_is_type(list, json_type_array))
		return ctl_complain("%s", "the answer of GET /v1/streams has "
					  "no \"streams\" list");
	size_t n = json_object_array_length(list);
	if (n == 0) {
		puts("no open streams");
		return 0;
	}
	table_row(&t, head);
	for (size_t i = 0; i < n; i++)
		stream_row(&t, json_object_array_get_idx(list, i));
	int r = table_print(&t);
	table_free(&t);
	return r;
}
