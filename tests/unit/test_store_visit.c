/*
 * Visit proposals in the store (store_visit.h): keys, updates, the event
 * a UID of ours has now, and who is a candidate (a tentative proposal of
 * ours is no visit, an accepted one is; a live proposal is scheduled),
 * and what a forget leaves to retract from the calendar.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caldav_visits.h"
#include "clock.h"
#include "store.h"
#include "store_event.h"
#include "store_visit.h"
#include "tap.h"
#include "testdb.h"
#include "xmalloc.h"

static struct testdb tdb;

static int64_t
add_customer(struct store *st, const char *name, const char *email, char tier)
{
	struct customer c;

	customer_init(&c);
	c.name = xstrdup(name);
	c.tier = tier;
	customer_add_email(&c, email);
	return testdb_insert(st, &c);
}

/* One single event of ours (or not) linked to customer id by name. */
static void
put_event(struct store *st, const char *cal, const char *uid,
    const char *start, enum event_status status, bool ours, int64_t id)
{
	struct event e;
	struct store_event_link l = { id, EVENT_RULE_SUMMARY, "x" };
	struct store_event_occ o = { &e, &l, 1 };
	char href[256];

	memset(&e, 0, sizeof(e));
	e.uid = (char *)uid;
	e.start = testdb_at(start);
	e.end = e.start + 3600;
	e.status = status;
	e.rapport_created = ours;
	e.summary = (char *)"Visit";
	snprintf(href, sizeof(href), "%s%s.ics", cal, uid);
	if (store_event_put(st, "w", cal, href, "\"e1\"", &o, 1) != STORE_OK)
		abort();
}

struct found {
	int64_t	 last, next;
	int	 n;
	int64_t	 id;
};

static int
find_cand(void *arg, const struct store_visit_candidate *c)
{
	struct found *f = arg;

	f->n++;
	if (c->id == f->id) {
		f->last = c->last_visit;
		f->next = c->next_visit;
	}
	return 0;
}

static struct found
cand(struct store *st, int64_t id)
{
	struct found f = { 0, 0, 0, id };

	store_visit_candidates_foreach(st, clock_now(), find_cand, &f);
	return f;
}

static int
count_visits(void *arg, const struct store_visit *v)
{
	(void)v;
	(*(int *)arg)++;
	return 0;
}

static void
test_proposals(struct store *st, int64_t anna)
{
	struct store_visit v = { .customer_id = anna, .period = "20260501",
	    .uid = "rapport-visit-1-20260501@x", .href = "/c/v/a.ics",
	    .start = testdb_at("2026-06-03T09:00:00Z"),
	    .end = testdb_at("2026-06-03T10:00:00Z") };
	int64_t s, e;
	char *href, *etag;
	int n = 0;

	is_int(store_visit_add(st, &v), STORE_OK, "a proposal is recorded");
	is_int(store_visit_add(st, &v), STORE_CONFLICT, "its UID only once");
	v.uid = "other";
	is_int(store_visit_add(st, &v), STORE_CONFLICT,
	    "one per customer and period");
	is_int(store_visit_get_period(st, anna, "20260501"), STORE_OK,
	    "the period has a proposal");
	is_int(store_visit_get_period(st, anna, "20260601"), STORE_NOTFOUND,
	    "another period has none");
	is_int(store_visit_update(st, "rapport-visit-1-20260501@x",
	    testdb_at("2026-06-05T09:00:00Z"), 0, "\"e2\"", NULL,
	    VISIT_STATE_MOVED),
	    STORE_OK, "moved");
	is_int(store_visit_update(st, "nope", 0, 0, NULL, NULL,
	    VISIT_STATE_DELETED), STORE_NOTFOUND, "an unknown UID");
	store_visit_foreach(st, count_visits, &n);
	is_int(n, 1, "one proposal listed");

	put_event(st, "/c/w/", "rapport-visit-1-20260501@x",
	    "2026-06-08T09:00:00Z", EVENT_TENTATIVE, true, anna);
	is_int(store_visit_event(st, "w", "/c/v/", "rapport-visit-1-20260501@x",
	    &s, &e, &href, &etag), STORE_OK, "found in another calendar");
	is_str(href, "/c/w/rapport-visit-1-20260501@x.ics", "where it is now");
	is_int(s, testdb_at("2026-06-08T09:00:00Z"), "with its start");
	free(href);
	free(etag);
	is_int(store_visit_event(st, "w", "/c/v/", "missing", &s, &e, &href,
	    &etag), STORE_NOTFOUND, "a UID no calendar has");
}

