#include "clock.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t clock_fixed = -1;

int
clock_init(char *err, size_t errlen)
{
	const char *s = getenv("RAPPORT_NOW");

	clock_fixed = -1;
	if (s == NULL || *s == '\0')
		return 0;
	if (clock_parse_iso8601(s, &clock_fixed) == -1) {
		snprintf(err, errlen, "RAPPORT_NOW=%s: not an ISO 8601 date-time "
		    "(e.g. 2026-12-01T09:00:00Z)", s);
		return -1;
	}
	return 0;
}

int64_t
clock_now(void)
{
	if (clock_fixed != -1)
		return clock_fixed;
	return (int64_t)time(NULL);
}

static int
clock_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int
clock_expect(const char **p, char c)
{
	if (**p != c)
		return -1;
	(*p)++;
	return 0;
}

int
clock_parse_iso8601(const char *s, int64_t *out)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 1;
	const char *p = s;

	if (clock_digits(&p, 4, &y) || clock_expect(&p, '-') ||
	    clock_digits(&p, 2, &mo) || clock_expect(&p, '-') ||
	    clock_digits(&p, 2, &d))
		return -1;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (clock_digits(&p, 2, &h) || clock_expect(&p, ':') ||
		    clock_digits(&p, 2, &mi))
			return -1;
		if (*p == ':') {
			p++;
			if (clock_digits(&p, 2, &sec))
				return -1;
		}
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p == '-' ? -1 : 1;
			p++;
			if (clock_digits(&p, 2, &oh) || clock_expect(&p, ':') ||
			    clock_digits(&p, 2, &om))
				return -1;
		}
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
	return 0;
}

void
clock_format_utc(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
