/*
 * The outbox in the SQLite store: planning rows under their unique key,
 * claiming due rows with a lease, and the transitions a sender records
 * (sent, deferred, failed, skipped).  See store_outbox.h for the states.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store_outbox.h"
#include "xmalloc.h"

/* ---- struct outbox_row ---- */

void
outbox_row_init(struct outbox_row *r)
{
	memset(r, 0, sizeof(*r));
}

void
outbox_row_clear(struct outbox_row *r)
{
	free(r->kind);
	free(r->template);
	free(r->occurrence);
	free(r->state);
	free(r->reason);
	free(r->message_id);
	free(r->account);
	free(r->ref_kind);
	free(r->recipient);
	outbox_row_init(r);
}

void
outbox_ref_clear(struct outbox_ref *ref)
{
	free(ref->product);
	free(ref->summary);
	free(ref->location);
	memset(ref, 0, sizeof(*ref));
}

/* ---- statements ---- */

#define OUTBOX_COLUMNS							\
	"id, kind, template, customer_id, occurrence, state, reason,"	\
	" due_at, attempts, next_attempt_at, message_id, account,"	\
	" sent_at, created_at, ref_kind, ref_id, recipient"

/* When a row is due: a deferral's time, else its planned time. */
#define OUTBOX_DUE	"coalesce(next_attempt_at, due_at)"

static const char SQL_OUTBOX_PLAN[] =
    "INSERT INTO outbox (kind, template, customer_id, occurrence, reason,"
    " due_at, ref_kind, ref_id, recipient, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
/*
 * One statement picks and takes the row, so two senders never claim the
 * same one: the write lock is held from the choice to the update.
 */
static const char SQL_OUTBOX_CLAIM[] =
    "UPDATE outbox SET state = 'sending', lease_until = ?2 + ?3,"
    " account = ?1"
    " WHERE id = (SELECT id FROM outbox"
    "  WHERE state IN ('planned', 'sending') AND " OUTBOX_DUE " <= ?2"
    "  AND (state = 'planned' OR coalesce(lease_until, 0) <= ?2)"
    "  ORDER BY " OUTBOX_DUE ", id LIMIT 1)"
    " RETURNING " OUTBOX_COLUMNS;
/* A Message-ID, once set, is kept for every resend of the row. */
static const char SQL_OUTBOX_SET_MESSAGE_ID[] =
    "UPDATE outbox SET message_id = coalesce(message_id, ?2),"
    " recipient = coalesce(?3, recipient) WHERE id = ?1";
static const char SQL_OUTBOX_SENT[] =
    "UPDATE outbox SET state = 'sent', sent_at = ?2, reason = ?3,"
    " lease_until = NULL WHERE id = ?1";
/* The claim's choice, for a batch taken under one write lock. */
static const char SQL_OUTBOX_DUE_BATCH[] =
    "SELECT " OUTBOX_COLUMNS " FROM outbox"
    " WHERE state IN ('planned', 'sending') AND " OUTBOX_DUE " <= ?1"
    " AND (state = 'planned' OR coalesce(lease_until, 0) <= ?1)"
    " ORDER BY " OUTBOX_DUE ", id LIMIT ?2";
static const char SQL_OUTBOX_DRY_SENT[] =
    "UPDATE outbox SET state = 'sent', sent_at = ?2, reason = 'dry-run',"
    " lease_until = NULL, message_id = coalesce(message_id, ?4),"
    " recipient = coalesce(?5, recipient), account = ?3 WHERE id = ?1";
static const char SQL_OUTBOX_DEFER[] =
    "UPDATE outbox SET state = 'planned', next_attempt_at = ?2,"
    " attempts = attempts + ?3, reason = ?4, lease_until = NULL"
    " WHERE id = ?1";
static const char SQL_OUTBOX_FINISH[] =
    "UPDATE outbox SET state = ?2, reason = ?3, lease_until = NULL"
    " WHERE id = ?1";
static const char SQL_OUTBOX_GET[] =
    "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE id = ?1";
/* states is a comma-separated list, matched whole. */
static const char SQL_OUTBOX_FOREACH[] =
    "SELECT " OUTBOX_COLUMNS " FROM outbox"
    " WHERE (?1 IS NULL OR instr(',' || ?1 || ',', ',' || state || ',') > 0)"
    " AND (?2 = 0 OR " OUTBOX_DUE " < ?2)"
    " ORDER BY " OUTBOX_DUE ", id";
