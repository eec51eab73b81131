/* Tests for src/cfg.c: a table of documents with the error each must give,
 * then successful parses field by field, tool lookup and files (addresses
 * are tests/test_addr.c's). */
#include "config.h"

#include "cfg.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cu_run.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MIB4 ((size_t)4 << 20)

/* Documents are built from these so each case shows only what it varies.
 * TOP: tool "t" with a listener of its own; extra adds top-level keys. */
#define TOOL_T \
	"\"t\":{\"type\":\"http\",\"upstream\":\"http://h\"," \
	"\"listen\":\"127.0.0.1:9000\"}"
#define TOP(extra) "{\"tools\":{" TOOL_T "}" extra "}"
/* TOOL: a top-level listener and tool "t" made of members. */
#define TOOL(members) \
	"{\"listen\":[\"127.0.0.1:8765\"],\"tools\":{\"t\":{" members "}}}"
#define HTTP(more) TOOL("\"type\":\"http\",\"upstream\":\"http://h\"" more)
#define UPSTREAM(u) TOOL("\"type\":\"http\",\"upstream\":\"" u "\"")
#define NAMED(name) \
	"{\"listen\":[\"127.0.0.1:1\"],\"tools\":{\"" name "\":" \
	"{\"type\":\"http\",\"upstream\":\"http://h\"}}}"
#define FILTERS(members) HTTP(",\"jsonrpc_param_filters\":{" members "}")
#define PALLOW(members) HTTP(",\"jsonrpc_param_allow\":{" members "}")
/* a filter that passes the parser */
#define FOK "{\"field\":\"a\",\"deny_patterns\":[\"x\"]}"
#define HEADERS(members) HTTP(",\"inject_headers\":{" members "}")
#define RATE(members) HTTP(",\"rate_limit\":{" members "}")
/* CLI: a cli tool "t" running /bin/true, plus members. */
#define CLI(more) TOOL("\"type\":\"cli\",\"binary\":\"/bin/true\"" more)
#define ENV(members) CLI(",\"env_inject\":{" members "}")
#define ENV64 \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789_"
#define NAME64 \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"

/* clients: tools t and u; listeners on loopback, a unix socket and a
 * mutual-TLS address, so every credential can be presented. */
#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H64B "1123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
#define CLIENTS(members) \
	"{\"listen\":[\"127.0.0.1:8765\",\"unix:/run/c.sock\"," \
	"{\"address\":\"0.0.0.0:8443\",\"tls_cert\":\"/c\",\"tls_key\":\"/k\"," \
	"\"tls_client_ca\":\"/ca\"}],\"tools\":{" \
	"\"t\":{\"type\":\"http\",\"upstream\":\"http://h\"}," \
	"\"u\":{\"type\":\"http\",\"upstream\":\"http://h\"}}," \
	"\"clients\":{" members "}}"
#define CLIENT(name, members) \
	CLIENTS("\"" name "\":{\"tools\":[\"t\"]," members "}")
/* LISTEN: a top-level listen list and tool t; more adds top-level keys */
#define LISTEN(list, more) \
	"{\"listen\":[" list "],\"tools\":{\"t\":{\"type\":\"http\"," \
	"\"upstream\":\"http://h\"}}" more "}"
#define ADMTOK ",\"admin_token_sha256\":\"" H64 "\""

static int temp_file(char *path, size_t size, const char *data,
		     size_t len);

struct parse_case {
	const char *name;
	const char *json;
	int expect_ok;
	const char *path;    /* exact */
	const char *message; /* substring */
};

/* 120 bytes: more than a unix socket address holds (108) */
#define LONG_PATH "0123456789012345678901234567890123456789" \
	"0123456789012345678901234567890123456789" \
	"0123456789012345678901234567890123456789"

