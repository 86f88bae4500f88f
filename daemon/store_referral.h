/*
 * Referrals in the store, beyond recording one by hand (store_referral_add()
 * in store.h): who brought whom, and what came of it, for rapportctl
 * referral list and referrals; candidates the referral rules found in
 * mail and meetings (referral_ingest.c), their review (pending, confirm,
 * reject); and the lookups those rules need.
 *
 * A referral row is 'pending', 'confirmed' or 'rejected'.  Only confirmed
 * ones are listed by store_referral_foreach() and thanked by the planner.
 * A rejected one stays, so that the same referrer is never proposed for
 * the same address again.
 *
 * Conventions of store.h hold: STORE_OK / STORE_ERROR (store_errmsg()
 * says why); strings handed to a callback live until it returns.
 */
#ifndef RAPPORT_STORE_REFERRAL_H
#define RAPPORT_STORE_REFERRAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store_referral_item {
	/* The referrals row; 0 when only the referred customer's
	 * referred_by field says so (an import, customer edit). */
	int64_t		 id;
	int64_t		 referrer_id;
	const char	*referrer_name;
	const char	*referrer_address;	/* primary address */
	int64_t		 referred_id;
	const char	*referred_name;
	const char	*referred_address;
	int64_t		 at;		/* when the referral happened */
	const char	*source;	/* "manual", "mail:<id>", ...; may be NULL */
	const char	*evidence;	/* free text, may be NULL */
	int64_t		 created_at;	/* when it was recorded */
	/* What came of it. */
	const char	*referred_source;	/* how they became a customer */
	int64_t		 referred_since;	/* their created_at */
	int64_t		 first_sale_at;		/* 0: no sale yet */
	const char	*first_sale_product;	/* NULL: no sale yet */
	int64_t		 messages;	/* linked messages dated since at */
	int64_t		 meetings;	/* linked meetings, not cancelled,
					 * starting since at */
	/* How it was found: the rule ("intro:customer-to-new", ...; NULL
	 * for one entered or imported), "strong"/"weak" (NULL likewise),
	 * the evidence's kind ("message", "event", "manual", "import") and,
	 * for a message or event, its Message-ID or UID (else NULL). */
	const char	*rule;
	const char	*strength;
	const char	*evidence_kind;
	const char	*evidence_ref;
};

/*
 * Calls fn for each referral, oldest first (ties by id); fn returns
 * non-zero to stop.  A referred_by field that a referrals row already
 * records is reported once, as that row.
 */
int store_referral_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_referral_item *it), void *ctx);


/* ---- the referral rules' lookups (referral_detect.h) ---- */

/*
 * Customers whose name is name, case and spaces ignored (*exact true);
 * if none, those whose given name or surname alone is name (the first
 * or last word of a spaced name; a CJK name without its first character,
 * the surname), *exact false.  At most max ids into ids, *n how many in
 * all.
 */
int store_referral_customers_by_name(struct store *st, const char *name,
    int64_t *ids, size_t max, size_t *n, bool *exact);
/*
 * *has: a message dated before `before` has addr (normalized) as a
 * participant, or a meeting starting before it has addr as attendee -
 * other than message except_message and event except_event (0: none).
 */
int store_referral_has_history(struct store *st, const char *addr,
    int64_t before, int64_t except_message, int64_t except_event, bool *has);
/* The row id and date of the stored message with this dedupe key (the
 * Message-ID, or the parser's "sha256:" key). */
int store_referral_message(struct store *st, const char *key, int64_t *id,
    int64_t *date);

/* The row id of the stored occurrence (account, calendar, uid,
 * recurrence_id). */
int store_referral_event(struct store *st, const char *account,
    const char *calendar, const char *uid, int64_t recurrence_id,
    int64_t *id);

/* ---- candidates and their review ---- */

struct store_referral_candidate {
	int64_t		 referrer_id;
	const char	*referred_addr;	/* normalized, required */
	const char	*referred_name;	/* display name, may be NULL */
	int64_t		 at;		/* when it happened */
	const char	*source;	/* "mail:<Message-ID>", "event:<UID>" */
	const char	*rule;		/* the rule that found it */
	bool		 strong;
	const char	*evidence;	/* what matched */
	const char	*evidence_kind;	/* "message" or "event" */
	int64_t		 evidence_id;	/* messages.id or events.id */
};

enum store_referral_outcome {
	STORE_REFERRAL_PENDING,		/* new, or made strong: waiting */
	STORE_REFERRAL_CONFIRMED,	/* confirmed now (auto_confirm) */
	STORE_REFERRAL_UNCHANGED,	/* known, or not recorded: nothing
					 * done */
};

/*
 * Records a candidate, once per (referrer, referred address): one seen
 * again changes nothing, except that a strong finding replaces the
 * evidence of a weak one still pending.  Nothing is recorded when the
 * address is a customer already or another referrer's referral of it was
 * confirmed.  With auto_confirm, a strong pending candidate is confirmed
 * at once (store_referral_confirm(), decided by 'rule'), in the same
 * transaction.  *id (may be NULL) gets the row, 0 when nothing was
 * recorded; *outcome what became of it.
 */
int store_referral_propose(struct store *st,
    const struct store_referral_candidate *c, bool auto_confirm, int64_t *id,
    enum store_referral_outcome *outcome);

/*
 * Confirms a pending (or rejected) candidate, in one transaction: the
 * referred address becomes a customer (name: the display name, else the
 * address; source "referral"; referred_by the referrer) unless it is one
 * already, the row records that customer, other referrers' pending
 * candidates for the address are rejected, and the messages and meetings
 * stored before with that address are linked to the customer.  by_person:
 * a person decided (the thank-you then waits from now).  *customer_id
 * and *created (may be NULL) tell who.  STORE_NOTFOUND: no such
 * candidate; STORE_CONFLICT: confirmed already, or that pair is recorded
 * under another row.
 */
int store_referral_confirm(struct store *st, int64_t id, bool by_person,
    int64_t *customer_id, bool *created);
/* Rejects a pending candidate for good.  STORE_NOTFOUND: no such row;
 * STORE_CONFLICT: it is not pending. */
int store_referral_reject(struct store *st, int64_t id);

struct store_referral_pending {
	int64_t		 id;
	int64_t		 referrer_id;
	const char	*referrer_name;
	const char	*referrer_address;
	const char	*referred_addr;
	const char	*referred_name;		/* may be NULL */
	int64_t		 at;
	const char	*rule;
	const char	*strength;		/* "strong" or "weak" */
	const char	*evidence;
	const char	*evidence_kind;		/* "message" or "event" */
	int64_t		 evidence_id;
	const char	*evidence_ref;		/* Message-ID or UID; may be NULL */
	const char	*evidence_title;	/* subject or summary; may be NULL */
	int64_t		 created_at;
};

/* Calls fn for each pending candidate, oldest first; fn returns non-zero
 * to stop. */
int store_referral_pending_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_referral_pending *it), void *ctx);

#endif
