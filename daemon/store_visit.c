/*
 * Visit proposals in the SQLite store (store_visit.h).
 */
#include "store_int.h"
#include "store_visit.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "xmalloc.h"

static const char SQL_VISIT_ADD[] =
    "INSERT INTO visit_proposals (customer_id, period, uid, href, etag,"
    " own_etag, start_at, end_at, state, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, 'proposed', ?8, ?8)";
/* own_etag: a PUT answered without an ETag; the first sync tells it. */
static const char SQL_VISIT_UPDATE[] =
    "UPDATE visit_proposals SET start_at = ?2, end_at = ?3,"
    " etag = coalesce(?4, etag), href = coalesce(?5, href), state = ?6,"
    " own_etag = coalesce(own_etag, CASE WHEN ?6 = 'proposed' THEN ?4 END),"
    " updated_at = ?7 WHERE uid = ?1";
static const char SQL_VISIT_PERIOD[] =
    "SELECT 1 FROM visit_proposals WHERE customer_id = ?1 AND period = ?2";
static const char SQL_VISIT_ALL[] =
    "SELECT p.id, p.customer_id, c.name, p.period, p.uid, p.href, p.etag,"
    " p.start_at, coalesce(p.end_at, 0), p.state, p.created_at,"
    " p.updated_at"
    " FROM visit_proposals p JOIN customers c ON c.id = p.customer_id"
    " ORDER BY p.start_at, p.id";
/* The planning calendar first: where rapport put it, unless the user
 * moved it to another calendar of the account. */
static const char SQL_VISIT_EVENT[] =
    "SELECT start_at, coalesce(end_at, 0), href, etag FROM events"
    " WHERE account = ?1 AND uid = ?3 AND recurrence_id = 0"
    " ORDER BY calendar = ?2 DESC, id LIMIT 1";

static const char SQL_VISIT_ORPHANS[] =
    "SELECT e.uid, e.href, e.etag, e.start_at, coalesce(e.end_at, 0)"
    " FROM events e WHERE e.account = ?1 AND e.recurrence_id = 0"
    " AND e.created_by_rapport = 1 AND e.uid LIKE 'rapport-visit-%'"
    " AND NOT EXISTS (SELECT 1 FROM visit_proposals p WHERE p.uid = e.uid)"
    " ORDER BY e.id";

/* A later proposal under a reused UID (customer ids were reused before
 * schema v10, and a database may still hold such a UID)
 * brings the newer href and etag. */
static const char SQL_VISIT_RETRACT[] =
    "INSERT INTO visit_retractions (uid, href, etag, created_at)"
    " SELECT uid, href, own_etag, ?2 FROM visit_proposals"
    " WHERE customer_id = ?1 AND state = 'proposed' AND start_at > ?2"
    " AND href IS NOT NULL AND own_etag IS NOT NULL"
    " ON CONFLICT (uid) DO UPDATE SET href = excluded.href,"
    " etag = excluded.etag, created_at = excluded.created_at";
static const char SQL_VISIT_FORGET_EVENTS[] =
    "DELETE FROM events WHERE uid IN"
    " (SELECT uid FROM visit_proposals WHERE customer_id = ?1)";
static const char SQL_RETRACTIONS[] =
    "SELECT uid, href, etag, created_at FROM visit_retractions"
    " ORDER BY created_at, uid";
static const char SQL_RETRACTION_DONE[] =
    "DELETE FROM visit_retractions WHERE uid = ?1";
/* What the PUT answered is what its DELETE must match. */
static const char SQL_RETRACTION_PUT[] =
    "INSERT INTO visit_retractions (uid, href, etag, created_at)"
    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (uid) DO UPDATE SET"
    " href = excluded.href, etag = excluded.etag,"
    " created_at = excluded.created_at";
static const char SQL_RETRACTION_EVENTS[] =
    "DELETE FROM events WHERE uid = ?1 AND href ="
    " (SELECT href FROM visit_retractions WHERE uid = ?1)";

/* Whether the customer (SQL expression cust) declined event e. */
#define DECLINED_BY(cust)						\
    "EXISTS (SELECT 1 FROM event_attendees a JOIN customer_emails ce"	\
    " ON ce.address = a.address WHERE a.event_id = e.id"		\
    " AND ce.customer_id = " cust " AND a.partstat = 'DECLINED')"
#define LINKED_MEETINGS							\
    " FROM links l JOIN events e ON e.id = l.object_id"			\
    " WHERE l.customer_id = c.id AND l.object_kind = 'event'"		\
    " AND e.cancelled = 0 AND NOT " DECLINED_BY("c.id")

