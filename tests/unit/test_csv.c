/* Unit tests of the CSV reader (daemon/csv.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "tap.h"

/* Reads all of text; returns the records as "line:field|field\n" lines,
 * a damaged record as "line:!why\n". */
static char *
csv_dump(const char *text, size_t len)
{
	FILE *in = fmemopen((void *)text, len, "r");
	char *out = NULL;
	size_t outlen = 0;
	FILE *fp = open_memstream(&out, &outlen);
	struct csv c;
	int r;

	csv_init(&c, in);
	while ((r = csv_read(&c)) == CSV_RECORD) {
		fprintf(fp, "%lu:", c.line);
		if (c.bad) {
			fprintf(fp, "!%s\n", c.bad);
			continue;
		}
		for (size_t i = 0; i < c.n_fields; i++)
			fprintf(fp, "%s%s", i ? "|" : "", c.fields[i]);
		fputc('\n', fp);
	}
	if (r == CSV_ERROR)
		fprintf(fp, "ERROR %s\n", c.err);
	csv_free(&c);
	fclose(in);
	fclose(fp);
	return out;
}

#define CHECK(text, want, ...) do {					\
	char *got_ = csv_dump(text, sizeof(text) - 1);			\
	is_str(got_, want, __VA_ARGS__);				\
	free(got_);							\
} while (0)

static void
test_basics(void)
{
	CHECK("a,b,c\n1,2,3\n", "1:a|b|c\n2:1|2|3\n", "plain records");
	CHECK("a,b\r\n1,2\r\n", "1:a|b\n2:1|2\n", "CRLF line ends");
	CHECK("a,b\n1,2", "1:a|b\n2:1|2\n", "no trailing line break");
	CHECK("a,b\r1,2\r", "1:a|b\n2:1|2\n", "lone CR line ends");
	CHECK("a,,c\n,,\n", "1:a||c\n2:||\n", "empty fields");
	CHECK("a,b,\n", "1:a|b|\n", "empty last field");
	CHECK("", "", "empty input has no records");
	CHECK("a\n\n\r\nb\n", "1:a\n4:b\n", "blank lines skipped, still counted");
	CHECK("\"\"\n", "1:\n", "a quoted empty field is a record");
}

static void
test_quotes(void)
{
	CHECK("\"Olsen, Kari\",k@x\n", "1:Olsen, Kari|k@x\n", "quoted comma");
	CHECK("\"say \"\"hi\"\"\",x\n", "1:say \"hi\"|x\n", "doubled quotes");
	CHECK("\"\"\"\"\n", "1:\"\n", "a field that is one quote");
	CHECK("a,\"line1\nline2\nline3\",b\nnext,1,2\n",
	    "1:a|line1\nline2\nline3|b\n4:next|1|2\n",
	    "embedded newlines: next record on its own first line");
	CHECK("\"x\r\ny\"\r\nz\r\n", "1:x\r\ny\n3:z\n",
	    "embedded CRLF kept, counted once");
	CHECK("ab\"c,d\nok\n", "1:!quote inside an unquoted field\n2:ok\n",
	    "stray quote: record damaged, next one read");
	CHECK("\"ab\"c,d\nok\n", "1:!text after a closing quote\n2:ok\n",
	    "text after a closing quote");
	CHECK("ok\n\"open,\nmore\n", "1:ok\n2:!unterminated quoted field\n",
	    "unterminated quote named at its first line");
}

static void
test_encoding(void)
{
	CHECK("\xef\xbb\xbfname,email\n", "1:name|email\n", "UTF-8 BOM skipped");
	CHECK("\xef\xbb\xbf", "", "a BOM alone is an empty file");
	CHECK("\xef\xbb", "1:!invalid UTF-8 in field 1\n",
	    "half a BOM is data, and invalid UTF-8");
	CHECK("김민준,王芳\n", "1:김민준|王芳\n", "Korean and Chinese text");
	CHECK("ok\nx,\xff\xfe\ny\n", "1:ok\n2:!invalid UTF-8 in field 2\n3:y\n",
	    "invalid UTF-8 reported with its field");
	CHECK("\xc0\xaf\n", "1:!invalid UTF-8 in field 1\n", "overlong refused");
	CHECK("\xed\xa0\x80\n", "1:!invalid UTF-8 in field 1\n", "surrogate refused");
	CHECK("a\0b\n", "1:!NUL byte in the data\n", "NUL byte refused");
	ok(csv_utf8_valid("\xf0\x9f\x98\x80", 4), "4-byte sequence accepted");
	ok(!csv_utf8_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF refused");
	ok(!csv_utf8_valid("\xe4\xb8", 2), "truncated sequence refused");
}

static void
test_limits(void)
{
	size_t n = CSV_MAX_RECORD + 10;
	char *big = malloc(n + 8), *got;

	memcpy(big, "ok\n", 3);
	memset(big + 3, 'x', n);
	got = csv_dump(big, n + 3);
	ok(strncmp(got, "1:ok\nERROR line 2: record longer than", 37) == 0,
	    "an over-long record ends the input with its line");
	free(got);
	free(big);
}

static void
test_many(void)
{
	char *text = NULL, *out;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	int lines = 0;

	/* Crosses the reader's buffer boundary many times. */
	for (int i = 0; i < 20000; i++)
		fprintf(fp, "\"name %d\",\"multi\nline\",u%d@example.com\r\n", i, i);
	fclose(fp);
	out = csv_dump(text, len);
	for (char *p = out; (p = strstr(p, "@example.com")); p++)
		lines++;
	is_int(lines, 20000, "20000 records across buffer refills");
	ok(strstr(out, "\n39999:name 19999|multi\nline|u19999@example.com\n") != NULL,
	    "line numbers stay right after 20000 embedded newlines");
	free(out);
	free(text);
}

int
main(void)
{
	test_basics();
	test_quotes();
	test_encoding();
	test_limits();
	test_many();
	return tap_done();
}
