/*
 * The planner turns stored facts (sales, meetings, first messages,
 * birthdays, newsletter schedules, referrals) into outbox rows, each with a
 * unique key, so that planning twice plans nothing new.  It runs on the
 * main thread, on its timer and whenever something wakes the daemon, and
 * must never wait on the network.
 */
#ifndef RAPPORT_PLANNER_H
#define RAPPORT_PLANNER_H

#include <time.h>

struct config;
struct store;
struct template_set;

/*
 * One pass at time now over the loaded templates (tmpl may be NULL: no
 * templates, nothing to plan).  Returns 0, or -1 after logging why.
 */
int planner_run(struct store *st, const struct config *cfg,
    const struct template_set *tmpl, time_t now);

#endif
