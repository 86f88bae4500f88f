/*
 * Which customers a calendar event concerns, and by which rule, so that
 * `rapportctl timeline --why` can say.  Strongest first:
 *
 *   attendee:organizer  the ORGANIZER's address belongs to the customer;
 *   attendee:attendee   an ATTENDEE's address does;
 *   name:summary        the customer's full name stands in SUMMARY, as
 *                       whole words, case-insensitively (ASCII);
 *   name:location       ... or in LOCATION.
 *
 * Addresses are normalized as the mail linker does ([link] fold_plus);
 * the user's own addresses are never looked up.  The name rules are
 * weaker: only names of two words or more (or of at least six bytes, for
 * scripts without spaces) take part, and a name two customers share
 * links neither.
 *
 * Pure logic: the store is reached through the linker_lookup callbacks
 * (store_message_lookup()), the names are handed in.
 */
#ifndef RAPPORT_CALDAV_LINK_H
#define RAPPORT_CALDAV_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "linker.h"
#include "store_event.h"

struct caldav_linker;

/* lk and lu must outlive the caldav_linker. */
struct caldav_linker *caldav_linker_new(const struct linker *lk,
    const struct linker_lookup *lu);
void caldav_linker_free(struct caldav_linker *cl);
/* A customer's full name for the name rules; then caldav_linker_index(). */
void caldav_linker_add_name(struct caldav_linker *cl, int64_t id,
    const char *name);
void caldav_linker_index(struct caldav_linker *cl);

/* The links of one event; v[i].detail points into own storage. */
struct caldav_links {
	struct store_event_link	*v;
	size_t			 n;
	size_t			 cap;
	char			**details;
};

/* Appends ev's links to out (cleared first). */
void caldav_link_event(const struct caldav_linker *cl, const struct event *ev,
    struct caldav_links *out);
void caldav_links_free(struct caldav_links *l);

#endif