static const struct parse_case cases[] = {
	/* whole file */
	{ "syntax error", "{\"tools\" 1}", 0, "", "line 1, column 10: " },
	{ "syntax error on line 3", "{\n  \"tools\":\n  tru}", 0, "",
	  "line 3, column 6: " },
	{ "empty text", "", 0, "", "line 1, column 1: " },
	{ "only a comment", "// nothing\n", 0, "", "line 2, column 1: " },
	{ "truncated", "{\"tools\":{", 0, "", "line 1, column 11: " },
	{ "unterminated string", "{\"tools\":\"ab", 0, "", "line 1" },
	{ "text after the object", TOP("") " x", 0, "",
	  "unexpected text after the top-level value" },
	{ "second object", TOP("") "\n{}", 0, "",
	  "line 2, column 1: unexpected text" },
	{ "text after a trailing comment", TOP("") " /* c */ x", 0, "",
	  "unexpected text" },
	{ "unterminated comment at the end", TOP("") " /* c", 0, "",
	  "line 1, column 85: unexpected end of input" },
	{ "unterminated comment inside",
	  "{\"x\":" TOP("") " /* }", 0, "", "unexpected end of input" },
	{ "line comment eats the brace", "{\"tools\":{} // }", 0, "",
	  "unexpected end of input" },
	{ "line comment at the very end", TOP("") "\n// end", 1, NULL, NULL },
	{ "trailing comments and blanks",
	  TOP("") " // end\n /* more */ \r\n\t", 1, NULL, NULL },
	{ "comments inside",
	  "/* head */ {\n // line comment\n \"listen\": [\"127.0.0.1:1\"],"
	  " /* inline */\n \"tools\": {\"t\": {\"type\": \"http\", // why\n"
	  " \"upstream\": \"http://h\"}}\n}\n// tail\n",
	  1, NULL, NULL },
	{ "invalid utf-8", "{\"tools\":\"\xff\"}", 0, "", "utf-8" },
	{ "nesting too deep",
	  "{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]"
	  "]]]]]]]]]]]]]]]]]]]]}",
	  0, "", "line 1" },
	{ "top level array", "[]", 0, "", "top level must be an object" },
	{ "top level number", "42", 0, "", "top level must be an object" },
	{ "top level string", "\"x\"", 0, "", "top level must be an object" },
	{ "top level null", "null", 0, "", "top level must be an object" },

	/* top-level keys */
	{ "unknown key", TOP(",\"lisen\":[]"), 0, "lisen", "unknown key" },
	{ "control bytes in a key are not echoed",
	  TOP(",\"a\\u001b[1m\":1"), 0, "a?[1m", "unknown key" },
	{ "admin_listen loopback",
	  TOP(",\"admin_listen\":\"127.0.0.1:1\"" ADMTOK),
	  1, NULL, NULL },
	{ "admin_listen loopback v6",
	  TOP(",\"admin_listen\":\"[::1]:1\"" ADMTOK),
	  1, NULL, NULL },
	{ "admin_listen 127.9.9.9",
	  TOP(",\"admin_listen\":\"127.9.9.9:1\"" ADMTOK),
	  1, NULL, NULL },
	{ "admin_listen unix", TOP(",\"admin_listen\":\"unix:/run/a.sock\""),
	  1, NULL, NULL },
	{ "admin_listen not loopback",
	  TOP(",\"admin_listen\":\"0.0.0.0:8766\""), 0, "admin_listen",
	  "must be a loopback address" },
	{ "admin_listen not loopback v6",
	  TOP(",\"admin_listen\":\"[::]:8766\""), 0, "admin_listen",
	  "must be a loopback address" },
	{ "admin_listen relative unix",
	  TOP(",\"admin_listen\":\"unix:run/a.sock\""), 0, "admin_listen",
	  "must be absolute" },
	{ "admin_listen unix too long",
	  TOP(",\"admin_listen\":\"unix:/" LONG_PATH "\""), 0,
	  "admin_listen", "too long" },
	{ "admin_listen junk", TOP(",\"admin_listen\":\"localhost:1\""), 0,
	  "admin_listen", "numeric" },
	{ "admin_listen same as listen",
	  "{\"listen\":[\"127.0.0.1:1\"],\"admin_listen\":\"127.0.0.1:1\","
	  "\"tools\":{\"t\":{\"type\":\"http\",\"upstream\":\"http://h\"}}}",
	  0, "admin_listen", "address already used by listen[0]" },
	{ "admin_listen is not a tool listener",
	  "{\"admin_listen\":\"127.0.0.1:1\","
	  "\"tools\":{\"t\":{\"type\":\"http\",\"upstream\":\"http://h\"}}}",
	  0, "listen", "no listener" },
	{ "audit_log", TOP(",\"audit_log\":\"/tmp/a\""), 1, NULL, NULL },
	{ "run_tools_as_root", TOP(",\"run_tools_as_root\":true"), 1, NULL,
	  NULL },
	{ "run_tools_as_root not a boolean",
	  TOP(",\"run_tools_as_root\":\"yes\""), 0, "run_tools_as_root",
	  "expected true or false" },
	{ "audit_log relative", TOP(",\"audit_log\":\"a.log\""), 0,
	  "audit_log", "not an absolute path" },
	{ "audit_log not a string", TOP(",\"audit_log\":1"), 0, "audit_log",
	  "expected a string" },
	{ "clients empty: every request is refused",
	  TOP(",\"clients\":{}"), 1, NULL, NULL },
	{ "clients: every key",
	  CLIENTS("\"vm1\":{\"token_sha256\":\"" H64 "\","
		  "\"allow_from\":[\"100.64.0.0/10\",\"fd00::/8\"],"
		  "\"tools\":[\"t\",\"u\"],\"rate_limit\":{\"max_requests\":"
		  "600,\"window_secs\":60}},"
		  "\"signal\":{\"allow_from\":[\"10.0.0.5/32\"],"
		  "\"tools\":[\"t\"]},"
		  "\"box\":{\"unix_peer_uids\":[1000],"
		  "\"unix_peer_gids\":[1000],\"tools\":[\"u\"]},"
		  "\"remote\":{\"tls_client_cn\":\"agent-7.example\","
		  "\"allow_from\":[\"192.0.2.0/24\"],\"tools\":[\"t\"]}"),
	  1, NULL, NULL },
	{ "clients not an object", TOP(",\"clients\":[]"), 0, "clients",
	  "expected an object" },
	{ "client not an object", CLIENTS("\"a\":1"), 0, "clients.a",
	  "expected an object" },
	{ "client unknown key", CLIENT("a", "\"token\":\"x\""), 0,
	  "clients.a.token", "unknown key" },
	{ "client name with a colon",
	  CLIENTS("\"a:b\":{\"token_sha256\":\"" H64 "\",\"tools\":[\"t\"]}"),
	  0, "clients.a:b", "a client's name is 1 to 64" },
	{ "client name with a space",
	  CLIENTS("\"a b\":{\"token_sha256\":\"" H64 "\",\"tools\":[\"t\"]}"),
	  0, "clients.a b", "a client's name is 1 to 64" },
	{ "client name empty",
	  CLIENTS("\"\":{\"token_sha256\":\"" H64 "\",\"tools\":[\"t\"]}"),
	  0, "clients.", "a client's name is 1 to 64" },
	{ "token_sha256 not hex",
	  CLIENT("a", "\"token_sha256\":\"" "z123456789abcdef0123456789abcdef"
		 "0123456789abcdef0123456789abcdef" "\""),
	  0, "clients.a.token_sha256", "expected 64 hex digits" },
	{ "token_sha256 too short",
	  CLIENT("a", "\"token_sha256\":\"0123456789abcdef\""), 0,
	  "clients.a.token_sha256", "expected 64 hex digits" },
	{ "token_sha256 too long",
	  CLIENT("a", "\"token_sha256\":\"" H64 "0\""), 0,
	  "clients.a.token_sha256", "expected 64 hex digits" },
	{ "token_sha256 upper case", CLIENT("a", "\"token_sha256\":\"" H64B
					    "\""), 1, NULL, NULL },
	{ "allow_from bad address",
	  CLIENT("a", "\"allow_from\":[\"10.0.0.300/8\"]"), 0,
	  "clients.a.allow_from[0]", "not an address or network" },
	{ "allow_from host bits set",
	  CLIENT("a", "\"allow_from\":[\"10.0.0.1/8\"]"), 0,
	  "clients.a.allow_from[0]", "address bits set past the prefix" },
	{ "allow_from IPv4-mapped",
	  CLIENT("a", "\"allow_from\":[\"::ffff:10.0.0.0/104\"]"), 0,
	  "clients.a.allow_from[0]", "write it as IPv4" },
	{ "allow_from host bits set v6",
	  CLIENT("a", "\"allow_from\":[\"fd00::1/64\"]"), 0,
	  "clients.a.allow_from[0]", "address bits set past the prefix" },
	{ "allow_from prefix too long",
	  CLIENT("a", "\"allow_from\":[\"10.0.0.0/33\"]"), 0,
	  "clients.a.allow_from[0]", "bad prefix length" },
	{ "allow_from prefix not a number",
	  CLIENT("a", "\"allow_from\":[\"10.0.0.0/x\"]"), 0,
	  "clients.a.allow_from[0]", "bad prefix length" },
	{ "allow_from a single address",
	  CLIENT("a", "\"allow_from\":[\"10.0.0.1\",\"::1\"]"), 1, NULL,
	  NULL },
	{ "allow_from /0", CLIENT("a", "\"allow_from\":[\"0.0.0.0/0\"]"), 1,
	  NULL, NULL },
	{ "allow_from empty", CLIENT("a", "\"allow_from\":[]"), 0,
	  "clients.a.allow_from", "an empty list allows no address" },
	{ "unix_peer_uids empty", CLIENT("a", "\"unix_peer_uids\":[]"), 0,
	  "clients.a.unix_peer_uids", "empty" },
	{ "unix_peer_uids not numbers",
	  CLIENT("a", "\"unix_peer_uids\":[\"root\"]"), 0,
	  "clients.a.unix_peer_uids[0]", "expected a uid or gid" },
	{ "unix_peer_gids negative", CLIENT("a", "\"unix_peer_gids\":[-1]"),
	  0, "clients.a.unix_peer_gids[0]", "expected a uid or gid" },
	/* a client parked: it is known, and may use no tool (403) */
	{ "client tools empty",
	  CLIENTS("\"a\":{\"token_sha256\":\"" H64 "\",\"tools\":[]}"), 1,
	  NULL, NULL },
	{ "client tools missing",
	  CLIENTS("\"a\":{\"token_sha256\":\"" H64 "\"}"), 0,
	  "clients.a.tools", "missing required key" },
	{ "client unknown tool",
	  CLIENTS("\"a\":{\"token_sha256\":\"" H64 "\",\"tools\":[\"zz\"]}"),
	  0, "clients.a", "tools: no tool named \"zz\"" },
	{ "client without a credential", CLIENTS("\"a\":{\"tools\":[\"t\"]}"),
	  0, "clients.a", "no credential" },
	{ "client unix peer and allow_from",
	  CLIENT("a", "\"unix_peer_uids\":[1],\"allow_from\":[\"10.0.0.0/8\"]"),
	  0, "clients.a", "can never match" },
	{ "client unix peer and certificate",
	  CLIENT("a", "\"unix_peer_uids\":[1],\"tls_client_cn\":\"x\""), 0,
	  "clients.a", "can never match" },
	{ "client unix peer without a unix listener",
	  "{\"listen\":[\"127.0.0.1:1\"],\"tools\":{\"t\":{\"type\":\"http\","
	  "\"upstream\":\"http://h\"}},\"clients\":{\"a\":{"
	  "\"unix_peer_uids\":[1],\"tools\":[\"t\"]}}}",
	  0, "clients.a", "need a unix:/path listener" },
	{ "client certificate without tls_client_ca",
	  "{\"listen\":[\"127.0.0.1:1\"],\"tools\":{\"t\":{\"type\":\"http\","
	  "\"upstream\":\"http://h\"}},\"clients\":{\"a\":{"
	  "\"tls_client_cn\":\"x\",\"tools\":[\"t\"]}}}",
	  0, "clients.a", "needs a listener with tls_client_ca" },
	{ "client rate_limit 0",
	  CLIENT("a", "\"token_sha256\":\"" H64 "\",\"rate_limit\":"
		 "{\"max_requests\":0,\"window_secs\":1}"),
	  0, "clients.a.rate_limit.max_requests", "out of range" },
	{ "client rate_limit without window",
	  CLIENT("a", "\"token_sha256\":\"" H64 "\",\"rate_limit\":"
		 "{\"max_requests\":1}"),
	  0, "clients.a.rate_limit.window_secs", "missing required key" },
	{ "two clients, one token",
	  CLIENTS("\"a\":{\"token_sha256\":\"" H64 "\",\"tools\":[\"t\"]},"
		  "\"b\":{\"token_sha256\":\"" H64 "\",\"tools\":[\"u\"]}"),
	  0, "clients.b", "a request could be both this client and \"a\"" },
	{ "two clients, one token in either case",
	  CLIENTS("\"a\":{\"token_sha256\":\"" H64 "\",\"tools\":[\"t\"]},"
		  "\"b\":{\"token_sha256\":\"0123456789ABCDEF0123456789abcdef"
		  "0123456789abcdef0123456789abcdef\",\"tools\":[\"u\"]}"),
	  0, "clients.b", "a request could be both" },
	{ "two clients, one token, networks apart",
	  CLIENTS("\"a\":{\"token_sha256\":\"" H64 "\",\"allow_from\":"
		  "[\"10.0.0.0/8\"],\"tools\":[\"t\"]},"
		  "\"b\":{\"token_sha256\":\"" H64 "\",\"allow_from\":"
		  "[\"192.168.0.0/16\"],\"tools\":[\"u\"]}"),
	  1, NULL, NULL },
	{ "two address-only clients overlapping",
	  CLIENTS("\"a\":{\"allow_from\":[\"10.0.0.0/8\"],\"tools\":[\"t\"]},"
		  "\"b\":{\"allow_from\":[\"10.1.0.0/16\"],\"tools\":[\"u\"]}"),
	  0, "clients.b", "a request could be both" },
	{ "address-only and token clients on one network",
	  CLIENTS("\"a\":{\"allow_from\":[\"10.0.0.0/8\"],\"tools\":[\"t\"]},"
		  "\"b\":{\"token_sha256\":\"" H64 "\",\"allow_from\":"
		  "[\"10.0.0.0/8\"],\"tools\":[\"u\"]}"),
	  1, NULL, NULL },
	{ "a uid client and a gid client",
	  CLIENTS("\"a\":{\"unix_peer_uids\":[1000],\"tools\":[\"t\"]},"
		  "\"b\":{\"unix_peer_gids\":[100],\"tools\":[\"u\"]}"),
	  0, "clients.b", "a request could be both" },
	{ "two uid clients apart",
	  CLIENTS("\"a\":{\"unix_peer_uids\":[1000],\"tools\":[\"t\"]},"
		  "\"b\":{\"unix_peer_uids\":[1001],\"tools\":[\"u\"]}"),
	  1, NULL, NULL },
	{ "two certificate clients, one name",
	  CLIENTS("\"a\":{\"tls_client_cn\":\"x\",\"tools\":[\"t\"]},"
		  "\"b\":{\"tls_client_cn\":\"x\",\"tools\":[\"u\"]}"),
	  0, "clients.b", "a request could be both" },
	{ "revoked_clients_file relative",
	  TOP(",\"revoked_clients_file\":\"revoked\""), 0,
	  "revoked_clients_file", "not an absolute path" },

	/* listen objects */
	{ "listen object",
	  LISTEN("{\"address\":\"127.0.0.1:8443\",\"tls_cert\":\"/c\","
		 "\"tls_key\":\"/k\",\"tls_client_ca\":\"/ca\"}", ""),
	  1, NULL, NULL },
	{ "listen object unix",
	  LISTEN("{\"address\":\"unix:/run/a.sock\",\"unix_mode\":\"0600\","
		 "\"unix_group\":\"carapace\"}", ""),
	  1, NULL, NULL },
	{ "listen object without address",
	  LISTEN("{\"tls_cert\":\"/c\",\"tls_key\":\"/k\"}", ""), 0,
	  "listen[0].address", "missing required key" },
	{ "listen object unknown key",
	  LISTEN("{\"address\":\"127.0.0.1:1\",\"tls\":true}", ""), 0,
	  "listen[0].tls", "unknown key" },
	{ "tls_cert without tls_key",
	  LISTEN("{\"address\":\"127.0.0.1:1\",\"tls_cert\":\"/c\"}", ""), 0,
	  "listen[0]", "tls_cert and tls_key go together" },
	{ "tls_key without tls_cert",
	  LISTEN("{\"address\":\"127.0.0.1:1\",\"tls_key\":\"/k\"}", ""), 0,
	  "listen[0]", "tls_cert and tls_key go together" },
	{ "tls_client_ca without a certificate",
	  LISTEN("{\"address\":\"127.0.0.1:1\",\"tls_client_ca\":\"/ca\"}",
		 ""),
	  0, "listen[0]", "tls_client_ca needs tls_cert and tls_key" },
	{ "tls_cert relative",
	  LISTEN("{\"address\":\"127.0.0.1:1\",\"tls_cert\":\"c.pem\","
		 "\"tls_key\":\"/k\"}", ""),
	  0, "listen[0].tls_cert", "not an absolute path" },
	{ "unix_mode not octal",
	  LISTEN("{\"address\":\"unix:/run/a.sock\",\"unix_mode\":\"0998\"}",
		 ""),
	  0, "listen[0].unix_mode", "expected an octal mode" },
	{ "unix_mode too large",
	  LISTEN("{\"address\":\"unix:/run/a.sock\",\"unix_mode\":\"01777\"}",
		 ""),
	  0, "listen[0].unix_mode", "expected an octal mode" },
	{ "unix_mode a number",
	  LISTEN("{\"address\":\"unix:/run/a.sock\",\"unix_mode\":432}", ""),
	  0, "listen[0].unix_mode", "expected a string" },
	{ "unix_mode on TCP",
	  LISTEN("{\"address\":\"127.0.0.1:1\",\"unix_mode\":\"0600\"}", ""),
	  0, "listen[0]", "unix_mode and unix_group are for unix:/path" },
	{ "unix_group on TCP",
	  LISTEN("{\"address\":\"127.0.0.1:1\",\"unix_group\":\"g\"}", ""), 0,
	  "listen[0]", "unix_mode and unix_group are for unix:/path" },
	{ "tls on unix",
	  LISTEN("{\"address\":\"unix:/run/a.sock\",\"tls_cert\":\"/c\","
		 "\"tls_key\":\"/k\"}", ""),
	  0, "listen[0]", "TLS is for TCP listeners" },
	{ "unix listener relative",
	  LISTEN("\"unix:run/a.sock\"", ""), 0, "listen[0]",
	  "must be absolute" },

	/* who may reach a listener without clients */
	{ "0.0.0.0 without clients", LISTEN("\"0.0.0.0:8765\"", ""), 0,
	  "listen[0]", "reachable from other hosts and no \"clients\"" },
	{ "[::] without clients", LISTEN("\"[::]:8765\"", ""), 0, "listen[0]",
	  "allow_unauthenticated" },
	{ "tool listener 10.0.0.1 without clients",
	  "{\"tools\":{\"t\":{\"type\":\"http\",\"upstream\":\"http://h\","
	  "\"listen\":\"10.0.0.1:9\"}}}",
	  0, "tools.t.listen", "reachable from other hosts" },
	{ "0.0.0.0 with allow_unauthenticated",
	  LISTEN("\"0.0.0.0:8765\"", ",\"allow_unauthenticated\":true"), 1,
	  NULL, NULL },
	{ "0.0.0.0 with clients",
	  LISTEN("\"0.0.0.0:8765\"", ",\"clients\":{}"), 1, NULL, NULL },
	{ "loopback and unix without clients",
	  LISTEN("\"127.0.0.1:1\",\"unix:/run/a.sock\"", ""), 1, NULL, NULL },

	/* the admin API's own credentials */
	{ "TCP admin_listen without a token",
	  TOP(",\"admin_listen\":\"127.0.0.1:1\""), 0, "admin_listen",
	  "a TCP admin listener needs admin_token_sha256" },
	{ "unix admin_listen without a token",
	  TOP(",\"admin_listen\":\"unix:/run/a.sock\""), 1, NULL, NULL },
	{ "admin_token_sha256 bad hex",
	  TOP(",\"admin_listen\":\"127.0.0.1:1\",\"admin_token_sha256\":"
	      "\"xyz\""),
	  0, "admin_token_sha256", "hex" },
	{ "admin_peer_uids with a unix admin_listen",
	  TOP(",\"admin_listen\":\"unix:/run/a.sock\","
	      "\"admin_peer_uids\":[0,1000]"),
	  1, NULL, NULL },
	{ "admin_peer_uids with a TCP admin_listen",
	  TOP(",\"admin_listen\":\"127.0.0.1:1\"" ADMTOK
	      ",\"admin_peer_uids\":[0]"),
	  0, "admin_peer_uids", "for a unix:/path admin_listen" },
	{ "admin_peer_uids without admin_listen",
	  TOP(",\"admin_peer_uids\":[0]"), 0, "admin_peer_uids",
	  "for a unix:/path admin_listen" },
	{ "listen not an array", TOP(",\"listen\":\"127.0.0.1:1\""), 0,
	  "listen", "expected an array" },
	{ "listen element not a string",
	  TOP(",\"listen\":[\"127.0.0.1:1\",5]"), 0,
	  "listen[1]", "expected an address string or an object" },
	{ "listen element with NUL",
	  TOP(",\"listen\":[\"127.0.0.1:1\\u0000\"]"), 0, "listen[0]", "NUL" },
	{ "listen host name",
	  TOP(",\"listen\":[\"127.0.0.1:1\",\"localhost:80\"]"), 0,
	  "listen[1]", "host must be a numeric IPv4 or [IPv6] address" },
	{ "listen without port", TOP(",\"listen\":[\"127.0.0.1\"]"), 0,
	  "listen[0]", "expected HOST:PORT" },
	{ "listen port 0", TOP(",\"listen\":[\"127.0.0.1:0\"]"), 0,
	  "listen[0]", "port must be 1..65535" },
	{ "max_body_bytes string", TOP(",\"max_body_bytes\":\"10\""), 0,
	  "max_body_bytes", "expected an integer" },
	{ "max_body_bytes fraction", TOP(",\"max_body_bytes\":1.5"), 0,
	  "max_body_bytes", "expected an integer" },
	{ "max_body_bytes exponent", TOP(",\"max_body_bytes\":1e3"), 0,
	  "max_body_bytes", "expected an integer" },
	{ "max_body_bytes boolean", TOP(",\"max_body_bytes\":true"), 0,
	  "max_body_bytes", "expected an integer" },
	{ "max_body_bytes null", TOP(",\"max_body_bytes\":null"), 0,
	  "max_body_bytes", "expected an integer" },
	{ "max_body_bytes 0", TOP(",\"max_body_bytes\":0"), 0,
	  "max_body_bytes", "out of range (1..1073741824)" },
	{ "max_body_bytes negative", TOP(",\"max_body_bytes\":-1"), 0,
	  "max_body_bytes", "out of range (1..1073741824)" },
	{ "max_body_bytes above max", TOP(",\"max_body_bytes\":1073741825"), 0,
	  "max_body_bytes", "out of range (1..1073741824)" },
	{ "max_body_bytes beyond int64",
	  TOP(",\"max_body_bytes\":99999999999999999999"), 0,
	  "max_body_bytes", "out of range (1..1073741824)" },
	{ "max_body_bytes below int64",
	  TOP(",\"max_body_bytes\":-99999999999999999999"), 0,
	  "max_body_bytes", "out of range (1..1073741824)" },
	{ "tools missing", "{\"listen\":[\"127.0.0.1:1\"]}", 0, "tools",
	  "missing required key" },
	{ "tools not an object", "{\"tools\":[]}", 0, "tools",
	  "expected an object" },
	{ "no tool: valid, every tool path is 404",
	  "{\"listen\":[\"127.0.0.1:1\"],\"tools\":{}}", 1, NULL, NULL },
	{ "no listener", "{\"tools\":{\"t\":{\"type\":\"http\","
	  "\"upstream\":\"http://h\"}}}",
	  0, "listen", "no listener: set listen or a tool's listen" },
	{ "empty listen, no tool listener", "{\"listen\":[],\"tools\":{\"t\":"
	  "{\"type\":\"http\",\"upstream\":\"http://h\"}}}",
	  0, "listen", "no listener" },
	{ "first error wins", TOP(",\"foo\":1,\"max_body_bytes\":0"), 0, "foo",
	  "unknown key" },
	{ "first error wins across levels",
	  "{\"max_body_bytes\":0,\"tools\":{\"t\":{\"type\":\"ftp\"}}}", 0,
	  "max_body_bytes", "out of range" },

	/* listeners in conflict */
	{ "same address twice in listen",
	  TOP(",\"listen\":[\"127.0.0.1:1\",\"127.0.0.1:1\"]"), 0, "listen[1]",
	  "address already used by listen[0]" },
	{ "tool listener on a main one",
	  TOP(",\"listen\":[\"127.0.0.1:9000\"]"), 0,
	  "tools.t.listen", "address already used by listen[0]" },
	{ "two tools on one address",
	  "{\"tools\":{\"a\":{\"type\":\"http\",\"upstream\":\"http://h\","
	  "\"listen\":\"10.0.0.1:5\"},\"b\":{\"type\":\"http\",\"upstream\":"
	  "\"http://h\",\"listen\":\"10.0.0.1:5\"}}}",
	  0, "tools.b.listen", "address already used by tools.a.listen" },
	{ "one IPv6 address spelt twice",
	  TOP(",\"listen\":[\"[::1]:1\",\"[0:0::1]:1\"]"), 0, "listen[1]",
	  "address already used by listen[0]" },
	{ "same host, other port", TOP(",\"listen\":[\"127.0.0.1:1\","
	  "\"127.0.0.1:2\"]"), 1, NULL, NULL },
	{ "IPv4 and IPv6 on one port", TOP(",\"listen\":[\"127.0.0.1:1\","
	  "\"[::1]:1\"]"), 1, NULL, NULL },

	/* tool names */
	{ "empty tool name", NAMED(""), 0, "tools.", "invalid tool name" },
	{ "tool name .", NAMED("."), 0, "tools..", "invalid tool name" },
	{ "tool name ..", NAMED(".."), 0, "tools...", "invalid tool name" },
	{ "tool name with /", NAMED("a/b"), 0, "tools.a/b",
	  "invalid tool name" },
	{ "tool name with blank", NAMED("a b"), 0, "tools.a b",
	  "invalid tool name" },
	{ "tool name with control byte", NAMED("x\\u0001"), 0, "tools.x?",
	  "invalid tool name" },
	{ "tool name of 65", NAMED(NAME64 "x"), 0, "tools." NAME64 "x",
	  "invalid tool name" },
	{ "tool name of 64", NAMED(NAME64), 1, NULL, NULL },
	{ "tool name with dots", NAMED("a.b..c"), 1, NULL, NULL },
	{ "tool not an object", "{\"listen\":[\"127.0.0.1:1\"],"
	  "\"tools\":{\"t\":\"http\"}}", 0, "tools.t", "expected an object" },

	/* tool keys */
	{ "unknown tool key", HTTP(",\"upstrem\":\"x\""), 0, "tools.t.upstrem",
	  "unknown key" },
	{ "first tool error wins",
	  HTTP(",\"audit\":{\"enabled\":1},\"timeout_secs\":0"), 0,
	  "tools.t.audit.enabled", "expected true or false" },
	{ "audit block", HTTP(",\"audit\":{\"enabled\":true,\"log_body\":"
	  "true,\"log_argv\":false,\"redact_patterns\":[\"*token*\"]}"),
	  1, NULL, NULL },
	{ "audit unknown key", HTTP(",\"audit\":{\"log\":true}"), 0,
	  "tools.t.audit.log", "unknown key" },
	{ "audit redact not strings",
	  HTTP(",\"audit\":{\"redact_patterns\":[1]}"), 0,
	  "tools.t.audit.redact_patterns[0]", "expected a string" },
	{ "audit redact empty pattern",
	  HTTP(",\"audit\":{\"redact_patterns\":[\"\"]}"), 0,
	  "tools.t.audit.redact_patterns[0]", "must not be empty" },
	{ "audit not an object", HTTP(",\"audit\":[]"), 0, "tools.t.audit",
	  "expected an object" },
	{ "type missing", TOOL("\"upstream\":\"http://h\""), 0, "tools.t.type",
	  "missing required key" },
	{ "type not a string", TOOL("\"type\":1"), 0, "tools.t.type",
	  "expected a string" },
	{ "type cli without binary", TOOL("\"type\":\"cli\""), 0,
	  "tools.t.binary", "missing required key" },
	{ "type missing, cli keys", TOOL("\"binary\":\"/bin/true\""), 0,
	  "tools.t.type", "missing required key" },
	{ "type bad after other keys",
	  TOOL("\"binary\":\"/bin/true\",\"type\":\"CLI\""), 0,
	  "tools.t.type", "unknown tool type" },
	{ "type unknown", TOOL("\"type\":\"ftp\""), 0, "tools.t.type",
	  "unknown tool type" },
	{ "upstream missing", TOOL("\"type\":\"http\""), 0, "tools.t.upstream",
	  "missing required key" },
	{ "upstream not a string",
	  TOOL("\"type\":\"http\",\"upstream\":[]"), 0,
	  "tools.t.upstream", "expected a string" },
	{ "upstream with NUL", UPSTREAM("http://h\\u0000@x"), 0,
	  "tools.t.upstream", "NUL" },
	{ "upstream not a URL", UPSTREAM("h:80"), 0, "tools.t.upstream",
	  "not an http(s) URL" },
	{ "tool listen not a string", HTTP(",\"listen\":8080"), 0,
	  "tools.t.listen", "expected an address string or an object" },
	{ "tool listen without port", HTTP(",\"listen\":\"[::1]\""), 0,
	  "tools.t.listen", "expected HOST:PORT" },
	{ "tool listen bad port", HTTP(",\"listen\":\"[::1]:99999\""), 0,
	  "tools.t.listen", "port must be 1..65535" },
	{ "timeout_secs 0", HTTP(",\"timeout_secs\":0"), 0,
	  "tools.t.timeout_secs", "out of range (1..86400)" },
	{ "timeout_secs above max", HTTP(",\"timeout_secs\":86401"), 0,
	  "tools.t.timeout_secs", "out of range (1..86400)" },
	{ "timeout_secs string", HTTP(",\"timeout_secs\":\"30\""), 0,
	  "tools.t.timeout_secs", "expected an integer" },
	{ "stream_idle_timeout_secs negative",
	  HTTP(",\"stream_idle_timeout_secs\":-1"), 0,
	  "tools.t.stream_idle_timeout_secs", "out of range (0..31536000)" },
	{ "stream_idle_timeout_secs above max",
	  HTTP(",\"stream_idle_timeout_secs\":31536001"), 0,
	  "tools.t.stream_idle_timeout_secs", "out of range (0..31536000)" },
	{ "stream_idle_timeout_secs fraction",
	  HTTP(",\"stream_idle_timeout_secs\":1.5"), 0,
	  "tools.t.stream_idle_timeout_secs", "expected an integer" },
	{ "bounds are inclusive",
	  "{\"max_body_bytes\":1073741824,\"tools\":{\"a\":{\"type\":\"http\","
	  "\"upstream\":\"http://h\",\"listen\":\"127.0.0.1:1\","
	  "\"timeout_secs\":86400,\"stream_idle_timeout_secs\":31536000},"
	  "\"b\":{\"type\":\"http\",\"upstream\":\"http://h\","
	  "\"timeout_secs\":1,\"stream_idle_timeout_secs\":0}}}",
	  1, NULL, NULL },
	{ "tool max_body_bytes 0", HTTP(",\"max_body_bytes\":0"), 0,
	  "tools.t.max_body_bytes", "out of range (1..1073741824)" },
	{ "tool max_body_bytes above max",
	  HTTP(",\"max_body_bytes\":1073741825"), 0,
	  "tools.t.max_body_bytes", "out of range (1..1073741824)" },
	{ "tool max_body_bytes string", HTTP(",\"max_body_bytes\":\"1\""), 0,
	  "tools.t.max_body_bytes", "expected an integer" },

	/* allow_paths, allow_http_methods */
	{ "allow_paths not an array", HTTP(",\"allow_paths\":\"/x\""), 0,
	  "tools.t.allow_paths", "expected an array of strings" },
	{ "allow_paths element not a string",
	  HTTP(",\"allow_paths\":[\"/a\",1]"), 0, "tools.t.allow_paths[1]",
	  "expected a string" },
	{ "allow_paths without /",
	  HTTP(",\"allow_paths\":[\"/a\",\"/b*\",\"api/*\"]"), 0,
	  "tools.t.allow_paths[2]", "a path pattern must start with '/'" },
	{ "allow_paths empty string", HTTP(",\"allow_paths\":[\"\"]"), 0,
	  "tools.t.allow_paths[0]", "a path pattern must start with '/'" },
	{ "allow_paths with NUL", HTTP(",\"allow_paths\":[\"/a\\u0000\"]"), 0,
	  "tools.t.allow_paths[0]", "NUL" },
	{ "allow_paths first bad element wins",
	  HTTP(",\"allow_paths\":[\"x\",1]"), 0, "tools.t.allow_paths[0]",
	  "a path pattern must start with '/'" },
	{ "allow_http_methods not an array",
	  HTTP(",\"allow_http_methods\":{}"), 0, "tools.t.allow_http_methods",
	  "expected an array of strings" },
	{ "allow_http_methods lower case",
	  HTTP(",\"allow_http_methods\":[\"GET\",\"post\"]"), 0,
	  "tools.t.allow_http_methods[1]", "not an upper-case HTTP method" },
	{ "allow_http_methods empty",
	  HTTP(",\"allow_http_methods\":[\"\"]"), 0,
	  "tools.t.allow_http_methods[0]", "not an upper-case HTTP method" },
	{ "allow_http_methods with blank",
	  HTTP(",\"allow_http_methods\":[\"GET \"]"), 0,
	  "tools.t.allow_http_methods[0]", "not an upper-case HTTP method" },
	{ "allow_http_methods with hyphen",
	  HTTP(",\"allow_http_methods\":[\"M-SEARCH\"]"), 0,
	  "tools.t.allow_http_methods[0]", "not an upper-case HTTP method" },
	{ "allow_http_methods of 21",
	  HTTP(",\"allow_http_methods\":[\"ABCDEFGHIJKLMNOPQRSTU\"]"), 0,
	  "tools.t.allow_http_methods[0]", "not an upper-case HTTP method" },
	{ "allow_http_methods of 20",
	  HTTP(",\"allow_http_methods\":[\"ABCDEFGHIJKLMNOPQRST\"]"), 1,
	  NULL, NULL },

	/* jsonrpc_* */
	{ "jsonrpc_allow_methods not an array",
	  HTTP(",\"jsonrpc_allow_methods\":\"send\""), 0,
	  "tools.t.jsonrpc_allow_methods", "expected an array of strings" },
	{ "jsonrpc_allow_methods empty name",
	  HTTP(",\"jsonrpc_allow_methods\":[\"send\",\"\"]"), 0,
	  "tools.t.jsonrpc_allow_methods[1]", "must not be empty" },
	{ "jsonrpc_deny_methods not a string",
	  HTTP(",\"jsonrpc_deny_methods\":[null]"), 0,
	  "tools.t.jsonrpc_deny_methods[0]", "expected a string" },
	{ "jsonrpc_deny_methods empty name",
	  HTTP(",\"jsonrpc_deny_methods\":[\"\"]"), 0,
	  "tools.t.jsonrpc_deny_methods[0]", "must not be empty" },
	{ "param filters not an object",
	  HTTP(",\"jsonrpc_param_filters\":[]"), 0,
	  "tools.t.jsonrpc_param_filters", "expected an object" },
	{ "param filter not an object", FILTERS("\"send\":[]"), 0,
	  "tools.t.jsonrpc_param_filters.send", "expected an object" },
	{ "param filter for no method",
	  FILTERS("\"\":{\"field\":\"a\",\"allow_patterns\":[\"x\"]}"), 0,
	  "tools.t.jsonrpc_param_filters.", "method name must not be empty" },
	{ "param filter without field",
	  FILTERS("\"send\":{\"allow_patterns\":[\"x\"]}"), 0,
	  "tools.t.jsonrpc_param_filters.send.field",
	  "missing required key" },
	{ "param filter field not a string",
	  FILTERS("\"send\":{\"field\":[\"a\"],\"allow_patterns\":[\"x\"]}"),
	  0,
	  "tools.t.jsonrpc_param_filters.send.field", "expected a string" },
	{ "param filter field empty",
	  FILTERS("\"send\":{\"field\":\"\",\"allow_patterns\":[\"x\"]}"), 0,
	  "tools.t.jsonrpc_param_filters.send.field",
	  "field must be a dotted path of non-empty names" },
	{ "param filter field a..b",
	  FILTERS("\"send\":{\"field\":\"a..b\",\"deny_patterns\":[\"x\"]}"),
	  0,
	  "tools.t.jsonrpc_param_filters.send.field",
	  "field must be a dotted path of non-empty names" },
	{ "param filter field .a",
	  FILTERS("\"send\":{\"field\":\".a\",\"deny_patterns\":[\"x\"]}"), 0,
	  "tools.t.jsonrpc_param_filters.send.field",
	  "field must be a dotted path of non-empty names" },
	{ "param filter field a.",
	  FILTERS("\"send\":{\"field\":\"a.\",\"deny_patterns\":[\"x\"]}"), 0,
	  "tools.t.jsonrpc_param_filters.send.field",
	  "field must be a dotted path of non-empty names" },
	{ "param filter field .",
	  FILTERS("\"send\":{\"field\":\".\",\"deny_patterns\":[\"x\"]}"), 0,
	  "tools.t.jsonrpc_param_filters.send.field",
	  "field must be a dotted path of non-empty names" },
	{ "param filter unknown key",
	  FILTERS("\"send\":{\"field\":\"a\",\"allow\":[\"x\"]}"), 0,
	  "tools.t.jsonrpc_param_filters.send.allow", "unknown key" },
	{ "param filter without patterns",
	  FILTERS("\"send\":{\"field\":\"a\"}"), 0,
	  "tools.t.jsonrpc_param_filters.send", "filter has no patterns" },
	{ "param filter with empty patterns",
	  FILTERS("\"send\":{\"field\":\"a\",\"allow_patterns\":[],"
		  "\"deny_patterns\":[]}"),
	  0, "tools.t.jsonrpc_param_filters.send", "filter has no patterns" },
	{ "param filter allow_patterns not an array",
	  FILTERS("\"send\":{\"field\":\"a\",\"allow_patterns\":\"x\"}"), 0,
	  "tools.t.jsonrpc_param_filters.send.allow_patterns",
	  "expected an array of strings" },
	{ "param filter deny_patterns element not a string",
	  FILTERS("\"send\":{\"field\":\"a\",\"deny_patterns\":[\"x\",2]}"), 0,
	  "tools.t.jsonrpc_param_filters.send.deny_patterns[1]",
	  "expected a string" },
	{ "second param filter bad",
	  FILTERS("\"a\":{\"field\":\"x\",\"allow_patterns\":[\"*\"]},"
		  "\"b\":{\"field\":\"x.\",\"allow_patterns\":[\"*\"]}"),
	  0, "tools.t.jsonrpc_param_filters.b.field", "dotted path" },
	{ "param filter with deny patterns only",
	  FILTERS("\"send\":{\"field\":\"a.b\",\"deny_patterns\":[\"\"]}"), 1,
	  NULL, NULL },

	/* jsonrpc_param_filters: a list of filters per method (issue 12) */
	{ "param filters: a list", FILTERS("\"send\":[" FOK "," FOK "]"), 1,
	  NULL, NULL },
	{ "param filters: a list of one", FILTERS("\"send\":[" FOK "]"), 1,
	  NULL, NULL },
	{ "param filters: an empty list", FILTERS("\"send\":[]"), 0,
	  "tools.t.jsonrpc_param_filters.send",
	  "expected an object or a non-empty array of objects" },
	{ "param filters: a string", FILTERS("\"send\":\"a\""), 0,
	  "tools.t.jsonrpc_param_filters.send",
	  "expected an object or a non-empty array of objects" },
	{ "param filters: a list element not an object",
	  FILTERS("\"send\":[" FOK ",[" FOK "]]"), 0,
	  "tools.t.jsonrpc_param_filters.send[1]", "expected an object" },
	{ "param filters: a list element without patterns",
	  FILTERS("\"send\":[" FOK ",{\"field\":\"a\"}]"), 0,
	  "tools.t.jsonrpc_param_filters.send[1]", "filter has no patterns" },
	{ "param filters: a list element's bad field",
	  FILTERS("\"send\":[{\"field\":\"a.\",\"deny_patterns\":[\"x\"]}]"),
	  0, "tools.t.jsonrpc_param_filters.send[0].field", "dotted path" },
	{ "param filters: a list element's unknown key",
	  FILTERS("\"s\":[" FOK ",{\"field\":\"a\",\"deny\":[\"x\"]}]"),
	  0, "tools.t.jsonrpc_param_filters.s[1].deny", "unknown key" },
	{ "param filters: a list for no method", FILTERS("\"\":[" FOK "]"),
	  0, "tools.t.jsonrpc_param_filters.",
	  "method name must not be empty" },
	{ "param filters: a glob method", FILTERS("\"send*\":" FOK), 1, NULL,
	  NULL },

	/* jsonrpc_param_allow */
	{ "param allow not an object", HTTP(",\"jsonrpc_param_allow\":[]"), 0,
	  "tools.t.jsonrpc_param_allow", "expected an object" },
	{ "param allow: names not an array", PALLOW("\"send\":\"message\""),
	  0, "tools.t.jsonrpc_param_allow.send",
	  "expected an array of strings" },
	{ "param allow: an object of names",
	  PALLOW("\"send\":{\"message\":true}"), 0,
	  "tools.t.jsonrpc_param_allow.send",
	  "expected an array of strings" },
	{ "param allow: a name not a string",
	  PALLOW("\"send\":[\"message\",1]"), 0,
	  "tools.t.jsonrpc_param_allow.send[1]", "expected a string" },
	{ "param allow: an empty name",
	  PALLOW("\"a\":[],\"send\":[\"message\",\"\"]"), 0,
	  "tools.t.jsonrpc_param_allow.send[1]", "must not be empty" },
	{ "param allow: a dotted name", PALLOW("\"send\":[\"a.b\"]"), 0,
	  "tools.t.jsonrpc_param_allow.send[0]",
	  "a parameter name, not a dotted path" },
	{ "param allow: a name with a NUL",
	  PALLOW("\"send\":[\"a\\u0000b\"]"), 0,
	  "tools.t.jsonrpc_param_allow.send[0]",
	  "string contains a NUL character" },
	{ "param allow: no method", PALLOW("\"\":[\"a\"]"), 0,
	  "tools.t.jsonrpc_param_allow.", "method name must not be empty" },
	{ "param allow: no names at all", PALLOW("\"version\":[]"), 1, NULL,
	  NULL },
	{ "param allow: empty", PALLOW(""), 1, NULL, NULL },

	/* jsonrpc_param_aliases */
	{ "param aliases signal-cli",
	  HTTP(",\"jsonrpc_param_aliases\":\"signal-cli\""), 1, NULL, NULL },
	{ "param aliases none", HTTP(",\"jsonrpc_param_aliases\":\"none\""),
	  1, NULL, NULL },
	{ "param aliases unknown",
	  HTTP(",\"jsonrpc_param_aliases\":\"signal\""), 0,
	  "tools.t.jsonrpc_param_aliases",
	  "must be \"none\" or \"signal-cli\"" },
	{ "param aliases not a string",
	  HTTP(",\"jsonrpc_param_aliases\":[\"none\"]"), 0,
	  "tools.t.jsonrpc_param_aliases", "expected a string" },

	/* inject_headers, forward_headers */
	{ "inject_headers not an object", HTTP(",\"inject_headers\":[]"), 0,
	  "tools.t.inject_headers", "expected an object" },
	{ "inject header name with blank", HEADERS("\"X Api\":\"v\""), 0,
	  "tools.t.inject_headers.X Api", "not a header name" },
	{ "inject header name with colon", HEADERS("\"X-A:\":\"v\""), 0,
	  "tools.t.inject_headers.X-A:", "not a header name" },
	{ "inject header name empty", HEADERS("\"\":\"v\""), 0,
	  "tools.t.inject_headers.", "not a header name" },
	{ "inject header name with CR", HEADERS("\"X\\r\":\"v\""), 0,
	  "tools.t.inject_headers.X?", "not a header name" },
	{ "inject header name of 65", HEADERS("\"" NAME64 "X\":\"v\""), 0,
	  "tools.t.inject_headers." NAME64 "X", "not a header name" },
	{ "inject header name of 64", HEADERS("\"" NAME64 "\":\"v\""), 1,
	  NULL, NULL },
	{ "inject header name with tchars",
	  HEADERS("\"!#$%&'*+-.^_`|~09azAZ\":\"v\""), 1, NULL, NULL },
	{ "inject header value not a string",
	  HEADERS("\"X-Api-Key\":1"), 0, "tools.t.inject_headers.X-Api-Key",
	  "expected a string" },
	{ "inject header value with CR",
	  HEADERS("\"X-Api-Key\":\"a\\rb\""), 0,
	  "tools.t.inject_headers.X-Api-Key",
	  "header value contains CR, LF or NUL" },
	{ "inject header value with LF",
	  HEADERS("\"A\":\"1\",\"X-Api-Key\":\"a\\nX-Evil: 1\""), 0,
	  "tools.t.inject_headers.X-Api-Key",
	  "header value contains CR, LF or NUL" },
	{ "inject header value with NUL",
	  HEADERS("\"X-Api-Key\":\"a\\u0000b\""), 0,
	  "tools.t.inject_headers.X-Api-Key",
	  "header value contains CR, LF or NUL" },
	{ "inject header hop-by-hop", HEADERS("\"Connection\":\"close\""), 0,
	  "tools.t.inject_headers.Connection", "header cannot be injected" },
	{ "inject header twice",
	  HEADERS("\"X-Api-Key\":\"1\",\"x-api-key\":\"2\""), 0,
	  "tools.t.inject_headers.x-api-key", "header given twice" },
	{ "inject header twice, '_' for '-'",
	  HEADERS("\"X-Api-Key\":\"1\",\"x_api_KEY\":\"2\""), 0,
	  "tools.t.inject_headers.x_api_KEY", "header given twice" },
	{ "inject header value empty", HEADERS("\"X-Empty\":\"\""), 1,
	  NULL, NULL },
	{ "inject_headers empty", HEADERS(""), 1, NULL, NULL },
	{ "forward_headers not an array",
	  HTTP(",\"forward_headers\":\"Cookie\""), 0,
	  "tools.t.forward_headers", "expected an array of strings" },
	{ "forward_headers bad name",
	  HTTP(",\"forward_headers\":[\"Cookie\",\"Set Cookie\"]"), 0,
	  "tools.t.forward_headers[1]", "not a header name" },
	{ "forward_headers empty name", HTTP(",\"forward_headers\":[\"\"]"), 0,
	  "tools.t.forward_headers[0]", "not a header name" },
	{ "forward_headers name of 65",
	  HTTP(",\"forward_headers\":[\"" NAME64 "X\"]"), 0,
	  "tools.t.forward_headers[0]", "not a header name" },

	/* rate_limit */
	{ "rate_limit not an object", HTTP(",\"rate_limit\":100"), 0,
	  "tools.t.rate_limit", "expected an object" },
	{ "rate_limit empty", RATE(""), 0, "tools.t.rate_limit.max_requests",
	  "missing required key" },
	{ "rate_limit without window", RATE("\"max_requests\":1"), 0,
	  "tools.t.rate_limit.window_secs", "missing required key" },
	{ "rate_limit without max", RATE("\"window_secs\":1"), 0,
	  "tools.t.rate_limit.max_requests", "missing required key" },
	{ "rate_limit unknown key",
	  RATE("\"max_requests\":1,\"window_secs\":1,\"burst\":2"), 0,
	  "tools.t.rate_limit.burst", "unknown key" },
	{ "rate_limit max 0", RATE("\"max_requests\":0,\"window_secs\":1"), 0,
	  "tools.t.rate_limit.max_requests", "out of range (1..100000)" },
	{ "rate_limit max above",
	  RATE("\"max_requests\":100001,\"window_secs\":1"), 0,
	  "tools.t.rate_limit.max_requests", "out of range (1..100000)" },
	{ "rate_limit max string",
	  RATE("\"max_requests\":\"5\",\"window_secs\":1"), 0,
	  "tools.t.rate_limit.max_requests", "expected an integer" },
	{ "rate_limit window 0", RATE("\"max_requests\":1,\"window_secs\":0"),
	  0, "tools.t.rate_limit.window_secs", "out of range (1..86400)" },
	{ "rate_limit window above",
	  RATE("\"max_requests\":1,\"window_secs\":86401"), 0,
	  "tools.t.rate_limit.window_secs", "out of range (1..86400)" },
	{ "rate_limit window fraction",
	  RATE("\"max_requests\":1,\"window_secs\":1.5"), 0,
	  "tools.t.rate_limit.window_secs", "expected an integer" },
	{ "rate_limit bounds are inclusive",
	  "{\"listen\":[\"127.0.0.1:1\"],\"tools\":{\"a\":{\"type\":\"http\","
	  "\"upstream\":\"http://h\",\"max_body_bytes\":1,\"rate_limit\":"
	  "{\"max_requests\":1,\"window_secs\":1}},\"b\":{\"type\":\"http\","
	  "\"upstream\":\"http://h\",\"max_body_bytes\":1073741824,"
	  "\"rate_limit\":{\"max_requests\":100000,\"window_secs\":86400}}}}",
	  1, NULL, NULL },

	/* cli tools */
	{ "cli minimal", CLI(""), 1, NULL, NULL },
	{ "cli type last",
	  TOOL("\"binary\":\"/bin/true\",\"argv_allow_patterns\":[],"
	       "\"type\":\"cli\""), 1, NULL, NULL },
	{ "cli http key before type",
	  TOOL("\"upstream\":\"http://h\",\"type\":\"cli\","
	       "\"binary\":\"/bin/true\""), 0,
	  "tools.t.upstream", "not valid for a cli tool" },
	{ "http cli key before type",
	  TOOL("\"binary\":\"/bin/true\",\"upstream\":\"http://h\","
	       "\"type\":\"http\""), 0,
	  "tools.t.binary", "not valid for an http tool" },
	{ "cli with shared keys",
	  CLI(",\"timeout_secs\":1,\"max_body_bytes\":1,\"rate_limit\":"
	      "{\"max_requests\":1,\"window_secs\":1}"), 1, NULL, NULL },
	{ "cli audit", CLI(",\"audit\":{\"log_argv\":true,"
	  "\"redact_patterns\":[\"--session\"]}"), 1, NULL, NULL },
	{ "cli unknown key", CLI(",\"argv\":[]"), 0, "tools.t.argv",
	  "unknown key" },
	{ "cli without listener",
	  "{\"tools\":{\"t\":{\"type\":\"cli\",\"binary\":\"/bin/true\"}}}",
	  0, "listen", "no listener" },
	{ "binary not a string", TOOL("\"type\":\"cli\",\"binary\":1"), 0,
	  "tools.t.binary", "expected a string" },
	{ "binary with NUL",
	  TOOL("\"type\":\"cli\",\"binary\":\"/bin/true\\u0000x\""), 0,
	  "tools.t.binary", "string contains a NUL character" },
	{ "binary relative", TOOL("\"type\":\"cli\",\"binary\":\"true\""),
	  0, "tools.t.binary", "not an absolute path" },
	{ "binary dot-relative",
	  TOOL("\"type\":\"cli\",\"binary\":\"./bin/true\""), 0,
	  "tools.t.binary", "not an absolute path" },
	{ "binary empty", TOOL("\"type\":\"cli\",\"binary\":\"\""), 0,
	  "tools.t.binary", "not an absolute path" },
	{ "binary missing file",
	  TOOL("\"type\":\"cli\",\"binary\":\"/nonexistent/op\""), 0,
	  "tools.t.binary",
	  "not an executable file: No such file or directory" },
	{ "binary a directory",
	  TOOL("\"type\":\"cli\",\"binary\":\"/tmp\""), 0,
	  "tools.t.binary", "not an executable file" },
	{ "binary a device",
	  TOOL("\"type\":\"cli\",\"binary\":\"/dev/null\""), 0,
	  "tools.t.binary", "not an executable file" },
	{ "argv_allow_patterns not an array",
	  CLI(",\"argv_allow_patterns\":\"item get *\""), 0,
	  "tools.t.argv_allow_patterns", "expected an array of strings" },
	{ "argv_allow_patterns element not a string",
	  CLI(",\"argv_allow_patterns\":[\"a\",1]"), 0,
	  "tools.t.argv_allow_patterns[1]", "expected a string" },
	{ "argv_deny_patterns element with NUL",
	  CLI(",\"argv_deny_patterns\":[\"a\\u0000\"]"), 0,
	  "tools.t.argv_deny_patterns[0]", "NUL" },
	{ "argv_deny_patterns not an array",
	  CLI(",\"argv_deny_patterns\":{}"), 0,
	  "tools.t.argv_deny_patterns", "expected an array of strings" },
	{ "env_inject not an object", CLI(",\"env_inject\":[]"), 0,
	  "tools.t.env_inject", "expected an object" },
	{ "env name empty", ENV("\"\":\"v\""), 0, "tools.t.env_inject.",
	  "not an environment variable name" },
	{ "env name starts with a digit", ENV("\"1A\":\"v\""), 0,
	  "tools.t.env_inject.1A", "not an environment variable name" },
	{ "env name with -", ENV("\"A-B\":\"v\""), 0,
	  "tools.t.env_inject.A-B", "not an environment variable name" },
	{ "env name with =", ENV("\"A=B\":\"v\""), 0,
	  "tools.t.env_inject.A=B", "not an environment variable name" },
	{ "env name with blank", ENV("\"A B\":\"v\""), 0,
	  "tools.t.env_inject.A B", "not an environment variable name" },
	{ "env name with control byte", ENV("\"A\\u0001\":\"v\""), 0,
	  "tools.t.env_inject.A?", "not an environment variable name" },
	{ "env name of 129", ENV("\"" ENV64 ENV64 "x\":\"v\""), 0,
	  "tools.t.env_inject." ENV64 ENV64 "x",
	  "not an environment variable name" },
	{ "env name of 128", ENV("\"" ENV64 ENV64 "\":\"v\""), 1, NULL,
	  NULL },
	{ "env names _ and _1", ENV("\"_\":\"\",\"_1\":\"v\""), 1, NULL,
	  NULL },
	{ "env value not a string", ENV("\"A\":1"), 0, "tools.t.env_inject.A",
	  "expected a string" },
	{ "env value null", ENV("\"A\":null"), 0, "tools.t.env_inject.A",
	  "expected a string" },
	{ "env value with NUL", ENV("\"A\":\"x\\u0000y\""), 0,
	  "tools.t.env_inject.A", "value contains a NUL character" },
	{ "env value with newline", ENV("\"A\":\"x\\ny\""), 1, NULL, NULL },
	{ "cwd_allowed not an array", CLI(",\"cwd_allowed\":\"/tmp\""), 0,
	  "tools.t.cwd_allowed", "expected an array of strings" },
	{ "cwd_allowed relative", CLI(",\"cwd_allowed\":[\"/tmp\",\"tmp\"]"),
	  0, "tools.t.cwd_allowed[1]", "not an absolute path" },
	{ "cwd_allowed missing",
	  CLI(",\"cwd_allowed\":[\"/nonexistent/dir\"]"), 0,
	  "tools.t.cwd_allowed[0]",
	  "not a directory: No such file or directory" },
	{ "cwd_allowed a file", CLI(",\"cwd_allowed\":[\"/bin/true\"]"), 0,
	  "tools.t.cwd_allowed[0]", "not a directory" },
	{ "cwd_allowed below a file",
	  CLI(",\"cwd_allowed\":[\"/bin/true/x\"]"), 0,
	  "tools.t.cwd_allowed[0]", "not a directory" },
	{ "cwd_allowed element not a string",
	  CLI(",\"cwd_allowed\":[[]]"), 0, "tools.t.cwd_allowed[0]",
	  "expected a string" },
	{ "max_output_bytes 0", CLI(",\"max_output_bytes\":0"), 0,
	  "tools.t.max_output_bytes", "out of range (1..1073741824)" },
	{ "max_output_bytes above max",
	  CLI(",\"max_output_bytes\":1073741825"), 0,
	  "tools.t.max_output_bytes", "out of range (1..1073741824)" },
	{ "max_output_bytes string", CLI(",\"max_output_bytes\":\"1\""), 0,
	  "tools.t.max_output_bytes", "expected an integer" },
	{ "max_concurrent 0", CLI(",\"max_concurrent\":0"), 0,
	  "tools.t.max_concurrent", "out of range (1..1024)" },
	{ "max_concurrent above max", CLI(",\"max_concurrent\":1025"), 0,
	  "tools.t.max_concurrent", "out of range (1..1024)" },
	{ "max_concurrent fraction", CLI(",\"max_concurrent\":1.5"), 0,
	  "tools.t.max_concurrent", "expected an integer" },
	{ "cli bounds",
	  CLI(",\"max_output_bytes\":1,\"max_concurrent\":1024"), 1, NULL,
	  NULL },
	{ "cli bounds other end",
	  CLI(",\"max_output_bytes\":1073741824,\"max_concurrent\":1"), 1,
	  NULL, NULL },
	{ "cli timeout_secs 0", CLI(",\"timeout_secs\":0"), 0,
	  "tools.t.timeout_secs", "out of range (1..86400)" },
};

