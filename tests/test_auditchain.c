/* Unit tests of auditchain.c (and auditchain_resume.c): a link's text
 * and hash, the strict parse, checkpoints and their keys, where the
 * chain goes on at start, and the verifier, through the API and through
 * the real `carapacectl audit-verify` ($CARAPACECTL, make check sets it)
 * on files written in a temporary directory: an edited line, a deleted
 * one, two swapped, a middle cut out, a forged checkpoint and a file
 * missing between two others each fail (exit 1) naming the right place;
 * the whole log passes (exit 0). */
#include "config.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auditchain.h"
#include "cu_run.h"
#include "testutil.h"

static char dir[] = "/tmp/test_auditchain.XXXXXX";
static char key_path[200], pub_path[220];

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"
/* SHA-256 of "abc" (FIPS 180-2) */
#define ABC_SHA256 \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void test_link_text(void)
{
	struct auditchain c;
	char prefix[AUDITCHAIN_PREFIX_MAX];

	auditchain_fresh(&c);
	size_t n = auditchain_prefix(&c, prefix);
	CU_ASSERT_STRING_EQUAL(prefix, "{\"seq\":1,\"prev\":\"" ZEROS "\"");
	CU_ASSERT_EQUAL(n, strlen(prefix));
	auditchain_advance(&c, "abc", 3);
	auditchain_prefix(&c, prefix);
	CU_ASSERT_STRING_EQUAL(prefix,
			       "{\"seq\":2,\"prev\":\"" ABC_SHA256 "\"");
	/* in pieces, as audit.c writes a line: the same link */
	char a[] = "a", bc[] = "bc";
	struct iovec iov[3] = { { a, 1 }, { bc, 0 }, { bc, 2 } };
	auditchain_advance_pieces(&c, iov, 3);
	CU_ASSERT_EQUAL(c.seq, 3);
	auditchain_prefix(&c, prefix);
	CU_ASSERT_STRING_EQUAL(prefix,
			       "{\"seq\":3,\"prev\":\"" ABC_SHA256 "\"");
}

struct parse_case {
	const char *line;
	int ok;
	uint64_t seq;
};

static const struct parse_case parse_cases[] = {
	{ "{\"seq\":1,\"prev\":\"" ZEROS "\"}", 1, 1 },
	{ "{\"seq\":42,\"prev\":\"" ABC_SHA256 "\",\"event\":\"x\"}", 1, 42 },
	{ "{\"seq\":18446744073709551615,\"prev\":\"" ZEROS "\"}", 1,
	  UINT64_MAX },
	{ "{\"seq\":18446744073709551616,\"prev\":\"" ZEROS "\"}", 0, 0 },
	{ "{\"seq\":0,\"prev\":\"" ZEROS "\"}", 0, 0 },
	{ "{\"seq\":01,\"prev\":\"" ZEROS "\"}", 0, 0 },
	{ "{\"seq\":1,\"prev\":\"" ZEROS "\"", 0, 0 },       /* cut */
	{ "{\"seq\":1,\"prev\":\"" ZEROS "\"x", 0, 0 },
	{ "{\"seq\": 1,\"prev\":\"" ZEROS "\"}", 0, 0 },     /* a blank */
	{ "{\"prev\":\"" ZEROS "\",\"seq\":1}", 0, 0 },      /* order */
	{ "{\"seq\":1,\"prev\":\"BA7816BF8F01CFEA414140DE5DAE2223B00361A39617"
	  "7A9CB410FF61F20015AD\"}", 0, 0 },                 /* upper case */
	{ "{\"seq\":1,\"prev\":\"abc\"}", 0, 0 },
	{ "", 0, 0 },
};

static void test_parse(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	     i++) {
		const struct parse_case *c = &parse_cases[i];
		unsigned char prev[AUDITCHAIN_HASH_LEN];
		uint64_t seq = 0;
		int rc = auditchain_parse(c->line, strlen(c->line), &seq, prev);
		CU_ASSERT_EQUAL(rc, c->ok ? 0 : -1);
		if (c->ok)
			CU_ASSERT_EQUAL(seq, c->seq);
	}
}

/* ---- keys and checkpoints ---- */

