/*
 * The daily agenda: at [agenda] hour (local time of [rapport] timezone),
 * one email to the user ([agenda] to, default [rapport] from) in [agenda]
 * lang, from the template "agenda" (agenda.md, agenda.ko.md, ...), that
 * lists the day's meetings in time order, each with its customers'
 * context, and carries an .ics attachment of the day's visits.
 *
 * Which meetings: events of every synced calendar that start in the
 * local day, not cancelled, not declined by the user (any of the user's
 * own addresses, as the linker knows them).  For each linked customer:
 * the last contact before the meeting and its subject, the open outbox
 * rows (follow-ups, cards) planned for them, a birthday within 7 days,
 * the people they referred.  The visits of the .ics: the day's meetings
 * linked to a customer and rapport's visit proposals (proposed or
 * moved), in UTC.
 *
 * Once a day: the day is claimed in the store (store_agenda.h) before
 * anything is sent, so a restart, a second --once or a second sending
 * thread sends nothing more; a crash between the server's 250 and the
 * commit resends with the same Message-ID after the claim's lease.  A day
 * without meetings sends nothing: it is recorded as "empty" and logged.
 * A daemon started after the hour still sends that day's agenda; a day
 * the daemon missed altogether is not sent later.
 *
 * Everything handed back belongs to the caller.
 */
#ifndef RAPPORT_AGENDA_H
#define RAPPORT_AGENDA_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct config;
struct json;
struct smtp_account;
struct store;
struct template_set;

/* The template the agenda is rendered from (NAME.LANG.md). */
#define AGENDA_TEMPLATE	"agenda"

struct agenda {
	char		 date[16];	/* the local day, YYYY-MM-DD */
	int64_t		 from, to;	/* its bounds, UTC */
	size_t		 nmeetings;
	size_t		 nvisits;	/* VEVENTs in the .ics */
	struct strbuf	 items;		/* {{agenda.items}}: plain text lines */
	struct strbuf	 ics;		/* the VCALENDAR, CRLF */
	struct json	*json;		/* the caller's, or NULL: see below */
};

void agenda_init(struct agenda *a);
void agenda_free(struct agenda *a);

/*
 * Composes the agenda of the local day (in cfg->timezone) that holds the
 * instant day, with labels in lang (en, ko, zh; others read as en).
 * Returns 0, or -1 with one line in err (a store failure).
 */
int agenda_compose(struct store *st, const struct config *cfg, int64_t day,
    const char *lang, struct agenda *a, char *err, size_t errlen);
/*
 * With a->json set (rapportctl agenda --json), agenda_compose() also
 * writes the day's model, from the same reads as the text, as two
 * members of the JSON object the caller has open: "meetings", each
 * {uid, start, end, all_day, summary, location, customers: [{id, name,
 * company, last_contact: {at, subject} | null, followups: [{kind,
 * template, due}], birthday: {month, day, in_days} | null, referred:
 * [names]}]}, and "visits", the proposals in the .ics, each {uid,
 * customer, start, end, state}.  Times are UTC (ISO 8601), lists whole.
 */

/*
 * The whole message (CRLF) for a composed agenda: the template in
 * cfg->agenda.lang, From the account's from (acct may be NULL) or
 * [rapport] from, To the agenda's recipient, the .ics attached.
 * *rcpt and *from (envelope addresses) are fresh strings.
 * Returns 0, or -1 with one line in err.
 */
int agenda_build(const struct config *cfg, const struct smtp_account *acct,
    const struct template_set *set, const struct agenda *a,
    const char *message_id, int64_t now, struct strbuf *out, char **rcpt,
    char **from, char *err, size_t errlen);

/*
 * The address the agenda goes to ([agenda] to, else [rapport] from), a
 * fresh string, or NULL if there is none.
 */
char *agenda_recipient(const struct config *cfg);

/*
 * The sender's hook, called before each sending pass: sends today's
 * agenda if the hour has come and the day is not done, over its own
 * SMTP connection on acct (only the first [smtp] account sends it), or
 * into [send] dry_run.  Returns 0, or -1 when it must be tried again
 * later (store or connection trouble; logged).
 */
int agenda_tick(struct store *st, const struct config *cfg,
    const struct smtp_account *acct, const struct template_set *set,
    int64_t now);

#endif