/* 1 when the document gives what tc expects; says why on stderr if not. */
static int run_case(const struct parse_case *tc)
{
	struct cfg *cfg = NULL;
	struct error err;
	int rc = cfg_load_string(tc->json, &cfg, &err);
	int good;

	if (tc->expect_ok)
		good = rc == 0 && cfg != NULL;
	else
		good = rc == -1 && cfg == NULL &&
		       strcmp(err.key, tc->path) == 0 &&
		       strstr(err.msg, tc->message) != NULL;
	if (!good)
		fprintf(stderr, "\n  case \"%s\": rc=%d path=\"%s\" "
			"message=\"%s\"\n", tc->name, rc, err.key,
			err.msg);
	cfg_release(cfg);
	return good;
}

static void test_table(void)
{
	size_t i;

	for (i = 0; i < N_ELEMS(cases); i++)
		CU_ASSERT(run_case(&cases[i]));
}

/* Each must be refused with exactly "not an http(s) URL" (JSON escapes). */
static const char *const bad_urls[] = {
	"ftp://h", "http:/h", "http//h", "HTTP://h", "http://", "https://",
	"http:///x", "http://:80", "http://u@h", "http://u:p@h/",
	"http://h?q=1", "http://h/x?", "http://h/#f", "http://h /x",
	"http://h/\\t", "http://h/\\u007f", "http://h/\\n", "http://h:0",
	"http://h:65536", "http://h:", "http://h:8a", "http://h:+80",
	"http://h:-1", "http://h: 80", "http://h:80:81", "http://[::1",
	"http://[zz]:80", "http://[]:80", "http://[127.0.0.1]/",
	"http://h]", "http://[::1]x", "http://h%41", "http://h[/",
	" http://h", "", "http://h/x@y", "http://h:80@evil/",
};

