/* Unit tests of metrics.c, read back through promtext.c, and of promtext.c
 * itself: a checker that accepted anything would make the metrics tests
 * worthless, so it must be seen to refuse bad text. */
#include "config.h"

#include <CUnit/Basic.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "promtext.h"
#include "workers.h"
#include "cu_run.h"
#include "testutil.h"

static const struct metrics_info info0 = { .version = "test" };

/* The rendering, which must be valid exposition text; caller frees. */
static char *render(struct metrics *m, const struct metrics_info *info)
{
	char err[256];
	size_t len = 0;
	char *text = metrics_render(m, info, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL(len, strlen(text));
	if (promtext_check(text, err, sizeof(err)) != 0) {
		fprintf(stderr, "\n%s\n%s\n", err, text);
		CU_FAIL("the rendering is not valid exposition text");
	}
	return text;
}

/* The sample's value, or NaN (which equals nothing) when it is absent. */
static double val(const char *text, const char *name, const char *labels)
{
	double v;

	return promtext_value(text, name, labels, &v) == 0 ? v : NAN;
}

static unsigned count_lines(const char *text, const char *prefix)
{
	unsigned n = 0;

	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
		p = strchr(p, '\n');
		p = p != NULL ? p + 1 : NULL;
	}
	return n;
}

static unsigned count_strings(const char *text, const char *s)
{
	unsigned n = 0;

	for (const char *p = text; (p = strstr(p, s)) != NULL; p++)
		n++;
	return n;
}

static void test_connections_refused(void)
{
	struct metrics *m = metrics_new();
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	metrics_connection_refused(m, METRICS_REFUSED_PER_IP);
	metrics_connection_refused(m, METRICS_REFUSED_PER_IP);
	metrics_connection_refused(m, METRICS_REFUSED_BODY_TIMEOUT);
	metrics_connection_refused(m, METRICS_REFUSAL_KINDS); /* ignored */
	text = render(m, &info0);
	CU_ASSERT_EQUAL(val(text, "carapace_connections_refused_total",
			    "reason=\"per_ip\""), 2);
	CU_ASSERT_EQUAL(val(text, "carapace_connections_refused_total",
			    "reason=\"total\""), 0);
	CU_ASSERT_EQUAL(val(text, "carapace_connections_refused_total",
			    "reason=\"header_timeout\""), 0);
	CU_ASSERT_EQUAL(val(text, "carapace_connections_refused_total",
			    "reason=\"body_timeout\""), 1);
	free(text);
	metrics_free(m);
}

static void test_empty(void)
{
	struct metrics *m = metrics_new();
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	text = render(m, &info0);
	CU_ASSERT_EQUAL(count_lines(text, "# HELP "), 14);
	CU_ASSERT_EQUAL(count_lines(text, "# TYPE "), 14);
	CU_ASSERT_PTR_NULL(strstr(text, "tool="));
	/* the worker pool (workers.h): none started in this process */
	CU_ASSERT_EQUAL(val(text, "carapace_worker_threads",
			    "state=\"idle\""), 0);
	CU_ASSERT_EQUAL(val(text, "carapace_worker_threads",
			    "state=\"busy\""), 0);
	CU_ASSERT_EQUAL(val(text, "carapace_worker_threads_started_total",
			    ""), 0);
	CU_ASSERT_EQUAL(val(text, "carapace_build_info", "version=\"test\""),
			1);
	free(text);
	/* no info: zeros, and still valid */
	text = render(m, NULL);
	CU_ASSERT_EQUAL(val(text, "carapace_uptime_seconds", ""), 0);
	free(text);
	metrics_free(m);
}

static void nothing(void *arg)
{
	(void)arg;
}

static int no_job_running(void *arg)
{
	(void)arg;
	return workers_active() == 0;
}

/* The gauges are the process's pool: one job run, one thread parked. */
static void test_worker_pool(void)
{
	struct metrics *m = metrics_new();
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_FATAL(workers_run(nothing, NULL) == 0);
	CU_ASSERT_FATAL(tu_wait_until(no_job_running, NULL, 10000) == 0);
	text = render(m, &info0);
	CU_ASSERT_EQUAL(val(text, "carapace_worker_threads",
			    "state=\"idle\""), 1);
	CU_ASSERT_EQUAL(val(text, "carapace_worker_threads",
			    "state=\"busy\""), 0);
	CU_ASSERT_EQUAL(val(text, "carapace_worker_threads_started_total",
			    ""), 1);
	free(text);
	workers_shutdown();
	metrics_free(m);
}

