/*
 * The daily agenda (agenda.h): composing a day, building the message,
 * and sending it once.
 */
#include "agenda.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libical/ical.h>

#include "address.h"
#include "clock.h"
#include "config.h"
#include "json.h"
#include "linker.h"
#include "log.h"
#include "mime_build.h"
#include "rfc2047.h"
#include "sender.h"
#include "smtp_session.h"
#include "store.h"
#include "store_agenda.h"
#include "template.h"
#include "xmalloc.h"
#include "zone.h"

/* How long a claim holds before another sender may take the day over. */
#define AGENDA_LEASE		600
/* A store failure while composing: try again this much later. */
#define AGENDA_RETRY_STORE	60
#define AGENDA_BIRTHDAY_DAYS	7
#define AGENDA_FOLLOWUPS_SHOWN	3
#define AGENDA_REFERRALS_SHOWN	5

/*
 * libical loads a zone on its first lookup and extends its cached
 * transitions on conversions; the agenda runs on a sending thread, so
 * its conversions are serialized here.
 */
static pthread_mutex_t agenda_zone_lock = PTHREAD_MUTEX_INITIALIZER;

static void
agenda_local(const struct config *cfg, int64_t t, struct local_time *lt)
{
	pthread_mutex_lock(&agenda_zone_lock);
	zone_local(t, zone_get_or(cfg->timezone, NULL), lt);
	pthread_mutex_unlock(&agenda_zone_lock);
}

static int64_t
agenda_utc(const struct config *cfg, int y, int m, int d)
{
	int64_t t;

	pthread_mutex_lock(&agenda_zone_lock);
	t = zone_utc(zone_get_or(cfg->timezone, NULL), y, m, d, 0, 0);
	pthread_mutex_unlock(&agenda_zone_lock);
	return t;
}

/* ---- labels ---- */

struct agenda_labels {
	const char	*lang;
	const char	*all_day;
	const char	*untitled;
	const char	*with;
	const char	*last_contact;
	const char	*no_contact;
	const char	*followups;
	const char	*birthday;
	const char	*today;
	const char	*in_days[2];	/* around the number of days */
	const char	*referred;
	const char	*more[2];	/* around the number of others */
	const char	*visit;
};

static const struct agenda_labels agenda_labels[] = {
	{ "en", "all day", "(no title)", "With: ", "Last contact: ",
	    "no contact yet", "Open follow-ups: ", "Birthday: ", "today",
	    { "in ", " days" }, "Referred: ", { "and ", " more" }, "Visit: " },
	{ "ko", "종일", "(제목 없음)", "참석: ", "최근 연락: ",
	    "아직 연락 없음", "예정된 후속 메일: ", "생일: ", "오늘",
	    { "", "일 후" }, "소개한 분: ", { "외 ", "명" }, "방문: " },
	{ "zh", "全天", "(无标题)", "参与者：", "最近联系：",
	    "尚无联系", "待发跟进：", "生日：", "今天",
	    { "", "天后" }, "推荐的人：", { "等", "人" }, "拜访：" },
};

static const struct agenda_labels *
agenda_labels_for(const char *lang)
{
	size_t n = sizeof(agenda_labels) / sizeof(agenda_labels[0]);

	if (lang)
		for (size_t i = 0; i < n; i++)
			if (strncasecmp(lang, agenda_labels[i].lang, 2) == 0 &&
			    (lang[2] == '\0' || lang[2] == '-' ||
			    lang[2] == '_'))
				return &agenda_labels[i];
	return &agenda_labels[0];
}

/* ---- text ---- */

void
agenda_init(struct agenda *a)
{
	memset(a, 0, sizeof(*a));
	strbuf_init(&a->items, 0);
	strbuf_init(&a->ics, 0);
}

void
agenda_free(struct agenda *a)
{
	strbuf_free(&a->items);
	strbuf_free(&a->ics);
	memset(a, 0, sizeof(*a));
}

/*
 * Data from the calendar or the customers, on one line: control
 * characters (CR and LF above all) become blanks, so no value can start
 * a line of its own; invalid UTF-8 becomes U+FFFD.  Markdown in it is
 * the template engine's to escape.
 */
static void
agenda_put(struct strbuf *sb, const char *s)
{
	size_t n, len;
	uint32_t cp;

	if (s == NULL)
		return;
	n = strlen(s);
	for (size_t i = 0; i < n; i += len) {
		len = rfc2047_utf8_len(s + i, n - i, &cp);
		if (len == 0) {
			strbuf_adds(sb, "\xef\xbf\xbd");
			len = 1;
		} else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
		    cp == 0x2028 || cp == 0x2029)
			strbuf_addc(sb, ' ');
		else
			strbuf_add(sb, s + i, len);
	}
}

