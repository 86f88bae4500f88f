/*
 * rapportctl customer add|edit|tag|forget, and the family's dispatcher.
 * (list, show, export: cmd_customer_show.c; import: cmd_import.c.)
 */
#include "ctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "json.h"
#include "xmalloc.h"

static const struct ctl_cmd customer_cmds[] = {
	{ "add", cmd_customer_add, "", "add a customer" },
	{ "import", cmd_customer_import, "", "add or update customers from a CSV file" },
	{ "list", cmd_customer_list, "", "list customers" },
	{ "show", cmd_customer_show, "", "show one customer" },
	{ "edit", cmd_customer_edit, "", "change a customer's fields" },
	{ "tag", cmd_customer_tag, "", "add or remove tags" },
	{ "forget", cmd_customer_forget, "", "erase a customer (and suppress their addresses)" },
	{ "export", cmd_customer_export, "", "every stored row about a customer, as JSON" },
	{ NULL, NULL, NULL, NULL },
};

int
cmd_customer(struct ctl *ctl, int argc, char **argv)
{
	return ctl_dispatch(ctl, "customer", customer_cmds,
	    "A customer is known by any of their addresses (normalized: lower case,\n"
	    "user+tag@ folded to user@ unless [link] fold_plus = no) or by #ID.\n",
	    argc, argv);
}

/* ---- options shared by add and edit ---- */

struct strv {
	const char	**v;
	size_t		  n;
};

static void
strv_push(struct strv *s, const char *x)
{
	s->v = xreallocarray(s->v, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = x;
}

enum {
	CLR_BIRTHDAY = 1 << 0,
	CLR_COMPANY = 1 << 1,
	CLR_LANG = 1 << 2,
	CLR_TZ = 1 << 3,
	CLR_TIER = 1 << 4,
	CLR_REFERRED = 1 << 5,
	CLR_NOTES = 1 << 6,
	CLR_FIRST = 1 << 7,
};

struct cust_opts {
	const char	*name, *first_name, *birthday, *lang, *tz, *tier;
	const char	*company, *newsletter, *referred_by, *notes, *dnc;
	struct strv	 emails, add_emails, remove_emails, tags, untags;
	unsigned	 clear;
	const char	*target;	/* edit: the customer */
};

static void
cust_opts_free(struct cust_opts *o)
{
	free(o->emails.v);
	free(o->add_emails.v);
	free(o->remove_emails.v);
	free(o->tags.v);
	free(o->untags.v);
}

enum {
	OPT_NAME = 256, OPT_FIRST, OPT_EMAIL, OPT_BIRTHDAY, OPT_TAG, OPT_LANG,
	OPT_TZ, OPT_TIER, OPT_COMPANY, OPT_NEWSLETTER, OPT_REFERRED, OPT_NOTES,
	OPT_DNC, OPT_JSON, OPT_ADD_EMAIL, OPT_REMOVE_EMAIL, OPT_UNTAG,
	OPT_NO_BIRTHDAY, OPT_NO_COMPANY, OPT_NO_LANG, OPT_NO_TZ, OPT_NO_TIER,
	OPT_NO_REFERRED, OPT_NO_NOTES, OPT_NO_FIRST,
};

static const struct option cust_longopts[] = {
	{ "name", required_argument, NULL, OPT_NAME },
	{ "first-name", required_argument, NULL, OPT_FIRST },
	{ "email", required_argument, NULL, OPT_EMAIL },
	{ "birthday", required_argument, NULL, OPT_BIRTHDAY },
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "lang", required_argument, NULL, OPT_LANG },
	{ "tz", required_argument, NULL, OPT_TZ },
	{ "tier", required_argument, NULL, OPT_TIER },
	{ "company", required_argument, NULL, OPT_COMPANY },
	{ "newsletter", required_argument, NULL, OPT_NEWSLETTER },
	{ "referred-by", required_argument, NULL, OPT_REFERRED },
	{ "notes", required_argument, NULL, OPT_NOTES },
	{ "do-not-contact", required_argument, NULL, OPT_DNC },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, 'h' },
	/* edit only (checked below) */
	{ "add-email", required_argument, NULL, OPT_ADD_EMAIL },
	{ "remove-email", required_argument, NULL, OPT_REMOVE_EMAIL },
	{ "untag", required_argument, NULL, OPT_UNTAG },
	{ "no-birthday", no_argument, NULL, OPT_NO_BIRTHDAY },
	{ "no-company", no_argument, NULL, OPT_NO_COMPANY },
	{ "no-lang", no_argument, NULL, OPT_NO_LANG },
	{ "no-tz", no_argument, NULL, OPT_NO_TZ },
	{ "no-tier", no_argument, NULL, OPT_NO_TIER },
	{ "no-referred-by", no_argument, NULL, OPT_NO_REFERRED },
	{ "no-notes", no_argument, NULL, OPT_NO_NOTES },
	{ "no-first-name", no_argument, NULL, OPT_NO_FIRST },
	{ NULL, 0, NULL, 0 },
};

