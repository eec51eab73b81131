/* mcphead — an MCP tool's request head, read on MHD's thread (server.c).
 * The Origin check and, for a request without a body to check, the
 * protocol version are decided here (policy_mcp_check_head); the MCP
 * headers are copied for the worker, which compares them with the body
 * (policy_check_mcp in bodycheck.c), so that no body is read on MHD's
 * thread. Names compare as header_name_eq() does ('-' and '_' alike, as
 * an upstream behind CGI would read them), so a header spelled both ways
 * counts twice. MHD's thread only, during the request. */
#ifndef CARAPACE_MCPHEAD_H
#define CARAPACE_MCPHEAD_H

#include <microhttpd.h>

#include "cfg.h"
#include "policy.h"

/* 0: go on (always, for a tool without an "mcp" block); -1: refused, v
 * says why (403 Origin, 400 protocol version). */
int mcphead_check(const struct cfg_tool *tool, struct MHD_Connection *c,
		  int body_checked, struct policy_verdict *v);

/* The request's Mcp-Method, Mcp-Name and MCP-Protocol-Version, copied
 * (caller frees with policy_mcp_headers_free); NULL on out of memory. */
struct policy_mcp_headers *mcphead_collect(struct MHD_Connection *c);

#endif
