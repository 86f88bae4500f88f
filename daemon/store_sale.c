/*
 * Sales in the store: the amount and the listing (store_sale.h).  The
 * insert itself is store_sale_add() in store_customer.c.
 */
#include "store_int.h"
#include "store_sale.h"

static const char SQL_SALE_SET_AMOUNT[] =
    "UPDATE sales SET amount = ?2 WHERE id = ?1";
/* ?1 = 0 lists every customer's sales; the primary address is position 0. */
static const char SQL_SALE_LIST[] =
    "SELECT s.id, s.customer_id, c.name, e.address, s.product, s.amount,"
    " s.at, s.source, s.created_at"
    " FROM sales s JOIN customers c ON c.id = s.customer_id"
    " LEFT JOIN customer_emails e ON e.customer_id = s.customer_id"
    "  AND e.position = 0"
    " WHERE ?1 = 0 OR s.customer_id = ?1"
    " ORDER BY s.at, s.id";

int
store_sale_set_amount(struct store *st, int64_t id, const char *amount)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_SALE_SET_AMOUNT);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	store_bind_text(stmt, 2, amount);
	if ((rc = store_exec(st, stmt, "sale amount")) != STORE_OK)
		return rc;
	if (sqlite3_changes(st->db) == 0) {
		store_set_error(st, "sale %lld: no such sale", (long long)id);
		return STORE_NOTFOUND;
	}
	return STORE_OK;
}

static void
sale_from_row(sqlite3_stmt *stmt, struct store_sale_item *it)
{
	it->id = sqlite3_column_int64(stmt, 0);
	it->customer_id = sqlite3_column_int64(stmt, 1);
	it->customer_name = (const char *)sqlite3_column_text(stmt, 2);
	it->address = (const char *)sqlite3_column_text(stmt, 3);
	it->product = (const char *)sqlite3_column_text(stmt, 4);
	it->amount = (const char *)sqlite3_column_text(stmt, 5);
	it->at = sqlite3_column_int64(stmt, 6);
	it->source = (const char *)sqlite3_column_text(stmt, 7);
	it->created_at = sqlite3_column_int64(stmt, 8);
}

int
store_sale_foreach(struct store *st, int64_t customer_id,
    int (*fn)(void *ctx, const struct store_sale_item *it), void *ctx)
{
	struct store_sale_item it;
	sqlite3_stmt *stmt;
	int rc;

	if (customer_id != 0 &&
	    (rc = store_customer_exists(st, customer_id)) != STORE_OK)
		return rc;
	if ((stmt = store_stmt(st, SQL_SALE_LIST)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, customer_id);
	while ((rc = store_step(st, stmt, "sale list")) == STORE_OK) {
		sale_from_row(stmt, &it);
		if (fn(ctx, &it) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}