#define CUST_FIELDS_HELP \
	"  --name NAME            full name\n" \
	"  --first-name NAME      as greetings use it (default: derived from --name)\n" \
	"  --email ADDR           an address; the first one is the primary one\n" \
	"  --birthday DATE        YYYY-MM-DD, or --MM-DD when the year is unknown\n" \
	"  --tag TAG              a tag (repeatable)\n" \
	"  --lang LANG            language of templates: en, ko, zh, ...\n" \
	"  --tz ZONE              IANA time zone, e.g. Asia/Seoul\n" \
	"  --tier A|B|C           visit cadence tier\n" \
	"  --company NAME\n" \
	"  --newsletter yes|no    consent to newsletters (recorded as manual, now)\n" \
	"  --referred-by ADDR     the customer who referred this one\n" \
	"  --notes TEXT\n" \
	"  --do-not-contact yes|no  never send this customer anything\n" \
	"  --json                 print the result as JSON\n"

static const char add_help[] =
	"Adds a customer and prints the new id.  An address that belongs to\n"
	"another customer is an error; a suppressed address is added with a\n"
	"warning (nothing will be sent to it).\n\n" CUST_FIELDS_HELP;

static const char edit_help[] =
	"Changes the given fields of the customer known by ADDR (or #ID); the\n"
	"others stay.\n\n" CUST_FIELDS_HELP
	"  --email ADDR           make ADDR the primary address (added if new)\n"
	"  --add-email ADDR       add an address\n"
	"  --remove-email ADDR    remove an address (not the last one)\n"
	"  --untag TAG            remove a tag\n"
	"  --no-birthday, --no-company, --no-lang, --no-tz, --no-tier,\n"
	"  --no-referred-by, --no-notes, --no-first-name   clear that field\n";

static int
cust_opt(struct ctl *ctl, struct cust_opts *o, int opt, bool edit)
{
	if (!edit && opt >= OPT_ADD_EMAIL)
		for (const struct option *l = cust_longopts; l->name; l++)
			if (l->val == opt)
				return ctl_usage(ctl, "--%s is for 'customer edit'",
				    l->name);
	switch (opt) {
	case OPT_NAME: o->name = optarg; break;
	case OPT_FIRST: o->first_name = optarg; break;
	case OPT_EMAIL: strv_push(&o->emails, optarg); break;
	case OPT_BIRTHDAY: o->birthday = optarg; break;
	case OPT_TAG: strv_push(&o->tags, optarg); break;
	case OPT_LANG: o->lang = optarg; break;
	case OPT_TZ: o->tz = optarg; break;
	case OPT_TIER: o->tier = optarg; break;
	case OPT_COMPANY: o->company = optarg; break;
	case OPT_NEWSLETTER: o->newsletter = optarg; break;
	case OPT_REFERRED: o->referred_by = optarg; break;
	case OPT_NOTES: o->notes = optarg; break;
	case OPT_DNC: o->dnc = optarg; break;
	case OPT_JSON: ctl->json = true; break;
	case OPT_ADD_EMAIL: strv_push(&o->add_emails, optarg); break;
	case OPT_REMOVE_EMAIL: strv_push(&o->remove_emails, optarg); break;
	case OPT_UNTAG: strv_push(&o->untags, optarg); break;
	case OPT_NO_BIRTHDAY: o->clear |= CLR_BIRTHDAY; break;
	case OPT_NO_COMPANY: o->clear |= CLR_COMPANY; break;
	case OPT_NO_LANG: o->clear |= CLR_LANG; break;
	case OPT_NO_TZ: o->clear |= CLR_TZ; break;
	case OPT_NO_TIER: o->clear |= CLR_TIER; break;
	case OPT_NO_REFERRED: o->clear |= CLR_REFERRED; break;
	case OPT_NO_NOTES: o->clear |= CLR_NOTES; break;
	case OPT_NO_FIRST: o->clear |= CLR_FIRST; break;
	}
	return CTL_OK;
}

