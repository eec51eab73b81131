/* carapacectl — the operator's view of a running carapaced.
 *
 * Talks HTTP to the daemon's admin listener (admin_listen of
 * carapaced.conf: a loopback address or a unix socket), the way `nginx -s`
 * talks to nginx: status, the open streams, the audit trail as it
 * happens, reload, revocations. Every request carries the admin token
 * (--token-file or CARAPACE_ADMIN_TOKEN). check-config, new-client and
 * hash-token need no daemon; revoke and unrevoke edit the config's
 * revoked_clients_file first and then tell the daemon. A failure travels
 * back to main as a return value; main alone picks the exit status (0
 * done, 1 failed, 2 usage). */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_admin.h"
#include "ctl_audit.h"
#include "ctl_approvals.h"
#include "ctl_clients.h"
#include "ctl_show.h"
#include "ctl_sniff.h"
#include "dbuf.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/carapace/carapaced.conf"

enum outcome { DONE, FAILED, BAD_USAGE };

struct ctx {
	const char *config;
	int config_given;
	const char *admin;   /* --admin, parsed into to at once */
	const char *token_file;
	int json;
	struct ctl_target to;
};

struct command {
	const char *name;
	enum outcome (*run)(struct ctx *cx, int argc, char **argv);
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: carapacectl [-c FILE | --admin URL] [--token-file FILE]"
		" [-j]\n"
		"                   COMMAND [ARGS]\n"
		"       carapacectl -V | --help\n"
		"\n"
		"commands:\n"
		"  status                 the daemon, its counters and tools\n"
		"  streams                the open streams\n"
		"  sniff [--tool T] [--denied | --would-deny | --would-hold]\n"
		"                         follow the audit trail until ^C\n"
		"  reload                 reload the configuration\n"
		"  revoke NAME            refuse client NAME from now on\n"
		"  unrevoke NAME          take NAME's revocation back\n"
		"  approvals [--follow]   the requests awaiting approval "
		"and the grants\n"
		"  approve ID [--for DURATION] [--scope call|method]\n"
		"                         let a held request through (and "
		"grant it again\n"
		"                         for DURATION: 90s, 15m, 1h, 2d)\n"
		"  deny ID [--reason TEXT]  refuse a held request\n"
		"  check-config [FILE]    check a configuration file (no "
		"daemon needed)\n"
		"  new-client NAME        a new client's token and entry\n"
		"  hash-token             the SHA-256 of a token read from "
		"stdin\n"
		"  audit-keygen FILE      a key to sign audit checkpoints "
		"with\n"
		"  audit-verify [--pubkey FILE]... FILE...\n"
		"                         check the audit trail's chain and "
		"checkpoints\n"
		"\n"
		"  -c, --config FILE    read admin_listen from FILE\n"
		"                       (default %s)\n"
		"      --admin URL      http://HOST:PORT or unix:/PATH instead\n"
		"      --token-file FILE  the admin token (else "
		"$CARAPACE_ADMIN_TOKEN)\n"
		"  -j, --json           print the daemon's JSON as received\n"
		"  -V, --version        print the version and exit\n"
		"  -h, --help           print this help and exit\n",
		DEFAULT_CONFIG);
}

static int resolve_target(struct ctx *cx)
{
	if (cx->admin != NULL)
		return 0;
	return ctl_target_from_config(&cx->to, cx->config);
}

/* ---- options after the command ---- */

static int bad_option(const char *cmd, char **argv, int ch)
{
	if (ch == ':')
		return ctl_complain("%s: %s needs a value", cmd,
				    argv[optind - 1]);
	if (optopt != 0)
		return ctl_complain("%s: unknown option -%c", cmd, optopt);
	return ctl_complain("%s: unknown option %s", cmd, argv[optind - 1]);
}

/* --json may follow any command too; returns the index of the first
 * operand, or -1. */
static int plain_options(struct ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0; /* glibc: start afresh on this argv */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:j", longopts, NULL)) != -1) {
		if (ch != 'j')
			return bad_option(argv[0], argv, ch);
		cx->json = 1;
	}
	return optind;
}

