/*
 * The IMAP session layer on libetpan: see imap_session.h.  libetpan does
 * the protocol; this file adds what it lacks for us (certificate checks,
 * EXAMINE with CONDSTORE/QRESYNC parameters, every VANISHED line rather
 * than the first, a bounded IDLE wait) and turns its error codes into
 * the few outcomes a connector acts on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libetpan/libetpan.h>

#include "config.h"
#include "imap_session.h"
#include "log.h"
#include "message.h"
#include "strbuf.h"
#include "tls_verify.h"
#include "xmalloc.h"

#define IMAP_ERR_MAX		512
#define IMAP_VANISHED_MAX	100000	/* ranges kept from one answer */
#define IMAP_FOLDER_MAX		1000	/* bytes of a mailbox name */

struct imap_session {
	mailimap	*imap;
	char		*account;	/* for log lines: account=... */
	char		*host;
	unsigned	 caps;
	bool		 broken;	/* no LOGOUT: the stream is unusable */
	uint32_t	 exists;	/* EXISTS last seen in the examined folder */
	unsigned	 changes;	/* enum imap_change of the last IDLE */
	enum imap_open_failure fail;	/* what kind, when opening failed */
	char		 err[IMAP_ERR_MAX];
	struct imap_ahead *ahead;	/* a header FETCH sent ahead, or NULL */
	/* The running fetch_headers (fetch_h NULL: none): its UIDs, how
	 * many were asked for so far, and whether the next batch was handed
	 * over early, and how that went (ahead_early()). */
	const struct imap_fetch_handler *fetch_h;
	const uint32_t	*fetch_uids;
	size_t		 fetch_n, fetch_sent;
	unsigned	 fetch_batch;
	bool		 early;
	enum imap_status early_st;
	/* The folder examined now (NULL: none) and its UIDVALIDITY then. */
	char		*examined;
	uint32_t	 examined_uidvalidity;
};

/*
 * The next batch's header FETCH, sent before the batch in hand is handed
 * over, so that the server reads it while we store ours (one connection:
 * its answer waits in the socket).  At most one command is ever in
 * flight: any other command first reads this answer (session_settle())
 * and keeps it for fetch_headers.
 */
struct imap_ahead {
	bool		 read;		/* the answer has been read */
	clist		*res;		/* its FETCH answers, once read */
	enum imap_status st;		/* of reading it */
	char		 err[IMAP_ERR_MAX];	/* the error then */
	uint32_t	 lo, hi;	/* the UIDs asked for */
};

/* ------------------------------------------------------------ errors */

