#include "ical_expand.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#include "address.h"
#include "charset.h"
#include "log.h"
#include "xmalloc.h"
#include "zone.h"

#define UNKNOWN_TZ_MAX	16	/* distinct unknown TZIDs remembered per object */

struct ical_ctx {
	icalcomponent	*root;		/* the VCALENDAR */
	icaltimezone	*deftz;
	icaltimezone	*utc;
	int64_t		 from, to;
	struct event_list *out;
	char		*unknown[UNKNOWN_TZ_MAX];
	size_t		 nunknown;
};

/* How an occurrence's end follows from its start. */
struct ical_dur {
	bool			exact;		/* seconds, else nominal */
	int64_t			secs;
	int			days;		/* nominal: local days ... */
	int64_t			extra;		/* ... then exact seconds */
};

struct ical_series {
	icalcomponent	*comp;
	struct icaltimetype dtstart;	/* wall time, zone unset */
	icaltimezone	*zone;		/* DTSTART's zone (dates: default) */
	bool		 all_day;
	int64_t		 start;		/* UTC of DTSTART */
	struct ical_dur	 dur;
	const char	*uid;
};

struct ical_inst {
	int64_t			start;
	struct icaltimetype	local;
};

struct ical_insts {
	struct ical_inst	*v;
	size_t			 n, cap;
};

struct ical_rids {
	int64_t	*v;
	size_t	 n, cap;
};

int
ical_init(void)
{
	icalerror_set_errors_are_fatal(0);
	/* Zones load on first use (zone.c): only check the data is there. */
	if (zone_get("Europe/Berlin") == NULL || zone_get("UTC") == NULL)
		return -1;
	return 0;
}

void
ical_shutdown(void)
{
	zone_shutdown();
	icalmemory_free_ring();
}

/* zone.c hands out libical's zones as const; libical reads them only. */
static icaltimezone *
builtin_zone(const char *name)
{
	return (icaltimezone *)(uintptr_t)zone_get(name);
}

int
ical_zone_known(const char *name)
{
	return builtin_zone(name) != NULL;
}

/* The built-in zone named by a suffix of tzid after a slash, if any. */
static icaltimezone *
builtin_zone_suffix(const char *tzid)
{
	icaltimezone *z;

	for (const char *p = strchr(tzid, '/'); p; p = strchr(p + 1, '/'))
		if (p[1] != '\0' && (z = builtin_zone(p + 1)) != NULL)
			return z;
	return NULL;
}

/*
 * The built-in zone of an IANA TZID.  A TZID that starts with a slash is
 * a vendor's globally unique one ("/mozilla.org/20050126_1/Europe/Berlin",
 * "/citadel.org/20190914_1/Asia/Seoul"): the IANA name is its tail.
 */
static icaltimezone *
builtin_zone_iana(const char *tzid)
{
	icaltimezone *z;

	if ((z = builtin_zone(tzid)) != NULL || tzid[0] != '/')
		return z;
	return builtin_zone_suffix(tzid);
}

/* Server text in a log line: bounded, one line, printable ASCII. */
static const char *
log_safe(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; s && *s && n + 1 < len; s++)
		buf[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	buf[n] = '\0';
	return buf;
}

static void
ctx_free(struct ical_ctx *c)
{
	for (size_t i = 0; i < c->nunknown; i++)
		free(c->unknown[i]);
	if (c->root)
		icalcomponent_free(c->root);
}

static void
unknown_tzid(struct ical_ctx *c, const char *tzid, const char *uid)
{
	char ubuf[201], tbuf[101];

	for (size_t i = 0; i < c->nunknown; i++)
		if (strcmp(c->unknown[i], tzid) == 0)
			return;
	if (c->nunknown < UNKNOWN_TZ_MAX)
		c->unknown[c->nunknown++] = xstrdup(tzid);
	log_warnx("caldav: uid=%s: unknown TZID \"%s\", read in %s",
	    log_safe(uid, ubuf, sizeof(ubuf)), log_safe(tzid, tbuf, sizeof(tbuf)),
	    icaltimezone_get_location(c->deftz));
}

