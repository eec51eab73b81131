#!/bin/bash
# spike_measure.sh BUILD N [LABEL] — the figures of SPIKE.md: N idle SSE
# streams through carapaced (BUILD/src/carapaced, BUILD/tests/upstream)
# under ulimit -n 20000; prints descriptors, threads and RSS of carapaced
# per stream, whether /healthz is answered meanwhile, then sse_client's
# report of one broadcast to every stream. A spike's tool: the gateway's
# port is picked at random (rerun on "Address already in use").
set -u
BUILD=$(cd "$1" && pwd) N=$2 LABEL=${3:-x}
T=$(mktemp -d /tmp/spike_measure.XXXX)
cc -std=c11 -D_GNU_SOURCE -O2 -I "$(dirname "$0")/../tests" -o "$T/sse_client" \
  "$(dirname "$0")/sse_client.c" || exit 1
ulimit -n 20000
"$BUILD/tests/upstream" -p 0 >"$T/up.out" 2>"$T/up.err" & UP=$!
for i in $(seq 50); do grep -q PORT "$T/up.out" && break; sleep 0.1; done
UPP=$(awk '/PORT/{print $2}' "$T/up.out")
GWP=$((20000 + RANDOM % 20000))
cat >"$T/c.conf" <<EOC
{ "listen": ["127.0.0.1:$GWP"], "max_connections_per_ip": 0,
  "tools": { "up": { "type": "http", "upstream": "http://127.0.0.1:$UPP" } } }
EOC
"$BUILD/src/carapaced" -f -c "$T/c.conf" 2>"$T/gw.err" & GW=$!
for i in $(seq 50); do curl -s "http://127.0.0.1:$GWP/healthz" >/dev/null && break; sleep 0.1; done
b_fd=$(ls /proc/$GW/fd | wc -l); b_th=$(ls /proc/$GW/task | wc -l)
b_rss=$(awk '/VmRSS/{print $2}' /proc/$GW/status)
"$T/sse_client" --port $GWP --path /tools/up/api/v1/events --upstream-port $UPP \
  --streams $N --events 1 --idle-secs 4 --pid $GW --label $LABEL >"$T/cl.out" 2>"$T/cl.err" & CL=$!
# wait until the upstream holds N streams
for i in $(seq 1200); do
  o=$(curl -s "http://127.0.0.1:$UPP/_upstream/stats" | sed 's/.*"open_streams":\([0-9]*\).*/\1/')
  [ "$o" = "$N" ] && break; kill -0 $CL 2>/dev/null || break; sleep 0.1; done
sleep 1
fd=$(ls /proc/$GW/fd | wc -l); th=$(ls /proc/$GW/task | wc -l)
rss=$(awk '/VmRSS/{print $2}' /proc/$GW/status)
hz=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GWP/healthz")
echo "$LABEL N=$N open_upstream=$o base fds=$b_fd threads=$b_th rss=${b_rss}k | with streams fds=$fd threads=$th rss=${rss}k | per stream fds=$(echo "scale=2;($fd-$b_fd)/$N"|bc) threads=$(echo "scale=2;($th-$b_th)/$N"|bc) rss=$(echo "($rss-$b_rss)*1024/$N"|bc)B healthz=$hz"
wait $CL; echo "client rc=$?"; tail -5 "$T/cl.out"; tail -3 "$T/cl.err"
kill $GW; wait $GW 2>/dev/null; kill $UP; wait $UP 2>/dev/null
grep -v "^$" "$T/gw.err" | sort | uniq -c | sort -rn | head -5
