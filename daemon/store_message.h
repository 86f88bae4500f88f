/*
 * Mail in the store: messages, where they sit (account, folder, UID),
 * their participants, the links to customers with the rule that made
 * each, the review list, the signals a message carries (bounce, unsub-
 * scribe, reply, sale) and the connectors' sync cursors.  Also the reads
 * built on them: the linker's lookups, a customer's timeline, last
 * contact, "did the customer write since".
 *
 * Conventions of store.h hold: STORE_OK / STORE_NOTFOUND / STORE_CONFLICT
 * / STORE_ERROR (store_errmsg() says why); strings handed back belong to
 * the caller (free()); strings passed in are only read during the call.
 *
 * Transactions: an IMAP thread commits a batch and its cursor together,
 *
 *	store_begin(st);
 *	for each fetched message:
 *		linker_link(..., &lookup, &lr);	(store_message_lookup())
 *		store_message_ingest(st, &in, ...);
 *	store_cursor_set(st, "imap", account, folder, "uidnext", "...");
 *	store_commit(st);	(or store_rollback(st): nothing of it stays)
 *
 * Each call joins the open transaction; a failing call undoes only its
 * own work (a savepoint) and leaves the batch for the caller to decide,
 * unless the caller said it rolls the batch back (batch_rollback).
 * Linking inside the transaction lets a reply thread to a message stored
 * earlier in the same batch.
 */
#ifndef RAPPORT_STORE_MESSAGE_H
#define RAPPORT_STORE_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classify.h"
#include "linker.h"
#include "message.h"
#include "store.h"

/* ---- the linker's lookups ---- */

/*
 * Each writes at most max customer ids into ids and sets *n to how many
 * there are in all (which may exceed max).  Addresses and domains are
 * compared as stored: normalized, lowercase.
 */
/* The customer owning the address (0 or 1 of them: addresses are unique). */
int store_customers_by_address(struct store *st, const char *addr,
    int64_t *ids, size_t max, size_t *n);
/* Customers linked to the message with this Message-ID (or fallback key),
 * and customers rapport mailed with it (outbox rows that were sent). */
int store_customers_by_message_id(struct store *st, const char *msgid,
    int64_t *ids, size_t max, size_t *n);
/* Customers with an address at this domain (the company rule). */
int store_customers_by_domain(struct store *st, const char *domain,
    int64_t *ids, size_t max, size_t *n);
/*
 * Fills lu with adapters calling the three functions above on st (by_domain
 * set too: the linker decides whether the company rule applies).  A failed
 * lookup is logged and answers "nobody"; the ingest that follows on the
 * same connection reports the error that matters.
 */
void store_message_lookup(struct store *st, struct linker_lookup *lu);

/* ---- ingest ---- */

/* KiB of page cache a connector's connection keeps (store_bulk_setup):
 * at 16 MiB the peak RSS of a 100k-message ingest came near 50 MB. */
#define STORE_MESSAGE_INGEST_CACHE_KIB	10240

struct store_message_in {
	const char			*account;	/* config name */
	const char			*folder;
	int64_t				 uidvalidity;	/* 0 with uid 0: */
	int64_t				 uid;		/* no location */
	const struct message		*msg;		/* required */
	/* The date used when msg->date is 0 (Date missing). */
	int64_t				 internaldate;
	const struct classify_result	*cls;		/* NULL: none */
	const struct linker_result	*lr;		/* NULL: unlinked */
	/* Product recorded by a sale rule; NULL: the subject (or, if empty,
	 * the rule's name). */
	const char			*sale_product;
	/* The caller rolls its whole transaction back if this ingest fails:
	 * no savepoint is needed to undo only this message (which costs as
	 * much as storing a participant).  Ignored outside a transaction. */
	bool				 batch_rollback;
};

