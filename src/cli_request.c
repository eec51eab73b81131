/* cli_request — see cli_request.h. */
#include "config.h"

#include "cli_request.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonparse.h"

#define MAX_DEPTH (PATH_MAX / 2) /* directories above a cwd, at most */
#define DIR_FLAGS (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

#define BAD_REQUEST 400
#define FORBIDDEN 403
#define INTERNAL 500

static int out_of_memory(struct error *e)
{
	return error_set(e, INTERNAL, NULL, "out of memory");
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
	 * may retire the config in the meantime (a tool made by hand, as in
	 * the unit tests, belongs to none) */
	if (tool->owner != NULL)
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

/* ---- parsing ---- */

/* A JSON string without a NUL in it: what a C string can carry whole. */
static int is_c_string(json_object *v)
{
	return json_object_is_type(v, json_type_string) &&
	       strlen(json_object_get_string(v)) ==
		       (size_t)json_object_get_string_len(v);
}

static int take_argv(struct cli_request *r, json_object *argv,
		     struct error *e)
{
	if (!json_object_is_type(argv, json_type_array))
		return error_set(e, BAD_REQUEST, "argv",
				 "argv must be an array of strings");
	for (size_t i = 0; i < json_object_array_length(argv); i++) {
		json_object *a = json_object_array_get_idx(argv, i);
		if (!is_c_string(a))
			return error_set(e, BAD_REQUEST, "argv",
					 "argv[%zu] must be a string without "
					 "NUL", i);
		if (cli_request_add_arg(r, json_object_get_string(a)) < 0)
			return out_of_memory(e);
	}
	return 0;
}

static int take_stdin(struct cli_request *r, json_object *v,
		      struct error *e)
{
	size_t len = (size_t)json_object_get_string_len(v);
	char *data = malloc(len + 1);

	if (data == NULL)
		return out_of_memory(e);
	memcpy(data, json_object_get_string(v), len + 1);
	cli_request_set_stdin(r, data, len);
	return 0;
}

static int take_member(struct cli_request *r, const char *key,
		       json_object *v, struct error *e)
{
	int is_stdin = strcmp(key, "stdin") == 0;
	int is_cwd = strcmp(key, "cwd") == 0;

	if (strcmp(key, "argv") == 0)
		return take_argv(r, v, e);
	if (is_stdin && json_object_is_type(v, json_type_string))
		return take_stdin(r, v, e);
	if (is_cwd && is_c_string(v))
		return cli_request_set_cwd(r, json_object_get_string(v)) < 0 ?
			       out_of_memory(e) :
			       0;
	if (is_stdin || is_cwd)
		return error_set(e, BAD_REQUEST, key, "%s must be a string",
				 key);
	return error_set(e, BAD_REQUEST, key, "unknown key %s", key);
}

/* The body as one JSON object (caller puts), or NULL with e set. */
static json_object *parse_object(const char *body, size_t len,
				 struct error *e)
{
	struct jsonparse_error err;
	json_object *o = NULL;

	switch (jsonparse_strict(body, len, &o, &err)) {
	case JSONPARSE_OK:
		break;
	case JSONPARSE_INVALID:
		error_set(e, BAD_REQUEST, NULL, "body is not JSON: %s",
			  err.message);
		return NULL;
	case JSONPARSE_NOMEM:
		out_of_memory(e);
		return NULL;
	default:
		error_set(e, BAD_REQUEST, NULL, "body refused: %s",
			  err.message);
		return NULL;
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		error_set(e, BAD_REQUEST, NULL, "body must be a JSON object");
		return NULL;
	}
	return o;
}

struct cli_request *cli_request_parse(const struct cfg_tool *tool, int sse,
				      const char *body, size_t len,
				      struct error *e)
{
	json_object *o = parse_object(body, len, e);
	struct cli_request *r = NULL;

	if (o == NULL)
		return NULL;
	if ((r = cli_request_new(tool, sse)) == NULL) {
		out_of_memory(e);
		goto fail;
	}
	json_object_object_foreach(o, key, v) {
		if (take_member(r, key, v, e) < 0)
			goto fail;
	}
	if (!json_object_object_get_ex(o, "argv", NULL)) {
		error_set(e, BAD_REQUEST, "argv", "argv is required");
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

/* Each allowed directory, opened as above, by identity; one that does not
 * open matches no directory (st_ino 0). NULL: out of memory. */
static struct stat *allowed_dirs(const struct cfg_strings *allowed)
{
	struct stat *want = calloc(allowed->n, sizeof(*want));

	for (size_t i = 0; want != NULL && i < allowed->n; i++) {
		int fd = open_dir(allowed->v[i]);
		if (fd < 0 || fstat(fd, &want[i]) < 0)
			want[i].st_ino = 0;
		if (fd >= 0)
			close(fd);
	}
	return want;
}

static int is_one_of(const struct stat *st, const struct stat *want,
		     size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (want[i].st_ino != 0 && same_dir(st, &want[i]))
			return 1;
	return 0;
}

/* Whether dir is one of the allowed directories or lies below one: it
 * and its ancestors, climbed by "..", are compared with them by device
 * and inode, never by name. 1, 0, or -1 out of memory. */
static int dir_allowed(int dir, const struct cfg_strings *allowed)
{
	struct stat *want = allowed_dirs(allowed);
	struct stat st, up;
	int cur = dir, found = 0;

	if (want == NULL)
		return -1;
	if (fstat(cur, &st) < 0)
		goto out;
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		if ((found = is_one_of(&st, want, allowed->n)))
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

int cli_request_check_cwd(struct cli_request *r, struct error *e)
{
	const struct cfg_strings *allowed = &r->tool->cli.cwd_allowed;

	if (r->cwd == NULL)
		return 0;
	if (allowed->n == 0)
		return error_set(e, FORBIDDEN, "cwd", "denied by policy: "
				 "this tool takes no cwd");
	if (r->cwd[0] != '/')
		return error_set(e, FORBIDDEN, "cwd", "denied by policy: "
				 "cwd is not an absolute path");
	int fd = open_dir(r->cwd);
	if (fd < 0)
		return error_set(e, FORBIDDEN, "cwd", "%s",
				 errno == ENOTDIR || errno == ELOOP ?
					 "denied by policy: cwd is not a "
					 "directory reached without symlinks" :
					 "denied by policy: cwd does not "
					 "resolve");
	int ok = dir_allowed(fd, allowed);
	if (ok <= 0) {
		close(fd);
		return ok < 0 ? out_of_memory(e) :
				error_set(e, FORBIDDEN, "cwd", "denied by "
					  "policy: cwd is outside "
					  "cwd_allowed");
	}
	if (r->cwd_fd >= 0)
		close(r->cwd_fd);
	r->cwd_fd = fd;
	return 0;
}
