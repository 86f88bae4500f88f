/*
 * The SQLite store: opening and migrating the database, the per-connection
 * statement cache, transactions, errors, and the small tables (status,
 * suppressions).  Customers live in store_customer.c, the schema in
 * store_schema.c.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xmalloc.h"

#define STORE_BUSY_TIMEOUT_MS	5000

/* ---- errors ---- */

void
store_set_error(struct store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
	va_end(ap);
}

int
store_fail(struct store *st, int sqlite_rc, const char *what)
{
	store_set_error(st, "%s: %s", what, sqlite3_errmsg(st->db));
	if (sqlite_rc == SQLITE_CONSTRAINT_UNIQUE ||
	    sqlite_rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return STORE_CONFLICT;
	return STORE_ERROR;
}

const char *
store_errmsg(struct store *st)
{
	return st->errmsg[0] ? st->errmsg : "no error";
}

/* ---- statements ---- */

/*
 * The cache is an open-addressing hash table keyed by the SQL string's
 * address (capcache slots, a power of two, at most half full; sql NULL:
 * free).  A linear scan of the 100-odd statements an ingest uses cost
 * more than some of the statements themselves.
 */
static size_t
store_stmt_slot(const struct store *st, const char *sql)
{
	uintptr_t h = (uintptr_t)sql;
	size_t i;

	/* Pointer bits mixed so neighbouring strings spread out. */
	h ^= h >> 17;
	h *= (uintptr_t)0x9e3779b97f4a7c15ULL;
	h ^= h >> 29;
	for (i = h & (st->capcache - 1); st->cache[i].sql != NULL &&
	    st->cache[i].sql != sql; i = (i + 1) & (st->capcache - 1))
		;
	return i;
}

static void
store_stmt_grow(struct store *st)
{
	struct store_cached *old = st->cache;
	size_t oldcap = st->capcache;

	st->capcache = oldcap ? oldcap * 2 : 64;
	st->cache = xcalloc(st->capcache, sizeof(*st->cache));
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].sql != NULL)
			st->cache[store_stmt_slot(st, old[i].sql)] = old[i];
	free(old);
}

sqlite3_stmt *
store_stmt(struct store *st, const char *sql)
{
	sqlite3_stmt *stmt;
	size_t i;
	int rc;

	if (st->capcache > 0) {
		i = store_stmt_slot(st, sql);
		if (st->cache[i].sql != NULL) {
			stmt = st->cache[i].stmt;
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			return stmt;
		}
	}
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &stmt, NULL);
	if (rc != SQLITE_OK) {
		store_fail(st, rc, "prepare");
		return NULL;
	}
	if ((st->ncache + 1) * 2 > st->capcache)
		store_stmt_grow(st);
	i = store_stmt_slot(st, sql);
	st->cache[i].sql = sql;
	st->cache[i].stmt = stmt;
	st->ncache++;
	return stmt;
}

int
store_step(struct store *st, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW)
		return STORE_OK;
	sqlite3_reset(stmt);
	if (rc == SQLITE_DONE)
		return STORE_NOTFOUND;
	return store_fail(st, rc, what);
}

int
store_exec(struct store *st, sqlite3_stmt *stmt, const char *what)
{
	int rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		;
	sqlite3_reset(stmt);
	if (rc == SQLITE_DONE)
		return STORE_OK;
	return store_fail(st, rc, what);
}

void
store_bind_text(sqlite3_stmt *stmt, int idx, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(stmt, idx);
	else
		sqlite3_bind_text(stmt, idx, s, -1, SQLITE_TRANSIENT);
}

void
store_bind_int64_or_null(sqlite3_stmt *stmt, int idx, int64_t v)
{
	if (v == 0)
		sqlite3_bind_null(stmt, idx);
	else
		sqlite3_bind_int64(stmt, idx, v);
}

char *
store_column_strdup(sqlite3_stmt *stmt, int col)
{
	const unsigned char *s;

	if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
		return NULL;
	s = sqlite3_column_text(stmt, col);
	return xstrdup(s ? (const char *)s : "");
}

/* A constant statement without parameters, run through the cache. */
static int
store_run(struct store *st, const char *sql, const char *what)
{
	sqlite3_stmt *stmt = store_stmt(st, sql);

	if (stmt == NULL)
		return STORE_ERROR;
	return store_exec(st, stmt, what);
}

/* ---- transactions ---- */

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_BEGIN_READ[] = "BEGIN DEFERRED";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT store_unit";
static const char SQL_RELEASE[] = "RELEASE store_unit";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO store_unit";

int
store_begin(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db)) {
		store_set_error(st, "begin: a transaction is already open");
		return STORE_ERROR;
	}
	return store_run(st, SQL_BEGIN, "begin");
}

