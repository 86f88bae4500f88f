/*
 * Calendar events in the store: the occurrences of each CalDAV resource,
 * their attendees, their links to customers, and the reads built on them
 * (a customer's meetings, last and next visit, meetings that ended).
 *
 * Conventions of store.h hold: STORE_OK / STORE_NOTFOUND / STORE_CONFLICT
 * / STORE_ERROR (store_errmsg() says why); strings handed back belong to
 * the caller; strings passed in are only read during the call.  The
 * CalDAV sync-token and ctag are connector cursors (store_message.h:
 * store_cursor_get/set with connector "caldav" and the calendar's href as
 * the collection), committed in the same transaction as the batch:
 *
 *	store_begin(st);
 *	for each fetched resource:
 *		store_event_put(st, ...);
 *	for each deleted href:
 *		store_event_delete_href(st, ...);
 *	store_cursor_set(st, "caldav", account, calendar, "sync-token", t);
 *	store_commit(st);
 *
 * An occurrence is keyed by (account, calendar, uid, recurrence_id): its
 * row id survives every change of the resource, so a follow-up planned
 * for a meeting is not planned again when the meeting is edited.
 */
#ifndef RAPPORT_STORE_EVENT_H
#define RAPPORT_STORE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "store.h"

/* Link rules of events, strongest first; detail is the address or name. */
#define EVENT_RULE_ORGANIZER	"attendee:organizer"
#define EVENT_RULE_ATTENDEE	"attendee:attendee"
#define EVENT_RULE_SUMMARY	"name:summary"
#define EVENT_RULE_LOCATION	"name:location"

struct store_event_link {
	int64_t		 customer_id;
	const char	*rule;		/* EVENT_RULE_* */
	const char	*detail;
};

/* One occurrence to store and the customers it concerns. */
struct store_event_occ {
	const struct event		*ev;
	const struct store_event_link	*links;
	size_t				 nlinks;
};

/*
 * Replaces what is stored for the resource (account, calendar, href) by
 * occ[0..n): occurrences are inserted or updated in place (ids kept),
 * those of the resource no longer there are deleted with their links, and
 * each kept occurrence's attendees and automatic links are rewritten
 * (links a person made, rule "manual", stay).  n == 0 deletes the
 * resource's occurrences.
 */
int store_event_put(struct store *st, const char *account,
    const char *calendar, const char *href, const char *etag,
    const struct store_event_occ *occ, size_t n);
/* The resource is gone from the server.  *n (may be NULL) gets the
 * number of occurrences deleted. */
int store_event_delete_href(struct store *st, const char *account,
    const char *calendar, const char *href, int64_t *n);
/* Every resource of a calendar: fn(ctx, href, etag) with etag possibly
 * NULL; fn returns non-zero to stop. */
int store_event_hrefs_foreach(struct store *st, const char *account,
    const char *calendar,
    int (*fn)(void *ctx, const char *href, const char *etag), void *ctx);
/* A calendar no longer watched: its events and cursors go. */
int store_event_forget_calendar(struct store *st, const char *account,
    const char *calendar);

/* For the name rule: fn(ctx, id, full name) for every customer. */
int store_event_customer_names(struct store *st,
    int (*fn)(void *ctx, int64_t id, const char *name), void *ctx);

/* ---- reads ---- */

/* One linked occurrence; strings live until the callback returns. */
struct store_event_row {
	int64_t		 id;
	const char	*uid;
	int64_t		 recurrence_id;
	const char	*calendar;
	const char	*summary;
	const char	*location;
	int64_t		 start;
	int64_t		 end;		/* 0 when unknown */
	bool		 all_day;
	const char	*status;	/* STATUS, may be NULL */
	bool		 cancelled;
	bool		 declined;	/* this customer declined */
	const char	*organizer;
	bool		 rapport_created;
	const char	*rule;
	const char	*detail;
};

/*
 * The customer's meetings starting in [from, to), oldest first.
 * STORE_NOTFOUND if there is no such customer.
 */
int store_event_foreach_for_customer(struct store *st, int64_t customer_id,
    int64_t from, int64_t to,
    int (*fn)(void *ctx, const struct store_event_row *ev), void *ctx);

/*
 * A visit is a linked meeting, not cancelled, that the customer did not
 * decline.  *last: the start of the latest that started at or before now,
 * *next: the start of the earliest after now; 0 for none.
 */
int store_customer_last_next_visit(struct store *st, int64_t customer_id,
    int64_t *last, int64_t *next);

/*
 * Meetings that ended in (after, until], not cancelled, with each linked
 * customer who did not decline: fn(ctx, event row, customer id), ordered
 * by end.  For the after-meeting follow-up.
 */
int store_event_ended_foreach(struct store *st, int64_t after, int64_t until,
    int (*fn)(void *ctx, const struct store_event_row *ev,
        int64_t customer_id), void *ctx);

#endif
