/* Unit tests of the outbox in the store (daemon/store_outbox.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "store.h"
#include "store_outbox.h"
#include "store_unsubscribe.h"
#include "tap.h"
#include "testdb.h"

static struct testdb tdb;

static int
plan(struct store *st, const char *kind, const char *tmpl, int64_t cust,
    const char *occ, const char *due, int64_t *id)
{
	struct outbox_row r;

	outbox_row_init(&r);
	r.kind = (char *)kind;
	r.template = (char *)tmpl;
	r.customer_id = cust;
	r.occurrence = (char *)occ;
	r.due_at = testdb_at(due);
	r.reason = (char *)"test";
	r.ref_kind = (char *)"sale";
	r.ref_id = 0;
	return store_outbox_plan(st, &r, id);
}

static void
test_plan(struct store *st, int64_t kim, int64_t bo, int64_t ids[3])
{
	struct outbox_row r;
	int64_t id = 0;

	is_int(plan(st, "follow-up", "followup-sale-1", kim, "sale:1",
	    "2026-03-02T09:00:00Z", &ids[0]), STORE_OK, "plan a follow-up");
	ok(ids[0] > 0, "planning gives the row's id");
	is_int(plan(st, "follow-up", "followup-sale-1", kim, "sale:1",
	    "2026-03-05T09:00:00Z", &id), STORE_CONFLICT,
	    "planning the same key twice is a conflict");
	is_int(plan(st, "birthday", "birthday", bo, "2026",
	    "2026-03-01T08:00:00Z", &ids[1]), STORE_OK, "plan a birthday");
	is_int(plan(st, "newsletter", "news", kim, "2026-03-01T07:00Z",
	    "2026-03-01T07:00:00Z", &ids[2]), STORE_OK, "plan a newsletter");
	is_int(plan(st, "birthday", "birthday", 999, "2026",
	    "2026-03-01T08:00:00Z", &id), STORE_ERROR,
	    "an unknown customer is refused");

	is_int(store_outbox_get(st, ids[0], &r), STORE_OK, "get a row");
	is_str(r.state, "planned", "a new row is planned");
	is_str(r.kind, "follow-up", "kind kept");
	is_str(r.occurrence, "sale:1", "occurrence kept");
	is_str(r.ref_kind, "sale", "ref_kind kept");
	is_int(r.ref_id, 0, "ref_id 0 stays 0 (NULL)");
	is_int(r.due_at, testdb_at("2026-03-02T09:00:00Z"),
	    "first plan's due kept");
	ok(r.message_id == NULL, "no Message-ID before the first claim");
	is_int(r.attempts, 0, "no attempts yet");
	outbox_row_clear(&r);
	is_int(store_outbox_get(st, 12345, &r), STORE_NOTFOUND,
	    "get an unknown row");

	/* Inside a caller's transaction, a conflict leaves it usable. */
	is_int(store_begin(st), STORE_OK, "begin a batch");
	is_int(plan(st, "follow-up", "followup-sale-1", kim, "sale:1",
	    "2026-03-02T09:00:00Z", &id), STORE_CONFLICT,
	    "conflict inside a batch");
	is_int(plan(st, "follow-up", "followup-sale-2", kim, "sale:1",
	    "2026-03-09T09:00:00Z", &id), STORE_OK, "the batch goes on");
	is_int(store_commit(st), STORE_OK, "commit the batch");
	ok(store_outbox_get(st, id, &r) == STORE_OK &&
	    strcmp(r.template, "followup-sale-2") == 0,
	    "the batch's row is stored");
	outbox_row_clear(&r);
}

