/*
 * Referrals in the store (store_referral.h): the listing with outcomes,
 * the candidates the referral rules propose and their review, and the
 * lookups those rules need.  The manual insert is store_referral_add() in
 * store_customer.c.
 */
#include "store_int.h"
#include "store_referral.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "xmalloc.h"

/*
 * Two sources of "who brought whom": the referrals table and the
 * customers' referred_by field (what an import or a person said), the
 * latter only where no referrals row repeats it.  Outcomes are counted
 * from the referral's date on.
 */
static const char SQL_REFERRAL_LIST[] =
    "WITH r (id, referrer_id, referred_id, at, source, evidence,"
    "  created_at, rule, strength, evidence_kind, evidence_id) AS ("
    " SELECT id, referrer_id, referred_id, at, source, evidence, created_at,"
    "  rule, strength, evidence_kind, evidence_id"
    "  FROM referrals WHERE state = 'confirmed'"
    " UNION ALL"
    " SELECT 0, c.referred_by, c.id, c.created_at, c.source,"
    "  'referred_by field', c.created_at, NULL, NULL,"
    "  CASE WHEN c.source = 'import' THEN 'import' ELSE 'manual' END, NULL"
    "  FROM customers c"
    "  WHERE c.referred_by IS NOT NULL AND c.referred_by <> c.id"
    "  AND NOT EXISTS (SELECT 1 FROM referrals x"
    "   WHERE x.referrer_id = c.referred_by AND x.referred_id = c.id"
    "   AND x.state = 'confirmed'))"
    " SELECT r.id, r.referrer_id, a.name, ae.address, r.referred_id,"
    " b.name, be.address, r.at, r.source, r.evidence, r.created_at,"
    " b.source, b.created_at,"
    " (SELECT s.at FROM sales s WHERE s.customer_id = r.referred_id"
    "  ORDER BY s.at, s.id LIMIT 1),"
    " (SELECT s.product FROM sales s WHERE s.customer_id = r.referred_id"
    "  ORDER BY s.at, s.id LIMIT 1),"
    " (SELECT count(*) FROM links l JOIN messages m ON m.id = l.object_id"
    "  WHERE l.customer_id = r.referred_id AND l.object_kind = 'message'"
    "  AND m.date >= r.at),"
    " (SELECT count(*) FROM links l JOIN events e ON e.id = l.object_id"
    "  WHERE l.customer_id = r.referred_id AND l.object_kind = 'event'"
    "  AND e.start_at >= r.at AND e.cancelled = 0),"
    " r.rule, r.strength, r.evidence_kind,"
    " CASE r.evidence_kind"
    "  WHEN 'message' THEN (SELECT coalesce(m.message_id, m.dedupe_key)"
    "   FROM messages m WHERE m.id = r.evidence_id)"
    "  WHEN 'event' THEN (SELECT e.uid FROM events e"
    "   WHERE e.id = r.evidence_id) END"
    " FROM r JOIN customers a ON a.id = r.referrer_id"
    " JOIN customers b ON b.id = r.referred_id"
    " LEFT JOIN customer_emails ae ON ae.customer_id = a.id"
    "  AND ae.position = 0"
    " LEFT JOIN customer_emails be ON be.customer_id = b.id"
    "  AND be.position = 0"
    " ORDER BY r.at, r.id, r.referred_id";

static const char *
referral_text(sqlite3_stmt *stmt, int col)
{
	return (const char *)sqlite3_column_text(stmt, col);
}

