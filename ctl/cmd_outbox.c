/*
 * rapportctl outbox list|next: what rapport has sent, skipped or failed,
 * and what it will send next, to whom and why, with the checks the sender
 * makes at send time (suppression, consent, do-not-contact, replies, quiet
 * hours) applied ahead of time.
 */
#include "ctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "sender.h"
#include "store_outbox.h"
#include "template.h"
#include "when.h"
#include "zone.h"

static int cmd_outbox_list(struct ctl *ctl, int argc, char **argv);
static int cmd_outbox_next(struct ctl *ctl, int argc, char **argv);

static const struct ctl_cmd outbox_cmds[] = {
	{ "list", cmd_outbox_list, "[--state S] [--json]",
	  "rows of the outbox, by due time" },
	{ "next", cmd_outbox_next, "[--hours N] [--json]",
	  "what will go out, to whom, and why" },
	{ NULL, NULL, NULL, NULL },
};

int
cmd_outbox(struct ctl *ctl, int argc, char **argv)
{
	return ctl_dispatch(ctl, "outbox", outbox_cmds,
	    "The outbox holds every message rapport plans to send; rapportd's\n"
	    "sender takes the rows that are due.\n", argc, argv);
}

/* ---- shared ---- */

struct outbox_opts {
	const char	*state;
	long		 hours;
};

static const char outbox_list_help[] =
	"Lists outbox rows by due time: id, state, due time, kind, template,\n"
	"recipient, attempts and the reason (why planned, skipped or failed,\n"
	"or the server's reply).\n\n"
	"  --state S   only rows in these states (comma-separated: planned,\n"
	"              sending, sent, failed, skipped)\n"
	"  --json      one JSON array\n";

static const char outbox_next_help[] =
	"Shows the rows due within the next N hours (default 24) in the order\n"
	"they will go, each with its recipient, why it was planned and what\n"
	"the sender will do: send, wait for the end of the quiet hours, or\n"
	"skip it (suppressed, do-not-contact, no consent, replied).\n\n"
	"  --hours N   how far to look ahead (1 to 8784)\n"
	"  --json      one JSON array\n";

static bool
outbox_state_ok(const char *s)
{
	static const char *const states[] = { "planned", "sending", "sent",
	    "failed", "skipped" };
	size_t n;

	while (*s) {
		n = strcspn(s, ",");
		bool found = false;
		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
			if (strlen(states[i]) == n &&
			    strncmp(states[i], s, n) == 0)
				found = true;
		if (!found)
			return false;
		s += n;
		if (*s == ',')
			s++;
	}
	return true;
}

static int
outbox_args(struct ctl *ctl, struct outbox_opts *o, bool next, int argc,
    char **argv, bool *helped)
{
	static const struct option longopts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "hours", required_argument, NULL, 'H' },
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
			return next ? ctl_help(ctl->cmd, outbox_cmds[1].synopsis,
			    outbox_next_help) : ctl_help(ctl->cmd,
			    outbox_cmds[0].synopsis, outbox_list_help);
		case 'j':
			ctl->json = true;
			break;
		case 's':
			if (next)
				return ctl_usage(ctl, "unknown option --state");
			if (!*optarg || !outbox_state_ok(optarg))
				return ctl_usage(ctl, "--state %s: not one of "
				    "planned, sending, sent, failed, skipped",
				    optarg);
			o->state = optarg;
			break;
		case 'H':
			if (!next)
				return ctl_usage(ctl, "unknown option --hours");
			o->hours = strtol(optarg, &end, 10);
			if (*end || o->hours < 1 || o->hours > 8784)
				return ctl_usage(ctl, "--hours %s: a number of "
				    "hours, 1 to 8784", optarg);
			break;
		default:
			return ctl_getopt_error(ctl, argv, opt);
		}
	}
	if (optind != argc)
		return ctl_usage(ctl, "unexpected argument '%s'", argv[optind]);
	return CTL_OK;
}

static int64_t
outbox_due(const struct outbox_row *r)
{
	return r->next_attempt_at ? r->next_attempt_at : r->due_at;
}

/* ---- list ---- */

