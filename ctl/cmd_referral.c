/*
 * rapportctl referral add|list|pending|confirm|reject, and referrals: who
 * brought whom, by which evidence, and what came of it (a flat list, or a
 * tree per referrer).  Referrals found in mail and meetings by a weak rule
 * wait on the review list (pending) until a person confirms or rejects
 * them; only confirmed ones are listed and thanked.
 */
#include "ctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "store_referral.h"
#include "xmalloc.h"

static int cmd_referral_add(struct ctl *ctl, int argc, char **argv);
static int cmd_referral_list(struct ctl *ctl, int argc, char **argv);
static int cmd_referral_pending(struct ctl *ctl, int argc, char **argv);
static int cmd_referral_confirm(struct ctl *ctl, int argc, char **argv);
static int cmd_referral_reject(struct ctl *ctl, int argc, char **argv);

static const struct ctl_cmd referral_cmds[] = {
	{ "add", cmd_referral_add, "", "record that a customer referred someone" },
	{ "list", cmd_referral_list, "", "list confirmed referrals" },
	{ "pending", cmd_referral_pending, "",
	    "list referrals found in mail and meetings awaiting review" },
	{ "confirm", cmd_referral_confirm, "", "confirm a pending referral" },
	{ "reject", cmd_referral_reject, "",
	    "reject a pending referral for good" },
	{ NULL, NULL, NULL, NULL },
};

int
cmd_referral(struct ctl *ctl, int argc, char **argv)
{
	return ctl_dispatch(ctl, "referral", referral_cmds,
	    "A referral starts the referral thank-you to the referrer.\n"
	    "'rapportctl referrals' shows what came of each one.\n",
	    argc, argv);
}

/* ---- add ---- */

struct ref_opts {
	const char	*referrer, *referred, *name, *evidence;
	int64_t		 at;
};

static const char referral_add_help[] =
	"Records that the customer known by REFERRER_ADDR (or #ID) brought\n"
	"the person at ADDR.  If ADDR is no customer yet, one is added in the\n"
	"same transaction (source \"referral\", referred by REFERRER).  A running\n"
	"rapportd is told to plan at once.\n\n"
	"  --referred ADDR   the person referred (required)\n"
	"  --name NAME       their name, for a new customer (default: ADDR)\n"
	"  --date D          when: YYYY-MM-DD (midnight UTC) or ISO 8601\n"
	"                    (default: now)\n"
	"  --evidence TEXT   how you know, e.g. \"phone call 2 Nov\"\n"
	"  --json            the result as a JSON object\n";

static int
ref_add_args(struct ctl *ctl, struct ref_opts *o, int argc, char **argv,
    bool *helped)
{
	static const struct option longopts[] = {
		{ "referred", required_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'n' },
		{ "date", required_argument, NULL, 'd' },
		{ "evidence", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			*helped = true;
			return ctl_help(ctl->cmd, "REFERRER_ADDR --referred ADDR "
			    "[--name NAME] [--date D] [--evidence TEXT] [--json]",
			    referral_add_help);
		case 'r': o->referred = optarg; break;
		case 'n': o->name = optarg; break;
		case 'e': o->evidence = *optarg ? optarg : NULL; break;
		case 'j': ctl->json = true; break;
		case 'd':
			if (clock_parse_iso8601(optarg, &o->at) == -1)
				return ctl_usage(ctl, "--date %s: not YYYY-MM-DD "
				    "or ISO 8601", optarg);
			break;
		default:
			return ctl_getopt_error(ctl, argv, opt);
		}
	}
	if (optind != argc - 1)
		return ctl_usage(ctl, "one referrer address is needed");
	o->referrer = argv[optind];
	if (!o->referred)
		return ctl_usage(ctl, "--referred is needed");
	if (o->name && !*o->name)
		return ctl_usage(ctl, "--name must not be empty");
	return CTL_OK;
}

/* The customer to add for a referred address nobody owns yet. */
static void
ref_new_customer(struct ctl *ctl, const struct ref_opts *o, const char *addr,
    int64_t referrer, struct customer *c)
{
	char *reason = NULL;

	c->name = xstrdup(o->name ? o->name : addr);
	c->source = xstrdup("referral");
	c->referred_by = referrer;
	customer_add_email(c, addr);
	if (store_suppression_get(ctl->st, addr, &reason) == STORE_OK)
		ctl_warn("%s is suppressed (%s): nothing will be sent to it",
		    addr, reason ? reason : "no reason recorded");
	free(reason);
}