int
store_commit(struct store *st)
{
	int rc = store_run(st, SQL_COMMIT, "commit");

	/* A failed COMMIT leaves the transaction open: undo it, so the
	 * connection is usable and the caller's error is the whole story. */
	if (rc != STORE_OK && !sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int
store_rollback(struct store *st)
{
	/* SQLite may already have rolled back (e.g. on SQLITE_FULL). */
	if (sqlite3_get_autocommit(st->db))
		return STORE_OK;
	return store_run(st, SQL_ROLLBACK, "rollback");
}

int
store_tx_enter(struct store *st, struct store_tx *tx)
{
	tx->own = sqlite3_get_autocommit(st->db) != 0;
	if (tx->own)
		return store_run(st, SQL_BEGIN, "begin");
	return store_run(st, SQL_SAVEPOINT, "savepoint");
}

int
store_tx_enter_read(struct store *st, struct store_tx *tx)
{
	tx->own = sqlite3_get_autocommit(st->db) != 0;
	if (tx->own)
		return store_run(st, SQL_BEGIN_READ, "begin");
	return store_run(st, SQL_SAVEPOINT, "savepoint");
}

int
store_tx_leave(struct store *st, struct store_tx *tx, int rc)
{
	char keep[sizeof(st->errmsg)];

	if (rc == STORE_OK) {
		if (tx->own)
			return store_commit(st);
		return store_run(st, SQL_RELEASE, "release");
	}
	/* Undoing must not overwrite the message that says why. */
	memcpy(keep, st->errmsg, sizeof(keep));
	if (tx->own)
		store_rollback(st);
	else if (!sqlite3_get_autocommit(st->db)) {
		store_run(st, SQL_ROLLBACK_TO, "rollback to");
		store_run(st, SQL_RELEASE, "release");
	}
	memcpy(st->errmsg, keep, sizeof(keep));
	return rc;
}

/* ---- open, migrate, close ---- */

static const char SQL_USER_VERSION[] = "PRAGMA user_version";

int
store_version(struct store *st)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_USER_VERSION);
	int v;

	if (stmt == NULL || store_step(st, stmt, "user_version") != STORE_OK)
		return -1;
	v = sqlite3_column_int(stmt, 0);
	sqlite3_reset(stmt);
	return v;
}

/*
 * The database holds personal data: create it readable by its owner only.
 * SQLite gives the -wal and -shm files the same mode.
 */
static void
store_precreate(const char *path)
{
	int fd;

	if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd != -1)
		close(fd);
}

/* A pragma that answers one value (journal_mode); the answer is copied. */
static int
store_pragma_text(struct store *st, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *stmt;
	const unsigned char *v;
	int rc;

	rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return store_fail(st, rc, sql);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		v = sqlite3_column_text(stmt, 0);
		snprintf(out, outlen, "%s", v ? (const char *)v : "");
		rc = SQLITE_DONE;
	} else if (rc == SQLITE_DONE)
		out[0] = '\0';
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? STORE_OK : store_fail(st, rc, sql);
}

/*
 * Bulk writes go into indexes keyed at random (a dedupe key, a
 * participant address, an unsubscribe token), so each row touches a
 * different page of each.  With SQLite's default 2 MiB cache, 100,000
 * of them spilled dirty pages mid-transaction and read pages back from
 * the file for every insert (bench/imap, bench/send); the bigger cache
 * keeps the hot index pages.  Rarer checkpoints copy a page rewritten by
 * ten batches back to the database file once, not ten times.  Every
 * commit is still in the WAL (synchronous = NORMAL).
 */
#define STORE_BULK_CHECKPOINT_PAGES	8000

int
store_bulk_setup(struct store *st, int cache_kib)
{
	char sql[48], out[32];

	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", cache_kib);
	if (store_pragma_text(st, sql, out, sizeof(out)) != STORE_OK)
		return STORE_ERROR;
	sqlite3_wal_autocheckpoint(st->db, STORE_BULK_CHECKPOINT_PAGES);
	return STORE_OK;
}

static int
store_configure(struct store *st)
{
	char mode[32];

	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	if (store_pragma_text(st, "PRAGMA journal_mode = WAL", mode,
	    sizeof(mode)) != STORE_OK)
		return STORE_ERROR;
	/* An in-memory database (tests) answers "memory"; a file must be WAL
	 * or readers and the daemon's writers would block each other. */
	if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
		store_set_error(st, "cannot use WAL journal (got \"%s\")", mode);
		return STORE_ERROR;
	}
	if (store_pragma_text(st, "PRAGMA foreign_keys = ON", mode,
	    sizeof(mode)) != STORE_OK ||
	    store_pragma_text(st, "PRAGMA synchronous = NORMAL", mode,
	    sizeof(mode)) != STORE_OK ||
	    /* Savepoints inside a long transaction (an import) otherwise
	     * spill their journals to a temp file: 2x slower. */
	    store_pragma_text(st, "PRAGMA temp_store = MEMORY", mode,
	    sizeof(mode)) != STORE_OK ||
	    store_pragma_text(st, "PRAGMA foreign_keys", mode,
	    sizeof(mode)) != STORE_OK)
		return STORE_ERROR;
	if (strcmp(mode, "1") != 0) {
		store_set_error(st, "this SQLite cannot enforce foreign keys");
		return STORE_ERROR;
	}
	return STORE_OK;
}