static void
test_claim(struct store *st, const int64_t ids[3])
{
	struct outbox_row r, r2;
	int64_t now = testdb_at("2026-03-01T10:00:00Z");

	is_int(store_outbox_claim(st, "main", now, 600, &r), STORE_OK,
	    "claim a due row");
	is_int(r.id, ids[2], "the earliest due comes first (newsletter 07:00)");
	is_str(r.state, "sending", "a claimed row is sending");
	is_str(r.account, "main", "the claim records the account");
	is_int(store_outbox_set_message_id(st, r.id, "<rapport.3.a@x.example>",
	    "kim@example.com"), STORE_OK, "set the Message-ID");
	is_int(store_outbox_claim(st, "main", now, 600, &r2), STORE_OK,
	    "claim the next");
	is_int(r2.id, ids[1], "then the birthday (08:00)");
	outbox_row_clear(&r2);
	is_int(store_outbox_claim(st, "main", now, 600, &r2), STORE_NOTFOUND,
	    "the follow-up is not due yet, the others are leased");
	outbox_row_clear(&r2);

	/* The sender died: the lease runs out and the row comes back. */
	is_int(store_outbox_claim(st, "other", now + 599, 600, &r2),
	    STORE_NOTFOUND, "a live lease is respected");
	outbox_row_clear(&r2);
	is_int(store_outbox_claim(st, "other", now + 601, 600, &r2), STORE_OK,
	    "an expired lease is claimed again");
	is_int(r2.id, ids[2], "the same row");
	is_str(r2.message_id, "<rapport.3.a@x.example>",
	    "the reclaimed row keeps its Message-ID");
	is_str(r2.account, "other", "now by the other account");
	is_int(store_outbox_set_message_id(st, r2.id, "<rapport.3.b@x.example>",
	    NULL), STORE_OK, "set a Message-ID again");
	outbox_row_clear(&r2);
	store_outbox_get(st, ids[2], &r2);
	is_str(r2.message_id, "<rapport.3.a@x.example>",
	    "a set Message-ID is never replaced");
	is_str(r2.recipient, "kim@example.com", "recipient kept");
	outbox_row_clear(&r2);
	outbox_row_clear(&r);
	is_int(store_outbox_set_message_id(st, 999, "<x@y>", NULL),
	    STORE_NOTFOUND, "Message-ID of an unknown row");
}

static void
test_transitions(struct store *st, const int64_t ids[3], int64_t bo)
{
	struct outbox_row r;
	int64_t now = testdb_at("2026-03-01T10:20:00Z"), next = 0;

	is_int(store_outbox_fail(st, ids[2], "550 5.1.1 no such user"),
	    STORE_OK, "mark failed");
	store_outbox_get(st, ids[2], &r);
	ok(strcmp(r.state, "failed") == 0 &&
	    strcmp(r.reason, "550 5.1.1 no such user") == 0,
	    "failed with the server's words");
	outbox_row_clear(&r);
	is_int(store_outbox_defer(st, ids[1], now + 60, true, "451 try later"),
	    STORE_OK, "defer after a 4xx");
	store_outbox_get(st, ids[1], &r);
	is_str(r.state, "planned", "deferred: planned again");
	is_int(r.attempts, 1, "a 4xx counts an attempt");
	is_int(r.next_attempt_at, now + 60, "next attempt recorded");
	is_str(r.reason, "451 try later", "reason recorded");
	outbox_row_clear(&r);
	is_int(store_outbox_next_due(st, &next), STORE_OK, "next due known");
	is_int(next, now + 60, "the next due is the deferred row's retry");
	is_int(store_outbox_claim(st, "main", now, 600, &r), STORE_NOTFOUND,
	    "a deferred row waits for its time");
	outbox_row_clear(&r);
	is_int(store_outbox_defer(st, ids[1], now + 30, false, "quiet hours"),
	    STORE_OK, "defer without counting");
	store_outbox_get(st, ids[1], &r);
	is_int(r.attempts, 1, "quiet hours do not count an attempt");
	outbox_row_clear(&r);
	is_int(store_outbox_claim(st, "main", now + 30, 600, &r), STORE_OK,
	    "claimed at its retry time");
	is_int(r.id, ids[1], "the deferred row");
	outbox_row_clear(&r);
	is_int(store_outbox_sent(st, ids[1], now + 31,
	    "250 2.0.0 OK queued as 7"), STORE_OK, "mark sent");
	store_outbox_get(st, ids[1], &r);
	is_str(r.state, "sent", "sent");
	is_int(r.sent_at, now + 31, "sent_at recorded");
	is_str(r.reason, "250 2.0.0 OK queued as 7", "the server's reply kept");
	outbox_row_clear(&r);

	is_int(store_outbox_skip(st, ids[0], "suppressed: bounce"), STORE_OK,
	    "mark skipped");
	store_outbox_get(st, ids[0], &r);
	ok(strcmp(r.state, "skipped") == 0 &&
	    strcmp(r.reason, "suppressed: bounce") == 0, "skipped with reason");
	outbox_row_clear(&r);
	is_int(store_outbox_claim(st, "main", testdb_at("2026-04-01T00:00:00Z"),
	    600, &r), STORE_OK, "much later one row is still due");
	ok(strcmp(r.template, "followup-sale-2") == 0,
	    "only the planned one: sent/failed/skipped are never claimed");
	store_outbox_sent(st, r.id, testdb_at("2026-04-01T00:00:00Z"),
	    "250 ok");
	outbox_row_clear(&r);
	is_int(store_outbox_next_due(st, &next), STORE_NOTFOUND,
	    "nothing waits any more");
	is_int(store_outbox_skip(st, 4242, "x"), STORE_NOTFOUND,
	    "skip an unknown row");
	is_int(plan(st, "birthday", "birthday", bo, "2026",
	    "2027-01-01T08:00:00Z", NULL), STORE_CONFLICT,
	    "a key is planned once, whatever its state");
}

