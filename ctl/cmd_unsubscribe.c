/*
 * rapportctl unsubscribe TOKEN: what the web endpoint behind a
 * newsletter's one-click List-Unsubscribe link runs (RFC 8058; see
 * contrib/unsubscribe/).  The token names the customer; their
 * newsletter consent is withdrawn, and planned newsletters to them are
 * skipped when their time comes, as the sender checks consent again.
 *
 * Exit status: 0 withdrawn (or already withdrawn), 1 unknown token.
 */
#include "ctl.h"

#include <getopt.h>
#include <stdio.h>

#include "clock.h"
#include "json.h"
#include "store_unsubscribe.h"

static const char unsubscribe_help[] =
	"Withdraws the newsletter consent of the customer a one-click\n"
	"unsubscribe token names (the token is in the https link of each\n"
	"newsletter's List-Unsubscribe header when [send] unsubscribe_url is\n"
	"set).  Unknown tokens fail with status 1; nothing else is shown\n"
	"about them.\n\n"
	"  --json   one JSON object: customer (id), changed (false when\n"
	"           consent was already withdrawn)\n";

static int
unsubscribe_args(struct ctl *ctl, int argc, char **argv, bool *helped)
{
	int rc;

	if ((rc = ctl_json_args(ctl, argc, argv, "TOKEN [--json]", unsubscribe_help,
	    helped)) != CTL_OK || *helped)
		return rc;
	if (optind != argc - 1)
		return ctl_usage(ctl, "needs one TOKEN");
	return CTL_OK;
}

int
cmd_unsubscribe(struct ctl *ctl, int argc, char **argv)
{
	bool helped = false, changed = false;
	int64_t id = 0;
	struct json j;
	int rc;

	if ((rc = unsubscribe_args(ctl, argc, argv, &helped)) != CTL_OK ||
	    helped)
		return rc;
	/* Junk from the web is refused before the config is even read. */
	if (!unsubscribe_token_valid(argv[optind]))
		return ctl_fail(ctl, "not an unsubscribe token");
	if ((rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	rc = store_unsubscribe_by_token(ctl->st, argv[optind], clock_now(), &id,
	    &changed);
	if (rc != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	if (ctl->json) {
		json_init(&j, stdout, true);
		json_object_begin(&j);
		json_kv_int(&j, "customer", id);
		json_kv_bool(&j, "changed", changed);
		json_object_end(&j);
		json_finish(&j);
	} else
		printf("customer #%lld: newsletter consent %s\n", (long long)id,
		    changed ? "withdrawn" : "was already withdrawn");
	return CTL_OK;
}
