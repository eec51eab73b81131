/* cfg — see cfg.h.
 *
 * This file holds the top-level keys, the checks that need the whole
 * file (listeners), reading and parsing the text, and the config's life
 * (reference count, free, look-ups).  The tool keys are in cfg_tool.c,
 * the tables' walker and generic setters in cfg_keys.c. */
#include "config.h"

#include "cfg.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "cfg_keys.h"
#include "dbuf.h"
#include "header.h"
#include "secret.h"

/* A policy file is a few kilobytes; megabytes mean a wrong file. */
#define CFG_MAX_BYTES ((size_t)4 << 20)

/* --- inject_headers (dst is the tool) ----------------------------------- */

/* Values are secrets: messages never show them. */
static int header_value_ok(struct json_object *v)
{
	const char *s = json_object_get_string(v);
	int len = json_object_get_string_len(v);
	int i;

	for (i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return 0;
	return 1;
}

static int header_taken(const struct cfg_tool *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->http.n_inject_headers; i++)
		if (header_name_eq(t->http.inject_headers[i].name, name))
			return 1;
	return 0;
}

static int take_header(struct ctx *c, void *arg, const char *name,
		       struct json_object *v)
{
	struct cfg_tool *t = arg;
	struct cfg_header *h =
		&t->http.inject_headers[t->http.n_inject_headers];

	if (cfg_check_header_name(name))
		return key_fail(c, "not a header name");
	if (!header_injectable(name))
		return key_fail(c, "header cannot be injected");
	if (header_taken(t, name))
		return key_fail(c, "header given twice (names are "
			       "case-insensitive, '-' and '_' alike)");
	if (!json_object_is_type(v, json_type_string))
		return key_fail(c, "expected a string");
	if (!header_value_ok(v))
		return key_fail(c, "header value contains CR, LF or NUL");
	h->name = strdup(name);
	h->value = strdup(json_object_get_string(v));
	t->http.n_inject_headers++; /* cfg_release() frees what h holds */
	if (!h->name || !h->value)
		return key_fail(c, "out of memory");
	return 0;
}

int cfg_set_inject_headers(struct ctx *c, const struct key *k, void *dst,
			   struct json_object *v)
{
	struct cfg_tool *t = dst;

	(void)k;
	if (KEY_ALLOC(c, v, t->http.inject_headers) < 0)
		return -1;
	return key_each_member(c, v, take_header, t);
}

/* --- top-level keys (dst is the config) --------------------------------- */

static int take_listen(struct ctx *c, void *arg, size_t i,
		       struct json_object *v)
{
	struct cfg *cfg = arg;

	cfg->n_listen++; /* cfg_release() frees what it holds */
	return cfg_listen_take(c, v, &cfg->listen[i]);
}

static int set_listen(struct ctx *c, const struct key *k, void *dst,
		      struct json_object *v)
{
	struct cfg *cfg = dst;

	(void)k;
	if (KEY_ALLOC(c, v, cfg->listen) < 0)
		return -1;
	return key_each_element(c, v, take_listen, cfg);
}

static int set_admin_token(struct ctx *c, const struct key *k, void *dst,
			   struct json_object *v)
{
	struct cfg_admin *a = &((struct cfg *)dst)->admin;

	(void)k;
	if (secret_hex_parse(json_object_get_string(v), a->token_sha256) < 0)
		return key_fail(c, "expected 64 hex digits (the SHA-256 of "
			       "the token: carapacectl hash-token)");
	a->has_token = 1;
	return 0;
}

static int set_admin_peer_uids(struct ctx *c, const struct key *k,
			       void *dst, struct json_object *v)
{
	struct cfg_admin *a = &((struct cfg *)dst)->admin;

	(void)k;
	return cfg_take_ids(c, v, &a->peer_uids, &a->n_peer_uids);
}

static int set_admin_unix(struct ctx *c, struct cfg_admin *a,
			  const char *path)
{
	struct sockaddr_un sun;

	if (path[0] != '/')
		return key_fail(c, "unix socket path must be absolute");
	if (strlen(path) >= sizeof(sun.sun_path))
		return key_fail(c, "unix socket path too long");
	a->is_unix = 1;
	a->unix_path = strdup(path); /* owned by the config */
	return a->unix_path ? 0 : key_fail(c, "out of memory");
}

