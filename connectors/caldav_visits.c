/*
 * Visit proposals on the planning calendar (caldav_visits.h).
 */
#include "caldav_visits.h"

#include <curl/curl.h>
#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "caldav_http.h"
#include "clock.h"
#include "config.h"
#include "dav_xml.h"
#include "ical_expand.h"
#include "linker.h"
#include "log.h"
#include "store.h"
#include "store_visit.h"
#include "visits.h"
#include "xmalloc.h"
#include "zone.h"

/* A visit needs notice: never proposed for less than a day ahead. */
#define VISITS_LEAD		86400
#define VISITS_ETAG_MAX		256
#define VISITS_ANSWER_MAX	65536	/* bytes of a PUT answer kept */
#define REREAD_SPAN		(3660 * (int64_t)86400)

/* An overdue customer waiting for a slot. */
struct vcand {
	struct visit_candidate	 c;
	char			*name;
	char			*company;
	char			*email;
	int64_t			 since;
	bool			 never;		/* last_visit is the creation */
	char			 period[16];
};

struct vstep {
	struct connector_ctx			*ctx;
	struct caldav_http			*http;
	const struct caldav_account		*acct;
	const char				*account;
	const struct caldav_visits_cal		*cals;
	size_t					 ncals;
	const struct caldav_visits_cal		*plan;	/* the planning calendar */
	const struct zone			*z;
	int64_t					 now;
	char					 domain[256];
	struct vcand				*cands;
	size_t					 ncands;
	struct visit_interval			*busy;
	size_t					 nbusy;
	struct visit_interval			*mine;	/* our live proposals */
	size_t					 nmine;
	size_t					 made, moved, deleted;
};

/* ---------------------------------------------------------------- util */

char *
caldav_visits_resource_name(const char *uid)
{
	size_t n = strlen(uid);
	char *out = xmalloc(n + 5);

	for (size_t i = 0; i < n; i++) {
		char c = uid[i];

		out[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ?
		    c : '_';
	}
	memcpy(out + n, ".ics", 5);
	return out;
}

static void
interval_push(struct visit_interval **v, size_t *n, int64_t start,
    int64_t end)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[*n].start = start;
	(*v)[*n].end = end > start ? end : start;
	(*n)++;
}

static void
local_date(const struct zone *z, int64_t t, char *buf, size_t len)
{
	struct local_time lt;

	zone_local(t, z, &lt);
	snprintf(buf, len, "%04d-%02d-%02d", lt.year, lt.month, lt.day);
}

/* The domain of [rapport] from names our UIDs (RFC 5545 §3.8.4.7). */
static void
from_domain(const char *from, char *out, size_t len)
{
	const char *at = from ? strrchr(from, '@') : NULL;
	size_t n;

	if (at == NULL) {
		snprintf(out, len, "rapport.invalid");
		return;
	}
	n = strcspn(at + 1, "> \t");
	snprintf(out, len, "%.*s", (int)n, at + 1);
}

static bool
cal_matches(const struct caldav_visits_cal *c, const char *want)
{
	const char *last;
	size_t len, wl = strlen(want);

	if (strcmp(c->name, want) == 0 || strcmp(c->href, want) == 0 ||
	    strcmp(c->url, want) == 0)
		return true;
	/* "visits" names /alice/visits/ too. */
	len = strlen(c->href);
	while (len > 0 && c->href[len - 1] == '/')
		len--;
	last = c->href;
	for (size_t i = 0; i < len; i++)
		if (c->href[i] == '/')
			last = c->href + i + 1;
	return (size_t)(c->href + len - last) == wl &&
	    strncmp(last, want, wl) == 0;
}

/* Whether href lies in one of the account's watched calendars: only
 * those proposals are this account's to reconcile. */
static bool
href_ours(const struct vstep *vs, const char *href)
{
	for (size_t i = 0; href != NULL && i < vs->ncals; i++)
		if (strncmp(href, vs->cals[i].href, strlen(vs->cals[i].href)) ==
		    0)
			return true;
	return false;
}

/* ---------------------------------------------- what the user did */

struct vrow {
	char	*uid;
	char	*href;
	char	*etag;
	int64_t	 start, end;
	bool	 moved;
};

struct vrows {
	struct vrow	*v;
	size_t		 n;
	struct vstep	*vs;
};

