/*
 * Header and first-text parsing on fixture messages (tests/unit/mail),
 * and a deterministic mutation loop over them: truncation at every offset
 * and random byte changes must never crash (run under ASan) and must
 * always yield bounded, valid UTF-8.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "charset.h"
#include "message.h"
#include "tap.h"
#include "xmalloc.h"

static char *
slurp(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", MAIL_FIXTURES, name);
	if ((f = fopen(path, "rb")) == NULL) {
		printf("# cannot open %s\n", path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Header block length (up to and including the blank line). */
static size_t
header_len(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			return i + 2;
		if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	}
	return len;
}

static void
parse_buf(struct message *m, const char *buf, size_t len, bool body)
{
	size_t h = header_len(buf, len);

	message_parse(m, buf, h, "test=1");
	if (body)
		message_parse_body(m, buf + h, len - h, "test=1");
}

static void
parse_file(struct message *m, const char *name)
{
	size_t len;
	char *buf = slurp(name, &len);

	parse_buf(m, buf, len, true);
	free(buf);
}

/* ---- invariants checked on every parse ---- */

static bool
str_ok(const char *s, size_t cap, bool one_line)
{
	size_t n;

	if (s == NULL)
		return true;
	n = strlen(s);
	if (n > cap || !charset_utf8_valid(s, n))
		return false;
	for (size_t i = 0; one_line && i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			return false;
	return true;
}

static bool
list_ok(const struct message_addrlist *l)
{
	if (l->n > MESSAGE_ADDRS_MAX)
		return false;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].addr == NULL ||
		    !str_ok(l->v[i].addr, MESSAGE_ADDR_MAX, true) ||
		    !str_ok(l->v[i].name, MESSAGE_NAME_MAX, true))
			return false;
	return true;
}

static bool
message_ok(const struct message *m)
{
	if (m->message_id == NULL || *m->message_id == '\0' ||
	    m->subject == NULL || m->content_type == NULL)
		return false;
	if (!str_ok(m->message_id, MESSAGE_ID_MAX, true) ||
	    !str_ok(m->in_reply_to, MESSAGE_ID_MAX, true) ||
	    !str_ok(m->subject, MESSAGE_SUBJECT_MAX, true) ||
	    !str_ok(m->auto_submitted, MESSAGE_SHORT_MAX, true) ||
	    !str_ok(m->precedence, MESSAGE_SHORT_MAX, true) ||
	    !str_ok(m->list_id, MESSAGE_ID_MAX, true) ||
	    !str_ok(m->content_type, MESSAGE_SHORT_MAX, true) ||
	    !str_ok(m->charset, MESSAGE_SHORT_MAX, true) ||
	    !str_ok(m->excerpt, MESSAGE_EXCERPT_MAX, false) ||
	    !str_ok(m->delivery_status, MESSAGE_DSN_MAX, false))
		return false;
	if (m->nreferences > MESSAGE_REFS_MAX)
		return false;
	for (size_t i = 0; i < m->nreferences; i++)
		if (!str_ok(m->references[i], MESSAGE_ID_MAX, true))
			return false;
	return list_ok(&m->from) && list_ok(&m->to) && list_ok(&m->cc) &&
	    list_ok(&m->reply_to) && list_ok(&m->failed_recipients);
}

/* ---- fixtures ---- */

