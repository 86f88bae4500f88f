/*
 * rapportctl sale add|list: sales recorded by hand (the IMAP sale rule
 * records the others), the trigger of after-sale follow-ups.
 */
#include "ctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "store_sale.h"

static int cmd_sale_add(struct ctl *ctl, int argc, char **argv);
static int cmd_sale_list(struct ctl *ctl, int argc, char **argv);

static const struct ctl_cmd sale_cmds[] = {
	{ "add", cmd_sale_add, "", "record a sale" },
	{ "list", cmd_sale_list, "", "list sales, of one customer or all" },
	{ NULL, NULL, NULL, NULL },
};

int
cmd_sale(struct ctl *ctl, int argc, char **argv)
{
	return ctl_dispatch(ctl, "sale", sale_cmds,
	    "A sale starts the follow-ups whose template says Trigger: sale.\n",
	    argc, argv);
}

/* ---- add ---- */

struct sale_opts {
	const char	*addr, *product, *amount;
	int64_t		 at;
};

static const char sale_add_help[] =
	"Records that the customer known by ADDR (or #ID) bought PRODUCT, and\n"
	"prints the sale's id.  A running rapportd is told to plan at once.\n\n"
	"  --product P    what was sold (required)\n"
	"  --date D       when: YYYY-MM-DD (midnight UTC) or ISO 8601, e.g.\n"
	"                 2026-11-30T15:00:00+01:00 (default: now)\n"
	"  --amount TEXT  the amount as you write it, e.g. \"120.00 EUR\"\n"
	"  --json         {\"id\": N, \"customer_id\": N} instead of the id\n";

static int
sale_add_args(struct ctl *ctl, struct sale_opts *o, int argc, char **argv,
    bool *helped)
{
	static const struct option longopts[] = {
		{ "product", required_argument, NULL, 'p' },
		{ "date", required_argument, NULL, 'd' },
		{ "amount", required_argument, NULL, 'a' },
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
			return ctl_help(ctl->cmd, "ADDR --product P [--date D] "
			    "[--amount TEXT] [--json]", sale_add_help);
		case 'p':
			o->product = optarg;
			break;
		case 'd':
			if (clock_parse_iso8601(optarg, &o->at) == -1)
				return ctl_usage(ctl, "--date %s: not YYYY-MM-DD "
				    "or ISO 8601", optarg);
			break;
		case 'a':
			o->amount = *optarg ? optarg : NULL;
			break;
		case 'j':
			ctl->json = true;
			break;
		default:
			return ctl_getopt_error(ctl, argv, opt);
		}
	}
	if (optind != argc - 1)
		return ctl_usage(ctl, "one customer address is needed");
	o->addr = argv[optind];
	if (!o->product || !*o->product)
		return ctl_usage(ctl, "--product is needed");
	return CTL_OK;
}

static int
sale_store(struct ctl *ctl, int64_t customer, const struct sale_opts *o,
    int64_t *id)
{
	int rc;

	if (store_begin(ctl->st) != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	rc = store_sale_add(ctl->st, customer, o->product, o->at, "manual", id);
	if (rc == STORE_OK && o->amount)
		rc = store_sale_set_amount(ctl->st, *id, o->amount);
	if (rc != STORE_OK) {
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
		store_rollback(ctl->st);
		return rc;
	}
	if (store_commit(ctl->st) != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	return CTL_OK;
}

static int
cmd_sale_add(struct ctl *ctl, int argc, char **argv)
{
	struct sale_opts o = { NULL, NULL, NULL, 0 };
	bool helped = false;
	int64_t customer, id = 0;
	struct json j;
	int rc;

	o.at = clock_now();
	if ((rc = sale_add_args(ctl, &o, argc, argv, &helped)) != CTL_OK ||
	    helped || (rc = ctl_open(ctl)) != CTL_OK ||
	    (rc = ctl_find_customer(ctl, o.addr, &customer)) != CTL_OK ||
	    (rc = sale_store(ctl, customer, &o, &id)) != CTL_OK)
		return rc;
	ctl_wake(ctl);
	if (!ctl->json) {
		printf("%" PRId64 "\n", id);
		return CTL_OK;
	}
	json_init(&j, stdout, false);
	json_object_begin(&j);
	json_kv_int(&j, "id", id);
	json_kv_int(&j, "customer_id", customer);
	json_object_end(&j);
	json_finish(&j);
	return CTL_OK;
}

/* ---- list ---- */

struct sale_list {
	struct json	 j;
	bool		 json;
};

static int
sale_row(void *arg, const struct store_sale_item *it)
{
	struct sale_list *sl = arg;
	char at[32], created[32];

	clock_format_utc(it->at, at, sizeof(at));
	clock_format_utc(it->created_at, created, sizeof(created));
	if (!sl->json) {
		printf("%5" PRId64 "  %s  %s <%s>  %s%s%s%s  (%s)\n", it->id, at,
		    it->customer_name, it->address ? it->address : "",
		    it->product, it->amount ? "  [" : "",
		    it->amount ? it->amount : "", it->amount ? "]" : "",
		    it->source ? it->source : "unknown source");
		return 0;
	}
	json_object_begin(&sl->j);
	json_kv_int(&sl->j, "id", it->id);
	json_kv_int(&sl->j, "customer_id", it->customer_id);
	json_kv_string(&sl->j, "customer", it->customer_name);
	json_kv_string(&sl->j, "email", it->address);
	json_kv_string(&sl->j, "product", it->product);
	json_kv_string(&sl->j, "amount", it->amount);
	json_kv_string(&sl->j, "date", at);
	json_kv_string(&sl->j, "source", it->source);
	json_kv_string(&sl->j, "recorded", created);
	json_object_end(&sl->j);
	return 0;
}

static const char sale_list_help[] =
	"Lists the sales of the customer known by ADDR (or #ID), or of every\n"
	"customer, oldest first: id, date (UTC), customer, product, [amount],\n"
	"(source: manual, import, mail:MESSAGE-ID).\n\n"
	"  --json   a JSON array of sales\n";

static int
sale_list_args(struct ctl *ctl, int argc, char **argv, const char **addr,
    bool *helped)
{
	int rc;

	if ((rc = ctl_json_args(ctl, argc, argv, "[ADDR] [--json]", sale_list_help,
	    helped)) != CTL_OK || *helped)
		return rc;
	if (argc - optind > 1)
		return ctl_usage(ctl, "unexpected argument '%s'", argv[optind + 1]);
	*addr = optind < argc ? argv[optind] : NULL;
	return CTL_OK;
}

static int
cmd_sale_list(struct ctl *ctl, int argc, char **argv)
{
	struct sale_list sl = { .json = false };
	const char *addr = NULL;
	bool helped = false;
	int64_t customer = 0;
	int rc;

	if ((rc = sale_list_args(ctl, argc, argv, &addr, &helped)) != CTL_OK ||
	    helped || (rc = ctl_open(ctl)) != CTL_OK ||
	    (addr && (rc = ctl_find_customer(ctl, addr, &customer)) != CTL_OK))
		return rc;
	sl.json = ctl->json;
	if (sl.json) {
		json_init(&sl.j, stdout, true);
		json_array_begin(&sl.j);
	}
	if (store_sale_foreach(ctl->st, customer, sale_row, &sl) != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	if (sl.json) {
		json_array_end(&sl.j);
		json_finish(&sl.j);
	}
	return CTL_OK;
}
