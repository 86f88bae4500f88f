/*
 * rapportctl unmatched: the people mail was exchanged with who are nobody's
 * address yet, most frequent first -- candidates for new customers.  Their
 * messages are stored already: giving one of these addresses to a customer
 * (customer add, import, edit) links the earlier mail at once.
 *
 * The store knows no config, so the user's own addresses and domains are
 * skipped here, with the linker's view of them.
 */
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "clock.h"
#include "json.h"
#include "linker.h"
#include "message.h"
#include "store_message.h"

#define UNMATCHED_LIMIT	50	/* rows shown without --limit */

struct unmatched {
	struct ctl		*ctl;
	struct linker		*lk;
	struct json		 j;
	long			 limit;		/* 0: all */
	long			 n;
};

/* The user's own addresses and the colleagues at the user's domains are
 * not customers-to-be. */
static bool
unmatched_is_own(const struct unmatched *u, const char *addr)
{
	const struct config *cfg = &u->ctl->cfg;
	char norm[MESSAGE_ADDR_MAX + 1];
	const char *dom;

	if (linker_normalize(u->lk, addr, norm, sizeof(norm)) == 0 &&
	    linker_is_own(u->lk, norm))
		return true;
	dom = address_domain(addr);
	for (size_t i = 0; dom && i < cfg->link.n_own_domains; i++)
		if (strcmp(dom, cfg->link.own_domains[i]) == 0)
			return true;
	return false;
}

static void
unmatched_text(const struct store_unmatched_item *it)
{
	char first[32], last[32];

	clock_format_utc(it->first_seen, first, sizeof(first));
	clock_format_utc(it->last_seen, last, sizeof(last));
	printf("%5" PRId64 "  %s  %s  %s", it->count, first, last, it->address);
	if (it->name)
		printf(" (%s)", it->name);
	printf("  %s\n", it->subject ? it->subject : "");
}

static void
unmatched_json(struct json *j, const struct store_unmatched_item *it)
{
	char when[32];

	json_object_begin(j);
	json_kv_string(j, "address", it->address);
	json_kv_string(j, "name", it->name);
	json_kv_int(j, "count", it->count);
	clock_format_utc(it->first_seen, when, sizeof(when));
	json_kv_string(j, "first_seen", when);
	clock_format_utc(it->last_seen, when, sizeof(when));
	json_kv_string(j, "last_seen", when);
	json_kv_string(j, "subject", it->subject);
	json_object_end(j);
}

static int
unmatched_row(void *arg, const struct store_unmatched_item *it)
{
	struct unmatched *u = arg;

	if (unmatched_is_own(u, it->address))
		return 0;
	if (u->ctl->json)
		unmatched_json(&u->j, it);
	else
		unmatched_text(it);
	u->n++;
	return u->limit > 0 && u->n >= u->limit;
}

static const char unmatched_help[] =
	"Lists the addresses seen in stored mail that belong to no customer\n"
	"and are not your own, most frequent first: number of messages, first\n"
	"and last seen (UTC), address, display name, the latest subject.\n"
	"Mailing-list mail and bounces are not counted.  Giving one of these\n"
	"addresses to a customer links the earlier messages at once.\n\n"
	"  --limit N   at most N rows (default 50; 0: all)\n"
	"  --json      a JSON array of {address, name, count, first_seen,\n"
	"              last_seen, subject}\n";

static int
unmatched_args(struct ctl *ctl, struct unmatched *u, int argc, char **argv,
    bool *helped)
{
	static const struct option longopts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			*helped = true;
			return ctl_help("unmatched", "[--limit N] [--json]",
			    unmatched_help);
		case 'n':
			errno = 0;
			u->limit = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || u->limit < 0)
				return ctl_usage(ctl, "--limit needs a number "
				    "(0: all), not '%s'", optarg);
			break;
		case 'j':
			ctl->json = true;
			break;
		default:
			return ctl_getopt_error(ctl, argv, opt);
		}
	}
	if (optind != argc)
		return ctl_usage(ctl, "unexpected argument '%s'", argv[optind]);
	return CTL_OK;
}

int
cmd_unmatched(struct ctl *ctl, int argc, char **argv)
{
	struct unmatched u = { .ctl = ctl, .limit = UNMATCHED_LIMIT };
	bool helped = false;
	int rc;

	if ((rc = unmatched_args(ctl, &u, argc, argv, &helped)) != CTL_OK ||
	    helped || (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	u.lk = linker_new(&ctl->cfg);
	if (ctl->json) {
		json_init(&u.j, stdout, true);
		json_array_begin(&u.j);
	}
	rc = store_unmatched_foreach(ctl->st, unmatched_row, &u);
	if (ctl->json) {
		json_array_end(&u.j);
		json_finish(&u.j);
	}
	linker_free(u.lk);
	if (rc != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	return CTL_OK;
}