static void
session_seterr(struct imap_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
session_seterr(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(s->err, sizeof s->err, "imap host %s: ", s->host);
	if (n < 0 || (size_t)n >= sizeof s->err)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(s->err + n, sizeof s->err - n, fmt, ap);
	va_end(ap);
	/* Server text may carry control characters: one line, printable. */
	for (char *p = s->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* A libetpan result: does the connection survive it? */
static bool
etpan_fatal(int r)
{
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
	case MAILIMAP_ERROR_PARSE:
	case MAILIMAP_ERROR_CONNECTION_REFUSED:
	case MAILIMAP_ERROR_MEMORY:
	case MAILIMAP_ERROR_FATAL:
	case MAILIMAP_ERROR_PROTOCOL:
	case MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION:
	case MAILIMAP_ERROR_SSL:
	case MAILIMAP_ERROR_BAD_STATE:
		return true;
	default:
		return false;
	}
}

/*
 * The response code of the server's last answer when libetpan has no
 * field of its own for it: RFC 5530's AUTHENTICATIONFAILED, UNAVAILABLE,
 * ... (libetpan keeps the tagged answer's code last).  NULL when the
 * answer had none, or when r says no answer was read (what is there is
 * then an older answer's).
 */
static const char *
etpan_code(const struct imap_session *s, int r)
{
	const struct mailimap_response_info *ri = s->imap->imap_response_info;

	if (etpan_fatal(r) || ri == NULL || ri->rsp_atom == NULL ||
	    ri->rsp_atom[0] == '\0')
		return NULL;
	return ri->rsp_atom;
}

static const char *
etpan_error_text(int r)
{
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
		return "connection lost or timed out";
	case MAILIMAP_ERROR_PARSE:
		return "unparseable answer";
	case MAILIMAP_ERROR_CONNECTION_REFUSED:
		return "connection refused";
	case MAILIMAP_ERROR_FATAL:
		return "server said BYE";
	case MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION:
		return "server refuses connections";
	case MAILIMAP_ERROR_SSL:
		return "TLS handshake failed";
	case MAILIMAP_ERROR_SASL:
		return "SASL failed (is libsasl2-modules installed?)";
	case MAILIMAP_ERROR_MEMORY:
		return "out of memory";
	default:
		return "command refused";
	}
}

/* The server's words on the last answer ("[CODE] text"), or what
 * libetpan knows, in buf. */
static const char *
etpan_reason(const struct imap_session *s, int r, char *buf, size_t len)
{
	const char *code = etpan_code(s, r), *text = NULL;

	if (!etpan_fatal(r) && s->imap->imap_response != NULL &&
	    s->imap->imap_response[0] != '\0')
		text = s->imap->imap_response;
	if (text == NULL && code == NULL)
		return etpan_error_text(r);
	snprintf(buf, len, "%s%.40s%s%s", code ? "[" : "", code ? code : "",
	    code ? "] " : "", text ? text : etpan_error_text(r));
	return buf;
}

/* Records a failed command and says what the caller should do. */
static enum imap_status
session_fail(struct imap_session *s, const char *what, int r)
{
	char why[IMAP_ERR_MAX];

	session_seterr(s, "%s: %s", what, etpan_reason(s, r, why, sizeof why));
	if (etpan_fatal(r)) {
		s->broken = true;
		return IMAP_FAIL;
	}
	return IMAP_NO;
}

const char *
imap_session_error(const struct imap_session *s)
{
	return s->err;
}

unsigned
imap_session_caps(const struct imap_session *s)
{
	return s->caps;
}

/* ------------------------------------------------------------ connect */

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
session_verify(struct imap_session *s, const struct endpoint *ep)
{
	char why[256];
	carray *chain;
	enum tls_verify_result r;

	if (!ep->tls_verify) {
		log_warnx("account=%s host=%s: certificate not verified "
		    "(tls_verify = false)", s->account, s->host);
		return 0;
	}
	chain = mailstream_get_certificate_chain(s->imap->imap_stream);
	r = tls_verify_chain(chain, ep->host, ep->ca_file, why, sizeof why);
	if (chain != NULL)
		mailstream_certificate_chain_free(chain);
	if (r == TLS_VERIFY_OK)
		return 0;
	session_seterr(s, "certificate refused: %s", why);
	s->fail = IMAP_OPEN_CONFIG;
	s->broken = true;
	return -1;
}

static int
session_connect(struct imap_session *s, const struct endpoint *ep)
{
	char why[IMAP_ERR_MAX];
	int r;

	if (ep->port <= 0 || ep->port > 65535) {
		session_seterr(s, "bad port %d", ep->port);
		s->fail = IMAP_OPEN_CONFIG;
		return -1;
	}
	if (ep->implicit_tls)
		r = mailimap_ssl_connect_with_callback(s->imap, ep->host,
		    (uint16_t)ep->port, tls_setup, s->host);
	else
		r = mailimap_socket_connect(s->imap, ep->host,
		    (uint16_t)ep->port);
	if (r != MAILIMAP_NO_ERROR_AUTHENTICATED &&
	    r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		session_seterr(s, "cannot connect to port %d: %s", ep->port,
		    etpan_reason(s, r == MAILIMAP_NO_ERROR ?
		    MAILIMAP_ERROR_STREAM : (etpan_fatal(r) ? r :
		    MAILIMAP_ERROR_CONNECTION_REFUSED), why, sizeof why));
		s->broken = true;
		return -1;
	}
	if (ep->implicit_tls)
		return session_verify(s, ep);
	return 0;
}

static int
session_refresh_caps(struct imap_session *s)
{
	struct mailimap_capability_data *cap = NULL;
	int r;

	r = mailimap_capability(s->imap, &cap);
	if (r != MAILIMAP_NO_ERROR) {
		session_fail(s, "CAPABILITY", r);
		return -1;
	}
	mailimap_capability_data_free(cap);
	return 0;
}

static int
session_starttls(struct imap_session *s, const struct endpoint *ep)
{
	int r;

	if (ep->implicit_tls || ep->tls == TLS_NONE)
		return 0;
	if (session_refresh_caps(s) < 0)
		return -1;
	if (!mailimap_has_extension(s->imap, "STARTTLS")) {
		session_seterr(s, "server offers no STARTTLS (tls = none "
		    "allows plain text)");
		s->fail = IMAP_OPEN_CONFIG;
		return -1;
	}
	r = mailimap_socket_starttls_with_callback(s->imap, tls_setup,
	    s->host);
	if (r != MAILIMAP_NO_ERROR) {
		session_fail(s, "STARTTLS", r);
		s->broken = true;
		return -1;
	}
	return session_verify(s, ep);
}

/* ------------------------------------------------------------ login */

static void
secret_free(char *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}

static enum config_auth
session_pick_auth(struct imap_session *s, const struct endpoint *ep)
{
	if (ep->auth != AUTH_DEFAULT)
		return ep->auth;
	if (ep->password == NULL && ep->password_file == NULL)
		return ep->token_file ? AUTH_XOAUTH2 : AUTH_NONE;
	/* LOGIN works wherever it is allowed; PLAIN needs the SASL plugin. */
	return mailimap_has_extension(s->imap, "LOGINDISABLED") ?
	    AUTH_PLAIN : AUTH_LOGIN;
}

static const char *
auth_name(enum config_auth auth)
{
	switch (auth) {
	case AUTH_PLAIN:
		return "PLAIN";
	case AUTH_XOAUTH2:
		return "XOAUTH2";
	default:
		return "LOGIN";
	}
}

/*
 * Whether the server lets us use auth, decided before the secret is even
 * read: a token or password must never go to a server (or to whoever
 * stripped the capability) that did not offer the mechanism.
 */
static int
session_auth_offered(struct imap_session *s, enum config_auth auth)
{
	switch (auth) {
	case AUTH_LOGIN:
		if (!mailimap_has_extension(s->imap, "LOGINDISABLED"))
			return 0;
		session_seterr(s, "server disables LOGIN (try auth = plain)");
		break;
	case AUTH_PLAIN:
	case AUTH_XOAUTH2:
		if (mailimap_has_authentication(s->imap, auth_name(auth)))
			return 0;
		session_seterr(s, "server does not offer AUTH=%s, nothing "
		    "sent", auth_name(auth));
		break;
	default:
		return 0;
	}
	s->fail = IMAP_OPEN_CONFIG;
	return -1;
}

static int
session_auth_with(struct imap_session *s, const struct endpoint *ep,
    enum config_auth auth, const char *secret)
{
	const char *user = ep->user ? ep->user : "";

	switch (auth) {
	case AUTH_LOGIN:
		return mailimap_login(s->imap, user, secret);
	case AUTH_PLAIN:
		return mailimap_authenticate(s->imap, "PLAIN", s->host, NULL,
		    NULL, user, user, secret, NULL);
	case AUTH_XOAUTH2:
		return mailimap_oauth2_authenticate(s->imap, user, secret);
	default:
		return MAILIMAP_NO_ERROR;
	}
}

/*
 * What a refused login means, by RFC 5530's response code.  libetpan says
 * MAILIMAP_ERROR_LOGIN for a NO; anything else means no answer was read.
 * A NO without a code is a refusal (RFC 3501: credentials rejected).
 */
static enum imap_open_failure
login_failure(int r, const char *code, bool token)
{
	static const struct {
		const char		*code;
		enum imap_open_failure	 fail;
	} codes[] = {
		{ "UNAVAILABLE", IMAP_OPEN_TEMPORARY },
		{ "INUSE", IMAP_OPEN_TEMPORARY },
		{ "LIMIT", IMAP_OPEN_TEMPORARY },
		{ "SERVERBUG", IMAP_OPEN_TEMPORARY },
		{ "PRIVACYREQUIRED", IMAP_OPEN_CONFIG },
	};
	enum imap_open_failure f = IMAP_OPEN_REFUSED;

	if (r != MAILIMAP_ERROR_LOGIN)
		return IMAP_OPEN_TEMPORARY;
	for (size_t i = 0; code && i < sizeof codes / sizeof codes[0]; i++)
		if (strcasecmp(code, codes[i].code) == 0)
			f = codes[i].fail;
	return f == IMAP_OPEN_REFUSED && token ? IMAP_OPEN_TOKEN_REFUSED : f;
}

static void
session_login_failed(struct imap_session *s, const struct endpoint *ep,
    enum config_auth auth, int r)
{
	const char *user = ep->user ? ep->user : "(none)";
	char why[IMAP_ERR_MAX];

	if (etpan_fatal(r))
		s->broken = true;
	if (r == MAILIMAP_ERROR_LOGIN && s->imap->imap_response_info == NULL) {
		/* libetpan's SASL gave up before the server said anything. */
		session_seterr(s, "login as %s: %s SASL failed (is "
		    "libsasl2-modules installed?)", user, auth_name(auth));
		s->fail = IMAP_OPEN_CONFIG;
		return;
	}
	s->fail = login_failure(r, etpan_code(s, r), auth == AUTH_XOAUTH2);
	session_seterr(s, "login as %s %s: %s", user,
	    s->fail == IMAP_OPEN_TEMPORARY ? "failed" : "refused",
	    etpan_reason(s, r, why, sizeof why));
}

static int
session_login(struct imap_session *s, const struct endpoint *ep,
    bool preauth)
{
	enum config_auth auth = session_pick_auth(s, ep);
	char why[256];
	char *secret;
	int r;

	if (auth == AUTH_NONE || preauth)
		return 0;
	if (session_auth_offered(s, auth) < 0)
		return -1;
	secret = config_secret(ep, why, sizeof why);
	if (secret == NULL) {
		session_seterr(s, "no secret: %s", why);
		s->fail = IMAP_OPEN_CONFIG;
		return -1;
	}
	/* So that an answer read by this command is told from an old one. */
	if (s->imap->imap_response_info != NULL)
		mailimap_response_info_free(s->imap->imap_response_info);
	s->imap->imap_response_info = NULL;
	r = session_auth_with(s, ep, auth, secret);
	secret_free(secret);
	if (r == MAILIMAP_NO_ERROR)
		return 0;
	session_login_failed(s, ep, auth, r);
	return -1;
}

/* After login: what the server offers, and QRESYNC switched on. */
static int
session_setup_caps(struct imap_session *s)
{
	struct mailimap_capability_data *want, *got = NULL;
	clist *list;
	int r;

	if (session_refresh_caps(s) < 0)
		return -1;
	s->caps = 0;
	if (mailimap_has_idle(s->imap))
		s->caps |= IMAP_CAP_IDLE;
	if (mailimap_has_condstore(s->imap))
		s->caps |= IMAP_CAP_CONDSTORE;
	if (mailimap_has_enable(s->imap))
		s->caps |= IMAP_CAP_ENABLE;
	if (!(s->caps & IMAP_CAP_ENABLE) || !mailimap_has_qresync(s->imap))
		return 0;

	list = clist_new();
	if (list == NULL || clist_append(list, mailimap_capability_new(
	    MAILIMAP_CAPABILITY_NAME, NULL, xstrdup("QRESYNC"))) < 0) {
		session_seterr(s, "out of memory");
		return -1;
	}
	want = mailimap_capability_data_new(list);
	r = mailimap_enable(s->imap, want, &got);
	mailimap_capability_data_free(want);
	if (r != MAILIMAP_NO_ERROR)
		return session_fail(s, "ENABLE QRESYNC", r) == IMAP_FAIL ?
		    -1 : 0;
	for (clistiter *it = clist_begin(got->cap_list); it; it =
	    clist_next(it)) {
		struct mailimap_capability *c = clist_content(it);

		if (c->cap_type == MAILIMAP_CAPABILITY_NAME &&
		    strcasecmp(c->cap_data.cap_name, "QRESYNC") == 0)
			s->caps |= IMAP_CAP_QRESYNC | IMAP_CAP_CONDSTORE;
	}
	mailimap_capability_data_free(got);
	return 0;
}

struct imap_session *
imap_session_open(const struct endpoint *ep, char *err, size_t errlen)
{
	return imap_session_open_why(ep, err, errlen, NULL);
}

struct imap_session *
imap_session_open_why(const struct endpoint *ep, char *err, size_t errlen,
    enum imap_open_failure *why)
{
	struct imap_session *s = xcalloc(1, sizeof *s);
	bool preauth;

	s->account = xstrdup(ep->name ? ep->name : "-");
	s->host = xstrdup(ep->host ? ep->host : "");
	s->imap = mailimap_new(0, NULL);
	if (s->imap == NULL) {
		session_seterr(s, "out of memory");
		goto fail;
	}
	mailimap_set_timeout(s->imap, ep->timeout > 0 ? ep->timeout : 60);
	if (ep->host == NULL || ep->host[0] == '\0') {
		session_seterr(s, "no host");
		s->fail = IMAP_OPEN_CONFIG;
		goto fail;
	}
	if (session_connect(s, ep) < 0 || session_starttls(s, ep) < 0)
		goto fail;
	if (!ep->implicit_tls && ep->tls == TLS_NONE)
		log_info("account=%s host=%s: plain text (tls = none)",
		    s->account, s->host);
	preauth = s->imap->imap_state == MAILIMAP_STATE_AUTHENTICATED;
	if (session_refresh_caps(s) < 0 || session_login(s, ep, preauth) < 0 ||
	    session_setup_caps(s) < 0)
		goto fail;
	s->err[0] = '\0';
	log_trace(TRACE_IMAP, "account=%s host=%s: logged in, caps%s%s%s%s",
	    s->account, s->host, s->caps & IMAP_CAP_IDLE ? " IDLE" : "",
	    s->caps & IMAP_CAP_CONDSTORE ? " CONDSTORE" : "",
	    s->caps & IMAP_CAP_QRESYNC ? " QRESYNC" : "",
	    s->caps & IMAP_CAP_ENABLE ? " ENABLE" : "");
	return s;
fail:
	snprintf(err, errlen, "%s", s->err);
	if (why != NULL)
		*why = s->fail;
	s->broken = true;
	imap_session_close(s);
	return NULL;
}

static void ahead_discard(struct imap_session *);
static enum imap_status session_settle(struct imap_session *);

void
imap_session_close(struct imap_session *s)
{
	if (s == NULL)
		return;
	ahead_discard(s);
	if (s->imap != NULL) {
		if (!s->broken && s->imap->imap_stream != NULL)
			(void)mailimap_logout(s->imap);
		mailimap_free(s->imap);
	}
	free(s->account);
	free(s->host);
	free(s->examined);
	free(s);
}

/* ------------------------------------------------------------ EXAMINE */

void
imap_folder_state_free(struct imap_folder_state *st)
{
	free(st->vanished);
	memset(st, 0, sizeof *st);
}

/* Appends the ranges of a VANISHED set ("*" cannot occur there). */
static void
ranges_add_set(struct imap_uid_range **v, size_t *n, struct mailimap_set *set)
{
	if (set == NULL)
		return;
	for (clistiter *it = clist_begin(set->set_list); it; it =
	    clist_next(it)) {
		struct mailimap_set_item *item = clist_content(it);
		uint32_t a = item->set_first, b = item->set_last;

		if (*n >= IMAP_VANISHED_MAX)
			return;
		if (a == 0 || b == 0)
			continue;
		if (a > b) {
			uint32_t t = a;

			a = b;
			b = t;
		}
		*v = xreallocarray(*v, *n + 1, sizeof **v);
		(*v)[*n].first = a;
		(*v)[(*n)++].last = b;
	}
}

/* Every VANISHED answer of the last command (libetpan's own helpers keep
 * only the first one). */
static void
collect_vanished(struct imap_session *s, struct imap_uid_range **v,
    size_t *n)
{
	clist *ext = s->imap->imap_response_info ?
	    s->imap->imap_response_info->rsp_extension_list : NULL;

	for (clistiter *it = ext ? clist_begin(ext) : NULL; it; it =
	    clist_next(it)) {
		struct mailimap_extension_data *d = clist_content(it);
		struct mailimap_qresync_vanished *qv;

		if (d->ext_extension->ext_id != MAILIMAP_EXTENSION_QRESYNC ||
		    d->ext_type != MAILIMAP_QRESYNC_TYPE_VANISHED)
			continue;
		qv = d->ext_data;
		if (qv != NULL)
			ranges_add_set(v, n, qv->qr_known_uids);
	}
}

static uint64_t
last_highestmodseq(struct imap_session *s)
{
	clist *ext = s->imap->imap_response_info ?
	    s->imap->imap_response_info->rsp_extension_list : NULL;
	uint64_t modseq = 0;

	for (clistiter *it = ext ? clist_begin(ext) : NULL; it; it =
	    clist_next(it)) {
		struct mailimap_extension_data *d = clist_content(it);
		struct mailimap_condstore_resptextcode *c;

		if (d->ext_extension->ext_id != MAILIMAP_EXTENSION_CONDSTORE ||
		    d->ext_type != MAILIMAP_CONDSTORE_TYPE_RESP_TEXT_CODE)
			continue;
		c = d->ext_data;
		if (c->cs_type == MAILIMAP_CONDSTORE_RESPTEXTCODE_HIGHESTMODSEQ)
			modseq = c->cs_data.cs_modseq_value;
		else if (c->cs_type == MAILIMAP_CONDSTORE_RESPTEXTCODE_NOMODSEQ)
			modseq = 0;
	}
	return modseq;
}

/* "name" as an IMAP quoted string; 8-bit names must come encoded as
 * modified UTF-7 already. */
static int
quote_mailbox(struct imap_session *s, const char *folder, char *out,
    size_t outlen)
{
	size_t o = 0;

	if (strlen(folder) > IMAP_FOLDER_MAX || folder[0] == '\0')
		goto bad;
	out[o++] = '"';
	for (const char *p = folder; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c >= 0x7f)
			goto bad;
		if (o + 3 >= outlen)
			goto bad;
		if (c == '"' || c == '\\')
			out[o++] = '\\';
		out[o++] = (char)c;
	}
	out[o++] = '"';
	out[o] = '\0';
	return 0;
bad:
	session_seterr(s, "unusable folder name (empty, too long, or not "
	    "7-bit)");
	return -1;
}

