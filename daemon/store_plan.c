/*
 * The planner's reads in the SQLite store (store_plan.h): which facts
 * start a follow-up or a thank-you, whose birthday is near, who may get
 * the newsletter, and whether an outbox key exists.
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_plan.h"
#include "xmalloc.h"

static const char SQL_PLAN_SALES[] =
    "SELECT s.id, s.customer_id, s.at, s.product, 0, 0"
    " FROM sales s JOIN customers c ON c.id = s.customer_id"
    " WHERE s.at BETWEEN ?1 AND ?2 AND c.do_not_contact = 0"
    " ORDER BY s.at, s.id";
/* Rapport's own proposals count once someone confirmed them. */
static const char SQL_PLAN_MEETINGS[] =
    "SELECT e.id, l.customer_id, coalesce(e.end_at, e.start_at), e.uid,"
    " CASE WHEN e.recurrence_id <> 0 THEN e.recurrence_id"
    "  ELSE e.start_at END, 0"
    " FROM events e"
    " JOIN links l ON l.object_kind = 'event' AND l.object_id = e.id"
    " JOIN customers c ON c.id = l.customer_id"
    " WHERE coalesce(e.end_at, e.start_at) BETWEEN ?1 AND ?2"
    " AND e.start_at <= ?2"
    " AND e.cancelled = 0 AND coalesce(e.status, '') <> 'CANCELLED'"
    " AND NOT (e.created_by_rapport = 1"
    "  AND coalesce(e.status, 'TENTATIVE') = 'TENTATIVE')"
    " AND c.do_not_contact = 0"
    " ORDER BY 3, e.id, l.customer_id";
/*
 * "New" means nothing came before: no message linked to the customer in
 * either direction (automatic mail aside), no sale, no meeting.
 */
static const char SQL_PLAN_FIRST_MESSAGES[] =
    "SELECT m.id, m.author_id, m.date, m.subject, 0, 0"
    " FROM messages m JOIN customers c ON c.id = m.author_id"
    " WHERE m.date BETWEEN ?1 AND ?2 AND m.outgoing = 0"
    " AND m.is_auto_reply = 0 AND m.is_bounce = 0 AND c.do_not_contact = 0"
    " AND EXISTS (SELECT 1 FROM links l WHERE l.object_kind = 'message'"
    "  AND l.object_id = m.id AND l.customer_id = m.author_id)"
    " AND NOT EXISTS (SELECT 1 FROM links l JOIN messages p"
    "  ON p.id = l.object_id WHERE l.customer_id = m.author_id"
    "  AND l.object_kind = 'message' AND p.is_auto_reply = 0"
    "  AND p.is_bounce = 0"
    "  AND (p.date < m.date OR (p.date = m.date AND p.id < m.id)))"
    " AND NOT EXISTS (SELECT 1 FROM sales s"
    "  WHERE s.customer_id = m.author_id AND s.at < m.date)"
    " AND NOT EXISTS (SELECT 1 FROM links l JOIN events e"
    "  ON e.id = l.object_id WHERE l.customer_id = m.author_id"
    "  AND l.object_kind = 'event' AND e.cancelled = 0"
    "  AND e.start_at < m.date)"
    " ORDER BY m.date, m.id";
/*
 * Only confirmed referrals are thanked (candidates found in mail wait in
 * state 'pending').  One a person confirmed counts from that decision:
 * its evidence may be older than the planning horizon.
 */
#define PLAN_REFERRAL_AT \
    "(CASE WHEN r.decided_by = 'person' THEN max(r.at, r.decided_at)" \
    " ELSE r.at END)"
static const char SQL_PLAN_REFERRALS[] =
    "SELECT r.id, r.referrer_id, " PLAN_REFERRAL_AT ", d.name, 0,"
    " r.referred_id"
    " FROM referrals r"
    " JOIN customers c ON c.id = r.referrer_id"
    " JOIN customers d ON d.id = r.referred_id"
    " WHERE r.state = 'confirmed'"
    " AND " PLAN_REFERRAL_AT " BETWEEN ?1 AND ?2 AND c.do_not_contact = 0"
    " ORDER BY 3, r.id";
