/*
 * The referral tests' stand-in for the store: a customer table read from
 * DIR/customers.tsv (id TAB name TAB addr[,addr...]) and the addresses with
 * earlier history from DIR/history.tsv (one a line), plus a loader for
 * .eml fixtures.  Name matching follows referral_lookup.by_name: the full
 * name is exact; one word of a spaced name, or a CJK name without its
 * first character (the surname), is partial.
 */
#ifndef RAPPORT_TEST_FAKE_LOOKUP_H
#define RAPPORT_TEST_FAKE_LOOKUP_H

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "classify.h"
#include "linker.h"
#include "message.h"
#include "referral_detect.h"
#include "xmalloc.h"

struct fake_customer {
	int64_t	 id;
	char	*name;
	char	*addrs;		/* comma-separated, normalized */
};

struct fake_db {
	struct fake_customer	*c;
	size_t			 nc;
	char			**history;
	size_t			 nhistory;
};

static char *
fake_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Splits buf into lines in place; calls fn on each non-empty one. */
static void
fake_lines(char *buf, void (*fn)(struct fake_db *, char *), struct fake_db *db)
{
	for (char *line = strtok(buf, "\r\n"); line; line = strtok(NULL, "\r\n"))
		if (*line != '#')
			fn(db, line);
}

static void
fake_add_customer(struct fake_db *db, char *line)
{
	char *name = strchr(line, '\t'), *addrs;

	if (name == NULL || (addrs = strchr(name + 1, '\t')) == NULL)
		return;
	*name++ = '\0';
	*addrs++ = '\0';
	db->c = xreallocarray(db->c, db->nc + 1, sizeof(*db->c));
	db->c[db->nc].id = strtoll(line, NULL, 10);
	db->c[db->nc].name = xstrdup(name);
	db->c[db->nc].addrs = xstrdup(addrs);
	db->nc++;
}

static void
fake_add_history(struct fake_db *db, char *line)
{
	db->history = xreallocarray(db->history, db->nhistory + 1,
	    sizeof(*db->history));
	db->history[db->nhistory++] = xstrdup(line);
}

static int
fake_db_load(struct fake_db *db, const char *dir)
{
	char path[1024], *buf;
	size_t len;

	memset(db, 0, sizeof(*db));
	snprintf(path, sizeof(path), "%s/customers.tsv", dir);
	if ((buf = fake_read_file(path, &len)) == NULL)
		return -1;
	fake_lines(buf, fake_add_customer, db);
	free(buf);
	snprintf(path, sizeof(path), "%s/history.tsv", dir);
	if ((buf = fake_read_file(path, &len)) != NULL) {
		fake_lines(buf, fake_add_history, db);
		free(buf);
	}
	return 0;
}

static void
fake_db_free(struct fake_db *db)
{
	for (size_t i = 0; i < db->nc; i++) {
		free(db->c[i].name);
		free(db->c[i].addrs);
	}
	free(db->c);
	for (size_t i = 0; i < db->nhistory; i++)
		free(db->history[i]);
	free(db->history);
}

