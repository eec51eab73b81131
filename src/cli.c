/* cli — see cli.h. */
#include "config.h"

#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec.h"
#include "jsonparse.h"
#include "log.h"
#include "text.h"
#include "workers.h"

#define WORKER_STACK_SIZE (256 * 1024)
#define KILL_GRACE_MS 2000
#define DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"
#define MAX_DEPTH (PATH_MAX / 2) /* directories above a cwd, at most */
#define DIR_FLAGS (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

struct cli_request {
	const struct cfg_tool *tool;
	int sse;
	char **argv;        /* [0] is a slot for exec; NULL-terminated */
	size_t argc;        /* arguments after argv[0] */
	char *stdin_data;
	size_t stdin_len;
	char *cwd;          /* as the client gave it */
	int cwd_fd;         /* the checked directory; owned; -1: none */
};

/* Output kept for the JSON answer (bounded by max_output_bytes, which
 * exec enforces on stdout + stderr together). */
struct capture {
	char *data;
	size_t len;
	size_t cap;
};

struct job {
	struct cli_request *req;
	struct stream *stream;
	int cancel_fd;
	struct capture out[2];   /* stdout, stderr */
	int failed;              /* out of memory while capturing */
};

/* ---- max_concurrent: children running per tool ---- */

/* Keyed by the tool's name, not its object: a reload makes new objects
 * while the old runs go on, and those still count against the limit of
 * the tool that replaces theirs. */
struct running {
	struct running *next;
	char *name;         /* owned */
	unsigned n;
};

static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static struct running *running;

static struct running *running_find(const char *name)
{
	struct running *r;

	for (r = running; r != NULL && strcmp(r->name, name) != 0;
	     r = r->next)
		;
	return r;
}

static int running_take(const struct cfg_tool *tool)
{
	struct running *r;
	int ok = 0;

	pthread_mutex_lock(&running_lock);
	r = running_find(tool->name);
	if (r == NULL && (r = calloc(1, sizeof(*r))) != NULL) {
		if ((r->name = strdup(tool->name)) == NULL) {
			free(r);
			r = NULL;
		} else {
			r->next = running;
			running = r;
		}
	}
	if (r != NULL && r->n < tool->max_concurrent) {
		r->n++;
		ok = 1;
	}
	/* only a fresh entry, at the head, can be at 0 (max_concurrent 0):
	 * the table keeps no entry without a run */
	if (r != NULL && r->n == 0) {
		running = r->next;
		free(r->name);
		free(r);
	}
	pthread_mutex_unlock(&running_lock);
	return ok;
}

/* An entry lives while its name has children running, so the table holds
 * no more than the runs going on. */
static void running_give(const struct cfg_tool *tool)
{
	pthread_mutex_lock(&running_lock);
	for (struct running **p = &running; *p != NULL; p = &(*p)->next) {
		struct running *r = *p;
		if (strcmp(r->name, tool->name) != 0)
			continue;
		if (r->n > 0)
			r->n--;
		if (r->n == 0) {
			*p = r->next;
			free(r->name);
			free(r);
		}
		break;
	}
	pthread_mutex_unlock(&running_lock);
}

/* ---- the request ---- */

struct cli_request *cli_request_new(const struct cfg_tool *tool, int sse)
{
	struct cli_request *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->tool = tool;
	r->sse = sse;
	r->cwd_fd = -1;
	r->argv = calloc(2, sizeof(*r->argv));
	if (r->argv == NULL) {
		free(r);
		return NULL;
	}
	/* the run may outlive the request that asked for it, and a reload
	 * may retire the config in the meantime */
	cfg_hold(tool->owner);
	return r;
}

int cli_request_add_arg(struct cli_request *r, const char *arg)
{
	char **argv = realloc(r->argv, (r->argc + 3) * sizeof(*argv));

	if (argv == NULL)
		return -1;
	r->argv = argv;
	if ((argv[r->argc + 1] = strdup(arg)) == NULL)
		return -1;
	r->argc++;
	argv[r->argc + 1] = NULL;
	return 0;
}

void cli_request_set_stdin(struct cli_request *r, char *data, size_t len)
{
	free(r->stdin_data);
	r->stdin_data = data;
	r->stdin_len = len;
}

