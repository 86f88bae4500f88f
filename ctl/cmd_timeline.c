/*
 * rapportctl timeline ADDR: every message and meeting linked to a
 * customer, newest first, each with the identifier that finds it again
 * (Message-ID, iCalendar UID) and, with --why, the rule that linked it.
 *
 * The store hands the timeline oldest first; it is collected and printed
 * backwards, so --limit keeps the newest.
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
#include "xmalloc.h"

struct tl_item {
	bool	 event;
	int64_t	 id, date, end;
	char	*title, *ref, *key, *direction, *from, *location, *status;
	bool	 auto_reply, bounce, reply;
	char	*rule, *detail, *folder;
};

struct tl {
	struct tl_item	*v;
	size_t		 n, cap;
};

struct tl_opts {
	const char	*addr;
	bool		 why;
	long		 limit;		/* 0: all */
};

static char *
tl_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static int
tl_collect(void *arg, const struct store_timeline_item *it)
{
	struct tl *tl = arg;
	struct tl_item *t;

	if (tl->n == tl->cap) {
		tl->cap = tl->cap ? tl->cap * 2 : 64;
		tl->v = xreallocarray(tl->v, tl->cap, sizeof(*tl->v));
	}
	t = &tl->v[tl->n++];
	t->event = strcmp(it->kind, "event") == 0;
	t->id = it->id;
	t->date = it->date;
	t->end = it->end;
	t->title = tl_dup(it->title);
	t->ref = tl_dup(it->ref);
	t->key = tl_dup(it->key);
	t->direction = tl_dup(it->direction);
	t->from = tl_dup(it->from);
	t->location = tl_dup(it->location);
	t->status = tl_dup(it->status);
	t->auto_reply = it->auto_reply;
	t->bounce = it->bounce;
	t->reply = it->reply;
	t->rule = tl_dup(it->rule);
	t->detail = tl_dup(it->detail);
	t->folder = tl_dup(it->folder);
	return 0;
}

static void
tl_free(struct tl *tl)
{
	for (size_t i = 0; i < tl->n; i++) {
		struct tl_item *t = &tl->v[i];

		free(t->title);
		free(t->ref);
		free(t->key);
		free(t->direction);
		free(t->from);
		free(t->location);
		free(t->status);
		free(t->rule);
		free(t->detail);
		free(t->folder);
	}
	free(tl->v);
}

/* ---- output ---- */

/* What a reader wants to know about a message beyond in/out. */
static const char *
tl_flag(const struct tl_item *t)
{
	if (t->bounce)
		return " [bounce]";
	if (t->auto_reply)
		return " [auto-reply]";
	if (t->reply)
		return " [reply]";
	if (t->status && strcmp(t->status, "CANCELLED") == 0)
		return " [cancelled]";
	return "";
}

static void
tl_print_text(const struct tl_item *t, bool why)
{
	char when[32];

	clock_format_utc(t->date, when, sizeof(when));
	if (t->event)
		printf("%s  meeting      %s  %s%s\n", when, t->ref ? t->ref : "-",
		    t->title ? t->title : "", tl_flag(t));
	else if (t->ref)
		printf("%s  message %-4s %s  <%s>  %s%s\n", when,
		    t->direction, t->folder ? t->folder : "-", t->ref,
		    t->title ? t->title : "", tl_flag(t));
	else
		printf("%s  message %-4s %s  %s  %s%s\n", when, t->direction,
		    t->folder ? t->folder : "-", t->key,
		    t->title ? t->title : "", tl_flag(t));
	if (why)
		printf("    why: %s%s%s\n", t->rule ? t->rule : "?",
		    t->detail ? " " : "", t->detail ? t->detail : "");
}

