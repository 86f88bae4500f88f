/*
 * The CalDAV connector (caldav.h): discovery, then per calendar either
 * sync-collection or the getctag/etag/multiget fallback.
 */
#include "caldav.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "caldav_cache.h"
#include "caldav_http.h"
#include "caldav_link.h"
#include "caldav_visits.h"
#include "clock.h"
#include "config.h"
#include "dav_xml.h"
#include "ical_expand.h"
#include "linker.h"
#include "log.h"
#include "referral_ingest.h"
#include "store.h"
#include "store_event.h"
#include "store_message.h"
#include "xmalloc.h"

#define SYNC_ROUNDS_MAX	1000	/* 507 continuations per calendar and pass */
/*
 * How far the expansion window [now - window_past, now + window_future]
 * moves before a calendar's resources are read again for it: a series
 * the server reports unchanged still gains occurrences as time passes.
 */
#define WINDOW_STEP	86400
/*
 * Resources of a listing's own data stored per transaction.  Each commit
 * writes every index page it touched to the WAL again: 100 per commit
 * (the multiget batch) made the commits a quarter of an initial sync's
 * CPU at 10,000 events; 1,000 holds the write lock for well under a
 * second.
 */
#define STORE_BATCH	1000

/*
 * Radicale (3.1, and its master branch) derives a calendar's
 * DAV:getlastmodified from the modification times of its folder, its
 * properties file and every item file: stat() only, 75 ms at 10,000
 * events, where a sync-token or getctag reads and hashes every file (1 to
 * 1.5 s).  Every change it makes (PUT, DELETE, MOVE, PROPPATCH) renames
 * or unlinks inside that folder, so the time moves on with each.  For a
 * calendar whose sync-token is Radicale's, a Depth-0 PROPFIND of that
 * property therefore answers "anything changed?" when it equals the one
 * stored with the token; other servers promise nothing of the kind and
 * keep the one REPORT.
 *
 * The time has one second's resolution.  It is read before the REPORT
 * whose token it is stored with, and stored only when it is at least
 * LASTMOD_MARGIN seconds older than the server's clock was when it read
 * it (the answer's Date less the request's duration): any later change
 * then falls in a later second.  And it stands in for the REPORT for
 * LASTMOD_TRUST seconds, then a REPORT is made anyway (a file put back by
 * hand with an old time would otherwise stay unseen).
 */
#define RADICALE_TOKEN	"http://radicale.org/ns/sync/"
#define LASTMOD_MARGIN	2
#define LASTMOD_TRUST	3600