static void
test_candidates(struct store *st, int64_t anna, int64_t ben)
{
	struct found f;

	f = cand(st, ben);
	is_int(f.n, 2, "customers with a tier only");
	is_int(f.last, 0, "Ben: never visited");
	is_int(f.next, 0, "Ben: nothing scheduled");
	f = cand(st, anna);
	is_int(f.next, testdb_at("2026-06-05T09:00:00Z"),
	    "Anna: the live proposal is scheduled");

	put_event(st, "/c/w/", "rapport-visit-2-x@x", "2026-05-20T09:00:00Z",
	    EVENT_TENTATIVE, true, ben);
	is_int(cand(st, ben).last, 0, "a past tentative proposal is no visit");
	put_event(st, "/c/w/", "rapport-visit-2-x@x", "2026-05-20T09:00:00Z",
	    EVENT_CONFIRMED, true, ben);
	is_int(cand(st, ben).last, testdb_at("2026-05-20T09:00:00Z"),
	    "an accepted one is, once passed");
	put_event(st, "/c/w/", "lunch@x", "2026-05-25T09:00:00Z",
	    EVENT_TENTATIVE, false, ben);
	is_int(cand(st, ben).last, testdb_at("2026-05-25T09:00:00Z"),
	    "a meeting the user made counts, tentative or not");
	put_event(st, "/c/w/", "later@x", "2026-07-01T09:00:00Z",
	    EVENT_CANCELLED, false, ben);
	is_int(cand(st, ben).next, 0, "a cancelled meeting is not scheduled");

	is_int(store_visit_update(st, "rapport-visit-1-20260501@x",
	    testdb_at("2026-06-05T09:00:00Z"), 0, NULL, NULL,
	    VISIT_STATE_DELETED),
	    STORE_OK, "deleted");
	is_int(cand(st, anna).next, testdb_at("2026-06-08T09:00:00Z"),
	    "a deleted proposal is not scheduled (its stale event still is)");
	is_int(store_customer_forget(st, anna, "test"), STORE_OK, "forget");
	is_int(store_visit_get_period(st, anna, "20260501"), STORE_NOTFOUND,
	    "a forgotten customer's proposals are gone");
}

static void
propose(struct store *st, int64_t id, const char *period, const char *uid,
    const char *start, const char *etag)
{
	struct store_visit v = { .customer_id = id, .period = period,
	    .uid = uid, .href = NULL, .etag = etag, .start = testdb_at(start),
	    .end = testdb_at(start) + 3600 };
	char href[128];

	snprintf(href, sizeof(href), "/c/v/%s.ics", uid);
	v.href = href;
	if (store_visit_add(st, &v) != STORE_OK)
		abort();
}

struct rlist {
	char	 buf[512];
	int	 n;
};

static int
list_retraction(void *arg, const struct store_visit_retraction *r)
{
	struct rlist *l = arg;
	size_t len = strlen(l->buf);

	snprintf(l->buf + len, sizeof(l->buf) - len, "%s%s %s %s",
	    l->n++ ? "," : "", r->uid, r->href, r->etag);
	return 0;
}

static struct rlist
retractions(struct store *st)
{
	struct rlist l = { "", 0 };

	if (store_visit_retractions_foreach(st, list_retraction, &l) !=
	    STORE_OK)
		abort();
	return l;
}

