/*
 * SMTP submission over libetpan's mailsmtp and mailstream.  See the header
 * for which steps are ours and why.  Every reply is kept as "CODE text" in
 * s->text, so that every error can quote the server's own words.  With
 * PIPELINING a message's commands go out as one group and their replies
 * are read back in order (RFC 2920); without it, one command, one reply.
 */
#include "smtp_session.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "config.h"
#include "log.h"
#include "tls_verify.h"
#include "xmalloc.h"

#define SMTP_DEFAULT_TIMEOUT	60
#define SMTP_REPLY_MAX		(64 * 1024)	/* bytes of one reply */
#define SMTP_ADDR_MAX		256	/* RFC 5321 path limit, with <> */
/* Recipients sent in one pipelined group; more go one by one.  The
 * group and its replies (~100 bytes each) then stay far below the socket
 * buffers, so the server can never block writing replies we do not read
 * while we block writing commands it does not read (RFC 2920 §3.1). */
#define SMTP_PIPE_RCPT_MAX	100

enum smtp_cap {
	CAP_STARTTLS	= 1 << 0,
	CAP_8BITMIME	= 1 << 1,
	CAP_SMTPUTF8	= 1 << 2,
	CAP_SIZE	= 1 << 3,
	CAP_AUTH	= 1 << 4,	/* an AUTH line at all */
	CAP_PLAIN	= 1 << 5,
	CAP_LOGIN	= 1 << 6,
	CAP_XOAUTH2	= 1 << 7,
	CAP_PIPELINING	= 1 << 8,
};

struct smtp_session {
	mailsmtp	*smtp;
	char		*host;
	char		*where;		/* "host:port", for messages */
	time_t		 timeout;
	unsigned	 caps;
	size_t		 size_max;	/* SIZE; 0: none announced */
	MMAPString	*line;
	int		 code;		/* last reply; 0: none */
	char		 text[SMTP_TEXT_MAX];	/* last reply, one line */
	bool		 dead;
	bool		 rset_pending;	/* RSET goes at the head of the next
					   pipelined group */
	char		 err[SMTP_TEXT_MAX + 160];
};

