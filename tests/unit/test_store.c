/* Unit tests of the SQLite store (daemon/store*.c) on a temporary database. */
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "event.h"
#include "store.h"
#include "store_event.h"
#include "store_visit.h"
#include "tap.h"
#include "testdb.h"

static struct testdb tdb;

static void
make_customer(struct customer *c, const char *name, const char *email)
{
	customer_init(c);
	c->name = strdup(name);
	customer_add_email(c, email);
}

static void
test_open(void)
{
	struct store *st;
	struct stat sb;
	char err[512];

	ok(store_open(tdb.path, &st, err, sizeof(err)) == STORE_OK,
	    "open creates a database");
	is_int(store_version(st), store_schema_version,
	    "a new database has the current schema version");
	ok(store_schema_version >= 1, "schema version is at least 1");
	ok(stat(tdb.path, &sb) == 0 && (sb.st_mode & 077) == 0,
	    "the database is readable by its owner only");
	store_close(st);
	ok(store_open(tdb.path, &st, err, sizeof(err)) == STORE_OK,
	    "reopen an existing database");
	is_int(store_version(st), store_schema_version, "reopen keeps version");
	store_close(st);
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM sqlite_master WHERE type ="
	    " 'table' AND name IN ('customers', 'customer_emails',"
	    " 'customer_tags', 'messages', 'message_participants', 'events',"
	    " 'event_attendees', 'links', 'link_review', 'sales', 'referrals',"
	    " 'outbox', 'suppressions', 'cursors', 'visit_proposals',"
	    " 'status')"), 16, "every table of the design exists");

	ok(store_open("/nonexistent-dir/rapport.db", &st, err, sizeof(err)) ==
	    STORE_ERROR && st == NULL, "open fails in a missing directory");
	ok(strncmp(err, "/nonexistent-dir/rapport.db: ", 29) == 0,
	    "an open error names the path");
}

static void
test_journal(void)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;
	const char *mode = NULL;

	if (sqlite3_open(tdb.path, &db) != SQLITE_OK)
		abort();
	sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		mode = (const char *)sqlite3_column_text(stmt, 0);
	is_str(mode, "wal", "the database is in WAL mode");
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

static void
test_refuse_newer(void)
{
	struct store *st;
	char err[512], want[512];

	testdb_exec(&tdb, "PRAGMA user_version = 999");
	ok(store_open(tdb.path, &st, err, sizeof(err)) == STORE_ERROR,
	    "a database from a newer rapport is refused");
	snprintf(want, sizeof(want), "%s: made by a newer rapport (schema 999,"
	    " this build knows %d); upgrade rapport", tdb.path,
	    store_schema_version);
	is_str(err, want, "the refusal says what to do");
	{
		char sql[64];

		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    store_schema_version);
		testdb_exec(&tdb, sql);
	}
	ok(store_open(tdb.path, &st, err, sizeof(err)) == STORE_OK,
	    "the same database opens again at the right version");
	store_close(st);
}

static void
fill_full(struct customer *c)
{
	customer_init(c);
	c->name = strdup("Kim Min-ji");
	c->first_name = strdup("Min-ji");
	c->company = strdup("Hanbit Ltd");
	c->lang = strdup("ko");
	c->tz = strdup("Asia/Seoul");
	c->tier = 'A';
	c->birth_year = 1984;
	c->birth_month = 2;
	c->birth_day = 29;
	c->newsletter = true;
	c->consent_at = testdb_at("2026-01-02T03:04:05Z");
	c->consent_source = strdup("import:customers.csv");
	c->do_not_contact = true;
	c->source = strdup("import");
	c->notes = strdup("likes tea; \"quoted\" and 'single'");
	customer_add_email(c, "minji@example.kr");
	customer_add_email(c, "kim@hanbit.example");
	customer_add_email(c, "minji@example.kr");	/* dropped: duplicate */
	customer_add_tag(c, "vip");
	customer_add_tag(c, "newsletter");
}

