/* approvals — see approvals.h. The registry: pending requests, grants,
 * feeds, under one lock. A pending request is its worker's (made and
 * freed in approvals_hold()); while listed, the decider may set its
 * decision and write its eventfd, both under the lock. The audit records
 * written here stand alone (audit_write): the held request, its end
 * (decided, timed out, left, stopped) and each grant; the request's own
 * record names its approval or grant (ledger_entry_set_approval). */
#include "config.h"

#include "approvals.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "revoked.h"
#include "secret.h"
#include "text.h"

enum pending_state { P_WAITING, P_APPROVED, P_DENIED, P_STOPPED };

struct pending {
	struct pending *next;
	char id[APPROVAL_ID_LEN + 1];
	char *client, *tool, *what, *rule;
	enum approval_kind kind;
	unsigned char digest[32], fingerprint[32];
	struct timespec created, expires;       /* CLOCK_REALTIME */
	uint64_t deadline_ms;                   /* text_mono_ms() */
	unsigned timeout_secs;
	int wake_fd;
	int audited;                            /* the tool's audit.enabled */
	enum pending_state state;               /* under the lock */
	char reason[256];                       /* a denial's */
};

struct grant {
	struct grant *next;
	char id[APPROVAL_ID_LEN + 1];
	char approval_id[APPROVAL_ID_LEN + 1];
	char *client, *tool, *what, *by;        /* what: the rule for an
						 * argv method grant */
	enum approval_kind kind;
	int method_scope;
	unsigned char digest[32], fingerprint[32];
	struct timespec expires;
	uint64_t expires_ms;
	uint64_t uses;
};

struct approvals_feed {
	struct approvals_feed *next;
	struct stream *stream;
	approvals_feed_fn deliver;
	uint64_t missed;
};

struct approvals {
	pthread_mutex_t lock;
	pthread_cond_t idle;                    /* n_pending fell to 0 */
	struct audit *audit;
	const struct cfg *cfg;                  /* in force; a reference */
	struct revoked *revoked;                /* borrowed; NULL: none */
	struct pending *pending;
	unsigned n_pending;
	struct grant *grants;
	unsigned n_grants;
	struct approvals_feed *feeds;
	unsigned n_feeds;
	int stopping;
	void (*notify)(void *, const char *, const char *, size_t);
	void *notify_arg;
};

static const char *const kind_names[] = {
	[APPROVAL_JSONRPC] = "jsonrpc", [APPROVAL_ARGV] = "argv",
	[APPROVAL_HTTP] = "http",
};

/* ---- the registry ---- */

struct approvals *approvals_new(struct audit *audit)
{
	struct approvals *ap = calloc(1, sizeof(*ap));

	if (ap == NULL)
		return NULL;
	ap->audit = audit;
	pthread_mutex_init(&ap->lock, NULL);
	pthread_cond_init(&ap->idle, NULL);
	return ap;
}

static void grant_free(struct grant *g)
{
	free(g->client);
	free(g->tool);
	free(g->what);
	free(g->by);
	free(g);
}

static void wake(const struct pending *p)
{
	static const uint64_t one = 1;

	/* fails only when the counter is full: it is set already */
	if (write(p->wake_fd, &one, sizeof(one)) < 0)
		return;
}

void approvals_shutdown(struct approvals *ap)
{
	pthread_mutex_lock(&ap->lock);
	ap->stopping = 1;
	for (struct pending *p = ap->pending; p != NULL; p = p->next)
		wake(p);
	pthread_mutex_unlock(&ap->lock);
}

void approvals_free(struct approvals *ap)
{
	if (ap == NULL)
		return;
	approvals_shutdown(ap);
	pthread_mutex_lock(&ap->lock);
	while (ap->n_pending > 0)
		pthread_cond_wait(&ap->idle, &ap->lock);
	pthread_mutex_unlock(&ap->lock);
	while (ap->feeds != NULL) {
		struct approvals_feed *f = ap->feeds;
		ap->feeds = f->next;
		stream_finish(f->stream, STREAM_END_WHOLE);
		stream_release(f->stream);
		free(f);
	}
	while (ap->grants != NULL) {
		struct grant *g = ap->grants;
		ap->grants = g->next;
		grant_free(g);
	}
	cfg_release(ap->cfg);
	pthread_cond_destroy(&ap->idle);
	pthread_mutex_destroy(&ap->lock);
	free(ap);
}

