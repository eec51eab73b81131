# shellcheck shell=bash disable=SC2034 # its variables are for the sourcing script
# lib.sh — shell shared by the benchmark scripts (sourced, bash). The
# sourcing script sets BENCH_NAME (for messages), BENCH_DIR (bench/) and
# TMP (its run's directory) first. It gets: results_section; die/log;
# STARTED (every pid it starts) and bench_cleanup, which stops them newest
# first, trapped on EXIT (INT and TERM exit 130); run_bg_wait; ports; the
# upstream, carapaced and nginx started and waited for; the signal-cli
# example policy made benchmarkable; /proc readers; median.

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
log() { echo "$BENCH_NAME: $*" >&2; }

STARTED=()          # every pid the script started
BENCH_OK=0          # 1 once the run is complete: the run's directory goes

stop_pid() {        # TERM, wait up to 5 s, then KILL
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# Stops every started process (newest first: a proxy before the upstream
# behind it). For "trap bench_cleanup EXIT".
bench_cleanup() {
	local i
	for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
		stop_pid "${STARTED[i]}"
	done
	STARTED=()
	if [ "$BENCH_OK" = 1 ]; then
		rm -rf "$TMP"
	else
		echo "$BENCH_NAME: failed; logs kept in $TMP" >&2
	fi
}

trap bench_cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=bench/results_section.sh
. "$BENCH_DIR/results_section.sh"

# Stops the given started pids now and forgets them.
stop_started() {    # pid...
	local pid
	for pid in "$@"; do
		[ -n "$pid" ] && stop_pid "$pid"
	done
	forget_started "$@"
}

# Forgets pids already waited for (killing one could hit a reused pid).
forget_started() {  # pid...
	local keep=() p
	for p in "${STARTED[@]}"; do
		case " $* " in *" $p "*) ;; *) keep+=("$p") ;; esac
	done
	STARTED=("${keep[@]}")
}

# FREE_PORT := a port on 127.0.0.1 that nothing listens on (below the
# ephemeral range, not handed out before).
USED_PORTS=" "
FREE_PORT=''
pick_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		case $USED_PORTS in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			USED_PORTS="$USED_PORTS$p "
			FREE_PORT=$p
			return 0
		fi
	done
	die "no free port found"
}

wait_port() {       # port pid name
	for _ in $(seq 100); do
		kill -0 "$2" 2>/dev/null || die "$3 exited at start-up (logs in $TMP)"
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	die "$3 does not listen on port $1"
}

# Runs a command in the background and waits for it, so that a signal to
# the script acts at once (bash runs a trap only between commands).
BG_PID=''
run_bg_wait() {     # out cmd...: stdout to out, stderr to out.err
	local out=$1 rc=0
	shift
	"$@" >"$out" 2>"$out.err" &
	BG_PID=$!
	STARTED+=("$BG_PID")
	wait "$BG_PID" || rc=$?
	forget_started "$BG_PID"
	BG_PID=''
	return $rc
}

