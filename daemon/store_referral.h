/*
 * Referrals in the store, beyond recording one (store_referral_add() in
 * store.h): who brought whom, and what came of it, for rapportctl
 * referral list and referrals.
 *
 * Conventions of store.h hold: STORE_OK / STORE_ERROR (store_errmsg()
 * says why); strings handed to a callback live until it returns.
 */
#ifndef RAPPORT_STORE_REFERRAL_H
#define RAPPORT_STORE_REFERRAL_H

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
};

/*
 * Calls fn for each referral, oldest first (ties by id); fn returns
 * non-zero to stop.  A referred_by field that a referrals row already
 * records is reported once, as that row.
 */
int store_referral_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_referral_item *it), void *ctx);

#endif