static void test_counters(void)
{
	struct metrics *m = metrics_new();
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	for (int i = 0; i < 3; i++)
		metrics_request(m, "sig", METRICS_ALLOW);
	metrics_request(m, "sig", METRICS_DENY);
	metrics_request(m, "sig", METRICS_DENY);
	metrics_bytes(m, "sig", METRICS_IN, 100);
	metrics_bytes(m, "sig", METRICS_OUT, 2500);
	metrics_bytes(m, "sig", METRICS_OUT, 1);
	metrics_upstream_error(m, "sig", METRICS_UPSTREAM_UNREACHABLE);
	metrics_upstream_error(m, "sig", METRICS_UPSTREAM_TIMEOUT);
	metrics_upstream_error(m, "sig", METRICS_UPSTREAM_TIMEOUT);
	metrics_upstream_error(m, "sig", METRICS_UPSTREAM_BROKEN);
	for (int i = 0; i < 4; i++)
		metrics_rate_limited(m, "sig");
	metrics_stream(m, "sig", 1);
	metrics_stream(m, "sig", 1);
	metrics_stream(m, "sig", -1);
	text = render(m, &info0);
	CU_ASSERT_EQUAL(val(text, "carapace_requests_total",
			    "tool=\"sig\",decision=\"allow\""), 3);
	CU_ASSERT_EQUAL(val(text, "carapace_requests_total",
			    "tool=\"sig\",decision=\"deny\""), 2);
	CU_ASSERT_EQUAL(val(text, "carapace_bytes_total",
			    "tool=\"sig\",direction=\"in\""), 100);
	CU_ASSERT_EQUAL(val(text, "carapace_bytes_total",
			    "tool=\"sig\",direction=\"out\""), 2501);
	CU_ASSERT_EQUAL(val(text, "carapace_upstream_errors_total",
			    "tool=\"sig\",kind=\"unreachable\""), 1);
	CU_ASSERT_EQUAL(val(text, "carapace_upstream_errors_total",
			    "tool=\"sig\",kind=\"timeout\""), 2);
	CU_ASSERT_EQUAL(val(text, "carapace_upstream_errors_total",
			    "tool=\"sig\",kind=\"protocol\""), 0);
	CU_ASSERT_EQUAL(val(text, "carapace_upstream_errors_total",
			    "tool=\"sig\",kind=\"broken\""), 1);
	CU_ASSERT_EQUAL(val(text, "carapace_rate_limited_total",
			    "tool=\"sig\""), 4);
	CU_ASSERT_EQUAL(val(text, "carapace_active_streams", "tool=\"sig\""),
			1);
	free(text);
	/* they keep moving */
	metrics_request(m, "sig", METRICS_ALLOW);
	metrics_stream(m, "sig", -1);
	metrics_stream(m, "sig", -1);
	text = render(m, &info0);
	CU_ASSERT_EQUAL(val(text, "carapace_requests_total",
			    "tool=\"sig\",decision=\"allow\""), 4);
	CU_ASSERT_EQUAL(val(text, "carapace_active_streams", "tool=\"sig\""),
			-1);
	free(text);
	metrics_free(m);
}

/* One call on a tool brings all of its series, at zero where untouched. */
static void test_all_series(void)
{
	struct metrics *m = metrics_new();
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	metrics_rate_limited(m, "x");
	text = render(m, &info0);
	/* 2 decisions, 14 buckets + sum + count, 1 gauge, 2 directions,
	 * 4 kinds, 1 rate limited */
	CU_ASSERT_EQUAL(count_strings(text, "{tool=\"x\""), 26);
	CU_ASSERT_EQUAL(val(text, "carapace_requests_total",
			    "tool=\"x\",decision=\"allow\""), 0);
	CU_ASSERT_EQUAL(val(text, "carapace_request_duration_seconds_bucket",
			    "tool=\"x\",le=\"+Inf\""), 0);
	CU_ASSERT_EQUAL(val(text, "carapace_request_duration_seconds_sum",
			    "tool=\"x\""), 0);
	CU_ASSERT_EQUAL(val(text, "carapace_upstream_errors_total",
			    "tool=\"x\",kind=\"protocol\""), 0);
	CU_ASSERT_EQUAL(val(text, "carapace_rate_limited_total",
			    "tool=\"x\""), 1);
	free(text);
	metrics_free(m);
}

