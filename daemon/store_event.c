/*
 * Calendar events in the SQLite store (store_event.h).
 */
#include "store_int.h"
#include "store_event.h"
#include "store_message.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "xmalloc.h"

/* ---- writing a resource ---- */

static const char SQL_EV_IDS_OF_HREF[] =
    "SELECT id FROM events WHERE account = ?1 AND calendar = ?2"
    " AND href = ?3";
/* The key, not the href, identifies an occurrence: a UID that moved to
 * another resource keeps its row. */
static const char SQL_EV_UPSERT[] =
    "INSERT INTO events (account, calendar, href, uid, recurrence_id, etag,"
    " summary, location, start_at, end_at, all_day, status, cancelled,"
    " organizer, created_by_rapport, ingested_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
    " ?15, ?16)"
    " ON CONFLICT (account, calendar, uid, recurrence_id) DO UPDATE SET"
    " href = excluded.href, etag = excluded.etag,"
    " summary = excluded.summary, location = excluded.location,"
    " start_at = excluded.start_at, end_at = excluded.end_at,"
    " all_day = excluded.all_day, status = excluded.status,"
    " cancelled = excluded.cancelled, organizer = excluded.organizer,"
    " created_by_rapport = excluded.created_by_rapport"
    " RETURNING id";
/*
 * Tried first: a new row has no attendees or links to clear (deleting an
 * event takes them along: foreign key and trigger), which spares two
 * statements per occurrence of a first sync.  No row back: it existed,
 * and SQL_EV_UPSERT updates it.
 */
static const char SQL_EV_INSERT[] =
    "INSERT INTO events (account, calendar, href, uid, recurrence_id, etag,"
    " summary, location, start_at, end_at, all_day, status, cancelled,"
    " organizer, created_by_rapport, ingested_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
    " ?15, ?16)"
    " ON CONFLICT (account, calendar, uid, recurrence_id) DO NOTHING"
    " RETURNING id";
static const char SQL_EV_DELETE_ID[] =
    "DELETE FROM events WHERE id = ?1";
static const char SQL_ATT_CLEAR[] =
    "DELETE FROM event_attendees WHERE event_id = ?1";
/* An address listed twice keeps its first entry. */
static const char SQL_ATT_ADD[] =
    "INSERT OR IGNORE INTO event_attendees"
    " (event_id, address, name, role, partstat)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_LINKS_CLEAR[] =
    "DELETE FROM links WHERE object_kind = 'event' AND object_id = ?1"
    " AND rule <> 'manual'";
/* A customer matched by several rules keeps the first (strongest). */
static const char SQL_LINK_ADD[] =
    "INSERT OR IGNORE INTO links"
    " (customer_id, object_kind, object_id, rule, detail, created_at)"
    " VALUES (?1, 'event', ?2, ?3, ?4, ?5)";

static const char *const role_names[] = {
	[EVENT_ROLE_REQ] = "REQ-PARTICIPANT",
	[EVENT_ROLE_CHAIR] = "CHAIR",
	[EVENT_ROLE_OPT] = "OPT-PARTICIPANT",
	[EVENT_ROLE_NON] = "NON-PARTICIPANT",
};
static const char *const partstat_names[] = {
	[EVENT_PART_NEEDS_ACTION] = "NEEDS-ACTION",
	[EVENT_PART_ACCEPTED] = "ACCEPTED",
	[EVENT_PART_DECLINED] = "DECLINED",
	[EVENT_PART_TENTATIVE] = "TENTATIVE",
	[EVENT_PART_DELEGATED] = "DELEGATED",
};
static const char *const status_names[] = {
	[EVENT_CONFIRMED] = "CONFIRMED",
	[EVENT_TENTATIVE] = "TENTATIVE",
	[EVENT_CANCELLED] = "CANCELLED",
};

struct id_set {
	int64_t	*v;
	size_t	 n;
};

static int
id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
href_ids(struct store *st, const char *account, const char *calendar,
    const char *href, struct id_set *ids)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_EV_IDS_OF_HREF);
	int rc;

	ids->v = NULL;
	ids->n = 0;
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, account);
	store_bind_text(stmt, 2, calendar);
	store_bind_text(stmt, 3, href);
	while ((rc = store_step(st, stmt, "event ids")) == STORE_OK) {
		ids->v = xreallocarray(ids->v, ids->n + 1, sizeof(*ids->v));
		ids->v[ids->n++] = sqlite3_column_int64(stmt, 0);
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static int
event_delete_id(struct store *st, int64_t id)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_EV_DELETE_ID);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	return store_exec(st, stmt, "event delete");
}