static const char SQL_PLAN_REFERRAL_SALES[] =
    "SELECT r.id, r.referrer_id, s.at, s.product, s.id, r.referred_id"
    " FROM referrals r"
    " JOIN customers c ON c.id = r.referrer_id"
    " JOIN sales s ON s.id = (SELECT f.id FROM sales f"
    "  WHERE f.customer_id = r.referred_id ORDER BY f.at, f.id LIMIT 1)"
    " WHERE r.state = 'confirmed'"
    " AND s.at BETWEEN ?1 AND ?2 AND c.do_not_contact = 0"
    " ORDER BY s.at, r.id";
static const char SQL_PLAN_BIRTHDAYS[] =
    "SELECT id, birth_month, birth_day, tz FROM customers"
    " WHERE birth_month IS NOT NULL AND do_not_contact = 0"
    " AND birth_month * 100 + birth_day IN (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    " ORDER BY id";
static const char SQL_PLAN_RECIPIENTS[] =
    "SELECT c.id, c.lang, c.tier, t.tag FROM customers c"
    " LEFT JOIN customer_tags t ON t.customer_id = c.id"
    " WHERE c.newsletter = 1 AND c.do_not_contact = 0"
    " ORDER BY c.id, t.tag";
static const char SQL_PLAN_OUTBOX_STATE[] =
    "SELECT id, state FROM outbox WHERE kind = ?1 AND template = ?2"
    " AND customer_id = ?3 AND occurrence = ?4";
/* Walks the unique key's (kind, template, customer_id) prefix in order. */
static const char SQL_PLAN_OUTBOX_CUSTOMERS[] =
    "SELECT customer_id FROM outbox WHERE kind = ?1 AND template = ?2"
    " AND occurrence = ?3 ORDER BY customer_id";

/* Runs one of the fact queries above (six columns, ?1 since, ?2 until). */
static int
plan_facts(struct store *st, const char *sql, const char *what,
    int64_t since, int64_t until, plan_fact_fn fn, void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, sql);
	struct plan_fact f;
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, since);
	sqlite3_bind_int64(stmt, 2, until);
	while ((rc = store_step(st, stmt, what)) == STORE_OK) {
		f.id = sqlite3_column_int64(stmt, 0);
		f.customer_id = sqlite3_column_int64(stmt, 1);
		f.at = sqlite3_column_int64(stmt, 2);
		f.text = (const char *)sqlite3_column_text(stmt, 3);
		f.instance = sqlite3_column_int64(stmt, 4);
		f.other = sqlite3_column_int64(stmt, 5);
		if (fn(ctx, &f)) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_plan_sales(struct store *st, int64_t since, int64_t until,
    plan_fact_fn fn, void *ctx)
{
	return plan_facts(st, SQL_PLAN_SALES, "plan sales", since, until,
	    fn, ctx);
}

int
store_plan_meetings(struct store *st, int64_t since, int64_t until,
    plan_fact_fn fn, void *ctx)
{
	return plan_facts(st, SQL_PLAN_MEETINGS, "plan meetings", since,
	    until, fn, ctx);
}

int
store_plan_first_messages(struct store *st, int64_t since, int64_t until,
    plan_fact_fn fn, void *ctx)
{
	return plan_facts(st, SQL_PLAN_FIRST_MESSAGES, "plan first messages",
	    since, until, fn, ctx);
}

int
store_plan_referrals(struct store *st, int64_t since, int64_t until,
    plan_fact_fn fn, void *ctx)
{
	return plan_facts(st, SQL_PLAN_REFERRALS, "plan referrals", since,
	    until, fn, ctx);
}

int
store_plan_referral_sales(struct store *st, int64_t since, int64_t until,
    plan_fact_fn fn, void *ctx)
{
	return plan_facts(st, SQL_PLAN_REFERRAL_SALES, "plan referral sales",
	    since, until, fn, ctx);
}

int
store_plan_birthdays(struct store *st, const int *mmdd, size_t n,
    int (*fn)(void *ctx, const struct plan_birthday *b), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_PLAN_BIRTHDAYS);
	struct plan_birthday b;
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	if (n > STORE_PLAN_MMDD_MAX) {
		store_set_error(st, "plan birthdays: %zu dates, at most %d", n,
		    STORE_PLAN_MMDD_MAX);
		return STORE_ERROR;
	}
	/* Unused slots stay NULL, which matches nothing. */
	for (size_t i = 0; i < n; i++)
		sqlite3_bind_int(stmt, (int)i + 1, mmdd[i]);
	while ((rc = store_step(st, stmt, "plan birthdays")) == STORE_OK) {
		b.customer_id = sqlite3_column_int64(stmt, 0);
		b.month = sqlite3_column_int(stmt, 1);
		b.day = sqlite3_column_int(stmt, 2);
		b.tz = (const char *)sqlite3_column_text(stmt, 3);
		if (fn(ctx, &b)) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* One customer's rows of SQL_PLAN_RECIPIENTS, gathered. */
struct plan_gather {
	struct plan_recipient	 r;
	char			*lang;
	char		       **tags;
	size_t			 n, cap;
};

static void
plan_gather_reset(struct plan_gather *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->tags[i]);
	free(g->lang);
	g->lang = NULL;
	g->n = 0;
	memset(&g->r, 0, sizeof(g->r));
}

static void
plan_gather_start(struct plan_gather *g, sqlite3_stmt *stmt)
{
	const unsigned char *tier = sqlite3_column_text(stmt, 2);

	plan_gather_reset(g);
	g->r.customer_id = sqlite3_column_int64(stmt, 0);
	g->lang = store_column_strdup(stmt, 1);
	g->r.tier = tier ? (char)tier[0] : 0;
}

static void
plan_gather_tag(struct plan_gather *g, sqlite3_stmt *stmt)
{
	if (sqlite3_column_type(stmt, 3) == SQLITE_NULL)
		return;
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 8;
		g->tags = xreallocarray(g->tags, g->cap, sizeof(*g->tags));
	}
	g->tags[g->n++] = store_column_strdup(stmt, 3);
}