static const char PROPFIND_ETAGS[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<d:propfind xmlns:d=\"DAV:\"><d:prop><d:getetag/></d:prop>"
    "</d:propfind>\n";

struct caldav {
	struct connector_ctx		*ctx;
	const struct caldav_account	*acct;
	const char			*account;
	struct caldav_http		*http;
	struct caldav_cal		*cals;
	size_t				 ncals;
	int64_t				 disc_at;	/* when cals were found */
	bool				 cached;	/* cals read from the store */
	bool				 stale;		/* a calendar moved or went */
	struct linker			*lk;
	struct referral_ingest		*ri;
	struct linker_lookup		 lu;
	struct caldav_linker		*cl;	/* per pass, made on first use */
	int64_t				 from, to;
	const char			*tz;
};

/* What one calendar's listing asks for. */
struct listing {
	struct dav_response *have;	/* changed, data in the listing */
	size_t	  nhave, caphave;
	char	**fetch;	/* hrefs whose data we need */
	size_t	  nfetch;
	char	**gone;		/* hrefs the server no longer has */
	size_t	  ngone;
	char	**seen;		/* full listing: every href present */
	size_t	  nseen;
	bool	  full;
	char	 *window;	/* the window cursor to write, or NULL */
	char	 *lastmod;	/* cursor written with the token, or NULL */
};

/* The stored hrefs of a calendar with their etags, sorted by href. */
struct known {
	char	**href;
	char	**etag;
	size_t	  n;
	bool	  loaded;
};

/* ---------------------------------------------------------------- util */

static void
strv_push(char ***v, size_t *n, const char *s)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
listing_have_free(struct listing *l)
{
	for (size_t i = 0; i < l->nhave; i++)
		dav_response_free(&l->have[i]);
	free(l->have);
	l->have = NULL;
	l->nhave = l->caphave = 0;
}

static void
listing_free(struct listing *l)
{
	listing_have_free(l);
	strv_free(l->fetch, l->nfetch);
	strv_free(l->gone, l->ngone);
	strv_free(l->seen, l->nseen);
	free(l->window);
	free(l->lastmod);
	memset(l, 0, sizeof(*l));
}

static int
known_add(void *arg, const char *href, const char *etag)
{
	struct known *k = arg;

	k->href = xreallocarray(k->href, k->n + 1, sizeof(*k->href));
	k->etag = xreallocarray(k->etag, k->n + 1, sizeof(*k->etag));
	k->href[k->n] = xstrdup(href);
	k->etag[k->n] = xstrdup_or_null(etag);
	k->n++;
	return 0;
}

static void
known_free(struct known *k)
{
	strv_free(k->href, k->n);
	strv_free(k->etag, k->n);
	memset(k, 0, sizeof(*k));
}

static int
known_load(struct caldav *cd, const struct caldav_cal *cal, struct known *k)
{
	if (k->loaded)
		return 0;
	k->loaded = true;
	if (store_event_hrefs_foreach(cd->ctx->store, cd->account, cal->href,
	    known_add, k) != STORE_OK) {
		log_warnx("caldav account=%s calendar=%s: %s", cd->account,
		    cal->name, store_errmsg(cd->ctx->store));
		return -1;
	}
	/* SQLite's ORDER BY href is strcmp order already. */
	return 0;
}

static const char *
known_etag(const struct known *k, const char *href, bool *found)
{
	char **hit = k->n == 0 ? NULL :
	    bsearch(&href, k->href, k->n, sizeof(*k->href), str_cmp);

	*found = hit != NULL;
	return hit ? k->etag[hit - k->href] : NULL;
}

static bool
caldav_abort(void *arg)
{
	return connector_stopping(arg);
}

static void
caldav_status(struct caldav *cd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
caldav_status(struct caldav *cd, const char *fmt, ...)
{
	char key[160], value[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	snprintf(key, sizeof(key), "caldav.%s", cd->account);
	if (store_status_set(cd->ctx->store, key, value, clock_now()) !=
	    STORE_OK)
		log_debug("caldav account=%s: status: %s", cd->account,
		    store_errmsg(cd->ctx->store));
}

/* ---------------------------------------------------------------- HTTP */

/*
 * A request whose answer the caller reads in r, or in fd when it is not
 * -1.  Transport failures are logged here and mapped to the recovery they
 * call for.
 */
static enum connector_result
caldav_req_to(struct caldav *cd, const char *method, const char *url,
    const char *depth, const char *body, int fd, struct caldav_reply *r)
{
	char err[CURL_ERROR_SIZE + 64];
	enum caldav_http_err e;

	e = fd >= 0 ? caldav_http_request_fd(cd->http, method, url, depth,
	    body, fd, r, err, sizeof(err)) : caldav_http_request(cd->http,
	    method, url, depth, body, r, err, sizeof(err));
	switch (e) {
	case CALDAV_HTTP_OK:
		break;
	case CALDAV_HTTP_TLS:
		log_warnx("caldav account=%s: %s %s: certificate refused: %s",
		    cd->account, method, url, err);
		return CONNECTOR_FATAL;
	case CALDAV_HTTP_ABORT:
		return CONNECTOR_RETRY;
	default:
		log_warnx("caldav account=%s: %s %s: %s", cd->account, method,
		    url, err);
		return CONNECTOR_RETRY;
	}
	if (r->code == 401) {
		log_warnx("caldav account=%s: %s %s: login refused (HTTP 401)",
		    cd->account, method, url);
		return CONNECTOR_FATAL;
	}
	return CONNECTOR_OK;
}

static enum connector_result
caldav_req(struct caldav *cd, const char *method, const char *url,
    const char *depth, const char *body, struct caldav_reply *r)
{
	return caldav_req_to(cd, method, url, depth, body, -1, r);
}

/*
 * Where a listing's answer waits to be parsed: an unnamed file in $TMPDIR
 * (else /tmp, the service's private one), so that the text of a whole
 * calendar is page cache the kernel may drop rather than our memory
 * (13 MB at 10,000 events, beside what is parsed out of it).  -1 when
 * none can be made: the answer is then held in memory.
 */
static int
caldav_tmpfile(void)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd;
	xasprintf(&path, "%s/rapport-caldav.XXXXXX", dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) >= 0)
		unlink(path);
	free(path);
	return fd;
}

/* Parses a 207 answer (in fd unless it is -1); anything else is logged
 * as what failed. */
static int
caldav_parse_from(struct caldav *cd, const struct caldav_reply *r, int fd,
    const char *what, struct dav_multistatus *ms)
{
	char err[256];
	int rc;

	memset(ms, 0, sizeof(*ms));
	if (r->code != 207) {
		log_warnx("caldav account=%s: %s %s: HTTP %ld", cd->account,
		    what, r->url, r->code);
		return -1;
	}
	rc = fd >= 0 ? dav_xml_parse_fd(fd, r->fd_len, ms, err, sizeof(err)) :
	    dav_xml_parse(strbuf_str(&r->body), r->body.len, ms, err,
	    sizeof(err));
	if (rc < 0) {
		log_warnx("caldav account=%s: %s %s: %s", cd->account, what,
		    r->url, err);
		return -1;
	}
	if (ms->repaired)
		log_debug("caldav account=%s: %s %s: malformed XML repaired",
		    cd->account, what, r->url);
	return 0;
}

static int
caldav_parse(struct caldav *cd, const struct caldav_reply *r,
    const char *what, struct dav_multistatus *ms)
{
	return caldav_parse_from(cd, r, -1, what, ms);
}

/* ------------------------------------------------------------ discovery */

/*
 * PROPFIND Depth 0 for one property carried as an href (principal or
 * home set); *out gets it resolved to a URL, or stays NULL.
 */
static enum connector_result
caldav_find_href(struct caldav *cd, const char *url, char *(*build)(void),
    enum dav_prop prop, char **out)
{
	struct caldav_reply r;
	struct dav_multistatus ms;
	char *body = build();
	enum connector_result res;
	const char *href;

	*out = NULL;
	res = caldav_req(cd, "PROPFIND", url, "0", body, &r);
	free(body);
	if (res == CONNECTOR_OK && caldav_parse(cd, &r, "PROPFIND", &ms) == 0) {
		for (size_t i = 0; i < ms.n && *out == NULL; i++) {
			if (ms.v[i].prop_status[prop] / 100 != 2)
				continue;
			href = prop == DAV_PROP_PRINCIPAL ?
			    ms.v[i].principal_href : ms.v[i].home_set_href;
			if (href != NULL)
				*out = caldav_url_resolve(r.url, href);
		}
		dav_multistatus_free(&ms);
	}
	caldav_reply_free(&r);
	return res;
}

static bool
url_is_root(const char *url)
{
	char *origin = caldav_url_origin(url);
	const char *path = url + (origin ? strlen(origin) : 0);
	bool root = path[0] == '\0' || strcmp(path, "/") == 0;

	free(origin);
	return root;
}

/* RFC 6764: the well-known URL first when only a host was given. */
static enum connector_result
caldav_principal(struct caldav *cd, char **principal)
{
	const char *base = cd->acct->ep.url;
	char *origin = caldav_url_origin(base), *wk, *tries[2];
	enum connector_result res = CONNECTOR_OK;

	*principal = NULL;
	if (origin == NULL) {
		log_warnx("caldav account=%s: url %s is not http(s)",
		    cd->account, base);
		return CONNECTOR_FATAL;
	}
	xasprintf(&wk, "%s/.well-known/caldav", origin);
	tries[0] = url_is_root(base) ? wk : (char *)base;
	tries[1] = url_is_root(base) ? (char *)base : wk;
	for (int i = 0; i < 2 && *principal == NULL; i++) {
		res = caldav_find_href(cd, tries[i], dav_xml_propfind_principal,
		    DAV_PROP_PRINCIPAL, principal);
		if (res != CONNECTOR_OK)
			break;
	}
	free(wk);
	free(origin);
	return res;
}

static bool
cal_wanted(const struct caldav_account *a, const struct dav_response *resp)
{
	const char *names[3] = { resp->displayname, resp->href,
	    resp->href_decoded };
	const char *last;
	size_t len;

	if (a->n_calendars == 0)
		return true;
	for (size_t i = 0; i < a->n_calendars; i++) {
		for (int k = 0; k < 3; k++)
			if (names[k] != NULL &&
			    strcmp(names[k], a->calendars[i]) == 0)
				return true;
		/* "work" names /alice/work/ too. */
		len = strlen(resp->href_decoded);
		while (len > 0 && resp->href_decoded[len - 1] == '/')
			len--;
		last = resp->href_decoded;
		for (size_t j = 0; j < len; j++)
			if (resp->href_decoded[j] == '/')
				last = resp->href_decoded + j + 1;
		if (strlen(a->calendars[i]) ==
		    (size_t)(resp->href_decoded + len - last) &&
		    strncmp(last, a->calendars[i], strlen(a->calendars[i])) == 0)
			return true;
	}
	return false;
}

static void
cal_add(struct caldav *cd, const char *base, const struct dav_response *resp)
{
	struct caldav_cal *c;

	cd->cals = xreallocarray(cd->cals, cd->ncals + 1, sizeof(*cd->cals));
	c = &cd->cals[cd->ncals++];
	c->href = xstrdup(resp->href);
	c->url = caldav_url_resolve(base, resp->href);
	c->name = xstrdup(resp->displayname && *resp->displayname ?
	    resp->displayname : resp->href_decoded);
	c->color = xstrdup_or_null(resp->color);
	c->ctag = xstrdup_or_null(resp->ctag);
	c->sync = resp->sync_collection;
	log_info("caldav account=%s calendar=%s: %s%s%s, %s", cd->account,
	    c->name, c->href, c->color ? " colour " : "",
	    c->color ? c->color : "",
	    c->sync ? "sync-collection" : "ctag/etag listing");
}

static void
cals_free(struct caldav *cd)
{
	caldav_cals_free(cd->cals, cd->ncals);
	cd->cals = NULL;
	cd->ncals = 0;
}

static enum connector_result
caldav_calendars(struct caldav *cd, const char *home)
{
	struct caldav_reply r;
	struct dav_multistatus ms;
	const struct dav_response *resp;
	char *body = dav_xml_propfind_calendars();
	enum connector_result res;

	res = caldav_req(cd, "PROPFIND", home, "1", body, &r);
	free(body);
	if (res == CONNECTOR_OK && caldav_parse(cd, &r, "PROPFIND", &ms) < 0)
		res = CONNECTOR_RETRY;
	else if (res == CONNECTOR_OK) {
		for (size_t i = 0; i < ms.n; i++) {
			resp = &ms.v[i];
			/* A component set that leaves VEVENT out: tasks. */
			if (!resp->is_calendar ||
			    (resp->prop_status[DAV_PROP_COMPONENTS] / 100 == 2 &&
			    !resp->has_vevent) || !cal_wanted(cd->acct, resp))
				continue;
			cal_add(cd, r.url, resp);
		}
		dav_multistatus_free(&ms);
	}
	caldav_reply_free(&r);
	return res;
}

static enum connector_result
caldav_discover_fresh(struct caldav *cd)
{
	char *principal = NULL, *home = NULL;
	enum connector_result res;

	cals_free(cd);
	cd->cached = false;
	cd->disc_at = clock_now();
	res = caldav_principal(cd, &principal);
	if (res == CONNECTOR_OK && principal != NULL)
		res = caldav_find_href(cd, principal, dav_xml_propfind_home_set,
		    DAV_PROP_HOME_SET, &home);
	if (res == CONNECTOR_OK) {
		/* No principal or home set: the URL given is the home. */
		if (home == NULL)
			home = xstrdup(principal ? principal :
			    cd->acct->ep.url);
		log_debug("caldav account=%s: calendar home %s", cd->account,
		    home);
		res = caldav_calendars(cd, home);
	}
	if (res == CONNECTOR_OK && cd->ncals == 0)
		log_warnx("caldav account=%s: no calendar to watch at %s",
		    cd->account, home ? home : cd->acct->ep.url);
	for (size_t i = 0; res == CONNECTOR_OK &&
	    i < cd->acct->n_calendars; i++) {
		bool hit = false;

		for (size_t k = 0; k < cd->ncals && !hit; k++)
			hit = strcmp(cd->cals[k].name, cd->acct->calendars[i]) ==
			    0 || strstr(cd->cals[k].href,
			    cd->acct->calendars[i]) != NULL;
		if (!hit)
			log_warnx("caldav account=%s: calendar '%s' not found",
			    cd->account, cd->acct->calendars[i]);
	}
	free(principal);
	free(home);
	return res;
}

/* The discovery cursor: written after a discovery that found calendars,
 * emptied when one of them moved or went. */
static void
caldav_cache_save(struct caldav *cd, bool valid)
{
	char *text = valid ? caldav_cache_encode(cd->acct, cd->disc_at,
	    cd->cals, cd->ncals) : NULL;

	if (store_cursor_set(cd->ctx->store, "caldav", cd->account, "",
	    "discovery", text) != STORE_OK)
		log_warnx("caldav account=%s: discovery cursor: %s",
		    cd->account, store_errmsg(cd->ctx->store));
	free(text);
}

/* The calendars of the last discovery, if it is recent and for this
 * configuration. */
static bool
caldav_cache_load(struct caldav *cd)
{
	char *text = NULL;
	int64_t at, now = clock_now();
	int rc;

	rc = store_cursor_get(cd->ctx->store, "caldav", cd->account, "",
	    "discovery", &text);
	if (rc == STORE_OK && text != NULL)
		rc = caldav_cache_decode(text, cd->acct, &at, &cd->cals,
		    &cd->ncals) == 0 ? STORE_OK : STORE_NOTFOUND;
	else if (rc == STORE_OK)
		rc = STORE_NOTFOUND;
	free(text);
	if (rc != STORE_OK)
		return false;
	if (at > now || now - at >= cd->acct->rediscover) {
		cals_free(cd);
		return false;
	}
	cd->disc_at = at;
	cd->cached = true;
	log_debug("caldav account=%s: %zu calendars from the discovery of "
	    "%" PRId64 " s ago", cd->account, cd->ncals, now - at);
	return true;
}

/*
 * The calendars to sync: remembered ones unless fresh is asked, the
 * remembered discovery is a day old or the configuration changed.
 */
static enum connector_result
caldav_discover(struct caldav *cd, bool fresh)
{
	enum connector_result res;

	cals_free(cd);
	if (!fresh && caldav_cache_load(cd))
		return CONNECTOR_OK;
	res = caldav_discover_fresh(cd);
	if (res == CONNECTOR_OK && cd->ncals > 0)
		caldav_cache_save(cd, true);
	return res;
}

/*
 * Whether an answer about a calendar says the calendar is not where
 * discovery put it: gone (404, 410), forbidden now (403 to a request that
 * carried no sync-token), or redirected elsewhere.  Discovery is then done
 * again.
 */
static bool
caldav_moved(struct caldav *cd, const struct caldav_cal *cal,
    const struct caldav_reply *r, bool tokenless)
{
	bool moved = r->code == 404 || r->code == 410 ||
	    (r->code == 403 && tokenless) || (r->code >= 300 && r->code < 400) ||
	    (r->url != NULL && strcmp(r->url, cal->url) != 0);

	if (moved && !cd->stale)
		log_notice("caldav account=%s calendar=%s: HTTP %ld at %s: "
		    "calendar moved or gone, discovering again", cd->account,
		    cal->name, r->code, r->url ? r->url : cal->url);
	if (moved)
		cd->stale = true;
	return moved;
}

/* ------------------------------------------------------------- storing */

static int
caldav_add_name(void *arg, int64_t id, const char *name)
{
	caldav_linker_add_name(arg, id, name);
	return 0;
}

static struct caldav_linker *
caldav_linker(struct caldav *cd)
{
	if (cd->cl != NULL)
		return cd->cl;
	cd->cl = caldav_linker_new(cd->lk, &cd->lu);
	if (store_event_customer_names(cd->ctx->store,
	    caldav_add_name, cd->cl) != STORE_OK)
		log_warnx("caldav account=%s: customer names: %s",
		    cd->account, store_errmsg(cd->ctx->store));
	caldav_linker_index(cd->cl);
	return cd->cl;
}

/* One resource expanded: its occurrences, or why it is skipped. */
struct xres {
	struct event_list	list;
	int			rc;	/* ical_expand's: < 0 skipped */
	char			err[256];
};

static void
xres_fill(struct xres *x, const struct dav_response *resp, int64_t from,
    int64_t to, const char *tz)
{
	memset(x, 0, sizeof(*x));
	if (resp->calendar_data == NULL) {
		x->rc = -1;
		return;
	}
	x->rc = ical_expand(resp->calendar_data, resp->calendar_data_len,
	    from, to, tz, &x->list, x->err, sizeof(x->err));
}

/*
 * The listing's own data expanded on a thread of its own, at most
 * XPAND_AHEAD resources ahead of the main thread, which links and stores
 * them meanwhile.  libical's parse and expansion were a third of an
 * initial sync's CPU and SQLite most of the rest; one after the other
 * they left the second CPU idle.  The thread reads only v[] (the main
 * thread frees a response once it is stored), from, to and tz, and
 * fills slot i % XPAND_AHEAD before it says so in done, once the main
 * thread released what the slot held; nothing else uses libical until
 * it is joined.  The lead lets it work on through a commit.
 */
#define XPAND_AHEAD	256

struct xpand {
	const struct dav_response *v;
	size_t		 n;
	struct xres	*out;		/* XPAND_AHEAD slots */
	int64_t		 from, to;
	const char	*tz;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	size_t		 done;		/* resources [0, done) expanded */
	size_t		 used;		/* [0, used) stored, slots free */
	bool		 stop;
	bool		 running;
	pthread_t	 th;
};

static void *
xpand_main(void *arg)
{
	struct xpand *x = arg;
	bool stop = false;

	for (size_t i = 0; i < x->n && !stop; i++) {
		pthread_mutex_lock(&x->mu);
		while (!x->stop && i >= x->used + XPAND_AHEAD)
			pthread_cond_wait(&x->cv, &x->mu);
		stop = x->stop;
		pthread_mutex_unlock(&x->mu);
		if (stop)
			break;
		xres_fill(&x->out[i % XPAND_AHEAD], &x->v[i], x->from, x->to,
		    x->tz);
		pthread_mutex_lock(&x->mu);
		x->done = i + 1;
		pthread_cond_broadcast(&x->cv);
		pthread_mutex_unlock(&x->mu);
	}
	return NULL;
}

static void
xpand_start(struct xpand *x, const struct caldav *cd,
    const struct dav_response *v, size_t n)
{
	memset(x, 0, sizeof(*x));
	x->v = v;
	x->n = n;
	x->out = xcalloc(XPAND_AHEAD, sizeof(*x->out));
	x->from = cd->from;
	x->to = cd->to;
	x->tz = cd->tz;
	pthread_mutex_init(&x->mu, NULL);
	pthread_cond_init(&x->cv, NULL);
	/* Without a thread, each is expanded when it is taken. */
	x->running = pthread_create(&x->th, NULL, xpand_main, x) == 0;
}

/* Resource i's expansion, once there; xpand_release(x, i) when done
 * with it. */
static struct xres *
xpand_take(struct xpand *x, size_t i)
{
	struct xres *slot = &x->out[i % XPAND_AHEAD];

	if (!x->running) {
		xres_fill(slot, &x->v[i], x->from, x->to, x->tz);
		return slot;
	}
	pthread_mutex_lock(&x->mu);
	while (x->done <= i)
		pthread_cond_wait(&x->cv, &x->mu);
	pthread_mutex_unlock(&x->mu);
	return slot;
}

/* Resource i is stored: its slot's list is freed, the slot reusable. */
static void
xpand_release(struct xpand *x, size_t i)
{
	event_list_free(&x->out[i % XPAND_AHEAD].list);
	if (!x->running) {
		x->used = i + 1;
		return;
	}
	pthread_mutex_lock(&x->mu);
	x->used = i + 1;
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
}

static void
xpand_stop(struct xpand *x)
{
	if (x->running) {
		pthread_mutex_lock(&x->mu);
		x->stop = true;
		pthread_cond_broadcast(&x->cv);
		pthread_mutex_unlock(&x->mu);
		pthread_join(x->th, NULL);
	}
	for (size_t i = 0; i < XPAND_AHEAD; i++)
		event_list_free(&x->out[i].list);
	free(x->out);
	pthread_cond_destroy(&x->cv);
	pthread_mutex_destroy(&x->mu);
}

/* Links and stores one expanded resource; a broken one is skipped. */
static int
caldav_store_expanded(struct caldav *cd, const struct caldav_cal *cal,
    const struct dav_response *resp, const char *etag, const struct xres *x)
{
	const struct event_list *list = &x->list;
	struct store_event_occ *occ;
	struct caldav_links *links;
	int rc;

	if (x->rc < 0) {
		log_warnx("caldav account=%s calendar=%s href=%s: skipped: %s",
		    cd->account, cal->name, resp->href, x->err);
		return STORE_OK;
	}
	occ = xcalloc(list->n ? list->n : 1, sizeof(*occ));
	links = xcalloc(list->n ? list->n : 1, sizeof(*links));
	for (size_t i = 0; i < list->n; i++) {
		caldav_link_event(caldav_linker(cd), &list->v[i], &links[i]);
		occ[i] = (struct store_event_occ){ &list->v[i], links[i].v,
		    links[i].n };
	}
	rc = store_event_put(cd->ctx->store, cd->account, cal->href,
	    resp->href, etag, occ, list->n);
	if (rc != STORE_OK)
		log_warnx("caldav account=%s calendar=%s href=%s: %s",
		    cd->account, cal->name, resp->href,
		    store_errmsg(cd->ctx->store));
	else	/* never fails the sync: logs and undoes */
		referral_ingest_events(cd->ri, cd->account, cal->href, list);
	for (size_t i = 0; i < list->n; i++)
		caldav_links_free(&links[i]);
	free(links);
	free(occ);
	return rc;
}

/* Expands (here, or taken from xp's thread at index at), links and
 * stores one resource. */
static int
caldav_store_resource(struct caldav *cd, const struct caldav_cal *cal,
    const struct dav_response *resp, struct xpand *xp, size_t at)
{
	struct xres own;
	int rc;

	if (xp != NULL) {
		rc = caldav_store_expanded(cd, cal, resp, resp->etag,
		    xpand_take(xp, at));
		xpand_release(xp, at);
		return rc;
	}
	xres_fill(&own, resp, cd->from, cd->to, cd->tz);
	rc = caldav_store_expanded(cd, cal, resp, resp->etag, &own);
	event_list_free(&own.list);
	return rc;
}

static int
caldav_store_gone(struct caldav *cd, const struct caldav_cal *cal,
    const char *href)
{
	int64_t n;
	int rc = store_event_delete_href(cd->ctx->store, cd->account,
	    cal->href, href, &n);

	if (rc == STORE_OK)
		log_trace(TRACE_CALDAV, "caldav account=%s calendar=%s "
		    "href=%s: removed (%lld occurrences)", cd->account,
		    cal->name, href, (long long)n);
	return rc;
}

/* The multiget answer of one batch, stored (inside the transaction);
 * with xp, the listing's own data from at on, expanded there. */
static int
caldav_store_batch(struct caldav *cd, const struct caldav_cal *cal,
    const struct dav_multistatus *ms, struct xpand *xp, size_t at)
{
	const struct dav_response *resp;
	int rc = STORE_OK;

	for (size_t i = 0; i < ms->n && rc == STORE_OK; i++) {
		resp = &ms->v[i];
		if (resp->status == 404 ||
		    resp->prop_status[DAV_PROP_CALENDAR_DATA] == 404)
			rc = caldav_store_gone(cd, cal, resp->href);
		else if (resp->calendar_data != NULL)
			rc = caldav_store_resource(cd, cal, resp, xp, at + i);
		else
			log_warnx("caldav account=%s calendar=%s href=%s: "
			    "skipped: no calendar-data (status %d)",
			    cd->account, cal->name, resp->href, resp->status);
	}
	return rc;
}

/*
 * What closes a listing, in the last transaction: the hrefs gone, the
 * stale ones of a full listing, the cursor.
 */
static int
caldav_store_tail(struct caldav *cd, const struct caldav_cal *cal,
    struct listing *l, struct known *k, const char *key, const char *cursor)
{
	int rc = STORE_OK;

	for (size_t i = 0; i < l->ngone && rc == STORE_OK; i++)
		rc = caldav_store_gone(cd, cal, l->gone[i]);
	if (l->full && rc == STORE_OK) {
		if (known_load(cd, cal, k) < 0)
			return STORE_ERROR;
		if (l->nseen > 0)
			qsort(l->seen, l->nseen, sizeof(*l->seen), str_cmp);
		for (size_t i = 0; i < k->n && rc == STORE_OK; i++)
			if (l->nseen == 0 || !bsearch(&k->href[i], l->seen, l->nseen,
			    sizeof(*l->seen), str_cmp))
				rc = caldav_store_gone(cd, cal, k->href[i]);
	}
	if (rc == STORE_OK && cursor != NULL)
		rc = store_cursor_set(cd->ctx->store, "caldav", cd->account,
		    cal->href, key, cursor);
	if (rc == STORE_OK && l->window != NULL)
		rc = store_cursor_set(cd->ctx->store, "caldav", cd->account,
		    cal->href, "window", l->window);
	if (rc == STORE_OK && cursor != NULL && l->lastmod != NULL)
		rc = store_cursor_set(cd->ctx->store, "caldav", cd->account,
		    cal->href, "lastmod", l->lastmod);
	return rc;
}

/*
 * One calendar-multiget, run on a thread of its own so that the server
 * answers (and we parse) the next batch while this one is being stored:
 * the two used to take turns.  While it runs, the thread has cd->http to
 * itself and reads only cd->account; everything else of cd stays the
 * main thread's, and the answer's status is judged after the join.
 */
struct mget {
	struct caldav		*cd;
	const struct caldav_cal	*cal;
	char *const		*hrefs;
	size_t			 n;
	struct caldav_reply	 r;	/* status and URL; body dropped */
	struct dav_multistatus	 ms;
	enum connector_result	 res;
	pthread_t		 th;
	bool			 running;
};

static void *
mget_main(void *arg)
{
	struct mget *m = arg;
	char *body = dav_xml_multiget((const char *const *)m->hrefs, m->n);

	m->res = caldav_req(m->cd, "REPORT", m->cal->url, "1", body, &m->r);
	free(body);
	if (m->res == CONNECTOR_OK &&
	    caldav_parse(m->cd, &m->r, "calendar-multiget", &m->ms) < 0)
		m->res = CONNECTOR_RETRY;
	strbuf_free(&m->r.body);
	return NULL;
}

static void
mget_start(struct mget *m, struct caldav *cd, const struct caldav_cal *cal,
    char *const *hrefs, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->cd = cd;
	m->cal = cal;
	m->hrefs = hrefs;
	m->n = n;
	m->res = CONNECTOR_OK;
	if (n == 0)
		return;
	/* Without a thread, the same work in turn. */
	if (pthread_create(&m->th, NULL, mget_main, m) == 0)
		m->running = true;
	else
		mget_main(m);
}

/* The answer of mget_start's request, in *ms (the caller's to free). */
static enum connector_result
mget_finish(struct mget *m, struct dav_multistatus *ms)
{
	if (m->running)
		pthread_join(m->th, NULL);
	m->running = false;
	if (m->n > 0 && m->r.code != 0)
		caldav_moved(m->cd, m->cal, &m->r, true);
	caldav_reply_free(&m->r);
	*ms = m->ms;
	memset(&m->ms, 0, sizeof(m->ms));
	return m->res;
}

/* A request in flight whose answer is no longer wanted. */
static void
mget_abandon(struct mget *m)
{
	struct dav_multistatus ms;

	mget_finish(m, &ms);
	dav_multistatus_free(&ms);
}

static enum connector_result
caldav_commit(struct caldav *cd, const struct caldav_cal *cal, int rc)
{
	struct store *st = cd->ctx->store;

	if (rc == STORE_OK && store_commit(st) == STORE_OK)
		return CONNECTOR_OK;
	log_warnx("caldav account=%s calendar=%s: %s", cd->account, cal->name,
	    store_errmsg(st));
	store_rollback(st);
	return CONNECTOR_RETRY;
}

/*
 * Fetches what the listing asks for, CALDAV_MULTIGET_BATCH resources per
 * request and transaction; the last one also carries the tail.
 */
static size_t
batch_at(const struct listing *l, size_t at)
{
	size_t n = l->nfetch - at;

	return n > CALDAV_MULTIGET_BATCH ? CALDAV_MULTIGET_BATCH : n;
}

/* One batch's answer (and, with the last, the tail) in one transaction. */
static enum connector_result
caldav_apply_batch(struct caldav *cd, const struct caldav_cal *cal,
    const struct dav_multistatus *ms, struct xpand *xp, size_t at, bool last,
    struct listing *l, struct known *k, const char *key, const char *cursor)
{
	int rc;

	if (store_begin(cd->ctx->store) != STORE_OK)
		return caldav_commit(cd, cal, STORE_ERROR);
	rc = caldav_store_batch(cd, cal, ms, xp, at);
	if (rc == STORE_OK && last)
		rc = caldav_store_tail(cd, cal, l, k, key, cursor);
	return caldav_commit(cd, cal, rc);
}

/*
 * The resources whose data came with the listing, STORE_BATCH per
 * transaction; each batch's text is freed once stored.  The last batch
 * carries the tail when nothing is left to fetch.
 */
static enum connector_result
caldav_apply_have(struct caldav *cd, const struct caldav_cal *cal,
    struct listing *l, struct known *k, const char *key, const char *cursor)
{
	struct dav_multistatus part = { 0 };
	enum connector_result res = CONNECTOR_OK;
	struct xpand xp;
	size_t n;

	xpand_start(&xp, cd, l->have, l->nhave);
	for (size_t at = 0; at < l->nhave && res == CONNECTOR_OK; at += n) {
		n = l->nhave - at;
		if (n > STORE_BATCH)
			n = STORE_BATCH;
		part.v = l->have + at;
		part.n = n;
		res = caldav_apply_batch(cd, cal, &part, &xp, at,
		    at + n == l->nhave && l->nfetch == 0, l, k, key, cursor);
		/* Only what was stored: the thread may be reading the rest. */
		for (size_t i = at; i < at + n && i < xp.used; i++)
			dav_response_free(&l->have[i]);
		if (res == CONNECTOR_OK)
			caldav_status(cd, "calendar %s: %zu of %zu", cal->name,
			    at + n, l->nhave + l->nfetch);
		if (res == CONNECTOR_OK && connector_stopping(cd->ctx))
			res = CONNECTOR_RETRY;
	}
	xpand_stop(&xp);
	return res;
}

static enum connector_result
caldav_apply(struct caldav *cd, const struct caldav_cal *cal,
    struct listing *l, struct known *k, const char *key, const char *cursor)
{
	struct dav_multistatus ms;
	struct mget m;
	enum connector_result res;
	size_t at = 0, n = batch_at(l, 0), next;

	/* The first multiget runs while the listing's own data is stored. */
	mget_start(&m, cd, cal, l->fetch, n);
	if (l->nhave > 0) {
		res = caldav_apply_have(cd, cal, l, k, key, cursor);
		if (res != CONNECTOR_OK || l->nfetch == 0) {
			mget_abandon(&m);
			return res;
		}
	}
	do {
		if ((res = mget_finish(&m, &ms)) != CONNECTOR_OK) {
			dav_multistatus_free(&ms);
			return res;
		}
		next = at + n;
		n = batch_at(l, next);
		mget_start(&m, cd, cal, l->fetch + next, n);
		res = caldav_apply_batch(cd, cal, &ms, NULL, 0,
		    next == l->nfetch, l, k, key, cursor);
		dav_multistatus_free(&ms);
		at = next;
		if (res == CONNECTOR_OK && l->nfetch > 0)
			caldav_status(cd, "calendar %s: %zu of %zu", cal->name,
			    l->nhave + at, l->nhave + l->nfetch);
		if (res == CONNECTOR_OK && connector_stopping(cd->ctx))
			res = CONNECTOR_RETRY;
		if (res != CONNECTOR_OK) {
			mget_abandon(&m);
			return res;
		}
	} while (at < l->nfetch);
	mget_abandon(&m);	/* started for nothing: n == 0 */
	return CONNECTOR_OK;
}

/*
 * Sorts a listing's members into have (changed, with their data: moved
 * out of ms), fetch, gone and seen.
 */
static int
caldav_listing(struct caldav *cd, const struct caldav_cal *cal,
    struct dav_multistatus *ms, struct known *k, struct listing *l)
{
	struct dav_response *resp;
	const char *etag;
	bool found;

	for (size_t i = 0; i < ms->n; i++) {
		resp = &ms->v[i];
		/* The collection itself, or a sub-collection. */
		if (strcmp(resp->href, cal->href) == 0 || resp->is_collection ||
		    resp->href[0] == '\0' ||
		    resp->href[strlen(resp->href) - 1] == '/')
			continue;
		if (resp->status == 404) {
			strv_push(&l->gone, &l->ngone, resp->href);
			continue;
		}
		if (l->full)
			strv_push(&l->seen, &l->nseen, resp->href);
		if (known_load(cd, cal, k) < 0)
			return -1;
		etag = known_etag(k, resp->href, &found);
		if (found && etag != NULL && resp->etag != NULL &&
		    strcmp(etag, resp->etag) == 0)
			continue;
		if (resp->calendar_data == NULL) {
			strv_push(&l->fetch, &l->nfetch, resp->href);
			continue;
		}
		if (l->nhave == l->caphave) {
			l->caphave = l->caphave ? l->caphave * 2 : 64;
			l->have = xreallocarray(l->have, l->caphave,
			    sizeof(*l->have));
		}
		l->have[l->nhave++] = *resp;
		memset(resp, 0, sizeof(*resp));
	}
	return 0;
}

/* ------------------------------------------------------------- window */

static bool
listed(const struct listing *l, const char *href)
{
	for (size_t i = 0; i < l->nfetch; i++)
		if (strcmp(l->fetch[i], href) == 0)
			return true;
	return false;
}

/* Every stored resource again: for a server that cannot say which
 * resources have occurrences in a time range. */
static int
window_refetch_all(struct caldav *cd, const struct caldav_cal *cal,
    struct known *k, struct listing *l)
{
	if (known_load(cd, cal, k) < 0)
		return -1;
	for (size_t i = 0; i < k->n; i++)
		if (!listed(l, k->href[i]))
			strv_push(&l->fetch, &l->nfetch, k->href[i]);
	return 0;
}

/*
 * The resources with an occurrence in [from, to) (the server expands
 * recurrences for a time-range query) join the fetch list: read again,
 * they are expanded over the moved window.
 */
static enum connector_result
window_query(struct caldav *cd, const struct caldav_cal *cal, int64_t from,
    int64_t to, struct known *k, struct listing *l)
{
	struct caldav_reply r;
	struct dav_multistatus ms;
	enum connector_result res;
	const struct dav_response *resp;
	char *body = dav_xml_query_etags(from, to);
	int rc;

	res = caldav_req(cd, "REPORT", cal->url, "1", body, &r);
	free(body);
	if (res != CONNECTOR_OK)
		return res;
	if (caldav_moved(cd, cal, &r, false)) {
		caldav_reply_free(&r);
		return CONNECTOR_RETRY;
	}
	if (r.code != 207) {
		log_notice("caldav account=%s calendar=%s: time-range query: "
		    "HTTP %ld; every event read again for the moved window",
		    cd->account, cal->name, r.code);
		caldav_reply_free(&r);
		return window_refetch_all(cd, cal, k, l) < 0 ?
		    CONNECTOR_RETRY : CONNECTOR_OK;
	}
	rc = caldav_parse(cd, &r, "time-range query", &ms);
	caldav_reply_free(&r);
	if (rc < 0)
		return CONNECTOR_RETRY;
	for (size_t i = 0; i < ms.n; i++) {
		resp = &ms.v[i];
		if (resp->status == 404 || resp->is_collection ||
		    resp->href[0] == '\0' ||
		    resp->href[strlen(resp->href) - 1] == '/' ||
		    listed(l, resp->href))
			continue;
		strv_push(&l->fetch, &l->nfetch, resp->href);
	}
	dav_multistatus_free(&ms);
	return CONNECTOR_OK;
}

/*
 * The calendar's events were expanded up to the window cursor's end; when
 * the window has moved on by WINDOW_STEP or more, what it gained is asked
 * for, and the new end is written with the listing's cursor (l->window).
 * The first sync only records its window.
 */
static enum connector_result
caldav_window(struct caldav *cd, const struct caldav_cal *cal,
    struct known *k, struct listing *l)
{
	enum connector_result res = CONNECTOR_OK;
	char *old = NULL, *end;
	long long prev = 0;
	int rc;

	rc = store_cursor_get(cd->ctx->store, "caldav", cd->account,
	    cal->href, "window", &old);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		log_warnx("caldav account=%s: %s", cd->account,
		    store_errmsg(cd->ctx->store));
		return CONNECTOR_RETRY;
	}
	if (old != NULL) {
		prev = strtoll(old, &end, 10);
		if (*old == '\0' || *end != '\0')
			prev = 0;
	}
	free(old);
	if (prev != 0 && cd->to - prev < WINDOW_STEP &&
	    prev - cd->to < WINDOW_STEP)
		return CONNECTOR_OK;
	if (prev != 0 && cd->to > prev) {
		log_debug("caldav account=%s calendar=%s: window moved by %lld "
		    "s", cd->account, cal->name, (long long)(cd->to - prev));
		res = window_query(cd, cal, prev, cd->to, k, l);
	}
	if (res == CONNECTOR_OK)
		xasprintf(&l->window, "%lld", (long long)cd->to);
	return res;
}