static void test_info(void)
{
	struct metrics *m = metrics_new();
	struct metrics_info info = {
		.version = "1.2.3",
		.uptime_secs = 12.5,
		.audit_write_errors = 7,
		.audit_dropped = 3,
		.config_load_time = 1700000000.25,
	};
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	text = render(m, &info);
	CU_ASSERT_EQUAL(val(text, "carapace_build_info",
			    "version=\"1.2.3\""), 1);
	CU_ASSERT_EQUAL(val(text, "carapace_uptime_seconds", ""), 12.5);
	CU_ASSERT_EQUAL(val(text, "carapace_audit_write_errors_total", ""),
			7);
	CU_ASSERT_EQUAL(val(text, "carapace_audit_dropped_total", ""), 3);
	CU_ASSERT_EQUAL(val(text, "carapace_config_load_time_seconds", ""),
			1700000000.25);
	free(text);
	metrics_free(m);
}

static void test_escaping(void)
{
	struct metrics *m = metrics_new();
	struct metrics_info info = { .version = "v\"1\\\n" };
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	metrics_request(m, "a\"b\\c\nd", METRICS_ALLOW);
	text = render(m, &info);
	CU_ASSERT_EQUAL(val(text, "carapace_requests_total",
			    "tool=\"a\\\"b\\\\c\\nd\",decision=\"allow\""), 1);
	CU_ASSERT_EQUAL(val(text, "carapace_build_info",
			    "version=\"v\\\"1\\\\\\n\""), 1);
	free(text);
	metrics_free(m);
}

static void test_empty_tool(void)
{
	struct metrics *m = metrics_new();
	uint64_t req, den;
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	metrics_request(m, "", METRICS_DENY);
	metrics_request(m, NULL, METRICS_DENY); /* the same as "" */
	metrics_duration(m, "", 0.2);
	text = render(m, &info0);
	CU_ASSERT_EQUAL(val(text, "carapace_requests_total",
			    "tool=\"\",decision=\"deny\""), 2);
	CU_ASSERT_EQUAL(val(text, "carapace_request_duration_seconds_bucket",
			    "tool=\"\",le=\"0.25\""), 1);
	free(text);
	metrics_totals(m, "", &req, &den, NULL);
	CU_ASSERT_EQUAL(req, 2);
	CU_ASSERT_EQUAL(den, 2);
	metrics_free(m);
}

static const char *const les[] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
	"1", "2.5", "5", "10", "30", "60", "+Inf",
};
#define N_LES (sizeof(les) / sizeof(les[0]))

/* The cumulative count of bucket i of tool t. */
static double bucket(const char *text, const char *t, size_t i)
{
	char labels[64];

	snprintf(labels, sizeof(labels), "tool=\"%s\",le=\"%s\"", t, les[i]);
	return val(text, "carapace_request_duration_seconds_bucket", labels);
}

/* A duration equal to a bound lands in that bound's bucket, not the next. */
static void test_bucket_bounds(void)
{
	static const double bounds[] = {
		0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
		1, 2.5, 5, 10, 30, 60,
	};
	struct metrics *m = metrics_new();
	char t[8];
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	for (size_t i = 0; i < N_LES - 1; i++) {
		snprintf(t, sizeof(t), "b%zu", i);
		metrics_duration(m, t, bounds[i]);
	}
	text = render(m, &info0);
	for (size_t i = 0; i < N_LES - 1; i++) {
		snprintf(t, sizeof(t), "b%zu", i);
		for (size_t j = 0; j < N_LES; j++)
			CU_ASSERT_EQUAL(bucket(text, t, j), j >= i ? 1 : 0);
	}
	free(text);
	metrics_free(m);
}

