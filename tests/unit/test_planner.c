/*
 * Unit tests of the planner (daemon/planner.c, daemon/store_plan.c): a
 * temporary database, templates written to a temporary folder, facts
 * inserted through the store (or raw SQL where the store has no writer
 * yet), and passes at chosen instants.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "planner.h"
#include "store.h"
#include "template.h"
#include "tap.h"
#include "testdb.h"

static struct testdb tdb;
static char tdir[128];
static struct store *st;
static struct template_set *set;
static struct config cfg;

static char *
vformat(const char *fmt, va_list ap)
{
	char *sql;

	if (vasprintf(&sql, fmt, ap) < 0)
		abort();
	return sql;
}

static void
raw_exec(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Facts the store has no writer for, on a second connection. */
static void
raw_exec(const char *fmt, ...)
{
	va_list ap;
	char *sql;

	va_start(ap, fmt);
	sql = vformat(fmt, ap);
	va_end(ap);
	testdb_exec(&tdb, sql);
	free(sql);
}

/* The first column of the first row as text ("" when no row). */
static char *
raw_str(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *
raw_str(const char *fmt, ...)
{
	static char buf[4][256];
	static int k;
	char *sql, *out = buf[k++ % 4];
	va_list ap;

	va_start(ap, fmt);
	sql = vformat(fmt, ap);
	va_end(ap);
	testdb_str(&tdb, sql, out, sizeof(buf[0]));
	free(sql);
	return out;
}

#define raw_int(...) atoll(raw_str(__VA_ARGS__))

static void
write_template(const char *name, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tdir, name);
	if ((f = fopen(p, "w")) == NULL || fputs(text, f) < 0 || fclose(f))
		abort();
}

static void
load_error(void *arg, const char *msg)
{
	printf("# template: %s\n", msg);
}

static void
write_templates(void)
{
	write_template("followup-sale-1.md",
	    "Kind: follow-up\nTrigger: sale\nAfter: 3d\nUnless: replied\n"
	    "Subject: How is your {{sale.product}}?\n\nHi.\n");
	write_template("followup-sale-1.ko.md",
	    "Kind: follow-up\nTrigger: sale\nAfter: 3d\nUnless: replied\n"
	    "Subject: {{sale.product}}\n\n안녕하세요.\n");
	write_template("followup-sale-2.md",
	    "Kind: follow-up\nTrigger: sale\nAfter: 30d\nUnless: replied\n"
	    "Subject: One month\n\nHi.\n");
	write_template("followup-meeting.md",
	    "Kind: follow-up\nTrigger: meeting\nAfter: 1d\n"
	    "Subject: Thank you for your time\n\nHi.\n");
	write_template("welcome.md",
	    "Kind: follow-up\nTrigger: first-message\nAfter: 2h\n"
	    "Unless: replied\nSubject: Welcome\n\nHi.\n");
	write_template("birthday.md",
	    "Kind: birthday\nAt: 09:00\nSubject: Happy birthday\n\nHi.\n");
	write_template("newsletter.md",
	    "Kind: newsletter\nAudience: tag:newsletter and not tag:vip\n"
	    "Schedule: RRULE:FREQ=MONTHLY;BYDAY=1TU\n"
	    "Subject: This month\n\nNews.\n");
	write_template("launch.md",
	    "Kind: newsletter\nAudience: lang:ko\n"
	    "Schedule: 2026-12-03T10:00\nSubject: Launch\n\nNews.\n");
	write_template("referral-thanks.md",
	    "Kind: referral-thanks\nAfter: 1d\n"
	    "Subject: Thank you for {{referral.first_name}}\n\nThanks.\n");
	write_template("referral-sale.md",
	    "Kind: referral-thanks\nTrigger: sale\nAfter: 2h\n"
	    "Subject: {{referral.first_name}} bought {{sale.product}}\n\nThanks.\n");
}

struct cust {
	const char	*name, *email, *tz, *lang;
	int		 bm, bd;
	bool		 newsletter, dnc;
	const char	*tags[3];
};

