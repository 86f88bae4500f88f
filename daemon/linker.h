/*
 * The linker decides which customers a parsed message concerns, and by
 * which rule, so that every link can be explained later
 * (`rapportctl timeline ADDR --why`).  Pure logic: the store is reached only
 * through the lookup callbacks, so the decisions are unit-tested on
 * fixture messages without a database.
 *
 * Rules, strongest first:
 *   address:from, address:reply-to, address:to, address:cc
 *       a participant's normalized address belongs to exactly one customer;
 *   domain:company
 *       (only with [link] company_by_domain) no address matched, and the
 *       participant's domain belongs to exactly one customer; never for
 *       free-mail domains or the user's own domains;
 *   thread:in-reply-to, thread:references
 *       no participant matched, and an earlier linked message is the one
 *       this one answers.
 * An address or domain that belongs to several customers is not linked to
 * any of them: it goes to the review list.
 *
 * A message from one of the user's own addresses (or found in a Sent
 * folder) is outreach: its recipients are linked, and it is never a reply.
 */
#ifndef RAPPORT_LINKER_H
#define RAPPORT_LINKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classify.h"
#include "config.h"
#include "message.h"

/* At most this many customers are looked at per address or thread id. */
#define LINKER_IDS_MAX	8

struct linker_lookup {
	void	*ctx;
	/* Customers owning a normalized address; returns how many (may be
	 * more than max: only max are written). */
	size_t	(*by_address)(void *ctx, const char *addr, int64_t *ids,
		    size_t max);
	/* Customers linked to an earlier message with this Message-ID. */
	size_t	(*by_message_id)(void *ctx, const char *msgid, int64_t *ids,
		    size_t max);
	/* Customers with an address at this domain (company rule); may be
	 * NULL when the rule is off. */
	size_t	(*by_domain)(void *ctx, const char *domain, int64_t *ids,
		    size_t max);
};

struct linker;

/*
 * Builds the linker's view of the configuration: the user's own
 * addresses (the accounts' users that are addresses, [rapport] from,
 * [link] aliases), own domains, free-mail domains, +tag folding.
 */
struct linker *linker_new(const struct config *cfg);
void linker_free(struct linker *lk);
/* Whether a normalized address is one of the user's own. */
bool linker_is_own(const struct linker *lk, const char *addr);
/* Normalizes an address as the linker does ([link] fold_plus). */
int linker_normalize(const struct linker *lk, const char *addr, char *out,
    size_t outlen);

struct linker_link {
	int64_t		 customer_id;
	const char	*rule;		/* static: "address:from", ... */
	char		*detail;	/* the address, domain or Message-ID */
};

struct linker_review {
	char		*address;	/* the shared address or domain */
	int64_t		 ids[LINKER_IDS_MAX];
	size_t		 nids;
};

struct linker_result {
	bool			 outgoing;
	/* The customer who wrote it (From or Reply-To matched), 0: none. */
	int64_t			 author;
	/* The author's message counts as a reply (not outgoing, not an
	 * auto-reply, not a bounce). */
	bool			 reply;
	struct linker_link	*links;
	size_t			 nlinks;
	struct linker_review	*reviews;
	size_t			 nreviews;
	/* Correspondents that are nobody's address yet (incoming: From;
	 * outgoing: recipients): candidates for a new customer. */
	char			**unknown;
	size_t			 nunknown;
};

/*
 * Links m.  in_sent_folder: the connector found it in a folder holding the
 * user's outreach.  cls may be NULL (not classified).  Returns 0; out must
 * be released with linker_result_free().
 */
int linker_link(const struct linker *lk, const struct message *m,
    const struct classify_result *cls, bool in_sent_folder,
    const struct linker_lookup *lu, struct linker_result *out);
void linker_result_free(struct linker_result *r);

/*
 * Redoes the thread fallback of r, a result of linker_link() on the same
 * m with the same lookups, whose address answers still hold: an earlier
 * message of the same batch may have been stored and linked since.  Only
 * a result without address links or reviews has thread links; they are
 * replaced.  Saves linking m twice.
 */
void linker_relink_thread(const struct message *m,
    const struct linker_lookup *lu, struct linker_result *r);

#endif
