/*
 * Scaffolding shared by the unit tests that need a real store: a
 * temporary folder with a database in it, raw SQL on a second connection
 * (to see or set what the store's API hides), a customer in one call, and
 * the test clock.  A test without its fixture proves nothing, so every
 * failure here stops the test ("Bail out!" or abort).
 */
#ifndef RAPPORT_TESTDB_H
#define RAPPORT_TESTDB_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct testdb {
	char		 dir[64];	/* the temporary folder */
	char		 path[128];	/* dir/rapport.db */
	struct store	*st;		/* NULL until opened */
};

/* Makes /tmp/rapport-NAME-XXXXXX and names the database in it. */
void testdb_mkdir(struct testdb *t, const char *name);
/* Opens the store at t->path in t->st. */
void testdb_connect(struct testdb *t);
/* testdb_mkdir, then testdb_connect. */
void testdb_open(struct testdb *t, const char *name);
/* Closes the store (if open) and removes the folder with all in it. */
void testdb_close(struct testdb *t);

/* Column 0 of the first row as an integer, -1 when there is no row. */
long long testdb_count(const struct testdb *t, const char *sql);
/* Column 0 of the first row as text in buf ("" when no row or NULL). */
char *testdb_str(const struct testdb *t, const char *sql, char *buf,
    size_t size);
/* Runs sql (one or more statements) with foreign keys enforced. */
void testdb_exec(const struct testdb *t, const char *sql);

/* Inserts c, clears it and returns its id. */
int64_t testdb_insert(struct store *st, struct customer *c);
/* A customer with a name and one address; returns its id. */
int64_t testdb_customer(struct store *st, const char *name,
    const char *addr);

/* Sets RAPPORT_NOW to iso and re-reads the clock. */
void testdb_now(const char *iso);
/* iso (ISO 8601) as Unix time. */
int64_t testdb_at(const char *iso);

#endif
