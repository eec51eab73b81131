/* ctl_admin — carapacectl's way to the admin listener; see ctl_admin.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "ctl_admin.h"
#include "ctl_show.h"

#define CONNECT_TIMEOUT_SECS 5L
#define TOTAL_TIMEOUT_SECS 30L

/* ---- where the daemon is ---- */

static size_t scheme_len(const char *url)
{
	if (strncasecmp(url, "http://", 7) == 0)
		return 7;
	return strncasecmp(url, "https://", 8) == 0 ? 8 : 0;
}

int ctl_target_from_url(struct ctl_target *t, const char *url)
{
	size_t n = strlen(url);

	if (strncmp(url, "unix:", 5) == 0) {
		if (url[5] != '/' || n - 5 >= sizeof(t->unix_path))
			return -1;
		snprintf(t->unix_path, sizeof(t->unix_path), "%s", url + 5);
		snprintf(t->base, sizeof(t->base), "http://localhost");
		snprintf(t->shown, sizeof(t->shown), "%s", url);
		return 0;
	}
	size_t scheme = scheme_len(url);
	if (scheme == 0 || n == scheme || n >= sizeof(t->base) ||
	    strpbrk(url, "?# ") != NULL)
		return -1;
	while (n > scheme + 1 && url[n - 1] == '/')
		n--;
	snprintf(t->base, sizeof(t->base), "%.*s", (int)n, url);
	snprintf(t->shown, sizeof(t->shown), "%s", t->base);
	t->unix_path[0] = '\0';
	return 0;
}

static void target_from_admin(struct ctl_target *t, const struct cfg_admin *a)
{
	if (a->is_unix) {
		snprintf(t->unix_path, sizeof(t->unix_path), "%s",
			 a->unix_path);
		snprintf(t->base, sizeof(t->base), "http://localhost");
		snprintf(t->shown, sizeof(t->shown), "unix:%s", a->unix_path);
		return;
	}
	snprintf(t->base, sizeof(t->base),
		 a->addr.is_ipv6 ? "http://[%s]:%u" : "http://%s:%u",
		 a->addr.host, a->addr.port);
	snprintf(t->shown, sizeof(t->shown), "%s", t->base);
	t->unix_path[0] = '\0';
}

/* ---- the admin token ---- */

/* Visible ASCII only: a header value cannot hold a newline, and a blank
 * would be cut off by the daemon's parse. */
