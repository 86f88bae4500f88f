/*
 * Customers in the SQLite store: the row, its addresses and tags, and the
 * two requests a person may make about their data (erasure, access).
 * Also the facts rapportctl records about customers: sales, referrals.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store_message.h"
#include "store_visit.h"
#include "xmalloc.h"

/* ---- struct customer ---- */

void
customer_init(struct customer *c)
{
	memset(c, 0, sizeof(*c));
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
customer_clear(struct customer *c)
{
	free(c->name);
	free(c->first_name);
	free(c->company);
	free(c->lang);
	free(c->tz);
	free(c->consent_source);
	free(c->source);
	free(c->notes);
	strv_free(c->emails, c->n_emails);
	strv_free(c->tags, c->n_tags);
	customer_init(c);
}

static bool
strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Duplicates are dropped: an address or tag is in the set once. */
static void
strv_add(char ***v, size_t *n, const char *s)
{
	if (strv_has(*v, *n, s))
		return;
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

void
customer_add_email(struct customer *c, const char *addr)
{
	strv_add(&c->emails, &c->n_emails, addr);
}

void
customer_add_tag(struct customer *c, const char *tag)
{
	strv_add(&c->tags, &c->n_tags, tag);
}

/* ---- reading ---- */

#define CUSTOMER_COLUMNS						\
	"id, name, first_name, company, lang, tz, tier, birth_year,"	\
	" birth_month, birth_day, newsletter, consent_at,"		\
	" consent_source, do_not_contact, referred_by, source, notes,"	\
	" created_at, updated_at"

static const char SQL_CUSTOMER_GET[] =
    "SELECT " CUSTOMER_COLUMNS " FROM customers WHERE id = ?1";
static const char SQL_CUSTOMER_ALL[] =
    "SELECT " CUSTOMER_COLUMNS " FROM customers ORDER BY name, id";
static const char SQL_CUSTOMER_EXISTS[] =
    "SELECT 1 FROM customers WHERE id = ?1";
static const char SQL_CUSTOMER_COUNT[] = "SELECT count(*) FROM customers";
static const char SQL_EMAILS_GET[] =
    "SELECT address FROM customer_emails WHERE customer_id = ?1"
    " ORDER BY position";
static const char SQL_TAGS_GET[] =
    "SELECT tag FROM customer_tags WHERE customer_id = ?1 ORDER BY tag";
static const char SQL_EMAIL_FIND[] =
    "SELECT customer_id FROM customer_emails WHERE address = ?1";

static int64_t
column_int64_or_0(sqlite3_stmt *stmt, int col)
{
	if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
		return 0;
	return sqlite3_column_int64(stmt, col);
}

/* Fills out (initialized here) from a row of CUSTOMER_COLUMNS. */
static void
customer_from_row(sqlite3_stmt *stmt, struct customer *out)
{
	const unsigned char *tier;

	customer_init(out);
	out->id = sqlite3_column_int64(stmt, 0);
	out->name = store_column_strdup(stmt, 1);
	out->first_name = store_column_strdup(stmt, 2);
	out->company = store_column_strdup(stmt, 3);
	out->lang = store_column_strdup(stmt, 4);
	out->tz = store_column_strdup(stmt, 5);
	tier = sqlite3_column_text(stmt, 6);
	out->tier = tier ? (char)tier[0] : 0;
	out->birth_year = (int)column_int64_or_0(stmt, 7);
	out->birth_month = (int)column_int64_or_0(stmt, 8);
	out->birth_day = (int)column_int64_or_0(stmt, 9);
	out->newsletter = sqlite3_column_int(stmt, 10) != 0;
	out->consent_at = column_int64_or_0(stmt, 11);
	out->consent_source = store_column_strdup(stmt, 12);
	out->do_not_contact = sqlite3_column_int(stmt, 13) != 0;
	out->referred_by = column_int64_or_0(stmt, 14);
	out->source = store_column_strdup(stmt, 15);
	out->notes = store_column_strdup(stmt, 16);
	out->created_at = sqlite3_column_int64(stmt, 17);
	out->updated_at = sqlite3_column_int64(stmt, 18);
}

/* Appends every value of a one-column query keyed by customer id. */
static int
customer_load_list(struct store *st, const char *sql, int64_t id,
    char ***v, size_t *n)
{
	sqlite3_stmt *stmt = store_stmt(st, sql);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	while ((rc = store_step(st, stmt, "customer lists")) == STORE_OK)
		strv_add(v, n, (const char *)sqlite3_column_text(stmt, 0));
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static int
customer_load_lists(struct store *st, struct customer *c)
{
	if (customer_load_list(st, SQL_EMAILS_GET, c->id, &c->emails,
	    &c->n_emails) != STORE_OK)
		return STORE_ERROR;
	return customer_load_list(st, SQL_TAGS_GET, c->id, &c->tags,
	    &c->n_tags);
}

int
store_customer_get(struct store *st, int64_t id, struct customer *out)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_CUSTOMER_GET);
	int rc;

	customer_init(out);
	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	if ((rc = store_step(st, stmt, "customer get")) != STORE_OK) {
		if (rc == STORE_NOTFOUND)
			store_set_error(st, "customer %lld: no such customer",
			    (long long)id);
		return rc;
	}
	customer_from_row(stmt, out);
	sqlite3_reset(stmt);
	if ((rc = customer_load_lists(st, out)) != STORE_OK)
		customer_clear(out);
	return rc;
}

int
store_customer_exists(struct store *st, int64_t id)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_CUSTOMER_EXISTS);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	rc = store_step(st, stmt, "customer exists");
	if (rc == STORE_OK)
		sqlite3_reset(stmt);
	else if (rc == STORE_NOTFOUND)
		store_set_error(st, "customer %lld: no such customer",
		    (long long)id);
	return rc;
}

