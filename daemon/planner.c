#include "planner.h"

#include "clock.h"
#include "config.h"
#include "log.h"
#include "store.h"

/* Filled by the planner issue; for now a pass only leaves its trace. */
int
planner_run(struct store *st, const struct config *cfg, time_t now)
{
	char when[32];

	(void)cfg;
	clock_format_utc((int64_t)now, when, sizeof(when));
	log_trace(TRACE_PLAN, "planner: pass at %s", when);
	if (store_status_set(st, "planner.last_run", when, (int64_t)now) !=
	    STORE_OK) {
		log_warnx("planner: %s", store_errmsg(st));
		return -1;
	}
	return 0;
}