static void session_seterr(struct smtp_session *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
session_seterr(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
}

static enum smtp_status
status_of(int code)
{
	if (code >= 200 && code < 400)
		return SMTP_OK;
	if (code == 421)	/* the server is closing the channel */
		return SMTP_CONNECTION;
	if (code >= 400 && code < 500)
		return SMTP_TEMPFAIL;
	if (code >= 500 && code < 600)
		return SMTP_PERMFAIL;
	return SMTP_CONNECTION;
}

/* The connection is unusable from here on: drop it without QUIT. */
static void
session_kill(struct smtp_session *s, const char *why)
{
	s->dead = true;
	s->code = 0;
	snprintf(s->text, sizeof s->text, "%s", why);
	if (s->smtp->stream != NULL) {
		mailstream_close(s->smtp->stream);
		s->smtp->stream = NULL;
	}
}

/* ---- replies ---------------------------------------------------------- */

static void
text_append(struct smtp_session *s, const char *part)
{
	size_t used = strlen(s->text);

	if (part[0] == '\0')
		return;
	if (used > 0 && used + 1 < sizeof s->text)
		s->text[used++] = ' ';
	snprintf(s->text + used, sizeof s->text - used, "%s", part);
}

typedef void reply_line_fn(struct smtp_session *, const char *);

static bool
reply_line_ok(const char *line, size_t len)
{
	return len >= 3 && isdigit((unsigned char)line[0]) &&
	    isdigit((unsigned char)line[1]) &&
	    isdigit((unsigned char)line[2]) &&
	    (line[3] == ' ' || line[3] == '-' || line[3] == '\0');
}

/*
 * Reads one reply, all its lines, into s->code and s->text ("250 first
 * line second line").  each (if any) sees the text of every line (EHLO
 * keywords).  Returns the code, or 0 after killing the session when the
 * connection failed or the reply makes no sense.
 */
static int
reply_read(struct smtp_session *s, reply_line_fn *each)
{
	size_t total = 0;
	int code = 0;
	char *line;
	const char *rest;

	s->text[0] = '\0';
	for (;;) {
		line = mailstream_read_line_remove_eol(s->smtp->stream,
		    s->line);
		if (line == NULL || s->line->len == 0) {
			session_kill(s, "connection lost");
			return 0;
		}
		total += s->line->len;
		if (total > SMTP_REPLY_MAX ||
		    !reply_line_ok(line, s->line->len) ||
		    (code != 0 && atoi(line) != code)) {
			session_kill(s, "unparseable reply from the server");
			return 0;
		}
		rest = line + (line[3] ? 4 : 3);
		if (code == 0)	/* "250 first line", then only the text */
			snprintf(s->text, sizeof s->text, "%.3s", line);
		text_append(s, rest);
		code = atoi(line);
		if (each != NULL)
			each(s, rest);
		if (line[3] != '-')
			break;
	}
	s->code = code;
	log_trace(TRACE_SMTP, "smtp host=%s < %s", s->where, s->text);
	return code;
}

/* libetpan's last reply (lines without their codes) as "CODE text". */
static void
libetpan_text(struct smtp_session *s)
{
	const char *p;
	size_t n;

	s->code = s->smtp->response_code;
	snprintf(s->text, sizeof s->text, "%d", s->code);
	p = s->smtp->response != NULL ? s->smtp->response : "";
	while (*p != '\0') {
		n = strcspn(p, "\r\n");
		if (n > 0) {
			char part[SMTP_TEXT_MAX];

			snprintf(part, sizeof part, "%.*s", (int)n, p);
			text_append(s, part);
		}
		p += n;
		p += strspn(p, "\r\n");
	}
}

/* After a mailsmtp_* call: its reply, in our form; 0 when the
 * connection is gone. */
static int
reply_from_libetpan(struct smtp_session *s, int r)
{
	if (r == MAILSMTP_ERROR_STREAM || s->smtp->response_code == 0 ||
	    s->smtp->stream == NULL) {
		session_kill(s, "connection lost");
		return 0;
	}
	libetpan_text(s);
	log_trace(TRACE_SMTP, "smtp host=%s < %s", s->where, s->text);
	return s->code;
}

/* ---- commands --------------------------------------------------------- */

/* libetpan's write buffer still holds what was flushed: wipe it after a
 * secret went through. */
static void
stream_wipe(struct smtp_session *s)
{
	mailstream *st = s->smtp->stream;

	if (st != NULL && st->write_buffer != NULL)
		explicit_bzero(st->write_buffer, st->buffer_max_size);
}

/* Puts one command line (CRLF added) into the stream's buffer, which
 * writes only when full: the caller flushes.  -1: the write failed. */
static int
cmd_put(struct smtp_session *s, const char *line)
{
	mailstream *st = s->smtp->stream;

	log_trace(TRACE_SMTP, "smtp host=%s > %s", s->where, line);
	mailstream_set_privacy(st, true);
	if (mailstream_write(st, line, strlen(line)) < 0 ||
	    mailstream_write(st, "\r\n", 2) < 0)
		return -1;
	return 0;
}

/* Writes one command line (CRLF added); trace shows shown (NULL: the
 * line itself).  Returns 0, or -1 after killing the session. */
static int
cmd_send(struct smtp_session *s, const char *line, const char *shown)
{
	mailstream *st = s->smtp->stream;
	int rc = 0;

	if (s->dead || st == NULL) {
		session_kill(s, "connection lost");
		return -1;
	}
	log_trace(TRACE_SMTP, "smtp host=%s > %s", s->where,
	    shown != NULL ? shown : line);
	mailstream_set_privacy(st, shown == NULL);
	if (mailstream_write(st, line, strlen(line)) < 0 ||
	    mailstream_write(st, "\r\n", 2) < 0 || mailstream_flush(st) < 0)
		rc = -1;
	if (shown != NULL)
		stream_wipe(s);
	if (rc < 0)
		session_kill(s, "connection lost");
	return rc;
}

/* One command, one reply: the code, 0 when the connection is gone. */
static int
cmd(struct smtp_session *s, const char *line, const char *shown)
{
	if (cmd_send(s, line, shown) < 0)
		return 0;
	return reply_read(s, NULL);
}

/* ---- connect ---------------------------------------------------------- */

static int
wait_connected(int fd, int timeout, char *why, size_t whylen)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int r, soerr = 0;
	socklen_t sl = sizeof soerr;

	do
		r = poll(&pfd, 1, timeout * 1000);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		snprintf(why, whylen, "connect timed out after %d s", timeout);
		return -1;
	}
	if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr != 0) {
		snprintf(why, whylen, "connect: %s", strerror(soerr));
		return -1;
	}
	return 0;
}