static void
referral_from_row(sqlite3_stmt *stmt, struct store_referral_item *it)
{
	it->id = sqlite3_column_int64(stmt, 0);
	it->referrer_id = sqlite3_column_int64(stmt, 1);
	it->referrer_name = referral_text(stmt, 2);
	it->referrer_address = referral_text(stmt, 3);
	it->referred_id = sqlite3_column_int64(stmt, 4);
	it->referred_name = referral_text(stmt, 5);
	it->referred_address = referral_text(stmt, 6);
	it->at = sqlite3_column_int64(stmt, 7);
	it->source = referral_text(stmt, 8);
	it->evidence = referral_text(stmt, 9);
	it->created_at = sqlite3_column_int64(stmt, 10);
	it->referred_source = referral_text(stmt, 11);
	it->referred_since = sqlite3_column_int64(stmt, 12);
	it->first_sale_at = sqlite3_column_int64(stmt, 13);	/* NULL: 0 */
	it->first_sale_product = referral_text(stmt, 14);
	it->messages = sqlite3_column_int64(stmt, 15);
	it->meetings = sqlite3_column_int64(stmt, 16);
	it->rule = referral_text(stmt, 17);
	it->strength = referral_text(stmt, 18);
	it->evidence_kind = referral_text(stmt, 19);
	it->evidence_ref = referral_text(stmt, 20);
}

int
store_referral_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_referral_item *it), void *ctx)
{
	struct store_referral_item it;
	sqlite3_stmt *stmt = store_stmt(st, SQL_REFERRAL_LIST);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	while ((rc = store_step(st, stmt, "referral list")) == STORE_OK) {
		referral_from_row(stmt, &it);
		if (fn(ctx, &it) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* ---- the referral rules' lookups ---- */

/* Names folded as the index customers_by_folded_name folds them: ASCII
 * lowercase, spaces dropped (SQLite's lower() leaves other letters). */
static char *
referral_fold(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ')
			*o++ = (char)tolower((unsigned char)s[i]);
	*o = '\0';
	return out;
}

static const char SQL_BY_FOLDED_NAME[] =
    "SELECT id FROM customers WHERE replace(lower(name), ' ', '') = ?1"
    " ORDER BY id";
/*
 * The partial matches, a superset of them rather: referral_partial()
 * decides.  The OR's terms are the expressions of schema version 11's
 * indexes, written exactly as there, so that none of them scans the
 * customers; they select every name referral_partial() can accept.  The
 * instr() term is the lookup's former whole condition: it keeps the
 * answer what it was for a name that is not valid UTF-8, whose characters
 * SQLite may count differently from the bytes the C code cuts at.
 */
static const char SQL_BY_NAME_PART[] =
    "SELECT id, name FROM customers WHERE"
    " (" STORE_NAME_FIRST_WORD " = ?1"
    " OR " STORE_NAME_LAST_WORD " = ?1"
    " OR " STORE_NAME_GIVEN_CJK " = ?1)"
    " AND instr(replace(lower(name), ' ', ''), ?1) > 0 ORDER BY id";

static bool
referral_fold_eq(const char *part, size_t len, const char *folded)
{
	char *f = referral_fold(part, len);
	bool eq = strcmp(f, folded) == 0;

	free(f);
	return eq;
}

/* Whether folded is the given name or surname alone of name. */
static bool
referral_partial(const char *name, const char *folded)
{
	const char *sp = strchr(name, ' '), *last;
	size_t first;

	while (*name == ' ')
		name++;
	last = strrchr(name, ' ');
	if (sp != NULL && last != NULL && last[1] != '\0') {
		sp = strchr(name, ' ');
		return referral_fold_eq(name, (size_t)(sp - name), folded) ||
		    referral_fold_eq(last + 1, strlen(last + 1), folded);
	}
	/* A CJK name written whole: its given name follows the one
	 * character of the surname, and is itself two or more. */
	if ((unsigned char)name[0] < 0xe0)
		return false;
	first = (unsigned char)name[0] >= 0xf0 ? 4 : 3;
	return strlen(name) >= first + 6 &&
	    referral_fold_eq(name + first, strlen(name + first), folded);
}

static int
referral_ids(struct store *st, sqlite3_stmt *stmt, const char *folded,
    int64_t *ids, size_t max, size_t *n)
{
	int rc;

	while ((rc = store_step(st, stmt, "customers by name")) == STORE_OK) {
		if (folded != NULL && !referral_partial(
		    (const char *)sqlite3_column_text(stmt, 1), folded))
			continue;
		if (*n < max)
			ids[*n] = sqlite3_column_int64(stmt, 0);
		(*n)++;
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_referral_customers_by_name(struct store *st, const char *name,
    int64_t *ids, size_t max, size_t *n, bool *exact)
{
	char *folded = referral_fold(name, strlen(name));
	sqlite3_stmt *stmt;
	int rc = STORE_ERROR;

	*n = 0;
	*exact = true;
	if (*folded == '\0') {
		free(folded);
		return STORE_OK;
	}
	if ((stmt = store_stmt(st, SQL_BY_FOLDED_NAME)) == NULL)
		goto out;
	store_bind_text(stmt, 1, folded);
	if ((rc = referral_ids(st, stmt, NULL, ids, max, n)) != STORE_OK ||
	    *n > 0)
		goto out;
	*exact = false;
	rc = STORE_ERROR;
	if ((stmt = store_stmt(st, SQL_BY_NAME_PART)) == NULL)
		goto out;
	store_bind_text(stmt, 1, folded);
	rc = referral_ids(st, stmt, folded, ids, max, n);
out:
	free(folded);
	return rc;
}

static const char SQL_HISTORY[] =
    "SELECT EXISTS (SELECT 1 FROM message_participants p"
    "  JOIN messages m ON m.id = p.message_id"
    "  WHERE p.address = ?1 AND m.date < ?2 AND m.id <> ?3)"
    " OR EXISTS (SELECT 1 FROM event_attendees a"
    "  JOIN events e ON e.id = a.event_id"
    "  WHERE a.address = ?1 AND e.start_at < ?2 AND e.id <> ?4)";

int
store_referral_has_history(struct store *st, const char *addr,
    int64_t before, int64_t except_message, int64_t except_event, bool *has)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_HISTORY);
	int rc;

	*has = false;
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, addr);
	sqlite3_bind_int64(stmt, 2, before);
	sqlite3_bind_int64(stmt, 3, except_message);
	sqlite3_bind_int64(stmt, 4, except_event);
	if ((rc = store_step(st, stmt, "address history")) != STORE_OK)
		return rc;
	*has = sqlite3_column_int(stmt, 0) != 0;
	sqlite3_reset(stmt);
	return STORE_OK;
}

static const char SQL_MESSAGE_BY_KEY[] =
    "SELECT id, date FROM messages WHERE dedupe_key = ?1";

int
store_referral_message(struct store *st, const char *key, int64_t *id,
    int64_t *date)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_MESSAGE_BY_KEY);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, key);
	if ((rc = store_step(st, stmt, "message by key")) != STORE_OK) {
		if (rc == STORE_NOTFOUND)
			store_set_error(st, "message %s: not stored", key);
		return rc;
	}
	*id = sqlite3_column_int64(stmt, 0);
	*date = sqlite3_column_int64(stmt, 1);
	sqlite3_reset(stmt);
	return STORE_OK;
}

