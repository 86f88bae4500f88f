/*
 * RFC 2047 encoder: every output is decoded again with libetpan's
 * mailmime_encoded_phrase_parse and compared with the input, and every
 * line and encoded word is measured.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "rfc2047.h"
#include "strbuf.h"
#include "tap.h"

/* Removes folds (CRLF before a blank); NULL if a CR or LF is left alone. */
static char *
unfold(const char *s)
{
	struct strbuf sb;

	strbuf_init(&sb, 0);
	for (; *s; s++) {
		if (s[0] == '\r' && s[1] == '\n' && (s[2] == ' ' || s[2] == '\t')) {
			s++;
			continue;
		}
		if (*s == '\r' || *s == '\n') {
			strbuf_free(&sb);
			return NULL;
		}
		strbuf_addc(&sb, *s);
	}
	return strbuf_detach(&sb);
}

static char *
decode(const char *value)
{
	size_t idx = 0;
	char *out = NULL;

	if (mailmime_encoded_phrase_parse("utf-8", value, strlen(value), &idx,
	    "utf-8", &out) != MAILIMF_NO_ERROR)
		return NULL;
	return out;
}

static bool
valid_utf8(const char *s)
{
	size_t n = strlen(s), len;
	uint32_t cp;

	for (size_t i = 0; i < n; i += len)
		if ((len = rfc2047_utf8_len(s + i, n - i, &cp)) == 0)
			return false;
	return true;
}

/* Every line at most 78, every encoded word at most 75 and whole UTF-8. */
static bool
well_formed(const char *hdr)
{
	const char *line = hdr, *end, *w, *we;

	for (;;) {
		end = strstr(line, "\r\n");
		if ((end ? (size_t)(end - line) : strlen(line)) > 78)
			return false;
		if (!end)
			break;
		line = end + 2;
	}
	for (w = strstr(hdr, "=?"); w; w = strstr(we, "=?")) {
		char *word, *dec;
		bool good;

		we = strstr(w + 10, "?=");
		if (!we || we + 2 - w > 75)
			return false;
		we += 2;
		word = strndup(w, (size_t)(we - w));
		dec = decode(word);
		good = dec && valid_utf8(dec);
		free(word);
		free(dec);
		if (!good)
			return false;
	}
	return true;
}

/* "Subject: " + encoding; checks form and the round trip. */
static void
roundtrip(const char *label, const char *text, const char *want)
{
	struct strbuf sb;
	char *value, *dec;

	strbuf_init(&sb, 0);
	strbuf_adds(&sb, "Subject: ");
	rfc2047_encode(&sb, text);
	ok(well_formed(strbuf_str(&sb)), "%s: lines <= 78, words <= 75, whole UTF-8",
	    label);
	value = unfold(strbuf_str(&sb) + 9);
	ok(value != NULL, "%s: no bare CR or LF", label);
	dec = value ? decode(value) : NULL;
	is_str(dec, want ? want : text, "%s: decodes to the input", label);
	free(dec);
	free(value);
	strbuf_free(&sb);
}