/* Now is 2026-06-01: Cleo has one proposal of each kind, Dan one. */
static void
test_retractions(struct store *st)
{
	int64_t cleo = add_customer(st, "Cleo Conrad", "cleo@c.example", 'A');
	int64_t dan = add_customer(st, "Dan Dietz", "dan@d.example", 'A');
	char buf[256];

	propose(st, cleo, "1", "r-future", "2026-06-10T09:00:00Z", "\"f1\"");
	propose(st, cleo, "2", "r-edited", "2026-06-11T09:00:00Z", "\"e1\"");
	store_visit_update(st, "r-edited", testdb_at("2026-06-11T09:00:00Z"),
	    0, "\"e2\"", NULL, VISIT_STATE_PROPOSED);
	propose(st, cleo, "3", "r-late-etag", "2026-06-12T09:00:00Z", NULL);
	store_visit_update(st, "r-late-etag",
	    testdb_at("2026-06-12T09:00:00Z"), 0, "\"l1\"", NULL,
	    VISIT_STATE_PROPOSED);
	store_visit_update(st, "r-late-etag",
	    testdb_at("2026-06-12T09:00:00Z"), 0, "\"l2\"", NULL,
	    VISIT_STATE_PROPOSED);
	propose(st, cleo, "4", "r-moved", "2026-06-13T09:00:00Z", "\"m1\"");
	store_visit_update(st, "r-moved", testdb_at("2026-06-14T09:00:00Z"),
	    0, "\"m2\"", NULL, VISIT_STATE_MOVED);
	propose(st, cleo, "5", "r-deleted", "2026-06-15T09:00:00Z", "\"d1\"");
	store_visit_update(st, "r-deleted", testdb_at("2026-06-15T09:00:00Z"),
	    0, NULL, NULL, VISIT_STATE_DELETED);
	propose(st, cleo, "6", "r-past", "2026-05-20T09:00:00Z", "\"p1\"");
	propose(st, cleo, "7", "r-no-etag", "2026-06-16T09:00:00Z", NULL);
	propose(st, dan, "1", "r-dan", "2026-06-10T11:00:00Z", "\"x1\"");
	/* Linked to Dan: forget's own rule (events linked only to Cleo)
	 * would keep them; they name her all the same. */
	put_event(st, "/c/v/", "r-future", "2026-06-10T09:00:00Z",
	    EVENT_TENTATIVE, true, dan);
	put_event(st, "/c/v/", "r-past", "2026-05-20T09:00:00Z",
	    EVENT_TENTATIVE, true, dan);
	put_event(st, "/c/v/", "r-dan", "2026-06-10T11:00:00Z",
	    EVENT_TENTATIVE, true, dan);

	is_int(retractions(st).n, 0, "no retraction before a forget");
	is_int(store_customer_forget(st, cleo, "test"), STORE_OK,
	    "forget Cleo");
	is_str(retractions(st).buf,
	    "r-edited /c/v/r-edited.ics \"e1\","
	    "r-future /c/v/r-future.ics \"f1\","
	    "r-late-etag /c/v/r-late-etag.ics \"l1\"",
	    "future untouched proposals retracted, with rapport's own etag");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM events"
	    " WHERE uid IN ('r-future', 'r-past')"), 0,
	    "the synced copies of her proposals are gone, past ones too");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM events"
	    " WHERE uid = 'r-dan'"), 1, "another's proposal event stays");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM visit_proposals"
	    " WHERE customer_id = (SELECT id FROM customers"
	    " WHERE name = 'Dan Dietz')"), 1, "another's proposal stays");
	is_str(testdb_str(&tdb, "SELECT group_concat(name) FROM"
	    " pragma_table_info('visit_retractions')", buf, sizeof(buf)),
	    "uid,href,etag,created_at", "a retraction says nothing of whom");
	is_int(store_visit_retraction_done(st, "r-future"), STORE_OK,
	    "a settled retraction goes");
	is_int(store_visit_retraction_done(st, "r-future"), STORE_NOTFOUND,
	    "once");
	is_int(retractions(st).n, 2, "the others wait");
}

static void
test_names(void)
{
	char *s = caldav_visits_resource_name("rapport-visit-3-20260501@a.b");

	is_str(s, "rapport-visit-3-20260501_a.b.ics", "resource name");
	free(s);
	s = caldav_visits_resource_name("x/../y z");
	is_str(s, "x_.._y_z.ics", "no path or space gets through");
	free(s);
}

int
main(void)
{
	struct store *st;
	int64_t anna, ben;

	testdb_now("2026-06-01T00:00:00Z");
	testdb_open(&tdb, "store-visit");
	st = tdb.st;
	anna = add_customer(st, "Anna Adler", "anna@a.example", 'A');
	ben = add_customer(st, "Ben Berger", "ben@b.example", 'B');
	add_customer(st, "Gus Graf", "gus@g.example", 0);
	test_proposals(st, anna);
	test_candidates(st, anna, ben);
	test_retractions(st);
	test_names();
	testdb_close(&tdb);
	return tap_done();
}
