/*
 * Events in the store (store_event.h) and the event linker
 * (caldav_link.h): occurrences replaced in place, links by rule, last and
 * next visit, meetings that ended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caldav_link.h"
#include "clock.h"
#include "linker.h"
#include "config.h"
#include "store.h"
#include "store_event.h"
#include "store_message.h"
#include "tap.h"
#include "testdb.h"
#include "xmalloc.h"

static struct testdb tdb;

static struct event
mk_event(const char *uid, int64_t rid, const char *start, const char *summary)
{
	struct event e;

	memset(&e, 0, sizeof(e));
	e.uid = (char *)uid;
	e.recurrence_id = rid;
	e.start = testdb_at(start);
	e.end = e.start + 3600;
	e.summary = (char *)summary;
	return e;
}

static int
count_rows(void *ctx, const struct store_event_row *r)
{
	(void)r;
	(*(int *)ctx)++;
	return 0;
}

static int
count_ended(void *ctx, const struct store_event_row *r, int64_t cid)
{
	(void)r;
	(void)cid;
	(*(int *)ctx)++;
	return 0;
}

static void
test_put(struct store *st, int64_t dana, int64_t fox)
{
	struct event e[3];
	struct event_attendee att = { "fox@fbi.example", NULL, EVENT_ROLE_REQ,
	    EVENT_PART_DECLINED };
	struct store_event_link ld = { dana, EVENT_RULE_ATTENDEE,
	    "dana@fbi.example" };
	struct store_event_link lf = { fox, EVENT_RULE_ATTENDEE,
	    "fox@fbi.example" };
	struct store_event_occ occ[3];
	int64_t last, next;
	int n = 0;

	e[0] = mk_event("s@t", testdb_at("2026-05-04T08:00:00Z"),
	    "2026-05-04T08:00:00Z", "Weekly");
	e[1] = mk_event("s@t", testdb_at("2026-05-11T08:00:00Z"),
	    "2026-05-11T08:00:00Z", "Weekly");
	e[2] = mk_event("s@t", testdb_at("2026-06-08T08:00:00Z"),
	    "2026-06-08T08:00:00Z", "Weekly");
	e[2].attendees = &att;
	e[2].nattendees = 1;
	for (int i = 0; i < 3; i++)
		occ[i] = (struct store_event_occ){ &e[i], &ld, 1 };
	occ[2] = (struct store_event_occ){ &e[2], &lf, 1 };
	is_int(store_event_put(st, "w", "/cal/", "/cal/s.ics", "\"1\"", occ, 3),
	    STORE_OK, "a series is stored");
	store_event_foreach_for_customer(st, dana, 0, INT64_MAX, count_rows, &n);
	is_int(n, 2, "two occurrences linked to Dana");
	is_int(store_customer_last_next_visit(st, dana, &last, &next),
	    STORE_OK, "last/next visit");
	is_int(last, testdb_at("2026-05-11T08:00:00Z"), "Dana's last visit");
	is_int(next, 0, "Dana has nothing scheduled");
	store_customer_last_next_visit(st, fox, &last, &next);
	is_int(next, 0, "a meeting Fox declined is no visit");

	/* The second occurrence goes, the first changes: its id stays. */
	n = 0;
	e[0].summary = (char *)"Weekly (changed)";
	is_int(store_event_put(st, "w", "/cal/", "/cal/s.ics", "\"2\"", occ, 1),
	    STORE_OK, "the resource changes");
	store_event_foreach_for_customer(st, dana, 0, INT64_MAX, count_rows, &n);
	is_int(n, 1, "the dropped occurrences are gone");
	n = 0;
	store_event_ended_foreach(st, testdb_at("2026-05-01T00:00:00Z"),
	    testdb_at("2026-06-01T00:00:00Z"), count_ended, &n);
	is_int(n, 1, "one meeting ended in May");
	is_int(store_event_delete_href(st, "w", "/cal/", "/cal/s.ics", NULL),
	    STORE_OK, "the resource is deleted");
	n = 0;
	store_event_foreach_for_customer(st, dana, 0, INT64_MAX, count_rows, &n);
	is_int(n, 0, "nothing is left");
}

static void
test_link(struct store *st, const struct config *cfg)
{
	struct linker *lk = linker_new(cfg);
	struct linker_lookup lu;
	struct caldav_linker *cl;
	struct caldav_links links = { 0 };
	struct event e = mk_event("x@t", 0, "2026-05-04T08:00:00Z",
	    "Call with DANA SCULLY and Fox Mulderson");
	struct event_attendee att[2] = {
		{ "kim@example.com", NULL, EVENT_ROLE_REQ, EVENT_PART_ACCEPTED },
		{ "fox+work@fbi.example", NULL, EVENT_ROLE_REQ,
		    EVENT_PART_ACCEPTED },
	};

	store_message_lookup(st, &lu);
	cl = caldav_linker_new(lk, &lu);
	caldav_linker_add_name(cl, 1, "Dana Scully");
	caldav_linker_add_name(cl, 2, "Fox Mulder");
	caldav_linker_add_name(cl, 3, "Kim");
	caldav_linker_index(cl);
	e.organizer = (char *)"kim@example.com";
	e.attendees = att;
	e.nattendees = 2;
	caldav_link_event(cl, &e, &links);
	is_int(links.n, 2, "two customers linked");
	if (links.n == 2) {
		is_str(links.v[0].rule, EVENT_RULE_ATTENDEE,
		    "Fox by address (+tag folded)");
		is_int(links.v[0].customer_id, 2, "that is Fox");
		is_str(links.v[1].rule, EVENT_RULE_SUMMARY, "Dana by name");
		is_str(links.v[1].detail, "DANA SCULLY", "as written");
	}
	e.attendees = NULL;
	e.nattendees = 0;
	e.summary = (char *)"Kim meets Fox Mulderson";
	caldav_link_event(cl, &e, &links);
	is_int(links.n, 0, "no whole-word name, no one-word name");
	caldav_linker_add_name(cl, 4, "dana scully");
	caldav_linker_index(cl);
	e.summary = NULL;
	e.location = (char *)"Dana Scully's office";
	caldav_link_event(cl, &e, &links);
	is_int(links.n, 0, "a name two customers share links neither");
	caldav_links_free(&links);
	caldav_linker_free(cl);
	linker_free(lk);
}

int
main(void)
{
	struct config cfg;
	struct store *st;
	int64_t dana, fox;

	testdb_now("2026-06-01T00:00:00Z");
	testdb_open(&tdb, "store-event");
	st = tdb.st;
	dana = testdb_customer(st, "Dana Scully", "dana@fbi.example");
	fox = testdb_customer(st, "Fox Mulder", "fox@fbi.example");
	test_put(st, dana, fox);
	memset(&cfg, 0, sizeof(cfg));
	cfg.from = (char *)"Kim <kim@example.com>";
	cfg.link.fold_plus = true;
	test_link(st, &cfg);
	testdb_close(&tdb);
	return tap_done();
}
