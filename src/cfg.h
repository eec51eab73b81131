/* cfg — the daemon's configuration: parsed from JSON, validated strictly.
 *
 * A config object is immutable once loaded; any thread may read it. It is
 * reference counted, so a reload can put a new one in force while requests
 * and tool runs that started under the old one finish with it.
 * Every key the file may hold is described once, in the key tables of
 * cfg.c and cfg_tool.c (name, type, bounds, default, where it is stored);
 * parsing, defaults, the errors of `carapaced -t` and the manual's check
 * (cfg_key_at) come from them. */
#ifndef CARAPACE_CFG_H
#define CARAPACE_CFG_H

#include <stdatomic.h>
#include <stddef.h>

#include "addr.h"
#include "error.h"

#define CFG_DEFAULT_MAX_BODY_BYTES ((size_t)1048576)
#define CFG_DEFAULT_TIMEOUT_SECS 30u
/* The HTTP front's limits (issue 11), nginx's names where nginx has one. */
#define CFG_DEFAULT_MAX_INFLIGHT_BODY_BYTES ((size_t)64 << 20)
#define CFG_DEFAULT_CLIENT_HEADER_TIMEOUT_SECS 10u
#define CFG_DEFAULT_CLIENT_BODY_TIMEOUT_SECS 30u
#define CFG_DEFAULT_CLIENT_SEND_TIMEOUT_SECS 60u
#define CFG_DEFAULT_MAX_CONNECTIONS_PER_IP 256u

enum cfg_tool_type { CFG_TOOL_HTTP, CFG_TOOL_CLI };

/* How JSON-RPC parameter names are folded before they are compared
 * (jsonrpc_param_aliases): not at all, or as signal-cli reads them. */
enum cfg_param_aliases { CFG_ALIASES_NONE, CFG_ALIASES_SIGNAL_CLI };

#define CFG_DEFAULT_JSONRPC_MAX_BATCH 100u

#define CFG_DEFAULT_MAX_OUTPUT_BYTES ((size_t)16 << 20)
#define CFG_DEFAULT_MAX_CONCURRENT 8u

#define CFG_DEFAULT_UNIX_MODE 0660u

#define CFG_DEFAULT_APPROVAL_TIMEOUT_SECS 300u

/* A list of strings (globs, names); n == 0 means "not set". */
struct cfg_strings {
	char **v;
	size_t n;
};

/* jsonrpc_param_filters.<method>: field is a dotted path into params.
 * A method given a list of filters has one of these per element, all
 * with the same method; method is a glob when it holds one of "*?[\\". */
struct cfg_param_filter {
	char *method;
	char *field;
	struct cfg_strings allow_patterns;
	struct cfg_strings deny_patterns;
};

/* jsonrpc_param_allow.<method>: the only parameter names it may carry
 * (an empty list: none). method is a glob as for a filter. */
struct cfg_param_allow {
	char *method;
	struct cfg_strings params;
};

/* "mcp": {...} (issue 18): MCP's rules on a JSON-RPC tool; policy.h
 * says what each list means. Empty lists mean "not set". */
struct cfg_mcp {
	struct cfg_strings tools_allow;        /* globs of tool names */
	struct cfg_strings tools_deny;
	struct cfg_strings resources_allow;    /* globs of resource URIs */
	struct cfg_strings prompts_allow;      /* globs of prompt names */
	struct cfg_param_filter *arguments;    /* method: a tool name or
						* glob; field: into
						* params.arguments */
	size_t n_arguments;
	struct cfg_strings allowed_origins;    /* exact Origin values */
	struct cfg_strings require_protocol_versions; /* "2025-06-18" */
};

struct cfg_header {
	char *name;
	char *value;                       /* a secret: never logged */
};

struct cfg;

/* A listener as "listen" (or a tool's "listen") writes it: "HOST:PORT",
 * "unix:/path", or an object with "address" and the TLS or Unix keys. */
enum cfg_listen_kind { CFG_LISTEN_TCP, CFG_LISTEN_UNIX };

struct cfg_listen {
	enum cfg_listen_kind kind;
	struct addr addr;          /* TCP */
	char *unix_path;           /* UNIX: absolute */
	unsigned unix_mode;        /* UNIX: the socket file's mode */
	char *unix_group;          /* UNIX: its group, or NULL (the
				    * daemon's) */
	char *tls_cert;            /* TCP: PEM files, both or neither */
	char *tls_key;
	char *tls_client_ca;       /* TLS: ask for a client certificate and
				    * verify it against these CAs */
	char *text;                /* as written: "127.0.0.1:8443",
				    * "unix:/run/x.sock" */
};