static void test_bad_urls(void)
{
	char json[512];
	size_t i;

	for (i = 0; i < N_ELEMS(bad_urls); i++) {
		struct parse_case tc = { bad_urls[i], json, 0,
					 "tools.t.upstream",
					 "not an http(s) URL" };
		struct cfg *cfg = NULL;
		struct error err;

		snprintf(json, sizeof(json), UPSTREAM("%s"), bad_urls[i]);
		CU_ASSERT(run_case(&tc));
		cfg_load_string(json, &cfg, &err);
		CU_ASSERT_STRING_EQUAL(err.msg, "not an http(s) URL");
	}
}

/* Accepted URLs and how they are stored. */
static const char *const good_urls[][2] = {
	{ "http://h", "http://h" },
	{ "https://h", "https://h" },
	{ "http://h/", "http://h" },
	{ "http://h///", "http://h" },
	{ "http://127.0.0.1:18080", "http://127.0.0.1:18080" },
	{ "https://a-b.c_d:65535/api/v1/", "https://a-b.c_d:65535/api/v1" },
	{ "http://[::1]:8080/x//", "http://[::1]:8080/x" },
	{ "http://[2001:db8::1]", "http://[2001:db8::1]" },
	{ "http://h:1/a/b.c~d", "http://h:1/a/b.c~d" },
};

