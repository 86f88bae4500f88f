/*
 * The discovery cursor's text (caldav_cache.h).  Lines of tab-separated
 * fields; a field's tab, newline, CR and percent sign are written %XX:
 *
 *	rapport-caldav-discovery 1
 *	config	URL	USER	CAL1	CAL2 ...
 *	at	UNIX-TIME
 *	cal	HREF	URL	NAME	COLOR	SYNC(0/1)
 */
#include "caldav_cache.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "strbuf.h"
#include "xmalloc.h"

#define CACHE_MAGIC	"rapport-caldav-discovery 1"
#define CACHE_FIELDS	8	/* at most, per line */

static void
add_field(struct strbuf *sb, const char *s)
{
	strbuf_addc(sb, '\t');
	for (; s != NULL && *s; s++) {
		if (*s == '\t' || *s == '\n' || *s == '\r' || *s == '%')
			strbuf_addf(sb, "%%%02X", (unsigned char)*s);
		else
			strbuf_addc(sb, *s);
	}
}

static void
add_config(struct strbuf *sb, const struct caldav_account *a)
{
	strbuf_adds(sb, "config");
	add_field(sb, a->ep.url);
	add_field(sb, a->ep.user);
	for (size_t i = 0; i < a->n_calendars; i++)
		add_field(sb, a->calendars[i]);
	strbuf_addc(sb, '\n');
}

char *
caldav_cache_encode(const struct caldav_account *a, int64_t at,
    const struct caldav_cal *cals, size_t n)
{
	struct strbuf sb;

	strbuf_init(&sb, 0);
	strbuf_adds(&sb, CACHE_MAGIC "\n");
	add_config(&sb, a);
	strbuf_addf(&sb, "at\t%" PRId64 "\n", at);
	for (size_t i = 0; i < n; i++) {
		strbuf_adds(&sb, "cal");
		add_field(&sb, cals[i].href);
		add_field(&sb, cals[i].url);
		add_field(&sb, cals[i].name);
		add_field(&sb, cals[i].color);
		add_field(&sb, cals[i].sync ? "1" : "0");
		strbuf_addc(&sb, '\n');
	}
	return strbuf_detach(&sb);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes the %XX of one field in place; -1 when malformed. */
static int
unescape(char *s)
{
	char *o = s;
	int hi, lo;

	for (; *s; s++) {
		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		if ((hi = hexval(s[1])) < 0 || (lo = hexval(s[2])) < 0)
			return -1;
		*o++ = (char)(hi << 4 | lo);
		s += 2;
	}
	*o = '\0';
	return 0;
}

/* Splits line (modified) at tabs into f; the count, or -1. */
static int
split(char *line, char **f)
{
	int n = 0;

	for (char *p = line;; n++) {
		char *tab = strchr(p, '\t');

		if (n == CACHE_FIELDS)
			return -1;
		if (tab != NULL)
			*tab = '\0';
		if (unescape(p) < 0)
			return -1;
		f[n] = p;
		if (tab == NULL)
			return n + 1;
		p = tab + 1;
	}
}

static void
cal_push(struct caldav_cal **cals, size_t *n, char **f)
{
	struct caldav_cal *c;

	*cals = xreallocarray(*cals, *n + 1, sizeof(**cals));
	c = &(*cals)[(*n)++];
	c->href = xstrdup(f[1]);
	c->url = xstrdup(f[2]);
	c->name = xstrdup(f[3]);
	c->color = *f[4] ? xstrdup(f[4]) : NULL;
	c->ctag = NULL;
	c->sync = strcmp(f[5], "1") == 0;
}

/* One line after the magic and config ones. */
static int
decode_line(char *line, int64_t *at, struct caldav_cal **cals, size_t *n)
{
	char *f[CACHE_FIELDS], *end;
	int nf = split(line, f);

	if (nf == 2 && strcmp(f[0], "at") == 0) {
		*at = strtoll(f[1], &end, 10);
		return *end == '\0' && end != f[1] ? 0 : -1;
	}
	if (nf == 6 && strcmp(f[0], "cal") == 0 && *f[1] && *f[2]) {
		cal_push(cals, n, f);
		return 0;
	}
	return -1;
}

int
caldav_cache_decode(const char *s, const struct caldav_account *a,
    int64_t *at, struct caldav_cal **cals, size_t *n)
{
	struct strbuf head;
	char *copy, *line, *next;
	size_t hlen;
	int rc = 0;

	*cals = NULL;
	*n = 0;
	*at = -1;
	if (s == NULL)
		return -1;
	strbuf_init(&head, 0);
	strbuf_adds(&head, CACHE_MAGIC "\n");
	add_config(&head, a);
	hlen = head.len;
	rc = strncmp(s, strbuf_str(&head), hlen) == 0 ? 0 : -1;
	strbuf_free(&head);
	if (rc < 0)
		return -1;
	copy = xstrdup(s + hlen);
	for (line = copy; rc == 0 && *line; line = next) {
		if ((next = strchr(line, '\n')) == NULL)
			next = line + strlen(line);
		else
			*next++ = '\0';
		rc = decode_line(line, at, cals, n);
	}
	free(copy);
	if (rc == 0 && (*at < 0 || *n == 0))
		rc = -1;
	if (rc < 0) {
		caldav_cals_free(*cals, *n);
		*cals = NULL;
		*n = 0;
	}
	return rc;
}

void
caldav_cals_free(struct caldav_cal *cals, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(cals[i].href);
		free(cals[i].url);
		free(cals[i].name);
		free(cals[i].color);
		free(cals[i].ctag);
	}
	free(cals);
}