/*
 * The range on the expression of outbox_by_account (store_schema.c v12)
 * reads the account's sent rows since ?2 and, keyed after them, its
 * 'sending' ones (no sent_at yet), instead of every row of the outbox.
 */
static const char SQL_OUTBOX_SENT_TIMES[] =
    "SELECT CASE state WHEN 'sent' THEN sent_at ELSE ?3 END AS t"
    " FROM outbox WHERE state IN ('sent', 'sending') AND account = ?1"
    " AND " STORE_OUTBOX_SENT_KEY " >= ?2"
    " AND ((state = 'sent' AND sent_at >= ?2)"
    "  OR (state = 'sending' AND id <> ?4)) ORDER BY t";
static const char SQL_OUTBOX_NEXT_DUE[] =
    "SELECT min(CASE WHEN state = 'planned' THEN " OUTBOX_DUE
    " ELSE max(" OUTBOX_DUE ", coalesce(lease_until, 0)) END)"
    " FROM outbox WHERE state IN ('planned', 'sending')";

static const char SQL_REF_SALE[] =
    "SELECT product, at, customer_id FROM sales WHERE id = ?1";
static const char SQL_REF_REFERRAL[] =
    "SELECT at, referred_id FROM referrals WHERE id = ?1";
static const char SQL_REF_EVENT[] =
    "SELECT summary, location, start_at, coalesce(end_at, start_at)"
    " FROM events WHERE id = ?1";
static const char SQL_REF_MESSAGE[] =
    "SELECT subject, date FROM messages WHERE id = ?1";

static int64_t
column_int64_or_0(sqlite3_stmt *stmt, int col)
{
	if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
		return 0;
	return sqlite3_column_int64(stmt, col);
}

/* Fills out (initialized here) from a row of OUTBOX_COLUMNS. */
static void
outbox_from_row(sqlite3_stmt *stmt, struct outbox_row *out)
{
	outbox_row_init(out);
	out->id = sqlite3_column_int64(stmt, 0);
	out->kind = store_column_strdup(stmt, 1);
	out->template = store_column_strdup(stmt, 2);
	out->customer_id = sqlite3_column_int64(stmt, 3);
	out->occurrence = store_column_strdup(stmt, 4);
	out->state = store_column_strdup(stmt, 5);
	out->reason = store_column_strdup(stmt, 6);
	out->due_at = sqlite3_column_int64(stmt, 7);
	out->attempts = sqlite3_column_int(stmt, 8);
	out->next_attempt_at = column_int64_or_0(stmt, 9);
	out->message_id = store_column_strdup(stmt, 10);
	out->account = store_column_strdup(stmt, 11);
	out->sent_at = column_int64_or_0(stmt, 12);
	out->created_at = sqlite3_column_int64(stmt, 13);
	out->ref_kind = store_column_strdup(stmt, 14);
	out->ref_id = column_int64_or_0(stmt, 15);
	out->recipient = store_column_strdup(stmt, 16);
}

/* ---- planning ---- */

int
store_outbox_plan(struct store *st, const struct outbox_row *r, int64_t *id)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_OUTBOX_PLAN);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(stmt, 1, r->kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 2, r->template, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 3, r->customer_id);
	sqlite3_bind_text(stmt, 4, r->occurrence, -1, SQLITE_TRANSIENT);
	store_bind_text(stmt, 5, r->reason);
	sqlite3_bind_int64(stmt, 6, r->due_at);
	store_bind_text(stmt, 7, r->ref_kind);
	store_bind_int64_or_null(stmt, 8, r->ref_id);
	store_bind_text(stmt, 9, r->recipient);
	sqlite3_bind_int64(stmt, 10, r->created_at ? r->created_at :
	    clock_now());
	rc = store_exec(st, stmt, "outbox plan");
	if (rc == STORE_OK && id)
		*id = sqlite3_last_insert_rowid(st->db);
	return rc;
}

/* ---- sending ---- */