static void
test_roundtrip(struct store *st, int64_t *kim)
{
	struct customer c, g;
	int64_t n, id;

	fill_full(&c);
	is_int(c.n_emails, 2, "a duplicate address is added once");
	ok(store_customer_insert(st, &c) == STORE_OK, "insert a full customer");
	ok(c.id > 0, "insert sets the id");
	is_int(c.created_at, testdb_at("2026-03-01T10:00:00Z"),
	    "created_at comes from the clock");
	*kim = c.id;

	ok(store_customer_get(st, c.id, &g) == STORE_OK, "get it back");
	is_int(g.id, c.id, "id");
	is_str(g.name, "Kim Min-ji", "name");
	is_str(g.first_name, "Min-ji", "first_name");
	is_str(g.company, "Hanbit Ltd", "company");
	is_str(g.lang, "ko", "lang");
	is_str(g.tz, "Asia/Seoul", "tz");
	is_int(g.tier, 'A', "tier");
	is_int(g.birth_year, 1984, "birth_year");
	is_int(g.birth_month, 2, "birth_month");
	is_int(g.birth_day, 29, "birth_day");
	ok(g.newsletter, "newsletter");
	is_int(g.consent_at, testdb_at("2026-01-02T03:04:05Z"), "consent_at");
	is_str(g.consent_source, "import:customers.csv", "consent_source");
	ok(g.do_not_contact, "do_not_contact");
	is_int(g.referred_by, 0, "referred_by");
	is_str(g.source, "import", "source");
	is_str(g.notes, "likes tea; \"quoted\" and 'single'", "notes");
	is_int(g.created_at, c.created_at, "created_at");
	is_int(g.updated_at, c.created_at, "updated_at starts at created_at");
	is_int(g.n_emails, 2, "two addresses");
	is_str(g.n_emails > 0 ? g.emails[0] : NULL, "minji@example.kr",
	    "the first address stays primary");
	is_str(g.n_emails > 1 ? g.emails[1] : NULL, "kim@hanbit.example",
	    "second address");
	is_int(g.n_tags, 2, "two tags");
	is_str(g.n_tags > 0 ? g.tags[0] : NULL, "newsletter",
	    "tags come back sorted");
	customer_clear(&g);
	customer_clear(&c);

	/* A minimal customer: every optional field stays unset. */
	make_customer(&c, "Bo", "bo@example.com");
	ok(store_customer_insert(st, &c) == STORE_OK, "insert a minimal customer");
	ok(store_customer_get(st, c.id, &g) == STORE_OK, "get the minimal one");
	ok(g.first_name == NULL && g.company == NULL && g.lang == NULL &&
	    g.tz == NULL && g.notes == NULL && g.source == NULL,
	    "unset strings come back NULL");
	ok(g.tier == 0 && g.birth_year == 0 && g.birth_month == 0 &&
	    g.birth_day == 0 && !g.newsletter && g.consent_at == 0 &&
	    !g.do_not_contact && g.n_tags == 0,
	    "unset numbers come back 0");
	customer_clear(&g);
	customer_clear(&c);

	ok(store_customer_get(st, 99999, &g) == STORE_NOTFOUND,
	    "get of a missing id: NOTFOUND");

	make_customer(&c, "Impostor", "someone@example.com");
	customer_add_email(&c, "kim@hanbit.example");
	is_int(store_customer_insert(st, &c), STORE_CONFLICT,
	    "an address of another customer: CONFLICT");
	ok(strstr(store_errmsg(st), "kim@hanbit.example") != NULL,
	    "the conflict names the address");
	is_int(c.id, 0, "a failed insert leaves no id");
	customer_clear(&c);
	ok(store_customer_find_email(st, "someone@example.com", &id) ==
	    STORE_NOTFOUND, "the failed insert left no address behind");
	ok(store_customer_count(st, &n) == STORE_OK && n == 2,
	    "the failed insert left no customer row");

	ok(store_customer_find_email(st, "kim@hanbit.example", &id) ==
	    STORE_OK && id == *kim, "find a customer by a secondary address");

	customer_init(&c);
	customer_add_email(&c, "noname@example.com");
	is_int(store_customer_insert(st, &c), STORE_ERROR,
	    "a customer without a name is refused");
	customer_clear(&c);
	make_customer(&c, "Half Birthday", "half@example.com");
	c.birth_month = 5;
	is_int(store_customer_insert(st, &c), STORE_ERROR,
	    "a birthday month without a day is refused");
	customer_clear(&c);
	make_customer(&c, "Tier X", "tierx@example.com");
	c.tier = 'X';
	is_int(store_customer_insert(st, &c), STORE_ERROR,
	    "a tier other than A, B, C is refused");
	customer_clear(&c);
}

