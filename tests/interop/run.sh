#!/bin/sh
# carapaced's interop suite with the MCP TypeScript SDK (make
# check-interop; tests/README says more). Starts the SDK server
# (server.mjs) on a port the kernel picks, carapaced on a free loopback
# port with a config of its own (a tool of type http with an "mcp" block
# in front of that server), then the SDK client (client.mjs) through it:
# a line per case and "interop: N passed, M failed". Exits non-zero if a
# case failed or anything could not start; whatever it started is ended
# on every way out.
#
#   CARAPACED    the daemon to test (required)
#   NODE, NPM    default /usr/bin/node and /usr/bin/npm (Debian's
#                packages; tests/install-deps.sh installs them)
#   INTEROP_DIR  where the SDK is installed (npm ci from the lockfile,
#                again only when the lockfile changes) and the scripts
#                run; default: this directory
#   CASES        only these cases (comma-separated names)
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${CARAPACED:?CARAPACED must name the carapaced to test}"
NODE=${NODE:-/usr/bin/node}
NPM=${NPM:-/usr/bin/npm}
dir=${INTEROP_DIR:-$here}

die() { echo "interop: $*" >&2; echo "interop: 0 passed, 1 failed"; exit 1; }
[ -x "$NODE" ] || die "no $NODE (sh tests/install-deps.sh installs nodejs)"
[ -x "$CARAPACED" ] || die "no $CARAPACED (make it first)"

# --- the SDK, at the version package-lock.json pins ---
mkdir -p "$dir" || die "cannot make $dir"
dir=$(cd "$dir" && pwd)
if [ "$dir" != "$here" ]; then
	for f in package.json package-lock.json server.mjs client.mjs; do
		cp "$here/$f" "$dir/$f" || die "cannot copy $f to $dir"
	done
fi
stamp="$dir/node_modules/.carapaced-lock"
if ! cmp -s "$dir/package-lock.json" "$stamp"; then
	[ -x "$NPM" ] || die "no $NPM (sh tests/install-deps.sh installs npm)"
	echo "interop: npm ci in $dir"
	(cd "$dir" && "$NPM" ci --no-audit --no-fund --loglevel=error) ||
		die "npm ci failed"
	cp "$dir/package-lock.json" "$stamp"
fi
sdk_json=$dir/node_modules/@modelcontextprotocol/sdk/package.json
sdk=$("$NODE" -p "require('$sdk_json').version") ||
	die "the SDK is not installed in $dir"
echo "interop: MCP TypeScript SDK $sdk, node $("$NODE" --version), $CARAPACED"

# --- what is started is ended on every way out ---
tmp=$(mktemp -d /tmp/carapaced-interop-XXXXXX) || die "no temporary directory"
server_pid= gw_pid= client_pid=
cleanup() {
	for pid in $client_pid $gw_pid $server_pid; do
		kill "$pid" 2>/dev/null
	done
	for pid in $client_pid $gw_pid $server_pid; do
		wait "$pid" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
	limit=$(( $(date +%s) + $1 )); shift
	until "$@"; do
		[ "$(date +%s)" -le "$limit" ] || return 1
		sleep 0.05
	done
}
show_logs() {
	for f in "$tmp/server.err" "$tmp/carapaced.log"; do
		[ -s "$f" ] && { echo "--- $f (last 40 lines)"; tail -40 "$f"; }
	done
}

# --- the SDK server: it says its port once it listens ---
(cd "$dir" && exec "$NODE" server.mjs) >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
server_up() {
	grep -q '^port ' "$tmp/server.out" ||
		{ kill -0 "$server_pid" 2>/dev/null || return 0; false; }
}
wait_for 30 server_up && kill -0 "$server_pid" 2>/dev/null ||
	{ show_logs; die "the SDK server did not start"; }
sport=$(sed -n 's/^port //p' "$tmp/server.out")

# --- carapaced on a free port (tried again if another took it first) ---
free_port() {
	"$NODE" -e 'const s = require("net").createServer();
		s.listen(0, "127.0.0.1", () => {
			console.log(s.address().port); s.close(); });'
}
write_conf() {
	cat >"$tmp/carapaced.conf" <<EOF
{
  "listen": ["127.0.0.1:$1"],
  "audit_log": "$tmp/audit.log",
  "tools": {
    "sdk": {
      "type": "http",
      "upstream": "http://127.0.0.1:$sport",
      "allow_paths": ["/mcp"],
      "allow_http_methods": ["GET", "POST", "DELETE"],
      "timeout_secs": 30,
      "mcp": {
        "tools_allow": ["search_*", "count_slowly", "long_job",
                        "confirm_action", "create_*", "*_repo"],
        "tools_deny": ["delete_*"],
        "arguments": {
          "create_note": { "field": "folder",
                           "allow_patterns": ["notes/*"],
                           "deny_patterns": ["private/*"] }
        },
        "require_protocol_versions": ["2025-03-26", "2025-06-18",
                                      "2025-11-25"]
      }
    }
  }
}
EOF
}
gw_up() {
	kill -0 "$gw_pid" 2>/dev/null || return 0
	curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$gw/healthz"
}
tries=0
while :; do
	tries=$((tries + 1))
	gw=$(free_port) || die "no free port"
	write_conf "$gw"
	"$CARAPACED" -t -c "$tmp/carapaced.conf" >"$tmp/check.log" 2>&1 ||
		{ cat "$tmp/check.log"; die "carapaced -t refused the config"; }
	"$CARAPACED" -f -c "$tmp/carapaced.conf" 2>"$tmp/carapaced.log" &
	gw_pid=$!
	wait_for 30 gw_up || { show_logs; die "carapaced did not answer"; }
	kill -0 "$gw_pid" 2>/dev/null && break
	wait "$gw_pid" 2>/dev/null
	gw_pid=
	[ "$tries" -lt 3 ] || { show_logs; die "carapaced did not start"; }
done

# --- the cases (in the background, so that a signal ends them too) ---
(cd "$dir" && GATEWAY="http://127.0.0.1:$gw/tools/sdk/mcp" \
	CONTROL="http://127.0.0.1:$sport/control" exec "$NODE" client.mjs) &
client_pid=$!
wait "$client_pid"
rc=$?
client_pid=
if [ "$rc" -ne 0 ]; then
	show_logs
	if [ -s "$tmp/audit.log" ]; then
		echo "--- audit log (last 20 lines)"
		tail -20 "$tmp/audit.log"
	fi
fi
exit "$rc"
