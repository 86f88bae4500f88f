/*
 * Waking rapportd after a write, so that it plans (and syncs) now rather
 * than at its next timer tick.  rapportd records its pid and state in the
 * status table of the same database; SIGUSR1 is its "plan now" signal.
 * Nothing here is an error: without a running daemon the write simply
 * waits for the next start.
 */
#include "ctl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct wake_status {
	long	 pid;
	bool	 running;
};

static int
wake_status_row(void *arg, const char *key, const char *value, int64_t at)
{
	struct wake_status *ws = arg;
	char *end;
	long v;

	(void)at;
	if (!value)
		return 0;
	if (strcmp(key, "daemon.state") == 0) {
		ws->running = strcmp(value, "running") == 0;
	} else if (strcmp(key, "daemon.pid") == 0) {
		errno = 0;
		v = strtol(value, &end, 10);
		if (!errno && *end == '\0' && v > 1)
			ws->pid = v;
	}
	return 0;
}

/* A recorded pid outlives a crash (SIGKILL writes no "stopped"): only a
 * process that is rapportd gets the signal. */
static bool
wake_is_rapportd(long pid)
{
	char path[64], comm[32];
	FILE *fp;
	bool yes;

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if (!(fp = fopen(path, "r")))
		return false;
	yes = fgets(comm, sizeof(comm), fp) != NULL &&
	    strcmp(comm, "rapportd\n") == 0;
	fclose(fp);
	return yes;
}

void
ctl_wake(struct ctl *ctl)
{
	struct wake_status ws = { 0, false };

	if (!ctl->st)
		return;
	if (store_status_foreach(ctl->st, wake_status_row, &ws) != STORE_OK)
		return;
	if (!ws.running || !ws.pid || !wake_is_rapportd(ws.pid))
		return;
	/* EPERM (another user's daemon) or ESRCH (just exited): nothing to do. */
	(void)kill((pid_t)ws.pid, SIGUSR1);
}
