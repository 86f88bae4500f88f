/* One-click unsubscribe tokens in the store. */
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "store_unsubscribe.h"
#include "tap.h"
#include "testdb.h"

int
main(void)
{
	struct testdb t;
	char tok[UNSUBSCRIBE_TOKEN_LEN + 1], again[UNSUBSCRIBE_TOKEN_LEN + 1];
	char other[UNSUBSCRIBE_TOKEN_LEN + 1], buf[64];
	int64_t anna, ben, who = 0;
	int64_t t1 = testdb_at("2026-11-20T10:00:00Z");
	int64_t t2 = testdb_at("2026-11-21T10:00:00Z");
	bool changed = false;

	testdb_open(&t, "unsub");
	anna = testdb_customer(t.st, "Anna Schmidt", "anna@x.example");
	ben = testdb_customer(t.st, "Ben Lee", "ben@y.example");
	testdb_exec(&t, "UPDATE customers SET newsletter = 1, consent_at = 1,"
	    " consent_source = 'import'");

	is_int(store_unsubscribe_token(t.st, anna, t1, tok), STORE_OK,
	    "a token is made on first use");
	ok(unsubscribe_token_valid(tok), "it has the token form (%s)", tok);
	is_int(store_unsubscribe_token(t.st, anna, t2, again), STORE_OK,
	    "asked again");
	is_str(again, tok, "... it is the same token");
	is_int(testdb_count(&t, "SELECT created_at FROM unsubscribe_tokens"),
	    t1, "... made at the first time");
	store_unsubscribe_token(t.st, ben, t1, other);
	ok(strcmp(other, tok) != 0, "another customer, another token");

	ok(!unsubscribe_token_valid(""), "empty is no token");
	ok(!unsubscribe_token_valid("abc"), "short is no token");
	ok(!unsubscribe_token_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
	    "upper case is no token");
	ok(!unsubscribe_token_valid("abcdefghijklmnopqrstuvwxyz'"),
	    "a quote after 26 letters is no token");
	is_int(store_unsubscribe_by_token(t.st, "x' OR 1=1 --", t2, &who,
	    &changed), STORE_NOTFOUND, "junk is refused");
	is_int(store_unsubscribe_by_token(t.st, "aaaaaaaaaaaaaaaaaaaaaaaaaa",
	    t2, &who, &changed), STORE_NOTFOUND, "an unknown token is not found");
	is_int(testdb_count(&t, "SELECT count(*) FROM customers"
	    " WHERE newsletter = 1"), 2, "... and nobody lost consent");

	is_int(store_unsubscribe_by_token(t.st, tok, t2, &who, &changed),
	    STORE_OK, "Anna's token");
	is_int(who, anna, "... names Anna");
	ok(changed, "... whose consent was on");
	is_int(testdb_count(&t, "SELECT newsletter FROM customers WHERE id = 1"),
	    0, "... and is now off");
	is_int(testdb_count(&t, "SELECT consent_at FROM customers WHERE id = 1"),
	    t2, "... since now");
	is_str(testdb_str(&t, "SELECT consent_source FROM customers"
	    " WHERE id = 1", buf, sizeof(buf)), "link", "... by the link");
	is_int(testdb_count(&t, "SELECT newsletter FROM customers WHERE id = 2"),
	    1, "Ben keeps his");

	is_int(store_unsubscribe_by_token(t.st, tok, t2 + 3600, &who, &changed),
	    STORE_OK, "the link clicked again");
	ok(!changed, "... changes nothing");
	is_int(testdb_count(&t, "SELECT consent_at FROM customers WHERE id = 1"),
	    t2, "... and keeps the first withdrawal's time");

	is_int(store_customer_forget(t.st, anna, "test"), STORE_OK,
	    "Anna forgotten");
	is_int(testdb_count(&t, "SELECT count(*) FROM unsubscribe_tokens"
	    " WHERE customer_id = 1"), 0, "... and her token with her");
	is_int(store_unsubscribe_by_token(t.st, tok, t2, &who, &changed),
	    STORE_NOTFOUND, "... so it names nobody now");

	testdb_close(&t);
	return tap_done();
}
