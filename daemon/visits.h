/*
 * Visit planning, the pure part: who is overdue, and which free slots in
 * the user's working hours their tentative visits go to.  The CalDAV
 * connector supplies the busy times and writes the proposals; this module
 * only decides, so the decisions are tested without a server.
 *
 * A customer of tier T is overdue when their last visit (or, never
 * visited, their creation) is older than T's cadence and no visit is
 * scheduled.  Most overdue first; each gets the earliest slot that
 *   - lies inside the working hours of a working day (local time),
 *   - starts at least `lead` seconds from now, on a 15-minute boundary,
 *   - keeps `buffer` minutes of travel free before and after, clear of
 *     every busy interval (and of the visits proposed before it),
 *   - is on a day with fewer than per_day visits (proposed or existing),
 *   - starts within `horizon` days.
 * Who finds no slot waits for the next run.
 */
#ifndef RAPPORT_VISITS_H
#define RAPPORT_VISITS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "zone.h"

struct visit_interval {
	int64_t	start, end;	/* UTC, [start, end) */
};

struct visit_candidate {
	int64_t	customer_id;
	char	tier;		/* 'A', 'B', 'C' */
	int64_t	last_visit;	/* UTC end of the last visit, or creation */
};

struct visit_proposal {
	int64_t	customer_id;
	int64_t	start, end;
	int64_t	overdue_since;	/* last_visit + cadence */
};

/* Seconds of the tier's cadence, 0 if the tier is never visited. */
int64_t visits_cadence(const struct visits_config *vc, char tier);

/* Whether c is overdue at now (and when it became so, if overdue). */
int visits_overdue(const struct visits_config *vc,
    const struct visit_candidate *c, int64_t now, int64_t *since);

/*
 * The period a proposal serves: the local date (YYYYMMDD) on which the
 * customer became overdue.  It names the deterministic UID, so a deleted
 * proposal is never proposed again for the same period, and a real visit
 * (which moves last_visit) opens a new one.
 */
void visits_period(int64_t overdue_since, const struct zone *z, char *buf,
    size_t len);

/*
 * Plans proposals for the overdue candidates (any order: they are sorted
 * here, most overdue first) around the busy intervals (any order), in
 * zone z.  existing_per_day: visits already on the calendar count against
 * per_day (pass them as busy intervals too; they are counted by their
 * local start date).  Writes at most max proposals; returns how many.
 */
size_t visits_plan(const struct visits_config *vc, const struct zone *z,
    int64_t now, int64_t lead, const struct visit_candidate *cands,
    size_t ncands, const struct visit_interval *busy, size_t nbusy,
    const struct visit_interval *existing_visits, size_t nexisting,
    struct visit_proposal *out, size_t max);

#endif
