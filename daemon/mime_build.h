/*
 * Building an outgoing RFC 5322 message: headers (RFC 2047 where needed),
 * multipart/alternative with text/plain and text/html in UTF-8, and an
 * optional attachment (then multipart/mixed around the alternative).
 *
 * CRLF line endings throughout, every line at most 78 characters in the
 * header and 76 in the bodies (quoted-printable or base64, whichever is
 * shorter for the text).  No value can add a header line: names and the
 * subject have their CR/LF turned into blanks (rfc2047.h); addresses,
 * the Message-ID and extra headers holding CR, LF or other controls are
 * refused.  The boundary is derived from the message's contents (the same
 * input builds the same bytes) and cannot occur in the encoded bodies.
 *
 * All pointers in struct mime_message belong to the caller.
 */
#ifndef RAPPORT_MIME_BUILD_H
#define RAPPORT_MIME_BUILD_H

#include <stddef.h>
#include <stdint.h>

struct strbuf;

struct mime_header {
	const char	*name;	/* [A-Za-z0-9-]+, not one mime_build writes */
	const char	*value;	/* printable ASCII; folded at blanks */
};

struct mime_attachment {
	const char	*content_type;	/* "text/calendar; charset=UTF-8; method=REQUEST" */
	const char	*filename;	/* printable ASCII, no quotes; NULL: none */
	const char	*data;
	size_t		 len;
};

struct mime_message {
	const char	*from_name;	/* UTF-8 display names, may be NULL */
	const char	*from_addr;
	const char	*to_name;
	const char	*to_addr;
	const char	*subject;	/* UTF-8 */
	int64_t		 date;		/* seconds since the epoch */
	int		 utc_offset;	/* minutes east of UTC, for the Date header */
	const char	*message_id;	/* "left@right", with or without <> */
	const struct mime_header *headers;	/* extra headers, in this order */
	size_t		 nheaders;
	const char	*text;		/* UTF-8, any line endings */
	size_t		 text_len;
	const char	*html;		/* NULL: text/plain alone */
	size_t		 html_len;
	const struct mime_attachment *attachment;	/* NULL: none */
};

/*
 * Appends the whole message to out.  Returns 0, or -1 with a one-line
 * reason in err (out then unchanged).
 */
int mime_build(const struct mime_message *m, struct strbuf *out, char *err,
    size_t errlen);

/* "Sun, 22 Nov 2026 13:55:18 +0000" into buf (at least 32 bytes). */
void mime_build_date(int64_t t, int utc_offset, char *buf, size_t len);

#endif