struct collect {
	char	buf[256];
	int	n;
};

static int
collect_row(void *ctx, const struct outbox_row *r)
{
	struct collect *c = ctx;
	size_t len = strlen(c->buf);

	snprintf(c->buf + len, sizeof(c->buf) - len, "%s%s:%s",
	    len ? " " : "", r->template, r->state);
	return ++c->n >= 10;
}

static int
stop_at_one(void *ctx, const struct outbox_row *r)
{
	(*(int *)ctx)++;
	return 1;
}

static void
test_foreach(struct store *st, int64_t kim)
{
	struct collect c = { "", 0 };
	int n = 0;

	is_int(store_outbox_foreach(st, NULL, 0, collect_row, &c), STORE_OK,
	    "foreach all");
	is_str(c.buf, "news:failed birthday:sent followup-sale-1:skipped "
	    "followup-sale-2:sent", "all rows, by due time");
	memset(&c, 0, sizeof(c));
	store_outbox_foreach(st, "sent,failed", 0, collect_row, &c);
	is_str(c.buf, "news:failed birthday:sent followup-sale-2:sent",
	    "filter by states");
	memset(&c, 0, sizeof(c));
	store_outbox_foreach(st, "sent", testdb_at("2026-03-05T00:00:00Z"),
	    collect_row, &c);
	is_str(c.buf, "birthday:sent", "filter by state and due time");
	memset(&c, 0, sizeof(c));
	store_outbox_foreach(st, "sen", 0, collect_row, &c);
	is_str(c.buf, "", "a state matches whole, not by prefix");
	plan(st, "follow-up", "later", kim, "x", "2026-05-01T00:00:00Z", NULL);
	memset(&c, 0, sizeof(c));
	store_outbox_foreach(st, "planned", testdb_at("2026-05-01T00:00:01Z"),
	    collect_row, &c);
	is_str(c.buf, "later:planned", "planned rows up to a time");
	store_outbox_foreach(st, NULL, 0, stop_at_one, &n);
	is_int(n, 1, "the callback can stop the walk");
}

static void
test_sent_times(struct store *st, int64_t kim)
{
	int64_t *t = NULL, id;
	size_t n = 0;
	char occ[16];
	struct outbox_row r;

	for (int i = 0; i < 3; i++) {
		snprintf(occ, sizeof(occ), "nl:%d", i);
		plan(st, "newsletter", "budget", kim, occ,
		    "2026-06-01T00:00:00Z", &id);
		store_outbox_claim(st, i == 2 ? "other" : "main",
		    testdb_at("2026-06-01T00:00:00Z"), 600, &r);
		store_outbox_sent(st, r.id,
		    testdb_at("2026-06-01T00:00:00Z") + 10 * (2 - i),
		    "250 ok");
		outbox_row_clear(&r);
	}
	is_int(store_outbox_sent_times(st, "main",
	    testdb_at("2026-05-31T00:00:00Z"), testdb_at("2026-06-01T00:01:00Z"),
	    0, &t, &n), STORE_OK, "sent times of an account");
	is_int(n, 2, "only that account's, only since then");
	ok(n == 2 && t[0] == testdb_at("2026-06-01T00:00:10Z") &&
	    t[1] == testdb_at("2026-06-01T00:00:20Z"), "ascending");
	free(t);
	store_outbox_sent_times(st, "main", testdb_at("2026-06-01T00:00:15Z"),
	    testdb_at("2026-06-01T00:01:00Z"), 0, &t, &n);
	is_int(n, 1, "a later start leaves fewer");
	free(t);
	store_outbox_sent_times(st, "nobody", 0, 0, 0, &t, &n);
	ok(n == 0 && t == NULL, "an account that sent nothing");

	/* Two rows claimed by two connections: each sees the other's. */
	for (int i = 0; i < 2; i++) {
		snprintf(occ, sizeof(occ), "nl:fly%d", i);
		plan(st, "newsletter", "budget", kim, occ,
		    "2026-06-01T00:00:00Z", &id);
	}
	store_outbox_claim(st, "main", testdb_at("2026-06-01T00:01:00Z"), 600,
	    &r);
	id = r.id;
	outbox_row_clear(&r);
	store_outbox_claim(st, "main", testdb_at("2026-06-01T00:01:00Z"), 600,
	    &r);
	store_outbox_sent_times(st, "main", testdb_at("2026-05-31T00:00:00Z"),
	    testdb_at("2026-06-01T00:01:00Z"), r.id, &t, &n);
	is_int(n, 3, "a row another connection is sending counts");
	ok(n == 3 && t[2] == testdb_at("2026-06-01T00:01:00Z"),
	    "... as sent now, last");
	free(t);
	store_outbox_sent_times(st, "main", testdb_at("2026-05-31T00:00:00Z"),
	    testdb_at("2026-06-01T00:01:00Z"), id, &t, &n);
	is_int(n, 3, "... seen from either row, never itself");
	free(t);
	outbox_row_clear(&r);
}

