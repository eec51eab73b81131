#!/bin/sh
# Starts the test upstream and carapaced (etc/demo.conf), shows SSE events
# arriving live through the gateway, a plain request and refused ones, then
# stops both. Run from a built tree: ./configure && make && sh tests/demo.sh
set -u
cd "$(dirname "$0")/.."
GW=http://127.0.0.1:8765

make -s tests/upstream || exit 1
tests/upstream -p 18080 >/dev/null &
up=$!
src/carapaced -f -c etc/demo.conf &
gw=$!
sniff=
trap 'kill $sniff $gw $up 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
for _ in $(seq 50); do
	curl -s -o /dev/null "$GW/healthz" && break
	sleep 0.1
done
# the audit trail, live, as the operator sees it (lines start with "audit>")
src/carapacectl -c etc/demo.conf sniff 2>/dev/null | sed -u 's/^/audit> /' &
sniff=$!
sleep 0.3

stamp() { while IFS= read -r line || [ -n "$line" ]; do
	printf '%s  %s\n' "$(date +%T.%3N)" "$line"; done; }

echo "== SSE through the gateway: the upstream sends events 0.5, 1.5, 3 and"
echo "== 6 s after the stream opens; each line is printed as it arrives."
date +%T.%3N
curl -sN "$GW/tools/signal-cli/api/v1/events?schedule=0.5,1.5,3,6&end=1" |
	stamp
echo
echo "== The same stream on the tool's own drop-in listener (port 8780):"
curl -sN "http://127.0.0.1:8780/api/v1/events?schedule=0.2&end=1" | stamp
echo
echo "== A JSON-RPC call:"
curl -s -H 'Content-Type: application/json' \
	-d '{"jsonrpc":"2.0","method":"version","id":1}' \
	"$GW/tools/signal-cli/api/v1/rpc"
echo
echo
sleep 0.2
echo "== Refused: an unknown tool, a path with a dot segment, a JSON-RPC"
echo "== method not in jsonrpc_allow_methods:"
say() { printf '%s\n' "$1"; sleep 0.1; }
say "$(curl -s "$GW/tools/op/item/list")"
say "$(curl -s --path-as-is "$GW/tools/signal-cli/api/../v1/rpc")"
say "$(curl -s -H 'Content-Type: application/json' \
	-d '{"jsonrpc":"2.0","method":"removeAccount","id":2}' \
	"$GW/tools/signal-cli/api/v1/rpc")"
sleep 0.3
echo
echo "== carapacectl status, and the counters on /metrics:"
src/carapacectl -c etc/demo.conf status
curl -s --unix-socket /tmp/carapaced-demo-admin.sock http://localhost/metrics |
	grep '^carapace_requests_total'
echo
echo "== The audit log (/tmp/carapaced-demo-audit.log), last two lines:"
tail -n 2 /tmp/carapaced-demo-audit.log