/* The zone a DATE-TIME of property p is written in. */
static icaltimezone *
prop_zone(struct ical_ctx *c, icalproperty *p, struct icaltimetype tt,
    const char *uid)
{
	icalparameter *param;
	const char *tzid;
	icaltimezone *z;

	if (tt.is_date)
		return c->deftz;
	if (icaltime_is_utc(tt))
		return c->utc;
	param = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
	if (param == NULL || (tzid = icalparameter_get_tzid(param)) == NULL)
		return c->deftz;	/* floating */
	/*
	 * An IANA name reads in the built-in zone, loaded once per process:
	 * libical would expand the object's own VTIMEZONE from 1970 on for
	 * every object, most of the CPU of an initial sync.  The object's
	 * VTIMEZONE serves names libical does not know (Windows ones).
	 */
	if ((z = builtin_zone_iana(tzid)) != NULL)
		return z;
	if ((z = icalcomponent_get_timezone(c->root, tzid)) != NULL)
		return z;
	if ((z = builtin_zone_suffix(tzid)) != NULL)
		return z;
	unknown_tzid(c, tzid, uid);
	return c->deftz;
}

static int64_t
to_utc(struct icaltimetype tt, icaltimezone *zone)
{
	tt.zone = NULL;
	tt.is_date = 0;
	return (int64_t)icaltime_as_timet_with_zone(tt, zone);
}

/* A DATE-TIME or DATE property's value as UTC seconds; -1 if unusable. */
static int
prop_time(struct ical_ctx *c, icalproperty *p, const char *uid,
    struct icaltimetype *ttp, icaltimezone **zonep, int64_t *utc)
{
	struct icaltimetype tt;
	icaltimezone *z;

	if (p == NULL)
		return -1;
	switch (icalproperty_isa(p)) {
	case ICAL_DTSTART_PROPERTY:	tt = icalproperty_get_dtstart(p); break;
	case ICAL_DTEND_PROPERTY:	tt = icalproperty_get_dtend(p); break;
	case ICAL_RECURRENCEID_PROPERTY: tt = icalproperty_get_recurrenceid(p); break;
	case ICAL_EXDATE_PROPERTY:	tt = icalproperty_get_exdate(p); break;
	default:			return -1;
	}
	if (icaltime_is_null_time(tt) || !icaltime_is_valid_time(tt))
		return -1;
	z = prop_zone(c, p, tt, uid);
	if (ttp) {
		*ttp = tt;
		ttp->zone = NULL;
	}
	if (zonep)
		*zonep = z;
	*utc = to_utc(tt, z);
	return 0;
}

/* ---------------------------------------------------------------- text */

static char *
text_dup(const char *s, size_t cap)
{
	if (s == NULL || *s == '\0')
		return NULL;
	return charset_to_utf8(NULL, s, strlen(s), cap, NULL);
}

/*
 * A cal-address as a normalized mail address, or NULL.  Whitespace is
 * dropped anywhere: some servers re-fold lines inside a mailto value.
 */
static char *
mailto_addr(const char *v)
{
	char buf[EVENT_ADDR_MAX + 1], norm[EVENT_ADDR_MAX + 1];
	size_t n = 0;

	if (v == NULL)
		return NULL;
	for (; *v && n < sizeof(buf) - 1; v++)
		if (!isspace((unsigned char)*v))
			buf[n++] = *v;
	if (*v != '\0')
		return NULL;
	buf[n] = '\0';
	if (strncasecmp(buf, "mailto:", 7) != 0)
		return NULL;
	if (address_normalize(buf + 7, false, norm, sizeof(norm)) != 0)
		return NULL;
	return xstrdup(norm);
}

static enum event_role
role_of(icalproperty *p)
{
	icalparameter *q = icalproperty_get_first_parameter(p, ICAL_ROLE_PARAMETER);

	if (q == NULL)
		return EVENT_ROLE_REQ;
	switch (icalparameter_get_role(q)) {
	case ICAL_ROLE_CHAIR:		return EVENT_ROLE_CHAIR;
	case ICAL_ROLE_OPTPARTICIPANT:	return EVENT_ROLE_OPT;
	case ICAL_ROLE_NONPARTICIPANT:	return EVENT_ROLE_NON;
	default:			return EVENT_ROLE_REQ;
	}
}