static void
test_update(struct store *st, int64_t kim)
{
	struct customer c, g;
	bool changed = true;
	int64_t before, id;

	testdb_now("2026-03-05T12:00:00Z");
	ok(store_customer_get(st, kim, &c) == STORE_OK, "load for update");
	before = c.updated_at;
	ok(store_customer_update(st, &c, &changed) == STORE_OK && !changed,
	    "an identical update changes nothing");
	store_customer_get(st, kim, &g);
	is_int(g.updated_at, before, "updated_at kept when nothing changed");
	customer_clear(&g);

	/* The same tags in another order are the same set. */
	{
		char *t = c.tags[0];

		c.tags[0] = c.tags[1];
		c.tags[1] = t;
	}
	ok(store_customer_update(st, &c, &changed) == STORE_OK && !changed,
	    "reordered tags are no change");

	free(c.company);
	c.company = NULL;
	c.tier = 'B';
	customer_add_tag(&c, "seoul");
	ok(store_customer_update(st, &c, &changed) == STORE_OK && changed,
	    "a real update says changed");
	store_customer_get(st, kim, &g);
	is_int(g.updated_at, testdb_at("2026-03-05T12:00:00Z"),
	    "updated_at set from the clock");
	is_int(g.created_at, testdb_at("2026-03-01T10:00:00Z"),
	    "created_at kept");
	ok(g.company == NULL, "a field can be cleared");
	is_int(g.tier, 'B', "tier replaced");
	is_int(g.n_tags, 3, "tags replaced");
	customer_clear(&g);

	/* Swapping primary and secondary address is a change. */
	{
		char *e = c.emails[0];

		c.emails[0] = c.emails[1];
		c.emails[1] = e;
	}
	testdb_now("2026-03-06T12:00:00Z");
	ok(store_customer_update(st, &c, &changed) == STORE_OK && changed,
	    "a new primary address is a change");
	store_customer_get(st, kim, &g);
	is_str(g.emails[0], "kim@hanbit.example", "new primary address stored");
	customer_clear(&g);

	customer_add_email(&c, "bo@example.com");
	is_int(store_customer_update(st, &c, &changed), STORE_CONFLICT,
	    "update taking another customer's address: CONFLICT");
	ok(!changed, "a failed update says unchanged");
	ok(store_customer_find_email(st, "bo@example.com", &id) == STORE_OK &&
	    id != kim, "the other customer keeps the address");
	store_customer_get(st, kim, &g);
	is_int(g.n_emails, 2, "the failed update changed no address");
	customer_clear(&g);
	customer_clear(&c);

	customer_init(&c);
	c.id = 424242;
	c.name = strdup("Nobody");
	is_int(store_customer_update(st, &c, &changed), STORE_NOTFOUND,
	    "update of a missing customer: NOTFOUND");
	customer_clear(&c);
}

struct names {
	char	buf[256];
	int	n, stop_after;
};

static int
collect_name(void *ctx, const struct customer *c)
{
	struct names *nm = ctx;

	if (nm->buf[0])
		strcat(nm->buf, ",");
	strncat(nm->buf, c->name, 64);
	if (c->n_emails == 0)
		strcat(nm->buf, "(no email)");
	return ++nm->n == nm->stop_after;
}

static void
test_foreach(struct store *st)
{
	struct names nm = { .buf = "" };
	int64_t n;

	testdb_customer(st, "Zed", "zed@example.com");
	testdb_customer(st, "Anna", "anna@example.com");
	ok(store_customer_foreach(st, collect_name, &nm) == STORE_OK,
	    "foreach runs");
	is_str(nm.buf, "Anna,Bo,Kim Min-ji,Zed", "foreach orders by name "
	    "and loads addresses");
	memset(&nm, 0, sizeof(nm));
	nm.stop_after = 2;
	store_customer_foreach(st, collect_name, &nm);
	is_str(nm.buf, "Anna,Bo", "foreach stops when fn says so");
	ok(store_customer_count(st, &n) == STORE_OK, "count");
	is_int(n, 4, "count of customers");
}

