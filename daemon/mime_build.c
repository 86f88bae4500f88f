#include "mime_build.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rfc2047.h"
#include "strbuf.h"

#define BODY_LINE_MAX	76	/* RFC 2045 6.7 and 6.8 */
#define HEADER_LINE_MAX	78
#define HEADER_HARD_MAX	998

/* Headers mime_build writes itself, or that would add hidden recipients. */
static const char *const mime_reserved[] = {
	"Date", "From", "To", "Cc", "Bcc", "Subject", "Message-ID",
	"MIME-Version", "Sender", "Content-Type", "Content-Transfer-Encoding",
	"Content-Disposition", NULL,
};

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
mime_build_date(int64_t t, int utc_offset, char *buf, size_t len)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	time_t local = (time_t)(t + (int64_t)utc_offset * 60);
	int off = utc_offset < 0 ? -utc_offset : utc_offset;
	struct tm tm;

	gmtime_r(&local, &tm);
	snprintf(buf, len, "%s, %d %s %04d %02d:%02d:%02d %c%02d%02d",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, utc_offset < 0 ? '-' : '+',
	    off / 60 % 100, off % 60);
}

static bool
mime_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* "left@right" without blanks, brackets or controls. */
static bool
mime_msgid_ok(const char *id, size_t n)
{
	const char *at = memchr(id, '@', n);

	if (n < 3 || n > 250 || !at || at == id || at == id + n - 1)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];

		if (c <= 0x20 || c >= 0x7f || strchr("<>\"\\()[],;:", c))
			return false;
	}
	return true;
}

static bool
mime_header_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 76)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return false;
	for (size_t i = 0; mime_reserved[i]; i++)
		if (strcasecmp(name, mime_reserved[i]) == 0)
			return false;
	return true;
}

/*
 * "Name: value" folded before a blank where a line would pass 78 (even the
 * blank after the colon, for a long first word).
 */
static int
mime_header_folded(struct strbuf *sb, const char *name, const char *value)
{
	size_t col, i = 0, n = strlen(value), ws, we;
	bool blank = true;	/* the one after the colon */

	strbuf_addf(sb, "%s:", name);
	col = strlen(name) + 1;
	while (i < n) {
		for (ws = i; ws < n && (value[ws] == ' ' || value[ws] == '\t'); ws++)
			;
		for (we = ws; we < n && value[we] != ' ' && value[we] != '\t'; we++)
			;
		blank = blank || ws > i;
		if (blank && col + 1 + (we - ws) > HEADER_LINE_MAX) {
			strbuf_adds(sb, "\r\n");
			col = 0;
		}
		if (i == 0)
			strbuf_addc(sb, ' ');
		strbuf_add(sb, value + i, we - i);
		col += we - i + (i == 0);
		if (col > HEADER_HARD_MAX)
			return -1;
		i = we;
		blank = false;
	}
	strbuf_adds(sb, "\r\n");
	return 0;
}

/* Bytes quoted-printable would have to escape. */
static size_t
mime_qp_escapes(const char *s, size_t n)
{
	size_t e = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x7f || c == '=' || (c < 0x20 && c != '\t' &&
		    c != '\r' && c != '\n'))
			e++;
	}
	return e;
}

static bool
mime_qp_literal(const char *s, size_t n, size_t i, size_t col)
{
	unsigned char c = (unsigned char)s[i];
	bool eol = i + 1 == n || s[i + 1] == '\r' || s[i + 1] == '\n';

	if (c == '=' || c >= 0x7f || (c < 0x20 && c != '\t'))
		return false;
	if ((c == ' ' || c == '\t') && eol)
		return false;
	/* Safe from SMTP dot handling and mbox "From " quoting alike. */
	if (col == 0 && (c == '.' || (c == 'F' && n - i >= 5 &&
	    memcmp(s + i, "From ", 5) == 0)))
		return false;
	return true;
}

/*
 * How many bytes from s can go as they are, up to max: printable ASCII
 * and blanks other than '=', and not the blanks that end a line.
 */
static size_t
mime_qp_run(const char *s, size_t n, size_t max)
{
	size_t k = 0;

	while (k < max && k < n && s[k] >= 0x20 && s[k] <= 0x7e && s[k] != '=')
		k++;
	if (k == n || s[k] == '\r' || s[k] == '\n')
		while (k > 0 && s[k - 1] == ' ')
			k--;
	return k;
}