/* Finds or (new set) prepares the referred customer. */
static int
ref_find_referred(struct ctl *ctl, const struct ref_opts *o, int64_t referrer,
    struct customer *c, bool *created)
{
	char norm[320];
	int rc;

	if (o->referred[0] == '#' || (o->referred[0] >= '0' &&
	    o->referred[0] <= '9' && !strchr(o->referred, '@')))
		return ctl_find_customer(ctl, o->referred, &c->id);
	if (ctl_normalize(ctl, o->referred, norm, sizeof(norm)) == -1)
		return ctl_usage(ctl, "'%s' is not an e-mail address", o->referred);
	rc = store_customer_find_email(ctl->st, norm, &c->id);
	if (rc == STORE_ERROR)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	if (rc == STORE_OK) {
		if (o->name)
			ctl_warn("--name ignored: %s is customer #%" PRId64
			    " already", norm, c->id);
		return CTL_OK;
	}
	*created = true;
	ref_new_customer(ctl, o, norm, referrer, c);
	return CTL_OK;
}

static int
ref_store(struct ctl *ctl, const struct ref_opts *o, int64_t referrer,
    struct customer *c, bool created)
{
	int rc;

	if (store_begin(ctl->st) != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	rc = created ? store_customer_insert(ctl->st, c) : STORE_OK;
	if (rc == STORE_OK)
		rc = store_referral_add(ctl->st, referrer, c->id, o->at, "manual",
		    o->evidence);
	if (rc != STORE_OK) {
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
		store_rollback(ctl->st);
		return rc;
	}
	if (store_commit(ctl->st) != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	return CTL_OK;
}

static void
ref_add_report(struct ctl *ctl, int64_t referrer, int64_t referred,
    bool created)
{
	struct json j;

	if (!ctl->json) {
		printf("customer #%" PRId64 " referred customer #%" PRId64 "%s\n",
		    referrer, referred, created ? " (new customer)" : "");
		return;
	}
	json_init(&j, stdout, false);
	json_object_begin(&j);
	json_kv_int(&j, "referrer_id", referrer);
	json_kv_int(&j, "referred_id", referred);
	json_kv_bool(&j, "new_customer", created);
	json_object_end(&j);
	json_finish(&j);
}

static int
cmd_referral_add(struct ctl *ctl, int argc, char **argv)
{
	struct ref_opts o = { NULL, NULL, NULL, NULL, 0 };
	struct customer c;
	bool helped = false, created = false;
	int64_t referrer;
	int rc;

	o.at = clock_now();
	if ((rc = ref_add_args(ctl, &o, argc, argv, &helped)) != CTL_OK ||
	    helped || (rc = ctl_open(ctl)) != CTL_OK ||
	    (rc = ctl_find_customer(ctl, o.referrer, &referrer)) != CTL_OK)
		return rc;
	customer_init(&c);
	if ((rc = ref_find_referred(ctl, &o, referrer, &c, &created)) != CTL_OK)
		goto out;
	if (c.id == referrer) {
		rc = ctl_fail(ctl, "a customer cannot refer themselves");
		goto out;
	}
	if ((rc = ref_store(ctl, &o, referrer, &c, created)) != CTL_OK)
		goto out;
	ctl_wake(ctl);
	ref_add_report(ctl, referrer, c.id, created);
out:
	customer_clear(&c);
	return rc;
}

/* ---- the referrals, collected ---- */

struct ref_item {
	int64_t	 id, referrer_id, referred_id, at, created_at;
	char	*referrer_name, *referrer_address;
	char	*referred_name, *referred_address;
	char	*source, *evidence, *referred_source, *first_sale_product;
	char	*rule, *strength, *evidence_kind, *evidence_ref;
	int64_t	 referred_since, first_sale_at, messages, meetings;
};

struct ref_list {
	struct ref_item	*v;
	size_t		 n, cap;
};

static char *
ref_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static int
ref_collect(void *arg, const struct store_referral_item *it)
{
	struct ref_list *rl = arg;
	struct ref_item *r;

	if (rl->n == rl->cap) {
		rl->cap = rl->cap ? rl->cap * 2 : 32;
		rl->v = xreallocarray(rl->v, rl->cap, sizeof(*rl->v));
	}
	r = &rl->v[rl->n++];
	r->id = it->id;
	r->referrer_id = it->referrer_id;
	r->referred_id = it->referred_id;
	r->at = it->at;
	r->created_at = it->created_at;
	r->referrer_name = ref_dup(it->referrer_name);
	r->referrer_address = ref_dup(it->referrer_address);
	r->referred_name = ref_dup(it->referred_name);
	r->referred_address = ref_dup(it->referred_address);
	r->source = ref_dup(it->source);
	r->evidence = ref_dup(it->evidence);
	r->referred_source = ref_dup(it->referred_source);
	r->first_sale_product = ref_dup(it->first_sale_product);
	r->referred_since = it->referred_since;
	r->first_sale_at = it->first_sale_at;
	r->messages = it->messages;
	r->meetings = it->meetings;
	r->rule = ref_dup(it->rule);
	r->strength = ref_dup(it->strength);
	r->evidence_kind = ref_dup(it->evidence_kind);
	r->evidence_ref = ref_dup(it->evidence_ref);
	return 0;
}

static void
ref_list_free(struct ref_list *rl)
{
	for (size_t i = 0; i < rl->n; i++) {
		struct ref_item *r = &rl->v[i];

		free(r->referrer_name);
		free(r->referrer_address);
		free(r->referred_name);
		free(r->referred_address);
		free(r->source);
		free(r->evidence);
		free(r->referred_source);
		free(r->first_sale_product);
		free(r->rule);
		free(r->strength);
		free(r->evidence_kind);
		free(r->evidence_ref);
	}
	free(rl->v);
}

static int
ref_load(struct ctl *ctl, struct ref_list *rl)
{
	if (store_referral_foreach(ctl->st, ref_collect, rl) != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	return CTL_OK;
}

/* "2026-11-02" of a time, in buf (>= 21 bytes). */
static const char *
ref_day(int64_t t, char *buf, size_t len)
{
	clock_format_utc(t, buf, len);
	buf[10] = '\0';
	return buf;
}

/* ---- JSON pieces ---- */

static void
ref_json_person(struct json *j, int64_t id, const char *name, const char *addr)
{
	json_kv_int(j, "id", id);
	json_kv_string(j, "name", name);
	json_kv_string(j, "email", addr);
}

/* The referral's own members: when, how we know, what came of it. */
static void
ref_json_facts(struct json *j, const struct ref_item *r)
{
	char buf[32];

	if (r->id)
		json_kv_int(j, "referral_id", r->id);
	else
		json_kv_string(j, "referral_id", NULL);
	clock_format_utc(r->at, buf, sizeof(buf));
	json_kv_string(j, "date", buf);
	json_kv_string(j, "source", r->source);
	json_kv_string(j, "evidence", r->evidence);
	json_kv_string(j, "evidence_kind", r->evidence_kind);
	json_kv_string(j, "evidence_ref", r->evidence_ref);
	json_kv_string(j, "rule", r->rule);
	json_kv_string(j, "strength", r->strength);
	json_key(j, "outcome");
	json_object_begin(j);
	clock_format_utc(r->referred_since, buf, sizeof(buf));
	json_kv_string(j, "customer_since", buf);
	json_kv_string(j, "customer_source", r->referred_source);
	clock_format_utc(r->first_sale_at, buf, sizeof(buf));
	json_kv_string(j, "first_sale", r->first_sale_product ? buf : NULL);
	json_kv_string(j, "first_sale_product", r->first_sale_product);
	json_kv_int(j, "messages", r->messages);
	json_kv_int(j, "meetings", r->meetings);
	json_object_end(j);
}

static void
ref_json_item(struct json *j, const struct ref_item *r)
{
	json_object_begin(j);
	json_key(j, "referrer");
	json_object_begin(j);
	ref_json_person(j, r->referrer_id, r->referrer_name, r->referrer_address);
	json_object_end(j);
	json_key(j, "referred");
	json_object_begin(j);
	ref_json_person(j, r->referred_id, r->referred_name, r->referred_address);
	json_object_end(j);
	ref_json_facts(j, r);
	json_object_end(j);
}

/* ---- list ---- */

static const char referral_list_help[] =
	"Lists the confirmed referrals, oldest first: id, date, referrer ->\n"
	"referred, (source).  An id of - is a referral only a customer's\n"
	"referred_by field records (an import, customer edit).  Candidates\n"
	"found in mail awaiting review: 'rapportctl referral pending'.\n\n"
	"  --json   a JSON array of referrals\n";

static int
ref_json_args(struct ctl *ctl, int argc, char **argv, bool *tree,
    const char *synopsis, const char *help, bool *helped)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "tree", no_argument, NULL, 't' },
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
		if (opt == 't' && tree)
			*tree = true;
		else if (opt == 'j')
			ctl->json = true;
		else
			return ctl_getopt_error(ctl, argv, opt);
	}
	if (optind != argc)
		return ctl_usage(ctl, "unexpected argument '%s'", argv[optind]);
	return CTL_OK;
}