static void test_good_urls(void)
{
	char json[512];
	size_t i;

	for (i = 0; i < N_ELEMS(good_urls); i++) {
		struct cfg *cfg = NULL;
		struct error err;

		snprintf(json, sizeof(json), UPSTREAM("%s"), good_urls[i][0]);
		CU_ASSERT_EQUAL_FATAL(cfg_load_string(json, &cfg, &err), 0);
		CU_ASSERT_STRING_EQUAL(cfg->tools[0].http.upstream,
				       good_urls[i][1]);
		cfg_release(cfg);
	}
}

/* The audit block's defaults: on, no body, no argv, nothing redacted. */
static void test_audit_defaults(void)
{
	struct error err;
	struct cfg *cfg = NULL;

	CU_ASSERT_FATAL(cfg_load_string(HTTP(""), &cfg, &err) == 0);
	CU_ASSERT(cfg->tools[0].audit_enabled);
	CU_ASSERT(!cfg->tools[0].audit_log_body);
	CU_ASSERT(!cfg->tools[0].audit_log_argv);
	CU_ASSERT(cfg->tools[0].redact_patterns.n == 0);
	CU_ASSERT(cfg->audit_log == NULL);
	CU_ASSERT(!cfg->admin.enabled);
	CU_ASSERT(!cfg->run_tools_as_root);
	CU_ASSERT(cfg->tools[0].owner == cfg);
	/* a held config outlives the loader's reference */
	cfg_hold(cfg);
	cfg_release(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->tools[0].name, "t");
	cfg_release(cfg);
	CU_ASSERT_FATAL(cfg_load_string(
		"{\"listen\":[\"127.0.0.1:1\"],\"admin_listen\":"
		"\"unix:/run/c.sock\",\"audit_log\":\"/var/log/a\","
		"\"tools\":{\"t\":{\"type\":\"http\",\"upstream\":"
		"\"http://h\",\"audit\":{\"enabled\":false,\"log_body\":"
		"true,\"redact_patterns\":[\"a\",\"b*\"]}}}}",
		&cfg, &err) == 0);
	CU_ASSERT(cfg->admin.enabled && cfg->admin.is_unix);
	CU_ASSERT_STRING_EQUAL(cfg->admin.unix_path, "/run/c.sock");
	CU_ASSERT_STRING_EQUAL(cfg->audit_log, "/var/log/a");
	CU_ASSERT(!cfg->tools[0].audit_enabled);
	CU_ASSERT(cfg->tools[0].audit_log_body);
	CU_ASSERT(cfg->tools[0].redact_patterns.n == 2);
	cfg_release(cfg);
}

/* Keys of one type of tool are refused in the other, whatever the value
 * and wherever "type" is. */
