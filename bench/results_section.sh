# Sourced by the benchmark scripts. Each writes its report into one marked
# section of bench/RESULTS.md, leaving the other benchmarks' sections alone.

# results_section NAME FILE OUT: replace the text between "<!-- begin NAME
# -->" and "<!-- end NAME -->" in OUT with FILE's (appended when absent).
results_section() {
	local begin="<!-- begin $1 -->" end="<!-- end $1 -->" out=$3
	[ -f "$out" ] || echo "# carapaced benchmarks" >"$out"
	awk -v b="$begin" -v e="$end" -v f="$2" '
		function body(  l) { print b; while ((getline l < f) > 0) print l
				     close(f); print e }
		$0 == b { body(); skip = 1; done = 1; next }
		$0 == e { skip = 0; next }
		!skip { print }
		END { if (!done) { print ""; body() } }' "$out" >"$out.new" &&
		mv "$out.new" "$out"
}
