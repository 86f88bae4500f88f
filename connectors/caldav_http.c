/*
 * libcurl under the CalDAV connector (caldav_http.h).
 */
#include "build-config.h"

#include "caldav_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "dav_xml.h"
#include "log.h"
#include "xmalloc.h"

#define REDIRECTS_MAX	5

struct caldav_http {
	CURL			*curl;
	const struct endpoint	*ep;
	bool			(*abort)(void *arg);
	void			*arg;
	unsigned long		 count;
	char			 errbuf[CURL_ERROR_SIZE];
	int			 sink;		/* body to this fd, or -1 */
	size_t			 sink_len;
	int			 sink_errno;	/* a failed write(2) */
};

static size_t
http_write(char *data, size_t size, size_t n, void *arg)
{
	struct strbuf *sb = arg;

	/* Refusing the bytes makes curl fail with CURLE_WRITE_ERROR. */
	if (strbuf_add(sb, data, size * n) < 0)
		return 0;
	return size * n;
}

/* The server's clock, for a caller that compares times it reported. */
static size_t
http_header(char *data, size_t size, size_t n, void *arg)
{
	struct caldav_reply *r = arg;
	size_t len = size * n;
	char value[64];
	size_t vlen = len - 5;

	if (len > 5 && vlen < sizeof(value) &&
	    strncasecmp(data, "Date:", 5) == 0) {
		memcpy(value, data + 5, vlen);
		while (vlen > 0 && (value[vlen - 1] == '\r' ||
		    value[vlen - 1] == '\n' || value[vlen - 1] == ' '))
			vlen--;
		value[vlen] = '\0';
		r->date = curl_getdate(value, NULL);
	}
	return len;
}

static size_t
http_write_fd(char *data, size_t size, size_t n, void *arg)
{
	struct caldav_http *h = arg;
	size_t len = size * n, done = 0;
	ssize_t w;

	if (h->sink_len + len > DAV_XML_MAX)
		return 0;
	while (done < len) {
		w = write(h->sink, data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			h->sink_errno = w < 0 ? errno : EIO;
			return 0;
		}
		done += (size_t)w;
	}
	h->sink_len += len;
	return len;
}

static int
http_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct caldav_http *h = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return h->abort != NULL && h->abort(h->arg) ? 1 : 0;
}

/* The options that hold for every request of the handle. */
static void
http_setup(struct caldav_http *h)
{
	const struct endpoint *ep = h->ep;
	CURL *c = h->curl;
	long timeout = ep->timeout > 0 ? ep->timeout : 60;

	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);	/* threads */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "rapport/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout);
	/* A stalled server, not a long answer, is what times out. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, timeout);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, ep->tls_verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, ep->tls_verify ? 2L : 0L);
	if (ep->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, ep->ca_file);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, http_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
}

struct caldav_http *
caldav_http_new(const struct endpoint *ep, bool (*abort)(void *arg),
    void *arg)
{
	struct caldav_http *h = xcalloc(1, sizeof(*h));

	h->curl = curl_easy_init();
	if (h->curl == NULL) {
		free(h);
		return NULL;
	}
	h->ep = ep;
	h->abort = abort;
	h->arg = arg;
	h->sink = -1;
	http_setup(h);
	return h;
}

void
caldav_http_free(struct caldav_http *h)
{
	if (h == NULL)
		return;
	curl_easy_cleanup(h->curl);
	free(h);
}

unsigned long
caldav_http_count(const struct caldav_http *h)
{
	return h->count;
}

int
caldav_http_login(struct caldav_http *h, char *err, size_t errlen)
{
	const struct endpoint *ep = h->ep;
	char *secret;

	curl_easy_setopt(h->curl, CURLOPT_HTTPAUTH, CURLAUTH_NONE);
	if (ep->auth == AUTH_NONE ||
	    (ep->auth != AUTH_XOAUTH2 && ep->password == NULL &&
	    ep->password_file == NULL))
		return 0;
	if ((secret = config_secret(ep, err, errlen)) == NULL)
		return -1;
	/* libcurl keeps its own copy. */
	if (ep->auth == AUTH_XOAUTH2) {
		curl_easy_setopt(h->curl, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(h->curl, CURLOPT_XOAUTH2_BEARER, secret);
	} else {
		curl_easy_setopt(h->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(h->curl, CURLOPT_USERNAME,
		    ep->user != NULL ? ep->user : "");
		curl_easy_setopt(h->curl, CURLOPT_PASSWORD, secret);
	}
	explicit_bzero(secret, strlen(secret));
	free(secret);
	return 0;
}

void
caldav_reply_free(struct caldav_reply *r)
{
	strbuf_free(&r->body);
	free(r->url);
	r->url = NULL;
}

static enum caldav_http_err
http_error(struct caldav_http *h, CURLcode cc, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", h->errbuf[0] != '\0' ? h->errbuf :
	    curl_easy_strerror(cc));
	switch (cc) {
	case CURLE_ABORTED_BY_CALLBACK:
		return CALDAV_HTTP_ABORT;
	case CURLE_WRITE_ERROR:
		if (h->sink_errno != 0) {
			snprintf(err, errlen, "temporary file: %s",
			    strerror(h->sink_errno));
			return CALDAV_HTTP_NET;
		}
		snprintf(err, errlen, "answer larger than %d bytes",
		    DAV_XML_MAX);
		return CALDAV_HTTP_TOOBIG;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return CALDAV_HTTP_TLS;
	default:
		return CALDAV_HTTP_NET;
	}
}