static int64_t
add(const struct cust *k)
{
	struct customer c;

	customer_init(&c);
	c.name = strdup(k->name);
	c.tz = k->tz ? strdup(k->tz) : NULL;
	c.lang = k->lang ? strdup(k->lang) : NULL;
	c.birth_month = k->bm;
	c.birth_day = k->bd;
	c.newsletter = k->newsletter;
	c.do_not_contact = k->dnc;
	customer_add_email(&c, k->email);
	for (int i = 0; i < 3 && k->tags[i]; i++)
		customer_add_tag(&c, k->tags[i]);
	return testdb_insert(st, &c);
}

/* A pass at iso; returns how many rows it added to the outbox. */
static long long
plan_at(const char *iso)
{
	long long before = raw_int("SELECT count(*) FROM outbox");

	if (planner_run(st, &cfg, set, (time_t)testdb_at(iso)) != 0)
		printf("# planner_run failed at %s\n", iso);
	return raw_int("SELECT count(*) FROM outbox") - before;
}

static long long
rows(int64_t customer, const char *tmpl)
{
	return raw_int("SELECT count(*) FROM outbox WHERE customer_id = %lld"
	    " AND template = '%s'", (long long)customer, tmpl);
}

static const char *
due(int64_t customer, const char *tmpl)
{
	int64_t t = raw_int("SELECT due_at FROM outbox WHERE customer_id ="
	    " %lld AND template = '%s'", (long long)customer, tmpl);
	static char buf[4][32];
	static int k;
	char *out = buf[k++ % 4];

	clock_format_utc(t, out, sizeof(buf[0]));
	return out;
}

/* ---- follow-ups ---- */

static void
test_sale_sequence(void)
{
	struct cust a = { .name = "Ann Sale", .email = "ann@example.com" };
	struct cust b = { .name = "Bob Sale", .email = "bob@example.com" };
	struct cust o = { .name = "Old Sale", .email = "old@example.com" };
	int64_t ida = add(&a), idb = add(&b), ido = add(&o), sale;

	store_sale_add(st, ida, "Widget", testdb_at("2026-11-02T10:00:00Z"),
	    "manual",
	    &sale);
	store_sale_add(st, idb, "Gadget", testdb_at("2026-11-02T11:00:00Z"),
	    "manual",
	    NULL);
	/* Before the horizon: a fresh install must not mail old customers. */
	store_sale_add(st, ido, "Relic", testdb_at("2026-09-01T10:00:00Z"),
	    "manual",
	    NULL);
	plan_at("2026-11-02T12:00:00Z");
	is_int(rows(ida, "followup-sale-1"), 1,
	    "a sale plans step 1 once (language variants share the row)");
	is_str(due(ida, "followup-sale-1"), "2026-11-05T10:00:00Z",
	    "step 1 is due 3 days after the sale");
	is_str(due(ida, "followup-sale-2"), "2026-12-02T10:00:00Z",
	    "step 2 is due 30 days after the sale");
	is_str(raw_str("SELECT occurrence || ' ' || ref_kind || ' ' || ref_id"
	    " FROM outbox WHERE customer_id = %lld AND template ="
	    " 'followup-sale-1'", (long long)ida),
	    raw_str("SELECT 'sale:%lld sale %lld'", (long long)sale,
	    (long long)sale), "occurrence and reference name the sale");
	ok(strstr(raw_str("SELECT reason FROM outbox WHERE customer_id = %lld"
	    " AND template = 'followup-sale-1'", (long long)ida),
	    "3d after sale") != NULL, "the reason says why");
	is_int(rows(ido, "followup-sale-1") + rows(ido, "followup-sale-2"), 0,
	    "a sale older than the horizon plans nothing");
	is_int(plan_at("2026-11-02T12:05:00Z"), 0,
	    "planning again plans nothing new");
	is_str(raw_str("SELECT value FROM status WHERE key ="
	    " 'planner.last_run'"), "2026-11-02T12:05:00Z",
	    "the pass is recorded in the status");

	/* Ann replies; Bob only sends an auto-reply. */
	raw_exec("INSERT INTO messages (account, folder, dedupe_key, date,"
	    " ingested_at, from_addr, author_id, is_reply) VALUES ('w', 'INBOX',"
	    " 'r1@x', %lld, 0, 'ann@example.com', %lld, 1);"
	    "INSERT INTO links (customer_id, object_kind, object_id, rule,"
	    " created_at) VALUES (%lld, 'message', last_insert_rowid(),"
	    " 'address:from', 0);",
	    (long long)testdb_at("2026-11-03T09:00:00Z"),
	    (long long)ida, (long long)ida);
	raw_exec("INSERT INTO messages (account, folder, dedupe_key, date,"
	    " ingested_at, from_addr, author_id, is_reply, is_auto_reply)"
	    " VALUES ('w', 'INBOX', 'r2@x', %lld, 0, 'bob@example.com', %lld,"
	    " 1, 1);"
	    "INSERT INTO links (customer_id, object_kind, object_id, rule,"
	    " created_at) VALUES (%lld, 'message', last_insert_rowid(),"
	    " 'address:from', 0);",
	    (long long)testdb_at("2026-11-03T09:00:00Z"),
	    (long long)idb, (long long)idb);
	plan_at("2026-11-03T10:00:00Z");
	is_str(raw_str("SELECT group_concat(state || ':' || reason, ',') FROM"
	    " outbox WHERE customer_id = %lld AND kind = 'follow-up'",
	    (long long)ida), "skipped:customer replied,skipped:customer replied",
	    "a reply ends the rest of the sequence");
	is_int(raw_int("SELECT count(*) FROM outbox WHERE customer_id = %lld"
	    " AND state = 'planned'", (long long)idb), 2,
	    "an auto-reply does not end a sequence");

	/* A second sale after the reply starts a new sequence. */
	store_sale_add(st, ida, "Widget 2", testdb_at("2026-11-04T10:00:00Z"),
	    "manual", &sale);
	plan_at("2026-11-04T10:30:00Z");
	is_int(raw_int("SELECT count(*) FROM outbox WHERE customer_id = %lld"
	    " AND state = 'planned' AND occurrence = 'sale:%lld'",
	    (long long)ida, (long long)sale), 2,
	    "a reply before a new sale does not stop its sequence");
}

