/*
 * Unit tests of schema version 9 (daemon/store_schema.c): a database made
 * by version 8 with mail in it migrates with every row kept, the indexes
 * no query reads are gone, the queries that need the others still use
 * them, and the mail functions that lost an index (first-seen clearing)
 * and the rebuilt participants table (retroactive linking, the role
 * check) behave as before.
 *
 * And of version 10: a database made by version 9 whose highest customer
 * ids were already forgotten keeps the highest id it can still see (in
 * use, or in a visit UID), new customers get ids above it, and the
 * rebuilt outbox keeps every row, index and the state check.
 *
 * And of version 11: a database made by version 10 gets the indexes of
 * the referral rules' partial name lookup, which then scans no customer
 * and finds what it found before, and keeps finding it through inserts,
 * edits and renames, raw SQL included.
 *
 * And of version 12: a database made by version 11 keeps every outbox
 * row; the outbox indexes a send need not rewrite are gone or narrower;
 * the budget's count of sent and in-flight messages reads the new
 * account index instead of scanning, and counts what it counted before,
 * through a claim and a send.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "store.h"
#include "store_int.h"
#include "store_message.h"
#include "store_outbox.h"
#include "store_referral.h"
#include "tap.h"
#include "testdb.h"
#include "xmalloc.h"

static struct testdb tdb;

/* Mail as version 8 stored it: Kim (customer 1) wrote message 1 (UID 7,
 * first seen in INBOX), Lee's message 2 has no author. */
static const char v8_rows[] =
"INSERT INTO customers (id, name, created_at, updated_at)"
"  VALUES (1, 'Kim', 1, 1);"
"INSERT INTO customer_emails VALUES ('kim@example.kr', 1, 0);"
"INSERT INTO messages (id, account, folder, uid, uidvalidity, message_id,"
"  dedupe_key, date, subject, from_addr, in_reply_to, ingested_at,"
"  author_id, is_reply)"
"  VALUES (1, 'work', 'INBOX', 7, 100, 'a@x', 'a@x', 1000, 'Hello',"
"  'kim@example.kr', NULL, 1, 1, 1),"
"  (2, 'work', 'INBOX', 8, 100, 'b@x', 'b@x', 2000, 'Re: Hello',"
"  'lee@example.org', 'a@x', 1, NULL, 0);"
"INSERT INTO message_locations VALUES ('work', 'INBOX', 100, 7, 1, 1),"
"  ('work', 'INBOX', 100, 8, 2, 1);"
"INSERT INTO message_participants VALUES"
"  (1, 'kim@example.kr', 'Kim', 'from'), (1, 'me@example.com', NULL, 'to'),"
"  (2, 'lee@example.org', 'Lee', 'from'),"
"  (2, 'me@example.com', NULL, 'to'), (2, 'lee@example.org', NULL, 'reply-to');"
"INSERT INTO links (customer_id, object_kind, object_id, rule, detail,"
"  created_at) VALUES (1, 'message', 1, 'address:from', 'kim@example.kr', 1);";

/*
 * Version 9's state of things: customers 1 and 3 are left; 4 was
 * forgotten, but a proposal of theirs the server would not delete came
 * back with a sync, and 6's retraction is still to be done (5 left no
 * trace: nothing can know it).  An invitation from someone else carries
 * a UID of our form with an absurd id.  Customer 3 has two outbox rows.
 */