struct list_ctx {
	struct ctl	*ctl;
	struct json	 j;
	size_t		 n;
};

static void
outbox_time(int64_t t, char *buf, size_t len)
{
	if (t > 0)
		clock_format_utc(t, buf, len);
	else
		snprintf(buf, len, "-");
}

/* Where the row went, or else where it would go: the primary address. */
static void
list_recipient(struct ctl *ctl, const struct outbox_row *r, char *buf,
    size_t len)
{
	struct customer c;

	snprintf(buf, len, "%s", r->recipient ? r->recipient : "-");
	if (r->recipient || store_customer_get(ctl->st, r->customer_id, &c) !=
	    STORE_OK)
		return;
	if (c.n_emails > 0)
		snprintf(buf, len, "%s", c.emails[0]);
	customer_clear(&c);
}

static int
list_row(void *arg, const struct outbox_row *r)
{
	struct list_ctx *lc = arg;
	char due[32], sent[32], to[320];

	outbox_time(outbox_due(r), due, sizeof(due));
	outbox_time(r->sent_at, sent, sizeof(sent));
	lc->n++;
	if (!lc->ctl->json) {
		list_recipient(lc->ctl, r, to, sizeof(to));
		printf("%" PRId64 "  %-8s %s  %s/%s  #%" PRId64 " %s  %d  %s\n",
		    r->id, r->state, due, r->kind, r->template, r->customer_id,
		    to, r->attempts, r->reason ? r->reason : "");
		return 0;
	}
	json_object_begin(&lc->j);
	json_kv_int(&lc->j, "id", r->id);
	json_kv_string(&lc->j, "state", r->state);
	json_kv_string(&lc->j, "kind", r->kind);
	json_kv_string(&lc->j, "template", r->template);
	json_kv_int(&lc->j, "customer_id", r->customer_id);
	json_kv_string(&lc->j, "occurrence", r->occurrence);
	json_kv_string(&lc->j, "due", due);
	json_kv_int(&lc->j, "attempts", r->attempts);
	json_kv_string(&lc->j, "reason", r->reason);
	json_kv_string(&lc->j, "recipient", r->recipient);
	json_kv_string(&lc->j, "message_id", r->message_id);
	json_kv_string(&lc->j, "account", r->account);
	json_kv_string(&lc->j, "sent_at", r->sent_at ? sent : NULL);
	json_object_end(&lc->j);
	return 0;
}