static void test_scoped_tool_keys(void)
{
	static const char *const http_only[] = {
		"upstream", "listen", "stream_idle_timeout_secs",
		"allow_paths", "allow_http_methods", "jsonrpc_allow_methods",
		"jsonrpc_deny_methods", "jsonrpc_param_filters",
		"jsonrpc_param_allow", "jsonrpc_param_aliases",
		"inject_headers", "forward_headers",
	};
	static const char *const cli_only[] = {
		"binary", "argv_allow_patterns", "argv_deny_patterns",
		"env_inject", "cwd_allowed", "max_output_bytes",
		"max_concurrent",
	};
	char json[512], path[128];
	size_t i;

	for (i = 0; i < N_ELEMS(http_only); i++) {
		struct parse_case tc = { http_only[i], json, 0, path,
					 "not valid for a cli tool" };

		snprintf(path, sizeof(path), "tools.t.%s", http_only[i]);
		snprintf(json, sizeof(json), CLI(",\"%s\":[]"), http_only[i]);
		CU_ASSERT(run_case(&tc));
		snprintf(json, sizeof(json),
			 TOOL("\"%s\":1,\"binary\":\"/bin/true\","
			      "\"type\":\"cli\""), http_only[i]);
		CU_ASSERT(run_case(&tc));
	}
	for (i = 0; i < N_ELEMS(cli_only); i++) {
		struct parse_case tc = { cli_only[i], json, 0, path,
					 "not valid for an http tool" };

		snprintf(path, sizeof(path), "tools.t.%s", cli_only[i]);
		snprintf(json, sizeof(json), HTTP(",\"%s\":[]"), cli_only[i]);
		CU_ASSERT(run_case(&tc));
		snprintf(json, sizeof(json),
			 TOOL("\"%s\":1,\"upstream\":\"http://h\","
			      "\"type\":\"http\""), cli_only[i]);
		CU_ASSERT(run_case(&tc));
	}
}

/* Every document fails, and no error names the secret it holds. */
static void assert_secret_hidden(const char *const *docs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct cfg *cfg = NULL;
		struct error err;

		CU_ASSERT_EQUAL(cfg_load_string(docs[i], &cfg, &err), -1);
		CU_ASSERT_PTR_NULL(cfg);
		CU_ASSERT_PTR_NULL(strstr(err.key, "SECRET"));
		CU_ASSERT_PTR_NULL(strstr(err.msg, "SECRET"));
	}
}

/* env_inject values are secrets: no error shows one. */
static void test_env_secrets(void)
{
	static const char *const docs[] = {
		ENV("\"A\":\"SECRET\\u0000\""),
		ENV("\"A\":[\"SECRET\"]"),
		ENV("\"A\":{\"x\":\"SECRET\"}"),
		ENV("\"A\":\"SECRET\",\"1B\":\"SECRET\""),
		ENV("\"A\":\"SECRET\",\"B\":1"),
		ENV("\"A\":\"SECRET\"},\"max_concurrent\":0,\"x\":{"),
	};

	assert_secret_hidden(docs, N_ELEMS(docs));
}

/* A binary that is a regular file without execute permission. */
static void test_binary_not_executable(void)
{
	char path[64], json[512];
	struct parse_case tc = { "mode 0644", json, 0, "tools.t.binary",
				 "not an executable file" };

	CU_ASSERT_EQUAL_FATAL(temp_file(path, sizeof(path), "#!/bin/sh\n",
					10), 0);
	CU_ASSERT_EQUAL(chmod(path, 0644), 0);
	snprintf(json, sizeof(json),
		 TOOL("\"type\":\"cli\",\"binary\":\"%s\""), path);
	CU_ASSERT(run_case(&tc));
	CU_ASSERT_EQUAL(chmod(path, 0755), 0);
	tc.expect_ok = 1;
	CU_ASSERT(run_case(&tc));
	unlink(path);
}

/* Hop-by-hop and framing headers, in any case, are the proxy's. */
static void test_refused_inject_headers(void)
{
	static const char *const names[] = {
		"Connection", "Keep-Alive", "Proxy-Connection", "TE",
		"Trailer", "Transfer-Encoding", "Upgrade", "Host",
		"Content-Length", "connection", "KEEP-ALIVE", "te",
		"transfer-encoding", "hOST", "content-length",
		"Transfer_Encoding", "content_length", "Keep_Alive",
		"proxy_connection",
	};
	char json[512], path[128];
	size_t i;

	for (i = 0; i < N_ELEMS(names); i++) {
		struct parse_case tc = { names[i], json, 0, path,
					 "header cannot be injected" };

		snprintf(json, sizeof(json), HEADERS("\"%s\":\"v\""),
			 names[i]);
		snprintf(path, sizeof(path), "tools.t.inject_headers.%s",
			 names[i]);
		CU_ASSERT(run_case(&tc));
	}
}

/* Header values are secrets: no error shows one, whatever is wrong. */
static void test_header_secrets(void)
{
	static const char *const docs[] = {
		HEADERS("\"X-Key\":\"SECRET\\r\\n\""),
		HEADERS("\"X-Key\":\"SECRET\\u0000\""),
		HEADERS("\"Host\":\"SECRET\""),
		HEADERS("\"X Key\":\"SECRET\""),
		HEADERS("\"X-Key\":\"SECRET\",\"x-key\":\"SECRET\""),
		HEADERS("\"X-Key\":[\"SECRET\"]"),
		HEADERS("\"X-Key\":\"SECRET\",\"Bad Name\":\"SECRET\""),
	};

	assert_secret_hidden(docs, N_ELEMS(docs));
}

/* Any jsonrpc_* key, even empty, makes a JSON-RPC tool. */
static void test_jsonrpc_flag(void)
{
	static const char *const docs[] = {
		HTTP(",\"jsonrpc_allow_methods\":[]"),
		HTTP(",\"jsonrpc_deny_methods\":[]"),
		HTTP(",\"jsonrpc_param_filters\":{}"),
		HTTP(",\"jsonrpc_allow_methods\":[\"send\"]"),
		HTTP(",\"jsonrpc_param_allow\":{}"),
		HTTP(",\"jsonrpc_param_aliases\":\"none\""),
	};
	size_t i;

	for (i = 0; i < N_ELEMS(docs); i++) {
		struct cfg *cfg = NULL;
		struct error err;

		CU_ASSERT_EQUAL_FATAL(cfg_load_string(docs[i], &cfg, &err),
				      0);
		CU_ASSERT_EQUAL(cfg->tools[0].http.is_jsonrpc, 1);
		CU_ASSERT_EQUAL(cfg->tools[0].http.n_param_filters, 0);
		CU_ASSERT_PTR_NULL(cfg->tools[0].http.param_filters);
		CU_ASSERT_EQUAL(cfg->tools[0].http.n_param_allow, 0);
		CU_ASSERT_PTR_NULL(cfg->tools[0].http.param_allow);
		cfg_release(cfg);
	}
}

#define FULL_CONFIG \
	"{\n" \
	"  // the gateway's own port\n" \
	"  \"listen\": [\"127.0.0.1:8765\", \"[::1]:8765\"],\n" \
	"  \"max_body_bytes\": 2048,\n" \
	"  \"tools\": {\n" \
	"    \"signal-cli\": {\n" \
	"      \"type\": \"http\",\n" \
	"      \"upstream\": \"http://127.0.0.1:18080/\",\n" \
	"      \"listen\": \"127.0.0.1:8080\",\n" \
	"      \"timeout_secs\": 10,\n" \
	"      \"stream_idle_timeout_secs\": 600\n" \
	"    },\n" \
	"    /* defaults only */\n" \
	"    \"op.v2\": { \"type\": \"http\",\n" \
	"                 \"upstream\": \"https://[::1]:8443/base\" }\n" \
	"  }\n" \
	"}\n"

/* A tool with no policy keys: every list empty, no limit. */
static void check_no_policy(const struct cfg_tool *t)
{
	const struct cfg_strings *lists[] = {
		&t->http.allow_paths, &t->http.allow_http_methods,
		&t->http.jsonrpc_allow_methods, &t->http.jsonrpc_deny_methods,
		&t->http.forward_headers,
	};
	size_t i;

	for (i = 0; i < N_ELEMS(lists); i++) {
		CU_ASSERT_EQUAL(lists[i]->n, 0);
		CU_ASSERT_PTR_NULL(lists[i]->v);
	}
	CU_ASSERT_EQUAL(t->http.is_jsonrpc, 0);
	CU_ASSERT_EQUAL(t->http.n_param_filters, 0);
	CU_ASSERT_PTR_NULL(t->http.param_filters);
	CU_ASSERT_EQUAL(t->http.n_param_allow, 0);
	CU_ASSERT_PTR_NULL(t->http.param_allow);
	CU_ASSERT_EQUAL(t->http.param_aliases, CFG_ALIASES_NONE);
	CU_ASSERT_EQUAL(t->http.n_inject_headers, 0);
	CU_ASSERT_PTR_NULL(t->http.inject_headers);
	CU_ASSERT_EQUAL(t->rate_max_requests, 0);
	CU_ASSERT_EQUAL(t->rate_window_secs, 0);
}

static void check_full(const struct cfg *cfg)
{
	const struct cfg_tool *t;

	CU_ASSERT_EQUAL_FATAL(cfg->n_listen, 2);
	CU_ASSERT_STRING_EQUAL(cfg->listen[0].addr.host, "127.0.0.1");
	CU_ASSERT_EQUAL(cfg->listen[0].addr.port, 8765);
	CU_ASSERT_EQUAL(cfg->listen[0].addr.is_ipv6, 0);
	CU_ASSERT_STRING_EQUAL(cfg->listen[1].addr.host, "::1");
	CU_ASSERT_EQUAL(cfg->listen[1].addr.port, 8765);
	CU_ASSERT_EQUAL(cfg->listen[1].addr.is_ipv6, 1);
	CU_ASSERT_EQUAL(cfg->max_body_bytes, 2048);
	CU_ASSERT_EQUAL_FATAL(cfg->n_tools, 2);
	t = &cfg->tools[0];
	CU_ASSERT_STRING_EQUAL(t->name, "signal-cli");
	CU_ASSERT_EQUAL(t->type, CFG_TOOL_HTTP);
	CU_ASSERT_STRING_EQUAL(t->http.upstream, "http://127.0.0.1:18080");
	CU_ASSERT_EQUAL(t->http.has_listen, 1);
	CU_ASSERT_STRING_EQUAL(t->http.listen.addr.host, "127.0.0.1");
	CU_ASSERT_EQUAL(t->http.listen.addr.port, 8080);
	CU_ASSERT_EQUAL(t->http.listen.addr.is_ipv6, 0);
	CU_ASSERT_EQUAL(t->timeout_secs, 10);
	CU_ASSERT_EQUAL(t->http.stream_idle_timeout_secs, 600);
	CU_ASSERT_EQUAL(t->max_body_bytes, 2048);
	check_no_policy(t);
	t = &cfg->tools[1];
	CU_ASSERT_STRING_EQUAL(t->name, "op.v2");
	CU_ASSERT_EQUAL(t->type, CFG_TOOL_HTTP);
	CU_ASSERT_STRING_EQUAL(t->http.upstream, "https://[::1]:8443/base");
	CU_ASSERT_EQUAL(t->http.has_listen, 0);
	CU_ASSERT_EQUAL(t->timeout_secs, CFG_DEFAULT_TIMEOUT_SECS);
	CU_ASSERT_EQUAL(t->http.stream_idle_timeout_secs, 0);
	CU_ASSERT_EQUAL(t->max_body_bytes, 2048);
	check_no_policy(t);
}

static void test_full(void)
{
	struct cfg *cfg = NULL;
	struct error err;

	CU_ASSERT_EQUAL_FATAL(cfg_load_string(FULL_CONFIG, &cfg, &err), 0);
	check_full(cfg);
	cfg_release(cfg);
}

static void test_defaults(void)
{
	struct cfg *cfg = NULL;
	struct error err;

	CU_ASSERT_EQUAL_FATAL(cfg_load_string(TOP(""), &cfg, &err), 0);
	CU_ASSERT_EQUAL(cfg->n_listen, 0);
	CU_ASSERT_PTR_NULL(cfg->listen);
	CU_ASSERT_EQUAL(cfg->max_body_bytes, CFG_DEFAULT_MAX_BODY_BYTES);
	CU_ASSERT_EQUAL_FATAL(cfg->n_tools, 1);
	CU_ASSERT_STRING_EQUAL(cfg->tools[0].name, "t");
	CU_ASSERT_STRING_EQUAL(cfg->tools[0].http.upstream, "http://h");
	CU_ASSERT_EQUAL(cfg->tools[0].http.has_listen, 1);
	CU_ASSERT_STRING_EQUAL(cfg->tools[0].http.listen.addr.host, "127.0.0.1");
	CU_ASSERT_EQUAL(cfg->tools[0].http.listen.addr.port, 9000);
	CU_ASSERT_EQUAL(cfg->tools[0].timeout_secs, CFG_DEFAULT_TIMEOUT_SECS);
	CU_ASSERT_EQUAL(cfg->tools[0].http.stream_idle_timeout_secs, 0);
	CU_ASSERT_EQUAL(cfg->tools[0].max_body_bytes,
			CFG_DEFAULT_MAX_BODY_BYTES);
	check_no_policy(&cfg->tools[0]);
	cfg_release(cfg);
}

