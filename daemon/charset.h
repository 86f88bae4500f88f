/*
 * Text from mail to UTF-8.  Every function here returns valid UTF-8 with
 * no NUL bytes, whatever it is given: bytes that do not convert become
 * U+FFFD.  Labels are mapped to their supersets first (gb2312/gbk →
 * GB18030, euc-kr → CP949, big5 → BIG5-HKSCS, iso-8859-1/us-ascii →
 * windows-1252), because mail is routinely labelled with the smaller set
 * and written with the larger one.
 *
 * charset_init() installs that mapping into libetpan (its extended_charconv
 * hook), so libetpan's RFC 2047 decoder gets it too.  It is idempotent
 * and thread-safe; message_parse() calls it.
 *
 * Each thread keeps its last few iconv descriptors to UTF-8 open (glibc
 * would otherwise unload and reload a charset's module over and over);
 * they are closed when the thread exits.
 *
 * Returned strings belong to the caller (free()).
 */
#ifndef RAPPORT_CHARSET_H
#define RAPPORT_CHARSET_H

#include <stdbool.h>
#include <stddef.h>

void charset_init(void);

/* The iconv name to decode text labelled `label` with (static string or
 * label itself). */
const char *charset_canonical(const char *label);

/* True if s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool charset_utf8_valid(const char *s, size_t len);

/* The longest prefix of s[0..len) of at most cap bytes that ends on a
 * character boundary (s must be valid UTF-8). */
size_t charset_utf8_prefix(const char *s, size_t len, size_t cap);

/*
 * Converts s[0..len) from charset to UTF-8, at most cap bytes (cut at a
 * character boundary; *truncated tells, may be NULL).  charset NULL or
 * unknown: valid UTF-8 is kept as is, anything else is read as
 * windows-1252.  NUL bytes are dropped.  Never NULL.
 */
char *charset_to_utf8(const char *charset, const char *s, size_t len,
    size_t cap, bool *truncated);

#endif