int
store_customer_find_email(struct store *st, const char *addr, int64_t *id)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_EMAIL_FIND);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(stmt, 1, addr, -1, SQLITE_TRANSIENT);
	if ((rc = store_step(st, stmt, "customer find")) != STORE_OK) {
		if (rc == STORE_NOTFOUND)
			store_set_error(st, "%s: no customer has this address",
			    addr);
		return rc;
	}
	*id = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return STORE_OK;
}

int
store_customer_foreach(struct store *st,
    int (*fn)(void *ctx, const struct customer *c), void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_CUSTOMER_ALL);
	struct customer c;
	int rc, stop;

	if (stmt == NULL)
		return STORE_ERROR;
	while ((rc = store_step(st, stmt, "customer list")) == STORE_OK) {
		customer_from_row(stmt, &c);
		if (customer_load_lists(st, &c) != STORE_OK) {
			customer_clear(&c);
			sqlite3_reset(stmt);
			return STORE_ERROR;
		}
		stop = fn(ctx, &c);
		customer_clear(&c);
		if (stop) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_customer_count(struct store *st, int64_t *n)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_CUSTOMER_COUNT);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	if ((rc = store_step(st, stmt, "customer count")) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
	*n = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return STORE_OK;
}

/* ---- writing ---- */

/*
 * Parameters: ?1 id, ?2..?17 the fields in CUSTOMER_COLUMNS order,
 * ?18 created_at, ?19 updated_at.
 *
 * The one INSERT INTO customers.  The id is chosen here, never by SQLite
 * (max(id) + 1): one above every id ever used, the forgotten ones
 * included (customer_ids, schema version 10), because ids live on outside
 * the database (visit UIDs on the user's calendars) and a reused one would
 * hand a forgotten customer's leftovers to a new customer.  ?1 is not
 * read: an insert never takes the caller's id.
 */