/*
 * EXAMINE with a select-param.  libetpan 1.9.4 has mailimap_examine() and
 * mailimap_examine_condstore(), but QRESYNC only for SELECT, which is
 * read-write; so the command line is written here and libetpan reads and
 * parses the answer as it does for its own commands.
 */
static int
send_examine(struct imap_session *s, const char *quoted, const char *param)
{
	mailimap *m = s->imap;
	struct mailimap_response *resp = NULL;
	char line[IMAP_FOLDER_MAX * 2 + 128];
	int n, r, state;

	n = snprintf(line, sizeof line, "EXAMINE %s%s%s\r\n", quoted,
	    param[0] ? " " : "", param);
	if (n < 0 || (size_t)n >= sizeof line)
		return MAILIMAP_ERROR_INVAL;
	r = mailimap_send_current_tag(m);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	if (mailstream_write(m->imap_stream, line, (size_t)n) != n ||
	    mailstream_flush(m->imap_stream) == -1)
		return MAILIMAP_ERROR_STREAM;
	if (mailimap_read_line(m) == NULL)
		return MAILIMAP_ERROR_STREAM;
	if (m->imap_selection_info != NULL)
		mailimap_selection_info_free(m->imap_selection_info);
	m->imap_selection_info = mailimap_selection_info_new();
	if (m->imap_selection_info == NULL)
		return MAILIMAP_ERROR_MEMORY;
	r = mailimap_parse_response(m, &resp);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	if (resp->rsp_resp_done->rsp_type != MAILIMAP_RESP_DONE_TYPE_TAGGED) {
		mailimap_response_free(resp);
		return MAILIMAP_ERROR_FATAL;
	}
	state = resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->
	    rsp_type;
	mailimap_response_free(resp);
	if (state != MAILIMAP_RESP_COND_STATE_OK) {
		m->imap_state = MAILIMAP_STATE_AUTHENTICATED;
		return MAILIMAP_ERROR_EXAMINE;
	}
	m->imap_state = MAILIMAP_STATE_SELECTED;
	return MAILIMAP_NO_ERROR;
}

