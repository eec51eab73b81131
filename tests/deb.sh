#!/bin/sh
# The Debian package on this machine, as an admin uses it (make deb-check;
# CI runs it after the suite). As root, on Debian 12, from a configured
# tree (else it configures one):
#   build      make deb, lintian on the .changes and the .deb (no error,
#              no warning), and a second package 0.1.0-2 whose shipped
#              configuration differs, built the same way from a copy
#   policy     where /usr/sbin/policy-rc.d forbids starting services (as
#              in a container), install: enabled but not started; purge
#   install    apt-get install ./carapaced_*.deb (policy-rc.d allowing
#              carapaced only): the user and group carapace, the conffile
#              0640 root:carapace, /var/log/carapace the user's, carapaced
#              -t, started by postinst as carapace, /healthz, the admin
#              socket, man carapaced, the init script (status, reload,
#              stop, start), logrotate's reopen
#   upgrade    the configuration edited, then 0.1.0-2 installed: the
#              admin's file kept (the new one beside it as .dpkg-dist),
#              carapaced restarted
#   remove     stopped, the configuration and the user kept
#   purge      nothing left: files, user, group, logs, rc links
# The installed carapaced listens on 127.0.0.1:8765 (the shipped
# configuration) and /run/carapace/admin.sock: the script refuses to run
# when either is taken, or when carapaced or the user carapace is already
# here. Whatever happens, it leaves the machine as it found it: a trap
# stops the daemon, purges the package, removes the user and puts back
# policy-rc.d. Ends with "deb: N passed, M failed".
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
export DEBIAN_FRONTEND=noninteractive
PORT=8765
CONF=/etc/carapace/carapaced.conf
PIDFILE=/run/carapaced.pid
POLICY=/usr/sbin/policy-rc.d
# policy-rc.d as found, while ours stands in: beside it, not in $tmp, so
# that an interrupted run's stand-in still defers to it
POLICY_SAVED=/usr/sbin/policy-rc.d.carapaced-deb-test

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
# check DESCRIPTION COMMAND...: passes when COMMAND succeeds
check() {
	d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}