struct put {
	const char	*account;
	const char	*calendar;
	const char	*href;
	const char	*etag;
	int64_t		 now;
};

/* Runs sql (SQL_EV_INSERT or SQL_EV_UPSERT) for ev; *id is 0 when the
 * statement gave no row back. */
static int
event_write(struct store *st, const char *sql, const struct put *p,
    const struct event *ev, int64_t *id)
{
	sqlite3_stmt *stmt = store_stmt(st, sql);
	int rc;

	*id = 0;
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, p->account);
	store_bind_text(stmt, 2, p->calendar);
	store_bind_text(stmt, 3, p->href);
	store_bind_text(stmt, 4, ev->uid);
	sqlite3_bind_int64(stmt, 5, ev->recurrence_id);
	store_bind_text(stmt, 6, p->etag);
	store_bind_text(stmt, 7, ev->summary);
	store_bind_text(stmt, 8, ev->location);
	sqlite3_bind_int64(stmt, 9, ev->start);
	sqlite3_bind_int64(stmt, 10, ev->end);
	sqlite3_bind_int(stmt, 11, ev->all_day);
	store_bind_text(stmt, 12, status_names[ev->status]);
	sqlite3_bind_int(stmt, 13, ev->status == EVENT_CANCELLED);
	store_bind_text(stmt, 14, ev->organizer);
	sqlite3_bind_int(stmt, 15, ev->rapport_created);
	sqlite3_bind_int64(stmt, 16, p->now);
	if ((rc = store_step(st, stmt, "event write")) == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	*id = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return STORE_OK;
}

/* The occurrence's row id in *id; *fresh when the row is new. */
static int
event_upsert(struct store *st, const struct put *p, const struct event *ev,
    int64_t *id, bool *fresh)
{
	int rc = event_write(st, SQL_EV_INSERT, p, ev, id);

	*fresh = *id != 0;
	if (rc != STORE_OK || *fresh)
		return rc;
	if ((rc = event_write(st, SQL_EV_UPSERT, p, ev, id)) != STORE_OK)
		return rc;
	return *id != 0 ? STORE_OK : STORE_ERROR;
}

static int
exec_id(struct store *st, const char *sql, int64_t id, const char *what)
{
	sqlite3_stmt *stmt = store_stmt(st, sql);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	return store_exec(st, stmt, what);
}

static int
event_attendees(struct store *st, int64_t id, bool fresh,
    const struct event *ev)
{
	sqlite3_stmt *stmt;
	int rc;

	if (!fresh &&
	    (rc = exec_id(st, SQL_ATT_CLEAR, id, "attendees clear")) != STORE_OK)
		return rc;
	for (size_t i = 0; i < ev->nattendees; i++) {
		const struct event_attendee *a = &ev->attendees[i];

		if ((stmt = store_stmt(st, SQL_ATT_ADD)) == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(stmt, 1, id);
		store_bind_text(stmt, 2, a->addr);
		store_bind_text(stmt, 3, a->name);
		store_bind_text(stmt, 4, role_names[a->role]);
		store_bind_text(stmt, 5, partstat_names[a->partstat]);
		if ((rc = store_exec(st, stmt, "attendee add")) != STORE_OK)
			return rc;
	}
	return STORE_OK;
}

static int
event_links(struct store *st, int64_t id, bool fresh,
    const struct store_event_occ *o, int64_t now)
{
	sqlite3_stmt *stmt;
	int rc;

	if (!fresh && (rc = exec_id(st, SQL_LINKS_CLEAR, id,
	    "event links clear")) != STORE_OK)
		return rc;
	for (size_t i = 0; i < o->nlinks; i++) {
		if ((stmt = store_stmt(st, SQL_LINK_ADD)) == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(stmt, 1, o->links[i].customer_id);
		sqlite3_bind_int64(stmt, 2, id);
		store_bind_text(stmt, 3, o->links[i].rule);
		store_bind_text(stmt, 4, o->links[i].detail);
		sqlite3_bind_int64(stmt, 5, now);
		if ((rc = store_exec(st, stmt, "event link add")) != STORE_OK)
			return rc;
	}
	return STORE_OK;
}

static int
put_all(struct store *st, const struct put *p,
    const struct store_event_occ *occ, size_t n, struct id_set *old)
{
	int64_t id, *hit;
	bool fresh;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if ((rc = event_upsert(st, p, occ[i].ev, &id, &fresh)) !=
		    STORE_OK ||
		    (rc = event_attendees(st, id, fresh, occ[i].ev)) != STORE_OK ||
		    (rc = event_links(st, id, fresh, &occ[i], p->now)) != STORE_OK)
			return rc;
		hit = old->n == 0 ? NULL :
		    bsearch(&id, old->v, old->n, sizeof(*old->v), id_cmp);
		if (hit != NULL)
			*hit = 0;	/* kept */
	}
	for (size_t i = 0; i < old->n; i++)
		if (old->v[i] != 0 &&
		    (rc = event_delete_id(st, old->v[i])) != STORE_OK)
			return rc;
	return STORE_OK;
}

int
store_event_put(struct store *st, const char *account, const char *calendar,
    const char *href, const char *etag, const struct store_event_occ *occ,
    size_t n)
{
	struct put p = { account, calendar, href, etag, clock_now() };
	struct id_set old = { NULL, 0 };
	struct store_tx tx;
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	rc = href_ids(st, account, calendar, href, &old);
	if (rc == STORE_OK) {
		if (old.n > 0)
			qsort(old.v, old.n, sizeof(*old.v), id_cmp);
		rc = put_all(st, &p, occ, n, &old);
	}
	free(old.v);
	return store_tx_leave(st, &tx, rc);
}

static const char SQL_EV_DELETE_HREF[] =
    "DELETE FROM events WHERE account = ?1 AND calendar = ?2 AND href = ?3";

int
store_event_delete_href(struct store *st, const char *account,
    const char *calendar, const char *href, int64_t *n)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_EV_DELETE_HREF);
	int rc;

	if (n != NULL)
		*n = 0;
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, account);
	store_bind_text(stmt, 2, calendar);
	store_bind_text(stmt, 3, href);
	rc = store_exec(st, stmt, "event delete href");
	if (rc == STORE_OK && n != NULL)
		*n = sqlite3_changes(st->db);
	return rc;
}

