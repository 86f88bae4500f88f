/*
 * One-click unsubscription (RFC 8058) by token.  A newsletter's https
 * List-Unsubscribe link carries a token that names its recipient
 * without revealing the address; the web endpoint hands it back to
 * `rapportctl unsubscribe`, which withdraws the newsletter consent.
 *
 * A token is random (130 bits, lower-case base32) and made when the
 * customer's first newsletter is planned (or, for a row planned without
 * one, rendered); it lives as long as the customer (forget erases it,
 * and the address is suppressed then anyway).
 */
#ifndef RAPPORT_STORE_UNSUBSCRIBE_H
#define RAPPORT_STORE_UNSUBSCRIBE_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define UNSUBSCRIBE_TOKEN_LEN	26	/* characters, without the NUL */

/* The customer's token if there is one: STORE_OK, STORE_NOTFOUND. */
int store_unsubscribe_token_get(struct store *st, int64_t customer_id,
    char token[UNSUBSCRIBE_TOKEN_LEN + 1]);
/* The customer's token, made now if there is none: STORE_OK or an error. */
int store_unsubscribe_token(struct store *st, int64_t customer_id,
    int64_t now, char token[UNSUBSCRIBE_TOKEN_LEN + 1]);
/*
 * Makes the customer's token if there is none, without reading it: the
 * planner's, for every recipient of a newsletter issue it plans, in its
 * one transaction (a token's key is random, so making 100,000 of them
 * one by one at send time rewrote a random page of the table for each).
 */
int store_unsubscribe_token_ensure(struct store *st, int64_t customer_id,
    int64_t now);

/*
 * Withdraws the newsletter consent of the token's customer at now
 * (consent_source "link"); *customer_id is set, *changed says whether
 * consent was on.  STORE_NOTFOUND for an unknown or malformed token.
 */
int store_unsubscribe_by_token(struct store *st, const char *token,
    int64_t now, int64_t *customer_id, bool *changed);

/* Whether s has the form of a token (to refuse junk before any lookup). */
bool unsubscribe_token_valid(const char *s);

#endif