/* Loopback only: the admin API shows every request and reloads the
 * daemon, so it must not be reachable from another host. */
static int set_admin_listen(struct ctx *c, const struct key *k, void *dst,
			    struct json_object *v)
{
	struct cfg_admin *a = &((struct cfg *)dst)->admin;
	const char *s = json_object_get_string(v);
	struct error why;

	(void)k;
	a->text = strdup(s); /* owned by the config */
	if (!a->text)
		return key_fail(c, "out of memory");
	a->enabled = 1;
	if (strncmp(s, "unix:", 5) == 0)
		return set_admin_unix(c, a, s + 5);
	if (addr_parse(s, &a->addr, &why) < 0)
		return key_fail(c, "%s", why.msg);
	if (!addr_is_loopback(&a->addr))
		return key_fail(c, "must be a loopback address (127.0.0.0/8, "
				"[::1]) or unix:/path");
	return 0;
}

/* approval_webhook: where each new pending approval is POSTed. */
static const char *check_url(const char *s)
{
	return addr_url_ok(s) ? NULL : "not an http(s) URL";
}

#define C(field) offsetof(struct cfg, field)
static const struct key top_keys[] = {
	{ "listen", CFG_KEY_ARRAY, 0, .set = set_listen,
	  .sub = cfg_listen_keys },
	{ "max_body_bytes", CFG_KEY_INT, 0, ST_SIZE, .off = C(max_body_bytes),
	  .min = 1, .max = 1073741824, .dflt = CFG_DEFAULT_MAX_BODY_BYTES },
	{ "tools", CFG_KEY_OBJECT, KEY_REQUIRED | KEY_NAMED,
	  .set = cfg_tool_set_all, .sub = cfg_tool_keys },
	{ "admin_listen", CFG_KEY_STRING, 0, .set = set_admin_listen },
	{ "audit_log", CFG_KEY_STRING, 0, ST_STR, .off = C(audit_log),
	  .check = cfg_check_absolute },
	{ "audit_signing_key", CFG_KEY_STRING, 0, ST_STR,
	  .off = C(audit_signing_key), .check = cfg_check_absolute },
	{ "run_tools_as_root", CFG_KEY_BOOL, 0, ST_BOOL,
	  .off = C(run_tools_as_root) },
	{ "max_inflight_body_bytes", CFG_KEY_INT, 0, ST_SIZE,
	  .off = C(max_inflight_body_bytes), .min = 1, .max = 1099511627776LL,
	  .dflt = CFG_DEFAULT_MAX_INFLIGHT_BODY_BYTES },
	{ "client_header_timeout_secs", CFG_KEY_INT, 0, ST_UINT,
	  .off = C(client_header_timeout_secs), .min = 1, .max = 3600,
	  .dflt = CFG_DEFAULT_CLIENT_HEADER_TIMEOUT_SECS },
	{ "client_body_timeout_secs", CFG_KEY_INT, 0, ST_UINT,
	  .off = C(client_body_timeout_secs), .min = 1, .max = 3600,
	  .dflt = CFG_DEFAULT_CLIENT_BODY_TIMEOUT_SECS },
	{ "client_send_timeout_secs", CFG_KEY_INT, 0, ST_UINT,
	  .off = C(client_send_timeout_secs), .min = 1, .max = 86400,
	  .dflt = CFG_DEFAULT_CLIENT_SEND_TIMEOUT_SECS },
	{ "max_connections_per_ip", CFG_KEY_INT, 0, ST_UINT,
	  .off = C(max_connections_per_ip), .min = 0, .max = 1000000,
	  .dflt = CFG_DEFAULT_MAX_CONNECTIONS_PER_IP },
	{ "clients", CFG_KEY_OBJECT, KEY_NAMED, .set = cfg_client_set_all,
	  .sub = cfg_client_keys },
	{ "revoked_clients_file", CFG_KEY_STRING, 0, ST_STR,
	  .off = C(revoked_clients_file), .check = cfg_check_absolute },
	{ "allow_unauthenticated", CFG_KEY_BOOL, 0, ST_BOOL,
	  .off = C(allow_unauthenticated) },
	{ "admin_token_sha256", CFG_KEY_STRING, 0, .set = set_admin_token },
	{ "admin_peer_uids", CFG_KEY_ARRAY, 0, .set = set_admin_peer_uids },
	{ "approval_webhook", CFG_KEY_STRING, 0, ST_STR,
	  .off = C(approval_webhook), .check = check_url },
	KEY_END
};
#undef C