/* Lines are built in a small buffer and added whole: this runs per byte. */
static void
mime_qp(struct strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char line[BODY_LINE_MAX + 3];
	size_t col = 0, elen;
	char enc[3];
	bool eol;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
				i++;
			memcpy(line + col, "\r\n", 2);
			strbuf_add(sb, line, col + 2);
			col = 0;
			continue;
		}
		if (col > 0 && (elen = mime_qp_run(s + i, n - i,
		    BODY_LINE_MAX - 1 - col)) > 0) {
			memcpy(line + col, s + i, elen);
			col += elen;
			i += elen - 1;
			continue;
		}
		if (mime_qp_literal(s, n, i, col)) {
			enc[0] = s[i];
			elen = 1;
		} else {
			enc[0] = '=';
			enc[1] = hex[(unsigned char)s[i] >> 4];
			enc[2] = hex[(unsigned char)s[i] & 15];
			elen = 3;
		}
		eol = i + 1 == n || s[i + 1] == '\r' || s[i + 1] == '\n';
		/* A soft break "=" takes the 76th column unless the line ends here. */
		if (col + elen > BODY_LINE_MAX - 1 &&
		    !(eol && col + elen <= BODY_LINE_MAX)) {
			memcpy(line + col, "=\r\n", 3);
			strbuf_add(sb, line, col + 3);
			col = 0;
			if (elen == 1 && !mime_qp_literal(s, n, i, col)) {
				i--;	/* a '.' now starts the line: escape it */
				continue;
			}
		}
		memcpy(line + col, enc, elen);
		col += elen;
	}
	if (col > 0) {
		memcpy(line + col, "\r\n", 2);
		strbuf_add(sb, line, col + 2);
	}
}

static void
mime_base64(struct strbuf *sb, const char *data, size_t n)
{
	const unsigned char *s = (const unsigned char *)data;
	char line[BODY_LINE_MAX + 2];
	size_t col = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		line[col++] = b64[v >> 18 & 63];
		line[col++] = b64[v >> 12 & 63];
		line[col++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		line[col++] = i + 2 < n ? b64[v & 63] : '=';
		if (col == BODY_LINE_MAX) {
			memcpy(line + col, "\r\n", 2);
			strbuf_add(sb, line, col + 2);
			col = 0;
		}
	}
	if (col > 0) {
		memcpy(line + col, "\r\n", 2);
		strbuf_add(sb, line, col + 2);
	}
}

/* Text in canonical form (CRLF line endings), as base64 needs it. */
static void
mime_crlf(struct strbuf *sb, const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\r' && s[i] != '\n')
			continue;
		strbuf_add(sb, s + run, i - run);
		strbuf_add(sb, "\r\n", 2);
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			i++;
		run = i + 1;
	}
	strbuf_add(sb, s + run, n - run);
}

/*
 * A UTF-8 text part in the shorter encoding: quoted-printable costs two
 * bytes more per escaped byte, base64 a third of everything.
 */
static void
mime_text_part(struct strbuf *sb, const char *subtype, const char *s, size_t n)
{
	bool qp = mime_qp_escapes(s, n) * 6 <= n;
	struct strbuf canon;

	strbuf_addf(sb, "Content-Type: text/%s; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: %s\r\n\r\n", subtype,
	    qp ? "quoted-printable" : "base64");
	if (qp) {
		mime_qp(sb, s, n);
		return;
	}
	strbuf_init(&canon, 0);
	mime_crlf(&canon, s, n);
	mime_base64(sb, strbuf_str(&canon), canon.len);
	strbuf_free(&canon);
}

static int
mime_attachment_part(struct strbuf *sb, const struct mime_attachment *a,
    char *err, size_t errlen)
{
	if (!a->content_type || !mime_printable(a->content_type) ||
	    strlen(a->content_type) > 200) {
		snprintf(err, errlen, "bad attachment content type");
		return -1;
	}
	if (a->filename && (!mime_printable(a->filename) ||
	    strpbrk(a->filename, "\"\\") || strlen(a->filename) > 60)) {
		snprintf(err, errlen, "bad attachment file name");
		return -1;
	}
	strbuf_addf(sb, "Content-Type: %s\r\n", a->content_type);
	if (a->filename)
		strbuf_addf(sb, "Content-Disposition: attachment; "
		    "filename=\"%s\"\r\n", a->filename);
	strbuf_adds(sb, "Content-Transfer-Encoding: base64\r\n\r\n");
	mime_base64(sb, a->data, a->len);
	return 0;
}

