/*
 * One planner pass: every template of the loaded set, against the facts in
 * the store, becomes outbox rows.  Each row's key (kind, template,
 * customer, occurrence) names what it is for, so a pass repeated, after a
 * restart, a clock change or a config edit, plans nothing new: the
 * store's STORE_CONFLICT is the normal answer and is not an error.
 *
 * Only facts of the last PLAN_HORIZON are looked at, so that a fresh
 * install, or a database imported with years of sales, never mails old
 * customers about old events.  Birthdays and newsletter issues are
 * planned PLAN_LOOKAHEAD ahead, which keeps the outbox small and still
 * lets `rapportctl outbox next` show tomorrow's mail.
 */
#include "planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "store.h"
#include "store_message.h"
#include "store_outbox.h"
#include "store_plan.h"
#include "store_unsubscribe.h"
#include "template.h"
#include "when.h"
#include "xmalloc.h"
#include "zone.h"

#define PLAN_DAY		86400
#define PLAN_HORIZON		(30 * PLAN_DAY)
#define PLAN_LOOKAHEAD		(2 * PLAN_DAY)
/* A card found up to this late (the daemon was down) still goes. */
#define PLAN_BIRTHDAY_GRACE	PLAN_DAY
/* A newsletter issue to more new recipients than this is planned with
 * a bigger page cache. */
#define PLAN_BULK_ROWS		1000
/* A newsletter issue found up to this late still goes. */
#define PLAN_NEWSLETTER_LATE	PLAN_DAY
/* RRULE issues go at this local hour unless BYHOUR says otherwise. */
#define PLAN_NEWSLETTER_HOUR	9
#define PLAN_RRULE_STEPS	100000
#define PLAN_OCCURRENCES_MAX	64
#define PLAN_NKINDS		(TEMPLATE_AGENDA + 1)

struct planner {
	struct store			*st;
	const struct config		*cfg;
	const struct template_set	*tmpl;
	int64_t				 now;
	int				 planned[PLAN_NKINDS];
	int				 replied;	/* skipped: a reply */
	int				 errors;
};

/* ---- small helpers ---- */

/* For reasons: control characters become blanks, long text is cut. */
static void
plan_clean(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	if (src == NULL)
		src = "";
	for (; *src && i + 1 < len && i < 60; src++)
		dst[i++] = (unsigned char)*src < 0x20 || *src == 0x7f ?
		    ' ' : *src;
	dst[i] = '\0';
}

static void
plan_delay(char *dst, size_t len, int64_t secs)
{
	static const struct { int64_t unit; char c; } u[] = {
		{ 7 * PLAN_DAY, 'w' }, { PLAN_DAY, 'd' }, { 3600, 'h' },
		{ 60, 'm' },
	};

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (secs >= u[i].unit && secs % u[i].unit == 0) {
			snprintf(dst, len, "%lld%c",
			    (long long)(secs / u[i].unit), u[i].c);
			return;
		}
	snprintf(dst, len, "%llds", (long long)secs);
}

/*
 * One template per name: language variants share their header, and the
 * language is chosen when rendering.  The variant without a language
 * stands for its name, else the first one loaded.
 */
static bool
plan_is_canonical(const struct template_set *set, size_t i)
{
	const struct template *t = template_set_at(set, i), *o;

	for (size_t j = 0; (o = template_set_at(set, j)) != NULL; j++) {
		if (j == i || strcmp(o->name, t->name) != 0)
			continue;
		if (t->lang != NULL && (o->lang == NULL || j < i))
			return false;
	}
	return true;
}

/* The canonical templates of a kind (and trigger, unless NONE). */
static size_t
plan_templates(struct planner *p, enum template_kind kind,
    enum template_trigger trigger, const struct template **out, size_t max)
{
	const struct template *t;
	size_t n = 0;

	if (p->tmpl == NULL)
		return 0;
	for (size_t i = 0; (t = template_set_at(p->tmpl, i)) != NULL; i++) {
		if (t->kind != kind || !plan_is_canonical(p->tmpl, i))
			continue;
		if (trigger != TEMPLATE_TRIGGER_NONE && t->trigger != trigger)
			continue;
		if (n < max)
			out[n++] = t;
	}
	return n;
}

