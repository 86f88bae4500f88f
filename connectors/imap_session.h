/*
 * One IMAP connection, read-only: connect (implicit TLS or STARTTLS, the
 * chain checked by tls_verify), log in, look at a folder with EXAMINE,
 * fetch header fields and the beginning of bodies with BODY.PEEK, and
 * wait for changes with IDLE.  rapport never changes a mailbox: no
 * SELECT, STORE, EXPUNGE or COMPRESS is ever sent from here, so \Seen
 * stays as the user left it.  The one write is imap_session_append(),
 * which the sender uses to file a copy of what it sent.
 *
 * Every call blocks for at most the endpoint's timeout per network read
 * or write (IDLE: for the seconds asked); run a session on its own
 * thread.  A session is not shared between threads.  The program must
 * ignore SIGPIPE (a server that hangs up must not kill the daemon).
 *
 * All memory handed to callbacks belongs to the session and is valid only
 * during the call; everything else belongs to the caller unless stated.
 * Secrets (password, token) are read with config_secret() at connect
 * time, wiped after use and never logged or put into error messages.
 *
 * Errors: calls return an enum imap_status telling the caller what to do,
 * and imap_session_error() gives one line saying why (the server's own
 * words when it gave any, after its response code: "[UNAVAILABLE] ...").
 */
#ifndef RAPPORT_IMAP_SESSION_H
#define RAPPORT_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct endpoint;
struct imap_session;

enum imap_status {
	IMAP_OK = 0,
	IMAP_NO,	/* the server refused this command (NO/BAD): skip the
			   folder for now; the session is still usable */
	IMAP_FAIL,	/* connection lost, timed out, unparseable answer:
			   close the session and reconnect later */
	IMAP_STOPPED,	/* a callback returned non-zero: nothing wrong */
};

/* Capabilities after login (CONDSTORE and QRESYNC are only announced
 * then by some servers, e.g. Dovecot). */
enum imap_cap {
	IMAP_CAP_IDLE		= 1 << 0,
	IMAP_CAP_CONDSTORE	= 1 << 1,
	IMAP_CAP_QRESYNC	= 1 << 2,
	IMAP_CAP_ENABLE		= 1 << 3,
};

/*
 * Connects to ep->host:ep->port and logs in as ep->user:
 *  - ep->implicit_tls (imaps://): TLS from the first byte, SNI set to the
 *    host unless it is an IP literal;
 *  - otherwise STARTTLS, refused if the server does not offer it, unless
 *    ep->tls == TLS_NONE (plain text; for tests on 127.0.0.1).
 * After the handshake the peer's chain is verified against ep->ca_file
 * (NULL: the system store) and ep->host; a failure closes the connection
 * ("imap host H: certificate not trusted: ...").  ep->tls_verify = false
 * skips that with a warning in the log.
 * Authentication by ep->auth: AUTH_LOGIN (LOGIN), AUTH_PLAIN (AUTHENTICATE
 * PLAIN, through libetpan's Cyrus SASL: needs libsasl2-modules),
 * AUTH_XOAUTH2 (the token from ep->token_file), AUTH_DEFAULT (LOGIN, or
 * PLAIN under LOGINDISABLED; XOAUTH2 with only a token_file), AUTH_NONE
 * (no login: the server must have pre-authenticated us).  LOGIN is
 * refused when the server announces LOGINDISABLED, PLAIN and XOAUTH2
 * when it does not announce AUTH=PLAIN / AUTH=XOAUTH2: no secret is
 * ever sent for a mechanism the server did not offer.
 * Returns NULL with a one-line reason in err on failure.
 */
struct imap_session *imap_session_open(const struct endpoint *ep, char *err,
    size_t errlen);

/*
 * Why imap_session_open_why() failed, each with what to do about it.
 * The server's RFC 5530 response code decides between the login
 * failures, and is named in the error line ("[UNAVAILABLE] ...").
 */
enum imap_open_failure {
	/* May pass by itself: connection refused, lost or timed out, BYE,
	 * a NO [UNAVAILABLE] login (the server's authentication backend
	 * is down), [INUSE], [LIMIT], [SERVERBUG].  Retry with backoff. */
	IMAP_OPEN_TEMPORARY = 0,
	/* The password was refused ([AUTHENTICATIONFAILED],
	 * [AUTHORIZATIONFAILED], [EXPIRED], [CONTACTADMIN], or a NO with no
	 * code, which RFC 3501 says means rejected credentials): retrying
	 * cannot help until the user acts, and may lock the account. */
	IMAP_OPEN_REFUSED,
	/* The same for an XOAUTH2 token (revoked, expired): an outside
	 * refresher may replace it, and the token file is read again at
	 * every connection, so retrying with backoff can help. */
	IMAP_OPEN_TOKEN_REFUSED,
	/* Cannot work as configured: certificate refused, no STARTTLS, the
	 * mechanism not offered (nothing secret was sent), LOGINDISABLED,
	 * no secret, [PRIVACYREQUIRED]. */
	IMAP_OPEN_CONFIG,
};