/*
 * Stores one fetched message with its participants, location, links,
 * review rows and signals.  *message_id (may be NULL) gets the row id.
 *
 * A message is stored once: its dedupe key is the Message-ID, or the
 * parser's "sha256:..." key.  A message already stored (the same mail in
 * INBOX and Sent, a copy in another account, or the same UIDs re-seen
 * after a UIDVALIDITY change) is not inserted again (*is_new = false):
 * its new location and any new links and review rows are added, and an
 * author found now but unknown then is recorded.
 *
 * Signals fire once, when the message is first stored:
 *   bounce       each failed recipient is suppressed, reason
 *                "bounce: STATUS REASON (MESSAGE-ID)";
 *   unsubscribe  from a customer (the author, incoming): newsletter
 *                consent withdrawn, consent_at = the message's date,
 *                consent_source "mail:MESSAGE-ID" -- unless the consent
 *                on record is newer than the message;
 *   reply        the author and the linker's reply verdict are kept
 *                (store_customer_replied_since());
 *   sale         a sale for the author (else the one customer linked, if
 *                only one is), at the message's date, source
 *                "mail:MESSAGE-ID", at most once per message and customer.
 * MESSAGE-ID is the Message-ID without <>, or the fallback key.
 */
int store_message_ingest(struct store *st, const struct store_message_in *in,
    int64_t *message_id, bool *is_new);

/*
 * The copy at (account, folder, uidvalidity, uid) is gone (expunged,
 * VANISHED).  Only the location goes: rapport never drops a message from a
 * timeline because the user filed or deleted the mail.  STORE_NOTFOUND if
 * no such location is known.
 */
int store_message_forget_uid(struct store *st, const char *account,
    const char *folder, int64_t uidvalidity, int64_t uid);
/*
 * UIDVALIDITY of a folder changed: every location of the folder under
 * another UIDVALIDITY than keep_uidvalidity is dropped (messages stay;
 * the resync re-adds locations by dedupe key).  *n (may be NULL) gets the
 * count.
 */
int store_message_forget_folder(struct store *st, const char *account,
    const char *folder, int64_t keep_uidvalidity, int64_t *n);
/* How many copies of a folder (under this UIDVALIDITY) are stored: the
 * progress already made when an initial sync resumes. */
int store_message_count_located(struct store *st, const char *account,
    const char *folder, int64_t uidvalidity, int64_t *n);
/* Whether a copy at this location is already stored (skip re-fetching). */
int store_message_has_uid(struct store *st, const char *account,
    const char *folder, int64_t uidvalidity, int64_t uid, bool *has);

/* ---- reads for the planner and rapportctl ---- */

/*
 * *replied: the customer wrote to us (a message whose author is the
 * customer, incoming, neither auto-reply nor bounce, linked to them)
 * dated at or after since.
 */
int store_customer_replied_since(struct store *st, int64_t customer_id,
    int64_t since, bool *replied);

/*
 * The latest contact with the customer up to now: a message linked to
 * them in either direction (auto-replies and bounces do not count), or a
 * meeting that started, not cancelled.  *at gets its date, *subject (may
 * be NULL) a copy of its subject or summary.  STORE_NOTFOUND if none.
 */
int store_last_contact(struct store *st, int64_t customer_id, int64_t *at,
    char **subject);

/* One entry of a timeline; strings live until the callback returns. */
struct store_timeline_item {
	const char	*kind;		/* "message" or "event" */
	int64_t		 id;		/* messages.id or events.id */
	int64_t		 date;		/* Date, or the event's start */
	int64_t		 end;		/* event end, 0: none or a message */
	const char	*title;		/* subject or summary, may be NULL */
	const char	*ref;		/* Message-ID or iCalendar UID; NULL for
					 * a message without Message-ID */
	const char	*key;		/* dedupe key (message) or UID (event) */
	const char	*direction;	/* "in", "out"; NULL for an event */
	const char	*from;		/* From address or organizer, may be NULL */
	const char	*location;	/* event location, may be NULL */
	const char	*status;	/* event STATUS, may be NULL */
	bool		 auto_reply;	/* message flags */
	bool		 bounce;
	bool		 reply;		/* the customer's own reply */
	const char	*rule;		/* the why: "address:from", "thread:..."*/
	const char	*detail;	/* the address, domain or Message-ID */
	/* Where the message sits now (its folders, comma-separated), else
	 * where it was first seen; NULL for an event. */
	const char	*folder;
};