static void
test_meeting(void)
{
	struct cust m = { .name = "Mia Meet", .email = "mia@example.com" };
	struct cust c = { .name = "Cal Cancel", .email = "cal@example.com" };
	int64_t idm = add(&m), idc = add(&c);

	raw_exec("INSERT INTO events (account, calendar, href, uid, summary,"
	    " start_at, end_at, ingested_at) VALUES ('w', '/c/', '/c/1.ics',"
	    " 'uid-1@x', 'Demo', %lld, %lld, 0);"
	    "INSERT INTO links (customer_id, object_kind, object_id, rule,"
	    " created_at) VALUES (%lld, 'event', last_insert_rowid(),"
	    " 'address:attendee', 0);",
	    (long long)testdb_at("2026-11-10T09:00:00Z"),
	    (long long)testdb_at("2026-11-10T10:00:00Z"), (long long)idm);
	raw_exec("INSERT INTO events (account, calendar, href, uid, summary,"
	    " start_at, end_at, ingested_at, cancelled, status) VALUES ('w',"
	    " '/c/', '/c/2.ics', 'uid-2@x', 'Off', %lld, %lld, 0, 1,"
	    " 'CANCELLED');"
	    "INSERT INTO links (customer_id, object_kind, object_id, rule,"
	    " created_at) VALUES (%lld, 'event', last_insert_rowid(),"
	    " 'address:attendee', 0);",
	    (long long)testdb_at("2026-11-10T09:00:00Z"),
	    (long long)testdb_at("2026-11-10T10:00:00Z"), (long long)idc);
	plan_at("2026-11-10T09:30:00Z");
	is_int(rows(idm, "followup-meeting"), 0,
	    "a meeting still going on plans nothing");
	plan_at("2026-11-10T10:30:00Z");
	is_str(due(idm, "followup-meeting"), "2026-11-11T10:00:00Z",
	    "a meeting that ended plans its thank-you a day after its end");
	is_str(raw_str("SELECT occurrence || ' ' || ref_kind FROM outbox"
	    " WHERE customer_id = %lld", (long long)idm),
	    "meeting:uid-1@x/2026-11-10T09:00:00Z event",
	    "the occurrence names the meeting's UID and instance");
	is_int(rows(idc, "followup-meeting"), 0,
	    "a cancelled meeting plans nothing");
}