enum imap_status
imap_session_examine(struct imap_session *s, const char *folder,
    uint32_t known_uidvalidity, uint64_t known_modseq,
    struct imap_folder_state *st)
{
	char quoted[IMAP_FOLDER_MAX * 2 + 3], param[96] = "", what[64];
	struct mailimap_selection_info *sel;
	bool qresync = (s->caps & IMAP_CAP_QRESYNC) && known_uidvalidity &&
	    known_modseq;
	int r;

	memset(st, 0, sizeof *st);
	if (session_settle(s) != IMAP_OK)
		return IMAP_FAIL;
	if (quote_mailbox(s, folder, quoted, sizeof quoted) < 0)
		return IMAP_NO;
	if (qresync)
		snprintf(param, sizeof param, "(QRESYNC (%" PRIu32 " %"
		    PRIu64 "))", known_uidvalidity, known_modseq);
	else if (s->caps & IMAP_CAP_CONDSTORE)
		snprintf(param, sizeof param, "(CONDSTORE)");
	/* Whatever the answer, the folder open before is left. */
	free(s->examined);
	s->examined = NULL;
	r = send_examine(s, quoted, param);
	snprintf(what, sizeof what, "EXAMINE %.40s", folder);
	if (r != MAILIMAP_NO_ERROR)
		return session_fail(s, what, r);

	sel = s->imap->imap_selection_info;
	st->uidvalidity = sel->sel_uidvalidity;
	st->uidnext = sel->sel_uidnext;
	st->exists = sel->sel_has_exists ? sel->sel_exists : 0;
	st->highestmodseq = (s->caps & IMAP_CAP_CONDSTORE) ?
	    last_highestmodseq(s) : 0;
	if (qresync && st->uidvalidity == known_uidvalidity) {
		collect_vanished(s, &st->vanished, &st->n_vanished);
		st->vanished_valid = st->n_vanished < IMAP_VANISHED_MAX;
	}
	/* Flag changes reported by QRESYNC do not matter here. */
	if (s->imap->imap_response_info->rsp_fetch_list != NULL) {
		mailimap_fetch_list_free(
		    s->imap->imap_response_info->rsp_fetch_list);
		s->imap->imap_response_info->rsp_fetch_list = NULL;
	}
	s->exists = st->exists;
	s->examined = xstrdup(folder);
	s->examined_uidvalidity = st->uidvalidity;
	s->err[0] = '\0';
	log_trace(TRACE_IMAP, "account=%s folder=%s: uidvalidity=%" PRIu32
	    " uidnext=%" PRIu32 " exists=%" PRIu32 " highestmodseq=%" PRIu64
	    " vanished=%zu", s->account, folder, st->uidvalidity,
	    st->uidnext, st->exists, st->highestmodseq, st->n_vanished);
	return IMAP_OK;
}

bool
imap_session_examined(const struct imap_session *s, const char *folder,
    uint32_t uidvalidity)
{
	const struct mailimap_selection_info *sel =
	    s->imap->imap_selection_info;

	/* Should libetpan have filed an unsolicited [UIDVALIDITY] since the
	 * EXAMINE, every UID known is void.  (Dovecot ends the session
	 * instead: "* BYE" at the next NOOP.) */
	return s->examined != NULL && strcmp(s->examined, folder) == 0 &&
	    s->imap->imap_state == MAILIMAP_STATE_SELECTED && sel != NULL &&
	    sel->sel_uidvalidity == s->examined_uidvalidity &&
	    uidvalidity == s->examined_uidvalidity;
}

/* HIGHESTMODSEQ of a STATUS item, however libetpan filed it. */
static bool
status_modseq(const struct mailimap_status_info *i, uint64_t *modseq)
{
	const struct mailimap_extension_data *d = i->st_ext_data;
	const struct mailimap_condstore_status_info *c;

	if (d == NULL || d->ext_extension == NULL ||
	    d->ext_extension->ext_id != MAILIMAP_EXTENSION_CONDSTORE ||
	    d->ext_type != MAILIMAP_CONDSTORE_TYPE_STATUS_INFO ||
	    d->ext_data == NULL)
		return false;
	c = d->ext_data;
	*modseq = c->cs_highestmodseq_value;
	return true;
}

