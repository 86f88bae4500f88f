/*
 * rapportctl template preview: the message a template makes for one
 * customer, byte for byte as the sender would hand it to the server
 * (headers, text/plain and text/html parts), rendered by the sender's own
 * code.  When the outbox holds a row of that template for the customer,
 * that row is rendered, with its sale, referral or meeting.
 */
#include "ctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "sender.h"
#include "store_outbox.h"
#include "template.h"
#include "xmalloc.h"

static int cmd_template_preview(struct ctl *ctl, int argc, char **argv);

static const struct ctl_cmd template_cmds[] = {
	{ "preview", cmd_template_preview, "NAME --customer ADDR [--lang L]",
	  "print the message a template makes for a customer" },
	{ NULL, NULL, NULL, NULL },
};

int
cmd_template(struct ctl *ctl, int argc, char **argv)
{
	return ctl_dispatch(ctl, "template", template_cmds,
	    "Templates are NAME.md and NAME.LANG.md files in [rapport] "
	    "templates.\n", argc, argv);
}

static const char template_preview_help[] =
	"Prints exactly the message template NAME makes for the customer\n"
	"known by ADDR (or #ID): headers, the text/plain and the text/html\n"
	"part.  The customer's language picks NAME.LANG.md, falling back to\n"
	"NAME.md.  A row of the outbox for that template and customer, when\n"
	"there is one, gives the sale, referral or meeting it is about and its\n"
	"Message-ID.\n\n"
	"  --customer ADDR  the recipient (required)\n"
	"  --lang L         render in language L instead\n";

struct preview_opts {
	const char	*name, *customer, *lang;
};

static int
preview_args(struct ctl *ctl, struct preview_opts *o, int argc, char **argv,
    bool *helped)
{
	static const struct option longopts[] = {
		{ "customer", required_argument, NULL, 'c' },
		{ "lang", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char lang[16];
	const char *why;
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			*helped = true;
			return ctl_help(ctl->cmd, template_cmds[0].synopsis,
			    template_preview_help);
		case 'c':
			o->customer = optarg;
			break;
		case 'l':
			if ((why = field_lang(optarg, lang, sizeof(lang))))
				return ctl_usage(ctl, "--lang %s: %s", optarg,
				    why);
			o->lang = optarg;
			break;
		default:
			return ctl_getopt_error(ctl, argv, opt);
		}
	}
	if (optind >= argc)
		return ctl_usage(ctl, "a template NAME is needed");
	o->name = argv[optind++];
	if (optind != argc)
		return ctl_usage(ctl, "unexpected argument '%s'", argv[optind]);
	if (o->customer == NULL)
		return ctl_usage(ctl, "--customer is needed");
	return CTL_OK;
}

struct preview_find {
	const char		*name;
	int64_t			 customer_id;
	struct outbox_row	*out;
	bool			 found;
};

static int
preview_find_row(void *arg, const struct outbox_row *r)
{
	struct preview_find *pf = arg;

	if (r->customer_id != pf->customer_id ||
	    strcmp(r->template, pf->name) != 0)
		return 0;
	pf->out->id = r->id;
	pf->out->kind = xstrdup(r->kind);
	pf->out->occurrence = xstrdup(r->occurrence);
	pf->out->ref_kind = r->ref_kind ? xstrdup(r->ref_kind) : NULL;
	pf->out->ref_id = r->ref_id;
	pf->out->created_at = r->created_at;
	pf->out->message_id = r->message_id ? xstrdup(r->message_id) : NULL;
	pf->found = true;
	return 1;
}

/* The row to render: the outbox's own for this pair, else a bare one. */
static int
preview_row(struct ctl *ctl, const struct template *t, const char *name,
    int64_t customer_id, struct outbox_row *row)
{
	struct preview_find pf = { name, customer_id, row, false };

	outbox_row_init(row);
	if (store_outbox_foreach(ctl->st, NULL, 0, preview_find_row, &pf) !=
	    STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	row->template = xstrdup(name);
	row->customer_id = customer_id;
	if (!pf.found) {
		row->kind = xstrdup(template_kind_name(t->kind));
		row->occurrence = xstrdup("preview");
		row->created_at = clock_now();
	}
	return CTL_OK;
}

static void
preview_template_error(void *arg, const char *msg)
{
	ctl_warn("%s", msg);
}

static int
preview_render(struct ctl *ctl, const struct preview_opts *o,
    const struct template_set *set, int64_t id)
{
	struct sender_env env = { &ctl->cfg, NULL, set };
	struct sender_message msg;
	struct outbox_row row;
	struct customer c;
	const struct template *t;
	char err[512];
	int rc;

	if (store_customer_get(ctl->st, id, &c) != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	t = template_set_get(set, o->name, o->lang ? o->lang : c.lang);
	customer_clear(&c);
	if (t == NULL)
		return ctl_fail(ctl, "no template \"%s\" in %s", o->name,
		    ctl->cfg.templates);
	if ((rc = preview_row(ctl, t, o->name, id, &row)) != CTL_OK) {
		outbox_row_clear(&row);
		return rc;
	}
	env.acct = ctl->cfg.n_smtp ? &ctl->cfg.smtp[0] : NULL;
	sender_message_init(&msg);
	if (sender_render(ctl->st, &env, &row, o->lang, row.message_id,
	    clock_now(), &msg, err, sizeof(err)) < 0)
		rc = ctl_fail(ctl, "%s", err);
	else
		fwrite(msg.data.buf, 1, msg.data.len, stdout);
	sender_message_free(&msg);
	outbox_row_clear(&row);
	return rc;
}

static int
cmd_template_preview(struct ctl *ctl, int argc, char **argv)
{
	struct preview_opts o = { NULL, NULL, NULL };
	struct template_set *set = NULL;
	bool helped = false;
	int64_t id;
	int rc;

	if ((rc = preview_args(ctl, &o, argc, argv, &helped)) != CTL_OK ||
	    helped || (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	if (ctl->cfg.templates == NULL)
		return ctl_fail(ctl, "[rapport] templates is not set");
	if ((rc = ctl_find_customer(ctl, o.customer, &id)) != CTL_OK)
		return rc;
	if (template_set_load(ctl->cfg.templates, &set, preview_template_error,
	    NULL) < 0) {
		template_set_free(set);
		return ctl_fail(ctl, "%s: cannot read the templates",
		    ctl->cfg.templates);
	}
	rc = preview_render(ctl, &o, set, id);
	template_set_free(set);
	return rc;
}
