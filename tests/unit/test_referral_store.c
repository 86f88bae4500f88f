/*
 * Unit tests of referrals in the store (daemon/store_referral.c) and of
 * the glue that feeds the referral rules stored mail (referral_ingest.c),
 * on a temporary database: the name and history lookups, candidates
 * proposed, confirmed automatically or by a person, rejected for good,
 * the referred_by triggers, and what the planner is given.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify.h"
#include "clock.h"
#include "config.h"
#include "event.h"
#include "linker.h"
#include "message.h"
#include "referral_ingest.h"
#include "store.h"
#include "store_event.h"
#include "store_message.h"
#include "store_plan.h"
#include "store_referral.h"
#include "tap.h"
#include "testdb.h"
#include "xmalloc.h"

static struct testdb tdb;
static struct config cfg;
static struct linker *lk;
/* One for the whole run, as a connector keeps one per connection. */
static struct referral_ingest *ri;
static int64_t anna, minjun, bob;

static int64_t
add_customer(struct store *st, const char *name, const char *addr,
    const char *source, int64_t referred_by)
{
	struct customer c;

	customer_init(&c);
	c.name = xstrdup(name);
	c.source = source ? xstrdup(source) : NULL;
	c.referred_by = referred_by;
	customer_add_email(&c, addr);
	return testdb_insert(st, &c);
}

/*
 * Parses, classifies, links and stores a whole message (LF line ends
 * turned into CRLF), then runs the referral rules on it as the IMAP
 * connector does, with the run's one ri.  Returns what
 * referral_ingest_message() returned.
 */
static int
deliver(struct store *st, const char *text)
{
	struct { char *s; size_t n; } b = { xmalloc(strlen(text) * 2 + 1), 0 };
	struct message m;
	struct classify_result cls;
	struct linker_result lr;
	struct linker_lookup lu;
	struct store_message_in in;
	const char *body;
	bool is_new = false;
	int rc;

	for (const char *p = text; *p; p++) {
		if (*p == '\n')
			b.s[b.n++] = '\r';
		b.s[b.n++] = *p;
	}
	b.s[b.n] = '\0';
	body = strstr(b.s, "\r\n\r\n");
	body = body ? body + 4 : b.s + b.n;
	message_parse(&m, b.s, (size_t)(body - b.s), NULL);
	message_parse_body(&m, body, strlen(body), NULL);
	classify_message(&m, NULL, &cls);
	store_message_lookup(st, &lu);
	linker_link(lk, &m, &cls, false, &lu, &lr);
	memset(&in, 0, sizeof(in));
	in.account = "work";
	in.folder = "INBOX";
	in.msg = &m;
	in.cls = &cls;
	in.lr = &lr;
	if (store_message_ingest(st, &in, NULL, &is_new) != STORE_OK)
		abort();
	rc = referral_ingest_message(ri, &in, is_new);
	linker_result_free(&lr);
	classify_result_free(&cls);
	message_free(&m);
	free(b.s);
	return rc;
}

static void
test_lookups(struct store *st)
{
	int64_t ids[4];
	size_t n;
	bool exact, has;

	is_int(store_referral_customers_by_name(st, "anna  SCHMIDT", ids, 4, &n,
	    &exact), STORE_OK, "by name: ok");
	ok(n == 1 && ids[0] == anna && exact, "full name, case and spaces "
	    "ignored: exact");
	store_referral_customers_by_name(st, "Schmidt", ids, 4, &n, &exact);
	ok(n == 1 && ids[0] == anna && !exact, "surname alone: partial");
	store_referral_customers_by_name(st, "Anna", ids, 4, &n, &exact);
	ok(n == 1 && ids[0] == anna && !exact, "given name alone: partial");
	store_referral_customers_by_name(st, "Ann", ids, 4, &n, &exact);
	is_int((int)n, 0, "a piece of a word is no match");
	store_referral_customers_by_name(st, "김민준", ids, 4, &n, &exact);
	ok(n == 1 && ids[0] == minjun && exact, "Korean full name: exact");
	store_referral_customers_by_name(st, "민준", ids, 4, &n, &exact);
	ok(n == 1 && ids[0] == minjun && !exact, "Korean given name: partial");
	store_referral_customers_by_name(st, "김민", ids, 4, &n, &exact);
	is_int((int)n, 0, "a Korean name cut short is no match");

	is_int(store_referral_has_history(st, "nobody@else.example",
	    testdb_at("2026-11-01T00:00:00Z"), 0, 0, &has), STORE_OK,
	    "history: ok");
	ok(!has, "an unknown address has no history");
}

