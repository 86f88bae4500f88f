/*
 * When something may happen: the date math of the planner and the sender,
 * as pure functions of "now" so that tests can walk through leap years,
 * time zones and DST changes.
 */
#ifndef RAPPORT_WHEN_H
#define RAPPORT_WHEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zone.h"

/*
 * The instant of a birthday card in the given year: hour:00 local time in
 * zone z on the birthday.  29 February in a common year falls on
 * 28 February (feb29_on_feb28) or 1 March.
 */
int64_t when_birthday(int year, int month, int day, int hour,
    bool feb29_on_feb28, const struct zone *z);

/*
 * The card to plan at `now`: this local year's, unless it is more than
 * `grace` seconds past (then next year's).  The year is the card's
 * occurrence key: one card per year, whatever the clock or config does.
 */
void when_birthday_next(int64_t now, int month, int day, int hour,
    bool feb29_on_feb28, const struct zone *z, int64_t grace, int *year,
    int64_t *at);

/*
 * The earliest instant >= t outside the quiet hours [start, end) (minutes
 * after local midnight in z; start > end wraps past midnight; start < 0:
 * no quiet hours).
 */
int64_t when_outside_quiet(int64_t t, const struct zone *z, int start,
    int end);

/*
 * The earliest instant >= now at which one more message fits a sending
 * budget of per_minute (per 60 s) and per_day (per rolling 24 h), given
 * the ascending send times `sent` of the last 24 hours.  0 = unlimited.
 */
int64_t when_budget(int64_t now, const int64_t *sent, size_t n,
    int per_minute, int per_day);

#endif
