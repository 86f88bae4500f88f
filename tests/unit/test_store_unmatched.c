/* Unknown correspondents in the store: the unmatched listing, and linking
 * earlier mail when an address is later given to a customer. */
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

/* Stores a message from "from" to "to" (and cc, may be NULL), unlinked,
 * with the given classify flags. */
static void
mail(struct store *st, int64_t uid, const char *from, const char *to,
    const char *cc, const char *date, const char *subject, unsigned flags)
{
	struct store_message_in in;
	struct classify_result cls;
	struct message m;
	char hdr[1024], id[64];

	snprintf(id, sizeof(id), "m%lld@test.example", (long long)uid);
	snprintf(hdr, sizeof(hdr), "From: %s\r\nTo: %s\r\n%s%s%sDate: %s\r\n"
	    "Subject: %s\r\nMessage-ID: <%s>\r\n\r\n", from, to,
	    cc ? "Cc: " : "", cc ? cc : "", cc ? "\r\n" : "", date, subject,
	    id);
	message_parse(&m, hdr, strlen(hdr), NULL);
	memset(&cls, 0, sizeof(cls));
	cls.flags = flags;
	cls.sale_rule = -1;
	memset(&in, 0, sizeof(in));
	in.account = "work";
	in.folder = "INBOX";
	in.uidvalidity = 1;
	in.uid = uid;
	in.msg = &m;
	in.cls = &cls;
	if (store_message_ingest(st, &in, NULL, NULL) != STORE_OK)
		abort();
	message_free(&m);
}

struct rows {
	char	buf[2048];
	int	n;
	int	stop_after;
};

static int
collect(void *arg, const struct store_unmatched_item *it)
{
	struct rows *r = arg;
	size_t len = strlen(r->buf);

	snprintf(r->buf + len, sizeof(r->buf) - len, "%s%s|%s|%lld|%s",
	    r->n ? "\n" : "", it->address, it->name ? it->name : "-",
	    (long long)it->count, it->subject ? it->subject : "-");
	r->n++;
	return r->stop_after && r->n >= r->stop_after;
}

static const char *
listing(struct store *st, struct rows *r, int stop_after)
{
	memset(r, 0, sizeof(*r));
	r->stop_after = stop_after;
	if (store_unmatched_foreach(st, collect, r) != STORE_OK)
		return "(error)";
	return r->buf;
}

static void
check_why(int64_t customer, int64_t uid, const char *want, const char *desc)
{
	char sql[256], got[256];

	snprintf(sql, sizeof(sql), "SELECT l.rule || ' ' || l.detail FROM links"
	    " l JOIN messages m ON m.id = l.object_id WHERE l.customer_id ="
	    " %lld AND m.uid = %lld", (long long)customer, (long long)uid);
	testdb_str(&tdb, sql, got, sizeof(got));
	is_str(got[0] ? got : "(none)", want, "%s", desc);
}

int
main(void)
{
	struct store *st;
	struct rows r;
	int64_t bob, lee, n = -1;

	testdb_now("2026-12-01T00:00:00Z");
	testdb_open(&tdb, "unmatched");
	st = tdb.st;

	testdb_customer(st, "Anna", "anna@x.example");
	mail(st, 1, "Bob <bob@y.example>", "me@me.example", NULL,
	    "Mon, 02 Nov 2026 10:00:00 +0000", "Hello", 0);
	mail(st, 2, "Bob B. <bob@y.example>", "me@me.example",
	    "Lee <lee+shop@z.example>", "Tue, 03 Nov 2026 10:00:00 +0000",
	    "Again", 0);
	mail(st, 3, "me@me.example", "anna@x.example", "bob@y.example",
	    "Wed, 04 Nov 2026 10:00:00 +0000", "To Anna", 0);
	mail(st, 4, "news@list.example", "me@me.example", NULL,
	    "Wed, 04 Nov 2026 11:00:00 +0000", "Weekly", CLASSIFY_LIST);
	mail(st, 5, "Lee <lee@z.example>", "bob@y.example", NULL,
	    "Thu, 05 Nov 2026 10:00:00 +0000", "From Lee", 0);
	/* anna+tag is Anna's, folded: never unknown. */
	mail(st, 6, "anna+tag@x.example", "me@me.example", NULL,
	    "Fri, 06 Nov 2026 10:00:00 +0000", "Tagged", 0);

	is_str(listing(st, &r, 0),
	    "me@me.example|-|4|Tagged\n"
	    "bob@y.example|Bob B.|4|From Lee\n"
	    "lee@z.example|Lee|1|From Lee\n"
	    "lee+shop@z.example|Lee|1|Again",
	    "unmatched: most frequent first, then latest; no customer (nor "
	    "its +tag form), no list mail");
	ok(strstr(listing(st, &r, 2), "lee") == NULL && r.n == 2,
	    "unmatched: the callback stops it");

	/* Bob becomes a customer: his mail links by role, the strongest. */
	bob = testdb_customer(st, "Bob", "bob@y.example");
	check_why(bob, 1, "address:from retroactive", "retroactive: from");
	check_why(bob, 2, "address:from retroactive", "... from again");
	check_why(bob, 3, "address:cc retroactive", "... cc of outreach");
	check_why(bob, 5, "address:to retroactive", "... to");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM messages m JOIN customers c"
	    " ON c.id = m.author_id WHERE c.name = 'Bob' AND m.is_reply = 1"),
	    2, "... his own mail gets him as its author, a reply");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM messages WHERE uid = 3 AND"
	    " author_id IS NOT NULL"), 0, "... not the outreach he was cc'd on");

	/* Lee (folded address): both the plain and the tagged copies. */
	lee = testdb_customer(st, "Lee", "lee@z.example");
	check_why(lee, 2, "address:cc retroactive", "+tag folded: cc");
	check_why(lee, 5, "address:from retroactive", "plain: from");
	is_str(listing(st, &r, 0), "me@me.example|-|4|Tagged",
	    "unmatched: only the user's address left (the caller skips it)");

	/* Again: nothing new, nothing doubled; an existing link stays. */
	ok(store_message_link_address(st, bob, "bob@y.example", &n) ==
	    STORE_OK && n == 0, "linking again adds nothing");
	is_int(testdb_count(&tdb, "SELECT count(*) FROM links"), 6,
	    "six links in all (Anna's none: her tagged mail was unlinked)");
	ok(store_message_link_address(st, 1, "anna@x.example", &n) ==
	    STORE_OK && n == 2, "anna: to of #3 and the +tag mail #6");
	check_why(1, 6, "address:from retroactive", "... by from");

	/* A tagged customer address matches only itself. */
	mail(st, 7, "kim+a@k.example", "me@me.example", NULL,
	    "Sat, 07 Nov 2026 10:00:00 +0000", "A", 0);
	mail(st, 8, "kim+b@k.example", "me@me.example", NULL,
	    "Sat, 07 Nov 2026 11:00:00 +0000", "B", 0);
	testdb_customer(st, "Kim A", "kim+a@k.example");
	is_int(testdb_count(&tdb,
	    "SELECT count(*) FROM links l JOIN customers c ON"
	    " c.id = l.customer_id WHERE c.name = 'Kim A'"), 1,
	    "a customer's +tag address links its own mail only");

	testdb_close(&tdb);
	return tap_done();
}