static int
count_fact(void *ctx, const struct plan_fact *f)
{
	int *n = ctx;

	(void)f;
	(*n)++;
	return 0;
}

static int
planned_referrals(struct store *st, const char *since, const char *until)
{
	int n = 0;

	if (store_plan_referrals(st, testdb_at(since), testdb_at(until),
	    count_fact, &n) != STORE_OK)
		abort();
	return n;
}

static void
test_strong_intro(struct store *st)
{
	int64_t carl;

	testdb_now("2026-11-02T10:00:00Z");
	is_int(deliver(st,
	    "From: Anna Schmidt <anna@schmidt.example>\n"
	    "To: Kim Sales <kim@sales.example>\n"
	    "Cc: Carl Berg <carl@berg.example>\n"
	    "Date: Mon, 02 Nov 2026 09:00:00 +0000\n"
	    "Message-ID: <intro1@schmidt.example>\n"
	    "Subject: Introduction: Carl Berg\n\n"
	    "Hi Kim,\n\nlet me introduce you to Carl, who is looking for a new "
	    "espresso machine.\n\nAnna\n"), 1, "intro mail: one referral");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM referrals WHERE state = "
	    "'confirmed' AND rule = 'intro:customer-to-new' AND strength = "
	    "'strong' AND evidence_kind = 'message' AND decided_by = 'rule'"
	    " AND source = 'mail:intro1@schmidt.example'"), 1,
	    "strong: confirmed by the rule, with its evidence");
	is_int(store_customer_find_email(st, "carl@berg.example", &carl),
	    STORE_OK, "the new person is a customer");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM customers WHERE name = "
	    "'Carl Berg' AND source = 'referral' AND referred_by = 1"), 1,
	    "named from the display name, source referral, referred by Anna");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM referrals"), 1,
	    "no second row from the referred_by trigger");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM links l JOIN customers c ON "
	    "c.id = l.customer_id WHERE c.name = 'Carl Berg'"), 1,
	    "the introduction is linked to the new customer");
	is_int(planned_referrals(st, "2026-10-01T00:00:00Z",
	    "2026-11-02T10:00:00Z"), 1, "the planner is given the referral");

	is_int(deliver(st,
	    "From: Carl Berg <carl@berg.example>\n"
	    "To: Kim Sales <kim@sales.example>\n"
	    "Cc: Anna Schmidt <anna@schmidt.example>\n"
	    "Date: Mon, 02 Nov 2026 11:00:00 +0000\n"
	    "Message-ID: <reply1@berg.example>\n"
	    "In-Reply-To: <intro1@schmidt.example>\n"
	    "Subject: Re: Introduction: Carl Berg\n\n"
	    "Thanks Anna for the introduction! Kim, when can we talk?\n"), 0,
	    "the reply of the new customer proposes nothing");
}

static int
first_pending(void *ctx, const struct store_referral_pending *it)
{
	int64_t *id = ctx;

	if (*id == 0)
		*id = it->id;
	return 0;
}