static void
test_subjects(void)
{
	struct strbuf sb, long_text;
	const char *ko = "구매하신 제품은 마음에 드시나요, 김민준 님?";

	strbuf_init(&sb, 0);
	strbuf_adds(&sb, "Subject: ");
	rfc2047_encode(&sb, "How is your new chair, Kim?");
	is_str(strbuf_str(&sb), "Subject: How is your new chair, Kim?",
	    "plain ASCII stays as it is");
	strbuf_free(&sb);

	strbuf_init(&sb, 0);
	strbuf_adds(&sb, "Subject: ");
	rfc2047_encode(&sb, ko);
	ok(strncmp(strbuf_str(&sb) + 9, "=?UTF-8?B?", 10) == 0,
	    "Korean is B-encoded");
	strbuf_free(&sb);

	roundtrip("Korean", ko, NULL);
	roundtrip("Chinese", "感谢您的推荐，王先生！", NULL);
	roundtrip("emoji", "Happy birthday 🎂🎉 from all of us 🥳", NULL);
	roundtrip("ASCII with =?", "Price =?UTF-8?B?Zm9v?= is not a word", NULL);
	ok(rfc2047_needs_encoding("a =? b"), "\"=?\" forces encoding");
	ok(!rfc2047_needs_encoding("a = ? b"), "\"= ?\" does not");

	strbuf_init(&long_text, 0);
	while (long_text.len < 300 * 3)
		strbuf_adds(&long_text, "안녕하세요 你好 🎂 e\xcc\x81t\xc3\xa9 ");
	long_text.buf[--long_text.len] = '\0';	/* trimmed */
	roundtrip("300 characters mixed", strbuf_str(&long_text), NULL);
	strbuf_reset(&long_text);
	while (long_text.len < 300)
		strbuf_adds(&long_text, "Thank you so much for ");
	/* the trailing blank is trimmed */
	long_text.buf[--long_text.len] = '\0';
	roundtrip("300 characters ASCII", strbuf_str(&long_text), NULL);
	strbuf_init(&sb, 0);
	strbuf_adds(&sb, "Subject: ");
	rfc2047_encode(&sb, strbuf_str(&long_text));
	ok(strstr(strbuf_str(&sb), "=?") == NULL,
	    "long ASCII is folded, not encoded");
	strbuf_free(&sb);
	strbuf_reset(&long_text);
	while (long_text.len < 120)
		strbuf_adds(&long_text, "xxxxxxxxxx");
	roundtrip("a 120-character word", strbuf_str(&long_text), NULL);
	strbuf_free(&long_text);

	/* libetpan's phrase parser collapses runs of blanks. */
	roundtrip("CR/LF", "Hi\r\nBcc: evil@x.example\n\rX: y",
	    "Hi Bcc: evil@x.example X: y");
	strbuf_init(&sb, 0);
	strbuf_adds(&sb, "Subject: ");
	rfc2047_encode(&sb, "Hi\r\nBcc: evil@x.example");
	is_str(strbuf_str(&sb), "Subject: Hi  Bcc: evil@x.example",
	    "CR/LF become blanks, not a header line");
	strbuf_free(&sb);
	roundtrip("CR/LF with Korean", "안녕\r\nBcc: evil@x.example",
	    "안녕  Bcc: evil@x.example");
	roundtrip("controls and U+2028", "a\tb\x01" "c\xe2\x80\xa8" "d\xc2\x85" "e",
	    "a b c d e");
	roundtrip("invalid UTF-8", "caf\xe9 \xc0\xaf ok",
	    "caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd ok");
	roundtrip("blanks trimmed", "  hello  ", "hello");

	/* A long field name leaves little room on the first line. */
	strbuf_init(&sb, 0);
	strbuf_adds(&sb, "X-A-Very-Long-Header-Field-Name-For-Testing-Folding-Room-Xyz: ");
	rfc2047_encode(&sb, "🎂🎂🎂🎂🎂🎂🎂🎂🎂🎂🎂🎂🎂🎂");
	ok(well_formed(strbuf_str(&sb)), "little room: still well formed");
	strbuf_free(&sb);
}

static void
mailbox_is(const char *name, const char *addr, const char *want,
    const char *label)
{
	struct strbuf sb;

	strbuf_init(&sb, 0);
	strbuf_adds(&sb, "To: ");
	ok(rfc2047_mailbox(&sb, name, addr) == 0, "%s: accepted", label);
	is_str(strbuf_str(&sb) + 4, want, "%s", label);
	strbuf_free(&sb);
}