/* A redirect we follow: same origin, or https anywhere. */
static bool
http_redirect_ok(const char *from, const char *to)
{
	char *a = caldav_url_origin(from), *b = caldav_url_origin(to);
	bool ok = a != NULL && b != NULL &&
	    (strcmp(a, b) == 0 || strncmp(b, "https://", 8) == 0);

	free(a);
	free(b);
	return ok;
}

/*
 * The URL without user and password: libcurl writes the credentials into
 * the redirect URL it reports, and URLs get logged.
 */
static char *
http_url_clean(const char *url)
{
	CURLU *u = curl_url();
	char *out = NULL, *copy = NULL;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
		copy = xstrdup(out);
	curl_free(out);
	curl_url_cleanup(u);
	return copy;
}

static CURLcode
http_once(struct caldav_http *h, const char *method, const char *url,
    struct curl_slist *hdr, const char *body, struct caldav_reply *r)
{
	CURL *c = h->curl;
	CURLcode cc;

	strbuf_reset(&r->body);
	h->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	if (h->sink >= 0) {
		/* A redirect's body must not stay in front of the answer. */
		if (ftruncate(h->sink, 0) < 0 ||
		    lseek(h->sink, 0, SEEK_SET) < 0) {
			h->sink_errno = errno;
			return CURLE_WRITE_ERROR;
		}
		h->sink_len = 0;
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write_fd);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	} else {
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	}
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	r->date = -1;
	curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	h->count++;
	cc = curl_easy_perform(c);
	r->code = 0;
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
	r->fd_len = h->sink_len;
	log_trace(TRACE_CALDAV, "caldav: %s %s -> %ld (%zu bytes)", method,
	    url, r->code, h->sink >= 0 ? h->sink_len : r->body.len);
	return cc;
}

static struct curl_slist *
http_headers(const char *depth, const char *body)
{
	struct curl_slist *hdr = NULL;
	char line[32];

	if (depth != NULL) {
		snprintf(line, sizeof(line), "Depth: %s", depth);
		hdr = curl_slist_append(hdr, line);
	}
	/* Some servers refuse PROPFIND/REPORT bodies without it. */
	if (body != NULL)
		hdr = curl_slist_append(hdr,
		    "Content-Type: application/xml; charset=utf-8");
	/* No "100-continue" round trip before each REPORT. */
	hdr = curl_slist_append(hdr, "Expect:");
	return hdr;
}

enum caldav_http_err
caldav_http_request(struct caldav_http *h, const char *method,
    const char *url, const char *depth, const char *body,
    struct caldav_reply *r, char *err, size_t errlen)
{
	struct curl_slist *hdr = http_headers(depth, body);
	enum caldav_http_err e = CALDAV_HTTP_OK;
	char *cur = xstrdup(url), *next;
	const char *loc;
	CURLcode cc;

	strbuf_init(&r->body, DAV_XML_MAX);
	r->url = NULL;
	r->code = 0;
	r->date = -1;
	r->fd_len = 0;
	for (int i = 0;; i++) {
		if ((cc = http_once(h, method, cur, hdr, body, r)) != CURLE_OK) {
			e = http_error(h, cc, err, errlen);
			break;
		}
		if (r->code < 300 || r->code > 399 || i == REDIRECTS_MAX)
			break;
		loc = NULL;
		if (curl_easy_getinfo(h->curl, CURLINFO_REDIRECT_URL, &loc) !=
		    CURLE_OK || loc == NULL ||
		    (next = http_url_clean(loc)) == NULL ||
		    !http_redirect_ok(cur, next)) {
			log_debug("caldav: %s %s: redirect (HTTP %ld) not "
			    "followed", method, cur, r->code);
			break;
		}
		free(cur);
		cur = next;
	}
	curl_slist_free_all(hdr);
	r->url = cur;
	return e;
}

enum caldav_http_err
caldav_http_request_fd(struct caldav_http *h, const char *method,
    const char *url, const char *depth, const char *body, int fd,
    struct caldav_reply *r, char *err, size_t errlen)
{
	enum caldav_http_err e;

	h->sink = fd;
	h->sink_len = 0;
	h->sink_errno = 0;
	e = caldav_http_request(h, method, url, depth, body, r, err, errlen);
	h->sink = -1;
	return e;
}

/* ---- URLs ---- */

char *
caldav_url_origin(const char *url)
{
	const char *p;
	size_t n;

	if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return NULL;
	n = strcspn(p, "/?#");
	return xstrndup(url, (size_t)(p - url) + n);
}

char *
caldav_url_resolve(const char *base, const char *href)
{
	char *origin, *out;
	const char *path, *slash;

	if (strncmp(href, "http://", 7) == 0 ||
	    strncmp(href, "https://", 8) == 0)
		return xstrdup(href);
	if ((origin = caldav_url_origin(base)) == NULL)
		return NULL;
	if (href[0] == '/') {
		xasprintf(&out, "%s%s", origin, href);
	} else {
		path = base + strlen(origin);
		slash = strrchr(path, '/');
		if (slash == NULL)
			xasprintf(&out, "%s/%s", origin, href);
		else
			xasprintf(&out, "%s%.*s%s", origin,
			    (int)(slash - path + 1), path, href);
	}
	free(origin);
	return out;
}