static void test_histogram(void)
{
	static const double cum[N_LES] = { 2, 3, 4, 4, 4, 4, 4,
					   5, 5, 5, 5, 5, 6, 7 };
	struct metrics *m = metrics_new();
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	metrics_duration(m, "h", 0.005);
	metrics_duration(m, "h", -1);         /* a clock step: 0 */
	metrics_duration(m, "h", 0.0050001);  /* just past: le 0.01 */
	metrics_duration(m, "h", 0.0100001);
	metrics_duration(m, "h", 1);
	metrics_duration(m, "h", 60);
	metrics_duration(m, "h", 60.5);
	metrics_duration(m, "other", 0.3);
	text = render(m, &info0);
	for (size_t i = 0; i < N_LES; i++)
		CU_ASSERT_EQUAL(bucket(text, "h", i), cum[i]);
	CU_ASSERT_EQUAL(val(text, "carapace_request_duration_seconds_count",
			    "tool=\"h\""), 7);
	/* microseconds: 5000 + 0 + 5000 + 10000 + 1 s + 60 s + 60.5 s */
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
		"carapace_request_duration_seconds_sum{tool=\"h\"} "
		"121.520000\n"));
	CU_ASSERT_EQUAL(val(text, "carapace_request_duration_seconds_count",
			    "tool=\"other\""), 1);
	free(text);
	metrics_free(m);
}

/* Each event of a request moves exactly the counters it implies. */
static void test_events(void)
{
	static const struct {
		struct metrics_event ev;
		const char *name, *labels;
		double value; /* the one sample this event changes */
	} steps[] = {
		{ { .kind = METRICS_DENIED, .tool = "t", .status = 403 },
		  "carapace_requests_total", "decision=\"deny\"", 1 },
		{ { .kind = METRICS_DENIED, .tool = "t", .status = 429,
		    .bytes_in = 5 },
		  "carapace_rate_limited_total", "", 1 },
		{ { .kind = METRICS_FAILED, .tool = "t", .seconds = 0.3,
		    .upstream_error = METRICS_UPSTREAM_TIMEOUT },
		  "carapace_upstream_errors_total", "kind=\"timeout\"", 1 },
		{ { .kind = METRICS_OPENED, .tool = "t", .stream = 1,
		    .bytes_in = 7 },
		  "carapace_active_streams", "", 1 },
		{ { .kind = METRICS_SENT, .tool = "t", .bytes_out = 9 },
		  "carapace_bytes_total", "direction=\"out\"", 9 },
		{ { .kind = METRICS_ENDED, .tool = "t", .stream = 1,
		    .seconds = 100,
		    .upstream_error = METRICS_UPSTREAM_BROKEN },
		  "carapace_active_streams", "", 0 },
		{ { .kind = METRICS_OPENED, .tool = "t",
		    .upstream_error = METRICS_UPSTREAM_NONE },
		  "carapace_requests_total", "decision=\"allow\"", 3 },
		{ { .kind = METRICS_ENDED, .tool = "t", .seconds = 0.02,
		    .upstream_error = METRICS_UPSTREAM_NONE },
		  "carapace_request_duration_seconds_count", "", 2 },
	};
	struct metrics *m = metrics_new();
	char labels[64];
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		metrics_record(m, &steps[i].ev);
		text = render(m, &info0);
		snprintf(labels, sizeof(labels), "tool=\"t\"%s%s",
			 steps[i].labels[0] ? "," : "", steps[i].labels);
		CU_ASSERT_EQUAL(val(text, steps[i].name, labels),
				steps[i].value);
		free(text);
	}
	text = render(m, &info0);
	CU_ASSERT_EQUAL(val(text, "carapace_requests_total",
			    "tool=\"t\",decision=\"deny\""), 2);
	CU_ASSERT_EQUAL(val(text, "carapace_rate_limited_total",
			    "tool=\"t\""), 1);
	CU_ASSERT_EQUAL(val(text, "carapace_bytes_total",
			    "tool=\"t\",direction=\"in\""), 12);
	CU_ASSERT_EQUAL(val(text, "carapace_upstream_errors_total",
			    "tool=\"t\",kind=\"broken\""), 1);
	CU_ASSERT_EQUAL(val(text, "carapace_upstream_errors_total",
			    "tool=\"t\",kind=\"unreachable\""), 0);
	/* the failure and the plain answer; not the stream */
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
		"carapace_request_duration_seconds_sum{tool=\"t\"} "
		"0.320000\n"));
	CU_ASSERT_EQUAL(bucket(text, "t", 2), 1); /* le 0.025 */
	free(text);
	metrics_free(m);
}