static bool
fake_has_addr(const char *list, const char *addr)
{
	size_t n = strlen(addr);

	for (const char *p = list; (p = strstr(p, addr)) != NULL; p++)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

static size_t
fake_by_address(void *ctx, const char *addr, int64_t *ids, size_t max)
{
	struct fake_db *db = ctx;
	size_t n = 0;

	for (size_t i = 0; i < db->nc; i++)
		if (fake_has_addr(db->c[i].addrs, addr)) {
			if (n < max)
				ids[n] = db->c[i].id;
			n++;
		}
	return n;
}

/* Case-insensitive, spacing-insensitive equality of [a, a+al) and b. */
static bool
fake_name_eq(const char *a, size_t al, const char *b)
{
	const char *ae = a + al;

	for (;;) {
		while (a < ae && *a == ' ')
			a++;
		while (*b == ' ')
			b++;
		if (a == ae || *b == '\0')
			return a == ae && *b == '\0';
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
		a++;
		b++;
	}
}

static enum referral_match
fake_name_match(const char *full, const char *name)
{
	const char *sp = strchr(full, ' ');
	size_t first;

	if (fake_name_eq(full, strlen(full), name))
		return REFERRAL_MATCH_EXACT;
	if (sp != NULL) {
		if (fake_name_eq(full, (size_t)(sp - full), name) ||
		    fake_name_eq(strrchr(full, ' ') + 1,
		    strlen(strrchr(full, ' ') + 1), name))
			return REFERRAL_MATCH_PARTIAL;
		return REFERRAL_MATCH_NONE;
	}
	/* A CJK name: its given name is all after the first character. */
	first = ((unsigned char)full[0] >= 0xe0) ? 3 : 1;
	if (strlen(full) >= first + 6 &&
	    fake_name_eq(full + first, strlen(full + first), name))
		return REFERRAL_MATCH_PARTIAL;
	return REFERRAL_MATCH_NONE;
}

static size_t
fake_by_name(void *ctx, const char *name, int64_t *ids, size_t max,
    enum referral_match *match)
{
	struct fake_db *db = ctx;
	size_t n = 0;

	*match = REFERRAL_MATCH_NONE;
	for (int want = REFERRAL_MATCH_EXACT; want >= REFERRAL_MATCH_PARTIAL &&
	    n == 0; want--)
		for (size_t i = 0; i < db->nc; i++)
			if ((int)fake_name_match(db->c[i].name, name) == want) {
				if (n < max)
					ids[n] = db->c[i].id;
				n++;
				*match = (enum referral_match)want;
			}
	return n;
}

static bool
fake_has_history(void *ctx, const char *addr)
{
	struct fake_db *db = ctx;

	for (size_t i = 0; i < db->nhistory; i++)
		if (strcmp(db->history[i], addr) == 0)
			return true;
	return false;
}

/* A customer's first address, for labels. */
static inline const char *
fake_primary(const struct fake_db *db, int64_t id, char *buf, size_t len)
{
	for (size_t i = 0; i < db->nc; i++)
		if (db->c[i].id == id) {
			snprintf(buf, len, "%.*s", (int)strcspn(db->c[i].addrs, ","),
			    db->c[i].addrs);
			return buf;
		}
	return "?";
}

static void
fake_lookups(struct fake_db *db, struct referral_lookup *rl,
    struct linker_lookup *ll)
{
	memset(rl, 0, sizeof(*rl));
	rl->ctx = db;
	rl->by_address = fake_by_address;
	rl->by_name = fake_by_name;
	rl->has_history = fake_has_history;
	memset(ll, 0, sizeof(*ll));
	ll->ctx = db;
	ll->by_address = fake_by_address;
}

/* Parses an .eml file (CRLF or LF) with its first text; -1 if missing. */
static int
fake_parse_eml(const char *path, struct message *m)
{
	size_t n, h;
	char *buf = fake_read_file(path, &n), *sep;

	if (buf == NULL)
		return -1;
	if ((sep = strstr(buf, "\r\n\r\n")) != NULL)
		h = (size_t)(sep - buf) + 4;
	else if ((sep = strstr(buf, "\n\n")) != NULL)
		h = (size_t)(sep - buf) + 2;
	else
		h = n;
	message_parse(m, buf, h, NULL);
	message_parse_body(m, buf + h, n - h, NULL);
	free(buf);
	return 0;
}

/* Runs the whole chain on one file: parse, classify, link, detect.
 * Returns the number of candidates added, -1 if the file is missing. */
static int
fake_detect_file(const char *path, const struct linker *lk,
    const struct referral_detector *d, struct fake_db *db,
    struct referral_candidates *out)
{
	struct message m;
	struct classify_result cls;
	struct linker_result lr;
	struct referral_lookup rl;
	struct linker_lookup ll;
	int n;

	if (fake_parse_eml(path, &m) < 0)
		return -1;
	fake_lookups(db, &rl, &ll);
	classify_message(&m, NULL, &cls);
	linker_link(lk, &m, &cls, false, &ll, &lr);
	n = referral_detect_message(d, &m, &cls, &lr, &rl, out);
	linker_result_free(&lr);
	classify_result_free(&cls);
	message_free(&m);
	return n;
}

#endif