int cli_request_set_cwd(struct cli_request *r, const char *cwd)
{
	free(r->cwd);
	r->cwd = cwd ? strdup(cwd) : NULL;
	return cwd && r->cwd == NULL ? -1 : 0;
}

char *const *cli_request_argv(const struct cli_request *r, size_t *argc)
{
	*argc = r->argc;
	return r->argv + 1;
}

void cli_request_free(struct cli_request *r)
{
	if (r == NULL)
		return;
	for (size_t i = 1; i <= r->argc; i++)
		free(r->argv[i]);
	free(r->argv);
	free(r->stdin_data);
	free(r->cwd);
	if (r->cwd_fd >= 0)
		close(r->cwd_fd);
	cfg_release(r->tool->owner);
	free(r);
}

/* ---- parsing and checking a request ---- */

static int take_argv(struct cli_request *r, json_object *argv, char *why,
		     size_t why_len)
{
	if (!json_object_is_type(argv, json_type_array)) {
		snprintf(why, why_len, "argv must be an array of strings");
		return -1;
	}
	for (size_t i = 0; i < json_object_array_length(argv); i++) {
		json_object *a = json_object_array_get_idx(argv, i);
		if (!json_object_is_type(a, json_type_string) ||
		    strlen(json_object_get_string(a)) !=
			    (size_t)json_object_get_string_len(a)) {
			snprintf(why, why_len,
				 "argv[%zu] must be a string without NUL", i);
			return -1;
		}
		if (cli_request_add_arg(r, json_object_get_string(a)) < 0) {
			snprintf(why, why_len, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int take_member(struct cli_request *r, const char *key,
		       json_object *v, char *why, size_t why_len)
{
	if (strcmp(key, "argv") == 0)
		return take_argv(r, v, why, why_len);
	int is_string = json_object_is_type(v, json_type_string);
	size_t len = is_string ? (size_t)json_object_get_string_len(v) : 0;
	if (strcmp(key, "stdin") == 0 && is_string) {
		char *data = malloc(len + 1);
		if (data == NULL)
			return -1;
		memcpy(data, json_object_get_string(v), len + 1);
		cli_request_set_stdin(r, data, len);
		return 0;
	}
	if (strcmp(key, "cwd") == 0 && is_string &&
	    strlen(json_object_get_string(v)) == len)
		return cli_request_set_cwd(r, json_object_get_string(v));
	snprintf(why, why_len, strcmp(key, "stdin") == 0 ||
					       strcmp(key, "cwd") == 0 ?
				       "%s must be a string" :
				       "unknown key %s",
		 key);
	return -1;
}

struct cli_request *cli_request_parse(const struct cfg_tool *tool, int sse,
				      const char *body, size_t len,
				      char *why, size_t why_len)
{
	struct jsonparse_error err;
	json_object *o = NULL;
	struct cli_request *r = NULL;

	if (jsonparse_strict(body, len, &o, &err) != JSONPARSE_OK) {
		snprintf(why, why_len, "%s: %s",
			 err.code == JSONPARSE_INVALID ? "body is not JSON" :
							 "body refused",
			 err.message);
		goto fail;
	}
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(why, why_len, "body must be a JSON object");
		goto fail;
	}
	if ((r = cli_request_new(tool, sse)) == NULL) {
		snprintf(why, why_len, "out of memory");
		goto fail;
	}
	json_object_object_foreach(o, key, v) {
		if (take_member(r, key, v, why, why_len) < 0)
			goto fail;
	}
	if (!json_object_object_get_ex(o, "argv", NULL)) {
		snprintf(why, why_len, "argv is required");
		goto fail;
	}
	json_object_put(o);
	return r;
fail:
	json_object_put(o);
	cli_request_free(r);
	return NULL;
}

/* ---- cwd: checked and used as one object ---- */

/* The directory an absolute path names, opened one component at a time
 * from "/", each below the descriptor of the one before and never through
 * a symlink (O_NOFOLLOW: a symlink is not a directory, ENOTDIR). No
 * component can be swapped for a symlink between the check and the use,
 * as both are of the descriptor. ".." is taken as the kernel has it, the
 * real parent: the check below is of where the walk ends. Returns an
 * O_PATH descriptor (caller closes), or -1 with errno set. */
static int open_dir(const char *path)
{
	char comp[NAME_MAX + 1];
	int fd = open("/", DIR_FLAGS);

	while (fd >= 0) {
		path += strspn(path, "/");
		size_t n = strcspn(path, "/");
		if (n == 0)
			break;
		if (n > NAME_MAX) {
			close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, path, n);
		comp[n] = '\0';
		path += n;
		int next = openat(fd, comp, DIR_FLAGS);
		int err = errno;
		close(fd);
		errno = err;
		fd = next;
	}
	return fd;
}

static int same_dir(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Whether dir is one of the allowed directories (each opened as above)
 * or lies below one: it and its ancestors, climbed by "..", are compared
 * with them by device and inode, never by name. */
static int dir_allowed(int dir, const struct cfg_strings *allowed)
{
	struct stat *want = calloc(allowed->n, sizeof(*want));
	struct stat st, up;
	int cur = dir, found = 0;

	if (want == NULL)
		return 0;
	for (size_t i = 0; i < allowed->n; i++) {
		int fd = open_dir(allowed->v[i]);
		if (fd < 0 || fstat(fd, &want[i]) < 0)
			want[i].st_ino = 0; /* matches no directory */
		if (fd >= 0)
			close(fd);
	}
	if (fstat(cur, &st) < 0)
		goto out;
	for (int depth = 0; depth < MAX_DEPTH && !found; depth++) {
		for (size_t i = 0; i < allowed->n && !found; i++)
			found = want[i].st_ino != 0 && same_dir(&st, &want[i]);
		if (found)
			break;
		int parent = openat(cur, "..", DIR_FLAGS);
		if (cur != dir)
			close(cur);
		cur = parent;
		if (cur < 0 || fstat(cur, &up) < 0 || same_dir(&up, &st))
			break; /* "/" is its own parent */
		st = up;
	}
out:
	if (cur >= 0 && cur != dir)
		close(cur);
	free(want);
	return found;
}

int cli_request_check_cwd(struct cli_request *r, const char **why)
{
	const struct cfg_strings *allowed = &r->tool->cwd_allowed;

	if (r->cwd == NULL)
		return 0;
	if (allowed->n == 0) {
		*why = "denied by policy: this tool takes no cwd";
		return -1;
	}
	if (r->cwd[0] != '/') {
		*why = "denied by policy: cwd is not an absolute path";
		return -1;
	}
	int fd = open_dir(r->cwd);
	if (fd < 0) {
		*why = errno == ENOTDIR || errno == ELOOP ?
			       "denied by policy: cwd is not a directory "
			       "reached without symlinks" :
			       "denied by policy: cwd does not resolve";
		return -1;
	}
	if (!dir_allowed(fd, allowed)) {
		close(fd);
		*why = "denied by policy: cwd is outside cwd_allowed";
		return -1;
	}
	if (r->cwd_fd >= 0)
		close(r->cwd_fd);
	r->cwd_fd = fd;
	return 0;
}

/* ---- text: UTF-8 or base64 ---- */

static json_object *base64_of(const void *s, size_t n)
{
	size_t len;
	char *b64 = text_base64_encode(s, n, &len);
	json_object *js = b64 ? json_object_new_string_len(b64, (int)len) :
				NULL;

	free(b64);
	return js;
}

/* Adds name (text or base64) and name_base64 to obj. */
static void add_text(json_object *obj, const char *name, const char *data,
		     size_t len)
{
	char flag[32];
	int text = text_utf8_valid(data, len);

	snprintf(flag, sizeof(flag), "%s_base64", name);
	json_object_object_add(
		obj, name,
		text ? json_object_new_string_len(data ? data : "", (int)len) :
		       base64_of(data, len));
	json_object_object_add(obj, flag, json_object_new_boolean(!text));
}

/* ---- answers ---- */

static int publish_head(struct stream *s, const char *content_type,
			long long length)
{
	struct stream_head *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return -1;
	h->status = 200;
	h->content_length = length;
	h->fields = calloc(2, sizeof(*h->fields));
	if (h->fields == NULL) {
		free(h);
		return -1;
	}
	h->fields[0].name = strdup("Content-Type");
	h->fields[0].value = strdup(content_type);
	h->fields[1].name = strdup("Cache-Control");
	h->fields[1].value = strdup("no-store");
	h->n_fields = 2;
	if (h->fields[0].name == NULL || h->fields[0].value == NULL ||
	    h->fields[1].name == NULL || h->fields[1].value == NULL) {
		stream_head_free(h);
		return -1;
	}
	return stream_publish_head(s, h);
}

/* One SSE event whose data is a single line of JSON; waits for room no
 * later than deadline_ms (0: no limit but the stream's send timeout). 0,
 * -1 cancelled, -2 not queued by the deadline. */
static int push_event(struct stream *s, const char *event,
		      json_object *obj, long long deadline_ms)
{
	const char *json = json_object_to_json_string_ext(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int n = snprintf(NULL, 0, "event: %s\ndata: %s\n\n", event, json);
	char *text = n > 0 ? malloc((size_t)n + 1) : NULL;

	if (text == NULL)
		return -1;
	snprintf(text, (size_t)n + 1, "event: %s\ndata: %s\n\n", event, json);
	uint64_t until = deadline_ms > 0 ? (uint64_t)deadline_ms : 0;
	int rc = stream_push_until(s, text, (size_t)n, until);
	free(text);
	return rc;
}

static json_object *result_json(const struct exec_result *res)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "exit_code",
			       res->signal ? NULL :
					     json_object_new_int(res->exit_code));
	json_object_object_add(o, "signal",
			       res->signal ? json_object_new_int(res->signal) :
					     NULL);
	json_object_object_add(o, "timed_out",
			       json_object_new_boolean(res->timed_out));
	json_object_object_add(o, "truncated",
			       json_object_new_boolean(res->truncated));
	return o;
}

static int capture(struct capture *c, const char *data, size_t len)
{
	if (c->len + len > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + len)
			cap *= 2;
		char *p = realloc(c->data, cap);
		if (p == NULL)
			return -1;
		c->data = p;
		c->cap = cap;
	}
	memcpy(c->data + c->len, data, len);
	c->len += len;
	return 0;
}

static int on_output(void *arg, enum exec_channel channel, const char *data,
		     size_t len, long long deadline_ms)
{
	struct job *j = arg;
	const char *name = channel == EXEC_STDOUT ? "stdout" : "stderr";

	if (!j->req->sse) {
		if (capture(&j->out[channel == EXEC_STDERR], data, len) < 0)
			j->failed = 1;
		return j->failed ? -1 : 0;
	}
	json_object *o = json_object_new_object();
	if (text_utf8_valid(data, len))
		json_object_object_add(o, "data",
				       json_object_new_string_len(data,
								  (int)len));
	else
		json_object_object_add(
			o, "base64",
			base64_of(data, len));
	int rc = push_event(j->stream, name, o, deadline_ms);
	json_object_put(o);
	return rc;
}

/* The JSON answer, whole: head with its length, body, end. */
static void answer_json(struct job *j, const struct exec_result *res)
{
	json_object *o = result_json(res);

	add_text(o, "stdout", j->out[0].data, j->out[0].len);
	add_text(o, "stderr", j->out[1].data, j->out[1].len);
	const char *text = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text);
	if (publish_head(j->stream, "application/json", (long long)len) < 0 ||
	    stream_push(j->stream, text, len) < 0)
		stream_finish(j->stream, STREAM_END_BROKEN);
	else
		stream_finish(j->stream, STREAM_END_WHOLE);
	json_object_put(o);
}

/* ---- the worker ---- */

static void wake_cancel(void *arg)
{
	static const uint64_t one = 1;
	struct job *j = arg;

	if (write(j->cancel_fd, &one, sizeof(one)) < 0)
		return; /* the counter is already set: the child is stopping */
}

/* env_inject plus a fixed PATH (unless env_inject sets one): nothing from
 * the client, nothing from carapaced's own environment. */
static char **build_env(const struct cfg_tool *tool)
{
	char **env = calloc(tool->n_env_inject + 2, sizeof(*env));
	size_t n = 0;
	int has_path = 0;

	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < tool->n_env_inject; i++) {
		const struct cfg_header *e = &tool->env_inject[i];
		size_t len = strlen(e->name) + strlen(e->value) + 2;
		if ((env[n] = malloc(len)) == NULL)
			goto fail;
		snprintf(env[n++], len, "%s=%s", e->name, e->value);
		has_path |= strcmp(e->name, "PATH") == 0;
	}
	if (!has_path && (env[n++] = strdup(DEFAULT_PATH)) == NULL)
		goto fail;
	return env;
fail:
	for (size_t i = 0; i < n; i++)
		free(env[i]);
	free(env);
	return NULL;
}