static const char SQL_CUSTOMER_INSERT[] =
    "INSERT INTO customers (id, name, first_name, company, lang, tz, tier,"
    " birth_year, birth_month, birth_day, newsletter, consent_at,"
    " consent_source, do_not_contact, referred_by, source, notes,"
    " created_at, updated_at)"
    " VALUES (max(coalesce((SELECT max(id) FROM customers), 0),"
    " coalesce((SELECT max_id FROM customer_ids WHERE one = 1), 0)) + 1,"
    " ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
    " ?16, ?17, ?18, ?19)";
static const char SQL_CUSTOMER_UPDATE[] =
    "UPDATE customers SET name = ?2, first_name = ?3, company = ?4,"
    " lang = ?5, tz = ?6, tier = ?7, birth_year = ?8, birth_month = ?9,"
    " birth_day = ?10, newsletter = ?11, consent_at = ?12,"
    " consent_source = ?13, do_not_contact = ?14, referred_by = ?15,"
    " source = ?16, notes = ?17, updated_at = ?19 WHERE id = ?1";
static const char SQL_CUSTOMER_TOUCH[] =
    "UPDATE customers SET updated_at = ?2 WHERE id = ?1";
static const char SQL_EMAILS_DELETE[] =
    "DELETE FROM customer_emails WHERE customer_id = ?1";
static const char SQL_EMAIL_INSERT[] =
    "INSERT INTO customer_emails (address, customer_id, position)"
    " VALUES (?1, ?2, ?3)";
static const char SQL_TAGS_DELETE[] =
    "DELETE FROM customer_tags WHERE customer_id = ?1";
static const char SQL_TAG_INSERT[] =
    "INSERT OR IGNORE INTO customer_tags (customer_id, tag) VALUES (?1, ?2)";
static const char SQL_TAG_DELETE[] =
    "DELETE FROM customer_tags WHERE customer_id = ?1 AND tag = ?2";

static void
customer_bind(sqlite3_stmt *stmt, const struct customer *c)
{
	char tier[2] = { c->tier, '\0' };

	sqlite3_bind_int64(stmt, 1, c->id);
	store_bind_text(stmt, 2, c->name);
	store_bind_text(stmt, 3, c->first_name);
	store_bind_text(stmt, 4, c->company);
	store_bind_text(stmt, 5, c->lang);
	store_bind_text(stmt, 6, c->tz);
	store_bind_text(stmt, 7, c->tier ? tier : NULL);
	store_bind_int64_or_null(stmt, 8, c->birth_year);
	store_bind_int64_or_null(stmt, 9, c->birth_month);
	store_bind_int64_or_null(stmt, 10, c->birth_day);
	sqlite3_bind_int(stmt, 11, c->newsletter);
	store_bind_int64_or_null(stmt, 12, c->consent_at);
	store_bind_text(stmt, 13, c->consent_source);
	sqlite3_bind_int(stmt, 14, c->do_not_contact);
	store_bind_int64_or_null(stmt, 15, c->referred_by);
	store_bind_text(stmt, 16, c->source);
	store_bind_text(stmt, 17, c->notes);
	sqlite3_bind_int64(stmt, 18, c->created_at);
	sqlite3_bind_int64(stmt, 19, c->updated_at);
}

static int
customer_write_row(struct store *st, const char *sql, const struct customer *c)
{
	sqlite3_stmt *stmt = store_stmt(st, sql);

	if (stmt == NULL)
		return STORE_ERROR;
	if (c->name == NULL) {
		store_set_error(st, "customer: a name is required");
		return STORE_ERROR;
	}
	customer_bind(stmt, c);
	return store_exec(st, stmt, "customer");
}