static void prune_grants(struct approvals *ap, uint64_t now);

/* The grants of a tool this config changed or removed die now, not when
 * next looked at: a later reload that puts the tool back as it was must
 * not bring them back. */
void approvals_set_cfg(struct approvals *ap, const struct cfg *cfg)
{
	const struct cfg *old;

	cfg_hold(cfg);
	pthread_mutex_lock(&ap->lock);
	old = ap->cfg;
	ap->cfg = cfg;
	prune_grants(ap, text_mono_ms());
	pthread_mutex_unlock(&ap->lock);
	cfg_release(old);
}

void approvals_set_revoked(struct approvals *ap, struct revoked *revoked)
{
	ap->revoked = revoked;
}

void approvals_set_notify(struct approvals *ap,
			  void (*fn)(void *, const char *, const char *,
				     size_t),
			  void *arg)
{
	pthread_mutex_lock(&ap->lock);
	ap->notify = fn;
	ap->notify_arg = arg;
	pthread_mutex_unlock(&ap->lock);
}

/* ---- records: JSON for the list, the feed, the audit trail ---- */

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void add_time(struct json_object *o, const char *k,
		     const struct timespec *t)
{
	char ts[40];

	text_rfc3339(t, ts, sizeof(ts));
	add_str(o, k, ts);
}

static void add_digest(struct json_object *o, const unsigned char d[32])
{
	char hex[SECRET_HEX_LEN + 1];

	secret_hex_format(d, hex);
	add_str(o, "digest", hex);
}

static struct json_object *pending_json(const struct pending *p)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "id", p->id);
	add_str(o, "client", p->client);
	add_str(o, "tool", p->tool);
	add_str(o, "kind", kind_names[p->kind]);
	add_str(o, "what", p->what);
	add_digest(o, p->digest);
	add_time(o, "created", &p->created);
	add_time(o, "expires", &p->expires);
	json_object_object_add(o, "timeout_secs",
			       json_object_new_int64(p->timeout_secs));
	return o;
}

static struct json_object *grant_json(const struct grant *g)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "id", g->id);
	add_str(o, "approval_id", g->approval_id);
	add_str(o, "client", g->client);
	add_str(o, "tool", g->tool);
	add_str(o, "kind", kind_names[g->kind]);
	add_str(o, "scope", g->method_scope ? "method" : "call");
	add_str(o, "what", g->what);
	if (g->method_scope)
		json_object_object_add(o, "digest", NULL);
	else
		add_digest(o, g->digest);
	add_time(o, "expires", &g->expires);
	add_str(o, "by", g->by);
	json_object_object_add(o, "uses", json_object_new_int64(
					       (int64_t)g->uses));
	return o;
}

/* Each feed gets the event; a gap is told first. Lock held. */
static void feed_all(struct approvals *ap, const char *event,
		     struct json_object *o)
{
	const char *text = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN);
	size_t len = text ? strlen(text) : 0;
	struct approvals_feed **fp = &ap->feeds;

	while (text != NULL && *fp != NULL) {
		struct approvals_feed *f = *fp;
		int rc = 0;
		if (f->missed > 0 &&
		    (rc = f->deliver(f->stream, NULL, NULL, 0, f->missed)) == 0)
			f->missed = 0;
		if (rc == 0 && f->missed == 0)
			rc = f->deliver(f->stream, event, text, len, 0);
		if (rc == -2)
			f->missed++;
		fp = &f->next; /* a reader gone ends its own feed */
	}
}

/* A standalone audit record: {"ts", "event", ...o}. o is put. */
static void audit_record(struct approvals *ap, const char *event,
			 struct json_object *o, const char *tool,
			 const char *decision)
{
	struct json_object *r = json_object_new_object();
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	add_time(r, "ts", &now);
	add_str(r, "event", event);
	json_object_object_foreach(o, k, v) {
		json_object_object_add(r, k, json_object_get(v));
	}
	const char *text = json_object_to_json_string_ext(
		r, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text != NULL && ap->audit != NULL)
		audit_write(ap->audit, text, strlen(text), tool, decision);
	json_object_put(r);
	json_object_put(o);
}