static int
collect_live(void *arg, const struct store_visit *v)
{
	struct vrows *rows = arg;
	struct vrow *r;

	if (strcmp(v->state, VISIT_STATE_DELETED) == 0 ||
	    !href_ours(rows->vs, v->href))
		return 0;
	rows->v = xreallocarray(rows->v, rows->n + 1, sizeof(*rows->v));
	r = &rows->v[rows->n++];
	r->uid = xstrdup(v->uid);
	r->href = xstrdup(v->href);
	r->etag = xstrdup_or_null(v->etag);
	r->start = v->start;
	r->end = v->end;
	r->moved = strcmp(v->state, VISIT_STATE_MOVED) == 0;
	return 0;
}

static void
vrows_free(struct vrows *rows)
{
	for (size_t i = 0; i < rows->n; i++) {
		free(rows->v[i].uid);
		free(rows->v[i].href);
		free(rows->v[i].etag);
	}
	free(rows->v);
}

/* One proposal against the synced calendars. */
static int
reconcile_one(struct vstep *vs, const struct vrow *r)
{
	struct store *st = vs->ctx->store;
	int64_t start, end;
	char *href, *etag;
	const char *state;
	int rc;

	rc = store_visit_event(st, vs->account, vs->plan->href, r->uid, &start,
	    &end, &href, &etag);
	if (rc == STORE_NOTFOUND) {
		/* Past the sync window a proposal is history, not deleted. */
		if (r->start < vs->now - (int64_t)vs->acct->window_past * 86400)
			return STORE_OK;
		log_info("caldav account=%s uid=%s: visit deleted by the user; "
		    "not proposed again for its period", vs->account, r->uid);
		vs->deleted++;
		return store_visit_update(st, r->uid, r->start, r->end, NULL,
		    NULL, VISIT_STATE_DELETED);
	}
	if (rc != STORE_OK)
		return rc;
	state = r->moved || start != r->start ? VISIT_STATE_MOVED :
	    VISIT_STATE_PROPOSED;
	if (start != r->start) {
		log_info("caldav account=%s uid=%s: visit moved by the user; "
		    "kept where it is", vs->account, r->uid);
		vs->moved++;
	}
	/* Written only when something changed: this runs every poll. */
	if (start != r->start || end != r->end || strcmp(href, r->href) != 0 ||
	    (etag != NULL && (r->etag == NULL || strcmp(etag, r->etag) != 0)))
		rc = store_visit_update(st, r->uid, start, end, etag, href,
		    state);
	if (rc == STORE_OK && (end > start ? end : start) > vs->now)
		interval_push(&vs->mine, &vs->nmine, start, end);
	free(href);
	free(etag);
	return rc;
}

static int
reconcile(struct vstep *vs)
{
	struct store *st = vs->ctx->store;
	struct vrows rows = { NULL, 0, vs };
	int rc;

	if ((rc = store_visit_foreach(st, collect_live, &rows)) != STORE_OK)
		goto out;
	if ((rc = store_begin(st)) != STORE_OK)
		goto out;
	for (size_t i = 0; i < rows.n && rc == STORE_OK; i++)
		rc = reconcile_one(vs, &rows.v[i]);
	if (rc == STORE_OK)
		rc = store_commit(st);
	if (rc != STORE_OK)
		store_rollback(st);
out:
	if (rc != STORE_OK)
		log_warnx("caldav account=%s: visit proposals: %s", vs->account,
		    store_errmsg(st));
	vrows_free(&rows);
	return rc;
}

/*
 * A PUT that succeeded just before a crash left an event no proposal
 * records; without its record a deletion by the user would go unseen and
 * the visit be proposed again.  Its UID says whose and which period.
 */
struct orphan {
	char	*uid, *href, *etag;
	int64_t	 start, end;
};

struct orphans {
	struct orphan	*v;
	size_t		 n;
};

static int
collect_orphan(void *arg, const char *uid, const char *href,
    const char *etag, int64_t start, int64_t end)
{
	struct orphans *os = arg;
	struct orphan *o;

	os->v = xreallocarray(os->v, os->n + 1, sizeof(*os->v));
	o = &os->v[os->n++];
	o->uid = xstrdup(uid);
	o->href = xstrdup(href);
	o->etag = xstrdup_or_null(etag);
	o->start = start;
	o->end = end;
	return 0;
}

static void
adopt_one(struct vstep *vs, const struct orphan *o)
{
	struct store_visit v = { .uid = o->uid, .href = o->href,
	    .etag = o->etag, .start = o->start, .end = o->end };
	struct customer c;
	long long id;
	char period[16];
	int n = 0;

	if (sscanf(o->uid, "rapport-visit-%lld-%15[0-9]@%n", &id, period,
	    &n) != 2 || n == 0 || store_customer_get(vs->ctx->store, id, &c) !=
	    STORE_OK)
		return;
	customer_clear(&c);
	v.customer_id = id;
	v.period = period;
	if (store_visit_add(vs->ctx->store, &v) == STORE_OK)
		log_info("caldav account=%s uid=%s: proposal found on the "
		    "calendar and recorded", vs->account, o->uid);
}