/*
 * Plans one row.  Returns 1 if new, 0 if its key was planned before
 * (STORE_CONFLICT: the normal case), -1 on error (logged).
 */
static int
plan_row(struct planner *p, const struct template *t, int64_t customer,
    const char *occurrence, int64_t due, const char *reason,
    const char *ref_kind, int64_t ref_id, int64_t *id)
{
	struct outbox_row r;
	int64_t rid = 0;
	int rc;

	outbox_row_init(&r);
	r.kind = xstrdup(template_kind_name(t->kind));
	r.template = xstrdup(t->name);
	r.customer_id = customer;
	r.occurrence = xstrdup(occurrence);
	r.reason = xstrdup(reason);
	r.due_at = due;
	r.ref_kind = xstrdup_or_null(ref_kind);
	r.ref_id = ref_id;
	r.created_at = p->now;
	rc = store_outbox_plan(p->st, &r, &rid);
	outbox_row_clear(&r);
	if (id)
		*id = rid;
	if (rc == STORE_OK) {
		log_trace(TRACE_PLAN, "planner: planned id=%lld kind=%s "
		    "template=%s customer=%lld occurrence=%s", (long long)rid,
		    template_kind_name(t->kind), t->name, (long long)customer,
		    occurrence);
		p->planned[t->kind]++;
		return 1;
	}
	if (rc == STORE_CONFLICT)
		return 0;
	log_warnx("planner: template=%s customer=%lld occurrence=%s: %s",
	    t->name, (long long)customer, occurrence, store_errmsg(p->st));
	p->errors++;
	return -1;
}

/* ---- collecting facts (the store's callbacks may not use the store) ---- */

struct plan_fact_copy {
	struct plan_fact	 f;
	char			*text;
};

struct plan_fact_list {
	struct plan_fact_copy	*v;
	size_t			 n, cap;
};

static int
plan_fact_collect(void *ctx, const struct plan_fact *f)
{
	struct plan_fact_list *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].f = *f;
	l->v[l->n].text = xstrdup_or_null(f->text);
	l->v[l->n].f.text = l->v[l->n].text;
	l->n++;
	return 0;
}

static void
plan_fact_list_free(struct plan_fact_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].text);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- follow-up sequences ---- */

/* What one trigger of a follow-up means for the rows it plans. */
struct plan_trigger {
	enum template_trigger	 trigger;
	const char		*name;		/* in reasons */
	const char		*ref_kind;	/* for the sender's variables */
	int (*facts)(struct store *, int64_t, int64_t, plan_fact_fn, void *);
};

static const struct plan_trigger plan_triggers[] = {
	{ TEMPLATE_TRIGGER_SALE, "sale", "sale", store_plan_sales },
	{ TEMPLATE_TRIGGER_MEETING, "meeting", "event", store_plan_meetings },
	{ TEMPLATE_TRIGGER_FIRST_MESSAGE, "first message", "message",
	    store_plan_first_messages },
};

static void
plan_followup_key(const struct plan_trigger *tr, const struct plan_fact *f,
    char *occ, size_t len)
{
	char when[32];

	switch (tr->trigger) {
	case TEMPLATE_TRIGGER_MEETING:
		/* The UID and instance outlive the event row's id, which a
		 * calendar resync may renumber. */
		clock_format_utc(f->instance, when, sizeof(when));
		snprintf(occ, len, "meeting:%s/%s", f->text ? f->text : "",
		    when);
		break;
	case TEMPLATE_TRIGGER_FIRST_MESSAGE:
		snprintf(occ, len, "first:%lld", (long long)f->id);
		break;
	default:
		snprintf(occ, len, "sale:%lld", (long long)f->id);
		break;
	}
}

static void
plan_followup_reason(const struct plan_trigger *tr, const struct template *t,
    const struct plan_fact *f, char *reason, size_t len)
{
	char delay[24], when[32], text[64];

	plan_delay(delay, sizeof(delay), t->after > 0 ? t->after : 0);
	clock_format_utc(f->at, when, sizeof(when));
	plan_clean(text, sizeof(text), f->text);
	snprintf(reason, len, "step %d of %s: %s after %s %lld \"%s\" at %s",
	    t->step, t->sequence ? t->sequence : t->name, delay, tr->name,
	    (long long)f->id, text, when);
}

