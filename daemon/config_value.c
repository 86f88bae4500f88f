#include "config_value.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

#define DURATION_MAX	(10LL * 366 * 86400)
#define SEP		" \t,"

static int
cv_fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
cv_fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Copies the token at s (up to a separator) into buf, for messages. */
static const char *
cv_token(const char *s, size_t len, char *buf, size_t buflen)
{
	if (len >= buflen)
		len = buflen - 1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return buf;
}

int
config_value_bool(const char *s, bool *out, char *why, size_t whylen)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return cv_fail(why, whylen, "'%.40s' is not yes or no", s);
}

/* Reads digits at *s into *n (bounded so that no overflow is possible). */
static int
cv_number(const char **s, long long *n)
{
	const char *p = *s;
	long long v = 0;

	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		if (v > DURATION_MAX)
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	*s = p;
	*n = v;
	return 0;
}

static long long
cv_unit(char c)
{
	switch (c) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return 86400;
	case 'w': return 7 * 86400;
	default: return 0;
	}
}

int
config_value_duration(const char *s, long long bare_unit, long long *secs,
    char *why, size_t whylen)
{
	const char *p = s;
	long long total = 0, n, unit;

	if (cv_number(&p, &n) == 0 && *p == '\0') {
		if (n > DURATION_MAX / bare_unit)
			return cv_fail(why, whylen, "'%.40s' is too long", s);
		*secs = n * bare_unit;
		return 0;
	}
	p = s;
	do {
		if (cv_number(&p, &n) == -1 || (unit = cv_unit(*p)) == 0)
			return cv_fail(why, whylen, "'%.40s' is not a duration "
			    "(a number and s, m, h, d or w: 45s, 30m, 12h, 3d, "
			    "2w)", s);
		p++;
		if (n > DURATION_MAX / unit || (total += n * unit) >
		    DURATION_MAX)
			return cv_fail(why, whylen, "'%.40s' is too long", s);
	} while (*p != '\0');
	*secs = total;
	return 0;
}

