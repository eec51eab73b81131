/* cfg_keys — the key tables' machinery, shared by cfg.c and cfg_tool.c
 * only (not part of cfg's public face).
 *
 * A table row is the whole description of a key: JSON type, bounds,
 * default, which tools it is for, where its value is stored (an offset
 * into the struct the table fills, nginx's offsetof slots) and how.  Most
 * keys need no code of their own: the walker checks the value against the
 * row and a generic setter stores it; a row names a setter only when the
 * value is more than a number, flag, string or list of strings.
 *
 * Parsing runs in one thread; the tables are static and read-only. */
#ifndef CARAPACE_CFG_KEYS_H
#define CARAPACE_CFG_KEYS_H

#include <json-c/json.h>
#include <stddef.h>

#include "cfg.h"
#include "error.h"

#define KEY_REQUIRED 0x1u
#define KEY_LATER 0x2u         /* a later feature's key: named, refused */
#define KEY_HTTP CFG_KEY_HTTP  /* a tool key for http tools only */
#define KEY_CLI CFG_KEY_CLI    /* a tool key for cli tools only */
#define KEY_SCOPE (KEY_HTTP | KEY_CLI)
#define KEY_INHERIT 0x10u      /* default: the top-level key of that name */
#define KEY_JSONRPC 0x20u      /* given at all: the tool speaks JSON-RPC */
#define KEY_NAMED 0x40u        /* sub is one level down, under names the
				* user picks ("tools.*.type") */

/* Parse state: where we are (the key path) and where errors go. */
struct ctx {
	struct error *err;
	char path[256];
	size_t path_len;
	unsigned scope; /* KEY_HTTP or KEY_CLI inside a tool, else 0 */
};

/* What lies at a key's offset, for the generic setter, the defaults and
 * cfg_release: nothing the table knows of, a number (unsigned or size_t),
 * an int 0/1, a char * (owned) or a struct cfg_strings (owned). */
enum key_store { ST_NONE, ST_UINT, ST_SIZE, ST_BOOL, ST_STR, ST_STRS };

/* What a string must be beyond a string: NULL when s is good, else why. */
typedef const char *(*str_check)(const char *s);

struct key;
/* Stores v (already checked against k) into dst, the struct k's table
 * fills; 0, or -1 with the error set. */
typedef int (*key_set)(struct ctx *c, const struct key *k, void *dst,
		       struct json_object *v);

struct key {
	const char *name;
	enum cfg_key_type type;
	unsigned flags;
	enum key_store store;
	size_t off;             /* where store says, in dst */
	long long min, max;     /* CFG_KEY_INT */
	long long dflt;         /* ST_UINT, ST_SIZE, ST_BOOL */
	key_set set;            /* NULL: the generic setter for store, or
				 * walk sub into dst */
	str_check check;        /* a string, or each string of a list */
	const struct key *sub;  /* an object's own keys */
};

/* A table ends with a row whose name is NULL. */
#define KEY_END { .name = NULL }

/* Sets c's error at the current path; returns -1. */
int key_fail(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The path: each returns the length to give back to key_path_cut(). */
size_t key_path_add(struct ctx *c, const char *name);
size_t key_path_index(struct ctx *c, size_t i);
void key_path_cut(struct ctx *c, size_t len);
void key_path_set(struct ctx *c, const char *path);

/* Each member of obj in file order, the path naming it while fn runs;
 * stops at the first -1. */
typedef int (*member_fn)(struct ctx *c, void *arg, const char *name,
			 struct json_object *v);
int key_each_member(struct ctx *c, struct json_object *obj, member_fn fn,
		    void *arg);
/* A zeroed array of one element of size bytes per member of the object
 * (or element of the array) v, for a setter to fill; NULL when v has
 * none. Use KEY_ALLOC, which also fails the walk on out of memory. */
void *key_calloc_for(struct json_object *v, size_t size);
int key_alloc_check(struct ctx *c, struct json_object *v, const void *got);
/* dst = key_calloc_for(v, ...): 0, or -1 (out of memory, said). dst is
 * owned by the config from then on and freed with it. */
#define KEY_ALLOC(c, v, dst) \
	key_alloc_check((c), (v), \
			(dst) = key_calloc_for((v), sizeof(*(dst))))

/* Each element of the array arr, the path naming it ("[i]"). */
typedef int (*element_fn)(struct ctx *c, void *arg, size_t i,
			  struct json_object *v);
int key_each_element(struct ctx *c, struct json_object *arr, element_fn fn,
		     void *arg);

/* Each member of obj by tab: checked, stored, then required keys. */
int key_walk(struct ctx *c, const struct key *tab, void *dst,
	     struct json_object *obj);
/* One member, name: v, by tab. */
int key_take(struct ctx *c, const struct key *tab, void *dst,
	     const char *name, struct json_object *v);
/* Whether v is what k says (type, bounds, string checks). */
int key_check(struct ctx *c, const struct key *k, struct json_object *v);
/* Copies the array of strings v (checked) into out (owned by out). */
int key_take_strings(struct ctx *c, struct json_object *v,
		     struct cfg_strings *out);

/* Stores the table's defaults (and its sub-tables') into dst, for the
 * keys in scope (0: every key without a scope). */
void key_defaults(const struct key *tab, unsigned scope, void *dst);
/* Frees what the table's ST_STR and ST_STRS keys hold in dst. */
void key_free(const struct key *tab, void *dst);
void key_free_strings(struct cfg_strings *s);

/* Between cfg.c and cfg_tool.c: the tool table and its entry points,
 * and inject_headers, which stays in cfg.c beside header_injectable. */
extern const struct key cfg_tool_keys[];
/* The setter of "tools": one struct cfg_tool per member of v. */
int cfg_tool_set_all(struct ctx *c, const struct key *k, void *dst,
		     struct json_object *v);
/* Frees what t holds (not t). */
void cfg_tool_free(struct cfg_tool *t);
/* Check columns both files use. */
const char *cfg_check_absolute(const char *s);
const char *cfg_check_header_name(const char *s);
int cfg_set_inject_headers(struct ctx *c, const struct key *k, void *dst,
			   struct json_object *v);

/* Between cfg.c, cfg_tool.c and cfg_listen.c: one listener, as a
 * string or an object (the setter of a tool's "listen" and of each
 * element of the top-level one), its key table, and its release. */
extern const struct key cfg_listen_keys[];
int cfg_listen_take(struct ctx *c, struct json_object *v,
		    struct cfg_listen *out);
void cfg_listen_free(struct cfg_listen *l);
/* Whether l can be reached only from this host (loopback or Unix). */
int cfg_listen_is_local(const struct cfg_listen *l);
/* "clients" and its checks against the whole file (cfg_client.c). */
extern const struct key cfg_client_keys[];
int cfg_client_set_all(struct ctx *c, const struct key *k, void *dst,
		       struct json_object *v);
int cfg_clients_check(struct ctx *c, const struct cfg *cfg);
void cfg_client_free(struct cfg_client *cl);
/* A list of uids or gids: each a number in [0, 2^32 - 2]. */
int cfg_take_ids(struct ctx *c, struct json_object *v, unsigned **out,
		 size_t *n);

#endif
