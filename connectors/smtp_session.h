/*
 * One SMTP submission connection: connect (implicit TLS or STARTTLS, the
 * chain checked by tls_verify), EHLO, AUTH, then any number of messages
 * over the same authenticated connection, RSET between them.  libetpan
 * never pipelines; we do when the server announces PIPELINING (RFC 2920):
 * RSET, MAIL FROM, RCPT TO and DATA of a message go out in one write and
 * their replies are read back in order, so a message costs two round
 * trips (its commands, its body) instead of five.  Without PIPELINING:
 * one command, one reply.
 *
 * Every call blocks for at most the endpoint's timeout per network read
 * or write; run a session on its own thread.  A session is not shared
 * between threads.  The program must ignore SIGPIPE (libetpan writes with
 * plain send(): a server that hangs up must not kill the daemon).
 *
 * Memory: everything passed in stays the caller's; a struct smtp_reply
 * owns its list of refused recipients until smtp_reply_clear().
 * Secrets (password, token) are read with config_secret() at connect
 * time, wiped after use (also from libetpan's write buffer) and never
 * logged or put into error messages.
 *
 * What we do ourselves on libetpan's stream instead of through mailsmtp,
 * and why (libetpan 1.9.4):
 *  - the TCP connect, so that the greeting is bounded by the timeout too
 *    (mailsmtp_socket_connect reads it with the global 300 s delay);
 *  - EHLO, to send our own name (mailesmtp_ehlo sends gethostname());
 *  - MAIL FROM, for BODY=8BITMIME / SMTPUTF8 / SIZE= (mailesmtp_mail_size
 *    knows only SIZE and DSN) and without its silent 512-byte truncation;
 *  - the message body: mailstream_send_data dot-stuffs, but always writes
 *    "\r\n.\r\n", adding a blank line to a message that ends in CRLF;
 *  - RSET, RCPT and DATA when pipelined (mailsmtp waits for each reply);
 *  - AUTH PLAIN/LOGIN/XOAUTH2: libetpan does PLAIN/LOGIN through Cyrus SASL
 *    (Debian builds it with libsasl2; the plugins are in libsasl2-modules)
 *    and copies the password into buffers it frees without wiping;
 *    mailsmtp_oauth2_authenticate builds its command in 513 bytes, which
 *    cuts any real token (Microsoft's run past 1,500 characters).
 * mailsmtp still owns the connection: greeting, RCPT, DATA, RSET, NOOP,
 * QUIT and the TLS streams are libetpan's.
 */
#ifndef RAPPORT_SMTP_SESSION_H
#define RAPPORT_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>

struct endpoint;
struct smtp_session;

/* What the caller does next. */
enum smtp_status {
	SMTP_OK = 0,		/* accepted (250): record the server's text */
	SMTP_TEMPFAIL,		/* 4xx: keep the message, retry later */
	SMTP_PERMFAIL,		/* 5xx (or refused before sending, e.g. too
				   big): fail with the server's words */
	SMTP_CONNECTION,	/* lost, timed out, 421, unparseable: close,
				   reopen and retry; the message may or may
				   not have been accepted if this came after
				   the final dot */
};

#define SMTP_TEXT_MAX 512

/* A recipient refused at RCPT TO. */
struct smtp_rcpt_reply {
	size_t		 index;		/* into the rcpts[] given */
	int		 code;		/* 4xx/5xx */
	enum smtp_status status;	/* TEMPFAIL or PERMFAIL */
	char		 text[SMTP_TEXT_MAX];	/* "550 5.1.1 no such user" */
};

struct smtp_reply {
	enum smtp_status status;
	int		 code;		/* the deciding reply; 0: none */
	char		 text[SMTP_TEXT_MAX];	/* the server's reply ("250 2.0.0
					   OK queued as 7") or our reason */
	struct smtp_rcpt_reply *refused;	/* n_refused entries */
	size_t		 n_refused;
	bool		 unsent;	/* CONNECTION before the server took
					   MAIL FROM (e.g. a connection that
					   died while idle): nothing of this
					   message reached anyone, so sending
					   it again at once on a new
					   connection is safe */
};

