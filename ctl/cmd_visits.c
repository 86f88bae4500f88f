/*
 * rapportctl visits: who is overdue for a visit (tier, last visit, since
 * when), and every visit rapport proposed on the planning calendar with
 * what the user did to it (kept, moved, deleted).  Read from the database
 * alone, with the same decisions rapportd plans with (visits.h).
 */
#include "ctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "store_visit.h"
#include "visits.h"
#include "xmalloc.h"
#include "zone.h"

struct vprop {
	int64_t	 customer_id;
	char	*name, *period, *uid, *href, *state;
	int64_t	 start, end, created_at, updated_at;
};

struct vlist {
	struct ctl		*ctl;
	const struct zone	*z;
	int64_t			 now;
	struct vprop		*p;
	size_t			 np;
	struct json		 j;
	size_t			 noverdue;
};

static const char visits_help[] =
	"Lists the customers overdue for a visit (their tier's cadence in\n"
	"[visits] has passed since their last visit, or since they were added),\n"
	"most overdue first, with the visit proposed for them if any; then every\n"
	"visit rapport proposed on the planning calendar: proposed (as rapport\n"
	"put it), moved (the user gave it another time) or deleted (the user\n"
	"removed it; not proposed again for that period).  Times are local to\n"
	"[rapport] timezone.\n\n"
	"  --json   one JSON object: now, timezone, overdue, proposals\n";

static int
visits_args(struct ctl *ctl, int argc, char **argv, bool *helped)
{
	int rc;

	if ((rc = ctl_json_args(ctl, argc, argv, "[--json]", visits_help,
	    helped)) != CTL_OK || *helped)
		return rc;
	if (optind != argc)
		return ctl_usage(ctl, "unexpected argument '%s'", argv[optind]);
	return CTL_OK;
}

/* "2026-12-08 12:30" in the zone, or "-" for 0. */
static const char *
local(const struct vlist *vl, int64_t t, bool with_time)
{
	static char buf[4][32];
	static int i;
	struct local_time lt;

	i = (i + 1) % 4;
	if (t == 0)
		return "-";
	zone_local(t, vl->z, &lt);
	if (with_time)
		snprintf(buf[i], sizeof(buf[i]), "%04d-%02d-%02d %02d:%02d",
		    lt.year, lt.month, lt.day, lt.hour, lt.minute);
	else
		snprintf(buf[i], sizeof(buf[i]), "%04d-%02d-%02d", lt.year,
		    lt.month, lt.day);
	return buf[i];
}

static void
kv_time(struct json *j, const char *key, int64_t t)
{
	char buf[32];

	if (t == 0) {
		json_key(j, key);
		json_null(j);
		return;
	}
	clock_format_utc(t, buf, sizeof(buf));
	json_kv_string(j, key, buf);
}

static int
load_prop(void *arg, const struct store_visit *v)
{
	struct vlist *vl = arg;
	struct vprop *p;

	vl->p = xreallocarray(vl->p, vl->np + 1, sizeof(*vl->p));
	p = &vl->p[vl->np++];
	p->customer_id = v->customer_id;
	p->name = xstrdup(v->customer_name);
	p->period = xstrdup(v->period);
	p->uid = xstrdup(v->uid);
	p->href = xstrdup_or_null(v->href);
	p->state = xstrdup(v->state);
	p->start = v->start;
	p->end = v->end;
	p->created_at = v->created_at;
	p->updated_at = v->updated_at;
	return 0;
}

static void
props_free(struct vlist *vl)
{
	for (size_t i = 0; i < vl->np; i++) {
		free(vl->p[i].name);
		free(vl->p[i].period);
		free(vl->p[i].uid);
		free(vl->p[i].href);
		free(vl->p[i].state);
	}
	free(vl->p);
}

static const struct vprop *
prop_for(const struct vlist *vl, int64_t id, const char *period)
{
	for (size_t i = 0; i < vl->np; i++)
		if (vl->p[i].customer_id == id &&
		    strcmp(vl->p[i].period, period) == 0)
			return &vl->p[i];
	return NULL;
}

static void
prop_json(struct vlist *vl, const struct vprop *p, bool with_customer)
{
	json_object_begin(&vl->j);
	if (with_customer) {
		json_kv_int(&vl->j, "customer_id", p->customer_id);
		json_kv_string(&vl->j, "name", p->name);
	}
	json_kv_string(&vl->j, "period", p->period);
	json_kv_string(&vl->j, "uid", p->uid);
	json_kv_string(&vl->j, "href", p->href);
	kv_time(&vl->j, "start", p->start);
	kv_time(&vl->j, "end", p->end);
	json_kv_string(&vl->j, "state", p->state);
	if (with_customer) {
		kv_time(&vl->j, "created_at", p->created_at);
		kv_time(&vl->j, "updated_at", p->updated_at);
	}
	json_object_end(&vl->j);
}

/* One overdue customer, as rapportd sees them. */
struct vover {
	struct store_visit_candidate	 c;
	char				*name, *email;
	int64_t				 since;
	char				 period[16];
};

struct vovers {
	struct vlist	*vl;
	struct vover	*v;
	size_t		 n;
};