static void
test_tags(struct store *st, int64_t kim)
{
	struct customer g;

	testdb_now("2026-03-07T08:00:00Z");
	ok(store_customer_tag(st, kim, "golf", true) == STORE_OK, "add a tag");
	store_customer_get(st, kim, &g);
	is_int(g.n_tags, 4, "the tag is there");
	is_int(g.updated_at, testdb_at("2026-03-07T08:00:00Z"),
	    "adding a tag updates the customer");
	customer_clear(&g);
	testdb_now("2026-03-08T08:00:00Z");
	ok(store_customer_tag(st, kim, "golf", true) == STORE_OK,
	    "adding it twice is fine");
	store_customer_get(st, kim, &g);
	is_int(g.updated_at, testdb_at("2026-03-07T08:00:00Z"),
	    "adding a present tag is no change");
	customer_clear(&g);
	ok(store_customer_tag(st, kim, "golf", false) == STORE_OK,
	    "remove a tag");
	store_customer_get(st, kim, &g);
	is_int(g.n_tags, 3, "the tag is gone");
	customer_clear(&g);
	is_int(store_customer_tag(st, 99999, "x", true), STORE_NOTFOUND,
	    "tagging a missing customer: NOTFOUND");
}

static void
test_sales_referrals(struct store *st, int64_t kim, int64_t bo)
{
	int64_t id = 0;

	ok(store_sale_add(st, kim, "Piano", testdb_at("2026-03-01T00:00:00Z"),
	    "manual", &id) == STORE_OK && id > 0, "add a sale");
	is_int(store_sale_add(st, 99999, "Piano", 1, "manual", &id),
	    STORE_NOTFOUND, "a sale for a missing customer: NOTFOUND");
	ok(store_referral_add(st, kim, bo, testdb_at("2026-03-02T00:00:00Z"),
	    "manual", NULL) == STORE_OK, "add a referral");
	is_int(store_referral_add(st, kim, bo, 5, "manual", NULL),
	    STORE_CONFLICT, "the same referral twice: CONFLICT");
	is_int(store_referral_add(st, bo, bo, 5, "manual", NULL), STORE_ERROR,
	    "a customer cannot refer themselves");
	is_int(store_referral_add(st, kim, 99999, 5, "manual", NULL),
	    STORE_NOTFOUND, "referral of a missing customer: NOTFOUND");
}

/*
 * Rows the store has no API for yet, written with plain SQL as the
 * connectors and planner will: message 1 concerns Kim alone, message 2
 * Kim and Bo; event 1 Kim alone; an outbox row and a visit for Kim.
 */
static void
add_world(int64_t kim, int64_t bo)
{
	char sql[4096];

	snprintf(sql, sizeof(sql),
	    "INSERT INTO messages (id, account, folder, uid, uidvalidity,"
	    " message_id, dedupe_key, date, subject, from_addr, ingested_at)"
	    " VALUES (1, 'work', 'INBOX', 10, 7, 'a@x', 'a@x', 100, 'hi',"
	    " 'kim@hanbit.example', 100),"
	    " (2, 'work', 'INBOX', 11, 7, 'b@x', 'b@x', 200, 'both',"
	    " 'bo@example.com', 200),"
	    " (3, 'work', 'INBOX', 12, 7, 'c@x', 'c@x', 300, 'other',"
	    " 'zed@example.com', 300);"
	    "INSERT INTO message_participants (message_id, address, role)"
	    " VALUES (1, 'kim@hanbit.example', 'from'),"
	    " (1, 'me@example.com', 'to'),"
	    " (2, 'bo@example.com', 'from'),"
	    " (2, 'minji@example.kr', 'cc'),"
	    " (3, 'zed@example.com', 'from');"
	    "INSERT INTO links (customer_id, object_kind, object_id, rule,"
	    " created_at) VALUES (%1$lld, 'message', 1, 'address:from', 1),"
	    " (%1$lld, 'message', 2, 'address:cc', 1),"
	    " (%2$lld, 'message', 2, 'address:from', 1),"
	    " (%1$lld, 'event', 1, 'address:attendee', 1);"
	    "INSERT INTO events (id, account, calendar, href, uid, summary,"
	    " start_at, end_at, organizer, ingested_at) VALUES (1, 'work',"
	    " '/cal/', '/cal/1.ics', 'ev1', 'Visit Kim', 1000, 4600,"
	    " 'me@example.com', 1);"
	    "INSERT INTO event_attendees (event_id, address, partstat)"
	    " VALUES (1, 'minji@example.kr', 'ACCEPTED'),"
	    " (1, 'me@example.com', 'ACCEPTED');"
	    "INSERT INTO outbox (kind, template, customer_id, occurrence,"
	    " due_at, created_at) VALUES ('follow-up', 'after-sale', %1$lld,"
	    " 'sale:1', 5000, 1);"
	    "INSERT INTO visit_proposals (customer_id, period, uid, start_at,"
	    " created_at, updated_at) VALUES (%1$lld, '2026-Q2', 'v1', 9000,"
	    " 1, 1);"
	    "UPDATE customers SET referred_by = %1$lld WHERE id = %2$lld;",
	    (long long)kim, (long long)bo);
	testdb_exec(&tdb, sql);
}

