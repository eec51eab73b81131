/* cfg_listen — one listener of the config: "HOST:PORT", "unix:/path", or
 * an object naming the address with its TLS or Unix socket keys. Used
 * for each element of the top-level "listen" and for a tool's drop-in
 * "listen" (see cfg_keys.h). The files it names are read by the
 * listener when it starts, not here: carapacectl loads the same config
 * without the right to read a private key. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "cfg_keys.h"

/* address and unix_mode are read by take_object() once the walk has
 * checked their types: the walk itself leaves them be. */
static int taken_after(struct ctx *c, const struct key *k, void *dst,
		       struct json_object *v)
{
	(void)c;
	(void)k;
	(void)dst;
	(void)v;
	return 0;
}

#define L(field) offsetof(struct cfg_listen, field)
const struct key cfg_listen_keys[] = {
	{ "address", CFG_KEY_STRING, KEY_REQUIRED, .store = ST_NONE,
	  .set = taken_after },
	{ "tls_cert", CFG_KEY_STRING, 0, ST_STR, .off = L(tls_cert),
	  .check = cfg_check_absolute },
	{ "tls_key", CFG_KEY_STRING, 0, ST_STR, .off = L(tls_key),
	  .check = cfg_check_absolute },
	{ "tls_client_ca", CFG_KEY_STRING, 0, ST_STR, .off = L(tls_client_ca),
	  .check = cfg_check_absolute },
	{ "unix_mode", CFG_KEY_STRING, 0, .store = ST_NONE,
	  .set = taken_after },
	{ "unix_group", CFG_KEY_STRING, 0, ST_STR, .off = L(unix_group) },
	KEY_END
};
#undef L

/* "HOST:PORT" or "unix:/path" into l. */
static int take_address(struct ctx *c, const char *s, struct cfg_listen *l)
{
	struct sockaddr_un sun;
	struct error why;

	l->text = strdup(s);
	if (l->text == NULL)
		return key_fail(c, "out of memory");
	if (strncmp(s, "unix:", 5) != 0) {
		l->kind = CFG_LISTEN_TCP;
		if (addr_parse(s, &l->addr, &why) < 0)
			return key_fail(c, "%s", why.msg);
		return 0;
	}
	l->kind = CFG_LISTEN_UNIX;
	if (s[5] != '/')
		return key_fail(c, "unix socket path must be absolute");
	if (strlen(s + 5) >= sizeof(sun.sun_path))
		return key_fail(c, "unix socket path too long");
	l->unix_path = strdup(s + 5);
	return l->unix_path ? 0 : key_fail(c, "out of memory");
}

/* "0660": an octal mode of the socket file, no more than 0777. */
static int take_mode(struct ctx *c, struct json_object *v,
		     struct cfg_listen *l)
{
	const char *s = json_object_get_string(v);
	char *end;
	unsigned long m;

	if (s[0] < '0' || s[0] > '7')
		return key_fail(c, "expected an octal mode such as \"0660\"");
	m = strtoul(s, &end, 8);
	if (*end != '\0' || m > 0777)
		return key_fail(c, "expected an octal mode such as \"0660\"");
	l->unix_mode = (unsigned)m;
	return 0;
}

/* Which keys go with which kind: checked once the object is read. */
static int check_kind(struct ctx *c, const struct cfg_listen *l,
		      int has_mode)
{
	if (l->kind == CFG_LISTEN_UNIX) {
		if (l->tls_cert || l->tls_key || l->tls_client_ca)
			return key_fail(c, "TLS is for TCP listeners; a unix "
				       "socket is protected by its mode");
		return 0;
	}
	if (has_mode || l->unix_group)
		return key_fail(c, "unix_mode and unix_group are for "
			       "unix:/path listeners");
	if (!l->tls_cert != !l->tls_key)
		return key_fail(c, "tls_cert and tls_key go together");
	if (l->tls_client_ca && !l->tls_cert)
		return key_fail(c, "tls_client_ca needs tls_cert and tls_key");
	return 0;
}

static int take_object(struct ctx *c, struct json_object *v,
		       struct cfg_listen *l)
{
	struct json_object *addr = NULL, *mode = NULL;
	size_t at;
	int rc;

	if (key_walk(c, cfg_listen_keys, l, v) < 0)
		return -1;
	json_object_object_get_ex(v, "address", &addr); /* required */
	at = key_path_add(c, "address");
	rc = take_address(c, json_object_get_string(addr), l);
	key_path_cut(c, at);
	if (rc < 0)
		return -1;
	if (json_object_object_get_ex(v, "unix_mode", &mode) && mode) {
		at = key_path_add(c, "unix_mode");
		rc = take_mode(c, mode, l);
		key_path_cut(c, at);
		if (rc < 0)
			return -1;
	}
	return check_kind(c, l, mode != NULL);
}

int cfg_listen_take(struct ctx *c, struct json_object *v,
		    struct cfg_listen *out)
{
	out->unix_mode = CFG_DEFAULT_UNIX_MODE;
	if (json_object_is_type(v, json_type_object))
		return take_object(c, v, out);
	if (!json_object_is_type(v, json_type_string))
		return key_fail(c, "expected an address string or an object");
	if (strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v))
		return key_fail(c, "string contains a NUL byte");
	return take_address(c, json_object_get_string(v), out);
}

void cfg_listen_free(struct cfg_listen *l)
{
	key_free(cfg_listen_keys, l);
	free(l->unix_path);
	free(l->text);
}

int cfg_listen_is_local(const struct cfg_listen *l)
{
	return l->kind == CFG_LISTEN_UNIX || addr_is_loopback(&l->addr);
}
