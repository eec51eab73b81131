/* mcplist — an MCP tool's answers to its client's list requests, with
 * what the tool's "mcp" block denies taken out (issue 18): the answers
 * to tools/list, prompts/list, resources/list and
 * resources/templates/list lose the entries policy_mcp_list_keeps()
 * refuses.
 *
 * Which answers: the JSON-RPC responses (no "method", a "result") whose
 * id equals the id of a list request of the client's checked body
 * (mcplist_new; ids compare as JSON values: a string to a string, a
 * number to a number, 3 equal to 3.0). An answer comes as one JSON body
 * (mcplist_filter_json: held whole) or as the messages of an event stream
 * (mcplist_feed_sse). A list answer is re-serialised by json-c and its
 * result gets "cacheScope": "private" when it had a cacheScope or its
 * request spoke protocol version 2026-07-28.
 *
 * In an event stream, while a list answer is still owed, a line that
 * is not a data: line goes on as soon as it is whole (its end tells
 * whether it is one); from an event's first data: line to the blank line
 * that ends it (the moment a client could dispatch it, and no sooner can
 * its data be read as a message) the event is held, then passed on byte
 * for byte, or, when it is a list answer, with its data: lines replaced
 * by one; every other byte (ids, retry, comments, line ends) is kept.
 * Once none is owed, bytes pass as they come.
 *
 * Fails closed: an answer or an event over MCPLIST_MAX bytes while a
 * list answer is owed, or whose JSON cannot be read, is refused (-1 and a
 * reason), never passed on unread. Bounded: at most MCPLIST_MAX bytes
 * held, the parse capped by MCPLIST_MAX_COST.
 *
 * One owner (the request's proxy worker); not thread-safe. */
#ifndef CARAPACE_MCPLIST_H
#define CARAPACE_MCPLIST_H

#include <stddef.h>

#include "cfg.h"
#include "dbuf.h"
#include "policy.h"

#define MCPLIST_MAX ((size_t)4 << 20)
/* json-c's heap for one answer of MCPLIST_MAX bytes of tool entries */
#define MCPLIST_MAX_COST ((size_t)32 << 20)

struct json_object;
struct mcplist;

/* Whether methods (a json-c array of method names, policy_calls) holds a
 * list method: only then is the body read again for ids. */
int mcplist_wanted(struct json_object *methods);

/* The list requests of body (the checked body as it goes upstream) of a
 * request to tool (a reference to its config is held) with headers h
 * (may be NULL): 0 and *out, the filter (NULL when the body holds no
 * list request with an id), or -1 on out of memory or a body that does
 * not parse. tool_name (as requested) is copied for refusals. */
int mcplist_new(const struct cfg_tool *tool, const char *tool_name,
		const struct policy_mcp_headers *h, const char *body,
		size_t len, struct mcplist **out);
void mcplist_free(struct mcplist *l);
/* The tool's name as the client asked for it (borrowed). */
const char *mcplist_tool_name(const struct mcplist *l);
/* How many list answers are still owed. */
size_t mcplist_owed(const struct mcplist *l);

/* A whole JSON answer (body[0..len)): 1 and *out (caller frees, *out_len
 * its length) the filtered answer; 0: it holds no list answer, pass body
 * as it is; -1 refused, why says so (over MCPLIST_MAX, not JSON, out of
 * memory). */
int mcplist_filter_json(struct mcplist *l, const char *body, size_t len,
			char **out, size_t *out_len, char *why,
			size_t why_len);

/* The next bytes of an event stream: what may go to the client now is
 * appended to out. 0, or -1 refused (why): the stream must end. */
int mcplist_feed_sse(struct mcplist *l, const char *bytes, size_t len,
		     struct dbuf *out, char *why, size_t why_len);
/* The stream ended: an event still held (no blank line came) goes out
 * as any other would, or, when it cannot be read, not at all (a client
 * dispatches no unfinished event). */
void mcplist_finish_sse(struct mcplist *l, struct dbuf *out);

#endif