/* Frees r->refused and zeroes r.  Safe on a zeroed reply. */
void smtp_reply_clear(struct smtp_reply *r);

/*
 * Connects to ep->host:ep->port and authenticates as ep->user:
 *  - ep->implicit_tls (smtps://, usually port 465): TLS from the first
 *    byte, SNI set to the host unless it is an IP literal;
 *  - otherwise (smtp://, submission 587): EHLO, STARTTLS (refused if the
 *    server does not offer it, unless ep->tls == TLS_NONE: plain text, for
 *    tests on 127.0.0.1), EHLO again.
 * After the handshake the chain is verified against ep->ca_file (NULL:
 * the system store) and ep->host; a failure closes the connection.
 * ep->tls_verify = false skips that with a warning in the log.
 * helo_name is the name sent with EHLO (NULL: this host's name when it is
 * fully qualified, else our address as a literal, "[192.0.2.1]").
 * Authentication by ep->auth: AUTH_PLAIN, AUTH_LOGIN, AUTH_XOAUTH2 (the
 * token from ep->token_file), AUTH_DEFAULT (with ep->user: PLAIN when
 * offered, else LOGIN; without: none), AUTH_NONE.  A mechanism the
 * server does not announce is an error, not a silent fallback.
 * Each network read or write waits at most ep->timeout seconds (default
 * 60), the connect, the greeting and the TLS handshake included (name
 * resolution is getaddrinfo's own).
 * Returns NULL with one line in err ("smtp 127.0.0.1:587: AUTH PLAIN
 * refused: 535 5.7.8 Authentication credentials invalid").
 */
struct smtp_session *smtp_session_open(const struct endpoint *ep,
    const char *helo_name, char *err, size_t errlen);

/*
 * Sends one message: MAIL FROM, RCPT TO for each of rcpts[0..n), DATA.
 * data is the whole message (header and body) as built by mime_build:
 * CRLF line ends (a bare LF is sent as CRLF), any bytes (8-bit is
 * announced with BODY=8BITMIME when the server offers it).  Lines that
 * start with "." are dot-stuffed here; the bytes the server stores are
 * exactly data.
 * r receives the outcome (overwritten: clear it before reusing it):
 *  - some recipients refused, others accepted: the message goes to the
 *    accepted ones, r->status is that of DATA, and r->refused lists the
 *    others with their own status (retry the TEMPFAIL ones later);
 *  - every recipient refused: r->status is TEMPFAIL if any refusal was a
 *    4xx, else PERMFAIL, with the first refusal's text.
 * After TEMPFAIL/PERMFAIL the transaction has been reset (with PIPELINING
 * the RSET goes out with the next message) and the session can send the
 * next message; after CONNECTION it is dead (close it).
 * With PIPELINING and at most 100 recipients, the commands go as one
 * group (a pending RSET first, DATA last) and each reply is mapped to its
 * command: the outcome is the same as one by one, and the body goes only
 * when MAIL and at least one RCPT were accepted; a DATA accepted
 * regardless gets a lone "." (RFC 2920 §3.1).  A pending RSET refused
 * shows here as CONNECTION with "RSET: ..." and r->unsent.
 * Returns r->status.
 */
enum smtp_status smtp_session_send(struct smtp_session *s,
    const char *mail_from, const char *const *rcpts, size_t n,
    const char *data, size_t len, struct smtp_reply *r);

/* RSET.  0 on 250; -1 otherwise (the session is then dead: reopen).
 * With PIPELINING it only marks the RSET to go with the next message's
 * commands and returns 0 on a live session (see smtp_session_send). */
int smtp_session_reset(struct smtp_session *s);

/* NOOP, to decide whether a connection that sat idle can be reused.
 * false: close it and open a new one. */
bool smtp_session_alive(struct smtp_session *s);

/* Why the last call failed: one line, never NULL ("" after success). */
const char *smtp_session_error(const struct smtp_session *s);

/* QUIT (unless the connection is already dead) and frees everything.
 * NULL is fine. */
void smtp_session_close(struct smtp_session *s);

#endif