static void
test_plain(void)
{
	struct message m;

	parse_file(&m, "plain.eml");
	ok(message_ok(&m), "plain: invariants");
	is_str(m.message_id, "abc.123@mail.example.com", "plain: Message-ID");
	ok(!m.msgid_synthetic, "plain: real Message-ID");
	is_str(m.in_reply_to, "parent@customer.example",
	    "plain: In-Reply-To with a trailing comment");
	is_int(m.nreferences, 2, "plain: folded References");
	if (m.nreferences == 2) {
		is_str(m.references[0], "root@customer.example", "plain: ref 0");
		is_str(m.references[1], "parent@customer.example", "plain: ref 1");
	}
	is_int(m.date, 1793668530, "plain: Date +0900 to UTC");
	ok(!m.date_fallback, "plain: date not a fallback");
	is_str(m.subject, "Quote for 12 chairs", "plain: subject");
	is_int(m.from.n, 1, "plain: one From");
	is_str(m.from.v[0].addr, "kim@example.com", "plain: From lowercased");
	is_str(m.from.v[0].name, "Kim, Sales", "plain: quoted display name");
	is_int(m.to.n, 2, "plain: two To");
	if (m.to.n == 2) {
		is_str(m.to.v[0].addr, "lee+orders@customer.example",
		    "plain: +tag kept for the linker");
		is_str(m.to.v[0].name, "Lee Customer", "plain: To name");
		is_str(m.to.v[1].addr, "park@customer.example", "plain: bare To");
		ok(m.to.v[1].name == NULL, "plain: no name is NULL");
	}
	is_int(m.cc.n, 1, "plain: Cc");
	is_str(m.cc.n ? m.cc.v[0].addr : NULL, "choi@other.example", "plain: Cc addr");
	is_str(m.reply_to.n ? m.reply_to.v[0].addr : NULL,
	    "sales-team@example.com", "plain: Reply-To");
	is_str(m.content_type, "text/plain", "plain: content type");
	is_str(m.charset, "utf-8", "plain: charset lowercased");
	is_str(m.transfer_encoding, "quoted-printable", "plain: CTE");
	ok(!m.null_return_path, "plain: Return-Path not null");
	ok(m.excerpt && strstr(m.excerpt, "Café included"),
	    "plain: QP excerpt decoded");
	is_int(m.warnings, 0, "plain: no warnings");
	message_free(&m);
}

static void
test_charsets(void)
{
	struct message m;

	parse_file(&m, "korean.eml");
	ok(message_ok(&m), "korean: invariants");
	is_str(m.subject, "견적 요청드립니다", "korean: EUC-KR subject");
	is_str(m.from.n ? m.from.v[0].name : NULL, "홍길동",
	    "korean: EUC-KR name");
	is_str(m.to.n ? m.to.v[0].name : NULL, "김영업",
	    "korean: ks_c_5601-1987 name");
	is_int(m.date, 1793750400, "korean: date");
	ok(m.excerpt && strstr(m.excerpt, "안녕하세요, 견적 부탁드립니다."),
	    "korean: base64 EUC-KR excerpt");
	message_free(&m);

	parse_file(&m, "chinese.eml");
	ok(message_ok(&m), "chinese: invariants");
	is_str(m.subject, "报价单㐀确认",
	    "chinese: GB2312 label, GB18030-only character decoded");
	is_str(m.from.n ? m.from.v[0].name : NULL, "王小明", "chinese: GB name");
	is_str(m.to.n ? m.to.v[0].name : NULL, "陳大文", "chinese: Big5 name");
	is_int(m.date, 1793867400, "chinese: date +0800");
	ok(m.excerpt && strstr(m.excerpt, "您好，请确认报价。"),
	    "chinese: raw GB excerpt");
	message_free(&m);

	parse_file(&m, "raw8bit.eml");
	ok(message_ok(&m), "raw 8-bit: invariants");
	is_str(m.subject, "Café crème", "raw 8-bit: Latin-1 subject decoded");
	is_str(m.from.n ? m.from.v[0].name : NULL, "José Núñez",
	    "raw 8-bit: valid UTF-8 name kept");
	is_int(m.date, 1793970000, "raw 8-bit: date -0500");
	ok(m.warnings & MESSAGE_WARN_CHARSET, "raw 8-bit: warned");
	message_free(&m);

	parse_file(&m, "broken_ew.eml");
	ok(message_ok(&m), "broken encoded words: invariants");
	is_int(m.from.n, 1, "broken encoded words: From kept");
	is_int(m.to.n, 1, "broken encoded words: To kept");
	ok(strstr(m.subject, "caf") != NULL && strstr(m.subject, "latin1"),
	    "broken encoded words: subject readable: %s", m.subject);
	message_free(&m);
}

/* One Subject line through the RFC 2047 decoder. */
static void
subject_is(const char *field, const char *want, const char *what)
{
	struct message m;
	char hdr[512];

	snprintf(hdr, sizeof(hdr), "Subject: %s\r\nMessage-ID: <s@x>\r\n\r\n",
	    field);
	message_parse(&m, hdr, strlen(hdr), NULL);
	is_str(m.subject, want, "%s", what);
	message_free(&m);
}

