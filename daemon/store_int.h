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

/*
 * The key of a send in outbox_by_account (schema version 12), which the
 * budget's query (store_outbox.c) must spell as the index does: a row
 * being sent has no sent_at yet and sorts after every sent one.  Never
 * edit it: a changed expression needs a new index, in a new migration.
 */
#define STORE_OUTBOX_SENT_KEY "coalesce(sent_at, 9223372036854775807)"

/*
 * The parts of a customer's name that the referral rules look up alone
 * (store_referral.c), as schema version 11 indexes them.  SQLite uses an
 * expression index only for a query that spells the expression as the
 * index does, so the migration and the query share these.  Never edit
 * them: a changed expression needs a new index, in a new migration.
 *
 * They cut the name at the same bytes as referral_partial() cuts it: the
 * first word, the last word, and, for a name led by a three- or four-byte
 * character (a CJK name written whole: surname, then given name), what
 * follows that character.  Bytes, not characters: on a BLOB, substr(),
 * instr() and length() count bytes, so a name that is not valid UTF-8 is
 * cut as the C code cuts it.  lower() and replace() work on bytes and
 * lower() folds ASCII only, as the C code's folding does.  They use
 * SQLite's own functions, so SQLite keeps the indexes up to date on every
 * insert, edit and rename, the sqlite3 shell's included.
 */
#define STORE_NAME_FIRST_WORD \
	"lower(substr(CAST(ltrim(name, ' ') AS BLOB), 1," \
	" instr(CAST(ltrim(name, ' ') AS BLOB), x'20') - 1))"
/* rtrim() drops the last word: its set is every byte but the space (and
 * NUL), in an order where each byte is a character of its own. */
#define STORE_NAME_LAST_WORD \
	"lower(substr(CAST(name AS BLOB), length(CAST(rtrim(name, x'" \
	"0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F21" \
	"22232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F4041" \
	"42434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F6061" \
	"62636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F8081" \
	"82838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9FA0A1" \
	"A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1" \
	"C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDFE0E1" \
	"E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF" \
	"') AS BLOB)) + 1))"
#define STORE_NAME_GIVEN_CJK \
	"CASE WHEN CAST(ltrim(name, ' ') AS BLOB) >= x'E0' THEN" \
	" replace(lower(substr(CAST(ltrim(name, ' ') AS BLOB)," \
	" CASE WHEN CAST(ltrim(name, ' ') AS BLOB) >= x'F0' THEN 5 ELSE 4 END))," \
	" ' ', '') END"

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