static void
ref_print_list(struct ctl *ctl, const struct ref_list *rl)
{
	char day[32], id[24];
	struct json j;

	if (ctl->json) {
		json_init(&j, stdout, true);
		json_array_begin(&j);
		for (size_t i = 0; i < rl->n; i++)
			ref_json_item(&j, &rl->v[i]);
		json_array_end(&j);
		json_finish(&j);
		return;
	}
	for (size_t i = 0; i < rl->n; i++) {
		const struct ref_item *r = &rl->v[i];

		if (r->id)
			snprintf(id, sizeof(id), "%" PRId64, r->id);
		else
			snprintf(id, sizeof(id), "-");
		printf("%5s  %s  %s <%s> -> %s <%s>  (%s)\n", id,
		    ref_day(r->at, day, sizeof(day)), r->referrer_name,
		    r->referrer_address ? r->referrer_address : "",
		    r->referred_name,
		    r->referred_address ? r->referred_address : "",
		    r->source ? r->source : "unknown source");
	}
}

static int
cmd_referral_list(struct ctl *ctl, int argc, char **argv)
{
	struct ref_list rl = { NULL, 0, 0 };
	bool helped = false;
	int rc;

	if ((rc = ref_json_args(ctl, argc, argv, NULL, "[--json]",
	    referral_list_help, &helped)) != CTL_OK || helped ||
	    (rc = ctl_open(ctl)) != CTL_OK || (rc = ref_load(ctl, &rl)) != CTL_OK)
		goto out;
	ref_print_list(ctl, &rl);
out:
	ref_list_free(&rl);
	return rc;
}

