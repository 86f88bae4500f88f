#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <pthread.h>

#include <strings.h>

static const char *log_progname = "rapport";
static bool log_verbose;
static int log_trace_mask;
/* One line at a time, whichever thread writes it. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct {
	const char	*name;
	int		 bit;
} log_trace_names[] = {
	{ "imap", TRACE_IMAP }, { "caldav", TRACE_CALDAV },
	{ "smtp", TRACE_SMTP }, { "plan", TRACE_PLAN },
	{ "store", TRACE_STORE }, { "link", TRACE_LINK },
};

void
log_init(const char *progname, bool verbose)
{
	log_progname = progname;
	log_verbose = verbose;
}

int
log_trace_parse(const char *list, int *mask)
{
	char buf[256], *tok, *save = NULL;
	size_t i;

	*mask = 0;
	if (strlen(list) >= sizeof(buf))
		return -1;
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strcasecmp(tok, "all") == 0) {
			*mask = ~0;
			continue;
		}
		for (i = 0; i < sizeof(log_trace_names) / sizeof(log_trace_names[0]); i++)
			if (strcasecmp(tok, log_trace_names[i].name) == 0)
				break;
		if (i == sizeof(log_trace_names) / sizeof(log_trace_names[0]))
			return -1;
		*mask |= log_trace_names[i].bit;
	}
	return 0;
}

void
log_set_trace(int mask)
{
	log_trace_mask = mask;
}

bool
log_tracing(enum log_trace cat)
{
	return (log_trace_mask & (int)cat) != 0;
}

static void
log_vwrite(int prio, const char *fmt, va_list ap, const char *errstr)
{
	char line[2048];
	size_t i;

	vsnprintf(line, sizeof(line), fmt, ap);
	/* A value that came from the network must not split a log line. */
	for (i = 0; line[i]; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	pthread_mutex_lock(&log_lock);
	if (errstr)
		fprintf(stderr, "<%d>%s: %s: %s\n", prio, log_progname, line, errstr);
	else
		fprintf(stderr, "<%d>%s: %s\n", prio, log_progname, line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

#define LOG_FN(fn, prio, with_errno)					\
void									\
fn(const char *fmt, ...)						\
{									\
	char ebuf[128];							\
	const char *es = NULL;						\
	va_list ap;							\
	if (with_errno)							\
		es = strerror_r(errno, ebuf, sizeof(ebuf));			\
	va_start(ap, fmt);						\
	log_vwrite(prio, fmt, ap, es);					\
	va_end(ap);							\
}

LOG_FN(log_err, LOG_ERR, 1)
LOG_FN(log_errx, LOG_ERR, 0)
LOG_FN(log_warn, LOG_WARNING, 1)
LOG_FN(log_warnx, LOG_WARNING, 0)
LOG_FN(log_notice, LOG_NOTICE, 0)
LOG_FN(log_info, LOG_INFO, 0)

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void
log_trace(enum log_trace cat, const char *fmt, ...)
{
	va_list ap;

	if (!log_tracing(cat))
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}
