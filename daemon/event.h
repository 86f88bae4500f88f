/*
 * The parsed calendar event: what the CalDAV connector hands to the linker
 * and the store, one record per occurrence inside the sync window.
 *
 * Times are UTC seconds.  A recurring series yields one struct event per
 * occurrence, each with recurrence_id set to the UTC start the occurrence
 * had in the series (before any RECURRENCE-ID override moved it); a single
 * event has recurrence_id 0.  (uid, recurrence_id) is the occurrence's key.
 *
 * All-day events (DATE values) start at local midnight of the configured
 * default time zone and end at local midnight after the last day: an
 * all-day event is a floating date, and rapport's notion of "that day" is
 * the user's zone.  Floating DATE-TIMEs are read in the default zone too.
 *
 * Strings are UTF-8 as libical hands them over (NUL-free), bounded by the
 * EVENT_*_MAX limits below.  Addresses are address_normalize()d (lowercase,
 * no "+tag" folding: that is the linker's choice) without "mailto:".
 *
 * Everything an event or list points to belongs to its holder and is
 * released by event_free() / event_list_free().
 */
#ifndef RAPPORT_EVENT_H
#define RAPPORT_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENT_UID_MAX		1024	/* longer UIDs make the object broken */
#define EVENT_TEXT_MAX		998	/* summary, location: bytes kept */
#define EVENT_EXCERPT_MAX	1024	/* description excerpt: bytes kept */
#define EVENT_NAME_MAX		256	/* attendee CN bytes kept */
#define EVENT_ADDR_MAX		320	/* normalized address bytes */
#define EVENT_ATTENDEES_MAX	500	/* attendees kept per event */

/*
 * Events rapport created itself (visit proposals) carry a UID that starts
 * with EVENT_RAPPORT_UID_PREFIX: a UID survives every client's edits,
 * where X- properties are often dropped.  Any X-RAPPORT-* property marks
 * an event as ours too, for events whose UID a client rewrote on import.
 */
#define EVENT_RAPPORT_UID_PREFIX	"rapport-"
#define EVENT_RAPPORT_XPROP_PREFIX	"X-RAPPORT-"

enum event_status {
	EVENT_CONFIRMED = 0,	/* also when STATUS is absent */
	EVENT_TENTATIVE,
	EVENT_CANCELLED,	/* a cancelled event or a cancelled occurrence */
};

enum event_role {
	EVENT_ROLE_REQ = 0,	/* REQ-PARTICIPANT, the default */
	EVENT_ROLE_CHAIR,
	EVENT_ROLE_OPT,
	EVENT_ROLE_NON,
};

enum event_partstat {
	EVENT_PART_NEEDS_ACTION = 0,	/* the default, and unknown values */
	EVENT_PART_ACCEPTED,
	EVENT_PART_DECLINED,
	EVENT_PART_TENTATIVE,
	EVENT_PART_DELEGATED,
};

struct event_attendee {
	char			*addr;	/* normalized, never NULL */
	char			*name;	/* CN, or NULL */
	enum event_role		 role;
	enum event_partstat	 partstat;
};

struct event {
	char			*uid;		/* never NULL */
	int64_t			 recurrence_id;	/* 0: not part of a series */
	int64_t			 start;		/* UTC seconds */
	int64_t			 end;		/* >= start */
	bool			 all_day;
	char			*summary;	/* each NULL if absent */
	char			*location;
	char			*description;	/* excerpt, cut at a character */
	enum event_status	 status;
	char			*organizer;	/* normalized address, or NULL */
	struct event_attendee	*attendees;
	size_t			 nattendees;
	bool			 transparent;	/* TRANSP:TRANSPARENT: free */
	int			 sequence;
	bool			 rapport_created;
};

struct event_list {
	struct event	*v;
	size_t		 n;
	size_t		 cap;
};

/* Counts attendees who declined (PARTSTAT=DECLINED). */
size_t event_declined_count(const struct event *ev);
void event_free(struct event *ev);
void event_list_free(struct event_list *list);

#endif