enum imap_status
imap_session_status(struct imap_session *s, const char *folder,
    struct imap_folder_state *st)
{
	static const int atts[] = { MAILIMAP_STATUS_ATT_MESSAGES,
	    MAILIMAP_STATUS_ATT_UIDNEXT, MAILIMAP_STATUS_ATT_UIDVALIDITY };
	struct mailimap_status_att_list *list;
	struct mailimap_mailbox_data_status *res = NULL;
	char quoted[IMAP_FOLDER_MAX * 2 + 3], what[64];
	int r;

	memset(st, 0, sizeof *st);
	if (s->examined != NULL && strcmp(s->examined, folder) == 0) {
		session_seterr(s, "STATUS of the examined folder");
		return IMAP_NO;
	}
	if (session_settle(s) != IMAP_OK)
		return IMAP_FAIL;
	if (quote_mailbox(s, folder, quoted, sizeof quoted) < 0)
		return IMAP_NO;
	list = mailimap_status_att_list_new_empty();
	if (list == NULL) {
		session_seterr(s, "out of memory");
		return IMAP_FAIL;
	}
	for (size_t i = 0; i < sizeof atts / sizeof atts[0]; i++)
		mailimap_status_att_list_add(list, atts[i]);
	if (s->caps & IMAP_CAP_CONDSTORE)
		mailimap_status_att_list_add(list,
		    MAILIMAP_STATUS_ATT_HIGHESTMODSEQ);
	r = mailimap_status(s->imap, folder, list, &res);
	mailimap_status_att_list_free(list);
	snprintf(what, sizeof what, "STATUS %.40s", folder);
	if (r != MAILIMAP_NO_ERROR)
		return session_fail(s, what, r);
	for (clistiter *it = res->st_info_list ?
	    clist_begin(res->st_info_list) : NULL; it; it = clist_next(it)) {
		struct mailimap_status_info *i = clist_content(it);

		switch (i->st_att) {
		case MAILIMAP_STATUS_ATT_MESSAGES:
			st->exists = i->st_value;
			break;
		case MAILIMAP_STATUS_ATT_UIDNEXT:
			st->uidnext = i->st_value;
			break;
		case MAILIMAP_STATUS_ATT_UIDVALIDITY:
			st->uidvalidity = i->st_value;
			break;
		default:
			(void)status_modseq(i, &st->highestmodseq);
			break;
		}
	}
	mailimap_mailbox_data_status_free(res);
	s->err[0] = '\0';
	log_trace(TRACE_IMAP, "account=%s folder=%s: STATUS uidvalidity=%"
	    PRIu32 " uidnext=%" PRIu32 " messages=%" PRIu32
	    " highestmodseq=%" PRIu64, s->account, folder, st->uidvalidity,
	    st->uidnext, st->exists, st->highestmodseq);
	return IMAP_OK;
}

/* ------------------------------------------------------------ APPEND */

enum imap_status
imap_session_append(struct imap_session *s, const char *folder,
    const char *data, size_t len)
{
	struct mailimap_flag_list *flags;
	char quoted[IMAP_FOLDER_MAX * 2 + 3], what[64];
	int r;

	if (session_settle(s) != IMAP_OK)
		return IMAP_FAIL;
	/* Only checked here: libetpan quotes the name itself. */
	if (quote_mailbox(s, folder, quoted, sizeof quoted) < 0)
		return IMAP_NO;
	flags = mailimap_flag_list_new_empty();
	if (flags == NULL ||
	    mailimap_flag_list_add(flags, mailimap_flag_new_seen()) !=
	    MAILIMAP_NO_ERROR) {
		if (flags)
			mailimap_flag_list_free(flags);
		session_seterr(s, "APPEND: out of memory");
		return IMAP_FAIL;
	}
	r = mailimap_append(s->imap, folder, flags, NULL, data, len);
	mailimap_flag_list_free(flags);
	snprintf(what, sizeof what, "APPEND %.40s", folder);
	if (r != MAILIMAP_NO_ERROR)
		return session_fail(s, what, r);
	s->err[0] = '\0';
	log_trace(TRACE_IMAP, "account=%s folder=%s: appended %zu bytes",
	    s->account, folder, len);
	return IMAP_OK;
}

/* ------------------------------------------------------------ FETCH */

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static int64_t
date_time_utc(const struct mailimap_date_time *dt)
{
	int zone, zmin;

	if (dt == NULL || dt->dt_month < 1 || dt->dt_month > 12 ||
	    dt->dt_day < 1 || dt->dt_day > 31)
		return 0;
	zone = dt->dt_zone < 0 ? -dt->dt_zone : dt->dt_zone;
	zmin = (zone / 100) * 60 + zone % 100;
	if (dt->dt_zone < 0)
		zmin = -zmin;
	return days_from_civil(dt->dt_year, (unsigned)dt->dt_month,
	    (unsigned)dt->dt_day) * 86400 + dt->dt_hour * 3600 +
	    dt->dt_min * 60 + dt->dt_sec - (int64_t)zmin * 60;
}

/* One FETCH answer turned into what a callback gets. */
static bool
fetched_from_att(struct mailimap_msg_att *att, struct imap_fetched *f,
    size_t cap)
{
	memset(f, 0, sizeof *f);
	for (clistiter *it = clist_begin(att->att_list); it; it =
	    clist_next(it)) {
		struct mailimap_msg_att_item *item = clist_content(it);

		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_EXTENSION) {
			struct mailimap_extension_data *d =
			    item->att_data.att_extension_data;

			if (d && d->ext_extension->ext_id ==
			    MAILIMAP_EXTENSION_CONDSTORE && d->ext_type ==
			    MAILIMAP_CONDSTORE_TYPE_FETCH_DATA) {
				struct mailimap_condstore_fetch_mod_resp *mr =
				    d->ext_data;

				f->modseq = mr->cs_modseq_value;
			}
			continue;
		}
		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC ||
		    item->att_data.att_static == NULL)
			continue;
		struct mailimap_msg_att_static *st = item->att_data.att_static;

		switch (st->att_type) {
		case MAILIMAP_MSG_ATT_UID:
			f->uid = st->att_data.att_uid;
			break;
		case MAILIMAP_MSG_ATT_INTERNALDATE:
			f->internaldate = date_time_utc(
			    st->att_data.att_internal_date);
			break;
		case MAILIMAP_MSG_ATT_BODY_SECTION:
			if (st->att_data.att_body_section == NULL ||
			    st->att_data.att_body_section->sec_body_part ==
			    NULL)
				break;
			f->data = st->att_data.att_body_section->sec_body_part;
			f->len = st->att_data.att_body_section->sec_length;
			if (f->len > cap)
				f->len = cap;
			break;
		default:
			break;
		}
	}
	return f->uid != 0;
}

