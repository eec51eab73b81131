# compare_report.sh — the report of bench/compare (sourced by it once the
# measuring is over): its section of bench/RESULTS.md, bench/growth.png.
# Reads $RESULTS ("figure target run key=value...") and $LADDER ("ladder
# target n key=value...", "refused target n reason", "peak target ...").

lad() {                 # target n key: a ladder value ("" when none)
	awk -v t="$1" -v n="$2" -v k="$3" '$1 == "ladder" && $2 == t && $3 == n {
		for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$LADDER"
}
held() {                # target: the highest step held (0: none)
	awk -v t="$1" '$1 == "ladder" && $2 == t && $0 ~ /rpc=200/ { n = $3 } END { print n + 0 }' "$LADDER"
}
refusal() {             # target: what ended its ladder
	local r
	r=$(awk -v t="$1" '$1 == "refused" && $2 == t { $1 = ""; $2 = ""; print; exit }' "$LADDER" |
		sed 's/^ *//; s/, no RESULT line; its last line: )/)/')
	if [ -n "$r" ]; then echo "at ${r%% *} streams: ${r#* }"; else echo "none: every step held, up to the last ($MAX_STREAMS, the fd limit less the client's margin)"; fi
}
peak_mib() { awk -v t="$1" '$1 == "peak" && $2 == t { split($3, kv, "="); printf "%.0f", kv[2] / 1024 }' "$LADDER"; }
mib() { [ -n "$1" ] && calc %.1f "$1 / 1024" || echo "—"; }
ms() { [ -n "$1" ] && [ "$1" != "?" ] && calc %.2f "$1 / 1000" || echo "—"; }
us() { [ -n "$1" ] && [ "$1" != "?" ] && calc %.0f "$1" || echo "—"; }
per_stream() {          # target from to: bytes of RSS per stream between two steps
	local a b
	a=$(lad "$1" "$2" rss_kib) b=$(lad "$1" "$3" rss_kib)
	if [ -n "$a" ] && [ -n "$b" ] && [ "$3" -gt "$2" ]; then
		calc %.0f "($b - $a) * 1024 / ($3 - $2)"
	else
		echo "—"
	fi
}
added() {               # figure target key: median minus direct's median
	local v d
	v=$(med "$1" "$2" "$3") d=$(med "$1" direct "$3")
	[ "$v" != "?" ] && [ "$d" != "?" ] && calc %+.0f "$v - $d" || echo "—"
}

summary_table() {
	echo "| figure | carapaced | nginx | direct (no proxy) |"
	echo "|---|---:|---:|---:|"
	echo "| JSON-RPC \`send\`, wrk 1 thread $CONNS connections ${DURATION} s: req/s | $(us "$(med rpc carapaced rps)") | $(us "$(med rpc nginx rps)") | $(us "$(med rpc direct rps)") |"
	echo "| same: p99 ms | $(ms "$(med rpc carapaced p99_us)") | $(ms "$(med rpc nginx p99_us)") | $(ms "$(med rpc direct p99_us)") |"
	echo "| **CPU of the proxy per request** (utime+stime ÷ requests), µs | **$(med rpc carapaced cpu_us)** | **$(med rpc nginx cpu_us)** | — |"
	echo "| CPU of the upstream per request, µs | $(med rpc carapaced up_cpu_us) | $(med rpc nginx up_cpu_us) | $(med rpc direct up_cpu_us) |"
	echo "| SSE, $FAN_STREAMS streams, one broadcast event: p99 ms | $(ms "$(med fanout carapaced p99_us)") | $(ms "$(med fanout nginx p99_us)") | $(ms "$(med fanout direct p99_us)") |"
	echo "| same: **CPU of the proxy per delivered event**, µs | **$(med fanout carapaced cpu_us_per_event)** | **$(med fanout nginx cpu_us_per_event)** | — |"
	echo "| SSE, 1 stream: p99 µs | $(us "$(med one carapaced p99_us)") | $(us "$(med one nginx p99_us)") | $(us "$(med one direct p99_us)") |"
	echo "| same: **added p99** (vs direct), µs | **$(added one carapaced p99_us)** | **$(added one nginx p99_us)** | — |"
	echo "| streams held at once (fd limit $NOFILE) | $(held carapaced) | $(held nginx) | $(held direct) (growth points only) |"
	echo "| RSS with 1,000 open streams / peak after the highest step, MiB | $(mib "$(lad carapaced 1000 rss_kib)") / $(peak_mib carapaced) | $(mib "$(lad nginx 1000 rss_kib)") / $(peak_mib nginx) | — |"
	echo "| RSS per stream, bytes (1 → 1,000 streams / 1 → highest held) | $(per_stream carapaced 1 1000) / $(per_stream carapaced 1 "$(held carapaced)") | $(per_stream nginx 1 1000) / $(per_stream nginx 1 "$(held nginx)") | — |"
	echo "| descriptors with 1,000 open streams | $(lad carapaced 1000 fds) | $(lad nginx 1000 fds) | — |"
	echo "| idle CPU with 1,000 open streams over ${IDLE} s, % of a core | $(lad carapaced 1000 idle_cpu_pct) | $(lad nginx 1000 idle_cpu_pct) | — |"
	echo "| idle CPU with 9,000 open streams over ${IDLE} s, % of a core | $(lad carapaced 9000 idle_cpu_pct) | $(lad nginx 9000 idle_cpu_pct) | — |"
}

