/*
 * The daily agenda (agenda.h, store_agenda.h): the day's meetings in time
 * order with each customer's context, cancelled and declined ones left
 * out, values that cannot inject Markdown or lines, the .ics parsed back
 * with libical (visits in UTC), the once-a-day record, and the tick
 * writing one agenda into [send] dry_run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libical/ical.h>

#include "agenda.h"
#include "clock.h"
#include "config.h"
#include "store.h"
#include "store_agenda.h"
#include "store_event.h"
#include "store_outbox.h"
#include "tap.h"
#include "testdb.h"
#include "template.h"
#include "xmalloc.h"

static struct testdb tdb;

static int64_t
add_customer(struct store *st, const char *name, const char *email,
    const char *company, int bm, int bd)
{
	struct customer c;

	customer_init(&c);
	c.name = xstrdup(name);
	if (company)
		c.company = xstrdup(company);
	c.birth_month = bm;
	c.birth_day = bd;
	customer_add_email(&c, email);
	return testdb_insert(st, &c);
}

/* One event in calendar /cal/, linked to customer (0: none). */
static void
put_event(struct store *st, const char *uid, const char *start,
    const char *summary, const char *location, int64_t customer,
    enum event_status status, struct event_attendee *att)
{
	struct event e;
	struct store_event_link l = { customer, EVENT_RULE_ATTENDEE, "x" };
	struct store_event_occ occ = { &e, &l, customer ? 1 : 0 };
	char href[128];

	memset(&e, 0, sizeof(e));
	e.uid = (char *)uid;
	e.start = testdb_at(start);
	e.end = e.start + 3600;
	e.summary = (char *)summary;
	e.location = (char *)location;
	e.status = status;
	if (att) {
		e.attendees = att;
		e.nattendees = 1;
	}
	snprintf(href, sizeof(href), "/cal/%s.ics", uid);
	if (store_event_put(st, "work", "/cal/", href, "\"1\"", &occ, 1) !=
	    STORE_OK)
		abort();
}

static void
plan_followup(struct store *st, int64_t customer)
{
	struct outbox_row r;
	int64_t id;

	outbox_row_init(&r);
	r.kind = (char *)"follow-up";
	r.template = (char *)"followup-sale-1";
	r.customer_id = customer;
	r.occurrence = (char *)"sale:1";
	r.due_at = testdb_at("2026-12-03T09:00:00Z");
	r.created_at = testdb_at("2026-11-30T09:00:00Z");
	if (store_outbox_plan(st, &r, &id) != STORE_OK)
		abort();
}

static int64_t anna, ben, evil;

static void
fixture(struct store *st)
{
	struct event_attendee me = { (char *)"kim@sales.example", NULL,
	    EVENT_ROLE_REQ, EVENT_PART_DECLINED };
	char sql[1024];

	anna = add_customer(st, "Anna Adler", "anna@acme.example", "Acme GmbH",
	    12, 4);
	ben = add_customer(st, "Ben Berger", "ben@b.example", NULL, 0, 0);
	evil = add_customer(st, "[x](http://evil)\r\n- injected", "e@e.example",
	    NULL, 0, 0);
	/* Local day 2026-12-01 in Europe/Berlin (UTC+1). */
	put_event(st, "e-lunch", "2026-12-01T12:00:00Z", "Lunch\r\n- fake item",
	    "<b>Café</b>", evil, EVENT_CONFIRMED, NULL);
	put_event(st, "e-review", "2026-12-01T08:00:00Z", "Quarterly review",
	    "Acme office", anna, EVENT_CONFIRMED, NULL);
	put_event(st, "e-sync", "2026-12-01T10:00:00Z", "Internal sync", NULL,
	    0, EVENT_CONFIRMED, NULL);
	put_event(st, "e-cancel", "2026-12-01T09:00:00Z", "Cancelled thing",
	    NULL, anna, EVENT_CANCELLED, NULL);
	put_event(st, "e-declined", "2026-12-01T11:00:00Z", "Declined thing",
	    NULL, anna, EVENT_CONFIRMED, &me);
	put_event(st, "e-tomorrow", "2026-12-01T23:30:00Z", "Tomorrow thing",
	    NULL, anna, EVENT_CONFIRMED, NULL);
	put_event(st, "e-early", "2026-11-30T22:30:00Z", "Early thing", NULL,
	    0, EVENT_CONFIRMED, NULL);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO messages (id, account, folder, dedupe_key, date,"
	    " subject, ingested_at) VALUES"
	    " (101, 'w', 'INBOX', 'k1', %lld, 'Re: offer', 0),"
	    " (102, 'w', 'INBOX', 'k2', %lld, 'After the review', 0);"
	    "INSERT INTO links (customer_id, object_kind, object_id, rule,"
	    " created_at) VALUES (%lld, 'message', 101, 'address:from', 0),"
	    " (%lld, 'message', 102, 'address:from', 0);"
	    "INSERT INTO referrals (referrer_id, referred_id, at, created_at)"
	    " VALUES (%lld, %lld, 0, 0);"
	    "INSERT INTO visit_proposals (customer_id, period, uid, start_at,"
	    " end_at, created_at, updated_at) VALUES (%lld, '2026-12',"
	    " 'rapport-visit-ben', %lld, %lld, 0, 0);",
	    (long long)testdb_at("2026-11-20T10:00:00Z"),
	    (long long)testdb_at("2026-12-01T09:30:00Z"), (long long)anna,
	    (long long)anna, (long long)anna, (long long)ben, (long long)ben,
	    (long long)testdb_at("2026-12-01T14:00:00Z"),
	    (long long)testdb_at("2026-12-01T15:00:00Z"));
	testdb_exec(&tdb, sql);
	plan_followup(st, anna);
}