/* Returns CTL_OK, or the exit status (help printed: -1 → CTL_OK). */
static int
cust_parse(struct ctl *ctl, struct cust_opts *o, int argc, char **argv,
    bool edit, bool *help)
{
	int opt, rc;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", cust_longopts, NULL)) != -1) {
		if (opt == 'h') {
			*help = true;
			return edit ? ctl_help(ctl->cmd, "ADDR [OPTION...]", edit_help) :
			    ctl_help(ctl->cmd, "--name NAME --email ADDR [OPTION...]",
			    add_help);
		}
		if (opt == '?' || opt == ':')
			return ctl_getopt_error(ctl, argv, opt);
		if ((rc = cust_opt(ctl, o, opt, edit)) != CTL_OK)
			return rc;
	}
	if (edit) {
		if (optind != argc - 1)
			return ctl_usage(ctl, "one customer address is needed");
		o->target = argv[optind];
		return CTL_OK;
	}
	if (optind != argc)
		return ctl_usage(ctl, "unexpected argument '%s'", argv[optind]);
	if (!o->name)
		return ctl_usage(ctl, "--name is needed");
	if (o->emails.n == 0)
		return ctl_usage(ctl, "--email is needed");
	return CTL_OK;
}

/* ---- applying them to a customer ---- */