static int no_operands(struct ctx *cx, int argc, char **argv)
{
	int first = plain_options(cx, argc, argv);

	if (first < 0)
		return -1;
	if (first < argc)
		return ctl_complain("%s takes no arguments", argv[0]);
	return 0;
}

/* ---- status, streams, reload, check-config ---- */

static int print_raw(const struct dbuf *raw)
{
	ctl_put_json(dbuf_str(raw), dbuf_len(raw));
	return 0;
}

static enum outcome show(struct ctx *cx, int argc, char **argv,
			 const char *path, int (*print)(json_object *))
{
	struct dbuf raw = DBUF_INIT(CTL_MAX_ANSWER);
	json_object *o;

	if (no_operands(cx, argc, argv) < 0)
		return BAD_USAGE;
	if (resolve_target(cx) < 0 ||
	    ctl_call(&cx->to, "GET", path, &o, &raw) < 0)
		return FAILED;
	int r = cx->json ? print_raw(&raw) : print(o);
	json_object_put(o);
	dbuf_free(&raw);
	return r < 0 ? FAILED : DONE;
}

static enum outcome cmd_status(struct ctx *cx, int argc, char **argv)
{
	return show(cx, argc, argv, "/v1/status", ctl_print_status);
}

static enum outcome cmd_streams(struct ctx *cx, int argc, char **argv)
{
	return show(cx, argc, argv, "/v1/streams", ctl_print_streams);
}

static enum outcome cmd_reload(struct ctx *cx, int argc, char **argv)
{
	struct dbuf raw = DBUF_INIT(CTL_MAX_ANSWER);
	json_object *o;
	int r = 0;

	if (no_operands(cx, argc, argv) < 0)
		return BAD_USAGE;
	if (resolve_target(cx) < 0 ||
	    ctl_call(&cx->to, "POST", "/v1/reload", &o, &raw) < 0)
		return FAILED;
	if (cx->json)
		print_raw(&raw);
	if (!json_object_get_boolean(ctl_jget(o, "reloaded"))) {
		r = ctl_complain("%s", "the daemon answered without reloading");
	} else if (!cx->json) {
		struct dbuf b = DBUF_INIT(CTL_MAX_TEXT);
		ctl_clean(&b, ctl_cell_str(o, "config_file"));
		printf("reloaded %s\n", dbuf_str(&b));
		dbuf_free(&b);
	}
	json_object_put(o);
	dbuf_free(&raw);
	return r < 0 ? FAILED : DONE;
}

static enum outcome cmd_check_config(struct ctx *cx, int argc, char **argv)
{
	int first = plain_options(cx, argc, argv);

	if (first < 0)
		return BAD_USAGE;
	if (argc - first > 1) {
		ctl_complain("%s", "check-config takes one FILE");
		return BAD_USAGE;
	}
	const char *file = first < argc ? argv[first] : cx->config;
	if (ctl_check_config(file) < 0)
		return FAILED;
	printf("carapacectl: configuration file %s test is successful\n",
	       file);
	return DONE;
}

/* ---- revoke, unrevoke ---- */

/* The one operand NAME of cmd; NULL after a complaint. */
static const char *one_name(struct ctx *cx, int argc, char **argv)
{
	int first = plain_options(cx, argc, argv);

	if (first < 0)
		return NULL;
	if (argc - first != 1) {
		ctl_complain("%s takes one NAME", argv[0]);
		return NULL;
	}
	return argv[first];
}

/* POST /v1/revocations, and what it did; the edit is on file whatever
 * the daemon says, and the message says when it applies. */
static enum outcome tell_daemon(struct ctx *cx, const char *did,
				const char *edit, const char *name,
				const char *file)
{
	struct dbuf raw = DBUF_INIT(CTL_MAX_ANSWER);
	json_object *o;
	int64_t revoked = -1, ended = 0;

	if (resolve_target(cx) < 0 ||
	    ctl_call(&cx->to, "POST", "/v1/revocations", &o, &raw) < 0) {
		ctl_complain("%s %s is on file in %s: carapaced applies it "
			     "when it next starts or reloads", edit, name,
			     file);
		return FAILED;
	}
	if (cx->json) {
		print_raw(&raw);
	} else {
		ctl_jint(o, "revoked", &revoked);
		ctl_jint(o, "streams_ended", &ended);
		printf("%s %s: %lld revoked in all, %lld streams ended\n",
		       did, name, (long long)revoked, (long long)ended);
	}
	json_object_put(o);
	dbuf_free(&raw);
	return DONE;
}