static int
load_over(void *arg, const struct store_visit_candidate *c)
{
	struct vovers *os = arg;
	struct visit_candidate vc = { c->id, c->tier,
	    c->last_visit ? c->last_visit : c->created_at };
	struct vover *o;
	int64_t since;

	if (!visits_overdue(&os->vl->ctl->cfg.visits, &vc, os->vl->now, &since))
		return 0;
	os->v = xreallocarray(os->v, os->n + 1, sizeof(*os->v));
	o = &os->v[os->n++];
	o->c = *c;
	o->name = xstrdup(c->name);
	o->email = xstrdup_or_null(c->email);
	o->c.name = o->name;
	o->c.email = o->email;
	o->c.company = NULL;
	o->since = since;
	visits_period(since, os->vl->z, o->period, sizeof(o->period));
	return 0;
}

static int
by_since(const void *a, const void *b)
{
	const struct vover *x = a, *y = b;

	if (x->since != y->since)
		return x->since < y->since ? -1 : 1;
	return (x->c.id > y->c.id) - (x->c.id < y->c.id);
}

static void
over_print(struct vlist *vl, const struct vover *o)
{
	const struct vprop *p = prop_for(vl, o->c.id, o->period);
	char last[48], next[64];

	if (o->c.last_visit != 0)
		snprintf(last, sizeof(last), "%s", local(vl, o->c.last_visit,
		    false));
	else
		snprintf(last, sizeof(last), "never (added %s)",
		    local(vl, o->c.created_at, false));
	if (p != NULL)
		snprintf(next, sizeof(next), "%s %s", p->state,
		    local(vl, p->start, true));
	else if (o->c.next_visit != 0)
		snprintf(next, sizeof(next), "scheduled %s",
		    local(vl, o->c.next_visit, true));
	else
		snprintf(next, sizeof(next), "waiting for a slot");
	printf("  %-24s %c  %-24s %-11s %s\n", o->c.name, o->c.tier, last,
	    local(vl, o->since, false), next);
}

static void
over_json(struct vlist *vl, const struct vover *o)
{
	const struct vprop *p = prop_for(vl, o->c.id, o->period);

	json_object_begin(&vl->j);
	json_kv_int(&vl->j, "customer_id", o->c.id);
	json_kv_string(&vl->j, "name", o->c.name);
	json_kv_string(&vl->j, "email", o->c.email);
	json_key(&vl->j, "tier");
	json_string(&vl->j, (char[]){ o->c.tier, '\0' });
	kv_time(&vl->j, "last_visit", o->c.last_visit);
	kv_time(&vl->j, "customer_since", o->c.created_at);
	kv_time(&vl->j, "overdue_since", o->since);
	json_kv_string(&vl->j, "period", o->period);
	kv_time(&vl->j, "next_visit", o->c.next_visit);
	json_key(&vl->j, "proposal");
	if (p != NULL)
		prop_json(vl, p, false);
	else
		json_null(&vl->j);
	json_object_end(&vl->j);
}

static void
overs_free(struct vovers *os)
{
	for (size_t i = 0; i < os->n; i++) {
		free(os->v[i].name);
		free(os->v[i].email);
	}
	free(os->v);
}

static void
visits_print(struct vlist *vl, const struct vovers *os)
{
	if (vl->ctl->json) {
		json_init(&vl->j, stdout, true);
		json_object_begin(&vl->j);
		kv_time(&vl->j, "now", vl->now);
		json_kv_string(&vl->j, "timezone", vl->ctl->cfg.timezone ?
		    vl->ctl->cfg.timezone : "UTC");
		json_key(&vl->j, "overdue");
		json_array_begin(&vl->j);
		for (size_t i = 0; i < os->n; i++)
			over_json(vl, &os->v[i]);
		json_array_end(&vl->j);
		json_key(&vl->j, "proposals");
		json_array_begin(&vl->j);
		for (size_t i = 0; i < vl->np; i++)
			prop_json(vl, &vl->p[i], true);
		json_array_end(&vl->j);
		json_object_end(&vl->j);
		json_finish(&vl->j);
		return;
	}
	printf("Overdue (%zu):\n", os->n);
	if (os->n > 0)
		printf("  %-24s %s  %-24s %-11s %s\n", "CUSTOMER", "T",
		    "LAST VISIT", "DUE SINCE", "VISIT");
	for (size_t i = 0; i < os->n; i++)
		over_print(vl, &os->v[i]);
	printf("\nProposed visits (%zu):\n", vl->np);
	for (size_t i = 0; i < vl->np; i++)
		printf("  %s  %-24s %-9s period %s\n",
		    local(vl, vl->p[i].start, true), vl->p[i].name,
		    vl->p[i].state, vl->p[i].period);
}

int
cmd_visits(struct ctl *ctl, int argc, char **argv)
{
	struct vlist vl = { .ctl = ctl };
	struct vovers os = { &vl, NULL, 0 };
	bool helped = false;
	int rc;

	if ((rc = visits_args(ctl, argc, argv, &helped)) != CTL_OK || helped ||
	    (rc = ctl_open(ctl)) != CTL_OK)
		return rc;
	vl.z = zone_get_or(ctl->cfg.timezone, "UTC");
	vl.now = clock_now();
	if (store_visit_foreach(ctl->st, load_prop, &vl) != STORE_OK ||
	    store_visit_candidates_foreach(ctl->st, vl.now, load_over, &os) !=
	    STORE_OK) {
		rc = ctl_fail(ctl, "%s", store_errmsg(ctl->st));
		goto out;
	}
	if (os.n > 0)
		qsort(os.v, os.n, sizeof(*os.v), by_since);
	visits_print(&vl, &os);
out:
	overs_free(&os);
	props_free(&vl);
	return rc;
}
