/* bodycheck — see bodycheck.h. What the MHD thread did in dispatch()
 * until the check moved here: the same decisions, the same records, the
 * same answers, only published through the stream. */
#include "config.h"

#include "bodycheck.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "log.h"
#include "policy.h"
#include "request.h"
#include "text.h"

struct bodycheck {
	const struct cfg *cfg;          /* a reference */
	const struct cfg_tool *tool;
	const struct cfg_client *client; /* in cfg, or NULL */
	char *tool_name;
	struct ratelimit *ratelimit;
	struct ledger_entry *entry;     /* until ended or attached */
	int jsonrpc;
	int rate_pending;
	struct policy_mcp_headers *mcp; /* compared with the body */
	int deciding;                   /* counted in `deciding` below */
};

/* Checks made and not yet decided: server_stop waits for none. */
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static unsigned deciding;

static void decided(struct bodycheck *bc)
{
	if (!bc->deciding)
		return;
	bc->deciding = 0;
	pthread_mutex_lock(&idle_lock);
	if (--deciding == 0)
		pthread_cond_broadcast(&idle_cond);
	pthread_mutex_unlock(&idle_lock);
}

void bodycheck_wait_idle(void)
{
	pthread_mutex_lock(&idle_lock);
	while (deciding > 0)
		pthread_cond_wait(&idle_cond, &idle_lock);
	pthread_mutex_unlock(&idle_lock);
}

struct bodycheck *bodycheck_new(const struct bodycheck_args *a)
{
	struct bodycheck *bc = calloc(1, sizeof(*bc));

	if (bc == NULL || (bc->tool_name = strdup(a->tool_name)) == NULL) {
		free(bc);
		return NULL;
	}
	bc->cfg = cfg_hold(a->cfg);
	bc->tool = a->tool;
	bc->client = a->client;
	bc->ratelimit = a->ratelimit;
	bc->entry = a->entry;
	bc->jsonrpc = a->jsonrpc;
	bc->rate_pending = a->rate_pending;
	bc->mcp = a->mcp;
	bc->deciding = 1;
	pthread_mutex_lock(&idle_lock);
	deciding++;
	pthread_mutex_unlock(&idle_lock);
	return bc;
}

struct ledger_entry *bodycheck_take_entry(struct bodycheck *bc)
{
	struct ledger_entry *e = bc->entry;

	bc->entry = NULL;
	return e;
}

/* A check's entry that never ran: nothing was decided nor forwarded. */
static void drop_undecided(struct ledger_entry *e)
{
	ledger_entry_deny(e, STATUS_CLIENT_CLOSED,
			  "client closed the connection before the request "
			  "was complete");
}

/* An allowed request's entry nobody took back. */
void bodycheck_drop_entry(void *e, int closed)
{
	ledger_entry_open(e, STATUS_CLIENT_CLOSED, LEDGER_PLAIN);
	ledger_entry_end(e, closed ? LEDGER_ENDED_SHUTDOWN :
				     LEDGER_ENDED_CLIENT_CLOSED, NULL);
}

void bodycheck_free(void *arg)
{
	struct bodycheck *bc = arg;

	if (bc == NULL)
		return;
	if (bc->entry != NULL)
		drop_undecided(bc->entry);
	decided(bc);
	cfg_release(bc->cfg);
	policy_mcp_headers_free(bc->mcp);
	free(bc->tool_name);
	free(bc);
}

/* ---- the rate limit ---- */

