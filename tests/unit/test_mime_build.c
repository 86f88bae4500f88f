/*
 * MIME builder: the output is parsed again with libetpan (structure,
 * headers, decoded bodies) and measured (CRLF, line lengths); hostile
 * values must not add a header.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "mime_build.h"
#include "strbuf.h"
#include "tap.h"

static const char TEXT[] =
    "안녕하세요 김민준 님,\n\n구매해 주셔서 감사합니다.\n";
static const char HTML[] =
    "<p>안녕하세요 김민준 님,</p>\n<p>구매해 주셔서 감사합니다.</p>\n";

static void
base_message(struct mime_message *m)
{
	memset(m, 0, sizeof(*m));
	m->from_name = "Kim Sales";
	m->from_addr = "kim@example.com";
	m->to_name = "김민준";
	m->to_addr = "minjun@example.net";
	m->subject = "구매하신 제품은 마음에 드시나요?";
	m->date = 1796115600;	/* 2026-12-01T09:00:00Z */
	m->utc_offset = 540;
	m->message_id = "<outbox-42.1796115600@example.com>";
	m->text = TEXT;
	m->text_len = strlen(TEXT);
	m->html = HTML;
	m->html_len = strlen(HTML);
}

/* CRLF only; header lines <= 78, body lines <= 76. */
static bool
lines_ok(const char *s, size_t n)
{
	bool header = true;
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'))
			return false;
		if (s[i] != '\n')
			continue;
		if (i == 0 || s[i - 1] != '\r')
			return false;
		if (i - 1 - start > (header ? 78u : 76u))
			return false;
		if (i - 1 == start)
			header = false;
		start = i + 1;
	}
	return start == n;
}

/* A header line "Name:" at the start of a line, before the blank line. */
static bool
has_header(const char *msg, const char *name)
{
	size_t n = strlen(name);
	const char *p = msg;

	for (;;) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			return true;
		p = strstr(p, "\r\n");
		if (!p || p[2] == '\r')
			return false;
		p += 2;
	}
}

static char *
decode_single(struct mailmime *mime)
{
	struct mailmime_data *d = mime->mm_data.mm_single;
	char *out = NULL, *copy;
	size_t idx = 0, len = 0;

	if (!d || mailmime_part_parse(d->dt_data.dt_text.dt_data,
	    d->dt_data.dt_text.dt_length, &idx, d->dt_encoding, &out, &len) !=
	    MAILIMF_NO_ERROR)
		return NULL;
	copy = strndup(out, len);
	mailmime_decoded_part_free(out);
	return copy;
}

static char *
crlf(const char *s)
{
	struct strbuf sb;

	strbuf_init(&sb, 0);
	for (; *s; s++) {
		if (*s == '\n')
			strbuf_addc(&sb, '\r');
		strbuf_addc(&sb, *s);
	}
	return strbuf_detach(&sb);
}

static struct mailmime *
nth_part(struct mailmime *mp, int n)
{
	clistiter *it = clist_begin(mp->mm_data.mm_multipart.mm_mp_list);

	while (it && n-- > 0)
		it = clist_next(it);
	return it ? clist_content(it) : NULL;
}

static void
test_alternative(void)
{
	struct mime_message m;
	struct strbuf sb;
	struct mailmime *mime = NULL, *alt, *p;
	char err[128], *body, *want;
	size_t idx = 0;

	base_message(&m);
	strbuf_init(&sb, 0);
	ok(mime_build(&m, &sb, err, sizeof(err)) == 0, "builds a message");
	ok(lines_ok(sb.buf, sb.len), "CRLF only, lines within limits");
	ok(strstr(sb.buf, "Date: Tue, 1 Dec 2026 18:00:00 +0900\r\n") != NULL,
	    "Date in the given offset");
	ok(strstr(sb.buf, "Message-ID: <outbox-42.1796115600@example.com>\r\n"),
	    "Message-ID kept");
	ok(strstr(sb.buf, "From: Kim Sales <kim@example.com>\r\n"), "From");
	ok(strstr(sb.buf, "MIME-Version: 1.0\r\n"), "MIME-Version");
	ok(mailmime_parse(sb.buf, sb.len, &idx, &mime) == MAILIMF_NO_ERROR &&
	    mime->mm_type == MAILMIME_MESSAGE, "libetpan parses it");
	alt = mime ? mime->mm_data.mm_message.mm_msg_mime : NULL;
	ok(alt && alt->mm_type == MAILMIME_MULTIPLE &&
	    strcmp(alt->mm_content_type->ct_subtype, "alternative") == 0,
	    "multipart/alternative");
	p = alt ? nth_part(alt, 0) : NULL;
	ok(p && strcmp(p->mm_content_type->ct_subtype, "plain") == 0,
	    "first part text/plain");
	body = p ? decode_single(p) : NULL;
	want = crlf(TEXT);
	is_str(body, want, "text/plain decodes to the text, CRLF");
	free(body);
	free(want);
	p = alt ? nth_part(alt, 1) : NULL;
	ok(p && strcmp(p->mm_content_type->ct_subtype, "html") == 0,
	    "second part text/html");
	body = p ? decode_single(p) : NULL;
	want = crlf(HTML);
	is_str(body, want, "text/html decodes to the HTML");
	free(body);
	free(want);
	ok(alt && nth_part(alt, 2) == NULL, "two parts only");
	if (mime)
		mailmime_free(mime);

	/* Same input, same bytes; other input, other boundary. */
	{
		struct strbuf again;
		char *b1, *b2;

		strbuf_init(&again, 0);
		mime_build(&m, &again, err, sizeof(err));
		ok(strcmp(sb.buf, again.buf) == 0, "deterministic");
		strbuf_reset(&again);
		m.text = "other";
		m.text_len = 5;
		mime_build(&m, &again, err, sizeof(err));
		b1 = strstr(sb.buf, "boundary=");
		b2 = strstr(again.buf, "boundary=");
		ok(b1 && b2 && strncmp(b1, b2, 40) != 0,
		    "boundary depends on the content");
		strbuf_free(&again);
	}
	strbuf_free(&sb);
}

