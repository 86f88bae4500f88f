/*
 * What CalDAV discovery found (the account's watched calendars), as one
 * line-based text the connector keeps in the store as an account-wide
 * cursor ("caldav", account, "", "discovery"), so that a re-sync of known
 * calendars sends one sync-collection REPORT per calendar and nothing
 * else.  The text names the configuration it was found for (url, user,
 * calendars): a changed configuration reads as no cache.
 *
 * Every string a struct caldav_cal holds belongs to it (caldav_cals_free()).
 */
#ifndef RAPPORT_CALDAV_CACHE_H
#define RAPPORT_CALDAV_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct caldav_account;

struct caldav_cal {
	char	*href;		/* as the server names it: the store's key */
	char	*url;
	char	*name;		/* display name, else href */
	char	*color;		/* may be NULL */
	char	*ctag;		/* from discovery; used once; never cached */
	bool	 sync;		/* sync-collection offered */
};

/* The cursor's text for cals[0..n), found at time at. */
char *caldav_cache_encode(const struct caldav_account *a, int64_t at,
    const struct caldav_cal *cals, size_t n);
/*
 * Reads a cursor's text: 0 with *cals (n of them, ctag NULL) and *at, or
 * -1 (nothing allocated) when s is malformed or was written for another
 * configuration of the account.
 */
int caldav_cache_decode(const char *s, const struct caldav_account *a,
    int64_t *at, struct caldav_cal **cals, size_t *n);
void caldav_cals_free(struct caldav_cal *cals, size_t n);

#endif