/* ------------------------------------------------------ sync-collection */

/* RFC 6578 §3.2: a rejected token is 403/409 valid-sync-token; some
 * servers answer 5xx instead. */
static bool
token_rejected(long code)
{
	return code == 403 || code == 409 || code >= 500;
}

/* Applies a 507-truncated part: its changes and its token, not yet the
 * stale check of a full listing (that waits for the last part). */
static enum connector_result
caldav_apply_part(struct caldav *cd, const struct caldav_cal *cal,
    struct listing *l, struct known *k, const char *token)
{
	bool full = l->full;
	enum connector_result res;

	l->full = false;
	res = caldav_apply(cd, cal, l, k, "sync-token", token);
	l->full = full;
	listing_have_free(l);
	strv_free(l->fetch, l->nfetch);
	strv_free(l->gone, l->ngone);
	l->fetch = l->gone = NULL;
	l->nfetch = l->ngone = 0;
	return res;
}

/*
 * One REPORT: the listing grows, *token becomes the answer's.  It asks
 * for calendar-data too (RFC 6578 allows any property): a server that
 * sends it spares us a multiget per hundred changed resources — against
 * Radicale 3.1 at 10,000 events, 1 s more for the listing instead of 100
 * multigets (5 s and more).  Hrefs that come without it are fetched by
 * multiget as before.  The price: a refused token's full listing carries
 * every resource's text, not only the changed ones'.
 */
