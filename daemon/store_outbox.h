/*
 * The outbox: every email rapport means to send is a durable row before
 * it is sent, with a unique key (kind, template, customer, occurrence), so
 * that planning the same thing twice plans nothing new and a restart never
 * sends twice.
 *
 *   planned ──claim──▶ sending ──▶ sent
 *      ▲                  │  └───▶ failed   (5xx, or too many 4xx)
 *      └── 4xx, budget ───┘  └───▶ skipped  (suppressed, no consent,
 *          quiet hours              do-not-contact, replied, …: the
 *          (next_attempt_at)        reason says which)
 *
 * A row left in 'sending' by a crash is claimed again after a lease
 * expires, and sent with the same Message-ID, so at worst the server sees
 * the same message twice and the recipient's client folds it.
 */
#ifndef RAPPORT_STORE_OUTBOX_H
#define RAPPORT_STORE_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct outbox_row {
	int64_t	 id;
	char	*kind;		/* "follow-up", "birthday", "newsletter",
				 * "referral-thanks", "agenda" */
	char	*template;	/* template name without language or .md */
	int64_t	 customer_id;
	char	*occurrence;	/* e.g. "sale:42", "2027", "2026-12-01T09:00Z",
				 * "referral:7", "meeting:<uid>/<start>" */
	char	*state;		/* planned, sending, sent, failed, skipped */
	char	*reason;	/* why planned / skipped / failed */
	int64_t	 due_at;
	int	 attempts;
	int64_t	 next_attempt_at;	/* 0: due_at */
	char	*message_id;	/* fixed at first claim, kept for resends */
	char	*account;	/* the [smtp] account that sent it */
	int64_t	 sent_at;
	int64_t	 created_at;
	/* Where the trigger came from, for rendering ({{sale.product}},
	 * {{referred.name}}): "sale", "referral", "event", or NULL. */
	char	*ref_kind;
	int64_t	 ref_id;
	char	*recipient;	/* the address it went (or goes) to */
};

void outbox_row_init(struct outbox_row *r);
void outbox_row_clear(struct outbox_row *r);

/*
 * Plans a row (state planned).  STORE_CONFLICT if its key already exists,
 * whatever the existing row's state: a key is planned once, ever.
 */
int store_outbox_plan(struct store *st, const struct outbox_row *r,
    int64_t *id);

/*
 * Claims the next due row (planned, or sending with an expired lease,
 * due_at/next_attempt_at <= now) for account: sets state 'sending', the
 * lease until now + lease, fills *out.  STORE_NOTFOUND if none is due.
 */
int store_outbox_claim(struct store *st, const char *account, int64_t now,
    int64_t lease, struct outbox_row *out);
/* Fixes the Message-ID of a claimed row (once; later claims keep it). */
int store_outbox_set_message_id(struct store *st, int64_t id,
    const char *message_id, const char *recipient);
int store_outbox_sent(struct store *st, int64_t id, int64_t at,
    const char *server_reply);

/*
 * For a dry run, which takes a batch in one transaction of its own
 * (store_begin() first: the write lock, held from the choice to the
 * end, is what keeps two senders from taking the same rows): up to max
 * rows store_outbox_claim() would hand out, in its order, into rows[]
 * (each to be cleared with outbox_row_clear), without changing them.
 * Each is then ended by store_outbox_dry_sent(), or skipped, failed or
 * deferred as a claimed row is.
 */
int store_outbox_due_batch(struct store *st, int64_t now, size_t max,
    struct outbox_row *rows, size_t *n);
/*
 * The end of a dry-run row (reason "dry-run"): sent, its Message-ID
 * (kept if one was fixed before), recipient and account in one
 * statement.  Nothing left the machine, so nothing lies between them
 * that a crash could expose.
 */
int store_outbox_dry_sent(struct store *st, int64_t id, const char *account,
    int64_t at, const char *message_id, const char *recipient);

/* KiB of page cache for a connection that plans or renders a whole
 * newsletter at once (the planner's, a dry run's): store_bulk_setup. */
#define STORE_OUTBOX_BULK_CACHE_KIB	16384
/* Back to planned, retried at next_attempt (a 4xx, over budget, quiet
 * hours); attempts counts only server refusals (count_attempt). */
int store_outbox_defer(struct store *st, int64_t id, int64_t next_attempt,
    bool count_attempt, const char *reason);
int store_outbox_fail(struct store *st, int64_t id, const char *reason);
int store_outbox_skip(struct store *st, int64_t id, const char *reason);

int store_outbox_get(struct store *st, int64_t id, struct outbox_row *out);
/*
 * Calls fn for rows whose state is in `states` (comma-separated, NULL:
 * all) and, when until > 0, that are due before `until`; ordered by due
 * time.  fn returns non-zero to stop.
 */
int store_outbox_foreach(struct store *st, const char *states, int64_t until,
    int (*fn)(void *ctx, const struct outbox_row *r), void *ctx);

/*
 * Send times (ascending) of an account's messages since `since`, for the
 * budget (when_budget()).  Rows other connections are sending now (state
 * sending, other than the row self) count as sent at now, so that
 * parallel connections cannot each spend the last unit of a budget.
 * *times is malloc'd.
 */
int store_outbox_sent_times(struct store *st, const char *account,
    int64_t since, int64_t now, int64_t self, int64_t **times, size_t *n);

/* The earliest time a planned row (or an expired lease) becomes due:
 * when a sender has to look again.  STORE_NOTFOUND if nothing waits. */
int store_outbox_next_due(struct store *st, int64_t *at);

/*
 * The fact a row was planned for (ref_kind, ref_id), for rendering:
 *  "sale":     product, at, other_id = the buyer
 *  "referral": at, other_id = the person referred
 *  "event":    summary, location, at = start, end_at
 *  "message":  summary = its subject, at = its date
 * STORE_NOTFOUND if it no longer exists.  Clear with outbox_ref_clear().
 */
struct outbox_ref {
	char	*product;
	char	*summary;
	char	*location;
	int64_t	 at;
	int64_t	 end_at;
	int64_t	 other_id;
};

void outbox_ref_clear(struct outbox_ref *ref);
int store_outbox_ref_get(struct store *st, const char *ref_kind,
    int64_t ref_id, struct outbox_ref *out);

#endif