static void
test_huge_field(void)
{
	struct message m;
	size_t n = 200 * 1024;
	char *hdr = xmalloc(n + 64);

	memcpy(hdr, "Subject: ", 9);
	memset(hdr + 9, 'x', n);
	static const char tail[] = "\r\nMessage-ID: <h@x>\r\n\r\n";

	memcpy(hdr + 9 + n, tail, sizeof(tail) - 1);
	message_parse(&m, hdr, n + 9 + sizeof(tail) - 1, NULL);
	ok(strlen(m.subject) == MESSAGE_SUBJECT_MAX &&
	    (m.warnings & MESSAGE_WARN_LONG), "200 KiB subject line cut, kept");
	is_str(m.message_id, "h@x", "field after a 200 KiB line still read");
	message_free(&m);
	free(hdr);
}

static void
date_is(const char *field, long long want, const char *what)
{
	struct message m;
	char hdr[256];

	snprintf(hdr, sizeof(hdr), "Date: %s\r\nMessage-ID: <d@x>\r\n\r\n",
	    field);
	message_parse(&m, hdr, strlen(hdr), NULL);
	if (want < 0)
		ok(m.date_fallback && m.date == 0, "%s", what);
	else
		is_int(m.date, want, "%s", what);
	message_free(&m);
}

static void
test_dates(void)
{
	date_is("Tue, 3 Nov 2026 10:15:30 +0900", 1793668530, "+0900");
	date_is("3 Nov 2026 01:15:30 GMT", 1793668530, "no weekday, GMT");
	date_is("Mon, 2 Nov 2026 20:15:30 EST", 1793668530, "EST (obsolete)");
	date_is("Tue, 3 Nov 26 01:15:30 +0000", 1793668530, "two-digit year");
	date_is("Tue,  3 Nov 2026 01:15:30 +0000 (UTC)", 1793668530,
	    "comment after the zone");
	date_is("2026-11-03T01:15:30Z", -1, "ISO 8601: fallback");
	date_is("Tue, 31 Feb 2026 25:00:00 +0000", -1, "hour 25: fallback");
	date_is("", -1, "empty: fallback");
}

static void
test_encoded_words(void)
{
	subject_is("=?shift_jis?B?jKmQz4Lggug=?=", "見積もり", "Shift_JIS");
	subject_is("=?big5?B?s/i7+bPm?=", "報價單", "Big5");
	subject_is("=?iso-8859-2?Q?=5A=61=BF=F3=B3=E6?=", "Zażółć",
	    "ISO-8859-2 Q encoding");
	subject_is("=?ISO-8859-1?Q?caf=E9?= =?ISO-8859-1?Q?_cr=E8me?=",
	    "café crème", "adjacent words joined, Latin-1");
	subject_is("=?utf-8?q?line=0D=0Abreak?=", "line  break",
	    "CR/LF inside a word become spaces");
	subject_is("=?utf-8?B?7ZWc?= plain", "한 plain", "word then text");
}

static void
test_addresses(void)
{
	struct message m;

	parse_file(&m, "groups.eml");
	ok(message_ok(&m), "groups: invariants");
	is_int(m.to.n, 0, "groups: undisclosed-recipients:; is empty");
	is_int(m.cc.n, 3, "groups: group flattened, mailbox after it kept");
	if (m.cc.n == 3) {
		is_str(m.cc.v[0].addr, "a@x.example", "groups: member 1");
		is_str(m.cc.v[1].addr, "b@y.example", "groups: member 2");
		is_str(m.cc.v[1].name, "Bee", "groups: member name");
		is_str(m.cc.v[2].addr, "solo@z.example", "groups: after group");
	}
	ok(!(m.warnings & MESSAGE_WARN_BAD_ADDRESS), "groups: no warning");
	message_free(&m);
}