static enum event_partstat
partstat_of(icalproperty *p)
{
	icalparameter *q = icalproperty_get_first_parameter(p,
	    ICAL_PARTSTAT_PARAMETER);

	if (q == NULL)
		return EVENT_PART_NEEDS_ACTION;
	switch (icalparameter_get_partstat(q)) {
	case ICAL_PARTSTAT_ACCEPTED:	return EVENT_PART_ACCEPTED;
	case ICAL_PARTSTAT_DECLINED:	return EVENT_PART_DECLINED;
	case ICAL_PARTSTAT_TENTATIVE:	return EVENT_PART_TENTATIVE;
	case ICAL_PARTSTAT_DELEGATED:	return EVENT_PART_DELEGATED;
	default:			return EVENT_PART_NEEDS_ACTION;
	}
}

static void
fill_attendees(struct event *ev, icalcomponent *comp)
{
	icalproperty *p;

	for (p = icalcomponent_get_first_property(comp, ICAL_ATTENDEE_PROPERTY);
	    p && ev->nattendees < EVENT_ATTENDEES_MAX;
	    p = icalcomponent_get_next_property(comp, ICAL_ATTENDEE_PROPERTY)) {
		struct event_attendee *a;
		icalparameter *cn;
		char *addr = mailto_addr(icalproperty_get_attendee(p));

		if (addr == NULL)
			continue;
		ev->attendees = xreallocarray(ev->attendees,
		    ev->nattendees + 1, sizeof(*ev->attendees));
		a = &ev->attendees[ev->nattendees++];
		a->addr = addr;
		cn = icalproperty_get_first_parameter(p, ICAL_CN_PARAMETER);
		a->name = cn ? text_dup(icalparameter_get_cn(cn),
		    EVENT_NAME_MAX) : NULL;
		a->role = role_of(p);
		a->partstat = partstat_of(p);
	}
}

static bool
has_rapport_xprop(icalcomponent *comp)
{
	icalproperty *p;
	size_t n = strlen(EVENT_RAPPORT_XPROP_PREFIX);

	for (p = icalcomponent_get_first_property(comp, ICAL_X_PROPERTY); p;
	    p = icalcomponent_get_next_property(comp, ICAL_X_PROPERTY)) {
		const char *name = icalproperty_get_x_name(p);

		if (name && strncasecmp(name, EVENT_RAPPORT_XPROP_PREFIX, n) == 0)
			return true;
	}
	return false;
}

/* Everything of an occurrence but its times. */
static void
fill_fields(struct event *ev, icalcomponent *comp, const char *uid)
{
	icalproperty *p;

	memset(ev, 0, sizeof(*ev));
	ev->uid = xstrdup(uid);
	ev->summary = text_dup(icalcomponent_get_summary(comp), EVENT_TEXT_MAX);
	ev->location = text_dup(icalcomponent_get_location(comp), EVENT_TEXT_MAX);
	ev->description = text_dup(icalcomponent_get_description(comp),
	    EVENT_EXCERPT_MAX);
	switch (icalcomponent_get_status(comp)) {
	case ICAL_STATUS_TENTATIVE:	ev->status = EVENT_TENTATIVE; break;
	case ICAL_STATUS_CANCELLED:	ev->status = EVENT_CANCELLED; break;
	default:			ev->status = EVENT_CONFIRMED; break;
	}
	if ((p = icalcomponent_get_first_property(comp, ICAL_ORGANIZER_PROPERTY)))
		ev->organizer = mailto_addr(icalproperty_get_organizer(p));
	fill_attendees(ev, comp);
	if ((p = icalcomponent_get_first_property(comp, ICAL_TRANSP_PROPERTY))) {
		enum icalproperty_transp t = icalproperty_get_transp(p);

		ev->transparent = t == ICAL_TRANSP_TRANSPARENT ||
		    t == ICAL_TRANSP_TRANSPARENTNOCONFLICT;
	}
	if ((p = icalcomponent_get_first_property(comp, ICAL_SEQUENCE_PROPERTY)))
		ev->sequence = icalproperty_get_sequence(p);
	ev->rapport_created = strncmp(uid, EVENT_RAPPORT_UID_PREFIX,
	    strlen(EVENT_RAPPORT_UID_PREFIX)) == 0 || has_rapport_xprop(comp);
}

