#include "zone.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#include "xmalloc.h"

#define ZONE_NAME_MAX	128	/* longer names are not zones: not looked up */
#define ZONE_CACHE_MAX	1024	/* names remembered, found or not */
#define ZONE_BUCKETS	256
#define ZONE_COVER_T	2145916800	/* 2038-01-01: libical adds 5 years */

/* A name once looked up, with its zone or NULL (unknown). */
struct zone_entry {
	struct zone_entry	*next;
	icaltimezone		*zone;
	char			 name[];
};

/*
 * libical 3.0.16 locks its own lazy loading, but its lookup scans every
 * zone with strcmp, tries a file under /usr/share/zoneinfo for each miss
 * (a Windows TZID in every resource) and appends deprecated zones to its
 * array unlocked.  One lock and a cache of names in front of it make each
 * later lookup a hash probe, and ensure only zones in use are loaded.
 */
static pthread_mutex_t zone_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zone_entry *zone_cache[ZONE_BUCKETS];
static size_t zone_ncached;

static bool
zone_is_utc(const char *name)
{
	return strcasecmp(name, "UTC") == 0 || strcasecmp(name, "GMT") == 0 ||
	    strcasecmp(name, "Etc/UTC") == 0 || strcasecmp(name, "Z") == 0;
}

static unsigned
zone_hash(const char *name)
{
	unsigned h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h % ZONE_BUCKETS;
}

/*
 * Loads the zone and its transitions through 2043 now, under the lock,
 * so that readers on other threads find them ready.
 */
static icaltimezone *
zone_load(const char *name)
{
	icaltimezone *z, *utc = icaltimezone_get_utc_timezone();
	struct icaltimetype tt;

	if ((z = icaltimezone_get_builtin_timezone(name)) == NULL &&
	    name[0] == '/')
		z = icaltimezone_get_builtin_timezone_from_tzid(name);
	if (z == NULL)
		return NULL;
	tt = icaltime_from_timet_with_zone(ZONE_COVER_T, 0, utc);
	icaltimezone_convert_time(&tt, utc, z);
	return z;
}

static icaltimezone *
zone_lookup(const char *name)
{
	unsigned h = zone_hash(name);
	struct zone_entry *e;
	size_t len = strlen(name);

	for (e = zone_cache[h]; e != NULL; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e->zone;
	e = xmalloc(sizeof(*e) + len + 1);
	e->zone = zone_load(name);
	memcpy(e->name, name, len + 1);
	/* Found zones are few; unknown names come from servers: bounded. */
	if (e->zone == NULL && zone_ncached >= ZONE_CACHE_MAX) {
		free(e);
		return NULL;
	}
	e->next = zone_cache[h];
	zone_cache[h] = e;
	zone_ncached++;
	return e->zone;
}

const struct zone *
zone_get(const char *name)
{
	icaltimezone *z;

	if (name == NULL || *name == '\0' || strlen(name) >= ZONE_NAME_MAX ||
	    strstr(name, "..") != NULL)
		return NULL;
	pthread_mutex_lock(&zone_lock);
	z = zone_is_utc(name) ? icaltimezone_get_utc_timezone() :
	    zone_lookup(name);
	pthread_mutex_unlock(&zone_lock);
	return (const struct zone *)z;
}

void
zone_shutdown(void)
{
	pthread_mutex_lock(&zone_lock);
	for (size_t i = 0; i < ZONE_BUCKETS; i++)
		while (zone_cache[i] != NULL) {
			struct zone_entry *e = zone_cache[i];

			zone_cache[i] = e->next;
			free(e);
		}
	zone_ncached = 0;
	icaltimezone_free_builtin_timezones();
	pthread_mutex_unlock(&zone_lock);
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
