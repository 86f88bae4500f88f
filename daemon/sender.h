/*
 * The sender: takes due outbox rows, checks again at send time whether
 * each may still go (suppression, do-not-contact, consent, replies),
 * waits out quiet hours and budgets, renders the template in the
 * customer's language and sends it over one reused SMTP connection per
 * thread.  It is a connector (sender_ops, kind "smtp"): one thread per
 * [smtp] account, which runs `connections` sending threads.
 *
 * The only resend risk is the window between the server's 250 and the
 * commit that marks the row sent; a resend then carries the same
 * Message-ID, fixed at the row's first claim.
 *
 * Rendering is shared with rapportctl (template preview, outbox next):
 * sender_render() and sender_check() read the store and never send.
 * Everything they hand back belongs to the caller.
 */
#ifndef RAPPORT_SENDER_H
#define RAPPORT_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct config;
struct connector_ops;
struct customer;
struct outbox_row;
struct smtp_account;
struct store;
struct template;
struct template_set;

extern const struct connector_ops sender_ops;

/* A row is leased for this long when claimed (seconds). */
#define SENDER_LEASE		600
/* 4xx backoff: 1 min doubling per attempt, capped at 6 hours. */
#define SENDER_RETRY_FIRST	60
#define SENDER_RETRY_MAX	(6 * 3600)

struct sender_env {
	const struct config		*cfg;
	const struct smtp_account	*acct;	/* NULL: [rapport] from */
	const struct template_set	*templates;
};

struct sender_message {
	struct strbuf		 data;		/* the whole message, CRLF */
	char			*recipient;	/* the address it goes to */
	char			*from_addr;	/* the envelope sender */
	const struct template	*tmpl;		/* the template chosen */
};

void sender_message_init(struct sender_message *m);
void sender_message_free(struct sender_message *m);

/*
 * Renders what row would send to its customer: the template in lang
 * (NULL: the customer's language, with the fallbacks of
 * template_set_get()), the variables from the customer, the sender and
 * the row's reference (sale, referral, event, message).  message_id NULL
 * stands for a preview id.  Returns 0, or -1 with one line in err.
 */
int sender_render(struct store *st, const struct sender_env *env,
    const struct outbox_row *row, const char *lang, const char *message_id,
    int64_t now, struct sender_message *out, char *err, size_t errlen);

/*
 * The checks made again at send time, for row going to customer c with
 * template t (may be NULL: not checked for replies): NULL if the message
 * may go, else why it is skipped ("suppressed: bounce", "do-not-contact",
 * "no newsletter consent", "replied", ...), in buf or static.
 * *error is set when the store failed (the answer is then meaningless).
 */
const char *sender_check(struct store *st, const struct sender_env *env,
    const struct outbox_row *row, const struct customer *c,
    const struct template *t, bool *error, char *buf, size_t len);

/* The delay after the n-th (1-based) temporary failure, seconds. */
int64_t sender_retry_delay(int attempts);

#endif
