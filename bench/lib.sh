# shellcheck shell=bash disable=SC2034 # its variables are for the sourcing script
# lib.sh — shell shared by the benchmark scripts (sourced, bash). The
# sourcing script sets BENCH_NAME (for messages) and TMP (its run's
# directory) first. It gets: die/log; STARTED (every pid it starts) and
# bench_cleanup, which stops them newest first; ports; nginx; the signal-cli
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

# ---- /proc ---------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {       # utime + stime of the processes (all their threads)
	local pid st sum=0 f
	for pid in "$@"; do
		read -r st <"/proc/$pid/stat" || die "no process $pid"
		st=${st##*) }            # fields 3.. after "(comm) "
		read -ra f <<<"$st"
		sum=$((sum + f[11] + f[12]))    # fields 14 and 15
	done
	echo "$sum"
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