finish() {
	echo "deb: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

pkg_state() { dpkg-query -W -f='${db:Status-Abbrev}' carapaced 2>/dev/null; }
daemon_pid() {
	p=$(cat "$PIDFILE" 2>/dev/null) || return 1
	[ "$(cat "/proc/$p/comm" 2>/dev/null)" = carapaced ] && echo "$p"
}
port_taken() { curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$PORT/"; }
healthz() {
	curl -s --max-time 5 "http://127.0.0.1:$PORT/healthz" |
		grep -q '"status":"ok"'
}
# wait_for CONDITION...: up to 10 s
wait_for() {
	i=0
	while ! "$@"; do
		i=$((i + 1))
		[ "$i" -le 100 ] || return 1
		sleep 0.1
	done
}
not() { ! "$@"; }
running() { daemon_pid >/dev/null; }
quiet() { "$@" >/dev/null 2>&1; }
apt_do() {
	echo "+ apt-get $*"
	apt-get -y -q -o Dpkg::Options::=--force-confdef \
		-o Dpkg::Options::=--force-confold "$@" 2>&1 |
		grep -v '^\(Reading\|Building\|WARNING: apt does not\)'
}

# --- what it needs, and a machine it may use ---
need=
command -v dh >/dev/null || need="$need debhelper"
command -v lintian >/dev/null || need="$need lintian"
command -v man >/dev/null || need="$need man-db"
command -v curl >/dev/null || need="$need curl"
if [ -n "$need" ]; then
	echo "installing$need"
	# shellcheck disable=SC2086 # a list of package names
	apt-get install -y -qq --no-install-recommends $need >/dev/null ||
		{ bad "apt-get install$need"; finish; }
fi
if [ -e "$POLICY_SAVED" ]; then
	# an interrupted run's: put the original back
	mv -f "$POLICY_SAVED" "$POLICY"
fi
[ "$(id -u)" -eq 0 ] || { bad "run as root"; finish; }
if [ -n "$(pkg_state)" ] && [ "$(pkg_state)" != "un " ]; then
	bad "carapaced is installed here already ($(pkg_state)): not touched"
	finish
fi
getent passwd carapace >/dev/null && { bad "user carapace exists"; finish; }
getent group carapace >/dev/null && { bad "group carapace exists"; finish; }
[ -e /etc/carapace ] && { bad "/etc/carapace exists"; finish; }
[ -e /run/carapace/admin.sock ] &&
	{ bad "/run/carapace/admin.sock exists"; finish; }
port_taken && { bad "127.0.0.1:$PORT is taken"; finish; }
running && { bad "a carapaced runs with $PIDFILE"; finish; }
[ -e /run/carapace ] && { bad "/run/carapace exists"; finish; }
[ -e /var/log/carapace ] && { bad "/var/log/carapace exists"; finish; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/carapaced-deb.XXXXXX")
cleanup() {
	if [ -n "$(pkg_state)" ] && [ "$(pkg_state)" != "un " ]; then
		echo "cleanup: purging carapaced ($(pkg_state))"
		if p=$(daemon_pid); then
			kill -TERM "$p" 2>/dev/null
			wait_for not running || kill -KILL "$p" 2>/dev/null
		fi
		dpkg --purge carapaced >/dev/null 2>&1
	fi
	if getent passwd carapace >/dev/null; then
		echo "cleanup: removing the user carapace"
		deluser --system --quiet carapace 2>/dev/null
	fi
	if getent group carapace >/dev/null; then
		delgroup --system --quiet carapace 2>/dev/null
	fi
	rm -rf /var/log/carapace /run/carapace
	if [ -e "$POLICY_SAVED" ]; then
		mv -f "$POLICY_SAVED" "$POLICY"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
t0=$(date +%s)

# --- build ---
if [ ! -f Makefile ]; then
	{ ./autogen.sh && ./configure -q; } >"$tmp/configure.log" 2>&1 ||
		{ cat "$tmp/configure.log"; bad "configure"; finish; }
fi
if make deb >"$tmp/make-deb.log" 2>&1; then
	ok "make deb ($(($(date +%s) - t0)) s)"
else
	tail -40 "$tmp/make-deb.log"
	bad "make deb"
	finish
fi
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${version%-*}
deb1=$top/_build-deb/carapaced_${version}_amd64.deb
changes=$top/_build-deb/carapaced_${version}_amd64.changes
ls -l "$deb1"
lintian "$changes" "$deb1" >"$tmp/lintian.out" 2>&1
grep -v '^running with root privileges' "$tmp/lintian.out"
check "lintian: no error, no warning" \
	not grep -q '^[EW]:' "$tmp/lintian.out"

# the next Debian revision, its shipped configuration changed, from a
# fresh copy of the tree
version2=$upstream-$((${version##*-} + 1))
t1=$(date +%s)
up=$tmp/up/carapaced-$upstream
mkdir "$tmp/up"
make distdir distdir="$up" >"$tmp/distdir.log" 2>&1 ||
	{ cat "$tmp/distdir.log"; bad "make distdir"; finish; }
{
	printf 'carapaced (%s) unstable; urgency=medium\n\n' "$version2"
	printf '  * tests/deb.sh: the upgrade it installs.\n\n'
	printf ' -- %s  %s\n\n' \
		"$(dpkg-parsechangelog -l debian/changelog -S Maintainer)" \
		"$(date -R)"
	cat debian/changelog
} >"$up/debian/changelog"
sed -i '1i // the shipped configuration of the upgrade (tests/deb.sh)' \
	"$up/etc/carapaced.conf"
if (cd "$up" && dpkg-buildpackage -us -uc -b -j2) >"$tmp/build2.log" 2>&1
then
	ok "dpkg-buildpackage of $version2 ($(($(date +%s) - t1)) s)"
else
	tail -40 "$tmp/build2.log"
	bad "dpkg-buildpackage of $version2"
	finish
fi
deb2=$tmp/up/carapaced_${version2}_amd64.deb

# --- policy-rc.d as found ---
# A policy that forbids starting services (exit 101) holds for the
# package's postinst too: enabled (rc links), not started.
if [ -x "$POLICY" ] && { "$POLICY" carapaced start; [ $? -eq 101 ]; }
then
	echo "== install with $POLICY forbidding starts"
	apt_do install "$deb1"
	check "installed" test "$(pkg_state)" = "ii "
	check "policy-rc.d honoured: not started" not running
	check "enabled: rc2.d link" quiet ls /etc/rc2.d/S*carapaced
	apt_do purge carapaced
	check "purged" test -z "$(dpkg-query -W -f='${Version}' carapaced 2>/dev/null)"
	check "user carapace gone" not quiet getent passwd carapace
fi

# From here on a stand-in policy-rc.d allows carapaced's actions and
# asks the original about any other service's.
if [ -e "$POLICY" ]; then
	mv "$POLICY" "$POLICY_SAVED"
	cat >"$POLICY" <<EOF
#!/bin/sh
# Written by carapaced's tests/deb.sh for the length of its run (the
# original is $POLICY_SAVED): carapaced's actions are allowed, any other
# service's asked of the original.
for a; do
	case \$a in
	--*) ;;
	carapaced) exit 0 ;;
	*) break ;;
	esac
done
exec "$POLICY_SAVED" "\$@"
EOF
	chmod 755 "$POLICY"
fi

# --- install ---
echo "== install $version"
apt_do install "$deb1"
check "installed $version" test "$(pkg_state)" = "ii "
check "system user carapace" \
	test "$(getent passwd carapace | cut -d: -f3)" -lt 1000
check "group carapace" quiet getent group carapace
check "$CONF: 640 root:carapace" \
	test "$(stat -c '%a %U:%G' "$CONF")" = "640 root:carapace"
check "$CONF is a conffile" sh -c \
	"dpkg-query -W -f='\${Conffiles}' carapaced | grep -q ' $CONF '"
check "/var/log/carapace: carapace's" \
	test "$(stat -c %U /var/log/carapace)" = carapace
check "carapaced -t $CONF" carapaced -t -c "$CONF"
check "carapaced -t, as carapace" runuser -u carapace -- carapaced -t -c "$CONF"
check "enabled: rc2.d link" quiet ls /etc/rc2.d/S*carapaced
check "started by postinst" wait_for running
pid1=$(daemon_pid)
check "runs as carapace" test "$(ps -o user= -p "$pid1")" = carapace
check "GET /healthz" healthz
check "no tool: 404" test "$(curl -s -o /dev/null -w '%{http_code}' \
	"http://127.0.0.1:$PORT/tools/ls/")" = 404
check "carapacectl status (admin socket)" \
	sh -c 'carapacectl status >/dev/null'
check "man carapaced renders" sh -c \
	'man carapaced 2>/dev/null | grep -q "capability gateway"'
check "man 5 carapaced.conf renders" sh -c \
	'man 5 carapaced.conf 2>/dev/null | grep -q admin_listen'
echo "+ /etc/init.d/carapaced status; reload; stop; start"
check "init script: status" /etc/init.d/carapaced status
check "init script: reload" /etc/init.d/carapaced reload
check "init script: stop" /etc/init.d/carapaced stop
check "stopped, pidfile gone" not test -e "$PIDFILE"
check "port closed" not port_taken
check "init script: start" /etc/init.d/carapaced start
check "serving again" wait_for healthz
# logrotate renames the audit log and signals carapaced, which makes a
# new one as carapace in its directory
if command -v logrotate >/dev/null; then
	check "an audit record" wait_for test -s /var/log/carapace/audit.log
	logrotate -f -s "$tmp/logrotate.state" /etc/logrotate.d/carapaced
	healthz
	curl -s -o /dev/null "http://127.0.0.1:$PORT/tools/ls/"
	check "logrotate: rotated, reopened" wait_for \
		test -s /var/log/carapace/audit.log -a \
		-e /var/log/carapace/audit.log.1
fi

# --- upgrade ---
echo "== upgrade to $version2, $CONF edited"
sed -i '1i // edited by the admin (tests/deb.sh)' "$CONF"
pid1=$(daemon_pid)
apt_do install "$deb2"
check "upgraded to $version2" \
	test "$(dpkg-query -W -f='${Version}' carapaced)" = "$version2"
check "the admin's $CONF kept" grep -q 'edited by the admin' "$CONF"
check "the new one beside it ($CONF.dpkg-dist)" \
	grep -q 'of the upgrade' "$CONF.dpkg-dist"
check "$CONF still 640 root:carapace" \
	test "$(stat -c '%a %U:%G' "$CONF")" = "640 root:carapace"
check "restarted" wait_for sh -c \
	"p=\$(cat $PIDFILE 2>/dev/null) && [ \"\$p\" != '$pid1' ]"
check "GET /healthz after the upgrade" wait_for healthz

# --- remove ---
echo "== remove"
pid2=$(daemon_pid)
apt_do remove carapaced
check "removed, configuration kept (rc)" test "$(pkg_state)" = "rc "
check "daemon stopped" not quiet kill -0 "${pid2:-0}"
check "port closed" not port_taken
check "$CONF kept, as edited" grep -q 'edited by the admin' "$CONF"
check "user carapace kept" quiet getent passwd carapace
check "program gone" test ! -e /usr/sbin/carapaced

# --- purge ---
echo "== purge"
apt_do purge carapaced
check "purged" test -z "$(pkg_state | tr -d ' ')" -o "$(pkg_state)" = "un "
check "/etc/carapace gone" test ! -e /etc/carapace
check "/etc/init.d/carapaced gone" test ! -e /etc/init.d/carapaced
check "rc links gone" not quiet ls /etc/rc?.d/*carapaced
check "systemd's enablement gone" not quiet ls \
	/etc/systemd/system/multi-user.target.wants/carapaced.service
check "$PIDFILE gone" test ! -e "$PIDFILE"
check "/var/log/carapace gone" test ! -e /var/log/carapace
check "/run/carapace gone" test ! -e /run/carapace
check "user carapace gone" not quiet getent passwd carapace
check "group carapace gone" not quiet getent group carapace
echo "tests/deb.sh: $(($(date +%s) - t0)) s"
finish
