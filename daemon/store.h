/*
 * The store: every SQL statement of rapport lives behind these functions
 * (store*.c), nowhere else, so that another backend (PostgreSQL, for teams
 * that outgrow one machine) is a new implementation of this header, not a
 * rewrite.
 *
 * One struct store is one database connection: each thread opens its own.
 * Statements are prepared once per connection and reused.
 *
 * Ownership: everything a store_* function hands back belongs to the
 * caller, to be released with the matching *_free function.  Strings passed
 * in are copied or used only for the duration of the call.
 *
 * Return values: STORE_OK (0), STORE_NOTFOUND, STORE_CONFLICT (a unique key
 * already exists), or STORE_ERROR, in which case store_errmsg() says why.
 */
#ifndef RAPPORT_STORE_H
#define RAPPORT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	STORE_OK = 0,
	STORE_NOTFOUND = 1,
	STORE_CONFLICT = 2,
	STORE_ERROR = -1,
};

/* The schema version this build writes; see store_schema.c. */
extern const int store_schema_version;

struct store;

/*
 * Opens (creating if needed) and migrates the database: WAL, foreign keys,
 * busy timeout.  A database from a newer rapport is refused.  On failure
 * returns STORE_ERROR with a message in err.
 * (The message starts with the path.  A new file is created mode 0600.)
 */
int store_open(const char *path, struct store **out, char *err, size_t errlen);
void store_close(struct store *st);

/*
 * Sizes st's page cache (cache_kib) and makes its WAL checkpoints rarer,
 * for a connection that writes in bulk: an initial mail or calendar sync,
 * a newsletter's planning or dry run.  Changes no data and no durability.
 * Not for connections that touch a row at a time (each sending thread
 * would grow a cache of its own).
 */
int store_bulk_setup(struct store *st, int cache_kib);
const char *store_errmsg(struct store *st);
/* The database's schema version (PRAGMA user_version). */
int store_version(struct store *st);

/*
 * One transaction at a time per connection (BEGIN IMMEDIATE).  Each store_*
 * write is atomic by itself; called between store_begin() and
 * store_commit() it joins that transaction, and a failing call undoes only
 * its own work (a savepoint), leaving the batch open for the caller.
 */
int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);

/* ---- customers ---- */

struct customer {
	int64_t	  id;		/* 0 for a new customer */
	char	 *name;		/* full name, required */
	char	 *first_name;	/* derived from name when NULL */
	char	 *company;
	char	 *lang;		/* BCP 47 primary tag, e.g. "en", "ko", "zh" */
	char	 *tz;		/* IANA zone, e.g. "Asia/Seoul"; NULL: default */
	char	  tier;		/* 'A', 'B', 'C', or 0 */
	int	  birth_year;	/* 0: unknown year */
	int	  birth_month;	/* 0: no birthday */
	int	  birth_day;
	bool	  newsletter;	/* consent given */
	int64_t	  consent_at;	/* when consent was given or withdrawn */
	char	 *consent_source;	/* "import:FILE", "manual", "mail:<msgid>"… */
	bool	  do_not_contact;
	int64_t	  referred_by;	/* customer id, 0: none */
	char	 *source;	/* "manual", "import", "referral", "mail" */
	char	 *notes;
	int64_t	  created_at;
	int64_t	  updated_at;
	char	**emails;	/* normalized; emails[0] is the primary one */
	size_t	  n_emails;
	char	**tags;
	size_t	  n_tags;
};

void customer_init(struct customer *c);
/* Frees the members, not c itself. */
void customer_clear(struct customer *c);
void customer_add_email(struct customer *c, const char *addr);
void customer_add_tag(struct customer *c, const char *tag);

/* Inserts c with its addresses and tags; sets c->id.  STORE_CONFLICT if
 * one of its addresses already belongs to a customer. */
int store_customer_insert(struct store *st, struct customer *c);
/* Replaces every field, the addresses and the tags of customer c->id.
 * updated_at is set only if something actually changed; *changed tells. */
int store_customer_update(struct store *st, struct customer *c, bool *changed);
int store_customer_get(struct store *st, int64_t id, struct customer *out);
/* The customer owning a normalized address. */
int store_customer_find_email(struct store *st, const char *addr, int64_t *id);
/* Calls fn for each customer ordered by name; fn returns non-zero to stop. */
int store_customer_foreach(struct store *st,
    int (*fn)(void *ctx, const struct customer *c), void *ctx);
int store_customer_count(struct store *st, int64_t *n);
int store_customer_tag(struct store *st, int64_t id, const char *tag, bool add);
/*
 * Erasure: deletes the customer and everything linked to them (links,
 * sales, referrals, outbox rows, tags, addresses) and suppresses each of
 * their addresses with the given reason.  Messages and events that were
 * linked only to them are deleted too.  Their visit proposals still to
 * come, as rapport wrote them, are recorded (by UID, href and etag only)
 * for the CalDAV step to delete (store_visit.h).
 */
int store_customer_forget(struct store *st, int64_t id, const char *reason);
/*
 * Access request: calls row() for every stored row concerning the
 * customer, table by table (customer, emails, tags, links, messages,
 * events, sales, referrals, outbox, ...).  names/values have ncol entries;
 * a value may be NULL.
 */
int store_customer_dump(struct store *st, int64_t id,
    void (*row)(void *ctx, const char *table, int ncol,
        const char *const *names, const char *const *values),
    void *ctx);

/* ---- sales and referrals (rapportctl sale add, referral add) ---- */

/*
 * Records that customer_id bought product at time at; source says how we
 * know ("manual", "import", "mail:<message-id>").  *id (if non-NULL) gets
 * the sale's id.  STORE_NOTFOUND if there is no such customer.
 */
int store_sale_add(struct store *st, int64_t customer_id, const char *product,
    int64_t at, const char *source, int64_t *id);
/*
 * Records that customer referrer brought customer referred; evidence (may
 * be NULL) is free text, e.g. the Message-ID that said so.  STORE_CONFLICT
 * if that pair is already recorded, STORE_NOTFOUND if either customer does
 * not exist, STORE_ERROR if they are the same customer.  The customer's
 * referred_by field is not touched: it is what an import said.
 */
int store_referral_add(struct store *st, int64_t referrer, int64_t referred,
    int64_t at, const char *source, const char *evidence);

/* ---- suppressions ---- */

int store_suppression_add(struct store *st, const char *addr,
    const char *reason, int64_t at);
/* STORE_OK if suppressed (reason copied into *reason when non-NULL),
 * STORE_NOTFOUND if not. */
int store_suppression_get(struct store *st, const char *addr, char **reason);

/* ---- daemon status (rapportctl status reads what rapportd writes) ---- */

int store_status_set(struct store *st, const char *key, const char *value,
    int64_t at);
int store_status_foreach(struct store *st,
    int (*fn)(void *ctx, const char *key, const char *value, int64_t at),
    void *ctx);

#endif
