/*
 * Private to the SQLite store (store*.c): the connection, its statement
 * cache and the helpers every store_*.c file shares.  Nothing outside
 * store*.c includes this header; the rest of rapport sees store.h only.
 */
#ifndef RAPPORT_STORE_INT_H
#define RAPPORT_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* A migration step: SQL run in one transaction; it must end by setting
 * PRAGMA user_version to its own number (checked after it ran). */
struct store_migration {
	const char	*sql;
};

extern const struct store_migration store_migrations[];

struct store_cached {
	const char	*sql;	/* the key: identity of a static string */
	sqlite3_stmt	*stmt;
};

struct store {
	sqlite3			*db;
	char			*path;
	struct store_cached	*cache;
	size_t			 ncache, capcache;
	char			 errmsg[512];
};

/*
 * A write made of several statements.  It is a transaction of its own
 * when the caller has none open, a savepoint inside the caller's
 * otherwise, so store functions nest inside store_begin()/store_commit().
 */
struct store_tx {
	bool	 own;	/* we issued BEGIN IMMEDIATE */
};

int store_tx_enter(struct store *st, struct store_tx *tx);
/* The same for reads that must see one snapshot: takes no write lock. */
int store_tx_enter_read(struct store *st, struct store_tx *tx);
/* Commits (rc == STORE_OK) or undoes the unit; returns rc, or
 * STORE_ERROR if the commit failed. */
int store_tx_leave(struct store *st, struct store_tx *tx, int rc);

/*
 * The cached statement for sql, reset and with its bindings cleared;
 * NULL (with errmsg set) if it does not prepare.  sql must be a string
 * with static storage: its address is the cache key.
 */
sqlite3_stmt *store_stmt(struct store *st, const char *sql);
/* Runs a statement that returns no row (or whose rows are ignored):
 * STORE_OK, STORE_CONFLICT on a unique key, STORE_ERROR.  Resets it. */
int store_exec(struct store *st, sqlite3_stmt *stmt, const char *what);
/*
 * Steps once: STORE_OK with a row, STORE_NOTFOUND at the end, STORE_ERROR
 * or STORE_CONFLICT on failure (statement reset then).
 */
int store_step(struct store *st, sqlite3_stmt *stmt, const char *what);
/* Maps a failed sqlite3 result code to a STORE_* code and the message. */
int store_fail(struct store *st, int sqlite_rc, const char *what);
void store_set_error(struct store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Binding helpers: NULL for NULL strings, and for 0 where 0 means "none". */
void store_bind_text(sqlite3_stmt *stmt, int idx, const char *s);
void store_bind_int64_or_null(sqlite3_stmt *stmt, int idx, int64_t v);
/* A column as a fresh string, NULL for SQL NULL. */
char *store_column_strdup(sqlite3_stmt *stmt, int col);

/* STORE_OK if customer id exists; STORE_NOTFOUND ("customer N: no such
 * customer") if not; STORE_ERROR. */
int store_customer_exists(struct store *st, int64_t id);

#endif