static uint64_t
mime_fnv(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * The same message gives the same boundary; the Message-ID makes it differ
 * between messages.  It cannot occur in a body: quoted-printable writes
 * every '=' as "=3D" (its soft breaks are "=" CRLF) and base64 has no '_',
 * so "=_" never appears in either.
 */
static void
mime_boundary(const struct mime_message *m, char *buf, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	char lens[48];

	h = mime_fnv(h, m->message_id, strlen(m->message_id));
	h = mime_fnv(h, m->to_addr, strlen(m->to_addr));
	if (m->subject)
		h = mime_fnv(h, m->subject, strlen(m->subject));
	snprintf(lens, sizeof(lens), "%zu/%zu", m->text_len, m->html_len);
	h = mime_fnv(h, lens, strlen(lens));
	snprintf(buf, len, "=_rapport_%016llx", (unsigned long long)h);
}

/* The body after the top-level headers: a Content-Type line onwards. */
static int
mime_body(const struct mime_message *m, struct strbuf *sb, char *err,
    size_t errlen)
{
	char alt[40], mix[48];
	const char *text = m->text ? m->text : "";

	mime_boundary(m, alt, sizeof(alt));
	snprintf(mix, sizeof(mix), "%s_m", alt);

	if (m->attachment)
		strbuf_addf(sb, "Content-Type: multipart/mixed; "
		    "boundary=\"%s\"\r\n\r\n--%s\r\n", mix, mix);
	if (m->html) {
		strbuf_addf(sb, "Content-Type: multipart/alternative; "
		    "boundary=\"%s\"\r\n\r\n--%s\r\n", alt, alt);
		mime_text_part(sb, "plain", text, m->text_len);
		strbuf_addf(sb, "--%s\r\n", alt);
		mime_text_part(sb, "html", m->html, m->html_len);
		strbuf_addf(sb, "--%s--\r\n", alt);
	} else
		mime_text_part(sb, "plain", text, m->text_len);
	if (m->attachment) {
		strbuf_addf(sb, "--%s\r\n", mix);
		if (mime_attachment_part(sb, m->attachment, err, errlen) == -1)
			return -1;
		strbuf_addf(sb, "--%s--\r\n", mix);
	}
	return 0;
}

static int
mime_headers(const struct mime_message *m, struct strbuf *sb, char *err,
    size_t errlen)
{
	char date[40];
	const char *id = m->message_id;
	size_t idlen = id ? strlen(id) : 0;

	if (idlen >= 2 && id[0] == '<' && id[idlen - 1] == '>') {
		id++;
		idlen -= 2;
	}
	if (!id || !mime_msgid_ok(id, idlen)) {
		snprintf(err, errlen, "bad Message-ID");
		return -1;
	}
	mime_build_date(m->date, m->utc_offset, date, sizeof(date));
	strbuf_addf(sb, "Date: %s\r\nFrom: ", date);
	if (rfc2047_mailbox(sb, m->from_name, m->from_addr) == -1) {
		snprintf(err, errlen, "bad From address");
		return -1;
	}
	strbuf_adds(sb, "\r\nTo: ");
	if (rfc2047_mailbox(sb, m->to_name, m->to_addr) == -1) {
		snprintf(err, errlen, "bad To address");
		return -1;
	}
	strbuf_adds(sb, "\r\nSubject: ");
	rfc2047_encode(sb, m->subject);
	strbuf_addf(sb, "\r\nMessage-ID: <%.*s>\r\nMIME-Version: 1.0\r\n",
	    (int)idlen, id);
	for (size_t i = 0; i < m->nheaders; i++) {
		const struct mime_header *h = &m->headers[i];

		if (!mime_header_name_ok(h->name) || !h->value ||
		    !mime_printable(h->value) ||
		    mime_header_folded(sb, h->name, h->value) == -1) {
			snprintf(err, errlen, "bad header %.40s",
			    h->name ? h->name : "(null)");
			return -1;
		}
	}
	return 0;
}

int
mime_build(const struct mime_message *m, struct strbuf *out, char *err,
    size_t errlen)
{
	size_t start = out->len;

	if (mime_headers(m, out, err, errlen) == -1 ||
	    mime_body(m, out, err, errlen) == -1) {
		out->len = start;
		if (out->buf)
			out->buf[start] = '\0';
		return -1;
	}
	return 0;
}
