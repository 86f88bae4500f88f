/*
 * The parsed message: what an IMAP connector hands to the linker and the
 * store.  Everything is UTF-8 (valid, NUL-free), dates are UTC seconds,
 * addresses are lowercased addr-specs (address_normalize() without "+tag"
 * folding: folding is the linker's choice).  Every string and list is
 * bounded (the MESSAGE_*_MAX limits below), so a hostile header can cost
 * at most a few hundred KiB.
 *
 * A struct message and everything it points to belongs to whoever called
 * message_parse(); message_free() releases it.  Parsing never fails on bad
 * input: each defect is repaired or dropped, recorded in `warnings`, and
 * logged once per message ("message-id=... : ...").
 */
#ifndef RAPPORT_MESSAGE_H
#define RAPPORT_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The header fields the connector fetches with
 * BODY.PEEK[HEADER.FIELDS (...)]: all that parsing and classifying read. */
#define MESSAGE_HEADER_FIELDS						\
	"From To Cc Reply-To Date Subject Message-ID In-Reply-To "	\
	"References Auto-Submitted Precedence List-Id Content-Type "	\
	"X-Autoreply X-Autorespond Return-Path X-Failed-Recipients "	\
	"Content-Transfer-Encoding"

#define MESSAGE_HEADER_MAX	(256 * 1024)	/* header block read */
#define MESSAGE_FIELD_MAX	(64 * 1024)	/* one field's value */
#define MESSAGE_SUBJECT_MAX	998		/* bytes of UTF-8 */
#define MESSAGE_NAME_MAX	256		/* display name bytes */
#define MESSAGE_ADDR_MAX	320		/* normalized address bytes */
#define MESSAGE_ID_MAX		998		/* a Message-ID, without <> */
#define MESSAGE_ADDRS_MAX	500		/* addresses per list */
#define MESSAGE_REFS_MAX	100		/* References kept (the last) */
#define MESSAGE_SHORT_MAX	256		/* Precedence, List-Id, ... */
#define MESSAGE_EXCERPT_MAX	4096		/* first text, bytes of UTF-8 */
#define MESSAGE_DSN_MAX		8192		/* delivery-status text */

struct message_addr {
	char	*name;		/* display name, UTF-8; NULL if none */
	char	*addr;		/* normalized addr-spec, never NULL */
};

struct message_addrlist {
	struct message_addr	*v;
	size_t			 n;
};

/* Defects met while parsing (bit set in message.warnings). */
enum message_warning {
	MESSAGE_WARN_NUL		= 1 << 0,  /* NUL bytes removed */
	MESSAGE_WARN_LONG		= 1 << 1,  /* a value was cut */
	MESSAGE_WARN_DATE		= 1 << 2,  /* Date missing/unparseable */
	MESSAGE_WARN_NO_MSGID		= 1 << 3,  /* fallback key used */
	MESSAGE_WARN_DUP_MSGID		= 1 << 4,  /* later Message-IDs ignored */
	MESSAGE_WARN_BAD_ADDRESS	= 1 << 5,  /* unparseable address dropped */
	MESSAGE_WARN_CHARSET		= 1 << 6,  /* 8-bit or broken encoding */
	MESSAGE_WARN_TOO_MANY		= 1 << 7,  /* list capped */
	MESSAGE_WARN_MIME		= 1 << 8,  /* broken MIME structure */
	MESSAGE_WARN_BAD_MSGID		= 1 << 9,  /* Message-ID not <a@b> */
};

struct message {
	/* Message-ID without the angle brackets.  Never NULL: without one,
	 * "sha256:" and 64 hex digits of SHA-256 over the Date, From,
	 * Subject and To values (msgid_synthetic set). */
	char	*message_id;
	bool	 msgid_synthetic;
	char	*in_reply_to;		/* first id of In-Reply-To, or NULL */
	char	**references;		/* References ids, oldest first */
	size_t	 nreferences;

	/* UTC seconds.  date_fallback: the Date field was missing or
	 * unparseable, date is 0, and the connector must put the
	 * INTERNALDATE here (message_set_date_fallback()). */
	int64_t	 date;
	bool	 date_fallback;

	char	*subject;		/* decoded, one line; "" if absent */
	struct message_addrlist from, to, cc, reply_to;
	bool	 null_return_path;	/* Return-Path: <> (bounces have it) */
	struct message_addrlist failed_recipients; /* X-Failed-Recipients */

	/* Raw single-line values, trimmed, lowercased where the RFCs make
	 * them case-insensitive; NULL if absent. */
	char	*auto_submitted;	/* "auto-replied", "no", ... */
	char	*precedence;		/* "bulk", "list", ... */
	char	*list_id;		/* the id inside <>, lowercase */
	bool	 x_autoreply;		/* X-Autoreply or X-Autorespond */

	/* Content-Type: "type/subtype" lowercase ("text/plain" if absent),
	 * and the parameters classification and body parsing need. */
	char	*content_type;
	char	*charset;		/* lowercase, or NULL */
	char	*boundary;		/* or NULL */
	char	*report_type;		/* lowercase, or NULL */
	char	*transfer_encoding;	/* "base64", ... lowercase, or NULL */

	/* Filled only by message_parse_body() (the second, targeted fetch):
	 * the first text part, decoded to UTF-8, and for a DSN the text of
	 * its message/delivery-status part.  NULL when not fetched. */
	char	*excerpt;
	char	*delivery_status;

	unsigned warnings;		/* enum message_warning bits */
};

/*
 * Parses a header block (the answer to BODY.PEEK[HEADER.FIELDS (...)] or
 * a whole header) of len bytes into *m, which it initializes.  logctx
 * (e.g. "account=work folder=INBOX uid=42", may be NULL) prefixes the
 * one warning line logged for a defective message.  Never fails.
 */
void message_parse(struct message *m, const char *hdr, size_t len,
    const char *logctx);

/*
 * Reads the beginning of the body (BODY.PEEK[TEXT]<0.N>: possibly cut
 * anywhere) using the Content-Type already parsed into *m: walks the
 * MIME parts (nested, broken boundaries tolerated), decodes the transfer
 * encoding and charset of the first text/plain part (else text/html with
 * tags removed) into m->excerpt, and keeps a message/delivery-status part
 * in m->delivery_status.  Replaces earlier values.  Never fails.
 */
void message_parse_body(struct message *m, const char *body, size_t len,
    const char *logctx);

/* Sets the date from INTERNALDATE when date_fallback is set. */
void message_set_date_fallback(struct message *m, int64_t internaldate);

void message_free(struct message *m);

#endif