/* Parses the mailbox with libetpan; the display name decoded. */
static void
mailbox_roundtrip(const char *name, const char *want, const char *label)
{
	struct strbuf sb;
	struct mailimf_mailbox *mb = NULL;
	char *value, *dec = NULL;
	size_t idx = 0;

	strbuf_init(&sb, 0);
	strbuf_adds(&sb, "From: ");
	rfc2047_mailbox(&sb, name, "kim@example.com");
	ok(well_formed(strbuf_str(&sb)), "%s: well formed", label);
	value = unfold(strbuf_str(&sb) + 6);
	ok(value && mailimf_mailbox_parse(value, strlen(value), &idx, &mb) ==
	    MAILIMF_NO_ERROR, "%s: libetpan parses the mailbox", label);
	if (mb && mb->mb_display_name)
		dec = decode(mb->mb_display_name);
	is_str(dec, want, "%s: display name round-trips", label);
	is_str(mb ? mb->mb_addr_spec : NULL, "kim@example.com",
	    "%s: address round-trips", label);
	if (mb)
		mailimf_mailbox_free(mb);
	free(dec);
	free(value);
	strbuf_free(&sb);
}

static void
test_mailboxes(void)
{
	struct strbuf sb;

	mailbox_is("Kim Sales", "kim@example.com", "Kim Sales <kim@example.com>",
	    "atoms");
	mailbox_is("Lee, Kim", "kim@x.example", "\"Lee, Kim\" <kim@x.example>",
	    "a comma is quoted");
	mailbox_is("K. \"Deal\" O\\Neil", "k@x.example",
	    "\"K. \\\"Deal\\\" O\\\\Neil\" <k@x.example>", "quotes escaped");
	mailbox_is(NULL, "kim@example.com", "kim@example.com", "no name");
	mailbox_is("  ", "kim@example.com", "kim@example.com", "blank name");
	mailbox_is("김민준", "kim@example.com",
	    "=?UTF-8?B?6rmA66+87KSA?= <kim@example.com>", "Korean name");

	mailbox_roundtrip("Lee, Kim", "Lee, Kim", "quoted");
	mailbox_roundtrip("김민준 (영업팀)", "김민준 (영업팀)", "Korean");
	mailbox_roundtrip("王小明", "王小明", "Chinese");
	mailbox_roundtrip("Kim\r\nBcc: evil@x.example", "Kim Bcc: evil@x.example",
	    "CR/LF in a name");
	mailbox_roundtrip("A very long display name that goes on and on, "
	    "and on, past the end of the line", "A very long display name that "
	    "goes on and on, and on, past the end of the line", "long name");

	strbuf_init(&sb, 0);
	ok(rfc2047_mailbox(&sb, "Kim", "kim@x.example>\r\nBcc: evil@x") == -1,
	    "CR/LF in an address is refused");
	ok(rfc2047_mailbox(&sb, "Kim", "a b@x.example") == -1, "a blank is refused");
	ok(rfc2047_mailbox(&sb, "Kim", "kim.example") == -1, "no @ is refused");
	ok(rfc2047_mailbox(&sb, "Kim", "a@b@c") == -1, "two @ are refused");
	ok(rfc2047_mailbox(&sb, "Kim", "@x.example") == -1, "no local part");
	ok(rfc2047_mailbox(&sb, "Kim", "김@x.example") == -1, "non-ASCII refused");
	ok(rfc2047_mailbox(&sb, "Kim", NULL) == -1, "NULL refused");
	is_int(sb.len, 0, "nothing appended on refusal");
	strbuf_free(&sb);
}

static void
test_utf8(void)
{
	uint32_t cp = 0;

	is_int(rfc2047_utf8_len("\xf0\x9f\x8e\x82", 4, &cp), 4, "emoji is 4 bytes");
	is_int(cp, 0x1f382, "emoji code point");
	is_int(rfc2047_utf8_len("\xf0\x9f\x8e", 3, &cp), 0, "truncated sequence");
	is_int(rfc2047_utf8_len("\xc0\xaf", 2, &cp), 0, "overlong form");
	is_int(rfc2047_utf8_len("\xed\xa0\x80", 3, &cp), 0, "surrogate");
	is_int(rfc2047_utf8_len("\xf4\x90\x80\x80", 4, &cp), 0, "past U+10FFFF");
}

int
main(void)
{
	test_utf8();
	test_subjects();
	test_mailboxes();
	return tap_done();
}