/* The config's revoked_clients_file (a copy) and whether it defines the
 * client name; NULL after a complaint. */
static char *revocation_file(struct ctx *cx, const char *name, int *known)
{
	struct cfg *cfg;
	char *file = NULL;

	if (ctl_load_config(cx->config, &cfg) < 0)
		return NULL;
	*known = cfg_find_client(cfg, name) != NULL;
	if (cfg->revoked_clients_file == NULL)
		ctl_complain("%s has no revoked_clients_file: nothing can be "
			     "revoked", cx->config);
	else if ((file = strdup(cfg->revoked_clients_file)) == NULL)
		ctl_complain("%s", "out of memory");
	cfg_release(cfg);
	return file;
}

static enum outcome cmd_revoke(struct ctx *cx, int argc, char **argv)
{
	const char *name = one_name(cx, argc, argv);
	int known = 0, already;

	if (name == NULL)
		return BAD_USAGE;
	char *file = revocation_file(cx, name, &known);
	if (file == NULL)
		return FAILED;
	enum outcome out = FAILED;
	if (!known)
		ctl_complain("%s defines no client %s", cx->config, name);
	else if (ctl_revoked_add(file, name, &already) == 0)
		out = tell_daemon(cx, "revoked", "the revocation of", name,
				  file);
	free(file);
	return out;
}

static enum outcome cmd_unrevoke(struct ctx *cx, int argc, char **argv)
{
	const char *name = one_name(cx, argc, argv);
	int known;
	unsigned found;

	if (name == NULL)
		return BAD_USAGE;
	if (!ctl_client_name_ok(name)) {
		ctl_complain("%s is not a client name", name);
		return FAILED;
	}
	/* a client the config no longer defines may still be on file */
	char *file = revocation_file(cx, name, &known);
	if (file == NULL)
		return FAILED;
	enum outcome out = FAILED;
	int rc = ctl_revoked_remove(file, name, &found);
	if (rc == 0 && found == 0)
		ctl_complain("%s is not revoked in %s", name, file);
	else if (rc == 0)
		out = tell_daemon(cx, "unrevoked", "the end of the revocation "
				  "of", name, file);
	free(file);
	return out;
}

/* ---- new-client, hash-token ---- */

static enum outcome cmd_new_client(struct ctx *cx, int argc, char **argv)
{
	const char *name = one_name(cx, argc, argv);

	if (name == NULL)
		return BAD_USAGE;
	if (!ctl_client_name_ok(name)) {
		ctl_complain("%s: a client's name is 1 to 64 of A-Z a-z 0-9 . "
			     "_ -", name);
		return BAD_USAGE;
	}
	return ctl_new_client(name, cx->json) < 0 ? FAILED : DONE;
}

static enum outcome cmd_hash_token(struct ctx *cx, int argc, char **argv)
{
	if (no_operands(cx, argc, argv) < 0)
		return BAD_USAGE;
	return ctl_hash_token() < 0 ? FAILED : DONE;
}

/* ---- sniff ---- */