static void
agenda_put_date(const struct config *cfg, struct strbuf *sb, int64_t t)
{
	struct local_time lt;

	agenda_local(cfg, t, &lt);
	strbuf_addf(sb, "%04d-%02d-%02d", lt.year, lt.month, lt.day);
}

static void
agenda_put_time(const struct config *cfg, struct strbuf *sb, int64_t t)
{
	struct local_time lt;

	agenda_local(cfg, t, &lt);
	strbuf_addf(sb, "%02d:%02d", lt.hour, lt.minute);
}

/* ---- the model (agenda.h: a->json) ---- */

static void
agenda_json_time(struct json *j, const char *key, int64_t t)
{
	char buf[32];

	json_key(j, key);
	if (t == 0) {
		json_null(j);
		return;
	}
	clock_format_utc(t, buf, sizeof(buf));
	json_string(j, buf);
}

/* Opens a member holding an array; NULL j (no model wanted) is a no-op. */
static void
agenda_json_array(struct json *j, const char *key)
{
	if (j) {
		json_key(j, key);
		json_array_begin(j);
	}
}

static void
agenda_json_array_end(struct json *j)
{
	if (j)
		json_array_end(j);
}

/* ---- composing ---- */

struct agenda_event {
	int64_t	 id;
	char	*uid;
	char	*summary;
	char	*location;
	int64_t	 start, end;
	bool	 all_day;
};

struct agenda_events {
	struct agenda_event	*v;
	size_t			 n;
};

static void
agenda_events_free(struct agenda_events *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].uid);
		free(e->v[i].summary);
		free(e->v[i].location);
	}
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

static int
agenda_collect_event(void *ctx, const struct store_agenda_event *ev)
{
	struct agenda_events *e = ctx;
	struct agenda_event *o;

	e->v = xreallocarray(e->v, e->n + 1, sizeof(*e->v));
	o = &e->v[e->n++];
	o->id = ev->id;
	o->uid = xstrdup(ev->uid ? ev->uid : "");
	o->summary = ev->summary ? xstrdup(ev->summary) : NULL;
	o->location = ev->location ? xstrdup(ev->location) : NULL;
	o->start = ev->start;
	o->end = ev->end;
	o->all_day = ev->all_day;
	return 0;
}

struct agenda_declined {
	const struct linker	*lk;
	bool			 by_user;
};

static int
agenda_declined_one(void *ctx, const char *addr)
{
	struct agenda_declined *d = ctx;

	if (linker_is_own(d->lk, addr)) {
		d->by_user = true;
		return 1;
	}
	return 0;
}

struct agenda_ids {
	int64_t	*v;
	size_t	 n;
};

static int
agenda_collect_id(void *ctx, int64_t id)
{
	struct agenda_ids *ids = ctx;

	ids->v = xreallocarray(ids->v, ids->n + 1, sizeof(*ids->v));
	ids->v[ids->n++] = id;
	return 0;
}

/* One composition: what the helpers below share. */
struct agenda_ctx {
	struct store			*st;
	const struct config		*cfg;
	const struct agenda_labels	*lb;
	struct agenda			*a;
	int				 y, m, d;	/* the local day */
	icalcomponent			*cal;
	char				**uids;		/* in the .ics already */
	size_t				 nuids;
};

/* A list of names: "A, B, C and 2 more". */
struct agenda_list {
	struct agenda_ctx	*c;
	struct strbuf		*sb;
	size_t			 n;
	size_t			 shown;
};

static void
agenda_list_more(struct agenda_list *l)
{
	if (l->n > l->shown) {
		strbuf_adds(l->sb, ", ");
		strbuf_adds(l->sb, l->c->lb->more[0]);
		strbuf_addf(l->sb, "%zu", l->n - l->shown);
		strbuf_adds(l->sb, l->c->lb->more[1]);
	}
}

static int
agenda_followup_one(void *ctx, const char *kind, const char *tmpl,
    int64_t due)
{
	struct agenda_list *l = ctx;
	struct json *j = l->c->a->json;

	if (j) {
		json_object_begin(j);
		json_kv_string(j, "kind", kind);
		json_kv_string(j, "template", tmpl);
		agenda_json_time(j, "due", due);
		json_object_end(j);
	}
	if (l->n++ >= l->shown)
		return 0;
	if (l->n > 1)
		strbuf_adds(l->sb, ", ");
	agenda_put(l->sb, tmpl ? tmpl : kind);
	strbuf_adds(l->sb, " (");
	agenda_put_date(l->c->cfg, l->sb, due);
	strbuf_addc(l->sb, ')');
	return 0;
}

static int
agenda_referral_one(void *ctx, const char *name)
{
	struct agenda_list *l = ctx;

	if (l->c->a->json)
		json_string(l->c->a->json, name);
	if (l->n++ >= l->shown)
		return 0;
	if (l->n > 1)
		strbuf_adds(l->sb, ", ");
	agenda_put(l->sb, name);
	return 0;
}

