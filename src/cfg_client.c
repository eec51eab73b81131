/* cfg_client — "clients": who may use which tools and what proves it
 * (see struct cfg_client), and the checks that need the whole file: the
 * tools a client names exist, its credentials can be presented on some
 * listener, and no request could be two clients at once. Matching a
 * request to a client is identity.c's. */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_keys.h"
#include "secret.h"

/* --- the keys of one client (dst is the struct cfg_client) -------------- */

static int set_token(struct ctx *c, const struct key *k, void *dst,
		     struct json_object *v)
{
	struct cfg_client *cl = dst;

	(void)k;
	if (secret_hex_parse(json_object_get_string(v), cl->token_sha256) < 0)
		return key_fail(c, "expected 64 hex digits (the SHA-256 of "
			       "the token: carapacectl hash-token)");
	cl->has_token = 1;
	return 0;
}

static int take_cidr(struct ctx *c, void *arg, size_t i,
		     struct json_object *v)
{
	struct cfg_client *cl = arg;
	struct error why;

	if (addr_cidr_parse(json_object_get_string(v), &cl->allow_from[i],
			    &why) < 0)
		return key_fail(c, "%s", why.msg);
	cl->n_allow_from++;
	return 0;
}

static int set_allow_from(struct ctx *c, const struct key *k, void *dst,
			  struct json_object *v)
{
	struct cfg_client *cl = dst;

	(void)k;
	if (json_object_array_length(v) == 0)
		return key_fail(c, "an empty list allows no address: leave "
			       "the key out");
	if (KEY_ALLOC(c, v, cl->allow_from) < 0)
		return -1;
	return key_each_element(c, v, take_cidr, cl);
}

struct ids {
	unsigned *v;
	size_t n;
};

static int take_id(struct ctx *c, void *arg, size_t i, struct json_object *v)
{
	struct ids *ids = arg;
	int64_t id = json_object_get_int64(v);

	if (!json_object_is_type(v, json_type_int) || id < 0 ||
	    id >= (int64_t)UINT_MAX)
		return key_fail(c, "expected a uid or gid (a number)");
	ids->v[i] = (unsigned)id;
	ids->n++;
	return 0;
}

int cfg_take_ids(struct ctx *c, struct json_object *v, unsigned **out,
		 size_t *n)
{
	struct ids ids = { NULL, 0 };

	if (json_object_array_length(v) == 0)
		return key_fail(c, "an empty list matches nobody: leave the "
			       "key out");
	if (KEY_ALLOC(c, v, ids.v) < 0)
		return -1;
	*out = ids.v; /* owned by the config from here */
	int rc = key_each_element(c, v, take_id, &ids);
	*n = ids.n;
	return rc;
}

static int set_uids(struct ctx *c, const struct key *k, void *dst,
		    struct json_object *v)
{
	struct cfg_client *cl = dst;

	(void)k;
	return cfg_take_ids(c, v, &cl->unix_peer_uids, &cl->n_unix_peer_uids);
}

static int set_gids(struct ctx *c, const struct key *k, void *dst,
		    struct json_object *v)
{
	struct cfg_client *cl = dst;

	(void)k;
	return cfg_take_ids(c, v, &cl->unix_peer_gids, &cl->n_unix_peer_gids);
}

#define CL(field) offsetof(struct cfg_client, field)
static const struct key client_rate_keys[] = {
	{ "max_requests", CFG_KEY_INT, KEY_REQUIRED, ST_UINT,
	  .off = CL(rate_max_requests), .min = 1, .max = 100000 },
	{ "window_secs", CFG_KEY_INT, KEY_REQUIRED, ST_UINT,
	  .off = CL(rate_window_secs), .min = 1, .max = 86400 },
	KEY_END
};