static const char *
pos(const char *hay, const char *needle)
{
	const char *p = strstr(hay, needle);

	return p ? p : hay + strlen(hay) + 1;
}

static void
test_compose(struct store *st, const struct config *cfg)
{
	struct agenda a;
	char err[256];
	const char *s;

	agenda_init(&a);
	is_int(agenda_compose(st, cfg, testdb_at("2026-12-01T07:00:00Z"), "en",
	    &a, err, sizeof(err)), 0, "the agenda composes");
	s = strbuf_str(&a.items);
	is_str(a.date, "2026-12-01", "the local day");
	is_int(a.nmeetings, 3, "three meetings (cancelled, declined, other "
	    "days left out)");
	ok(pos(s, "Quarterly review") < pos(s, "Internal sync") &&
	    pos(s, "Internal sync") < pos(s, "Lunch"), "in time order");
	ok(strstr(s, "09:00–10:00  Quarterly review @ Acme office") != NULL,
	    "local times and location");
	ok(strstr(s, "With: Anna Adler (Acme GmbH)") != NULL, "who");
	ok(strstr(s, "Last contact: 2026-11-20 “Re: offer”") != NULL,
	    "last contact before the meeting, with its subject");
	ok(strstr(s, "After the review") == NULL, "not a later message");
	ok(strstr(s, "Open follow-ups: followup-sale-1 (2026-12-03)") != NULL,
	    "open follow-ups");
	ok(strstr(s, "Birthday: 12-04, in 3 days") != NULL,
	    "birthday within 7 days");
	ok(strstr(s, "Referred: 1 (Ben Berger)") != NULL, "referrals made");
	ok(strstr(s, "Cancelled") == NULL && strstr(s, "Declined") == NULL &&
	    strstr(s, "Tomorrow") == NULL && strstr(s, "Early") == NULL,
	    "nothing else");
	ok(strchr(s, '\r') == NULL, "no CR");
	ok(strstr(s, "\n- ") == NULL, "no value starts a line of its own");
	ok(strstr(s, "Lunch  - fake item") != NULL, "CR/LF become blanks");
	ok(strstr(s, "Last contact: no contact yet") != NULL,
	    "a customer without contact");
	agenda_free(&a);

	agenda_init(&a);
	agenda_compose(st, cfg, testdb_at("2026-12-01T07:00:00Z"), "ko", &a,
	    err, sizeof(err));
	ok(strstr(strbuf_str(&a.items), "최근 연락: 2026-11-20") != NULL,
	    "Korean labels");
	ok(strstr(strbuf_str(&a.items), "3일 후") != NULL, "Korean days");
	agenda_free(&a);

	agenda_init(&a);
	agenda_compose(st, cfg, testdb_at("2026-12-05T07:00:00Z"), "en", &a,
	    err, sizeof(err));
	is_int(a.nmeetings, 0, "a day without meetings");
	agenda_free(&a);
}