static void
tl_print_json(struct json *j, const struct tl_item *t)
{
	char when[32];

	json_object_begin(j);
	json_kv_string(j, "kind", t->event ? "meeting" : "message");
	json_kv_int(j, "id", t->id);
	clock_format_utc(t->date, when, sizeof(when));
	json_kv_string(j, "date", when);
	if (t->event) {
		clock_format_utc(t->end, when, sizeof(when));
		json_kv_string(j, "end", t->end ? when : NULL);
		json_kv_string(j, "uid", t->ref);
		json_kv_string(j, "summary", t->title);
		json_kv_string(j, "location", t->location);
		json_kv_string(j, "status", t->status);
		json_kv_string(j, "organizer", t->from);
	} else {
		json_kv_string(j, "message_id", t->ref);
		json_kv_string(j, "key", t->key);
		json_kv_string(j, "direction", t->direction);
		json_kv_string(j, "folder", t->folder);
		json_kv_string(j, "subject", t->title);
		json_kv_string(j, "from", t->from);
		json_kv_bool(j, "auto_reply", t->auto_reply);
		json_kv_bool(j, "bounce", t->bounce);
		json_kv_bool(j, "reply", t->reply);
	}
	json_key(j, "why");
	json_object_begin(j);
	json_kv_string(j, "rule", t->rule);
	json_kv_string(j, "detail", t->detail);
	json_object_end(j);
	json_object_end(j);
}

static void
tl_print(struct ctl *ctl, const struct customer *c, const struct tl *tl,
    const struct tl_opts *o)
{
	size_t first = o->limit > 0 && tl->n > (size_t)o->limit ?
	    tl->n - (size_t)o->limit : 0;
	struct json j;

	if (!ctl->json) {
		printf("%s <%s> (#%" PRId64 "): %zu item%s\n", c->name,
		    c->n_emails ? c->emails[0] : "", c->id, tl->n,
		    tl->n == 1 ? "" : "s");
		for (size_t i = tl->n; i-- > first;)
			tl_print_text(&tl->v[i], o->why);
		return;
	}
	json_init(&j, stdout, true);
	json_object_begin(&j);
	json_key(&j, "customer");
	json_object_begin(&j);
	json_kv_int(&j, "id", c->id);
	json_kv_string(&j, "name", c->name);
	json_kv_string(&j, "email", c->n_emails ? c->emails[0] : NULL);
	json_object_end(&j);
	json_kv_int(&j, "total", (int64_t)tl->n);
	json_key(&j, "items");
	json_array_begin(&j);
	for (size_t i = tl->n; i-- > first;)
		tl_print_json(&j, &tl->v[i]);
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
}

/* ---- the command ---- */

static const char timeline_help[] =
	"Lists every message (with its Message-ID) and meeting (with its\n"
	"iCalendar UID) linked to the customer known by ADDR (or #ID), newest\n"
	"first: date (UTC), kind, direction (in/out) and folder of a message,\n"
	"identifier, subject or summary.\n\n"
	"  --why       add the rule and detail that linked each item, e.g.\n"
	"              \"address:from anna@example.com\", \"thread:in-reply-to ID\"\n"
	"  --limit N   only the N newest items\n"
	"  --json      one JSON object: customer, total, items (each with\n"
	"              its \"why\", whether or not --why is given)\n";

static int
timeline_args(struct ctl *ctl, struct tl_opts *o, int argc, char **argv,
    bool *helped)
{
	static const struct option longopts[] = {
		{ "why", no_argument, NULL, 'w' },
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
			return ctl_help("timeline",
			    "ADDR [--why] [--limit N] [--json]", timeline_help);
		case 'w':
			o->why = true;
			break;
		case 'n':
			errno = 0;
			o->limit = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || o->limit <= 0)
				return ctl_usage(ctl, "--limit needs a positive "
				    "number, not '%s'", optarg);
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
	return CTL_OK;
}

int
cmd_timeline(struct ctl *ctl, int argc, char **argv)
{
	struct tl_opts o = { NULL, false, 0 };
	struct tl tl = { NULL, 0, 0 };
	struct customer c;
	bool helped = false;
	int64_t id;
	int rc;

	if ((rc = timeline_args(ctl, &o, argc, argv, &helped)) != CTL_OK ||
	    helped || (rc = ctl_open(ctl)) != CTL_OK ||
	    (rc = ctl_find_customer(ctl, o.addr, &id)) != CTL_OK)
		return rc;
	customer_init(&c);
	if (store_customer_get(ctl->st, id, &c) != STORE_OK ||
	    store_timeline_foreach(ctl->st, id, tl_collect, &tl) != STORE_OK) {
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
		goto out;
	}
	tl_print(ctl, &c, &tl, &o);
	rc = CTL_OK;
out:
	tl_free(&tl);
	customer_clear(&c);
	return rc;
}
