/* carapaced — the gateway daemon: options, start-up, signals, shutdown. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "admin.h"
#include "audit.h"
#include "cfg.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "server.h"
#include "workers.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/carapace/carapaced.conf"

/* Each open stream holds a client socket, an upstream socket and the
 * worker's two wake-up descriptors plus the stream's eventfd. */
#define FDS_PER_STREAM 5
#define FDS_RESERVED 64
#define WORKER_DRAIN_MS 5000

struct options {
	const char *config;
	int foreground;
	int test_only;
	int debug;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: carapaced [-f] [-d] [-c FILE]\n"
		"       carapaced -t [-c FILE]\n"
		"       carapaced -V | --help\n"
		"\n"
		"  -c, --config FILE    configuration (default %s)\n"
		"  -f, --foreground     stay in the foreground, log to stderr\n"
		"  -t, --test-config    check the configuration and exit\n"
		"  -d, --debug          log debug messages\n"
		"  -V, --version        print the version and exit\n"
		"  -h, --help           print this help and exit\n",
		DEFAULT_CONFIG);
}

/* 0: run; 1: exit 0 now; -1: exit 2 (usage error). */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "test-config", no_argument, NULL, 't' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	o->config = DEFAULT_CONFIG;
	while ((ch = getopt_long(argc, argv, "c:ftdVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'f': o->foreground = 1; break;
		case 't': o->test_only = 1; break;
		case 'd': o->debug = 1; break;
		case 'V': printf("carapaced %s\n", PACKAGE_VERSION); return 1;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Thousands of streams need thousands of descriptors: take all we may. */
static unsigned raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("setrlimit(RLIMIT_NOFILE)");
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1u << 20)
		rl.rlim_cur = 1u << 20;
	if (rl.rlim_cur <= FDS_RESERVED + FDS_PER_STREAM)
		return 1;
	return (unsigned)((rl.rlim_cur - FDS_RESERVED) / FDS_PER_STREAM);
}

static int load_config(const char *file, struct cfg **cfg)
{
	struct cfg_error err;

	if (cfg_load_file(file, cfg, &err) == 0)
		return 0;
	if (err.path[0] != '\0')
		fprintf(stderr, "carapaced: %s: %s: %s\n", file, err.path,
			err.message);
	else
		fprintf(stderr, "carapaced: %s: %s\n", file, err.message);
	return -1;
}

/* Signals are taken synchronously by the main thread; every other thread
 * inherits the mask and never sees them. */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Everything a running daemon holds; main's, torn down in reverse. */
struct daemon {
	const struct options *options;
	struct cfg *cfg;
	struct timespec cfg_loaded;
	struct metrics *metrics;
	struct audit *audit;
	struct ledger *ledger;
	struct server *server;
	struct admin *admin;
};

static void wait_for_stop(struct daemon *d, const sigset_t *set)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGINT || sig == SIGTERM) {
			log_info("signal %d: shutting down", sig);
			return;
		}
		/* logrotate's postrotate sends either */
		log_info("signal %d: reopening the audit log", sig);
		audit_reopen(d->audit);
	}
}

static const struct cfg *acquire_cfg(void *arg, struct timespec *loaded)
{
	struct daemon *d = arg;

	*loaded = d->cfg_loaded;
	return d->cfg;
}

static void release_cfg(void *arg, const struct cfg *cfg)
{
	(void)arg;
	(void)cfg;
}

static int reload_cfg(void *arg, char *msg, size_t msg_len)
{
	(void)arg;
	snprintf(msg, msg_len, "reload is not supported yet");
	return -1;
}

/* The audit trail, counters and the admin listener. 0 or -1 (logged). */
static int start_records(struct daemon *d)
{
	char err[256];

	d->metrics = metrics_new();
	d->audit = audit_new(d->cfg->audit_log, err, sizeof(err));
	d->ledger = d->metrics && d->audit ?
			    ledger_new(d->audit, d->metrics) : NULL;
	if (d->ledger == NULL) {
		log_warnx("%s", d->audit ? "out of memory" : err);
		return -1;
	}
	if (!d->cfg->admin.enabled)
		return 0;
	struct admin_context ctx = {
		.config_file = d->options->config,
		.metrics = d->metrics,
		.audit = d->audit,
		.ledger = d->ledger,
		.acquire = acquire_cfg,
		.release = release_cfg,
		.reload = reload_cfg,
		.arg = d,
	};
	clock_gettime(CLOCK_REALTIME, &ctx.started);
	d->admin = admin_start(&d->cfg->admin, &ctx, err, sizeof(err));
	if (d->admin == NULL) {
		log_warnx("%s", err);
		return -1;
	}
	return 0;
}

static void stop_records(struct daemon *d)
{
	admin_stop(d->admin);
	ledger_free(d->ledger);
	audit_free(d->audit);
	metrics_free(d->metrics);
}

static int run(const struct options *o, struct cfg *cfg)
{
	struct daemon d = { .options = o, .cfg = cfg };
	sigset_t set;
	char err[256];

	clock_gettime(CLOCK_REALTIME, &d.cfg_loaded);
	unsigned limit = raise_fd_limit();
	block_signals(&set);
	if (proxy_global_init() < 0) {
		log_warnx("cannot initialise libcurl");
		return 1;
	}
	if (start_records(&d) < 0) {
		stop_records(&d);
		proxy_global_cleanup();
		return 1;
	}
	d.server = server_start(cfg, d.ledger, limit, err, sizeof(err));
	if (d.server == NULL) {
		log_warnx("%s", err);
		stop_records(&d);
		proxy_global_cleanup();
		return 1;
	}
	log_info("carapaced %s started (%s), up to %u connections per "
		 "listener", PACKAGE_VERSION, o->config, limit);
	wait_for_stop(&d, &set);
	server_stop(d.server);
	unsigned left = workers_wait(WORKER_DRAIN_MS);
	if (left > 0) {
		log_warnx("%u upstream workers still running at exit", left);
		return 1; /* their threads still use curl: skip its cleanup */
	}
	stop_records(&d);
	proxy_pool_drain();
	proxy_global_cleanup();
	log_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct cfg *cfg = NULL;

	int rc = parse_options(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (load_config(o.config, &cfg) < 0)
		return 1;
	if (o.test_only) {
		printf("carapaced: configuration file %s test is successful\n",
		       o.config);
		cfg_free(cfg);
		return 0;
	}
	if (!o.foreground) {
		fprintf(stderr, "carapaced: running in the background is not "
				"supported yet; use -f\n");
		cfg_free(cfg);
		return 1;
	}
	log_init("carapaced", o.foreground, o.debug);
	rc = run(&o, cfg);
	cfg_free(cfg);
	return rc;
}