const struct key cfg_client_keys[] = {
	{ "token_sha256", CFG_KEY_STRING, 0, .set = set_token },
	{ "allow_from", CFG_KEY_STRINGS, 0, .set = set_allow_from },
	{ "unix_peer_uids", CFG_KEY_ARRAY, 0, .set = set_uids },
	{ "unix_peer_gids", CFG_KEY_ARRAY, 0, .set = set_gids },
	{ "tls_client_cn", CFG_KEY_STRING, 0, ST_STR, .off = CL(tls_client_cn) },
	{ "tools", CFG_KEY_STRINGS, KEY_REQUIRED, ST_STRS, .off = CL(tools) },
	{ "rate_limit", CFG_KEY_OBJECT, 0, .sub = client_rate_keys },
	KEY_END
};
#undef CL

/* --- "clients" (dst is the config) -------------------------------------- */

/* A name a client can give as HTTP Basic's user (no ':'), and that reads
 * plainly in logs and metrics labels. */
static int client_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 64)
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

static int take_client(struct ctx *c, void *arg, const char *name,
		       struct json_object *v)
{
	struct cfg *cfg = arg;
	struct cfg_client *cl = &cfg->clients[cfg->n_clients];

	if (!client_name_ok(name))
		return key_fail(c, "a client's name is 1 to 64 of A-Z a-z 0-9 "
			       ". _ -");
	if (!json_object_is_type(v, json_type_object))
		return key_fail(c, "expected an object");
	cl->name = strdup(name);
	cfg->n_clients++; /* cfg_release() frees what cl holds */
	if (cl->name == NULL)
		return key_fail(c, "out of memory");
	key_defaults(cfg_client_keys, 0, cl);
	return key_walk(c, cfg_client_keys, cl, v);
}

int cfg_client_set_all(struct ctx *c, const struct key *k, void *dst,
		       struct json_object *v)
{
	struct cfg *cfg = dst;

	(void)k;
	cfg->has_clients = 1;
	if (json_object_object_length(v) == 0)
		return 0; /* no client: every request is refused */
	if (KEY_ALLOC(c, v, cfg->clients) < 0)
		return -1;
	return key_each_member(c, v, take_client, cfg);
}

void cfg_client_free(struct cfg_client *cl)
{
	key_free(cfg_client_keys, cl);
	free(cl->name);
	free(cl->allow_from);
	free(cl->unix_peer_uids);
	free(cl->unix_peer_gids);
}

/* --- whole-file checks -------------------------------------------------- */

static int has_unix(const struct cfg_client *cl)
{
	return cl->n_unix_peer_uids + cl->n_unix_peer_gids > 0;
}

static int ids_meet(const unsigned *a, size_t na, const unsigned *b,
		    size_t nb)
{
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++)
			if (a[i] == b[j])
				return 1;
	return 0;
}

/* Some peer could be both: a uid of one and a gid of the other may be
 * the same process's. */
static int unix_meet(const struct cfg_client *a, const struct cfg_client *b)
{
	if (!has_unix(a) || !has_unix(b))
		return 1;
	if (ids_meet(a->unix_peer_uids, a->n_unix_peer_uids,
		     b->unix_peer_uids, b->n_unix_peer_uids) ||
	    ids_meet(a->unix_peer_gids, a->n_unix_peer_gids,
		     b->unix_peer_gids, b->n_unix_peer_gids))
		return 1;
	return (a->n_unix_peer_uids && b->n_unix_peer_gids) ||
	       (a->n_unix_peer_gids && b->n_unix_peer_uids);
}

static int addr_meet(const struct cfg_client *a, const struct cfg_client *b)
{
	if (a->n_allow_from == 0 || b->n_allow_from == 0)
		return 1;
	for (size_t i = 0; i < a->n_allow_from; i++)
		for (size_t j = 0; j < b->n_allow_from; j++)
			if (addr_cidr_overlap(&a->allow_from[i],
					      &b->allow_from[j]))
				return 1;
	return 0;
}

