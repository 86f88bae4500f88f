#include "charset.h"

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <libetpan/charconv.h>

#include "xmalloc.h"

static const char replacement[] = "\xef\xbf\xbd";	/* U+FFFD */

static const struct {
	const char	*label;
	const char	*iconv_name;
} charset_supersets[] = {
	{ "gb2312",		"GB18030" },
	{ "gb_2312-80",		"GB18030" },
	{ "gbk",		"GB18030" },
	{ "x-gbk",		"GB18030" },
	{ "cp936",		"GB18030" },
	{ "euc-cn",		"GB18030" },
	{ "euccn",		"GB18030" },
	{ "euc-kr",		"CP949" },
	{ "euckr",		"CP949" },
	{ "ks_c_5601-1987",	"CP949" },
	{ "ks_c_5601",		"CP949" },
	{ "big5",		"BIG5-HKSCS" },
	{ "x-big5",		"BIG5-HKSCS" },
	{ "shift_jis",		"CP932" },
	{ "shift-jis",		"CP932" },
	{ "sjis",		"CP932" },
	{ "x-sjis",		"CP932" },
	{ "iso-8859-1",		"WINDOWS-1252" },
	{ "iso8859-1",		"WINDOWS-1252" },
	{ "latin1",		"WINDOWS-1252" },
	{ "us-ascii",		"WINDOWS-1252" },
	{ "ascii",		"WINDOWS-1252" },
	{ "utf8",		"UTF-8" },
	{ "unicode-1-1-utf-7",	"UTF-7" },
};

const char *
charset_canonical(const char *label)
{
	for (size_t i = 0; i < sizeof(charset_supersets) /
	    sizeof(charset_supersets[0]); i++)
		if (strcasecmp(label, charset_supersets[i].label) == 0)
			return charset_supersets[i].iconv_name;
	return label;
}

/* Whether b is a continuation byte within [lo, hi]. */
static inline bool
cont_in(unsigned char b, unsigned char lo, unsigned char hi)
{
	return b >= lo && b <= hi;
}

/*
 * The well-formed sequences of Unicode's table 3-7: the second byte's
 * range after E0, ED, F0 and F4 excludes overlong forms, surrogates and
 * code points above U+10FFFF, so no code point is assembled.
 */
bool
charset_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned char c;
		size_t n;

		/* Mail is mostly ASCII: eight bytes per test. */
		while (end - p >= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
			p += 8;
		}
		if (p == end)
			break;
		if ((c = *p) < 0x80) {
			p++;
			continue;
		}
		/* Most CJK: E1..EC, EE, EF with any two continuations. */
		if (c >= 0xe1 && c != 0xed && c <= 0xef && end - p >= 3 &&
		    (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
			p += 3;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3;
		else
			return false;
		if ((size_t)(end - p) <= n)
			return false;
		switch (c) {
		case 0xe0:
			if (!cont_in(p[1], 0xa0, 0xbf))
				return false;
			break;
		case 0xed:
			if (!cont_in(p[1], 0x80, 0x9f))
				return false;
			break;
		case 0xf0:
			if (!cont_in(p[1], 0x90, 0xbf))
				return false;
			break;
		case 0xf4:
			if (!cont_in(p[1], 0x80, 0x8f))
				return false;
			break;
		default:
			if (!cont_in(p[1], 0x80, 0xbf))
				return false;
		}
		if ((n >= 2 && !cont_in(p[2], 0x80, 0xbf)) ||
		    (n == 3 && !cont_in(p[3], 0x80, 0xbf)))
			return false;
		p += n + 1;
	}
	return true;
}

size_t
charset_utf8_prefix(const char *s, size_t len, size_t cap)
{
	if (len <= cap)
		return len;
	while (cap > 0 && ((unsigned char)s[cap] & 0xc0) == 0x80)
		cap--;
	return cap;
}

