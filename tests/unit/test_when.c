/* Date math of the planner and the sender: birthdays, quiet hours, budgets. */
#include <string.h>

#include "clock.h"
#include "tap.h"
#include "when.h"
#include "zone.h"

static int64_t
at(const char *iso)
{
	int64_t t = 0;

	if (clock_parse_iso8601(iso, &t) != 0)
		printf("# bad test time %s\n", iso);
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

static void
test_zone(void)
{
	const struct zone *seoul = zone_get("Asia/Seoul");
	struct local_time lt;

	ok(seoul != NULL, "Asia/Seoul known");
	ok(zone_get("Mars/Olympus") == NULL, "unknown zone refused");
	ok(zone_get_or("Mars/Olympus", "Europe/Berlin") == zone_get("Europe/Berlin"),
	    "fallback zone used");
	zone_local(at("2026-12-31T15:30:00Z"), seoul, &lt);
	ok(lt.year == 2027 && lt.month == 1 && lt.day == 1 && lt.hour == 0 &&
	    lt.minute == 30, "UTC afternoon of 31 Dec is New Year in Seoul");
	is_int(lt.wday, 4, "1 Jan 2027 is a Friday");
	is_str(fmt(zone_utc(zone_get("Europe/Berlin"), 2026, 7, 1, 9, 0)),
	    "2026-07-01T07:00:00Z", "09:00 Berlin summer time is 07:00 UTC");
	is_str(fmt(zone_utc(zone_get("Europe/Berlin"), 2026, 1, 1, 9, 0)),
	    "2026-01-01T08:00:00Z", "09:00 Berlin winter time is 08:00 UTC");
	ok(zone_leap_year(2024) && !zone_leap_year(2100) && zone_leap_year(2000),
	    "leap years");
}

static void
test_birthday(void)
{
	const struct zone *seoul = zone_get("Asia/Seoul");
	const struct zone *ny = zone_get("America/New_York");
	int year;
	int64_t t;

	is_str(fmt(when_birthday(2026, 5, 20, 9, true, seoul)),
	    "2026-05-20T00:00:00Z", "09:00 in Seoul on the birthday");
	is_str(fmt(when_birthday(2027, 2, 29, 9, true, seoul)),
	    "2027-02-28T00:00:00Z", "29 Feb on 28 Feb in a common year");
	is_str(fmt(when_birthday(2027, 2, 29, 9, false, seoul)),
	    "2027-03-01T00:00:00Z", "or on 1 March when configured");
	is_str(fmt(when_birthday(2028, 2, 29, 9, true, seoul)),
	    "2028-02-29T00:00:00Z", "29 Feb itself in a leap year");
	is_str(fmt(when_birthday(2026, 3, 14, 9, true, ny)),
	    "2026-03-14T13:00:00Z", "New York after its DST change (EDT)");

	when_birthday_next(at("2026-05-19T12:00:00Z"), 5, 20, 9, true, seoul,
	    86400, &year, &t);
	ok(year == 2026 && t == at("2026-05-20T00:00:00Z"), "next card this year");
	when_birthday_next(at("2026-05-20T10:00:00Z"), 5, 20, 9, true, seoul,
	    86400, &year, &t);
	ok(year == 2026, "a card a few hours late is still this year's");
	when_birthday_next(at("2026-06-01T00:00:00Z"), 5, 20, 9, true, seoul,
	    86400, &year, &t);
	ok(year == 2027 && t == at("2027-05-20T00:00:00Z"),
	    "a birthday long past: next year's card");
	/* Late on 31 Dec UTC it is already 1 Jan in Seoul: the year key is
	 * the customer's local year. */
	when_birthday_next(at("2026-12-31T16:00:00Z"), 1, 1, 9, true, seoul,
	    86400, &year, &t);
	ok(year == 2027 && t == at("2027-01-01T00:00:00Z"),
	    "the year is the customer's local year");
}

static void
test_quiet(void)
{
	const struct zone *berlin = zone_get("Europe/Berlin");
	int qs = 20 * 60, qe = 8 * 60;

	is_str(fmt(when_outside_quiet(at("2026-06-01T10:00:00Z"), berlin, qs, qe)),
	    "2026-06-01T10:00:00Z", "midday is not quiet");
	is_str(fmt(when_outside_quiet(at("2026-06-01T19:00:00Z"), berlin, qs, qe)),
	    "2026-06-02T06:00:00Z", "21:00 local waits for 08:00 next morning");
	is_str(fmt(when_outside_quiet(at("2026-06-01T03:00:00Z"), berlin, qs, qe)),
	    "2026-06-01T06:00:00Z", "05:00 local waits for 08:00 the same day");
	is_str(fmt(when_outside_quiet(at("2026-12-31T21:00:00Z"), berlin, qs, qe)),
	    "2027-01-01T07:00:00Z", "quiet across the new year");
	is_str(fmt(when_outside_quiet(at("2026-03-28T20:00:00Z"), berlin, qs, qe)),
	    "2026-03-29T06:00:00Z", "quiet night of the DST change ends at 08:00 CEST");
	is_str(fmt(when_outside_quiet(at("2026-06-01T12:30:00Z"), berlin, 12 * 60,
	    14 * 60)), "2026-06-01T12:30:00Z", "14:30 local: after a lunch break");
	is_str(fmt(when_outside_quiet(at("2026-06-01T10:30:00Z"), berlin, 12 * 60,
	    14 * 60)), "2026-06-01T12:00:00Z", "12:30 local: lunch break ends 14:00");
	is_str(fmt(when_outside_quiet(at("2026-06-01T19:00:00Z"), berlin, -1, -1)),
	    "2026-06-01T19:00:00Z", "no quiet hours configured");
}

static void
test_budget(void)
{
	int64_t now = 1000000, sent[5];

	is_int(when_budget(now, NULL, 0, 2, 3), now, "nothing sent: now");
	sent[0] = now - 30;
	sent[1] = now - 10;
	is_int(when_budget(now, sent, 2, 2, 0), now + 30,
	    "2/min used: wait until the older leaves the minute");
	is_int(when_budget(now, sent, 2, 3, 0), now, "3/min: one more fits");
	sent[0] = now - 80000;
	sent[1] = now - 70000;
	sent[2] = now - 500;
	is_int(when_budget(now, sent, 3, 0, 3), now + 86400 - 80000,
	    "3/day used: wait until the oldest is 24 h old");
	is_int(when_budget(now, sent, 3, 0, 0), now, "unlimited");
}

int
main(void)
{
	test_zone();
	test_birthday();
	test_quiet();
	test_budget();
	return tap_done();
}