static int
adopt(struct vstep *vs)
{
	struct store *st = vs->ctx->store;
	struct orphans os = { NULL, 0 };
	int rc;

	rc = store_visit_orphans_foreach(st, vs->account, collect_orphan, &os);
	if (rc == STORE_OK && os.n > 0 && (rc = store_begin(st)) == STORE_OK) {
		for (size_t i = 0; i < os.n; i++)
			adopt_one(vs, &os.v[i]);
		if ((rc = store_commit(st)) != STORE_OK)
			store_rollback(st);
	}
	for (size_t i = 0; i < os.n; i++) {
		free(os.v[i].uid);
		free(os.v[i].href);
		free(os.v[i].etag);
	}
	free(os.v);
	return rc;
}

/* ------------------------------------------------------ who is due */

static int
collect_cand(void *arg, const struct store_visit_candidate *c)
{
	struct vstep *vs = arg;
	struct visit_candidate vc = { c->id, c->tier,
	    c->last_visit ? c->last_visit : c->created_at };
	struct vcand *vx;
	int64_t since;
	char period[16];
	int rc;

	if (c->do_not_contact || c->next_visit != 0 ||
	    !visits_overdue(&vs->ctx->cfg->visits, &vc, vs->now, &since))
		return 0;
	visits_period(since, vs->z, period, sizeof(period));
	rc = store_visit_get_period(vs->ctx->store, c->id, period);
	if (rc == STORE_OK)
		return 0;	/* proposed, moved or deleted: the user's call */
	if (rc != STORE_NOTFOUND)
		return 1;
	vs->cands = xreallocarray(vs->cands, vs->ncands + 1,
	    sizeof(*vs->cands));
	vx = &vs->cands[vs->ncands++];
	vx->c = vc;
	vx->name = xstrdup(c->name);
	vx->company = xstrdup_or_null(c->company);
	vx->email = xstrdup_or_null(c->email);
	vx->since = since;
	vx->never = c->last_visit == 0;
	memcpy(vx->period, period, sizeof(period));
	return 0;
}

static const struct vcand *
cand_of(const struct vstep *vs, int64_t id)
{
	for (size_t i = 0; i < vs->ncands; i++)
		if (vs->cands[i].c.customer_id == id)
			return &vs->cands[i];
	return NULL;
}

/* ------------------------------------------------------- busy times */

static char *
query_body(int64_t from, int64_t to)
{
	char a[32], b[32], *s;
	struct tm tm;
	time_t t;

	t = (time_t)from;
	gmtime_r(&t, &tm);
	strftime(a, sizeof(a), "%Y%m%dT%H%M%SZ", &tm);
	t = (time_t)to;
	gmtime_r(&t, &tm);
	strftime(b, sizeof(b), "%Y%m%dT%H%M%SZ", &tm);
	xasprintf(&s,
	    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<C:calendar-query xmlns:D=\"DAV:\" "
	    "xmlns:C=\"urn:ietf:params:xml:ns:caldav\">"
	    "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
	    "<C:filter><C:comp-filter name=\"VCALENDAR\">"
	    "<C:comp-filter name=\"VEVENT\">"
	    "<C:time-range start=\"%s\" end=\"%s\"/>"
	    "</C:comp-filter></C:comp-filter></C:filter>"
	    "</C:calendar-query>\n", a, b);
	return s;
}

static bool
declined_by_user(const struct linker *lk, const struct event *ev)
{
	for (size_t i = 0; i < ev->nattendees; i++)
		if (ev->attendees[i].partstat == EVENT_PART_DECLINED &&
		    linker_is_own(lk, ev->attendees[i].addr))
			return true;
	return false;
}

static void
busy_from(struct vstep *vs, const struct linker *lk,
    const struct dav_response *resp, int64_t from, int64_t to)
{
	struct event_list list = { NULL, 0, 0 };
	const struct event *ev;
	char err[256];

	if (ical_expand(resp->calendar_data, resp->calendar_data_len, from, to,
	    vs->ctx->cfg->timezone ? vs->ctx->cfg->timezone : "UTC", &list,
	    err, sizeof(err)) < 0) {
		log_debug("caldav account=%s href=%s: not read for busy "
		    "times: %s", vs->account, resp->href, err);
		return;
	}
	for (size_t i = 0; i < list.n; i++) {
		ev = &list.v[i];
		if (ev->transparent || ev->status == EVENT_CANCELLED ||
		    declined_by_user(lk, ev))
			continue;
		interval_push(&vs->busy, &vs->nbusy, ev->start, ev->end);
	}
	event_list_free(&list);
}

