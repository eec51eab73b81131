#!/bin/sh
# tests/sanitize.sh KIND: what make check-asan, check-tsan and
# check-valgrind run (KIND is asan, tsan or valgrind; see their block in
# Makefile.am). Run from the top build directory by make, which exports
# MAKE, SAN_TESTS (the test programs, e.g. "tests/test_proxy ...") and
# SAN_ALL (the number of programs, for a build that fails).
#
# The suite is built again in _build-KIND/build, configured from a copy
# of the source tree that make distdir writes to _build-KIND/tree: a
# configure in the source directory itself (the in-tree build CI makes
# first) would refuse a second, out-of-tree build of it ("source
# directory already configured"). distdir copies what make dist would
# ship, edits not yet committed included, with their times (cp -p), so a
# second run rebuilds only what changed.
#
# Each test program's sanitizer reports, its own and those of every
# process it starts (carapaced, the upstream, the shim, carapacectl),
# go to _build-KIND/reports/test_x.PID (log_path; for valgrind, the
# carapaced wrapper's --log-file), so a report in a child whose stderr a
# test does not read still counts: a program passes when make check says
# so and it has no report. The last line is "check-KIND: N passed, M
# failed" (test programs); the exit status is non-zero when M > 0.
set -u
kind=$1
top=$(pwd)
dir=$top/_build-$kind
CC=${SAN_CC:-gcc}

case $kind in
asan)
	flags="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer"
	flags="$flags -fno-sanitize-recover=all"
	;;
tsan)
	flags="-O1 -g -fsanitize=thread -fno-omit-frame-pointer"
	;;
valgrind)
	# the daemon as it ships (configure's default flags), under memcheck
	flags="-g -O2"
	;;
*)
	echo "usage: $0 asan|tsan|valgrind" >&2
	exit 2
	;;
esac

summary() {
	echo "check-$kind: $1 passed, $2 failed"
	[ "$2" -eq 0 ]
	exit
}

mkdir -p "$dir" || exit 1
"$MAKE" distdir distdir="$dir/tree" top_distdir="$dir/tree" \
	>"$dir/distdir.log" 2>&1 || {
	tail -20 "$dir/distdir.log"; echo "make distdir failed"
	summary 0 "$SAN_ALL"; }

# configured again only when the flags or the compiler changed
want="$CC $flags"
if [ ! -f "$dir/build/config.status" ] ||
   [ "$(cat "$dir/build/san-flags" 2>/dev/null)" != "$want" ]; then
	rm -rf "$dir/build"
	mkdir -p "$dir/build"
	(cd "$dir/build" && ../tree/configure -q --enable-werror CC="$CC" \
		CFLAGS="$flags" LDFLAGS="$flags") >"$dir/build.log" 2>&1 || {
		tail -30 "$dir/build.log"; echo "configure failed"
		summary 0 "$SAN_ALL"; }
	echo "$want" >"$dir/build/san-flags"
fi
cd "$dir/build" || exit 1

# tests/clitool stands for a tool of the host's, not a program of ours:
# built without a sanitizer, as such a tool is. Its `kill 11` must end it
# by a real SIGSEGV (test_exec reads the signal from its status), which
# ASan's SIGSEGV handler in an instrumented clitool would turn into a
# report and exit status 1. Built first, without the flags, so that make
# check finds it up to date.
if [ "$kind" != valgrind ]; then
	"$MAKE" tests/clitool CFLAGS="-O1 -g" LDFLAGS= \
		>>"$dir/build.log" 2>&1 || {
		tail -30 "$dir/build.log"; echo "build failed"
		summary 0 "$SAN_ALL"; }
fi
"$MAKE" -j2 all >>"$dir/build.log" 2>&1 || {
	tail -30 "$dir/build.log"; echo "build failed"; summary 0 "$SAN_ALL"; }

rm -rf "$dir/reports"
mkdir -p "$dir/reports"
SAN_REPORTS=$dir/reports
export SAN_REPORTS
case $kind in
asan)
	# detect_leaks: LeakSanitizer at every exit. abort_on_error: a
	# report ends the process by SIGABRT, which its parent sees as a
	# crash rather than an ordinary exit status 1.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
	ASAN_OPTIONS=$ASAN_OPTIONS:detect_stack_use_after_return=1
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	export ASAN_OPTIONS UBSAN_OPTIONS
	;;
tsan)
	TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1
	TSAN_OPTIONS=$TSAN_OPTIONS:suppressions=$dir/tree/tests/tsan.supp
	export TSAN_OPTIONS
	;;
valgrind)
	# the tests start carapaced through $CARAPACED (tu_start_daemon):
	# this wrapper runs the one built here under memcheck
	cat >"$dir/carapaced-valgrind" <<EOF
#!/bin/sh
# carapaced under valgrind memcheck (tests/sanitize.sh writes this)
exec valgrind -q --error-exitcode=1 --leak-check=full \\
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \\
	--log-file="\$SAN_REPORT_BASE.%p" \\
	"$dir/build/src/carapaced" "\$@"
EOF
	chmod +x "$dir/carapaced-valgrind"
	SAN_CARAPACED=$dir/carapaced-valgrind
	export SAN_CARAPACED
	;;
esac

start=$(date +%s)
"$MAKE" -j2 check TESTS="$SAN_TESTS" >"$dir/check.log" 2>&1
echo "check-$kind: make check ran $(( $(date +%s) - start )) s" \
	"(_build-$kind/check.log)"

passed=0
failed=0
for t in $SAN_TESTS; do
	name=${t##*/}
	ok=1
	grep -q '^:test-result: PASS' "$t.trs" 2>/dev/null || ok=0
	for r in "$dir/reports/$name".*; do
		[ -f "$r" ] || continue
		# valgrind's log of a run without errors is empty (-q) but for
		# one warning: valgrind 3.19 (Debian 12) has no pidfd_open(2)
		# (syscall 434) and says so, then fails it with ENOSYS, which
		# src/exec.c takes for a kernel without it (it polls waitid).
		# Its lines are dropped; anything else is a report.
		grep -v -e 'unhandled amd64-linux syscall: 434$' \
			-e 'You may be able to write your own handler' \
			-e 'Read the file README_MISSING_SYSCALL_OR_IOCTL' \
			-e 'Nevertheless we consider this a bug' \
			-e 'valgrind.org/support/bug_reports.html' \
			"$r" >"$r.left"
		[ -s "$r.left" ] || { rm -f "$r.left"; continue; }
		mv "$r.left" "$r"
		ok=0
		echo "== $kind report: _build-$kind/reports/${r##*/}"
		head -60 "$r"
	done
	if [ "$ok" -eq 1 ]; then
		passed=$((passed + 1))
		echo "PASS: $t"
	else
		failed=$((failed + 1))
		echo "FAIL: $t (_build-$kind/build/$t.log)"
		grep -B2 -A12 -- '^  Test: .*\.\.\.FAILED\|^Suite .*FAILED' \
			"$t.log" 2>/dev/null | head -40
	fi
done
summary "$passed" "$failed"