static const char SQL_EVENT_BY_UID[] =
    "SELECT id FROM events WHERE account = ?1 AND calendar = ?2"
    " AND uid = ?3 AND recurrence_id = ?4";

int
store_referral_event(struct store *st, const char *account,
    const char *calendar, const char *uid, int64_t recurrence_id,
    int64_t *id)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_EVENT_BY_UID);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, account);
	store_bind_text(stmt, 2, calendar);
	store_bind_text(stmt, 3, uid);
	sqlite3_bind_int64(stmt, 4, recurrence_id);
	if ((rc = store_step(st, stmt, "event by uid")) != STORE_OK) {
		if (rc == STORE_NOTFOUND)
			store_set_error(st, "event %s: not stored", uid);
		return rc;
	}
	*id = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return STORE_OK;
}

/* ---- candidates ---- */

struct referral_row {
	int64_t	 id, referrer_id, referred_id;
	char	*referred_addr, *referred_name, *state, *strength;
};

static void
referral_row_clear(struct referral_row *r)
{
	free(r->referred_addr);
	free(r->referred_name);
	free(r->state);
	free(r->strength);
	memset(r, 0, sizeof(*r));
}

#define SQL_ROW_COLUMNS \
    "SELECT id, referrer_id, referred_id, referred_addr, referred_name," \
    " state, strength FROM referrals"