static enum connector_result
busy_calendar(struct vstep *vs, const struct linker *lk,
    const struct caldav_visits_cal *cal, int64_t from, int64_t to)
{
	struct caldav_reply r;
	struct dav_multistatus ms;
	char *body = query_body(from, to), err[CURL_ERROR_SIZE + 64];
	enum caldav_http_err e;
	int rc = -1;

	e = caldav_http_request(vs->http, "REPORT", cal->url, "1", body, &r,
	    err, sizeof(err));
	free(body);
	if (e == CALDAV_HTTP_OK && r.code == 207)
		rc = dav_xml_parse(strbuf_str(&r.body), r.body.len, &ms, err,
		    sizeof(err));
	else if (e == CALDAV_HTTP_OK)
		snprintf(err, sizeof(err), "HTTP %ld", r.code);
	caldav_reply_free(&r);
	if (rc < 0) {
		log_warnx("caldav account=%s calendar=%s: busy times: %s; no "
		    "visit proposed", vs->account, cal->name, err);
		return CONNECTOR_RETRY;
	}
	for (size_t i = 0; i < ms.n; i++)
		if (ms.v[i].calendar_data != NULL)
			busy_from(vs, lk, &ms.v[i], from, to);
	dav_multistatus_free(&ms);
	return CONNECTOR_OK;
}

static enum connector_result
busy_times(struct vstep *vs)
{
	struct linker *lk = linker_new(vs->ctx->cfg);
	int64_t from = vs->now;
	int64_t to = vs->now + ((int64_t)vs->ctx->cfg->visits.horizon + 2) *
	    86400;
	enum connector_result res = CONNECTOR_OK;

	for (size_t i = 0; i < vs->ncals && res == CONNECTOR_OK; i++)
		res = busy_calendar(vs, lk, &vs->cals[i], from, to);
	for (size_t i = 0; i < vs->nmine; i++)
		interval_push(&vs->busy, &vs->nbusy, vs->mine[i].start,
		    vs->mine[i].end);
	linker_free(lk);
	return res;
}

/* ------------------------------------------------------ the event */

static void
add_x(icalcomponent *ev, const char *name, const char *value)
{
	icalproperty *p = icalproperty_new_x(value);

	icalproperty_set_x_name(p, name);
	icalcomponent_add_property(ev, p);
}

static struct icaltimetype
utc_time(int64_t t)
{
	return icaltime_from_timet_with_zone((time_t)t, 0,
	    icaltimezone_get_utc_timezone());
}

/* Why this visit: read by the user in their calendar app.  The address
 * goes here, not into an ATTENDEE, which some servers would mail. */
static char *
description(const struct vstep *vs, const struct vcand *c)
{
	char last[16], since[16];
	int days = vs->ctx->cfg->visits.cadence_days[c->c.tier - 'A'];
	char *s;

	local_date(vs->z, c->c.last_visit, last, sizeof(last));
	local_date(vs->z, c->since, since, sizeof(since));
	xasprintf(&s, "Proposed by rapport: %s (tier %c, a visit every %d "
	    "days) was %s %s; a visit is due since %s.\n"
	    "%s%s%s"
	    "Move this event to a time that suits you, or delete it to skip "
	    "this visit.", c->name, c->c.tier, days,
	    c->never ? "never visited, customer since" :
	    "last visited on", last, since,
	    c->email ? "Contact: " : "", c->email ? c->email : "",
	    c->email ? "\n" : "");
	return s;
}

