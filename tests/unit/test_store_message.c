/* Unit tests of mail in the store (daemon/store_message.c) on a temporary
 * database: ingest, dedupe, locations, signals, cursors, timeline, review. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "store.h"
#include "store_message.h"
#include "tap.h"
#include "testdb.h"
#include "xmalloc.h"

static struct testdb tdb;

static int64_t
add_customer(struct store *st, const char *name, const char *e1,
    const char *e2)
{
	struct customer c;

	customer_init(&c);
	c.name = xstrdup(name);
	customer_add_email(&c, e1);
	if (e2)
		customer_add_email(&c, e2);
	c.newsletter = true;
	c.consent_at = testdb_at("2026-01-01T00:00:00Z");
	c.consent_source = xstrdup("import");
	return testdb_insert(st, &c);
}

/* A header block with CRLF line ends, parsed as the connector would. */
static void
parse(struct message *m, const char *from, const char *to, const char *date,
    const char *msgid, const char *subject)
{
	char hdr[1024];
	size_t n;

	n = (size_t)snprintf(hdr, sizeof(hdr),
	    "From: %s\r\nTo: %s\r\nDate: %s\r\nSubject: %s\r\n", from, to,
	    date, subject);
	if (msgid)
		n += (size_t)snprintf(hdr + n, sizeof(hdr) - n,
		    "Message-ID: <%s>\r\n", msgid);
	snprintf(hdr + n, sizeof(hdr) - n, "\r\n");
	message_parse(m, hdr, strlen(hdr), NULL);
}

static void
lr_link(struct linker_result *r, int64_t cid, const char *rule,
    const char *detail)
{
	r->links = xreallocarray(r->links, r->nlinks + 1, sizeof(*r->links));
	r->links[r->nlinks].customer_id = cid;
	r->links[r->nlinks].rule = rule;
	r->links[r->nlinks].detail = xstrdup(detail);
	r->nlinks++;
}

static void
lr_review(struct linker_result *r, const char *what, int64_t a, int64_t b)
{
	struct linker_review *rv;

	r->reviews = xreallocarray(r->reviews, r->nreviews + 1,
	    sizeof(*r->reviews));
	rv = &r->reviews[r->nreviews++];
	memset(rv, 0, sizeof(*rv));
	rv->address = xstrdup(what);
	rv->ids[0] = a;
	rv->ids[1] = b;
	rv->nids = 2;
}

/* An incoming message written by customer author (0: nobody known). */
static void
lr_incoming(struct linker_result *r, int64_t author, const char *addr,
    bool reply)
{
	memset(r, 0, sizeof(*r));
	r->author = author;
	r->reply = reply;
	if (author)
		lr_link(r, author, "address:from", addr);
}

static void
cls_init(struct classify_result *c, unsigned flags)
{
	memset(c, 0, sizeof(*c));
	c->flags = flags;
	c->sale_rule = -1;
}

static int
ingest(struct store *st, const char *folder, int64_t uid,
    const struct message *m, const struct classify_result *cls,
    const struct linker_result *lr, int64_t *id, bool *is_new)
{
	struct store_message_in in;

	memset(&in, 0, sizeof(in));
	in.account = "work";
	in.folder = folder;
	in.uidvalidity = 100;
	in.uid = uid;
	in.msg = m;
	in.cls = cls;
	in.lr = lr;
	return store_message_ingest(st, &in, id, is_new);
}

/* Ids of the three customers used throughout. */
static int64_t alice, bob, carol;

static void
test_lookups(struct store *st)
{
	struct linker_lookup lu;
	int64_t ids[8];
	size_t n;

	ok(store_customers_by_address(st, "alice@example.com", ids, 8, &n) ==
	    STORE_OK && n == 1 && ids[0] == alice, "by address: alice");
	ok(store_customers_by_address(st, "nobody@example.com", ids, 8, &n) ==
	    STORE_OK && n == 0, "by address: unknown -> none");
	ok(store_customers_by_domain(st, "acme.example", ids, 8, &n) ==
	    STORE_OK && n == 2 && ids[0] == bob && ids[1] == carol,
	    "by domain: two customers at acme.example");
	ok(store_customers_by_domain(st, "acme.example", ids, 1, &n) ==
	    STORE_OK && n == 2 && ids[0] == bob,
	    "by domain: count exceeds max, only max written");
	store_message_lookup(st, &lu);
	is_int(lu.by_address(lu.ctx, "carol@acme.example", ids, 8), 1,
	    "linker adapter by_address");
	is_int(ids[0], carol, "linker adapter finds carol");
	is_int(lu.by_domain(lu.ctx, "example.com", ids, 8), 1,
	    "linker adapter by_domain");
	is_int(lu.by_message_id(lu.ctx, "none@x", ids, 8), 0,
	    "linker adapter by_message_id: unknown");
}