static void
test_injection(void)
{
	struct mime_message m;
	struct strbuf sb;
	struct mime_header h[2];
	char err[128];

	base_message(&m);
	m.to_name = "Kim\r\nBcc: evil@x.example";
	m.from_name = "Sales\nX-Evil: 1";
	m.subject = "Hello\r\nBcc: evil@x.example\r\n\r\nbody";
	strbuf_init(&sb, 0);
	ok(mime_build(&m, &sb, err, sizeof(err)) == 0,
	    "CR/LF in names and subject: built");
	ok(!has_header(sb.buf, "Bcc"), "no Bcc header from a name or subject");
	ok(!has_header(sb.buf, "X-Evil"), "no X-Evil header");
	ok(lines_ok(sb.buf, sb.len), "still well formed");
	ok(strstr(sb.buf, "\r\n\r\nbody") == NULL, "subject cannot end the header");

	strbuf_reset(&sb);
	base_message(&m);
	m.to_addr = "minjun@example.net>\r\nBcc: evil@x.example";
	ok(mime_build(&m, &sb, err, sizeof(err)) == -1, "CR/LF in To address refused");
	is_str(err, "bad To address", "reason given");
	is_int(sb.len, 0, "nothing left in the buffer");

	base_message(&m);
	m.message_id = "<a@b>\r\nBcc: evil@x.example";
	ok(mime_build(&m, &sb, err, sizeof(err)) == -1, "CR/LF in Message-ID refused");
	m.message_id = "no-at-sign";
	ok(mime_build(&m, &sb, err, sizeof(err)) == -1, "Message-ID without @ refused");

	base_message(&m);
	h[0].name = "List-Unsubscribe";
	h[0].value = "<mailto:u@x.example>\r\nBcc: evil@x.example";
	m.headers = h;
	m.nheaders = 1;
	ok(mime_build(&m, &sb, err, sizeof(err)) == -1, "CR/LF in an extra header refused");
	h[0].name = "Bcc";
	h[0].value = "evil@x.example";
	ok(mime_build(&m, &sb, err, sizeof(err)) == -1, "a Bcc extra header refused");
	h[0].name = "X-Bad Name";
	h[0].value = "1";
	ok(mime_build(&m, &sb, err, sizeof(err)) == -1, "a bad header name refused");
	is_int(sb.len, 0, "buffer still empty");

	h[0].name = "List-Unsubscribe";
	h[0].value = "<mailto:unsubscribe+7f3a9c1e2b4d@lists.example.com?subject=unsubscribe>, "
	    "<https://example.com/unsubscribe?token=7f3a9c1e2b4d5e6f7a8b9c0d>";
	h[1].name = "List-Unsubscribe-Post";
	h[1].value = "List-Unsubscribe=One-Click";
	m.nheaders = 2;
	ok(mime_build(&m, &sb, err, sizeof(err)) == 0, "List-Unsubscribe accepted");
	ok(lines_ok(sb.buf, sb.len), "long List-Unsubscribe folded");
	ok(strstr(sb.buf, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"),
	    "List-Unsubscribe-Post present");
	strbuf_free(&sb);
}

static void
test_encodings(void)
{
	struct mime_message m;
	struct strbuf sb, text;
	struct mailmime *mime = NULL, *p;
	char err[128], *body;
	size_t idx = 0;

	strbuf_init(&text, 0);
	for (int i = 0; i < 30; i++)
		strbuf_adds(&text, "Gr\xc3\xbc\xc3\x9f" "e aus Berlin, price = 10 EUR. ");
	strbuf_adds(&text, "\n.\n.hidden\nFrom here\ntrailing   \nend");
	base_message(&m);
	m.text = text.buf;
	m.text_len = text.len;
	m.html = NULL;
	strbuf_init(&sb, 0);
	ok(mime_build(&m, &sb, err, sizeof(err)) == 0, "text only");
	ok(lines_ok(sb.buf, sb.len), "long line soft-broken at 76");
	ok(strstr(sb.buf, "quoted-printable"), "mostly ASCII: quoted-printable");
	ok(strstr(sb.buf, "\r\n.\r\n") == NULL && strstr(sb.buf, "\r\n.h") == NULL,
	    "no line starts with a dot");
	ok(strstr(sb.buf, "\r\nFrom ") == NULL, "no line starts with From");
	ok(strstr(sb.buf, "multipart") == NULL, "single part without HTML");
	ok(mailmime_parse(sb.buf, sb.len, &idx, &mime) == MAILIMF_NO_ERROR,
	    "parses");
	p = mime ? mime->mm_data.mm_message.mm_msg_mime : NULL;
	body = p ? decode_single(p) : NULL;
	{
		char *want;

		/* A single part runs to the end: our final CRLF is its own. */
		strbuf_addc(&text, '\n');
		want = crlf(text.buf);
		is_str(body, want, "quoted-printable decodes to the text");
		free(want);
	}
	free(body);
	if (mime)
		mailmime_free(mime);
	strbuf_free(&sb);
	strbuf_free(&text);

	base_message(&m);
	strbuf_init(&sb, 0);
	mime_build(&m, &sb, err, sizeof(err));
	ok(strstr(sb.buf, "Content-Transfer-Encoding: base64"),
	    "mostly Korean: base64");
	strbuf_free(&sb);
}

static void
test_attachment(void)
{
	static const char ics[] = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
	    "END:VCALENDAR\r\n";
	struct mime_attachment a = {
		"text/calendar; charset=UTF-8; method=REQUEST", "invite.ics",
		ics, sizeof(ics) - 1,
	};
	struct mime_message m;
	struct strbuf sb;
	struct mailmime *mime = NULL, *top, *p;
	char err[128], *body;
	size_t idx = 0;

	base_message(&m);
	m.attachment = &a;
	strbuf_init(&sb, 0);
	ok(mime_build(&m, &sb, err, sizeof(err)) == 0, "with an attachment");
	ok(lines_ok(sb.buf, sb.len), "well formed");
	ok(mailmime_parse(sb.buf, sb.len, &idx, &mime) == MAILIMF_NO_ERROR,
	    "parses");
	top = mime ? mime->mm_data.mm_message.mm_msg_mime : NULL;
	ok(top && strcmp(top->mm_content_type->ct_subtype, "mixed") == 0,
	    "multipart/mixed outside");
	p = top ? nth_part(top, 0) : NULL;
	ok(p && strcmp(p->mm_content_type->ct_subtype, "alternative") == 0,
	    "the alternative first");
	p = top ? nth_part(top, 1) : NULL;
	ok(p && strcmp(p->mm_content_type->ct_subtype, "calendar") == 0,
	    "the calendar second");
	body = p ? decode_single(p) : NULL;
	is_str(body, ics, "attachment decodes");
	free(body);
	ok(strstr(sb.buf, "filename=\"invite.ics\""), "file name");
	if (mime)
		mailmime_free(mime);
	a.filename = "evil\"\r\nBcc: x";
	strbuf_reset(&sb);
	ok(mime_build(&m, &sb, err, sizeof(err)) == -1, "hostile file name refused");
	strbuf_free(&sb);
}

static void
test_date(void)
{
	char buf[40];

	mime_build_date(1796115600, 0, buf, sizeof(buf));
	is_str(buf, "Tue, 1 Dec 2026 09:00:00 +0000", "UTC date");
	mime_build_date(1796115600, -330, buf, sizeof(buf));
	is_str(buf, "Tue, 1 Dec 2026 03:30:00 -0530", "negative offset");
	mime_build_date(0, 60, buf, sizeof(buf));
	is_str(buf, "Thu, 1 Jan 1970 01:00:00 +0100", "epoch");
}

int
main(void)
{
	test_date();
	test_alternative();
	test_injection();
	test_encodings();
	test_attachment();
	return tap_done();
}