/* A proposal of ours still tentative is not a visit that happened; the
 * same, accepted (STATUS changed, or dropped by the client), is. */
static const char SQL_VISIT_CANDIDATES[] =
    "SELECT c.id, c.tier, c.name, c.company,"
    " (SELECT address FROM customer_emails WHERE customer_id = c.id"
    "  ORDER BY position LIMIT 1),"
    " c.do_not_contact, c.created_at,"
    " (SELECT max(e.start_at)" LINKED_MEETINGS
    "  AND e.start_at <= ?1 AND NOT (e.created_by_rapport = 1"
    "  AND coalesce(e.status, '') = 'TENTATIVE')),"
    " (SELECT min(t) FROM (SELECT e.start_at AS t" LINKED_MEETINGS
    "  AND e.start_at > ?1"
    "  UNION ALL SELECT start_at FROM visit_proposals"
    "  WHERE customer_id = c.id AND state <> 'deleted' AND start_at > ?1))"
    " FROM customers c WHERE c.tier IS NOT NULL ORDER BY c.id";

int
store_visit_add(struct store *st, const struct store_visit *v)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_VISIT_ADD);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, v->customer_id);
	store_bind_text(stmt, 2, v->period);
	store_bind_text(stmt, 3, v->uid);
	store_bind_text(stmt, 4, v->href);
	store_bind_text(stmt, 5, v->etag);
	sqlite3_bind_int64(stmt, 6, v->start);
	store_bind_int64_or_null(stmt, 7, v->end);
	sqlite3_bind_int64(stmt, 8, clock_now());
	return store_exec(st, stmt, "visit add");
}

static int
retraction_insert(struct store *st, const char *uid, const char *href,
    const char *etag)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_RETRACTION_PUT);

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, uid);
	store_bind_text(stmt, 2, href);
	store_bind_text(stmt, 3, etag);
	sqlite3_bind_int64(stmt, 4, clock_now());
	return store_exec(st, stmt, "visit retraction");
}

int
store_visit_record(struct store *st, const struct store_visit *v,
    bool *retracted)
{
	struct store_tx tx;
	int rc;

	*retracted = false;
	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	rc = store_customer_exists(st, v->customer_id);
	if (rc == STORE_OK)
		rc = store_visit_add(st, v);
	else if (rc == STORE_NOTFOUND && v->href != NULL && v->etag != NULL) {
		rc = retraction_insert(st, v->uid, v->href, v->etag);
		*retracted = rc == STORE_OK;
	}
	return store_tx_leave(st, &tx, rc);
}

int
store_visit_update(struct store *st, const char *uid, int64_t start,
    int64_t end, const char *etag, const char *href, const char *state)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_VISIT_UPDATE);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, uid);
	sqlite3_bind_int64(stmt, 2, start);
	store_bind_int64_or_null(stmt, 3, end);
	store_bind_text(stmt, 4, etag);
	store_bind_text(stmt, 5, href);
	store_bind_text(stmt, 6, state);
	sqlite3_bind_int64(stmt, 7, clock_now());
	if ((rc = store_exec(st, stmt, "visit update")) != STORE_OK)
		return rc;
	if (sqlite3_changes(st->db) == 0) {
		store_set_error(st, "visit %s: no such proposal", uid);
		return STORE_NOTFOUND;
	}
	return STORE_OK;
}

int
store_visit_get_period(struct store *st, int64_t customer_id,
    const char *period)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_VISIT_PERIOD);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, customer_id);
	store_bind_text(stmt, 2, period);
	rc = store_step(st, stmt, "visit period");
	if (rc == STORE_OK)
		sqlite3_reset(stmt);
	return rc;
}

static const char *
col_text(sqlite3_stmt *stmt, int col)
{
	return (const char *)sqlite3_column_text(stmt, col);
}

int
store_visit_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_visit *v), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_VISIT_ALL);
	struct store_visit v;
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	while ((rc = store_step(st, stmt, "visit list")) == STORE_OK) {
		v.id = sqlite3_column_int64(stmt, 0);
		v.customer_id = sqlite3_column_int64(stmt, 1);
		v.customer_name = col_text(stmt, 2);
		v.period = col_text(stmt, 3);
		v.uid = col_text(stmt, 4);
		v.href = col_text(stmt, 5);
		v.etag = col_text(stmt, 6);
		v.start = sqlite3_column_int64(stmt, 7);
		v.end = sqlite3_column_int64(stmt, 8);
		v.state = col_text(stmt, 9);
		v.created_at = sqlite3_column_int64(stmt, 10);
		v.updated_at = sqlite3_column_int64(stmt, 11);
		if (fn(ctx, &v) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_visit_event(struct store *st, const char *account,
    const char *calendar, const char *uid, int64_t *start, int64_t *end,
    char **href, char **etag)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_VISIT_EVENT);
	int rc;

	*href = *etag = NULL;
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, account);
	store_bind_text(stmt, 2, calendar);
	store_bind_text(stmt, 3, uid);
	if ((rc = store_step(st, stmt, "visit event")) != STORE_OK)
		return rc;
	*start = sqlite3_column_int64(stmt, 0);
	*end = sqlite3_column_int64(stmt, 1);
	*href = store_column_strdup(stmt, 2);
	*etag = store_column_strdup(stmt, 3);
	sqlite3_reset(stmt);
	return STORE_OK;
}