/* imap_session_open(), also saying in *why (when not NULL) what kind of
 * failure a NULL return was. */
struct imap_session *imap_session_open_why(const struct endpoint *ep,
    char *err, size_t errlen, enum imap_open_failure *why);

/* LOGOUT (bounded by the timeout) and frees everything.  NULL is fine. */
void imap_session_close(struct imap_session *s);

/* Why the last call failed: one line, never NULL ("" after success). */
const char *imap_session_error(const struct imap_session *s);

/* enum imap_cap bits; QRESYNC counts only once ENABLEd (automatically,
 * at login, when the server offers ENABLE and QRESYNC). */
unsigned imap_session_caps(const struct imap_session *s);

/* A range of UIDs, first <= last. */
struct imap_uid_range {
	uint32_t first;
	uint32_t last;
};

/* What EXAMINE tells about a folder. */
struct imap_folder_state {
	uint32_t uidvalidity;
	uint32_t uidnext;	/* 0 if the server did not say */
	uint32_t exists;
	uint64_t highestmodseq;	/* 0: no CONDSTORE, or NOMODSEQ */
	/* With QRESYNC and a known (uidvalidity, modseq) that still holds:
	 * the UIDs expunged since that modseq.  Malloc'd, owned by the
	 * caller (imap_folder_state_free()).  Empty otherwise, which means
	 * "unknown", not "none", unless vanished_valid is set. */
	struct imap_uid_range *vanished;
	size_t	 n_vanished;
	bool	 vanished_valid;
};

void imap_folder_state_free(struct imap_folder_state *st);

/*
 * EXAMINE folder (the mailbox name as the server spells it, e.g. "INBOX"
 * or modified UTF-7), read-only.  When QRESYNC is enabled and the caller
 * knows known_uidvalidity and known_modseq (both non-zero) from its
 * cursor, sends EXAMINE folder (QRESYNC (uidvalidity modseq)) and fills
 * st->vanished.  When CONDSTORE is offered, EXAMINE folder (CONDSTORE)
 * so HIGHESTMODSEQ is reported.  If st->uidvalidity differs from
 * known_uidvalidity, every UID the caller knows is void.  *st is
 * overwritten (free it first if reused).
 */
enum imap_status imap_session_examine(struct imap_session *s,
    const char *folder, uint32_t known_uidvalidity, uint64_t known_modseq,
    struct imap_folder_state *st);

/*
 * Whether folder is the folder examined last, still open, under
 * uidvalidity: the server then reports that folder's changes to this
 * session (NOOP, IDLE), so it can be looked at again without an EXAMINE.
 * On a large Maildir, a Dovecot 2.3 process that was running when mail
 * was delivered re-reads the whole dovecot-uidlist (4.5 MB at 100,000
 * messages, 0.2 to 0.8 s) at every later EXAMINE or STATUS; a NOOP in
 * the open folder costs about 1 ms.
 */
bool imap_session_examined(const struct imap_session *s, const char *folder,
    uint32_t uidvalidity);

/*
 * STATUS folder (MESSAGES UIDNEXT UIDVALIDITY [HIGHESTMODSEQ]): fills
 * uidvalidity, uidnext, exists (MESSAGES) and, with CONDSTORE,
 * highestmodseq of *st (never vanished).  IMAP_NO for the examined
 * folder: RFC 3501 says not to ask, and Dovecot answers from the open
 * view, which may be behind.
 */
enum imap_status imap_session_status(struct imap_session *s,
    const char *folder, struct imap_folder_state *st);

/*
 * NOOP in the examined folder: the server reports what changed since it
 * last did; *changes gets the enum imap_change bits it saw (counted from
 * the EXISTS of the EXAMINE or of the last report).
 * imap_session_idle_changes() is left as it was.
 */
enum imap_status imap_session_noop(struct imap_session *s, unsigned *changes);

/* One fetched message, given to a callback. */
struct imap_fetched {
	uint32_t	 uid;
	int64_t		 internaldate;	/* UTC seconds, 0 if not sent */
	uint64_t	 modseq;	/* 0 without CONDSTORE */
	const char	*data;		/* raw bytes, not NUL-terminated */
	size_t		 len;		/* at most MESSAGE_HEADER_MAX (headers)
					   or max_bytes (excerpt) */
};

/*
 * What a fetch hands over.  message() is called once per message in
 * ascending UID order; batch_end() (may be NULL) after each batch with
 * the highest UID asked for in it, so a caller can commit its records
 * and its cursor per batch.  Returning non-zero from either stops the
 * fetch with IMAP_STOPPED.
 */
struct imap_fetch_handler {
	int	(*message)(void *ctx, const struct imap_fetched *f);
	int	(*batch_end)(void *ctx, uint32_t last_uid);
	void	 *ctx;
};

