/*
 * A small set of strings compared without regard to case, searched
 * linearly: a user's own addresses and domains, the free-mail list (a
 * few dozen).  Zero-initialize; strset_free() when done.
 */
#ifndef RAPPORT_STRSET_H
#define RAPPORT_STRSET_H

#include <stdbool.h>
#include <stddef.h>

struct strset {
	char	**v;
	size_t	  n;
};

void strset_add(struct strset *s, const char *v);
bool strset_has(const struct strset *s, const char *v);
void strset_free(struct strset *s);

#endif