static const char v9_rows[] =
"INSERT INTO customers (id, name, created_at, updated_at)"
"  VALUES (1, 'Kim', 1, 1), (3, 'Lee', 1, 1);"
"INSERT INTO events (id, account, calendar, href, uid, start_at,"
"  created_by_rapport, ingested_at) VALUES (1, 'w', '/c/v/',"
"  '/c/v/a.ics', 'rapport-visit-4-20260501@x', 1000, 1, 1),"
"  (2, 'w', '/c/v/', '/c/v/b.ics', 'other-42-1@x', 1000, 0, 1),"
"  (3, 'w', '/c/v/', '/c/v/d.ics', 'rapport-visit-99999999999999999999-1@x',"
"  1000, 1, 1);"
"INSERT INTO visit_retractions VALUES"
"  ('rapport-visit-6-202605@x', '/c/v/c.ics', '\"e\"', 1);"
"INSERT INTO outbox (id, kind, template, customer_id, occurrence, state,"
"  reason, due_at, attempts, next_attempt_at, message_id, account,"
"  sent_at, created_at, ref_kind, ref_id, recipient, lease_until)"
"  VALUES (7, 'newsletter', 'nl', 3, 'nl:2026-05', 'sent', NULL, 100, 1,"
"  NULL, '<rapport.7.ab@x>', 'smtp', 150, 90, NULL, NULL, 'lee@x', NULL),"
"  (8, 'follow-up', 'fu', 3, 'sale:2', 'planned', NULL, 200, 0, 210,"
"  NULL, NULL, NULL, 95, 'sale', 2, 'lee@x', 205);";

/* A database at version `version` with rows in it. */
static void
make_old(const char *path, int version, const char *rows)
{
	sqlite3 *db;
	char *err = NULL;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		abort();
	for (int v = 0; v < version; v++) {
		if (sqlite3_exec(db, store_migrations[v].sql, NULL, NULL, &err) !=
		    SQLITE_OK) {
			printf("Bail out! migration %d: %s\n", v + 1, err);
			exit(1);
		}
	}
	if (sqlite3_exec(db, rows, NULL, NULL, &err) != SQLITE_OK) {
		printf("Bail out! v%d rows: %s\n", version, err);
		exit(1);
	}
	sqlite3_close(db);
}

static long long
count(const char *sql)
{
	return testdb_count(&tdb, sql);
}

/* Whether sql's query plan (EXPLAIN QUERY PLAN) mentions what. */
static bool
plan_uses(const char *sql, const char *what)
{
	char q[2048], buf[256];
	sqlite3 *db;
	sqlite3_stmt *stmt;
	bool found = false;

	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
	if (sqlite3_open(tdb.path, &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, q, -1, &stmt, NULL) != SQLITE_OK)
		abort();
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		snprintf(buf, sizeof(buf), "%s", sqlite3_column_text(stmt, 3));
		if (strstr(buf, what))
			found = true;
	}
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return found;
}

/* Whether the program of sql opens a temporary table (EXPLAIN). */
static bool
program_has_ephemeral(const char *sql)
{
	char q[1024];
	sqlite3 *db;
	sqlite3_stmt *stmt;
	bool found = false;

	snprintf(q, sizeof(q), "EXPLAIN %s", sql);
	if (sqlite3_open(tdb.path, &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, q, -1, &stmt, NULL) != SQLITE_OK)
		abort();
	while (sqlite3_step(stmt) == SQLITE_ROW)
		if (strcmp((const char *)sqlite3_column_text(stmt, 1),
		    "OpenEphemeral") == 0)
			found = true;
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return found;
}

/* Whether sql is refused (run on a connection of its own). */
static bool
sql_fails(const char *sql)
{
	sqlite3 *db;
	int rc;

	if (sqlite3_open(tdb.path, &db) != SQLITE_OK)
		abort();
	sqlite3_busy_timeout(db, 2000);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc != SQLITE_OK;
}

