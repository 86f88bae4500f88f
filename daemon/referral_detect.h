/*
 * Referral detection: which messages and meetings show an existing
 * customer bringing a new person.  Pure logic, like the linker: the store
 * is reached only through the lookup callbacks, so every rule is tested on
 * fixture messages without a database.
 *
 * Rules (each candidate names its rule and keeps the evidence):
 *   intro:customer-to-new     an existing customer writes to the user with
 *                             a new address on To/Cc.  Strong with
 *                             introduction phrasing ("let me introduce",
 *                             "소개해 드립니다", "介绍一下", ...; not one
 *                             the writer thanks the user for), weak with
 *                             only a loose stem or without (then only a
 *                             new person at another organisation counts,
 *                             never in a reply, and words such as "my
 *                             assistant" veto it).
 *   intro:new-cc-customer     a new person writes with an existing
 *                             customer on To/Cc.  Strong with introduction
 *                             or referral phrasing, weak with a loose stem
 *                             or without (never in a reply without).
 *   mention:address           a new person's first message names a
 *                             customer's address next to referral words
 *                             ("referred by", "소개로", "推荐", ...): strong.
 *   mention:name              the same by name, before or after the words
 *                             (Latin or CJK, particles and titles around
 *                             it harmless): strong when the lookup reports
 *                             an exact full name, weak otherwise, and weak
 *                             when found only through a pronoun ("Anna
 *                             Rossi is my aunt; she sent me your way").
 *   meeting:customer-with-new a meeting's attendees include an existing
 *                             customer and a new person with no earlier
 *                             history: weak.
 * Never a referral: outgoing mail, auto-replies, bounces, mailing lists,
 * bulk mail (Precedence bulk, or more than max_recipients on To/Cc), the
 * user's own addresses and own domains, a new address that already has
 * history (a reply-all thread), and self-referral (the same display name,
 * the same non-generic local part, or - with [link] company_by_domain -
 * the same non-free-mail domain).
 *
 * Text is scanned only in the first text (message.excerpt, at most 4 KiB)
 * and the subject, up to the first quoted line or "On ... wrote:" header.
 */
#ifndef RAPPORT_REFERRAL_DETECT_H
#define RAPPORT_REFERRAL_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classify.h"
#include "config.h"
#include "linker.h"
#include "message.h"

/* More recipients than this (To + Cc) make a message bulk. */
#define REFERRAL_RECIPIENTS_MAX	5
/* More attendees than this make a meeting an event, not an introduction. */
#define REFERRAL_ATTENDEES_MAX	8
/* Bytes of text kept as evidence (cut on a UTF-8 boundary). */
#define REFERRAL_EVIDENCE_MAX	240

/* How well a name in the text matched a customer. */
enum referral_match {
	REFERRAL_MATCH_NONE = 0,
	REFERRAL_MATCH_PARTIAL,	/* first name only, surname + title, ... */
	REFERRAL_MATCH_EXACT,	/* the customer's full name */
	REFERRAL_MATCH_ADDRESS,	/* the customer's address */
};

struct referral_lookup {
	void	*ctx;
	/* Customers owning a normalized address (as linker_lookup). */
	size_t	(*by_address)(void *ctx, const char *addr, int64_t *ids,
		    size_t max);
	/* Customers whose name matches name (UTF-8 as written in the text,
	 * e.g. "Anna Schmidt", "김민준", "张伟", "Anna"); *match set to
	 * EXACT for a full name (case and spacing ignored), PARTIAL for a
	 * given name or surname alone.  May be NULL: no name rule. */
	size_t	(*by_name)(void *ctx, const char *name, int64_t *ids,
		    size_t max, enum referral_match *match);
	/* Whether earlier messages or meetings with this normalized
	 * address exist (before the one being looked at). */
	bool	(*has_history)(void *ctx, const char *addr);
};

struct referral_candidate {
	int64_t		 referrer;	/* the customer who brought them */
	char		*referred_addr;	/* normalized address */
	char		*referred_name;	/* display name, or NULL */
	const char	*rule;		/* static: "intro:customer-to-new", ... */
	char		*evidence;	/* what matched, UTF-8, bounded */
	enum referral_match match;	/* for mention rules, else NONE */
	bool		 strong;	/* may be confirmed automatically */
};

/* All memory belongs to the list; free with referral_candidates_free(). */
struct referral_candidates {
	struct referral_candidate *v;
	size_t			   n;
};

struct referral_detector;

/*
 * Keeps the configuration it needs ([link] own_domains, free_mail,
 * company_by_domain) and lk, which must outlive the detector: the user's
 * own addresses and address folding are the linker's.
 */
struct referral_detector *referral_detector_new(const struct config *cfg,
    const struct linker *lk);
void referral_detector_free(struct referral_detector *d);

/*
 * Adds the candidates m shows to out (zeroed by the caller, or holding
 * earlier candidates).  cls and lr are m's classification and links (cls
 * may be NULL).  At most one candidate per referred address, the
 * strongest.  Returns how many were added.
 */
int referral_detect_message(const struct referral_detector *d,
    const struct message *m, const struct classify_result *cls,
    const struct linker_result *lr, const struct referral_lookup *lu,
    struct referral_candidates *out);

/*
 * The meeting rule.  organizer may be NULL; addresses need not be
 * normalized.  uid names the event in the evidence (may be NULL).
 * Returns how many candidates were added.
 */
int referral_detect_meeting(const struct referral_detector *d,
    const char *uid, const char *organizer, const char *const *attendees,
    size_t nattendees, const struct referral_lookup *lu,
    struct referral_candidates *out);

void referral_candidates_free(struct referral_candidates *c);

#endif