int
store_outbox_claim(struct store *st, const char *account, int64_t now,
    int64_t lease, struct outbox_row *out)
{
	struct store_tx tx;
	sqlite3_stmt *stmt;
	int rc;

	outbox_row_init(out);
	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((stmt = store_stmt(st, SQL_OUTBOX_CLAIM)) == NULL) {
		rc = STORE_ERROR;
		goto out;
	}
	store_bind_text(stmt, 1, account);
	sqlite3_bind_int64(stmt, 2, now);
	sqlite3_bind_int64(stmt, 3, lease);
	rc = store_step(st, stmt, "outbox claim");
	if (rc == STORE_OK) {
		outbox_from_row(stmt, out);
		/* Done stepping: the update is complete at the first row. */
		sqlite3_reset(stmt);
	}
out:
	/* Nothing due is not a failure to undo. */
	if (rc == STORE_NOTFOUND)
		return store_tx_leave(st, &tx, STORE_OK) == STORE_OK ?
		    STORE_NOTFOUND : STORE_ERROR;
	rc = store_tx_leave(st, &tx, rc);
	if (rc != STORE_OK)
		outbox_row_clear(out);
	return rc;
}

/* Runs a one-row update and says STORE_NOTFOUND if no row had that id. */
static int
outbox_update(struct store *st, sqlite3_stmt *stmt, int64_t id,
    const char *what)
{
	int rc = store_exec(st, stmt, what);

	if (rc == STORE_OK && sqlite3_changes(st->db) == 0) {
		store_set_error(st, "%s: outbox row %lld: no such row", what,
		    (long long)id);
		return STORE_NOTFOUND;
	}
	return rc;
}

int
store_outbox_set_message_id(struct store *st, int64_t id,
    const char *message_id, const char *recipient)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_OUTBOX_SET_MESSAGE_ID);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	store_bind_text(stmt, 2, message_id);
	store_bind_text(stmt, 3, recipient);
	return outbox_update(st, stmt, id, "outbox message-id");
}

int
store_outbox_sent(struct store *st, int64_t id, int64_t at,
    const char *server_reply)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_OUTBOX_SENT);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, at);
	store_bind_text(stmt, 3, server_reply);
	return outbox_update(st, stmt, id, "outbox sent");
}

int
store_outbox_due_batch(struct store *st, int64_t now, size_t max,
    struct outbox_row *rows, size_t *n)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_OUTBOX_DUE_BATCH);
	int rc;

	*n = 0;
	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, now);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)max);
	while (*n < max && (rc = store_step(st, stmt, "outbox batch")) ==
	    STORE_OK)
		outbox_from_row(stmt, &rows[(*n)++]);
	if (*n == max) {
		sqlite3_reset(stmt);
		return STORE_OK;
	}
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	while (*n > 0)
		outbox_row_clear(&rows[--*n]);
	return rc;
}

int
store_outbox_dry_sent(struct store *st, int64_t id, const char *account,
    int64_t at, const char *message_id, const char *recipient)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_OUTBOX_DRY_SENT);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, at);
	store_bind_text(stmt, 3, account);
	store_bind_text(stmt, 4, message_id);
	store_bind_text(stmt, 5, recipient);
	return outbox_update(st, stmt, id, "outbox sent");
}

int
store_outbox_defer(struct store *st, int64_t id, int64_t next_attempt,
    bool count_attempt, const char *reason)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_OUTBOX_DEFER);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, next_attempt);
	sqlite3_bind_int(stmt, 3, count_attempt ? 1 : 0);
	store_bind_text(stmt, 4, reason);
	return outbox_update(st, stmt, id, "outbox defer");
}

static int
outbox_finish(struct store *st, int64_t id, const char *state,
    const char *reason)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_OUTBOX_FINISH);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_text(stmt, 2, state, -1, SQLITE_STATIC);
	store_bind_text(stmt, 3, reason);
	return outbox_update(st, stmt, id, state);
}

int
store_outbox_fail(struct store *st, int64_t id, const char *reason)
{
	return outbox_finish(st, id, "failed", reason);
}

int
store_outbox_skip(struct store *st, int64_t id, const char *reason)
{
	return outbox_finish(st, id, "skipped", reason);
}

/* ---- reading ---- */

int
store_outbox_get(struct store *st, int64_t id, struct outbox_row *out)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_OUTBOX_GET);
	int rc;

	outbox_row_init(out);
	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	if ((rc = store_step(st, stmt, "outbox get")) != STORE_OK) {
		if (rc == STORE_NOTFOUND)
			store_set_error(st, "outbox row %lld: no such row",
			    (long long)id);
		return rc;
	}
	outbox_from_row(stmt, out);
	sqlite3_reset(stmt);
	return STORE_OK;
}

