/* rapportctl customer list|show|export: reading customers back. */
#include "ctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "xmalloc.h"

/* Options of the read-only commands: --json, --help, and --tag for list. */
static int
show_args(struct ctl *ctl, int argc, char **argv, const char **tag,
    const char *synopsis, const char *help, bool *helped)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "tag", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			*helped = true;
			return ctl_help(ctl->cmd, synopsis, help);
		}
		if (opt == 'j')
			ctl->json = true;
		else if (opt == 't' && tag)
			*tag = optarg;
		else if (opt == 't')
			return ctl_usage(ctl, "unknown option --tag");
		else
			return ctl_getopt_error(ctl, argv, opt);
	}
	if (tag && optind != argc)
		return ctl_usage(ctl, "unexpected argument '%s'", argv[optind]);
	if (!tag && optind != argc - 1)
		return ctl_usage(ctl, "one customer address is needed");
	return CTL_OK;
}

static void
show_json_time(struct json *j, const char *key, int64_t t)
{
	char buf[32];

	json_key(j, key);
	if (t <= 0) {
		json_null(j);
		return;
	}
	clock_format_utc(t, buf, sizeof(buf));
	json_string(j, buf);
}

static void
show_json_list(struct json *j, const char *key, char **v, size_t n)
{
	json_key(j, key);
	json_array_begin(j);
	for (size_t i = 0; i < n; i++)
		json_string(j, v[i]);
	json_array_end(j);
}

static void
show_customer_json(struct json *j, const struct customer *c)
{
	char bday[16], tier[2] = { c->tier, 0 };

	field_format_birthday(c->birth_year, c->birth_month, c->birth_day,
	    bday, sizeof(bday));
	json_object_begin(j);
	json_kv_int(j, "id", c->id);
	json_kv_string(j, "name", c->name);
	json_kv_string(j, "first_name", c->first_name);
	show_json_list(j, "emails", c->emails, c->n_emails);
	show_json_list(j, "tags", c->tags, c->n_tags);
	json_kv_string(j, "company", c->company);
	json_kv_string(j, "lang", c->lang);
	json_kv_string(j, "tz", c->tz);
	json_kv_string(j, "tier", c->tier ? tier : NULL);
	json_kv_string(j, "birthday", *bday ? bday : NULL);
	json_kv_bool(j, "newsletter", c->newsletter);
	show_json_time(j, "consent_at", c->consent_at);
	json_kv_string(j, "consent_source", c->consent_source);
	json_kv_bool(j, "do_not_contact", c->do_not_contact);
	json_key(j, "referred_by");
	if (c->referred_by)
		json_int(j, c->referred_by);
	else
		json_null(j);
	json_kv_string(j, "source", c->source);
	json_kv_string(j, "notes", c->notes);
	show_json_time(j, "created_at", c->created_at);
	show_json_time(j, "updated_at", c->updated_at);
	json_object_end(j);
}

/* ---- list ---- */

struct list_ctx {
	struct json	 j;
	bool		 json;
	const char	*tag;
	size_t		 n;
};

static int
list_one(void *arg, const struct customer *c)
{
	struct list_ctx *lc = arg;
	bool match = !lc->tag;

	for (size_t i = 0; i < c->n_tags && !match; i++)
		match = strcmp(c->tags[i], lc->tag) == 0;
	if (!match)
		return 0;
	lc->n++;
	if (lc->json) {
		show_customer_json(&lc->j, c);
		return 0;
	}
	printf("%5" PRId64 "  %s <%s>", c->id, c->name,
	    c->n_emails ? c->emails[0] : "");
	for (size_t i = 0; i < c->n_tags; i++)
		printf("%s%s", i ? "," : "  ", c->tags[i]);
	printf("\n");
	return 0;
}

static const char list_help[] =
	"Lists customers by name: id, name, primary address, tags.\n\n"
	"  --tag TAG   only customers with this tag\n"
	"  --json      a JSON array of customer objects\n";