static enum connector_result
caldav_sync_round(struct caldav *cd, const struct caldav_cal *cal,
    struct listing *l, struct known *k, char **token, bool *truncated)
{
	struct caldav_reply r;
	struct dav_multistatus ms;
	enum connector_result res;
	char *body = dav_xml_sync_collection(*token, true);
	int rc, fd = caldav_tmpfile();

	*truncated = false;
	res = caldav_req_to(cd, "REPORT", cal->url, "0", body, fd, &r);
	free(body);
	if (res != CONNECTOR_OK) {
		if (fd >= 0)
			close(fd);
		return res;
	}
	caldav_moved(cd, cal, &r, *token == NULL || **token == '\0');
	if (!l->full && token_rejected(r.code)) {
		log_notice("caldav account=%s calendar=%s: sync-token refused "
		    "(HTTP %ld): full listing", cd->account, cal->name, r.code);
		caldav_reply_free(&r);
		if (fd >= 0)
			close(fd);
		free(*token);
		*token = NULL;
		listing_free(l);
		l->full = true;
		*truncated = true;	/* ask again */
		return CONNECTOR_OK;
	}
	rc = caldav_parse_from(cd, &r, fd, "sync-collection", &ms);
	caldav_reply_free(&r);
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		return CONNECTOR_RETRY;
	rc = caldav_listing(cd, cal, &ms, k, l);
	free(*token);
	*token = xstrdup_or_null(ms.sync_token);
	*truncated = ms.truncated;
	dav_multistatus_free(&ms);
	if (rc < 0)
		return CONNECTOR_RETRY;
	if (*truncated)
		return caldav_apply_part(cd, cal, l, k, *token);
	return CONNECTOR_OK;
}