static void
test_migrated(void)
{
	char buf[256];

	ok(store_schema_version >= 9, "this build knows version 9");
	is_int(store_version(tdb.st), store_schema_version,
	    "a version 8 database migrates to the current version");
	is_int(count("SELECT count(*) FROM message_participants"), 5,
	    "every participant kept");
	is_str(testdb_str(&tdb, "SELECT group_concat(message_id || ':' ||"
	    " address || ':' || coalesce(name, '-') || ':' || role, ' ') FROM"
	    " (SELECT * FROM message_participants ORDER BY 1, 4, 2)", buf,
	    sizeof(buf)),
	    "1:kim@example.kr:Kim:from 1:me@example.com:-:to "
	    "2:lee@example.org:Lee:from 2:lee@example.org:-:reply-to "
	    "2:me@example.com:-:to", "with its address, name and role");
	is_int(count("SELECT count(*) FROM messages"), 2, "messages kept");
	is_int(count("SELECT count(*) FROM links"), 1, "links kept");
	is_int(count("SELECT count(*) FROM sqlite_master WHERE name IN"
	    " ('messages_by_message_id', 'messages_by_in_reply_to',"
	    " 'messages_by_location')"), 0,
	    "the unread message indexes are gone");
	ok(count("SELECT count(*) FROM sqlite_master WHERE name ="
	    " 'messages_by_author' AND sql LIKE '%WHERE author_id IS NOT NULL'")
	    == 1, "the author index holds authored mail only");
	ok(count("SELECT count(*) FROM sqlite_master WHERE name ="
	    " 'message_participants_by_address'") == 1,
	    "the participants' address index is back");
	is_int(count("SELECT count(*) FROM pragma_foreign_key_check"), 0,
	    "foreign keys hold");
	is_str(testdb_str(&tdb, "PRAGMA integrity_check", buf, sizeof(buf)),
	    "ok", "integrity check");
}

static void
test_plans(void)
{
	ok(!program_has_ephemeral("INSERT INTO message_participants"
	    " (message_id, address, name, role) VALUES (1, 'a@b', NULL, 'cc')"
	    " ON CONFLICT (message_id, role, address) DO NOTHING"),
	    "storing a participant builds no temporary table");
	ok(plan_uses("SELECT 1 FROM messages m WHERE m.author_id = 1"
	    " AND m.date >= 0 AND m.is_reply = 1", "messages_by_author"),
	    "'replied since' reads the partial author index");
	ok(plan_uses("UPDATE messages SET author_id = NULL"
	    " WHERE author_id = 1", "messages_by_author"),
	    "forgetting an author reads it too");
	ok(plan_uses("SELECT m.id FROM messages m JOIN customers c"
	    " ON c.id = m.author_id WHERE m.date BETWEEN 1 AND 2",
	    "messages_by_date"), "the planner's first messages: by date");
	ok(plan_uses("SELECT message_id FROM message_participants"
	    " WHERE address = 'x'", "message_participants_by_address"),
	    "participants by address");
	ok(plan_uses("SELECT id FROM messages WHERE dedupe_key = 'a@x'",
	    "sqlite_autoindex_messages"), "dedupe by key");
}

static void
test_behaviour(void)
{
	struct store *st = tdb.st;
	int64_t n = 0;
	bool has = true;

	testdb_exec(&tdb, "INSERT INTO message_participants VALUES"
	    " (1, 'x@example.org', NULL, 'reply-to')");
	is_int(count("SELECT count(*) FROM message_participants"
	    " WHERE address = 'x@example.org'"), 1, "every role is accepted");
	ok(sql_fails("INSERT INTO message_participants VALUES"
	    " (1, 'y@example.org', NULL, 'boss')"), "an unknown role is not");

	/* Retroactive linking reads the rebuilt table. */
	testdb_exec(&tdb, "INSERT INTO customers (id, name, created_at,"
	    " updated_at) VALUES (2, 'Lee', 1, 1)");
	ok(store_message_link_address(st, 2, "lee@example.org", &n) ==
	    STORE_OK && n == 1, "a new customer's earlier message is linked");
	is_int(count("SELECT author_id FROM messages WHERE id = 2"), 2,
	    "and authored by them");

	/* First-seen clearing goes through the locations now. */
	ok(store_message_forget_uid(st, "work", "INBOX", 100, 7) == STORE_OK,
	    "an expunge is forgotten");
	is_int(count("SELECT count(*) FROM messages WHERE id = 1"
	    " AND uid IS NULL AND uidvalidity IS NULL"), 1,
	    "its first-seen location is cleared");
	is_int(count("SELECT uid FROM messages WHERE id = 2"), 8,
	    "the other message's is not");
	ok(store_message_has_uid(st, "work", "INBOX", 100, 7, &has) ==
	    STORE_OK && !has, "the location is gone");
	ok(store_message_forget_folder(st, "work", "INBOX", 101, &n) ==
	    STORE_OK && n == 1, "a UIDVALIDITY change drops the locations");
	is_int(count("SELECT count(*) FROM messages WHERE uid IS NULL"), 2,
	    "and clears every first-seen location of the old UIDVALIDITY");
	is_int(count("SELECT count(*) FROM messages"), 2,
	    "no message is lost");
}

