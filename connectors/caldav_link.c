/*
 * Linking calendar events to customers (caldav_link.h).
 */
#include "caldav_link.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

#define NAME_MIN_BYTES		6	/* a one-word name must be this long */
#define NAME_MAX_BYTES		256

struct name_entry {
	char	*key;		/* first word, ASCII lowercase */
	char	*lname;		/* whole name, ASCII lowercase */
	size_t	 len;
	int64_t	 id;
	bool	 shared;	/* another customer has this name */
};

struct caldav_linker {
	const struct linker		*lk;
	const struct linker_lookup	*lu;
	struct name_entry		*names;
	size_t				 n, cap;
};

struct caldav_linker *
caldav_linker_new(const struct linker *lk, const struct linker_lookup *lu)
{
	struct caldav_linker *cl = xcalloc(1, sizeof(*cl));

	cl->lk = lk;
	cl->lu = lu;
	return cl;
}

void
caldav_linker_free(struct caldav_linker *cl)
{
	if (cl == NULL)
		return;
	for (size_t i = 0; i < cl->n; i++) {
		free(cl->names[i].key);
		free(cl->names[i].lname);
	}
	free(cl->names);
	free(cl);
}

/* Word characters: ASCII letters and digits, and every non-ASCII byte. */
static bool
word_char(unsigned char c)
{
	return c >= 0x80 || isalnum(c);
}

static char *
lower_dup(const char *s, size_t n)
{
	char *d = xstrndup(s, n);

	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

void
caldav_linker_add_name(struct caldav_linker *cl, int64_t id, const char *name)
{
	struct name_entry *e;
	size_t len, first;

	while (*name != '\0' && !word_char((unsigned char)*name))
		name++;
	len = strlen(name);
	while (len > 0 && !word_char((unsigned char)name[len - 1]))
		len--;
	if (len == 0 || len > NAME_MAX_BYTES)
		return;
	for (first = 0; first < len && word_char((unsigned char)name[first]);)
		first++;
	if (first == len && len < NAME_MIN_BYTES)
		return;	/* "Kim", "Lee": too common to mean anyone */
	if (cl->n == cl->cap) {
		cl->cap = cl->cap ? cl->cap * 2 : 64;
		cl->names = xreallocarray(cl->names, cl->cap,
		    sizeof(*cl->names));
	}
	e = &cl->names[cl->n++];
	e->key = lower_dup(name, first);
	e->lname = lower_dup(name, len);
	e->len = len;
	e->id = id;
	e->shared = false;
}

static int
name_cmp(const void *a, const void *b)
{
	const struct name_entry *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c != 0 ? c : strcmp(x->lname, y->lname);
}

void
caldav_linker_index(struct caldav_linker *cl)
{
	if (cl->n > 0)
		qsort(cl->names, cl->n, sizeof(*cl->names), name_cmp);
	for (size_t i = 1; i < cl->n; i++)
		if (strcmp(cl->names[i - 1].lname, cl->names[i].lname) == 0 &&
		    cl->names[i - 1].id != cl->names[i].id)
			cl->names[i - 1].shared = cl->names[i].shared = true;
}

/* ---- the links ---- */

static bool
links_have(const struct caldav_links *l, int64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].customer_id == id)
			return true;
	return false;
}

static void
links_add(struct caldav_links *l, int64_t id, const char *rule,
    const char *detail, size_t detail_len)
{
	if (links_have(l, id))
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
		l->details = xreallocarray(l->details, l->cap,
		    sizeof(*l->details));
	}
	l->details[l->n] = xstrndup(detail, detail_len);
	l->v[l->n].customer_id = id;
	l->v[l->n].rule = rule;
	l->v[l->n].detail = l->details[l->n];
	l->n++;
}

static void
links_clear(struct caldav_links *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->details[i]);
	l->n = 0;
}

void
caldav_links_free(struct caldav_links *l)
{
	links_clear(l);
	free(l->v);
	free(l->details);
	memset(l, 0, sizeof(*l));
}

static void
link_address(const struct caldav_linker *cl, const char *addr,
    const char *rule, struct caldav_links *out)
{
	char norm[EVENT_ADDR_MAX + 1];
	int64_t ids[LINKER_IDS_MAX];
	size_t n;

	if (addr == NULL ||
	    linker_normalize(cl->lk, addr, norm, sizeof(norm)) != 0 ||
	    linker_is_own(cl->lk, norm))
		return;
	n = cl->lu->by_address(cl->lu->ctx, norm, ids, LINKER_IDS_MAX);
	/* Addresses are unique to a customer; more is a store oddity. */
	if (n == 1)
		links_add(out, ids[0], rule, norm, strlen(norm));
}

/* The first entry whose key is word[0..len), or cl->n. */
static size_t
names_lower_bound(const struct caldav_linker *cl, const char *word,
    size_t len)
{
	size_t lo = 0, hi = cl->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strncmp(cl->names[mid].key, word, len);
		if (c == 0 && cl->names[mid].key[len] != '\0')
			c = 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
link_names_at(const struct caldav_linker *cl, const char *text, size_t at,
    size_t wlen, const char *rule, struct caldav_links *out)
{
	char word[NAME_MAX_BYTES + 1];
	const struct name_entry *e;
	size_t i;

	if (wlen > NAME_MAX_BYTES)
		return;
	for (i = 0; i < wlen; i++)
		word[i] = (char)tolower((unsigned char)text[at + i]);
	word[wlen] = '\0';
	for (i = names_lower_bound(cl, word, wlen); i < cl->n; i++) {
		e = &cl->names[i];
		if (strcmp(e->key, word) != 0)
			break;
		if (e->shared || strncasecmp(text + at, e->lname, e->len) != 0 ||
		    word_char((unsigned char)text[at + e->len]))
			continue;
		links_add(out, e->id, rule, text + at, e->len);
	}
}

static void
link_names(const struct caldav_linker *cl, const char *text,
    const char *rule, struct caldav_links *out)
{
	size_t i = 0, w;

	if (text == NULL || cl->n == 0)
		return;
	while (text[i] != '\0') {
		if (!word_char((unsigned char)text[i])) {
			i++;
			continue;
		}
		for (w = i; word_char((unsigned char)text[w]); w++)
			;
		link_names_at(cl, text, i, w - i, rule, out);
		i = w;
	}
}

void
caldav_link_event(const struct caldav_linker *cl, const struct event *ev,
    struct caldav_links *out)
{
	links_clear(out);
	link_address(cl, ev->organizer, EVENT_RULE_ORGANIZER, out);
	for (size_t i = 0; i < ev->nattendees; i++)
		link_address(cl, ev->attendees[i].addr, EVENT_RULE_ATTENDEE,
		    out);
	link_names(cl, ev->summary, EVENT_RULE_SUMMARY, out);
	link_names(cl, ev->location, EVENT_RULE_LOCATION, out);
}