static int
cmp_fetched(const void *a, const void *b)
{
	const struct imap_fetched *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/*
 * Hands the answers for UIDs in [lo, hi] to h->message in UID order.
 * Unsolicited FETCH answers (flag changes of other messages) and answers
 * without data, when data is wanted, are skipped.
 */
static enum imap_status
deliver(clist *result, uint32_t lo, uint32_t hi,
    bool want_data, size_t cap, const struct imap_fetch_handler *h)
{
	struct imap_fetched *v;
	size_t n = 0;
	enum imap_status st = IMAP_OK;

	if (result == NULL || clist_count(result) == 0 || h->message == NULL)
		return IMAP_OK;
	v = xreallocarray(NULL, (size_t)clist_count(result), sizeof *v);
	for (clistiter *it = clist_begin(result); it; it = clist_next(it)) {
		if (!fetched_from_att(clist_content(it), &v[n], cap))
			continue;
		if (v[n].uid < lo || v[n].uid > hi)
			continue;
		if (want_data && v[n].data == NULL)
			continue;
		n++;
	}
	qsort(v, n, sizeof *v, cmp_fetched);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && v[i].uid == v[i - 1].uid)
			continue;
		if (h->message(h->ctx, &v[i]) != 0) {
			st = IMAP_STOPPED;
			break;
		}
	}
	free(v);
	return st;
}

static struct mailimap_fetch_type *
fetch_type_headers(bool modseq)
{
	struct mailimap_fetch_type *ft;
	clist *names = clist_new();
	char *list = xstrdup(MESSAGE_HEADER_FIELDS), *save = NULL;

	for (char *w = strtok_r(list, " ", &save); w; w = strtok_r(NULL, " ",
	    &save))
		clist_append(names, xstrdup(w));
	free(list);
	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(ft,
	    mailimap_fetch_att_new_uid());
	mailimap_fetch_type_new_fetch_att_list_add(ft,
	    mailimap_fetch_att_new_internaldate());
	if (modseq)
		mailimap_fetch_type_new_fetch_att_list_add(ft,
		    mailimap_fetch_att_new_modseq());
	mailimap_fetch_type_new_fetch_att_list_add(ft,
	    mailimap_fetch_att_new_body_peek_section(
	    mailimap_section_new_header_fields(
	    mailimap_header_list_new(names))));
	return ft;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* UID SEARCH UID from:to, sorted, limited to the range (the server
 * answers "5:*" with the last message even when its UID is below 5). */
static enum imap_status
search_uids(struct imap_session *s, uint32_t from, uint32_t to,
    uint32_t **out, size_t *nout)
{
	struct mailimap_set *set;
	struct mailimap_search_key *key;
	clist *res = NULL;
	uint32_t *v;
	size_t n = 0;
	int r;

	*out = NULL;
	*nout = 0;
	set = mailimap_set_new_interval(from, to);
	key = mailimap_search_key_new_uid(set);
	r = mailimap_uid_search(s->imap, NULL, key, &res);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR)
		return session_fail(s, "UID SEARCH", r);
	v = xreallocarray(NULL, (size_t)clist_count(res) + 1, sizeof *v);
	for (clistiter *it = clist_begin(res); it; it = clist_next(it)) {
		uint32_t uid = *(uint32_t *)clist_content(it);

		if (uid >= from && (to == 0 || uid <= to))
			v[n++] = uid;
	}
	mailimap_search_result_free(res);
	qsort(v, n, sizeof *v, cmp_u32);
	*out = v;
	*nout = n;
	return IMAP_OK;
}

static struct mailimap_set *
set_from_uids(const uint32_t *v, size_t n)
{
	struct mailimap_set *set = mailimap_set_new_empty();

	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		mailimap_set_add_interval(set, v[i], v[j]);
		i = j + 1;
	}
	return set;
}

/* ------------------------------------------------------ FETCH ahead */

/*
 * Writes UID FETCH for uids[0..n) with items (" (...)") without waiting
 * for the answer.  libetpan has no call that only sends, so the command
 * line is written here (as for EXAMINE).
 */
static int
fetch_send(struct imap_session *s, const uint32_t *uids, size_t n,
    const char *items)
{
	mailimap *m = s->imap;
	struct strbuf sb;
	int r;

	if (m->imap_state != MAILIMAP_STATE_SELECTED)
		return MAILIMAP_ERROR_BAD_STATE;
	strbuf_init(&sb, 0);
	strbuf_adds(&sb, "UID FETCH ");
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		strbuf_addf(&sb, i ? ",%" PRIu32 : "%" PRIu32, uids[i]);
		if (j > i)
			strbuf_addf(&sb, ":%" PRIu32, uids[j]);
		i = j + 1;
	}
	strbuf_adds(&sb, items);
	strbuf_adds(&sb, "\r\n");
	r = mailimap_send_current_tag(m);
	if (r == MAILIMAP_NO_ERROR && (mailstream_write(m->imap_stream,
	    strbuf_str(&sb), sb.len) != (ssize_t)sb.len ||
	    mailstream_flush(m->imap_stream) == -1))
		r = MAILIMAP_ERROR_STREAM;
	strbuf_free(&sb);
	return r;
}

/* The headers' UID FETCH for uids[0..n), its answer left for later. */
static int
ahead_send(struct imap_session *s, const uint32_t *uids, size_t n,
    bool modseq)
{
	int r;

	r = fetch_send(s, uids, n, modseq ? " (UID INTERNALDATE MODSEQ "
	    "BODY.PEEK[HEADER.FIELDS (" MESSAGE_HEADER_FIELDS ")])" :
	    " (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS ("
	    MESSAGE_HEADER_FIELDS ")])");
	if (r == MAILIMAP_NO_ERROR) {
		s->ahead = xcalloc(1, sizeof(*s->ahead));
		s->ahead->lo = uids[0];
		s->ahead->hi = uids[n - 1];
	}
	return r;
}

/*
 * Reads the answer to a FETCH written by fetch_send(): *res gets its
 * FETCH answers (NULL on error, or when there were none).  A BYE or a
 * refusal is an error, as libetpan's own calls make it.
 */
static int
fetch_read(struct imap_session *s, clist **res)
{
	mailimap *m = s->imap;
	struct mailimap_response *resp = NULL;
	int r = MAILIMAP_NO_ERROR, state;

	*res = NULL;
	if (mailimap_read_line(m) == NULL)
		r = MAILIMAP_ERROR_STREAM;
	else
		r = mailimap_parse_response(m, &resp);
	if (r == MAILIMAP_NO_ERROR) {
		*res = m->imap_response_info->rsp_fetch_list;
		m->imap_response_info->rsp_fetch_list = NULL;
		if (resp->rsp_resp_done->rsp_type !=
		    MAILIMAP_RESP_DONE_TYPE_TAGGED)
			r = MAILIMAP_ERROR_FATAL;	/* BYE */
		else {
			state = resp->rsp_resp_done->rsp_data.rsp_tagged->
			    rsp_cond_state->rsp_type;
			if (state != MAILIMAP_RESP_COND_STATE_OK)
				r = MAILIMAP_ERROR_UID_FETCH;
		}
		mailimap_response_free(resp);
	}
	if (r != MAILIMAP_NO_ERROR && *res != NULL) {
		mailimap_fetch_list_free(*res);
		*res = NULL;
	}
	return r;
}

/* Reads the answer to the FETCH sent ahead into s->ahead. */
static void
ahead_read(struct imap_session *s)
{
	struct imap_ahead *a = s->ahead;
	int r;

	a->read = true;
	r = fetch_read(s, &a->res);
	if (r != MAILIMAP_NO_ERROR) {
		/* The server's words now: a later command replaces them. */
		a->st = session_fail(s, "UID FETCH headers", r);
		memcpy(a->err, s->err, sizeof(a->err));
	}
}

/*
 * Before any other command: the answer to a FETCH sent ahead is read
 * first (and kept), or the new command would take it for its own.
 * IMAP_FAIL if the connection failed meanwhile.
 */
