#include "visits.h"

#include <stdio.h>
#include <stdlib.h>

#include "xmalloc.h"

#define SLOT_STEP	(15 * 60)

int64_t
visits_cadence(const struct visits_config *vc, char tier)
{
	if (tier < 'A' || tier > 'C')
		return 0;
	return (int64_t)vc->cadence_days[tier - 'A'] * 86400;
}

int
visits_overdue(const struct visits_config *vc,
    const struct visit_candidate *c, int64_t now, int64_t *since)
{
	int64_t cadence = visits_cadence(vc, c->tier);

	if (cadence == 0 || c->last_visit + cadence > now)
		return 0;
	if (since != NULL)
		*since = c->last_visit + cadence;
	return 1;
}

void
visits_period(int64_t overdue_since, const struct zone *z, char *buf,
    size_t len)
{
	struct local_time lt;

	zone_local(overdue_since, z, &lt);
	snprintf(buf, len, "%04d%02d%02d", lt.year, lt.month, lt.day);
}

/* Most overdue first: the earliest overdue date; ties by id for a stable
 * order between runs. */
static int
by_overdue(const void *a, const void *b)
{
	const struct visit_proposal *x = a, *y = b;

	if (x->overdue_since != y->overdue_since)
		return x->overdue_since < y->overdue_since ? -1 : 1;
	return (x->customer_id > y->customer_id) - (x->customer_id < y->customer_id);
}

static int64_t
round_up(int64_t t, int64_t step)
{
	int64_t r = t % step;

	return r == 0 ? t : t + (step - r);
}

struct plan_state {
	const struct visits_config	*vc;
	const struct zone		*z;
	const struct visit_interval	*busy;
	size_t				 nbusy;
	const struct visit_interval	*existing;
	size_t				 nexisting;
	const struct visit_proposal	*planned;
	size_t				 nplanned;
};

/* The end of the first interval that [from, to) overlaps, or 0. */
static int64_t
conflict_end(const struct plan_state *ps, int64_t from, int64_t to)
{
	for (size_t i = 0; i < ps->nbusy; i++)
		if (ps->busy[i].start < to && ps->busy[i].end > from)
			return ps->busy[i].end;
	for (size_t i = 0; i < ps->nplanned; i++)
		if (ps->planned[i].start < to && ps->planned[i].end > from)
			return ps->planned[i].end;
	return 0;
}

static int
same_local_day(const struct zone *z, int64_t t, int y, int m, int d)
{
	struct local_time lt;

	zone_local(t, z, &lt);
	return lt.year == y && lt.month == m && lt.day == d;
}

static int
visits_on_day(const struct plan_state *ps, int y, int m, int d)
{
	int n = 0;

	for (size_t i = 0; i < ps->nexisting; i++)
		n += same_local_day(ps->z, ps->existing[i].start, y, m, d);
	for (size_t i = 0; i < ps->nplanned; i++)
		n += same_local_day(ps->z, ps->planned[i].start, y, m, d);
	return n;
}

/* The earliest free slot on one local day at or after earliest, or 0. */
static int64_t
slot_on_day(const struct plan_state *ps, int y, int m, int d,
    int64_t earliest)
{
	const struct visits_config *vc = ps->vc;
	int64_t open = zone_utc(ps->z, y, m, d, vc->hours_start / 60,
	    vc->hours_start % 60);
	int64_t close = zone_utc(ps->z, y, m, d, vc->hours_end / 60,
	    vc->hours_end % 60);
	int64_t len = (int64_t)vc->length * 60, buf = (int64_t)vc->buffer * 60;
	int64_t s = round_up(open > earliest ? open : earliest, SLOT_STEP);

	while (s + len <= close) {
		int64_t end = conflict_end(ps, s - buf, s + len + buf);

		if (end == 0)
			return s;
		s = round_up(end + buf, SLOT_STEP);
	}
	return 0;
}

static int
working_day(const struct plan_state *ps, int y, int m, int d)
{
	struct local_time lt;

	zone_local(zone_utc(ps->z, y, m, d, 12, 0), ps->z, &lt);
	return (ps->vc->hours_days >> lt.wday) & 1;
}

/* Finds the earliest slot within the horizon for one customer. */
static int64_t
find_slot(const struct plan_state *ps, int64_t now, int64_t lead)
{
	struct local_time lt;
	int y, m, d;

	zone_local(now, ps->z, &lt);
	y = lt.year;
	m = lt.month;
	d = lt.day;
	for (int k = 0; k <= ps->vc->horizon; k++, zone_date_add(&y, &m, &d, 1)) {
		int64_t s;

		if (!working_day(ps, y, m, d) ||
		    visits_on_day(ps, y, m, d) >= ps->vc->per_day)
			continue;
		s = slot_on_day(ps, y, m, d, now + lead);
		if (s != 0 && s < now + (int64_t)ps->vc->horizon * 86400)
			return s;
	}
	return 0;
}

size_t
visits_plan(const struct visits_config *vc, const struct zone *z,
    int64_t now, int64_t lead, const struct visit_candidate *cands,
    size_t ncands, const struct visit_interval *busy, size_t nbusy,
    const struct visit_interval *existing_visits, size_t nexisting,
    struct visit_proposal *out, size_t max)
{
	struct visit_proposal *order = xcalloc(ncands + 1, sizeof(*order));
	struct plan_state ps = { vc, z, busy, nbusy, existing_visits,
	    nexisting, out, 0 };
	size_t n = 0;

	for (size_t i = 0; i < ncands; i++) {
		int64_t since;

		if (visits_overdue(vc, &cands[i], now, &since)) {
			order[n].customer_id = cands[i].customer_id;
			order[n].overdue_since = since;
			n++;
		}
	}
	qsort(order, n, sizeof(*order), by_overdue);
	for (size_t i = 0; i < n && ps.nplanned < max; i++) {
		int64_t s = find_slot(&ps, now, lead);

		if (s == 0)
			continue;
		out[ps.nplanned] = order[i];
		out[ps.nplanned].start = s;
		out[ps.nplanned].end = s + (int64_t)vc->length * 60;
		ps.nplanned++;
	}
	free(order);
	return ps.nplanned;
}
