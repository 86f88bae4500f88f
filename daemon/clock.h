/*
 * The one clock both programs use.  RAPPORT_NOW (ISO 8601, UTC "Z" or an
 * offset) pins it for tests and demos; otherwise it is the system clock.
 */
#ifndef RAPPORT_CLOCK_H
#define RAPPORT_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Reads RAPPORT_NOW once; -1 (with a message in err) if it is malformed. */
int clock_init(char *err, size_t errlen);
/* Seconds since the epoch, UTC. */
int64_t clock_now(void);
/*
 * Parses "YYYY-MM-DDTHH:MM[:SS](Z|±HH:MM)?" (no zone: UTC) or "YYYY-MM-DD"
 * (midnight UTC).  Returns 0, or -1 on anything else.
 */
int clock_parse_iso8601(const char *s, int64_t *out);
/* Formats as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). */
void clock_format_utc(int64_t t, char *buf, size_t len);

#endif