static void
event_copy(struct event *dst, const struct event *src)
{
	*dst = *src;
	dst->uid = xstrdup(src->uid);
	dst->summary = xstrdup_or_null(src->summary);
	dst->location = xstrdup_or_null(src->location);
	dst->description = xstrdup_or_null(src->description);
	dst->organizer = xstrdup_or_null(src->organizer);
	if (src->nattendees == 0)
		return;
	dst->attendees = xreallocarray(NULL, src->nattendees,
	    sizeof(*dst->attendees));
	for (size_t i = 0; i < src->nattendees; i++) {
		dst->attendees[i] = src->attendees[i];
		dst->attendees[i].addr = xstrdup(src->attendees[i].addr);
		dst->attendees[i].name = xstrdup_or_null(src->attendees[i].name);
	}
}

static void
list_push(struct event_list *l, const struct event *tmpl, int64_t rid,
    int64_t start, int64_t end, bool all_day)
{
	struct event *ev;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	ev = &l->v[l->n++];
	event_copy(ev, tmpl);
	ev->recurrence_id = rid;
	ev->start = start;
	ev->end = end < start ? start : end;
	ev->all_day = all_day;
}

static bool
in_window(const struct ical_ctx *c, int64_t start, int64_t end)
{
	if (end > start)
		return start < c->to && end > c->from;
	return start >= c->from && start < c->to;
}

/* ------------------------------------------------------------ durations */

static void
series_duration(struct ical_ctx *c, struct ical_series *s)
{
	icalcomponent *comp = s->comp;
	icalproperty *p;
	struct icaltimetype tt;
	int64_t end;

	memset(&s->dur, 0, sizeof(s->dur));
	p = icalcomponent_get_first_property(comp, ICAL_DTEND_PROPERTY);
	if (p && prop_time(c, p, s->uid, &tt, NULL, &end) == 0) {
		if (s->all_day && tt.is_date) {
			int64_t d = (int64_t)icaltime_as_timet(tt) -
			    (int64_t)icaltime_as_timet(s->dtstart);

			s->dur.days = d > 0 ? (int)(d / 86400) : 0;
		} else {
			s->dur.exact = true;
			s->dur.secs = end > s->start ? end - s->start : 0;
		}
		return;
	}
	p = icalcomponent_get_first_property(comp, ICAL_DURATION_PROPERTY);
	if (p) {
		struct icaldurationtype d = icalproperty_get_duration(p);

		if (!d.is_neg) {
			s->dur.days = (int)(d.weeks * 7 + d.days);
			s->dur.extra = (int64_t)d.hours * 3600 +
			    d.minutes * 60 + d.seconds;
		}
		return;
	}
	if (s->all_day)
		s->dur.days = 1;
}

static int64_t
inst_end(const struct ical_series *s, struct icaltimetype local, int64_t start)
{
	int64_t end;

	if (s->dur.exact)
		return start + s->dur.secs;
	if (s->dur.days == 0)
		return start + s->dur.extra;
	local.zone = NULL;
	icaltime_adjust(&local, s->dur.days, 0, 0, 0);
	end = to_utc(local, s->zone);
	return end + s->dur.extra;
}

/* ---------------------------------------------------------- recurrences */

static void
insts_add(struct ical_insts *in, struct icaltimetype local, int64_t start)
{
	if (in->n == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 32;
		in->v = xreallocarray(in->v, in->cap, sizeof(*in->v));
	}
	in->v[in->n].local = local;
	in->v[in->n++].start = start;
}

static void
rids_add(struct ical_rids *r, int64_t t)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = xreallocarray(r->v, r->cap, sizeof(*r->v));
	}
	r->v[r->n++] = t;
}

static bool
rids_has(const struct ical_rids *r, int64_t t)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i] == t)
			return true;
	return false;
}

static int
inst_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct ical_inst *)a)->start;
	int64_t y = ((const struct ical_inst *)b)->start;

	return (x > y) - (x < y);
}

/* The latest start an occurrence overlapping the window can have is
 * c->to; the earliest is c->from minus the longest duration. */
static int64_t
series_earliest(const struct ical_ctx *c, const struct ical_series *s)
{
	int64_t longest = s->dur.exact ? s->dur.secs :
	    (int64_t)(s->dur.days + 1) * 90000 + s->dur.extra;

	return c->from - longest - 1;
}