/* Runs migration step `to` (1-based) unless another process just did. */
static int
store_migrate_step(struct store *st, int to)
{
	char *msg = NULL;
	int rc, v;

	if ((rc = store_run(st, SQL_BEGIN, "begin")) != STORE_OK)
		return rc;
	if ((v = store_version(st)) < 0) {
		rc = STORE_ERROR;
		goto out;
	}
	if (v >= to)
		goto out;
	/* DDL is a constant script, so sqlite3_exec: nothing is bound. */
	if (sqlite3_exec(st->db, store_migrations[to - 1].sql, NULL, NULL,
	    &msg) != SQLITE_OK) {
		store_set_error(st, "schema step %d: %s", to,
		    msg ? msg : "failed");
		rc = STORE_ERROR;
		goto out;
	}
	if ((v = store_version(st)) != to) {
		store_set_error(st, "schema step %d left user_version %d", to, v);
		rc = STORE_ERROR;
	}
out:
	sqlite3_free(msg);
	if (rc == STORE_OK)
		return store_commit(st);
	store_rollback(st);
	return rc;
}

static int
store_migrate(struct store *st)
{
	int v = store_version(st);

	if (v < 0)
		return STORE_ERROR;
	if (v > store_schema_version) {
		store_set_error(st, "made by a newer rapport (schema %d, this "
		    "build knows %d); upgrade rapport", v, store_schema_version);
		return STORE_ERROR;
	}
	for (int to = v + 1; to <= store_schema_version; to++)
		if (store_migrate_step(st, to) != STORE_OK)
			return STORE_ERROR;
	return STORE_OK;
}

/*
 * SQLite counts each allocation it makes, under a global mutex, for
 * sqlite3_memory_used() and the heap limits, none of which rapport uses:
 * with the locking, a twentieth of the instructions of a mail ingest.
 * This can only be set before SQLite initializes (the first open); once
 * it has (a test opened a database on its own first), SQLite refuses it
 * and nothing changes.
 */
static void
store_sqlite_setup(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int
store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct store *st;
	int rc;

	pthread_once(&once, store_sqlite_setup);
	st = xcalloc(1, sizeof(*st));
	*out = NULL;
	st->path = xstrdup(path);
	store_precreate(path);
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, st->db ?
		    sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		store_close(st);
		return STORE_ERROR;
	}
	if (store_configure(st) != STORE_OK || store_migrate(st) != STORE_OK) {
		snprintf(err, errlen, "%s: %s", path, st->errmsg);
		store_close(st);
		return STORE_ERROR;
	}
	st->errmsg[0] = '\0';
	*out = st;
	return STORE_OK;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->capcache; i++)
		if (st->cache[i].sql != NULL)
			sqlite3_finalize(st->cache[i].stmt);
	free(st->cache);
	/* Every statement is finalized, so this closes for sure. */
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

/* ---- suppressions ---- */

/* A later reason replaces an earlier one: the address stays suppressed
 * either way, and the latest reason is the one a person asks about. */
static const char SQL_SUPPRESSION_ADD[] =
    "INSERT INTO suppressions (address, reason, at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (address) DO UPDATE SET reason = excluded.reason,"
    " at = excluded.at";
static const char SQL_SUPPRESSION_GET[] =
    "SELECT reason FROM suppressions WHERE address = ?1";

int
store_suppression_add(struct store *st, const char *addr, const char *reason,
    int64_t at)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_SUPPRESSION_ADD);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(stmt, 1, addr, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 2, reason ? reason : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 3, at);
	return store_exec(st, stmt, "suppression add");
}

int
store_suppression_get(struct store *st, const char *addr, char **reason)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_SUPPRESSION_GET);
	int rc;

	if (reason)
		*reason = NULL;
	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(stmt, 1, addr, -1, SQLITE_TRANSIENT);
	if ((rc = store_step(st, stmt, "suppression get")) != STORE_OK)
		return rc;
	if (reason)
		*reason = store_column_strdup(stmt, 0);
	sqlite3_reset(stmt);
	return STORE_OK;
}

/* ---- status ---- */

static const char SQL_STATUS_SET[] =
    "INSERT INTO status (key, value, at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, at = excluded.at";
static const char SQL_STATUS_ALL[] =
    "SELECT key, value, at FROM status ORDER BY key";

int
store_status_set(struct store *st, const char *key, const char *value,
    int64_t at)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_STATUS_SET);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
	store_bind_text(stmt, 2, value);
	sqlite3_bind_int64(stmt, 3, at);
	return store_exec(st, stmt, "status set");
}

int
store_status_foreach(struct store *st,
    int (*fn)(void *ctx, const char *key, const char *value, int64_t at),
    void *ctx)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_STATUS_ALL);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	while ((rc = store_step(st, stmt, "status")) == STORE_OK) {
		if (fn(ctx, (const char *)sqlite3_column_text(stmt, 0),
		    (const char *)sqlite3_column_text(stmt, 1),
		    sqlite3_column_int64(stmt, 2)) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}