int
store_visit_orphans_foreach(struct store *st, const char *account,
    int (*fn)(void *ctx, const char *uid, const char *href,
        const char *etag, int64_t start, int64_t end), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_VISIT_ORPHANS);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, account);
	while ((rc = store_step(st, stmt, "visit orphans")) == STORE_OK) {
		if (fn(ctx, col_text(stmt, 0), col_text(stmt, 1),
		    col_text(stmt, 2), sqlite3_column_int64(stmt, 3),
		    sqlite3_column_int64(stmt, 4)) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_visit_retract_customer(struct store *st, int64_t customer_id,
    int64_t now)
{
	sqlite3_stmt *stmt;
	struct store_tx tx;
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((stmt = store_stmt(st, SQL_VISIT_RETRACT)) == NULL)
		return store_tx_leave(st, &tx, STORE_ERROR);
	sqlite3_bind_int64(stmt, 1, customer_id);
	sqlite3_bind_int64(stmt, 2, now);
	if ((rc = store_exec(st, stmt, "visit retract")) != STORE_OK)
		return store_tx_leave(st, &tx, rc);
	if ((stmt = store_stmt(st, SQL_VISIT_FORGET_EVENTS)) == NULL)
		return store_tx_leave(st, &tx, STORE_ERROR);
	sqlite3_bind_int64(stmt, 1, customer_id);
	rc = store_exec(st, stmt, "visit retract");
	return store_tx_leave(st, &tx, rc);
}

int
store_visit_retractions_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_visit_retraction *r), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_RETRACTIONS);
	struct store_visit_retraction r;
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	while ((rc = store_step(st, stmt, "visit retractions")) == STORE_OK) {
		r.uid = col_text(stmt, 0);
		r.href = col_text(stmt, 1);
		r.etag = col_text(stmt, 2);
		r.created_at = sqlite3_column_int64(stmt, 3);
		if (fn(ctx, &r) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_visit_retraction_done(struct store *st, const char *uid)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_RETRACTION_DONE);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, uid);
	if ((rc = store_exec(st, stmt, "visit retraction done")) != STORE_OK)
		return rc;
	if (sqlite3_changes(st->db) == 0) {
		store_set_error(st, "retraction %s: none pending", uid);
		return STORE_NOTFOUND;
	}
	return STORE_OK;
}

int
store_visit_retraction_deleted(struct store *st, const char *uid)
{
	sqlite3_stmt *stmt;
	struct store_tx tx;
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((stmt = store_stmt(st, SQL_RETRACTION_EVENTS)) == NULL)
		return store_tx_leave(st, &tx, STORE_ERROR);
	store_bind_text(stmt, 1, uid);
	if ((rc = store_exec(st, stmt, "visit retraction")) != STORE_OK)
		return store_tx_leave(st, &tx, rc);
	return store_tx_leave(st, &tx, store_visit_retraction_done(st, uid));
}

int
store_visit_candidates_foreach(struct store *st, int64_t now,
    int (*fn)(void *ctx, const struct store_visit_candidate *c), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_VISIT_CANDIDATES);
	struct store_visit_candidate c;
	const char *tier;
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, now);
	while ((rc = store_step(st, stmt, "visit candidates")) == STORE_OK) {
		c.id = sqlite3_column_int64(stmt, 0);
		tier = col_text(stmt, 1);
		c.tier = tier != NULL ? tier[0] : 0;
		c.name = col_text(stmt, 2);
		c.company = col_text(stmt, 3);
		c.email = col_text(stmt, 4);
		c.do_not_contact = sqlite3_column_int(stmt, 5) != 0;
		c.created_at = sqlite3_column_int64(stmt, 6);
		c.last_visit = sqlite3_column_int64(stmt, 7);
		c.next_visit = sqlite3_column_int64(stmt, 8);
		if (fn(ctx, &c) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}