static int token_ok(const char *s, size_t len)
{
	if (len < 1 || len > CTL_MAX_TOKEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* Whom the file lets read or write it: a token others can read is no
 * secret, one others can write is not the operator's. */
static int token_file_safe(const char *file, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return ctl_complain("--token-file %s: %s", file,
				    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ctl_complain("--token-file %s: not a regular file",
				    file);
	if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP))
		return ctl_complain("--token-file %s: readable or writable by "
				    "others (mode %04o): chmod 600 it", file,
				    (unsigned)(st.st_mode & 07777));
	if (st.st_mode & S_IRGRP)
		ctl_complain("warning: --token-file %s is readable by its group",
			     file);
	return 0;
}

/* The first line of file into buf (at most size - 1 bytes kept, one
 * byte more read to tell a longer line); its length, or -1. */
static ssize_t token_from_file(const char *file, char *buf, size_t size)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n = 0, r = 0;

	/* -1 spelt out, not ctl_complain()'s: the caller reads buf unless
	 * this is negative, and scan-build does not see into ctl_show.c */
	if (fd < 0) {
		ctl_complain("--token-file %s: %s", file, strerror(errno));
		return -1;
	}
	if (token_file_safe(file, fd) < 0) {
		close(fd);
		return -1;
	}
	while ((size_t)n < size &&
	       (r = read(fd, buf + n, size - (size_t)n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		n += r;
	}
	int saved = errno;
	close(fd);
	if (r < 0) {
		ctl_complain("--token-file %s: %s", file, strerror(saved));
		return -1;
	}
	char *nl = memchr(buf, '\n', (size_t)n);
	if (nl != NULL)
		n = nl - buf;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	return n;
}

int ctl_set_token(struct ctl_target *t, const char *file)
{
	char buf[CTL_MAX_TOKEN + 2];
	const char *env = getenv("CARAPACE_ADMIN_TOKEN");
	const char *from = file ? "--token-file" : "CARAPACE_ADMIN_TOKEN";
	ssize_t n;

	t->token[0] = '\0';
	if (file != NULL) {
		n = token_from_file(file, buf, sizeof(buf));
		if (n < 0)
			return -1;
	} else if (env != NULL) {
		n = (ssize_t)strlen(env);
		memcpy(buf, env, (size_t)n < sizeof(buf) ? (size_t)n :
							  sizeof(buf));
	} else {
		return 0;
	}
	if (!token_ok(buf, (size_t)n)) {
		explicit_bzero(buf, sizeof(buf));
		return ctl_complain("%s: a token is 1 to %u visible ASCII "
				    "characters", from, CTL_MAX_TOKEN);
	}
	memcpy(t->token, buf, (size_t)n);
	t->token[n] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* ---- the config ---- */

/* As `carapaced -t` says it, so both point at the same key. */
int ctl_load_config(const char *file, struct cfg **cfg)
{
	struct error err;

	if (cfg_load_file(file, cfg, &err) == 0)
		return 0;
	if (err.key[0] != '\0')
		return ctl_complain("%s: %s: %s", file, err.key, err.msg);
	return ctl_complain("%s: %s", file, err.msg);
}

int ctl_check_config(const char *file)
{
	struct cfg *cfg;

	if (ctl_load_config(file, &cfg) < 0)
		return -1;
	cfg_release(cfg);
	return 0;
}

int ctl_target_from_config(struct ctl_target *t, const char *file)
{
	struct cfg *cfg;

	if (ctl_load_config(file, &cfg) < 0)
		return -1;
	if (!cfg->admin.enabled) {
		cfg_release(cfg);
		return ctl_complain("%s has no admin_listen: carapaced has no "
				    "admin listener to talk to", file);
	}
	target_from_admin(t, &cfg->admin);
	cfg_release(cfg);
	return 0;
}

/* ---- one request, one JSON answer ---- */

static size_t keep_body(char *p, size_t size, size_t nitems, void *arg)
{
	size_t n = size * nitems;

	return dbuf_add(arg, p, n) == 0 ? n : 0;
}

/* A handle on path of the admin listener. Proxies are never right for
 * it: it is on this host, and http_proxy in an operator's environment
 * would otherwise send the request elsewhere. */
CURL *ctl_handle(const struct ctl_target *t, const char *path, char *errbuf)
{
	char url[2048];
	CURL *c;

	if ((size_t)snprintf(url, sizeof(url), "%s%s", t->base, path) >=
		    sizeof(url) ||
	    (c = curl_easy_init()) == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (t->unix_path[0] != '\0')
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, t->unix_path);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_SECS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "carapacectl/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (t->token[0] != '\0') {
		/* the one scheme, so curl sends it at once */
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, t->token);
	}
	errbuf[0] = '\0';
	return c;
}

/* For a unix socket, curl's own text names "localhost port 80": the
 * system's reason (no such file, permission denied) says more. */
int ctl_unreachable(const struct ctl_target *t, CURL *c, CURLcode rc,
		    const char *errbuf)
{
	long os_errno = 0;

	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
	if (t->unix_path[0] != '\0' && os_errno != 0)
		return ctl_complain("cannot reach carapaced at %s: %s",
				    t->shown, strerror((int)os_errno));
	return ctl_complain("cannot reach carapaced at %s: %s", t->shown,
			    errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/* The daemon's own words for a refusal: {"error":{"message":...}}. */
int ctl_refused(const struct ctl_target *t, long status,
		const struct dbuf *body)
{
	json_object *o = ctl_parse_object(dbuf_str(body), dbuf_len(body));
	const char *msg = ctl_jstr(ctl_jget(o, "error"), "message");
	struct dbuf b = DBUF_INIT(CTL_MAX_TEXT);

	if (msg != NULL && status == 401) {
		ctl_clean(&b, msg);
		ctl_complain("%s (HTTP 401): give carapaced's admin token with "
			     "--token-file FILE or CARAPACE_ADMIN_TOKEN",
			     dbuf_str(&b));
	} else if (msg != NULL) {
		ctl_clean(&b, msg);
		ctl_complain("%s (HTTP %ld)", dbuf_str(&b), status);
	} else {
		ctl_complain("carapaced at %s answered HTTP %ld", t->shown,
			     status);
	}
	dbuf_free(&b);
	json_object_put(o);
	return -1;
}

static int judge(const struct ctl_target *t, CURL *c, const char *what,
		 CURLcode rc, const char *errbuf, const struct dbuf *body,
		 json_object **out)
{
	long status = 0;

	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (dbuf_error(body) == EMSGSIZE)
		return ctl_complain("%s: the answer is larger than 16 MiB",
				    what);
	if (dbuf_error(body))
		return ctl_complain("%s: out of memory", what);
	if (rc != CURLE_OK && status == 0)
		return ctl_unreachable(t, c, rc, errbuf);
	if (rc != CURLE_OK)
		return ctl_complain("%s at %s: %s", what, t->shown,
				    errbuf[0] ? errbuf :
						curl_easy_strerror(rc));
	if (status < 200 || status > 299)
		return ctl_refused(t, status, body);
	if ((*out = ctl_parse_object(dbuf_str(body), dbuf_len(body))) ==
	    NULL)
		return ctl_complain("%s: the answer of %s is not a JSON object",
				    what, t->shown);
	return 0;
}

/* One request: a POST carries body (JSON, or "" for none). */
static int call(const struct ctl_target *t, const char *method,
		const char *path, const char *body_out, json_object **out,
		struct dbuf *raw)
{
	char errbuf[CURL_ERROR_SIZE], what[128];
	struct dbuf body = DBUF_INIT(CTL_MAX_ANSWER);
	struct curl_slist *h = NULL;
	CURL *c = ctl_handle(t, path, errbuf);

	if (c == NULL)
		return ctl_complain("%s", "cannot initialise libcurl");
	snprintf(what, sizeof(what), "%s %s", method, path);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, TOTAL_TIMEOUT_SECS);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body_out);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE,
				 (long)strlen(body_out));
	}
	if (body_out[0] != '\0' &&
	    (h = curl_slist_append(NULL, "Content-Type: application/json")))
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	CURLcode rc = curl_easy_perform(c);
	int r = judge(t, c, what, rc, errbuf, &body, out);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (r == 0 && raw != NULL)
		*raw = body;
	else
		dbuf_free(&body);
	return r;
}

int ctl_call(const struct ctl_target *t, const char *method,
	     const char *path, json_object **out, struct dbuf *raw)
{
	return call(t, method, path, "", out, raw);
}

int ctl_post_json(const struct ctl_target *t, const char *path,
		  const char *body, json_object **out, struct dbuf *raw)
{
	return call(t, "POST", path, body, out, raw);
}