/* A client's requests and streams are counted under its name (a
 * "client" label), apart from another client's and from no client's
 * (no label); totals add them all up. */
static void test_client_label(void)
{
	struct metrics *m = metrics_new();
	struct metrics_event a = { .kind = METRICS_OPENED, .tool = "t",
				   .client = "vm1", .stream = 1 };
	struct metrics_event b = { .kind = METRICS_DENIED, .tool = "t",
				   .client = "box", .status = 403 };
	struct metrics_event none = { .kind = METRICS_DENIED, .tool = "t",
				      .status = 401 };
	struct metrics_event empty = { .kind = METRICS_DENIED, .tool = "t",
				       .client = "", .status = 401 };
	uint64_t requests, denied;
	int64_t streams;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	metrics_record(m, &a);
	metrics_record(m, &a);
	metrics_record(m, &b);
	metrics_record(m, &none);
	metrics_record(m, &empty);
	char *text = render(m, &info0);
	CU_ASSERT_EQUAL(val(text, "carapace_requests_total",
			    "tool=\"t\",client=\"vm1\",decision=\"allow\""), 2);
	CU_ASSERT_EQUAL(val(text, "carapace_active_streams",
			    "tool=\"t\",client=\"vm1\""), 2);
	CU_ASSERT_EQUAL(val(text, "carapace_requests_total",
			    "tool=\"t\",client=\"box\",decision=\"deny\""), 1);
	CU_ASSERT_EQUAL(val(text, "carapace_active_streams",
			    "tool=\"t\",client=\"box\""), 0);
	/* no client and "": one series, without the label */
	CU_ASSERT_EQUAL(val(text, "carapace_requests_total",
			    "tool=\"t\",decision=\"deny\""), 2);
	CU_ASSERT_EQUAL(count_strings(text, "client=\"\""), 0);
	CU_ASSERT_EQUAL(val(text, "carapace_request_duration_seconds_count",
			    "tool=\"t\",client=\"vm1\""), 0);
	free(text);
	metrics_totals(m, "t", &requests, &denied, &streams);
	CU_ASSERT_EQUAL(requests, 5);
	CU_ASSERT_EQUAL(denied, 3);
	CU_ASSERT_EQUAL(streams, 2);
	metrics_free(m);
}

static void test_totals(void)
{
	struct metrics *m = metrics_new();
	uint64_t req = 99, den = 99;
	int64_t streams = 99;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	metrics_totals(m, NULL, &req, &den, &streams);
	CU_ASSERT(req == 0 && den == 0 && streams == 0);
	metrics_request(m, "a", METRICS_ALLOW);
	metrics_request(m, "a", METRICS_DENY);
	metrics_request(m, "b", METRICS_ALLOW);
	metrics_request(m, "b", METRICS_ALLOW);
	metrics_request(m, "b", METRICS_DENY);
	metrics_stream(m, "a", 1);
	metrics_stream(m, "b", 1);
	metrics_stream(m, "b", 1);
	metrics_totals(m, NULL, &req, &den, &streams);
	CU_ASSERT_EQUAL(req, 5);
	CU_ASSERT_EQUAL(den, 2);
	CU_ASSERT_EQUAL(streams, 3);
	metrics_totals(m, "b", &req, &den, &streams);
	CU_ASSERT_EQUAL(req, 3);
	CU_ASSERT_EQUAL(den, 1);
	CU_ASSERT_EQUAL(streams, 2);
	metrics_totals(m, "absent", &req, &den, &streams);
	CU_ASSERT(req == 0 && den == 0 && streams == 0);
	metrics_totals(m, "a", NULL, &den, NULL);
	CU_ASSERT_EQUAL(den, 1);
	metrics_totals(m, NULL, NULL, NULL, NULL);
	/* totals never made a slot for "absent" */
	char *text = render(m, &info0);
	CU_ASSERT_PTR_NULL(strstr(text, "absent"));
	free(text);
	metrics_free(m);
}