static void test_keys(void)
{
	struct auditchain_key k;
	unsigned char pk[AUDITCHAIN_PK_LEN];
	char text[AUDITCHAIN_PUBKEY_TEXT], other[250];
	struct error why;
	struct stat st;

	CU_ASSERT_EQUAL_FATAL(auditchain_keygen(key_path, text, &why), 0);
	CU_ASSERT(strncmp(text, "carapace-audit-public-key ", 26) == 0);
	CU_ASSERT(stat(key_path, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* never over an existing key */
	CU_ASSERT_EQUAL(auditchain_keygen(key_path, text, &why), -1);
	CU_ASSERT_EQUAL_FATAL(auditchain_key_load(key_path, &k, &why), 0);
	CU_ASSERT_EQUAL_FATAL(auditchain_pubkey_load(pub_path, pk, &why), 0);
	CU_ASSERT(memcmp(pk, k.pk, sizeof(pk)) == 0);
	/* a public key is not a secret one, and the other way round */
	CU_ASSERT_EQUAL(auditchain_key_load(pub_path, &k, &why), -1);
	CU_ASSERT_EQUAL(auditchain_pubkey_load(key_path, pk, &why), -1);
	/* a secret key others may read is refused */
	path_in(other, sizeof(other), "open.key");
	CU_ASSERT_EQUAL_FATAL(auditchain_keygen(other, text, &why), 0);
	chmod(other, 0640);
	CU_ASSERT_EQUAL(auditchain_key_load(other, &k, &why), -1);
	CU_ASSERT(strstr(why.msg, "group or others") != NULL);
	path_in(other, sizeof(other), "missing.key");
	CU_ASSERT_EQUAL(auditchain_key_load(other, &k, &why), -1);
	auditchain_key_clear(&k);
}

static void test_checkpoint(void)
{
	struct auditchain_key k, k2;
	struct auditchain c;
	struct error why;
	char line[AUDITCHAIN_CHECKPOINT_MAX], text[AUDITCHAIN_PUBKEY_TEXT];
	char path2[250];
	size_t which;

	CU_ASSERT_EQUAL_FATAL(auditchain_key_load(key_path, &k, &why), 0);
	path_in(path2, sizeof(path2), "second.key");
	CU_ASSERT_EQUAL_FATAL(auditchain_keygen(path2, text, &why), 0);
	CU_ASSERT_EQUAL_FATAL(auditchain_key_load(path2, &k2, &why), 0);
	auditchain_fresh(&c);
	auditchain_advance(&c, "abc", 3);
	size_t n = auditchain_checkpoint(&c, &k, "2026-12-03T22:00:00.000Z",
					 line);
	CU_ASSERT_FATAL(n > 0 && n == strlen(line));
	CU_ASSERT(strncmp(line, "{\"seq\":2,\"prev\":\"" ABC_SHA256
			  "\",\"event\":\"checkpoint\",\"ts\":\"2026-12-03T22:"
			  "00:00.000Z\",\"key\":\"", 128) == 0);
	CU_ASSERT(auditchain_is_checkpoint(line, n));
	unsigned char keys[2 * AUDITCHAIN_PK_LEN];
	memcpy(keys, k2.pk, AUDITCHAIN_PK_LEN);
	memcpy(keys + AUDITCHAIN_PK_LEN, k.pk, AUDITCHAIN_PK_LEN);
	CU_ASSERT_EQUAL(auditchain_checkpoint_check(line, n, keys, 2, &which,
						    &why), 0);
	CU_ASSERT_EQUAL(which, 1);
	CU_ASSERT_EQUAL(auditchain_checkpoint_check(line, n, keys, 1, &which,
						    &why), -1);
	CU_ASSERT(strstr(why.msg, "not given") != NULL);
	/* the time is signed too */
	line[60] = line[60] == '1' ? '2' : '1';
	CU_ASSERT_EQUAL(auditchain_checkpoint_check(line, n, keys, 2, &which,
						    &why), -1);
	CU_ASSERT(strstr(why.msg, "does not verify") != NULL);
	auditchain_key_clear(&k);
	auditchain_key_clear(&k2);
}

/* ---- a log written as the daemon writes it ---- */

/* Appends the record body (a JSON object's members) as the next line of
 * c to f, and a checkpoint after it when k is not NULL. */
static void put_line(FILE *f, struct auditchain *c, const char *members,
		     const struct auditchain_key *k)
{
	char prefix[AUDITCHAIN_PREFIX_MAX], line[600];

	auditchain_prefix(c, prefix);
	snprintf(line, sizeof(line), "%s,%s}", prefix, members);
	fprintf(f, "%s\n", line);
	auditchain_advance(c, line, strlen(line));
	if (k != NULL) {
		char cp[AUDITCHAIN_CHECKPOINT_MAX];
		size_t n = auditchain_checkpoint(c, k,
						 "2026-12-03T22:00:00.000Z",
						 cp);
		fprintf(f, "%s\n", cp);
		auditchain_advance(c, cp, n);
	}
}

/* Files log.3 (oldest), log.2, log.1: 20 records each, a checkpoint
 * after every 5th line; the last a final checkpoint. */
static void write_log(void)
{
	struct auditchain_key k;
	struct auditchain c;
	struct error why;
	char path[250], members[100];
	int n = 0;

	CU_ASSERT_EQUAL_FATAL(auditchain_key_load(key_path, &k, &why), 0);
	auditchain_fresh(&c);
	for (int i = 3; i >= 1; i--) {
		snprintf(path, sizeof(path), "%s/log.%d", dir, i);
		FILE *f = fopen(path, "w");
		CU_ASSERT_FATAL(f != NULL);
		for (int j = 0; j < 20; j++) {
			snprintf(members, sizeof(members),
				 "\"event\":\"request\",\"n\":%d", ++n);
			put_line(f, &c, members, j % 5 == 4 ? &k : NULL);
		}
		fclose(f);
	}
	auditchain_key_clear(&k);
}

/* The lines of a file, in a NULL-ended array (caller frees both). */
static char **read_lines(const char *path, size_t *n)
{
	size_t len;
	FILE *f = fopen(path, "r");
	char **lines = calloc(200, sizeof(*lines));
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;

	*n = 0;
	while (f && (got = getline(&line, &cap, f)) > 0 && *n < 199) {
		len = (size_t)got;
		lines[(*n)++] = strndup(line, len);
	}
	free(line);
	if (f)
		fclose(f);
	return lines;
}

static void write_lines(const char *path, char **lines, size_t n)
{
	FILE *f = fopen(path, "w");

	for (size_t i = 0; f && i < n; i++)
		if (lines[i] != NULL)
			fputs(lines[i], f);
	if (f)
		fclose(f);
}

static void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/* `carapacectl audit-verify ARGS` with output into out: exit status. */
static int verify(const char *args, char *out, size_t len)
{
	const char *ctl = getenv("CARAPACECTL");
	char cmd[2000];

	out[0] = '\0';
	if (ctl == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "cd %s && '%s' audit-verify %s 2>&1", dir,
		 ctl, args);
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	printf("\n$ carapacectl audit-verify %s\n%s", args, out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define PUB "--pubkey key.pub "
#define ALL "log.3 log.2 log.1"

static void test_verify_whole(void)
{
	char out[4096];

	write_log();
	CU_ASSERT_EQUAL(verify(PUB ALL, out, sizeof(out)), 0);
	/* 60 records and 12 checkpoints */
	CU_ASSERT(strstr(out, "verified 72 lines in 3 file(s), seq 1 to 72") !=
		  NULL);
	CU_ASSERT(strstr(out, "12 checkpoint(s) verified") != NULL);
	CU_ASSERT(strstr(out, "not covered") == NULL);
	/* without the key: the chain only, and it says so */
	CU_ASSERT_EQUAL(verify(ALL, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "checkpoints not verified") != NULL);
	/* a log that begins in a file not given: the rest still checks */
	CU_ASSERT_EQUAL(verify(PUB "log.2 log.1", out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "links to a line not given") != NULL);
	/* usage */
	CU_ASSERT_EQUAL(verify("", out, sizeof(out)), 2);
	CU_ASSERT_EQUAL(verify("--pubkey key ", out, sizeof(out)), 1);
}

/* A copy of log.2 changed by change(), verified with log.3 and log.1:
 * exit 1 and `where` in the output. */
static void tampered(void (*change)(char **lines, size_t n),
		     const char *where)
{
	char src[250], dst[250], out[4096];
	size_t n;

	path_in(src, sizeof(src), "log.2");
	path_in(dst, sizeof(dst), "bad.2");
	char **lines = read_lines(src, &n);
	CU_ASSERT_FATAL(n == 24);
	change(lines, n);
	write_lines(dst, lines, n);
	free_lines(lines, n);
	CU_ASSERT_EQUAL(verify(PUB "log.3 bad.2 log.1", out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, where) != NULL);
	CU_ASSERT(strstr(out, "FAILED") != NULL);
}

/* line 3 of log.2 (0-based 2) is a plain record: "n":23 */
static void edit(char **l, size_t n)
{
	(void)n;
	char *p = strstr(l[2], "\"n\":23");
	CU_ASSERT_FATAL(p != NULL);
	if (p != NULL) /* for the analyser: CU_ASSERT_FATAL returns not */
		p[5] = '9';
}

static void delete(char **l, size_t n)
{
	(void)n;
	free(l[2]);
	l[2] = NULL;
}

static void swap(char **l, size_t n)
{
	(void)n;
	char *t = l[2];
	l[2] = l[3];
	l[3] = t;
}

/* bytes from the end of line 3 to the end of line 8 cut out */
static void truncate_middle(char **l, size_t n)
{
	(void)n;
	char *tail = l[7] + strlen(l[7]) - 5;
	char *joined = NULL;
	l[2][strlen(l[2]) - 10] = '\0';
	CU_ASSERT_FATAL(asprintf(&joined, "%s%s", l[2], tail) > 0);
	free(l[2]);
	l[2] = joined;
	for (int i = 3; i <= 7; i++) {
		free(l[i]);
		l[i] = NULL;
	}
}

/* a checkpoint re-signed with another key over an edited chain: here
 * only its signature is changed (line 6 of log.2 is a checkpoint) */
static void forge(char **l, size_t n)
{
	(void)n;
	char *sig = l[5] ? strstr(l[5], "\"sig\":\"") : NULL;
	CU_ASSERT_FATAL(sig != NULL);
	if (sig != NULL)
		sig[7] = sig[7] == 'a' ? 'b' : 'a';
}

static void test_verify_edit(void)
{
	/* the edited line is the one whose hash no longer links */
	tampered(edit, "bad.2:3: changed");
}

static void test_verify_delete(void)
{
	tampered(delete, "bad.2:3: seq 28 where 27 was due: 1 line(s) "
		 "missing");
}

static void test_verify_swap(void)
{
	tampered(swap, "bad.2:3: seq 28 where 27 was due");
}

static void test_verify_truncate_middle(void)
{
	/* the cut line begins as line 3 did; line 4 is the old line 9 */
	tampered(truncate_middle, "bad.2:4: seq 33 where 28 was due");
}

static void test_verify_forged_checkpoint(void)
{
	tampered(forge, "bad.2:6: a checkpoint whose signature does not "
		 "verify");
}

static void test_verify_missing_file(void)
{
	char out[4096];

	CU_ASSERT_EQUAL(verify(PUB "log.3 log.1", out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "log.1:1: seq 49 where 25 was due") != NULL);
	CU_ASSERT(strstr(out, "a file or the end of the one before is "
			 "missing") != NULL);
}

/* A chain rewritten after an edit (no key needed for that) with its
 * checkpoints dropped: the run of unsigned lines gives it away. */
static void write_empty(const char *name)
{
	char path[250];

	path_in(path, sizeof(path), name);
	FILE *f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fclose(f);
}

static void test_verify_checkpoints_removed(void)
{
	struct auditchain c;
	char path[250], out[4096], members[100];

	path_in(path, sizeof(path), "rewritten");
	FILE *f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	struct auditchain_key k;
	struct error why;
	CU_ASSERT_EQUAL_FATAL(auditchain_key_load(key_path, &k, &why), 0);
	auditchain_fresh(&c);
	for (int i = 0; i < 1100; i++) {
		snprintf(members, sizeof(members), "\"n\":%d", i);
		/* one checkpoint, after the first line, then none */
		put_line(f, &c, members, i == 0 ? &k : NULL);
	}
	fclose(f);
	auditchain_key_clear(&k);
	CU_ASSERT_EQUAL(verify(PUB "rewritten", out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "rewritten:1003: more than 1000 lines") !=
		  NULL);
	/* no checkpoint at all, with a key given: nothing is vouched for */
	path_in(path, sizeof(path), "unsigned");
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	auditchain_fresh(&c);
	for (int i = 0; i < 3; i++)
		put_line(f, &c, "\"n\":1", NULL);
	fclose(f);
	CU_ASSERT_EQUAL(verify(PUB "unsigned", out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "no checkpoint signed by the given key") !=
		  NULL);
	CU_ASSERT_EQUAL(verify("unsigned", out, sizeof(out)), 0);
	/* an empty file, with a key given: nothing is vouched for either
	 * (a trail cut to nothing is not a trail that passes) */
	write_empty("empty");
	CU_ASSERT_EQUAL(verify(PUB "empty", out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "no line at all") != NULL);
}

/* ---- where the chain goes on at start ---- */

static void write_text(const char *name, const char *text)
{
	char path[250];

	path_in(path, sizeof(path), name);
	FILE *f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void test_resume(void)
{
	struct auditchain c, want;
	struct auditchain_resume r;
	char path[250];
	const char *l1 = "{\"seq\":7,\"prev\":\"" ZEROS "\",\"a\":1}";

	path_in(path, sizeof(path), "r.log");
	auditchain_resume(path, &c, &r); /* nothing there */
	CU_ASSERT_EQUAL(r.found, AUDITCHAIN_NONE);
	CU_ASSERT_EQUAL(c.seq, 1);
	char text[300];
	snprintf(text, sizeof(text), "%s\n", l1);
	write_text("r.log", text);
	auditchain_resume(path, &c, &r);
	want.seq = 7;
	auditchain_advance(&want, l1, strlen(l1));
	CU_ASSERT_EQUAL(r.found, AUDITCHAIN_CONTINUED);
	CU_ASSERT_EQUAL(c.seq, 8);
	CU_ASSERT(memcmp(c.prev, want.prev, AUDITCHAIN_HASH_LEN) == 0);
	CU_ASSERT_EQUAL(r.last_checkpoint, 0);
	/* an empty file just rotated: its sibling's last line */
	snprintf(text, sizeof(text), "%s.1", path);
	rename(path, text);
	write_text("r.log", "");
	auditchain_resume(path, &c, &r);
	CU_ASSERT_EQUAL(r.found, AUDITCHAIN_CONTINUED);
	CU_ASSERT_EQUAL(c.seq, 8);
	CU_ASSERT(strstr(r.from, "r.log.1") != NULL);
	/* a compressed sibling cannot be read: a fresh chain, said */
	unlink(text);
	write_text("r.log.1.gz", "\x1f\x8b");
	auditchain_resume(path, &c, &r);
	CU_ASSERT_EQUAL(r.found, AUDITCHAIN_UNREADABLE);
	CU_ASSERT_EQUAL(c.seq, 1);
	/* a last line that does not parse, two after seq 7 */
	snprintf(text, sizeof(text), "%s\ngarbage\nmore garbage", l1);
	write_text("r.log", text);
	auditchain_resume(path, &c, &r);
	CU_ASSERT_EQUAL(r.found, AUDITCHAIN_UNPARSED);
	CU_ASSERT_EQUAL(c.seq, 10);
	auditchain_hash("more garbage", 12, want.prev);
	CU_ASSERT(memcmp(c.prev, want.prev, AUDITCHAIN_HASH_LEN) == 0);
}

/* A line of 64 MiB and more is refused, not read whole. */
static void test_verify_long_line(void)
{
	char path[250], out[4096];

	path_in(path, sizeof(path), "long");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	static char block[1 << 16];
	memset(block, 'x', sizeof(block));
	for (int i = 0; i < 1025; i++)
		CU_ASSERT_FATAL(write(fd, block, sizeof(block)) ==
				(ssize_t)sizeof(block));
	close(fd);
	CU_ASSERT_EQUAL(verify("long", out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "long:1: a line longer than 64 MiB") != NULL);
}

static int suite_init(void)
{
	if (auditchain_init() < 0 || mkdtemp(dir) == NULL)
		return -1;
	path_in(key_path, sizeof(key_path), "key");
	snprintf(pub_path, sizeof(pub_path), "%s.pub", key_path);
	return 0;
}

static int suite_clean(void)
{
	return tu_remove_tree(dir);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("auditchain", suite_init, suite_clean);
	CU_add_test(s, "a link's text and hash", test_link_text);
	CU_add_test(s, "seq and prev parsed strictly", test_parse);
	CU_add_test(s, "key files: make, read, refuse", test_keys);
	CU_add_test(s, "a checkpoint signed and checked", test_checkpoint);
	CU_add_test(s, "verify: a whole log passes", test_verify_whole);
	CU_add_test(s, "verify: an edited line", test_verify_edit);
	CU_add_test(s, "verify: a deleted line", test_verify_delete);
	CU_add_test(s, "verify: two lines swapped", test_verify_swap);
	CU_add_test(s, "verify: a middle cut out",
		    test_verify_truncate_middle);
	CU_add_test(s, "verify: a forged checkpoint",
		    test_verify_forged_checkpoint);
	CU_add_test(s, "verify: a file missing between two",
		    test_verify_missing_file);
	CU_add_test(s, "verify: checkpoints removed",
		    test_verify_checkpoints_removed);
	CU_add_test(s, "verify: a line too long", test_verify_long_line);
	CU_add_test(s, "resume: the last line, the rotated file, gz, "
		    "unparsable", test_resume);
	return cu_run();
}