children_of() {     # direct children of a pid, space-separated
	local f st out=
	for f in /proc/[0-9]*/stat; do
		read -r st <"$f" 2>/dev/null || continue
		st=${st##*) }           # after "(comm) ": state ppid ...
		st=${st#* }
		[ "${st%% *}" = "$1" ] || continue
		f=${f#/proc/}
		out="$out ${f%/stat}"
	done
	echo "$out"
}

# ---- tools from Debian's packages, when missing ------------------------------
apt_install() {     # package...
	# keep a package's service from starting: nothing may be left running
	local made_policy=0 rc=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	log "installing $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2 || {
		DEBIAN_FRONTEND=noninteractive apt-get update >&2 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2
	} || rc=$?
	[ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
	[ $rc = 0 ] || die "apt-get install $* failed"
}
find_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }
NGINX=''
need_nginx() {      # sets NGINX
	NGINX=$(find_nginx)
	[ -n "$NGINX" ] || { apt_install nginx-light; NGINX=$(find_nginx); }
	[ -n "$NGINX" ] || die "nginx still missing after installing nginx-light"
}

# ---- the processes under test ---------------------------------------------------
# UP_PID UP_PORT := an upstream that prints "PORT n" once it listens
# (tests/upstream -p 0, python3 bench/upstream.py -p 0); its stdout in
# $TMP/upstream.out, stderr appended to $TMP/upstream.err.
UP_PID='' UP_PORT=''
start_upstream() {  # cmd...
	# not an earlier upstream's port: the child truncates the file late
	rm -f "$TMP/upstream.out"
	"$@" >"$TMP/upstream.out" 2>>"$TMP/upstream.err" &
	UP_PID=$!
	STARTED+=("$UP_PID")
	for _ in $(seq 100); do
		UP_PORT=$(awk '/^PORT /{ print $2 }' "$TMP/upstream.out" 2>/dev/null || true)
		[ -n "$UP_PORT" ] && return 0
		kill -0 "$UP_PID" 2>/dev/null || die "the upstream exited at start-up"
		sleep 0.05
	done
	die "the upstream did not report its port"
}

# CAR_PID := carapaced (binary $CARAPACED) on a checked config file,
# stderr appended to log, once it listens on every port given.
CAR_PID=''
start_carapaced_conf() {   # conf log port...
	local conf=$1 log=$2 p
	shift 2
	"$CARAPACED" -t -c "$conf" >/dev/null || die "carapaced -t -c $conf failed"
	"$CARAPACED" -f -c "$conf" 2>>"$log" &
	CAR_PID=$!
	STARTED+=("$CAR_PID")
	for p in "$@"; do wait_port "$p" "$CAR_PID" "carapaced ($conf)"; done
}

# NG_PID NG_WORKERS := nginx on $TMP/nginx/nginx.conf: the boilerplate
# (no daemon, private pid, logs and temp paths, worker_processes auto,
# no access log, fd limit as given) around the http-block text given,
# once it listens on every port given.
NG_PID='' NG_WORKERS=''
start_nginx_with() {       # nofile http-text port...
	local d=$TMP/nginx nofile=$1 http=$2 p
	shift 2
	mkdir -p "$d/logs" "$d/tmp"
	cat >"$d/nginx.conf" <<-EOF
	daemon off;
	pid $d/nginx.pid;
	error_log $d/logs/error.log warn;
	worker_processes auto;
	worker_rlimit_nofile $nofile;
	events { worker_connections $nofile; }
	http {
	    access_log off;
	    client_body_temp_path $d/tmp/body;
	    proxy_temp_path $d/tmp/proxy;
	    fastcgi_temp_path $d/tmp/fastcgi;
	    uwsgi_temp_path $d/tmp/uwsgi;
	    scgi_temp_path $d/tmp/scgi;
	$http
	}
	EOF
	"$NGINX" -t -q -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" ||
		die "nginx -t failed"
	"$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" &
	NG_PID=$!
	STARTED+=("$NG_PID")
	for p in "$@"; do wait_port "$p" "$NG_PID" nginx; done
	for _ in $(seq 50); do
		NG_WORKERS=$(children_of "$NG_PID")
		[ -n "$NG_WORKERS" ] && return 0
		sleep 0.1
	done
	die "no nginx workers found"
}

# ---- carapaced with the shipped signal-cli policy ------------------------------
# The example with its three addresses replaced and its rate limit raised so
# that it never refuses: checked, not merely trusted.
write_policy_conf() {    # example file upstream-port tool-port main-port
	sed -e "s|\"http://127\\.0\\.0\\.1:18080\"|\"http://127.0.0.1:$3\"|" \
	    -e "s|\"listen\": \"127\\.0\\.0\\.1:8080\"|\"listen\": \"127.0.0.1:$4\"|" \
	    -e "s|\"listen\": \\[\"127\\.0\\.0\\.1:8765\"\\]|\"listen\": [\"127.0.0.1:$5\"]|" \
	    -e 's|"rate_limit": { "max_requests": 120, "window_secs": 60 }|"rate_limit": { "max_requests": 100000, "window_secs": 1 }|' \
	    "$1" >"$2"
	grep -qF "\"upstream\": \"http://127.0.0.1:$3\"" "$2" &&
		grep -qF "\"listen\": \"127.0.0.1:$4\"" "$2" &&
		grep -qF "\"listen\": [\"127.0.0.1:$5\"]" "$2" &&
		grep -qF '"rate_limit": { "max_requests": 100000, "window_secs": 1 }' "$2" ||
		die "$1 changed: cannot substitute its addresses or rate limit"
	! grep -Eq '127\.0\.0\.1:(18080|8080|8765)"' "$2" ||
		die "$1: an address was left unsubstituted"
}

# The same with "max_connections_per_ip": 0 (every client is 127.0.0.1;
# the default cap is 256), checked to be added once.
write_policy_conf_nocap() {  # example file upstream-port tool-port main-port
	write_policy_conf "$1" "$2.policy" "$3" "$4" "$5"
	sed "s|^\(  \"listen\": \[\"127\.0\.0\.1:$5\"\],\)\$|\1\n  \"max_connections_per_ip\": 0,|" \
		"$2.policy" >"$2"
	rm -f "$2.policy"
	[ "$(grep -c '"max_connections_per_ip": 0,' "$2")" = 1 ] ||
		die "$1 changed: cannot add max_connections_per_ip after its \"listen\""
}

# GW_PID GW_PORT GW_MAIN := carapaced ($CARAPACED) with $POLICY_EXAMPLE's
# policy, no per-address cap, in front of UP_PORT: its drop-in listener
# (the tool's) and its main one; config and log in $TMP.
GW_PID='' GW_PORT='' GW_MAIN=''
start_carapaced_policy() {
	pick_port; GW_PORT=$FREE_PORT
	pick_port; GW_MAIN=$FREE_PORT
	write_policy_conf_nocap "$POLICY_EXAMPLE" "$TMP/carapaced.conf" "$UP_PORT" "$GW_PORT" "$GW_MAIN"
	start_carapaced_conf "$TMP/carapaced.conf" "$TMP/carapaced.log" "$GW_PORT" "$GW_MAIN"
	GW_PID=$CAR_PID
}

# The upstream of bench/compare, churn and soak (bench/upstream.py) and
# carapaced with the policy in front of it; the fd limit raised first.
start_policy_set() {
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	start_upstream python3 "$BENCH_DIR/upstream.py" -p 0
	start_carapaced_policy
	log "upstream :$UP_PORT (pid $UP_PID), carapaced :$GW_PORT (pid $GW_PID)"
}

# nginx's location for a proxy of streams: no buffering, HTTP/1.1 upstream
# connections without "Connection: close", an hour's read timeout.
nginx_location() {  # proxy_pass target
	cat <<-EOF
	        location / {
	            proxy_pass $1;
	            proxy_buffering off;
	            proxy_http_version 1.1;
	            proxy_set_header Connection "";
	            proxy_read_timeout 1h;
	        }
	EOF
}

# Stops nginx, carapaced and the upstream started as above.
stop_set() {
	stop_started "$NG_PID" "$GW_PID" "$UP_PID"
	NG_PID='' GW_PID='' UP_PID='' NG_WORKERS=''
}

# The start of a wrk script that POSTs body to path as JSON; the caller
# adds its done() (and delay()).
wrk_post_lua() {    # path body
	cat <<-EOF
	wrk.method = "POST"
	wrk.path = "$1"
	wrk.body = '$2'
	wrk.headers["Content-Type"] = "application/json"
	EOF
}

# A number #defined in src/workers.h (the worker pool's bounds), or empty.
workers_def() {     # name
	awk -v k="$1" '$1 == "#define" && $2 == k { print $3 }' "$BENCH_DIR/../src/workers.h"
}

# ---- /proc ---------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
cpu_split() {       # "utime stime" of the processes (all their threads)
	local pid st su=0 ss=0 f
	for pid in "$@"; do
		read -r st <"/proc/$pid/stat" || die "no process $pid"
		st=${st##*) }            # fields 3.. after "(comm) "
		read -ra f <<<"$st"
		su=$((su + f[11])) ss=$((ss + f[12]))   # fields 14 and 15
	done
	echo "$su $ss"
}
cpu_ticks() {       # utime + stime of the processes (all their threads)
	local u s
	read -r u s <<<"$(cpu_split "$@")"
	echo $((u + s))
}
status_sum() {      # key pid...: the sum of a /proc/PID/status field
	local k=$1
	shift
	for pid in "$@"; do
		awk -v k="$k:" '$1 == k { print $2 }' "/proc/$pid/status"
	done | awk '{ s += $1 } END { print s + 0 }'
}
fd_sum() {          # pid...: open descriptors in all
	local pid n=0
	for pid in "$@"; do
		n=$((n + $(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)))
	done
	echo "$n"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "?"; exit }
	if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
