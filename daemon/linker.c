#include "linker.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "strset.h"
#include "xmalloc.h"

struct linker {
	bool		fold_plus;
	bool		company_by_domain;
	struct strset	own;		/* own addresses */
	struct strset	own_domains;
	struct strset	free_mail;
};

int
linker_normalize(const struct linker *lk, const char *addr, char *out,
    size_t outlen)
{
	return address_normalize(addr, lk->fold_plus, out, outlen);
}

/* Adds an address to the own set if it normalizes; "Name <addr>" forms
 * (like [rapport] from) contribute their addr-spec. */
static void
linker_add_own(struct linker *lk, const char *text)
{
	char norm[MESSAGE_ADDR_MAX + 1], spec[MESSAGE_ADDR_MAX + 1];
	const char *lt, *gt;

	if (text == NULL)
		return;
	lt = strrchr(text, '<');
	gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt && (size_t)(gt - lt - 1) < sizeof(spec)) {
		memcpy(spec, lt + 1, (size_t)(gt - lt - 1));
		spec[gt - lt - 1] = '\0';
		text = spec;
	}
	if (linker_normalize(lk, text, norm, sizeof(norm)) == 0 &&
	    !strset_has(&lk->own, norm))
		strset_add(&lk->own, norm);
}

struct linker *
linker_new(const struct config *cfg)
{
	struct linker *lk = xcalloc(1, sizeof(*lk));

	lk->fold_plus = cfg->link.fold_plus;
	lk->company_by_domain = cfg->link.company_by_domain;
	linker_add_own(lk, cfg->from);
	for (size_t i = 0; i < cfg->n_imap; i++)
		linker_add_own(lk, cfg->imap[i].ep.user);
	for (size_t i = 0; i < cfg->n_smtp; i++) {
		linker_add_own(lk, cfg->smtp[i].ep.user);
		linker_add_own(lk, cfg->smtp[i].from);
	}
	for (size_t i = 0; i < cfg->link.n_aliases; i++)
		linker_add_own(lk, cfg->link.aliases[i]);
	for (size_t i = 0; i < cfg->link.n_own_domains; i++)
		strset_add(&lk->own_domains, cfg->link.own_domains[i]);
	for (size_t i = 0; i < cfg->link.n_free_mail; i++)
		strset_add(&lk->free_mail, cfg->link.free_mail[i]);
	return lk;
}

void
linker_free(struct linker *lk)
{
	if (lk == NULL)
		return;
	strset_free(&lk->own);
	strset_free(&lk->own_domains);
	strset_free(&lk->free_mail);
	free(lk);
}

bool
linker_is_own(const struct linker *lk, const char *addr)
{
	return strset_has(&lk->own, addr);
}

static bool
result_has_customer(const struct linker_result *r, int64_t id)
{
	for (size_t i = 0; i < r->nlinks; i++)
		if (r->links[i].customer_id == id)
			return true;
	return false;
}

/* Links are added strongest rule first, so the first link of a customer
 * is the one that explains it; weaker ones for the same customer are
 * dropped. */
static void
result_link(struct linker_result *r, int64_t id, const char *rule,
    const char *detail)
{
	struct linker_link *l;

	if (result_has_customer(r, id))
		return;
	r->links = xreallocarray(r->links, r->nlinks + 1, sizeof(*r->links));
	l = &r->links[r->nlinks++];
	l->customer_id = id;
	l->rule = rule;
	l->detail = xstrdup(detail);
}

static void
result_review(struct linker_result *r, const char *what, const int64_t *ids,
    size_t n)
{
	struct linker_review *rv;

	for (size_t i = 0; i < r->nreviews; i++)
		if (strcmp(r->reviews[i].address, what) == 0)
			return;
	r->reviews = xreallocarray(r->reviews, r->nreviews + 1,
	    sizeof(*r->reviews));
	rv = &r->reviews[r->nreviews++];
	rv->address = xstrdup(what);
	rv->nids = n < LINKER_IDS_MAX ? n : LINKER_IDS_MAX;
	memcpy(rv->ids, ids, rv->nids * sizeof(*ids));
}

static void
result_unknown(struct linker_result *r, const char *addr)
{
	for (size_t i = 0; i < r->nunknown; i++)
		if (strcmp(r->unknown[i], addr) == 0)
			return;
	r->unknown = xreallocarray(r->unknown, r->nunknown + 1,
	    sizeof(*r->unknown));
	r->unknown[r->nunknown++] = xstrdup(addr);
}

/* The company rule: a domain that is neither free mail nor our own, held
 * by exactly one customer. */
static bool
link_by_domain(const struct linker *lk, const struct linker_lookup *lu,
    const char *addr, struct linker_result *r)
{
	int64_t ids[LINKER_IDS_MAX];
	const char *dom = address_domain(addr);
	size_t n;

	if (!lk->company_by_domain || lu->by_domain == NULL ||
	    strset_has(&lk->free_mail, dom) || strset_has(&lk->own_domains, dom))
		return false;
	n = lu->by_domain(lu->ctx, dom, ids, LINKER_IDS_MAX);
	if (n == 1)
		result_link(r, ids[0], "domain:company", dom);
	else if (n > 1)
		result_review(r, dom, ids, n);
	return n > 0;
}