/* Days from the agenda's day to the birthday, or -1 beyond the window. */
static int
agenda_birthday_in(const struct agenda_ctx *c, const struct customer *cu)
{
	int y = c->y, m = c->m, d = c->d, bm, bd;

	if (cu->birth_month <= 0 || cu->birth_day <= 0)
		return -1;
	for (int k = 0; k <= AGENDA_BIRTHDAY_DAYS; k++) {
		bm = cu->birth_month;
		bd = cu->birth_day;
		if (bm == 2 && bd == 29 && !zone_leap_year(y)) {
			if (c->cfg->send.feb29_on_feb28)
				bd = 28;
			else {
				bm = 3;
				bd = 1;
			}
		}
		if (bm == m && bd == d)
			return k;
		zone_date_add(&y, &m, &d, 1);
	}
	return -1;
}

/*
 * "LABEL list" on a line of its own, when the list is not empty; the
 * whole list in the model's member key.
 */
static int
agenda_context_list(struct agenda_ctx *c, const char *key, const char *label,
    size_t shown,
    int (*foreach)(struct agenda_ctx *, int64_t, struct agenda_list *),
    int64_t id, bool count)
{
	struct strbuf names;
	struct agenda_list l = { c, &names, 0, shown };
	int rc;

	strbuf_init(&names, 0);
	agenda_json_array(c->a->json, key);
	rc = foreach(c, id, &l);
	agenda_json_array_end(c->a->json);
	if (rc == 0 && l.n > 0) {
		agenda_list_more(&l);
		strbuf_adds(&c->a->items, "\n    ");
		strbuf_adds(&c->a->items, label);
		if (count)
			strbuf_addf(&c->a->items, "%zu (%s)", l.n,
			    strbuf_str(&names));
		else
			strbuf_adds(&c->a->items, strbuf_str(&names));
	}
	strbuf_free(&names);
	return rc;
}

static int
agenda_followups(struct agenda_ctx *c, int64_t id, struct agenda_list *l)
{
	return store_agenda_followups(c->st, id, agenda_followup_one, l) ==
	    STORE_OK ? 0 : -1;
}

static int
agenda_referrals(struct agenda_ctx *c, int64_t id, struct agenda_list *l)
{
	return store_agenda_referrals(c->st, id, agenda_referral_one, l) ==
	    STORE_OK ? 0 : -1;
}

static void
agenda_json_customer(struct json *j, const struct customer *cu)
{
	json_object_begin(j);
	json_kv_int(j, "id", cu->id);
	json_kv_string(j, "name", cu->name);
	json_kv_string(j, "company", cu->company);
}

/* The last contact (rc: STORE_OK or STORE_NOTFOUND) into the model. */
static void
agenda_json_contact(struct json *j, int rc, int64_t at, const char *subject)
{
	json_key(j, "last_contact");
	if (rc != STORE_OK) {
		json_null(j);
		return;
	}
	json_object_begin(j);
	agenda_json_time(j, "at", at);
	json_kv_string(j, "subject", subject);
	json_object_end(j);
}

static void
agenda_json_birthday(struct json *j, const struct customer *cu, int days)
{
	json_key(j, "birthday");
	if (days < 0) {
		json_null(j);
		return;
	}
	json_object_begin(j);
	json_kv_int(j, "month", cu->birth_month);
	json_kv_int(j, "day", cu->birth_day);
	json_kv_int(j, "in_days", days);
	json_object_end(j);
}

/* The lines of one customer at a meeting. */
static int
agenda_customer_context(struct agenda_ctx *c, const struct customer *cu,
    int64_t start)
{
	struct strbuf *sb = &c->a->items;
	struct json *j = c->a->json;
	char *subject = NULL;
	int64_t at;
	int rc, days;

	if (j)
		agenda_json_customer(j, cu);
	strbuf_adds(sb, "\n  ");
	strbuf_adds(sb, c->lb->with);
	agenda_put(sb, cu->name);
	if (cu->company && *cu->company) {
		strbuf_adds(sb, " (");
		agenda_put(sb, cu->company);
		strbuf_addc(sb, ')');
	}
	strbuf_adds(sb, "\n    ");
	strbuf_adds(sb, c->lb->last_contact);
	rc = store_agenda_last_contact(c->st, cu->id, start, &at, &subject);
	if (j && (rc == STORE_OK || rc == STORE_NOTFOUND))
		agenda_json_contact(j, rc, at, subject);
	if (rc == STORE_OK) {
		agenda_put_date(c->cfg, sb, at);
		if (subject && *subject) {
			strbuf_adds(sb, " “");
			agenda_put(sb, subject);
			strbuf_adds(sb, "”");
		}
		free(subject);
	} else if (rc == STORE_NOTFOUND)
		strbuf_adds(sb, c->lb->no_contact);
	else
		return -1;
	if (agenda_context_list(c, "followups", c->lb->followups,
	    AGENDA_FOLLOWUPS_SHOWN, agenda_followups, cu->id, false) < 0)
		return -1;
	days = agenda_birthday_in(c, cu);
	if (j)
		agenda_json_birthday(j, cu, days);
	if (days >= 0) {
		strbuf_adds(sb, "\n    ");
		strbuf_adds(sb, c->lb->birthday);
		strbuf_addf(sb, "%02d-%02d, ", cu->birth_month, cu->birth_day);
		if (days == 0)
			strbuf_adds(sb, c->lb->today);
		else {
			strbuf_adds(sb, c->lb->in_days[0]);
			strbuf_addf(sb, "%d", days);
			strbuf_adds(sb, c->lb->in_days[1]);
		}
	}
	rc = agenda_context_list(c, "referred", c->lb->referred,
	    AGENDA_REFERRALS_SHOWN, agenda_referrals, cu->id, true);
	if (j)
		json_object_end(j);
	return rc;
}