/* ------------------------------------------ Radicale's getlastmodified */

static bool
token_is_radicale(const char *token)
{
	return token != NULL &&
	    strncmp(token, RADICALE_TOKEN, strlen(RADICALE_TOKEN)) == 0;
}

static int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The calendar's getlastmodified (UTC seconds) in *lm, or -1; *settled
 * when the server read it at least LASTMOD_MARGIN seconds after it.  A
 * server that does not answer it leaves the REPORT to judge; one that
 * says the calendar moved makes the pass find it again.
 */
static enum connector_result
caldav_lastmod(struct caldav *cd, const struct caldav_cal *cal, int64_t *lm,
    bool *settled)
{
	struct caldav_reply r;
	struct dav_multistatus ms;
	enum connector_result res;
	char *body = dav_xml_propfind_lastmod();
	int64_t t0 = monotonic_ms(), took;

	*lm = -1;
	*settled = false;
	res = caldav_req(cd, "PROPFIND", cal->url, "0", body, &r);
	free(body);
	took = (monotonic_ms() - t0 + 999) / 1000;
	if (res != CONNECTOR_OK)
		return res;
	/* A 403 here is a server that keeps the property to itself. */
	if (caldav_moved(cd, cal, &r, false)) {
		caldav_reply_free(&r);
		return CONNECTOR_RETRY;
	}
	if (caldav_parse(cd, &r, "PROPFIND getlastmodified", &ms) == 0) {
		for (size_t i = 0; i < ms.n && *lm < 0; i++)
			if (ms.v[i].lastmod != NULL)
				*lm = curl_getdate(ms.v[i].lastmod, NULL);
		dav_multistatus_free(&ms);
	}
	*settled = *lm >= 0 && r.date >= 0 &&
	    *lm + LASTMOD_MARGIN <= r.date - took;
	caldav_reply_free(&r);
	return CONNECTOR_OK;
}

