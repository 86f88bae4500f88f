#include "strset.h"

#include <stdlib.h>
#include <strings.h>

#include "xmalloc.h"

void
strset_add(struct strset *s, const char *v)
{
	s->v = xreallocarray(s->v, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = xstrdup(v);
}

bool
strset_has(const struct strset *s, const char *v)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcasecmp(s->v[i], v) == 0)
			return true;
	return false;
}

void
strset_free(struct strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}