int
cmd_customer_list(struct ctl *ctl, int argc, char **argv)
{
	struct list_ctx lc = { 0 };
	bool helped = false;
	int rc;

	rc = show_args(ctl, argc, argv, &lc.tag, "[--tag TAG] [--json]", list_help,
	    &helped);
	if (rc != CTL_OK || helped || (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	lc.json = ctl->json;
	if (lc.json) {
		json_init(&lc.j, stdout, false);
		json_array_begin(&lc.j);
	}
	if (store_customer_foreach(ctl->st, list_one, &lc) == STORE_ERROR)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	if (lc.json) {
		json_array_end(&lc.j);
		json_finish(&lc.j);
	}
	return CTL_OK;
}

/* ---- show ---- */

static void
show_line(const char *key, const char *value)
{
	if (value && *value)
		printf("%-15s %s\n", key, value);
}

static void
show_text_emails(struct ctl *ctl, const struct customer *c)
{
	char *reason;

	for (size_t i = 0; i < c->n_emails; i++) {
		reason = NULL;
		printf("%-15s %s%s", i ? "" : "emails:", c->emails[i],
		    i ? "" : " (primary)");
		if (store_suppression_get(ctl->st, c->emails[i], &reason) == STORE_OK)
			printf(" [suppressed: %s]", reason ? reason : "");
		printf("\n");
		free(reason);
	}
}

static void
show_text(struct ctl *ctl, const struct customer *c)
{
	char buf[64], tier[2] = { c->tier, 0 };
	struct customer ref;

	printf("%-15s %" PRId64 "\n", "id:", c->id);
	show_line("name:", c->name);
	show_line("first name:", c->first_name);
	show_text_emails(ctl, c);
	if (c->n_tags) {
		printf("%-15s", "tags:");
		for (size_t i = 0; i < c->n_tags; i++)
			printf(" %s", c->tags[i]);
		printf("\n");
	}
	show_line("company:", c->company);
	show_line("language:", c->lang);
	show_line("time zone:", c->tz);
	show_line("tier:", tier);
	field_format_birthday(c->birth_year, c->birth_month, c->birth_day, buf,
	    sizeof(buf));
	show_line("birthday:", buf);
	printf("%-15s %s", "newsletter:", c->newsletter ? "yes" : "no");
	if (c->consent_source) {
		clock_format_utc(c->consent_at, buf, sizeof(buf));
		printf(" (%s, %s)", c->consent_source, buf);
	}
	printf("\n");
	if (c->do_not_contact)
		show_line("do not contact:", "yes");
	if (c->referred_by) {
		customer_init(&ref);
		if (store_customer_get(ctl->st, c->referred_by, &ref) == STORE_OK)
			printf("%-15s %s <%s> (#%" PRId64 ")\n", "referred by:",
			    ref.name, ref.n_emails ? ref.emails[0] : "", ref.id);
		customer_clear(&ref);
	}
	show_line("source:", c->source);
	show_line("notes:", c->notes);
	clock_format_utc(c->created_at, buf, sizeof(buf));
	show_line("created:", buf);
	clock_format_utc(c->updated_at, buf, sizeof(buf));
	show_line("updated:", buf);
}

static const char show_help[] =
	"Shows the customer known by ADDR (or #ID): every field, and which of\n"
	"their addresses are suppressed.\n\n"
	"  --json   one JSON object\n";

int
cmd_customer_show(struct ctl *ctl, int argc, char **argv)
{
	struct customer c;
	struct json j;
	bool helped = false;
	int64_t id;
	int rc;

	rc = show_args(ctl, argc, argv, NULL, "ADDR [--json]", show_help, &helped);
	if (rc != CTL_OK || helped || (rc = ctl_open(ctl)) != CTL_OK ||
	    (rc = ctl_find_customer(ctl, argv[optind], &id)) != CTL_OK)
		return rc;
	customer_init(&c);
	if (store_customer_get(ctl->st, id, &c) != STORE_OK) {
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	} else if (ctl->json) {
		json_init(&j, stdout, false);
		show_customer_json(&j, &c);
		json_finish(&j);
	} else {
		show_text(ctl, &c);
	}
	customer_clear(&c);
	return rc;
}

/* ---- export ---- */

/* Rows arrive table by table; they are grouped by table in the output
 * even if a backend interleaves them. */
struct export_row {
	char	 *table;
	int	  ncol;
	char	**names;
	char	**values;
};

struct export_ctx {
	struct export_row *rows;
	size_t		   n;
};

static void
export_row(void *arg, const char *table, int ncol, const char *const *names,
    const char *const *values)
{
	struct export_ctx *ec = arg;
	struct export_row *r;

	ec->rows = xreallocarray(ec->rows, ec->n + 1, sizeof(*ec->rows));
	r = &ec->rows[ec->n++];
	r->table = xstrdup(table);
	r->ncol = ncol;
	r->names = xcalloc((size_t)ncol + 1, sizeof(char *));
	r->values = xcalloc((size_t)ncol + 1, sizeof(char *));
	for (int i = 0; i < ncol; i++) {
		r->names[i] = xstrdup(names[i]);
		r->values[i] = xstrdup_or_null(values[i]);
	}
}

static void
export_free(struct export_ctx *ec)
{
	for (size_t i = 0; i < ec->n; i++) {
		for (int k = 0; k < ec->rows[i].ncol; k++) {
			free(ec->rows[i].names[k]);
			free(ec->rows[i].values[k]);
		}
		free(ec->rows[i].names);
		free(ec->rows[i].values);
		free(ec->rows[i].table);
	}
	free(ec->rows);
}

static void
export_table(struct json *j, const struct export_ctx *ec, const char *table)
{
	json_key(j, table);
	json_array_begin(j);
	for (size_t k = 0; k < ec->n; k++) {
		const struct export_row *r = &ec->rows[k];

		if (strcmp(r->table, table) != 0)
			continue;
		json_object_begin(j);
		for (int c = 0; c < r->ncol; c++)
			json_kv_string(j, r->names[c], r->values[c]);
		json_object_end(j);
	}
	json_array_end(j);
}

static void
export_write(const struct export_ctx *ec, int64_t id)
{
	const char **tables = NULL;
	size_t nt = 0, t;
	struct json j;
	char now[32];

	/* A handful of tables, many rows: find the tables first. */
	for (size_t i = 0; i < ec->n; i++) {
		for (t = 0; t < nt && strcmp(tables[t], ec->rows[i].table); t++)
			;
		if (t == nt) {
			tables = xreallocarray(tables, nt + 1, sizeof(*tables));
			tables[nt++] = ec->rows[i].table;
		}
	}
	clock_format_utc(clock_now(), now, sizeof(now));
	json_init(&j, stdout, true);
	json_object_begin(&j);
	json_kv_int(&j, "customer_id", id);
	json_kv_string(&j, "exported_at", now);
	json_key(&j, "tables");
	json_object_begin(&j);
	for (t = 0; t < nt; t++)
		export_table(&j, ec, tables[t]);
	json_object_end(&j);
	json_object_end(&j);
	json_finish(&j);
	free(tables);
}

static const char export_help[] =
	"Writes every stored row concerning the customer known by ADDR (or #ID)\n"
	"as one JSON document, table by table: the answer to an access request.\n"
	"Values are strings or null, as stored.\n";

int
cmd_customer_export(struct ctl *ctl, int argc, char **argv)
{
	struct export_ctx ec = { 0 };
	bool helped = false;
	int64_t id;
	int rc;

	rc = show_args(ctl, argc, argv, NULL, "ADDR", export_help, &helped);
	if (rc != CTL_OK || helped || (rc = ctl_open(ctl)) != CTL_OK ||
	    (rc = ctl_find_customer(ctl, argv[optind], &id)) != CTL_OK)
		return rc;
	if (store_customer_dump(ctl->st, id, export_row, &ec) != STORE_OK)
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	else
		export_write(&ec, id);
	export_free(&ec);
	return rc;
}