/* clients.<name>: who may use which tools, and what proves it. Every
 * credential set must hold (identity.h). */
struct cfg_client {
	char *name;
	int has_token;
	unsigned char token_sha256[32];    /* SHA-256 of the token */
	struct addr_cidr *allow_from;
	size_t n_allow_from;
	unsigned *unix_peer_uids;
	size_t n_unix_peer_uids;
	unsigned *unix_peer_gids;
	size_t n_unix_peer_gids;
	char *tls_client_cn;               /* CN or a DNS SAN */
	struct cfg_strings tools;          /* tool names it may use */
	unsigned rate_max_requests;        /* 0: no limit of its own */
	unsigned rate_window_secs;
};

/* What only an http tool has; all zero for a cli tool. */
struct cfg_tool_http {
	char *upstream;                    /* http(s) URL, no trailing '/' */
	int has_listen;                    /* drop-in listener of its own */
	struct cfg_listen listen;
	char *upstream_ca;                 /* PEM file the upstream's
					    * certificate must chain to, or
					    * NULL: curl's CA store */
	int upstream_insecure;             /* no upstream verification */
	unsigned stream_idle_timeout_secs; /* 0 = never */
	unsigned sse_keepalive_secs;       /* 0 = no keep-alive comments */

	/* policy (issue 4); empty lists mean "no restriction" except where
	 * policy.h says otherwise */
	struct cfg_strings allow_paths;        /* fnmatch globs */
	struct cfg_strings allow_http_methods; /* exact, e.g. "GET" */
	int is_jsonrpc;                        /* any jsonrpc_* key given */
	struct cfg_strings jsonrpc_allow_methods;
	struct cfg_strings jsonrpc_deny_methods;
	enum cfg_param_aliases param_aliases;  /* jsonrpc_param_aliases */
	unsigned jsonrpc_max_batch;            /* calls in one batch */
	struct cfg_param_allow *param_allow;   /* jsonrpc_param_allow */
	size_t n_param_allow;
	struct cfg_param_filter *param_filters;
	size_t n_param_filters;
	struct cfg_header *inject_headers;
	size_t n_inject_headers;
	struct cfg_strings forward_headers;    /* e.g. "Cookie" */
	int add_x_forwarded_for;               /* default off */
	int allow_path_params;                 /* ';' in a path segment */
	int has_mcp;                           /* an "mcp" block given */
	struct cfg_mcp mcp;
};

/* What only a cli tool has (issue 5); all zero for an http tool. */
struct cfg_tool_cli {
	char *binary;                          /* absolute, executable */
	struct cfg_strings argv_allow_patterns;
	struct cfg_strings argv_deny_patterns;
	struct cfg_strings argv_deny_flags;    /* "--output", "-o" */
	struct cfg_header *env_inject;         /* values are secrets */
	size_t n_env_inject;
	struct cfg_strings cwd_allowed;        /* absolute, realpath'd */
	size_t max_output_bytes;
	unsigned max_concurrent;
};

/* "require_approval": {...} (issue 17): which requests the policy
 * allows wait for a person's decision (approvals.h). The lists are for
 * one type each (jsonrpc_methods, paths, http_methods: http; argv_patterns:
 * cli), kept together here since the object is one key of both types. */
struct cfg_approval {
	int enabled;                       /* the key is given */
	struct cfg_strings jsonrpc_methods; /* globs over a call's method */
	struct cfg_strings argv_patterns;  /* globs over the joined argv */
	struct cfg_strings paths;          /* globs over the path */
	struct cfg_strings http_methods;   /* exact, e.g. "DELETE" */
	unsigned timeout_secs;             /* how long one waits */
};

/* One tool: what both types have, then the part of its type (the other
 * part stays zero). Which part a key is stored in follows its scope in
 * cfg_tool.c's table: KEY_HTTP in http, KEY_CLI in cli, neither here. */
struct cfg_tool {
	const struct cfg *owner;           /* the config it belongs to */
	char *name;
	enum cfg_tool_type type;
	unsigned timeout_secs;             /* connect + response head; >= 1 */
	size_t max_body_bytes;             /* the top-level value unless set */
	unsigned rate_max_requests;        /* 0: no rate limit */
	unsigned rate_window_secs;
	int audit_mode;                    /* "mode": "audit": the tool's
					    * rules are reported, not
					    * enforced (dry run) */

	/* "audit": {...} (issue 6) */
	int audit_enabled;                     /* default on */
	int audit_log_body;                    /* default off */
	int audit_log_argv;                    /* default off */
	struct cfg_strings redact_patterns;    /* fnmatch, case-folded */

