/*
 * The planner's reads: the facts that start something (sales, meetings
 * that ended, first messages, referrals, a referred person's first sale),
 * the customers whose birthday is near, the newsletter's possible
 * recipients, and the state of one outbox key.  Read-only: the planner
 * writes through store_outbox.h.
 *
 * Conventions of store.h hold: STORE_OK / STORE_NOTFOUND / STORE_ERROR
 * (store_errmsg() says why).  Each *_foreach calls fn once per row; the
 * structure and its strings live until fn returns; fn returns non-zero to
 * stop.  fn must not call the store on the same connection (collect what
 * you need, act afterwards).  Customers marked do-not-contact are never
 * returned as recipients: nothing is planned for them.
 */
#ifndef RAPPORT_STORE_PLAN_H
#define RAPPORT_STORE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* A fact that starts a follow-up or a thank-you. */
struct plan_fact {
	int64_t		 id;		/* sales.id, events.id, messages.id,
					 * referrals.id */
	int64_t		 customer_id;	/* the recipient */
	int64_t		 at;		/* when it happened (meeting: end) */
	const char	*text;		/* product, event UID, subject, or
					 * the referred person's name; may
					 * be NULL */
	int64_t		 instance;	/* meeting: recurrence-id, else start;
					 * referral sale: the sale's id */
	int64_t		 other;		/* referral: the referred customer */
};

typedef int (*plan_fact_fn)(void *ctx, const struct plan_fact *f);

/* Sales dated in [since, until]. */
int store_plan_sales(struct store *st, int64_t since, int64_t until,
    plan_fact_fn fn, void *ctx);
/*
 * Meetings that ended in [since, until], once per linked customer: not
 * cancelled, and not one of rapport's own visit proposals still
 * tentative.  A meeting without an end ends at its start.
 */
int store_plan_meetings(struct store *st, int64_t since, int64_t until,
    plan_fact_fn fn, void *ctx);
/*
 * First messages dated in [since, until]: incoming mail from a customer
 * (the author, neither auto-reply nor bounce) with no earlier message
 * linked to them in either direction.
 */
int store_plan_first_messages(struct store *st, int64_t since,
    int64_t until, plan_fact_fn fn, void *ctx);
/* Referrals recorded (at) in [since, until]; customer_id is the
 * referrer, other the referred person, text their name. */
int store_plan_referrals(struct store *st, int64_t since, int64_t until,
    plan_fact_fn fn, void *ctx);
/*
 * The first sale of each referred person, dated in [since, until]: id is
 * the referral, customer_id the referrer, other the referred person, at
 * and instance the sale's date and id, text its product.
 */
int store_plan_referral_sales(struct store *st, int64_t since,
    int64_t until, plan_fact_fn fn, void *ctx);

struct plan_birthday {
	int64_t		 customer_id;
	int		 month, day;
	const char	*tz;		/* NULL: the default zone */
};

/*
 * Customers whose birthday (month * 100 + day) is one of mmdd[0..n-1]
 * (n at most STORE_PLAN_MMDD_MAX).
 */
#define STORE_PLAN_MMDD_MAX	8
int store_plan_birthdays(struct store *st, const int *mmdd, size_t n,
    int (*fn)(void *ctx, const struct plan_birthday *b), void *ctx);

/* What an audience expression may ask about one customer. */
struct plan_recipient {
	int64_t		  customer_id;
	const char	 *lang;		/* may be NULL */
	char		  tier;		/* 'A', 'B', 'C' or 0 */
	const char *const *tags;
	size_t		  n_tags;
};

/* Customers with newsletter consent, ordered by id. */
int store_plan_newsletter_recipients(struct store *st,
    int (*fn)(void *ctx, const struct plan_recipient *r), void *ctx);

/*
 * The outbox row of one key: *id and its state (copied into state, at
 * most statelen bytes).  STORE_NOTFOUND if the key was never planned.
 */
int store_plan_outbox_state(struct store *st, const char *kind,
    const char *template, int64_t customer_id, const char *occurrence,
    int64_t *id, char *state, size_t statelen);

/*
 * The customers (ascending ids, *ids malloc'd) who already have a row
 * for (kind, template, occurrence): a newsletter issue planned again
 * skips them without trying 100,000 inserts that would conflict.
 */
int store_plan_outbox_customers(struct store *st, const char *kind,
    const char *template, const char *occurrence, int64_t **ids, size_t *n);

#endif
