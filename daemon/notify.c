#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"

/*
 * Failures to notify are logged once per kind at debug level only: the
 * daemon works the same without a service manager, and a manager that
 * went away will not read a warning either.
 */
static void
notify_send(const char *state)
{
	int r = sd_notify(0, state);

	if (r < 0)
		log_debug("sd_notify %s: error %d", state, r);
}

uint64_t
notify_init(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	/* Half the interval, as sd_watchdog_enabled(3) advises. */
	usec /= 2;
	return usec < 1000 ? 1 : usec / 1000;
}

void
notify_ready(void)
{
	notify_send("READY=1");
}

void
notify_status(const char *fmt, ...)
{
	char line[512], state[sizeof(line) + 8];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* A newline would start a second, unintended assignment. */
	for (i = 0; line[i]; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	snprintf(state, sizeof(state), "STATUS=%s", line);
	notify_send(state);
}

void
notify_watchdog(void)
{
	notify_send("WATCHDOG=1");
}

void
notify_reloading(void)
{
	struct timespec ts;
	char state[64];

	/* systemd ≥ 253 matches the reload to this timestamp; 252 ignores it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	notify_send(state);
}

void
notify_stopping(void)
{
	notify_send("STOPPING=1");
}
