/* Visit planning decisions: who is overdue, and which slot each gets. */
#include <string.h>

#include "clock.h"
#include "tap.h"
#include "visits.h"
#include "zone.h"

static int64_t
at(const char *iso)
{
	int64_t t = 0;

	clock_parse_iso8601(iso, &t);
	return t;
}

static const char *
fmt(int64_t t)
{
	static char buf[4][32];
	static int i;

	i = (i + 1) % 4;
	clock_format_utc(t, buf[i], sizeof(buf[i]));
	return buf[i];
}

static struct visits_config
default_visits(void)
{
	struct visits_config vc;

	memset(&vc, 0, sizeof(vc));
	vc.cadence_days[0] = 30;
	vc.cadence_days[1] = 90;
	vc.cadence_days[2] = 0;		/* tier C: never */
	vc.hours_days = 0x1f;		/* Mon-Fri */
	vc.hours_start = 9 * 60;
	vc.hours_end = 17 * 60;
	vc.length = 60;
	vc.buffer = 30;
	vc.horizon = 14;
	vc.per_day = 2;
	return vc;
}

int
main(void)
{
	struct visits_config vc = default_visits();
	const struct zone *berlin = zone_get("Europe/Berlin");
	/* Monday 7 December 2026, 08:00 local (07:00Z). */
	int64_t now = at("2026-12-07T07:00:00Z");
	struct visit_candidate c[4] = {
		{ 1, 'A', at("2026-10-01T00:00:00Z") },	/* overdue since 31 Oct */
		{ 2, 'A', at("2026-09-01T00:00:00Z") },	/* more overdue */
		{ 3, 'B', at("2026-11-01T00:00:00Z") },	/* not due yet */
		{ 4, 'C', at("2020-01-01T00:00:00Z") },	/* tier C: never */
	};
	struct visit_proposal p[8];
	struct visit_interval busy[2];
	char period[16];
	int64_t since;
	size_t n;

	ok(visits_overdue(&vc, &c[0], now, &since) &&
	    since == at("2026-10-31T00:00:00Z"), "A overdue after 30 days");
	ok(!visits_overdue(&vc, &c[2], now, NULL), "B within its 90 days");
	ok(!visits_overdue(&vc, &c[3], now, NULL), "a tier without cadence never");
	visits_period(at("2026-10-31T00:00:00Z"), berlin, period, sizeof(period));
	is_str(period, "20261031", "period: the local date it became overdue");

	n = visits_plan(&vc, berlin, now, 3600, c, 4, NULL, 0, NULL, 0, p, 8);
	is_int(n, 2, "two overdue customers, two proposals");
	is_int(p[0].customer_id, 2, "most overdue first");
	is_str(fmt(p[0].start), "2026-12-07T08:00:00Z",
	    "first slot: 09:00 local today (lead time respected)");
	is_str(fmt(p[1].start), "2026-12-07T09:30:00Z",
	    "second: after the first visit and the travel buffer between them");
	is_int(p[1].end - p[1].start, 3600, "visits last the configured length");

	/* A busy morning pushes the first visit past it plus its buffer.
	 * (Between two visits one buffer of travel is kept.) */
	busy[0].start = at("2026-12-07T08:00:00Z");
	busy[0].end = at("2026-12-07T11:00:00Z");
	n = visits_plan(&vc, berlin, now, 3600, c, 4, busy, 1, NULL, 0, p, 8);
	ok(n == 2 && p[0].start == at("2026-12-07T11:30:00Z"),
	    "slot after a busy block plus buffer: %s", fmt(p[0].start));
	ok(p[1].start == at("2026-12-07T13:00:00Z"), "next after that: %s",
	    fmt(p[1].start));

	/* per_day: a day that already has two visits is full. */
	busy[1].start = at("2026-12-07T14:00:00Z");
	busy[1].end = at("2026-12-07T15:00:00Z");
	n = visits_plan(&vc, berlin, now, 3600, c, 4, NULL, 0, busy, 2, p, 8);
	ok(n == 2 && p[0].start >= at("2026-12-08T00:00:00Z"),
	    "a full day is skipped: %s", fmt(p[0].start));

	/* Weekends are not working days: Friday evening → Monday. */
	now = at("2026-12-11T16:30:00Z");
	n = visits_plan(&vc, berlin, now, 3600, c, 1, NULL, 0, NULL, 0, p, 8);
	ok(n == 1 && p[0].start == at("2026-12-14T08:00:00Z"),
	    "Friday evening: Monday 09:00 local: %s", fmt(p[0].start));

	/* Nothing free within the horizon: no proposal. */
	vc.horizon = 1;
	busy[0].start = at("2026-12-11T00:00:00Z");
	busy[0].end = at("2026-12-20T00:00:00Z");
	n = visits_plan(&vc, berlin, now, 3600, c, 1, busy, 1, NULL, 0, p, 8);
	is_int(n, 0, "no free slot within the horizon: wait");

	/* Summer time: 09:00 local is 07:00Z. */
	vc = default_visits();
	now = at("2026-07-06T05:00:00Z");
	c[0].last_visit = at("2026-05-01T00:00:00Z");
	n = visits_plan(&vc, berlin, now, 3600, c, 1, NULL, 0, NULL, 0, p, 8);
	ok(n == 1 && p[0].start == at("2026-07-06T07:00:00Z"),
	    "summer: 09:00 CEST is 07:00Z: %s", fmt(p[0].start));
	return tap_done();
}