/* Whether the stored "LASTMOD CHECKED-AT" vouches for lm now. */
static bool
lastmod_unchanged(const char *stored, int64_t lm)
{
	long long was, at;
	int64_t now = clock_now();

	if (lm < 0 || stored == NULL ||
	    sscanf(stored, "%lld %lld", &was, &at) != 2)
		return false;
	return was == lm && at <= now && now - at < LASTMOD_TRUST;
}

static enum connector_result
caldav_sync_collection(struct caldav *cd, const struct caldav_cal *cal)
{
	struct store *st = cd->ctx->store;
	struct listing l = { 0 };
	struct known k = { 0 };
	enum connector_result res = CONNECTOR_OK;
	char *token = NULL, *old = NULL, *oldlm = NULL;
	bool again = true, settled = false, unchanged = false;
	int64_t lm = -1;
	int rc;

	rc = store_cursor_get(st, "caldav", cd->account, cal->href,
	    "sync-token", &old);
	if (rc == STORE_OK || rc == STORE_NOTFOUND)
		rc = store_cursor_get(st, "caldav", cd->account, cal->href,
		    "lastmod", &oldlm);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		log_warnx("caldav account=%s: %s", cd->account,
		    store_errmsg(st));
		free(old);
		return CONNECTOR_RETRY;
	}
	token = xstrdup_or_null(old);
	l.full = token == NULL || *token == '\0';
	/* The first listing asks too: the server may turn out Radicale. */
	if (l.full || token_is_radicale(token)) {
		res = caldav_lastmod(cd, cal, &lm, &settled);
		if (res != CONNECTOR_OK)
			goto out;
		unchanged = !l.full && lastmod_unchanged(oldlm, lm);
	}
	for (int round = 0; !unchanged && again && res == CONNECTOR_OK;
	    round++) {
		if (round == SYNC_ROUNDS_MAX) {
			log_warnx("caldav account=%s calendar=%s: still "
			    "truncated after %d rounds", cd->account,
			    cal->name, round);
			res = CONNECTOR_RETRY;
			break;
		}
		res = caldav_sync_round(cd, cal, &l, &k, &token, &again);
	}
	if (res == CONNECTOR_OK)
		res = caldav_window(cd, cal, &k, &l);
	if (unchanged) {
		/* Only a moved window has anything to write. */
		if (res == CONNECTOR_OK && l.window != NULL)
			res = caldav_apply(cd, cal, &l, &k, "sync-token", token);
		goto out;
	}
	if (res == CONNECTOR_OK && token_is_radicale(token) && settled)
		xasprintf(&l.lastmod, "%lld %lld", (long long)lm,
		    (long long)clock_now());
	else if (res == CONNECTOR_OK && token_is_radicale(token))
		l.lastmod = xstrdup("");
	/* Nothing changed: no write at all. */
	if (res == CONNECTOR_OK && (l.full || l.nhave > 0 || l.nfetch > 0 ||
	    l.ngone > 0 || l.window != NULL ||
	    old == NULL || token == NULL || strcmp(old, token) != 0 ||
	    (l.lastmod != NULL && (oldlm == NULL ||
	    strcmp(oldlm, l.lastmod) != 0))))
		res = caldav_apply(cd, cal, &l, &k, "sync-token", token);
