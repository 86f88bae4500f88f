/*
 * Unsubscribe tokens (store_unsubscribe.h), schema version 6.
 */
#include "store_int.h"

#include <string.h>
#include <sys/random.h>

#include "store_unsubscribe.h"

static const char SQL_UNSUB_GET[] =
    "SELECT token FROM unsubscribe_tokens WHERE customer_id = ?1";
/* Either key taken: the customer has a token (a random one cannot
 * collide), which stays. */
static const char SQL_UNSUB_ADD[] =
    "INSERT INTO unsubscribe_tokens (token, customer_id, created_at)"
    " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
static const char SQL_UNSUB_FIND[] =
    "SELECT t.customer_id, c.newsletter FROM unsubscribe_tokens t"
    " JOIN customers c ON c.id = t.customer_id WHERE t.token = ?1";
static const char SQL_UNSUB_WITHDRAW[] =
    "UPDATE customers SET newsletter = 0, consent_at = ?2,"
    " consent_source = 'link', updated_at = ?2 WHERE id = ?1";

static const char token_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

bool
unsubscribe_token_valid(const char *s)
{
	size_t n = strspn(s, token_alphabet);

	return n == UNSUBSCRIBE_TOKEN_LEN && s[n] == '\0';
}

/*
 * Random bytes for tokens, fetched 16 tokens' worth at a time (a
 * getrandom(2) per token was one system call per newsletter recipient);
 * each byte is wiped once used.
 */
struct token_pool {
	unsigned char	 b[16 * UNSUBSCRIBE_TOKEN_LEN];
	size_t		 used;
};

static _Thread_local struct token_pool token_pool = {
	.used = sizeof(token_pool.b)
};

static int
token_make(struct store *st, char token[UNSUBSCRIBE_TOKEN_LEN + 1])
{
	struct token_pool *tp = &token_pool;
	unsigned char *r;

	if (tp->used + UNSUBSCRIBE_TOKEN_LEN > sizeof(tp->b)) {
		if (getrandom(tp->b, sizeof(tp->b), 0) !=
		    (ssize_t)sizeof(tp->b)) {
			store_set_error(st, "unsubscribe token: no randomness");
			return STORE_ERROR;
		}
		tp->used = 0;
	}
	r = tp->b + tp->used;
	/* 26 characters of 5 bits: 130 bits, the alphabet taking 5 of 8. */
	for (size_t i = 0; i < UNSUBSCRIBE_TOKEN_LEN; i++)
		token[i] = token_alphabet[r[i] & 31];
	token[UNSUBSCRIBE_TOKEN_LEN] = '\0';
	explicit_bzero(r, UNSUBSCRIBE_TOKEN_LEN);
	tp->used += UNSUBSCRIBE_TOKEN_LEN;
	return STORE_OK;
}

/* Inserts a new token for the customer unless one exists. */
static int
token_add(struct store *st, int64_t customer_id, int64_t now,
    char token[UNSUBSCRIBE_TOKEN_LEN + 1], bool *added)
{
	sqlite3_stmt *stmt;
	int rc;

	*added = false;
	if ((rc = token_make(st, token)) != STORE_OK)
		return rc;
	if ((stmt = store_stmt(st, SQL_UNSUB_ADD)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(stmt, 1, token, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, customer_id);
	sqlite3_bind_int64(stmt, 3, now);
	if ((rc = store_exec(st, stmt, "unsubscribe token")) == STORE_OK)
		*added = sqlite3_changes(st->db) > 0;
	return rc;
}

int
store_unsubscribe_token_get(struct store *st, int64_t customer_id,
    char token[UNSUBSCRIBE_TOKEN_LEN + 1])
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_UNSUB_GET);
	const char *t;
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, customer_id);
	if ((rc = store_step(st, stmt, "unsubscribe token")) != STORE_OK)
		return rc;
	t = (const char *)sqlite3_column_text(stmt, 0);
	if (t == NULL || !unsubscribe_token_valid(t))
		rc = STORE_ERROR;
	else
		memcpy(token, t, UNSUBSCRIBE_TOKEN_LEN + 1);
	sqlite3_reset(stmt);
	if (rc != STORE_OK)
		store_set_error(st, "customer %lld: malformed unsubscribe token",
		    (long long)customer_id);
	return rc;
}

int
store_unsubscribe_token(struct store *st, int64_t customer_id, int64_t now,
    char token[UNSUBSCRIBE_TOKEN_LEN + 1])
{
	bool added;
	int rc;

	if ((rc = store_unsubscribe_token_get(st, customer_id, token)) !=
	    STORE_NOTFOUND)
		return rc;
	/* One statement: another writer's token, made since the read
	 * above, stays and is the one read back. */
	if ((rc = token_add(st, customer_id, now, token, &added)) !=
	    STORE_OK || added)
		return rc;
	return store_unsubscribe_token_get(st, customer_id, token);
}

int
store_unsubscribe_token_ensure(struct store *st, int64_t customer_id,
    int64_t now)
{
	char token[UNSUBSCRIBE_TOKEN_LEN + 1];
	bool added;
	int rc;

	rc = token_add(st, customer_id, now, token, &added);
	explicit_bzero(token, sizeof(token));
	return rc;
}

int
store_unsubscribe_by_token(struct store *st, const char *token, int64_t now,
    int64_t *customer_id, bool *changed)
{
	struct store_tx tx;
	sqlite3_stmt *stmt;
	int rc;

	if (!unsubscribe_token_valid(token)) {
		store_set_error(st, "not an unsubscribe token");
		return STORE_NOTFOUND;
	}
	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((stmt = store_stmt(st, SQL_UNSUB_FIND)) == NULL)
		return store_tx_leave(st, &tx, STORE_ERROR);
	sqlite3_bind_text(stmt, 1, token, -1, SQLITE_STATIC);
	if ((rc = store_step(st, stmt, "unsubscribe token")) == STORE_NOTFOUND)
		store_set_error(st, "no such unsubscribe token");
	if (rc != STORE_OK)
		return store_tx_leave(st, &tx, rc);
	*customer_id = sqlite3_column_int64(stmt, 0);
	*changed = sqlite3_column_int(stmt, 1) != 0;
	sqlite3_reset(stmt);
	/* Withdrawing again keeps the first withdrawal's date. */
	if (*changed) {
		if ((stmt = store_stmt(st, SQL_UNSUB_WITHDRAW)) == NULL)
			return store_tx_leave(st, &tx, STORE_ERROR);
		sqlite3_bind_int64(stmt, 1, *customer_id);
		sqlite3_bind_int64(stmt, 2, now);
		rc = store_exec(st, stmt, "unsubscribe");
	}
	return store_tx_leave(st, &tx, rc);
}