/* ---- the .ics ---- */

static bool
agenda_ics_has(const struct agenda_ctx *c, const char *uid)
{
	for (size_t i = 0; i < c->nuids; i++)
		if (strcmp(c->uids[i], uid) == 0)
			return true;
	return false;
}

/* Text for an iCalendar value: libical escapes it; controls go here. */
static char *
agenda_ics_text(const char *s)
{
	struct strbuf sb;

	strbuf_init(&sb, 0);
	agenda_put(&sb, s);
	return strbuf_detach(&sb);
}

static struct icaltimetype
agenda_ics_time(int64_t t)
{
	return icaltime_from_timet_with_zone((time_t)t, 0,
	    icaltimezone_get_utc_timezone());
}

static void
agenda_ics_add(struct agenda_ctx *c, const char *uid, const char *summary,
    const char *location, int64_t start, int64_t end, bool tentative,
    int64_t now)
{
	icalcomponent *ev;
	char *s;

	if (uid == NULL || *uid == '\0' || agenda_ics_has(c, uid))
		return;
	c->uids = xreallocarray(c->uids, c->nuids + 1, sizeof(*c->uids));
	c->uids[c->nuids++] = xstrdup(uid);
	ev = icalcomponent_new_vevent();
	s = agenda_ics_text(uid);
	icalcomponent_add_property(ev, icalproperty_new_uid(s));
	free(s);
	icalcomponent_add_property(ev,
	    icalproperty_new_dtstamp(agenda_ics_time(now)));
	icalcomponent_add_property(ev,
	    icalproperty_new_dtstart(agenda_ics_time(start)));
	if (end > start)
		icalcomponent_add_property(ev,
		    icalproperty_new_dtend(agenda_ics_time(end)));
	if (summary) {
		s = agenda_ics_text(summary);
		icalcomponent_add_property(ev, icalproperty_new_summary(s));
		free(s);
	}
	if (location && *location) {
		s = agenda_ics_text(location);
		icalcomponent_add_property(ev, icalproperty_new_location(s));
		free(s);
	}
	icalcomponent_add_property(ev, icalproperty_new_status(tentative ?
	    ICAL_STATUS_TENTATIVE : ICAL_STATUS_CONFIRMED));
	icalcomponent_add_component(c->cal, ev);
	c->a->nvisits++;
}

struct agenda_visit_ctx {
	struct agenda_ctx	*c;
	int64_t			 now;
};

static int
agenda_visit_one(void *ctx, const struct store_agenda_visit *v)
{
	struct agenda_visit_ctx *vc = ctx;
	struct json *j = vc->c->a->json;
	struct strbuf summary;

	if (j) {
		json_object_begin(j);
		json_kv_string(j, "uid", v->uid);
		json_kv_string(j, "customer", v->customer_name);
		agenda_json_time(j, "start", v->start);
		agenda_json_time(j, "end", v->end);
		json_kv_string(j, "state", v->state);
		json_object_end(j);
	}

	strbuf_init(&summary, 0);
	strbuf_adds(&summary, vc->c->lb->visit);
	strbuf_adds(&summary, v->customer_name ? v->customer_name : "");
	agenda_ics_add(vc->c, v->uid, strbuf_str(&summary), NULL, v->start,
	    v->end, true, vc->now);
	strbuf_free(&summary);
	return 0;
}

static int
agenda_visits(struct agenda_ctx *c, struct agenda_visit_ctx *vc)
{
	int rc;

	agenda_json_array(c->a->json, "visits");
	rc = store_agenda_visits(c->st, c->a->from, c->a->to, agenda_visit_one,
	    vc);
	agenda_json_array_end(c->a->json);
	return rc == STORE_OK ? 0 : -1;
}

