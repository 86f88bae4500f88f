/*
 * Referral rules on stored mail and meetings (referral_ingest.h).
 */
#include "referral_ingest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "referral_detect.h"
#include "store_referral.h"
#include "xmalloc.h"

struct referral_ingest {
	struct store		 *st;
	struct referral_detector *d;
};

/* What the lookup needs to know of the object looked at. */
struct ingest_lookup {
	struct store	*st;
	int64_t		 before;	/* history is what is older */
	int64_t		 message;	/* the object itself: not history */
	int64_t		 event;
};

/* A failed lookup answers "nobody" (and "no history"): the rules then
 * find less, never more. */
static size_t
lookup_address(void *ctx, const char *addr, int64_t *ids, size_t max)
{
	struct ingest_lookup *l = ctx;
	size_t n = 0;

	if (store_customers_by_address(l->st, addr, ids, max, &n) != STORE_OK) {
		log_warnx("referral: address lookup: %s", store_errmsg(l->st));
		return 0;
	}
	return n;
}

static size_t
lookup_name(void *ctx, const char *name, int64_t *ids, size_t max,
    enum referral_match *match)
{
	struct ingest_lookup *l = ctx;
	size_t n = 0;
	bool exact = false;

	*match = REFERRAL_MATCH_NONE;
	if (store_referral_customers_by_name(l->st, name, ids, max, &n,
	    &exact) != STORE_OK) {
		log_warnx("referral: name lookup: %s", store_errmsg(l->st));
		return 0;
	}
	if (n > 0)
		*match = exact ? REFERRAL_MATCH_EXACT : REFERRAL_MATCH_PARTIAL;
	return n;
}

static bool
lookup_history(void *ctx, const char *addr)
{
	struct ingest_lookup *l = ctx;
	bool has = false;

	if (store_referral_has_history(l->st, addr, l->before, l->message,
	    l->event, &has) != STORE_OK) {
		log_warnx("referral: history lookup: %s", store_errmsg(l->st));
		return true;
	}
	return has;
}

static void
ingest_lookup_init(struct ingest_lookup *l, struct referral_lookup *lu)
{
	memset(lu, 0, sizeof(*lu));
	lu->ctx = l;
	lu->by_address = lookup_address;
	lu->by_name = lookup_name;
	lu->has_history = lookup_history;
}

static const char *
outcome_name(enum store_referral_outcome o)
{
	switch (o) {
	case STORE_REFERRAL_PENDING:
		return "pending";
	case STORE_REFERRAL_CONFIRMED:
		return "confirmed";
	default:
		return "unchanged";
	}
}

/* Records each candidate; what names the object in the log. */
static int
ingest_record(struct store *st, const struct referral_candidates *cs,
    const char *kind, int64_t object, int64_t at, const char *source,
    const char *what)
{
	int recorded = 0, failed = 0;

	for (size_t i = 0; i < cs->n; i++) {
		const struct referral_candidate *c = &cs->v[i];
		struct store_referral_candidate in = {
			.referrer_id = c->referrer,
			.referred_addr = c->referred_addr,
			.referred_name = c->referred_name,
			.at = at,
			.source = source,
			.rule = c->rule,
			.strong = c->strong,
			.evidence = c->evidence,
			.evidence_kind = kind,
			.evidence_id = object,
		};
		enum store_referral_outcome o;
		int64_t id = 0;

		if (store_referral_propose(st, &in, REFERRAL_AUTO_CONFIRM_STRONG,
		    &id, &o) != STORE_OK) {
			log_warnx("referral %s: rule=%s referrer=%" PRId64
			    " referred=%s: %s", what, c->rule, c->referrer,
			    c->referred_addr, store_errmsg(st));
			failed++;
			continue;
		}
		if (id == 0 || o == STORE_REFERRAL_UNCHANGED)
			continue;
		recorded++;
		log_info("referral %s: id=%" PRId64 " rule=%s %s referrer=%"
		    PRId64 " referred=%s: %s", what, id, c->rule,
		    c->strong ? "strong" : "weak", c->referrer,
		    c->referred_addr, outcome_name(o));
	}
	return failed ? -1 : recorded;
}

struct referral_ingest *
referral_ingest_new(struct store *st, const struct config *cfg,
    const struct linker *lk)
{
	struct referral_ingest *ri = xcalloc(1, sizeof(*ri));

	ri->st = st;
	ri->d = referral_detector_new(cfg, lk);
	return ri;
}

void
referral_ingest_free(struct referral_ingest *ri)
{
	if (ri == NULL)
		return;
	referral_detector_free(ri->d);
	free(ri);
}

int
referral_ingest_message(struct referral_ingest *ri,
    const struct store_message_in *in, bool is_new)
{
	struct store *st = ri->st;
	struct referral_candidates cs = { NULL, 0 };
	struct ingest_lookup l = { .st = st };
	struct referral_lookup lu;
	char what[64], *source;
	int rc;

	if (!is_new || in->msg == NULL || in->lr == NULL || in->lr->outgoing)
		return 0;
	if (store_referral_message(st, in->msg->message_id, &l.message,
	    &l.before) != STORE_OK) {
		log_warnx("referral: %s", store_errmsg(st));
		return -1;
	}
	ingest_lookup_init(&l, &lu);
	referral_detect_message(ri->d, in->msg, in->cls, in->lr, &lu, &cs);
	if (cs.n == 0)
		return 0;
	snprintf(what, sizeof(what), "message=%" PRId64, l.message);
	xasprintf(&source, "mail:%s", in->msg->message_id);
	rc = ingest_record(st, &cs, "message", l.message, l.before, source,
	    what);
	free(source);
	referral_candidates_free(&cs);
	return rc;
}

/* The occurrence that stands for the series, or NULL. */
static const struct event *
ingest_first_occurrence(const struct event_list *list)
{
	const struct event *first = NULL;

	for (size_t i = 0; i < list->n; i++) {
		const struct event *ev = &list->v[i];

		if (ev->status == EVENT_CANCELLED || ev->rapport_created)
			continue;
		if (first == NULL || ev->start < first->start)
			first = ev;
	}
	return first;
}

int
referral_ingest_events(struct referral_ingest *ri, const char *account,
    const char *calendar, const struct event_list *list)
{
	struct store *st = ri->st;
	struct referral_candidates cs = { NULL, 0 };
	const struct event *ev = ingest_first_occurrence(list);
	const char **att;
	struct ingest_lookup l = { .st = st };
	struct referral_lookup lu;
	char what[64], *source;
	int rc;

	if (ev == NULL || ev->nattendees == 0)
		return 0;
	if (store_referral_event(st, account, calendar, ev->uid,
	    ev->recurrence_id, &l.event) != STORE_OK) {
		log_warnx("referral: %s", store_errmsg(st));
		return -1;
	}
	l.before = ev->start;
	att = xcalloc(ev->nattendees, sizeof(*att));
	for (size_t i = 0; i < ev->nattendees; i++)
		att[i] = ev->attendees[i].addr;
	ingest_lookup_init(&l, &lu);
	referral_detect_meeting(ri->d, ev->uid, ev->organizer, att,
	    ev->nattendees, &lu, &cs);
	free(att);
	if (cs.n == 0)
		return 0;
	snprintf(what, sizeof(what), "event=%" PRId64, l.event);
	xasprintf(&source, "event:%s", ev->uid);
	rc = ingest_record(st, &cs, "event", l.event, ev->start, source, what);
	free(source);
	referral_candidates_free(&cs);
	return rc;
}
