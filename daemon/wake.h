/*
 * The wake-up channel: anyone (a connector thread that stored new mail, the
 * signal handling of SIGUSR1, ...) asks the main loop to run the planner
 * now instead of at its next tick.  Wake-ups coalesce: ten calls before the
 * main loop looks give one planner run.
 *
 * wake_init() and wake_fini() belong to the main thread; wake_daemon() may
 * be called from any thread, at any time, even before wake_init() or after
 * wake_fini() (then it does nothing).
 */
#ifndef RAPPORT_WAKE_H
#define RAPPORT_WAKE_H

#include <stddef.h>

/* Creates the channel; -1 with errno on failure. */
int wake_init(void);
void wake_fini(void);
/* Readable when a wake-up is pending; -1 before wake_init(). */
int wake_fd(void);
/* reason: a short text ("imap account=work: 3 new"), copied; it only goes
 * to the log. */
void wake_daemon(const char *reason);
/*
 * Consumes the pending wake-ups.  Returns 1 if there was one, with the
 * last reason copied into reason (may be NULL), else 0.
 */
int wake_take(char *reason, size_t len);

#endif