static void
test_first_message(void)
{
	struct cust n = { .name = "Nina New", .email = "nina@example.com" };
	struct cust k = { .name = "Ken Known", .email = "ken@example.com" };
	int64_t idn = add(&n), idk = add(&k);

	raw_exec("INSERT INTO messages (account, folder, dedupe_key, date,"
	    " ingested_at, from_addr, author_id, is_reply) VALUES ('w', 'INBOX',"
	    " 'f1@x', %lld, 0, 'nina@example.com', %lld, 1);"
	    "INSERT INTO links (customer_id, object_kind, object_id, rule,"
	    " created_at) VALUES (%lld, 'message', last_insert_rowid(),"
	    " 'address:from', 0);",
	    (long long)testdb_at("2026-11-12T08:00:00Z"),
	    (long long)idn, (long long)idn);
	/* Ken got mail from us before he wrote. */
	raw_exec("INSERT INTO messages (account, folder, dedupe_key, date,"
	    " ingested_at, outgoing) VALUES ('w', 'Sent', 'o1@x', %lld, 0, 1);"
	    "INSERT INTO links (customer_id, object_kind, object_id, rule,"
	    " created_at) VALUES (%lld, 'message', last_insert_rowid(),"
	    " 'address:to', 0);"
	    "INSERT INTO messages (account, folder, dedupe_key, date,"
	    " ingested_at, from_addr, author_id, is_reply) VALUES ('w', 'INBOX',"
	    " 'f2@x', %lld, 0, 'ken@example.com', %lld, 1);"
	    "INSERT INTO links (customer_id, object_kind, object_id, rule,"
	    " created_at) VALUES (%lld, 'message', last_insert_rowid(),"
	    " 'address:from', 0);",
	    (long long)testdb_at("2026-11-11T08:00:00Z"),
	    (long long)idk, (long long)testdb_at("2026-11-12T08:00:00Z"),
	    (long long)idk, (long long)idk);
	plan_at("2026-11-12T08:30:00Z");
	is_str(due(idn, "welcome"), "2026-11-12T10:00:00Z",
	    "a new customer's first message plans the welcome 2h later");
	is_str(raw_str("SELECT state FROM outbox WHERE customer_id = %lld",
	    (long long)idn), "planned",
	    "the first message itself is not a reply that ends it");
	ok(strncmp(raw_str("SELECT occurrence FROM outbox WHERE customer_id ="
	    " %lld", (long long)idn), "first:", 6) == 0,
	    "the occurrence names the first message");
	is_int(rows(idk, "welcome"), 0,
	    "a customer we wrote to first is not new");
}

/* ---- birthdays ---- */

