/*
 * The value syntaxes of rapport.conf, as pure functions of a string, so that
 * config.c only maps keys to fields.  Each parser returns 0, or -1 with a
 * short reason in why (naming the offending token, never a whole value: a
 * value may be a secret).  Nothing is written to the outputs on error.
 */
#ifndef RAPPORT_CONFIG_VALUE_H
#define RAPPORT_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>

/* yes/no, true/false, on/off, 1/0 (any case). */
int config_value_bool(const char *s, bool *out, char *why, size_t whylen);

/*
 * One or more NUMBER+UNIT groups ("2w", "1h30m") with units s, m, h, d, w;
 * a bare number counts in bare_unit seconds.  At most ten years.
 */
int config_value_duration(const char *s, long long bare_unit, long long *secs,
    char *why, size_t whylen);

/* "H:MM" or "HH:MM" as minutes after midnight; "24:00" only if allow_24. */
int config_value_hhmm(const char *s, bool allow_24, int *minutes,
    char *why, size_t whylen);

/* "HH:MM-HH:MM"; the end may be 24:00; start == end is refused, and a
 * range across midnight (20:00-08:00) only if allow_wrap. */
int config_value_timerange(const char *s, bool allow_wrap, int *start,
    int *end, char *why, size_t whylen);

/* "20/min 1000/day", "20/s", "0" or "unlimited"; 0 in an output: no limit. */
int config_value_budget(const char *s, int *per_minute, int *per_day,
    char *why, size_t whylen);

/* "A:30d B:90d C:365d" (bare numbers are days; "never" or 0 for none).
 * A tier left out is never visited. */
int config_value_cadence(const char *s, int days[3], char *why, size_t whylen);

/* "Mon-Fri 09:00-17:00", "Mon,Wed,Fri 10:00-16:00"; bit 0 is Monday. */
int config_value_hours(const char *s, unsigned *days, int *start, int *end,
    char *why, size_t whylen);

/*
 * Items separated by blanks or commas; "double quotes" keep blanks and
 * commas inside one item ("Sent Items"), with \" and \\ escapes there.
 * *items is malloc'd (NULL when empty), free with config_value_list_free().
 */
int config_value_list(const char *s, char ***items, size_t *n,
    char *why, size_t whylen);
void config_value_list_free(char **items, size_t n);

/*
 * scheme://host[:port][/path] with an IPv6 host in brackets.  The scheme
 * and host come back lowercased (malloc'd); *port is 0 when not given.
 * A user name or password inside the url is refused: they would leak into
 * logs.
 */
int config_value_url(const char *s, char **scheme, char **host, int *port,
    char *why, size_t whylen);

#endif
