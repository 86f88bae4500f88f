#include "when.h"

int64_t
when_birthday(int year, int month, int day, int hour, bool feb29_on_feb28,
    const struct zone *z)
{
	if (month == 2 && day == 29 && !zone_leap_year(year)) {
		if (feb29_on_feb28) {
			day = 28;
		} else {
			month = 3;
			day = 1;
		}
	}
	return zone_utc(z, year, month, day, hour, 0);
}

void
when_birthday_next(int64_t now, int month, int day, int hour,
    bool feb29_on_feb28, const struct zone *z, int64_t grace, int *year,
    int64_t *at)
{
	struct local_time lt;

	zone_local(now, z, &lt);
	*year = lt.year;
	*at = when_birthday(*year, month, day, hour, feb29_on_feb28, z);
	if (*at + grace < now) {
		(*year)++;
		*at = when_birthday(*year, month, day, hour, feb29_on_feb28, z);
	}
}

static bool
quiet_at(int minute, int start, int end)
{
	if (start < end)
		return minute >= start && minute < end;
	return minute >= start || minute < end;
}

int64_t
when_outside_quiet(int64_t t, const struct zone *z, int start, int end)
{
	struct local_time lt;
	int minute, y, m, d;

	if (start < 0 || end < 0 || start == end)
		return t;
	zone_local(t, z, &lt);
	minute = lt.hour * 60 + lt.minute;
	if (!quiet_at(minute, start, end))
		return t;
	y = lt.year;
	m = lt.month;
	d = lt.day;
	/* Before midnight in a wrapping range: the quiet hours end tomorrow. */
	if (start > end && minute >= start)
		zone_date_add(&y, &m, &d, 1);
	return zone_utc(z, y, m, d, end / 60, end % 60);
}

/* The earliest instant >= now when fewer than `limit` of the sends fall in
 * the last `window` seconds. */
static int64_t
budget_window(int64_t now, const int64_t *sent, size_t n, int limit,
    int64_t window)
{
	size_t in = 0;

	if (limit <= 0)
		return now;
	while (in < n && sent[n - 1 - in] > now - window)
		in++;
	if (in < (size_t)limit)
		return now;
	/* Wait until the oldest send that must drop out has left the window. */
	return sent[n - (size_t)limit] + window;
}

int64_t
when_budget(int64_t now, const int64_t *sent, size_t n, int per_minute,
    int per_day)
{
	int64_t a = budget_window(now, sent, n, per_minute, 60);
	int64_t b = budget_window(now, sent, n, per_day, 86400);

	return a > b ? a : b;
}
