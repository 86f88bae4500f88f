/*
 * Header text for outgoing mail: RFC 2047 encoded words (libetpan can
 * decode them but has no public encoder) and RFC 5322 phrases and
 * mailboxes.
 *
 * Every function appends to a strbuf whose last line is the header line
 * being built ("Subject: " already in it): the column is read from the
 * buffer, so folding keeps every line at most 78 characters and every
 * encoded word at most 75.  Folds are "\r\n ".
 *
 * Input is UTF-8.  CR, LF and every other control character become spaces
 * and invalid UTF-8 bytes become U+FFFD, so nothing appended can ever start
 * a new header line.  Encoded words are "=?UTF-8?B?...?=" and never split
 * a UTF-8 sequence.
 */
#ifndef RAPPORT_RFC2047_H
#define RAPPORT_RFC2047_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

/* Unstructured text (Subject): as is when plain printable ASCII, folded at
 * spaces; otherwise as encoded words.  Leading and trailing blanks go. */
void rfc2047_encode(struct strbuf *sb, const char *text);

/* A display name as an RFC 5322 phrase: atoms as they are, a quoted string
 * when it holds specials ("Lee, Kim"), encoded words when non-ASCII. */
void rfc2047_phrase(struct strbuf *sb, const char *name);

/*
 * "phrase <addr>", or "addr" alone when name is NULL or blank.  Returns 0,
 * or -1 (nothing appended) if addr is not a plain ASCII addr-spec: no
 * blanks, controls, quotes or brackets, exactly one '@' with text on both
 * sides.
 */
int rfc2047_mailbox(struct strbuf *sb, const char *name, const char *addr);

/* Whether rfc2047_encode() would use encoded words for text. */
bool rfc2047_needs_encoding(const char *text);

/*
 * Length (1-4) of the valid, shortest-form UTF-8 sequence at s (n bytes
 * available), with its code point in *cp; 0 if the bytes there are not
 * valid UTF-8 (surrogates and values past U+10FFFF included).
 */
size_t rfc2047_utf8_len(const char *s, size_t n, uint32_t *cp);

#endif