static int
customer_write_emails(struct store *st, const struct customer *c)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((stmt = store_stmt(st, SQL_EMAILS_DELETE)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, c->id);
	if ((rc = store_exec(st, stmt, "customer addresses")) != STORE_OK)
		return rc;
	for (size_t i = 0; i < c->n_emails; i++) {
		if ((stmt = store_stmt(st, SQL_EMAIL_INSERT)) == NULL)
			return STORE_ERROR;
		sqlite3_bind_text(stmt, 1, c->emails[i], -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 2, c->id);
		sqlite3_bind_int64(stmt, 3, (int64_t)i);
		rc = store_exec(st, stmt, "customer address");
		if (rc == STORE_CONFLICT)
			store_set_error(st, "%s: address already belongs to "
			    "a customer", c->emails[i]);
		if (rc != STORE_OK)
			return rc;
		/* Mail that came before the address was known links now. */
		rc = store_message_link_address(st, c->id, c->emails[i], NULL);
		if (rc != STORE_OK)
			return rc;
	}
	return STORE_OK;
}

static int
customer_write_tags(struct store *st, const struct customer *c)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((stmt = store_stmt(st, SQL_TAGS_DELETE)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, c->id);
	if ((rc = store_exec(st, stmt, "customer tags")) != STORE_OK)
		return rc;
	for (size_t i = 0; i < c->n_tags; i++) {
		if ((stmt = store_stmt(st, SQL_TAG_INSERT)) == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(stmt, 1, c->id);
		sqlite3_bind_text(stmt, 2, c->tags[i], -1, SQLITE_TRANSIENT);
		if ((rc = store_exec(st, stmt, "customer tag")) != STORE_OK)
			return rc;
	}
	return STORE_OK;
}

int
store_customer_insert(struct store *st, struct customer *c)
{
	struct store_tx tx;
	int64_t old_created = c->created_at, old_updated = c->updated_at;
	int rc;

	if (c->created_at == 0)
		c->created_at = clock_now();
	if (c->updated_at == 0)
		c->updated_at = c->created_at;
	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		goto fail;
	rc = customer_write_row(st, SQL_CUSTOMER_INSERT, c);
	if (rc == STORE_OK) {
		c->id = sqlite3_last_insert_rowid(st->db);
		if ((rc = customer_write_emails(st, c)) == STORE_OK)
			rc = customer_write_tags(st, c);
	}
	if ((rc = store_tx_leave(st, &tx, rc)) == STORE_OK)
		return STORE_OK;
fail:
	c->id = 0;
	c->created_at = old_created;
	c->updated_at = old_updated;
	return rc;
}

static bool
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
strv_eq_ordered(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* Tags are a set: order does not matter, and each side has no duplicates. */
static bool
strv_eq_set(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!strv_has(b, nb, a[i]))
			return false;
	return true;
}

static bool
customer_same(const struct customer *a, const struct customer *b)
{
	return str_eq(a->name, b->name) &&
	    str_eq(a->first_name, b->first_name) &&
	    str_eq(a->company, b->company) &&
	    str_eq(a->lang, b->lang) &&
	    str_eq(a->tz, b->tz) &&
	    a->tier == b->tier &&
	    a->birth_year == b->birth_year &&
	    a->birth_month == b->birth_month &&
	    a->birth_day == b->birth_day &&
	    a->newsletter == b->newsletter &&
	    a->consent_at == b->consent_at &&
	    str_eq(a->consent_source, b->consent_source) &&
	    a->do_not_contact == b->do_not_contact &&
	    a->referred_by == b->referred_by &&
	    str_eq(a->source, b->source) &&
	    str_eq(a->notes, b->notes) &&
	    strv_eq_ordered(a->emails, a->n_emails, b->emails, b->n_emails) &&
	    strv_eq_set(a->tags, a->n_tags, b->tags, b->n_tags);
}

int
store_customer_update(struct store *st, struct customer *c, bool *changed)
{
	struct customer old;
	struct store_tx tx;
	int rc;

	*changed = false;
	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((rc = store_customer_get(st, c->id, &old)) != STORE_OK)
		return store_tx_leave(st, &tx, rc);
	if (customer_same(&old, c)) {
		c->created_at = old.created_at;
		c->updated_at = old.updated_at;
		customer_clear(&old);
		return store_tx_leave(st, &tx, STORE_OK);
	}
	c->created_at = old.created_at;
	c->updated_at = clock_now();
	customer_clear(&old);
	rc = customer_write_row(st, SQL_CUSTOMER_UPDATE, c);
	if (rc == STORE_OK)
		rc = customer_write_emails(st, c);
	if (rc == STORE_OK)
		rc = customer_write_tags(st, c);
	rc = store_tx_leave(st, &tx, rc);
	*changed = rc == STORE_OK;
	return rc;
}

static int
customer_touch(struct store *st, int64_t id)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_CUSTOMER_TOUCH);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, clock_now());
	return store_exec(st, stmt, "customer touch");
}