/* Ingest with batch_rollback: no savepoint, the caller's transaction
 * holds it all. */
static void
test_batch_rollback(void)
{
	static const char hdr[] = "From: Kim <kim@example.kr>\r\n"
	    "To: me@example.com\r\nMessage-ID: <c@x>\r\n"
	    "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n";
	struct store *st = tdb.st;
	struct message m;
	struct store_message_in in = { .account = "work", .folder = "INBOX",
	    .uidvalidity = 101, .uid = 9, .msg = &m, .batch_rollback = true };
	bool is_new = false;

	message_parse(&m, hdr, strlen(hdr), NULL);
	ok(store_begin(st) == STORE_OK, "a batch begins");
	ok(store_message_ingest(st, &in, NULL, &is_new) == STORE_OK && is_new,
	    "a message is stored in it without a savepoint");
	store_rollback(st);
	is_int(count("SELECT count(*) FROM messages WHERE dedupe_key ="
	    " 'c@x'"), 0, "the batch's rollback takes it back");
	ok(store_message_ingest(st, &in, NULL, &is_new) == STORE_OK && is_new,
	    "outside a transaction it is its own");
	is_int(count("SELECT count(*) FROM message_participants p JOIN"
	    " messages m ON m.id = p.message_id WHERE m.dedupe_key = 'c@x'"), 2,
	    "with its participants");
	message_free(&m);
}

static void
test_v10_migrated(void)
{
	char buf[512];

	is_int(store_version(tdb.st), store_schema_version,
	    "a version 9 database migrates to the current version");
	is_int(count("SELECT max_id FROM customer_ids"), 6,
	    "the highest id a visit UID names is kept, an absurd one not");
	is_int(count("SELECT count(*) FROM outbox"), 2,
	    "every outbox row kept");
	is_str(testdb_str(&tdb, "SELECT group_concat(r, ' ') FROM (SELECT"
	    " id || ':' || kind || ':' || template || ':' || customer_id"
	    " || ':' || occurrence || ':' || state || ':' ||"
	    " coalesce(reason, '-') || ':' || due_at || ':' || attempts"
	    " || ':' || coalesce(next_attempt_at, '-') || ':' ||"
	    " coalesce(message_id, '-') || ':' || coalesce(account, '-')"
	    " || ':' || coalesce(sent_at, '-') || ':' || created_at || ':'"
	    " || coalesce(ref_kind, '-') || ':' || coalesce(ref_id, '-')"
	    " || ':' || coalesce(recipient, '-') || ':' ||"
	    " coalesce(lease_until, '-') AS r"
	    " FROM outbox ORDER BY id)", buf, sizeof(buf)),
	    "7:newsletter:nl:3:nl:2026-05:sent:-:100:1:-:<rapport.7.ab@x>:smtp:"
	    "150:90:-:-:lee@x:- 8:follow-up:fu:3:sale:2:planned:-:200:0:210:-:"
	    "-:-:95:sale:2:lee@x:205", "with every column");
	is_int(count("SELECT count(*) FROM sqlite_master WHERE tbl_name ="
	    " 'outbox' AND type = 'index' AND name IN ('outbox_by_customer',"
	    " 'outbox_claim', 'outbox_by_account', 'outbox_by_message_id')"), 4,
	    "every outbox index is back (as version 12 left them)");
	is_int(count("SELECT count(*) FROM sqlite_master WHERE name LIKE"
	    " '%outbox_v10%'"), 0, "nothing keeps the rebuild's name");
	is_int(count("SELECT count(*) FROM pragma_foreign_key_check"), 0,
	    "foreign keys hold");
	is_str(testdb_str(&tdb, "PRAGMA integrity_check", buf, sizeof(buf)),
	    "ok", "integrity check");
}