static int
plan_gather_emit(struct plan_gather *g,
    int (*fn)(void *ctx, const struct plan_recipient *r), void *ctx)
{
	g->r.lang = g->lang;
	g->r.tags = (const char *const *)g->tags;
	g->r.n_tags = g->n;
	return fn(ctx, &g->r);
}

int
store_plan_newsletter_recipients(struct store *st,
    int (*fn)(void *ctx, const struct plan_recipient *r), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_PLAN_RECIPIENTS);
	struct plan_gather g;
	bool have = false;
	int rc, stop = 0;

	if (stmt == NULL)
		return STORE_ERROR;
	memset(&g, 0, sizeof(g));
	while ((rc = store_step(st, stmt, "plan recipients")) == STORE_OK) {
		if (!have || sqlite3_column_int64(stmt, 0) != g.r.customer_id) {
			if (have && (stop = plan_gather_emit(&g, fn, ctx)))
				break;
			plan_gather_start(&g, stmt);
			have = true;
		}
		plan_gather_tag(&g, stmt);
	}
	if (stop) {
		sqlite3_reset(stmt);
		rc = STORE_OK;
	} else if (rc == STORE_NOTFOUND) {
		rc = STORE_OK;
		if (have)
			plan_gather_emit(&g, fn, ctx);
	}
	plan_gather_reset(&g);
	free(g.tags);
	return rc;
}

int
store_plan_outbox_state(struct store *st, const char *kind,
    const char *template, int64_t customer_id, const char *occurrence,
    int64_t *id, char *state, size_t statelen)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_PLAN_OUTBOX_STATE);
	const char *s;
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, kind);
	store_bind_text(stmt, 2, template);
	sqlite3_bind_int64(stmt, 3, customer_id);
	store_bind_text(stmt, 4, occurrence);
	if ((rc = store_step(st, stmt, "plan outbox state")) != STORE_OK)
		return rc;
	*id = sqlite3_column_int64(stmt, 0);
	s = (const char *)sqlite3_column_text(stmt, 1);
	if (statelen > 0)
		snprintf(state, statelen, "%s", s ? s : "");
	sqlite3_reset(stmt);
	return STORE_OK;
}

int
store_plan_outbox_customers(struct store *st, const char *kind,
    const char *template, const char *occurrence, int64_t **ids, size_t *n)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_PLAN_OUTBOX_CUSTOMERS);
	size_t cap = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, kind);
	store_bind_text(stmt, 2, template);
	store_bind_text(stmt, 3, occurrence);
	while ((rc = store_step(st, stmt, "plan outbox customers")) ==
	    STORE_OK) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			*ids = xreallocarray(*ids, cap, sizeof(**ids));
		}
		(*ids)[(*n)++] = sqlite3_column_int64(stmt, 0);
	}
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	free(*ids);
	*ids = NULL;
	*n = 0;
	return rc;
}