static void
test_ics(struct store *st, const struct config *cfg)
{
	struct agenda a;
	icalcomponent *cal, *ev;
	char err[256];
	int n = 0, utc = 0, found_review = 0, found_visit = 0, found_sync = 0;

	agenda_init(&a);
	agenda_compose(st, cfg, testdb_at("2026-12-01T07:00:00Z"), "en", &a,
	    err, sizeof(err));
	cal = icalparser_parse_string(strbuf_str(&a.ics));
	ok(cal != NULL && icalcomponent_isa(cal) == ICAL_VCALENDAR_COMPONENT,
	    "the .ics parses back as a VCALENDAR");
	for (ev = cal ? icalcomponent_get_first_component(cal,
	    ICAL_VEVENT_COMPONENT) : NULL; ev; ev =
	    icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT)) {
		struct icaltimetype t = icalcomponent_get_dtstart(ev);
		const char *uid = icalcomponent_get_uid(ev);

		n++;
		utc += icaltime_is_utc(t);
		if (strcmp(uid, "e-review") == 0 &&
		    icaltime_as_timet(t) == testdb_at("2026-12-01T08:00:00Z") &&
		    icaltime_as_timet(icalcomponent_get_dtend(ev)) ==
		    testdb_at("2026-12-01T09:00:00Z"))
			found_review = 1;
		if (strcmp(uid, "rapport-visit-ben") == 0 &&
		    strcmp(icalcomponent_get_summary(ev), "Visit: Ben Berger") ==
		    0 && icalcomponent_get_status(ev) == ICAL_STATUS_TENTATIVE)
			found_visit = 1;
		if (strcmp(uid, "e-sync") == 0)
			found_sync = 1;
	}
	is_int(n, 3, "three visits: two meetings with customers, a proposal");
	is_int(utc, 3, "all in UTC");
	ok(found_review, "the review at 08:00Z-09:00Z");
	ok(found_visit, "the proposal, tentative");
	ok(!found_sync, "a meeting without customers is no visit");
	is_int(a.nvisits, 3, "nvisits counts them");
	if (cal)
		icalcomponent_free(cal);
	agenda_free(&a);
}

static const char *
items_lookup(void *ctx, const char *name)
{
	if (strcmp(name, "agenda.items") == 0)
		return strbuf_str(&((struct agenda *)ctx)->items);
	if (strcmp(name, "agenda.date") == 0)
		return ((struct agenda *)ctx)->date;
	return NULL;
}

static void
test_render(struct store *st, struct config *cfg,
    const struct template_set *set)
{
	struct template_output o;
	struct strbuf msg;
	struct agenda a;
	char err[256], *rcpt = NULL, *from = NULL;
	const char *ko;

	agenda_init(&a);
	agenda_compose(st, cfg, testdb_at("2026-12-01T07:00:00Z"), "en", &a,
	    err, sizeof(err));
	template_output_init(&o);
	template_render(template_set_get(set, AGENDA_TEMPLATE, "en"),
	    items_lookup, &a, &o);
	ok(strstr(strbuf_str(&o.html), "<a ") == NULL &&
	    strstr(strbuf_str(&o.html), "<b>") == NULL,
	    "no link and no tag from values in the HTML");
	ok(strstr(strbuf_str(&o.html), "[x](http://evil)") != NULL,
	    "the name stays text");
	ok(strstr(strbuf_str(&o.html), "<li>") == NULL,
	    "no list item from a value");
	is_str(strbuf_str(&o.subject), "Your agenda for 2026-12-01",
	    "English subject");
	template_output_free(&o);

	strbuf_init(&msg, 0);
	is_int(agenda_build(cfg, NULL, set, &a, "<a.1@sales.example>",
	    testdb_at("2026-12-01T07:00:00Z"), &msg, &rcpt, &from, err,
	    sizeof(err)), 0, "the message builds");
	is_str(rcpt, "boss@sales.example", "to [agenda] to");
	is_str(from, "kim@sales.example", "from [rapport] from");
	ok(strstr(strbuf_str(&msg), "Content-Type: text/calendar") != NULL,
	    "a text/calendar part");
	ok(strstr(strbuf_str(&msg), "agenda-2026-12-01.ics") != NULL,
	    "named agenda-DAY.ics");
	free(rcpt);
	free(from);
	strbuf_reset(&msg);
	cfg->agenda.lang = (char *)"ko";
	is_int(agenda_build(cfg, NULL, set, &a, "<a.1@sales.example>",
	    testdb_at("2026-12-01T07:00:00Z"), &msg, &rcpt, &from, err,
	    sizeof(err)), 0, "the Korean message builds");
	ko = strstr(strbuf_str(&msg), "Subject: =?UTF-8?");
	ok(ko != NULL, "an encoded Korean subject");
	cfg->agenda.lang = NULL;
	free(rcpt);
	free(from);
	strbuf_free(&msg);
	agenda_free(&a);
}

