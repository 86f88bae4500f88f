/*
 * Allocation that never returns NULL: running out of memory is fatal for
 * rapport, every other failure is recoverable.  So NULL checks appear only
 * where they mean something (network, parsing, SQLite).
 */
#ifndef RAPPORT_XMALLOC_H
#define RAPPORT_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xstrdup, but NULL stays NULL. */
char *xstrdup_or_null(const char *s);
int xasprintf(char **ret, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int xvasprintf(char **ret, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#endif
