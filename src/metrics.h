/* metrics — the daemon's counters, rendered for GET /metrics in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * Counters are kept per tool name and client name (a "client" label, left
 * out for requests of no client); a tool's slot is made on first use and
 * lives as long as the metrics object (a tool removed by a reload keeps its
 * final counts). tool "" stands for requests that named no known tool; a
 * client-chosen name is never used as a label. All functions are
 * thread-safe; updating a counter takes no lock once its slot exists. */
#ifndef CARAPACE_METRICS_H
#define CARAPACE_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metrics_direction {
	METRICS_IN,  /* request body bytes from the client */
	METRICS_OUT, /* response body bytes to the client */
};

enum metrics_upstream_error {
	METRICS_UPSTREAM_NONE,        /* not the upstream's fault */
	METRICS_UPSTREAM_UNREACHABLE, /* connect failed */
	METRICS_UPSTREAM_TIMEOUT,     /* no head in time, or idle too long */
	METRICS_UPSTREAM_PROTOCOL,    /* not usable HTTP */
	METRICS_UPSTREAM_BROKEN,      /* the body ended before it was whole */
	METRICS_UPSTREAM_ERROR_KINDS,
};

/* Why the front cut or refused a client connection. */
enum metrics_refusal {
	METRICS_REFUSED_PER_IP,         /* max_connections_per_ip reached */
	METRICS_REFUSED_TOTAL,          /* the daemon's connection limit */
	METRICS_REFUSED_HEADER_TIMEOUT, /* client_header_timeout_secs */
	METRICS_REFUSED_BODY_TIMEOUT,   /* client_body_timeout_secs */
	METRICS_REFUSAL_KINDS,
};

/* What /metrics reports besides the counters. Strings are borrowed. */
struct metrics_info {
	const char *version;
	double uptime_secs;
	uint64_t audit_write_errors;
	uint64_t audit_dropped;      /* records a slow live tail missed */
	double config_load_time;     /* Unix time of the last (re)load */
};

/* What happened to a request, told by the ledger in one call; metrics
 * derives every per-tool counter from it. */
enum metrics_event_kind {
	METRICS_DENIED, /* refused before forwarding: a denied request, and
			 * a rate-limited one when status is 429 */
	METRICS_FAILED, /* allowed, but ended with an error and no answer:
			 * an allowed request, its upstream_error and its
			 * duration */
	METRICS_OPENED, /* allowed, the answer's head went out: an allowed
			 * request, and an active stream when stream */
	METRICS_SENT,   /* bytes_out body bytes went to the client */
	METRICS_ENDED,  /* an opened answer is over: its upstream_error, and
			 * its duration, or one active stream fewer */
};

struct metrics_event {
	enum metrics_event_kind kind;
	const char *tool;       /* NULL or "": no known tool; borrowed */
	const char *client;     /* NULL or "": no client (clients); a name
				 * from the config, never a client's bytes;
				 * borrowed */
	unsigned status;        /* METRICS_DENIED */
	int stream;             /* METRICS_OPENED, METRICS_ENDED: the answer
				 * is a stream (no duration is counted) */
	uint64_t bytes_in;      /* DENIED, FAILED, OPENED: the request body */
	uint64_t bytes_out;     /* METRICS_SENT */
	double seconds;         /* FAILED, ENDED: since the request came */
	enum metrics_upstream_error upstream_error; /* FAILED, ENDED */
	/* FAILED, OPENED: METRICS_ALLOW (0), or a dry run's
	 * METRICS_WOULD_DENY or METRICS_WOULD_HOLD */
	int allowed_as;
};

/* Whether a request was let through (carapace_requests_total). */
enum metrics_decision {
	METRICS_ALLOW,
	METRICS_DENY, /* refused by policy, limit or error before forwarding */
	METRICS_WOULD_DENY, /* forwarded by a dry run ("mode": "audit")
			     * that the tool's rules would have refused */
	METRICS_WOULD_HOLD, /* forwarded by a dry run that require_approval
			     * would have held */
};

struct metrics;

/* NULL on out of memory. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Counts one event of a request (see enum metrics_event_kind). */
void metrics_record(struct metrics *m, const struct metrics_event *ev);

/* The single counters metrics_record derives, one at a time. The daemon
 * counts only through metrics_record; these are for the exposition's
 * tests. carapace_requests_total: */
void metrics_request(struct metrics *m, const char *tool,
		     enum metrics_decision decision);
/* A non-stream request ended after seconds: the duration histogram. */
void metrics_duration(struct metrics *m, const char *tool, double seconds);
/* A stream opened (+1) or ended (-1): carapace_active_streams. */
void metrics_stream(struct metrics *m, const char *tool, int delta);
void metrics_bytes(struct metrics *m, const char *tool,
		   enum metrics_direction dir, uint64_t n);
void metrics_upstream_error(struct metrics *m, const char *tool,
			    enum metrics_upstream_error kind);
void metrics_rate_limited(struct metrics *m, const char *tool);
/* carapace_connections_refused_total{reason}; no tool: it is counted
 * before a request names one. */
void metrics_connection_refused(struct metrics *m,
				enum metrics_refusal why);

/* Sums for /v1/status, over every client; any pointer may be NULL. tool
 * NULL: all tools.
 * *requests counts allowed, denied and would_deny ones; an unknown tool
 * gives zeros.
 * (In the update functions above, a NULL tool counts as "".) */
void metrics_totals(struct metrics *m, const char *tool, uint64_t *requests,
		    uint64_t *denied, int64_t *active_streams);

/* The exposition text (caller frees), NULL on out of memory. */
char *metrics_render(struct metrics *m, const struct metrics_info *info,
		     size_t *len);

#endif
