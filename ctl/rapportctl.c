/*
 * rapportctl: the command line.  It works on rapportd's SQLite database
 * directly (WAL lets it read while the daemon writes), so it needs no
 * running daemon.  Exit status: 0 success, 1 runtime error, 2 usage error;
 * "customer import" exits 1 when it skipped rows.
 */
#include "build-config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libical/ical.h>

#include "clock.h"
#include "ctl.h"

static const struct ctl_cmd rapportctl_cmds[] = {
	{ "customer", cmd_customer, "COMMAND ...",
	  "customers: add, import, list, show, edit, tag, forget, export" },
	{ "timeline", cmd_timeline, "ADDR [--why] [--limit N] [--json]",
	  "a customer's messages and meetings, with why each is linked" },
	{ "sale", cmd_sale, "COMMAND ...", "sales: add, list" },
	{ "referral", cmd_referral, "COMMAND ...",
	  "referrals: add, list, pending, confirm, reject" },
	{ "referrals", cmd_referrals, "[--tree] [--json]",
	  "who brought whom, and what came of it" },
	{ "review", cmd_review, "COMMAND ...",
	  "links the linker left to you: list, link, dismiss" },
	{ "outbox", cmd_outbox, "COMMAND ...", "the outbox: list, next" },
	{ "template", cmd_template, "COMMAND ...", "templates: preview" },
	{ "visits", cmd_visits, "[--json]",
	  "who is overdue for a visit, and the visits proposed" },
	{ "agenda", cmd_agenda, "[--date YYYY-MM-DD] [--json]",
	  "a day's meetings with each customer's context, and if it was sent" },
	{ "unmatched", cmd_unmatched, "[--limit N] [--json]",
	  "people you mail with who are no customer yet, most frequent first" },
	{ "unsubscribe", cmd_unsubscribe, "TOKEN [--json]",
	  "a one-click unsubscribe link's token: newsletter consent withdrawn" },
	{ "status", cmd_status, "[--json]",
	  "what rapportd last reported, and counts" },
	{ NULL, NULL, NULL, NULL },
};

static int
rapportctl_help(void)
{
	printf("Usage: rapportctl [-c FILE] [--json] COMMAND [ARG...]\n"
	    "\n"
	    "  -c, --config FILE  the config file (default: $RAPPORT_CONFIG,\n"
	    "                     else %s/rapport/rapport.conf)\n"
	    "      --json         one JSON document on stdout\n"
	    "  -h, --help         this help\n"
	    "      --version      the version\n"
	    "\n"
	    "Commands:\n", SYSCONFDIR);
	for (const struct ctl_cmd *c = rapportctl_cmds; c->name; c++)
		printf("  %-10s %s\n", c->name, c->summary);
	printf("\n'rapportctl COMMAND --help' describes each one; "
	    "man 1 rapportctl has it all.\n"
	    "Exit status: 0 success, 1 error, 2 usage error.\n");
	return CTL_OK;
}

/* Options before the command; returns the index of the command or -1
 * with *status set. */
static int
rapportctl_options(struct ctl *ctl, int argc, char **argv, int *status)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ctl->config_path = optarg;
			break;
		case 'j':
			ctl->json = true;
			break;
		case 'h':
			*status = rapportctl_help();
			return -1;
		case 'V':
			printf("rapportctl %s\n", PACKAGE_VERSION);
			*status = CTL_OK;
			return -1;
		default:
			*status = ctl_getopt_error(ctl, argv, opt);
			return -1;
		}
	}
	if (optind >= argc) {
		*status = ctl_usage(ctl, "a command is needed");
		return -1;
	}
	return optind;
}

int
main(int argc, char **argv)
{
	struct ctl ctl;
	char err[256];
	int first, status = CTL_OK;

	memset(&ctl, 0, sizeof(ctl));
	if (clock_init(err, sizeof(err)) == -1) {
		fprintf(stderr, "rapportctl: %s\n", err);
		return CTL_FAIL;
	}
	first = rapportctl_options(&ctl, argc, argv, &status);
	if (first < 0)
		return status;
	for (const struct ctl_cmd *c = rapportctl_cmds; c->name; c++) {
		if (strcmp(argv[first], c->name) == 0) {
			ctl.cmd = c->name;
			status = c->run(&ctl, argc - first, argv + first);
			ctl_close(&ctl);
			/* Loaded by the time-zone checks; freed for leak checkers. */
			icaltimezone_free_builtin_timezones();
			if (fflush(stdout) == EOF || ferror(stdout))
				return ctl_fail(&ctl, "writing the output failed");
			return status;
		}
	}
	return ctl_usage(&ctl, "unknown command '%s'", argv[first]);
}
