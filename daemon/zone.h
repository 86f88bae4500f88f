/*
 * Wall-clock time in a named IANA zone, through libical's built-in zone
 * data (the same zones the calendar code uses, so a birthday card and a
 * meeting agree on what 09:00 in Asia/Seoul is).
 *
 * The first lookup of a zone loads it: do lookups on the main thread, or
 * after ical_init().  A wall-clock time that does not exist (in the DST
 * gap) maps to the instant libical picks, before the gap; one that exists
 * twice maps to its first occurrence.
 */
#ifndef RAPPORT_ZONE_H
#define RAPPORT_ZONE_H

#include <stdbool.h>
#include <stdint.h>

struct zone;			/* libical's icaltimezone */

struct local_time {
	int	year, month, day;	/* month 1-12 */
	int	hour, minute, second;
	int	wday;			/* 0 = Monday … 6 = Sunday */
};

/* NULL for an unknown name ("UTC" is known). */
const struct zone *zone_get(const char *name);
/* The zone of name, else of fallback, else UTC: never NULL. */
const struct zone *zone_get_or(const char *name, const char *fallback);
void zone_local(int64_t utc, const struct zone *z, struct local_time *out);
int64_t zone_utc(const struct zone *z, int year, int month, int day,
    int hour, int minute);
bool zone_leap_year(int year);
/* Moves a calendar date by days (either sign). */
void zone_date_add(int *year, int *month, int *day, int days);
int zone_month_days(int year, int month);

#endif
