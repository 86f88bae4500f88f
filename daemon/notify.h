/*
 * The service manager's side channel (sd_notify): readiness, a one-line
 * status, the watchdog and the reload/stop protocol of Type=notify.
 * Without $NOTIFY_SOCKET (run by hand, in tests) every call does nothing.
 * Main thread only.
 */
#ifndef RAPPORT_NOTIFY_H
#define RAPPORT_NOTIFY_H

#include <stdint.h>

/*
 * Reads WATCHDOG_USEC/WATCHDOG_PID.  Returns how often to ping, in
 * milliseconds (half the manager's interval), or 0 when no watchdog is set.
 */
uint64_t notify_init(void);
void notify_ready(void);
/* STATUS=...: what `systemctl status` shows.  One line, no secrets. */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notify_watchdog(void);
/* RELOADING=1 with MONOTONIC_USEC=, answered later by notify_ready(). */
void notify_reloading(void);
void notify_stopping(void);

#endif