static const char SQL_ROW_BY_ID[] = SQL_ROW_COLUMNS " WHERE id = ?1";
static const char SQL_ROW_BY_PAIR[] = SQL_ROW_COLUMNS
    " WHERE referrer_id = ?1 AND referred_addr = ?2";

static int
referral_row_step(struct store *st, sqlite3_stmt *stmt, struct referral_row *r)
{
	int rc = store_step(st, stmt, "referral");

	if (rc != STORE_OK)
		return rc;
	r->id = sqlite3_column_int64(stmt, 0);
	r->referrer_id = sqlite3_column_int64(stmt, 1);
	r->referred_id = sqlite3_column_int64(stmt, 2);	/* NULL: 0 */
	r->referred_addr = store_column_strdup(stmt, 3);
	r->referred_name = store_column_strdup(stmt, 4);
	r->state = store_column_strdup(stmt, 5);
	r->strength = store_column_strdup(stmt, 6);
	sqlite3_reset(stmt);
	return STORE_OK;
}

static int
referral_row_get(struct store *st, int64_t id, struct referral_row *r)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_ROW_BY_ID);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	rc = referral_row_step(st, stmt, r);
	if (rc == STORE_NOTFOUND)
		store_set_error(st, "referral %lld: no such candidate",
		    (long long)id);
	return rc;
}

/* Whether another referrer's referral of addr is confirmed. */
static const char SQL_ADDR_CONFIRMED[] =
    "SELECT 1 FROM referrals WHERE referred_addr = ?1"
    " AND state = 'confirmed' LIMIT 1";
static const char SQL_CANDIDATE_INSERT[] =
    "INSERT INTO referrals (referrer_id, referred_addr, referred_name, at,"
    " source, evidence, created_at, state, rule, strength, evidence_kind,"
    " evidence_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9,"
    " ?10, ?11)";
static const char SQL_CANDIDATE_STRENGTHEN[] =
    "UPDATE referrals SET rule = ?2, strength = 'strong', evidence = ?3,"
    " evidence_kind = ?4, evidence_id = ?5, source = ?6, at = ?7,"
    " referred_name = coalesce(referred_name, ?8)"
    " WHERE id = ?1 AND state = 'pending'";

static int
referral_addr_taken(struct store *st, const char *addr, bool *taken)
{
	sqlite3_stmt *stmt;
	int64_t id;
	int rc;

	*taken = true;
	rc = store_customer_find_email(st, addr, &id);
	if (rc != STORE_NOTFOUND)
		return rc;	/* a customer already (or an error) */
	if ((stmt = store_stmt(st, SQL_ADDR_CONFIRMED)) == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, addr);
	rc = store_step(st, stmt, "referral of address");
	if (rc == STORE_OK) {
		sqlite3_reset(stmt);
		return STORE_OK;
	}
	*taken = false;
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static int
referral_insert(struct store *st, const struct store_referral_candidate *c,
    int64_t *id)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_CANDIDATE_INSERT);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, c->referrer_id);
	store_bind_text(stmt, 2, c->referred_addr);
	store_bind_text(stmt, 3, c->referred_name);
	sqlite3_bind_int64(stmt, 4, c->at);
	store_bind_text(stmt, 5, c->source);
	store_bind_text(stmt, 6, c->evidence);
	sqlite3_bind_int64(stmt, 7, clock_now());
	store_bind_text(stmt, 8, c->rule);
	store_bind_text(stmt, 9, c->strong ? "strong" : "weak");
	store_bind_text(stmt, 10, c->evidence_kind);
	store_bind_int64_or_null(stmt, 11, c->evidence_id);
	if ((rc = store_exec(st, stmt, "referral candidate")) == STORE_OK)
		*id = sqlite3_last_insert_rowid(st->db);
	return rc;
}