static void
test_defects(void)
{
	struct message m, m2;
	size_t len;
	char *buf;

	parse_file(&m, "nodate_nomsgid.eml");
	ok(message_ok(&m), "no date/id: invariants");
	ok(m.date_fallback && m.date == 0, "no date: fallback flagged");
	message_set_date_fallback(&m, 1800000000);
	is_int(m.date, 1800000000, "no date: INTERNALDATE put in");
	ok(m.msgid_synthetic, "no Message-ID: synthetic");
	ok(strncmp(m.message_id, "sha256:", 7) == 0 &&
	    strlen(m.message_id) == 71, "no Message-ID: sha256 key");
	ok((m.warnings & (MESSAGE_WARN_DATE | MESSAGE_WARN_NO_MSGID)) ==
	    (MESSAGE_WARN_DATE | MESSAGE_WARN_NO_MSGID), "no date/id: warned");
	parse_file(&m2, "nodate_nomsgid.eml");
	is_str(m2.message_id, m.message_id, "fallback key is stable");
	message_free(&m2);
	buf = slurp("nodate_nomsgid.eml", &len);
	buf[strstr(buf, "no date") - buf] = 'N';
	parse_buf(&m2, buf, len, false);
	ok(strcmp(m2.message_id, m.message_id) != 0,
	    "fallback key changes with the subject");
	message_free(&m2);
	free(buf);
	message_free(&m);

	parse_file(&m, "baddate_dupid.eml");
	ok(message_ok(&m), "bad date: invariants");
	ok(m.date_fallback, "bad date: fallback flagged");
	is_str(m.message_id, "first@example.net", "duplicate Message-ID: first");
	ok(m.warnings & MESSAGE_WARN_DUP_MSGID, "duplicate Message-ID: warned");
	message_free(&m);

	parse_file(&m, "longlines.eml");
	ok(message_ok(&m), "long lines: invariants");
	is_int(strlen(m.subject), MESSAGE_SUBJECT_MAX, "10,000-char subject cut");
	is_int(m.to.n, MESSAGE_ADDRS_MAX, "600 recipients capped");
	ok(m.warnings & MESSAGE_WARN_LONG, "long lines: warned long");
	ok(m.warnings & MESSAGE_WARN_TOO_MANY, "long lines: warned too many");
	is_str(m.message_id, "long@long.example", "long lines: later fields kept");
	message_free(&m);

	parse_file(&m, "nul.eml");
	ok(message_ok(&m), "NUL: invariants");
	is_str(m.subject, "beforeafter", "NUL: removed from subject");
	is_str(m.message_id, "nul@example.org", "NUL: removed from Message-ID");
	ok(m.warnings & MESSAGE_WARN_NUL, "NUL: warned");
	message_free(&m);

	parse_file(&m, "broken_mime.eml");
	ok(message_ok(&m), "broken boundary: invariants");
	is_str(m.excerpt, "The real text is here.",
	    "broken boundary: the boundary in use is found");
	ok(m.warnings & MESSAGE_WARN_MIME, "broken boundary: warned");
	message_free(&m);

	parse_file(&m, "nested_truncated.eml");
	ok(message_ok(&m), "nested, cut by the fetch: invariants");
	is_str(m.excerpt, "안녕하세요 — nested text part.\n",
	    "nested: base64 text/plain inside multipart/alternative");
	ok(!(m.warnings & MESSAGE_WARN_MIME), "nested, cut: no MIME warning");
	message_free(&m);

	parse_file(&m, "html_only.eml");
	ok(message_ok(&m), "html: invariants");
	ok(m.excerpt && strstr(m.excerpt, "Hello & welcome") &&
	    !strstr(m.excerpt, "color") && !strchr(m.excerpt, '<'),
	    "html: tags and style removed");
	message_free(&m);
}

static void
test_charset_helpers(void)
{
	char *s;
	bool cut;

	s = charset_to_utf8(NULL, "caf\xe9", 4, 100, NULL);
	is_str(s, "café", "undeclared invalid UTF-8 read as windows-1252");
	free(s);
	s = charset_to_utf8("utf-8", "\xff\xfe" "ab", 4, 100, NULL);
	ok(charset_utf8_valid(s, strlen(s)), "bad UTF-8 never output: %s", s);
	free(s);
	s = charset_to_utf8("gb2312", "\x81\x39\xee\x39", 4, 100, NULL);
	is_str(s, "㐀", "gb2312 label decodes a GB18030 4-byte character");
	free(s);
	s = charset_to_utf8("x-no-such-charset", "plain", 5, 100, NULL);
	is_str(s, "plain", "unknown charset: ASCII kept");
	free(s);
	s = charset_to_utf8("utf-8", "ééé", 6, 5, &cut);
	ok(strcmp(s, "éé") == 0 && cut, "cut on a character boundary");
	free(s);
	s = charset_to_utf8("euc-kr", "\xb0", 1, 100, NULL);
	is_str(s, "\xef\xbf\xbd", "truncated EUC-KR sequence: U+FFFD");
	free(s);
}