static int64_t m1;

static void
test_ingest_dedupe(struct store *st)
{
	struct message m;
	struct linker_result lr;
	struct classify_result cls;
	int64_t id = 0, id2 = 0;
	int64_t ids[8];
	size_t n;
	bool is_new = false;

	parse(&m, "Alice <alice@example.com>",
	    "Kim <kim@example.com>, dave@acme.example",
	    "Fri, 01 May 2026 10:00:00 +0000", "m1@example.com",
	    "Re: our offer");
	cls_init(&cls, 0);
	lr_incoming(&lr, alice, "alice@example.com", true);
	lr_review(&lr, "acme.example", bob, carol);

	is_int(ingest(st, "INBOX", 1, &m, &cls, &lr, &id, &is_new), STORE_OK,
	    "ingest a new message");
	ok(is_new && id > 0, "it is new and has an id");
	m1 = id;
	is_int(testdb_count(&tdb, "SELECT count(*) FROM message_participants"),
	    3, "participants: from and two to");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM message_participants WHERE"
	    " role = 'from' AND address = 'alice@example.com'"
	    " AND name = 'Alice'"), 1, "from participant with its name");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM links WHERE rule ="
	    " 'address:from' AND detail = 'alice@example.com'"), 1,
	    "link with rule and detail");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM link_review WHERE address ="
	    " 'acme.example' AND rule = 'domain'"), 2,
	    "one review row per candidate");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM message_locations"), 1,
	    "one location");

	is_int(ingest(st, "INBOX", 1, &m, &cls, &lr, &id2, &is_new), STORE_OK,
	    "re-ingest the same copy");
	ok(!is_new && id2 == id, "not new, same id");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM links"), 1,
	    "no duplicate link");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM link_review"), 2,
	    "no duplicate review");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM message_participants"),
	    3, "no duplicate participants");

	/* The same mail seen in Sent (e.g. Kim was on Cc). */
	is_int(ingest(st, "Sent", 7, &m, &cls, &lr, &id2, &is_new), STORE_OK,
	    "ingest the same Message-ID from Sent");
	ok(!is_new && id2 == id, "Sent copy: not new, same message");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM messages"), 1,
	    "one message row");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM message_locations"), 2,
	    "two locations: INBOX and Sent");
	linker_result_free(&lr);

	/* Seen again with a new link (a customer added since). */
	lr_incoming(&lr, alice, "alice@example.com", true);
	lr_link(&lr, bob, "address:to", "bob@example.org");
	is_int(ingest(st, "INBOX", 1, &m, &cls, &lr, &id2, &is_new), STORE_OK,
	    "re-ingest with a new link");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM links"), 2,
	    "the new link added");
	ok(store_customers_by_message_id(st, "m1@example.com", ids, 8, &n) ==
	    STORE_OK && n == 2, "by message-id: both linked customers");
	linker_result_free(&lr);
	message_free(&m);
}

static void
test_fallback_key(struct store *st)
{
	struct message m;
	struct linker_result lr;
	int64_t id, id2;
	bool is_new;

	parse(&m, "carol@acme.example", "kim@example.com",
	    "Sat, 02 May 2026 09:00:00 +0000", NULL, "no id here");
	ok(m.msgid_synthetic && strncmp(m.message_id, "sha256:", 7) == 0,
	    "parser made a fallback key");
	lr_incoming(&lr, carol, "carol@acme.example", true);
	is_int(ingest(st, "INBOX", 2, &m, NULL, &lr, &id, &is_new), STORE_OK,
	    "ingest without Message-ID");
	ok(is_new, "new");
	is_int(ingest(st, "INBOX", 2, &m, NULL, &lr, &id2, &is_new), STORE_OK,
	    "again");
	ok(!is_new && id == id2, "deduped by the fallback key");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM messages WHERE message_id IS NULL"
	    " AND dedupe_key LIKE 'sha256:%'"), 1,
	    "stored with NULL message_id and the key");
	linker_result_free(&lr);
	message_free(&m);
}