static int
referral_strengthen(struct store *st, int64_t id,
    const struct store_referral_candidate *c)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_CANDIDATE_STRENGTHEN);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	store_bind_text(stmt, 2, c->rule);
	store_bind_text(stmt, 3, c->evidence);
	store_bind_text(stmt, 4, c->evidence_kind);
	store_bind_int64_or_null(stmt, 5, c->evidence_id);
	store_bind_text(stmt, 6, c->source);
	sqlite3_bind_int64(stmt, 7, c->at);
	store_bind_text(stmt, 8, c->referred_name);
	return store_exec(st, stmt, "referral strengthen");
}

/* The candidate's row, new or known; *fresh whether it is new or was
 * made strong now, so that it waits (or may be confirmed) again. */
static int
referral_record(struct store *st, const struct store_referral_candidate *c,
    int64_t *id, bool *fresh)
{
	struct referral_row r = { 0 };
	sqlite3_stmt *stmt = store_stmt(st, SQL_ROW_BY_PAIR);
	int rc;

	*fresh = false;
	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, c->referrer_id);
	store_bind_text(stmt, 2, c->referred_addr);
	rc = referral_row_step(st, stmt, &r);
	if (rc == STORE_NOTFOUND) {
		*fresh = true;
		return referral_insert(st, c, id);
	}
	if (rc != STORE_OK)
		return rc;
	*id = r.id;
	if (strcmp(r.state, "pending") == 0 && c->strong &&
	    strcmp(r.strength, "weak") == 0) {
		rc = referral_strengthen(st, r.id, c);
		*fresh = true;
	}
	referral_row_clear(&r);
	return rc;
}

int
store_referral_propose(struct store *st,
    const struct store_referral_candidate *c, bool auto_confirm, int64_t *id,
    enum store_referral_outcome *outcome)
{
	struct store_tx tx;
	int64_t row = 0;
	bool taken, fresh = false;
	int rc;

	*outcome = STORE_REFERRAL_UNCHANGED;
	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	rc = referral_addr_taken(st, c->referred_addr, &taken);
	if (rc == STORE_OK && !taken)
		rc = referral_record(st, c, &row, &fresh);
	if (rc == STORE_OK && fresh) {
		*outcome = STORE_REFERRAL_PENDING;
		if (auto_confirm && c->strong) {
			rc = store_referral_confirm(st, row, false, NULL, NULL);
			*outcome = STORE_REFERRAL_CONFIRMED;
		}
	}
	if (id != NULL)
		*id = rc == STORE_OK ? row : 0;
	return store_tx_leave(st, &tx, rc);
}

/* ---- confirm, reject ---- */

static const char SQL_CONFIRM[] =
    "UPDATE referrals SET state = 'confirmed', referred_id = ?2,"
    " decided_at = ?3, decided_by = ?4 WHERE id = ?1";
static const char SQL_SUPERSEDE[] =
    "UPDATE referrals SET state = 'rejected', decided_at = ?3,"
    " decided_by = 'rule'"
    " WHERE referred_addr = ?1 AND id <> ?2 AND state = 'pending'";
static const char SQL_SET_REFERRED_BY[] =
    "UPDATE customers SET referred_by = ?2, updated_at = ?3"
    " WHERE id = ?1 AND referred_by IS NULL";
/*
 * Retroactive links of meetings.  Messages are linked by
 * store_customer_insert() itself (store_message_link_address()).
 */
static const char SQL_LINK_EVENTS[] =
    "INSERT OR IGNORE INTO links (customer_id, object_kind, object_id, rule,"
    " detail, created_at)"
    " SELECT ?1, 'event', a.event_id, 'address:attendee', ?2, ?3"
    " FROM event_attendees a WHERE a.address = ?2";