unsigned bodycheck_tokens(struct ratelimit *rl, const struct cfg_tool *tool,
			  const struct cfg_client *client, size_t n,
			  int commit, char *limit, size_t limit_len)
{
	char client_key[80];
	struct ratelimit_limit lim[2] = {
		{ tool->name, tool->rate_max_requests, tool->rate_window_secs },
		{ client_key, 0, 0 },
	};
	size_t refused = 0;

	if (client != NULL) {
		/* "/" is in no tool's name: the keys cannot meet */
		snprintf(client_key, sizeof(client_key), "clients/%s",
			 client->name);
		lim[1].max = client->rate_max_requests;
		lim[1].window_secs = client->rate_window_secs;
	}
	unsigned wait = ratelimit_admit_all(
		rl, lim, 2, n > UINT_MAX ? UINT_MAX : (unsigned)n, commit,
		text_mono_ms(), &refused);
	/* without a client, lim[1] has no max and refuses nothing; said
	 * here too, where client is dereferenced */
	int by_client = refused == 1 && client != NULL;

	if (wait != 0 && limit != NULL)
		snprintf(limit, limit_len, "%s.%s.rate_limit",
			 by_client ? "clients" : "tools",
			 by_client ? client->name : tool->name);
	return wait;
}

void bodycheck_charge_refusal(struct ratelimit *rl,
			      const struct cfg_tool *tool,
			      const struct cfg_client *client, int *pending)
{
	if (!*pending)
		return;
	*pending = 0;
	bodycheck_tokens(rl, tool, client, 1, 1, NULL, 0);
}

static unsigned take_tokens(struct bodycheck *bc, size_t n, char *limit,
			    size_t limit_len)
{
	return bodycheck_tokens(bc->ratelimit, bc->tool, bc->client, n, 1,
				limit, limit_len);
}

int bodycheck_dry_run(const struct cfg_tool *tool, struct ledger_entry *entry,
		      const struct policy_verdict *v)
{
	if (!tool->audit_mode || (v->status != 403 && v->status != 405))
		return 0;
	if (ledger_entry_set_would_deny(entry, v->reason) < 0)
		return 0;
	log_info("%s: would deny (mode audit): %s", tool->name, v->reason);
	return 1;
}

/* ---- the refusal, through the stream ---- */

static int add_field(struct stream_head *h, const char *name,
		     const char *value)
{
	struct stream_field *f = &h->fields[h->n_fields];

	f->name = strdup(name);
	f->value = strdup(value);
	h->n_fields++; /* freed with the head, even half made */
	return f->name && f->value ? 0 : -1;
}

struct stream_head *bodycheck_head(unsigned status, const char *type,
				   long long len, unsigned retry_after)
{
	struct stream_head *h = calloc(1, sizeof(*h));
	char secs[16];

	if (h == NULL || (h->fields = calloc(3, sizeof(*h->fields))) == NULL) {
		free(h);
		return NULL;
	}
	h->status = (int)status;
	h->content_length = len;
	snprintf(secs, sizeof(secs), "%u", retry_after);
	if (add_field(h, "Content-Type", type) < 0 ||
	    add_field(h, "Cache-Control", "no-store") < 0 ||
	    (retry_after > 0 && add_field(h, "Retry-After", secs) < 0)) {
		stream_head_free(h);
		return NULL;
	}
	return h;
}

/* The answer: one publish, so the parked connection is resumed once. */
void bodycheck_publish_refusal(struct stream *s, unsigned status,
			       const char *reason, const char *tool_name,
			       char *body, unsigned retry_after)
{
	size_t len = 0;

	if (body == NULL)
		body = httpd_error_text(status, reason, tool_name, &len);
	else
		len = strlen(body);
	struct stream_head *h = body ? bodycheck_head(status,
						      "application/json",
						      (long long)len,
						      retry_after) :
				       NULL;
	if (h == NULL)
		stream_fail(s, STREAM_FAIL_INTERNAL, "out of memory");
	else
		stream_publish_whole(s, h, body, len);
	free(body);
}

/* Refused: the record first, then the answer, body (taken) or, when
 * NULL, the one error shape. Always -1: answered. */
static int refuse(struct bodycheck *bc, struct stream *s, unsigned status,
		  const char *reason, char *body, unsigned retry_after)
{
	bodycheck_charge_refusal(bc->ratelimit, bc->tool, bc->client,
				 &bc->rate_pending);
	ledger_entry_deny(bc->entry, status, reason);
	bc->entry = NULL;
	decided(bc);
	bodycheck_publish_refusal(s, status, reason, bc->tool_name, body,
				  retry_after);
	return -1;
}