out:
	free(token);
	free(old);
	free(oldlm);
	listing_free(&l);
	known_free(&k);
	return res;
}

/* ------------------------------------------------- ctag/etag fallback */

/* The calendar's ctag now: from discovery if the server volunteered it
 * (discovery does not ask: Radicale reads every file for it), else asked. */
static enum connector_result
caldav_ctag(struct caldav *cd, struct caldav_cal *cal, char **ctag)
{
	struct caldav_reply r;
	struct dav_multistatus ms;
	enum connector_result res;
	char *body;

	*ctag = NULL;
	if (cal->ctag != NULL) {
		*ctag = cal->ctag;
		cal->ctag = NULL;
		return CONNECTOR_OK;
	}
	body = dav_xml_propfind_ctag();
	res = caldav_req(cd, "PROPFIND", cal->url, "0", body, &r);
	free(body);
	if (res == CONNECTOR_OK)
		caldav_moved(cd, cal, &r, true);
	if (res == CONNECTOR_OK && caldav_parse(cd, &r, "PROPFIND", &ms) == 0) {
		for (size_t i = 0; i < ms.n && *ctag == NULL; i++)
			if (ms.v[i].ctag != NULL)
				*ctag = xstrdup(ms.v[i].ctag);
		dav_multistatus_free(&ms);
	}
	caldav_reply_free(&r);
	return res;
}

/* Every member with its etag: calendar-query, else PROPFIND Depth 1. */
static enum connector_result
caldav_etags(struct caldav *cd, const struct caldav_cal *cal,
    struct dav_multistatus *ms)
{
	struct caldav_reply r;
	enum connector_result res;
	char *body = dav_xml_query_etags(0, 0);

	res = caldav_req(cd, "REPORT", cal->url, "1", body, &r);
	free(body);
	if (res == CONNECTOR_OK && r.code != 207) {
		log_debug("caldav account=%s calendar=%s: calendar-query: "
		    "HTTP %ld, trying PROPFIND", cd->account, cal->name, r.code);
		caldav_reply_free(&r);
		res = caldav_req(cd, "PROPFIND", cal->url, "1", PROPFIND_ETAGS,
		    &r);
	}
	if (res == CONNECTOR_OK && caldav_parse(cd, &r, "etag listing", ms) < 0)
		res = CONNECTOR_RETRY;
	caldav_reply_free(&r);
	return res;
}