static enum imap_status
session_settle(struct imap_session *s)
{
	if (s->ahead == NULL || s->ahead->read)
		return IMAP_OK;
	ahead_read(s);
	if (s->ahead->st == IMAP_FAIL) {
		memcpy(s->err, s->ahead->err, sizeof(s->err));
		return IMAP_FAIL;
	}
	return IMAP_OK;
}

/* Drops a FETCH sent ahead that nobody will use (reading its answer so
 * the connection stays in step). */
static void
ahead_discard(struct imap_session *s)
{
	if (s->ahead == NULL)
		return;
	if (!s->ahead->read && !s->broken)
		ahead_read(s);
	if (s->ahead->res != NULL)
		mailimap_fetch_list_free(s->ahead->res);
	free(s->ahead);
	s->ahead = NULL;
}

/*
 * The next header FETCH of the running fetch_headers, if none is in
 * flight and some UIDs are left to ask for.
 */
static int
ahead_next(struct imap_session *s)
{
	size_t left = s->fetch_n - s->fetch_sent;
	size_t k = left < s->fetch_batch ? left : s->fetch_batch;
	int r;

	if (s->ahead != NULL || k == 0)
		return MAILIMAP_NO_ERROR;
	r = ahead_send(s, s->fetch_uids + s->fetch_sent, k,
	    s->caps & IMAP_CAP_CONDSTORE);
	if (r == MAILIMAP_NO_ERROR)
		s->fetch_sent += k;
	return r;
}

/*
 * While another command's answer is awaited (fetch_excerpts): the next
 * batch's headers, already read by session_settle(), are handed to the
 * running fetch_headers' handler now rather than after the batch in
 * hand, so that they are parsed while the server works.  One batch at a
 * time: the handler holds at most the batch in hand and the next.
 */
static void
ahead_early(struct imap_session *s)
{
	struct imap_ahead *a = s->ahead;

	if (a == NULL || !a->read || a->st != IMAP_OK || s->early ||
	    s->fetch_h == NULL)
		return;
	s->early = true;
	s->early_st = deliver(a->res, a->lo, a->hi, true, MESSAGE_HEADER_MAX,
	    s->fetch_h);
	ahead_discard(s);
}

/* The answer to the FETCH sent ahead, read now if it was not yet. */
static enum imap_status
ahead_take(struct imap_session *s, clist **res)
{
	enum imap_status st;

	if (!s->ahead->read)
		ahead_read(s);
	st = s->ahead->st;
	*res = s->ahead->res;
	if (st != IMAP_OK)
		memcpy(s->err, s->ahead->err, sizeof(s->err));
	free(s->ahead);
	s->ahead = NULL;
	return st;
}

/*
 * One batch of headers, uids[0..n): the next batch's FETCH is sent
 * before this one is handed over (unless it is in flight already).  A
 * batch handed over early (ahead_early()) is not handed over again.
 */
static enum imap_status
fetch_batch(struct imap_session *s, const uint32_t *uids, size_t n,
    struct mailimap_fetch_type *ft, const struct imap_fetch_handler *h)
{
	struct mailimap_set *set;
	clist *res = NULL;
	enum imap_status st;
	bool early = s->early;
	int r;

	if (early) {
		s->early = false;
		if ((st = s->early_st) != IMAP_OK)
			return st;
	} else if (s->ahead != NULL) {
		if ((st = ahead_take(s, &res)) != IMAP_OK)
			return st;
	} else {
		set = set_from_uids(uids, n);
		r = mailimap_uid_fetch(s->imap, set, ft, &res);
		mailimap_set_free(set);
		if (r != MAILIMAP_NO_ERROR)
			return session_fail(s, "UID FETCH headers", r);
		s->fetch_sent = (size_t)(uids - s->fetch_uids) + n;
	}
	if ((r = ahead_next(s)) != MAILIMAP_NO_ERROR) {
		/* Nothing of this batch is stored: the cursor stays. */
		if (res != NULL)
			mailimap_fetch_list_free(res);
		return session_fail(s, "UID FETCH headers", r);
	}
	st = early ? IMAP_OK : deliver(res, uids[0], uids[n - 1], true,
	    MESSAGE_HEADER_MAX, h);
	/* NULL when the answer had no FETCH (all expunged meanwhile). */
	if (res != NULL)
		mailimap_fetch_list_free(res);
	return st;
}

enum imap_status
imap_session_fetch_headers(struct imap_session *s, uint32_t uid_from,
    uint32_t uid_to, unsigned batch, const struct imap_fetch_handler *h)
{
	struct mailimap_fetch_type *ft;
	uint32_t *uids;
	size_t n, i;
	enum imap_status st;

	if (uid_from == 0)
		uid_from = 1;
	if (batch == 0)
		batch = 500;
	if ((st = session_settle(s)) != IMAP_OK)
		return st;
	ahead_discard(s);
	st = search_uids(s, uid_from, uid_to, &uids, &n);
	if (st != IMAP_OK)
		return st;
	ft = fetch_type_headers(s->caps & IMAP_CAP_CONDSTORE);
	s->fetch_h = h;
	s->fetch_uids = uids;
	s->fetch_n = n;
	s->fetch_sent = 0;
	s->fetch_batch = batch;
	s->early = false;
	for (i = 0; i < n && st == IMAP_OK; i += batch) {
		size_t k = n - i < batch ? n - i : batch;

		st = fetch_batch(s, uids + i, k, ft, h);
		if (st == IMAP_OK && h->batch_end &&
		    h->batch_end(h->ctx, uids[i + k - 1]) != 0)
			st = IMAP_STOPPED;
	}
	s->fetch_h = NULL;
	s->fetch_uids = NULL;
	s->fetch_n = s->fetch_sent = 0;
	s->early = false;
	/* Stopped early: the FETCH sent ahead is answered all the same. */
	ahead_discard(s);
	mailimap_fetch_type_free(ft);
	free(uids);
	if (st == IMAP_OK)
		s->err[0] = '\0';
	return st;
}

enum imap_status
imap_session_fetch_excerpts(struct imap_session *s, const uint32_t *uids,
    size_t n, size_t max_bytes, const struct imap_fetch_handler *h)
{
	char items[64];
	clist *res = NULL;
	enum imap_status st;
	int r;

	if (n == 0)
		return IMAP_OK;
	if (session_settle(s) != IMAP_OK)
		return IMAP_FAIL;
	if (max_bytes == 0 || max_bytes > UINT32_MAX)
		max_bytes = MESSAGE_HEADER_MAX;
	snprintf(items, sizeof(items), " (UID BODY.PEEK[TEXT]<0.%zu>)",
	    max_bytes);
	r = fetch_send(s, uids, n, items);
	/* The server opens every message file: meanwhile, the next batch. */
	if (r == MAILIMAP_NO_ERROR) {
		ahead_early(s);
		r = fetch_read(s, &res);
	}
	if (r != MAILIMAP_NO_ERROR)
		return session_fail(s, "UID FETCH text", r);
	/* The batch after it is prepared while the caller stores. */
	if (s->early && s->early_st == IMAP_OK &&
	    (r = ahead_next(s)) != MAILIMAP_NO_ERROR) {
		if (res != NULL)
			mailimap_fetch_list_free(res);
		return session_fail(s, "UID FETCH headers", r);
	}
	st = deliver(res, uids[0], uids[n - 1], true, max_bytes, h);
	if (res != NULL)
		mailimap_fetch_list_free(res);
	if (st == IMAP_OK)
		s->err[0] = '\0';
	return st;
}