/*
 * One participant list.  Returns the customer the first address of the
 * list was linked to (the author, for From and Reply-To), or 0.
 */
static int64_t
link_list(const struct linker *lk, const struct linker_lookup *lu,
    const struct message_addrlist *list, const char *rule, bool note_unknown,
    struct linker_result *r)
{
	int64_t ids[LINKER_IDS_MAX], first = 0;
	char norm[MESSAGE_ADDR_MAX + 1];

	for (size_t i = 0; i < list->n; i++) {
		size_t n;

		if (linker_normalize(lk, list->v[i].addr, norm, sizeof(norm)) < 0 ||
		    linker_is_own(lk, norm))
			continue;
		n = lu->by_address(lu->ctx, norm, ids, LINKER_IDS_MAX);
		if (n == 1) {
			result_link(r, ids[0], rule, norm);
			if (first == 0)
				first = ids[0];
		} else if (n > 1) {
			result_review(r, norm, ids, n);
		} else if (!link_by_domain(lk, lu, norm, r) && note_unknown) {
			result_unknown(r, norm);
		}
	}
	return first;
}

/* Thread fallback: the message answers one already linked. */
static void
link_thread(const struct message *m, const struct linker_lookup *lu,
    struct linker_result *r)
{
	int64_t ids[LINKER_IDS_MAX];
	size_t n;

	if (lu->by_message_id == NULL)
		return;
	if (m->in_reply_to != NULL) {
		n = lu->by_message_id(lu->ctx, m->in_reply_to, ids, LINKER_IDS_MAX);
		for (size_t i = 0; i < n && i < LINKER_IDS_MAX; i++)
			result_link(r, ids[i], "thread:in-reply-to", m->in_reply_to);
		if (n > 0)
			return;
	}
	/* References are oldest first: the newest is the closest ancestor. */
	for (size_t k = m->nreferences; k-- > 0;) {
		n = lu->by_message_id(lu->ctx, m->references[k], ids,
		    LINKER_IDS_MAX);
		for (size_t i = 0; i < n && i < LINKER_IDS_MAX; i++)
			result_link(r, ids[i], "thread:references",
			    m->references[k]);
		if (n > 0)
			return;
	}
}

static bool
message_from_own(const struct linker *lk, const struct message *m)
{
	char norm[MESSAGE_ADDR_MAX + 1];

	for (size_t i = 0; i < m->from.n; i++)
		if (linker_normalize(lk, m->from.v[i].addr, norm, sizeof(norm)) == 0 &&
		    linker_is_own(lk, norm))
			return true;
	return false;
}

int
linker_link(const struct linker *lk, const struct message *m,
    const struct classify_result *cls, bool in_sent_folder,
    const struct linker_lookup *lu, struct linker_result *out)
{
	unsigned flags = cls ? cls->flags : 0;

	memset(out, 0, sizeof(*out));
	out->outgoing = in_sent_folder || message_from_own(lk, m);
	if (!out->outgoing) {
		/* A bounce's From is a mailer daemon, never a correspondent. */
		bool person = !(flags & CLASSIFY_BOUNCE);

		out->author = link_list(lk, lu, &m->from, "address:from", person,
		    out);
		if (out->author == 0)
			out->author = link_list(lk, lu, &m->reply_to,
			    "address:reply-to", false, out);
		else
			link_list(lk, lu, &m->reply_to, "address:reply-to", false,
			    out);
	}
	link_list(lk, lu, &m->to, "address:to", out->outgoing, out);
	link_list(lk, lu, &m->cc, "address:cc", out->outgoing, out);
	if (out->nlinks == 0 && out->nreviews == 0)
		link_thread(m, lu, out);
	out->reply = !out->outgoing && out->author != 0 &&
	    !(flags & (CLASSIFY_AUTO_REPLY | CLASSIFY_BOUNCE));
	return 0;
}

void
linker_relink_thread(const struct message *m, const struct linker_lookup *lu,
    struct linker_result *r)
{
	if (r->nreviews > 0)
		return;
	for (size_t i = 0; i < r->nlinks; i++)
		if (strncmp(r->links[i].rule, "thread:", 7) != 0)
			return;
	for (size_t i = 0; i < r->nlinks; i++)
		free(r->links[i].detail);
	r->nlinks = 0;
	link_thread(m, lu, r);
}

void
linker_result_free(struct linker_result *r)
{
	for (size_t i = 0; i < r->nlinks; i++)
		free(r->links[i].detail);
	free(r->links);
	for (size_t i = 0; i < r->nreviews; i++)
		free(r->reviews[i].address);
	free(r->reviews);
	for (size_t i = 0; i < r->nunknown; i++)
		free(r->unknown[i]);
	free(r->unknown);
	memset(r, 0, sizeof(*r));
}