#define THREADS 8
#define ROUNDS 100000
#define PER_NEW 1000 /* rounds on each new tool: 100 of them */

static pthread_barrier_t start;

/* Every thread counts on "shared" and, all at about the same time, on a
 * run of new tools that each of them may be the first to use. */
static void *hammer(void *arg)
{
	struct metrics *m = arg;
	char t[16];

	pthread_barrier_wait(&start);
	for (unsigned i = 0; i < ROUNDS; i++) {
		metrics_request(m, "shared",
				i & 1 ? METRICS_DENY : METRICS_ALLOW);
		snprintf(t, sizeof(t), "n%u", i / PER_NEW);
		metrics_request(m, t, METRICS_ALLOW);
		metrics_bytes(m, t, METRICS_OUT, 2);
	}
	return NULL;
}

static void test_threads(void)
{
	struct metrics *m = metrics_new();
	pthread_t th[THREADS];
	uint64_t req, den;
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL_FATAL(pthread_barrier_init(&start, NULL, THREADS), 0);
	for (int i = 0; i < THREADS; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, hammer, m),
				      0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	metrics_totals(m, NULL, &req, &den, NULL);
	CU_ASSERT_EQUAL(req, 2ull * THREADS * ROUNDS);
	CU_ASSERT_EQUAL(den, THREADS * ROUNDS / 2);
	metrics_totals(m, "shared", &req, &den, NULL);
	CU_ASSERT_EQUAL(req, THREADS * ROUNDS);
	/* one slot per new tool: a duplicate would hold some of the counts */
	for (unsigned k = 0; k < ROUNDS / PER_NEW; k++) {
		char t[16];
		snprintf(t, sizeof(t), "n%u", k);
		metrics_totals(m, t, &req, NULL, NULL);
		CU_ASSERT_EQUAL(req, THREADS * PER_NEW);
	}
	text = render(m, &info0); /* a duplicate series would fail here */
	CU_ASSERT_EQUAL(count_lines(text, "carapace_rate_limited_total{"),
			ROUNDS / PER_NEW + 1);
	CU_ASSERT_EQUAL(val(text, "carapace_bytes_total",
			    "tool=\"n42\",direction=\"out\""),
			2.0 * THREADS * PER_NEW);
	free(text);
	metrics_free(m);
}

/* Renders while other threads count: every snapshot must be valid (the
 * +Inf bucket always equal to _count). */
static void *observe(void *arg)
{
	struct metrics *m = arg;

	pthread_barrier_wait(&start);
	for (unsigned i = 0; i < 4000; i++)
		metrics_duration(m, i % 2 ? "x" : "y", (i % 100) * 0.01);
	return NULL;
}

static void test_render_while_counting(void)
{
	struct metrics *m = metrics_new();
	pthread_t th[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL_FATAL(pthread_barrier_init(&start, NULL, 3), 0);
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, observe, m),
				      0);
	pthread_barrier_wait(&start);
	for (int i = 0; i < 50; i++)
		free(render(m, &info0));
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	metrics_free(m);
}

/* --- promtext itself --- */

#define HIST "# TYPE h histogram\n"

static const char *const good[] = {
	"# HELP a A \\\\ help\\n text.\n# TYPE a counter\na 1\n",
	"# TYPE a gauge\na{x=\"1\",y=\"\\\"\\\\\\n\"} -2.5e-3\n",
	"# TYPE a gauge\na +Inf\n# TYPE b gauge\nb -Inf\n"
	"# TYPE c gauge\nc NaN\n",
	"# TYPE a untyped\na{} 1 1700000000000\n\n# a comment\n",
	"# TYPE a:b_c gauge\na:b_c{l_1=\"x\",} .5\n",
	HIST "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
	     "h_sum 3\nh_count 2\n",
	HIST "h_bucket{t=\"a\",le=\"1\"} 1\nh_bucket{t=\"a\",le=\"+Inf\"} 1\n"
	     "h_sum{t=\"a\"} 0.5\nh_count{t=\"a\"} 1\n"
	     "h_bucket{t=\"b\",le=\"+Inf\"} 0\nh_sum{t=\"b\"} 0\n"
	     "h_count{t=\"b\"} 0\n",
	"# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 3\ns_count 2\n",
};