static void
test_bounce(struct store *st)
{
	struct message m;
	struct classify_result cls;
	struct linker_result lr;
	char *reason = NULL;
	bool is_new;

	parse(&m, "MAILER-DAEMON@mx.example", "kim@example.com",
	    "Sun, 03 May 2026 08:00:00 +0000", "b1@mx.example",
	    "Undelivered Mail Returned to Sender");
	cls_init(&cls, CLASSIFY_BOUNCE);
	cls.bounces = xcalloc(1, sizeof(*cls.bounces));
	cls.bounces[0].addr = xstrdup("carol@acme.example");
	cls.bounces[0].status = xstrdup("5.1.1");
	cls.bounces[0].reason = xstrdup("User unknown");
	cls.nbounces = 1;
	memset(&lr, 0, sizeof(lr));
	lr_link(&lr, carol, "address:to", "carol@acme.example");
	is_int(ingest(st, "INBOX", 3, &m, &cls, &lr, NULL, &is_new), STORE_OK,
	    "ingest a bounce");
	is_int(store_suppression_get(st, "carol@acme.example", &reason),
	    STORE_OK, "failed recipient suppressed");
	is_str(reason, "bounce: 5.1.1 User unknown (b1@mx.example)",
	    "suppression reason names status, words and message");
	free(reason);
	is_int(testdb_count(&tdb,
	    "SELECT is_bounce FROM messages WHERE dedupe_key ="
	    " 'b1@mx.example'"), 1, "message flagged as bounce");
	classify_result_free(&cls);
	linker_result_free(&lr);
	message_free(&m);
}

static void
test_unsubscribe(struct store *st)
{
	struct message m;
	struct classify_result cls;
	struct linker_result lr;
	struct customer c;
	bool is_new;

	parse(&m, "alice@example.com", "kim@example.com",
	    "Mon, 04 May 2026 12:00:00 +0000", "u1@example.com",
	    "unsubscribe");
	cls_init(&cls, CLASSIFY_UNSUBSCRIBE);
	lr_incoming(&lr, alice, "alice@example.com", true);
	is_int(ingest(st, "INBOX", 4, &m, &cls, &lr, NULL, &is_new), STORE_OK,
	    "ingest an unsubscribe request");
	store_customer_get(st, alice, &c);
	ok(!c.newsletter, "newsletter consent withdrawn");
	is_int(c.consent_at, testdb_at("2026-05-04T12:00:00Z"),
	    "consent_at is the message's date");
	is_str(c.consent_source, "mail:u1@example.com", "consent source");
	customer_clear(&c);
	linker_result_free(&lr);
	message_free(&m);

	/* An old request does not undo a newer consent. */
	testdb_exec(&tdb, "UPDATE customers SET consent_at = 1800000000"
	    " WHERE name = 'Bob'");
	parse(&m, "bob@example.org", "kim@example.com",
	    "Mon, 04 May 2026 12:00:00 +0000", "u2@example.org",
	    "unsubscribe");
	lr_incoming(&lr, bob, "bob@example.org", true);
	is_int(ingest(st, "INBOX", 5, &m, &cls, &lr, NULL, &is_new), STORE_OK,
	    "ingest an older unsubscribe");
	store_customer_get(st, bob, &c);
	ok(c.newsletter, "newer consent kept");
	customer_clear(&c);
	linker_result_free(&lr);
	message_free(&m);
}

static void
test_sale(struct store *st)
{
	struct message m;
	struct classify_result cls;
	struct linker_result lr;
	struct store_message_in in;
	bool is_new;

	parse(&m, "bob@example.org", "kim@example.com",
	    "Tue, 05 May 2026 12:00:00 +0000", "s1@example.org",
	    "Order confirmed");
	cls_init(&cls, CLASSIFY_SALE);
	cls.sale_rule = 0;
	cls.sale_rule_name = "orders";
	lr_incoming(&lr, bob, "bob@example.org", true);
	memset(&in, 0, sizeof(in));
	in.account = "work";
	in.folder = "INBOX";
	in.uidvalidity = 100;
	in.uid = 6;
	in.msg = &m;
	in.cls = &cls;
	in.lr = &lr;
	in.sale_product = "Widget";
	is_int(store_message_ingest(st, &in, NULL, &is_new), STORE_OK,
	    "ingest a sale mail");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM sales WHERE product = 'Widget'"
	    " AND source = 'mail:s1@example.org'"
	    " AND at = 1777982400"), 1, "sale recorded for the author");
	in.folder = "Archive";
	is_int(store_message_ingest(st, &in, NULL, &is_new), STORE_OK,
	    "the same sale mail in another folder");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM sales"), 1,
	    "sale recorded once");
	linker_result_free(&lr);
	message_free(&m);
}