static char *
visit_ics(const struct vstep *vs, const struct vcand *c, const char *uid,
    const struct visit_proposal *p)
{
	icalcomponent *cal, *ev;
	char *summary, *desc, *text, *out;

	cal = icalcomponent_vanew(ICAL_VCALENDAR_COMPONENT,
	    icalproperty_new_version("2.0"),
	    icalproperty_new_prodid("-//rapport//visit planning//EN"),
	    (void *)0);
	ev = icalcomponent_new_vevent();
	xasprintf(&summary, "Visit: %s", c->name);
	desc = description(vs, c);
	icalcomponent_add_property(ev, icalproperty_new_uid(uid));
	icalcomponent_add_property(ev,
	    icalproperty_new_dtstamp(utc_time(vs->now)));
	icalcomponent_add_property(ev,
	    icalproperty_new_dtstart(utc_time(p->start)));
	icalcomponent_add_property(ev, icalproperty_new_dtend(utc_time(p->end)));
	icalcomponent_add_property(ev, icalproperty_new_summary(summary));
	if (c->company != NULL && *c->company != '\0')
		icalcomponent_add_property(ev,
		    icalproperty_new_location(c->company));
	icalcomponent_add_property(ev, icalproperty_new_description(desc));
	icalcomponent_add_property(ev,
	    icalproperty_new_status(ICAL_STATUS_TENTATIVE));
	icalcomponent_add_property(ev,
	    icalproperty_new_transp(ICAL_TRANSP_OPAQUE));
	xasprintf(&text, "%lld", (long long)c->c.customer_id);
	add_x(ev, "X-RAPPORT-CUSTOMER", text);
	add_x(ev, "X-RAPPORT-PERIOD", c->period);
	icalcomponent_add_component(cal, ev);
	out = icalcomponent_as_ical_string_r(cal);
	icalcomponent_free(cal);
	free(text);
	free(desc);
	free(summary);
	return out;
}

/* ------------------------------------------------------ conditional PUT */

struct put_reply {
	long	code;
	char	etag[VISITS_ETAG_MAX];
	size_t	bytes;
};

static size_t
put_header(char *buf, size_t size, size_t n, void *arg)
{
	struct put_reply *r = arg;
	size_t len = size * n, v;

	if (len > 5 && strncasecmp(buf, "ETag:", 5) == 0) {
		buf += 5;
		len -= 5;
		while (len > 0 && (*buf == ' ' || *buf == '\t'))
			buf++, len--;
		for (v = len; v > 0 && (buf[v - 1] == '\r' ||
		    buf[v - 1] == '\n' || buf[v - 1] == ' '); v--)
			;
		if (v < sizeof(r->etag))
			snprintf(r->etag, sizeof(r->etag), "%.*s", (int)v, buf);
	}
	return size * n;
}

/* The answer's body is not needed; its size is capped all the same. */
static size_t
put_body(char *buf, size_t size, size_t n, void *arg)
{
	struct put_reply *r = arg;

	(void)buf;
	r->bytes += size * n;
	return r->bytes > VISITS_ANSWER_MAX ? 0 : size * n;
}

/*
 * libcurl for the writes rapport makes to a calendar (a proposal's PUT,
 * a retraction's DELETE).  caldav_http sends no conditional headers and
 * keeps no ETag, so this handle is set up the same way (TLS checks,
 * ca_file, timeouts, Basic or bearer) for those.
 */
static CURL *
put_handle(const struct endpoint *ep, char *err, size_t errlen)
{
	long timeout = ep->timeout > 0 ? ep->timeout : 60;
	CURL *c = curl_easy_init();
	char *secret = NULL;

	if (c == NULL) {
		snprintf(err, errlen, "cannot make a curl handle");
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, timeout);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, ep->tls_verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, ep->tls_verify ? 2L : 0L);
	if (ep->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, ep->ca_file);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, put_header);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, put_body);
	if (ep->auth == AUTH_NONE || (ep->auth != AUTH_XOAUTH2 &&
	    ep->password == NULL && ep->password_file == NULL))
		return c;
	if ((secret = config_secret(ep, err, errlen)) == NULL) {
		curl_easy_cleanup(c);
		return NULL;
	}
	if (ep->auth == AUTH_XOAUTH2) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, secret);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, ep->user ? ep->user : "");
		curl_easy_setopt(c, CURLOPT_PASSWORD, secret);
	}
	explicit_bzero(secret, strlen(secret));
	free(secret);
	return c;
}

/* PUT with If-None-Match: *: creates, never overwrites. */
static int
put_new(CURL *c, const char *url, const char *ics, struct put_reply *r,
    char *err, size_t errlen)
{
	struct curl_slist *hdr = NULL;
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	hdr = curl_slist_append(hdr, "Content-Type: text/calendar; "
	    "charset=utf-8");
	hdr = curl_slist_append(hdr, "If-None-Match: *");
	hdr = curl_slist_append(hdr, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, ics);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(ics));
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	cc = curl_easy_perform(c);
	curl_slist_free_all(hdr);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_easy_strerror(cc));
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
	log_trace(TRACE_CALDAV, "caldav: PUT %s (If-None-Match: *) -> %ld",
	    url, r->code);
	return 0;
}

