/* metrics — see metrics.h.
 *
 * One slot per tool name and client name (clients; "" for none), in a
 * list that only grows until metrics_free.
 * A slot is built whole and then linked at the tail with a release store,
 * under a mutex that only creators take; everyone else walks the list with
 * acquire loads and no lock, so a slot found once stays valid. Counters
 * are relaxed atomics: each is exact, but a render running alongside
 * updates may see one of two simultaneous updates and not yet the other. */
#include "config.h"

#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers.h"

/* Upper bounds (inclusive) of the duration histogram, as printed. */
static const struct {
	double bound;
	const char *le;
} buckets[] = {
	{ 0.005, "0.005" }, { 0.01, "0.01" }, { 0.025, "0.025" },
	{ 0.05, "0.05" },   { 0.1, "0.1" },   { 0.25, "0.25" },
	{ 0.5, "0.5" },     { 1, "1" },       { 2.5, "2.5" },
	{ 5, "5" },         { 10, "10" },     { 30, "30" },
	{ 60, "60" },
};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static const char *const kind_label[] = {
	[METRICS_UPSTREAM_UNREACHABLE] = ",kind=\"unreachable\"",
	[METRICS_UPSTREAM_TIMEOUT] = ",kind=\"timeout\"",
	[METRICS_UPSTREAM_PROTOCOL] = ",kind=\"protocol\"",
	[METRICS_UPSTREAM_BROKEN] = ",kind=\"broken\"",
};
_Static_assert(sizeof(kind_label) / sizeof(kind_label[0]) ==
		       METRICS_UPSTREAM_ERROR_KINDS,
	       "a label for every upstream error kind but none");

static const char *const refusal_label[] = {
	[METRICS_REFUSED_PER_IP] = "per_ip",
	[METRICS_REFUSED_TOTAL] = "total",
	[METRICS_REFUSED_HEADER_TIMEOUT] = "header_timeout",
	[METRICS_REFUSED_BODY_TIMEOUT] = "body_timeout",
};
_Static_assert(sizeof(refusal_label) / sizeof(refusal_label[0]) ==
		       METRICS_REFUSAL_KINDS,
	       "a label for every refusal");

struct slot {
	_Atomic(struct slot *) next;
	char *tool;                       /* owned copy */
	char *client;                     /* owned copy; "": no client */
	_Atomic uint64_t allowed;
	_Atomic uint64_t denied;
	_Atomic uint64_t would_deny; /* let pass by a dry run */
	_Atomic uint64_t would_hold; /* not held, by a dry run */
	/* per bucket, not cumulative: the last one is past the last bound */
	_Atomic uint64_t bucket[N_BUCKETS + 1];
	_Atomic uint64_t sum_us;
	_Atomic int64_t streams;
	_Atomic uint64_t bytes[2];        /* by enum metrics_direction */
	/* by enum metrics_upstream_error; [METRICS_UPSTREAM_NONE] unused */
	_Atomic uint64_t upstream[METRICS_UPSTREAM_ERROR_KINDS];
	_Atomic uint64_t rate_limited;
};

struct metrics {
	pthread_mutex_t lock;             /* serialises slot creation */
	_Atomic(struct slot *) head;
	struct slot *tail;                /* under lock */
	_Atomic uint64_t refused[METRICS_REFUSAL_KINDS];
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return NULL;
	}
	atomic_init(&m->head, NULL);
	return m;
}