/* decision: NULL (all), "deny", "would_deny" or "would_hold" */
static int audit_path(const char *tool, const char *decision, char *buf,
		      size_t size)
{
	char *esc = tool ? curl_easy_escape(NULL, tool, 0) : NULL;

	if (tool != NULL && esc == NULL)
		return -1;
	int n = snprintf(buf, size, "/v1/audit%s%s%s%s%s",
			 tool ? "?tool=" : "", tool ? esc : "",
			 decision ? (tool ? "&" : "?") : "",
			 decision ? "decision=" : "", decision ? decision : "");
	curl_free(esc);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int sniff_options(struct ctx *cx, int argc, char **argv,
			 const char **tool, const char **decision)
{
	static const struct option longopts[] = {
		{ "tool", required_argument, NULL, 't' },
		{ "denied", no_argument, NULL, 'd' },
		{ "would-deny", no_argument, NULL, 'w' },
		{ "would-hold", no_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:j", longopts, NULL)) != -1) {
		switch (ch) {
		case 't': *tool = optarg; break;
		case 'd': *decision = "deny"; break;
		case 'w': *decision = "would_deny"; break;
		case 'H': *decision = "would_hold"; break;
		case 'j': cx->json = 1; break;
		default: return bad_option(argv[0], argv, ch);
		}
	}
	if (optind < argc)
		return ctl_complain("%s", "sniff takes only options");
	return 0;
}

static enum outcome cmd_sniff(struct ctx *cx, int argc, char **argv)
{
	const char *tool = NULL, *decision = NULL;
	char path[512];

	if (sniff_options(cx, argc, argv, &tool, &decision) < 0)
		return BAD_USAGE;
	if (audit_path(tool, decision, path, sizeof(path)) < 0) {
		ctl_complain("%s", "--tool: name too long");
		return BAD_USAGE;
	}
	if (resolve_target(cx) < 0)
		return FAILED;
	return ctl_sniff(&cx->to, path, cx->json) < 0 ? FAILED : DONE;
}

/* ---- audit-keygen, audit-verify ---- */

static enum outcome audit_outcome(int rc)
{
	return rc == 0 ? DONE : rc == -2 ? BAD_USAGE : FAILED;
}

static enum outcome cmd_audit_keygen(struct ctx *cx, int argc, char **argv)
{
	(void)cx;
	return audit_outcome(ctl_audit_keygen(argc, argv));
}

static enum outcome cmd_audit_verify(struct ctx *cx, int argc, char **argv)
{
	(void)cx;
	return audit_outcome(ctl_audit_verify(argc, argv));
}

/* ---- approvals, approve, deny ---- */

/* Their options: --follow (approvals), --for and --scope (approve),
 * --reason (deny), --json (all); the operands' index, or -1. */
struct decide_opts {
	int follow, method_scope;
	unsigned grant_secs;
	const char *reason, *scope;
};

static int approval_options(struct ctx *cx, int argc, char **argv,
			    const char *allowed, struct decide_opts *d)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "for", required_argument, NULL, 'F' },
		{ "scope", required_argument, NULL, 'S' },
		{ "reason", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0;
	opterr = 0;
	/* no "+": an option may follow the ID, as the usage writes it */
	while ((ch = getopt_long(argc, argv, ":jf", longopts, NULL)) != -1) {
		if (ch == ':' || ch == '?')
			return bad_option(argv[0], argv, ch);
		if (ch != 'j' && !strchr(allowed, ch))
			return ctl_complain("%s: %s is not one of its options",
					    argv[0], argv[optind - 1 -
							  (optarg != NULL)]);
		switch (ch) {
		case 'j': cx->json = 1; break;
		case 'f': d->follow = 1; break;
		case 'R': d->reason = optarg; break;
		case 'S': d->scope = optarg; break;
		default: /* 'F' */
			if (ctl_parse_duration(optarg, &d->grant_secs) < 0)
				return ctl_complain("--for %s: expected a "
						    "duration (90s, 15m, 1h, "
						    "2d; at most 30d)", optarg);
		}
	}
	if (d->scope != NULL && strcmp(d->scope, "call") != 0 &&
	    strcmp(d->scope, "method") != 0)
		return ctl_complain("--scope %s: expected call or method",
				    d->scope);
	d->method_scope = d->scope != NULL && strcmp(d->scope, "method") == 0;
	if (d->method_scope && d->grant_secs == 0)
		return ctl_complain("%s", "--scope method needs --for");
	return optind;
}

static enum outcome cmd_approvals(struct ctx *cx, int argc, char **argv)
{
	struct decide_opts d = { 0 };
	int first = approval_options(cx, argc, argv, "f", &d);

	if (first < 0 || first < argc) {
		if (first >= 0)
			ctl_complain("%s", "approvals takes only options");
		return BAD_USAGE;
	}
	if (resolve_target(cx) < 0 ||
	    ctl_approvals_show(&cx->to, cx->json, d.follow) < 0)
		return FAILED;
	return DONE;
}

static enum outcome decide(struct ctx *cx, int argc, char **argv,
			   int approve)
{
	struct decide_opts d = { 0 };
	int first = approval_options(cx, argc, argv, approve ? "FS" : "R",
				     &d);

	if (first < 0 || argc - first != 1) {
		if (first >= 0)
			ctl_complain("%s takes one ID", argv[0]);
		return BAD_USAGE;
	}
	if (resolve_target(cx) < 0 ||
	    ctl_approvals_decide(&cx->to, argv[first], approve, d.grant_secs,
				 d.method_scope, d.reason, cx->json) < 0)
		return FAILED;
	return DONE;
}

static enum outcome cmd_approve(struct ctx *cx, int argc, char **argv)
{
	return decide(cx, argc, argv, 1);
}

static enum outcome cmd_deny(struct ctx *cx, int argc, char **argv)
{
	return decide(cx, argc, argv, 0);
}

/* ---- main ---- */

static const struct command commands[] = {
	{ "status", cmd_status },
	{ "streams", cmd_streams },
	{ "sniff", cmd_sniff },
	{ "reload", cmd_reload },
	{ "revoke", cmd_revoke },
	{ "unrevoke", cmd_unrevoke },
	{ "approvals", cmd_approvals },
	{ "approve", cmd_approve },
	{ "deny", cmd_deny },
	{ "check-config", cmd_check_config },
	{ "new-client", cmd_new_client },
	{ "hash-token", cmd_hash_token },
	{ "audit-keygen", cmd_audit_keygen },
	{ "audit-verify", cmd_audit_verify },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* 0: run a command; 1: exit 0 now; -1: a usage error. */
static int parse_options(int argc, char **argv, struct ctx *cx)
{
	enum { OPT_ADMIN = 256, OPT_TOKEN_FILE };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "admin", required_argument, NULL, OPT_ADMIN },
		{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	cx->config = DEFAULT_CONFIG;
	while ((ch = getopt_long(argc, argv, "+c:jVh", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'c': cx->config = optarg; cx->config_given = 1; break;
		case OPT_ADMIN: cx->admin = optarg; break;
		case OPT_TOKEN_FILE: cx->token_file = optarg; break;
		case 'j': cx->json = 1; break;
		case 'V': printf("carapacectl %s\n", PACKAGE_VERSION); return 1;
		case 'h': usage(stdout); return 1;
		default: return -1;
		}
	}
	if (cx->admin != NULL && cx->config_given)
		return ctl_complain("%s", "-c and --admin exclude each other");
	if (cx->admin != NULL && ctl_target_from_url(&cx->to, cx->admin) < 0)
		return ctl_complain("--admin %s: expected http://HOST:PORT or "
				    "unix:/PATH", cx->admin);
	if (optind >= argc)
		return ctl_complain("%s", "no command");
	return 0;
}

int main(int argc, char **argv)
{
	struct ctx cx = { 0 };

	int rc = parse_options(argc, argv, &cx);
	if (rc != 0) {
		if (rc < 0)
			usage(stderr);
		return rc > 0 ? 0 : 2;
	}
	const struct command *cmd = find_command(argv[optind]);
	if (cmd == NULL) {
		ctl_complain("unknown command %s", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (ctl_set_token(&cx.to, cx.token_file) < 0)
		return 1;
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
		ctl_complain("%s", "cannot initialise libcurl");
		return 1;
	}
	enum outcome out = cmd->run(&cx, argc - optind, argv + optind);
	curl_global_cleanup();
	if (out == BAD_USAGE)
		usage(stderr);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "carapacectl: standard output: %s\n",
			strerror(errno));
		return 1;
	}
	return out == DONE ? 0 : out == FAILED ? 1 : 2;
}