/* The end of a pending request, to the feeds and the audit trail:
 * {"id", "tool", "client", "decision", ...extra}. Lock held. */
static void tell_end(struct approvals *ap, const struct pending *p,
		     const char *decision, const char *event,
		     struct json_object *extra)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "approval_id", p->id);
	add_str(o, "client", p->client);
	add_str(o, "tool", p->tool);
	add_str(o, "decision", decision);
	if (extra != NULL) {
		json_object_object_foreach(extra, k, v) {
			json_object_object_add(o, k, json_object_get(v));
		}
		json_object_put(extra);
	}
	feed_all(ap, "decided", o);
	if (!p->audited) {
		json_object_put(o);
		return;
	}
	audit_record(ap, event, o, p->tool,
		     strcmp(decision, "approve") == 0 ? "allow" : "deny");
}

/* ---- grants ---- */

static int same_fp(const struct cfg *cfg, const char *tool,
		   const unsigned char fp[32])
{
	const struct cfg_tool *t = cfg ? cfg_find_tool(cfg, tool,
						       strlen(tool)) : NULL;

	return t != NULL && memcmp(t->fingerprint, fp, 32) == 0;
}

/* Expired grants and those whose tool changed or went. Lock held. */
static void prune_grants(struct approvals *ap, uint64_t now)
{
	struct grant **gp = &ap->grants;

	while (*gp != NULL) {
		struct grant *g = *gp;
		if (now < g->expires_ms &&
		    same_fp(ap->cfg, g->tool, g->fingerprint)) {
			gp = &g->next;
			continue;
		}
		*gp = g->next;
		ap->n_grants--;
		grant_free(g);
	}
}

static int grant_covers(const struct grant *g,
			const struct approval_request *rq)
{
	if (g->kind != rq->kind || strcmp(g->client, rq->client) != 0 ||
	    strcmp(g->tool, rq->tool->name) != 0 ||
	    memcmp(g->fingerprint, rq->tool->fingerprint, 32) != 0)
		return 0;
	if (g->method_scope)
		return strcmp(g->what, rq->kind == APPROVAL_ARGV && rq->rule ?
					       rq->rule : rq->what) == 0;
	return strcmp(g->what, rq->what) == 0 &&
	       memcmp(g->digest, rq->digest, 32) == 0;
}

/* A live grant covering rq, its use counted; NULL: none. Lock held. */
static const struct grant *find_grant(struct approvals *ap,
				      const struct approval_request *rq)
{
	prune_grants(ap, text_mono_ms());
	for (struct grant *g = ap->grants; g != NULL; g = g->next)
		if (grant_covers(g, rq)) {
			g->uses++;
			return g;
		}
	return NULL;
}

static int random_id(char out[APPROVAL_ID_LEN + 1])
{
	unsigned char b[APPROVAL_ID_LEN / 2];
	static const char hex[] = "0123456789abcdef";

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -1;
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[APPROVAL_ID_LEN] = '\0';
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The grant an approval makes. Lock held. NULL: out of memory. */
static struct grant *grant_new(const struct pending *p,
			       const struct approval_decision *d)
{
	struct grant *g = calloc(1, sizeof(*g));
	struct timespec now;

	if (g == NULL || random_id(g->id) < 0)
		goto fail;
	g->client = strdup(p->client);
	g->tool = strdup(p->tool);
	g->what = strdup(d->method_scope && p->rule ? p->rule : p->what);
	g->by = strdup(d->by);
	if (!g->client || !g->tool || !g->what || !g->by)
		goto fail;
	memcpy(g->approval_id, p->id, sizeof(g->approval_id));
	g->kind = p->kind;
	g->method_scope = d->method_scope;
	memcpy(g->digest, p->digest, 32);
	memcpy(g->fingerprint, p->fingerprint, 32);
	g->expires_ms = text_mono_ms() + (uint64_t)d->grant_secs * 1000u;
	clock_gettime(CLOCK_REALTIME, &now);
	g->expires = now;
	g->expires.tv_sec += d->grant_secs;
	return g;
fail:
	if (g != NULL)
		grant_free(g);
	return NULL;
}

/* ---- the decision ---- */

static struct pending *find_pending(struct approvals *ap, const char *id)
{
	struct pending *p;

	for (p = ap->pending; p != NULL; p = p->next)
		if (p->state == P_WAITING &&
		    secret_equal(p->id, id, APPROVAL_ID_LEN + 1))
			return p;
	return NULL;
}

static struct json_object *decided_json(const struct pending *p,
					const struct approval_decision *d,
					const struct grant *g)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "by", d->by);
	add_str(o, "reason", d->reason);
	json_object_object_add(o, "grant", g ? grant_json(g) : NULL);
	(void)p;
	return o;
}