/* ---- one meeting ---- */

static void
agenda_meeting_head(struct agenda_ctx *c, const struct agenda_event *ev)
{
	struct strbuf *sb = &c->a->items;

	if (sb->len > 0)
		strbuf_adds(sb, "\n\n");
	if (ev->all_day)
		strbuf_adds(sb, c->lb->all_day);
	else {
		agenda_put_time(c->cfg, sb, ev->start);
		if (ev->end > ev->start) {
			strbuf_adds(sb, "–");
			agenda_put_time(c->cfg, sb, ev->end);
		}
	}
	strbuf_adds(sb, "  ");
	agenda_put(sb, ev->summary && *ev->summary ? ev->summary :
	    c->lb->untitled);
	if (ev->location && *ev->location) {
		strbuf_adds(sb, " @ ");
		agenda_put(sb, ev->location);
	}
}

/* A meeting into the model, its customers' array left open. */
static void
agenda_json_meeting(struct json *j, const struct agenda_event *ev)
{
	json_object_begin(j);
	json_kv_string(j, "uid", ev->uid);
	agenda_json_time(j, "start", ev->start);
	agenda_json_time(j, "end", ev->end > ev->start ? ev->end : 0);
	json_kv_bool(j, "all_day", ev->all_day);
	json_kv_string(j, "summary", ev->summary);
	json_kv_string(j, "location", ev->location);
	agenda_json_array(j, "customers");
}

static int
agenda_meeting(struct agenda_ctx *c, const struct agenda_event *ev,
    int64_t now)
{
	struct agenda_ids ids = { NULL, 0 };
	struct customer cu;
	int rc = -1;

	if (store_agenda_event_customers(c->st, ev->id, agenda_collect_id,
	    &ids) != STORE_OK)
		goto out;
	agenda_meeting_head(c, ev);
	if (c->a->json)
		agenda_json_meeting(c->a->json, ev);
	c->a->nmeetings++;
	for (size_t i = 0; i < ids.n; i++) {
		if (store_customer_get(c->st, ids.v[i], &cu) != STORE_OK)
			continue;	/* forgotten meanwhile */
		rc = agenda_customer_context(c, &cu, ev->start);
		customer_clear(&cu);
		if (rc < 0)
			goto out;
	}
	if (ids.n > 0)
		agenda_ics_add(c, ev->uid, ev->summary, ev->location,
		    ev->start, ev->end, false, now);
	agenda_json_array_end(c->a->json);	/* its customers */
	if (c->a->json)
		json_object_end(c->a->json);
	rc = 0;
out:
	free(ids.v);
	return rc;
}

static bool
agenda_declined_by_user(struct agenda_ctx *c, const struct linker *lk,
    int64_t event_id, bool *error)
{
	struct agenda_declined d = { lk, false };

	*error = store_agenda_declined(c->st, event_id, agenda_declined_one,
	    &d) != STORE_OK;
	return d.by_user;
}

static int
agenda_meetings(struct agenda_ctx *c, const struct agenda_events *evs,
    int64_t now)
{
	struct linker *lk = linker_new(c->cfg);
	bool error;
	int rc = 0;

	agenda_json_array(c->a->json, "meetings");
	for (size_t i = 0; i < evs->n && rc == 0; i++) {
		if (agenda_declined_by_user(c, lk, evs->v[i].id, &error))
			continue;
		if (error)
			rc = -1;
		else
			rc = agenda_meeting(c, &evs->v[i], now);
	}
	agenda_json_array_end(c->a->json);
	linker_free(lk);
	return rc;
}

static void
agenda_ics_finish(struct agenda_ctx *c)
{
	char *s = icalcomponent_as_ical_string_r(c->cal);

	strbuf_adds(&c->a->ics, s);
	icalmemory_free_buffer(s);
}