/*
 * The customer wrote since the trigger: the step is not sent.  A row
 * still planned is skipped; a key never planned is planned and skipped
 * at once, so that the outbox says why nothing went.  A row already
 * claimed is the sender's to judge (it checks again at send time).
 */
static void
plan_followup_replied(struct planner *p, const struct template *t,
    int64_t customer, const char *occ, int64_t due, const char *reason,
    const char *ref_kind, int64_t ref_id)
{
	char state[16];
	int64_t id;
	int rc;

	rc = store_plan_outbox_state(p->st, template_kind_name(t->kind),
	    t->name, customer, occ, &id, state, sizeof(state));
	if (rc == STORE_NOTFOUND) {
		if (plan_row(p, t, customer, occ, due, reason, ref_kind, ref_id,
		    &id) != 1)
			return;
		p->planned[t->kind]--;
	} else if (rc != STORE_OK) {
		log_warnx("planner: %s", store_errmsg(p->st));
		p->errors++;
		return;
	} else if (strcmp(state, "planned") != 0)
		return;
	if (store_outbox_skip(p->st, id, "customer replied") != STORE_OK) {
		log_warnx("planner: id=%lld: %s", (long long)id,
		    store_errmsg(p->st));
		p->errors++;
		return;
	}
	log_trace(TRACE_PLAN, "planner: skipped id=%lld template=%s "
	    "customer=%lld occurrence=%s: customer replied", (long long)id,
	    t->name, (long long)customer, occ);
	p->replied++;
}

static void
plan_followup_fact(struct planner *p, const struct plan_trigger *tr,
    const struct template **tv, size_t nt, const struct plan_fact *f)
{
	char occ[512], reason[512];
	bool replied = false, asked = false;

	plan_followup_key(tr, f, occ, sizeof(occ));
	for (size_t i = 0; i < nt; i++) {
		const struct template *t = tv[i];
		int64_t due = f->at + (t->after > 0 ? t->after : 0);

		plan_followup_reason(tr, t, f, reason, sizeof(reason));
		/* The trigger itself (a first message) is not a reply. */
		if (t->unless_replied && !asked) {
			asked = true;
			if (store_customer_replied_since(p->st, f->customer_id,
			    f->at + 1, &replied) != STORE_OK) {
				log_warnx("planner: %s", store_errmsg(p->st));
				p->errors++;
				return;
			}
		}
		if (t->unless_replied && replied)
			plan_followup_replied(p, t, f->customer_id, occ, due,
			    reason, tr->ref_kind, f->id);
		else
			plan_row(p, t, f->customer_id, occ, due, reason,
			    tr->ref_kind, f->id, NULL);
	}
}

static int
plan_followups(struct planner *p, const struct plan_trigger *tr)
{
	const struct template *tv[64];
	struct plan_fact_list l = { 0 };
	size_t nt;
	int rc;

	nt = plan_templates(p, TEMPLATE_FOLLOW_UP, tr->trigger, tv, 64);
	if (nt == 0)
		return STORE_OK;
	rc = tr->facts(p->st, p->now - PLAN_HORIZON, p->now,
	    plan_fact_collect, &l);
	for (size_t i = 0; rc == STORE_OK && i < l.n; i++)
		plan_followup_fact(p, tr, tv, nt, &l.v[i].f);
	plan_fact_list_free(&l);
	return rc;
}

static int
plan_followup_all(struct planner *p)
{
	for (size_t i = 0; i < sizeof(plan_triggers) / sizeof(*plan_triggers);
	    i++)
		if (plan_followups(p, &plan_triggers[i]) != STORE_OK)
			return STORE_ERROR;
	return STORE_OK;
}

/* ---- birthday cards ---- */

struct plan_birthday_list {
	struct plan_birthday	*v;
	size_t			 n, cap;
};

static int
plan_birthday_collect(void *ctx, const struct plan_birthday *b)
{
	struct plan_birthday_list *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n] = *b;
	l->v[l->n].tz = xstrdup_or_null(b->tz);
	l->n++;
	return 0;
}