/* Lock held. 0, or -1 with err. */
static int make_grant(struct approvals *ap, const struct pending *p,
		      const struct approval_decision *d, struct grant **out,
		      struct error *err)
{
	*out = NULL;
	if (!d->approve || d->grant_secs == 0)
		return 0;
	prune_grants(ap, text_mono_ms());
	if (ap->n_grants >= APPROVALS_MAX_GRANTS) {
		error_set(err, 409, NULL, "too many grants (%u): approve "
			  "without --for, or wait for some to expire",
			  APPROVALS_MAX_GRANTS);
		return -1;
	}
	if ((*out = grant_new(p, d)) == NULL) {
		error_set(err, 500, NULL, "out of memory");
		return -1;
	}
	(*out)->next = ap->grants;
	ap->grants = *out;
	ap->n_grants++;
	return 0;
}

struct json_object *approvals_decide(struct approvals *ap, const char *id,
				     const struct approval_decision *d,
				     struct error *err)
{
	struct grant *g;

	error_clear(err);
	pthread_mutex_lock(&ap->lock);
	struct pending *p = strlen(id) == APPROVAL_ID_LEN ?
				    find_pending(ap, id) : NULL;
	if (p == NULL) {
		pthread_mutex_unlock(&ap->lock);
		error_set(err, 404, NULL, "no pending approval %s", id);
		return NULL;
	}
	if (make_grant(ap, p, d, &g, err) < 0) {
		pthread_mutex_unlock(&ap->lock);
		return NULL;
	}
	p->state = d->approve ? P_APPROVED : P_DENIED;
	snprintf(p->reason, sizeof(p->reason), "%s",
		 d->reason ? d->reason : "");
	wake(p);
	struct json_object *answer = decided_json(p, d, g);
	add_str(answer, "id", p->id);
	add_str(answer, "decision", d->approve ? "approve" : "deny");
	tell_end(ap, p, d->approve ? "approve" : "deny", "approval_decided",
		 decided_json(p, d, g));
	pthread_mutex_unlock(&ap->lock);
	log_info("approval %s: %s by %s", id, d->approve ? "approved" :
		 "denied", d->by);
	return answer;
}

struct json_object *approvals_list(struct approvals *ap)
{
	struct json_object *o = json_object_new_object();
	struct json_object *pending = json_object_new_array();
	struct json_object *grants = json_object_new_array();

	pthread_mutex_lock(&ap->lock);
	prune_grants(ap, text_mono_ms());
	for (struct pending *p = ap->pending; p != NULL; p = p->next)
		if (p->state == P_WAITING)
			json_object_array_add(pending, pending_json(p));
	for (struct grant *g = ap->grants; g != NULL; g = g->next)
		json_object_array_add(grants, grant_json(g));
	pthread_mutex_unlock(&ap->lock);
	json_object_object_add(o, "pending", pending);
	json_object_object_add(o, "grants", grants);
	return o;
}

/* ---- the feed ---- */

