#!/bin/sh
# The shape src/ keeps (issue 13): no source file over 900 lines, no
# function over 60. A function is counted from the '{' that opens it at
# the start of a line to the '}' that closes it at the start of a line,
# the way every file here is written. Prints the longest five either way.
set -u
top=${srcdir:-.}
max_file=900
max_func=60
status=0
for f in "$top"/src/*.c "$top"/src/*.h; do
	n=$(wc -l <"$f")
	if [ "$n" -gt "$max_file" ]; then
		echo "FAIL: $f has $n lines (most $max_file)"
		status=1
	fi
done
lengths=$(awk '
/^\{/ { start = FNR; name = prev; next }
/^\}/ { if (start) printf "%d %s:%d %s\n", FNR - start + 1, FILENAME, start, name; start = 0 }
/^[A-Za-z_].*\(/ { prev = $0 }
' "$top"/src/*.c | sort -rn)
echo "longest functions:"
echo "$lengths" | head -5
over=$(echo "$lengths" | awk -v m="$max_func" '$1 > m')
if [ -n "$over" ]; then
	echo "FAIL: functions over $max_func lines:"
	echo "$over"
	status=1
fi
exit $status