static void
test_birthday(void)
{
	struct cust l = { .name = "Leap Day", .email = "leap@example.com",
	    .tz = "Europe/Berlin", .bm = 2, .bd = 29 };
	struct cust s = { .name = "Seoul March", .email = "seoul@example.com",
	    .tz = "Asia/Seoul", .bm = 3, .bd = 1 };
	struct cust d = { .name = "Default Zone", .email = "dz@example.com",
	    .bm = 2, .bd = 28 };
	struct cust j = { .name = "June Later", .email = "june@example.com",
	    .bm = 6, .bd = 15 };
	struct cust x = { .name = "No Contact", .email = "nc@example.com",
	    .bm = 2, .bd = 28, .dnc = true };
	int64_t idl = add(&l), ids = add(&s), idd = add(&d), idj = add(&j),
	    idx = add(&x);

	plan_at("2027-02-27T12:00:00Z");
	is_str(due(idl, "birthday"), "2027-02-28T08:00:00Z",
	    "29 February goes out on 28 February in 2027, 09:00 Berlin");
	is_str(raw_str("SELECT occurrence FROM outbox WHERE customer_id = %lld",
	    (long long)idl), "2027", "the occurrence is the year");
	is_str(due(ids, "birthday"), "2027-03-01T00:00:00Z",
	    "09:00 in Asia/Seoul is 00:00Z");
	is_str(due(idd, "birthday"), "2027-02-28T08:00:00Z",
	    "no zone of their own: the configured zone");
	is_int(rows(idj, "birthday"), 0, "a birthday months away is not yet "
	    "planned");
	is_int(rows(idx, "birthday"), 0, "do-not-contact: no card");
	is_int(plan_at("2027-02-28T08:30:00Z"), 0,
	    "a later pass on the day plans nothing new");
	cfg.send.birthday_hour = 7;
	cfg.send.feb29_on_feb28 = false;
	is_int(plan_at("2027-02-28T09:00:00Z"), 0,
	    "a config edit does not plan a second card in one year");
	cfg.send.birthday_hour = 9;
	cfg.send.feb29_on_feb28 = true;
	plan_at("2028-02-28T12:00:00Z");
	is_str(raw_str("SELECT datetime(due_at, 'unixepoch') FROM outbox"
	    " WHERE customer_id = %lld AND occurrence = '2028'", (long long)idl),
	    "2028-02-29 08:00:00", "in a leap year the card goes on 29 February");
}

/* ---- newsletters ---- */

static void
test_newsletter(void)
{
	struct cust a = { .name = "Nl Yes", .email = "nly@example.com",
	    .newsletter = true, .tags = { "newsletter" } };
	struct cust v = { .name = "Nl Vip", .email = "nlv@example.com",
	    .newsletter = true, .tags = { "newsletter", "vip" } };
	struct cust n = { .name = "Nl NoConsent", .email = "nln@example.com",
	    .tags = { "newsletter" } };
	struct cust d = { .name = "Nl Dnc", .email = "nld@example.com",
	    .newsletter = true, .dnc = true, .tags = { "newsletter" } };
	struct cust t = { .name = "Nl Untagged", .email = "nlt@example.com",
	    .lang = "ko", .newsletter = true };
	int64_t ida = add(&a), idv = add(&v), idn = add(&n), idd = add(&d),
	    idt = add(&t);

	plan_at("2026-11-28T12:00:00Z");
	is_int(rows(ida, "newsletter"), 0, "an issue days away is not planned");
	plan_at("2026-11-30T12:00:00Z");
	is_str(raw_str("SELECT occurrence FROM outbox WHERE customer_id = %lld"
	    " AND template = 'newsletter'", (long long)ida),
	    "2026-12-01T08:00:00Z",
	    "first Tuesday of December, 09:00 Berlin; the occurrence in UTC");
	is_str(due(ida, "newsletter"), "2026-12-01T08:00:00Z",
	    "the issue is due at its occurrence");
	is_int(rows(idv, "newsletter"), 0, "the audience excludes tag:vip");
	is_int(rows(idn, "newsletter"), 0, "no consent, no newsletter");
	is_int(rows(idd, "newsletter"), 0, "do-not-contact, no newsletter");
	is_int(rows(idt, "newsletter"), 0, "not in the audience");
	is_int(plan_at("2026-12-01T08:30:00Z"), 0,
	    "each issue goes to each recipient once");
	plan_at("2026-12-02T10:00:00Z");
	is_int(rows(idt, "launch"), 1,
	    "a one-off Schedule with Audience lang:ko");
	is_str(due(idt, "launch"), "2026-12-03T09:00:00Z",
	    "a one-off Schedule is local time in the configured zone");
	is_int(rows(ida, "launch"), 0, "lang:ko holds for Korean readers only");
	plan_at("2027-01-04T12:00:00Z");
	is_int(raw_int("SELECT count(*) FROM outbox WHERE customer_id = %lld"
	    " AND occurrence = '2027-01-05T08:00:00Z'", (long long)ida), 1,
	    "January's issue: Tuesday 5 January");
	plan_at("2027-05-31T12:00:00Z");
	is_int(raw_int("SELECT count(*) FROM outbox WHERE customer_id = %lld"
	    " AND occurrence = '2027-06-01T07:00:00Z'", (long long)ida), 1,
	    "in summer time 09:00 Berlin is 07:00Z");
	is_int(raw_int("SELECT count(*) FROM outbox WHERE template ="
	    " 'newsletter'"), 3, "three issues, one recipient");
}

