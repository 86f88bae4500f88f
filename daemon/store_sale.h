/*
 * Sales in the store, beyond recording one (store_sale_add() in store.h):
 * the amount as entered, and the listing rapportctl sale list shows.
 *
 * Conventions of store.h hold: STORE_OK / STORE_NOTFOUND / STORE_ERROR
 * (store_errmsg() says why); strings handed to a callback live until it
 * returns.
 */
#ifndef RAPPORT_STORE_SALE_H
#define RAPPORT_STORE_SALE_H

#include <stdint.h>

#include "store.h"

struct store_sale_item {
	int64_t		 id;
	int64_t		 customer_id;
	const char	*customer_name;
	const char	*address;	/* the customer's primary address */
	const char	*product;
	const char	*amount;	/* as entered, NULL if unknown */
	int64_t		 at;		/* when the sale happened */
	const char	*source;	/* "manual", "import", "mail:<id>" */
	int64_t		 created_at;	/* when it was recorded */
};

/* Sets the amount (free text, "120.00 EUR"; NULL: unknown) of sale id.
 * STORE_NOTFOUND if there is no such sale. */
int store_sale_set_amount(struct store *st, int64_t id, const char *amount);
/*
 * Calls fn for each sale of customer_id (0: of every customer), oldest
 * first (ties by id); fn returns non-zero to stop.  STORE_NOTFOUND if
 * customer_id names no customer.
 */
int store_sale_foreach(struct store *st, int64_t customer_id,
    int (*fn)(void *ctx, const struct store_sale_item *it), void *ctx);

#endif