static void
test_v10_behaviour(void)
{
	struct store *st = tdb.st;
	struct customer c;
	int64_t id;

	id = testdb_customer(st, "Park", "park@example.kr");
	is_int(id, 7, "a new customer gets an id above every one seen");
	ok(store_customer_forget(st, id, NULL) == STORE_OK,
	    "and is forgotten");
	is_int(testdb_customer(st, "Cho", "cho@example.kr"), 8,
	    "the next one does not get their id");
	is_int(store_customer_get(st, 4, &c), STORE_NOTFOUND,
	    "the proposal left on the calendar names no customer");

	ok(!program_has_ephemeral("INSERT INTO outbox (kind, template,"
	    " customer_id, occurrence, due_at, created_at)"
	    " VALUES ('k', 't', 1, 'o', 1, 1)"),
	    "planning an outbox row builds no temporary table");
	ok(!program_has_ephemeral("UPDATE outbox SET state = 'sent'"
	    " WHERE id = 8"), "nor does changing its state");
	ok(sql_fails("INSERT INTO outbox (kind, template, customer_id,"
	    " occurrence, state, due_at, created_at)"
	    " VALUES ('k', 't', 1, 'o2', 'lost', 1, 1)"),
	    "an unknown state is refused");
	testdb_exec(&tdb, "INSERT INTO outbox (kind, template, customer_id,"
	    " occurrence, state, due_at, created_at)"
	    " VALUES ('k', 't', 1, 'o3', 'skipped', 1, 1)");
	is_int(count("SELECT count(*) FROM outbox WHERE occurrence = 'o3'"),
	    1, "a known one is taken");
	ok(plan_uses("SELECT id FROM outbox WHERE state IN"
	    " ('planned', 'sending') AND coalesce(next_attempt_at, due_at)"
	    " <= 300 ORDER BY coalesce(next_attempt_at, due_at), id LIMIT 1",
	    "outbox_claim"), "claiming reads the claim index");
	ok(plan_uses("SELECT id FROM outbox WHERE message_id = '<a>'",
	    "outbox_by_message_id"), "threading reads the Message-ID index");
	ok(store_customer_forget(st, 3, NULL) == STORE_OK &&
	    count("SELECT count(*) FROM outbox WHERE customer_id = 3") == 0,
	    "a forget still takes the customer's outbox rows");
}

/* Version 10's customers: a given name shared by two, a Korean name
 * written whole, and one led by a four-byte character. */
static const char v10_rows[] =
"INSERT INTO customers (id, name, created_at, updated_at) VALUES"
"  (1, 'Anna Schmidt', 1, 1), (2, ' anna  LEE', 1, 1),"
"  (3, '김민준', 1, 1), (4, '𠮷田花子', 1, 1), (5, 'Kim Yuna ', 1, 1);";

/* The ids the partial lookup gives for name, as "1 2" ("-" for none,
 * "exact " before them when it is an exact match). */
