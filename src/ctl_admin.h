/* ctl_admin — where carapacectl finds the daemon's admin listener and how
 * it asks it: a target from --admin or from admin_listen of a config
 * file, the admin token (--token-file or CARAPACE_ADMIN_TOKEN) that every
 * request carries, a libcurl handle on one of its paths, one request with
 * one JSON answer, and the messages for a daemon that cannot be reached
 * or says no. Failures are told on stderr (ctl_complain) and returned as
 * -1. One thread; curl_global_init must have been called. */
#ifndef CARAPACE_CTL_ADMIN_H
#define CARAPACE_CTL_ADMIN_H

#include <curl/curl.h>
#include <json-c/json.h>
#include <sys/un.h>

#include "cfg.h"
#include "dbuf.h"

/* The most an answer (status, streams, reload) or a refusal may hold. */
#define CTL_MAX_ANSWER (16u << 20)
/* The longest admin token taken (secret_new_token makes 43 characters). */
#define CTL_MAX_TOKEN 1024u

/* Where the admin listener is. */
struct ctl_target {
	char base[600];      /* URL prefix, e.g. http://127.0.0.1:8766 */
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char shown[620];     /* for messages, as an operator writes it */
	char token[CTL_MAX_TOKEN + 1]; /* "" for none; never printed */
};

/* The admin token into t->token: the first line of file (without its
 * newline) when file is not NULL, else $CARAPACE_ADMIN_TOKEN, else none.
 * A file others may read or anyone but its owner may write is refused,
 * one its group may read is warned of; a token must be 1 to
 * CTL_MAX_TOKEN visible ASCII characters (it goes in a header). 0, or
 * -1 after a complaint. */
int ctl_set_token(struct ctl_target *t, const char *file);

/* From --admin: http://HOST:PORT[/] or unix:/PATH. 0, or -1 (nothing
 * said: the caller words the usage error). */
int ctl_target_from_url(struct ctl_target *t, const char *url);
/* From admin_listen of the config file. 0, or -1 after a complaint. */
int ctl_target_from_config(struct ctl_target *t, const char *file);
/* Loads file as `carapaced -t` does and says what is wrong as it does.
 * 0, or -1 after a complaint. */
int ctl_check_config(const char *file);
/* The same, keeping the config: *cfg is the caller's (cfg_release). */
int ctl_load_config(const char *file, struct cfg **cfg);

/* A handle on path of the target, with errbuf (CURL_ERROR_SIZE) as its
 * error buffer; caller cleans it up. NULL when curl cannot make one. */
CURL *ctl_handle(const struct ctl_target *t, const char *path, char *errbuf);
/* The complaint for a transfer that reached no daemon; -1. */
int ctl_unreachable(const struct ctl_target *t, CURL *c, CURLcode rc,
		    const char *errbuf);
/* The complaint for a non-2xx answer, in the daemon's words when its
 * body has them (and, for a 401, where the token comes from); -1. */
int ctl_refused(const struct ctl_target *t, long status,
		const struct dbuf *body);

/* method is GET or POST. 0: *out is the answer, a JSON object (caller
 * puts), and raw, when given, holds its text as received (for --json;
 * caller frees). -1 after a complaint. */
int ctl_call(const struct ctl_target *t, const char *method,
	     const char *path, json_object **out, struct dbuf *raw);
/* The same, a POST of body (JSON text, sent as application/json). */
int ctl_post_json(const struct ctl_target *t, const char *path,
		  const char *body, json_object **out, struct dbuf *raw);

#endif