/* 412: the resource is there already (a run that crashed before it
 * recorded the proposal): what it holds now is what we record. */
static int
reread(struct vstep *vs, const char *url, const char *uid, int64_t *start,
    int64_t *end)
{
	struct event_list list = { NULL, 0, 0 };
	struct caldav_reply r;
	char err[CURL_ERROR_SIZE + 64];
	int found = -1;

	if (caldav_http_request(vs->http, "GET", url, NULL, NULL, &r, err,
	    sizeof(err)) == CALDAV_HTTP_OK && r.code == 200 &&
	    ical_expand(strbuf_str(&r.body), r.body.len,
	    vs->now - REREAD_SPAN, vs->now + REREAD_SPAN, "UTC", &list, err,
	    sizeof(err)) >= 0) {
		for (size_t i = 0; i < list.n && found < 0; i++)
			if (strcmp(list.v[i].uid, uid) == 0) {
				*start = list.v[i].start;
				*end = list.v[i].end;
				found = 0;
			}
	}
	event_list_free(&list);
	caldav_reply_free(&r);
	return found;
}

/*
 * The customer may have been forgotten while the PUT was on the wire
 * (rapportctl works on the store meanwhile): the event then becomes a
 * retraction, in the same transaction as the check, so none is left on
 * the server that nobody records.  Logs name the UID only.
 */
static void
record(struct vstep *vs, const struct vcand *c, const char *uid,
    const char *href, const char *etag, int64_t start, int64_t end)
{
	struct store_visit v = { .customer_id = c->c.customer_id,
	    .period = c->period, .uid = uid, .href = href,
	    .etag = etag && *etag ? etag : NULL, .start = start, .end = end };
	bool retracted;
	int rc = store_visit_record(vs->ctx->store, &v, &retracted);

	if (rc == STORE_OK && retracted)
		log_notice("caldav account=%s uid=%s: customer forgotten while "
		    "the proposal was being written; withdrawn on the next "
		    "run", vs->account, uid);
	else if (rc == STORE_NOTFOUND)
		log_warnx("caldav account=%s uid=%s: customer forgotten while "
		    "the proposal was being written, and the server gave no "
		    "ETag to delete it by: left on the calendar", vs->account,
		    uid);
	else if (rc != STORE_OK)
		log_warnx("caldav account=%s uid=%s: proposal not recorded: %s",
		    vs->account, uid, store_errmsg(vs->ctx->store));
}

static void
propose(struct vstep *vs, CURL *c, const struct visit_proposal *p)
{
	const struct vcand *vc = cand_of(vs, p->customer_id);
	struct put_reply r;
	char *uid, *name, *href, *url, *ics, err[256], when[32];
	int64_t start = p->start, end = p->end;

	if (vc == NULL)
		return;
	xasprintf(&uid, "rapport-visit-%lld-%s@%s",
	    (long long)vc->c.customer_id, vc->period, vs->domain);
	name = caldav_visits_resource_name(uid);
	xasprintf(&href, "%s%s%s", vs->plan->href,
	    vs->plan->href[strlen(vs->plan->href) - 1] == '/' ? "" : "/", name);
	url = caldav_url_resolve(vs->plan->url, name);
	ics = visit_ics(vs, vc, uid, p);
	clock_format_utc(p->start, when, sizeof(when));
	if (url == NULL || put_new(c, url, ics, &r, err, sizeof(err)) < 0)
		log_warnx("caldav account=%s uid=%s: PUT: %s", vs->account,
		    uid, url ? err : "bad calendar URL");
	else if (r.code == 201 || r.code == 204) {
		log_info("caldav account=%s calendar=%s customer=%lld: visit "
		    "proposed at %s", vs->account, vs->plan->name,
		    (long long)vc->c.customer_id, when);
		record(vs, vc, uid, href, r.etag, start, end);
		vs->made++;
	} else if (r.code == 412 && reread(vs, url, uid, &start, &end) == 0)
		record(vs, vc, uid, href, NULL, start, end);
	else
		log_warnx("caldav account=%s uid=%s: PUT %s: HTTP %ld",
		    vs->account, uid, url, r.code);
	free(ics);
	free(url);
	free(href);
	free(name);
	free(uid);
}

