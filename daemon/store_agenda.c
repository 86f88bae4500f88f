/*
 * The daily agenda's reads and its once-a-day record (store_agenda.h).
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#include "store_agenda.h"

/* min(id) keeps one occurrence of an event synced from two calendars. */
static const char SQL_AGENDA_EVENTS[] =
    "SELECT id, uid, recurrence_id, summary, location, start_at,"
    " coalesce(end_at, 0), all_day, created_by_rapport FROM events"
    " WHERE id IN (SELECT min(id) FROM events"
    "  WHERE start_at >= ?1 AND start_at < ?2 AND cancelled = 0"
    "  GROUP BY uid, recurrence_id)"
    " ORDER BY start_at, id";
static const char SQL_AGENDA_DECLINED[] =
    "SELECT address FROM event_attendees"
    " WHERE event_id = ?1 AND partstat = 'DECLINED' ORDER BY address";
static const char SQL_AGENDA_EVENT_CUSTOMERS[] =
    "SELECT c.id FROM links l JOIN customers c ON c.id = l.customer_id"
    " WHERE l.object_kind = 'event' AND l.object_id = ?1"
    " ORDER BY c.name, c.id";
static const char SQL_AGENDA_LAST_CONTACT[] =
    "SELECT date, title FROM ("
    " SELECT m.date AS date, m.subject AS title, 0 AS k, m.id AS id"
    " FROM links l JOIN messages m ON m.id = l.object_id"
    " WHERE l.customer_id = ?1 AND l.object_kind = 'message'"
    " AND m.is_auto_reply = 0 AND m.is_bounce = 0 AND m.date < ?2"
    " UNION ALL"
    " SELECT e.start_at, e.summary, 1, e.id"
    " FROM links l JOIN events e ON e.id = l.object_id"
    " WHERE l.customer_id = ?1 AND l.object_kind = 'event'"
    " AND e.cancelled = 0 AND e.start_at < ?2)"
    " ORDER BY date DESC, k, id DESC LIMIT 1";
static const char SQL_AGENDA_FOLLOWUPS[] =
    "SELECT kind, template, coalesce(next_attempt_at, due_at) FROM outbox"
    " WHERE customer_id = ?1 AND state IN ('planned', 'sending')"
    " ORDER BY coalesce(next_attempt_at, due_at), id";
static const char SQL_AGENDA_REFERRALS[] =
    "SELECT coalesce(c.name, r.referred_name, r.referred_addr)"
    " FROM referrals r LEFT JOIN customers c ON c.id = r.referred_id"
    " WHERE r.referrer_id = ?1 AND r.state = 'confirmed'"
    " ORDER BY 1, r.id";
static const char SQL_AGENDA_VISITS[] =
    "SELECT v.uid, c.name, v.start_at, coalesce(v.end_at, 0), v.state"
    " FROM visit_proposals v JOIN customers c ON c.id = v.customer_id"
    " WHERE v.state IN ('proposed', 'moved')"
    " AND v.start_at >= ?1 AND v.start_at < ?2"
    " ORDER BY v.start_at, v.id";
/*
 * One statement, so two senders cannot both win: a new day inserts, a
 * day whose claim ran out is taken over, anything else returns no row.
 */
static const char SQL_AGENDA_CLAIM[] =
    "INSERT INTO agenda_sent (day, recipient, state, message_id, attempts,"
    " lease_until, created_at) VALUES (?1, ?2, 'sending', ?3, 1, ?4 + ?5, ?4)"
    " ON CONFLICT (day, recipient) DO UPDATE"
    " SET attempts = attempts + 1, lease_until = excluded.lease_until"
    " WHERE agenda_sent.state = 'sending'"
    " AND coalesce(agenda_sent.lease_until, 0) <= ?4"
    " RETURNING message_id, attempts";
static const char SQL_AGENDA_FINISH[] =
    "UPDATE agenda_sent SET state = ?3, meetings = ?4, reason = ?6,"
    " sent_at = CASE WHEN ?3 = 'sent' THEN ?5 ELSE sent_at END,"
    " lease_until = CASE WHEN ?3 = 'sending' THEN ?5 ELSE NULL END"
    " WHERE day = ?1 AND recipient = ?2";
static const char SQL_AGENDA_STATE[] =
    "SELECT state FROM agenda_sent WHERE day = ?1 AND recipient = ?2";

static const char *
column_text(sqlite3_stmt *stmt, int col)
{
	return (const char *)sqlite3_column_text(stmt, col);
}

