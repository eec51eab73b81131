# Issue 13, items 3 and 7 (ledger, metrics, stream, daemon, ratelimit,
# and cfg's reference drop). Apply from the top of the tree:
#   sed -i -E -f rename.sed src/*.c src/*.h tests/*.c
# Idempotent: every pattern matches only the old spelling.
#
# --- call-site rewrites: flag arguments become named constants or a
# struct; these must come before the plain renames below ---
# ledger_entry_end: has_exit, exit_code, signal -> const struct ledger_exit *
/ free_body_reader\(void \*cls\)$/,/^}/s/^(\t+)int exit_code, signal;$/\1struct ledger_exit ex;/
s/\bint has_exit = stream_get_exit\(br->stream, &exit_code, &signal\);/int has_exit = stream_get_exit(br->stream, \&ex.code, \&ex.signal);/
s/\bentry_end\(br->entry, ending_of\(br\), has_exit, exit_code, signal\);/ledger_entry_end(br->entry, ending_of(br), has_exit ? \&ex : NULL);/
s/\bentry_end\((.*), 0, 0, 0\);/ledger_entry_end(\1, NULL);/
# ledger_entry_open: int stream -> LEDGER_PLAIN / LEDGER_STREAM
s/\bentry_open\((.*), 0\);/ledger_entry_open(\1, LEDGER_PLAIN);/
s/^(\t+)entry_open\((.*), is_event_stream\(head\)\);$/\1ledger_entry_open(\2,\n\1\t\t  is_event_stream(head) ? LEDGER_STREAM :\n\1\t\t\t\t\t  LEDGER_PLAIN);/
# ledger_entry_fail: -1 -> METRICS_UPSTREAM_NONE
s/^(\t+)entry_fail\(rq->entry, failure_status\(why\), msg, upstream_kind\(why\)\);$/\1ledger_entry_fail(rq->entry, failure_status(why), msg,\n\1\t\t  upstream_kind(why));/
s/^(\t+)entry_fail\((.*), -1\);$/\1ledger_entry_fail(\2,\n\1\t\t  METRICS_UPSTREAM_NONE);/
/ upstream_kind\(enum stream_failure why\)$/,/^}/s/\breturn -1;/return METRICS_UPSTREAM_NONE;/
s/^static int upstream_kind\(enum stream_failure why\)$/static enum metrics_upstream_error upstream_kind(enum stream_failure why)/
# stream_finish: int ok -> STREAM_END_WHOLE / STREAM_END_BROKEN
s/\bstream_finish\(s, ok\);/stream_finish(s, ok ? STREAM_END_WHOLE : STREAM_END_BROKEN);/
s/^(\t+)stream_finish\(j->stream, rc == 0 && ok && !res\.undelivered\);$/\1stream_finish(j->stream, rc == 0 \&\& ok \&\& !res.undelivered ?\n\1\t      STREAM_END_WHOLE : STREAM_END_BROKEN);/
s/\bstream_finish\((.*), 1\);/stream_finish(\1, STREAM_END_WHOLE);/
s/\bstream_finish\((.*), 0\);/stream_finish(\1, STREAM_END_BROKEN);/
# ledger_entry_set_tool returns -1 on out of memory (the entry unchanged):
# the request is refused, as any other it cannot serve
s/^(\t+)entry_set_tool\(rq->entry, rq->route\.tool\);$/\1if (ledger_entry_set_tool(rq->entry, rq->route.tool) < 0)\n\1\treturn refuse(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE,\n\1\t\t      "out of memory", 0);/
#
# --- lines the longer names would push past 80 columns ---
s/^\tstruct entry \*entry;            \/\*/\tstruct ledger_entry *entry;     \/*/
s/^(\t+)rq->entry = entry_new\(srv->ledger, client_of\(c\), method, rq->target\);$/\1rq->entry = ledger_entry_new(srv->ledger, client_of(c), method,\n\1\t\t\t     rq->target);/
s/^(\t+)entry_set_jsonrpc_methods\(rq->entry, calls\.methods, calls\.truncated\);$/\1ledger_entry_set_jsonrpc_methods(rq->entry, calls.methods,\n\1\t\t\t\t calls.truncated);/
/return ratelimit_(take|admit)_n\(/,/\);$/s/^\t\t\t\t([^ \t])/\t\t\t\t \1/
#
# --- renames ---
# ledger: module prefix on every exported name
s/\bstruct entry\b/struct ledger_entry/g
s/\benum entry_ending\b/enum ledger_ending/g
s/\bENDED_(COMPLETE|CLIENT_CLOSED|ERROR|RELOAD|SHUTDOWN|CLIENT_STALLED)\b/LEDGER_ENDED_\1/g
s/\bentry_(new|set_tool|set_body|set_jsonrpc_methods|set_argv|deny|fail|open|set_closer|add_out|discard|end)\b/ledger_entry_\1/g
# daemon: module prefix
s/\bpidfile_(check|write|remove)\b/daemon_pidfile_\1/g
# ratelimit: "take" means an ownership transfer; a limit admits
s/\bratelimit_take_n\b/ratelimit_admit_n/g
s/\bratelimit_take\b/ratelimit_admit/g
# cfg: one reference-count vocabulary, X_hold / X_release
s/\bcfg_free\b/cfg_release/g