static enum connector_result
plan_and_put(struct vstep *vs)
{
	struct visit_candidate *cands = xcalloc(vs->ncands, sizeof(*cands));
	struct visit_proposal *out = xcalloc(vs->ncands, sizeof(*out));
	char err[256];
	size_t n;
	CURL *c;

	for (size_t i = 0; i < vs->ncands; i++)
		cands[i] = vs->cands[i].c;
	n = visits_plan(&vs->ctx->cfg->visits, vs->z, vs->now, VISITS_LEAD,
	    cands, vs->ncands, vs->busy, vs->nbusy, vs->mine, vs->nmine, out,
	    vs->ncands);
	if (n > 0 && (c = put_handle(&vs->acct->ep, err, sizeof(err))) ==
	    NULL)
		log_warnx("caldav account=%s: visits: %s", vs->account, err);
	else if (n > 0) {
		for (size_t i = 0; i < n && !connector_stopping(vs->ctx); i++)
			propose(vs, c, &out[i]);
		curl_easy_cleanup(c);
	}
	if (n < vs->ncands)
		log_info("caldav account=%s: %zu overdue customers found no "
		    "free slot within %d days", vs->account, vs->ncands - n,
		    vs->ctx->cfg->visits.horizon);
	free(out);
	free(cands);
	return CONNECTOR_OK;
}

/* ---------------------------------------------------- retractions */

/*
 * Proposals of forgotten customers (store_visit_retract_customer()),
 * deleted from the server with If-Match: the etag rapport's own write
 * had.  A 412 says the user changed the event since: it is theirs now and
 * stays.  Logs name the UID only: the customer is erased.
 */
struct retraction {
	char	*uid, *href, *etag;
	const struct caldav_visits_cal *cal;	/* the calendar holding it */
};

struct retractions {
	struct retraction	*v;
	size_t			 n;
	const struct vstep	*vs;
};

static const struct caldav_visits_cal *
cal_of_href(const struct vstep *vs, const char *href)
{
	for (size_t i = 0; i < vs->ncals; i++)
		if (strncmp(href, vs->cals[i].href, strlen(vs->cals[i].href)) ==
		    0)
			return &vs->cals[i];
	return NULL;
}

/* Another account's retractions wait for that account. */
static int
collect_retraction(void *arg, const struct store_visit_retraction *r)
{
	struct retractions *rs = arg;
	const struct caldav_visits_cal *cal = cal_of_href(rs->vs, r->href);
	struct retraction *x;

	if (cal == NULL)
		return 0;
	rs->v = xreallocarray(rs->v, rs->n + 1, sizeof(*rs->v));
	x = &rs->v[rs->n++];
	x->uid = xstrdup(r->uid);
	x->href = xstrdup(r->href);
	x->etag = xstrdup(r->etag);
	x->cal = cal;
	return 0;
}

static int
delete_if_match(CURL *c, const char *url, const char *etag,
    struct put_reply *r, char *err, size_t errlen)
{
	struct curl_slist *hdr = NULL;
	char *cond;
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	xasprintf(&cond, "If-Match: %s", etag);
	hdr = curl_slist_append(hdr, cond);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	cc = curl_easy_perform(c);
	curl_slist_free_all(hdr);
	free(cond);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_easy_strerror(cc));
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
	log_trace(TRACE_CALDAV, "caldav: DELETE %s (If-Match) -> %ld", url,
	    r->code);
	return 0;
}

/* What the server's answer to a retraction's DELETE means. */
enum retract_outcome {
	RETRACT_PENDING,	/* no answer, or a failure: the next run */
	RETRACT_GONE,		/* deleted (or gone already) */
	RETRACT_USERS,		/* changed by the user: left to them */
};

static enum retract_outcome
retract_one(struct vstep *vs, CURL *c, const struct retraction *x)
{
	char *url = caldav_url_resolve(x->cal->url, x->href), err[256];
	struct put_reply r;
	enum retract_outcome out = RETRACT_PENDING;

	if (url == NULL || delete_if_match(c, url, x->etag, &r, err,
	    sizeof(err)) < 0)
		log_warnx("caldav account=%s uid=%s: DELETE: %s; retried on "
		    "the next run", vs->account, x->uid,
		    url ? err : "bad calendar URL");
	else if ((r.code >= 200 && r.code < 300) || r.code == 404 ||
	    r.code == 410) {
		log_info("caldav account=%s uid=%s: visit proposal of a "
		    "forgotten customer withdrawn", vs->account, x->uid);
		out = RETRACT_GONE;
	} else if (r.code == 412) {
		log_notice("caldav account=%s uid=%s: visit proposal of a "
		    "forgotten customer changed by the user since; left to "
		    "them", vs->account, x->uid);
		out = RETRACT_USERS;
	} else
		log_warnx("caldav account=%s uid=%s: DELETE: HTTP %ld; "
		    "retried on the next run", vs->account, x->uid, r.code);
	free(url);
	return out;
}

