#!/bin/sh
# The full test suite from a clean tree: dependencies, build, `make check`
# (each test program's CUnit summary is printed), then `make distcheck`.
# Warnings are errors here, as in distcheck (--enable-werror).
# Exits non-zero if anything fails.
set -u
cd "$(dirname "$0")/.."
sh tests/install-deps.sh || exit 1
{ ./autogen.sh && ./configure -q --enable-werror && make -j2; } \
	>build.log 2>&1 || {
	cat build.log; echo "build failed"; exit 1; }

make -j2 check >check.log 2>&1
check_rc=$?
grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' check.log
passed=0
failed=0
for log in tests/test_*.log; do
	echo "== $log"
	if [ "$check_rc" -ne 0 ] && ! grep -q '^PASS' "${log%.log}.trs"; then
		cat "$log"
	else
		sed -n '/^Run Summary/,$p' "$log"
	fi
	set -- $(awk '$1 == "tests" { print $4, $5 }' "$log")
	passed=$((passed + ${1:-0}))
	failed=$((failed + ${2:-1}))
done
[ "$check_rc" -eq 0 ] || { echo "make check failed"; tail -30 check.log; }

distcheck_rc=0
if [ "$check_rc" -eq 0 ]; then
	make distcheck >distcheck.log 2>&1 || {
		distcheck_rc=1; tail -60 distcheck.log; echo "make distcheck failed"; }
	if [ "$distcheck_rc" -eq 0 ]; then
		# its installcheck ran tests/test_installed on the installed tree
		grep -A6 '^tests/test_installed:' distcheck.log
		echo "make distcheck: ok"
	fi
fi
echo "tests: $passed passed, $failed failed"
[ "$check_rc" -eq 0 ] && [ "$distcheck_rc" -eq 0 ]
