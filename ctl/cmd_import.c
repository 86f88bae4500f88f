/*
 * rapportctl customer import FILE.csv: customers from a spreadsheet.
 *
 * A customer's identity is their addresses: a row whose addresses belong
 * to a stored customer updates that customer (only the columns the file
 * has; the file is the authority on them), a row whose addresses are all
 * new adds one.  Re-importing a file therefore changes nothing.
 *
 * The whole file is one transaction, so an interrupted import leaves the
 * database as it was.  A bad row is named ("FILE:LINE: why") and skipped;
 * the good rows are kept.  referred_by may name a customer further down
 * the file: such rows are fixed up after the last row.
 */
#include "ctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "csv.h"
#include "json.h"
#include "xmalloc.h"

enum col {
	COL_NAME, COL_EMAIL, COL_EMAILS, COL_BIRTHDAY, COL_TAGS, COL_LANG,
	COL_TZ, COL_TIER, COL_COMPANY, COL_NEWSLETTER, COL_REFERRED, COL_NOTES,
	NCOL
};

static const char *const import_colnames[NCOL] = {
	"name", "email", "emails", "birthday", "tags", "lang", "tz", "tier",
	"company", "newsletter", "referred_by", "notes",
};

/* Addresses met in the file so far, with their line: an open-addressing
 * hash set, because a file may hold a million rows. */
struct seen {
	char		**keys;
	unsigned long	 *lines;
	size_t		  cap, n;
};

struct fixup {
	int64_t		 id;
	char		*referrer;
	unsigned long	 line;
	bool		 was_unchanged;
};

struct import_error {
	unsigned long	 line;
	char		*msg;
};

struct import {
	struct ctl	*ctl;
	const char	*path;
	char		*source;	/* "import:BASENAME" */
	int		 col[NCOL];	/* field index, -1: absent */
	size_t		 n_header;
	struct seen	 seen;
	struct fixup	*fixups;
	size_t		 n_fixups;
	struct import_error *errors;
	size_t		 n_errors;
	unsigned long	 rows, added, updated, unchanged, skipped;
	int64_t		 now;
	bool		 dry_run;
	bool		 progress;
};

/* What one row says, checked, before it touches the database. */
struct row {
	char		 addrs[16][320];	/* normalized; [0]: the email column */
	size_t		 n_addrs;
	int		 by, bm, bd;
	char		 tier;
	char		 lang[16];
	int		 newsletter;	/* -1: not said */
	char		 referrer[320];	/* "" when none */
	char		*tags[64];
	size_t		 n_tags;
};

/* ---- the address set ---- */

