/*
 * Referrals in the store: the listing with outcomes (store_referral.h).
 * The insert itself is store_referral_add() in store_customer.c.
 */
#include "store_int.h"
#include "store_referral.h"

/*
 * Two sources of "who brought whom": the referrals table and the
 * customers' referred_by field (what an import or a person said), the
 * latter only where no referrals row repeats it.  Outcomes are counted
 * from the referral's date on.
 */
static const char SQL_REFERRAL_LIST[] =
    "WITH r (id, referrer_id, referred_id, at, source, evidence,"
    "  created_at) AS ("
    " SELECT id, referrer_id, referred_id, at, source, evidence, created_at"
    "  FROM referrals"
    " UNION ALL"
    " SELECT 0, c.referred_by, c.id, c.created_at, c.source,"
    "  'referred_by field', c.created_at FROM customers c"
    "  WHERE c.referred_by IS NOT NULL AND c.referred_by <> c.id"
    "  AND NOT EXISTS (SELECT 1 FROM referrals x"
    "   WHERE x.referrer_id = c.referred_by AND x.referred_id = c.id))"
    " SELECT r.id, r.referrer_id, a.name, ae.address, r.referred_id,"
    " b.name, be.address, r.at, r.source, r.evidence, r.created_at,"
    " b.source, b.created_at,"
    " (SELECT s.at FROM sales s WHERE s.customer_id = r.referred_id"
    "  ORDER BY s.at, s.id LIMIT 1),"
    " (SELECT s.product FROM sales s WHERE s.customer_id = r.referred_id"
    "  ORDER BY s.at, s.id LIMIT 1),"
    " (SELECT count(*) FROM links l JOIN messages m ON m.id = l.object_id"
    "  WHERE l.customer_id = r.referred_id AND l.object_kind = 'message'"
    "  AND m.date >= r.at),"
    " (SELECT count(*) FROM links l JOIN events e ON e.id = l.object_id"
    "  WHERE l.customer_id = r.referred_id AND l.object_kind = 'event'"
    "  AND e.start_at >= r.at AND e.cancelled = 0)"
    " FROM r JOIN customers a ON a.id = r.referrer_id"
    " JOIN customers b ON b.id = r.referred_id"
    " LEFT JOIN customer_emails ae ON ae.customer_id = a.id"
    "  AND ae.position = 0"
    " LEFT JOIN customer_emails be ON be.customer_id = b.id"
    "  AND be.position = 0"
    " ORDER BY r.at, r.id, r.referred_id";

static const char *
referral_text(sqlite3_stmt *stmt, int col)
{
	return (const char *)sqlite3_column_text(stmt, col);
}

static void
referral_from_row(sqlite3_stmt *stmt, struct store_referral_item *it)
{
	it->id = sqlite3_column_int64(stmt, 0);
	it->referrer_id = sqlite3_column_int64(stmt, 1);
	it->referrer_name = referral_text(stmt, 2);
	it->referrer_address = referral_text(stmt, 3);
	it->referred_id = sqlite3_column_int64(stmt, 4);
	it->referred_name = referral_text(stmt, 5);
	it->referred_address = referral_text(stmt, 6);
	it->at = sqlite3_column_int64(stmt, 7);
	it->source = referral_text(stmt, 8);
	it->evidence = referral_text(stmt, 9);
	it->created_at = sqlite3_column_int64(stmt, 10);
	it->referred_source = referral_text(stmt, 11);
	it->referred_since = sqlite3_column_int64(stmt, 12);
	it->first_sale_at = sqlite3_column_int64(stmt, 13);	/* NULL: 0 */
	it->first_sale_product = referral_text(stmt, 14);
	it->messages = sqlite3_column_int64(stmt, 15);
	it->meetings = sqlite3_column_int64(stmt, 16);
}

int
store_referral_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_referral_item *it), void *ctx)
{
	struct store_referral_item it;
	sqlite3_stmt *stmt = store_stmt(st, SQL_REFERRAL_LIST);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	while ((rc = store_step(st, stmt, "referral list")) == STORE_OK) {
		referral_from_row(stmt, &it);
		if (fn(ctx, &it) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}