/*
 * For the folder last examined: finds the UIDs in uid_from..uid_to
 * (uid_to 0: up to the last message) with UID SEARCH, then fetches them
 * batch at a time with UID FETCH (UID INTERNALDATE [MODSEQ]
 * BODY.PEEK[HEADER.FIELDS (MESSAGE_HEADER_FIELDS)]).  data is the raw
 * header block, for message_parse().  The next batch's FETCH is sent
 * before a batch is handed over, so the server prepares it while the
 * callbacks work; they may still use the session (fetch_excerpts()):
 * its first command reads that answer and keeps it.  A fetch_excerpts()
 * called from batch_end() hands that next batch to message() while it
 * waits for its own answer (so message() may run inside batch_end(),
 * for the batch after; at most one batch ahead), then sends the FETCH
 * after it, to be prepared while batch_end() goes on.
 */
enum imap_status imap_session_fetch_headers(struct imap_session *s,
    uint32_t uid_from, uint32_t uid_to, unsigned batch,
    const struct imap_fetch_handler *h);

/*
 * The beginning of one message's body: UID FETCH uid
 * (UID BODY.PEEK[TEXT]<0.max_bytes>).  The MIME structure is not
 * fetched: message_parse_body() reads it from the top-level Content-Type
 * (already parsed from the header fetch) and the part headers inside
 * TEXT.  A message that no longer exists is IMAP_OK without a call.
 */
enum imap_status imap_session_fetch_excerpt(struct imap_session *s,
    uint32_t uid, size_t max_bytes, const struct imap_fetch_handler *h);

/*
 * The same for n messages in one command (UID FETCH set ...), so that a
 * batch's second pass costs one round trip, not one per message.  uids
 * ascending; h->message is called in UID order for those that still
 * exist (callbacks for UIDs outside uids[0]..uids[n - 1] are dropped,
 * those in between but not asked for are not: ask for a whole range or
 * check the UID).  Inside a fetch_headers' batch_end(), see there.
 */
enum imap_status imap_session_fetch_excerpts(struct imap_session *s,
    const uint32_t *uids, size_t n, size_t max_bytes,
    const struct imap_fetch_handler *h);

/*
 * What changed since modseq in the folder last examined (needs
 * CONDSTORE): UID FETCH 1:* (UID) (CHANGEDSINCE modseq [VANISHED]).
 * Messages whose flags changed go to h->message (data NULL, len 0; may
 * be NULL to ignore them); with QRESYNC the expunged UIDs go to
 * *vanished and *n_vanished (malloc'd, the caller frees), which are left
 * empty without it.
 */
enum imap_status imap_session_fetch_changed_since(struct imap_session *s,
    uint64_t modseq, const struct imap_fetch_handler *h,
    struct imap_uid_range **vanished, size_t *n_vanished);

/*
 * APPEND a message (CRLF line ends, as sent) to folder, flagged \Seen,
 * with the server's time as its INTERNALDATE.  Needs no EXAMINE first.
 * IMAP_NO when the server refuses (e.g. no such folder).
 */
enum imap_status imap_session_append(struct imap_session *s,
    const char *folder, const char *data, size_t len);

enum imap_idle_result {
	IMAP_IDLE_CHANGED,	/* new, expunged or changed messages: look again */
	IMAP_IDLE_TIMEOUT,	/* seconds passed quietly */
	IMAP_IDLE_WOKEN,	/* wake_fd became readable (not read here) */
	IMAP_IDLE_ERROR,	/* as IMAP_FAIL: reconnect (reason in error) */
};

/*
 * Waits up to seconds (at most 28 * 60: servers may drop an IDLE after
 * 30 minutes) for the folder last examined to change, or for wake_fd
 * (-1: none; e.g. an eventfd the main thread writes at shutdown) to
 * become readable.  NOOP first, so nothing untagged is pending when IDLE
 * starts (libetpan 1.9.4 can hang otherwise), and changes reported by it
 * return at once.  Keep-alive lines ("* OK Still here") do not count as
 * changes.  Needs IMAP_CAP_IDLE (IMAP_IDLE_ERROR otherwise).
 */
enum imap_idle_result imap_session_idle(struct imap_session *s, int seconds,
    int wake_fd);

/* What an IMAP_IDLE_CHANGED saw (bits of enum imap_change). */
enum imap_change {
	IMAP_CHANGE_NEW		= 1 << 0,	/* EXISTS grew */
	IMAP_CHANGE_GONE	= 1 << 1,	/* EXPUNGE, VANISHED, or fewer */
	IMAP_CHANGE_FLAGS	= 1 << 2,	/* unsolicited FETCH (flags) */
};

/*
 * The changes the last imap_session_idle() saw.  Only IMAP_CHANGE_NEW
 * (and flag changes, which rapport ignores) means the folder is still as
 * examined plus messages at the end: imap_session_fetch_headers() from
 * the last UID known then finds them without a new EXAMINE, which on a
 * large Maildir costs the server a directory scan (0.3 s per 100,000
 * messages, over a second right after a delivery).
 */
unsigned imap_session_idle_changes(const struct imap_session *s);

#endif
