/* carapaced — the gateway daemon: options, start-up, signals, reload and
 * the graceful stop. Everything here runs on the main thread, which takes
 * every signal synchronously (sigwait); the other threads never see one. */
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
#include <unistd.h>

#include "admin.h"
#include "audit.h"
#include "auditchain.h"
#include "cfg.h"
#include "contain.h"
#include "daemon.h"
#include "endpoint.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "approval_webhook.h"
#include "approvals.h"
#include "revoked.h"
#include "server.h"
#include "workers.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/carapace/carapaced.conf"

/* Each open stream holds a client socket and an upstream socket; its
 * worker's multi handle has no wake-up pair (proxy.c) and the stream no
 * eventfd (stream.c). */
#define FDS_PER_STREAM 2
#define FDS_RESERVED 64
#define WORKER_DRAIN_MS 5000
/* How long a stop waits for requests under way (systemd's unit allows 40) */
#define DRAIN_SECS 30

struct options {
	const char *config;
	const char *pidfile;
	const char *user;
	int foreground;
	int test_only;
	int debug;
};

/* Everything a running daemon holds; main's, torn down in reverse. */
struct daemon {
	const struct options *options;
	pthread_mutex_t lock;           /* cfg and cfg_loaded */
	pthread_mutex_t reload_lock;    /* one reload at a time */
	const struct cfg *cfg;          /* in force; one reference */
	struct timespec cfg_loaded;
	struct metrics *metrics;
	struct audit *audit;
	struct ledger *ledger;
	struct server *server;
	struct admin *admin;
	struct revoked *revoked;        /* revoked_clients_file's names */
	struct approvals *approvals;    /* held requests, grants: until
					 * the process ends */
	struct approval_webhook *webhook; /* told of each held request */
	int has_user;
	struct daemon_user user;
	int report;                     /* to the launcher while starting */
	int pidfile_fd;
	struct auditchain_key key;      /* audit_signing_key, until started */
	int has_key;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: carapaced [-f] [-d] [-c FILE] [-p PIDFILE] "
		"[-u USER[:GROUP]]\n"
		"       carapaced -t [-c FILE] [-u USER[:GROUP]]\n"
		"       carapaced -V | --help\n"
		"\n"
		"  -c, --config FILE        configuration (default %s)\n"
		"  -f, --foreground         stay in the foreground, log to "
		"stderr\n"
		"  -p, --pidfile FILE       write the pid there once listening\n"
		"  -u, --user USER[:GROUP]  drop privileges once listening\n"
		"  -t, --test-config        check the configuration and exit\n"
		"  -d, --debug              log debug messages\n"
		"  -V, --version            print the version and exit\n"
		"  -h, --help               print this help and exit\n",
		DEFAULT_CONFIG);
}