/*
 * An iterator gets DTSTART in its zone so that it compares UNTIL (UTC)
 * correctly; it steps in wall time, so DST never moves the hour.
 */
static void
expand_rrule(struct ical_ctx *c, const struct ical_series *s,
    struct icalrecurrencetype rule, struct ical_insts *in)
{
	icalrecur_iterator *it;
	struct icaltimetype dt = s->dtstart, next;
	char ubuf[201];
	int64_t earliest = series_earliest(c, s);
	long steps = 0;

	if (!s->all_day)
		dt.zone = s->zone;
	if ((it = icalrecur_iterator_new(rule, dt)) == NULL) {
		log_warnx("caldav: uid=%s: RRULE not understood, "
		    "first occurrence only", log_safe(s->uid, ubuf, sizeof(ubuf)));
		return;
	}
	/* Jumping ahead matters only for rules that step fast. */
	if (rule.count == 0 && rule.freq >= ICAL_SECONDLY_RECURRENCE &&
	    rule.freq <= ICAL_DAILY_RECURRENCE && earliest - 86400 > s->start) {
		struct icaltimetype st = icaltime_from_timet_with_zone(
		    (time_t)(earliest - 86400), s->all_day, s->zone);

		if (!s->all_day)
			st.zone = s->zone;
		icalrecur_iterator_set_start(it, st);
	}
	while (!icaltime_is_null_time(next = icalrecur_iterator_next(it))) {
		int64_t t;

		if (++steps > ICAL_STEPS_MAX) {
			log_warnx("caldav: uid=%s: RRULE stopped after %d "
			    "steps", log_safe(s->uid, ubuf, sizeof(ubuf)),
			    ICAL_STEPS_MAX);
			break;
		}
		next.zone = NULL;
		t = to_utc(next, s->zone);
		if (t >= c->to)
			break;
		if (t >= earliest)
			insts_add(in, next, t);
	}
	icalrecur_iterator_free(it);
}

static void
expand_rdates(struct ical_ctx *c, const struct ical_series *s,
    struct ical_insts *in)
{
	icalproperty *p;

	for (p = icalcomponent_get_first_property(s->comp, ICAL_RDATE_PROPERTY);
	    p; p = icalcomponent_get_next_property(s->comp, ICAL_RDATE_PROPERTY)) {
		struct icaldatetimeperiodtype rd = icalproperty_get_rdate(p);
		struct icaltimetype tt = icaltime_is_null_time(rd.time) ?
		    rd.period.start : rd.time;
		icaltimezone *z;
		int64_t t;

		if (icaltime_is_null_time(tt) || !icaltime_is_valid_time(tt))
			continue;	/* VALUE=PERIOD libical did not parse */
		z = prop_zone(c, p, tt, s->uid);
		tt.zone = NULL;
		if (s->all_day && !tt.is_date)
			continue;
		t = to_utc(tt, z);
		insts_add(in, tt, t);
	}
}

/* EXDATEs as UTC starts; a DATE EXDATE on a timed series removes the
 * occurrences of that local day. */
static bool
excluded(struct ical_ctx *c, const struct ical_series *s,
    const struct ical_inst *inst)
{
	icalproperty *p;

	for (p = icalcomponent_get_first_property(s->comp, ICAL_EXDATE_PROPERTY);
	    p; p = icalcomponent_get_next_property(s->comp, ICAL_EXDATE_PROPERTY)) {
		struct icaltimetype tt;
		int64_t t;

		if (prop_time(c, p, s->uid, &tt, NULL, &t) != 0)
			continue;
		if (tt.is_date && !s->all_day) {
			if (tt.year == inst->local.year &&
			    tt.month == inst->local.month &&
			    tt.day == inst->local.day)
				return true;
		} else if (t == inst->start)
			return true;
	}
	return false;
}

static bool
is_recurring(icalcomponent *comp)
{
	return icalcomponent_get_first_property(comp, ICAL_RRULE_PROPERTY) ||
	    icalcomponent_get_first_property(comp, ICAL_RDATE_PROPERTY);
}

