/*
 * rapportctl status: what rapportd last wrote into the status table (its
 * version, connector states, last sync and send times...) and counts read
 * from the database, so it works whether or not the daemon runs.
 */
#include "ctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "json.h"

struct status_ctx {
	struct json	 j;
	bool		 json;
	size_t		 n;
};

static int
status_row(void *arg, const char *key, const char *value, int64_t at)
{
	struct status_ctx *sc = arg;
	char when[32];

	clock_format_utc(at, when, sizeof(when));
	sc->n++;
	if (sc->json) {
		json_key(&sc->j, key);
		json_object_begin(&sc->j);
		json_kv_string(&sc->j, "value", value);
		json_kv_string(&sc->j, "at", at > 0 ? when : NULL);
		json_object_end(&sc->j);
	} else {
		printf("%-32s %s%s%s%s\n", key, value ? value : "",
		    at > 0 ? "  (" : "", at > 0 ? when : "", at > 0 ? ")" : "");
	}
	return 0;
}

static const char status_help[] =
	"Shows the database, the number of customers, and every status row\n"
	"rapportd keeps (key, value, when it was written).\n\n"
	"  --json   one JSON object: database, schema_version, customers, status\n";

static int
status_args(struct ctl *ctl, int argc, char **argv, bool *helped)
{
	int rc;

	if ((rc = ctl_json_args(ctl, argc, argv, "[--json]", status_help,
	    helped)) != CTL_OK || *helped)
		return rc;
	if (optind != argc)
		return ctl_usage(ctl, "unexpected argument '%s'", argv[optind]);
	return CTL_OK;
}

int
cmd_status(struct ctl *ctl, int argc, char **argv)
{
	struct status_ctx sc = { .json = false };
	bool helped = false;
	int64_t customers = 0;
	int rc;

	if ((rc = status_args(ctl, argc, argv, &helped)) != CTL_OK || helped ||
	    (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	if (store_customer_count(ctl->st, &customers) != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	sc.json = ctl->json;
	if (sc.json) {
		json_init(&sc.j, stdout, true);
		json_object_begin(&sc.j);
		json_kv_string(&sc.j, "database", ctl->cfg.database);
		json_kv_int(&sc.j, "schema_version", store_version(ctl->st));
		json_kv_int(&sc.j, "customers", customers);
		json_key(&sc.j, "status");
		json_object_begin(&sc.j);
	} else {
		printf("%-32s %s\n", "database", ctl->cfg.database);
		printf("%-32s %d\n", "schema version", store_version(ctl->st));
		printf("%-32s %" PRId64 "\n", "customers", customers);
	}
	if (store_status_foreach(ctl->st, status_row, &sc) == STORE_ERROR)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	if (sc.json) {
		json_object_end(&sc.j);
		json_object_end(&sc.j);
		json_finish(&sc.j);
	} else if (sc.n == 0) {
		printf("(rapportd has not written any status yet)\n");
	}
	return CTL_OK;
}