int
store_customer_tag(struct store *st, int64_t id, const char *tag, bool add)
{
	struct store_tx tx;
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((rc = store_customer_exists(st, id)) != STORE_OK)
		return store_tx_leave(st, &tx, rc);
	stmt = store_stmt(st, add ? SQL_TAG_INSERT : SQL_TAG_DELETE);
	if (stmt == NULL)
		return store_tx_leave(st, &tx, STORE_ERROR);
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_text(stmt, 2, tag, -1, SQLITE_TRANSIENT);
	rc = store_exec(st, stmt, "customer tag");
	/* Only a real change makes the customer "updated". */
	if (rc == STORE_OK && sqlite3_changes(st->db) > 0)
		rc = customer_touch(st, id);
	return store_tx_leave(st, &tx, rc);
}

/* ---- erasure ---- */

#define SQL_ADDRS_OF_CUSTOMER \
	"SELECT address FROM customer_emails WHERE customer_id = ?1"

/* Objects of kind K linked to ?1 and to no other customer. */
#define SQL_ONLY_LINKED(K)						\
	"SELECT l.object_id FROM links l"				\
	" WHERE l.customer_id = ?1 AND l.object_kind = '" K "'"		\
	" AND NOT EXISTS (SELECT 1 FROM links o"			\
	"  WHERE o.object_kind = '" K "' AND o.object_id = l.object_id"	\
	"  AND o.customer_id <> ?1)"

/*
 * In order.  Addresses are suppressed first (they are read from
 * customer_emails, which the last step empties).  Messages and events
 * that concern only this customer go (participants and attendees by
 * cascade, their links by trigger); in those that stay because they
 * concern someone else too, the customer's addresses are scrubbed.
 * Deleting the customer row cascades to addresses, tags, links, link
 * review, sales, referrals (both sides), outbox and visit proposals.
 */
static const char *const store_forget_sql[] = {
	"INSERT INTO suppressions (address, reason, at)"
	" SELECT address, ?2, ?3 FROM customer_emails WHERE customer_id = ?1"
	" ON CONFLICT (address) DO UPDATE SET reason = excluded.reason,"
	" at = excluded.at",
	"DELETE FROM messages WHERE id IN (" SQL_ONLY_LINKED("message") ")",
	"DELETE FROM events WHERE id IN (" SQL_ONLY_LINKED("event") ")",
	"DELETE FROM message_participants WHERE address IN ("
	    SQL_ADDRS_OF_CUSTOMER ")",
	"DELETE FROM event_attendees WHERE address IN ("
	    SQL_ADDRS_OF_CUSTOMER ")",
	"UPDATE messages SET from_addr = NULL WHERE from_addr IN ("
	    SQL_ADDRS_OF_CUSTOMER ")",
	"UPDATE events SET organizer = NULL WHERE organizer IN ("
	    SQL_ADDRS_OF_CUSTOMER ")",
	"DELETE FROM customers WHERE id = ?1",
};