/* Every policy key; the top-level max_body_bytes comes after the tools. */
#define POLICY_CONFIG \
	"{\n" \
	"  \"listen\": [\"127.0.0.1:8765\"],\n" \
	"  \"tools\": {\n" \
	"    \"sig\": {\n" \
	"      \"type\": \"http\",\n" \
	"      \"upstream\": \"http://127.0.0.1:18080\",\n" \
	"      \"allow_paths\": [\"/api/v1/rpc\", \"/api/v1/events*\"],\n" \
	"      \"allow_http_methods\": [\"GET\", \"POST\"],\n" \
	"      \"jsonrpc_allow_methods\": [\"send\", \"version\"],\n" \
	"      \"jsonrpc_deny_methods\": [\"removeAccount\"],\n" \
	"      \"jsonrpc_param_filters\": {\n" \
	"        \"send\": { \"field\": \"recipient\",\n" \
	"                  \"allow_patterns\": [\"+1*\", \"+44*\"],\n" \
	"                  \"deny_patterns\": [] },\n" \
	"        \"sendReaction\": { \"deny_patterns\": [\"+1555*\"],\n" \
	"                          \"field\": \"target.author.number\" }\n" \
	"      },\n" \
	"      \"inject_headers\": { \"Authorization\": \"Bearer s3cret\",\n" \
	"                          \"X-Api-Key\": \"k=1; v\" },\n" \
	"      \"forward_headers\": [\"Cookie\", \"X-Trace_Id\"],\n" \
	"      \"rate_limit\": { \"window_secs\": 60,\n" \
	"                      \"max_requests\": 100 },\n" \
	"      \"max_body_bytes\": 65536\n" \
	"    },\n" \
	"    \"rpc\": { \"type\": \"http\", \"upstream\": \"http://h\",\n" \
	"             \"jsonrpc_deny_methods\": [] },\n" \
	"    \"plain\": { \"type\": \"http\", \"upstream\": \"http://h\" }\n" \
	"  },\n" \
	"  \"max_body_bytes\": 4096\n" \
	"}\n"

/* 1 when list holds exactly the n strings of want, in order. */
static int strings_are(const struct cfg_strings *list,
		       const char *const *want, size_t n)
{
	size_t i;

	if (list->n != n || (n == 0) != (list->v == NULL))
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(list->v[i], want[i]) != 0)
			return 0;
	return 1;
}

#define STRINGS_ARE(list, ...) \
	strings_are((list), (const char *const[]){ __VA_ARGS__ }, \
		    N_ELEMS(((const char *const[]){ __VA_ARGS__ })))

static void check_policy_sig(const struct cfg_tool *t)
{
	const struct cfg_param_filter *f;

	CU_ASSERT_STRING_EQUAL(t->name, "sig");
	CU_ASSERT_EQUAL(t->max_body_bytes, 65536);
	CU_ASSERT(STRINGS_ARE(&t->http.allow_paths, "/api/v1/rpc",
			      "/api/v1/events*"));
	CU_ASSERT(STRINGS_ARE(&t->http.allow_http_methods, "GET", "POST"));
	CU_ASSERT_EQUAL(t->http.is_jsonrpc, 1);
	CU_ASSERT(STRINGS_ARE(&t->http.jsonrpc_allow_methods, "send",
			      "version"));
	CU_ASSERT(STRINGS_ARE(&t->http.jsonrpc_deny_methods, "removeAccount"));
	CU_ASSERT_EQUAL_FATAL(t->http.n_param_filters, 2);
	f = &t->http.param_filters[0];
	CU_ASSERT_STRING_EQUAL(f->method, "send");
	CU_ASSERT_STRING_EQUAL(f->field, "recipient");
	CU_ASSERT(STRINGS_ARE(&f->allow_patterns, "+1*", "+44*"));
	CU_ASSERT(strings_are(&f->deny_patterns, NULL, 0));
	f = &t->http.param_filters[1];
	CU_ASSERT_STRING_EQUAL(f->method, "sendReaction");
	CU_ASSERT_STRING_EQUAL(f->field, "target.author.number");
	CU_ASSERT(strings_are(&f->allow_patterns, NULL, 0));
	CU_ASSERT(STRINGS_ARE(&f->deny_patterns, "+1555*"));
	CU_ASSERT_EQUAL_FATAL(t->http.n_inject_headers, 2);
	CU_ASSERT_STRING_EQUAL(t->http.inject_headers[0].name,
			       "Authorization");
	CU_ASSERT_STRING_EQUAL(t->http.inject_headers[0].value,
			       "Bearer s3cret");
	CU_ASSERT_STRING_EQUAL(t->http.inject_headers[1].name, "X-Api-Key");
	CU_ASSERT_STRING_EQUAL(t->http.inject_headers[1].value, "k=1; v");
	CU_ASSERT(STRINGS_ARE(&t->http.forward_headers, "Cookie",
			      "X-Trace_Id"));
	CU_ASSERT_EQUAL(t->rate_max_requests, 100);
	CU_ASSERT_EQUAL(t->rate_window_secs, 60);
}

static void test_policy(void)
{
	struct cfg *cfg = NULL;
	struct error err;
	const struct cfg_tool *t;

	CU_ASSERT_EQUAL_FATAL(cfg_load_string(POLICY_CONFIG, &cfg, &err), 0);
	CU_ASSERT_EQUAL(cfg->max_body_bytes, 4096);
	CU_ASSERT_EQUAL_FATAL(cfg->n_tools, 3);
	check_policy_sig(&cfg->tools[0]);
	/* an empty jsonrpc_deny_methods: a JSON-RPC tool, nothing else */
	t = &cfg->tools[1];
	CU_ASSERT_STRING_EQUAL(t->name, "rpc");
	CU_ASSERT_EQUAL(t->http.is_jsonrpc, 1);
	CU_ASSERT(strings_are(&t->http.jsonrpc_deny_methods, NULL, 0));
	CU_ASSERT(strings_are(&t->http.jsonrpc_allow_methods, NULL, 0));
	CU_ASSERT_EQUAL(t->http.n_param_filters, 0);
	CU_ASSERT_EQUAL(t->max_body_bytes, 4096);
	t = &cfg->tools[2];
	CU_ASSERT_STRING_EQUAL(t->name, "plain");
	CU_ASSERT_EQUAL(t->max_body_bytes, 4096);
	check_no_policy(t);
	cfg_release(cfg);
}

/* jsonrpc_param_allow, and filters given one per method, as a list and
 * under a glob (issue 12). */
#define PARAM_RULES_CONFIG \
	"{\"listen\": [\"127.0.0.1:8765\"], \"tools\": {\"sig\": {\n" \
	"  \"type\": \"http\", \"upstream\": \"http://h\",\n" \
	"  \"jsonrpc_param_aliases\": \"signal-cli\",\n" \
	"  \"jsonrpc_param_allow\": {\n" \
	"    \"send\": [\"recipient\", \"message\", \"account\"],\n" \
	"    \"version\": [] },\n" \
	"  \"jsonrpc_param_filters\": {\n" \
	"    \"send\": [ { \"field\": \"recipient\",\n" \
	"                \"allow_patterns\": [\"+1*\"] },\n" \
	"              { \"field\": \"message\",\n" \
	"                \"deny_patterns\": [\"*http*\"] } ],\n" \
	"    \"send*\": { \"field\": \"groupId\",\n" \
	"               \"deny_patterns\": [\"x\"] },\n" \
	"    \"sendReaction\": [ { \"field\": \"target.author\",\n" \
	"                        \"allow_patterns\": [\"+1*\"] } ]\n" \
	"  } } } }\n"

static int filter_is(const struct cfg_param_filter *f, const char *method,
		     const char *field, size_t n_allow, size_t n_deny)
{
	return strcmp(f->method, method) == 0 &&
	       strcmp(f->field, field) == 0 &&
	       f->allow_patterns.n == n_allow && f->deny_patterns.n == n_deny;
}

static void test_param_rules(void)
{
	struct cfg *cfg = NULL;
	struct error err;
	const struct cfg_tool *t;

	CU_ASSERT_EQUAL_FATAL(cfg_load_string(PARAM_RULES_CONFIG, &cfg, &err),
			      0);
	t = &cfg->tools[0];
	CU_ASSERT_EQUAL(t->http.is_jsonrpc, 1);
	CU_ASSERT_EQUAL(t->http.param_aliases, CFG_ALIASES_SIGNAL_CLI);
	CU_ASSERT_EQUAL_FATAL(t->http.n_param_allow, 2);
	CU_ASSERT_STRING_EQUAL(t->http.param_allow[0].method, "send");
	CU_ASSERT(STRINGS_ARE(&t->http.param_allow[0].params, "recipient",
			      "message", "account"));
	CU_ASSERT_STRING_EQUAL(t->http.param_allow[1].method, "version");
	CU_ASSERT(strings_are(&t->http.param_allow[1].params, NULL, 0));
	CU_ASSERT_EQUAL_FATAL(t->http.n_param_filters, 4);
	CU_ASSERT(filter_is(&t->http.param_filters[0], "send", "recipient",
			    1, 0));
	CU_ASSERT(filter_is(&t->http.param_filters[1], "send", "message",
			    0, 1));
	CU_ASSERT(filter_is(&t->http.param_filters[2], "send*", "groupId",
			    0, 1));
	CU_ASSERT(filter_is(&t->http.param_filters[3], "sendReaction",
			    "target.author", 1, 0));
	cfg_release(cfg);
}

/* Every cli key ("type" last), a cli tool with defaults only and an http
 * tool beside them; %s: a symlink to a directory, then its parent. */
#define CLI_CONFIG \
	"{\n" \
	"  \"listen\": [\"127.0.0.1:8765\"],\n" \
	"  \"tools\": {\n" \
	"    \"op\": {\n" \
	"      \"binary\": \"/usr/bin/env\",\n" \
	"      \"argv_allow_patterns\": [\"item get *\", \"vault list*\"],\n" \
	"      \"argv_deny_patterns\": [\"* --session *\"],\n" \
	"      \"env_inject\": { \"OP_TOKEN\": \"ops_s3cret\",\n" \
	"                      \"PATH\": \"/opt/op/bin\" },\n" \
	"      \"cwd_allowed\": [\"/tmp\", \"%s\", \"%s/./real/\"],\n" \
	"      \"timeout_secs\": 5,\n" \
	"      \"max_output_bytes\": 65536,\n" \
	"      \"max_concurrent\": 2,\n" \
	"      \"max_body_bytes\": 1024,\n" \
	"      \"rate_limit\": { \"max_requests\": 10,\n" \
	"                      \"window_secs\": 60 },\n" \
	"      \"type\": \"cli\"\n" \
	"    },\n" \
	"    \"bare\": { \"type\": \"cli\", \"binary\": \"/bin/true\" },\n" \
	"    \"web\": { \"type\": \"http\", \"upstream\": \"http://h\" }\n" \
	"  },\n" \
	"  \"max_body_bytes\": 4096\n" \
	"}\n"

/* No cli key set: what an http tool has. */
static void check_no_cli(const struct cfg_tool *t)
{
	CU_ASSERT_PTR_NULL(t->cli.binary);
	CU_ASSERT(strings_are(&t->cli.argv_allow_patterns, NULL, 0));
	CU_ASSERT(strings_are(&t->cli.argv_deny_patterns, NULL, 0));
	CU_ASSERT_EQUAL(t->cli.n_env_inject, 0);
	CU_ASSERT_PTR_NULL(t->cli.env_inject);
	CU_ASSERT(strings_are(&t->cli.cwd_allowed, NULL, 0));
}

static void check_cli_op(const struct cfg_tool *t, const char *tmp_real,
			 const char *dir_real)
{
	CU_ASSERT_STRING_EQUAL(t->name, "op");
	CU_ASSERT_EQUAL(t->type, CFG_TOOL_CLI);
	CU_ASSERT_STRING_EQUAL(t->cli.binary, "/usr/bin/env");
	CU_ASSERT_PTR_NULL(t->http.upstream);
	CU_ASSERT_EQUAL(t->http.has_listen, 0);
	CU_ASSERT(STRINGS_ARE(&t->cli.argv_allow_patterns, "item get *",
			      "vault list*"));
	CU_ASSERT(STRINGS_ARE(&t->cli.argv_deny_patterns, "* --session *"));
	CU_ASSERT_EQUAL_FATAL(t->cli.n_env_inject, 2);
	CU_ASSERT_STRING_EQUAL(t->cli.env_inject[0].name, "OP_TOKEN");
	CU_ASSERT_STRING_EQUAL(t->cli.env_inject[0].value, "ops_s3cret");
	CU_ASSERT_STRING_EQUAL(t->cli.env_inject[1].name, "PATH");
	CU_ASSERT_STRING_EQUAL(t->cli.env_inject[1].value, "/opt/op/bin");
	/* the symlink and the "." spelling both stored as the real path */
	CU_ASSERT(STRINGS_ARE(&t->cli.cwd_allowed, tmp_real, dir_real,
			      dir_real));
	CU_ASSERT_EQUAL(t->timeout_secs, 5);
	CU_ASSERT_EQUAL(t->cli.max_output_bytes, 65536);
	CU_ASSERT_EQUAL(t->cli.max_concurrent, 2);
	CU_ASSERT_EQUAL(t->max_body_bytes, 1024);
	CU_ASSERT_EQUAL(t->rate_max_requests, 10);
	CU_ASSERT_EQUAL(t->rate_window_secs, 60);
}