static void
expand_master(struct ical_ctx *c, const struct ical_series *s,
    const struct ical_rids *overridden)
{
	struct ical_insts in = { 0 };
	struct event tmpl;
	icalproperty *p;
	size_t emitted = 0;
	bool recurring = is_recurring(s->comp);
	char ubuf[201];

	fill_fields(&tmpl, s->comp, s->uid);
	insts_add(&in, s->dtstart, s->start);
	for (p = icalcomponent_get_first_property(s->comp, ICAL_RRULE_PROPERTY);
	    p; p = icalcomponent_get_next_property(s->comp, ICAL_RRULE_PROPERTY))
		expand_rrule(c, s, icalproperty_get_rrule(p), &in);
	expand_rdates(c, s, &in);
	qsort(in.v, in.n, sizeof(*in.v), inst_cmp);
	for (size_t i = 0; i < in.n; i++) {
		const struct ical_inst *x = &in.v[i];
		int64_t end;

		if (i > 0 && x->start == in.v[i - 1].start)
			continue;
		if (rids_has(overridden, x->start) || excluded(c, s, x))
			continue;
		end = inst_end(s, x->local, x->start);
		if (!in_window(c, x->start, end))
			continue;
		if (emitted == ICAL_SERIES_MAX) {
			log_warnx("caldav: uid=%s: series capped at %d "
			    "occurrences", log_safe(s->uid, ubuf, sizeof(ubuf)),
			    ICAL_SERIES_MAX);
			break;
		}
		list_push(c->out, &tmpl, recurring ? x->start : 0, x->start,
		    end, s->all_day);
		emitted++;
	}
	free(in.v);
	event_free(&tmpl);
}

/* ---------------------------------------------------------- components */

static int
series_init(struct ical_ctx *c, icalcomponent *comp, const char *uid,
    struct ical_series *s)
{
	icalproperty *p;

	memset(s, 0, sizeof(*s));
	s->comp = comp;
	s->uid = uid;
	p = icalcomponent_get_first_property(comp, ICAL_DTSTART_PROPERTY);
	if (p == NULL)	/* an override may rely on its RECURRENCE-ID */
		p = icalcomponent_get_first_property(comp,
		    ICAL_RECURRENCEID_PROPERTY);
	if (prop_time(c, p, uid, &s->dtstart, &s->zone, &s->start) != 0)
		return -1;
	s->all_day = s->dtstart.is_date;
	series_duration(c, s);
	return 0;
}

static void
emit_override(struct ical_ctx *c, icalcomponent *comp, const char *uid,
    int64_t rid)
{
	struct ical_series s;
	struct event tmpl;
	int64_t end;

	if (series_init(c, comp, uid, &s) != 0)
		return;
	end = inst_end(&s, s.dtstart, s.start);
	if (!in_window(c, s.start, end))
		return;
	fill_fields(&tmpl, comp, uid);
	list_push(c->out, &tmpl, rid, s.start, end, s.all_day);
	event_free(&tmpl);
}

static const char *
comp_uid(icalcomponent *comp)
{
	const char *uid = icalcomponent_get_uid(comp);

	return uid && *uid ? uid : NULL;
}

static int
override_rid(struct ical_ctx *c, icalcomponent *comp, const char *uid,
    int64_t *rid)
{
	icalproperty *p = icalcomponent_get_first_property(comp,
	    ICAL_RECURRENCEID_PROPERTY);

	return prop_time(c, p, uid, NULL, NULL, rid);
}

/* All VEVENTs of one UID: the master's instances, minus those an
 * override names, plus the overrides. */