/* --- the key list, for documentation checks ----------------------------- */

#define MAX_KEYS 128

static struct cfg_key_info key_info[MAX_KEYS];
static char key_paths[MAX_KEYS][96];
static size_t n_key_info;

static void list_table(const struct key *tab, const char *prefix,
		       unsigned scope)
{
	struct cfg_key_info *i;
	char sub[96];

	for (; tab->name && n_key_info < MAX_KEYS; tab++) {
		i = &key_info[n_key_info];
		snprintf(key_paths[n_key_info], sizeof(key_paths[0]), "%s%s",
			 prefix, tab->name);
		*i = (struct cfg_key_info){
			.path = key_paths[n_key_info++], .type = tab->type,
			.scope = (tab->flags & KEY_SCOPE) ?
					 tab->flags & KEY_SCOPE : scope,
			.required = !!(tab->flags & KEY_REQUIRED),
			.later = !!(tab->flags & KEY_LATER),
			.min = tab->min, .max = tab->max, .dflt = tab->dflt,
			.inherits = !!(tab->flags & KEY_INHERIT),
		};
		i->has_default = (tab->store == ST_UINT ||
				  tab->store == ST_SIZE ||
				  tab->store == ST_BOOL) &&
				 !i->required && !i->inherits;
		if (!tab->sub)
			continue;
		snprintf(sub, sizeof(sub), "%s%s.%s", prefix, tab->name,
			 (tab->flags & KEY_NAMED) ? "*." : "");
		list_table(tab->sub, sub, scope ? i->scope : KEY_SCOPE);
	}
}

static void fill_key_info(void)
{
	list_table(top_keys, "", 0);
}

size_t cfg_key_count(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fill_key_info);
	return n_key_info;
}

const struct cfg_key_info *cfg_key_at(size_t i)
{
	return i < cfg_key_count() ? &key_info[i] : NULL;
}

/* --- whole-config checks ------------------------------------------------ */

/* Listener number i, main ones first, named as the file names it;
 * NULL past the last. */
static const struct cfg_listen *listener(const struct cfg *cfg, size_t i,
					 char *name, size_t size)
{
	size_t t;

	if (i < cfg->n_listen) {
		snprintf(name, size, "listen[%zu]", i);
		return &cfg->listen[i];
	}
	i -= cfg->n_listen;
	for (t = 0; t < cfg->n_tools; t++) {
		if (!cfg->tools[t].http.has_listen || i-- > 0)
			continue;
		snprintf(name, size, "tools.%s.listen", cfg->tools[t].name);
		return &cfg->tools[t].http.listen;
	}
	return NULL;
}

/* Two listeners, or a listener and the admin one, on one address. */
static int listen_same(const struct cfg_listen *a, const struct cfg_listen *b)
{
	if (a->kind != b->kind)
		return 0;
	if (a->kind == CFG_LISTEN_UNIX)
		return strcmp(a->unix_path, b->unix_path) == 0;
	return addr_same(&a->addr, &b->addr);
}

static int admin_same(const struct cfg_admin *a, const struct cfg_listen *l)
{
	if (!a->enabled)
		return 0;
	if (a->is_unix)
		return l->kind == CFG_LISTEN_UNIX &&
		       strcmp(a->unix_path, l->unix_path) == 0;
	return l->kind == CFG_LISTEN_TCP && addr_same(&a->addr, &l->addr);
}

static int check_listeners(struct ctx *c, const struct cfg *cfg)
{
	char name[sizeof(c->path)], other[sizeof(c->path)];
	const struct cfg_listen *a;
	size_t i, j;

	if (!listener(cfg, 0, name, sizeof(name))) {
		key_path_set(c, "listen");
		return key_fail(c, "no listener: set listen or a tool's "
				"listen");
	}
	for (i = 0; (a = listener(cfg, i, name, sizeof(name))); i++) {
		key_path_set(c, "admin_listen");
		if (admin_same(&cfg->admin, a))
			return key_fail(c, "address already used by %s", name);
		key_path_set(c, name);
		for (j = 0; j < i; j++)
			if (listen_same(a, listener(cfg, j, other,
						    sizeof(other))))
				return key_fail(c, "address already used by %s",
						other);
	}
	return 0;
}