static void
test_replied(struct store *st)
{
	struct message m;
	struct classify_result cls;
	struct linker_result lr;
	bool replied = true, is_new;

	ok(store_customer_replied_since(st, alice,
	    testdb_at("2026-05-01T00:00:00Z"),
	    &replied) == STORE_OK && replied, "alice replied since 1 May");
	ok(store_customer_replied_since(st, alice,
	    testdb_at("2026-05-10T00:00:00Z"),
	    &replied) == STORE_OK && !replied, "not since 10 May");

	parse(&m, "alice@example.com", "kim@example.com",
	    "Mon, 11 May 2026 08:00:00 +0000", "ooo1@example.com",
	    "Out of office");
	cls_init(&cls, CLASSIFY_AUTO_REPLY);
	lr_incoming(&lr, alice, "alice@example.com", false);
	is_int(ingest(st, "INBOX", 8, &m, &cls, &lr, NULL, &is_new), STORE_OK,
	    "ingest an auto-reply");
	ok(store_customer_replied_since(st, alice,
	    testdb_at("2026-05-10T00:00:00Z"),
	    &replied) == STORE_OK && !replied, "an auto-reply is no reply");
	linker_result_free(&lr);
	message_free(&m);

	/* Kim writing to Alice is not Alice writing. */
	parse(&m, "kim@example.com", "alice@example.com",
	    "Tue, 12 May 2026 08:00:00 +0000", "out1@example.com",
	    "Following up");
	memset(&lr, 0, sizeof(lr));
	lr.outgoing = true;
	lr_link(&lr, alice, "address:to", "alice@example.com");
	is_int(ingest(st, "Sent", 9, &m, NULL, &lr, NULL, &is_new), STORE_OK,
	    "ingest outreach");
	ok(store_customer_replied_since(st, alice,
	    testdb_at("2026-05-10T00:00:00Z"),
	    &replied) == STORE_OK && !replied, "outreach is no reply");
	linker_result_free(&lr);
	message_free(&m);
}

static void
test_cursor_tx(struct store *st)
{
	struct message m;
	struct linker_result lr;
	char *v = NULL;
	bool is_new;

	parse(&m, "alice@example.com", "kim@example.com",
	    "Wed, 13 May 2026 08:00:00 +0000", "tx1@example.com", "batch");
	lr_incoming(&lr, alice, "alice@example.com", true);

	is_int(store_begin(st), STORE_OK, "begin a batch");
	is_int(ingest(st, "INBOX", 10, &m, NULL, &lr, NULL, &is_new), STORE_OK,
	    "ingest inside the batch");
	is_int(store_cursor_set(st, "imap", "work", "INBOX", "uidnext", "11"),
	    STORE_OK, "cursor set inside the batch");
	is_int(store_rollback(st), STORE_OK, "roll the batch back");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM messages WHERE dedupe_key ="
	    " 'tx1@example.com'"), 0, "rollback: no message");
	is_int(store_cursor_get(st, "imap", "work", "INBOX", "uidnext", &v),
	    STORE_NOTFOUND, "rollback: no cursor");

	is_int(store_begin(st), STORE_OK, "begin again");
	is_int(ingest(st, "INBOX", 10, &m, NULL, &lr, NULL, &is_new), STORE_OK,
	    "ingest");
	ok(is_new, "new again after the rollback");
	is_int(store_cursor_set(st, "imap", "work", "INBOX", "uidnext", "11"),
	    STORE_OK, "cursor set");
	is_int(store_commit(st), STORE_OK, "commit");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM messages WHERE dedupe_key ="
	    " 'tx1@example.com'"), 1, "commit: message stored");
	is_int(store_cursor_get(st, "imap", "work", "INBOX", "uidnext", &v),
	    STORE_OK, "commit: cursor stored");
	is_str(v, "11", "cursor value");
	free(v);
	store_cursor_set(st, "imap", "work", "INBOX", "uidnext", "12");
	store_cursor_get(st, "imap", "work", "INBOX", "uidnext", &v);
	is_str(v, "12", "cursor updated in place");
	free(v);
	store_cursor_set(st, "imap", "work", "INBOX", "uidvalidity", "100");
	is_int(store_cursor_clear(st, "imap", "work", "INBOX"), STORE_OK,
	    "cursor clear");
	is_int(store_cursor_get(st, "imap", "work", "INBOX", "uidvalidity",
	    &v), STORE_NOTFOUND, "cleared");
	linker_result_free(&lr);
	message_free(&m);
}