static void
test_weak_and_review(struct store *st)
{
	int64_t id = 0, cust = 0;
	bool created = false;

	testdb_now("2026-11-10T10:00:00Z");
	is_int(deliver(st,
	    "From: =?UTF-8?B?7J207ISc7Jew?= <seoyeon@lee.example>\n"
	    "To: kim@sales.example\n"
	    "Date: Tue, 10 Nov 2026 09:00:00 +0000\n"
	    "Message-ID: <ko1@lee.example>\n"
	    "Subject: =?UTF-8?B?66y47J2Y65Oc66a964uI64uk?=\n"
	    "Content-Type: text/plain; charset=utf-8\n\n"
	    "안녕하세요. 민준님 소개로 연락드립니다. 견적을 받고 싶습니다.\n"),
	    1, "a first message naming a customer by given name: one");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM referrals WHERE state = "
	    "'pending' AND strength = 'weak' AND referred_id IS NULL"
	    " AND referred_addr = 'seoyeon@lee.example'"), 1,
	    "weak: pending, no customer yet");
	is_int(planned_referrals(st, "2026-10-01T00:00:00Z",
	    "2026-11-10T10:00:00Z"), 1, "a pending one is not planned");
	store_referral_pending_foreach(st, first_pending, &id);
	ok(id > 0, "listed as pending");
	is_int(store_referral_reject(st, 9999), STORE_NOTFOUND,
	    "reject of no such row");

	testdb_now("2026-12-20T10:00:00Z");
	is_int(store_referral_confirm(st, id, true, &cust, &created), STORE_OK,
	    "a person confirms it");
	ok(created && cust > 0, "the person became a customer");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM customers WHERE source = "
	    "'referral' AND referred_by = 2 AND name = '이서연'"), 1,
	    "named from the display name, referred by 김민준");
	is_int(store_referral_confirm(st, id, true, NULL, NULL), STORE_CONFLICT,
	    "confirmed twice: conflict");
	is_int(planned_referrals(st, "2026-11-20T10:00:00Z",
	    "2026-12-20T10:00:00Z"), 1,
	    "confirmed 40 days later: planned from the decision");
}

static void
test_reject(struct store *st)
{
	int64_t id = 0;

	testdb_now("2026-12-21T10:00:00Z");
	is_int(deliver(st,
	    "From: Dora Vance <dora@vance.example>\n"
	    "To: kim@sales.example\n"
	    "Date: Mon, 21 Dec 2026 09:00:00 +0000\n"
	    "Message-ID: <d1@vance.example>\n"
	    "Subject: Quote\n\n"
	    "Hello, Bob suggested I write to you about a quote.\n"), 1,
	    "a weak mention by given name: one");
	store_referral_pending_foreach(st, first_pending, &id);
	ok(id > 0, "pending");
	is_int(store_referral_reject(st, id), STORE_OK, "rejected");
	is_int(store_referral_reject(st, id), STORE_CONFLICT,
	    "rejected twice: conflict");
	is_int(deliver(st,
	    "From: Dora Vance <dora@vance.example>\n"
	    "To: kim@sales.example\n"
	    "Date: Mon, 21 Dec 2026 09:00:00 +0000\n"
	    "Message-ID: <d2@vance.example>\n"
	    "Subject: Quote\n\n"
	    "Hello, Bob suggested I write to you about a quote.\n"), 0,
	    "the same mail again: nothing proposed");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM referrals WHERE referred_addr ="
	    " 'dora@vance.example'"), 1, "still the one rejected row");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM customers WHERE name = "
	    "'Dora Vance'"), 0, "no customer for a rejected one");
}

static void
test_near_misses(struct store *st)
{
	testdb_now("2026-12-22T10:00:00Z");
	is_int(deliver(st,
	    "From: Anna Schmidt <anna@schmidt.example>\n"
	    "To: kim@sales.example\n"
	    "Cc: Eve <eve@new.example>\n"
	    "Date: Tue, 22 Dec 2026 09:00:00 +0000\n"
	    "Message-ID: <auto1@schmidt.example>\n"
	    "Auto-Submitted: auto-replied\n"
	    "Subject: Out of office\n\n"
	    "I am away. Let me introduce you to my deputy Eve.\n"), 0,
	    "an auto-reply: nothing");
	is_int(deliver(st,
	    "From: News <news@shop.example>\n"
	    "To: anna@schmidt.example, bob@lee.example, minjun@kim.example,\n"
	    " a1@x.example, a2@x.example, a3@x.example\n"
	    "Cc: kim@sales.example\n"
	    "Date: Tue, 22 Dec 2026 09:30:00 +0000\n"
	    "Message-ID: <nl1@shop.example>\n"
	    "Subject: Our newsletter\n\n"
	    "Anna Schmidt recommended you to us!\n"), 0,
	    "a newsletter to many customers: nothing");
	is_int(deliver(st,
	    "From: Anna Schmidt <anna@schmidt.example>\n"
	    "To: kim@sales.example\n"
	    "Cc: Anna Schmidt <anna.s@gmail.example>\n"
	    "Date: Tue, 22 Dec 2026 10:00:00 +0000\n"
	    "Message-ID: <self1@schmidt.example>\n"
	    "Subject: Intro\n\n"
	    "Let me introduce my private address, Anna Schmidt.\n"), 0,
	    "self-referral: nothing");
	is_int(deliver(st,
	    "From: Anna Schmidt <anna@schmidt.example>\n"
	    "To: kim@sales.example\n"
	    "Cc: Lee <lee@sales.example>\n"
	    "Date: Tue, 22 Dec 2026 10:30:00 +0000\n"
	    "Message-ID: <own1@schmidt.example>\n"
	    "Subject: Intro\n\n"
	    "Let me introduce you to Lee.\n"), 0,
	    "the user's own colleague: nothing");
}