static const char *
by_name(const char *name)
{
	static char buf[64];
	int64_t ids[4];
	size_t n = 0, len;
	bool exact = false;

	if (store_referral_customers_by_name(tdb.st, name, ids, 4, &n,
	    &exact) != STORE_OK)
		return "error";
	snprintf(buf, sizeof(buf), "%s%s", exact ? "exact " : "",
	    n == 0 ? "-" : "");
	for (size_t i = 0; i < n && i < 4; i++) {
		len = strlen(buf);
		snprintf(buf + len, sizeof(buf) - len, "%s%lld",
		    i > 0 ? " " : "", (long long)ids[i]);
	}
	return buf;
}

/* The store's prepared lookup of partial names, once it has run. */
static sqlite3_stmt *
part_stmt(void)
{
	sqlite3_stmt *stmt = NULL;

	while ((stmt = sqlite3_next_stmt(tdb.st->db, stmt)) != NULL)
		if (strstr(sqlite3_sql(stmt), "SELECT id, name FROM customers")
		    != NULL)
			return stmt;
	printf("Bail out! the partial name lookup is not prepared\n");
	exit(1);
}

static void
test_v11_migrated(void)
{
	char buf[64];

	is_int(store_version(tdb.st), store_schema_version,
	    "a version 10 database migrates to the current version");
	is_int(count("SELECT count(*) FROM sqlite_master WHERE type = 'index'"
	    " AND tbl_name = 'customers' AND name IN"
	    " ('customers_by_first_word', 'customers_by_last_word',"
	    " 'customers_by_given_name')"), 3, "the name part indexes are made");
	is_int(count("SELECT count(*) FROM customers"), 5,
	    "every customer kept");
	is_str(testdb_str(&tdb, "PRAGMA integrity_check", buf, sizeof(buf)),
	    "ok", "integrity check");
}

static void
test_v11_lookups(void)
{
	struct customer c;
	sqlite3_stmt *stmt;
	bool changed = false;
	int64_t id;

	is_str(by_name("Schmidt"), "1", "a surname alone");
	is_str(by_name("ANNA"), "1 2", "a given name two share, by id");
	is_str(by_name("lee"), "2", "spaces around a name do not count");
	is_str(by_name("민준"), "3", "a Korean given name");
	is_str(by_name("田花子"), "4", "after a four-byte surname");
	is_str(by_name("yuna"), "-",
	    "a name ending in a space is not cut into words, as before");
	is_str(by_name("Ann"), "-", "a piece of a word is no match");
	is_str(by_name("annaschmidt"), "exact 1", "the exact lookup still");
	stmt = part_stmt();
	is_int(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0),
	    0, "no lookup stepped through a scan of the customers");
	ok(plan_uses(sqlite3_sql(stmt), "customers_by_first_word") &&
	    plan_uses(sqlite3_sql(stmt), "customers_by_last_word") &&
	    plan_uses(sqlite3_sql(stmt), "customers_by_given_name"),
	    "it reads the three indexes");

	ok(store_customer_get(tdb.st, 1, &c) == STORE_OK, "a customer loaded");
	free(c.name);
	c.name = xstrdup("Anna Berg");
	ok(store_customer_update(tdb.st, &c, &changed) == STORE_OK &&
	    changed, "and renamed");
	customer_clear(&c);
	is_str(by_name("schmidt"), "-", "the old surname finds nobody");
	is_str(by_name("berg"), "1", "the new one finds them");
	id = testdb_customer(tdb.st, "Chris Schmidt", "chris@example.org");
	is_str(by_name("Schmidt"), id == 6 ? "6" : "?",
	    "a customer added later is found");
	testdb_exec(&tdb, "UPDATE customers SET name = 'Park Jisoo'"
	    " WHERE id = 2");
	is_str(by_name("jisoo"), "2", "so is a rename by raw SQL");
	is_str(by_name("Anna"), "1", "which the old name no longer finds");
	is_int(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0),
	    0, "and still nothing was scanned");
}

/* Version 11's outbox for Kim (1) and Lee (2): account smtp sent rows 1
 * (long ago) and 2, is sending row 3 and 4 (4 claimed by a sender that
 * died); account other sent row 5; row 6 is planned, row 7 failed. */