/* ---- referrals: outcomes, flat or as a tree ---- */

/* "manual: phone call; customer since 2026-11-02 (referral); first sale
 * 2026-11-20 (Widget); 3 messages, 1 meeting since" */
static void
ref_print_outcome(const struct ref_item *r)
{
	char day[32];

	if (r->rule)
		printf("rule %s (%s), ", r->rule,
		    r->strength ? r->strength : "?");
	printf("%s%s%s", r->source ? r->source : "unknown source",
	    r->evidence ? ": " : "", r->evidence ? r->evidence : "");
	printf("; customer since %s", ref_day(r->referred_since, day, sizeof(day)));
	if (r->referred_source)
		printf(" (%s)", r->referred_source);
	if (r->first_sale_product)
		printf("; first sale %s (%s)", ref_day(r->first_sale_at, day,
		    sizeof(day)), r->first_sale_product);
	else
		printf("; no sale yet");
	printf("; %" PRId64 " message%s, %" PRId64 " meeting%s since\n",
	    r->messages, r->messages == 1 ? "" : "s", r->meetings,
	    r->meetings == 1 ? "" : "s");
}

static void
ref_print_flat(const struct ref_list *rl)
{
	char day[32];

	for (size_t i = 0; i < rl->n; i++) {
		const struct ref_item *r = &rl->v[i];

		printf("%s  %s <%s> (#%" PRId64 ") brought %s <%s> (#%" PRId64 ")\n",
		    ref_day(r->at, day, sizeof(day)), r->referrer_name,
		    r->referrer_address ? r->referrer_address : "", r->referrer_id,
		    r->referred_name,
		    r->referred_address ? r->referred_address : "", r->referred_id);
		printf("    ");
		ref_print_outcome(r);
	}
}

