/*
 * rapportctl agenda: a day's meetings with each customer's context, as
 * the daily agenda mail shows them, and whether that day's agenda was
 * sent.  Read from the database alone; agenda_compose() (agenda.h) makes
 * both the text and the --json model, so this view and the mail agree.
 */
#include "ctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agenda.h"
#include "clock.h"
#include "json.h"
#include "store_agenda.h"
#include "zone.h"

static const char agenda_help[] =
	"Shows the meetings of a day (today by default, in [rapport] timezone)\n"
	"as the daily agenda mail lists them: time, title, place, and for each\n"
	"customer at the meeting the last contact, the open follow-ups, a\n"
	"birthday within 7 days and the people they referred; then the visits\n"
	"the agenda's .ics holds, and whether that day's agenda was sent\n"
	"(sent, empty, failed, sending, or not sent).  Cancelled meetings and\n"
	"those the user declined are left out.\n\n"
	"  --date YYYY-MM-DD   that day instead of today\n"
	"  --json              one JSON object: meetings, visits, date,\n"
	"                      timezone, from, to, recipient, state\n";

#define AGENDA_SYNOPSIS	"[--date YYYY-MM-DD] [--json]"

struct agenda_args {
	int	 y, m, d;		/* --date; y 0: today */
	bool	 helped;
};

/* Checked before the config is read: a usage error needs none. */
static int
agenda_date(struct ctl *ctl, const char *date, struct agenda_args *a)
{
	const char *why;

	if ((why = field_birthday(date, &a->y, &a->m, &a->d)) == NULL &&
	    a->y == 0)
		why = "not YYYY-MM-DD";
	if (why != NULL)
		return ctl_usage(ctl, "--date '%s': %s", date, why);
	return CTL_OK;
}

static int
agenda_args(struct ctl *ctl, int argc, char **argv, struct agenda_args *a)
{
	static const struct option longopts[] = {
		{ "date", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			a->helped = true;
			return ctl_help("agenda", AGENDA_SYNOPSIS, agenda_help);
		}
		if (opt == 'd') {
			if (agenda_date(ctl, optarg, a) != CTL_OK)
				return CTL_USAGE;
		} else if (opt == 'j')
			ctl->json = true;
		else
			return ctl_getopt_error(ctl, argv, opt);
	}
	if (optind != argc)
		return ctl_usage(ctl, "unexpected argument '%s'", argv[optind]);
	return CTL_OK;
}

/* An instant inside the local day named (noon: clear of DST changes). */
static int64_t
agenda_day(const struct ctl *ctl, const struct agenda_args *a)
{
	if (a->y == 0)
		return clock_now();
	return zone_utc(zone_get_or(ctl->cfg.timezone, NULL), a->y, a->m,
	    a->d, 12, 0);
}

static void
agenda_kv_time(struct json *j, const char *key, int64_t t)
{
	char buf[32];

	clock_format_utc(t, buf, sizeof(buf));
	json_kv_string(j, key, buf);
}

/* The members after the model's: the day and the mail's fate. */
static void
agenda_json_day(struct ctl *ctl, struct json *j, const struct agenda *a,
    const char *recipient, const char *state)
{
	json_kv_string(j, "date", a->date);
	json_kv_string(j, "timezone", ctl->cfg.timezone ? ctl->cfg.timezone :
	    "UTC");
	agenda_kv_time(j, "from", a->from);
	agenda_kv_time(j, "to", a->to);
	json_kv_bool(j, "enabled", ctl->cfg.agenda.hour >= 0);
	json_kv_string(j, "recipient", recipient);
	json_kv_string(j, "state", state);
}

static void
agenda_print(struct ctl *ctl, const struct agenda *a, const char *recipient,
    const char *state)
{
	printf("Agenda for %s (%s): %zu meeting%s, %zu visit%s\n", a->date,
	    ctl->cfg.timezone ? ctl->cfg.timezone : "UTC", a->nmeetings,
	    a->nmeetings == 1 ? "" : "s", a->nvisits,
	    a->nvisits == 1 ? "" : "s");
	printf("Agenda mail: %s", state ? state : "not sent");
	if (recipient)
		printf(" (to %s)", recipient);
	if (ctl->cfg.agenda.hour < 0)
		printf(", [agenda] hour is none");
	printf("\n\n%s\n", a->nmeetings > 0 ? strbuf_str(&a->items) :
	    "No meetings.");
}

/*
 * Composes the day; with --json the model goes to a memory stream, so
 * that a failure half way prints nothing on stdout.
 */
static int
agenda_show(struct ctl *ctl, int64_t day)
{
	struct agenda a;
	struct json j;
	char err[512], *recipient, *state = NULL, *buf = NULL;
	size_t len = 0;
	FILE *mem = NULL;
	int rc = CTL_FAIL;

	agenda_init(&a);
	recipient = agenda_recipient(&ctl->cfg);
	if (ctl->json) {
		if ((mem = open_memstream(&buf, &len)) == NULL) {
			rc = ctl_fail(ctl, "out of memory");
			goto out;
		}
		json_init(&j, mem, true);
		json_object_begin(&j);
		a.json = &j;
	}
	if (agenda_compose(ctl->st, &ctl->cfg, day, ctl->cfg.agenda.lang, &a,
	    err, sizeof(err)) < 0) {
		rc = ctl_fail(ctl, "%s", err);
		goto out;
	}
	if (recipient && store_agenda_state(ctl->st, a.date, recipient,
	    &state) == STORE_ERROR) {
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
		goto out;
	}
	if (mem) {
		agenda_json_day(ctl, &j, &a, recipient, state);
		json_object_end(&j);
		json_finish(&j);
		fclose(mem);
		mem = NULL;
		fwrite(buf, 1, len, stdout);
	} else
		agenda_print(ctl, &a, recipient, state);
	rc = CTL_OK;
out:
	if (mem)
		fclose(mem);
	free(buf);
	free(state);
	free(recipient);
	agenda_free(&a);
	return rc;
}

int
cmd_agenda(struct ctl *ctl, int argc, char **argv)
{
	struct agenda_args args = { 0, 0, 0, false };
	int rc;

	if ((rc = agenda_args(ctl, argc, argv, &args)) != CTL_OK ||
	    args.helped || (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	return agenda_show(ctl, agenda_day(ctl, &args));
}