static const char v11_rows[] =
"INSERT INTO customers (id, name, created_at, updated_at) VALUES"
"  (1, 'Kim', 1, 1), (2, 'Lee', 1, 1);"
"INSERT INTO customer_emails VALUES ('kim@example.kr', 1, 0),"
"  ('lee@example.kr', 2, 0);"
"INSERT INTO outbox (id, kind, template, customer_id, occurrence, state,"
"  due_at, message_id, account, sent_at, lease_until, created_at) VALUES"
"  (1, 'newsletter', 'nl', 1, 'nl:1', 'sent', 10, '<rapport.1.a@x>',"
"   'smtp', 20, NULL, 1),"
"  (2, 'newsletter', 'nl', 1, 'nl:2', 'sent', 900, '<rapport.2.a@x>',"
"   'smtp', 950, NULL, 1),"
"  (3, 'newsletter', 'nl', 2, 'nl:2', 'sending', 900, '<rapport.3.a@x>',"
"   'smtp', NULL, 1500, 1),"
"  (4, 'newsletter', 'nl', 1, 'nl:3', 'sending', 900, '<rapport.4.a@x>',"
"   'smtp', NULL, 990, 1),"
"  (5, 'newsletter', 'nl', 2, 'nl:1', 'sent', 10, '<rapport.5.a@x>',"
"   'other', 960, NULL, 1),"
"  (6, 'follow-up', 'fu', 2, 'sale:1', 'planned', 800, NULL, NULL, NULL,"
"   NULL, 1),"
"  (7, 'follow-up', 'fu', 1, 'sale:2', 'failed', 10, NULL, 'smtp', NULL,"
"   NULL, 1);";

/* store_outbox_sent_times() as "t t t" ("-" for none). */
static const char *
sent_times(const char *account, int64_t since, int64_t now, int64_t self)
{
	static char buf[128];
	int64_t *times = NULL;
	size_t n = 0, len;

	if (store_outbox_sent_times(tdb.st, account, since, now, self, &times,
	    &n) != STORE_OK)
		return "error";
	snprintf(buf, sizeof(buf), "%s", n == 0 ? "-" : "");
	for (size_t i = 0; i < n; i++) {
		len = strlen(buf);
		snprintf(buf + len, sizeof(buf) - len, "%s%lld",
		    i > 0 ? " " : "", (long long)times[i]);
	}
	free(times);
	return buf;
}

/* The store's prepared statement whose text holds marker, once run. */
static sqlite3_stmt *
prepared(const char *marker)
{
	sqlite3_stmt *stmt = NULL;

	while ((stmt = sqlite3_next_stmt(tdb.st->db, stmt)) != NULL)
		if (strstr(sqlite3_sql(stmt), marker) != NULL)
			return stmt;
	printf("Bail out! no prepared statement holds %s\n", marker);
	exit(1);
}

static void
test_v12_migrated(void)
{
	char buf[64];

	is_int(store_version(tdb.st), store_schema_version,
	    "a version 11 database migrates to the current version");
	is_int(count("SELECT count(*) FROM outbox"), 7, "every outbox row kept");
	is_int(count("SELECT count(*) FROM sqlite_master WHERE name IN"
	    " ('outbox_due', 'outbox_sent_by_account')"), 0,
	    "the indexes no statement needs are gone");
	is_int(count("SELECT count(*) FROM pragma_index_info("
	    "'outbox_by_customer')"), 1,
	    "the customer index no longer keys the state");
	is_int(count("SELECT count(*) FROM outbox INDEXED BY outbox_by_account"
	    " WHERE state IN ('sent', 'sending') AND account = 'smtp'"
	    " AND coalesce(sent_at, 9223372036854775807) >= 0"), 4,
	    "the account index holds the rows sent and in flight");
	is_str(testdb_str(&tdb, "PRAGMA integrity_check", buf, sizeof(buf)),
	    "ok", "integrity check");
}