/* More charsets than charset.c keeps descriptors for, stateful ones too. */
static const struct {
	const char	*label, *in, *want;
} cache_cases[] = {
	{ "euc-kr",		"\xbe\xc8\xb3\xe7",		"안녕" },
	{ "gb2312",		"\xc4\xfa\xba\xc3",		"您好" },
	{ "big5",		"\xa7\x41\xa6\x6e",		"你好" },
	{ "iso-2022-jp",	"\x1b$B$3$s\x1b(B!",		"こん!" },
	{ "koi8-r",		"\xf0\xd2\xc9",			"При" },
	{ "shift_jis",		"\x82\xa0",			"あ" },
	{ "EUC-JP",		"\xa4\xa2",			"あ" },
	{ "iso-8859-2",		"\xb1",				"ą" },
	{ "windows-1251",	"\xcf\xf0",			"Пр" },
	{ "ISO-8859-7",		"\xe1",				"α" },
	{ "utf-7",		"+AOk-x",			"éx" },
	{ "iso-8859-15",	"\xa4",				"€" },
	{ "x-no-such-charset",	"plain",			"plain" },
	{ "GBK",		"\x81\x39\xee\x39",		"㐀" },
};
#define NCACHE_CASES (sizeof(cache_cases) / sizeof(cache_cases[0]))

/* Converts every case, in an order that depends on round; mismatches. */
static int
cache_round(unsigned round)
{
	int bad = 0;

	for (size_t k = 0; k < NCACHE_CASES; k++) {
		size_t i = (k * (round % 2 ? 5 : 1) + round) % NCACHE_CASES;
		char *s = charset_to_utf8(cache_cases[i].label,
		    cache_cases[i].in, strlen(cache_cases[i].in), 100, NULL);

		if (strcmp(s, cache_cases[i].want) != 0) {
			printf("# round %u %s: got \"%s\"\n", round,
			    cache_cases[i].label, s);
			bad++;
		}
		free(s);
	}
	return bad;
}

static void *
cache_thread(void *arg)
{
	int *bad = arg;

	for (unsigned r = 0; r < 50; r++)
		*bad += cache_round(r);
	return NULL;
}

static void
test_charset_cache(void)
{
	pthread_t th[2];
	int bad = 0, tbad[2] = { 0, 0 };
	char *s;

	for (unsigned r = 0; r < 6; r++)
		bad += cache_round(r);
	is_int(bad, 0, "%zu charsets, 6 rounds, slots evicted and reused: "
	    "same output", NCACHE_CASES);

	/* A conversion left in a shift state must not leak into the next. */
	s = charset_to_utf8("iso-2022-jp", "\x1b$B$3", 5, 100, NULL);
	is_str(s, "こ", "ISO-2022-JP cut while shifted");
	free(s);
	s = charset_to_utf8("iso-2022-jp", "abc", 3, 100, NULL);
	is_str(s, "abc", "next ISO-2022-JP text starts in ASCII");
	free(s);
	s = charset_to_utf8("utf-7", "+AOk", 4, 100, NULL);
	free(s);
	s = charset_to_utf8("utf-7", "a+-b", 4, 100, NULL);
	is_str(s, "a+b", "next UTF-7 text starts outside base64");
	free(s);
	s = charset_to_utf8("euc-kr", "\xbe", 1, 100, NULL);
	free(s);
	/* "\xbe" "A" would be one CP949 (UHC) character. */
	s = charset_to_utf8("euc-kr", "A", 1, 100, NULL);
	is_str(s, "A", "a cut EUC-KR sequence is not completed by the next "
	    "text");
	free(s);

	/* Each thread its own descriptors; freed at exit (LeakSanitizer). */
	for (int i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, cache_thread, &tbad[i]) != 0)
			tbad[i] = -1;
	for (int i = 0; i < 2; i++)
		if (tbad[i] != -1)
			pthread_join(th[i], NULL);
	ok(tbad[0] == 0 && tbad[1] == 0,
	    "2 threads x 50 rounds at once: same output (%d, %d)",
	    tbad[0], tbad[1]);
}

