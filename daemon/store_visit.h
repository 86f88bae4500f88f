/*
 * Visit proposals in the store: the tentative "Visit: NAME" events rapport
 * put on the planning calendar (table visit_proposals), and the reads the
 * visit planner and `rapportctl visits` share.
 *
 * A proposal is keyed twice: by its iCalendar UID and by (customer,
 * period).  Its state says what the user did with it:
 *   proposed  on the calendar where rapport put it,
 *   moved     the user gave it another time (respected, never moved back),
 *   deleted   the user removed it (never proposed again for that period).
 * A forgotten customer's proposals go with them (ON DELETE CASCADE);
 * those still to come and untouched by the user become retractions first.
 *
 * Conventions of store.h hold: STORE_OK / STORE_NOTFOUND / STORE_CONFLICT
 * / STORE_ERROR; strings handed to callbacks live until they return.
 */
#ifndef RAPPORT_STORE_VISIT_H
#define RAPPORT_STORE_VISIT_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define VISIT_STATE_PROPOSED	"proposed"
#define VISIT_STATE_MOVED	"moved"
#define VISIT_STATE_DELETED	"deleted"

struct store_visit {
	int64_t		 id;
	int64_t		 customer_id;
	const char	*customer_name;
	const char	*period;
	const char	*uid;
	const char	*href;		/* may be NULL */
	const char	*etag;		/* may be NULL: not known yet */
	int64_t		 start, end;	/* UTC; end 0 when unknown */
	const char	*state;		/* VISIT_STATE_* */
	int64_t		 created_at, updated_at;
};

/* Records a proposal just written to the server, state "proposed".
 * STORE_CONFLICT if its UID or (customer, period) is recorded already. */
int store_visit_add(struct store *st, const struct store_visit *v);
/*
 * The same for a PUT that succeeded, in one transaction with the check
 * that its customer still exists: one forgotten while the PUT was on the
 * wire gets no proposal; a retraction of v->href with If-Match: v->etag
 * takes its place (*retracted), so the next run deletes the event.  With
 * the customer gone and no etag, STORE_NOTFOUND and nothing recorded.
 */
int store_visit_record(struct store *st, const struct store_visit *v,
    bool *retracted);
/* Sets start, end, etag (NULL keeps the known one), href (likewise) and
 * state of the proposal uid; STORE_NOTFOUND if there is none. */
int store_visit_update(struct store *st, const char *uid, int64_t start,
    int64_t end, const char *etag, const char *href, const char *state);
/* Whether (customer, period) has a proposal, in any state. */
int store_visit_get_period(struct store *st, int64_t customer_id,
    const char *period);
/* Every proposal, by start then id; fn returns non-zero to stop. */
int store_visit_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_visit *v), void *ctx);

/*
 * The occurrence the synced calendars hold for a UID of ours (a single
 * event, recurrence_id 0) in the account, preferring calendar: where the
 * user has it now.  STORE_NOTFOUND when no watched calendar has it.
 * *href and *etag are fresh strings (etag possibly NULL).
 */
int store_visit_event(struct store *st, const char *account,
    const char *calendar, const char *uid, int64_t *start, int64_t *end,
    char **href, char **etag);

/*
 * Events of ours (UID "rapport-visit-...") in the account's calendars that
 * no proposal records: what a crash between the PUT and its record
 * leaves.  fn(ctx, uid, href, etag (may be NULL), start, end).
 */
int store_visit_orphans_foreach(struct store *st, const char *account,
    int (*fn)(void *ctx, const char *uid, const char *href,
        const char *etag, int64_t start, int64_t end), void *ctx);

/*
 * Erasure, inside store_customer_forget()'s transaction: the customer's
 * proposals that start after now, still in state "proposed", with an href
 * and the etag rapport's own write had, become retractions; the synced
 * copies of all their proposal events (whose summary names them) leave
 * the events table.  Past proposals are history in the user's calendar
 * and stay there; moved ones the user made theirs.
 */
int store_visit_retract_customer(struct store *st, int64_t customer_id,
    int64_t now);

/*
 * A proposal event to delete from the server, with If-Match: etag.  No
 * customer and no name: it outlives the customer it concerned.
 */
struct store_visit_retraction {
	const char	*uid;
	const char	*href;
	const char	*etag;
	int64_t		 created_at;
};

/* Every pending retraction, oldest first; fn returns non-zero to stop. */
int store_visit_retractions_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_visit_retraction *r), void *ctx);
/* The server answered for uid (deleted, gone, or the user's now): the
 * retraction goes.  STORE_NOTFOUND if there was none. */
int store_visit_retraction_done(struct store *st, const char *uid);
/* The server deleted it (or had it no more): the retraction goes, and
 * with it the synced copy of the event a sync may have brought in since
 * the retraction was made (its summary names the customer). */
int store_visit_retraction_deleted(struct store *st, const char *uid);

/*
 * A customer with a tier, and what visit planning needs to know.
 *   last_visit: the start of the latest linked meeting at or before now,
 *     not cancelled, not declined by them, and not a proposal of ours
 *     still tentative (an accepted one counts once its time has passed);
 *     0 for none.
 *   next_visit: the earliest linked meeting after now, or a proposal of
 *     ours (proposed or moved) after now; 0 for none.
 */
struct store_visit_candidate {
	int64_t		 id;
	char		 tier;		/* 'A', 'B', 'C' */
	const char	*name;
	const char	*company;	/* may be NULL */
	const char	*email;		/* primary address, may be NULL */
	bool		 do_not_contact;
	int64_t		 created_at;
	int64_t		 last_visit;
	int64_t		 next_visit;
};

/* Every customer with a tier, by id, as seen at now. */
int store_visit_candidates_foreach(struct store *st, int64_t now,
    int (*fn)(void *ctx, const struct store_visit_candidate *c), void *ctx);

#endif