/*
 * Calls fn for each message and event linked to the customer, oldest
 * first (ties by kind, then id); fn returns non-zero to stop.
 * STORE_NOTFOUND if there is no such customer.
 */
int store_timeline_foreach(struct store *st, int64_t customer_id,
    int (*fn)(void *ctx, const struct store_timeline_item *it), void *ctx);

/* ---- the review list ---- */

struct store_review_item {
	int64_t		 id;		/* the review row */
	const char	*object_kind;	/* "message" or "event" */
	int64_t		 object_id;
	int64_t		 customer_id;	/* one candidate */
	const char	*customer_name;
	const char	*address;	/* the shared address or domain */
	const char	*rule;		/* "address" or "domain" */
	int64_t		 created_at;
	int64_t		 date;		/* the object's date or start */
	const char	*title;		/* its subject or summary */
	const char	*ref;		/* its Message-ID / dedupe key or UID */
};

/* Open reviews (not resolved), oldest first, one call per candidate. */
int store_review_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_review_item *it), void *ctx);
/*
 * A person decided on review row id.  link: the object is linked to that
 * row's customer (rule "manual", detail the address) and every open row
 * of the same object and address is resolved; !link: only this candidate
 * is dismissed.  STORE_NOTFOUND if there is no such open row.
 */
int store_review_resolve(struct store *st, int64_t id, bool link);

/* ---- unknown correspondents ---- */

/*
 * Retroactive linking: addr (normalized) was just given to customer_id.
 * Every stored message with addr as a participant is linked to them, by
 * role ("address:from", "address:reply-to", "address:to", "address:cc",
 * the strongest role when several), detail "retroactive"; an incoming
 * message they wrote without a known author gets them as its author.
 * With a folded address ("anna@x") a participant "anna+tag@x" matches
 * too, as the linker's default +tag folding would have matched it.
 * Existing links are kept.  *n (may be NULL) gets the links added.
 * store_customer_insert() and store_customer_update() call it for every
 * address they write, so each way of giving an address links.
 */
int store_message_link_address(struct store *st, int64_t customer_id,
    const char *addr, int64_t *n);

/* One unknown correspondent; strings live until the callback returns. */
struct store_unmatched_item {
	const char	*address;	/* as seen in the messages */
	const char	*name;		/* latest display name, may be NULL */
	int64_t		 count;		/* messages with the address */
	int64_t		 first_seen;	/* the oldest one's date */
	int64_t		 last_seen;	/* the newest one's date */
	const char	*subject;	/* the newest one's subject, may be NULL */
};

/*
 * Calls fn for each participant address that belongs to no customer
 * (neither as it is nor +tag-folded), most frequent first (then the most
 * recently seen, then by address); fn returns non-zero to stop.  Mailing
 * list mail and bounces are not counted: their senders are machines.
 * The store does not know the user's own addresses: the caller skips
 * them.
 */
int store_unmatched_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_unmatched_item *it), void *ctx);

/* ---- connector cursors ---- */

/*
 * A connector's sync state, e.g. ("imap", "work", "INBOX", "uidvalidity")
 * or ("caldav", "work", "/cal/home/", "sync-token"); collection "" for
 * account-wide keys.  get: *value is a copy (NULL for a stored NULL),
 * STORE_NOTFOUND if never set.  set: value may be NULL.  clear: drops
 * every key of the collection (a full resync).
 */
int store_cursor_get(struct store *st, const char *connector,
    const char *account, const char *collection, const char *key,
    char **value);
int store_cursor_set(struct store *st, const char *connector,
    const char *account, const char *collection, const char *key,
    const char *value);
int store_cursor_clear(struct store *st, const char *connector,
    const char *account, const char *collection);

#endif