/* ---- mutation loop ---- */

static const char *const fixtures[] = {
	"plain.eml", "korean.eml", "chinese.eml", "raw8bit.eml",
	"groups.eml", "nodate_nomsgid.eml", "baddate_dupid.eml", "nul.eml",
	"broken_ew.eml", "broken_mime.eml", "html_only.eml",
	"nested_truncated.eml",
	"c_dsn_postfix.eml", "c_bounce_exim.eml", "c_unsub_zh.eml",
	"longlines.eml",
};

static uint32_t rng = 0x9e3779b9;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static int
mutate_one(const char *buf, size_t len)
{
	struct message m;
	int bad = 0;

	parse_buf(&m, buf, len, true);
	bad = !message_ok(&m);
	if (bad) {
		FILE *f = fopen("test_message_parse.bad.eml", "wb");

		/* Kept for a look: the first input that broke a rule. */
		if (f) {
			fwrite(buf, 1, len, f);
			fclose(f);
		}
		printf("# bad parse: id=%s subject=%s excerpt=%s\n",
		    m.message_id ? m.message_id : "(null)",
		    m.subject ? m.subject : "(null)",
		    m.excerpt ? m.excerpt : "(null)");
	}
	message_free(&m);
	return bad;
}

static void
test_mutations(void)
{
	static const char nasty[] = "\0\r\n:;<>\"=?@,\\\t\x80\xff";
	size_t nfix = sizeof(fixtures) / sizeof(fixtures[0]);
	int runs = 0, bad = 0;

	for (size_t f = 0; f < nfix; f++) {
		size_t len, step;
		char *buf = slurp(fixtures[f], &len), *copy;

		/* Truncation: every offset of the small ones. */
		step = len > 4000 ? len / 400 : 1;
		for (size_t cut = 0; cut <= len; cut += step, runs++) {
			copy = xmalloc(cut + 1);
			memcpy(copy, buf, cut);
			bad += mutate_one(copy, cut);
			free(copy);
		}
		/* Byte changes, 1 to 8 at a time. */
		for (int i = 0; i < 300 && len > 0; i++, runs++) {
			int k = 1 + (int)(rnd() % 8);

			copy = xmalloc(len);
			memcpy(copy, buf, len);
			while (k--) {
				uint32_t r = rnd();

				copy[r % len] = (r >> 16) & 1 ?
				    nasty[(r >> 8) % (sizeof(nasty) - 1)] :
				    (char)(r >> 24);
			}
			bad += mutate_one(copy, len);
			free(copy);
		}
		free(buf);
	}
	is_int(bad, 0, "%d mutated messages parsed, all bounded valid UTF-8",
	    runs);
}

/*
 * The first text of a long body is what converting the whole body gives
 * (charset_to_utf8, CRLF tidied, cut at MESSAGE_EXCERPT_MAX), though the
 * parser converts only a prefix where it can: every charset the parser
 * treats so, a character cut at the end of the fetch, invalid "UTF-8"
 * (read as windows-1252), NUL bytes, lengths around the cap.
 */
static char *
reference_excerpt(const char *charset, const char *body, size_t len)
{
	char *t, *o;

	/* A UTF-8 character cut by the fetch is dropped, not a reason to
	 * read the whole text as windows-1252. */
	if (strcasecmp(charset, "utf-8") == 0) {
		size_t i = len;

		while (i > 0 && i > len - 3 &&
		    ((unsigned char)body[i - 1] & 0xc0) == 0x80)
			i--;
		if (i > 0 && (unsigned char)body[i - 1] >= 0xc2 &&
		    charset_utf8_valid(body, i - 1) &&
		    !charset_utf8_valid(body, len))
			len = i - 1;
	}
	t = charset_to_utf8(charset, body, len, MESSAGE_EXCERPT_MAX, NULL);
	o = t;

	for (char *p = t; *p; p++) {
		if (*p == '\r' && p[1] == '\n')
			continue;
		*o++ = (*p == '\r' || ((unsigned char)*p < 0x20 && *p != '\n' &&
		    *p != '\t') || *p == 0x7f) ? ' ' : *p;
	}
	*o = '\0';
	t[charset_utf8_prefix(t, strlen(t), MESSAGE_EXCERPT_MAX)] = '\0';
	return t;
}