/* A settled retraction leaves the store; a deleted event's synced copy
 * (a sync since the forget may have brought it) goes with it. */
static void
retract_settle(struct vstep *vs, const struct retraction *x,
    enum retract_outcome out)
{
	struct store *st = vs->ctx->store;
	int rc;

	if (out == RETRACT_PENDING)
		return;
	rc = out == RETRACT_GONE ? store_visit_retraction_deleted(st, x->uid) :
	    store_visit_retraction_done(st, x->uid);
	if (rc == STORE_ERROR)
		log_warnx("caldav account=%s uid=%s: retraction: %s",
		    vs->account, x->uid, store_errmsg(st));
}

static void
retract(struct vstep *vs)
{
	struct store *st = vs->ctx->store;
	struct retractions rs = { NULL, 0, vs };
	char err[256];
	CURL *c = NULL;

	if (store_visit_retractions_foreach(st, collect_retraction, &rs) !=
	    STORE_OK)
		log_warnx("caldav account=%s: retractions: %s", vs->account,
		    store_errmsg(st));
	else if (rs.n > 0 && (c = put_handle(&vs->acct->ep, err,
	    sizeof(err))) == NULL)
		log_warnx("caldav account=%s: retractions: %s", vs->account,
		    err);
	for (size_t i = 0; c != NULL && i < rs.n &&
	    !connector_stopping(vs->ctx); i++)
		retract_settle(vs, &rs.v[i], retract_one(vs, c, &rs.v[i]));
	if (c != NULL)
		curl_easy_cleanup(c);
	for (size_t i = 0; i < rs.n; i++) {
		free(rs.v[i].uid);
		free(rs.v[i].href);
		free(rs.v[i].etag);
	}
	free(rs.v);
}

/* --------------------------------------------------------------- step */

static void
vstep_free(struct vstep *vs)
{
	for (size_t i = 0; i < vs->ncands; i++) {
		free(vs->cands[i].name);
		free(vs->cands[i].company);
		free(vs->cands[i].email);
	}
	free(vs->cands);
	free(vs->busy);
	free(vs->mine);
}

static void
vstep_status(struct vstep *vs)
{
	char key[160], value[160];

	snprintf(key, sizeof(key), "visits.%s", vs->account);
	snprintf(value, sizeof(value), "%zu proposed, %zu waiting, %zu moved "
	    "and %zu deleted by the user", vs->made, vs->ncands - vs->made,
	    vs->moved, vs->deleted);
	if (store_status_set(vs->ctx->store, key, value, vs->now) != STORE_OK)
		log_debug("caldav account=%s: status: %s", vs->account,
		    store_errmsg(vs->ctx->store));
}

enum connector_result
caldav_visits_step(struct connector_ctx *ctx, struct caldav_http *http,
    const struct caldav_visits_cal *cals, size_t ncals)
{
	const struct caldav_account *acct =
	    (const struct caldav_account *)ctx->ep;
	struct vstep vs = { .ctx = ctx, .http = http, .acct = acct,
	    .account = ctx->ep->name, .cals = cals, .ncals = ncals };
	enum connector_result res = CONNECTOR_OK;

	if (acct->planning_calendar == NULL)
		return CONNECTOR_OK;
	retract(&vs);
	for (size_t i = 0; i < ncals && vs.plan == NULL; i++)
		if (cal_matches(&cals[i], acct->planning_calendar))
			vs.plan = &cals[i];
	if (vs.plan == NULL) {
		log_warnx("caldav account=%s: planning calendar '%s' is not "
		    "among the watched calendars; no visit proposed",
		    vs.account, acct->planning_calendar);
		return CONNECTOR_OK;
	}
	vs.z = zone_get_or(ctx->cfg->timezone, "UTC");
	vs.now = clock_now();
	from_domain(ctx->cfg->from, vs.domain, sizeof(vs.domain));
	if (adopt(&vs) != STORE_OK || reconcile(&vs) != STORE_OK ||
	    store_visit_candidates_foreach(ctx->store, vs.now, collect_cand,
	    &vs) != STORE_OK) {
		log_warnx("caldav account=%s: visits: %s", vs.account,
		    store_errmsg(ctx->store));
		res = CONNECTOR_RETRY;
	} else if (vs.ncands > 0 && (res = busy_times(&vs)) == CONNECTOR_OK)
		res = plan_and_put(&vs);
	vstep_status(&vs);
	vstep_free(&vs);
	return res;
}