static void
expand_uid(struct ical_ctx *c, const char *uid)
{
	struct ical_rids rids = { 0 };
	icalcomponent *comp, *master = NULL;
	struct ical_series s;
	int64_t rid;

	for (comp = icalcomponent_get_first_component(c->root,
	    ICAL_VEVENT_COMPONENT); comp; comp = icalcomponent_get_next_component(
	    c->root, ICAL_VEVENT_COMPONENT)) {
		if (strcmp(comp_uid(comp), uid) != 0)
			continue;
		if (!icalcomponent_get_first_property(comp,
		    ICAL_RECURRENCEID_PROPERTY)) {
			if (master == NULL)
				master = comp;
			continue;
		}
		if (override_rid(c, comp, uid, &rid) != 0 ||
		    rids_has(&rids, rid))
			continue;
		rids_add(&rids, rid);
	}
	if (master && series_init(c, master, uid, &s) == 0)
		expand_master(c, &s, &rids);
	/* Iterating anew: emit_override must not nest a component walk. */
	for (size_t i = 0; i < rids.n; i++)
		for (comp = icalcomponent_get_first_component(c->root,
		    ICAL_VEVENT_COMPONENT); comp;
		    comp = icalcomponent_get_next_component(c->root,
		    ICAL_VEVENT_COMPONENT))
			if (strcmp(comp_uid(comp), uid) == 0 &&
			    override_rid(c, comp, uid, &rid) == 0 &&
			    rid == rids.v[i]) {
				emit_override(c, comp, uid, rid);
				break;
			}
	free(rids.v);
}

/* Every VEVENT needs a UID and a usable start; the UIDs in first-seen
 * order, each once, go to *uids. */
static int
check_events(struct ical_ctx *c, const char ***uids, size_t *nuids,
    char *err, size_t errlen)
{
	icalcomponent *comp;
	size_t i;

	for (comp = icalcomponent_get_first_component(c->root,
	    ICAL_VEVENT_COMPONENT); comp; comp = icalcomponent_get_next_component(
	    c->root, ICAL_VEVENT_COMPONENT)) {
		const char *uid = comp_uid(comp);
		struct icaltimetype tt;
		icalproperty *p;
		int64_t t;

		if (uid == NULL || strlen(uid) > EVENT_UID_MAX) {
			snprintf(err, errlen, "VEVENT without a usable UID");
			return -1;
		}
		p = icalcomponent_get_first_property(comp, ICAL_DTSTART_PROPERTY);
		if (p == NULL)
			p = icalcomponent_get_first_property(comp,
			    ICAL_RECURRENCEID_PROPERTY);
		if (prop_time(c, p, uid, &tt, NULL, &t) != 0) {
			char ubuf[201];

			snprintf(err, errlen, "uid=%s: VEVENT without a "
			    "usable DTSTART", log_safe(uid, ubuf, sizeof(ubuf)));
			return -1;
		}
		for (i = 0; i < *nuids; i++)
			if (strcmp((*uids)[i], uid) == 0)
				break;
		if (i == *nuids) {
			*uids = xreallocarray(*uids, *nuids + 1, sizeof(**uids));
			(*uids)[(*nuids)++] = uid;
		}
	}
	return 0;
}

/* ------------------------------------------------------------- the text */

static bool
line_is(const char *line, size_t len, const char *what)
{
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	return len == strlen(what) && strncasecmp(line, what, len) == 0;
}

/* The first and the last non-blank line of b (LF-terminated lines). */
static void
edge_lines(const char *b, size_t len, const char **first, size_t *flen,
    const char **last, size_t *llen)
{
	size_t i = 0, e;

	*first = *last = NULL;
	*flen = *llen = 0;
	while (i < len) {
		e = i;
		while (e < len && b[e] != '\n')
			e++;
		if (e > i) {
			if (*first == NULL) {
				*first = b + i;
				*flen = e - i;
			}
			*last = b + i;
			*llen = e - i;
		}
		i = e + 1;
	}
}

/*
 * Unfolds every line (CRLF or bare LF followed by a blank), ends lines
 * with LF and drops NUL bytes, so libical sees one logical line per
 * property whatever the server's folding did.  Also checks that the
 * object begins with BEGIN:VCALENDAR and ends with END:VCALENDAR: a cut
 * transfer would otherwise parse as a smaller, wrong object.
 */
static char *
unfold(const char *text, size_t len, char *err, size_t errlen)
{
	/* Never longer than the input plus the final LF: one allocation,
	 * not a byte-by-byte append (a hot loop of an initial sync). */
	char *buf = xmalloc(len + 2);
	const char *first, *last;
	size_t flen, llen, o = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = text[i];

		if (ch == '\r' && i + 1 < len && text[i + 1] == '\n')
			continue;
		if (ch == '\r')
			ch = '\n';
		if (ch == '\n' && i + 1 < len &&
		    (text[i + 1] == ' ' || text[i + 1] == '\t')) {
			i++;
			continue;
		}
		if (ch != '\0')
			buf[o++] = ch;
	}
	buf[o++] = '\n';
	buf[o] = '\0';
	edge_lines(buf, o, &first, &flen, &last, &llen);
	if (first == NULL || !line_is(first, flen, "BEGIN:VCALENDAR") ||
	    !line_is(last, llen, "END:VCALENDAR")) {
		snprintf(err, errlen, "not a complete VCALENDAR (%s)",
		    first == NULL ? "empty" : "truncated or foreign text");
		free(buf);
		return NULL;
	}
	return buf;
}