growth_table() {
	local n t
	echo "| streams | carapaced RSS MiB | threads | descriptors | added p99 ms | nginx RSS MiB | threads | descriptors | added p99 ms |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for n in $GROWTH; do
		[ -n "$(lad carapaced "$n" p99_us)$(lad nginx "$n" p99_us)" ] || continue
		printf '| %s' "$n"
		for t in carapaced nginx; do
			if [ -z "$(lad "$t" "$n" p99_us)" ]; then
				printf ' | — | — | — | —'
				continue
			fi
			printf ' | %s | %s | %s | %s' "$(mib "$(lad "$t" "$n" rss_kib)")" \
				"$(lad "$t" "$n" proc_threads)" "$(lad "$t" "$n" fds)" \
				"$(d=$(lad direct "$n" p99_us); v=$(lad "$t" "$n" p99_us)
				  [ -n "$d" ] && calc %+.2f "($v - $d) / 1000" || echo "—")"
		done
		echo " |"
	done
}

ladder_table() {
	echo "| target | streams | p99 µs | max µs | RSS MiB | threads | descriptors | descriptors per stream (vs 1 stream) | /healthz | JSON-RPC |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk '$1 == "ladder"' "$LADDER" | while read -r _ t n rest; do
		local f1 fd per
		fd=$(lad "$t" "$n" fds) f1=$(lad "$t" 1 fds)
		per="—"
		[ "$t" != direct ] && [ "$n" -gt 1 ] && [ -n "$f1" ] && per=$(calc %.2f "($fd - $f1) / ($n - 1)")
		[ "$t" = direct ] && fd="—"
		echo "| $t | $n | $(lad "$t" "$n" p99_us) | $(lad "$t" "$n" max_us) | $([ "$t" = direct ] && echo — || mib "$(lad "$t" "$n" rss_kib)") | $([ "$t" = direct ] && echo — || lad "$t" "$n" proc_threads) | $fd | $per | $(lad "$t" "$n" healthz) | $(lad "$t" "$n" rpc) |"
	done
}

raw_table() {
	echo '```'
	cat "$RESULTS" "$LADDER"
	echo '```'
}

plot() {
	command -v gnuplot >/dev/null || { echo "gnuplot not installed: no plot"; return 0; }
	local t
	for t in carapaced nginx; do
		awk -v t="$t" '$1 == "ladder" && $2 == t { for (i = 4; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			print $3, v["rss_kib"] / 1024, v["proc_threads"], v["fds"], v["p99_us"] / 1000 }' "$LADDER" >"$TMP/$t.dat"
	done
	gnuplot <<-EOF 2>"$TMP/gnuplot.err" || { echo "gnuplot failed: $(head -3 "$TMP/gnuplot.err")"; return 0; }
	set terminal pngcairo size 1200,900 noenhanced
	set output "$PNG"
	set multiplot layout 2,2 title "How cost grows with open SSE streams (bench/compare, $(date -u +%Y-%m-%d))"
	set key top left
	set grid
	set xlabel "open streams"
	set ylabel "RSS MiB"
	plot "$TMP/carapaced.dat" using 1:2 with linespoints title "carapaced", "$TMP/nginx.dat" using 1:2 with linespoints title "nginx"
	set ylabel "threads"
	plot "$TMP/carapaced.dat" using 1:3 with linespoints title "carapaced", "$TMP/nginx.dat" using 1:3 with linespoints title "nginx"
	set ylabel "descriptors"
	plot "$TMP/carapaced.dat" using 1:4 with linespoints title "carapaced", "$TMP/nginx.dat" using 1:4 with linespoints title "nginx"
	set ylabel "broadcast p99 ms"
	plot "$TMP/carapaced.dat" using 1:5 with linespoints title "carapaced", "$TMP/nginx.dat" using 1:5 with linespoints title "nginx"
	unset multiplot
	EOF
	echo "![how cost grows](growth.png)"
}

wrk_errors() {
	local t
	for t in direct carapaced nginx; do
		printf '%s: %s non-2xx, %s socket errors; ' "$t" \
			"$(values rpc "$t" non2xx | awk '{ s += $1 } END { print s + 0 }')" \
			"$(values rpc "$t" errors | awk '{ s += $1 } END { print s + 0 }')"
	done
	echo
}

CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_GIB=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
REV=$(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')
BUILD_SRC=$(sed -n 's/^abs_top_srcdir = //p' "$BUILD/Makefile" 2>/dev/null || true)
BUILD_REV=$(git -C "${BUILD_SRC:-/nonexistent}" rev-parse --short HEAD 2>/dev/null || echo '?')

{
	echo "# carapaced vs nginx, CPU-bound upstream (issue 14)"
	echo
	echo "Generated by \`bench/compare\`: both proxies measured in the same run."
	echo
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); run time $((T1 - T0)) s"
	echo "- Command: \`$COMMAND\`"
	echo "- Machine: nproc $(nproc) ($CPU_MODEL), ${MEM_GIB} GiB RAM, Linux $(uname -r); fd limit: the script ran \`ulimit -n $NOFILE\` (hard limit $HARD), inherited by everything it started (nginx: \`worker_rlimit_nofile $NOFILE\`, \`worker_connections $NOFILE\`)"
	echo "- Load average (uptime) before / after: $LOAD_BEFORE / $LOAD_AFTER (the machine is shared)"
	echo "- Versions: $("$CARAPACED" -V 2>&1 | head -1) built from ${BUILD_SRC:-?} ($BUILD_REV; bench/ at $REV); $("$NGINX" -v 2>&1 | head -1); $(python3 --version); $(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')"
	echo
	echo "## Method"
	echo
	echo "All on 127.0.0.1, nothing pinned. The upstream is \`bench/upstream.py\`:"
	echo "one single-threaded asyncio process playing signal-cli (it parses each"
	echo "JSON-RPC body and builds the reply; SSE on \`$EV_PATH\`, chunked; a"
	echo "broadcast stamps each event with CLOCK_MONOTONIC just before its write),"
	echo "so it takes one core and the proxy makes do with the other."
	echo "carapaced runs \`etc/signal-cli.conf.example\` (policy on; its rate limit"
	echo "raised to 100000 per 1 s so it never refuses; checked: \`removeAccount\`"
	echo "→ 403) and \`\"max_connections_per_ip\": 0\` added (every client is"
	echo "127.0.0.1; the default, 256, would refuse the 257th stream), clients"
	echo "on its drop-in listener. nginx: \`proxy_buffering off\`,"
	echo "\`proxy_http_version 1.1\`, upstream \`keepalive $NGINX_KEEPALIVE\`, \`worker_processes auto\`."
	echo "Medians of $RUNS runs, interleaved (direct, carapaced, nginx each round)."
	echo "- JSON-RPC: \`$WRK_CMD\` after a ${WARMUP} s warm-up; CPU per request is"
	echo "  utime+stime from /proc/PID/stat over the run (carapaced: the process;"
	echo "  nginx: master + workers) ÷ requests wrk completed ($((1000 / CLK_TCK)) ms ticks)."
	echo "- SSE: \`bench/sse_client\`: $FAN_STREAMS streams × $FAN_EVENTS broadcasts 300 ms apart,"
	echo "  and 1 stream × $ONE_EVENTS events 10 ms apart; latency = arrival − the"
	echo "  upstream's stamp; CPU per event = the proxy's CPU during the rounds ÷"
	echo "  events delivered."
	echo "- Ladder (one run per target, fresh processes): for N in $STEPS:"
	echo "  open N streams, broadcast 5 events (200 at 10 ms for N < 100), each"
	echo "  must reach every stream; while they are held, RSS (VmRSS, summed over"
	echo "  nginx's processes), threads, descriptors (/proc/PID/fd), /healthz"
	echo "  (carapaced) and one JSON-RPC \`send\`. A step is held when all of that"
	echo "  passed; the ladder stops at the first that is not. At 1,000 and 9,000"
	echo "  streams, idle CPU over ${IDLE} s first. The streams are reopened at each step (the"
	echo "  proxy keeps the history of the steps before). Direct (no proxy) runs"
	echo "  the growth points, the base of \"added p99\"."
	echo
	echo "## Results"
	echo
	summary_table
	echo
	echo "What ended each ladder: carapaced $(refusal carapaced); nginx $(refusal nginx)."
	echo "carapaced's own log at its last start: \`$(grep -o 'up to [0-9]* connections per listener' "$TMP/carapaced.log" | tail -1)\`."
	echo
	echo "wrk: $(wrk_errors)"
	echo
	echo "## How cost grows"
	echo
	growth_table
	echo
	plot
	echo
	echo "Every step of the ladder (p99 is of the broadcast at that step, one run):"
	echo
	ladder_table
	echo
	echo "## Not measured here"
	echo
	echo "- Churn (100,000 streams opened and dropped) and the 30-minute soak:"
	echo "  \`bench/soak\`, not this script."
	echo "- The ladder is one run per target (not a median): it takes minutes."
	echo "- RSS of nginx is the sum over master and workers, so pages they share"
	echo "  are counted more than once (PSS would not); VmHWM likewise."
	echo "- CPU is read in ${CLK_TCK} Hz ticks: per-request figures carry ±$((1000 / CLK_TCK)) ms over the"
	echo "  run's requests; the machine's other tenants are not subtracted."
	echo
	echo "## Raw"
	echo
	raw_table
	echo
	echo "Logs: carapaced $(wc -l <"$TMP/carapaced.log" 2>/dev/null || echo 0) lines, upstream stderr $(wc -l <"$TMP/upstream.err" 2>/dev/null || echo 0) lines."
} >"$TMP/section.md"

summary_table
echo
growth_table
results_section compare "$TMP/section.md" "$OUT"
log "results in $OUT"
