/* cli_request — what a client asks a CLI tool to run, parsed and checked
 * before anything is started: the body of POST /tools/<cli-tool> and the
 * cwd rule. No daemon needed: no threads, no global state; a request has
 * one owner at a time (the server, then cli_start's worker).
 *
 * Every failure fills a struct error (error.h): status 400 for a body
 * that is not a request, 403 for a cwd the policy refuses, 500 when
 * memory ran out; msg is what the client and the audit log are told. */
#ifndef CARAPACE_CLI_REQUEST_H
#define CARAPACE_CLI_REQUEST_H

#include <stddef.h>

#include "cfg.h"
#include "error.h"

/* Read by cli.c's worker; set only through the functions below. */
struct cli_request {
	const struct cfg_tool *tool;
	int sse;            /* the client accepts text/event-stream */
	char **argv;        /* [0] is a slot for exec; NULL-terminated */
	size_t argc;        /* arguments after argv[0] */
	char *stdin_data;   /* owned; may be NULL */
	size_t stdin_len;
	char *cwd;          /* as the client gave it; owned; NULL: none */
	int cwd_fd;         /* the checked directory; owned; -1: none */
};

/* tool is borrowed; the request holds a reference to its config
 * (tool->owner, when it has one) until it is freed. NULL: out of
 * memory. */
struct cli_request *cli_request_new(const struct cfg_tool *tool, int sse);
/* Copies; argv without argv[0]. 0 or -1 (out of memory). */
int cli_request_add_arg(struct cli_request *r, const char *arg);
/* Takes ownership of data (malloc'd). */
void cli_request_set_stdin(struct cli_request *r, char *data, size_t len);
/* Copies; NULL: "/". 0 or -1 (out of memory). */
int cli_request_set_cwd(struct cli_request *r, const char *cwd);
/* NULL is a no-op. */
void cli_request_free(struct cli_request *r);
/* The arguments, for the policy check; borrowed. */
char *const *cli_request_argv(const struct cli_request *r, size_t *argc);

/* The body of POST /tools/<cli-tool>: {"argv":[..],"stdin":"..","cwd":".."}
 * (strict JSON; argv strings without NUL; stdin and cwd optional; no other
 * keys). A new request (caller frees), or NULL with e set: 400, e->key
 * the member at fault when there is one; 500 out of memory. */
struct cli_request *cli_request_parse(const struct cfg_tool *tool, int sse,
				      const char *body, size_t len,
				      struct error *e);

/* Opens the requested cwd, an absolute path, one component at a time
 * without following any symlink (one in the path refuses it), and checks
 * that the directory opened is one of the tool's cwd_allowed or lies below
 * one, by identity (device and inode), not by name. 0: the request holds
 * that directory open, and the child is started in it (fchdir), so what
 * was checked is what is used. -1: refused, e says why (403; 500 out of
 * memory). A request without a cwd passes (it runs in "/"), and so does
 * one whose cwd is never checked: cli_start() uses only a checked
 * directory. */
int cli_request_check_cwd(struct cli_request *r, struct error *e);

#endif