static void
plan_birthday_list_free(struct plan_birthday_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((char *)(uintptr_t)l->v[i].tz);
	free(l->v);
}

static size_t
plan_mmdd_add(int *v, size_t n, int mmdd)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == mmdd)
			return n;
	v[n] = mmdd;
	return n + 1;
}

/*
 * The month-days that may be someone's birthday card now: the UTC dates
 * from two days back (grace, and zones up to 14 hours behind) to three
 * ahead (look-ahead, and zones ahead), and 29 February whenever 28
 * February or 1 March is among them.
 */
static size_t
plan_birthday_dates(int64_t now, int *mmdd)
{
	struct local_time lt;
	size_t n = 0;
	bool feb = false;

	for (int d = -2; d <= 3; d++) {
		zone_local(now + d * PLAN_DAY, zone_get("UTC"), &lt);
		n = plan_mmdd_add(mmdd, n, lt.month * 100 + lt.day);
		feb |= (lt.month == 2 && lt.day == 28) ||
		    (lt.month == 3 && lt.day == 1);
	}
	if (feb)
		n = plan_mmdd_add(mmdd, n, 229);
	return n;
}

static void
plan_birthday_one(struct planner *p, const struct template *t,
    const struct plan_birthday *b)
{
	const struct config *cfg = p->cfg;
	const struct zone *z = zone_get_or(b->tz, cfg->timezone);
	const char *zname = zone_get(b->tz) ? b->tz :
	    zone_get(cfg->timezone) ? cfg->timezone : "UTC";
	int hour = t->at >= 0 ? t->at / 60 : cfg->send.birthday_hour;
	int minute = t->at >= 0 ? t->at % 60 : 0;
	char occ[16], reason[160], when[32];
	int64_t at;
	int year;

	when_birthday_next(p->now, b->month, b->day, hour,
	    cfg->send.feb29_on_feb28, z, PLAN_BIRTHDAY_GRACE, &year, &at);
	at += (int64_t)minute * 60;
	if (at > p->now + PLAN_LOOKAHEAD)
		return;
	clock_format_utc(at, when, sizeof(when));
	snprintf(occ, sizeof(occ), "%d", year);
	snprintf(reason, sizeof(reason), "birthday %02d-%02d: %d card at "
	    "%02d:%02d %s (%s)", b->month, b->day, year, hour, minute, zname,
	    when);
	plan_row(p, t, b->customer_id, occ, at, reason, NULL, 0, NULL);
}

static int
plan_birthdays(struct planner *p)
{
	const struct template *tv[16];
	struct plan_birthday_list l = { 0 };
	int mmdd[STORE_PLAN_MMDD_MAX];
	size_t nt, nd;
	int rc;

	nt = plan_templates(p, TEMPLATE_BIRTHDAY, TEMPLATE_TRIGGER_NONE, tv,
	    16);
	if (nt == 0)
		return STORE_OK;
	nd = plan_birthday_dates(p->now, mmdd);
	rc = store_plan_birthdays(p->st, mmdd, nd, plan_birthday_collect, &l);
	for (size_t i = 0; rc == STORE_OK && i < nt; i++)
		for (size_t j = 0; j < l.n; j++)
			plan_birthday_one(p, tv[i], &l.v[j]);
	plan_birthday_list_free(&l);
	return rc;
}

/* ---- newsletters ---- */

/* A Schedule without RRULE: one local date-time in the configured zone. */
static size_t
plan_schedule_once(const char *s, const struct zone *z, int64_t *out)
{
	int y, mo, d, h, mi, sec = 0;

	if (sscanf(s, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &sec) < 5)
		return 0;
	out[0] = zone_utc(z, y, mo, d, h, mi) + sec;
	return 1;
}

/*
 * The occurrences of an RRULE in (from, to].  A Schedule has no DTSTART
 * of its own: the series is anchored at Monday 6 January 2020, 09:00 in
 * the configured zone, which fixes the hour (unless BYHOUR/BYMINUTE),
 * the weekday of a plain weekly rule and the phase of an INTERVAL.  The
 * iterator steps in wall time, so DST never moves the hour.
 */
