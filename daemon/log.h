/*
 * Logging to stderr with sd-daemon priority prefixes ("<3>"), which journald
 * turns into priorities.  Lines carry key=value identity (account=, folder=,
 * uid=, outbox=) so one record can be followed through the log.
 *
 * log_warn/log_err append strerror(errno); the x variants do not.
 * Never pass a secret to these functions.
 */
#ifndef RAPPORT_LOG_H
#define RAPPORT_LOG_H

#include <stdbool.h>

enum log_trace {
	TRACE_IMAP	= 1 << 0,
	TRACE_CALDAV	= 1 << 1,
	TRACE_SMTP	= 1 << 2,
	TRACE_PLAN	= 1 << 3,
	TRACE_STORE	= 1 << 4,
	TRACE_LINK	= 1 << 5,
};

/* Program name in each line; verbose enables log_debug. */
void log_init(const char *progname, bool verbose);
/* Parses "imap,caldav,smtp,plan,store,link,all"; -1 on an unknown name. */
int log_trace_parse(const char *list, int *mask);
void log_set_trace(int mask);
bool log_tracing(enum log_trace cat);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_trace(enum log_trace cat, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