/* Whether one request could prove to be both a and b: every credential
 * both name could hold at once (identity.h's rules). */
static int could_be_both(const struct cfg_client *a,
			 const struct cfg_client *b)
{
	/* a client with a token matches only requests that present one,
	 * a client without only requests that present none */
	if (a->has_token != b->has_token)
		return 0;
	if (a->has_token && !secret_equal(a->token_sha256, b->token_sha256,
					  sizeof(a->token_sha256)))
		return 0;
	/* a Unix peer has no address and no certificate */
	if ((has_unix(a) && (b->n_allow_from || b->tls_client_cn)) ||
	    (has_unix(b) && (a->n_allow_from || a->tls_client_cn)))
		return 0;
	if (a->tls_client_cn && b->tls_client_cn &&
	    strcmp(a->tls_client_cn, b->tls_client_cn) != 0)
		return 0;
	return unix_meet(a, b) && addr_meet(a, b);
}

static int any_listener(const struct cfg *cfg,
			int (*fits)(const struct cfg_listen *l))
{
	for (size_t i = 0; i < cfg->n_listen; i++)
		if (fits(&cfg->listen[i]))
			return 1;
	for (size_t i = 0; i < cfg->n_tools; i++)
		if (cfg->tools[i].http.has_listen &&
		    fits(&cfg->tools[i].http.listen))
			return 1;
	return 0;
}

static int is_unix_listener(const struct cfg_listen *l)
{
	return l->kind == CFG_LISTEN_UNIX;
}

static int is_mtls_listener(const struct cfg_listen *l)
{
	return l->tls_client_ca != NULL;
}

/* What one client asks for can be presented somewhere. */
static int check_one(struct ctx *c, const struct cfg *cfg,
		     const struct cfg_client *cl)
{
	if (!cl->has_token && !cl->n_allow_from && !has_unix(cl) &&
	    !cl->tls_client_cn)
		return key_fail(c, "no credential: set token_sha256, "
			       "allow_from, unix_peer_uids/gids or "
			       "tls_client_cn");
	if (has_unix(cl) && (cl->n_allow_from || cl->tls_client_cn))
		return key_fail(c, "a unix socket peer has no address or "
			       "certificate: this client can never match");
	if (has_unix(cl) && !any_listener(cfg, is_unix_listener))
		return key_fail(c, "unix_peer_uids/gids need a unix:/path "
			       "listener");
	if (cl->tls_client_cn && !any_listener(cfg, is_mtls_listener))
		return key_fail(c, "tls_client_cn needs a listener with "
			       "tls_client_ca");
	for (size_t i = 0; i < cl->tools.n; i++)
		if (!cfg_find_tool(cfg, cl->tools.v[i],
				   strlen(cl->tools.v[i])))
			return key_fail(c, "tools: no tool named \"%s\"",
					cl->tools.v[i]);
	return 0;
}

int cfg_clients_check(struct ctx *c, const struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->n_clients; i++) {
		const struct cfg_client *cl = &cfg->clients[i];
		size_t at = key_path_add(c, "clients");
		key_path_add(c, cl->name);
		if (check_one(c, cfg, cl) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (could_be_both(&cfg->clients[j], cl))
				return key_fail(c, "a request could be both "
						"this client and \"%s\": give "
						"them credentials that differ",
						cfg->clients[j].name);
		key_path_cut(c, at);
	}
	return 0;
}

/* --- look-ups ----------------------------------------------------------- */

const struct cfg_client *cfg_find_client(const struct cfg *cfg,
					 const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->n_clients; i++)
		if (strcmp(cfg->clients[i].name, name) == 0)
			return &cfg->clients[i];
	return NULL;
}

int cfg_client_may_use(const struct cfg_client *client, const char *tool)
{
	for (size_t i = 0; i < client->tools.n; i++)
		if (strcmp(client->tools.v[i], tool) == 0)
			return 1;
	return 0;
}