static size_t
plan_schedule_rrule(const char *s, const struct zone *z, int64_t from,
    int64_t to, int64_t *out, size_t max)
{
	icaltimezone *iz = (icaltimezone *)(uintptr_t)z;
	struct icalrecurrencetype rule;
	struct icaltimetype dt, next;
	icalrecur_iterator *it;
	size_t n = 0;
	long steps = 0;

	icalerror_clear_errno();
	rule = icalrecurrencetype_from_string(s + strlen("RRULE:"));
	if (rule.rscale)
		icalmemory_free_buffer(rule.rscale);
	if (rule.freq == ICAL_NO_RECURRENCE)
		return 0;
	dt = icaltime_null_time();
	dt.year = 2020, dt.month = 1, dt.day = 6;
	dt.hour = PLAN_NEWSLETTER_HOUR;
	dt.zone = iz;
	if ((it = icalrecur_iterator_new(rule, dt)) == NULL)
		return 0;
	/* Only fast rules need the jump, and COUNT forbids it. */
	if (rule.count == 0 && rule.freq <= ICAL_DAILY_RECURRENCE) {
		struct icaltimetype st = icaltime_from_timet_with_zone(
		    (time_t)(from - PLAN_DAY), 0, iz);

		st.zone = iz;
		icalrecur_iterator_set_start(it, st);
	}
	while (n < max && steps++ < PLAN_RRULE_STEPS &&
	    !icaltime_is_null_time(next = icalrecur_iterator_next(it))) {
		int64_t t = zone_utc(z, next.year, next.month, next.day,
		    next.hour, next.minute) + next.second;

		if (t > to)
			break;
		if (t > from)
			out[n++] = t;
	}
	icalrecur_iterator_free(it);
	return n;
}

static size_t
plan_schedule(const struct template *t, const struct zone *z, int64_t from,
    int64_t to, int64_t *out, size_t max)
{
	size_t n;

	if (t->schedule == NULL)
		return 0;
	if (t->schedule_rrule)
		return plan_schedule_rrule(t->schedule, z, from, to, out, max);
	n = plan_schedule_once(t->schedule, z, out);
	return n == 1 && out[0] > from && out[0] <= to ? 1 : 0;
}

/* The audience's atoms, for one customer. */
static bool
plan_audience_atom(void *ctx, const char *field, const char *value)
{
	const struct plan_recipient *r = ctx;
	size_t n;

	if (strcmp(field, "tag") == 0) {
		for (size_t i = 0; i < r->n_tags; i++)
			if (strcasecmp(r->tags[i], value) == 0)
				return true;
		return false;
	}
	if (strcmp(field, "lang") == 0) {
		/* lang:zh holds for zh-Hant too. */
		n = strlen(value);
		return r->lang && strncasecmp(r->lang, value, n) == 0 &&
		    (r->lang[n] == '\0' || r->lang[n] == '-' ||
		    r->lang[n] == '_');
	}
	if (strcmp(field, "tier") == 0)
		return r->tier && value[0] && value[1] == '\0' &&
		    (r->tier | 0x20) == (value[0] | 0x20);
	return false;
}

struct plan_audience {
	const struct template	*t;
	int64_t			*ids;
	size_t			 n, cap;
};

static int
plan_audience_collect(void *ctx, const struct plan_recipient *r)
{
	struct plan_audience *a = ctx;

	if (!template_audience_match(a->t, plan_audience_atom, (void *)r))
		return 0;
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->ids = xreallocarray(a->ids, a->cap, sizeof(*a->ids));
	}
	a->ids[a->n++] = r->customer_id;
	return 0;
}

/*
 * The recipient's unsubscribe token, made with the row rather than when
 * it is rendered: here all of an issue's tokens are written in the
 * planner's one transaction, where the sender's batches each rewrote a
 * random page of the token table per recipient (bench/send).
 */
static int
plan_token(struct planner *p, int64_t customer)
{
	if (p->cfg->send.unsubscribe_url == NULL ||
	    *p->cfg->send.unsubscribe_url == '\0')
		return 0;
	if (store_unsubscribe_token_ensure(p->st, customer, p->now) ==
	    STORE_OK)
		return 0;
	log_warnx("planner: customer=%lld: %s", (long long)customer,
	    store_errmsg(p->st));
	p->errors++;
	return -1;
}