static const char SQL_EV_HREFS[] =
    "SELECT href, min(etag) FROM events WHERE account = ?1 AND calendar = ?2"
    " GROUP BY href ORDER BY href";

int
store_event_hrefs_foreach(struct store *st, const char *account,
    const char *calendar,
    int (*fn)(void *ctx, const char *href, const char *etag), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_EV_HREFS);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, account);
	store_bind_text(stmt, 2, calendar);
	while ((rc = store_step(st, stmt, "event hrefs")) == STORE_OK) {
		if (fn(ctx, (const char *)sqlite3_column_text(stmt, 0),
		    (const char *)sqlite3_column_text(stmt, 1)) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static const char SQL_EV_FORGET_CAL[] =
    "DELETE FROM events WHERE account = ?1 AND calendar = ?2";

int
store_event_forget_calendar(struct store *st, const char *account,
    const char *calendar)
{
	struct store_tx tx;
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((stmt = store_stmt(st, SQL_EV_FORGET_CAL)) == NULL)
		rc = STORE_ERROR;
	else {
		store_bind_text(stmt, 1, account);
		store_bind_text(stmt, 2, calendar);
		rc = store_exec(st, stmt, "calendar forget");
	}
	if (rc == STORE_OK)
		rc = store_cursor_clear(st, "caldav", account, calendar);
	return store_tx_leave(st, &tx, rc);
}

static const char SQL_CUSTOMER_NAMES[] =
    "SELECT id, name FROM customers ORDER BY id";

int
store_event_customer_names(struct store *st,
    int (*fn)(void *ctx, int64_t id, const char *name), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_CUSTOMER_NAMES);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	while ((rc = store_step(st, stmt, "customer names")) == STORE_OK) {
		if (fn(ctx, sqlite3_column_int64(stmt, 0),
		    (const char *)sqlite3_column_text(stmt, 1)) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* ---- reads ---- */

/* Whether customer ?1 declined event e (by any of their addresses). */
#define DECLINED_BY(cust)						\
    "EXISTS (SELECT 1 FROM event_attendees a JOIN customer_emails ce"	\
    " ON ce.address = a.address WHERE a.event_id = e.id"		\
    " AND ce.customer_id = " cust " AND a.partstat = 'DECLINED')"

#define EVENT_ROW_COLUMNS						\
    "e.id, e.uid, e.recurrence_id, e.calendar, e.summary, e.location,"	\
    " e.start_at, coalesce(e.end_at, 0), e.all_day, e.status,"		\
    " e.cancelled, e.organizer, e.created_by_rapport, l.rule, l.detail"

static const char SQL_EV_FOR_CUSTOMER[] =
    "SELECT " EVENT_ROW_COLUMNS ", " DECLINED_BY("?1")
    " FROM links l JOIN events e ON e.id = l.object_id"
    " WHERE l.customer_id = ?1 AND l.object_kind = 'event'"
    " AND e.start_at >= ?2 AND e.start_at < ?3"
    " ORDER BY e.start_at, e.id";
static const char SQL_LAST_NEXT[] =
    "SELECT max(CASE WHEN e.start_at <= ?2 THEN e.start_at END),"
    " min(CASE WHEN e.start_at > ?2 THEN e.start_at END)"
    " FROM links l JOIN events e ON e.id = l.object_id"
    " WHERE l.customer_id = ?1 AND l.object_kind = 'event'"
    " AND e.cancelled = 0 AND NOT " DECLINED_BY("?1");
static const char SQL_EV_ENDED[] =
    "SELECT " EVENT_ROW_COLUMNS ", 0, l.customer_id"
    " FROM events e JOIN links l ON l.object_kind = 'event'"
    " AND l.object_id = e.id"
    " WHERE coalesce(e.end_at, e.start_at) > ?1"
    " AND coalesce(e.end_at, e.start_at) <= ?2 AND e.cancelled = 0"
    " AND NOT " DECLINED_BY("l.customer_id")
    " ORDER BY coalesce(e.end_at, e.start_at), e.id, l.customer_id";

static const char *
col_text(sqlite3_stmt *stmt, int col)
{
	return (const char *)sqlite3_column_text(stmt, col);
}

static void
event_row(sqlite3_stmt *stmt, struct store_event_row *r)
{
	r->id = sqlite3_column_int64(stmt, 0);
	r->uid = col_text(stmt, 1);
	r->recurrence_id = sqlite3_column_int64(stmt, 2);
	r->calendar = col_text(stmt, 3);
	r->summary = col_text(stmt, 4);
	r->location = col_text(stmt, 5);
	r->start = sqlite3_column_int64(stmt, 6);
	r->end = sqlite3_column_int64(stmt, 7);
	r->all_day = sqlite3_column_int(stmt, 8) != 0;
	r->status = col_text(stmt, 9);
	r->cancelled = sqlite3_column_int(stmt, 10) != 0;
	r->organizer = col_text(stmt, 11);
	r->rapport_created = sqlite3_column_int(stmt, 12) != 0;
	r->rule = col_text(stmt, 13);
	r->detail = col_text(stmt, 14);
	r->declined = sqlite3_column_int(stmt, 15) != 0;
}

int
store_event_foreach_for_customer(struct store *st, int64_t customer_id,
    int64_t from, int64_t to,
    int (*fn)(void *ctx, const struct store_event_row *ev), void *ctx)
{
	struct store_event_row r;
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_customer_exists(st, customer_id)) != STORE_OK)
		return rc;
	if ((stmt = store_stmt(st, SQL_EV_FOR_CUSTOMER)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, customer_id);
	sqlite3_bind_int64(stmt, 2, from);
	sqlite3_bind_int64(stmt, 3, to);
	while ((rc = store_step(st, stmt, "customer events")) == STORE_OK) {
		event_row(stmt, &r);
		if (fn(ctx, &r) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_customer_last_next_visit(struct store *st, int64_t customer_id,
    int64_t *last, int64_t *next)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_LAST_NEXT);
	int rc;

	*last = *next = 0;
	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, customer_id);
	sqlite3_bind_int64(stmt, 2, clock_now());
	if ((rc = store_step(st, stmt, "last and next visit")) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
	*last = sqlite3_column_int64(stmt, 0);
	*next = sqlite3_column_int64(stmt, 1);
	sqlite3_reset(stmt);
	return STORE_OK;
}

int
store_event_ended_foreach(struct store *st, int64_t after, int64_t until,
    int (*fn)(void *ctx, const struct store_event_row *ev,
        int64_t customer_id), void *ctx)
{
	struct store_event_row r;
	sqlite3_stmt *stmt = store_stmt(st, SQL_EV_ENDED);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, after);
	sqlite3_bind_int64(stmt, 2, until);
	while ((rc = store_step(st, stmt, "ended events")) == STORE_OK) {
		event_row(stmt, &r);
		if (fn(ctx, &r, sqlite3_column_int64(stmt, 16)) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}