int
config_value_hhmm(const char *s, bool allow_24, int *minutes, char *why,
    size_t whylen)
{
	size_t hd = 0;
	int h = 0, m;

	while (hd < 2 && isdigit((unsigned char)s[hd]))
		h = h * 10 + (s[hd++] - '0');
	if (hd == 0 || s[hd] != ':' || !isdigit((unsigned char)s[hd + 1]) ||
	    !isdigit((unsigned char)s[hd + 2]) || s[hd + 3] != '\0')
		return cv_fail(why, whylen, "'%.20s' is not a time (HH:MM)", s);
	m = (s[hd + 1] - '0') * 10 + (s[hd + 2] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
		return cv_fail(why, whylen, "'%.20s' is not a time of day", s);
	*minutes = h * 60 + m;
	return 0;
}

int
config_value_timerange(const char *s, bool allow_wrap, int *start,
    int *end, char *why, size_t whylen)
{
	const char *dash = strchr(s, '-');
	char a[16];
	int st, en;

	if (dash == NULL || (size_t)(dash - s) >= sizeof(a))
		return cv_fail(why, whylen, "'%.40s' is not a range "
		    "(HH:MM-HH:MM)", s);
	cv_token(s, (size_t)(dash - s), a, sizeof(a));
	if (config_value_hhmm(a, false, &st, why, whylen) == -1 ||
	    config_value_hhmm(dash + 1, true, &en, why, whylen) == -1)
		return -1;
	if (st == en)
		return cv_fail(why, whylen, "'%.40s' is an empty range", s);
	if (st > en && !allow_wrap)
		return cv_fail(why, whylen, "'%.40s' ends before it starts", s);
	*start = st;
	*end = en;
	return 0;
}

/* One "N/unit" of a budget. */
static int
cv_budget_item(const char *tok, size_t len, int *pm, int *pd, char *why,
    size_t whylen)
{
	char buf[32];
	const char *p = cv_token(tok, len, buf, sizeof(buf)), *unit;
	long long n;

	if (cv_number(&p, &n) == -1 || *p != '/' || n > 1000000)
		return cv_fail(why, whylen, "'%s' is not a rate (20/min, "
		    "1000/day)", buf);
	unit = p + 1;
	if (strcmp(unit, "s") == 0 || strcmp(unit, "sec") == 0) {
		if (*pm != -1)
			return cv_fail(why, whylen, "two per-minute rates");
		*pm = (int)n * 60;
	} else if (strcmp(unit, "min") == 0 || strcmp(unit, "m") == 0) {
		if (*pm != -1)
			return cv_fail(why, whylen, "two per-minute rates");
		*pm = (int)n;
	} else if (strcmp(unit, "day") == 0 || strcmp(unit, "d") == 0) {
		if (*pd != -1)
			return cv_fail(why, whylen, "two per-day rates");
		*pd = (int)n;
	} else
		return cv_fail(why, whylen, "unknown unit '/%s' (use /s, /min "
		    "or /day)", unit);
	return 0;
}

int
config_value_budget(const char *s, int *per_minute, int *per_day,
    char *why, size_t whylen)
{
	int pm = -1, pd = -1;
	size_t len;

	if (strcasecmp(s, "unlimited") == 0 || strcmp(s, "0") == 0) {
		*per_minute = *per_day = 0;
		return 0;
	}
	for (s += strspn(s, SEP); *s != '\0'; s += strspn(s, SEP)) {
		len = strcspn(s, SEP);
		if (cv_budget_item(s, len, &pm, &pd, why, whylen) == -1)
			return -1;
		s += len;
	}
	if (pm == -1 && pd == -1)
		return cv_fail(why, whylen, "no rate (20/min, 1000/day)");
	*per_minute = pm == -1 ? 0 : pm;
	*per_day = pd == -1 ? 0 : pd;
	return 0;
}

/* One "A:30d" of a cadence. */
static int
cv_cadence_item(const char *tok, size_t len, int days[3], bool seen[3],
    char *why, size_t whylen)
{
	char buf[32];
	const char *p = cv_token(tok, len, buf, sizeof(buf));
	int tier = toupper((unsigned char)p[0]) - 'A';
	long long secs;

	if (tier < 0 || tier > 2 || p[1] != ':')
		return cv_fail(why, whylen, "'%s' is not TIER:DAYS with tier "
		    "A, B or C", buf);
	if (seen[tier])
		return cv_fail(why, whylen, "tier %c given twice", 'A' + tier);
	seen[tier] = true;
	if (strcasecmp(p + 2, "never") == 0) {
		days[tier] = 0;
		return 0;
	}
	if (config_value_duration(p + 2, 86400, &secs, why, whylen) == -1)
		return -1;
	if (secs % 86400 != 0)
		return cv_fail(why, whylen, "'%s' is not a whole number of "
		    "days", buf);
	days[tier] = (int)(secs / 86400);
	return 0;
}

int
config_value_cadence(const char *s, int days[3], char *why, size_t whylen)
{
	int d[3] = { 0, 0, 0 };
	bool seen[3] = { false, false, false };
	size_t len;

	for (s += strspn(s, SEP); *s != '\0'; s += strspn(s, SEP)) {
		len = strcspn(s, SEP);
		if (cv_cadence_item(s, len, d, seen, why, whylen) == -1)
			return -1;
		s += len;
	}
	if (!seen[0] && !seen[1] && !seen[2])
		return cv_fail(why, whylen, "no tier (A:30d B:90d C:365d)");
	memcpy(days, d, sizeof(d));
	return 0;
}

static int
cv_day(const char *s, size_t len)
{
	static const char *names[] = { "monday", "tuesday", "wednesday",
	    "thursday", "friday", "saturday", "sunday" };

	for (int i = 0; i < 7; i++)
		if ((len == 3 || len == strlen(names[i])) &&
		    strncasecmp(s, names[i], len) == 0)
			return i;
	return -1;
}

/* "Mon-Fri", "Mon,Wed", "Fri-Mon" (across the week end). */
static int
cv_days(const char *s, size_t len, unsigned *mask, char *why, size_t whylen)
{
	unsigned m = 0;
	char buf[64];
	const char *end = s + len;

	cv_token(s, len, buf, sizeof(buf));
	while (s < end) {
		size_t l = strcspn(s, ",-");
		int a, b;

		if (s + l > end)
			l = (size_t)(end - s);
		if ((a = b = cv_day(s, l)) == -1)
			return cv_fail(why, whylen, "'%s': unknown day (Mon, "
			    "Tue, ... Sun)", buf);
		s += l;
		if (s < end && *s == '-') {
			s++;
			l = strcspn(s, ",");
			if (s + l > end)
				l = (size_t)(end - s);
			if ((b = cv_day(s, l)) == -1)
				return cv_fail(why, whylen, "'%s': unknown "
				    "day (Mon, Tue, ... Sun)", buf);
			s += l;
		}
		for (int d = a;; d = (d + 1) % 7) {
			m |= 1u << d;
			if (d == b)
				break;
		}
		if (s < end)
			s++;	/* the comma */
	}
	*mask = m;
	return 0;
}

int
config_value_hours(const char *s, unsigned *days, int *start, int *end,
    char *why, size_t whylen)
{
	size_t len = strcspn(s, " \t");
	const char *range = s + len + strspn(s + len, " \t");
	unsigned m = 0;
	int st, en;

	if (len == 0 || *range == '\0' || range[strcspn(range, " \t")] != '\0')
		return cv_fail(why, whylen, "'%.60s' is not DAYS HH:MM-HH:MM "
		    "(Mon-Fri 09:00-17:00)", s);
	if (cv_days(s, len, &m, why, whylen) == -1 ||
	    config_value_timerange(range, false, &st, &en, why, whylen) == -1)
		return -1;
	*days = m;
	*start = st;
	*end = en;
	return 0;
}

void
config_value_list_free(char **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

/* A "quoted item" starting at *s (on the quote); advances past it. */
static char *
cv_quoted(const char **s, char *why, size_t whylen)
{
	const char *p = *s + 1;
	char *out = xmalloc(strlen(p) + 1);
	size_t n = 0;

	while (*p != '"') {
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		if (*p == '\0') {
			free(out);
			cv_fail(why, whylen, "a quote is not closed");
			return NULL;
		}
		out[n++] = *p++;
	}
	out[n] = '\0';
	p++;
	if (n == 0 || (*p != '\0' && strchr(SEP, *p) == NULL)) {
		free(out);
		cv_fail(why, whylen, n == 0 ? "an empty quoted item" :
		    "text right after a closing quote");
		return NULL;
	}
	*s = p;
	return out;
}

int
config_value_list(const char *s, char ***items, size_t *n, char *why,
    size_t whylen)
{
	char **v = NULL, *item;
	size_t count = 0, len;

	for (s += strspn(s, SEP); *s != '\0'; s += strspn(s, SEP)) {
		if (*s == '"') {
			if ((item = cv_quoted(&s, why, whylen)) == NULL) {
				config_value_list_free(v, count);
				return -1;
			}
		} else {
			len = strcspn(s, SEP "\"");
			item = xstrndup(s, len);
			s += len;
		}
		v = xreallocarray(v, count + 1, sizeof(*v));
		v[count++] = item;
	}
	*items = v;
	*n = count;
	return 0;
}

static void
cv_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* The host[:port] part, between "://" and the path. */
static int
cv_authority(const char *a, size_t len, char **host, int *port, char *why,
    size_t whylen)
{
	const char *end = a + len, *h = a, *he;
	long long p = 0;

	if (memchr(a, '@', len) != NULL)
		return cv_fail(why, whylen, "a user name in the url: use user "
		    "= and password_file = instead");
	if (*a == '[') {
		h = a + 1;
		if ((he = memchr(h, ']', (size_t)(end - h))) == NULL)
			return cv_fail(why, whylen, "an IPv6 host without ']'");
		a = he + 1;
	} else {
		he = memchr(a, ':', len);
		he = he == NULL ? end : he;
		a = he;
	}
	if (he == h)
		return cv_fail(why, whylen, "no host in the url");
	for (const char *c = h; c < he; c++)
		if (!isalnum((unsigned char)*c) && strchr("-._:", *c) == NULL)
			return cv_fail(why, whylen, "a bad character in the "
			    "url's host");
	if (a < end) {
		if (*a++ != ':' || a == end)
			return cv_fail(why, whylen, "a bad port in the url");
		for (; a < end; a++)
			if (!isdigit((unsigned char)*a) ||
			    (p = p * 10 + (*a - '0')) > 65535)
				return cv_fail(why, whylen, "a bad port in the "
				    "url");
		if (p == 0)
			return cv_fail(why, whylen, "a bad port in the url");
	}
	*host = xstrndup(h, (size_t)(he - h));
	cv_lower(*host);
	*port = (int)p;
	return 0;
}

int
config_value_url(const char *s, char **scheme, char **host, int *port,
    char *why, size_t whylen)
{
	const char *p = s, *auth;
	size_t len;

	if (!isalpha((unsigned char)*p))
		return cv_fail(why, whylen, "not a url (scheme://host/)");
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' ||
	    *p == '.')
		p++;
	if (strncmp(p, "://", 3) != 0 || p - s > 16)
		return cv_fail(why, whylen, "not a url (scheme://host/)");
	auth = p + 3;
	len = strcspn(auth, "/?#");
	if (cv_authority(auth, len, host, port, why, whylen) == -1)
		return -1;
	*scheme = xstrndup(s, (size_t)(p - s));
	cv_lower(*scheme);
	return 0;
}
