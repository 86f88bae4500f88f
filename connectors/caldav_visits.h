/*
 * Visit proposals written back to the planning calendar: the CalDAV
 * account's step after each successful sync, when the account names a
 * planning_calendar.
 *
 * The step first reads what the user did to earlier proposals (the sync
 * just brought their calendars into the store): one with another start
 * was moved and is left where the user put it; one gone from every
 * calendar was deleted and is never proposed again for its period.  Then
 * overdue customers with nothing scheduled and no proposal for their
 * period (visits.h decides who and when, in [rapport] timezone) get a
 * tentative "Visit: NAME" event, created with If-None-Match: * under a
 * UID fixed by customer and period, so no run ever writes one twice.
 *
 * Busy times come from the server itself (a calendar-query over the
 * horizon, every watched calendar), because the store keeps no TRANSP:
 * opaque events that are not cancelled and that the user did not decline
 * are busy.  rapport never writes to an event it did not create, and
 * never rewrites one of its own: a proposal once made is the user's.
 * The one exception is erasure: the proposals of a forgotten customer
 * still to come are deleted with If-Match on the etag rapport wrote, so
 * one the user changed (412) stays.
 */
#ifndef RAPPORT_CALDAV_VISITS_H
#define RAPPORT_CALDAV_VISITS_H

#include <stddef.h>

#include "connector.h"

struct caldav_http;

/* A watched calendar of the account, as discovery found it. */
struct caldav_visits_cal {
	const char	*href;		/* as the server names it: the store's key */
	const char	*url;
	const char	*name;		/* display name, else href */
};

/*
 * Runs the step for ctx's account (a struct caldav_account) over its
 * watched calendars, on the connector thread, reading with http.  Does
 * nothing when the account has no planning_calendar.  A failure leaves
 * the store as it was for the proposal concerned; CONNECTOR_RETRY when
 * the server could not be read, CONNECTOR_OK otherwise.
 */
enum connector_result caldav_visits_step(struct connector_ctx *ctx,
    struct caldav_http *http, const struct caldav_visits_cal *cals,
    size_t ncals);

/* The name of the resource holding uid: the characters a path may hold
 * unescaped kept, others '_', ".ics" added.  Fresh string. */
char *caldav_visits_resource_name(const char *uid);

#endif