static void
test_claim(struct store *st)
{
	char *mid = NULL, *state = NULL;
	int n;
	int64_t t = testdb_at("2026-12-02T07:00:00Z");

	is_int(store_agenda_claim(st, "2026-12-02", "u@x", "<m1@x>", t, 600,
	    &mid, &n), STORE_OK, "a day is claimed");
	is_str(mid, "<m1@x>", "with its Message-ID");
	free(mid);
	is_int(store_agenda_claim(st, "2026-12-02", "u@x", "<m2@x>", t + 10,
	    600, &mid, &n), STORE_CONFLICT, "not twice while held");
	is_int(store_agenda_finish(st, "2026-12-02", "u@x", "sending", 2,
	    t + 60, "421 busy"), STORE_OK, "a retry is scheduled");
	is_int(store_agenda_claim(st, "2026-12-02", "u@x", "<m3@x>", t + 30,
	    600, &mid, &n), STORE_CONFLICT, "not before the retry time");
	is_int(store_agenda_claim(st, "2026-12-02", "u@x", "<m4@x>", t + 61,
	    600, &mid, &n), STORE_OK, "claimed again after it");
	is_str(mid, "<m1@x>", "the first Message-ID is kept");
	is_int(n, 2, "second attempt");
	free(mid);
	is_int(store_agenda_finish(st, "2026-12-02", "u@x", "sent", 2, t + 62,
	    "250 ok"), STORE_OK, "sent");
	is_int(store_agenda_claim(st, "2026-12-02", "u@x", "<m5@x>", t + 9999,
	    600, &mid, &n), STORE_CONFLICT, "a sent day is never claimed again");
	store_agenda_state(st, "2026-12-02", "u@x", &state);
	is_str(state, "sent", "state sent");
	free(state);
}

static bool
exists(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0;
}

static void
test_tick(struct store *st, struct config *cfg,
    const struct template_set *set)
{
	char dry[160], eml[256], seen[300], *state = NULL;

	snprintf(dry, sizeof(dry), "%s/dry", tdb.dir);
	snprintf(eml, sizeof(eml), "%s/agenda-2026-12-01.eml", dry);
	cfg->send.dry_run = dry;
	is_int(agenda_tick(st, cfg, NULL, set,
	    testdb_at("2026-12-01T06:59:00Z")), 0,
	    "before the hour");
	ok(!exists(eml), "nothing before 08:00 local");
	is_int(agenda_tick(st, cfg, NULL, set,
	    testdb_at("2026-12-01T07:00:00Z")), 0,
	    "at the hour");
	ok(exists(eml), "the agenda is written");
	snprintf(seen, sizeof(seen), "%s.seen", eml);
	rename(eml, seen);
	agenda_tick(st, cfg, NULL, set, testdb_at("2026-12-01T09:00:00Z"));
	ok(!exists(eml), "once a day");
	store_agenda_state(st, "2026-12-01", "boss@sales.example", &state);
	is_str(state, "sent", "recorded as sent");
	free(state);
	agenda_tick(st, cfg, NULL, set, testdb_at("2026-12-05T08:00:00Z"));
	store_agenda_state(st, "2026-12-05", "boss@sales.example", &state);
	is_str(state, "empty", "a day without meetings is recorded empty");
	free(state);
	snprintf(eml, sizeof(eml), "%s/agenda-2026-12-05.eml", dry);
	ok(!exists(eml), "and sends nothing");
	cfg->agenda.hour = -1;
	agenda_tick(st, cfg, NULL, set, testdb_at("2026-12-06T08:00:00Z"));
	ok(store_agenda_state(st, "2026-12-06", "boss@sales.example",
	    &state) == STORE_NOTFOUND, "no agenda when hour is none");
	cfg->agenda.hour = 8;
	cfg->send.dry_run = NULL;
}

int
main(void)
{
	struct template_set *set = NULL;
	struct config cfg;
	struct store *st;

	testdb_now("2026-12-01T07:00:00Z");
	testdb_open(&tdb, "agenda");
	st = tdb.st;
	memset(&cfg, 0, sizeof(cfg));
	cfg.timezone = (char *)"Europe/Berlin";
	cfg.from = (char *)"Kim Sales <kim@sales.example>";
	cfg.link.fold_plus = true;
	cfg.send.retry_max = 8;
	cfg.send.feb29_on_feb28 = true;
	cfg.agenda.hour = 8;
	cfg.agenda.to = (char *)"Boss <boss@sales.example>";
	template_set_load(TOP_SRCDIR "/templates", &set, NULL, NULL);
	fixture(st);
	test_compose(st, &cfg);
	test_ics(st, &cfg);
	test_render(st, &cfg, set);
	test_claim(st);
	test_tick(st, &cfg, set);
	template_set_free(set);
	/* AGENDA_KEEP=1 keeps the folder, to read the dry-run agenda. */
	if (getenv("AGENDA_KEEP")) {
		store_close(st);
		printf("# kept %s\n", tdb.dir);
		return tap_done();
	}
	testdb_close(&tdb);
	return tap_done();
}