static enum connector_result
caldav_sync_ctag(struct caldav *cd, struct caldav_cal *cal)
{
	struct store *st = cd->ctx->store;
	struct dav_multistatus ms;
	struct listing l = { 0 };
	struct known k = { 0 };
	enum connector_result res;
	char *ctag = NULL, *old = NULL;
	int rc;

	if ((res = caldav_ctag(cd, cal, &ctag)) != CONNECTOR_OK)
		return res;
	rc = store_cursor_get(st, "caldav", cd->account, cal->href, "ctag",
	    &old);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		res = CONNECTOR_RETRY;
		goto out;
	}
	/* Unchanged: nothing to list, but the window may have moved. */
	l.full = ctag == NULL || old == NULL || strcmp(ctag, old) != 0;
	if (l.full && (res = caldav_etags(cd, cal, &ms)) == CONNECTOR_OK) {
		if (caldav_listing(cd, cal, &ms, &k, &l) < 0)
			res = CONNECTOR_RETRY;
		dav_multistatus_free(&ms);
	}
	if (res == CONNECTOR_OK)
		res = caldav_window(cd, cal, &k, &l);
	if (res == CONNECTOR_OK && (l.full || l.window != NULL))
		res = caldav_apply(cd, cal, &l, &k, "ctag", ctag);
out:
	free(ctag);
	free(old);
	listing_free(&l);
	known_free(&k);
	return res;
}

/* ---------------------------------------------------------------- pass */

static enum connector_result
caldav_sync_calendar(struct caldav *cd, struct caldav_cal *cal)
{
	log_debug("caldav account=%s calendar=%s: sync", cd->account,
	    cal->name);
	return cal->sync ? caldav_sync_collection(cd, cal) :
	    caldav_sync_ctag(cd, cal);
}

static enum connector_result
caldav_worse(enum connector_result a, enum connector_result b)
{
	if (a == CONNECTOR_FATAL || b == CONNECTOR_FATAL)
		return CONNECTOR_FATAL;
	return a == CONNECTOR_RETRY ? a : b;
}

/* Visit proposals, only after every calendar synced: what the user did
 * to earlier ones must be in the store first (caldav_visits.h). */
static enum connector_result
caldav_visits(struct caldav *cd)
{
	struct caldav_visits_cal *v;
	enum connector_result res;

	if (cd->acct->planning_calendar == NULL || cd->ncals == 0)
		return CONNECTOR_OK;
	v = xcalloc(cd->ncals, sizeof(*v));
	for (size_t i = 0; i < cd->ncals; i++)
		v[i] = (struct caldav_visits_cal){ cd->cals[i].href,
		    cd->cals[i].url, cd->cals[i].name };
	res = caldav_visits_step(cd->ctx, cd->http, v, cd->ncals);
	free(v);
	return res;
}

/* Every watched calendar once; one that fails does not stop the rest. */
static enum connector_result
caldav_sync_all(struct caldav *cd)
{
	enum connector_result res = CONNECTOR_OK, r;

	cd->stale = false;
	for (size_t i = 0; i < cd->ncals; i++) {
		r = caldav_sync_calendar(cd, &cd->cals[i]);
		res = caldav_worse(res, r);
		if (r == CONNECTOR_FATAL || connector_stopping(cd->ctx))
			break;
	}
	return res;
}

/*
 * A calendar that moved or went: the remembered discovery is dropped, and
 * if the calendars came from it, found again and synced once more.
 */
static enum connector_result
caldav_resync_moved(struct caldav *cd, enum connector_result res)
{
	bool cached = cd->cached;

	if (!cd->stale || res == CONNECTOR_FATAL ||
	    connector_stopping(cd->ctx))
		return res;
	caldav_cache_save(cd, false);
	if (!cached) {
		cd->disc_at = 0;	/* the next pass discovers */
		return res;
	}
	if ((res = caldav_discover(cd, true)) != CONNECTOR_OK)
		return res;
	return caldav_sync_all(cd);
}

static enum connector_result
caldav_pass(struct caldav *cd)
{
	enum connector_result res;
	int64_t now = clock_now();
	char err[256];

	if (caldav_http_login(cd->http, err, sizeof(err)) < 0) {
		log_warnx("caldav account=%s: %s", cd->account, err);
		return CONNECTOR_FATAL;
	}
	if ((now - cd->disc_at >= cd->acct->rediscover ||
	    now < cd->disc_at) &&
	    (res = caldav_discover(cd, true)) != CONNECTOR_OK)
		return res;
	cd->from = now - (int64_t)cd->acct->window_past * 86400;
	cd->to = now + (int64_t)cd->acct->window_future * 86400;
	res = caldav_resync_moved(cd, caldav_sync_all(cd));
	caldav_linker_free(cd->cl);
	cd->cl = NULL;
	if (res == CONNECTOR_OK)
		caldav_status(cd, "synced %zu calendars", cd->ncals);
	if (res == CONNECTOR_OK && !connector_stopping(cd->ctx))
		res = caldav_visits(cd);
	return res;
}

static struct caldav *
caldav_new(struct connector_ctx *ctx)
{
	struct caldav *cd = xcalloc(1, sizeof(*cd));

	cd->ctx = ctx;
	cd->acct = (const struct caldav_account *)ctx->ep;
	cd->account = ctx->ep->name;
	cd->http = caldav_http_new(ctx->ep, caldav_abort, ctx);
	cd->lk = linker_new(ctx->cfg);
	cd->ri = referral_ingest_new(ctx->store, ctx->cfg, cd->lk);
	store_message_lookup(ctx->store, &cd->lu);
	/* A calendar's first sync is a bulk insert into random places of
	 * the event, attendee and link indexes, like a mail ingest: with
	 * SQLite's default 2 MiB cache it re-read and spilled pages. */
	if (store_bulk_setup(ctx->store, STORE_MESSAGE_INGEST_CACHE_KIB) !=
	    STORE_OK)
		log_warnx("caldav account=%s: store setup: %s", cd->account,
		    store_errmsg(ctx->store));
	cd->tz = ctx->cfg->timezone ? ctx->cfg->timezone : "UTC";
	return cd;
}

static void
caldav_free(struct caldav *cd)
{
	cals_free(cd);
	caldav_linker_free(cd->cl);
	referral_ingest_free(cd->ri);
	linker_free(cd->lk);
	caldav_http_free(cd->http);
	free(cd);
}

static enum connector_result
caldav_start(struct caldav *cd)
{
	char err[256];

	if (cd->http == NULL) {
		log_warnx("caldav account=%s: cannot make a curl handle",
		    cd->account);
		return CONNECTOR_RETRY;
	}
	if (caldav_http_login(cd->http, err, sizeof(err)) < 0) {
		log_warnx("caldav account=%s: %s", cd->account, err);
		return CONNECTOR_FATAL;
	}
	return caldav_discover(cd, false);
}

static enum connector_result
caldav_once(struct connector_ctx *ctx)
{
	struct caldav *cd = caldav_new(ctx);
	enum connector_result res;

	res = caldav_start(cd);
	if (res == CONNECTOR_OK)
		res = caldav_pass(cd);
	log_info("caldav account=%s: %lu requests", cd->account,
	    cd->http ? caldav_http_count(cd->http) : 0ul);
	caldav_free(cd);
	return res;
}

static enum connector_result
caldav_run(struct connector_ctx *ctx)
{
	struct caldav *cd = caldav_new(ctx);
	enum connector_result res;
	int w;

	res = caldav_start(cd);
	while (res == CONNECTOR_OK && !connector_stopping(ctx)) {
		if ((res = caldav_pass(cd)) != CONNECTOR_OK)
			break;
		connector_healthy(ctx);
		w = connector_wait(ctx, -1, 0, cd->acct->poll * 1000);
		if (w == CONNECTOR_WAIT_ERROR)
			res = CONNECTOR_RETRY;
	}
	caldav_free(cd);
	return connector_stopping(ctx) ? CONNECTOR_OK : res;
}

const struct connector_ops caldav_connector = {
	.name = "caldav",
	.kind = "caldav",
	.run = caldav_run,
	.once = caldav_once,
};

int
caldav_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	dav_xml_init();
	return ical_init();
}

void
caldav_global_shutdown(void)
{
	ical_shutdown();
	dav_xml_shutdown();
	curl_global_cleanup();
}