/* Without clients, anyone who can reach a listener is trusted with every
 * tool: only this host may reach one, unless the file says otherwise. */
static int check_exposure(struct ctx *c, const struct cfg *cfg)
{
	char name[sizeof(c->path)];
	const struct cfg_listen *l;

	if (cfg->has_clients || cfg->allow_unauthenticated)
		return 0;
	for (size_t i = 0; (l = listener(cfg, i, name, sizeof(name))); i++) {
		if (cfg_listen_is_local(l))
			continue;
		key_path_set(c, name);
		return key_fail(c, "%s is reachable from other hosts and no "
				"\"clients\" are configured: anyone reaching "
				"it could use every tool. Configure clients, "
				"listen on loopback or a unix socket, or set "
				"\"allow_unauthenticated\": true", l->text);
	}
	return 0;
}

/* The admin API reloads the daemon and shows every request. */
static int check_admin(struct ctx *c, const struct cfg *cfg)
{
	const struct cfg_admin *a = &cfg->admin;

	if (a->enabled && !a->is_unix && !a->has_token) {
		key_path_set(c, "admin_listen");
		return key_fail(c, "a TCP admin listener needs "
				"admin_token_sha256 (or use unix:/path)");
	}
	if (a->n_peer_uids && !(a->enabled && a->is_unix)) {
		key_path_set(c, "admin_peer_uids");
		return key_fail(c, "admin_peer_uids is for a unix:/path "
				"admin_listen");
	}
	return 0;
}

static int check_whole(struct ctx *c, const struct cfg *cfg)
{
	if (check_listeners(c, cfg) < 0 || check_exposure(c, cfg) < 0 ||
	    check_admin(c, cfg) < 0)
		return -1;
	key_path_set(c, "");
	return cfg_clients_check(c, cfg);
}

/* --- text to config ----------------------------------------------------- */

/* A whole-file error at byte off, placed as line and column (1-based). */
static int fail_at(struct ctx *c, const char *text, size_t off,
		   const char *what)
{
	size_t i, line = 1, line_start = 0;

	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			line++;
			line_start = i + 1;
		}
	}
	key_path_set(c, "");
	return key_fail(c, "line %zu, column %zu: %s", line,
			off - line_start + 1, what);
}

/* *out is the new top-level object; caller puts it. */
static int parse_json(struct ctx *c, const char *text, size_t len,
		      struct json_object **out)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;

	if (!tok)
		return key_fail(c, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	/* Not with the NUL: json-c 0.16 takes a NUL inside a comment for the
	 * end of the document and returns the innermost open value. */
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		/* a file may end in "// note" without a newline: add one */
		root = json_tokener_parse_ex(tok, "\n", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (jerr == json_tokener_continue)
		return fail_at(c, text, len, "unexpected end of input");
	if (jerr != json_tokener_success)
		return fail_at(c, text, end, json_tokener_error_desc(jerr));
	if (!json_object_is_type(root, json_type_object)) {
		/* a JSON null arrives as NULL */
		json_object_put(root);
		return key_fail(c, "top level must be an object");
	}
	/* json-c has eaten blanks and comments after the value; what is
	 * left is text */
	if (end < len) {
		json_object_put(root);
		return fail_at(c, text, end,
			       "unexpected text after the top-level value");
	}
	*out = root;
	return 0;
}

/* Defaults that depend on keys anywhere in the file, applied once the whole
 * file is read: the top-level max_body_bytes may follow "tools". */
static void inherit_defaults(struct cfg *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_tools; i++)
		if (cfg->tools[i].max_body_bytes == 0)
			cfg->tools[i].max_body_bytes = cfg->max_body_bytes;
}

/* text is NUL-terminated at len. */
static int load(struct ctx *c, const char *text, size_t len,
		struct cfg **out)
{
	struct json_object *root = NULL;
	struct cfg *cfg = NULL;