static void
test_refs(struct store *st, int64_t kim, int64_t bo)
{
	struct outbox_ref ref;
	int64_t sale;

	if (store_sale_add(st, kim, "Espresso machine",
	    testdb_at("2026-02-01T00:00:00Z"),
	    "manual", &sale) != STORE_OK)
		abort();
	is_int(store_outbox_ref_get(st, "sale", sale, &ref), STORE_OK,
	    "a sale reference");
	is_str(ref.product, "Espresso machine", "its product");
	is_int(ref.other_id, kim, "its buyer");
	is_int(ref.at, testdb_at("2026-02-01T00:00:00Z"), "its time");
	outbox_ref_clear(&ref);
	is_int(store_outbox_ref_get(st, "sale", sale + 100, &ref),
	    STORE_NOTFOUND, "a sale that is gone");
	is_int(store_outbox_ref_get(st, "bogus", 1, &ref), STORE_NOTFOUND,
	    "an unknown reference kind");
	is_int(store_outbox_ref_get(st, "referral", 1, &ref), STORE_NOTFOUND,
	    "no such referral");
}

/* A dry run's batch: chosen in claim order, unchanged until ended. */
static void
test_dry_batch(void)
{
	struct testdb d;
	struct store *st;
	struct outbox_row rows[4], r;
	int64_t kim, bo, ids[4], now = testdb_at("2026-03-01T10:00:00Z");
	char tok[UNSUBSCRIBE_TOKEN_LEN + 1], tok2[UNSUBSCRIBE_TOKEN_LEN + 1];
	size_t n = 9;

	testdb_open(&d, "store-outbox-dry");
	st = d.st;
	kim = testdb_customer(st, "Kim Min-jun", "kim@example.com");
	bo = testdb_customer(st, "Bo Lee", "bo@example.com");
	plan(st, "newsletter", "news", kim, "n1", "2026-03-01T09:00:00Z",
	    &ids[0]);
	plan(st, "newsletter", "news", bo, "n1", "2026-03-01T08:00:00Z",
	    &ids[1]);
	plan(st, "birthday", "birthday", bo, "2026", "2026-03-01T09:00:00Z",
	    &ids[2]);
	plan(st, "follow-up", "f", kim, "sale:1", "2026-03-02T09:00:00Z",
	    &ids[3]);
	is_int(store_outbox_due_batch(st, now, 2, rows, &n), STORE_OK,
	    "a batch of at most 2");
	is_int(n, 2, "two rows");
	ok(n == 2 && rows[0].id == ids[1] && rows[1].id == ids[0],
	    "in claim order: due time, then id");
	is_str(rows[0].state, "planned", "a batch's row is not claimed");
	for (size_t i = 0; i < n; i++)
		outbox_row_clear(&rows[i]);
	is_int(store_outbox_due_batch(st, now, 4, rows, &n), STORE_OK,
	    "a bigger batch");
	is_int(n, 3, "only what is due");
	for (size_t i = 0; i < n; i++)
		outbox_row_clear(&rows[i]);

	is_int(store_outbox_dry_sent(st, ids[1], "main", now,
	    "<rapport.2.a@x.example>", "bo@example.com"), STORE_OK,
	    "a dry-run row ended");
	store_outbox_get(st, ids[1], &r);
	ok(strcmp(r.state, "sent") == 0 && strcmp(r.reason, "dry-run") == 0,
	    "sent, reason dry-run");
	is_str(r.account, "main", "its account recorded");
	is_str(r.message_id, "<rapport.2.a@x.example>", "its Message-ID");
	is_str(r.recipient, "bo@example.com", "its recipient");
	is_int(r.sent_at, now, "its time");
	outbox_row_clear(&r);
	store_outbox_set_message_id(st, ids[0], "<rapport.1.a@x.example>",
	    NULL);
	store_outbox_dry_sent(st, ids[0], "main", now,
	    "<rapport.1.b@x.example>", NULL);
	store_outbox_get(st, ids[0], &r);
	is_str(r.message_id, "<rapport.1.a@x.example>",
	    "a Message-ID fixed before is kept");
	outbox_row_clear(&r);
	is_int(store_outbox_dry_sent(st, 999, "main", now, "<x@y>", NULL),
	    STORE_NOTFOUND, "an unknown row");
	is_int(store_outbox_due_batch(st, now, 4, rows, &n), STORE_OK,
	    "the next batch");
	ok(n == 1 && rows[0].id == ids[2], "the ended rows are gone from it");
	for (size_t i = 0; i < n; i++)
		outbox_row_clear(&rows[i]);
	is_int(store_bulk_setup(st, STORE_OUTBOX_BULK_CACHE_KIB), STORE_OK,
	    "bulk cache set");

	/* The planner's tokens: made once, never replaced. */
	is_int(store_unsubscribe_token_ensure(st, kim, now), STORE_OK,
	    "a token ensured");
	is_int(store_unsubscribe_token_get(st, kim, tok), STORE_OK,
	    "... and stored");
	ok(unsubscribe_token_valid(tok), "... well-formed");
	is_int(store_unsubscribe_token_ensure(st, kim, now), STORE_OK,
	    "ensured again");
	store_unsubscribe_token_get(st, kim, tok2);
	is_str(tok2, tok, "the first token stays");
	is_int(store_unsubscribe_token(st, kim, now, tok2), STORE_OK,
	    "the sender's lookup");
	is_str(tok2, tok, "finds it");
	is_int(store_unsubscribe_token(st, bo, now, tok), STORE_OK,
	    "a token made at render time");
	store_unsubscribe_token_get(st, bo, tok2);
	is_str(tok2, tok, "is the one stored");
	ok(strcmp(tok, tok2) == 0 && store_unsubscribe_token_get(st, kim,
	    tok2) == STORE_OK && strcmp(tok, tok2) != 0,
	    "two customers, two tokens");
	testdb_close(&d);
}