int
store_customer_forget(struct store *st, int64_t id, const char *reason)
{
	struct store_tx tx;
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((rc = store_customer_exists(st, id)) != STORE_OK)
		return store_tx_leave(st, &tx, rc);
	/* Before the cascade takes their proposals: what rapport put on
	 * the user's calendars under their name is to be taken back. */
	rc = store_visit_retract_customer(st, id, clock_now());
	for (size_t i = 0; i < sizeof(store_forget_sql) /
	    sizeof(store_forget_sql[0]) && rc == STORE_OK; i++) {
		if ((stmt = store_stmt(st, store_forget_sql[i])) == NULL) {
			rc = STORE_ERROR;
			break;
		}
		sqlite3_bind_int64(stmt, 1, id);
		/* Statements without ?2/?3 ignore these binds. */
		if (sqlite3_bind_parameter_count(stmt) >= 3) {
			sqlite3_bind_text(stmt, 2, reason ? reason : "forgotten",
			    -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(stmt, 3, clock_now());
		}
		rc = store_exec(st, stmt, "customer forget");
	}
	return store_tx_leave(st, &tx, rc);
}

/* ---- access request ---- */

/* The messages and events concerning ?1: linked to them, or naming one
 * of their addresses. */
#define SQL_MESSAGES_OF_CUSTOMER					\
	"SELECT object_id FROM links WHERE customer_id = ?1"		\
	" AND object_kind = 'message'"					\
	" UNION SELECT message_id FROM message_participants"		\
	" WHERE address IN (" SQL_ADDRS_OF_CUSTOMER ")"
#define SQL_EVENTS_OF_CUSTOMER						\
	"SELECT object_id FROM links WHERE customer_id = ?1"		\
	" AND object_kind = 'event'"					\
	" UNION SELECT event_id FROM event_attendees"			\
	" WHERE address IN (" SQL_ADDRS_OF_CUSTOMER ")"

static const struct {
	const char	*table;
	const char	*sql;
} store_dump_sql[] = {
	{ "customers", "SELECT * FROM customers WHERE id = ?1" },
	{ "customer_emails", "SELECT * FROM customer_emails"
	    " WHERE customer_id = ?1 ORDER BY position" },
	{ "customer_tags", "SELECT * FROM customer_tags"
	    " WHERE customer_id = ?1 ORDER BY tag" },
	{ "links", "SELECT * FROM links WHERE customer_id = ?1 ORDER BY id" },
	{ "link_review", "SELECT * FROM link_review WHERE customer_id = ?1"
	    " ORDER BY id" },
	{ "messages", "SELECT * FROM messages WHERE id IN ("
	    SQL_MESSAGES_OF_CUSTOMER ") ORDER BY date, id" },
	{ "message_participants", "SELECT * FROM message_participants"
	    " WHERE message_id IN (" SQL_MESSAGES_OF_CUSTOMER ")"
	    " ORDER BY message_id, role, address" },
	{ "events", "SELECT * FROM events WHERE id IN ("
	    SQL_EVENTS_OF_CUSTOMER ") ORDER BY start_at, id" },
	{ "event_attendees", "SELECT * FROM event_attendees"
	    " WHERE event_id IN (" SQL_EVENTS_OF_CUSTOMER ")"
	    " ORDER BY event_id, address" },
	{ "sales", "SELECT * FROM sales WHERE customer_id = ?1"
	    " ORDER BY at, id" },
	{ "referrals", "SELECT * FROM referrals"
	    " WHERE referrer_id = ?1 OR referred_id = ?1 ORDER BY at, id" },
	{ "outbox", "SELECT * FROM outbox WHERE customer_id = ?1"
	    " ORDER BY id" },
	{ "visit_proposals", "SELECT * FROM visit_proposals"
	    " WHERE customer_id = ?1 ORDER BY start_at, id" },
	{ "suppressions", "SELECT * FROM suppressions WHERE address IN ("
	    SQL_ADDRS_OF_CUSTOMER ") ORDER BY address" },
};

#define DUMP_MAX_COLS	64

static int
customer_dump_table(struct store *st, int64_t id, const char *table,
    const char *sql,
    void (*row)(void *ctx, const char *table, int ncol,
        const char *const *names, const char *const *values),
    void *ctx)
{
	const char *names[DUMP_MAX_COLS], *values[DUMP_MAX_COLS];
	sqlite3_stmt *stmt = store_stmt(st, sql);
	int rc, ncol;

	if (stmt == NULL)
		return STORE_ERROR;
	ncol = sqlite3_column_count(stmt);
	if (ncol > DUMP_MAX_COLS)
		ncol = DUMP_MAX_COLS;
	sqlite3_bind_int64(stmt, 1, id);
	while ((rc = store_step(st, stmt, table)) == STORE_OK) {
		for (int i = 0; i < ncol; i++) {
			names[i] = sqlite3_column_name(stmt, i);
			values[i] = (const char *)sqlite3_column_text(stmt, i);
		}
		row(ctx, table, ncol, names, values);
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_customer_dump(struct store *st, int64_t id,
    void (*row)(void *ctx, const char *table, int ncol,
        const char *const *names, const char *const *values),
    void *ctx)
{
	struct store_tx tx;
	int rc;

	/* One snapshot: the tables must agree with each other. */
	if ((rc = store_tx_enter_read(st, &tx)) != STORE_OK)
		return rc;
	rc = store_customer_exists(st, id);
	for (size_t i = 0; i < sizeof(store_dump_sql) /
	    sizeof(store_dump_sql[0]) && rc == STORE_OK; i++)
		rc = customer_dump_table(st, id, store_dump_sql[i].table,
		    store_dump_sql[i].sql, row, ctx);
	return store_tx_leave(st, &tx, rc);
}

/* ---- sales and referrals ---- */

static const char SQL_SALE_ADD[] =
    "INSERT INTO sales (customer_id, product, at, source, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_REFERRAL_ADD[] =
    "INSERT INTO referrals (referrer_id, referred_id, at, source, evidence,"
    " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

int
store_sale_add(struct store *st, int64_t customer_id, const char *product,
    int64_t at, const char *source, int64_t *id)
{
	struct store_tx tx;
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((rc = store_customer_exists(st, customer_id)) != STORE_OK)
		return store_tx_leave(st, &tx, rc);
	if ((stmt = store_stmt(st, SQL_SALE_ADD)) == NULL)
		return store_tx_leave(st, &tx, STORE_ERROR);
	sqlite3_bind_int64(stmt, 1, customer_id);
	store_bind_text(stmt, 2, product);
	sqlite3_bind_int64(stmt, 3, at);
	store_bind_text(stmt, 4, source);
	sqlite3_bind_int64(stmt, 5, clock_now());
	rc = store_exec(st, stmt, "sale add");
	if (rc == STORE_OK && id != NULL)
		*id = sqlite3_last_insert_rowid(st->db);
	return store_tx_leave(st, &tx, rc);
}

int
store_referral_add(struct store *st, int64_t referrer, int64_t referred,
    int64_t at, const char *source, const char *evidence)
{
	struct store_tx tx;
	sqlite3_stmt *stmt;
	int rc;

	if (referrer == referred) {
		store_set_error(st, "referral: a customer cannot refer "
		    "themselves");
		return STORE_ERROR;
	}
	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((rc = store_customer_exists(st, referrer)) != STORE_OK ||
	    (rc = store_customer_exists(st, referred)) != STORE_OK)
		return store_tx_leave(st, &tx, rc);
	if ((stmt = store_stmt(st, SQL_REFERRAL_ADD)) == NULL)
		return store_tx_leave(st, &tx, STORE_ERROR);
	sqlite3_bind_int64(stmt, 1, referrer);
	sqlite3_bind_int64(stmt, 2, referred);
	sqlite3_bind_int64(stmt, 3, at);
	store_bind_text(stmt, 4, source);
	store_bind_text(stmt, 5, evidence);
	sqlite3_bind_int64(stmt, 6, clock_now());
	rc = store_exec(st, stmt, "referral add");
	if (rc == STORE_CONFLICT)
		store_set_error(st, "referral: customer %lld already recorded "
		    "as referring customer %lld", (long long)referrer,
		    (long long)referred);
	return store_tx_leave(st, &tx, rc);
}