	if (len > CFG_MAX_BYTES) {
		key_fail(c, "file too large");
		goto fail;
	}
	if (parse_json(c, text, len, &root) < 0)
		goto fail;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		key_fail(c, "out of memory");
		goto fail;
	}
	key_defaults(top_keys, 0, cfg);
	atomic_init(&cfg->refs, 1);
	if (key_walk(c, top_keys, cfg, root) < 0 || check_whole(c, cfg) < 0)
		goto fail;
	inherit_defaults(cfg);
	json_object_put(root);
	*out = cfg; /* caller owns it */
	return 0;
fail:
	json_object_put(root);
	cfg_release(cfg);
	return -1;
}

/* All of fd into buf, up to the cap; one byte more is "too large". */
static int read_all(struct ctx *c, int fd, struct dbuf *buf)
{
	char chunk[4096];
	ssize_t n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return key_fail(c, "cannot read: %s", strerror(errno));
		if (n == 0)
			return 0;
		if (dbuf_add(buf, chunk, (size_t)n) < 0)
			return key_fail(c, "%s", dbuf_error(buf) == ENOMEM ?
					"out of memory" : "file too large");
	}
}

/* The file into buf (DBUF_INIT(CFG_MAX_BYTES)). */
static int read_file(struct ctx *c, const char *file, struct dbuf *buf)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return key_fail(c, "cannot open: %s", strerror(errno));
	rc = read_all(c, fd, buf);
	close(fd);
	/* C strings would end there, and json-c misreads one in a comment */
	if (rc == 0 && memchr(dbuf_str(buf), '\0', dbuf_len(buf)))
		return key_fail(c, "file contains a NUL byte");
	return rc;
}

int cfg_load_file(const char *file, struct cfg **out, struct error *err)
{
	struct ctx c = { .err = err };
	struct dbuf text = DBUF_INIT(CFG_MAX_BYTES);
	int rc;

	if (err)
		error_clear(err);
	if (!file)
		return key_fail(&c, "no file name");
	rc = read_file(&c, file, &text);
	if (rc == 0)
		rc = load(&c, dbuf_str(&text), dbuf_len(&text), out);
	dbuf_free(&text);
	return rc;
}

int cfg_load_string(const char *text, struct cfg **out, struct error *err)
{
	struct ctx c = { .err = err };

	if (err)
		error_clear(err);
	if (!text)
		return key_fail(&c, "no text");
	return load(&c, text, strnlen(text, CFG_MAX_BYTES + 1), out);
}

/* --- the config's life -------------------------------------------------- */

const struct cfg *cfg_hold(const struct cfg *cfg)
{
	/* the count is the only mutable part of a config */
	atomic_fetch_add(&((struct cfg *)(uintptr_t)cfg)->refs, 1);
	return cfg;
}

int cfg_has_cli_tools(const struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->n_tools; i++)
		if (cfg->tools[i].type == CFG_TOOL_CLI)
			return 1;
	return 0;
}

void cfg_release(const struct cfg *c)
{
	struct cfg *cfg = (struct cfg *)(uintptr_t)c; /* the last holder's */
	size_t i;

	if (!cfg || atomic_fetch_sub(&cfg->refs, 1) > 1)
		return;
	for (i = 0; i < cfg->n_tools; i++)
		cfg_tool_free(&cfg->tools[i]);
	free(cfg->tools);
	for (i = 0; i < cfg->n_listen; i++)
		cfg_listen_free(&cfg->listen[i]);
	free(cfg->listen);
	for (i = 0; i < cfg->n_clients; i++)
		cfg_client_free(&cfg->clients[i]);
	free(cfg->clients);
	free(cfg->admin.peer_uids);
	free(cfg->admin.unix_path);
	free(cfg->admin.text);
	key_free(top_keys, cfg);
	free(cfg);
}

const struct cfg_tool *cfg_find_tool(const struct cfg *cfg, const char *name,
				     size_t name_len)
{
	size_t i;

	if (!cfg || !name)
		return NULL;
	for (i = 0; i < cfg->n_tools; i++) {
		const char *t = cfg->tools[i].name;

		if (strlen(t) == name_len && memcmp(t, name, name_len) == 0)
			return &cfg->tools[i];
	}
	return NULL;
}
