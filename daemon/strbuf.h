/*
 * A growable string with an optional cap: buffers that hold network input
 * are created with a limit and refuse to grow past it.
 */
#ifndef RAPPORT_STRBUF_H
#define RAPPORT_STRBUF_H

#include <stddef.h>

struct strbuf {
	char	*buf;	/* always NUL-terminated once anything was added */
	size_t	 len;
	size_t	 cap;
	size_t	 limit;	/* 0: no limit */
};

void strbuf_init(struct strbuf *sb, size_t limit);
/* Each returns 0, or -1 when the limit would be exceeded (nothing added). */
int strbuf_add(struct strbuf *sb, const char *data, size_t len);
int strbuf_adds(struct strbuf *sb, const char *s);
int strbuf_addc(struct strbuf *sb, char c);
int strbuf_addf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void strbuf_reset(struct strbuf *sb);
/* The contents ("" if empty); stays owned by sb. */
const char *strbuf_str(const struct strbuf *sb);
/* Hands the contents to the caller (never NULL) and empties sb. */
char *strbuf_detach(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);

#endif