void metrics_free(struct metrics *m)
{
	struct slot *s, *next;

	if (m == NULL)
		return;
	for (s = atomic_load(&m->head); s != NULL; s = next) {
		next = atomic_load(&s->next);
		free(s->tool);
		free(s->client);
		free(s);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static struct slot *first(struct metrics *m)
{
	return atomic_load_explicit(&m->head, memory_order_acquire);
}

static struct slot *next_slot(struct slot *s)
{
	return atomic_load_explicit(&s->next, memory_order_acquire);
}

static struct slot *find(struct metrics *m, const char *tool,
			 const char *client)
{
	for (struct slot *s = first(m); s != NULL; s = next_slot(s))
		if (strcmp(s->tool, tool) == 0 &&
		    strcmp(s->client, client) == 0)
			return s;
	return NULL;
}

/* Under m->lock. calloc's zeros are the counters' initial values. */
static struct slot *append(struct metrics *m, const char *tool,
			   const char *client)
{
	struct slot *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if ((s->tool = strdup(tool)) == NULL ||
	    (s->client = strdup(client)) == NULL) {
		free(s->tool);
		free(s);
		return NULL;
	}
	if (m->tail == NULL)
		atomic_store_explicit(&m->head, s, memory_order_release);
	else
		atomic_store_explicit(&m->tail->next, s, memory_order_release);
	m->tail = s;
	return s;
}

/* The slot of the tool and client, made on first use; NULL (the update is
 * lost) only when out of memory. */
static struct slot *slot_of(struct metrics *m, const char *tool,
			    const char *client)
{
	struct slot *s;

	if (m == NULL)
		return NULL;
	if (tool == NULL)
		tool = "";
	if (client == NULL)
		client = "";
	if ((s = find(m, tool, client)) != NULL)
		return s;
	pthread_mutex_lock(&m->lock);
	/* another thread may have made it since we looked */
	if ((s = find(m, tool, client)) == NULL)
		s = append(m, tool, client);
	pthread_mutex_unlock(&m->lock);
	return s;
}

static struct slot *slot_for(struct metrics *m, const char *tool)
{
	return slot_of(m, tool, NULL);
}

static void add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get_u64(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- the counters of one slot ---- */

static void slot_request(struct slot *s, enum metrics_decision decision)
{
	add(decision == METRICS_ALLOW	   ? &s->allowed :
	    decision == METRICS_WOULD_DENY ? &s->would_deny :
	    decision == METRICS_WOULD_HOLD ? &s->would_hold :
					     &s->denied,
	    1);
}

/* Microseconds, exact to print. A negative or NaN duration (a clock step)
 * counts as 0; absurdly long ones are capped so the conversion is defined. */
static uint64_t to_us(double seconds)
{
	if (!(seconds >= 0))
		return 0;
	if (seconds > 1e12)
		seconds = 1e12;
	return (uint64_t)(seconds * 1e6 + 0.5);
}

static void slot_duration(struct slot *s, double seconds)
{
	size_t i = 0;

	if (!(seconds >= 0))
		seconds = 0;
	while (i < N_BUCKETS && seconds > buckets[i].bound)
		i++;
	add(&s->bucket[i], 1);
	add(&s->sum_us, to_us(seconds));
}

static void slot_streams(struct slot *s, int delta)
{
	atomic_fetch_add_explicit(&s->streams, delta, memory_order_relaxed);
}

/* METRICS_UPSTREAM_NONE (or any kind out of range) counts nothing. */
static void slot_upstream_error(struct slot *s,
				enum metrics_upstream_error kind)
{
	if (kind > METRICS_UPSTREAM_NONE &&
	    kind < METRICS_UPSTREAM_ERROR_KINDS)
		add(&s->upstream[kind], 1);
}

/* ---- events ---- */

/* A request decided: its decision and its body's bytes. */
static void slot_decided(struct slot *s, enum metrics_decision decision,
			 uint64_t bytes_in)
{
	slot_request(s, decision);
	add(&s->bytes[METRICS_IN], bytes_in);
}

static enum metrics_decision let_pass(const struct metrics_event *ev)
{
	return ev->allowed_as == METRICS_WOULD_DENY ||
			       ev->allowed_as == METRICS_WOULD_HOLD ?
		       (enum metrics_decision)ev->allowed_as :
		       METRICS_ALLOW;
}

void metrics_record(struct metrics *m, const struct metrics_event *ev)
{
	struct slot *s = slot_of(m, ev->tool, ev->client);

	if (s == NULL)
		return;
	switch (ev->kind) {
	case METRICS_DENIED:
		slot_decided(s, METRICS_DENY, ev->bytes_in);
		if (ev->status == 429)
			add(&s->rate_limited, 1);
		break;
	case METRICS_FAILED:
		slot_decided(s, let_pass(ev), ev->bytes_in);
		slot_upstream_error(s, ev->upstream_error);
		slot_duration(s, ev->seconds);
		break;
	case METRICS_OPENED:
		slot_decided(s, let_pass(ev), ev->bytes_in);
		if (ev->stream)
			slot_streams(s, 1);
		break;
	case METRICS_SENT:
		add(&s->bytes[METRICS_OUT], ev->bytes_out);
		break;
	case METRICS_ENDED:
		slot_upstream_error(s, ev->upstream_error);
		if (ev->stream)
			slot_streams(s, -1);
		else
			slot_duration(s, ev->seconds);
		break;
	}
}

/* ---- single counters ---- */

void metrics_request(struct metrics *m, const char *tool,
		     enum metrics_decision decision)
{
	struct slot *s = slot_for(m, tool);

	if (s != NULL)
		slot_request(s, decision);
}

void metrics_duration(struct metrics *m, const char *tool, double seconds)
{
	struct slot *s = slot_for(m, tool);

	if (s != NULL)
		slot_duration(s, seconds);
}

void metrics_stream(struct metrics *m, const char *tool, int delta)
{
	struct slot *s = slot_for(m, tool);

	if (s != NULL)
		slot_streams(s, delta);
}

void metrics_bytes(struct metrics *m, const char *tool,
		   enum metrics_direction dir, uint64_t n)
{
	struct slot *s;

	if ((unsigned)dir > METRICS_OUT || (s = slot_for(m, tool)) == NULL)
		return;
	add(&s->bytes[dir], n);
}

void metrics_upstream_error(struct metrics *m, const char *tool,
			    enum metrics_upstream_error kind)
{
	struct slot *s;

	if (kind <= METRICS_UPSTREAM_NONE ||
	    kind >= METRICS_UPSTREAM_ERROR_KINDS ||
	    (s = slot_for(m, tool)) == NULL)
		return;
	slot_upstream_error(s, kind);
}

void metrics_rate_limited(struct metrics *m, const char *tool)
{
	struct slot *s = slot_for(m, tool);

	if (s != NULL)
		add(&s->rate_limited, 1);
}

void metrics_connection_refused(struct metrics *m,
				enum metrics_refusal why)
{
	if (m != NULL && why >= 0 && why < METRICS_REFUSAL_KINDS)
		add(&m->refused[why], 1);
}

void metrics_totals(struct metrics *m, const char *tool, uint64_t *requests,
		    uint64_t *denied, int64_t *active_streams)
{
	uint64_t req = 0, den = 0;
	int64_t streams = 0;

	for (struct slot *s = m != NULL ? first(m) : NULL; s != NULL;
	     s = next_slot(s)) {
		if (tool != NULL && strcmp(s->tool, tool) != 0)
			continue;
		den += get_u64(&s->denied);
		req += get_u64(&s->allowed) + get_u64(&s->denied) +
		       get_u64(&s->would_deny) + get_u64(&s->would_hold);
		streams += atomic_load_explicit(&s->streams,
						memory_order_relaxed);
	}
	if (requests != NULL)
		*requests = req;
	if (denied != NULL)
		*denied = den;
	if (active_streams != NULL)
		*active_streams = streams;
}

/* --- rendering --- */

/* A label value: backslash, double quote and newline escaped. */
static void put_escaped(FILE *f, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '"')
			fputs("\\\"", f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			putc(*v, f);
	}
}

static void put_family(FILE *f, const char *name, const char *type,
		       const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{tool="...",client="...",<more>} up to the value; more is "" or
 * ",k=\"v\"". Without a client the label is left out, which Prometheus
 * reads as the empty value: a config without clients shows what it
 * always did. */
static void put_series(FILE *f, const char *name, const struct slot *s,
		       const char *more)
{
	fprintf(f, "%s{tool=\"", name);
	put_escaped(f, s->tool);
	if (*s->client != '\0') {
		fputs("\",client=\"", f);
		put_escaped(f, s->client);
	}
	fprintf(f, "\"%s} ", more);
}

static void put_u64(FILE *f, const char *name, const struct slot *s,
		    const char *more, uint64_t n)
{
	put_series(f, name, s, more);
	fprintf(f, "%" PRIu64 "\n", n);
}

/* A float the way the format spells it; %f, since %g would turn Unix
 * times into exponents and lose their fraction. */
static void put_double(FILE *f, double v)
{
	if (isnan(v))
		fputs("NaN\n", f);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf\n" : "-Inf\n", f);
	else
		fprintf(f, "%.6f\n", v);
}

static void render_requests(FILE *f, struct metrics *m)
{
	const char *name = "carapace_requests_total";

	put_family(f, name, "counter",
		   "Requests decided, by tool and decision.");
	for (struct slot *s = first(m); s != NULL; s = next_slot(s)) {
		put_u64(f, name, s, ",decision=\"allow\"",
			get_u64(&s->allowed));
		put_u64(f, name, s, ",decision=\"deny\"", get_u64(&s->denied));
		/* only once a dry run let one pass: a tool that never was in
		 * that mode keeps the two series it always had */
		if (get_u64(&s->would_deny) > 0)
			put_u64(f, name, s, ",decision=\"would_deny\"",
				get_u64(&s->would_deny));
		if (get_u64(&s->would_hold) > 0)
			put_u64(f, name, s, ",decision=\"would_hold\"",
				get_u64(&s->would_hold));
	}
}

/* Buckets are summed from one read of each, and the count is that sum, so
 * the +Inf bucket always equals _count even while updates run. */
static void render_histogram_slot(FILE *f, struct slot *s)
{
	char more[32];
	uint64_t cum = 0, us = get_u64(&s->sum_us);

	for (size_t i = 0; i <= N_BUCKETS; i++) {
		cum += get_u64(&s->bucket[i]);
		snprintf(more, sizeof(more), ",le=\"%s\"",
			 i < N_BUCKETS ? buckets[i].le : "+Inf");
		put_u64(f, "carapace_request_duration_seconds_bucket", s,
			more, cum);
	}
	put_series(f, "carapace_request_duration_seconds_sum", s, "");
	fprintf(f, "%" PRIu64 ".%06" PRIu64 "\n", us / 1000000, us % 1000000);
	put_u64(f, "carapace_request_duration_seconds_count", s, "", cum);
}

static void render_durations(FILE *f, struct metrics *m)
{
	put_family(f, "carapace_request_duration_seconds", "histogram",
		   "Duration of non-stream requests, by tool.");
	for (struct slot *s = first(m); s != NULL; s = next_slot(s))
		render_histogram_slot(f, s);
}

static void render_streams(FILE *f, struct metrics *m)
{
	const char *name = "carapace_active_streams";

	put_family(f, name, "gauge", "Streams open now, by tool.");
	for (struct slot *s = first(m); s != NULL; s = next_slot(s)) {
		put_series(f, name, s, "");
		fprintf(f, "%" PRId64 "\n",
			atomic_load_explicit(&s->streams,
					     memory_order_relaxed));
	}
}

static void render_bytes(FILE *f, struct metrics *m)
{
	const char *name = "carapace_bytes_total";

	put_family(f, name, "counter",
		   "Body bytes from (in) and to (out) clients, by tool.");
	for (struct slot *s = first(m); s != NULL; s = next_slot(s)) {
		put_u64(f, name, s, ",direction=\"in\"",
			get_u64(&s->bytes[METRICS_IN]));
		put_u64(f, name, s, ",direction=\"out\"",
			get_u64(&s->bytes[METRICS_OUT]));
	}
}

static void render_upstream(FILE *f, struct metrics *m)
{
	const char *name = "carapace_upstream_errors_total";

	put_family(f, name, "counter", "Upstream failures, by tool and kind.");
	for (struct slot *s = first(m); s != NULL; s = next_slot(s))
		for (int k = METRICS_UPSTREAM_NONE + 1;
		     k < METRICS_UPSTREAM_ERROR_KINDS; k++)
			put_u64(f, name, s, kind_label[k],
				get_u64(&s->upstream[k]));
}

static void render_rate_limited(FILE *f, struct metrics *m)
{
	const char *name = "carapace_rate_limited_total";

	put_family(f, name, "counter",
		   "Requests refused by a rate limit, by tool.");
	for (struct slot *s = first(m); s != NULL; s = next_slot(s))
		put_u64(f, name, s, "", get_u64(&s->rate_limited));
}

static void render_refused(FILE *f, struct metrics *m)
{
	const char *name = "carapace_connections_refused_total";

	put_family(f, name, "counter",
		   "Client connections refused or cut by the front, by "
		   "reason.");
	for (int k = 0; k < METRICS_REFUSAL_KINDS; k++)
		fprintf(f, "%s{reason=\"%s\"} %" PRIu64 "\n", name,
			refusal_label[k], get_u64(&m->refused[k]));
}

static void render_info(FILE *f, const struct metrics_info *info)
{
	put_family(f, "carapace_audit_write_errors_total", "counter",
		   "Audit records that could not be written.");
	fprintf(f, "carapace_audit_write_errors_total %" PRIu64 "\n",
		info->audit_write_errors);
	put_family(f, "carapace_audit_dropped_total", "counter",
		   "Audit records a slow live tail missed.");
	fprintf(f, "carapace_audit_dropped_total %" PRIu64 "\n",
		info->audit_dropped);
	put_family(f, "carapace_build_info", "gauge",
		   "Always 1; the version is a label.");
	fputs("carapace_build_info{version=\"", f);
	put_escaped(f, info->version != NULL ? info->version : "");
	fputs("\"} 1\n", f);
	put_family(f, "carapace_uptime_seconds", "gauge",
		   "Seconds since the daemon started.");
	fputs("carapace_uptime_seconds ", f);
	put_double(f, info->uptime_secs);
	put_family(f, "carapace_config_load_time_seconds", "gauge",
		   "Unix time of the last configuration (re)load.");
	fputs("carapace_config_load_time_seconds ", f);
	put_double(f, info->config_load_time);
}

/* The process's one worker pool (workers.h), whoever renders. */
static void render_workers(FILE *f)
{
	struct workers_stats st;

	workers_get_stats(&st);
	put_family(f, "carapace_worker_threads", "gauge",
		   "Worker threads (transfers, CLI runs): parked or busy.");
	fprintf(f, "carapace_worker_threads{state=\"idle\"} %u\n", st.idle);
	fprintf(f, "carapace_worker_threads{state=\"busy\"} %u\n", st.busy);
	put_family(f, "carapace_worker_threads_started_total", "counter",
		   "Worker threads created (not taken from the pool).");
	fprintf(f, "carapace_worker_threads_started_total %" PRIu64 "\n",
		st.started);
}

char *metrics_render(struct metrics *m, const struct metrics_info *info,
		     size_t *len)
{
	static const struct metrics_info none;
	char *buf = NULL;
	size_t n = 0;
	FILE *f;
	int write_error;

	if (m == NULL || (f = open_memstream(&buf, &n)) == NULL)
		return NULL;
	render_requests(f, m);
	render_durations(f, m);
	render_streams(f, m);
	render_bytes(f, m);
	render_upstream(f, m);
	render_rate_limited(f, m);
	render_refused(f, m);
	render_workers(f);
	render_info(f, info != NULL ? info : &none);
	write_error = ferror(f);
	if (fclose(f) != 0 || write_error) {
		free(buf);
		return NULL;
	}
	if (len != NULL)
		*len = n;
	return buf;
}