struct dump {
	int	customers, emails, tags, links, messages, participants;
	int	events, attendees, sales, referrals, outbox, visits;
	int	suppressions, other;
	int	bad_ncol;
	char	order[512], last[32];
};

static void
dump_row(void *ctx, const char *table, int ncol, const char *const *names,
    const char *const *values)
{
	struct dump *d = ctx;
	static const struct {
		const char *name;
		size_t off;
	} t[] = {
		{ "customers", offsetof(struct dump, customers) },
		{ "customer_emails", offsetof(struct dump, emails) },
		{ "customer_tags", offsetof(struct dump, tags) },
		{ "links", offsetof(struct dump, links) },
		{ "messages", offsetof(struct dump, messages) },
		{ "message_participants", offsetof(struct dump, participants) },
		{ "events", offsetof(struct dump, events) },
		{ "event_attendees", offsetof(struct dump, attendees) },
		{ "sales", offsetof(struct dump, sales) },
		{ "referrals", offsetof(struct dump, referrals) },
		{ "outbox", offsetof(struct dump, outbox) },
		{ "visit_proposals", offsetof(struct dump, visits) },
		{ "suppressions", offsetof(struct dump, suppressions) },
	};
	size_t i;

	if (ncol < 2 || names[0] == NULL)
		d->bad_ncol++;
	/* The table names as they come: each once if table by table. */
	if (strcmp(d->last, table) != 0) {
		if (d->order[0])
			strncat(d->order, ",", sizeof(d->order) -
			    strlen(d->order) - 1);
		strncat(d->order, table, sizeof(d->order) -
		    strlen(d->order) - 1);
		snprintf(d->last, sizeof(d->last), "%s", table);
	}
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcmp(t[i].name, table) == 0) {
			(*(int *)((char *)d + t[i].off))++;
			return;
		}
	}
	d->other++;
	(void)values;
}

static void
test_dump(struct store *st, int64_t kim)
{
	struct dump d;

	memset(&d, 0, sizeof(d));
	ok(store_customer_dump(st, kim, dump_row, &d) == STORE_OK,
	    "dump runs");
	is_int(d.customers, 1, "dump: the customer row");
	is_int(d.emails, 2, "dump: both addresses");
	is_int(d.tags, 3, "dump: the tags");
	is_int(d.links, 3, "dump: the links");
	is_int(d.messages, 2, "dump: the two messages concerning them");
	is_int(d.participants, 4, "dump: those messages' participants");
	is_int(d.events, 1, "dump: the event");
	is_int(d.attendees, 2, "dump: its attendees");
	is_int(d.sales, 1, "dump: the sale");
	is_int(d.referrals, 1, "dump: the referral");
	is_int(d.outbox, 1, "dump: the outbox row");
	is_int(d.visits, 1, "dump: the visit proposal");
	is_int(d.other, 0, "dump: no unexpected table");
	is_int(d.bad_ncol, 0, "dump: every row has its column names");
	is_str(d.order, "customers,customer_emails,customer_tags,links,"
	    "messages,message_participants,events,event_attendees,sales,"
	    "referrals,outbox,visit_proposals", "dump goes table by table");
	memset(&d, 0, sizeof(d));
	is_int(store_customer_dump(st, 99999, dump_row, &d), STORE_NOTFOUND,
	    "dump of a missing customer: NOTFOUND");
}