int
store_agenda_events(struct store *st, int64_t from, int64_t to,
    int (*fn)(void *ctx, const struct store_agenda_event *ev), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_AGENDA_EVENTS);
	struct store_agenda_event ev;
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, from);
	sqlite3_bind_int64(stmt, 2, to);
	while ((rc = store_step(st, stmt, "agenda events")) == STORE_OK) {
		ev.id = sqlite3_column_int64(stmt, 0);
		ev.uid = column_text(stmt, 1);
		ev.recurrence_id = sqlite3_column_int64(stmt, 2);
		ev.summary = column_text(stmt, 3);
		ev.location = column_text(stmt, 4);
		ev.start = sqlite3_column_int64(stmt, 5);
		ev.end = sqlite3_column_int64(stmt, 6);
		ev.all_day = sqlite3_column_int(stmt, 7) != 0;
		ev.rapport_created = sqlite3_column_int(stmt, 8) != 0;
		if (fn(ctx, &ev) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* Rows of one id-bound statement whose first column is text. */
static int
agenda_foreach_text(struct store *st, const char *sql, const char *what,
    int64_t id, int (*fn)(void *ctx, const char *s), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, sql);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	while ((rc = store_step(st, stmt, what)) == STORE_OK) {
		const char *s = column_text(stmt, 0);

		if (s && fn(ctx, s) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_agenda_declined(struct store *st, int64_t event_id,
    int (*fn)(void *ctx, const char *addr), void *ctx)
{
	return agenda_foreach_text(st, SQL_AGENDA_DECLINED, "agenda declined",
	    event_id, fn, ctx);
}

int
store_agenda_referrals(struct store *st, int64_t customer_id,
    int (*fn)(void *ctx, const char *name), void *ctx)
{
	return agenda_foreach_text(st, SQL_AGENDA_REFERRALS,
	    "agenda referrals", customer_id, fn, ctx);
}

int
store_agenda_event_customers(struct store *st, int64_t event_id,
    int (*fn)(void *ctx, int64_t customer_id), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_AGENDA_EVENT_CUSTOMERS);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, event_id);
	while ((rc = store_step(st, stmt, "agenda customers")) == STORE_OK)
		if (fn(ctx, sqlite3_column_int64(stmt, 0)) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_agenda_last_contact(struct store *st, int64_t customer_id,
    int64_t before, int64_t *at, char **subject)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_AGENDA_LAST_CONTACT);
	int rc;

	*at = 0;
	if (subject)
		*subject = NULL;
	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, customer_id);
	sqlite3_bind_int64(stmt, 2, before);
	if ((rc = store_step(st, stmt, "agenda last contact")) != STORE_OK)
		return rc;
	*at = sqlite3_column_int64(stmt, 0);
	if (subject)
		*subject = store_column_strdup(stmt, 1);
	sqlite3_reset(stmt);
	return STORE_OK;
}

int
store_agenda_followups(struct store *st, int64_t customer_id,
    int (*fn)(void *ctx, const char *kind, const char *tmpl, int64_t due),
    void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_AGENDA_FOLLOWUPS);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, customer_id);
	while ((rc = store_step(st, stmt, "agenda follow-ups")) == STORE_OK)
		if (fn(ctx, column_text(stmt, 0), column_text(stmt, 1),
		    sqlite3_column_int64(stmt, 2)) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_agenda_visits(struct store *st, int64_t from, int64_t to,
    int (*fn)(void *ctx, const struct store_agenda_visit *v), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_AGENDA_VISITS);
	struct store_agenda_visit v;
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, from);
	sqlite3_bind_int64(stmt, 2, to);
	while ((rc = store_step(st, stmt, "agenda visits")) == STORE_OK) {
		v.uid = column_text(stmt, 0);
		v.customer_name = column_text(stmt, 1);
		v.start = sqlite3_column_int64(stmt, 2);
		v.end = sqlite3_column_int64(stmt, 3);
		v.state = column_text(stmt, 4);
		if (fn(ctx, &v) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_agenda_claim(struct store *st, const char *day, const char *recipient,
    const char *message_id, int64_t now, int64_t lease, char **mid,
    int *attempts)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_AGENDA_CLAIM);
	int rc;

	*mid = NULL;
	*attempts = 0;
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, day);
	store_bind_text(stmt, 2, recipient);
	store_bind_text(stmt, 3, message_id);
	sqlite3_bind_int64(stmt, 4, now);
	sqlite3_bind_int64(stmt, 5, lease);
	rc = store_step(st, stmt, "agenda claim");
	if (rc == STORE_NOTFOUND) {
		store_set_error(st, "agenda %s for %s: done or claimed", day,
		    recipient);
		return STORE_CONFLICT;
	}
	if (rc != STORE_OK)
		return rc;
	*mid = store_column_strdup(stmt, 0);
	*attempts = sqlite3_column_int(stmt, 1);
	/* RETURNING: the write is done only once the statement has run out. */
	rc = store_step(st, stmt, "agenda claim");
	if (rc != STORE_NOTFOUND) {
		free(*mid);
		*mid = NULL;
		return rc == STORE_OK ? STORE_ERROR : rc;
	}
	return STORE_OK;
}

int
store_agenda_finish(struct store *st, const char *day, const char *recipient,
    const char *state, int meetings, int64_t at, const char *reason)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_AGENDA_FINISH);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, day);
	store_bind_text(stmt, 2, recipient);
	store_bind_text(stmt, 3, state);
	sqlite3_bind_int(stmt, 4, meetings);
	sqlite3_bind_int64(stmt, 5, at);
	store_bind_text(stmt, 6, reason);
	if ((rc = store_exec(st, stmt, "agenda finish")) != STORE_OK)
		return rc;
	if (sqlite3_changes(st->db) == 0) {
		store_set_error(st, "agenda %s for %s: not claimed", day,
		    recipient);
		return STORE_NOTFOUND;
	}
	return STORE_OK;
}

int
store_agenda_state(struct store *st, const char *day, const char *recipient,
    char **state)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_AGENDA_STATE);
	int rc;

	*state = NULL;
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, day);
	store_bind_text(stmt, 2, recipient);
	if ((rc = store_step(st, stmt, "agenda state")) != STORE_OK)
		return rc;
	*state = store_column_strdup(stmt, 0);
	sqlite3_reset(stmt);
	return STORE_OK;
}
