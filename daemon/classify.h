/*
 * Classification of a parsed message (message.h): pure functions, no
 * store, no network.  The linker calls classify_message() on each ingested
 * message and turns the result into signals:
 *
 *   auto-reply   Auto-Submitted other than "no", X-Autoreply/X-Autorespond,
 *                Precedence bulk/junk/auto_reply, or an out-of-office
 *                subject (English, Korean, Chinese, a few more).  Never a
 *                customer's reply.
 *   list         List-Id present or Precedence: list.  Decision: a list
 *                message is NOT an auto-reply (a person wrote it), so
 *                "list" alone does not stop a follow-up if the linker
 *                counts it as a reply; the linker decides whether list
 *                traffic counts at all (we suggest: only when it threads
 *                to our own message).
 *   bounce       a DSN (multipart/report; report-type=delivery-status, the
 *                recipients whose Action is "failed"; "delayed" is not a
 *                bounce), or a non-DSN failure notice: From MAILER-DAEMON/
 *                postmaster (or Return-Path <>) with a failure subject or
 *                X-Failed-Recipients; the failed address is then read from
 *                X-Failed-Recipients or the first text.  A person
 *                forwarding or quoting a bounce is never a bounce.
 *   unsubscribe  "unsubscribe", "수신거부", "退订", "取消订阅" (and the
 *                traditional forms) in the subject or in the first
 *                non-quoted line of the text (a short line), or mail to a
 *                configured unsubscribe address (the only rule for list
 *                mail: "unsubscribe" sent to a list is for that list).  A word later in the text
 *                does not count; auto-replies and bounces never count.
 *   sale         the first configured rule whose From glob and subject
 *                pattern both match.
 */
#ifndef RAPPORT_CLASSIFY_H
#define RAPPORT_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "message.h"

/* A sale rule from the config.  NULL from_glob or subject: matches any. */
struct classify_sale_rule {
	const char	*name;		/* recorded as the "why" */
	const char	*from_glob;	/* fnmatch(3), case-insensitive, on
					 * the normalized From address */
	const char	*subject;	/* substring, case-insensitive, or */
	bool		 subject_regex;	/* a POSIX extended regex (icase) */
};

struct classify_rules;

/*
 * Compiles the configuration (copied: the caller's arrays may go).
 * Returns NULL with a message in err if a regex does not compile.
 */
struct classify_rules *classify_rules_new(const char *const *unsub_addrs,
    size_t nunsub, const struct classify_sale_rule *sale, size_t nsale,
    char *err, size_t errlen);
void classify_rules_free(struct classify_rules *rules);

enum classify_flag {
	CLASSIFY_AUTO_REPLY	= 1 << 0,
	CLASSIFY_LIST		= 1 << 1,
	CLASSIFY_BOUNCE		= 1 << 2,
	CLASSIFY_UNSUBSCRIBE	= 1 << 3,
	CLASSIFY_SALE		= 1 << 4,
};

struct classify_bounce {
	char	*addr;		/* normalized failed recipient */
	char	*status;	/* "5.1.1", or NULL if not given */
	char	*reason;	/* one line of the server's words, UTF-8 */
};

struct classify_result {
	unsigned		 flags;		/* enum classify_flag */
	/* Static strings naming the rule that fired, NULL otherwise. */
	const char		*auto_reply_why;
	const char		*bounce_why;
	const char		*unsubscribe_why;
	struct classify_bounce	*bounces;	/* owned by the result */
	size_t			 nbounces;
	int			 sale_rule;	/* index, or -1 */
	const char		*sale_rule_name; /* points into rules */
};

/* rules may be NULL (no unsubscribe address, no sale rule). */
void classify_message(const struct message *m,
    const struct classify_rules *rules, struct classify_result *r);
void classify_result_free(struct classify_result *r);

/*
 * Whether a rule would read the first text: possible bounces, and
 * replies (In-Reply-To set, not automatic) whose first line may ask to
 * unsubscribe.  The connector also fetches it for first messages of new
 * correspondents, which only the linker knows.
 */
bool classify_needs_body(const struct message *m);

#endif