static void free_env(char **env)
{
	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

static void run_job(struct job *j)
{
	const struct cfg_tool *tool = j->req->tool;
	char **env = build_env(tool);
	struct exec_result res;
	struct exec_spec spec = {
		.binary = tool->binary,
		.argv = j->req->argv,
		.envp = env,
		.cwd_fd = j->req->cwd_fd, /* -1, no cwd asked: "/" */
		.stdin_data = j->req->stdin_data,
		.stdin_len = j->req->stdin_len,
		.timeout_ms = tool->timeout_secs * 1000u,
		.grace_ms = KILL_GRACE_MS,
		.max_output = tool->max_output_bytes,
		.cancel_fd = j->cancel_fd,
	};

	j->req->argv[0] = (char *)tool->binary;
	if (env == NULL || (j->req->sse &&
			    publish_head(j->stream, "text/event-stream", -1) < 0)) {
		stream_fail(j->stream, STREAM_FAIL_INTERNAL, "out of memory");
		free_env(env);
		running_give(tool);
		return;
	}
	stream_set_cancel_hook(j->stream, wake_cancel, j);
	int rc = exec_run(&spec, on_output, j, &res);
	stream_set_cancel_hook(j->stream, NULL, NULL);
	j->req->argv[0] = NULL;
	free_env(env);
	/* max_concurrent counts children: the slot is free once ours is
	 * gone, however long the client then takes over the answer */
	running_give(tool);
	if (res.undelivered)
		log_info("%s: the client took too little; output after the "
			 "timeout dropped", tool->name);
	if (rc < 0 && res.spawn_errno != 0) {
		log_warnx("%s: cannot run %s: %s", tool->name, tool->binary,
			  strerror(res.spawn_errno));
		if (j->req->sse)
			stream_finish(j->stream, STREAM_END_BROKEN);
		else
			stream_fail(j->stream, STREAM_FAIL_INTERNAL,
				    "cannot run the tool");
		return;
	}
	stream_set_exit(j->stream, res.exit_code, res.signal);
	if (!j->req->sse) {
		answer_json(j, &res);
		return;
	}
	/* After dropped output, the exit event goes only if it fits now, and
	 * the body ends broken: the client must not take it for whole. */
	json_object *o = result_json(&res);
	int ok = push_event(j->stream, "exit", o,
			    res.undelivered ? 1 : 0) == 0;
	stream_finish(j->stream, rc == 0 && ok && !res.undelivered ?
		      STREAM_END_WHOLE : STREAM_END_BROKEN);
	json_object_put(o);
}

static void *cli_main(void *arg)
{
	struct job *j = arg;

	run_job(j);
	close(j->cancel_fd);
	free(j->out[0].data);
	free(j->out[1].data);
	stream_release(j->stream);
	cli_request_free(j->req);
	free(j);
	workers_leave();
	return NULL;
}

int cli_start(struct cli_request *r, struct stream *s)
{
	struct job *j;
	pthread_attr_t attr;
	pthread_t tid;

	if (!running_take(r->tool))
		return -2;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto fail;
	j->req = r;
	j->stream = s;
	j->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (j->cancel_fd < 0)
		goto fail;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, WORKER_STACK_SIZE);
	workers_enter();
	int rc = pthread_create(&tid, &attr, cli_main, j);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		return 0;
	workers_leave();
	close(j->cancel_fd);
fail:
	free(j);
	running_give(r->tool);
	return -1;
}