static void
test_v12_send(void)
{
	struct store *st = tdb.st;
	struct outbox_row r;
	sqlite3_stmt *stmt;
	int64_t at;

	is_str(sent_times("smtp", 100, 1000, 0), "950 1000 1000",
	    "the budget counts the sent row since then and both in flight");
	is_str(sent_times("smtp", 100, 1000, 3), "950 1000",
	    "but not the row asking");
	is_str(sent_times("other", 100, 1000, 0), "960",
	    "each account its own");
	is_str(sent_times("nobody", 100, 1000, 0), "-", "an unknown one none");
	stmt = prepared("coalesce(sent_at, 9223372036854775807)");
	ok(plan_uses(sqlite3_sql(stmt), "outbox_by_account"),
	    "it reads the account index");

	ok(store_outbox_claim(st, "smtp", 1000, 300, &r) == STORE_OK &&
	    r.id == 6, "the planned row is claimed before the dead lease");
	ok(store_outbox_set_message_id(st, r.id, "<rapport.6.b@x>",
	    "lee@example.kr") == STORE_OK, "its Message-ID fixed");
	is_str(sent_times("smtp", 100, 1001, 0), "950 1001 1001 1001",
	    "the claimed row counts as in flight");
	ok(store_outbox_sent(st, r.id, 1002, "250 ok") == STORE_OK,
	    "it is sent");
	outbox_row_clear(&r);
	is_str(sent_times("smtp", 100, 1003, 0), "950 1002 1003 1003",
	    "and counts at its time");
	ok(store_outbox_claim(st, "smtp", 1000, 300, &r) == STORE_OK &&
	    r.id == 4, "the dead lease is claimed again");
	outbox_row_clear(&r);
	is_int(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0),
	    0, "no budget count stepped through a scan of the outbox");
	ok(store_outbox_next_due(st, &at) == STORE_OK && at == 1300,
	    "the next due time: the earliest lease to run out");
	ok(plan_uses(sqlite3_sql(prepared("SELECT min(CASE")), "outbox_claim"),
	    "read from the claim index");
	ok(plan_uses("SELECT kind FROM outbox WHERE customer_id = 1 AND state"
	    " IN ('planned', 'sending')", "outbox_by_customer"),
	    "a customer's rows by state still read the customer index");
	ok(plan_uses("SELECT customer_id FROM outbox WHERE message_id = '<a>'"
	    " AND state = 'sent'", "outbox_by_message_id"),
	    "threading still reads the Message-ID index");
	ok(store_customer_forget(st, 2, NULL) == STORE_OK &&
	    count("SELECT count(*) FROM outbox WHERE customer_id = 2") == 0,
	    "a forget still takes the customer's outbox rows");
}

int
main(void)
{
	testdb_now("2026-06-01T00:00:00Z");
	testdb_mkdir(&tdb, "store-schema");
	make_old(tdb.path, 8, v8_rows);
	testdb_connect(&tdb);

	test_migrated();
	test_plans();
	test_behaviour();
	test_batch_rollback();
	testdb_close(&tdb);

	testdb_mkdir(&tdb, "store-schema10");
	make_old(tdb.path, 9, v9_rows);
	testdb_connect(&tdb);
	test_v10_migrated();
	test_v10_behaviour();
	testdb_close(&tdb);

	testdb_mkdir(&tdb, "store-schema11");
	make_old(tdb.path, 10, v10_rows);
	testdb_connect(&tdb);
	test_v11_migrated();
	test_v11_lookups();
	testdb_close(&tdb);

	testdb_mkdir(&tdb, "store-schema12");
	make_old(tdb.path, 11, v11_rows);
	testdb_connect(&tdb);
	test_v12_migrated();
	test_v12_send();
	testdb_close(&tdb);
	return tap_done();
}