static void
test_forget(struct store *st, int64_t kim, int64_t bo)
{
	struct customer g;
	char *reason = NULL;
	int64_t id;

	/* Inside a caller's transaction that is rolled back, nothing stays. */
	ok(store_begin(st) == STORE_OK, "begin");
	is_int(store_begin(st), STORE_ERROR, "a second begin is refused");
	ok(store_customer_forget(st, kim, "erasure request") == STORE_OK,
	    "forget inside a transaction");
	ok(store_rollback(st) == STORE_OK, "rollback");
	ok(store_customer_get(st, kim, &g) == STORE_OK,
	    "a rolled-back forget keeps the customer");
	customer_clear(&g);
	ok(store_suppression_get(st, "minji@example.kr", NULL) ==
	    STORE_NOTFOUND, "and suppresses nothing");

	testdb_now("2026-04-01T00:00:00Z");
	ok(store_customer_forget(st, kim, "erasure request") == STORE_OK,
	    "forget");
	is_int(store_customer_get(st, kim, &g), STORE_NOTFOUND,
	    "the customer is gone");
	ok(store_customer_find_email(st, "minji@example.kr", &id) ==
	    STORE_NOTFOUND, "their addresses are gone");
	ok(store_suppression_get(st, "minji@example.kr", &reason) == STORE_OK,
	    "the primary address is suppressed");
	is_str(reason, "erasure request", "with the given reason");
	free(reason);
	ok(store_suppression_get(st, "kim@hanbit.example", NULL) == STORE_OK,
	    "the second address is suppressed");
	is_int(testdb_count(&tdb, "SELECT at FROM suppressions WHERE address ="
	    " 'kim@hanbit.example'"), testdb_at("2026-04-01T00:00:00Z"),
	    "suppressed at the clock's time");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM messages WHERE id = 1"),
	    0, "a message linked only to them is deleted");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM message_participants"
	    " WHERE message_id = 1"), 0, "with its participants");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM messages WHERE id = 2"),
	    1, "a message also linked to another customer stays");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM message_participants"
	    " WHERE address = 'minji@example.kr'"), 0,
	    "their address is scrubbed from the messages that stay");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM message_participants"
	    " WHERE message_id = 2"), 1,
	    "the other participants stay");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM messages WHERE id = 3"),
	    1, "an unrelated message stays");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM links WHERE object_kind ="
	    " 'event' OR object_id = 1"), 0, "their links are gone");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM links"), 1,
	    "the other customer's link stays");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM events"), 0,
	    "an event linked only to them is deleted");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM event_attendees"), 0,
	    "with its attendees");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM sales"), 0,
	    "sales gone");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM referrals"), 0,
	    "referrals gone");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM outbox"), 0,
	    "outbox gone");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM visit_proposals"), 0,
	    "visit proposals gone");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM customer_tags"), 0,
	    "tags gone");
	ok(store_customer_get(st, bo, &g) == STORE_OK && g.referred_by == 0,
	    "whom they referred stays, referred_by cleared");
	customer_clear(&g);
	is_int(store_customer_forget(st, kim, "again"), STORE_NOTFOUND,
	    "forgetting twice: NOTFOUND");
}

/* An event of ours on the calendar that no proposal records, under uid:
 * what a forgotten customer's proposal leaves when the server refused
 * its retraction (the user had edited it) and the next sync saw it. */
static void
put_orphan(struct store *st, const char *uid)
{
	struct event e;
	struct store_event_occ o = { &e, NULL, 0 };
	char href[256];

	memset(&e, 0, sizeof(e));
	e.uid = (char *)uid;
	e.start = testdb_at("2026-05-01T09:00:00Z");
	e.end = e.start + 3600;
	e.status = EVENT_TENTATIVE;
	e.rapport_created = true;
	e.summary = (char *)"Visit";
	snprintf(href, sizeof(href), "/c/v/%s.ics", uid);
	if (store_event_put(st, "w", "/c/v/", href, "\"e1\"", &o, 1) !=
	    STORE_OK)
		abort();
}