static size_t
seen_hash(const char *s)
{
	size_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static size_t
seen_slot(const struct seen *s, const char *key)
{
	size_t i = seen_hash(key) & (s->cap - 1);

	while (s->keys[i] && strcmp(s->keys[i], key) != 0)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static unsigned long
seen_get(const struct seen *s, const char *key)
{
	size_t i;

	if (!s->cap)
		return 0;
	i = seen_slot(s, key);
	return s->keys[i] ? s->lines[i] : 0;
}

static void
seen_put(struct seen *s, const char *key, unsigned long line)
{
	struct seen bigger;
	size_t i;

	if (2 * (s->n + 1) > s->cap) {
		bigger.cap = s->cap ? s->cap * 2 : 1024;
		bigger.n = s->n;
		bigger.keys = xcalloc(bigger.cap, sizeof(char *));
		bigger.lines = xcalloc(bigger.cap, sizeof(unsigned long));
		for (size_t k = 0; k < s->cap; k++) {
			if (!s->keys[k])
				continue;
			i = seen_slot(&bigger, s->keys[k]);
			bigger.keys[i] = s->keys[k];
			bigger.lines[i] = s->lines[k];
		}
		free(s->keys);
		free(s->lines);
		*s = bigger;
	}
	i = seen_slot(s, key);
	if (!s->keys[i]) {
		s->keys[i] = xstrdup(key);
		s->n++;
	}
	s->lines[i] = line;
}

static void
seen_free(struct seen *s)
{
	for (size_t k = 0; k < s->cap; k++)
		free(s->keys[k]);
	free(s->keys);
	free(s->lines);
}

/* ---- messages ---- */

static void
import_error(struct import *im, unsigned long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
import_error(struct import *im, unsigned long line, const char *fmt, ...)
{
	struct import_error *e;
	va_list ap;

	im->errors = xreallocarray(im->errors, im->n_errors + 1, sizeof(*im->errors));
	e = &im->errors[im->n_errors++];
	e->line = line;
	va_start(ap, fmt);
	xvasprintf(&e->msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s:%lu: %s\n", im->path, line, e->msg);
}

static void
import_free(struct import *im)
{
	seen_free(&im->seen);
	for (size_t i = 0; i < im->n_fixups; i++)
		free(im->fixups[i].referrer);
	free(im->fixups);
	for (size_t i = 0; i < im->n_errors; i++)
		free(im->errors[i].msg);
	free(im->errors);
	free(im->source);
}

/* ---- the header ---- */

static int
import_header(struct import *im, struct csv *csv)
{
	char *name;
	int k;

	if (csv->bad)
		return ctl_fail(im->ctl, "%s:%lu: header: %s", im->path, csv->line,
		    csv->bad);
	for (k = 0; k < NCOL; k++)
		im->col[k] = -1;
	im->n_header = csv->n_fields;
	for (size_t i = 0; i < csv->n_fields; i++) {
		name = field_trim(csv->fields[i]);
		for (char *p = name; *p; p++)
			if (*p == '-' || *p == ' ')
				*p = '_';
		for (k = 0; k < NCOL && strcasecmp(name, import_colnames[k]); k++)
			;
		if (k == NCOL)
			return ctl_fail(im->ctl, "%s:%lu: unknown column '%s' (known: "
			    "name, email, emails, birthday, tags, lang, tz, tier, "
			    "company, newsletter, referred_by, notes)",
			    im->path, csv->line, csv->fields[i]);
		if (im->col[k] >= 0)
			return ctl_fail(im->ctl, "%s:%lu: column '%s' appears twice",
			    im->path, csv->line, import_colnames[k]);
		im->col[k] = (int)i;
	}
	if (im->col[COL_NAME] < 0 || im->col[COL_EMAIL] < 0)
		return ctl_fail(im->ctl, "%s:%lu: the header needs the columns "
		    "'name' and 'email'", im->path, csv->line);
	return CTL_OK;
}

/* ---- checking a row ---- */

/* The trimmed cell of column k, or NULL when the file has no such column. */
static char *
import_cell(struct import *im, struct csv *csv, enum col k)
{
	return im->col[k] < 0 ? NULL : field_trim(csv->fields[im->col[k]]);
}

static int
row_add_addr(struct import *im, struct row *r, const char *addr,
    unsigned long line)
{
	char norm[320];

	if (ctl_normalize(im->ctl, addr, norm, sizeof(norm)) == -1) {
		import_error(im, line, "'%s' is not an e-mail address", addr);
		return -1;
	}
	for (size_t i = 0; i < r->n_addrs; i++)
		if (strcmp(r->addrs[i], norm) == 0)
			return 0;
	if (r->n_addrs == sizeof(r->addrs) / sizeof(r->addrs[0])) {
		import_error(im, line, "more than %zu addresses",
		    sizeof(r->addrs) / sizeof(r->addrs[0]));
		return -1;
	}
	memcpy(r->addrs[r->n_addrs++], norm, strlen(norm) + 1);
	return 0;
}

static int
row_addresses(struct import *im, struct csv *csv, struct row *r)
{
	char *email = import_cell(im, csv, COL_EMAIL);
	char *more = import_cell(im, csv, COL_EMAILS), *tok, *save;

	if (!*email) {
		import_error(im, csv->line, "the email column is empty");
		return -1;
	}
	if (row_add_addr(im, r, email, csv->line) == -1)
		return -1;
	if (!more)
		return 0;
	for (tok = strtok_r(more, "; ,\t", &save); tok;
	    tok = strtok_r(NULL, "; ,\t", &save))
		if (row_add_addr(im, r, tok, csv->line) == -1)
			return -1;
	return 0;
}

static int
row_tags(struct import *im, struct csv *csv, struct row *r)
{
	char *tags = import_cell(im, csv, COL_TAGS), *tok, *save;
	const char *why;

	if (!tags)
		return 0;
	for (tok = strtok_r(tags, ";,", &save); tok; tok = strtok_r(NULL, ";,", &save)) {
		tok = field_trim(tok);
		if (!*tok)
			continue;
		if ((why = field_tag(tok))) {
			import_error(im, csv->line, "tag '%s': %s", tok, why);
			return -1;
		}
		if (r->n_tags == sizeof(r->tags) / sizeof(r->tags[0])) {
			import_error(im, csv->line, "too many tags");
			return -1;
		}
		r->tags[r->n_tags++] = tok;
	}
	return 0;
}

/* Checks one optional column: empty passes, else check() decides. */
#define ROW_CHECK(k, label, call) do {					\
	const char *v_ = import_cell(im, csv, k), *why_;		\
	if (v_ && *v_ && (why_ = (call))) {				\
		import_error(im, csv->line, label " '%s': %s", v_, why_); \
		return -1;						\
	}								\
} while (0)

static int
row_fields(struct import *im, struct csv *csv, struct row *r)
{
	const char *ref = import_cell(im, csv, COL_REFERRED);
	bool yes;

	ROW_CHECK(COL_BIRTHDAY, "birthday", field_birthday(v_, &r->by, &r->bm, &r->bd));
	ROW_CHECK(COL_TIER, "tier", field_tier(v_, &r->tier));
	ROW_CHECK(COL_TZ, "tz", field_tz(v_));
	ROW_CHECK(COL_LANG, "lang", field_lang(v_, r->lang, sizeof(r->lang)));
	ROW_CHECK(COL_NEWSLETTER, "newsletter", field_yesno(v_, &yes));
	if (import_cell(im, csv, COL_NEWSLETTER) && *import_cell(im, csv, COL_NEWSLETTER))
		r->newsletter = yes;
	if (ref && *ref) {
		if (ctl_normalize(im->ctl, ref, r->referrer, sizeof(r->referrer)) == -1) {
			import_error(im, csv->line, "referred_by '%s' is not an "
			    "e-mail address", ref);
			return -1;
		}
		for (size_t i = 0; i < r->n_addrs; i++) {
			if (strcmp(r->addrs[i], r->referrer) == 0) {
				import_error(im, csv->line, "a customer cannot "
				    "refer themselves");
				return -1;
			}
		}
	}
	return 0;
}

/* Each address new in this file, and owned by one customer at most. */
static int
row_owner(struct import *im, struct csv *csv, const struct row *r, int64_t *owner)
{
	char msg[512];
	unsigned long first;
	int64_t id;
	int rc;

	*owner = 0;
	for (size_t i = 0; i < r->n_addrs; i++) {
		if ((first = seen_get(&im->seen, r->addrs[i]))) {
			import_error(im, csv->line, "%s already appeared on line %lu",
			    r->addrs[i], first);
			return -1;
		}
	}
	for (size_t i = 0; i < r->n_addrs; i++) {
		rc = store_customer_find_email(im->ctl->st, r->addrs[i], &id);
		if (rc == STORE_ERROR)
			return -2;
		if (rc != STORE_OK || id == *owner)
			continue;
		if (*owner) {
			ctl_owner_message(im->ctl, r->addrs[i], id, msg, sizeof(msg));
			import_error(im, csv->line, "%s, but %s belongs to #%" PRId64,
			    msg, r->addrs[0], *owner);
			return -1;
		}
		*owner = id;
	}
	return 0;
}

/* ---- applying a row ---- */

static void
set_str(char **field, const char *v)
{
	if (!v)
		return;		/* no such column: keep */
	if (*field && strcmp(*field, v) == 0)
		return;
	free(*field);
	*field = *v ? xstrdup(v) : NULL;
}

static bool
same_set(char **a, size_t na, char *const *b, size_t nb)
{
	size_t k;

	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		for (k = 0; k < nb && strcmp(a[i], b[k]); k++)
			;
		if (k == nb)
			return false;
	}
	return true;
}

/* The row's addresses first (its email is the primary one), then the
 * customer's other ones: an address is never dropped by an import. */
static void
apply_addresses(struct customer *c, const struct row *r)
{
	char **old = c->emails;
	size_t n_old = c->n_emails, k;

	c->emails = NULL;
	c->n_emails = 0;
	for (size_t i = 0; i < r->n_addrs; i++)
		customer_add_email(c, r->addrs[i]);
	for (size_t i = 0; i < n_old; i++) {
		for (k = 0; k < r->n_addrs && strcmp(old[i], r->addrs[k]); k++)
			;
		if (k == r->n_addrs)
			customer_add_email(c, old[i]);
	}
	for (size_t i = 0; i < n_old; i++)
		free(old[i]);
	free(old);
}

static void
apply_tags(struct customer *c, const struct row *r)
{
	/* Same tags in another order is no change. */
	if (same_set(c->tags, c->n_tags, r->tags, r->n_tags))
		return;
	for (size_t i = 0; i < c->n_tags; i++)
		free(c->tags[i]);
	free(c->tags);
	c->tags = NULL;
	c->n_tags = 0;
	for (size_t i = 0; i < r->n_tags; i++)
		customer_add_tag(c, r->tags[i]);
}

static void
import_apply(struct import *im, struct csv *csv, const struct row *r,
    struct customer *c)
{
	const char *name = import_cell(im, csv, COL_NAME);

	if (!c->name || strcmp(c->name, name) != 0) {
		set_str(&c->name, name);
		set_str(&c->first_name, "");	/* derived anew */
	}
	apply_addresses(c, r);
	if (im->col[COL_TAGS] >= 0)
		apply_tags(c, r);
	if (im->col[COL_BIRTHDAY] >= 0) {
		c->birth_year = r->by;
		c->birth_month = r->bm;
		c->birth_day = r->bd;
	}
	if (im->col[COL_TIER] >= 0)
		c->tier = r->tier;
	if (im->col[COL_LANG] >= 0)
		set_str(&c->lang, r->lang);
	set_str(&c->tz, import_cell(im, csv, COL_TZ));
	set_str(&c->company, import_cell(im, csv, COL_COMPANY));
	set_str(&c->notes, import_cell(im, csv, COL_NOTES));
	if (r->newsletter >= 0 && (bool)r->newsletter != c->newsletter) {
		/* Consent is dated when it changes, so re-imports keep it. */
		c->newsletter = r->newsletter;
		c->consent_at = im->now;
		set_str(&c->consent_source, im->source);
	}
	if (im->col[COL_REFERRED] >= 0 && !r->referrer[0])
		c->referred_by = 0;
	if (!c->id)
		set_str(&c->source, "import");
}

static void
import_defer(struct import *im, int64_t id, const char *referrer,
    unsigned long line, bool was_unchanged)
{
	struct fixup *f;

	im->fixups = xreallocarray(im->fixups, im->n_fixups + 1, sizeof(*im->fixups));
	f = &im->fixups[im->n_fixups++];
	f->id = id;
	f->referrer = xstrdup(referrer);
	f->line = line;
	f->was_unchanged = was_unchanged;
}

static void
import_warn_suppressed(struct import *im, unsigned long line, const struct row *r)
{
	char *reason;

	for (size_t i = 0; i < r->n_addrs; i++) {
		reason = NULL;
		if (store_suppression_get(im->ctl->st, r->addrs[i], &reason) == STORE_OK)
			fprintf(stderr, "%s:%lu: warning: %s is suppressed (%s): "
			    "nothing will be sent to it\n", im->path, line,
			    r->addrs[i], reason ? reason : "no reason recorded");
		free(reason);
	}
}

/* Writes the row: 0 done, -1 row refused, -2 store failure. */
static int
import_write(struct import *im, struct csv *csv, const struct row *r,
    int64_t owner)
{
	struct customer c;
	int64_t ref = 0;
	bool changed = true, deferred = false;
	int rc;

	customer_init(&c);
	if (owner && store_customer_get(im->ctl->st, owner, &c) != STORE_OK) {
		customer_clear(&c);
		return -2;
	}
	import_apply(im, csv, r, &c);
	if (r->referrer[0]) {
		rc = store_customer_find_email(im->ctl->st, r->referrer, &ref);
		if (rc == STORE_OK)
			c.referred_by = ref;
		else if (rc == STORE_NOTFOUND)
			deferred = true;	/* perhaps further down */
		else
			goto fail;
	}
	rc = owner ? store_customer_update(im->ctl->st, &c, &changed) :
	    store_customer_insert(im->ctl->st, &c);
	if (rc == STORE_CONFLICT) {
		import_error(im, csv->line, "an address already belongs to a customer");
		customer_clear(&c);
		return -1;
	}
	if (rc != STORE_OK)
		goto fail;
	if (!owner)
		im->added++;
	else if (changed)
		im->updated++;
	else
		im->unchanged++;
	if (deferred)
		import_defer(im, c.id, r->referrer, csv->line, owner && !changed);
	customer_clear(&c);
	return 0;
fail:
	customer_clear(&c);
	return -2;
}

/* 0: row taken or skipped; -1: the store failed. */
static int
import_row(struct import *im, struct csv *csv)
{
	struct row r;
	int64_t owner;
	int rc;

	memset(&r, 0, sizeof(r));
	r.newsletter = -1;
	if (csv->bad) {
		import_error(im, csv->line, "%s", csv->bad);
		goto skip;
	}
	if (csv->n_fields != im->n_header) {
		import_error(im, csv->line, "%zu fields, but the header has %zu",
		    csv->n_fields, im->n_header);
		goto skip;
	}
	if (!*import_cell(im, csv, COL_NAME)) {
		import_error(im, csv->line, "the name column is empty");
		goto skip;
	}
	if (row_addresses(im, csv, &r) == -1 || row_tags(im, csv, &r) == -1 ||
	    row_fields(im, csv, &r) == -1)
		goto skip;
	if ((rc = row_owner(im, csv, &r, &owner)) == -1)
		goto skip;
	if (rc == -2 || (rc = import_write(im, csv, &r, owner)) == -2)
		return -1;
	if (rc == -1)
		goto skip;
	for (size_t i = 0; i < r.n_addrs; i++)
		seen_put(&im->seen, r.addrs[i], csv->line);
	import_warn_suppressed(im, csv->line, &r);
	return 0;
skip:
	im->skipped++;
	return 0;
}

/* Referrers named before they appeared. */
static int
import_fixups(struct import *im)
{
	struct customer c;
	struct fixup *f;
	int64_t ref;
	bool changed;
	int rc;

	for (size_t i = 0; i < im->n_fixups; i++) {
		f = &im->fixups[i];
		rc = store_customer_find_email(im->ctl->st, f->referrer, &ref);
		if (rc == STORE_NOTFOUND) {
			import_error(im, f->line, "referred_by %s is not a customer "
			    "(the row was imported without it)", f->referrer);
			continue;
		}
		customer_init(&c);
		if (rc != STORE_OK || store_customer_get(im->ctl->st, f->id, &c) != STORE_OK) {
			customer_clear(&c);
			return -1;
		}
		c.referred_by = ref;
		rc = store_customer_update(im->ctl->st, &c, &changed);
		customer_clear(&c);
		if (rc != STORE_OK)
			return -1;
		if (changed && f->was_unchanged) {
			im->unchanged--;
			im->updated++;
		}
	}
	return 0;
}

/* ---- the file ---- */

static int
import_rows(struct import *im, struct csv *csv)
{
	int r;

	while ((r = csv_read(csv)) == CSV_RECORD) {
		if (import_row(im, csv) == -1)
			return ctl_fail(im->ctl, "%s:%lu: %s", im->path, csv->line,
			    store_errmsg(im->ctl->st));
		if (++im->rows % 1000 == 0 && im->progress)
			fprintf(stderr, "rapportctl: %s: %lu rows\n", im->path, im->rows);
	}
	if (r == CSV_ERROR)
		return ctl_fail(im->ctl, "%s: %s (nothing imported)", im->path, csv->err);
	if (import_fixups(im) == -1)
		return ctl_fail(im->ctl, "%s: %s", im->path, store_errmsg(im->ctl->st));
	return CTL_OK;
}

static int
import_file(struct import *im, FILE *fp)
{
	struct csv csv;
	int rc, r;

	csv_init(&csv, fp);
	r = csv_read(&csv);
	if (r != CSV_RECORD) {
		rc = r == CSV_EOF ?
		    ctl_fail(im->ctl, "%s: empty file: no header row", im->path) :
		    ctl_fail(im->ctl, "%s: %s", im->path, csv.err);
		goto out;
	}
	if ((rc = import_header(im, &csv)) != CTL_OK)
		goto out;
	if (store_begin(im->ctl->st) != STORE_OK) {
		rc = ctl_fail(im->ctl, "%s", store_errmsg(im->ctl->st));
		goto out;
	}
	rc = import_rows(im, &csv);
	if (rc != CTL_OK || im->dry_run)
		store_rollback(im->ctl->st);
	else if (store_commit(im->ctl->st) != STORE_OK)
		rc = ctl_fail(im->ctl, "%s", store_errmsg(im->ctl->st));
out:
	csv_free(&csv);
	return rc;
}

static void
import_report(struct import *im)
{
	struct json j;

	if (!im->ctl->json) {
		printf("%s%lu added, %lu updated, %lu unchanged, %lu skipped\n",
		    im->dry_run ? "dry run: " : "", im->added, im->updated,
		    im->unchanged, im->skipped);
		return;
	}
	json_init(&j, stdout, false);
	json_object_begin(&j);
	json_kv_string(&j, "file", im->path);
	json_kv_bool(&j, "dry_run", im->dry_run);
	json_kv_int(&j, "added", (int64_t)im->added);
	json_kv_int(&j, "updated", (int64_t)im->updated);
	json_kv_int(&j, "unchanged", (int64_t)im->unchanged);
	json_kv_int(&j, "skipped", (int64_t)im->skipped);
	json_key(&j, "errors");
	json_array_begin(&j);
	for (size_t i = 0; i < im->n_errors; i++) {
		json_object_begin(&j);
		json_kv_int(&j, "line", (int64_t)im->errors[i].line);
		json_kv_string(&j, "message", im->errors[i].msg);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
}

static const char import_help[] =
	"Adds or updates customers from a CSV file (RFC 4180, UTF-8, a byte\n"
	"order mark is fine).  The header row names the columns, in any order:\n"
	"  name, email (both required), emails, birthday, tags, lang, tz, tier,\n"
	"  company, newsletter, referred_by, notes\n"
	"emails: more addresses, separated by ';' or spaces.  tags: separated\n"
	"by ';'.  birthday: YYYY-MM-DD or --MM-DD.  newsletter: yes or no\n"
	"(consent recorded as import:FILE).  referred_by: an address of a stored\n"
	"customer or of another row.\n\n"
	"A row whose addresses belong to a customer updates that customer; the\n"
	"file is one transaction.  Bad rows are reported as FILE:LINE: reason\n"
	"and skipped.  Prints \"N added, N updated, N unchanged, N skipped\".\n"
	"Exit status: 0, or 1 when rows were skipped or the import failed.\n\n"
	"  --dry-run   check and count, change nothing\n"
	"  --json      the counts and the errors as one JSON object\n";

static int
import_args(struct ctl *ctl, struct import *im, int argc, char **argv,
    bool *helped)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hn", longopts, NULL)) != -1) {
		if (opt == 'h') {
			*helped = true;
			return ctl_help(ctl->cmd, "FILE.csv [--dry-run] [--json]",
			    import_help);
		}
		if (opt == 'n')
			im->dry_run = true;
		else if (opt == 'j')
			ctl->json = true;
		else
			return ctl_getopt_error(ctl, argv, opt);
	}
	if (optind != argc - 1)
		return ctl_usage(ctl, "one CSV file is needed");
	im->path = argv[optind];
	return CTL_OK;
}

int
cmd_customer_import(struct ctl *ctl, int argc, char **argv)
{
	struct import im;
	const char *base;
	bool helped = false;
	FILE *fp = NULL;
	int rc;

	memset(&im, 0, sizeof(im));
	im.ctl = ctl;
	if ((rc = import_args(ctl, &im, argc, argv, &helped)) != CTL_OK || helped)
		return rc;
	if (!(fp = strcmp(im.path, "-") ? fopen(im.path, "r") : stdin))
		return ctl_fail(ctl, "%s: %m", im.path);
	if ((rc = ctl_open(ctl)) != CTL_OK)
		goto out;
	base = strrchr(im.path, '/') ? strrchr(im.path, '/') + 1 : im.path;
	xasprintf(&im.source, "import:%s", base);
	im.now = clock_now();
	im.progress = isatty(STDERR_FILENO);
	if ((rc = import_file(&im, fp)) != CTL_OK)
		goto out;
	if (!im.dry_run && im.added + im.updated > 0)
		ctl_wake(ctl);
	import_report(&im);
	rc = im.n_errors ? CTL_FAIL : CTL_OK;
out:
	if (fp && fp != stdin)
		fclose(fp);
	import_free(&im);
	return rc;
}