struct approvals_feed *approvals_feed_new(struct approvals *ap,
					  struct stream *s,
					  approvals_feed_fn deliver)
{
	struct approvals_feed *f = calloc(1, sizeof(*f));

	pthread_mutex_lock(&ap->lock);
	if (f == NULL || ap->n_feeds >= APPROVALS_MAX_FEEDS) {
		pthread_mutex_unlock(&ap->lock);
		free(f);
		stream_release(s);
		return NULL;
	}
	f->stream = s;
	f->deliver = deliver;
	/* what is pending now, then what comes */
	for (struct pending *p = ap->pending; p != NULL; p = p->next) {
		struct json_object *o = p->state == P_WAITING ?
						pending_json(p) : NULL;
		const char *text = o ? json_object_to_json_string_ext(
					       o, JSON_C_TO_STRING_PLAIN) :
				       NULL;
		if (text != NULL &&
		    deliver(s, "pending", text, strlen(text), 0) == -2)
			f->missed++;
		json_object_put(o);
	}
	f->next = ap->feeds;
	ap->feeds = f;
	ap->n_feeds++;
	pthread_mutex_unlock(&ap->lock);
	return f;
}

void approvals_feed_end(struct approvals *ap, struct approvals_feed *f)
{
	pthread_mutex_lock(&ap->lock);
	for (struct approvals_feed **fp = &ap->feeds; *fp; fp = &(*fp)->next)
		if (*fp == f) {
			*fp = f->next;
			ap->n_feeds--;
			break;
		}
	pthread_mutex_unlock(&ap->lock);
	stream_finish(f->stream, STREAM_END_WHOLE);
	stream_release(f->stream);
	free(f);
}

/* ---- the hold ---- */

/* A configured client (not "addr:...") a reload removed or narrowed. */
static int client_gone(const struct cfg *cfg, const char *key,
		       const char *tool, char *why, size_t len)
{
	const struct cfg_client *cl;

	if (strncmp(key, "addr:", 5) == 0 && !cfg->has_clients)
		return 0;
	cl = strncmp(key, "addr:", 5) != 0 ? cfg_find_client(cfg, key) : NULL;
	if (cl != NULL && cfg_client_may_use(cl, tool))
		return 0;
	snprintf(why, len, "approved, but a reload since no longer lets "
		 "this client use tool %s", tool);
	return 1;
}

/* A configured client revoked since its request was held. */
static int client_revoked(struct approvals *ap, const char *key, char *why,
			  size_t len)
{
	if (ap->revoked == NULL || strncmp(key, "addr:", 5) == 0 ||
	    !revoked_has(ap->revoked, key))
		return 0;
	snprintf(why, len, "approved, but client %s was revoked since "
		 "(revoked_clients_file)", key);
	return 1;
}

int approvals_tool_now(struct approvals *ap,
		       const struct approval_request *rq,
		       const struct cfg **cfg, const struct cfg_tool **now,
		       char *why, size_t len)
{
	const struct cfg_tool *tool = rq->tool;

	pthread_mutex_lock(&ap->lock);
	*cfg = ap->cfg ? cfg_hold(ap->cfg) : NULL;
	pthread_mutex_unlock(&ap->lock);
	*now = *cfg ? cfg_find_tool(*cfg, tool->name, strlen(tool->name)) :
		      NULL;
	int rc = 1;
	if (client_revoked(ap, rq->client, why, len)) {
		rc = -1;
	} else if (*now == NULL) {
		snprintf(why, len, "approved, but tool %s was removed by a "
			 "reload", tool->name);
		rc = -1;
	} else if (client_gone(*cfg, rq->client, tool->name, why, len)) {
		rc = -1;
	} else if (memcmp((*now)->fingerprint, tool->fingerprint, 32) == 0) {
		rc = 0;
	}
	if (rc <= 0) {
		cfg_release(*cfg);
		*cfg = NULL;
		*now = NULL;
	}
	return rc;
}

static void pending_free(struct pending *p)
{
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	free(p->client);
	free(p->tool);
	free(p->what);
	free(p->rule);
	free(p);
}