/* Whether line is "TZID:NAME" with NAME a built-in zone. */
static bool
tzid_builtin(const char *line, size_t len)
{
	char name[256];

	if (len < 5 || strncasecmp(line, "TZID:", 5) != 0)
		return false;
	line += 5;
	len -= 5;
	while (len > 0 && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(name))
		return false;
	memcpy(name, line, len);
	name[len] = '\0';
	return builtin_zone_iana(name) != NULL;
}

/*
 * Drops from the unfolded text (LF-terminated lines) each VTIMEZONE
 * whose TZID is a built-in zone's:
 * prop_zone reads such a TZID in the built-in zone and never asks the
 * object's copy, whose parse by libical (two sub-components with their
 * RRULEs, in nearly every object) was a fifth of the parse.  A block
 * with a second TZID, a nested BEGIN:VTIMEZONE or no end is kept whole.
 */
static void
drop_known_zones(char *buf, size_t len)
{
	size_t r = 0, w = 0, e, n, start = 0, ntzid = 0;
	bool in = false, known = false;
	const char *line;

	for (; r < len; r = e) {
		for (e = r; e < len && buf[e] != '\n'; e++)
			;
		n = e - r;		/* without the LF */
		if (e < len)
			e++;
		memmove(buf + w, buf + r, e - r);
		line = buf + w;
		w += e - r;
		if (line_is(line, n, "BEGIN:VTIMEZONE")) {
			known = !in;	/* nested: kept */
			in = true;
			start = line - buf;
			ntzid = 0;
		} else if (in && line_is(line, n, "END:VTIMEZONE")) {
			in = false;
			if (known && ntzid == 1)
				w = start;
		} else if (in && n >= 5 && strncasecmp(line, "TZID", 4) == 0 &&
		    (line[4] == ':' || line[4] == ';')) {
			ntzid++;
			if (!tzid_builtin(line, n))
				known = false;
		}
	}
	buf[w] = '\0';
}

static int
parse_root(struct ical_ctx *c, const char *text, size_t len, char *err,
    size_t errlen)
{
	char *buf;

	if (len > ICAL_OBJECT_MAX) {
		snprintf(err, errlen, "object larger than %d bytes",
		    ICAL_OBJECT_MAX);
		return -1;
	}
	if ((buf = unfold(text, len, err, errlen)) == NULL)
		return -1;
	drop_known_zones(buf, strlen(buf));
	c->root = icalparser_parse_string(buf);
	free(buf);
	if (c->root == NULL ||
	    icalcomponent_isa(c->root) != ICAL_VCALENDAR_COMPONENT) {
		snprintf(err, errlen, "not a single VCALENDAR");
		return -1;
	}
	return 0;
}

int
ical_expand(const char *text, size_t len, int64_t from, int64_t to,
    const char *default_tz, struct event_list *out, char *err, size_t errlen)
{
	struct ical_ctx c = { 0 };
	const char **uids = NULL;
	size_t nuids = 0, before = out->n;
	int rc = -1;

	if (default_tz == NULL || (c.deftz = builtin_zone(default_tz)) == NULL) {
		snprintf(err, errlen, "unknown default time zone \"%.100s\"",
		    default_tz ? default_tz : "");
		return -1;
	}
	c.utc = icaltimezone_get_utc_timezone();
	c.from = from;
	c.to = to;
	c.out = out;
	if (parse_root(&c, text, len, err, errlen) != 0 ||
	    check_events(&c, &uids, &nuids, err, errlen) != 0)
		goto out;
	for (size_t i = 0; i < nuids; i++)
		expand_uid(&c, uids[i]);
	rc = (int)(out->n - before);
out:
	free(uids);
	ctx_free(&c);
	return rc;
}