static void
cust_set(char **field, const char *value)
{
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

static ssize_t
cust_index(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return (ssize_t)i;
	return -1;
}

static void
cust_remove(char **v, size_t *n, size_t i)
{
	free(v[i]);
	memmove(v + i, v + i + 1, (*n - i - 1) * sizeof(*v));
	(*n)--;
}

/* Makes addr the primary address, adding it if new. */
static void
cust_email_primary(struct customer *c, const char *addr)
{
	ssize_t i = cust_index(c->emails, c->n_emails, addr);
	char *keep;

	if (i < 0) {
		customer_add_email(c, addr);
		i = (ssize_t)c->n_emails - 1;
	}
	keep = c->emails[i];
	memmove(c->emails + 1, c->emails, (size_t)i * sizeof(*c->emails));
	c->emails[0] = keep;
}

static int
cust_apply_emails(struct ctl *ctl, const struct cust_opts *o, struct customer *c,
    bool edit)
{
	char norm[320];
	ssize_t i;

	/* In add, the first --email is the primary one: apply in reverse. */
	for (size_t k = o->emails.n; k-- > 0;) {
		if (ctl_normalize(ctl, o->emails.v[k], norm, sizeof(norm)) == -1)
			return ctl_usage(ctl, "'%s' is not an e-mail address", o->emails.v[k]);
		if (!edit && cust_index(c->emails, c->n_emails, norm) >= 0)
			continue;
		cust_email_primary(c, norm);
	}
	for (size_t k = 0; k < o->add_emails.n; k++) {
		if (ctl_normalize(ctl, o->add_emails.v[k], norm, sizeof(norm)) == -1)
			return ctl_usage(ctl, "'%s' is not an e-mail address",
			    o->add_emails.v[k]);
		if (cust_index(c->emails, c->n_emails, norm) < 0)
			customer_add_email(c, norm);
	}
	for (size_t k = 0; k < o->remove_emails.n; k++) {
		if (ctl_normalize(ctl, o->remove_emails.v[k], norm, sizeof(norm)) == -1)
			return ctl_usage(ctl, "'%s' is not an e-mail address",
			    o->remove_emails.v[k]);
		if ((i = cust_index(c->emails, c->n_emails, norm)) < 0)
			return ctl_fail(ctl, "%s is not an address of this customer", norm);
		cust_remove(c->emails, &c->n_emails, (size_t)i);
	}
	if (c->n_emails == 0)
		return ctl_fail(ctl, "a customer keeps at least one address");
	return CTL_OK;
}

static int
cust_apply_tags(struct ctl *ctl, const struct cust_opts *o, struct customer *c)
{
	const char *why;
	ssize_t i;

	for (size_t k = 0; k < o->tags.n; k++) {
		if ((why = field_tag(o->tags.v[k])))
			return ctl_usage(ctl, "--tag '%s': %s", o->tags.v[k], why);
		if (cust_index(c->tags, c->n_tags, o->tags.v[k]) < 0)
			customer_add_tag(c, o->tags.v[k]);
	}
	for (size_t k = 0; k < o->untags.n; k++)
		if ((i = cust_index(c->tags, c->n_tags, o->untags.v[k])) >= 0)
			cust_remove(c->tags, &c->n_tags, (size_t)i);
	return CTL_OK;
}

static int
cust_apply_dates(struct ctl *ctl, const struct cust_opts *o, struct customer *c)
{
	const char *why;
	bool yes;

	if (o->clear & CLR_BIRTHDAY)
		c->birth_year = c->birth_month = c->birth_day = 0;
	if (o->birthday && (why = field_birthday(o->birthday, &c->birth_year,
	    &c->birth_month, &c->birth_day)))
		return ctl_usage(ctl, "--birthday %s: %s", o->birthday, why);
	if (o->newsletter) {
		if ((why = field_yesno(o->newsletter, &yes)))
			return ctl_usage(ctl, "--newsletter: %s", why);
		/* Consent is dated when it changes, not when it is repeated. */
		if (yes != c->newsletter || !c->consent_source) {
			c->newsletter = yes;
			c->consent_at = clock_now();
			cust_set(&c->consent_source, "manual");
		}
	}
	if (o->dnc) {
		if ((why = field_yesno(o->dnc, &yes)))
			return ctl_usage(ctl, "--do-not-contact: %s", why);
		c->do_not_contact = yes;
	}
	return CTL_OK;
}

static int
cust_apply_text(struct ctl *ctl, const struct cust_opts *o, struct customer *c)
{
	const char *why;
	char lang[16];

	if (o->name) {
		if (!*o->name)
			return ctl_usage(ctl, "--name must not be empty");
		if (!c->name || strcmp(c->name, o->name) != 0)
			cust_set(&c->first_name, NULL);	/* derived anew */
		cust_set(&c->name, o->name);
	}
	if (o->clear & CLR_FIRST)
		cust_set(&c->first_name, NULL);
	if (o->first_name)
		cust_set(&c->first_name, *o->first_name ? o->first_name : NULL);
	if (o->clear & CLR_COMPANY)
		cust_set(&c->company, NULL);
	if (o->company)
		cust_set(&c->company, *o->company ? o->company : NULL);
	if (o->clear & CLR_NOTES)
		cust_set(&c->notes, NULL);
	if (o->notes)
		cust_set(&c->notes, *o->notes ? o->notes : NULL);
	if (o->clear & CLR_LANG)
		cust_set(&c->lang, NULL);
	if (o->lang) {
		if ((why = field_lang(o->lang, lang, sizeof(lang))))
			return ctl_usage(ctl, "--lang %s: %s", o->lang, why);
		cust_set(&c->lang, lang);
	}
	if (o->clear & CLR_TZ)
		cust_set(&c->tz, NULL);
	if (o->tz) {
		if ((why = field_tz(o->tz)))
			return ctl_usage(ctl, "--tz %s: %s", o->tz, why);
		cust_set(&c->tz, o->tz);
	}
	if (o->clear & CLR_TIER)
		c->tier = 0;
	if (o->tier && (why = field_tier(o->tier, &c->tier)))
		return ctl_usage(ctl, "--tier %s: %s", o->tier, why);
	return CTL_OK;
}

static int
cust_apply_referrer(struct ctl *ctl, const struct cust_opts *o, struct customer *c)
{
	int64_t id;
	int rc;

	if (o->clear & CLR_REFERRED)
		c->referred_by = 0;
	if (!o->referred_by)
		return CTL_OK;
	if ((rc = ctl_find_customer(ctl, o->referred_by, &id)) != CTL_OK)
		return rc;
	if (id == c->id)
		return ctl_usage(ctl, "a customer cannot refer themselves");
	c->referred_by = id;
	return CTL_OK;
}

/* Refuses addresses of other customers; warns about suppressed ones. */
static int
cust_check_addresses(struct ctl *ctl, const struct customer *c)
{
	char msg[512], *reason;
	int64_t owner;
	int rc;

	for (size_t i = 0; i < c->n_emails; i++) {
		rc = store_customer_find_email(ctl->st, c->emails[i], &owner);
		if (rc == STORE_OK && owner != c->id) {
			ctl_owner_message(ctl, c->emails[i], owner, msg, sizeof(msg));
			return ctl_fail(ctl, "%s", msg);
		}
		if (rc == STORE_ERROR)
			return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
		reason = NULL;
		if (store_suppression_get(ctl->st, c->emails[i], &reason) == STORE_OK)
			ctl_warn("%s is suppressed (%s): nothing will be sent to it",
			    c->emails[i], reason ? reason : "no reason recorded");
		free(reason);
	}
	return CTL_OK;
}

static int
cust_apply(struct ctl *ctl, const struct cust_opts *o, struct customer *c, bool edit)
{
	int rc;

	if ((rc = cust_apply_text(ctl, o, c)) != CTL_OK ||
	    (rc = cust_apply_dates(ctl, o, c)) != CTL_OK ||
	    (rc = cust_apply_tags(ctl, o, c)) != CTL_OK ||
	    (rc = cust_apply_emails(ctl, o, c, edit)) != CTL_OK ||
	    (rc = cust_apply_referrer(ctl, o, c)) != CTL_OK)
		return rc;
	return cust_check_addresses(ctl, c);
}

/* ---- add, edit ---- */

static void
cust_print_id(struct ctl *ctl, const char *key, int64_t id, const char *state)
{
	struct json j;

	if (!ctl->json) {
		printf("%" PRId64 "\n", id);
		return;
	}
	json_init(&j, stdout, false);
	json_object_begin(&j);
	json_kv_int(&j, key, id);
	if (state)
		json_kv_string(&j, "result", state);
	json_object_end(&j);
	json_finish(&j);
}

int
cmd_customer_add(struct ctl *ctl, int argc, char **argv)
{
	struct cust_opts o = { 0 };
	struct customer c;
	bool help = false;
	int rc;

	customer_init(&c);
	rc = cust_parse(ctl, &o, argc, argv, false, &help);
	if (rc != CTL_OK || help || (rc = ctl_open(ctl)) != CTL_OK)
		goto out;
	cust_set(&c.source, "manual");
	if ((rc = cust_apply(ctl, &o, &c, false)) != CTL_OK)
		goto out;
	rc = store_customer_insert(ctl->st, &c);
	if (rc == STORE_CONFLICT) {
		rc = ctl_fail(ctl, "one of the addresses already belongs to a customer");
		goto out;
	}
	if (rc != STORE_OK) {
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
		goto out;
	}
	ctl_wake(ctl);
	cust_print_id(ctl, "id", c.id, NULL);
	rc = CTL_OK;
out:
	customer_clear(&c);
	cust_opts_free(&o);
	return rc;
}

int
cmd_customer_edit(struct ctl *ctl, int argc, char **argv)
{
	struct cust_opts o = { 0 };
	struct customer c;
	bool help = false, changed = false;
	int64_t id;
	int rc;

	customer_init(&c);
	rc = cust_parse(ctl, &o, argc, argv, true, &help);
	if (rc != CTL_OK || help || (rc = ctl_open(ctl)) != CTL_OK ||
	    (rc = ctl_find_customer(ctl, o.target, &id)) != CTL_OK)
		goto out;
	if (store_customer_get(ctl->st, id, &c) != STORE_OK) {
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
		goto out;
	}
	if ((rc = cust_apply(ctl, &o, &c, true)) != CTL_OK)
		goto out;
	if (store_customer_update(ctl->st, &c, &changed) != STORE_OK) {
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
		goto out;
	}
	if (changed)
		ctl_wake(ctl);
	if (ctl->json)
		cust_print_id(ctl, "id", id, changed ? "updated" : "unchanged");
	else
		printf("%s\n", changed ? "updated" : "unchanged");
	rc = CTL_OK;
out:
	customer_clear(&c);
	cust_opts_free(&o);
	return rc;
}

/* ---- tag ---- */

static const char tag_help[] =
	"Adds (+TAG or TAG) and removes (-TAG) tags of the customer known by ADDR.\n"
	"Prints the customer's tags afterwards.\n";

static int
tag_args(struct ctl *ctl, int argc, char **argv, bool *help)
{
	const char *why, *t;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			*help = true;
			return ctl_help(ctl->cmd, "ADDR [+TAG|-TAG]...", tag_help);
		}
	}
	if (argc < 3)
		return ctl_usage(ctl, "an address and at least one tag are needed");
	for (int i = 2; i < argc; i++) {
		t = argv[i][0] == '+' || argv[i][0] == '-' ? argv[i] + 1 : argv[i];
		if ((why = field_tag(t)))
			return ctl_usage(ctl, "'%s': %s", argv[i], why);
	}
	return CTL_OK;
}