static int
referral_exec3(struct store *st, const char *sql, int64_t a, const char *b,
    int64_t c, const char *what)
{
	sqlite3_stmt *stmt = store_stmt(st, sql);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, a);
	store_bind_text(stmt, 2, b);
	sqlite3_bind_int64(stmt, 3, c);
	return store_exec(st, stmt, what);
}

static int
referral_link_back(struct store *st, int64_t customer, const char *addr)
{
	return referral_exec3(st, SQL_LINK_EVENTS, customer, addr, clock_now(),
	    "referral event links");
}

static int
referral_set_referred_by(struct store *st, int64_t customer, int64_t referrer,
    int64_t now)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_SET_REFERRED_BY);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, customer);
	sqlite3_bind_int64(stmt, 2, referrer);
	sqlite3_bind_int64(stmt, 3, now);
	return store_exec(st, stmt, "referred by");
}

/* The customer the referred address is, found or created. */
static int
referral_customer(struct store *st, const struct referral_row *r,
    int64_t *customer, bool *created)
{
	struct customer c;
	int rc;

	*created = false;
	if (r->referred_id != 0) {
		*customer = r->referred_id;
		return STORE_OK;
	}
	rc = store_customer_find_email(st, r->referred_addr, customer);
	if (rc != STORE_NOTFOUND)
		return rc;
	customer_init(&c);
	c.name = xstrdup(r->referred_name && *r->referred_name ?
	    r->referred_name : r->referred_addr);
	c.source = xstrdup("referral");
	c.referred_by = r->referrer_id;
	customer_add_email(&c, r->referred_addr);
	rc = store_customer_insert(st, &c);
	*customer = c.id;
	*created = rc == STORE_OK;
	customer_clear(&c);
	return rc;
}

