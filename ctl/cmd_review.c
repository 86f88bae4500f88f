/*
 * rapportctl review list|link|dismiss: the decisions the linker left to a
 * person (an address or a domain shared by several customers).  Each row
 * of the list is one candidate customer for one message or meeting.
 */
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "store_message.h"

static int cmd_review_list(struct ctl *ctl, int argc, char **argv);
static int cmd_review_link(struct ctl *ctl, int argc, char **argv);
static int cmd_review_dismiss(struct ctl *ctl, int argc, char **argv);

static const struct ctl_cmd review_cmds[] = {
	{ "list", cmd_review_list, "", "open decisions, one row per candidate" },
	{ "link", cmd_review_link, "", "link the item to that row's customer" },
	{ "dismiss", cmd_review_dismiss, "", "that customer is not the one" },
	{ NULL, NULL, NULL, NULL },
};

int
cmd_review(struct ctl *ctl, int argc, char **argv)
{
	return ctl_dispatch(ctl, "review", review_cmds,
	    "When an address or a domain belongs to several customers, the\n"
	    "linker links none of them and asks here instead.\n",
	    argc, argv);
}

/* ---- list ---- */

struct review_list {
	struct json	 j;
	bool		 json;
};

static int
review_row(void *arg, const struct store_review_item *it)
{
	struct review_list *rv = arg;
	bool event = strcmp(it->object_kind, "event") == 0;
	char date[32], created[32];

	clock_format_utc(it->date, date, sizeof(date));
	clock_format_utc(it->created_at, created, sizeof(created));
	if (!rv->json) {
		printf("%5" PRId64 "  %s  %s %s%s%s  %s  -> #%" PRId64 " %s"
		    "  (%s %s)\n", it->id, date, event ? "meeting" : "message",
		    event ? "" : "<", it->ref ? it->ref : "-", event ? "" : ">",
		    it->title ? it->title : "", it->customer_id,
		    it->customer_name, it->rule, it->address ? it->address : "");
		return 0;
	}
	json_object_begin(&rv->j);
	json_kv_int(&rv->j, "id", it->id);
	json_kv_string(&rv->j, "kind", event ? "meeting" : "message");
	json_kv_int(&rv->j, "object_id", it->object_id);
	json_kv_string(&rv->j, event ? "uid" : "message_id", it->ref);
	json_kv_string(&rv->j, "date", date);
	json_kv_string(&rv->j, event ? "summary" : "subject", it->title);
	json_kv_int(&rv->j, "customer_id", it->customer_id);
	json_kv_string(&rv->j, "customer", it->customer_name);
	json_kv_string(&rv->j, "rule", it->rule);
	json_kv_string(&rv->j, "address", it->address);
	json_kv_string(&rv->j, "created", created);
	json_object_end(&rv->j);
	return 0;
}

static const char review_list_help[] =
	"Lists the open decisions, oldest first, one row per candidate: id,\n"
	"date, the message (Message-ID) or meeting (UID), its subject, the\n"
	"candidate customer, and the rule and the shared address or domain.\n"
	"Then: 'review link ID' or 'review dismiss ID'.\n\n"
	"  --json   a JSON array of rows\n";

static int
review_list_args(struct ctl *ctl, int argc, char **argv, bool *helped)
{
	int rc;

	if ((rc = ctl_json_args(ctl, argc, argv, "[--json]", review_list_help,
	    helped)) != CTL_OK || *helped)
		return rc;
	if (optind != argc)
		return ctl_usage(ctl, "unexpected argument '%s'", argv[optind]);
	return CTL_OK;
}

static int
cmd_review_list(struct ctl *ctl, int argc, char **argv)
{
	struct review_list rv = { .json = false };
	bool helped = false;
	int rc;

	if ((rc = review_list_args(ctl, argc, argv, &helped)) != CTL_OK ||
	    helped || (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	rv.json = ctl->json;
	if (rv.json) {
		json_init(&rv.j, stdout, true);
		json_array_begin(&rv.j);
	}
	if (store_review_foreach(ctl->st, review_row, &rv) != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	if (rv.json) {
		json_array_end(&rv.j);
		json_finish(&rv.j);
	}
	return CTL_OK;
}

/* ---- link, dismiss ---- */

static const char review_link_help[] =
	"Links the message or meeting of review row ID to that row's customer\n"
	"(rule \"manual\"), and closes the other candidates of the same item and\n"
	"address.  A running rapportd is told to plan at once.\n\n"
	"  --json   {\"id\": ID, \"result\": \"linked\"}\n";

static const char review_dismiss_help[] =
	"Closes review row ID: that customer is not the one.  The other\n"
	"candidates of the item stay open.\n\n"
	"  --json   {\"id\": ID, \"result\": \"dismissed\"}\n";

static int
review_id_args(struct ctl *ctl, int argc, char **argv, const char *help,
    int64_t *id, bool *helped)
{
	const char *arg;
	char *end;
	long long v;
	int rc;

	if ((rc = ctl_json_args(ctl, argc, argv, "ID [--json]", help,
	    helped)) != CTL_OK || *helped)
		return rc;
	if (optind != argc - 1)
		return ctl_usage(ctl, "one review id is needed");
	arg = argv[optind] + (argv[optind][0] == '#');
	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || *end || end == arg || v <= 0)
		return ctl_usage(ctl, "'%s' is not a review id", argv[optind]);
	*id = v;
	return CTL_OK;
}

static int
review_resolve(struct ctl *ctl, int argc, char **argv, bool link)
{
	const char *result = link ? "linked" : "dismissed";
	bool helped = false;
	struct json j;
	int64_t id = 0;
	int rc;

	if ((rc = review_id_args(ctl, argc, argv, link ? review_link_help :
	    review_dismiss_help, &id, &helped)) != CTL_OK || helped ||
	    (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	rc = store_review_resolve(ctl->st, id, link);
	if (rc == STORE_NOTFOUND)
		return ctl_fail(ctl, "no open review #%" PRId64, id);
	if (rc != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	if (link)
		ctl_wake(ctl);
	if (!ctl->json) {
		printf("%s\n", result);
		return CTL_OK;
	}
	json_init(&j, stdout, false);
	json_object_begin(&j);
	json_kv_int(&j, "id", id);
	json_kv_string(&j, "result", result);
	json_object_end(&j);
	json_finish(&j);
	return CTL_OK;
}

static int
cmd_review_link(struct ctl *ctl, int argc, char **argv)
{
	return review_resolve(ctl, argc, argv, true);
}

static int
cmd_review_dismiss(struct ctl *ctl, int argc, char **argv)
{
	return review_resolve(ctl, argc, argv, false);
}
