/* mcphead — see mcphead.h. */
#include "config.h"

#include "mcphead.h"

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "header.h"

enum { H_ORIGIN, H_VERSION, H_METHOD, H_NAME, H_COUNT };

static const char *const names[H_COUNT] = {
	"Origin", "MCP-Protocol-Version", "Mcp-Method", "Mcp-Name",
};

struct seen {
	const char *value[H_COUNT]; /* the first of each; MHD's */
	unsigned n[H_COUNT];
};

static enum MHD_Result note(void *cls, enum MHD_ValueKind kind,
			    const char *name, const char *value)
{
	struct seen *s = cls;
	(void)kind;

	for (int i = 0; i < H_COUNT; i++) {
		if (!header_name_eq(name, names[i]))
			continue;
		if (s->n[i]++ == 0)
			s->value[i] = value != NULL ? value : "";
	}
	return MHD_YES;
}

static void read_head(struct MHD_Connection *c, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	MHD_get_connection_values(c, MHD_HEADER_KIND, note, s);
}

int mcphead_check(const struct cfg_tool *tool, struct MHD_Connection *c,
		  int body_checked, struct policy_verdict *v)
{
	struct seen s;

	v->status = 0;
	v->reason[0] = '\0';
	if (tool == NULL || !tool->http.has_mcp)
		return 0;
	read_head(c, &s);
	/* with a body, the worker refuses it as a mismatch (-32020) */
	if (s.n[H_VERSION] > 1 && !body_checked) {
		v->status = MHD_HTTP_BAD_REQUEST;
		snprintf(v->reason, sizeof(v->reason), "%s",
			 "bad request: more than one MCP-Protocol-Version "
			 "header");
		return -1;
	}
	return policy_mcp_check_head(tool, s.value[H_ORIGIN], s.n[H_ORIGIN],
				     s.value[H_VERSION], body_checked, v);
}

static int copy(char **dst, const char *value)
{
	if (value == NULL)
		return 0;
	*dst = strdup(value);
	return *dst != NULL ? 0 : -1;
}

struct policy_mcp_headers *mcphead_collect(struct MHD_Connection *c)
{
	struct policy_mcp_headers *h = calloc(1, sizeof(*h));
	struct seen s;

	if (h == NULL)
		return NULL;
	read_head(c, &s);
	h->repeated = s.n[H_VERSION] > 1 || s.n[H_METHOD] > 1 ||
		      s.n[H_NAME] > 1;
	if (copy(&h->method, s.value[H_METHOD]) < 0 ||
	    copy(&h->name, s.value[H_NAME]) < 0 ||
	    copy(&h->version, s.value[H_VERSION]) < 0) {
		policy_mcp_headers_free(h);
		return NULL;
	}
	return h;
}