	struct cfg_approval approval;      /* require_approval */
	/* SHA-256 of the tool's object as the file gave it (json-c's plain
	 * serialisation): a grant made under it dies when it changes */
	unsigned char fingerprint[32];

	struct cfg_tool_http http;         /* type == CFG_TOOL_HTTP */
	struct cfg_tool_cli cli;           /* type == CFG_TOOL_CLI */
};

/* admin_listen: "HOST:PORT" on a loopback address, or "unix:/path". */
struct cfg_admin {
	int enabled;
	int is_unix;
	struct addr addr;                  /* when !is_unix */
	char *unix_path;                   /* when is_unix: absolute */
	char *text;                        /* as written, for messages */
	int has_token;                     /* admin_token_sha256 */
	unsigned char token_sha256[32];
	unsigned *peer_uids;               /* admin_peer_uids (unix) */
	size_t n_peer_uids;
};

struct cfg {
	atomic_int refs;                   /* cfg_hold / cfg_release */
	struct cfg_listen *listen;
	size_t n_listen;
	struct cfg_admin admin;
	int has_clients;                   /* "clients" given (even empty):
					    * every request is identified */
	struct cfg_client *clients;
	size_t n_clients;
	char *revoked_clients_file;        /* absolute path, or NULL */
	int allow_unauthenticated;         /* no clients, non-local listeners */
	char *audit_log;                   /* absolute path, or NULL */
	char *audit_signing_key;           /* absolute path, or NULL */
	char *approval_webhook;            /* http(s) URL, or NULL */
	int run_tools_as_root;             /* cli tools may run as uid 0 */
	size_t max_body_bytes;
	size_t max_inflight_body_bytes;    /* all requests' bodies at once */
	unsigned client_header_timeout_secs; /* the whole request head */
	unsigned client_body_timeout_secs;   /* between two body reads */
	unsigned client_send_timeout_secs;   /* a stream's buffer full */
	unsigned max_connections_per_ip;     /* 0: no limit */
	struct cfg_tool *tools;
	size_t n_tools;
};

/* Parse and validate; 0 and *out set (one reference, the caller's: give
 * it back with cfg_release), or -1 and err filled (nothing to free): err->key
 * names the key ("tools.sig.upstream", "" for the whole file), err->msg
 * says why ("not an http(s) URL"), err->status is 0. err may be NULL. */
int cfg_load_file(const char *file, struct cfg **out, struct error *err);
int cfg_load_string(const char *text, struct cfg **out, struct error *err);
/* Another reference to cfg; returns it. */
const struct cfg *cfg_hold(const struct cfg *cfg);
/* Gives a reference back; the last one frees. NULL is a no-op. */
void cfg_release(const struct cfg *cfg);
/* Whether the config has any cli tool. */
int cfg_has_cli_tools(const struct cfg *cfg);

/* Tool by name (name need not be NUL-terminated); borrowed, NULL if none. */
const struct cfg_tool *cfg_find_tool(const struct cfg *cfg, const char *name,
				     size_t name_len);

/* Client by name (NUL-terminated); borrowed, NULL if none. */
const struct cfg_client *cfg_find_client(const struct cfg *cfg,
					 const char *name);
/* Whether client may use the tool named tool. */
int cfg_client_may_use(const struct cfg_client *client, const char *tool);

/* What a key's value is in the file. */
enum cfg_key_type {
	CFG_KEY_STRING,
	CFG_KEY_INT,
	CFG_KEY_STRINGS, /* an array of strings */
	CFG_KEY_OBJECT,
	CFG_KEY_BOOL,
	CFG_KEY_ARRAY,   /* an array; its setter checks the elements */
	CFG_KEY_LISTEN,  /* a listener: a string or an object */
};

/* Which tools a key is for: one of these, both, or 0 at the top level. */
#define CFG_KEY_HTTP 0x4u
#define CFG_KEY_CLI 0x8u

/* One key the parser knows, as the tables describe it. */
struct cfg_key_info {
	const char *path;        /* "tools.*.audit.log_body": "*" for a name
				  * the user picks */
	enum cfg_key_type type;
	unsigned scope;          /* CFG_KEY_HTTP | CFG_KEY_CLI bits */
	int required;            /* for the tools in its scope */
	int later;               /* a later feature's key: refused */
	long long min, max;      /* CFG_KEY_INT */
	int has_default;         /* CFG_KEY_INT and CFG_KEY_BOOL: dflt */
	long long dflt;
	int inherits;            /* the default is the top-level key's value */
};

/* Every key the parser knows, for documentation checks: cfg_key_at(i)
 * for i < cfg_key_count(); static, any thread. NULL past the end. */
size_t cfg_key_count(void);
const struct cfg_key_info *cfg_key_at(size_t i);

#endif
