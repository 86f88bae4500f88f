/*
 * The CalDAV connector's HTTP: one libcurl easy handle per account thread,
 * reused for every request so that a keep-alive connection (and its TLS
 * session) serves a whole sync.  Certificates are verified unless the
 * account says tls_verify = false; ca_file replaces the system store.
 *
 * Answers are capped at DAV_XML_MAX bytes.  A request is cut short when
 * the abort callback says so (a stop request), when nothing moves for the
 * account's timeout, or when the connection cannot be made within it.
 *
 * Everything a struct caldav_reply holds belongs to its caller
 * (caldav_reply_free()).  The secret read by caldav_http_login() is handed
 * to libcurl, and our copy wiped at once.
 */
#ifndef RAPPORT_CALDAV_HTTP_H
#define RAPPORT_CALDAV_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct endpoint;
struct caldav_http;

/* What a request's failure means for the caller. */
enum caldav_http_err {
	CALDAV_HTTP_OK = 0,
	CALDAV_HTTP_NET,	/* network, timeout, server gone: retry later */
	CALDAV_HTTP_TLS,	/* the certificate was refused: a config matter */
	CALDAV_HTTP_ABORT,	/* the abort callback asked to stop */
	CALDAV_HTTP_TOOBIG,	/* answer over DAV_XML_MAX */
};

struct caldav_reply {
	long		 code;		/* HTTP status; 0 when none came */
	struct strbuf	 body;
	char		*url;		/* the URL that answered (after redirects) */
	int64_t		 date;		/* its Date header (UTC seconds), or -1 */
	size_t		 fd_len;	/* bytes caldav_http_request_fd() wrote */
};

/*
 * A handle for ep.  abort (may be NULL) is polled during transfers; a
 * true answer cuts the request short.
 */
struct caldav_http *caldav_http_new(const struct endpoint *ep,
    bool (*abort)(void *arg), void *arg);
void caldav_http_free(struct caldav_http *h);

/*
 * Reads the password or bearer token now (an outside refresher may have
 * rotated it) and gives it to libcurl.  Returns 0, or -1 with a message
 * (never the secret) in err.
 */
int caldav_http_login(struct caldav_http *h, char *err, size_t errlen);

/*
 * One request: method on url with a Depth header when depth is non-NULL
 * and body (XML, may be NULL).  Redirects are followed (at most 5; to
 * another origin only over https).  Returns CALDAV_HTTP_OK when an answer
 * came, whatever its status (r->code); otherwise an error with a one-line
 * reason in err.  r is initialized by the call.
 */
enum caldav_http_err caldav_http_request(struct caldav_http *h,
    const char *method, const char *url, const char *depth, const char *body,
    struct caldav_reply *r, char *err, size_t errlen);
/*
 * The same, but the answer's body goes to fd (a file of the caller's,
 * emptied first; r->body stays empty), so that an answer of thousands of
 * events is never held whole in memory.
 */
enum caldav_http_err caldav_http_request_fd(struct caldav_http *h,
    const char *method, const char *url, const char *depth, const char *body,
    int fd, struct caldav_reply *r, char *err, size_t errlen);
void caldav_reply_free(struct caldav_reply *r);

/* Requests made by this handle so far (for tests and benchmarks). */
unsigned long caldav_http_count(const struct caldav_http *h);

/*
 * href (absolute URL, absolute path or relative path) against base (an
 * absolute URL): a fresh string, or NULL if base is not http(s).
 */
char *caldav_url_resolve(const char *base, const char *href);
/* The scheme://host[:port] part of url, fresh; NULL if not http(s). */
char *caldav_url_origin(const char *url);

#endif