static int
first_orphan(void *ctx, const char *uid, const char *href, const char *etag,
    int64_t start, int64_t end)
{
	(void)href; (void)etag; (void)start; (void)end;
	snprintf(ctx, 128, "%s", uid);
	return 1;
}

/*
 * Schema version 10: an id once given is never given again, even after
 * the customer holding the highest one is forgotten; so a proposal left
 * on the calendar under a forgotten customer's id is adopted by nobody
 * (caldav_visits.c adopt_one() takes the id from the UID and adopts only
 * if store_customer_get() finds it).
 */
static void
test_ids_never_reused(struct store *st)
{
	struct customer g;
	char uid[128] = "", want[128];
	long long id = 0;
	int64_t a, b, c, d;
	int n = 0;

	a = testdb_customer(st, "Ids A", "ids-a@example.com");
	b = testdb_customer(st, "Ids B", "ids-b@example.com");
	ok(b > a, "ids grow");
	ok(store_customer_forget(st, b, NULL) == STORE_OK,
	    "the customer with the highest id is forgotten");
	c = testdb_customer(st, "Ids C", "ids-c@example.com");
	ok(c > b, "the next customer gets a higher id than the forgotten one");
	is_int(testdb_count(&tdb, "SELECT max_id FROM customer_ids"), b,
	    "the highest forgotten id is kept");
	ok(store_customer_forget(st, a, NULL) == STORE_OK &&
	    store_customer_forget(st, c, NULL) == STORE_OK,
	    "forget a lower one, then the highest");
	is_int(testdb_count(&tdb, "SELECT max_id FROM customer_ids"), c,
	    "the kept id only grows");
	testdb_exec(&tdb, "DELETE FROM customers");
	d = testdb_customer(st, "Ids D", "ids-d@example.com");
	ok(d == c + 1, "with no customer left, the next id is still new");

	snprintf(want, sizeof(want), "rapport-visit-%lld-20260501@x",
	    (long long)d);
	put_orphan(st, want);
	ok(store_customer_forget(st, d, NULL) == STORE_OK,
	    "a customer whose proposal stays on the calendar is forgotten");
	ok(testdb_customer(st, "Ids E", "ids-e@example.com") > d,
	    "a new customer after them");
	ok(store_visit_orphans_foreach(st, "w", first_orphan, uid) ==
	    STORE_OK && strcmp(uid, want) == 0,
	    "the proposal left behind is an orphan");
	ok(sscanf(uid, "rapport-visit-%lld-%*[0-9]@%n", &id, &n) == 1 &&
	    n > 0 && id == d, "its UID names the forgotten id");
	is_int(store_customer_get(st, id, &g), STORE_NOTFOUND,
	    "which names no customer: the new one is not given it");
}

static int
collect_status(void *ctx, const char *key, const char *value, int64_t t)
{
	struct names *nm = ctx;
	char line[128];

	snprintf(line, sizeof(line), "%s%s=%s@%lld", nm->buf[0] ? "," : "",
	    key, value ? value : "(null)", (long long)t);
	strncat(nm->buf, line, sizeof(nm->buf) - strlen(nm->buf) - 1);
	return ++nm->n == nm->stop_after;
}

static void
test_status_suppression(struct store *st)
{
	struct names nm = { .buf = "" };
	char *reason = NULL;

	ok(store_status_set(st, "imap.work", "idle", 10) == STORE_OK,
	    "status set");
	ok(store_status_set(st, "caldav.work", "synced", 11) == STORE_OK,
	    "status set another");
	ok(store_status_set(st, "imap.work", "syncing", 12) == STORE_OK,
	    "status set replaces");
	ok(store_status_set(st, "smtp", NULL, 13) == STORE_OK,
	    "status may be NULL");
	ok(store_status_foreach(st, collect_status, &nm) == STORE_OK,
	    "status foreach");
	is_str(nm.buf, "caldav.work=synced@11,imap.work=syncing@12,"
	    "smtp=(null)@13", "status rows by key, latest values");

	ok(store_suppression_get(st, "x@example.com", &reason) ==
	    STORE_NOTFOUND && reason == NULL, "no suppression: NOTFOUND");
	ok(store_suppression_add(st, "x@example.com", "bounce", 20) ==
	    STORE_OK, "suppress an address");
	ok(store_suppression_get(st, "x@example.com", &reason) == STORE_OK,
	    "suppression found");
	is_str(reason, "bounce", "suppression reason");
	free(reason);
	ok(store_suppression_add(st, "x@example.com", "unsubscribe", 21) ==
	    STORE_OK, "suppress it again");
	store_suppression_get(st, "x@example.com", &reason);
	is_str(reason, "unsubscribe", "the latest reason wins");
	free(reason);
}

