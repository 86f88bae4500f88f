/*
 * The daily agenda in the store: the reads that compose it (the day's
 * meetings and each customer's context) and the table agenda_sent that
 * makes each day's agenda go once (schema version 5).
 *
 * Conventions of store.h hold: STORE_OK / STORE_NOTFOUND / STORE_CONFLICT
 * / STORE_ERROR (store_errmsg() says why); strings handed to callbacks
 * live until the callback returns; strings handed back belong to the
 * caller.  Callbacks return non-zero to stop.
 */
#ifndef RAPPORT_STORE_AGENDA_H
#define RAPPORT_STORE_AGENDA_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct store_agenda_event {
	int64_t		 id;
	const char	*uid;
	int64_t		 recurrence_id;
	const char	*summary;	/* each may be NULL */
	const char	*location;
	int64_t		 start;
	int64_t		 end;		/* 0 when unknown */
	bool		 all_day;
	bool		 rapport_created;
};

/*
 * Events starting in [from, to), not cancelled, in every calendar, by
 * start then id; an event held by several calendars (same UID and
 * recurrence) comes once.
 */
int store_agenda_events(struct store *st, int64_t from, int64_t to,
    int (*fn)(void *ctx, const struct store_agenda_event *ev), void *ctx);
/* The addresses (normalized) that declined the event. */
int store_agenda_declined(struct store *st, int64_t event_id,
    int (*fn)(void *ctx, const char *addr), void *ctx);
/* The customers linked to the event, by name. */
int store_agenda_event_customers(struct store *st, int64_t event_id,
    int (*fn)(void *ctx, int64_t customer_id), void *ctx);

/*
 * The latest contact with the customer before `before`: a message linked
 * to them (not an auto-reply nor a bounce) or a meeting, not cancelled,
 * that started.  *subject (may be NULL) is a fresh string.
 * STORE_NOTFOUND if none.
 */
int store_agenda_last_contact(struct store *st, int64_t customer_id,
    int64_t before, int64_t *at, char **subject);

/* The customer's open outbox rows (planned or sending), by due time:
 * fn(ctx, kind, template, due_at). */
int store_agenda_followups(struct store *st, int64_t customer_id,
    int (*fn)(void *ctx, const char *kind, const char *tmpl, int64_t due),
    void *ctx);

/* The people the customer referred (confirmed referrals), by name:
 * fn(ctx, name) with the customer's name, else the address given. */
int store_agenda_referrals(struct store *st, int64_t customer_id,
    int (*fn)(void *ctx, const char *name), void *ctx);

/* A visit proposal of ours (proposed or moved) starting in [from, to). */
struct store_agenda_visit {
	const char	*uid;
	const char	*customer_name;
	int64_t		 start;
	int64_t		 end;		/* 0 when unknown */
	const char	*state;
};

int store_agenda_visits(struct store *st, int64_t from, int64_t to,
    int (*fn)(void *ctx, const struct store_agenda_visit *v), void *ctx);

/*
 * Claims the agenda of (day, recipient): a new row in state 'sending'
 * with message_id, or a row left 'sending' whose lease ran out; either
 * way the lease runs until now + lease.  *mid gets the row's Message-ID
 * (the first claim's) and *attempts the claims so far, this one included.
 * STORE_CONFLICT when the day is done (sent, empty, failed) or another
 * sender holds it.
 */
int store_agenda_claim(struct store *st, const char *day,
    const char *recipient, const char *message_id, int64_t now,
    int64_t lease, char **mid, int *attempts);
/*
 * Records the fate of a claimed day: state "sent", "empty" or "failed"
 * (reason may be NULL), or "sending" with lease_until = at to retry then.
 */
int store_agenda_finish(struct store *st, const char *day,
    const char *recipient, const char *state, int meetings, int64_t at,
    const char *reason);
/* The state of (day, recipient), a fresh string; STORE_NOTFOUND if none. */
int store_agenda_state(struct store *st, const char *day,
    const char *recipient, char **state);

#endif