static void
excerpt_same(const char *charset, const char *unit, size_t len, bool nul,
    const char *what)
{
	char hdr[256], *body = xmalloc(len + 1), *want;
	size_t ulen = strlen(unit);
	struct message m;

	for (size_t i = 0; i < len; i++)
		body[i] = unit[i % ulen];
	if (nul && len > 100)
		body[len / 3] = '\0';
	body[len] = '\0';
	snprintf(hdr, sizeof(hdr), "From: a@example.com\r\nMessage-ID: <x@y>"
	    "\r\nContent-Type: text/plain; charset=%s\r\n\r\n", charset);
	message_parse(&m, hdr, strlen(hdr), NULL);
	message_parse_body(&m, body, len, NULL);
	want = reference_excerpt(charset, body, len);
	ok(m.excerpt && strcmp(m.excerpt, want) == 0,
	    "long first text, %s, %zu bytes: %s", charset, len, what);
	free(want);
	free(body);
	message_free(&m);
}

/* The 8 KiB fetch cuts a Korean UTF-8 text inside a character: the text
 * stays Korean (it was all read as windows-1252). */
static void
test_cut_utf8(void)
{
	static const char hdr[] = "From: a@example.com\r\nMessage-ID: <c@y>\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n";
	static const char word[] = "\xec\x95\x88\xeb\x85\x95 ";	/* 안녕 */
	char body[8192];
	struct message m;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = word[i % (sizeof(word) - 1)];
	message_parse(&m, hdr, strlen(hdr), NULL);
	message_parse_body(&m, body, sizeof(body), NULL);
	ok(m.excerpt && strncmp(m.excerpt, "\xec\x95\x88\xeb\x85\x95 ", 7) == 0,
	    "a UTF-8 text cut inside a character stays UTF-8");
	ok(m.excerpt && charset_utf8_valid(m.excerpt, strlen(m.excerpt)) &&
	    strlen(m.excerpt) <= MESSAGE_EXCERPT_MAX,
	    "... valid and within the cap");
	message_free(&m);
}

static void
test_long_excerpts(void)
{
	static const struct {
		const char	*charset;
		const char	*unit;	/* repeated to fill the body */
		const char	*what;
	} cases[] = {
		{ "utf-8", "\xec\x95\x88\xeb\x85\x95 hello\r\n", "valid" },
		{ "utf-8", "caf\xe9 cr\xe8me\r\n", "invalid: windows-1252" },
		{ "us-ascii", "plain words and more\r\n", "ascii" },
		{ "euc-kr", "\xbe\xc8\xb3\xe7\xc7\xcf\xbc\xbc\xbf\xe4 \r\n",
		    "korean" },
		{ "gb2312", "\xc4\xfa\xba\xc3\xa3\xac\xc7\xeb\r\n", "chinese" },
		{ "big5", "\xa7\x41\xa6\x6e\r\n", "traditional" },
		{ "iso-8859-1", "\xe9t\xe9 \xe0 \r\n", "latin-1" },
		{ "iso-2022-jp", "\x1b$B$3$s\x1b(B ok\r\n", "stateful" },
		{ "x-unknown-set", "\xe9 abc\r\n", "unknown charset" },
	};
	static const size_t lens[] = { 100, 4095, 4352, 4353, 4361, 4500,
	    6001, 8191, 8192 };

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
			excerpt_same(cases[c].charset, cases[c].unit, lens[l],
			    false, cases[c].what);
	excerpt_same("utf-8", "\xec\x95\x88 x\r\n", 8000, true, "NUL byte");
	excerpt_same("utf-8", "\xec\x95\x88\xeb\x85\x95\r\n", 8191, true,
	    "NUL byte, cut character");
	excerpt_same("utf-8", "caf\xc3\xa9 \xe9\r\n", 5000, false,
	    "invalid inside, cut at the end");
	excerpt_same("euc-kr", "\xbe\xc8 x\r\n", 8000, true, "NUL byte");
	/* Mostly line ends: the prefix gives too little, the whole is read. */
	excerpt_same("euc-kr", "\r\n\r\n\r\n\r\n\r\n\r\n\xbe\xc8", 8000, false,
	    "sparse text");
	excerpt_same("windows-1252", "\r\n\r\n\r\na", 8000, false,
	    "sparse text");
}