int
store_outbox_foreach(struct store *st, const char *states, int64_t until,
    int (*fn)(void *ctx, const struct outbox_row *r), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_OUTBOX_FOREACH);
	struct outbox_row r;
	int rc, stop;

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, states);
	sqlite3_bind_int64(stmt, 2, until > 0 ? until : 0);
	while ((rc = store_step(st, stmt, "outbox list")) == STORE_OK) {
		outbox_from_row(stmt, &r);
		stop = fn(ctx, &r);
		outbox_row_clear(&r);
		if (stop) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_outbox_sent_times(struct store *st, const char *account, int64_t since,
    int64_t now, int64_t self, int64_t **times, size_t *n)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_OUTBOX_SENT_TIMES);
	size_t cap = 0;
	int rc;

	*times = NULL;
	*n = 0;
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, account);
	sqlite3_bind_int64(stmt, 2, since);
	sqlite3_bind_int64(stmt, 3, now);
	sqlite3_bind_int64(stmt, 4, self);
	while ((rc = store_step(st, stmt, "outbox sent times")) == STORE_OK) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*times = xreallocarray(*times, cap, sizeof(**times));
		}
		(*times)[(*n)++] = sqlite3_column_int64(stmt, 0);
	}
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	free(*times);
	*times = NULL;
	*n = 0;
	return rc;
}

int
store_outbox_next_due(struct store *st, int64_t *at)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_OUTBOX_NEXT_DUE);
	int rc;

	*at = 0;
	if (stmt == NULL)
		return STORE_ERROR;
	if ((rc = store_step(st, stmt, "outbox next due")) != STORE_OK)
		return rc;
	rc = sqlite3_column_type(stmt, 0) == SQLITE_NULL ? STORE_NOTFOUND :
	    STORE_OK;
	*at = column_int64_or_0(stmt, 0);
	sqlite3_reset(stmt);
	return rc;
}

/* ---- what a row was planned for ---- */

static const char *
outbox_ref_sql(const char *ref_kind)
{
	if (ref_kind == NULL)
		return NULL;
	if (strcmp(ref_kind, "sale") == 0)
		return SQL_REF_SALE;
	if (strcmp(ref_kind, "referral") == 0)
		return SQL_REF_REFERRAL;
	if (strcmp(ref_kind, "event") == 0)
		return SQL_REF_EVENT;
	if (strcmp(ref_kind, "message") == 0)
		return SQL_REF_MESSAGE;
	return NULL;
}

static void
outbox_ref_from_row(sqlite3_stmt *stmt, const char *sql,
    struct outbox_ref *out)
{
	if (sql == SQL_REF_SALE) {
		out->product = store_column_strdup(stmt, 0);
		out->at = sqlite3_column_int64(stmt, 1);
		out->other_id = sqlite3_column_int64(stmt, 2);
	} else if (sql == SQL_REF_REFERRAL) {
		out->at = sqlite3_column_int64(stmt, 0);
		out->other_id = sqlite3_column_int64(stmt, 1);
	} else if (sql == SQL_REF_EVENT) {
		out->summary = store_column_strdup(stmt, 0);
		out->location = store_column_strdup(stmt, 1);
		out->at = sqlite3_column_int64(stmt, 2);
		out->end_at = sqlite3_column_int64(stmt, 3);
	} else {
		out->summary = store_column_strdup(stmt, 0);
		out->at = sqlite3_column_int64(stmt, 1);
	}
}

int
store_outbox_ref_get(struct store *st, const char *ref_kind, int64_t ref_id,
    struct outbox_ref *out)
{
	const char *sql = outbox_ref_sql(ref_kind);
	sqlite3_stmt *stmt;
	int rc;

	memset(out, 0, sizeof(*out));
	if (sql == NULL) {
		store_set_error(st, "outbox reference kind \"%s\" unknown",
		    ref_kind ? ref_kind : "(none)");
		return STORE_NOTFOUND;
	}
	if ((stmt = store_stmt(st, sql)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, ref_id);
	if ((rc = store_step(st, stmt, "outbox reference")) != STORE_OK) {
		if (rc == STORE_NOTFOUND)
			store_set_error(st, "%s %lld: no longer stored",
			    ref_kind, (long long)ref_id);
		return rc;
	}
	outbox_ref_from_row(stmt, sql, out);
	sqlite3_reset(stmt);
	return STORE_OK;
}