static void
test_transactions(struct store *st)
{
	int64_t n0, n1;

	store_customer_count(st, &n0);
	ok(store_begin(st) == STORE_OK, "begin a batch");
	testdb_customer(st, "Batch One", "b1@example.com");
	testdb_customer(st, "Batch Two", "b2@example.com");
	ok(store_commit(st) == STORE_OK, "commit the batch");
	store_customer_count(st, &n1);
	is_int(n1, n0 + 2, "a committed batch keeps both");
	ok(store_begin(st) == STORE_OK, "begin another");
	testdb_customer(st, "Batch Three", "b3@example.com");
	ok(store_rollback(st) == STORE_OK, "roll it back");
	store_customer_count(st, &n1);
	is_int(n1, n0 + 2, "a rolled-back batch keeps nothing");
	ok(store_commit(st) == STORE_ERROR, "commit without begin fails");

	/* A failing store call inside a batch undoes only itself. */
	ok(store_begin(st) == STORE_OK, "begin a batch with a failure");
	testdb_customer(st, "Batch Four", "b4@example.com");
	{
		struct customer c;

		make_customer(&c, "Batch Dup", "b1@example.com");
		is_int(store_customer_insert(st, &c), STORE_CONFLICT,
		    "a conflict inside the batch");
		ok(strstr(store_errmsg(st), "b1@example.com") != NULL,
		    "its message survives the undo");
		customer_clear(&c);
	}
	testdb_customer(st, "Batch Five", "b5@example.com");
	ok(store_commit(st) == STORE_OK, "the batch still commits");
	store_customer_count(st, &n1);
	is_int(n1, n0 + 4, "the batch keeps what succeeded, not the failure");
}

static void
test_two_connections(struct store *st)
{
	struct store *st2;
	struct customer c;
	char err[512];
	int64_t n1, n2;

	ok(store_open(tdb.path, &st2, err, sizeof(err)) == STORE_OK,
	    "a second connection opens the same database");
	ok(store_begin(st) == STORE_OK, "the first one writes");
	testdb_customer(st, "Concurrent", "conc@example.com");
	store_customer_count(st, &n1);
	ok(store_customer_count(st2, &n2) == STORE_OK && n2 == n1 - 1,
	    "a reader does not wait for the writer, nor see its batch");
	ok(store_commit(st) == STORE_OK, "the writer commits");
	ok(store_customer_count(st2, &n2) == STORE_OK && n2 == n1,
	    "the reader sees the commit");
	make_customer(&c, "Dangling", "dangling@example.com");
	c.referred_by = 99999;
	is_int(store_customer_insert(st2, &c), STORE_ERROR,
	    "referred_by must name an existing customer");
	customer_clear(&c);
	store_close(st2);
}

int
main(void)
{
	struct store *st;
	int64_t kim, bo;

	testdb_mkdir(&tdb, "store");
	testdb_now("2026-03-01T10:00:00Z");

	test_open();
	test_journal();
	test_refuse_newer();
	testdb_connect(&tdb);
	st = tdb.st;
	test_roundtrip(st, &kim);
	if (store_customer_find_email(st, "bo@example.com", &bo) != STORE_OK)
		return 1;
	test_update(st, kim);
	test_foreach(st);
	test_tags(st, kim);
	test_sales_referrals(st, kim, bo);
	add_world(kim, bo);
	test_dump(st, kim);
	test_forget(st, kim, bo);
	test_ids_never_reused(st);
	test_status_suppression(st);
	test_transactions(st);
	test_two_connections(st);
	testdb_close(&tdb);
	return tap_done();
}