/*
 * One issue to the audience (ascending ids), minus those who have it
 * already: an issue stays in the planning window for days, and trying
 * every recipient's insert again each minute would cost seconds.
 */
static int
plan_newsletter_issue(struct planner *p, const struct template *t,
    const struct plan_audience *a, int64_t occ)
{
	char key[32], reason[160], aud[64];
	int64_t *have;
	size_t nhave, k = 0;
	int rc;

	clock_format_utc(occ, key, sizeof(key));
	rc = store_plan_outbox_customers(p->st, template_kind_name(t->kind),
	    t->name, key, &have, &nhave);
	if (rc != STORE_OK)
		return rc;
	/* Thousands of new rows and tokens: a bigger cache (store_outbox.h),
	 * which a planner that plans a few rows a minute does without. */
	if (a->n > nhave + PLAN_BULK_ROWS &&
	    store_bulk_setup(p->st, STORE_OUTBOX_BULK_CACHE_KIB) != STORE_OK)
		log_warnx("planner: %s", store_errmsg(p->st));
	plan_clean(aud, sizeof(aud), t->audience ? t->audience : "all");
	snprintf(reason, sizeof(reason), "newsletter issue %s to audience "
	    "\"%s\"", key, aud);
	for (size_t j = 0; j < a->n; j++) {
		while (k < nhave && have[k] < a->ids[j])
			k++;
		if (k < nhave && have[k] == a->ids[j])
			continue;
		if ((rc = plan_row(p, t, a->ids[j], key, occ, reason, NULL, 0,
		    NULL)) < 0)
			break;
		if (rc > 0 && plan_token(p, a->ids[j]) < 0)
			break;
	}
	free(have);
	return STORE_OK;
}

static int
plan_newsletter(struct planner *p, const struct template *t)
{
	const struct zone *z = zone_get_or(p->cfg->timezone, NULL);
	int64_t occ[PLAN_OCCURRENCES_MAX];
	struct plan_audience a = { .t = t };
	size_t n;
	int rc;

	n = plan_schedule(t, z, p->now - PLAN_NEWSLETTER_LATE,
	    p->now + PLAN_LOOKAHEAD, occ, PLAN_OCCURRENCES_MAX);
	if (n == 0)
		return STORE_OK;
	rc = store_plan_newsletter_recipients(p->st, plan_audience_collect, &a);
	for (size_t i = 0; rc == STORE_OK && i < n; i++)
		rc = plan_newsletter_issue(p, t, &a, occ[i]);
	free(a.ids);
	return rc;
}

static int
plan_newsletters(struct planner *p)
{
	const struct template *tv[64];
	size_t nt;

	nt = plan_templates(p, TEMPLATE_NEWSLETTER, TEMPLATE_TRIGGER_NONE,
	    tv, 64);
	for (size_t i = 0; i < nt; i++)
		if (plan_newsletter(p, tv[i]) != STORE_OK)
			return STORE_ERROR;
	return STORE_OK;
}

/* ---- referral thank-yous ---- */

static void
plan_referral_fact(struct planner *p, const struct template *t,
    const struct plan_fact *f, bool sale)
{
	char occ[64], reason[256], delay[24], when[32], text[64];
	int64_t after = t->after > 0 ? t->after : 0;

	plan_delay(delay, sizeof(delay), after);
	clock_format_utc(f->at, when, sizeof(when));
	plan_clean(text, sizeof(text), f->text);
	if (sale) {
		/* ref: the sale, whose customer is the referred person. */
		snprintf(occ, sizeof(occ), "referral-sale:%lld",
		    (long long)f->id);
		snprintf(reason, sizeof(reason), "%s after the first sale "
		    "%lld \"%s\" at %s of customer %lld (referral %lld)", delay,
		    (long long)f->instance, text, when, (long long)f->other,
		    (long long)f->id);
		plan_row(p, t, f->customer_id, occ, f->at + after, reason,
		    "sale", f->instance, NULL);
	} else {
		snprintf(occ, sizeof(occ), "referral:%lld", (long long)f->id);
		snprintf(reason, sizeof(reason), "%s after referral %lld of "
		    "\"%s\" (customer %lld) at %s", delay, (long long)f->id,
		    text, (long long)f->other, when);
		plan_row(p, t, f->customer_id, occ, f->at + after, reason,
		    "referral", f->id, NULL);
	}
}