/* 0: run; 1: exit 0 now; -1: exit 2 (usage error). */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "test-config", no_argument, NULL, 't' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	o->config = DEFAULT_CONFIG;
	while ((ch = getopt_long(argc, argv, "c:fp:u:tdVh", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'f': o->foreground = 1; break;
		case 'p': o->pidfile = optarg; break;
		case 'u': o->user = optarg; break;
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

/* The file, parsed and checked; e says why not, naming the file and the
 * key as `carapaced -t` prints them. */
static struct cfg *read_config(const char *file, struct error *e)
{
	struct error raw;
	struct cfg *cfg;

	if (cfg_load_file(file, &cfg, &raw) == 0)
		return cfg;
	if (raw.key[0] != '\0')
		return error_set(e, 0, raw.key, "%s: %s: %s", file, raw.key,
				 raw.msg), NULL;
	return error_set(e, 0, NULL, "%s: %s", file, raw.msg), NULL;
}

/* A cli tool's child runs with our uid: never root unless asked for. */
static int tools_as_root_ok(const struct cfg *cfg, int will_be_root,
			    struct error *e)
{
	if (!will_be_root || cfg->run_tools_as_root || !cfg_has_cli_tools(cfg))
		return 0;
	return error_set(e, 0, NULL, "cli tools would run as root: start "
			 "with -u USER, or set run_tools_as_root");
}

/* Signals are taken synchronously by the main thread; every thread made
 * later inherits the mask and never sees them. SIGUSR2 is internal: "a
 * retired listener or the drain has something to look at". */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void wake_main(void *arg)
{
	(void)arg;
	kill(getpid(), SIGUSR2);
}

/* ---- the config in force, for the admin API ---- */

static const struct cfg *acquire_cfg(void *arg, struct timespec *loaded)
{
	struct daemon *d = arg;

	pthread_mutex_lock(&d->lock);
	const struct cfg *cfg = cfg_hold(d->cfg);
	*loaded = d->cfg_loaded;
	pthread_mutex_unlock(&d->lock);
	return cfg;
}

static void release_cfg(void *arg, const struct cfg *cfg)
{
	(void)arg;
	cfg_release(cfg);
}

/* ---- reload ---- */

/* A stream the new config would not let start: its tool is gone, or
 * its client is, or may no longer use the tool. */
static int cfg_dooms(const struct cfg *cfg, const char *tool,
		     const char *client)
{
	if (cfg_find_tool(cfg, tool, strlen(tool)) == NULL)
		return 1;
	if (!cfg->has_clients)
		return 0;
	const struct cfg_client *cl = cfg_find_client(cfg, client);
	return cl == NULL || !cfg_client_may_use(cl, tool);
}

static int reload_dooms(void *arg, const char *tool, const char *client)
{
	return cfg_dooms(arg, tool, client);
}

static int is_revoked(void *arg, const char *tool, const char *client)
{
	(void)tool;
	return client[0] != '\0' && revoked_has(arg, client);
}

/* A stream registering now (ledger_set_admission): what a revocation or
 * reload that ran since its request was decided would have ended. Any
 * thread. */
static int stream_doomed(void *arg, const char *tool, const char *client,
			 enum ledger_ending *why)
{
	struct daemon *d = arg;

	if (is_revoked(d->revoked, tool, client)) {
		*why = LEDGER_ENDED_REVOKED;
		return 1;
	}
	pthread_mutex_lock(&d->lock);
	const struct cfg *cfg = cfg_hold(d->cfg);
	pthread_mutex_unlock(&d->lock);
	int doomed = cfg_dooms(cfg, tool, client);
	cfg_release(cfg);
	*why = LEDGER_ENDED_RELOAD;
	return doomed;
}

/* audit_signing_key read into k (*has: whether one is set): a key that
 * cannot be read refuses the start or the reload, never an unsigned log
 * in its place. 0 or -1 with why in e. */
static int load_signing_key(const struct cfg *cfg, struct auditchain_key *k,
			    int *has, struct error *e)
{
	struct error why;

	*has = 0;
	if (cfg->audit_signing_key == NULL)
		return 0;
	if (auditchain_key_load(cfg->audit_signing_key, k, &why) < 0)
		return error_set(e, 0, "audit_signing_key",
				 "audit_signing_key: %s", why.msg);
	*has = 1;
	return 0;
}

/* Said at every start and reload, so that it is not forgotten. */
static void warn_insecure(const struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->n_tools; i++) {
		if (cfg->tools[i].http.upstream_insecure)
			log_warnx("tools.%s: upstream_insecure: the upstream's "
				  "certificate is not verified",
				  cfg->tools[i].name);
		if (cfg->tools[i].audit_mode)
			log_warnx("tools.%s: mode \"audit\": its rules are "
				  "not enforced (would_deny is recorded)",
				  cfg->tools[i].name);
	}
}

/* Everything that can refuse the new config; on a refusal nothing has
 * changed. 0 or -1 with why in e. */
static int apply_config(struct daemon *d, const struct cfg *cfg,
			struct error *e)
{
	char old[4096];
	const char *old_path = audit_path(d->audit, old, sizeof(old));
	struct error ignored;

	if (tools_as_root_ok(cfg, geteuid() == 0, e) < 0 ||
	    audit_set_path(d->audit, cfg->audit_log, e) < 0)
		return -1;
	if (server_apply(d->server, cfg, e) == 0) {
		approvals_set_cfg(d->approvals, cfg);
		return 0;
	}
	audit_set_path(d->audit, old_path, &ignored);
	return -1;
}

static void warn_restart_only(const struct cfg *old, const struct cfg *cfg)
{
	const char *a = old->admin.text ? old->admin.text : "";
	const char *b = cfg->admin.text ? cfg->admin.text : "";

	if (strcmp(a, b) != 0)
		log_warnx("admin_listen changed: it takes effect at the next "
			  "start");
}

/* SIGHUP and POST /v1/reload. 0, or -1 with why in e and the old
 * config still in force. */
static int reload(void *arg, struct error *e)
{
	struct daemon *d = arg;
	const char *file = d->options->config;
	struct auditchain_key key;
	int has_key = 0;

	pthread_mutex_lock(&d->reload_lock);
	struct revoked *fresh = revoked_new();
	struct cfg *cfg = fresh ? read_config(file, e) : NULL;
	if (fresh == NULL)
		error_set(e, 0, NULL, "out of memory");
	if (cfg == NULL ||
	    revoked_load(fresh, cfg->revoked_clients_file, e) < 0 ||
	    load_signing_key(cfg, &key, &has_key, e) < 0 ||
	    apply_config(d, cfg, e) < 0) {
		auditchain_key_clear(&key);
		pthread_mutex_unlock(&d->reload_lock);
		log_warnx("reload refused, the configuration in force stays: "
			  "%s", e->msg);
		cfg_release(cfg);
		revoked_free(fresh);
		return -1;
	}
	audit_set_key(d->audit, has_key ? &key : NULL);
	auditchain_key_clear(&key);
	wake_main(NULL); /* its checkpoint timer may have begun or ended */
	pthread_mutex_lock(&d->lock);
	const struct cfg *old = d->cfg;
	d->cfg = cfg; /* our reference moves into d */
	clock_gettime(CLOCK_REALTIME, &d->cfg_loaded);
	pthread_mutex_unlock(&d->lock);
	revoked_move(d->revoked, fresh);
	revoked_free(fresh);
	unsigned ended = ledger_close_streams(d->ledger, is_revoked,
					      d->revoked, LEDGER_ENDED_REVOKED);
	ended += ledger_close_streams(d->ledger, reload_dooms, cfg,
				      LEDGER_ENDED_RELOAD);
	warn_insecure(cfg);
	warn_restart_only(old, cfg);
	cfg_release(old);
	pthread_mutex_unlock(&d->reload_lock);
	log_info("reloaded %s%s", file,
		 ended ? "; streams it no longer allows ended" : "");
	return 0;
}

/* POST /v1/revocations: the file again, and the revoked clients'
 * streams end. */
static int revocations(void *arg, unsigned *ended, struct error *e)
{
	struct daemon *d = arg;

	pthread_mutex_lock(&d->reload_lock);
	pthread_mutex_lock(&d->lock);
	const struct cfg *cfg = cfg_hold(d->cfg);
	pthread_mutex_unlock(&d->lock);
	int rc = revoked_load(d->revoked, cfg->revoked_clients_file, e);
	cfg_release(cfg);
	*ended = rc < 0 ? 0 :
		 ledger_close_streams(d->ledger, is_revoked, d->revoked,
				      LEDGER_ENDED_REVOKED);
	pthread_mutex_unlock(&d->reload_lock);
	if (rc < 0)
		log_warnx("revocations not read: %s", e->msg);
	else
		log_info("revocations read: %u clients revoked, %u streams "
			 "ended", revoked_count(d->revoked), *ended);
	return rc;
}

/* ---- start ---- */

/* The audit trail, counters and the admin listener. 0 or -1 (logged). */
static int start_records(struct daemon *d)
{
	struct error err;

	d->metrics = metrics_new();
	d->audit = audit_new(d->cfg->audit_log, &err);
	if (d->audit != NULL)
		audit_set_key(d->audit, d->has_key ? &d->key : NULL);
	auditchain_key_clear(&d->key);
	d->ledger = d->metrics && d->audit ?
			    ledger_new(d->audit, d->metrics) : NULL;
	if (d->ledger == NULL) {
		log_warnx("%s", d->audit ? "out of memory" : err.msg);
		return -1;
	}
	ledger_set_admission(d->ledger, stream_doomed, d);
	d->approvals = approvals_new(d->audit);
	d->webhook = approval_webhook_new();
	if (d->approvals == NULL || d->webhook == NULL) {
		log_warnx("out of memory");
		return -1;
	}
	approvals_set_cfg(d->approvals, d->cfg);
	approvals_set_revoked(d->approvals, d->revoked);
	approvals_set_notify(d->approvals, approval_webhook_send, d->webhook);
	if (!d->cfg->admin.enabled)
		return 0;
	struct admin_context ctx = {
		.config_file = d->options->config,
		.metrics = d->metrics,
		.audit = d->audit,
		.ledger = d->ledger,
		.revoked = d->revoked,
		.acquire = acquire_cfg,
		.release = release_cfg,
		.reload = reload,
		.revocations = revocations,
		.approvals = d->approvals,
		.arg = d,
	};
	clock_gettime(CLOCK_REALTIME, &ctx.started);
	d->admin = admin_start(&d->cfg->admin, &ctx, &err);
	if (d->admin == NULL) {
		log_warnx("%s", err.msg);
		return -1;
	}
	return 0;
}

static void stop_records(struct daemon *d)
{
	admin_stop(d->admin);
	approvals_free(d->approvals); /* no held request is left */
	approval_webhook_free(d->webhook); /* its posts have ended */
	ledger_free(d->ledger);
	audit_free(d->audit);
	metrics_free(d->metrics);
}

/* Listeners, then the pidfile, then fewer privileges: each needs what the
 * one before could still do. 0 or -1 (logged). */
static int start_serving(struct daemon *d, unsigned conn_limit)
{
	const struct options *o = d->options;
	struct error e;

	d->server = server_new(d->ledger, d->metrics, conn_limit, wake_main,
			       NULL);
	if (d->server != NULL) {
		server_set_revoked(d->server, d->revoked);
		server_set_approvals(d->server, d->approvals);
	}
	if (d->server == NULL || server_apply(d->server, d->cfg, &e) < 0) {
		log_warnx("%s", d->server ? e.msg : "out of memory");
		return -1;
	}
	if (o->pidfile != NULL &&
	    (d->pidfile_fd = daemon_pidfile_write(o->pidfile, &e)) < 0) {
		log_warnx("%s", e.msg);
		return -1;
	}
	if (d->has_user && daemon_drop(&d->user, &e) < 0) {
		log_warnx("%s", e.msg);
		return -1;
	}
	return 0;
}

/* ---- stop ---- */

static int is_any(void *arg, const char *tool, const char *client)
{
	(void)arg;
	(void)tool;
	(void)client;
	return 1;
}

/* Requests under way may finish, for DRAIN_SECS at most; streams end
 * cleanly at once. A second SIGTERM/SIGINT cuts the wait short. */
static void drain(struct daemon *d, const sigset_t *set)
{
	struct timespec deadline, now;
	int sig;

	server_quiesce(d->server);
	approvals_shutdown(d->approvals); /* held requests end now: 503 */
	ledger_close_streams(d->ledger, is_any, NULL, LEDGER_ENDED_SHUTDOWN);
	ledger_on_idle(d->ledger, wake_main, NULL);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += DRAIN_SECS;
	while (ledger_in_flight(d->ledger) > 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		struct timespec left = { deadline.tv_sec - now.tv_sec,
					 deadline.tv_nsec - now.tv_nsec };
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0) {
			log_warnx("%u request(s) still under way after %d s: "
				  "closing them", ledger_in_flight(d->ledger),
				  DRAIN_SECS);
			break;
		}
		sig = sigtimedwait(set, NULL, &left);
		if (sig == SIGINT || sig == SIGTERM) {
			log_info("signal %d again: stopping now", sig);
			break;
		}
	}
	ledger_on_idle(d->ledger, NULL, NULL);
}

/* ---- the main loop ---- */

/* The next signal, waiting no longer than the audit's checkpoint timer
 * allows (audit_tick does what is due): 0, or -1 when the time ran out
 * or the wait was interrupted. */
static int next_signal(struct daemon *d, const sigset_t *set, int *sig)
{
	long ms = audit_tick(d->audit);

	if (ms < 0)
		return sigwait(set, sig) == 0 ? 0 : -1;
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	*sig = sigtimedwait(set, NULL, &t);
	return *sig < 0 ? -1 : 0;
}

static void serve(struct daemon *d, const sigset_t *set)
{
	struct error e;
	int sig;

	for (;;) {
		if (next_signal(d, set, &sig) != 0)
			continue;
		switch (sig) {
		case SIGINT:
		case SIGTERM:
			log_info("signal %d: shutting down", sig);
			return;
		case SIGHUP:
			/* a reload reopens the audit log; a refused one
			 * still does, as logrotate may send SIGHUP */
			log_info("SIGHUP: reloading %s", d->options->config);
			if (reload(d, &e) < 0)
				audit_reopen(d->audit);
			break;
		case SIGUSR1:
			log_info("SIGUSR1: reopening the audit log");
			audit_reopen(d->audit);
			break;
		default: /* SIGUSR2 */
			server_reap(d->server);
		}
	}
}

/* After start-up, nothing but a clean stop: 0. */
static int run(struct daemon *d)
{
	sigset_t set;

	clock_gettime(CLOCK_REALTIME, &d->cfg_loaded);
	unsigned limit = raise_fd_limit();
	block_signals(&set);
	if (proxy_global_init() < 0) {
		log_warnx("cannot initialise libcurl");
		return 1;
	}
	/* before the listeners: no run may start uncontained */
	contain_init();
	if (start_records(d) < 0 || start_serving(d, limit) < 0) {
		if (d->server != NULL)
			server_stop(d->server);
		stop_records(d);
		proxy_global_cleanup();
		return 1;
	}
	log_info("carapaced %s started (%s), up to %u connections per "
		 "listener", PACKAGE_VERSION, d->options->config, limit);
	if (d->report >= 0) {
		log_also_to(-1);
		daemon_ready(d->report);
		d->report = -1;
	}
	serve(d, &set);
	drain(d, &set);
	server_stop(d->server);
	unsigned left = workers_wait(WORKER_DRAIN_MS);
	workers_shutdown(); /* the parked ones: none outlives curl's cleanup */
	stop_records(d);
	if (left > 0) {
		log_warnx("%u workers still running at exit", left);
		return 1; /* their threads still use curl: skip its cleanup */
	}
	proxy_pool_drain();
	proxy_global_cleanup();
	log_info("stopped");
	return 0;
}

/* *path made absolute (into buf) when it is relative. */
static int absolute(const char **path, char *buf, size_t len)
{
	char cwd[4096];

	if (*path == NULL || (*path)[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    (size_t)snprintf(buf, len, "%s/%s", cwd, *path) >= len)
		return -1;
	*path = buf;
	return 0;
}

/* Everything that can be refused before going to the background, so the
 * error is on the terminal. 0 or -1 (printed). */
static int prepare(struct daemon *d, struct options *o)
{
	static char config[4096], pidfile[4096];
	struct error e;

	/* the daemon works in "/": a reload must find the same files */
	if (absolute(&o->config, config, sizeof(config)) < 0 ||
	    absolute(&o->pidfile, pidfile, sizeof(pidfile)) < 0) {
		error_set(&e, 0, NULL, "path too long");
		goto fail;
	}
	struct cfg *cfg = read_config(o->config, &e);

	if (cfg == NULL)
		goto fail;
	d->cfg = cfg;
	d->revoked = revoked_new();
	if (d->revoked == NULL) {
		error_set(&e, 0, NULL, "out of memory");
		goto fail;
	}
	if (revoked_load(d->revoked, cfg->revoked_clients_file, &e) < 0 ||
	    load_signing_key(cfg, &d->key, &d->has_key, &e) < 0)
		goto fail;
	warn_insecure(cfg);
	if (o->user != NULL && daemon_parse_user(o->user, &d->user, &e) < 0)
		goto fail;
	d->has_user = o->user != NULL;
	int root = d->has_user ? d->user.uid == 0 : geteuid() == 0;
	if (tools_as_root_ok(cfg, root, &e) < 0)
		goto fail;
	if (o->pidfile != NULL && daemon_pidfile_check(o->pidfile, &e) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "carapaced: %s\n", e.msg);
	return -1;
}

/* A listener's TLS files as a start would read them (the key is often
 * readable by root only: -t run as another user says so). */
static int tls_files_ok(const struct cfg_listen *l, struct error *e)
{
	struct endpoint_tls tls;
	char why[sizeof(e->msg)];

	if (l->tls_cert == NULL)
		return 0;
	if (endpoint_tls_load(l, &tls, e) < 0) {
		snprintf(why, sizeof(why), "%s", e->msg);
		return error_set(e, 0, NULL, "listen %s: %s", l->text, why);
	}
	endpoint_tls_clear(&tls);
	return 0;
}

static int all_tls_files_ok(const struct cfg *cfg, struct error *e)
{
	for (size_t i = 0; i < cfg->n_listen; i++)
		if (tls_files_ok(&cfg->listen[i], e) < 0)
			return -1;
	for (size_t i = 0; i < cfg->n_tools; i++)
		if (cfg->tools[i].http.has_listen &&
		    tls_files_ok(&cfg->tools[i].http.listen, e) < 0)
			return -1;
	return 0;
}

/* -t: what a start with the same options would refuse of the file,
 * without opening anything. Exit status. */
static int test_config(const struct options *o)
{
	struct daemon_user user;
	struct error e;
	struct cfg *cfg = read_config(o->config, &e);
	int root = geteuid() == 0;

	if (cfg == NULL)
		goto fail;
	if (o->user != NULL) {
		if (daemon_parse_user(o->user, &user, &e) < 0)
			goto fail;
		root = user.uid == 0;
	}
	struct auditchain_key key;
	int has_key;
	if (tools_as_root_ok(cfg, root, &e) < 0 ||
	    all_tls_files_ok(cfg, &e) < 0 ||
	    load_signing_key(cfg, &key, &has_key, &e) < 0)
		goto fail;
	auditchain_key_clear(&key);
	struct revoked *revoked = revoked_new();
	int unread = revoked == NULL ||
		     revoked_load(revoked, cfg->revoked_clients_file, &e) < 0;
	revoked_free(revoked);
	if (unread)
		goto fail;
	printf("carapaced: configuration file %s test is successful\n",
	       o->config);
	cfg_release(cfg);
	return 0;
fail:
	fprintf(stderr, "carapaced: %s\n", e.msg);
	cfg_release(cfg);
	return 1;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct daemon d = { .options = &o, .report = -1, .pidfile_fd = -1 };

	int rc = parse_options(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (o.test_only)
		return test_config(&o);
	if (prepare(&d, &o) < 0) {
		auditchain_key_clear(&d.key);
		cfg_release(d.cfg);
		revoked_free(d.revoked);
		return 1;
	}
	if (!o.foreground && daemon_background(&d.report) < 0) {
		perror("carapaced: fork");
		return 1;
	}
	log_init("carapaced", o.foreground, o.debug);
	if (d.report >= 0)
		log_also_to(d.report);
	pthread_mutex_init(&d.lock, NULL);
	pthread_mutex_init(&d.reload_lock, NULL);
	rc = run(&d);
	auditchain_key_clear(&d.key);
	daemon_pidfile_remove(o.pidfile, d.pidfile_fd);
	cfg_release(d.cfg);
	revoked_free(d.revoked);
	return rc;
}
