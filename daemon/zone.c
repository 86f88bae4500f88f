#include "zone.h"

#include <stdint.h>
#include <string.h>

#include <libical/ical.h>

const struct zone *
zone_get(const char *name)
{
	if (name == NULL || *name == '\0')
		return NULL;
	if (strcmp(name, "UTC") == 0)
		return (const struct zone *)icaltimezone_get_utc_timezone();
	return (const struct zone *)icaltimezone_get_builtin_timezone(name);
}

const struct zone *
zone_get_or(const char *name, const char *fallback)
{
	const struct zone *z = zone_get(name);

	if (z == NULL)
		z = zone_get(fallback);
	return z ? z : zone_get("UTC");
}

/* libical's API is not const-correct; the zone is only read. */
static icaltimezone *
ical_zone(const struct zone *z)
{
	return (icaltimezone *)(uintptr_t)z;
}

void
zone_local(int64_t utc, const struct zone *z, struct local_time *out)
{
	struct icaltimetype t = icaltime_from_timet_with_zone((time_t)utc, 0,
	    ical_zone(z));

	out->year = t.year;
	out->month = t.month;
	out->day = t.day;
	out->hour = t.hour;
	out->minute = t.minute;
	out->second = t.second;
	/* icaltime_day_of_week: 1 = Sunday … 7 = Saturday. */
	out->wday = (icaltime_day_of_week(t) + 5) % 7;
}

int64_t
zone_utc(const struct zone *z, int year, int month, int day, int hour,
    int minute)
{
	struct icaltimetype t = icaltime_null_time();

	t.year = year;
	t.month = month;
	t.day = day;
	t.hour = hour;
	t.minute = minute;
	t.is_date = 0;
	t.zone = ical_zone(z);
	return (int64_t)icaltime_as_timet_with_zone(t, ical_zone(z));
}

bool
zone_leap_year(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int
zone_month_days(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (month == 2 && zone_leap_year(year))
		return 29;
	return days[month - 1];
}

void
zone_date_add(int *year, int *month, int *day, int days)
{
	for (; days > 0; days--)
		if (++*day > zone_month_days(*year, *month)) {
			*day = 1;
			if (++*month > 12) {
				*month = 1;
				++*year;
			}
		}
	for (; days < 0; days++)
		if (--*day < 1) {
			if (--*month < 1) {
				*month = 12;
				--*year;
			}
			*day = zone_month_days(*year, *month);
		}
}