static void test_promtext_accepts(void)
{
	char err[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int rc = promtext_check(good[i], err, sizeof(err));
		if (rc != 0)
			fprintf(stderr, "\ngood[%zu]: %s\n", i, err);
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_STRING_EQUAL(err, "");
	}
}

static const struct {
	const char *text;
	const char *err; /* the start of the message: it names the line */
} bad[] = {
	{ "a 1\n", "line 1:" },                               /* no TYPE */
	{ "# HELP a x\na 1\n", "line 2:" },                   /* no TYPE */
	{ "# TYPE a gauge\na{x=\"\\t\"} 1\n", "line 2:" },   /* escape */
	{ "# TYPE a gauge\na{x=\"\\\"} 1\n", "line 2:" },    /* unended */
	{ "# TYPE a gauge\na{x=\"a\nb\"} 1\n", "line 2:" },  /* raw \n */
	{ "# TYPE a gauge\na 1", "line 2:" },          /* no final newline */
	{ "", "line 1:" },
	{ "# TYPE a gauge\na 1.2.3\n", "line 2:" },
	{ "# TYPE a gauge\na 0x10\n", "line 2:" },
	{ "# TYPE a gauge\na inf\n", "line 2:" },
	{ "# TYPE a gauge\na\n", "line 2:" },
	{ "# TYPE a gauge\na \n", "line 2:" },
	{ "# TYPE a gauge\na 1e\n", "line 2:" },
	{ "# TYPE a gauge\na  1\n", "line 2:" },
	{ "# TYPE a gauge\na 1 x\n", "line 2:" },             /* timestamp */
	{ "# TYPE a gauge\na 1 \n", "line 2:" },
	{ "# TYPE a gauge\na{x= \"1\"} 1\n", "line 2:" },
	{ "# TYPE a gauge\na{x=\"1\" } 1\n", "line 2:" },
	{ "# TYPE a gauge\na{x=1} 1\n", "line 2:" },
	{ "# TYPE a gauge\na{1x=\"1\"} 1\n", "line 2:" },
	{ "# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n", "line 2:" },
	{ "# TYPE a gauge\na{x=\"1\" 1\n", "line 2:" },
	{ "# TYPE a gauge\n a 1\n", "line 2:" },
	{ "# TYPE 1a gauge\n", "line 1:" },
	{ "# TYPE a-b gauge\n", "line 1:" },
	{ "# TYPE a gauges\n", "line 1:" },
	{ "# TYPE a\n", "line 1:" },
	{ "# TYPE a gauge\n# TYPE a gauge\na 1\n", "line 2:" },
	{ "# HELP a x\n# HELP a y\n# TYPE a gauge\n", "line 2:" },
	{ "# HELP a bad \\t escape\n# TYPE a gauge\n", "line 1:" },
	{ "# TYPE a gauge\na 1\n# HELP a late\n", "line 3:" },
	{ "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"\"} 2\n",
	  "line 5:" },                                        /* not together */
	{ "# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n", "line 4:" },
	{ "# TYPE a gauge\na 1\na 2\n", "line 3:" },          /* twice */
	{ "# TYPE a counter\na -1\n", "line 2:" },
	{ "# TYPE a counter\na NaN\n", "line 2:" },
	/* histograms: not cumulative, no +Inf, +Inf != count, order, ... */
	{ HIST "h_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"
	       "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n", "line 3:" },
	{ HIST "h_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n", "line 2:" },
	{ HIST "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", "line 4:" },
	{ HIST "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
	       "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "line 3:" },
	{ HIST "h_bucket{le=\"+Inf\"} 1\nh_count 1\n", "line 2:" },
	{ HIST "h_bucket{le=\"+Inf\"} 1\nh_sum 1\n", "line 2:" },
	{ HIST "h_sum 1\nh_count 1\n", "line 2:" },
	{ HIST "h_bucket 1\n", "line 2:" },
	{ HIST "h_bucket{le=\"x\"} 1\n", "line 2:" },
	{ HIST "h_count{le=\"1\"} 1\n", "line 2:" },
	{ HIST "h 1\n", "line 2:" },
	{ HIST "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"
	       "# TYPE g gauge\ng 1\nh_bucket{t=\"x\",le=\"+Inf\"} 1\n",
	  "line 7:" },
	{ "# TYPE s summary\ns 1\n", "line 2:" },
	{ "# TYPE s summary\ns_sum{quantile=\"1\"} 1\n", "line 2:" },
	{ "# TYPE a counter\na_count 1\n", "line 2:" },
};

static void test_promtext_refuses(void)
{
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = promtext_check(bad[i].text, err, sizeof(err));
		size_t n = strlen(bad[i].err);
		if (rc != -1 || strncmp(err, bad[i].err, n) != 0 ||
		    strlen(err) <= n + 1)
			fprintf(stderr, "\nbad[%zu]: rc %d, \"%s\"\n", i, rc,
				err);
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_NSTRING_EQUAL(err, bad[i].err, n);
		CU_ASSERT(strlen(err) > n + 1); /* says what, too */
	}
	/* err_len 0: nothing written */
	CU_ASSERT_EQUAL(promtext_check("a 1\n", NULL, 0), -1);
}