static void
test_triggers(struct store *st)
{
	struct customer c;
	int64_t fred, gus;
	bool changed;

	testdb_now("2026-12-23T10:00:00Z");
	fred = add_customer(st, "Fred Import", "fred@import.example", "import",
	    anna);
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM referrals WHERE referred_id ="
	    " (SELECT customer_id FROM customer_emails WHERE address ="
	    " 'fred@import.example') AND state = 'confirmed' AND evidence_kind"
	    " = 'import' AND referrer_id = 1"), 1,
	    "an imported referred_by is a confirmed referral");
	gus = add_customer(st, "Gus Later", "gus@later.example", "import", 0);
	customer_init(&c);
	if (store_customer_get(st, gus, &c) != STORE_OK)
		abort();
	c.referred_by = bob;
	is_int(store_customer_update(st, &c, &changed), STORE_OK,
	    "referred_by set later");
	customer_clear(&c);
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM referrals WHERE referrer_id = 3"
	    " AND evidence_kind = 'import'"), 1, "... is a referral too");
	add_customer(st, "Hal Ref", "hal@ref.example", "referral", anna);
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM referrals r JOIN customers c ON"
	    " c.id = r.referred_id WHERE c.name = 'Hal Ref'"), 0,
	    "a customer made by a referral gets its row from its maker");
	is_int(store_referral_add(st, anna, fred, clock_now(), "manual", NULL),
	    STORE_CONFLICT, "the pair once only");
	is_int(planned_referrals(st, "2026-12-22T00:00:00Z",
	    "2026-12-23T10:00:00Z"), 2, "both imported ones are planned");
}

/* A meeting of a customer with a new person: the meeting rule, weak. */
static void
test_meeting(struct store *st)
{
	struct event_attendee att[2] = {
		{ "anna@schmidt.example", "Anna", EVENT_ROLE_REQ,
		    EVENT_PART_ACCEPTED },
		{ "ivy@new.example", "Ivy", EVENT_ROLE_REQ,
		    EVENT_PART_ACCEPTED },
	};
	struct event ev = { .uid = "meet-1@cal.example",
	    .start = testdb_at("2027-01-10T10:00:00Z"),
	    .end = testdb_at("2027-01-10T11:00:00Z"),
	    .summary = "Espresso tasting", .organizer = "anna@schmidt.example",
	    .attendees = att, .nattendees = 2 };
	struct event_list list = { &ev, 1, 1 };
	struct store_event_occ occ = { &ev, NULL, 0 };

	testdb_now("2027-01-05T10:00:00Z");
	is_int(store_event_put(st, "work", "/cal/kim/", "/cal/kim/m1.ics",
	    "\"1\"", &occ, 1), STORE_OK, "meeting stored");
	is_int(referral_ingest_events(ri, "work", "/cal/kim/", &list),
	    1, "a customer meeting a new person: one candidate");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM referrals WHERE rule = "
	    "'meeting:customer-with-new' AND state = 'pending' AND "
	    "evidence_kind = 'event' AND referred_addr = 'ivy@new.example'"
	    " AND evidence_id = (SELECT id FROM events"
	    "  WHERE uid = 'meet-1@cal.example')"), 1,
	    "pending, with the event as evidence");
	is_int(referral_ingest_events(ri, "work", "/cal/kim/", &list),
	    0, "the same meeting synced again: nothing new");
	att[1].addr = "carl@berg.example";
	ev.uid = "meet-2@cal.example";
	occ.ev = &ev;
	store_event_put(st, "work", "/cal/kim/", "/cal/kim/m2.ics", "\"1\"",
	    &occ, 1);
	is_int(referral_ingest_events(ri, "work", "/cal/kim/", &list),
	    0, "a meeting with a customer only: nothing");
}

