/* Scaffolding shared by the store-backed unit tests (see testdb.h). */
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store.h"
#include "testdb.h"
#include "xmalloc.h"

void
testdb_mkdir(struct testdb *t, const char *name)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/rapport-%s-XXXXXX", name);
	if (mkdtemp(t->dir) == NULL) {
		printf("Bail out! mkdtemp %s\n", t->dir);
		exit(1);
	}
	snprintf(t->path, sizeof(t->path), "%s/rapport.db", t->dir);
}

void
testdb_connect(struct testdb *t)
{
	char err[512];

	if (store_open(t->path, &t->st, err, sizeof(err)) != STORE_OK) {
		printf("Bail out! %s\n", err);
		exit(1);
	}
}

void
testdb_open(struct testdb *t, const char *name)
{
	testdb_mkdir(t, name);
	testdb_connect(t);
}

static int
remove_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

void
testdb_close(struct testdb *t)
{
	if (t->st != NULL)
		store_close(t->st);
	t->st = NULL;
	/* Depth first and without following links: only what the test made. */
	if (t->dir[0] != '\0' &&
	    nftw(t->dir, remove_one, 8, FTW_DEPTH | FTW_PHYS) != 0)
		printf("# could not remove %s\n", t->dir);
}

/* A second connection: the store's own would hide what the test checks. */
static sqlite3 *
raw_open(const struct testdb *t)
{
	sqlite3 *db;

	if (sqlite3_open(t->path, &db) != SQLITE_OK) {
		printf("Bail out! open %s\n", t->path);
		abort();
	}
	return db;
}

static sqlite3_stmt *
raw_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		printf("Bail out! %s\n# %s\n", sqlite3_errmsg(db), sql);
		abort();
	}
	return stmt;
}

long long
testdb_count(const struct testdb *t, const char *sql)
{
	sqlite3 *db = raw_open(t);
	sqlite3_stmt *stmt = raw_prepare(db, sql);
	long long n = -1;

	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return n;
}

char *
testdb_str(const struct testdb *t, const char *sql, char *buf, size_t size)
{
	sqlite3 *db = raw_open(t);
	sqlite3_stmt *stmt = raw_prepare(db, sql);

	buf[0] = '\0';
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
		snprintf(buf, size, "%s",
		    (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return buf;
}

void
testdb_exec(const struct testdb *t, const char *sql)
{
	sqlite3 *db = raw_open(t);
	char *msg = NULL;

	/* The store may hold a write lock a moment; facts must obey its keys. */
	sqlite3_busy_timeout(db, 5000);
	sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		printf("Bail out! %s\n# %s\n", msg, sql);
		abort();
	}
	sqlite3_close(db);
}

int64_t
testdb_insert(struct store *st, struct customer *c)
{
	int64_t id;

	if (store_customer_insert(st, c) != STORE_OK) {
		printf("Bail out! insert %s: %s\n", c->name ? c->name : "?",
		    store_errmsg(st));
		abort();
	}
	id = c->id;
	customer_clear(c);
	return id;
}

int64_t
testdb_customer(struct store *st, const char *name, const char *addr)
{
	struct customer c;

	customer_init(&c);
	c.name = xstrdup(name);
	customer_add_email(&c, addr);
	return testdb_insert(st, &c);
}

void
testdb_now(const char *iso)
{
	char err[128];

	setenv("RAPPORT_NOW", iso, 1);
	if (clock_init(err, sizeof(err)) != 0) {
		printf("Bail out! clock: %s\n", err);
		abort();
	}
}

int64_t
testdb_at(const char *iso)
{
	int64_t t;

	if (clock_parse_iso8601(iso, &t) != 0) {
		printf("Bail out! bad time %s\n", iso);
		abort();
	}
	return t;
}
