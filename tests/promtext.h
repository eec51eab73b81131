/* promtext — a strict reader of the Prometheus text exposition format
 * (version 0.0.4), for tests: metrics.c's unit tests and the integration
 * tests against a running daemon's GET /metrics.
 *
 * Stricter than Prometheus where carapaced's own output is canonical:
 * exactly one space between a sample's name (or its closing brace), value
 * and optional timestamp; no whitespace inside the braces or at the start
 * of a line; buckets in increasing le order; every sample's family has a
 * TYPE line. Allocates only while it runs; prints nothing. */
#ifndef CARAPACE_PROMTEXT_H
#define CARAPACE_PROMTEXT_H

#include <stddef.h>

/* 0 if text is a valid exposition, else -1 and, in err (when err_len > 0,
 * always NUL-terminated), "line N: what is wrong". Valid means:
 *   - the text is not empty and ends with a newline;
 *   - each line is blank, a comment, "# HELP name docstring" (escapes \\
 *     and \n only), "# TYPE name counter|gauge|histogram|summary|untyped",
 *     or a sample: name[{label="value",...}] value [timestamp];
 *   - metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 *     [a-zA-Z_][a-zA-Z0-9_]*, no label twice in a sample; label values
 *     use the escapes \\, \" and \n only;
 *   - values are decimal floats, +Inf, -Inf, Inf or NaN; counters are not
 *     negative (nor NaN);
 *   - each family has at most one HELP and one TYPE, both before its first
 *     sample; the TYPE is mandatory; all lines of a family are together;
 *     no sample (name and label text) appears twice;
 *   - a histogram has only _bucket (with le), _sum and _count samples;
 *     per label set, le strictly increases, bucket counts never decrease,
 *     the last bucket is le="+Inf" and equals _count, and _sum exists;
 *     a summary's bare samples carry quantile. */
int promtext_check(const char *text, char *err, size_t err_len);

/* The value of the sample named name whose label text (between the braces,
 * exactly as written, e.g. tool="sig",decision="allow") is labels; "" for
 * a sample with no labels. 0 and *out set if found, -1 if not (or if that
 * line does not parse). Does not check the rest of the text. */
int promtext_value(const char *text, const char *name, const char *labels,
		   double *out);

#endif