/*
 * The detector outlives many messages; customers are the store's, looked
 * up for each message, so one added during the sync counts at once.
 */
static void
test_customer_added_midway(struct store *st)
{
	testdb_now("2027-02-01T10:00:00Z");
	is_int(deliver(st,
	    "From: Dora Lind <dora@lind.example>\n"
	    "To: Kim Sales <kim@sales.example>\n"
	    "Cc: Finn Olsen <finn@olsen.example>\n"
	    "Date: Mon, 01 Feb 2027 09:00:00 +0000\n"
	    "Message-ID: <intro1@lind.example>\n"
	    "Subject: Introduction: Finn Olsen\n\n"
	    "Hi Kim,\n\nlet me introduce you to Finn.\n\nDora\n"), 0,
	    "an introduction by a stranger: nothing");
	add_customer(st, "Dora Lind", "dora@lind.example", NULL, 0);
	is_int(deliver(st,
	    "From: Dora Lind <dora@lind.example>\n"
	    "To: Kim Sales <kim@sales.example>\n"
	    "Cc: Gus Moe <gus@moe.example>\n"
	    "Date: Mon, 01 Feb 2027 09:30:00 +0000\n"
	    "Message-ID: <intro2@lind.example>\n"
	    "Subject: Introduction: Gus Moe\n\n"
	    "Hi Kim,\n\nlet me introduce you to Gus.\n\nDora\n"), 1,
	    "the same writer added as a customer meanwhile: a referral");
	add_customer(st, "Hana Ito", "hana@ito.example", NULL, 0);
	is_int(deliver(st,
	    "From: Ida Berg <ida@berg2.example>\n"
	    "To: Kim Sales <kim@sales.example>\n"
	    "Date: Mon, 01 Feb 2027 10:00:00 +0000\n"
	    "Message-ID: <first@berg2.example>\n"
	    "Subject: Espresso machines\n\n"
	    "Hello, I was referred by Hana Ito. Could we talk?\n"), 1,
	    "a customer added meanwhile is found by name");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM referrals r JOIN "
	    "customers c ON c.id = r.referrer_id WHERE c.name IN "
	    "('Dora Lind', 'Hana Ito')"), 2, "both name the new customers");
}

int
main(void)
{
	struct store *st;
	char *own_domains[] = { "sales.example" };

	testdb_now("2026-11-01T00:00:00Z");
	testdb_open(&tdb, "refstore");
	st = tdb.st;
	ok(store_version(st) >= 4, "schema has referral states");
	memset(&cfg, 0, sizeof(cfg));
	cfg.from = "Kim Sales <kim@sales.example>";
	cfg.link.fold_plus = true;
	cfg.link.own_domains = own_domains;
	cfg.link.n_own_domains = 1;
	lk = linker_new(&cfg);
	ri = referral_ingest_new(st, &cfg, lk);

	anna = add_customer(st, "Anna Schmidt", "anna@schmidt.example", NULL, 0);
	minjun = add_customer(st, "김민준", "minjun@kim.example", NULL, 0);
	bob = add_customer(st, "Bob Lee", "bob@lee.example", NULL, 0);

	test_lookups(st);
	test_strong_intro(st);
	test_weak_and_review(st);
	test_reject(st);
	test_near_misses(st);
	test_triggers(st);
	test_meeting(st);
	test_customer_added_midway(st);

	referral_ingest_free(ri);
	linker_free(lk);
	testdb_close(&tdb);
	return tap_done();
}