/* A message that fails inside a batch undoes only itself. */
static void
test_batch_failure(struct store *st)
{
	struct message good, bad;
	struct linker_result lr_good, lr_bad;
	bool is_new;

	parse(&good, "alice@example.com", "kim@example.com",
	    "Wed, 13 May 2026 09:00:00 +0000", "ok2@example.com", "fine");
	parse(&bad, "ghost@example.com", "kim@example.com",
	    "Wed, 13 May 2026 09:30:00 +0000", "bad2@example.com", "broken");
	lr_incoming(&lr_good, alice, "alice@example.com", true);
	lr_incoming(&lr_bad, 987654, "ghost@example.com", true);
	store_begin(st);
	is_int(ingest(st, "INBOX", 20, &good, NULL, &lr_good, NULL, &is_new),
	    STORE_OK, "batch: first message");
	is_int(ingest(st, "INBOX", 21, &bad, NULL, &lr_bad, NULL, &is_new),
	    STORE_ERROR, "batch: a link to a missing customer fails");
	is_int(store_cursor_set(st, "imap", "work", "INBOX", "uidnext", "22"),
	    STORE_OK, "batch: cursor after the failure");
	is_int(store_commit(st), STORE_OK, "batch: commit");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM messages WHERE dedupe_key IN"
	    " ('ok2@example.com', 'bad2@example.com')"), 1,
	    "batch: the good message stays, nothing of the bad one");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM message_locations WHERE"
	    " uid = 21"), 0, "batch: no location of the bad one");
	linker_result_free(&lr_good);
	linker_result_free(&lr_bad);
	message_free(&good);
	message_free(&bad);
}

static void
test_forget_uid(struct store *st)
{
	bool has = false;
	int64_t n = -1;

	ok(store_message_has_uid(st, "work", "INBOX", 100, 1, &has) ==
	    STORE_OK && has, "INBOX uid 1 is known");
	is_int(store_message_forget_uid(st, "work", "INBOX", 100, 1), STORE_OK,
	    "forget INBOX uid 1");
	ok(store_message_has_uid(st, "work", "INBOX", 100, 1, &has) ==
	    STORE_OK && !has, "INBOX uid 1 gone");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM message_locations WHERE"
	    " message_id = (SELECT id FROM messages WHERE dedupe_key ="
	    " 'm1@example.com')"), 1, "the Sent location stays");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM messages WHERE dedupe_key ="
	    " 'm1@example.com' AND uid IS NULL"), 1,
	    "message kept, first-seen UID cleared");
	is_int(store_message_forget_uid(st, "work", "INBOX", 100, 1),
	    STORE_NOTFOUND, "forget again: not found");
	is_int(store_message_forget_folder(st, "work", "Sent", 101, &n),
	    STORE_OK, "Sent UIDVALIDITY changed");
	is_int(n, 2, "old Sent locations dropped");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM messages WHERE dedupe_key ="
	    " 'm1@example.com'"), 1, "the message is still there");
}

struct tl {
	char	 buf[2048];
};

static int
tl_add(void *ctx, const struct store_timeline_item *it)
{
	struct tl *t = ctx;
	size_t n = strlen(t->buf);

	snprintf(t->buf + n, sizeof(t->buf) - n, "%s%s:%s:%s:%s:%s%s",
	    n ? "|" : "", it->kind, it->ref ? it->ref : "-",
	    it->direction ? it->direction : "-", it->rule,
	    it->detail ? it->detail : "-", it->reply ? ":reply" : "");
	return 0;
}

