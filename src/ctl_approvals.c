/* ctl_approvals — see ctl_approvals.h. */
#include "config.h"

#include "ctl_approvals.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_show.h"
#include "ctl_sniff.h"

int ctl_parse_duration(const char *text, unsigned *secs)
{
	char *end;
	unsigned long long mult = 1;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	unsigned long long n = strtoull(text, &end, 10);
	if (errno != 0 || n > CTL_MAX_GRANT_SECS)
		return -1;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default: return -1;
	}
	if ((*end != '\0' && end[1] != '\0') || n == 0 ||
	    n * mult > CTL_MAX_GRANT_SECS)
		return -1;
	*secs = (unsigned)(n * mult);
	return 0;
}

/* A string of the daemon's, safe for the terminal. */
static void put_clean(const char *s)
{
	struct dbuf b = DBUF_INIT(CTL_MAX_TEXT);

	ctl_clean(&b, s ? s : "-");
	fputs(dbuf_str(&b), stdout);
	dbuf_free(&b);
}

/* "LABEL ID  CLIENT  TOOL  KIND-OR-SCOPE  WHAT  until HH:MM:SS", each
 * field cleaned for the terminal; kind_key names the fourth column. */
static void record_line(const char *label, json_object *r,
			const char *kind_key)
{
	static const char *const keys[] = { "id", "client", "tool", NULL,
					    "what" };
	char clock[40];

	fputs(label, stdout);
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		if (i > 0)
			fputs("  ", stdout);
		put_clean(ctl_jstr(r, keys[i] ? keys[i] : kind_key));
	}
	printf("  until %s\n", ctl_fmt_clock(ctl_jstr(r, "expires"), clock,
					     sizeof(clock)));
}

static void pending_line(json_object *p)
{
	record_line("pending ", p, "kind");
}

static void grant_line(json_object *g)
{
	record_line("grant   ", g, "scope");
}

static int print_list(json_object *o)
{
	json_object *p = ctl_jget(o, "pending"), *g = ctl_jget(o, "grants");

	if (!json_object_is_type(p, json_type_array) ||
	    !json_object_is_type(g, json_type_array))
		return ctl_complain("%s", "the answer of GET /v1/approvals has "
				    "no \"pending\" and \"grants\" lists");
	if (json_object_array_length(p) == 0)
		puts("no request awaits approval");
	for (size_t i = 0; i < json_object_array_length(p); i++)
		pending_line(json_object_array_get_idx(p, i));
	for (size_t i = 0; i < json_object_array_length(g); i++)
		grant_line(json_object_array_get_idx(g, i));
	return 0;
}

/* One event of the feed, one line (or its JSON). */
static int on_feed(const char *type, const char *data, size_t len,
		   void *arg)
{
	int json = *(int *)arg;
	json_object *o;

	if (json) {
		ctl_put_json(data, len);
	} else if ((o = ctl_parse_object(data, len)) == NULL) {
		ctl_complain("%s", "an event of the feed is not a JSON object");
	} else if (strcmp(type, "pending") == 0) {
		pending_line(o);
	} else if (strcmp(type, "decided") == 0) {
		fputs("decided ", stdout);
		put_clean(ctl_jstr(o, "approval_id"));
		fputs("  ", stdout);
		put_clean(ctl_jstr(o, "decision"));
		fputs("  ", stdout);
		put_clean(ctl_jstr(o, "by"));
		putchar('\n');
	} else if (strcmp(type, "dropped") == 0) {
		int64_t n = 0;
		ctl_jint(o, "dropped", &n);
		ctl_complain("%lld events dropped: this reader fell behind",
			     (long long)n);
	}
	if (!json)
		json_object_put(o);
	fflush(stdout);
	return 0;
}

int ctl_approvals_show(const struct ctl_target *t, int json, int follow)
{
	struct dbuf raw = DBUF_INIT(CTL_MAX_ANSWER);
	json_object *o;

	if (follow) /* the feed begins with what is pending now */
		return ctl_follow(t, "/v1/approvals", json, on_feed, &json);
	if (ctl_call(t, "GET", "/v1/approvals", &o, &raw) < 0)
		return -1;
	int r = 0;
	if (json)
		ctl_put_json(dbuf_str(&raw), dbuf_len(&raw));
	else
		r = print_list(o);
	json_object_put(o);
	dbuf_free(&raw);
	return r;
}

/* The id goes into the path: only what the daemon makes (hex). */
static int id_ok(const char *id)
{
	size_t n = strlen(id);

	return n >= 1 && n <= 64 && strspn(id, "0123456789abcdef") == n;
}

static char *decision_body(int approve, unsigned grant_secs,
			   int method_scope, const char *reason)
{
	json_object *b = json_object_new_object();

	json_object_object_add(b, "decision", json_object_new_string(
					       approve ? "approve" : "deny"));
	if (grant_secs > 0) {
		json_object_object_add(b, "grant_secs",
				       json_object_new_int64(grant_secs));
		json_object_object_add(b, "scope", json_object_new_string(
					       method_scope ? "method" :
							      "call"));
	}
	if (reason != NULL)
		json_object_object_add(b, "reason",
				       json_object_new_string(reason));
	char *text = strdup(json_object_to_json_string_ext(
		b, JSON_C_TO_STRING_PLAIN));
	json_object_put(b);
	return text;
}

static void print_decision(json_object *o)
{
	json_object *g = ctl_jget(o, "grant");
	char clock[40];

	put_clean(ctl_jstr(o, "decision"));
	fputs(" ", stdout);
	put_clean(ctl_jstr(o, "id"));
	if (g != NULL) {
		fputs(": grant ", stdout);
		put_clean(ctl_jstr(g, "id"));
		fputs(" (scope ", stdout);
		put_clean(ctl_jstr(g, "scope"));
		printf(") until %s", ctl_fmt_clock(ctl_jstr(g, "expires"),
						   clock, sizeof(clock)));
	}
	putchar('\n');
}

int ctl_approvals_decide(const struct ctl_target *t, const char *id,
			 int approve, unsigned grant_secs, int method_scope,
			 const char *reason, int json)
{
	struct dbuf raw = DBUF_INIT(CTL_MAX_ANSWER);
	char path[128];
	json_object *o;

	if (!id_ok(id))
		return ctl_complain("%s: not an approval id (hex digits)", id);
	snprintf(path, sizeof(path), "/v1/approvals/%s", id);
	char *body = decision_body(approve, grant_secs, method_scope, reason);
	if (body == NULL)
		return ctl_complain("%s", "out of memory");
	int r = ctl_post_json(t, path, body, &o, &raw);
	free(body);
	if (r < 0)
		return -1;
	if (json)
		ctl_put_json(dbuf_str(&raw), dbuf_len(&raw));
	else
		print_decision(o);
	json_object_put(o);
	dbuf_free(&raw);
	return 0;
}
