/*
 * The CalDAV connector: discovers an account's calendars (RFC 6764
 * well-known URL, current-user-principal, calendar-home-set), and keeps
 * the store's copy of their events current with sync-collection (RFC
 * 6578), or getctag + an etag listing + calendar-multiget where the
 * server has no sync-collection.  Each resource is expanded by
 * ical_expand() within the account's window and its occurrences linked
 * to customers (store_event.h: the attendee and name rules).
 *
 * The cursor (sync-token or ctag) commits in the same transaction as the
 * last batch of the answer it covers; a crash re-fetches at most that
 * answer, and storing a resource twice changes nothing.
 */
#ifndef RAPPORT_CALDAV_H
#define RAPPORT_CALDAV_H

#include "connector.h"

/* Resources per calendar-multiget (and per store transaction). */
#define CALDAV_MULTIGET_BATCH	100

extern const struct connector_ops caldav_connector;

/*
 * The process-wide set-up the connector needs before any thread starts:
 * libcurl, libxml2 and libical's time zones.  Main thread, once.
 * Returns 0, or -1 when libical's zone data or libcurl is missing.
 */
int caldav_global_init(void);
void caldav_global_shutdown(void);

#endif
