/*
 * One CalDAV calendar object resource (the text of a VCALENDAR) → the
 * occurrences of its events inside a window, as struct event (event.h).
 *
 * Time zones: a TZID that is an IANA name (or ends in one after a vendor
 * prefix starting with a slash, "/mozilla.org/20050126_1/Europe/Berlin")
 * reads in libical's built-in zone of that name, else in the VTIMEZONE
 * inside the object (Windows names), else in the built-in zone named by
 * a tail after a slash; an unknown TZID is logged once per object and
 * read in the default zone (libical alone would make it floating, i.e.
 * UTC).  An IANA-named VTIMEZONE is not read: the built-in rules are the
 * current ones, and expanding each object's own costs most of a sync.  Floating times and all-day dates use the default
 * zone.  A missing DTEND and DURATION means one day for an all-day event
 * and zero length for a timed one.
 *
 * Recurrences: RRULE and RDATE are expanded in the zone of DTSTART (a
 * weekly 09:00 Europe/Berlin series stays at 09:00 local across DST),
 * EXDATEs removed, and RECURRENCE-ID overrides (moved or cancelled
 * occurrences) replace the master's instance they name (matched in UTC).
 * RANGE=THISANDFUTURE is read as a single-instance override.  A series
 * yields at most ICAL_SERIES_MAX occurrences (logged when capped).
 *
 * Threads: call ical_init() once on the main thread before any other
 * thread parses; ical_expand() may then run on any thread (zones load on
 * first use, under zone.c's lock).
 */
#ifndef RAPPORT_ICAL_EXPAND_H
#define RAPPORT_ICAL_EXPAND_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

#define ICAL_OBJECT_MAX		(4 * 1024 * 1024)	/* bytes of one resource */
#define ICAL_SERIES_MAX		5000	/* occurrences kept per series */
#define ICAL_STEPS_MAX		200000	/* RRULE steps tried per series */

/*
 * Makes libical errors non-fatal and checks libical's zone data is there
 * (loading Europe/Berlin only).  Returns 0, or -1 if the zone data is
 * missing (no Europe/Berlin, no UTC).
 */
int ical_init(void);
/* zone_shutdown(), and libical's buffers; no ical_expand() after it. */
void ical_shutdown(void);
/* Whether name is a zone ical_expand() accepts as default_tz. */
int ical_zone_known(const char *name);

/*
 * Appends to out the occurrences of every VEVENT in text (len bytes, need
 * not be NUL-terminated) that overlap the UTC window [from, to); a
 * zero-length event overlaps when from <= start < to.  default_tz is an
 * IANA zone name.  Returns the number appended, or -1 with a one-line
 * reason in err (nothing appended) when the object is broken: not a
 * single complete VCALENDAR, a VEVENT without UID or DTSTART, too large.
 * An object without VEVENTs (a VTODO, say) appends nothing and returns 0.
 */
int ical_expand(const char *text, size_t len, int64_t from, int64_t to,
    const char *default_tz, struct event_list *out, char *err, size_t errlen);

#endif