/*
 * The tree: each referrer with the people they brought, recursively.
 * Roots are referrers nobody referred; people met again further down a
 * path (a cycle: A brought B, B brought A) are named but not descended.
 */
struct ref_tree {
	const struct ref_list	*rl;
	int64_t			*path;		/* ids from the root down */
	size_t			 depth, cap;
	bool			*shown;		/* rl->v[i] printed as an edge */
	char			 prefix[256];
	struct json		 j;
	bool			 json;
};

static bool
ref_is_referred(const struct ref_list *rl, int64_t id)
{
	for (size_t i = 0; i < rl->n; i++)
		if (rl->v[i].referred_id == id)
			return true;
	return false;
}

static bool
ref_on_path(const struct ref_tree *t, int64_t id)
{
	for (size_t i = 0; i < t->depth; i++)
		if (t->path[i] == id)
			return true;
	return false;
}

static void
ref_path_push(struct ref_tree *t, int64_t id)
{
	if (t->depth == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->path = xreallocarray(t->path, t->cap, sizeof(*t->path));
	}
	t->path[t->depth++] = id;
}

static size_t
ref_children(const struct ref_tree *t, int64_t id, size_t after)
{
	for (size_t i = after; i < t->rl->n; i++)
		if (t->rl->v[i].referrer_id == id)
			return i;
	return t->rl->n;
}

static void ref_tree_node(struct ref_tree *t, int64_t id);

static void
ref_tree_edge(struct ref_tree *t, const struct ref_item *r, bool last)
{
	size_t plen = strlen(t->prefix);
	char day[32];
	bool cycle = ref_on_path(t, r->referred_id), deep;

	if (t->json) {
		json_object_begin(&t->j);
		ref_json_person(&t->j, r->referred_id, r->referred_name,
		    r->referred_address);
		ref_json_facts(&t->j, r);
		if (cycle)
			json_kv_bool(&t->j, "cycle", true);
	} else {
		printf("%s%s %s <%s> (#%" PRId64 ")  %s%s\n", t->prefix,
		    last ? "`--" : "|--", r->referred_name,
		    r->referred_address ? r->referred_address : "",
		    r->referred_id, ref_day(r->at, day, sizeof(day)),
		    cycle ? "  (cycle: shown above)" : "");
		printf("%s%s    ", t->prefix, last ? " " : "|");
		ref_print_outcome(r);
	}
	/* The JSON writer and the prefix have a depth limit; a chain of
	 * referrals that long is cut, and says so. */
	deep = plen + 5 >= sizeof(t->prefix) ||
	    (t->json && t->j.depth + 4 >= JSON_MAX_DEPTH);
	if (cycle) {
		/* named above, not descended */
	} else if (deep) {
		if (t->json)
			json_kv_bool(&t->j, "truncated", true);
		else
			printf("%s%s    ...\n", t->prefix, last ? " " : "|");
	} else {
		strcat(t->prefix, last ? "    " : "|   ");
		ref_tree_node(t, r->referred_id);
		t->prefix[plen] = '\0';
	}
	if (t->json)
		json_object_end(&t->j);
}

/* Prints the people id brought (in JSON: as the "referred" member). */
static void
ref_tree_node(struct ref_tree *t, int64_t id)
{
	size_t i, next;

	ref_path_push(t, id);
	if (t->json) {
		json_key(&t->j, "referred");
		json_array_begin(&t->j);
	}
	for (i = ref_children(t, id, 0); i < t->rl->n; i = next) {
		next = ref_children(t, id, i + 1);
		t->shown[i] = true;
		ref_tree_edge(t, &t->rl->v[i], next == t->rl->n);
	}
	if (t->json)
		json_array_end(&t->j);
	t->depth--;
}

static void
ref_tree_root(struct ref_tree *t, const struct ref_item *r)
{
	if (t->json) {
		json_object_begin(&t->j);
		ref_json_person(&t->j, r->referrer_id, r->referrer_name,
		    r->referrer_address);
	} else {
		printf("%s <%s> (#%" PRId64 ")\n", r->referrer_name,
		    r->referrer_address ? r->referrer_address : "",
		    r->referrer_id);
	}
	t->prefix[0] = '\0';
	ref_tree_node(t, r->referrer_id);
	if (t->json)
		json_object_end(&t->j);
}

