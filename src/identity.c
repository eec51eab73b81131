/* identity — see identity.h.
 *
 * The Authorization header is parsed strictly: anything but
 * "Bearer TOKEN" or "Basic BASE64(NAME:TOKEN)" (scheme in any case, one
 * space, a token68 credential) is refused, never ignored, so a client
 * cannot fall back to an address-only match by sending a header the
 * parser does not understand. The token is hashed once and its hash
 * compared with every client's, whatever matched before. */
#include "config.h"

#include "identity.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "secret.h"
#include "text.h"

/* A token carapacectl makes is 43 characters; Basic adds a name. Far
 * longer is a mistake or a probe, refused before anything is decoded. */
#define MAX_CREDENTIALS 1024u

/* What the Authorization header presented. */
struct presented {
	int any;                          /* a header was sent */
	const char *user;                 /* Basic: the user, else NULL */
	size_t decoded_len;               /* Basic: what was decoded */
	unsigned char hash[SECRET_HASH_LEN];
};

/* RFC 9110 token68: what a Bearer or Basic credential may hold. */
static int is_token68(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (strchr("-._~+/", s[i]) != NULL ||
			   (s[i] >= '0' && s[i] <= '9') ||
			   ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')))
		i++;
	if (i == 0)
		return 0;
	while (i < len && s[i] == '=')
		i++;
	return i == len;
}

/* Basic: "NAME:TOKEN", decoded into *decoded (caller frees). */
static int parse_basic(const char *cred, size_t len, char **decoded,
		       struct presented *p, struct error *err)
{
	size_t n;
	char *text = text_base64_decode(cred, len, &n);

	if (text == NULL)
		return error_set(err, 401, NULL, "malformed Authorization: "
				 "Basic credentials are not base64");
	*decoded = text;
	p->decoded_len = n;
	char *colon = memchr(text, ':', n);
	if (memchr(text, '\0', n) != NULL || colon == NULL)
		return error_set(err, 401, NULL, "malformed Authorization: "
				 "Basic credentials are not NAME:TOKEN");
	if (colon == text || colon + 1 == text + n)
		return error_set(err, 401, NULL, "malformed Authorization: "
				 "Basic credentials have an empty name or "
				 "token");
	*colon = '\0';
	p->user = text;
	if (secret_sha256(colon + 1, (size_t)(text + n - colon - 1),
			  p->hash) < 0)
		return error_set(err, 500, NULL, "cannot hash the token");
	return 0;
}

/* The header, as sent (NULL: none) into *p. 0, or -1 (401). */
static int parse_authorization(const char *h, char **decoded,
			       struct presented *p, struct error *err)
{
	*p = (struct presented){ .any = h != NULL };
	*decoded = NULL;
	if (h == NULL)
		return 0;
	const char *sp = strchr(h, ' ');
	size_t scheme = sp ? (size_t)(sp - h) : strlen(h);
	int bearer = scheme == 6 && strncasecmp(h, "Bearer", 6) == 0;
	int basic = scheme == 5 && strncasecmp(h, "Basic", 5) == 0;

	if (!bearer && !basic)
		return error_set(err, 401, NULL, "malformed Authorization: "
				 "the scheme must be Bearer or Basic");
	const char *cred = sp ? sp + 1 : "";
	size_t len = strlen(cred);
	if (len > MAX_CREDENTIALS)
		return error_set(err, 401, NULL, "malformed Authorization: "
				 "credentials longer than %u bytes",
				 MAX_CREDENTIALS);
	if (!is_token68(cred, len))
		return error_set(err, 401, NULL, "malformed Authorization: "
				 "expected \"%s\" and one credential after "
				 "one space", bearer ? "Bearer" : "Basic");
	if (basic)
		return parse_basic(cred, len, decoded, p, err);
	if (secret_sha256(cred, len, p->hash) < 0)
		return error_set(err, 500, NULL, "cannot hash the token");
	return 0;
}

static int has_id(const unsigned *v, size_t n, unsigned id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return 1;
	return 0;
}

/* Why the connection itself does not prove cl (NULL: it does): every
 * configured fact but the token. */
static const char *peer_problem(const struct cfg_client *cl,
				const struct identity_peer *peer)
{
	if (cl->n_allow_from > 0) {
		int in = 0;
		for (size_t i = 0; !in && i < cl->n_allow_from; i++)
			in = !peer->is_unix && peer->addr != NULL &&
			     addr_cidr_contains(&cl->allow_from[i],
						peer->addr);
		if (!in)
			return "the peer's address is not in allow_from";
	}
	if (cl->n_unix_peer_uids > 0 || cl->n_unix_peer_gids > 0) {
		if (!peer->is_unix || !peer->has_cred ||
		    !(has_id(cl->unix_peer_uids, cl->n_unix_peer_uids,
			     peer->uid) ||
		      has_id(cl->unix_peer_gids, cl->n_unix_peer_gids,
			     peer->gid)))
			return "the unix peer's uid and gid are not in "
			       "unix_peer_uids or unix_peer_gids";
	}
	if (cl->tls_client_cn != NULL) {
		int ok = 0;
		for (size_t i = 0; peer->tls && peer->cert_verified &&
				   i < peer->n_cert_names; i++)
			ok |= strcasecmp(peer->cert_names[i],
					 cl->tls_client_cn) == 0;
		if (!ok)
			return "no verified client certificate names "
			       "tls_client_cn";
	}
	return NULL;
}

/* Whether the token presented is cl's. Always hashes-compares, so every
 * client costs one full comparison, matched or not. */
static int token_is(const struct cfg_client *cl, const struct presented *p)
{
	static const unsigned char none[SECRET_HASH_LEN];
	const unsigned char *want = cl->has_token ? cl->token_sha256 : none;
	int same = secret_equal(p->hash, want, SECRET_HASH_LEN);

	if (!cl->has_token)
		return 0;
	if (p->user != NULL && strcmp(p->user, cl->name) != 0)
		return 0;
	return same;
}

/* The one client p and peer prove, or why none (err). */
static int match(const struct cfg *cfg, const struct identity_peer *peer,
		 const struct presented *p, const struct cfg_client **out,
		 struct error *err)
{
	const struct cfg_client *by_token = NULL, *found = NULL;
	const char *why = NULL;

	for (size_t i = 0; i < cfg->n_clients; i++) {
		const struct cfg_client *cl = &cfg->clients[i];
		int tok = p->any ? token_is(cl, p) : !cl->has_token;
		if (p->any && tok)
			by_token = cl;
		const char *problem = peer_problem(cl, peer);
		if (tok && problem == NULL && found == NULL)
			found = cl;
		if (tok && problem != NULL)
			why = problem;
	}
	if (found != NULL) {
		*out = found;
		return 0;
	}
	if (!p->any)
		return error_set(err, 401, NULL, "authentication required: "
				 "no credentials, and no address-only client "
				 "matches this connection");
	if (by_token == NULL)
		return error_set(err, 401, NULL, "the credentials presented "
				 "match no client");
	return error_set(err, 401, NULL, "the credentials are not "
			 "accepted on this connection: %s", why);
}

int identity_of(const struct cfg *cfg, const struct identity_peer *peer,
		const char *authorization, const struct cfg_client **out,
		struct error *err)
{
	struct presented p;
	char *decoded;

	*out = NULL;
	int rc = parse_authorization(authorization, &decoded, &p, err);
	if (rc == 0)
		rc = match(cfg, peer, &p, out, err);
	if (decoded != NULL) {
		/* the token was in it */
		explicit_bzero(decoded, p.decoded_len);
		free(decoded);
	}
	explicit_bzero(&p, sizeof(p));
	return rc;
}