static int
tcp_try(const struct addrinfo *ai, int timeout, char *why, size_t whylen)
{
	int fd, flags;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    (errno != EINPROGRESS ||
	    wait_connected(fd, timeout, why, whylen) < 0)) {
		if (errno != EINPROGRESS && why[0] == '\0')
			snprintf(why, whylen, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	/* libetpan's streams expect a blocking socket. */
	(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	/* We write whole units (a command group, a buffer of the body) and
	 * then wait: Nagle would hold the body's last buffer until the
	 * server's delayed ACK, 40 ms per message above the 8 KiB buffer. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
	    sizeof(int));
	return fd;
}

/* A connected socket, each address tried in turn within the timeout. */
static int
tcp_connect(const char *host, int port, int timeout, char *why,
    size_t whylen)
{
	struct addrinfo hints, *res, *ai;
	char service[16];
	int fd = -1, r;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof service, "%d", port);
	r = getaddrinfo(host, service, &hints, &res);
	if (r != 0) {
		snprintf(why, whylen, "cannot resolve: %s", gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		why[0] = '\0';
		fd = tcp_try(ai, timeout, why, whylen);
	}
	freeaddrinfo(res);
	return fd;
}

static bool
host_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

/* Called by libetpan before the handshake: SNI (never for an address,
 * RFC 6066). */
static void
tls_setup(struct mailstream_ssl_context *ctx, void *data)
{
	char *host = data;

	if (!host_is_ip(host))
		mailstream_ssl_set_server_name(ctx, host);
}

static int
session_verify(struct smtp_session *s, const struct endpoint *ep)
{
	char why[256];
	carray *chain;
	enum tls_verify_result r;

	if (!ep->tls_verify) {
		log_warnx("smtp host=%s: certificate not verified "
		    "(tls_verify = false)", s->where);
		return 0;
	}
	chain = mailstream_get_certificate_chain(s->smtp->stream);
	r = tls_verify_chain(chain, ep->host, ep->ca_file, why, sizeof why);
	if (chain != NULL)
		mailstream_certificate_chain_free(chain);
	if (r == TLS_VERIFY_OK)
		return 0;
	session_seterr(s, "certificate refused: %s", why);
	session_kill(s, "certificate refused");
	return -1;
}

/*
 * The plain TCP stream.  libetpan's socket driver waits in select()
 * before every read and every write, two system calls where one does
 * (bench/send: 10 pselect per message).  Ours reads and writes at once
 * on the blocking socket, whose SO_RCVTIMEO and SO_SNDTIMEO bound every
 * wait by the session's timeout, as the select did.
 */
struct plain_stream {
	int	fd;
};

static ssize_t
plain_read(mailstream_low *low, void *buf, size_t len)
{
	struct plain_stream *ps = low->data;
	ssize_t n;

	while ((n = recv(ps->fd, buf, len, 0)) < 0 && errno == EINTR)
		;
	return n;
}

/* All of it, or -1: a partial write would lose the rest. */
static ssize_t
plain_write(mailstream_low *low, const void *buf, size_t len)
{
	struct plain_stream *ps = low->data;
	const char *p = buf;
	size_t left = len;
	ssize_t n;

	while (left > 0) {
		n = send(ps->fd, p, left, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		left -= (size_t)n;
	}
	return (ssize_t)len;
}

static int
plain_close(mailstream_low *low)
{
	struct plain_stream *ps = low->data;
	int fd = ps->fd;

	ps->fd = -1;
	return fd < 0 ? 0 : close(fd);
}

static int
plain_get_fd(mailstream_low *low)
{
	return ((struct plain_stream *)low->data)->fd;
}

/* Never closes: STARTTLS frees the plain stream and keeps its socket. */
static void
plain_free(mailstream_low *low)
{
	free(low->data);
	free(low);
}

static void
plain_cancel(mailstream_low *low)
{
	(void)low;
}

static struct mailstream_cancel *
plain_get_cancel(mailstream_low *low)
{
	(void)low;
	return NULL;
}

static carray *
plain_certificates(mailstream_low *low)
{
	(void)low;
	return NULL;
}

static int
plain_idle(mailstream_low *low)
{
	(void)low;
	return -1;
}

static mailstream_low_driver plain_driver = {
	.mailstream_read = plain_read,
	.mailstream_write = plain_write,
	.mailstream_close = plain_close,
	.mailstream_get_fd = plain_get_fd,
	.mailstream_free = plain_free,
	.mailstream_cancel = plain_cancel,
	.mailstream_get_cancel = plain_get_cancel,
	.mailstream_get_certificate_chain = plain_certificates,
	.mailstream_setup_idle = plain_idle,
	.mailstream_unsetup_idle = plain_idle,
	.mailstream_interrupt_idle = plain_idle,
};

/* A stream on the connected socket fd, or NULL (fd left open). */
static mailstream *
plain_open(int fd, time_t timeout)
{
	struct timeval tv = { .tv_sec = timeout, .tv_usec = 0 };
	struct plain_stream *ps;
	mailstream_low *low;
	mailstream *st;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
		return NULL;
	ps = xmalloc(sizeof *ps);
	ps->fd = fd;
	if ((low = mailstream_low_new(ps, &plain_driver)) == NULL) {
		free(ps);
		return NULL;
	}
	mailstream_low_set_timeout(low, timeout);
	if ((st = mailstream_new(low, 8192)) == NULL) {
		ps->fd = -1;	/* the caller closes it */
		mailstream_low_free(low);
	}
	return st;
}

/* TCP, then TLS for smtps, then the greeting. */
static int
session_connect(struct smtp_session *s, const struct endpoint *ep)
{
	char why[256];
	mailstream *st;
	int fd, r;

	fd = tcp_connect(ep->host, ep->port, (int)s->timeout, why, sizeof why);
	if (fd < 0) {
		session_seterr(s, "%s", why);
		return -1;
	}
	if (ep->implicit_tls)
		st = mailstream_ssl_open_with_callback_timeout(fd, s->timeout,
		    tls_setup, s->host);
	else
		st = plain_open(fd, s->timeout);
	if (st == NULL) {
		close(fd);
		session_seterr(s, "%s", ep->implicit_tls ?
		    "TLS handshake failed" : "cannot open stream");
		return -1;
	}
	/* mailsmtp_connect takes the stream, closing it on failure. */
	r = mailsmtp_connect(s->smtp, st);
	if (r != MAILSMTP_NO_ERROR) {
		libetpan_text(s);
		if (s->smtp->response_code != 0)
			session_seterr(s, "refused at greeting: %s", s->text);
		else
			session_seterr(s, "no greeting (connection closed, or "
			    "silent for %lld s)", (long long)s->timeout);
		s->dead = true;
		return -1;
	}
	reply_from_libetpan(s, r);
	if (ep->implicit_tls && session_verify(s, ep) < 0)
		return -1;
	return 0;
}

/* ---- EHLO and STARTTLS ------------------------------------------------ */

static bool
keyword_is(const char *line, const char *kw)
{
	size_t n = strlen(kw);

	return strncasecmp(line, kw, n) == 0 &&
	    (line[n] == '\0' || line[n] == ' ' || line[n] == '=');
}

static void
ehlo_auth(struct smtp_session *s, const char *mechs)
{
	char buf[SMTP_TEXT_MAX], *tok, *save = NULL;

	s->caps |= CAP_AUTH;
	snprintf(buf, sizeof buf, "%s", mechs);
	for (tok = strtok_r(buf, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		if (strcasecmp(tok, "PLAIN") == 0)
			s->caps |= CAP_PLAIN;
		else if (strcasecmp(tok, "LOGIN") == 0)
			s->caps |= CAP_LOGIN;
		else if (strcasecmp(tok, "XOAUTH2") == 0)
			s->caps |= CAP_XOAUTH2;
	}
}

static void
ehlo_line(struct smtp_session *s, const char *line)
{
	if (keyword_is(line, "STARTTLS"))
		s->caps |= CAP_STARTTLS;
	else if (keyword_is(line, "8BITMIME"))
		s->caps |= CAP_8BITMIME;
	else if (keyword_is(line, "SMTPUTF8"))
		s->caps |= CAP_SMTPUTF8;
	else if (keyword_is(line, "PIPELINING"))
		s->caps |= CAP_PIPELINING;
	else if (keyword_is(line, "SIZE")) {
		s->caps |= CAP_SIZE;
		s->size_max = strtoul(line + 4, NULL, 10);
	} else if (keyword_is(line, "AUTH"))
		ehlo_auth(s, line + 5);
}

/* Our name for EHLO: a fully qualified host name, else our address. */
static void
helo_default(struct smtp_session *s, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[256], addr[INET6_ADDRSTRLEN];
	int fd;

	memset(host, 0, sizeof host);
	if (gethostname(host, sizeof host - 1) == 0 &&
	    strchr(host, '.') != NULL) {
		snprintf(buf, len, "%s", host);
		return;
	}
	fd = mailstream_low_get_fd(mailstream_get_low(s->smtp->stream));
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, addr, sizeof addr, NULL,
	    0, NI_NUMERICHOST) == 0)
		snprintf(buf, len, ss.ss_family == AF_INET6 ? "[IPv6:%s]" :
		    "[%s]", addr);
	else
		snprintf(buf, len, "localhost");
}

static int
session_ehlo(struct smtp_session *s, const char *helo_name)
{
	char name[300], line[320];

	if (helo_name != NULL && helo_name[0] != '\0' &&
	    strcspn(helo_name, " \r\n") == strlen(helo_name))
		snprintf(name, sizeof name, "%s", helo_name);
	else
		helo_default(s, name, sizeof name);
	snprintf(line, sizeof line, "EHLO %s", name);
	s->caps = 0;
	s->size_max = 0;
	s->rset_pending = false;	/* EHLO resets the transaction too */
	if (cmd_send(s, line, NULL) < 0) {
		session_seterr(s, "EHLO: connection lost");
		return -1;
	}
	if (reply_read(s, ehlo_line) != 250) {
		session_seterr(s, "EHLO refused: %s", s->text);
		return -1;
	}
	return 0;
}

static int
session_starttls(struct smtp_session *s, const struct endpoint *ep)
{
	mailstream_low *low, *tls;
	int fd;

	if (!(s->caps & CAP_STARTTLS)) {
		session_seterr(s, "server does not offer STARTTLS "
		    "(tls = none allows plain text)");
		return -1;
	}
	if (cmd(s, "STARTTLS", NULL) != 220) {
		session_seterr(s, "STARTTLS refused: %s", s->text);
		return -1;
	}
	low = mailstream_get_low(s->smtp->stream);
	fd = mailstream_low_get_fd(low);
	tls = fd < 0 ? NULL : mailstream_low_tls_open_with_callback_timeout(fd,
	    s->timeout, tls_setup, s->host);
	if (tls == NULL) {
		session_kill(s, "TLS handshake failed");
		session_seterr(s, "STARTTLS: TLS handshake failed");
		return -1;
	}
	mailstream_low_free(low);
	mailstream_set_low(s->smtp->stream, tls);
	mailstream_low_set_timeout(tls, s->timeout);
	return session_verify(s, ep);
}

/* ---- AUTH ------------------------------------------------------------- */

/* base64 of in[0..len) into a new string (wiped and freed by the caller). */
static char *
b64(const unsigned char *in, size_t len)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;
	uint32_t v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
		*o++ = abc[v >> 6 & 63];
		*o++ = abc[v & 63];
	}
	if (i < len) {
		v = (uint32_t)in[i] << 16 |
		    (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
		*o++ = i + 1 < len ? abc[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static void
wipe_free(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

/* "AUTH MECH" + " " + base64(raw), sent privately; the reply code. */
static int
auth_send(struct smtp_session *s, const char *prefix, const char *raw,
    size_t rawlen, const char *shown)
{
	char *enc = b64((const unsigned char *)raw, rawlen), *line;
	int code;

	xasprintf(&line, "%s%s%s", prefix, prefix[0] ? " " : "", enc);
	code = cmd(s, line, shown);
	wipe_free(line);
	wipe_free(enc);
	return code;
}

static int
auth_plain(struct smtp_session *s, const char *user, const char *secret)
{
	size_t ul = strlen(user), pl = strlen(secret);
	char *raw = xmalloc(ul + pl + 2);
	int code;

	raw[0] = '\0';
	memcpy(raw + 1, user, ul);
	raw[ul + 1] = '\0';
	memcpy(raw + ul + 2, secret, pl);
	code = auth_send(s, "AUTH PLAIN", raw, ul + pl + 2,
	    "AUTH PLAIN <credentials>");
	/* A server that wants no initial response asks with an empty 334. */
	if (code == 334)
		code = auth_send(s, "", raw, ul + pl + 2, "<credentials>");
	explicit_bzero(raw, ul + pl + 2);
	free(raw);
	return code;
}

static int
auth_login(struct smtp_session *s, const char *user, const char *secret)
{
	int code;

	code = cmd(s, "AUTH LOGIN", NULL);
	if (code == 334)
		code = auth_send(s, "", user, strlen(user), "<user>");
	if (code == 334)
		code = auth_send(s, "", secret, strlen(secret), "<password>");
	return code;
}

static int
auth_xoauth2(struct smtp_session *s, const char *user, const char *token)
{
	char *raw;
	int code, n;

	n = xasprintf(&raw, "user=%s\001auth=Bearer %s\001\001", user, token);
	code = auth_send(s, "AUTH XOAUTH2", raw, (size_t)n,
	    "AUTH XOAUTH2 <token>");
	explicit_bzero(raw, (size_t)n);
	free(raw);
	/* A 334 carries a JSON error; an empty line gets the final 5xx. */
	if (code == 334)
		code = cmd(s, "", NULL);
	return code;
}

/* Which mechanism to use, or NULL with the reason set. */
static const char *
auth_choose(struct smtp_session *s, const struct endpoint *ep)
{
	static const struct {
		enum config_auth auth;
		unsigned cap;
		const char *name;
	} mechs[] = {
		{ AUTH_PLAIN, CAP_PLAIN, "PLAIN" },
		{ AUTH_LOGIN, CAP_LOGIN, "LOGIN" },
		{ AUTH_XOAUTH2, CAP_XOAUTH2, "XOAUTH2" },
	};
	enum config_auth want = ep->auth;
	size_t i;

	if (want == AUTH_DEFAULT)
		want = (s->caps & CAP_PLAIN) || !(s->caps & CAP_LOGIN) ?
		    AUTH_PLAIN : AUTH_LOGIN;
	for (i = 0; i < sizeof mechs / sizeof mechs[0]; i++) {
		if (mechs[i].auth != want)
			continue;
		if (s->caps & mechs[i].cap)
			return mechs[i].name;
		session_seterr(s, "server does not offer AUTH %s%s",
		    mechs[i].name, s->caps & CAP_AUTH ? "" :
		    " (it announces no AUTH at all)");
		return NULL;
	}
	session_seterr(s, "no usable authentication method");
	return NULL;
}

static int
session_auth(struct smtp_session *s, const struct endpoint *ep)
{
	char why[256];
	const char *mech;
	char *secret;
	int code;

	if (ep->auth == AUTH_NONE ||
	    (ep->auth == AUTH_DEFAULT && (ep->user == NULL || !ep->user[0])))
		return 0;
	if (ep->user == NULL || !ep->user[0]) {
		session_seterr(s, "authentication needs a user");
		return -1;
	}
	if ((mech = auth_choose(s, ep)) == NULL)
		return -1;
	secret = config_secret(ep, why, sizeof why);
	if (secret == NULL) {
		session_seterr(s, "%s", why);
		return -1;
	}
	if (strcmp(mech, "PLAIN") == 0)
		code = auth_plain(s, ep->user, secret);
	else if (strcmp(mech, "LOGIN") == 0)
		code = auth_login(s, ep->user, secret);
	else
		code = auth_xoauth2(s, ep->user, secret);
	wipe_free(secret);
	if (code == 235)
		return 0;
	session_seterr(s, "AUTH %s refused for user %s: %s", mech, ep->user,
	    code ? s->text : "connection lost");
	return -1;
}

/* ---- open / close ----------------------------------------------------- */

static struct smtp_session *
session_new(const struct endpoint *ep)
{
	struct smtp_session *s = xcalloc(1, sizeof *s);

	s->smtp = mailsmtp_new(0, NULL);
	s->line = mmap_string_new("");
	if (s->smtp == NULL || s->line == NULL) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
	s->host = xstrdup(ep->host);
	xasprintf(&s->where, "%s:%d", ep->host, ep->port);
	s->timeout = ep->timeout > 0 ? ep->timeout : SMTP_DEFAULT_TIMEOUT;
	mailsmtp_set_timeout(s->smtp, s->timeout);
	return s;
}

static int
session_setup(struct smtp_session *s, const struct endpoint *ep,
    const char *helo_name)
{
	if (session_connect(s, ep) < 0 || session_ehlo(s, helo_name) < 0)
		return -1;
	if (!ep->implicit_tls && ep->tls != TLS_NONE) {
		if (session_starttls(s, ep) < 0 ||
		    session_ehlo(s, helo_name) < 0)
			return -1;
	}
	return session_auth(s, ep);
}

struct smtp_session *
smtp_session_open(const struct endpoint *ep, const char *helo_name,
    char *err, size_t errlen)
{
	struct smtp_session *s;

	if (ep->host == NULL || ep->port <= 0 || ep->port > 65535) {
		snprintf(err, errlen, "smtp: no host or bad port %d", ep->port);
		return NULL;
	}
	s = session_new(ep);
	if (session_setup(s, ep, helo_name) < 0) {
		snprintf(err, errlen, "smtp %s: %s", s->where, s->err);
		smtp_session_close(s);
		return NULL;
	}
	log_debug("smtp host=%s: session open%s", s->where,
	    ep->implicit_tls || ep->tls != TLS_NONE ? " (TLS)" : "");
	s->err[0] = '\0';
	return s;
}

void
smtp_session_close(struct smtp_session *s)
{
	if (s == NULL)
		return;
	if (s->smtp->stream != NULL) {
		if (!s->dead)
			log_trace(TRACE_SMTP, "smtp host=%s > QUIT", s->where);
		if (s->dead) {
			mailstream_close(s->smtp->stream);
			s->smtp->stream = NULL;
		} else
			mailsmtp_quit(s->smtp);
	}
	mailsmtp_free(s->smtp);
	mmap_string_free(s->line);
	free(s->host);
	free(s->where);
	free(s);
}

const char *
smtp_session_error(const struct smtp_session *s)
{
	return s->err;
}

/* ---- RSET / NOOP ------------------------------------------------------ */

/* RSET and its reply, now.  0 on 250; -1 after killing the session. */
static int
reset_now(struct smtp_session *s)
{
	s->rset_pending = false;
	log_trace(TRACE_SMTP, "smtp host=%s > RSET", s->where);
	if (reply_from_libetpan(s, mailsmtp_reset(s->smtp)) == 250)
		return 0;
	session_seterr(s, "RSET: %s", s->text);
	if (!s->dead)
		session_kill(s, "RSET refused");
	return -1;
}

int
smtp_session_reset(struct smtp_session *s)
{
	s->err[0] = '\0';
	if (s->dead || s->smtp->stream == NULL) {
		session_seterr(s, "connection lost");
		return -1;
	}
	/* A round trip of its own is what PIPELINING saves: the RSET goes
	 * out with the next message's commands. */
	if (s->caps & CAP_PIPELINING) {
		s->rset_pending = true;
		return 0;
	}
	return reset_now(s);
}

bool
smtp_session_alive(struct smtp_session *s)
{
	s->err[0] = '\0';
	if (s->dead || s->smtp->stream == NULL) {
		session_seterr(s, "connection lost");
		return false;
	}
	log_trace(TRACE_SMTP, "smtp host=%s > NOOP", s->where);
	if (reply_from_libetpan(s, mailsmtp_noop(s->smtp)) == 250)
		return true;
	session_seterr(s, "NOOP: %s", s->text);
	if (!s->dead)
		session_kill(s, "NOOP refused");
	return false;
}

/* ---- sending ---------------------------------------------------------- */

void
smtp_reply_clear(struct smtp_reply *r)
{
	free(r->refused);
	memset(r, 0, sizeof *r);
}

static enum smtp_status
reply_set(struct smtp_reply *r, enum smtp_status st, int code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum smtp_status
reply_set(struct smtp_reply *r, enum smtp_status st, int code,
    const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof r->text, fmt, ap);
	va_end(ap);
	return st;
}

/* The server's answer as the outcome: its status and its words. */
static enum smtp_status
reply_server(struct smtp_session *s, struct smtp_reply *r, const char *step)
{
	enum smtp_status st;

	if (s->code == 0)
		return reply_set(r, SMTP_CONNECTION, 0, "%s: %s", step,
		    s->text[0] ? s->text : "connection lost");
	st = reply_set(r, status_of(s->code), s->code, "%s", s->text);
	/* Only now: killing the session overwrites the server's words. */
	if (s->code == 421)
		session_kill(s, "server closing (421)");
	return st;
}

static bool
has_8bit(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

/* An address we can put between <> in one command line. */
static bool
addr_ok(const char *a)
{
	size_t n = strlen(a), i;

	if (n >= SMTP_ADDR_MAX)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)a[i] <= ' ' || a[i] == '<' || a[i] == '>')
			return false;
	return true;
}

#define MAIL_LINE_MAX	(SMTP_ADDR_MAX + 96)

/* MAIL FROM with the parameters the server understands. */
static void
mail_from_line(struct smtp_session *s, char line[MAIL_LINE_MAX],
    const char *from, bool utf8_addr, bool eightbit, size_t len)
{
	char size[40] = "";

	if (s->caps & CAP_SIZE)
		snprintf(size, sizeof size, " SIZE=%zu", len);
	snprintf(line, MAIL_LINE_MAX, "MAIL FROM:<%s>%s%s%s", from,
	    eightbit && (s->caps & CAP_8BITMIME) ? " BODY=8BITMIME" : "",
	    utf8_addr ? " SMTPUTF8" : "", size);
}

static int
send_mail_from(struct smtp_session *s, const char *from, bool utf8_addr,
    bool eightbit, size_t len)
{
	char line[MAIL_LINE_MAX];

	mail_from_line(s, line, from, utf8_addr, eightbit, len);
	return cmd(s, line, NULL);
}

/* Checks that need no server: addresses, size, SMTPUTF8. */
static bool
send_precheck(struct smtp_session *s, const char *from,
    const char *const *rcpts, size_t n, size_t len, bool *utf8,
    struct smtp_reply *r)
{
	size_t i;

	*utf8 = has_8bit(from, strlen(from));
	if (!addr_ok(from)) {
		reply_set(r, SMTP_PERMFAIL, 0, "bad sender address");
		return false;
	}
	if (n == 0) {
		reply_set(r, SMTP_PERMFAIL, 0, "no recipients");
		return false;
	}
	for (i = 0; i < n; i++) {
		if (!addr_ok(rcpts[i])) {
			reply_set(r, SMTP_PERMFAIL, 0,
			    "bad recipient address #%zu", i + 1);
			return false;
		}
		*utf8 = *utf8 || has_8bit(rcpts[i], strlen(rcpts[i]));
	}
	if (*utf8 && !(s->caps & CAP_SMTPUTF8)) {
		reply_set(r, SMTP_PERMFAIL, 0, "non-ASCII address, but the "
		    "server does not offer SMTPUTF8");
		return false;
	}
	if (s->size_max > 0 && len > s->size_max) {
		reply_set(r, SMTP_PERMFAIL, 0, "message of %zu bytes exceeds "
		    "the server's limit of %zu", len, s->size_max);
		return false;
	}
	return true;
}

static void
refused_add(struct smtp_session *s, struct smtp_reply *r, size_t index)
{
	struct smtp_rcpt_reply *rr;

	r->refused = xreallocarray(r->refused, r->n_refused + 1,
	    sizeof *r->refused);
	rr = &r->refused[r->n_refused++];
	rr->index = index;
	rr->code = s->code;
	rr->status = status_of(s->code);
	snprintf(rr->text, sizeof rr->text, "%s", s->text);
}

/* RCPT TO for each; returns how many were accepted, -1 when the
 * connection is gone. */
static long
send_rcpts(struct smtp_session *s, const char *const *rcpts, size_t n,
    struct smtp_reply *r)
{
	long ok = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		log_trace(TRACE_SMTP, "smtp host=%s > RCPT TO:<%s>", s->where,
		    rcpts[i]);
		if (reply_from_libetpan(s, mailsmtp_rcpt(s->smtp, rcpts[i]))
		    == 0 || s->code == 421)
			return -1;
		if (s->code == 250 || s->code == 251)
			ok++;
		else
			refused_add(s, r, i);
	}
	return ok;
}

/* All refused: the worst is the mildest (any 4xx means "try again"). */
static enum smtp_status
all_refused(struct smtp_reply *r)
{
	size_t i;
	enum smtp_status st = SMTP_PERMFAIL;

	for (i = 0; i < r->n_refused; i++)
		if (r->refused[i].status == SMTP_TEMPFAIL)
			st = SMTP_TEMPFAIL;
	return reply_set(r, st, r->refused[0].code, "%s",
	    r->refused[0].text);
}

/*
 * The body, dot-stuffed, each line ended by CRLF (a bare LF gets its CR),
 * then the final dot.  Exactly data reaches the server's store: unlike
 * mailstream_send_data, no blank line is added when data ends in CRLF.
 */
static int
send_body(struct smtp_session *s, const char *data, size_t len)
{
	mailstream *st = s->smtp->stream;
	const char *p = data, *end = data + len, *nl;
	size_t n;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (nl != NULL ? (size_t)(nl - p) : (size_t)(end - p));
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if ((p[0] == '.' && mailstream_write(st, ".", 1) < 0) ||
		    (n > 0 && mailstream_write(st, p, n) < 0) ||
		    mailstream_write(st, "\r\n", 2) < 0)
			return -1;
		p = nl != NULL ? nl + 1 : end;
	}
	if (mailstream_write(st, ".\r\n", 3) < 0 || mailstream_flush(st) < 0)
		return -1;
	return 0;
}

/*
 * The server's answer where a refusal is expected (MAIL not 250, DATA
 * not 354): a success code there makes no sense, and taking it for one
 * would report a message as sent that never left.
 */
static enum smtp_status
reply_refusal(struct smtp_session *s, struct smtp_reply *r, const char *step)
{
	if (s->code != 0 && status_of(s->code) == SMTP_OK) {
		reply_set(r, SMTP_CONNECTION, 0, "%s: unexpected reply %s",
		    step, s->text);
		session_kill(s, "unexpected reply");
		return SMTP_CONNECTION;
	}
	return reply_server(s, r, step);
}

/* After 354: the body, then the server's verdict on it. */
static enum smtp_status
send_message(struct smtp_session *s, const char *data, size_t len,
    struct smtp_reply *r)
{
	if (send_body(s, data, len) < 0) {
		session_kill(s, "connection lost while sending the message");
		return reply_set(r, SMTP_CONNECTION, 0, "%s", s->text);
	}
	log_trace(TRACE_SMTP, "smtp host=%s > <%zu bytes> .", s->where, len);
	reply_read(s, NULL);
	return reply_server(s, r, "end of data");
}

static enum smtp_status
send_data(struct smtp_session *s, const char *data, size_t len,
    struct smtp_reply *r)
{
	log_trace(TRACE_SMTP, "smtp host=%s > DATA", s->where);
	if (reply_from_libetpan(s, mailsmtp_data(s->smtp)) != 354)
		return reply_refusal(s, r, "DATA");
	return send_message(s, data, len, r);
}

/* After a refusal inside a transaction: back to a clean state.  The
 * refusal stands even if this fails; the caller learns of the dead
 * connection on its next call.  With PIPELINING the RSET waits for the
 * next message's group. */
static void
send_abort(struct smtp_session *s)
{
	if (s->dead)
		return;
	if (s->caps & CAP_PIPELINING) {
		s->rset_pending = true;
		return;
	}
	log_trace(TRACE_SMTP, "smtp host=%s > RSET", s->where);
	if (reply_from_libetpan(s, mailsmtp_reset(s->smtp)) != 250 &&
	    !s->dead)
		session_kill(s, "RSET refused");
}

/* ---- pipelining (RFC 2920) -------------------------------------------- */

/* One write: RSET when asked for, MAIL FROM, RCPT TO each, and DATA,
 * which may only end a group.  -1 after killing the session. */
static int
pipe_write(struct smtp_session *s, const char *from,
    const char *const *rcpts, size_t n, bool utf8, bool eightbit,
    size_t len)
{
	char line[MAIL_LINE_MAX];
	size_t i;
	int rc = 0;

	if (s->rset_pending)
		rc = cmd_put(s, "RSET");
	mail_from_line(s, line, from, utf8, eightbit, len);
	if (rc == 0)
		rc = cmd_put(s, line);
	for (i = 0; i < n && rc == 0; i++) {
		snprintf(line, sizeof line, "RCPT TO:<%s>", rcpts[i]);
		rc = cmd_put(s, line);
	}
	if (rc == 0)
		rc = cmd_put(s, "DATA");
	if (rc == 0 && mailstream_flush(s->smtp->stream) < 0)
		rc = -1;
	if (rc < 0)
		session_kill(s, "connection lost");
	return rc;
}

/* DATA was accepted although there is nothing to send (no recipient
 * taken, or MAIL refused): RFC 2920 §3.1 wants a lone dot, an empty
 * message the server must then refuse.  The refusal already decided the
 * outcome; a failure here only kills the session. */
static void
pipe_no_body(struct smtp_session *s)
{
	if (cmd_send(s, ".", NULL) == 0 && reply_read(s, NULL) != 0 &&
	    status_of(s->code) == SMTP_OK)
		log_warnx("smtp host=%s: server accepted an empty message "
		    "with no recipient: %s", s->where, s->text);
}

/* The pending RSET's reply: 0, or -1 with r set (the session killed). */
static int
pipe_rset_reply(struct smtp_session *s, struct smtp_reply *r)
{
	s->rset_pending = false;
	if (reply_read(s, NULL) == 250)
		return 0;
	reply_set(r, SMTP_CONNECTION, 0, "RSET: %s", s->text);
	r->unsent = true;
	if (!s->dead)
		session_kill(s, "RSET refused");
	return -1;
}

/*
 * The group's replies, each mapped to its command in order.  Every reply
 * is read even after a refusal, so the connection stays in step; the
 * body goes only when MAIL and at least one RCPT were taken and DATA
 * answered 354.  A reply of 0 (lost) or 421 ends it all at once.
 */
static enum smtp_status
pipe_read(struct smtp_session *s, size_t n, const char *data, size_t len,
    struct smtp_reply *r)
{
	int mail, code;
	long accepted = 0;
	size_t i;

	if (s->rset_pending && pipe_rset_reply(s, r) < 0)
		return r->status;
	mail = reply_read(s, NULL);
	if (mail == 0 || mail == 421) {
		r->unsent = true;
		return reply_server(s, r, "MAIL FROM");
	}
	if (mail != 250 && reply_refusal(s, r, "MAIL FROM") == SMTP_CONNECTION)
		return SMTP_CONNECTION;
	for (i = 0; i < n; i++) {
		code = reply_read(s, NULL);
		if (code == 0 || code == 421)
			return reply_server(s, r, "RCPT TO");
		if (code == 250 || code == 251)
			accepted++;
		else if (mail == 250)	/* else: the refused MAIL decides */
			refused_add(s, r, i);
	}
	code = reply_read(s, NULL);
	if (code == 0 || code == 421)
		return reply_server(s, r, "DATA");
	if (mail == 250 && accepted > 0) {
		if (code == 354)
			return send_message(s, data, len, r);
		return reply_refusal(s, r, "DATA");
	}
	if (mail == 250)
		all_refused(r);
	if (code == 354)
		pipe_no_body(s);
	return r->status;
}

enum smtp_status
smtp_session_send(struct smtp_session *s, const char *mail_from,
    const char *const *rcpts, size_t n, const char *data, size_t len,
    struct smtp_reply *r)
{
	bool utf8;
	long accepted;
	int code;
	enum smtp_status st;

	memset(r, 0, sizeof *r);
	s->err[0] = '\0';
	if (s->dead || s->smtp->stream == NULL) {
		st = reply_set(r, SMTP_CONNECTION, 0, "connection lost");
		r->unsent = true;
	} else if (!send_precheck(s, mail_from, rcpts, n, len, &utf8, r))
		st = r->status;
	else if ((s->caps & CAP_PIPELINING) && n <= SMTP_PIPE_RCPT_MAX) {
		if (pipe_write(s, mail_from, rcpts, n, utf8,
		    has_8bit(data, len), len) < 0) {
			st = reply_set(r, SMTP_CONNECTION, 0, "connection lost");
			r->unsent = true;
		} else
			st = pipe_read(s, n, data, len, r);
		if (st == SMTP_TEMPFAIL || st == SMTP_PERMFAIL)
			send_abort(s);
	} else if (s->rset_pending && reset_now(s) < 0) {
		st = reply_set(r, SMTP_CONNECTION, 0, "%s", s->err);
		r->unsent = true;
	} else if ((code = send_mail_from(s, mail_from, utf8,
	    has_8bit(data, len), len)) != 250) {
		r->unsent = code == 0 || code == 421;
		st = reply_refusal(s, r, "MAIL FROM");
		if (st != SMTP_CONNECTION)
			send_abort(s);
	} else if ((accepted = send_rcpts(s, rcpts, n, r)) < 0)
		st = reply_server(s, r, "RCPT TO");
	else if (accepted == 0) {
		st = all_refused(r);
		send_abort(s);
	} else {
		st = send_data(s, data, len, r);
		if (st == SMTP_TEMPFAIL || st == SMTP_PERMFAIL)
			send_abort(s);
	}
	if (st != SMTP_OK)
		session_seterr(s, "%s", r->text);
	return st;
}