static void
ref_print_tree(struct ctl *ctl, const struct ref_list *rl)
{
	struct ref_tree t = { .rl = rl, .json = ctl->json };

	t.shown = xcalloc(rl->n ? rl->n : 1, sizeof(*t.shown));
	if (t.json) {
		json_init(&t.j, stdout, true);
		json_array_begin(&t.j);
	}
	/* Roots first; then whatever only a cycle reaches. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < rl->n; i++) {
			if (t.shown[i] || (pass == 0 &&
			    ref_is_referred(rl, rl->v[i].referrer_id)))
				continue;
			ref_tree_root(&t, &rl->v[i]);
		}
	}
	if (t.json) {
		json_array_end(&t.j);
		json_finish(&t.j);
	}
	free(t.shown);
	free(t.path);
}

static const char referrals_help[] =
	"Shows who brought whom (confirmed referrals), when, by which rule and\n"
	"evidence, and what came of it:\n"
	"when the person became a customer, their first sale, and the number\n"
	"of messages and meetings with them since the referral.\n\n"
	"  --tree   one tree per referrer who was not referred themselves\n"
	"  --json   a JSON array: referrals, or with --tree the trees (each\n"
	"           person with a \"referred\" array)\n";

int
cmd_referrals(struct ctl *ctl, int argc, char **argv)
{
	struct ref_list rl = { NULL, 0, 0 };
	bool helped = false, tree = false;
	int rc;

	if ((rc = ref_json_args(ctl, argc, argv, &tree, "[--tree] [--json]",
	    referrals_help, &helped)) != CTL_OK || helped ||
	    (rc = ctl_open(ctl)) != CTL_OK || (rc = ref_load(ctl, &rl)) != CTL_OK)
		goto out;
	if (tree)
		ref_print_tree(ctl, &rl);
	else if (ctl->json)
		ref_print_list(ctl, &rl);
	else
		ref_print_flat(&rl);
out:
	ref_list_free(&rl);
	return rc;
}

/* ---- the review list: pending, confirm, reject ---- */

static const char referral_pending_help[] =
	"Lists the referrals rapport found in mail and meetings that wait for\n"
	"a person's decision (weak rules; strong ones are confirmed at once):\n"
	"id, date, referrer -> the person referred, the rule and the evidence.\n"
	"'rapportctl referral confirm ID' makes the person a customer and\n"
	"plans the thank-you; 'referral reject ID' drops it for good.\n\n"
	"  --json   a JSON array of candidates\n";

static void
ref_pending_json(struct json *j, const struct store_referral_pending *it)
{
	char buf[32];

	json_object_begin(j);
	json_kv_int(j, "id", it->id);
	clock_format_utc(it->at, buf, sizeof(buf));
	json_kv_string(j, "date", buf);
	json_key(j, "referrer");
	json_object_begin(j);
	ref_json_person(j, it->referrer_id, it->referrer_name,
	    it->referrer_address);
	json_object_end(j);
	json_key(j, "referred");
	json_object_begin(j);
	json_kv_string(j, "name", it->referred_name);
	json_kv_string(j, "email", it->referred_addr);
	json_object_end(j);
	json_kv_string(j, "rule", it->rule);
	json_kv_string(j, "strength", it->strength);
	json_kv_string(j, "evidence", it->evidence);
	json_kv_string(j, "evidence_kind", it->evidence_kind);
	json_kv_int(j, "evidence_id", it->evidence_id);
	json_kv_string(j, "evidence_ref", it->evidence_ref);
	json_kv_string(j, "evidence_title", it->evidence_title);
	json_object_end(j);
}

static int
ref_pending_print(void *arg, const struct store_referral_pending *it)
{
	struct json *j = arg;
	char day[32];

	if (j != NULL) {
		ref_pending_json(j, it);
		return 0;
	}
	printf("%5" PRId64 "  %s  %s <%s> -> %s%s<%s>  %s (%s)\n", it->id,
	    ref_day(it->at, day, sizeof(day)), it->referrer_name,
	    it->referrer_address ? it->referrer_address : "",
	    it->referred_name ? it->referred_name : "",
	    it->referred_name ? " " : "", it->referred_addr,
	    it->rule ? it->rule : "?", it->strength ? it->strength : "?");
	printf("       %s %s%s%s\n", it->evidence_kind ? it->evidence_kind : "",
	    it->evidence_ref ? it->evidence_ref : "",
	    it->evidence ? ": " : "", it->evidence ? it->evidence : "");
	return 0;
}

static int
cmd_referral_pending(struct ctl *ctl, int argc, char **argv)
{
	struct json j;
	bool helped = false;
	int rc;

	if ((rc = ref_json_args(ctl, argc, argv, NULL, "[--json]",
	    referral_pending_help, &helped)) != CTL_OK || helped ||
	    (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	if (ctl->json) {
		json_init(&j, stdout, true);
		json_array_begin(&j);
	}
	if (store_referral_pending_foreach(ctl->st, ref_pending_print,
	    ctl->json ? &j : NULL) != STORE_OK)
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	if (ctl->json) {
		json_array_end(&j);
		json_finish(&j);
	}
	return rc;
}

/* One ID argument (and --json): the parsed id in *id. */
static int
ref_id_args(struct ctl *ctl, int argc, char **argv, const char *help,
    int64_t *id, bool *helped)
{
	char *end;
	int rc;

	if ((rc = ctl_json_args(ctl, argc, argv, "ID [--json]", help,
	    helped)) != CTL_OK || *helped)
		return rc;
	if (optind != argc - 1)
		return ctl_usage(ctl, "one referral id is needed");
	*id = strtoll(argv[optind], &end, 10);
	if (*end != '\0' || *id <= 0)
		return ctl_usage(ctl, "'%s' is not a referral id", argv[optind]);
	return CTL_OK;
}

static const char referral_confirm_help[] =
	"Confirms pending referral ID (see 'rapportctl referral pending'): the\n"
	"person referred becomes a customer (source \"referral\", referred by\n"
	"the referrer) unless they are one already, the mail and meetings\n"
	"stored before with their address are linked to them, and the\n"
	"referral thank-you is planned from now.  A rejected one may be\n"
	"confirmed after all.\n\n"
	"  --json   the result as a JSON object\n";

static int
cmd_referral_confirm(struct ctl *ctl, int argc, char **argv)
{
	struct json j;
	int64_t id = 0, customer = 0;
	bool helped = false, created = false;
	int rc;

	if ((rc = ref_id_args(ctl, argc, argv, referral_confirm_help, &id,
	    &helped)) != CTL_OK || helped || (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	if (store_referral_confirm(ctl->st, id, true, &customer, &created) !=
	    STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	ctl_wake(ctl);
	if (!ctl->json) {
		printf("referral %" PRId64 " confirmed: customer #%" PRId64 "%s\n",
		    id, customer, created ? " (new customer)" : "");
		return CTL_OK;
	}
	json_init(&j, stdout, false);
	json_object_begin(&j);
	json_kv_int(&j, "referral_id", id);
	json_kv_int(&j, "referred_id", customer);
	json_kv_bool(&j, "new_customer", created);
	json_object_end(&j);
	json_finish(&j);
	return CTL_OK;
}

static const char referral_reject_help[] =
	"Rejects pending referral ID for good: the same referrer is never\n"
	"proposed for that person again.\n\n"
	"  --json   the result as a JSON object\n";

static int
cmd_referral_reject(struct ctl *ctl, int argc, char **argv)
{
	struct json j;
	int64_t id = 0;
	bool helped = false;
	int rc;

	if ((rc = ref_id_args(ctl, argc, argv, referral_reject_help, &id,
	    &helped)) != CTL_OK || helped || (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	if (store_referral_reject(ctl->st, id) != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	if (!ctl->json) {
		printf("referral %" PRId64 " rejected\n", id);
		return CTL_OK;
	}
	json_init(&j, stdout, false);
	json_object_begin(&j);
	json_kv_int(&j, "referral_id", id);
	json_kv_string(&j, "state", "rejected");
	json_object_end(&j);
	json_finish(&j);
	return CTL_OK;
}