static struct pending *pending_new(const struct approval_request *rq)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->client = strdup(rq->client);
	p->tool = strdup(rq->tool->name);
	p->what = strdup(rq->what);
	p->rule = dup_or_null(rq->rule);
	if (p->wake_fd < 0 || !p->client || !p->tool || !p->what ||
	    (rq->rule && !p->rule) || random_id(p->id) < 0) {
		pending_free(p);
		return NULL;
	}
	p->kind = rq->kind;
	p->audited = rq->tool->audit_enabled;
	memcpy(p->digest, rq->digest, 32);
	memcpy(p->fingerprint, rq->tool->fingerprint, 32);
	p->timeout_secs = rq->tool->approval.timeout_secs;
	if (p->timeout_secs == 0) /* a tool not made by cfg.c */
		p->timeout_secs = CFG_DEFAULT_APPROVAL_TIMEOUT_SECS;
	p->deadline_ms = text_mono_ms() + p->timeout_secs * 1000ull;
	clock_gettime(CLOCK_REALTIME, &p->created);
	p->expires = p->created;
	p->expires.tv_sec += p->timeout_secs;
	return p;
}

static void set_result(struct approval_result *res, enum approval_outcome o,
		       const char *id, const char *reason)
{
	res->outcome = o;
	snprintf(res->id, sizeof(res->id), "%s", id ? id : "");
	snprintf(res->reason, sizeof(res->reason), "%s", reason ? reason : "");
}

/* Listed, recorded, fed and notified. Lock held; 0, or -1 (res set). */
static int enlist(struct approvals *ap, struct pending *p,
		  struct approval_result *res)
{
	if (ap->stopping) {
		set_result(res, APPROVAL_STOPPED, NULL, "shutting down");
		return -1;
	}
	if (ap->n_pending >= APPROVALS_MAX_PENDING) {
		set_result(res, APPROVAL_FAILED, NULL,
			   "too many requests awaiting approval");
		return -1;
	}
	p->next = ap->pending;
	ap->pending = p;
	ap->n_pending++;
	struct json_object *o = pending_json(p);
	feed_all(ap, "pending", o);
	json_object_object_del(o, "id");
	json_object_object_add(o, "approval_id", json_object_new_string(p->id));
	if (p->audited)
		audit_record(ap, "approval_pending", o, p->tool, NULL);
	else
		json_object_put(o);
	return 0;
}