/*
 * Descriptors to UTF-8 kept open, a few per thread.  glibc unloads a gconv
 * module (dlclose: munmap and a TLB shootdown on every CPU) once it has sat
 * unused while a few others were released, and loads it again at the next
 * iconv_open: with mail in three or more charsets, one open and close per
 * encoded word cost about a millisecond each, a fifth of IMAP ingest.  Per
 * thread because a descriptor carries conversion state and no lock; the
 * key's destructor closes them when a thread ends (the main thread's go
 * with the process).
 */
#define CHARSET_CACHE_SLOTS	8
#define CHARSET_CACHE_NAME_MAX	47

struct charset_cache {
	struct {
		char		 name[CHARSET_CACHE_NAME_MAX + 1]; /* "": free */
		iconv_t		 cd;
		unsigned long	 used;		/* tick of last use: LRU */
	}		 slot[CHARSET_CACHE_SLOTS];
	unsigned long	 tick;
};

static pthread_key_t charset_cache_key;
static pthread_once_t charset_cache_once = PTHREAD_ONCE_INIT;

static void
charset_cache_free(void *p)
{
	struct charset_cache *c = p;

	for (size_t i = 0; i < CHARSET_CACHE_SLOTS; i++)
		if (c->slot[i].name[0] != '\0')
			iconv_close(c->slot[i].cd);
	free(c);
}

static void
charset_cache_key_create(void)
{
	if (pthread_key_create(&charset_cache_key, charset_cache_free) != 0)
		abort();
}

static struct charset_cache *
charset_cache_get(void)
{
	struct charset_cache *c;

	pthread_once(&charset_cache_once, charset_cache_key_create);
	if ((c = pthread_getspecific(charset_cache_key)) == NULL) {
		c = xcalloc(1, sizeof(*c));
		if (pthread_setspecific(charset_cache_key, c) != 0)
			abort();
	}
	return c;
}

/*
 * A descriptor from fromcode (canonical) to UTF-8 in its initial state,
 * from this thread's cache (opened into the least recently used slot on a
 * miss), or (iconv_t)-1 if the charset is unknown.  Unknown charsets are
 * not remembered: a message naming many could otherwise evict the good.
 */
static iconv_t
charset_cache_open(const char *fromcode)
{
	struct charset_cache *c = charset_cache_get();
	size_t i, lru = 0;
	iconv_t cd;

	for (i = 0; i < CHARSET_CACHE_SLOTS; i++) {
		if (c->slot[i].name[0] != '\0' &&
		    strcasecmp(c->slot[i].name, fromcode) == 0)
			goto hit;
		if (c->slot[i].used < c->slot[lru].used)
			lru = i;
	}
	if ((cd = iconv_open("UTF-8", fromcode)) == (iconv_t)-1)
		return cd;
	i = lru;
	if (c->slot[i].name[0] != '\0')
		iconv_close(c->slot[i].cd);
	strcpy(c->slot[i].name, fromcode);
	c->slot[i].cd = cd;
hit:
	c->slot[i].used = ++c->tick;
	/* The last user may have stopped mid-sequence or in a shift state. */
	iconv(c->slot[i].cd, NULL, NULL, NULL, NULL);
	return c->slot[i].cd;
}

/*
 * iconv with every undecodable input byte replaced by U+FFFD.  out has
 * room for outlen bytes; returns the bytes written, or -1 if the charset
 * is unknown.  Output stops quietly when out is full.
 */
static ssize_t
charset_iconv(const char *tocode, const char *fromcode, const char *in,
    size_t inlen, char *out, size_t outlen)
{
	iconv_t cd;
	char *ip = (char *)in, *op = out;
	size_t il = inlen, ol = outlen;
	bool cached;

	fromcode = charset_canonical(fromcode);
	cached = strcasecmp(tocode, "UTF-8") == 0 &&
	    strlen(fromcode) <= CHARSET_CACHE_NAME_MAX;
	cd = cached ? charset_cache_open(fromcode) :
	    iconv_open(tocode, fromcode);
	if (cd == (iconv_t)-1)
		return -1;
	while (il > 0) {
		if (iconv(cd, &ip, &il, &op, &ol) != (size_t)-1)
			break;
		if (errno == E2BIG || ol < sizeof(replacement) - 1)
			break;
		/* EILSEQ or a sequence cut at the end (EINVAL). */
		memcpy(op, replacement, sizeof(replacement) - 1);
		op += sizeof(replacement) - 1;
		ol -= sizeof(replacement) - 1;
		if (errno == EINVAL)
			break;
		ip++;
		il--;
	}
	iconv(cd, NULL, NULL, &op, &ol);
	if (!cached)
		iconv_close(cd);
	return op - out;
}