/* ---- referrals ---- */

static void
test_referral(void)
{
	struct cust r = { .name = "Rita Referrer", .email = "rita@example.com" };
	struct cust q = { .name = "Quinn Referred", .email = "quinn@example.com" };
	struct cust s = { .name = "Sam Second", .email = "sam@example.com" };
	int64_t idr = add(&r), idq = add(&q), ids = add(&s), sale;

	store_referral_add(st, idr, idq, testdb_at("2027-03-10T10:00:00Z"),
	    "manual",
	    NULL);
	plan_at("2027-03-10T11:00:00Z");
	is_int(rows(idr, "referral-thanks"), 1, "the referrer is thanked");
	is_str(due(idr, "referral-thanks"), "2027-03-11T10:00:00Z",
	    "after the template's delay");
	is_str(raw_str("SELECT occurrence || ' ' || ref_kind FROM outbox"
	    " WHERE customer_id = %lld", (long long)idr),
	    raw_str("SELECT 'referral:' || id || ' referral' FROM referrals"
	    " WHERE referred_id = %lld", (long long)idq),
	    "the occurrence names the referral");
	is_int(rows(idq, "referral-thanks"), 0, "the referred is not thanked");
	is_int(rows(idr, "referral-sale"), 0, "no sale yet, no second thanks");

	store_sale_add(st, idq, "Widget", testdb_at("2027-03-12T10:00:00Z"),
	    "manual",
	    &sale);
	store_sale_add(st, idq, "Widget 2", testdb_at("2027-03-13T10:00:00Z"),
	    "manual", NULL);
	store_referral_add(st, idr, ids, testdb_at("2027-03-13T10:00:00Z"),
	    "manual",
	    NULL);
	plan_at("2027-03-13T11:00:00Z");
	is_str(due(idr, "referral-sale"), "2027-03-12T12:00:00Z",
	    "the referred person's first sale thanks the referrer again");
	is_str(raw_str("SELECT ref_kind || ' ' || ref_id FROM outbox WHERE"
	    " customer_id = %lld AND template = 'referral-sale'",
	    (long long)idr), raw_str("SELECT 'sale %lld'", (long long)sale),
	    "its reference is that sale");
	is_int(rows(idr, "referral-thanks"), 2,
	    "once per referred person");
	is_int(plan_at("2027-03-14T11:00:00Z"), 0,
	    "a later sale or pass plans nothing new");
	is_int(rows(idr, "referral-sale"), 1, "one second thanks");
}

static void
test_no_templates(void)
{
	ok(planner_run(st, &cfg, NULL,
	    (time_t)testdb_at("2027-04-01T00:00:00Z")) == 0,
	    "a pass without templates plans nothing and succeeds");
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	testdb_mkdir(&tdb, "planner");
	snprintf(tdir, sizeof(tdir), "%s/templates", tdb.dir);
	if (mkdir(tdir, 0700) != 0)
		abort();
	write_templates();
	is_int(template_set_load(tdir, &set, load_error, NULL), 0,
	    "the test templates load");
	testdb_connect(&tdb);
	st = tdb.st;
	memset(&cfg, 0, sizeof(cfg));
	cfg.timezone = "Europe/Berlin";
	cfg.send.birthday_hour = 9;
	cfg.send.feb29_on_feb28 = true;

	test_sale_sequence();
	test_meeting();
	test_first_message();
	test_birthday();
	test_newsletter();
	test_referral();
	test_no_templates();

	testdb_close(&tdb);
	template_set_free(set);
	return tap_done();
}