static int
referral_confirm_row(struct store *st, const struct referral_row *r,
    bool by_person, int64_t *customer, bool *created)
{
	sqlite3_stmt *stmt;
	int64_t now = clock_now();
	int rc;

	if ((rc = referral_customer(st, r, customer, created)) != STORE_OK)
		return rc;
	if (*customer == r->referrer_id) {
		store_set_error(st, "referral %lld: %s is the referrer's own "
		    "address", (long long)r->id, r->referred_addr);
		return STORE_CONFLICT;
	}
	if ((stmt = store_stmt(st, SQL_CONFIRM)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, r->id);
	sqlite3_bind_int64(stmt, 2, *customer);
	sqlite3_bind_int64(stmt, 3, now);
	store_bind_text(stmt, 4, by_person ? "person" : "rule");
	if ((rc = store_exec(st, stmt, "referral confirm")) == STORE_CONFLICT)
		store_set_error(st, "referral %lld: customer %lld is recorded as "
		    "referred by customer %lld already", (long long)r->id,
		    (long long)*customer, (long long)r->referrer_id);
	/* After the row names the customer, so that the referred_by
	 * trigger finds the referral recorded. */
	if (rc == STORE_OK)
		rc = referral_set_referred_by(st, *customer, r->referrer_id, now);
	if (rc == STORE_OK && r->referred_addr != NULL) {
		if ((stmt = store_stmt(st, SQL_SUPERSEDE)) == NULL)
			return STORE_ERROR;
		store_bind_text(stmt, 1, r->referred_addr);
		sqlite3_bind_int64(stmt, 2, r->id);
		sqlite3_bind_int64(stmt, 3, now);
		rc = store_exec(st, stmt, "referral supersede");
		if (rc == STORE_OK)
			rc = referral_link_back(st, *customer, r->referred_addr);
	}
	return rc;
}

int
store_referral_confirm(struct store *st, int64_t id, bool by_person,
    int64_t *customer_id, bool *created)
{
	struct referral_row r = { 0 };
	struct store_tx tx;
	int64_t customer = 0;
	bool made = false;
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((rc = referral_row_get(st, id, &r)) == STORE_OK) {
		if (strcmp(r.state, "confirmed") == 0) {
			store_set_error(st, "referral %lld: confirmed already",
			    (long long)id);
			rc = STORE_CONFLICT;
		} else {
			rc = referral_confirm_row(st, &r, by_person, &customer,
			    &made);
		}
	}
	referral_row_clear(&r);
	if (customer_id != NULL)
		*customer_id = customer;
	if (created != NULL)
		*created = made;
	return store_tx_leave(st, &tx, rc);
}

static const char SQL_REJECT[] =
    "UPDATE referrals SET state = 'rejected', decided_at = ?2,"
    " decided_by = 'person' WHERE id = ?1 AND state = 'pending'";

int
store_referral_reject(struct store *st, int64_t id)
{
	struct referral_row r = { 0 };
	struct store_tx tx;
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((rc = referral_row_get(st, id, &r)) == STORE_OK &&
	    strcmp(r.state, "pending") != 0) {
		store_set_error(st, "referral %lld: %s, not pending",
		    (long long)id, r.state);
		rc = STORE_CONFLICT;
	}
	if (rc == STORE_OK) {
		if ((stmt = store_stmt(st, SQL_REJECT)) == NULL)
			rc = STORE_ERROR;
		else {
			sqlite3_bind_int64(stmt, 1, id);
			sqlite3_bind_int64(stmt, 2, clock_now());
			rc = store_exec(st, stmt, "referral reject");
		}
	}
	referral_row_clear(&r);
	return store_tx_leave(st, &tx, rc);
}

/* ---- the review list ---- */

static const char SQL_PENDING[] =
    "SELECT r.id, r.referrer_id, a.name, ae.address, r.referred_addr,"
    " r.referred_name, r.at, r.rule, r.strength, r.evidence,"
    " r.evidence_kind, r.evidence_id,"
    " CASE r.evidence_kind"
    "  WHEN 'message' THEN (SELECT coalesce(m.message_id, m.dedupe_key)"
    "   FROM messages m WHERE m.id = r.evidence_id)"
    "  WHEN 'event' THEN (SELECT e.uid FROM events e"
    "   WHERE e.id = r.evidence_id) END,"
    " CASE r.evidence_kind"
    "  WHEN 'message' THEN (SELECT m.subject FROM messages m"
    "   WHERE m.id = r.evidence_id)"
    "  WHEN 'event' THEN (SELECT e.summary FROM events e"
    "   WHERE e.id = r.evidence_id) END,"
    " r.created_at"
    " FROM referrals r JOIN customers a ON a.id = r.referrer_id"
    " LEFT JOIN customer_emails ae ON ae.customer_id = a.id"
    "  AND ae.position = 0"
    " WHERE r.state = 'pending' ORDER BY r.at, r.id";

static void
pending_from_row(sqlite3_stmt *stmt, struct store_referral_pending *it)
{
	it->id = sqlite3_column_int64(stmt, 0);
	it->referrer_id = sqlite3_column_int64(stmt, 1);
	it->referrer_name = referral_text(stmt, 2);
	it->referrer_address = referral_text(stmt, 3);
	it->referred_addr = referral_text(stmt, 4);
	it->referred_name = referral_text(stmt, 5);
	it->at = sqlite3_column_int64(stmt, 6);
	it->rule = referral_text(stmt, 7);
	it->strength = referral_text(stmt, 8);
	it->evidence = referral_text(stmt, 9);
	it->evidence_kind = referral_text(stmt, 10);
	it->evidence_id = sqlite3_column_int64(stmt, 11);
	it->evidence_ref = referral_text(stmt, 12);
	it->evidence_title = referral_text(stmt, 13);
	it->created_at = sqlite3_column_int64(stmt, 14);
}

int
store_referral_pending_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_referral_pending *it), void *ctx)
{
	struct store_referral_pending it;
	sqlite3_stmt *stmt = store_stmt(st, SQL_PENDING);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	while ((rc = store_step(st, stmt, "referral pending")) == STORE_OK) {
		pending_from_row(stmt, &it);
		if (fn(ctx, &it) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}
