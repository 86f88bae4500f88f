/*
 * The checks a customer's fields pass on their way in, the same for
 * "customer add/edit" options and for CSV columns, so a value refused in
 * one is refused in the other.
 */
#include "ctl.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

static int
field_month_days(int year, int month)
{
	static const int days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (month == 2 && year != 0)
		return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28;
	return days[month - 1];
}

/* n digits at s, as a number; -1 if they are not all digits. */
static int
field_digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

const char *
field_birthday(const char *s, int *year, int *month, int *day)
{
	const char *md;
	int y = 0, m, d;

	if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
		y = field_digits(s, 4);
		md = s + 5;
		if (y < 1900 || y > 2100)
			return "year out of range (1900-2100)";
	} else if (strlen(s) == 7 && s[0] == '-' && s[1] == '-' && s[4] == '-') {
		md = s + 2;	/* --MM-DD: the year is unknown */
	} else {
		return "not YYYY-MM-DD or --MM-DD";
	}
	m = field_digits(md, 2);
	d = field_digits(md + 3, 2);
	if (m < 1 || m > 12)
		return "no such month";
	if (d < 1 || d > field_month_days(y, m))
		return "no such day in that month";
	*year = y;
	*month = m;
	*day = d;
	return NULL;
}

void
field_format_birthday(int year, int month, int day, char *buf, size_t len)
{
	if (month == 0)
		snprintf(buf, len, "%s", "");
	else if (year == 0)
		snprintf(buf, len, "--%02d-%02d", month, day);
	else
		snprintf(buf, len, "%04d-%02d-%02d", year, month, day);
}

const char *
field_tier(const char *s, char *tier)
{
	if (strlen(s) != 1 || !strchr("ABCabc", s[0]))
		return "tier must be A, B or C";
	*tier = (char)toupper((unsigned char)s[0]);
	return NULL;
}

const char *
field_tz(const char *s)
{
	/* libical also opens zoneinfo files by path: only names pass. */
	if (!*s || s[0] == '/' || strstr(s, ".."))
		return "not a time zone name";
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
			return "not a time zone name";
	if (!icaltimezone_get_builtin_timezone(s))
		return "unknown time zone";
	return NULL;
}

const char *
field_lang(const char *s, char *out, size_t len)
{
	size_t n = 0;

	/* BCP 47: a primary subtag of 2-3 letters, then subtags we drop,
	 * because templates are chosen by the primary one (name.ko.md). */
	while (isalpha((unsigned char)s[n]))
		n++;
	if (n < 2 || n > 3 || n >= len || (s[n] && s[n] != '-' && s[n] != '_'))
		return "not a language tag (en, ko, zh-Hant, ...)";
	for (const char *p = s + n; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return "not a language tag (en, ko, zh-Hant, ...)";
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return NULL;
}

const char *
field_yesno(const char *s, bool *v)
{
	if (!strcasecmp(s, "yes") || !strcasecmp(s, "y") || !strcasecmp(s, "true") ||
	    !strcmp(s, "1")) {
		*v = true;
		return NULL;
	}
	if (!strcasecmp(s, "no") || !strcasecmp(s, "n") || !strcasecmp(s, "false") ||
	    !strcmp(s, "0")) {
		*v = false;
		return NULL;
	}
	return "must be yes or no";
}

const char *
field_tag(const char *s)
{
	size_t n = strlen(s);

	/* Audiences are written "tag:a and not tag:b": a tag is one word. */
	if (n == 0 || n > 64)
		return "a tag is 1 to 64 bytes";
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr(",;:()\"'", *p))
			return "a tag has no spaces or any of ,;:()\"'";
	return NULL;
}

char *
field_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
	    s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}
