#include "csv.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* How a field ended, besides the characters ',' and '\n'. */
enum {
	END_EOF = -1,
	END_LIMIT = -2,
};

void
csv_init(struct csv *c, FILE *fp)
{
	memset(c, 0, sizeof(*c));
	c->fp = fp;
	c->next_line = 1;
	strbuf_init(&c->data, CSV_MAX_RECORD);
}

void
csv_free(struct csv *c)
{
	strbuf_free(&c->data);
	free(c->offs);
	free(c->fields);
	c->offs = NULL;
	c->fields = NULL;
	c->cap_fields = 0;
}

static void
csv_fill(struct csv *c)
{
	size_t n;

	if (c->pos < c->len) {
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
	} else {
		c->len = 0;
	}
	c->pos = 0;
	while (!c->eof && c->len < sizeof(c->buf)) {
		n = fread(c->buf + c->len, 1, sizeof(c->buf) - c->len, c->fp);
		c->len += n;
		if (n == 0)
			c->eof = true;
		else
			break;
	}
}

static inline int
csv_getc(struct csv *c)
{
	if (c->pos == c->len) {
		csv_fill(c);
		if (c->pos == c->len)
			return EOF;
	}
	return c->buf[c->pos++];
}

static inline int
csv_peekc(struct csv *c)
{
	if (c->pos == c->len) {
		csv_fill(c);
		if (c->pos == c->len)
			return EOF;
	}
	return c->buf[c->pos];
}

/* Spreadsheets save "CSV UTF-8" with a byte order mark: not data. */
static void
csv_skip_bom(struct csv *c)
{
	c->started = true;
	while (c->len - c->pos < 3 && !c->eof)
		csv_fill(c);
	if (c->len - c->pos >= 3 && memcmp(c->buf + c->pos, "\xef\xbb\xbf", 3) == 0)
		c->pos += 3;
}

static void
csv_mark_bad(struct csv *c, const char *why)
{
	if (!c->bad)
		c->bad = why;
}

/* A CR ends a line alone or as half of CRLF. */
static void
csv_newline_after_cr(struct csv *c)
{
	if (csv_peekc(c) == '\n')
		c->pos++;
	c->next_line++;
}

static int
csv_put(struct csv *c, int ch)
{
	if (ch == '\0') {
		/* A C string cannot hold it; the record is refused anyway. */
		csv_mark_bad(c, "NUL byte in the data");
		return 0;
	}
	return strbuf_addc(&c->data, (char)ch) == 0 ? 0 : END_LIMIT;
}

/* The rest of an unquoted field, whose first byte is ch. */
static int
csv_unquoted(struct csv *c, int ch)
{
	for (;; ch = csv_getc(c)) {
		switch (ch) {
		case ',':
			return ',';
		case '\n':
			c->next_line++;
			return '\n';
		case '\r':
			csv_newline_after_cr(c);
			return '\n';
		case EOF:
			return END_EOF;
		case '"':
			csv_mark_bad(c, "quote inside an unquoted field");
			break;
		}
		if (csv_put(c, ch) == END_LIMIT)
			return END_LIMIT;
	}
}

/* A quoted field, after its opening quote. */
static int
csv_quoted(struct csv *c)
{
	int ch, next;

	for (;;) {
		ch = csv_getc(c);
		if (ch == EOF) {
			csv_mark_bad(c, "unterminated quoted field");
			return END_EOF;
		}
		if (ch == '"') {
			next = csv_getc(c);
			if (next != '"') {
				if (next != ',' && next != '\n' && next != '\r' &&
				    next != EOF)
					csv_mark_bad(c, "text after a closing quote");
				return csv_unquoted(c, next);
			}
		} else if (ch == '\n') {
			c->next_line++;
		} else if (ch == '\r' && csv_peekc(c) != '\n') {
			c->next_line++;
		}
		if (csv_put(c, ch) == END_LIMIT)
			return END_LIMIT;
	}
}

static void
csv_push_field(struct csv *c, size_t off)
{
	if (c->n_fields == c->cap_fields) {
		c->cap_fields = c->cap_fields ? c->cap_fields * 2 : 16;
		c->offs = xreallocarray(c->offs, c->cap_fields, sizeof(*c->offs));
		c->fields = xreallocarray(c->fields, c->cap_fields,
		    sizeof(*c->fields));
	}
	c->offs[c->n_fields++] = off;
}

/* Skips blank lines; returns the record's first byte, or EOF. */
static int
csv_skip_blank(struct csv *c)
{
	int ch;

	for (;;) {
		ch = csv_getc(c);
		if (ch == '\n')
			c->next_line++;
		else if (ch == '\r')
			csv_newline_after_cr(c);
		else
			return ch;
	}
}

static void
csv_check_utf8(struct csv *c)
{
	for (size_t i = 0; i < c->n_fields && !c->bad; i++) {
		if (!csv_utf8_valid(c->fields[i], strlen(c->fields[i]))) {
			snprintf(c->badmsg, sizeof(c->badmsg),
			    "invalid UTF-8 in field %zu", i + 1);
			c->bad = c->badmsg;
		}
	}
}

int
csv_read(struct csv *c)
{
	int ch, end;
	size_t off;

	if (!c->started)
		csv_skip_bom(c);
	strbuf_reset(&c->data);
	c->n_fields = 0;
	c->bad = NULL;
	ch = csv_skip_blank(c);
	if (ch == EOF) {
		if (ferror(c->fp)) {
			snprintf(c->err, sizeof(c->err), "line %lu: %s",
			    c->next_line, strerror(errno ? errno : EIO));
			return CSV_ERROR;
		}
		return CSV_EOF;
	}
	c->line = c->next_line;
	for (;;) {
		off = c->data.len;
		end = ch == '"' ? csv_quoted(c) : csv_unquoted(c, ch);
		if (end == END_LIMIT || strbuf_addc(&c->data, '\0') == -1) {
			snprintf(c->err, sizeof(c->err),
			    "line %lu: record longer than %d bytes", c->line,
			    CSV_MAX_RECORD);
			return CSV_ERROR;
		}
		csv_push_field(c, off);
		if (end != ',')
			break;
		ch = csv_getc(c);
	}
	if (ferror(c->fp)) {
		snprintf(c->err, sizeof(c->err), "line %lu: %s", c->next_line,
		    strerror(errno ? errno : EIO));
		return CSV_ERROR;
	}
	for (size_t i = 0; i < c->n_fields; i++)
		c->fields[i] = c->data.buf + c->offs[i];
	csv_check_utf8(c);
	return CSV_RECORD;
}

bool
csv_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *e = s + len;
	uint32_t cp;
	size_t n;

	while (s < e) {
		if (*s < 0x80) {
			s++;
			continue;
		}
		if (*s >= 0xc2 && *s <= 0xdf)
			n = 1, cp = *s & 0x1f;
		else if ((*s & 0xf0) == 0xe0)
			n = 2, cp = *s & 0x0f;
		else if (*s >= 0xf0 && *s <= 0xf4)
			n = 3, cp = *s & 0x07;
		else
			return false;
		if ((size_t)(e - s) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		s += n + 1;
	}
	return true;
}