static void
test_timeline(struct store *st)
{
	struct tl t = { "" };
	char *subject = NULL;
	int64_t when = 0;
	char sql[512];

	snprintf(sql, sizeof(sql),
	    "INSERT INTO events (id, account, calendar, href, uid, summary,"
	    " start_at, ingested_at) VALUES (1, 'work', '/cal/', '/cal/v.ics',"
	    " 'visit-1@dav', 'Visit', %lld, 0);"
	    "INSERT INTO links (customer_id, object_kind, object_id, rule,"
	    " detail, created_at) VALUES (%lld, 'event', 1, 'address:attendee',"
	    " 'alice@example.com', 0);",
	    (long long)testdb_at("2026-05-03T10:00:00Z"), (long long)alice);
	testdb_exec(&tdb, sql);
	is_int(store_timeline_foreach(st, alice, tl_add, &t), STORE_OK,
	    "timeline of alice");
	is_str(t.buf,
	    "message:m1@example.com:in:address:from:alice@example.com:reply|"
	    "event:visit-1@dav:-:address:attendee:alice@example.com|"
	    "message:u1@example.com:in:address:from:alice@example.com:reply|"
	    "message:ooo1@example.com:in:address:from:alice@example.com|"
	    "message:out1@example.com:out:address:to:alice@example.com|"
	    "message:tx1@example.com:in:address:from:alice@example.com:reply|"
	    "message:ok2@example.com:in:address:from:alice@example.com:reply",
	    "timeline in date order, with Message-IDs, UIDs and the why");
	is_int(store_timeline_foreach(st, 9999, tl_add, &t), STORE_NOTFOUND,
	    "timeline of nobody");

	is_int(store_last_contact(st, alice, &when, &subject), STORE_OK,
	    "last contact");
	is_int(when, testdb_at("2026-05-13T09:00:00Z"), "last contact date");
	is_str(subject, "fine", "last contact subject");
	free(subject);
}

struct rv {
	int	 n;
	int64_t	 last;
	char	 buf[512];
};

static int
rv_add(void *ctx, const struct store_review_item *it)
{
	struct rv *r = ctx;
	size_t n = strlen(r->buf);

	r->n++;
	r->last = it->id;
	snprintf(r->buf + n, sizeof(r->buf) - n, "%s%s:%s:%s:%s:%s",
	    n ? "|" : "", it->customer_name, it->address, it->rule,
	    it->title ? it->title : "-", it->ref ? it->ref : "-");
	return 0;
}

static void
test_review(struct store *st)
{
	struct rv r;

	memset(&r, 0, sizeof(r));
	is_int(store_review_foreach(st, rv_add, &r), STORE_OK, "review list");
	is_str(r.buf, "Bob:acme.example:domain:Re: our offer:m1@example.com|"
	    "Carol:acme.example:domain:Re: our offer:m1@example.com",
	    "both candidates listed with the message");
	/* Bob was linked by address since; Carol is the open question. */
	is_int(store_review_resolve(st, r.last, true), STORE_OK,
	    "link the last candidate");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM links WHERE rule = 'manual'"
	    " AND detail = 'acme.example'"), 1, "manual link made");
	memset(&r, 0, sizeof(r));
	store_review_foreach(st, rv_add, &r);
	is_int(r.n, 0, "the whole question is resolved");
	is_int(store_review_resolve(st, 12345, false), STORE_NOTFOUND,
	    "resolving an unknown review");
}

static void
test_forget_customer(struct store *st)
{
	is_int(store_customer_forget(st, alice, "erasure request"), STORE_OK,
	    "forget alice");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM messages WHERE dedupe_key IN"
	    " ('u1@example.com', 'tx1@example.com', 'out1@example.com',"
	    " 'ok2@example.com')"), 0,
	    "her own messages gone");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM message_locations WHERE"
	    " message_id NOT IN (SELECT id FROM messages)"), 0,
	    "no dangling locations");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM messages WHERE dedupe_key ="
	    " 'm1@example.com' AND author_id IS NULL"), 1,
	    "a shared message stays, its author cleared");
	is_int(store_customer_forget(st, bob, NULL), STORE_OK,
	    "forget bob (sales, reviews, links)");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM sales"), 0,
	    "his sale gone");
	is_int(store_customer_forget(st, carol, NULL), STORE_OK, "forget carol");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM link_review"), 0,
	    "review rows gone");
	is_int(testdb_count(&tdb, "PRAGMA foreign_key_check"), -1,
	    "no foreign key violations");
}

int
main(void)
{
	struct store *st;

	testdb_now("2026-06-01T00:00:00Z");
	testdb_open(&tdb, "store-message");
	st = tdb.st;
	ok(store_version(st) >= 2, "schema has mail ingest (version 2 or later)");
	alice = add_customer(st, "Alice", "alice@example.com", NULL);
	bob = add_customer(st, "Bob", "bob@example.org", "bob@acme.example");
	carol = add_customer(st, "Carol", "carol@acme.example", NULL);

	test_lookups(st);
	test_ingest_dedupe(st);
	test_fallback_key(st);
	test_bounce(st);
	test_unsubscribe(st);
	test_sale(st);
	test_replied(st);
	test_cursor_tx(st);
	test_batch_failure(st);
	test_forget_uid(st);
	test_timeline(st);
	test_review(st);
	test_forget_customer(st);

	testdb_close(&tdb);
	return tap_done();
}