/* libetpan's hook: its buffer holds 6 bytes per input byte. */
static int
charset_etpan_hook(const char *tocode, const char *fromcode, const char *str,
    size_t length, char *result, size_t *result_len)
{
	ssize_t n;

	n = charset_iconv(tocode, fromcode, str, length, result, *result_len);
	if (n == -1)
		return MAIL_CHARCONV_ERROR_UNKNOWN_CHARSET;
	*result_len = (size_t)n;
	return MAIL_CHARCONV_NO_ERROR;
}

static pthread_once_t charset_once = PTHREAD_ONCE_INIT;

static void
charset_install(void)
{
	extended_charconv = charset_etpan_hook;
}

void
charset_init(void)
{
	pthread_once(&charset_once, charset_install);
}

/* Valid UTF-8 with invalid sequences replaced (s may hold anything). */
static size_t
charset_utf8_repair(const char *s, size_t len, char *out)
{
	size_t o = 0, i = 0;

	while (i < len) {
		size_t n = 1;

		if ((unsigned char)s[i] >= 0x80) {
			for (n = 2; n <= 4 && i + n <= len; n++)
				if (charset_utf8_valid(s + i, n))
					break;
			if (n > 4 || i + n > len) {
				memcpy(out + o, replacement, 3);
				o += 3;
				i++;
				continue;
			}
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	return o;
}

/* Removes the NUL bytes of s[0..len); returns the length left. */
static size_t
charset_drop_nul(char *s, size_t len)
{
	char *nul = memchr(s, '\0', len);
	size_t o;

	if (nul == NULL)
		return len;
	o = (size_t)(nul - s);
	for (size_t i = o + 1; i < len; i++)
		if (s[i] != '\0')
			s[o++] = s[i];
	return o;
}

char *
charset_to_utf8(const char *charset, const char *s, size_t len, size_t cap,
    bool *truncated)
{
	char *out, *clean;
	ssize_t n = -1;
	size_t o = 0, keep;
	bool valid = false;	/* checked as UTF-8 already */

	/* 4 bytes out for each byte in covers every decoder and U+FFFD. */
	out = xmalloc(len * 4 + 4);
	if (charset && strcasecmp(charset_canonical(charset), "UTF-8") != 0)
		n = charset_iconv("UTF-8", charset, s, len, out, len * 4 + 4);
	if (n == -1) {
		/* Invalid "UTF-8" in mail is nearly always Latin-1. */
		if (charset_utf8_valid(s, len)) {
			memcpy(out, s, len);
			n = (ssize_t)len;
			valid = true;
		} else
			n = charset_iconv("UTF-8", "WINDOWS-1252", s, len, out,
			    len * 4 + 4);
	}
	if (n < 0)
		n = 0;
	/* Drop NULs; then make sure, whatever iconv did, it is UTF-8. */
	o = charset_drop_nul(out, (size_t)n);
	/* Valid UTF-8 stays valid without its NULs: no second pass over it. */
	if (o < len * 4 + 4 && (valid || charset_utf8_valid(out, o)))
		/* Nearly always: the repair would copy it unchanged (and
		 * there is room for the NUL). */
		clean = out;
	else {
		clean = xmalloc(o * 3 + 1);
		o = charset_utf8_repair(out, o, clean);
		free(out);
	}
	keep = charset_utf8_prefix(clean, o, cap);
	if (truncated)
		*truncated = keep < o;
	clean[keep] = '\0';
	return clean;
}