static int
tag_print(struct ctl *ctl, int64_t id)
{
	struct customer c;
	struct json j;

	customer_init(&c);
	if (store_customer_get(ctl->st, id, &c) != STORE_OK) {
		customer_clear(&c);
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	}
	if (ctl->json) {
		json_init(&j, stdout, false);
		json_object_begin(&j);
		json_kv_int(&j, "id", id);
		json_key(&j, "tags");
		json_array_begin(&j);
		for (size_t i = 0; i < c.n_tags; i++)
			json_string(&j, c.tags[i]);
		json_array_end(&j);
		json_object_end(&j);
		json_finish(&j);
	} else {
		for (size_t i = 0; i < c.n_tags; i++)
			printf("%s%s", i ? " " : "", c.tags[i]);
		printf("\n");
	}
	customer_clear(&c);
	return CTL_OK;
}

int
cmd_customer_tag(struct ctl *ctl, int argc, char **argv)
{
	bool help = false, add;
	const char *t;
	int64_t id;
	int rc;

	if ((rc = tag_args(ctl, argc, argv, &help)) != CTL_OK || help)
		return rc;
	if ((rc = ctl_open(ctl)) != CTL_OK ||
	    (rc = ctl_find_customer(ctl, argv[1], &id)) != CTL_OK)
		return rc;
	if (store_begin(ctl->st) != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	for (int i = 2; i < argc; i++) {
		add = argv[i][0] != '-';
		t = argv[i][0] == '+' || argv[i][0] == '-' ? argv[i] + 1 : argv[i];
		if (store_customer_tag(ctl->st, id, t, add) == STORE_ERROR) {
			rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
			store_rollback(ctl->st);
			return rc;
		}
	}
	if (store_commit(ctl->st) != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	ctl_wake(ctl);
	return tag_print(ctl, id);
}

/* ---- forget ---- */

static const char forget_help[] =
	"Erases the customer known by ADDR and everything stored about them\n"
	"(links, sales, referrals, planned mail, messages and meetings that\n"
	"concerned only them), and suppresses each of their addresses so that\n"
	"nothing is ever sent to them again, even if they are imported anew.\n"
	"Asks first on a terminal; elsewhere --yes is required.\n\n"
	"  --yes    do not ask\n";

static bool
forget_confirm(const struct customer *c)
{
	char line[32];

	fprintf(stderr, "Forget %s <%s> and erase everything stored about them? "
	    "[y/N] ", c->name, c->n_emails ? c->emails[0] : "");
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

static int
forget_args(struct ctl *ctl, int argc, char **argv, bool *yes, bool *help)
{
	static const struct option longopts[] = {
		{ "yes", no_argument, NULL, 'y' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hy", longopts, NULL)) != -1) {
		if (opt == 'h') {
			*help = true;
			return ctl_help(ctl->cmd, "ADDR [--yes]", forget_help);
		}
		if (opt == 'y')
			*yes = true;
		else if (opt == 'j')
			ctl->json = true;
		else
			return ctl_getopt_error(ctl, argv, opt);
	}
	if (optind != argc - 1)
		return ctl_usage(ctl, "one customer address is needed");
	if (!*yes && !isatty(STDIN_FILENO))
		return ctl_usage(ctl, "--yes is needed when not on a terminal");
	return CTL_OK;
}

int
cmd_customer_forget(struct ctl *ctl, int argc, char **argv)
{
	struct customer c;
	bool yes = false, help = false;
	int64_t id;
	int rc;

	if ((rc = forget_args(ctl, argc, argv, &yes, &help)) != CTL_OK || help)
		return rc;
	if ((rc = ctl_open(ctl)) != CTL_OK ||
	    (rc = ctl_find_customer(ctl, argv[optind], &id)) != CTL_OK)
		return rc;
	customer_init(&c);
	if (store_customer_get(ctl->st, id, &c) != STORE_OK) {
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
		goto out;
	}
	if (!yes && !forget_confirm(&c)) {
		rc = ctl_fail(ctl, "not forgotten");
		goto out;
	}
	if (store_customer_forget(ctl->st, id, "erasure request") != STORE_OK) {
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
		goto out;
	}
	if (ctl->json)
		cust_print_id(ctl, "id", id, "forgotten");
	else
		printf("forgot customer #%" PRId64 " and suppressed %zu address%s\n",
		    id, c.n_emails, c.n_emails == 1 ? "" : "es");
	rc = CTL_OK;
out:
	customer_clear(&c);
	return rc;
}