static void delist(struct approvals *ap, struct pending *p)
{
	for (struct pending **pp = &ap->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	if (--ap->n_pending == 0)
		pthread_cond_broadcast(&ap->idle);
}

/* The webhook, told outside the lock (it copies what it keeps). */
static void notify(struct approvals *ap, const struct pending *p)
{
	pthread_mutex_lock(&ap->lock);
	void (*fn)(void *, const char *, const char *, size_t) = ap->notify;
	void *arg = ap->notify_arg;
	const struct cfg *cfg = ap->cfg ? cfg_hold(ap->cfg) : NULL;
	pthread_mutex_unlock(&ap->lock);
	if (fn != NULL && cfg != NULL && cfg->approval_webhook != NULL) {
		struct json_object *o = pending_json(p);
		const char *text = json_object_to_json_string_ext(
			o, JSON_C_TO_STRING_PLAIN);
		if (text != NULL)
			fn(arg, cfg->approval_webhook, text, strlen(text));
		json_object_put(o);
	}
	cfg_release(cfg);
}

static void wake_hook(void *arg)
{
	wake(arg);
}

/* One sleep: the eventfd and the client's socket, until ms. 1: the
 * client left. */
static int sleep_once(struct pending *p, struct stream *s, int ms)
{
	int fd = stream_client_hold(s);
	struct pollfd pf[2] = { { p->wake_fd, POLLIN, 0 },
				{ fd, POLLRDHUP, 0 } };
	int gone = 0;
	uint64_t n;

	if (poll(pf, fd >= 0 ? 2 : 1, ms) > 0 && fd >= 0)
		gone = (pf[1].revents &
			(POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
	if (fd >= 0)
		stream_client_drop(s);
	if (read(p->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("approval %s: eventfd", p->id);
	return gone;
}

/* Waits for the end: the decision (P_APPROVED / P_DENIED), a stop
 * (P_STOPPED), the client leaving (-1) or the timeout (-2). */
static int wait_end(struct approvals *ap, struct pending *p,
		    struct stream *s)
{
	int end = P_WAITING;

	stream_set_cancel_hook(s, wake_hook, p);
	while (end == P_WAITING) {
		pthread_mutex_lock(&ap->lock);
		if (p->state == P_WAITING && ap->stopping)
			p->state = P_STOPPED;
		end = (int)p->state;
		pthread_mutex_unlock(&ap->lock);
		if (end != P_WAITING)
			break;
		uint64_t now = text_mono_ms();
		if (stream_is_cancelled(s))
			end = -1;
		else if (now >= p->deadline_ms)
			end = -2;
		else if (sleep_once(p, s, (int)(p->deadline_ms - now))) {
			end = -1;
			stream_cancel(s); /* let go of its socket: none held */
		}
		/* a decision that came meanwhile wins: read it again */
		pthread_mutex_lock(&ap->lock);
		if (p->state != P_WAITING)
			end = (int)p->state;
		else if (end < 0)
			p->state = P_STOPPED; /* no decision may come now */
		pthread_mutex_unlock(&ap->lock);
	}
	stream_set_cancel_hook(s, NULL, NULL);
	return end;
}

/* The end the worker saw, told (a decision was told by its decider). */
static void finish(struct approvals *ap, struct pending *p, int end,
		   struct approval_result *res)
{
	pthread_mutex_lock(&ap->lock);
	delist(ap, p);
	switch (end) {
	case P_APPROVED:
		set_result(res, APPROVAL_APPROVED, p->id, NULL);
		break;
	case P_DENIED: {
		char why[300];
		snprintf(why, sizeof(why), "approval denied%s%s",
			 p->reason[0] ? ": " : "", p->reason);
		set_result(res, APPROVAL_DENIED, p->id, why);
		break;
	}
	case -2:
		set_result(res, APPROVAL_TIMED_OUT, p->id,
			   "approval timed out");
		tell_end(ap, p, "timeout", "approval_timeout", NULL);
		break;
	case -1:
		set_result(res, APPROVAL_GONE, p->id,
			   "client closed the connection while awaiting "
			   "approval");
		tell_end(ap, p, "cancelled", "approval_cancelled", NULL);
		break;
	default:
		set_result(res, APPROVAL_STOPPED, p->id, "shutting down");
		tell_end(ap, p, "cancelled", "approval_cancelled", NULL);
	}
	pthread_mutex_unlock(&ap->lock);
}

/* rq as approvals_hold() was given it, its what and rule as shown. */
static void hold_shown(struct approvals *ap,
		       const struct approval_request *rq,
		       struct approval_result *res)
{
	pthread_mutex_lock(&ap->lock);
	const struct grant *g = ap->stopping ? NULL : find_grant(ap, rq);
	if (g != NULL) {
		set_result(res, APPROVAL_GRANTED, g->id, NULL);
		pthread_mutex_unlock(&ap->lock);
		return;
	}
	pthread_mutex_unlock(&ap->lock);
	struct pending *p = pending_new(rq);
	if (p == NULL) {
		set_result(res, APPROVAL_FAILED, NULL, "out of memory");
		return;
	}
	pthread_mutex_lock(&ap->lock);
	int rc = enlist(ap, p, res);
	pthread_mutex_unlock(&ap->lock);
	if (rc < 0) {
		pending_free(p);
		return;
	}
	log_info("%s: held for approval %s (%s)", p->tool, p->id, p->what);
	notify(ap, p);
	finish(ap, p, wait_end(ap, p, rq->stream), res);
	pending_free(p);
}

void approvals_hold(struct approvals *ap, const struct approval_request *rq,
		    struct approval_result *res)
{
	struct approval_request shown = *rq;
	char *what = approvals_shown_text(rq->what);
	char *rule = rq->rule ? approvals_shown_text(rq->rule) : NULL;

	shown.what = what;
	shown.rule = rule;
	if (what == NULL || (rq->rule != NULL && rule == NULL))
		set_result(res, APPROVAL_FAILED, NULL, "out of memory");
	else
		hold_shown(ap, &shown, res);
	free(what);
	free(rule);
}