static void test_promtext_value(void)
{
	const char *text = "# TYPE a gauge\na 1.5\n"
			   "# TYPE b counter\nb{x=\"1\",y=\"2\"} 3 1234\n"
			   "b{x=\"1\"} 4\n# TYPE c gauge\nc{} -Inf";
	double v = 0;

	CU_ASSERT_EQUAL(promtext_value(text, "a", "", &v), 0);
	CU_ASSERT_EQUAL(v, 1.5);
	CU_ASSERT_EQUAL(promtext_value(text, "b", "x=\"1\",y=\"2\"", &v), 0);
	CU_ASSERT_EQUAL(v, 3);
	CU_ASSERT_EQUAL(promtext_value(text, "b", "x=\"1\"", &v), 0);
	CU_ASSERT_EQUAL(v, 4);
	CU_ASSERT_EQUAL(promtext_value(text, "c", "", &v), 0);
	CU_ASSERT(isinf(v) && v < 0);
	CU_ASSERT_EQUAL(promtext_value(text, "b", "y=\"2\",x=\"1\"", &v), -1);
	CU_ASSERT_EQUAL(promtext_value(text, "b", "", &v), -1);
	CU_ASSERT_EQUAL(promtext_value(text, "a", "x=\"1\"", &v), -1);
	CU_ASSERT_EQUAL(promtext_value(text, "", "", &v), -1);
	CU_ASSERT_EQUAL(promtext_value(text, "TYPE", "", &v), -1);
	CU_ASSERT_EQUAL(promtext_value(text, "d", "", &v), -1);
}

int main(void)
{
	CU_pSuite s, p;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("metrics", NULL, NULL);
	p = CU_add_suite("promtext", NULL, NULL);
	if (s == NULL || p == NULL ||
	    !CU_add_test(s, "no tools yet", test_empty) ||
	    !CU_add_test(s, "the worker pool", test_worker_pool) ||
	    !CU_add_test(s, "connections refused, by reason",
			 test_connections_refused) ||
	    !CU_add_test(s, "counters move", test_counters) ||
	    !CU_add_test(s, "every series of a tool", test_all_series) ||
	    !CU_add_test(s, "info values", test_info) ||
	    !CU_add_test(s, "label escaping", test_escaping) ||
	    !CU_add_test(s, "tool \"\"", test_empty_tool) ||
	    !CU_add_test(s, "a bound is in its bucket", test_bucket_bounds) ||
	    !CU_add_test(s, "histogram buckets and sum", test_histogram) ||
	    !CU_add_test(s, "events move their counters", test_events) ||
	    !CU_add_test(s, "totals", test_totals) ||
	    !CU_add_test(s, "a client label", test_client_label) ||
	    !CU_add_test(s, "8 threads, shared and new tools",
			 test_threads) ||
	    !CU_add_test(s, "rendering while counting",
			 test_render_while_counting) ||
	    !CU_add_test(p, "accepts valid text", test_promtext_accepts) ||
	    !CU_add_test(p, "refuses invalid text", test_promtext_refuses) ||
	    !CU_add_test(p, "finds values", test_promtext_value)) {
		CU_cleanup_registry();
		return 1;
	}
	return cu_run();
}
