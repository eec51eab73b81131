#!/bin/sh
# run.sh SEEDS TARGET... — runs each libFuzzer target of make fuzz for
# $FUZZ_SECONDS seconds over a copy of its seed corpus SEEDS/TARGET (the
# tree is never written to; what the run adds stays in
# $FUZZ_BUILD/corpus/TARGET), and prints "fuzz: N passed, M failed".
# A target fails on a crash, a leak, a timeout (-timeout: one input
# taking over 10 s) or running out of memory (-rss_limit_mb); its input
# is then in $FUZZ_BUILD/artifacts/ and its log in $FUZZ_BUILD/logs/.
# A target's last line of statistics (executions per second, coverage)
# is printed either way. Exit status 1 when any failed.
seeds=$1
shift
secs=${FUZZ_SECONDS:-20}
build=${FUZZ_BUILD:-_build-fuzz}
passed=0
failed=0
mkdir -p "$build/corpus" "$build/artifacts" "$build/logs" || exit 1
for t in "$@"; do
	corpus="$build/corpus/$t"
	log="$build/logs/$t.log"
	rm -rf "$corpus"
	mkdir -p "$corpus" && cp "$seeds/$t"/* "$corpus"/ || exit 1
	"$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/artifacts/$t-" "$corpus" \
		>"$log" 2>&1
	rc=$?
	stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' \
		"$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "PASS: fuzz_$t: $stats"
	else
		failed=$((failed + 1))
		echo "FAIL: fuzz_$t (exit $rc): see $log"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" |
			head -n 5
		ls "$build/artifacts/$t-"* 2>/dev/null | head -n 3
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