/* A dry run names its files by outbox id and takes a file already there
 * for its row's: the row of a forgotten customer must not lend its id. */
static void
test_ids_not_reused(struct store *st)
{
	int64_t gone, next, top = 0, id = 0;

	gone = testdb_customer(st, "Gone Soon", "gone@example.com");
	ok(plan(st, "newsletter", "issue", gone, "2026-03",
	    "2026-03-02T09:00:00Z", &top) == STORE_OK && top > 0,
	    "the newest outbox row is planned");
	ok(store_customer_forget(st, gone, "test") == STORE_OK,
	    "its customer is forgotten (the row goes with them)");
	next = testdb_customer(st, "New Here", "new@example.com");
	ok(plan(st, "newsletter", "issue", next, "2026-03",
	    "2026-03-02T09:00:00Z", &id) == STORE_OK && id > top,
	    "the next row planned gets a new id, not the forgotten one's");
}

int
main(void)
{
	struct store *st;
	int64_t kim, bo, ids[3];

	testdb_now("2026-03-01T10:00:00Z");
	testdb_open(&tdb, "store-outbox");
	st = tdb.st;
	kim = testdb_customer(st, "Kim Min-jun", "kim@example.com");
	bo = testdb_customer(st, "Bo Lee", "bo@example.com");
	test_plan(st, kim, bo, ids);
	test_claim(st, ids);
	test_transitions(st, ids, bo);
	test_foreach(st, kim);
	test_sent_times(st, kim);
	test_refs(st, kim, bo);
	test_ids_not_reused(st);
	testdb_close(&tdb);
	test_dry_batch();
	return tap_done();
}