/* ---- the checks ---- */

/* An allowed body of n calls takes n tokens, all or none: a batch that
 * does not fit is refused whole and nothing of it goes upstream.
 * 0: go on; -1: answered (429). */
static int take_calls(struct bodycheck *bc, struct stream *s,
		      const char *checked, size_t len, size_t n)
{
	char reason[256], limit[128];
	unsigned wait;

	if (!bc->rate_pending)
		return 0;
	bc->rate_pending = 0;
	if ((wait = take_tokens(bc, n > 0 ? n : 1, limit, sizeof(limit))) ==
	    0)
		return 0;
	if (wait == RATELIMIT_NEVER) {
		/* waiting would not help: no Retry-After */
		snprintf(reason, sizeof(reason),
			 "rate limit exceeded: %zu calls are more than "
			 "%s.max_requests",
			 n, limit);
		wait = 0;
	} else {
		snprintf(reason, sizeof(reason), "rate limit exceeded (%s)",
			 limit);
	}
	return refuse(bc, s, MHD_HTTP_TOO_MANY_REQUESTS, reason,
		      policy_jsonrpc_refusal(checked, len, reason), wait);
}

/* A JSON-RPC tool's body must pass the policy, then the rate limit for
 * as many calls as it holds. 0: go on; -1: answered (denied). */
static int check_jsonrpc(struct bodycheck *bc, struct proxy_request *r,
			 struct stream *s, const char *body, size_t len)
{
	struct policy_verdict v;
	struct policy_calls calls;
	char *forward = NULL, *error_body = NULL;
	size_t forward_len = 0;

	/* an MCP tool's headers first, against the body (policy.h) */
	int rc = policy_check_mcp(bc->tool, bc->mcp, body, len, &forward,
				  &forward_len, &error_body, &v, &calls);
	ledger_entry_set_jsonrpc_methods(bc->entry, calls.methods,
					 calls.truncated);
	calls.methods = NULL; /* the entry's now */
	policy_calls_free(&calls);
	if (rc < 0 && bodycheck_dry_run(bc->tool, bc->entry, &v)) {
		/* the client's body goes on as it came, unchecked */
		free(error_body);
		return take_calls(bc, s, body, len, calls.n);
	}
	if (rc < 0) {
		log_info("%s: denied: %s", bc->tool->name, v.reason);
		return refuse(bc, s, (unsigned)v.status, v.reason, error_body,
			      0);
	}
	if (take_calls(bc, s, forward, forward_len, calls.n) < 0) {
		free(forward);
		return -1;
	}
	/* what goes upstream is the checked value, re-serialised */
	proxy_request_set_body(r, forward, forward_len);
	return 0;
}

/* A request that was to have its calls counted but carries no body to
 * check after all: one token, as any other request. */
static int take_pending(struct bodycheck *bc, struct stream *s)
{
	char reason[256], limit[128];
	unsigned wait;

	if (!bc->rate_pending)
		return 0;
	bc->rate_pending = 0;
	if ((wait = take_tokens(bc, 1, limit, sizeof(limit))) == 0)
		return 0;
	snprintf(reason, sizeof(reason), "rate limit exceeded (%s)", limit);
	return refuse(bc, s, MHD_HTTP_TOO_MANY_REQUESTS, reason, NULL, wait);
}

int bodycheck_run(void *arg, struct proxy_request *r, struct stream *s)
{
	struct bodycheck *bc = arg;
	size_t len;
	const char *body = proxy_request_body(r, &len);
	int rc;

	if (body == NULL)
		body = "";
	ledger_entry_set_body(bc->entry, body, len);
	if (bc->jsonrpc)
		rc = check_jsonrpc(bc, r, s, body, len);
	else
		rc = take_pending(bc, s);
	if (rc == 0) {
		/* back to the MHD thread, with the upstream's head */
		stream_attach(s, bc->entry, bodycheck_drop_entry);
		bc->entry = NULL;
		decided(bc);
	}
	return rc;
}