static int
plan_referrals_for(struct planner *p, enum template_trigger trigger)
{
	const struct template *tv[16];
	struct plan_fact_list l = { 0 };
	bool sale = trigger == TEMPLATE_TRIGGER_SALE;
	size_t nt;
	int rc;

	nt = plan_templates(p, TEMPLATE_REFERRAL_THANKS, trigger, tv, 16);
	if (nt == 0)
		return STORE_OK;
	rc = (sale ? store_plan_referral_sales : store_plan_referrals)(p->st,
	    p->now - PLAN_HORIZON, p->now, plan_fact_collect, &l);
	for (size_t i = 0; rc == STORE_OK && i < nt; i++)
		for (size_t j = 0; j < l.n; j++)
			plan_referral_fact(p, tv[i], &l.v[j].f, sale);
	plan_fact_list_free(&l);
	return rc;
}

static int
plan_referrals(struct planner *p)
{
	if (plan_referrals_for(p, TEMPLATE_TRIGGER_REFERRAL) != STORE_OK)
		return STORE_ERROR;
	return plan_referrals_for(p, TEMPLATE_TRIGGER_SALE);
}

/* ---- the pass ---- */

/*
 * One kind in one transaction: a kind that fails leaves the others
 * planned, and its own rows are planned whole or not at all.
 */
static void
plan_kind(struct planner *p, const char *what, int (*fn)(struct planner *))
{
	int planned[PLAN_NKINDS], errors = p->errors, replied = p->replied, rc;

	memcpy(planned, p->planned, sizeof(planned));
	if (store_begin(p->st) != STORE_OK) {
		log_warnx("planner: %s: %s", what, store_errmsg(p->st));
		p->errors++;
		return;
	}
	rc = fn(p);
	if (rc != STORE_OK) {
		log_warnx("planner: %s: %s", what, store_errmsg(p->st));
		p->errors++;
	}
	if (p->errors > errors) {
		store_rollback(p->st);
		memcpy(p->planned, planned, sizeof(planned));
		p->replied = replied;
		return;
	}
	if (store_commit(p->st) != STORE_OK) {
		log_warnx("planner: %s: %s", what, store_errmsg(p->st));
		p->errors++;
	}
}

int
planner_run(struct store *st, const struct config *cfg,
    const struct template_set *tmpl, time_t now)
{
	struct planner p = { .st = st, .cfg = cfg, .tmpl = tmpl,
	    .now = (int64_t)now };
	char when[32], counts[160];
	int total;

	plan_kind(&p, "follow-up", plan_followup_all);
	plan_kind(&p, "birthday", plan_birthdays);
	plan_kind(&p, "newsletter", plan_newsletters);
	plan_kind(&p, "referral-thanks", plan_referrals);

	snprintf(counts, sizeof(counts), "follow-up=%d birthday=%d "
	    "newsletter=%d referral-thanks=%d replied=%d errors=%d",
	    p.planned[TEMPLATE_FOLLOW_UP], p.planned[TEMPLATE_BIRTHDAY],
	    p.planned[TEMPLATE_NEWSLETTER], p.planned[TEMPLATE_REFERRAL_THANKS],
	    p.replied, p.errors);
	total = p.replied + p.errors;
	for (int k = 0; k < PLAN_NKINDS; k++)
		total += p.planned[k];
	/* The timer runs every minute: a pass that did nothing is traced. */
	if (total > 0)
		log_info("planner: planned %s", counts);
	else
		log_trace(TRACE_PLAN, "planner: planned %s", counts);

	clock_format_utc((int64_t)now, when, sizeof(when));
	if (store_status_set(st, "planner.last_run", when, (int64_t)now) !=
	    STORE_OK ||
	    store_status_set(st, "planner.last_counts", counts, (int64_t)now) !=
	    STORE_OK) {
		log_warnx("planner: %s", store_errmsg(st));
		return -1;
	}
	return p.errors ? -1 : 0;
}