static void check_cli(const struct cfg *cfg, const char *tmp_real,
		      const char *dir_real)
{
	const struct cfg_tool *t;

	CU_ASSERT_EQUAL_FATAL(cfg->n_tools, 3);
	check_cli_op(&cfg->tools[0], tmp_real, dir_real);
	t = &cfg->tools[1];
	CU_ASSERT_STRING_EQUAL(t->name, "bare");
	CU_ASSERT_EQUAL(t->type, CFG_TOOL_CLI);
	CU_ASSERT_STRING_EQUAL(t->cli.binary, "/bin/true");
	CU_ASSERT_PTR_NULL(t->http.upstream);
	CU_ASSERT(strings_are(&t->cli.argv_allow_patterns, NULL, 0));
	CU_ASSERT(strings_are(&t->cli.argv_deny_patterns, NULL, 0));
	CU_ASSERT_EQUAL(t->cli.n_env_inject, 0);
	CU_ASSERT_PTR_NULL(t->cli.env_inject);
	CU_ASSERT(strings_are(&t->cli.cwd_allowed, NULL, 0));
	CU_ASSERT_EQUAL(t->timeout_secs, CFG_DEFAULT_TIMEOUT_SECS);
	CU_ASSERT_EQUAL(t->cli.max_output_bytes, CFG_DEFAULT_MAX_OUTPUT_BYTES);
	CU_ASSERT_EQUAL(t->cli.max_concurrent, CFG_DEFAULT_MAX_CONCURRENT);
	CU_ASSERT_EQUAL(t->max_body_bytes, 4096);
	check_no_policy(t);
	/* an http tool: no cli field set, cli limits left at 0 */
	t = &cfg->tools[2];
	CU_ASSERT_STRING_EQUAL(t->name, "web");
	CU_ASSERT_EQUAL(t->type, CFG_TOOL_HTTP);
	check_no_cli(t);
	CU_ASSERT_EQUAL(t->cli.max_output_bytes, 0);
	CU_ASSERT_EQUAL(t->cli.max_concurrent, 0);
}

static void test_cli(void)
{
	char dir[] = "/tmp/test_config.XXXXXX";
	char link[64], real[64], json[sizeof(CLI_CONFIG) + 128];
	char *tmp_real = realpath("/tmp", NULL), *dir_real = NULL;
	struct cfg *cfg = NULL;
	struct error err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(tmp_real);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(real, sizeof(real), "%s/real", dir);
	CU_ASSERT_EQUAL(mkdir(real, 0700), 0);
	CU_ASSERT_EQUAL(symlink("real", link), 0);
	dir_real = realpath(real, NULL);
	CU_ASSERT_PTR_NOT_NULL(dir_real);
	snprintf(json, sizeof(json), CLI_CONFIG, link, dir);
	CU_ASSERT_EQUAL(cfg_load_string(json, &cfg, &err), 0);
	if (cfg && dir_real)
		check_cli(cfg, tmp_real, dir_real);
	cfg_release(cfg);
	unlink(link);
	rmdir(real);
	rmdir(dir);
	free(dir_real);
	free(tmp_real);
}

/* http tools have none of the cli fields. */
static void test_http_no_cli(void)
{
	struct cfg *cfg = NULL;
	struct error err;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(cfg_load_string(POLICY_CONFIG, &cfg, &err), 0);
	for (i = 0; i < cfg->n_tools; i++)
		check_no_cli(&cfg->tools[i]);
	cfg_release(cfg);
}

static void test_bad_arguments(void)
{
	struct cfg *cfg = NULL;
	struct error err;

	CU_ASSERT_EQUAL(cfg_load_string(NULL, &cfg, &err), -1);
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_EQUAL(cfg_load_file(NULL, &cfg, &err), -1);
	CU_ASSERT_PTR_NULL(cfg);
	/* no error record wanted: still refused, nothing written */
	CU_ASSERT_EQUAL(cfg_load_string("{", &cfg, NULL), -1);
	CU_ASSERT_PTR_NULL(cfg);
	cfg_release(NULL);
}

/* A document of exactly n bytes: TOP("") padded with blanks. */
static char *padded(size_t n)
{
	static const char doc[] = TOP("");
	char *s = malloc(n + 1);

	if (!s)
		return NULL;
	memset(s, ' ', n);
	memcpy(s, doc, sizeof(doc) - 1);
	s[n] = '\0';
	return s;
}

static void test_string_size_cap(void)
{
	struct cfg *cfg = NULL;
	struct error err;
	char *s = padded(MIB4);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(cfg_load_string(s, &cfg, &err), 0);
	cfg_release(cfg);
	cfg = NULL;
	free(s);
	s = padded(MIB4 + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(cfg_load_string(s, &cfg, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.key, "");
	CU_ASSERT_STRING_EQUAL(err.msg, "file too large");
	free(s);
}

static void test_find_tool(void)
{
	struct cfg *cfg = NULL;
	struct error err;
	const struct cfg_tool *t;

	CU_ASSERT_EQUAL_FATAL(cfg_load_string(FULL_CONFIG, &cfg, &err), 0);
	t = cfg_find_tool(cfg, "signal-cli", 10);
	CU_ASSERT_PTR_EQUAL(t, &cfg->tools[0]);
	/* not NUL-terminated: the length decides */
	t = cfg_find_tool(cfg, "op.v2/rest", 5);
	CU_ASSERT_PTR_EQUAL(t, &cfg->tools[1]);
	CU_ASSERT_PTR_NULL(cfg_find_tool(cfg, "signal-cli", 6));
	CU_ASSERT_PTR_NULL(cfg_find_tool(cfg, "signal-cli2", 11));
	CU_ASSERT_PTR_NULL(cfg_find_tool(cfg, "Signal-cli", 10));
	CU_ASSERT_PTR_NULL(cfg_find_tool(cfg, "", 0));
	CU_ASSERT_PTR_NULL(cfg_find_tool(cfg, "op.v2\0x", 7));
	CU_ASSERT_PTR_NULL(cfg_find_tool(NULL, "op.v2", 5));
	cfg_release(cfg);
}

/* A temp file holding len bytes of data; its name goes to path. */
static int temp_file(char *path, size_t size, const char *data, size_t len)
{
	int fd;
	ssize_t n;

	snprintf(path, size, "/tmp/test_config.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* Loads a temp file of len bytes; err filled; cfg freed. */
static int load_temp(const char *data, size_t len, struct error *err)
{
	char path[64];
	struct cfg *cfg = NULL;
	int rc = -2;

	if (temp_file(path, sizeof(path), data, len) == 0)
		rc = cfg_load_file(path, &cfg, err);
	unlink(path);
	cfg_release(cfg);
	return rc;
}

static void test_load_file(void)
{
	char path[64];
	struct cfg *cfg = NULL;
	struct error err;

	CU_ASSERT_EQUAL_FATAL(temp_file(path, sizeof(path), FULL_CONFIG,
					strlen(FULL_CONFIG)), 0);
	CU_ASSERT_EQUAL(cfg_load_file(path, &cfg, &err), 0);
	unlink(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	check_full(cfg);
	cfg_release(cfg);
}

static void test_load_file_errors(void)
{
	static const char nul[] = "{\"tools\":{}}\0 ";
	static const char bad[] = "{\n  \"tools\": {,\n}";
	struct cfg *cfg = NULL;
	struct error err;

	CU_ASSERT_EQUAL(cfg_load_file("/nonexistent/carapaced.conf", &cfg,
				      &err), -1);
	CU_ASSERT_PTR_NULL(cfg);
	CU_ASSERT_STRING_EQUAL(err.key, "");
	CU_ASSERT_STRING_EQUAL(err.msg,
			       "cannot open: No such file or directory");
	CU_ASSERT_EQUAL(cfg_load_file("/tmp", &cfg, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.msg, "cannot read: Is a directory");
	CU_ASSERT_EQUAL(load_temp(nul, sizeof(nul) - 1, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.msg, "file contains a NUL byte");
	CU_ASSERT_EQUAL(load_temp(bad, sizeof(bad) - 1, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.key, "");
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "line 2, column 13: "));
	CU_ASSERT_EQUAL(load_temp("", 0, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "line 1, column 1: "));
}

static void test_file_size_cap(void)
{
	struct error err;
	char *s = padded(MIB4 + 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(load_temp(s, MIB4, &err), 0);
	CU_ASSERT_EQUAL(load_temp(s, MIB4 + 1, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.key, "");
	CU_ASSERT_STRING_EQUAL(err.msg, "file too large");
	free(s);
}

/* Every client key and listen object key, stored. */
static void test_clients_stored(void)
{
	struct cfg *cfg = NULL;
	struct error err;
	const struct cfg_client *cl;

	CU_ASSERT_EQUAL_FATAL(
		cfg_load_string(
			CLIENTS("\"vm1\":{\"token_sha256\":\"" H64B "\","
				"\"allow_from\":[\"100.64.0.0/10\",\"fd00::/8\"],"
				"\"tools\":[\"t\",\"u\"],\"rate_limit\":"
				"{\"max_requests\":600,\"window_secs\":60}},"
				"\"box\":{\"unix_peer_uids\":[1000,0],"
				"\"unix_peer_gids\":[27],\"tools\":[\"u\"]},"
				"\"remote\":{\"tls_client_cn\":\"agent-7\","
				"\"tools\":[]}"),
			&cfg, &err),
		0);
	CU_ASSERT(cfg->has_clients);
	CU_ASSERT_EQUAL(cfg->n_clients, 3);
	cl = cfg_find_client(cfg, "vm1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	CU_ASSERT(cl->has_token);
	CU_ASSERT_EQUAL(cl->token_sha256[0], 0x11);
	CU_ASSERT_EQUAL(cl->token_sha256[31], 0xef);
	CU_ASSERT_EQUAL(cl->n_allow_from, 2);
	CU_ASSERT_EQUAL(cl->allow_from[0].prefix, 10);
	CU_ASSERT(cl->allow_from[1].is_ipv6);
	CU_ASSERT_EQUAL(cl->rate_max_requests, 600);
	CU_ASSERT_EQUAL(cl->rate_window_secs, 60);
	CU_ASSERT(cfg_client_may_use(cl, "t") && cfg_client_may_use(cl, "u"));
	CU_ASSERT(!cfg_client_may_use(cl, "v"));
	cl = cfg_find_client(cfg, "box");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	CU_ASSERT(!cl->has_token);
	CU_ASSERT_EQUAL(cl->n_unix_peer_uids, 2);
	CU_ASSERT_EQUAL(cl->unix_peer_uids[0], 1000);
	CU_ASSERT_EQUAL(cl->unix_peer_gids[0], 27);
	CU_ASSERT_EQUAL(cl->rate_max_requests, 0);
	CU_ASSERT(!cfg_client_may_use(cl, "t"));
	cl = cfg_find_client(cfg, "remote");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	CU_ASSERT_STRING_EQUAL(cl->tls_client_cn, "agent-7");
	CU_ASSERT(!cfg_client_may_use(cl, "t")); /* no tools: none */
	CU_ASSERT_PTR_NULL(cfg_find_client(cfg, "nobody"));
	CU_ASSERT_EQUAL_FATAL(cfg->n_listen, 3);
	CU_ASSERT_EQUAL(cfg->listen[1].kind, CFG_LISTEN_UNIX);
	CU_ASSERT_STRING_EQUAL(cfg->listen[1].unix_path, "/run/c.sock");
	CU_ASSERT_EQUAL(cfg->listen[1].unix_mode, 0660);
	CU_ASSERT_STRING_EQUAL(cfg->listen[2].tls_cert, "/c");
	CU_ASSERT_STRING_EQUAL(cfg->listen[2].tls_key, "/k");
	CU_ASSERT_STRING_EQUAL(cfg->listen[2].tls_client_ca, "/ca");
	CU_ASSERT_STRING_EQUAL(cfg->listen[2].text, "0.0.0.0:8443");
	cfg_release(cfg);
	CU_ASSERT_EQUAL_FATAL(
		cfg_load_string(LISTEN("{\"address\":\"unix:/run/a.sock\","
				       "\"unix_mode\":\"0600\",\"unix_group\":"
				       "\"agents\"}", ""),
				&cfg, &err),
		0);
	CU_ASSERT_EQUAL(cfg->listen[0].unix_mode, 0600);
	CU_ASSERT_STRING_EQUAL(cfg->listen[0].unix_group, "agents");
	CU_ASSERT(!cfg->has_clients);
	cfg_release(cfg);
}

static const struct {
	const char *name;
	CU_TestFunc fn;
} tests[] = {
	{ "error table", test_table },
	{ "bad upstream URLs", test_bad_urls },
	{ "good upstream URLs", test_good_urls },
	{ "audit defaults", test_audit_defaults },
	{ "keys for the other tool type", test_scoped_tool_keys },
	{ "env_inject values not shown", test_env_secrets },
	{ "binary not executable", test_binary_not_executable },
	{ "refused inject_headers", test_refused_inject_headers },
	{ "inject_headers values not shown", test_header_secrets },
	{ "jsonrpc_* sets is_jsonrpc", test_jsonrpc_flag },
	{ "full config", test_full },
	{ "policy keys", test_policy },
	{ "defaults", test_defaults },
	{ "cli tools", test_cli },
	{ "http tools have no cli fields", test_http_no_cli },
	{ "bad arguments", test_bad_arguments },
	{ "string size cap", test_string_size_cap },
	{ "param allow and filter lists", test_param_rules },
	{ "cfg_find_tool", test_find_tool },
	{ "cfg_load_file", test_load_file },
	{ "cfg_load_file errors", test_load_file_errors },
	{ "file size cap", test_file_size_cap },
	{ "clients and listen objects stored", test_clients_stored },
};

int main(void)
{
	CU_pSuite suite;
	size_t i;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("cfg", NULL, NULL);
	if (!suite)
		goto fail;
	for (i = 0; i < N_ELEMS(tests); i++)
		if (!CU_add_test(suite, tests[i].name, tests[i].fn))
			goto fail;
	return cu_run();
fail:
	CU_cleanup_registry();
	return 1;
}