enum imap_status
imap_session_fetch_excerpt(struct imap_session *s, uint32_t uid,
    size_t max_bytes, const struct imap_fetch_handler *h)
{
	return imap_session_fetch_excerpts(s, &uid, 1, max_bytes, h);
}

enum imap_status
imap_session_fetch_changed_since(struct imap_session *s, uint64_t modseq,
    const struct imap_fetch_handler *h, struct imap_uid_range **vanished,
    size_t *n_vanished)
{
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	struct mailimap_qresync_vanished *first = NULL;
	clist *res = NULL;
	enum imap_status st;
	int r;

	*vanished = NULL;
	*n_vanished = 0;
	if (!(s->caps & IMAP_CAP_CONDSTORE) || modseq == 0) {
		session_seterr(s, "CHANGEDSINCE needs CONDSTORE and a modseq");
		return IMAP_NO;
	}
	if (session_settle(s) != IMAP_OK)
		return IMAP_FAIL;
	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(ft,
	    mailimap_fetch_att_new_uid());
	set = mailimap_set_new_interval(1, 0);
	if (s->caps & IMAP_CAP_QRESYNC)
		r = mailimap_uid_fetch_qresync(s->imap, set, ft, modseq, &res,
		    &first);
	else
		r = mailimap_uid_fetch_changedsince(s->imap, set, ft, modseq,
		    &res);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR)
		return session_fail(s, "UID FETCH CHANGEDSINCE", r);
	if (first != NULL) {
		ranges_add_set(vanished, n_vanished, first->qr_known_uids);
		mailimap_qresync_vanished_free(first);
	}
	/* libetpan took the first VANISHED out; the rest are still here. */
	collect_vanished(s, vanished, n_vanished);
	st = deliver(res, 1, UINT32_MAX, false, 0, h);
	if (res != NULL)
		mailimap_fetch_list_free(res);
	if (st == IMAP_OK)
		s->err[0] = '\0';
	return st;
}

/* ------------------------------------------------------------ IDLE */

/* Did the last command's untagged answers report a change?  What kind
 * is added to s->changes. */
static bool
saw_change(struct imap_session *s)
{
	struct mailimap_selection_info *sel = s->imap->imap_selection_info;
	struct mailimap_response_info *ri = s->imap->imap_response_info;
	struct imap_uid_range *v = NULL;
	size_t n = 0;
	unsigned before = s->changes;

	if (sel != NULL && sel->sel_has_exists && sel->sel_exists !=
	    s->exists) {
		/* Fewer without an EXPUNGE seen would be odd: look again. */
		s->changes |= sel->sel_exists > s->exists ? IMAP_CHANGE_NEW :
		    IMAP_CHANGE_GONE;
		s->exists = sel->sel_exists;
	}
	if (ri != NULL && ri->rsp_expunged && clist_count(ri->rsp_expunged))
		s->changes |= IMAP_CHANGE_GONE;
	if (ri != NULL && ri->rsp_fetch_list && clist_count(ri->rsp_fetch_list))
		s->changes |= IMAP_CHANGE_FLAGS;
	collect_vanished(s, &v, &n);
	free(v);
	if (n > 0)
		s->changes |= IMAP_CHANGE_GONE;
	return s->changes != before;
}

unsigned
imap_session_idle_changes(const struct imap_session *s)
{
	return s->changes;
}

enum imap_status
imap_session_noop(struct imap_session *s, unsigned *changes)
{
	unsigned idle_saw = s->changes;
	int r;

	*changes = 0;
	if (session_settle(s) != IMAP_OK)
		return IMAP_FAIL;
	r = mailimap_noop(s->imap);
	if (r != MAILIMAP_NO_ERROR)
		return session_fail(s, "NOOP", r);
	s->changes = 0;
	(void)saw_change(s);
	*changes = s->changes;
	/* imap_session_idle_changes() keeps telling what IDLE saw. */
	s->changes = idle_saw;
	s->err[0] = '\0';
	return IMAP_OK;
}

static int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the IDLE stream or wake_fd until the deadline (ms). */
static int
idle_wait(struct imap_session *s, int wake_fd, int64_t deadline_ms,
    int *woken)
{
	struct pollfd pfd[2];
	int64_t now;
	int rc;

	*woken = 0;
	/* libetpan may have read past "+ idling" already.  (Plaintext that
	 * GnuTLS holds beyond libetpan's 8 KiB read is not seen here; IDLE
	 * lines are far shorter than a TLS record.) */
	if (s->imap->imap_stream->read_buffer_len > 0)
		return 1;
	pfd[0].fd = mailimap_idle_get_fd(s->imap);
	pfd[0].events = POLLIN;
	pfd[1].fd = wake_fd;
	pfd[1].events = POLLIN;
	for (;;) {
		now = monotonic_ms();
		if (now >= deadline_ms)
			return 0;
		pfd[0].revents = pfd[1].revents = 0;
		rc = poll(pfd, wake_fd >= 0 ? 2 : 1, (int)(deadline_ms - now));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -1;
		if (rc == 0)
			return 0;
		if (wake_fd >= 0 && pfd[1].revents) {
			*woken = 1;
			return 0;
		}
		return 1;
	}
}

enum imap_idle_result
imap_session_idle(struct imap_session *s, int seconds, int wake_fd)
{
	int64_t deadline;
	int r, ready, woken;

	if (!(s->caps & IMAP_CAP_IDLE)) {
		session_seterr(s, "server offers no IDLE");
		return IMAP_IDLE_ERROR;
	}
	if (session_settle(s) != IMAP_OK)
		return IMAP_IDLE_ERROR;
	if (seconds < 0)
		seconds = 0;
	if (seconds > 28 * 60)
		seconds = 28 * 60;
	deadline = monotonic_ms() + (int64_t)seconds * 1000;
	s->changes = 0;
	for (;;) {
		r = mailimap_noop(s->imap);
		if (r != MAILIMAP_NO_ERROR) {
			session_fail(s, "NOOP", r);
			return IMAP_IDLE_ERROR;
		}
		if (saw_change(s))
			return IMAP_IDLE_CHANGED;
		r = mailimap_idle(s->imap);
		if (r != MAILIMAP_NO_ERROR) {
			session_fail(s, "IDLE", r);
			return IMAP_IDLE_ERROR;
		}
		log_trace(TRACE_IMAP, "account=%s host=%s: idling",
		    s->account, s->host);
		ready = idle_wait(s, wake_fd, deadline, &woken);
		r = mailimap_idle_done(s->imap);
		if (r != MAILIMAP_NO_ERROR || ready < 0) {
			session_fail(s, "IDLE DONE", r != MAILIMAP_NO_ERROR ?
			    r : MAILIMAP_ERROR_STREAM);
			return IMAP_IDLE_ERROR;
		}
		if (saw_change(s))
			return IMAP_IDLE_CHANGED;
		if (woken)
			return IMAP_IDLE_WOKEN;
		if (ready == 0)
			return IMAP_IDLE_TIMEOUT;
		/* A keep-alive ("* OK Still here"): wait on. */
	}
}
