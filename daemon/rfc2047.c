#include "rfc2047.h"

#include <string.h>

#include "strbuf.h"

#define LINE_MAX_LEN	78	/* RFC 5322 2.1.1 SHOULD */
#define WORD_MAX_LEN	75	/* RFC 2047 2 MUST */
#define EW_PREFIX	"=?UTF-8?B?"
#define EW_OVERHEAD	12	/* the prefix and "?=" */
/* Longer runs without a blank could not be folded: encode them instead. */
#define PLAIN_WORD_MAX	60

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
rfc2047_utf8_len(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len;
	uint32_t c;

	if (n == 0)
		return 0;
	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		len = 2;
		c = u[0] & 0x1f;
	} else if ((u[0] & 0xf0) == 0xe0) {
		len = 3;
		c = u[0] & 0x0f;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		len = 4;
		c = u[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (u[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 ||
	    c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Control characters of every kind, and the Unicode line separators. */
static bool
rfc2047_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028 ||
	    cp == 0x2029;
}

/*
 * The header-safe form of text: controls become spaces, invalid bytes
 * U+FFFD, and leading and trailing spaces go.
 */
static void
rfc2047_clean(struct strbuf *out, const char *text)
{
	size_t n = text ? strlen(text) : 0, i = 0, len;
	uint32_t cp;

	while (i < n) {
		len = rfc2047_utf8_len(text + i, n - i, &cp);
		if (len == 0) {
			strbuf_adds(out, "\xef\xbf\xbd");
			i++;
			continue;
		}
		if (rfc2047_is_control(cp))
			strbuf_addc(out, ' ');
		else
			strbuf_add(out, text + i, len);
		i += len;
	}
	while (out->len > 0 && out->buf[out->len - 1] == ' ')
		out->buf[--out->len] = '\0';
	len = strspn(strbuf_str(out), " ");
	if (len > 0) {
		memmove(out->buf, out->buf + len, out->len - len + 1);
		out->len -= len;
	}
}

static bool
rfc2047_clean_needs_encoding(const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return true;
		if (s[i] == '=' && i + 1 < n && s[i + 1] == '?')
			return true;
		run = s[i] == ' ' ? 0 : run + 1;
		if (run > PLAIN_WORD_MAX)
			return true;
	}
	return false;
}

bool
rfc2047_needs_encoding(const char *text)
{
	struct strbuf clean;
	bool needs;

	strbuf_init(&clean, 0);
	rfc2047_clean(&clean, text);
	needs = rfc2047_clean_needs_encoding(strbuf_str(&clean), clean.len);
	strbuf_free(&clean);
	return needs;
}

/* The length of the last line of sb so far. */
static size_t
rfc2047_column(const struct strbuf *sb)
{
	const char *s = strbuf_str(sb);
	size_t i = sb->len;

	while (i > 0 && s[i - 1] != '\n')
		i--;
	return sb->len - i;
}

static void
rfc2047_base64(struct strbuf *sb, const unsigned char *s, size_t n)
{
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		q[0] = b64[v >> 18 & 63];
		q[1] = b64[v >> 12 & 63];
		q[2] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? b64[v & 63] : '=';
		strbuf_add(sb, q, 4);
	}
}

/* How many bytes of whole characters of s fit in max bytes. */
static size_t
rfc2047_fit(const char *s, size_t n, size_t max)
{
	size_t take = 0, len;
	uint32_t cp;

	while (take < n) {
		len = rfc2047_utf8_len(s + take, n - take, &cp);
		if (len == 0)
			len = 1;	/* cannot happen on cleaned text */
		if (take + len > max)
			break;
		take += len;
	}
	return take;
}

/*
 * Cleaned text as encoded words, one per line after the first: adjacent
 * encoded words must be separated by white space, which decoders drop.
 */
static void
rfc2047_words(struct strbuf *sb, const char *s, size_t n)
{
	size_t col = rfc2047_column(sb), i = 0, room, take;
	bool first = true;

	while (i < n) {
		room = col < LINE_MAX_LEN ? LINE_MAX_LEN - col : 0;
		if (room > WORD_MAX_LEN)
			room = WORD_MAX_LEN;
		take = 0;
		if (first && room > EW_OVERHEAD)
			take = rfc2047_fit(s + i, n - i,
			    (room - EW_OVERHEAD) / 4 * 3);
		if (take == 0) {
			strbuf_adds(sb, "\r\n ");
			col = 1;
			first = true;
			continue;
		}
		strbuf_adds(sb, EW_PREFIX);
		rfc2047_base64(sb, (const unsigned char *)s + i, take);
		strbuf_adds(sb, "?=");
		col += EW_OVERHEAD + (take + 2) / 3 * 4;
		i += take;
		first = false;
	}
}

/* Cleaned ASCII text, folded before a blank where a line would grow too long. */
static void
rfc2047_plain(struct strbuf *sb, const char *s, size_t n)
{
	size_t col = rfc2047_column(sb), i = 0, ws, we;

	while (i < n) {
		for (ws = i; ws < n && s[ws] == ' '; ws++)
			;
		for (we = ws; we < n && s[we] != ' '; we++)
			;
		if (i > 0 && col + (we - i) > LINE_MAX_LEN) {
			strbuf_adds(sb, "\r\n");
			col = 0;
		}
		strbuf_add(sb, s + i, we - i);
		col += we - i;
		i = we;
	}
}

void
rfc2047_encode(struct strbuf *sb, const char *text)
{
	struct strbuf clean;

	strbuf_init(&clean, 0);
	rfc2047_clean(&clean, text);
	if (rfc2047_clean_needs_encoding(strbuf_str(&clean), clean.len))
		rfc2047_words(sb, strbuf_str(&clean), clean.len);
	else
		rfc2047_plain(sb, strbuf_str(&clean), clean.len);
	strbuf_free(&clean);
}

/* RFC 5322 atext, plus the blank between atoms. */
static bool
rfc2047_is_atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == ' ' ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static void
rfc2047_phrase_clean(struct strbuf *sb, const char *s, size_t n)
{
	size_t quoted = 2;
	bool atoms = true;

	if (rfc2047_clean_needs_encoding(s, n)) {
		rfc2047_words(sb, s, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!rfc2047_is_atext(s[i]))
			atoms = false;
		quoted += (s[i] == '"' || s[i] == '\\') ? 2 : 1;
	}
	if (atoms) {
		rfc2047_plain(sb, s, n);
		return;
	}
	/* A quoted string is not folded: too long for the line, encode it. */
	if (rfc2047_column(sb) + quoted > LINE_MAX_LEN) {
		rfc2047_words(sb, s, n);
		return;
	}
	strbuf_addc(sb, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			strbuf_addc(sb, '\\');
		strbuf_addc(sb, s[i]);
	}
	strbuf_addc(sb, '"');
}

void
rfc2047_phrase(struct strbuf *sb, const char *name)
{
	struct strbuf clean;

	strbuf_init(&clean, 0);
	rfc2047_clean(&clean, name);
	rfc2047_phrase_clean(sb, strbuf_str(&clean), clean.len);
	strbuf_free(&clean);
}

static bool
rfc2047_addr_ok(const char *addr)
{
	const char *at = NULL;
	size_t n = addr ? strlen(addr) : 0;

	if (n < 3 || n > 254)
		return false;
	for (const char *p = addr; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || strchr("<>()[],;:\\\"", c))
			return false;
		if (c == '@') {
			if (at)
				return false;
			at = p;
		}
	}
	return at && at != addr && at[1] != '\0';
}

int
rfc2047_mailbox(struct strbuf *sb, const char *name, const char *addr)
{
	struct strbuf clean;
	size_t alen;

	if (!rfc2047_addr_ok(addr))
		return -1;
	strbuf_init(&clean, 0);
	rfc2047_clean(&clean, name);
	if (clean.len == 0) {
		strbuf_adds(sb, addr);
		goto out;
	}
	rfc2047_phrase_clean(sb, strbuf_str(&clean), clean.len);
	alen = strlen(addr);
	if (rfc2047_column(sb) + alen + 3 > LINE_MAX_LEN)
		strbuf_adds(sb, "\r\n <");
	else
		strbuf_adds(sb, " <");
	strbuf_adds(sb, addr);
	strbuf_addc(sb, '>');
out:
	strbuf_free(&clean);
	return 0;
}
