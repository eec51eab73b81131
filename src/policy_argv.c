/* policy_argv — a CLI tool's argv against its rules; see policy.h
 * (policy_check_argv). */
#include "config.h"

#include "policy.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "policy_priv.h"

#define ARGV_MAX_BYTES 65536 /* a cli tool's argv, joined */

/* --- CLI argv ----------------------------------------------------------- */

/* Joins argv with single spaces into out (ARGV_MAX_BYTES + 1 bytes),
 * its length in *out_len; -1 when the result would not fit. */
static int join_argv(char *const *argv, size_t argc, char *out,
		     size_t *out_len)
{
	size_t len = 0, n;

	out[0] = '\0';
	for (size_t i = 0; i < argc; i++) {
		n = strlen(argv[i]);
		if (n + (i > 0) > ARGV_MAX_BYTES - len)
			return -1;
		if (i > 0)
			out[len++] = ' ';
		memcpy(out + len, argv[i], n);
		len += n;
	}
	out[len] = '\0';
	*out_len = len;
	return 0;
}

static const char *glob_first(const struct cfg_strings *globs,
			      const char *s)
{
	for (size_t i = 0; i < globs->n; i++)
		if (fnmatch(globs->v[i], s, 0) == 0)
			return globs->v[i];
	return NULL;
}

/* Whether arg, an argument that getopt_long may read as options, spells
 * flag ("--name" or "-x", as cfg.c checked). A long option "--x[=v]"
 * spells "--name" when x is a prefix of name, even the empty one:
 * getopt_long takes any unambiguous prefix, and whether another option
 * makes it ambiguous is the program's to know, not ours. A short option
 * spells "-x" when x is anywhere in a cluster "-abc": which letters take
 * a value (ending the cluster) we do not know either. */
static int spells_flag(const char *arg, const char *flag)
{
	if (arg[0] != '-' || arg[1] == '\0')
		return 0; /* an operand, or "-" (stdin, by custom) */
	if (arg[1] == '-') {
		size_t n = strcspn(arg + 2, "=");
		return flag[1] == '-' && n <= strlen(flag + 2) &&
		       strncmp(arg + 2, flag + 2, n) == 0;
	}
	return flag[1] != '-' && strchr(arg + 1, flag[1]) != NULL;
}

/* Whether name[=v] names the long option flag by a prefix, as
 * "--name[=v]" would. */
static int spells_long(const char *name, const char *flag)
{
	size_t n = strcspn(name, "=");

	return flag[1] == '-' && n > 0 && n <= strlen(flag + 2) &&
	       strncmp(name, flag + 2, n) == 0;
}

/* getopt_long reads "-W name" (and "-Wname") as "--name" when the short
 * options include "W;". Which programs do is not known here, so every
 * cluster holding W is read that way too (fail closed): the long name it
 * would give, or NULL. */
static const char *w_value(char *const *argv, size_t argc, size_t i)
{
	const char *arg = argv[i];
	const char *w = arg[0] == '-' && arg[1] != '-' && arg[1] != '\0' ?
				strchr(arg + 1, 'W') :
				NULL;

	if (w == NULL)
		return NULL;
	if (w[1] != '\0')
		return w + 1;
	return i + 1 < argc ? argv[i + 1] : NULL;
}

/* Whether arg is an option that may take the next argument as its value:
 * a cluster (its last letter may want one) or "--name" without "=". */
static int may_take_value(const char *arg)
{
	if (arg[0] != '-' || arg[1] == '\0')
		return 0;
	return arg[1] != '-' || strchr(arg, '=') == NULL;
}

/* The first argument spelling a flag of argv_deny_flags (its flag in
 * *flag), or NULL. A lone "--" ends the options, unless it follows an
 * option that may take it as its value: getopt_long then reads what
 * comes after as options still ("-m -- --output f" writes to f). */
static const char *denied_flag(const struct cfg_strings *flags,
			       char *const *argv, size_t argc,
			       const char **flag)
{
	for (size_t i = 0; flags->n > 0 && i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			if (i == 0 || !may_take_value(argv[i - 1]))
				break;
			continue;
		}
		const char *w = w_value(argv, argc, i);
		for (size_t j = 0; j < flags->n; j++) {
			if (spells_flag(argv[i], flags->v[j]) ||
			    (w != NULL && spells_long(w, flags->v[j]))) {
				*flag = flags->v[j];
				return argv[i];
			}
		}
	}
	return NULL;
}

int policy_check_argv(const struct cfg_tool *tool, char *const *argv,
		      size_t argc, struct policy_verdict *v)
{
	struct check c = { 0, 0, "" };
	char q[QUOTE_MAX + 1], qp[QUOTE_MAX + 1];
	char *joined = NULL;
	size_t joined_len;
	const char *pat, *arg, *flag = NULL;

	if (tool == NULL || (argv == NULL && argc > 0)) {
		set_check(&c, 500, 0, "internal error: no tool or argv");
		goto out;
	}
	for (size_t i = 0; i < argc; i++) {
		if (argv[i] == NULL) {
			set_check(&c, 400, 0, "bad request: argv has a null");
			goto out;
		}
	}
	joined = malloc(ARGV_MAX_BYTES + 1);
	if (joined == NULL) {
		set_check(&c, 500, 0, "internal error: out of memory");
		goto out;
	}
	if (join_argv(argv, argc, joined, &joined_len) < 0) {
		set_check(&c, 400, 0, "bad request: argv too long (more than "
			  "%d bytes joined)", ARGV_MAX_BYTES);
		goto out;
	}
	quote(q, joined, joined_len);
	if ((pat = glob_first(&tool->cli.argv_deny_patterns, joined)) != NULL) {
		quote(qp, pat, strlen(pat));
		set_check(&c, 403, 0,
			  "denied by policy: argv \"%s\" matches "
			  "argv_deny_patterns pattern \"%s\"",
			  q, qp);
	} else if ((arg = denied_flag(&tool->cli.argv_deny_flags, argv, argc,
				      &flag)) != NULL) {
		quote(q, arg, strlen(arg));
		quote(qp, flag, strlen(flag));
		set_check(&c, 403, 0,
			  "denied by policy: argument \"%s\" spells \"%s\" "
			  "of argv_deny_flags",
			  q, qp);
	} else if (!glob_any(&tool->cli.argv_allow_patterns, joined)) {
		set_check(&c, 403, 0,
			  "denied by policy: argv \"%s\" matches no "
			  "argv_allow_patterns pattern",
			  q);
	}
out:
	free(joined);
	to_verdict(&c, v);
	return c.status == 0 ? 0 : -1;
}