/*
 * The parser reads common address lists itself and the rest with
 * libetpan.  A trailing comment sends any list to libetpan, which skips
 * it: each list must give the same addresses, names and warnings both
 * ways.
 */
static bool
addrs_equal(const struct message_addrlist *a, const struct message_addrlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->v[i].addr, b->v[i].addr) != 0)
			return false;
		if ((a->v[i].name == NULL) != (b->v[i].name == NULL) ||
		    (a->v[i].name && strcmp(a->v[i].name, b->v[i].name) != 0))
			return false;
	}
	return true;
}

static void
test_simple_addresses(void)
{
	static const char *const items[] = {
		"\"Kim Minji\" <minji@example.kr>", "<x@y.example>",
		"plain@example.com", "Ben Carter <Ben.Carter@Carter.example>",
		"=?UTF-8?B?6rmA66+87KeA?= <kim@example.kr>",
		"=?EUC-KR?B?sei5zsH2?= =?UTF-8?Q?x?= <e@kr.example>",
		"\" Kim \" <a@b.example>", "\"\" <empty@name.example>",
		"\"Kim, Minji\" <k@x.example>", "a+tag@b.example",
		"Kim  Minji <double@space.example>", "\"Kim  M\" <d@s.example>",
		"Dr. Kim <dot@phrase.example>", "\"a\\\"b\" <esc@x.example>",
		"Kim\tMinji <tab@x.example>", "\"Caf\xc3\xa9\" <u@x.example>",
		"a..b@x.example", ".a@x.example", "a@x..example", "a@[1.2.3.4]",
		"undisclosed-recipients:;", "g: a@b.example, c@d.example;",
		"<a@b.example", "Kim <a@b.example> x",
		"kim@x.example <a@b.example>", "=?UTF-8?Q?Dr._Kim?= <q@x.example>",
		"  spaced@x.example  ", "\"Quote\"<tight@x.example>",
		"NoSpace<tight2@x.example>", "Upper@EXAMPLE.COM",
	};
	static const char *const seps[] = { ", ", ",\t", ",", " , " };
	size_t n = sizeof(items) / sizeof(items[0]), bad = 0, cases = 0;

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j += (i % 5) + 1) {
			char v[512], h1[1200], h2[1200];
			struct message a, b;

			if (j == i)
				snprintf(v, sizeof(v), "%s", items[i]);
			else
				snprintf(v, sizeof(v), "%s%s%s", items[i],
				    seps[(i + j) % 4], items[j]);
			snprintf(h1, sizeof(h1), "From: %s\r\nTo: %s\r\n"
			    "Message-ID: <t@x>\r\n\r\n", v, v);
			snprintf(h2, sizeof(h2), "From: %s (c)\r\nTo: %s (c)"
			    "\r\nMessage-ID: <t@x>\r\n\r\n", v, v);
			message_parse(&a, h1, strlen(h1), NULL);
			message_parse(&b, h2, strlen(h2), NULL);
			cases++;
			if (!addrs_equal(&a.from, &b.from) ||
			    !addrs_equal(&a.to, &b.to) ||
			    a.warnings != b.warnings) {
				bad++;
				printf("# differs: [%s] %zu/%zu addresses,"
				    " warnings %#x/%#x\n", v, a.from.n,
				    b.from.n, a.warnings, b.warnings);
			}
			message_free(&a);
			message_free(&b);
		}
	}
	ok(bad == 0, "%zu address lists read alike with and without libetpan",
	    cases);
}

int
main(void)
{
	test_plain();
	test_charsets();
	test_encoded_words();
	test_dates();
	test_huge_field();
	test_addresses();
	test_defects();
	test_charset_helpers();
	test_charset_cache();
	test_long_excerpts();
	test_cut_utf8();
	test_simple_addresses();
	/* Thousands of defect warnings: keep them out of the TAP log. */
	fflush(stderr);
	int saved = dup(2);
	if (freopen("test_message_parse.mutations.log", "w", stderr) == NULL)
		return 1;
	test_mutations();
	fflush(stderr);
	dup2(saved, 2);
	return tap_done();
}
