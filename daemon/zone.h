/*
 * Wall-clock time in a named IANA zone, through libical's built-in zone
 * data (the same zones the calendar code uses, so a birthday card and a
 * meeting agree on what 09:00 in Asia/Seoul is).
 *
 * Only zones looked up are loaded (the first zone_get() of a name loads
 * it and its transitions through 2043); zone_get() is thread-safe, and
 * libical 3.0.16 locks the transition tables zone_local() and zone_utc()
 * read.  A wall-clock time that does not exist (in the DST
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

/*
 * NULL for an unknown name.  Accepts IANA names, "UTC", "GMT", "Etc/UTC",
 * "Z" (any case) and libical's own "/freeassociation.sourceforge.net/"
 * TZIDs.  The zone stays valid until zone_shutdown().
 */
const struct zone *zone_get(const char *name);
/* The zone of name, else of fallback, else UTC: never NULL. */
const struct zone *zone_get_or(const char *name, const char *fallback);
void zone_local(int64_t utc, const struct zone *z, struct local_time *out);
int64_t zone_utc(const struct zone *z, int year, int month, int day,
    int hour, int minute);
/* Forgets every zone (libical's too); no zone may be used after it. */
void zone_shutdown(void);
bool zone_leap_year(int year);
/* Moves a calendar date by days (either sign). */
void zone_date_add(int *year, int *month, int *day, int days);
int zone_month_days(int year, int month);

#endif