int
agenda_compose(struct store *st, const struct config *cfg, int64_t day,
    const char *lang, struct agenda *a, char *err, size_t errlen)
{
	struct agenda_ctx c = { .st = st, .cfg = cfg, .a = a };
	struct agenda_events evs = { NULL, 0 };
	struct agenda_visit_ctx vc = { &c, day };
	struct local_time lt;
	int y, m, d, rc = -1;

	c.lb = agenda_labels_for(lang);
	agenda_local(cfg, day, &lt);
	c.y = y = lt.year;
	c.m = m = lt.month;
	c.d = d = lt.day;
	snprintf(a->date, sizeof(a->date), "%04d-%02d-%02d", y, m, d);
	a->from = agenda_utc(cfg, y, m, d);
	zone_date_add(&y, &m, &d, 1);
	a->to = agenda_utc(cfg, y, m, d);
	a->nmeetings = a->nvisits = 0;
	strbuf_reset(&a->items);
	strbuf_reset(&a->ics);
	c.cal = icalcomponent_vanew(ICAL_VCALENDAR_COMPONENT,
	    icalproperty_new_version("2.0"),
	    icalproperty_new_prodid("-//rapport//agenda//EN"),
	    icalproperty_new_method(ICAL_METHOD_PUBLISH), (void *)0);
	if (store_agenda_events(st, a->from, a->to, agenda_collect_event,
	    &evs) != STORE_OK || agenda_meetings(&c, &evs, day) < 0 ||
	    agenda_visits(&c, &vc) < 0) {
		snprintf(err, errlen, "agenda %s: %s", a->date,
		    store_errmsg(st));
		goto out;
	}
	agenda_ics_finish(&c);
	rc = 0;
out:
	agenda_events_free(&evs);
	icalcomponent_free(c.cal);
	for (size_t i = 0; i < c.nuids; i++)
		free(c.uids[i]);
	free(c.uids);
	return rc;
}

/* ---- the message ---- */

/*
 * "Kim Sales <kim@example.com>" or "kim@example.com": the display name
 * (NULL when none) and the address.  -1 if there is no address.
 */
static int
agenda_parse_addr(const char *s, char **name, char **addr)
{
	const char *lt, *gt, *end;

	*name = *addr = NULL;
	if (s == NULL)
		return -1;
	if ((lt = strrchr(s, '<')) == NULL) {
		s += strspn(s, " \t");
		*addr = xstrndup(s, strcspn(s, " \t"));
	} else {
		if ((gt = strchr(lt, '>')) == NULL)
			return -1;
		*addr = xstrndup(lt + 1, (size_t)(gt - lt - 1));
		s += strspn(s, " \t\"");
		for (end = lt; end > s && strchr(" \t\"", end[-1]); end--)
			;
		if (end > s)
			*name = xstrndup(s, (size_t)(end - s));
	}
	if (**addr == '\0' || strchr(*addr, '@') == NULL) {
		free(*name);
		free(*addr);
		*name = *addr = NULL;
		return -1;
	}
	return 0;
}

char *
agenda_recipient(const struct config *cfg)
{
	char *name, *addr;

	if (agenda_parse_addr(cfg->agenda.to && *cfg->agenda.to ?
	    cfg->agenda.to : cfg->from, &name, &addr) < 0)
		return NULL;
	free(name);
	return addr;
}

struct agenda_vars {
	const struct agenda	*a;
	const char		*sender_name;
	const char		*sender_email;
};

static const char *
agenda_lookup(void *ctx, const char *name)
{
	struct agenda_vars *v = ctx;

	if (strcmp(name, "agenda.date") == 0)
		return v->a->date;
	if (strcmp(name, "agenda.items") == 0)
		return strbuf_str(&v->a->items);
	if (strcmp(name, "sender.name") == 0)
		return v->sender_name;
	if (strcmp(name, "sender.email") == 0)
		return v->sender_email;
	return NULL;
}

static int
agenda_utc_offset(const struct config *cfg, int64_t t)
{
	struct local_time lt;
	struct tm tm;

	agenda_local(cfg, t, &lt);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = lt.year - 1900;
	tm.tm_mon = lt.month - 1;
	tm.tm_mday = lt.day;
	tm.tm_hour = lt.hour;
	tm.tm_min = lt.minute;
	tm.tm_sec = lt.second;
	return (int)(((int64_t)timegm(&tm) - t) / 60);
}

int
agenda_build(const struct config *cfg, const struct smtp_account *acct,
    const struct template_set *set, const struct agenda *a,
    const char *message_id, int64_t now, struct strbuf *out, char **rcpt,
    char **from, char *err, size_t errlen)
{
	const char *from_s = acct && acct->from ? acct->from : cfg->from;
	char *from_name = NULL, *to_name = NULL;
	struct mime_attachment att;
	struct template_output o;
	struct agenda_vars v;
	struct mime_message m;
	const struct template *t;
	char filename[64];
	int rc = -1;

	*rcpt = *from = NULL;
	template_output_init(&o);
	t = set ? template_set_get(set, AGENDA_TEMPLATE, cfg->agenda.lang) :
	    NULL;
	if (t == NULL || t->kind != TEMPLATE_AGENDA) {
		snprintf(err, errlen, "no template \"%s\" of Kind: agenda",
		    AGENDA_TEMPLATE);
		goto out;
	}
	if (agenda_parse_addr(from_s, &from_name, from) < 0) {
		snprintf(err, errlen, "no usable From address (from =)");
		goto out;
	}
	if (agenda_parse_addr(cfg->agenda.to && *cfg->agenda.to ?
	    cfg->agenda.to : cfg->from, &to_name, rcpt) < 0) {
		snprintf(err, errlen, "no address for the agenda ([agenda] to)");
		goto out;
	}
	v = (struct agenda_vars){ a, from_name, *from };
	template_render(t, agenda_lookup, &v, &o);
	snprintf(filename, sizeof(filename), "agenda-%s.ics", a->date);
	att = (struct mime_attachment){
		.content_type = "text/calendar; charset=UTF-8; method=PUBLISH",
		.filename = filename,
		.data = strbuf_str(&a->ics),
		.len = a->ics.len,
	};
	m = (struct mime_message){
		.from_name = from_name, .from_addr = *from,
		.to_name = to_name, .to_addr = *rcpt,
		.subject = strbuf_str(&o.subject),
		.date = now, .utc_offset = agenda_utc_offset(cfg, now),
		.message_id = message_id,
		.text = strbuf_str(&o.text), .text_len = o.text.len,
		.html = o.html.buf, .html_len = o.html.len,
		.attachment = &att,
	};
	rc = mime_build(&m, out, err, errlen);
out:
	if (rc < 0) {
		free(*rcpt);
		free(*from);
		*rcpt = *from = NULL;
	}
	free(from_name);
	free(to_name);
	template_output_free(&o);
	return rc;
}