static int
cmd_outbox_list(struct ctl *ctl, int argc, char **argv)
{
	struct outbox_opts o = { NULL, 24 };
	struct list_ctx lc = { .ctl = ctl };
	bool helped = false;
	int rc;

	if ((rc = outbox_args(ctl, &o, false, argc, argv, &helped)) !=
	    CTL_OK || helped || (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	if (ctl->json) {
		json_init(&lc.j, stdout, true);
		json_array_begin(&lc.j);
	}
	if (store_outbox_foreach(ctl->st, o.state, 0, list_row, &lc) !=
	    STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	if (ctl->json) {
		json_array_end(&lc.j);
		json_finish(&lc.j);
	} else if (lc.n == 0)
		printf("(the outbox is empty)\n");
	return CTL_OK;
}

/* ---- next ---- */

struct next_ctx {
	struct ctl		*ctl;
	struct sender_env	 env;
	struct json		 j;
	size_t			 n;
	int64_t			 now;
	int			 rc;
};

/* What the sender will do with the row: "send", "wait", "skip". */
static const char *
next_verdict(struct next_ctx *nc, const struct outbox_row *r,
    const struct customer *c, int64_t *when, char *why, size_t len)
{
	const struct send_config *sc = &nc->ctl->cfg.send;
	const struct template *t;
	const char *skip;
	bool error;

	*when = outbox_due(r) > nc->now ? outbox_due(r) : nc->now;
	why[0] = '\0';
	t = nc->env.templates ? template_set_get(nc->env.templates,
	    r->template, c->lang) : NULL;
	skip = sender_check(nc->ctl->st, &nc->env, r, c, t, &error, why, len);
	if (error) {
		nc->rc = ctl_fail(nc->ctl, "%s", store_errmsg(nc->ctl->st));
		return NULL;
	}
	if (skip) {
		if (skip != why)
			snprintf(why, len, "%s", skip);
		return "skip";
	}
	if (t == NULL) {
		snprintf(why, len, "no template \"%s\"", r->template);
		return "fail";
	}
	if (sc->quiet_start >= 0) {
		int64_t w = when_outside_quiet(*when, zone_get_or(c->tz,
		    nc->ctl->cfg.timezone), sc->quiet_start, sc->quiet_end);
		if (w > *when) {
			*when = w;
			snprintf(why, len, "after the quiet hours");
			return "wait";
		}
	}
	return "send";
}

static void
next_print(struct next_ctx *nc, const struct outbox_row *r,
    const struct customer *c, const char *verdict, int64_t when,
    const char *why)
{
	const char *to = c->n_emails ? c->emails[0] : NULL;
	char at[32];

	clock_format_utc(when, at, sizeof(at));
	if (!nc->ctl->json) {
		printf("%s  #%" PRId64 "  %s/%s  to %s <%s>  %s%s%s\n"
		    "    why: %s (%s)\n", at, r->id, r->kind, r->template,
		    c->name, to ? to : "no address", verdict, *why ? ": " : "",
		    why, r->reason ? r->reason : "planned", r->occurrence);
		return;
	}
	json_object_begin(&nc->j);
	json_kv_int(&nc->j, "id", r->id);
	json_kv_string(&nc->j, "at", at);
	json_kv_string(&nc->j, "kind", r->kind);
	json_kv_string(&nc->j, "template", r->template);
	json_kv_int(&nc->j, "customer_id", c->id);
	json_kv_string(&nc->j, "name", c->name);
	json_kv_string(&nc->j, "to", to);
	json_kv_string(&nc->j, "occurrence", r->occurrence);
	json_kv_string(&nc->j, "why", r->reason);
	json_kv_string(&nc->j, "action", verdict);
	json_kv_string(&nc->j, "detail", *why ? why : NULL);
	json_object_end(&nc->j);
}

static int
next_row(void *arg, const struct outbox_row *r)
{
	struct next_ctx *nc = arg;
	struct customer c;
	const char *verdict;
	char why[512];
	int64_t when;

	if (store_customer_get(nc->ctl->st, r->customer_id, &c) != STORE_OK) {
		nc->rc = ctl_fail(nc->ctl, "%s", store_errmsg(nc->ctl->st));
		return 1;
	}
	verdict = next_verdict(nc, r, &c, &when, why, sizeof(why));
	if (verdict)
		next_print(nc, r, &c, verdict, when, why);
	nc->n++;
	customer_clear(&c);
	return verdict == NULL;
}

static void
next_template_error(void *arg, const char *msg)
{
	ctl_warn("%s", msg);
}

static int
cmd_outbox_next(struct ctl *ctl, int argc, char **argv)
{
	struct outbox_opts o = { NULL, 24 };
	struct next_ctx nc = { .ctl = ctl, .rc = CTL_OK };
	struct template_set *set = NULL;
	bool helped = false;
	int rc;

	if ((rc = outbox_args(ctl, &o, true, argc, argv, &helped)) !=
	    CTL_OK || helped || (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	if (ctl->cfg.templates)
		template_set_load(ctl->cfg.templates, &set, next_template_error,
		    NULL);
	nc.env.cfg = &ctl->cfg;
	nc.env.acct = ctl->cfg.n_smtp ? &ctl->cfg.smtp[0] : NULL;
	nc.env.templates = set;
	nc.now = clock_now();
	if (ctl->json) {
		json_init(&nc.j, stdout, true);
		json_array_begin(&nc.j);
	}
	if (store_outbox_foreach(ctl->st, "planned,sending",
	    nc.now + o.hours * 3600, next_row, &nc) != STORE_OK)
		nc.rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	if (ctl->json) {
		json_array_end(&nc.j);
		json_finish(&nc.j);
	} else if (nc.rc == CTL_OK && nc.n == 0)
		printf("(nothing is due in the next %ld hours)\n", o.hours);
	template_set_free(set);
	return nc.rc;
}