/* ---- once a day ---- */

/* "<rapport.agenda.YYYYMMDD.RANDOM@domain>" */
static void
agenda_message_id(const struct agenda *a, const char *from_addr, char *buf,
    size_t len)
{
	const char *domain = from_addr ? address_domain(from_addr) : NULL;
	unsigned char rnd[6];
	char hex[13], day[9];
	size_t k = 0;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	for (const char *p = a->date; *p && k < sizeof(day) - 1; p++)
		if (*p != '-')
			day[k++] = *p;
	day[k] = '\0';
	snprintf(buf, len, "<rapport.agenda.%s.%s@%s>", day, hex,
	    domain && *domain ? domain : "localhost");
}

/* Writes DIR/agenda-DAY.eml, atomically. */
static int
agenda_dry_run(const struct config *cfg, const struct agenda *a,
    const struct strbuf *msg, char *err, size_t errlen)
{
	char tmp[4096], path[4096];
	FILE *f;
	int rc = -1;

	if (mkdir(cfg->send.dry_run, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%.200s: %s", cfg->send.dry_run,
		    strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/agenda-%s.eml", cfg->send.dry_run,
	    a->date);
	snprintf(tmp, sizeof(tmp), "%s/.agenda-%s.eml.tmp", cfg->send.dry_run,
	    a->date);
	if ((f = fopen(tmp, "we")) == NULL) {
		snprintf(err, errlen, "%.200s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fwrite(msg->buf, 1, msg->len, f) == msg->len && fflush(f) == 0)
		rc = 0;
	if (fclose(f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0) {
		snprintf(err, errlen, "%.200s: %s", path, strerror(errno));
		unlink(tmp);
	}
	return rc;
}

/* One claimed day, everything after the claim. */
struct agenda_run {
	struct store			*st;
	const struct config		*cfg;
	const struct smtp_account	*acct;
	const struct template_set	*set;
	struct agenda			 a;
	const char			*recipient;
	const char			*mid;
	int				 attempts;
	int64_t				 now;
};

static int
agenda_finish(struct agenda_run *r, const char *state, int64_t at,
    const char *reason)
{
	if (store_agenda_finish(r->st, r->a.date, r->recipient, state,
	    (int)r->a.nmeetings, at, reason) != STORE_OK) {
		log_warnx("agenda day=%s: %s", r->a.date, store_errmsg(r->st));
		return -1;
	}
	return 0;
}

/* A 4xx or a lost connection: later with backoff, or failed at last. */
static int
agenda_tempfail(struct agenda_run *r, const char *why)
{
	if (r->attempts >= r->cfg->send.retry_max) {
		log_notice("agenda day=%s to=%s: failed after %d attempts: %s",
		    r->a.date, r->recipient, r->attempts, why);
		return agenda_finish(r, "failed", r->now, why);
	}
	log_info("agenda day=%s to=%s: deferred (attempt %d): %s", r->a.date,
	    r->recipient, r->attempts, why);
	agenda_finish(r, "sending", r->now + sender_retry_delay(r->attempts),
	    why);
	return -1;
}

static int
agenda_send(struct agenda_run *r, const struct strbuf *msg,
    const char *rcpt, const char *from)
{
	struct smtp_session *s;
	struct smtp_reply rep;
	char err[512];
	int rc;

	if (r->cfg->send.dry_run) {
		if (agenda_dry_run(r->cfg, &r->a, msg, err, sizeof(err)) < 0)
			return agenda_tempfail(r, err);
		log_info("agenda day=%s to=%s meetings=%zu: written (dry-run)",
		    r->a.date, rcpt, r->a.nmeetings);
		return agenda_finish(r, "sent", r->now, "dry-run");
	}
	if (r->acct == NULL)
		return agenda_tempfail(r, "no [smtp] account");
	if ((s = smtp_session_open(&r->acct->ep, NULL, err, sizeof(err))) ==
	    NULL)
		return agenda_tempfail(r, err);
	memset(&rep, 0, sizeof(rep));
	smtp_session_send(s, from, &rcpt, 1, msg->buf, msg->len, &rep);
	smtp_session_close(s);
	switch (rep.status) {
	case SMTP_OK:
		log_info("agenda day=%s to=%s meetings=%zu: sent: %s",
		    r->a.date, rcpt, r->a.nmeetings, rep.text);
		rc = agenda_finish(r, "sent", r->now, rep.text);
		break;
	case SMTP_PERMFAIL:
		log_notice("agenda day=%s to=%s: failed: %s", r->a.date, rcpt,
		    rep.text);
		rc = agenda_finish(r, "failed", r->now, rep.text);
		break;
	default:
		rc = agenda_tempfail(r, rep.text[0] ? rep.text :
		    "connection lost");
		break;
	}
	smtp_reply_clear(&rep);
	return rc;
}

static int
agenda_run_claimed(struct agenda_run *r)
{
	struct strbuf msg;
	char err[512], *rcpt = NULL, *from = NULL;
	int rc;

	if (agenda_compose(r->st, r->cfg, r->now, r->cfg->agenda.lang, &r->a,
	    err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		agenda_finish(r, "sending", r->now + AGENDA_RETRY_STORE, err);
		return -1;
	}
	if (r->a.nmeetings == 0) {
		log_info("agenda day=%s to=%s: no meetings today, no agenda "
		    "sent", r->a.date, r->recipient);
		return agenda_finish(r, "empty", r->now, "no meetings");
	}
	strbuf_init(&msg, 0);
	if (agenda_build(r->cfg, r->acct, r->set, &r->a, r->mid, r->now, &msg,
	    &rcpt, &from, err, sizeof(err)) < 0) {
		log_warnx("agenda day=%s: failed: %s", r->a.date, err);
		rc = agenda_finish(r, "failed", r->now, err);
	} else
		rc = agenda_send(r, &msg, rcpt, from);
	free(rcpt);
	free(from);
	strbuf_free(&msg);
	return rc;
}

/* Only the first [smtp] account sends the agenda. */
static bool
agenda_is_sender(const struct config *cfg, const struct smtp_account *acct)
{
	if (acct == NULL || cfg->n_smtp == 0)
		return true;
	if (acct->ep.name == NULL || cfg->smtp[0].ep.name == NULL)
		return acct->ep.name == cfg->smtp[0].ep.name;
	return strcmp(acct->ep.name, cfg->smtp[0].ep.name) == 0;
}

int
agenda_tick(struct store *st, const struct config *cfg,
    const struct smtp_account *acct, const struct template_set *set,
    int64_t now)
{
	struct agenda_run r = { .st = st, .cfg = cfg, .acct = acct,
	    .set = set, .now = now };
	struct local_time lt;
	char *recipient, *state = NULL, *mid = NULL, *from_name, *from_addr;
	char newmid[320];
	int rc = 0;

	if (cfg->agenda.hour < 0 || !agenda_is_sender(cfg, acct))
		return 0;
	agenda_local(cfg, now, &lt);
	if (lt.hour < cfg->agenda.hour)
		return 0;
	if ((recipient = agenda_recipient(cfg)) == NULL)
		return 0;
	agenda_init(&r.a);
	snprintf(r.a.date, sizeof(r.a.date), "%04d-%02d-%02d", lt.year,
	    lt.month, lt.day);
	/* The common case, every pass after the day is done: one read. */
	rc = store_agenda_state(st, r.a.date, recipient, &state);
	if (rc == STORE_OK && strcmp(state, "sending") != 0) {
		rc = 0;
		goto out;
	}
	agenda_parse_addr(acct && acct->from ? acct->from : cfg->from,
	    &from_name, &from_addr);
	agenda_message_id(&r.a, from_addr, newmid, sizeof(newmid));
	free(from_name);
	free(from_addr);
	rc = store_agenda_claim(st, r.a.date, recipient, newmid, now,
	    AGENDA_LEASE, &mid, &r.attempts);
	if (rc == STORE_CONFLICT) {
		rc = 0;
		goto out;
	}
	if (rc != STORE_OK) {
		log_warnx("agenda day=%s: %s", r.a.date, store_errmsg(st));
		rc = -1;
		goto out;
	}
	r.recipient = recipient;
	r.mid = mid;
	rc = agenda_run_claimed(&r);
out:
	agenda_free(&r.a);
	free(state);
	free(mid);
	free(recipient);
	return rc;
}
