/*
 * Referral rules on fixture messages (tests/unit/referral/, one .eml each) in
 * English, Korean and Chinese, each hit next to the near misses that must
 * not count; the meeting rule on attendee lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "linker.h"
#include "referral_detect.h"
#include "tap.h"
#include "referral/fake_lookup.h"

static struct fake_db db;

struct expect {
	const char	*file;
	const char	*rule;		/* NULL: no candidate at all */
	int64_t		 referrer;
	const char	*referred;
	bool		 strong;
};

static const struct expect expects[] = {
	{ "en_intro_customer", "intro:customer-to-new", 1, "bob@newco.example", true },
	{ "en_cc_noword", "intro:customer-to-new", 2, "sara@othercorp.example", false },
	{ "en_referred_by_name", "mention:name", 1, "carl@fresh.example", true },
	{ "en_first_name", "mention:name", 2, "dana@fresh.example", false },
	{ "en_address", "mention:address", 1, "eve@fresh.example", true },
	{ "en_new_cc_customer", "intro:new-cc-customer", 2, "finn@fresh.example", true },
	{ "en_new_cc_noword", "intro:new-cc-customer", 8, "gil@fresh.example", false },
	{ "ko_intro_customer", "intro:customer-to-new", 3, "seoyeon@newmail.example", true },
	{ "ko_mention", "mention:name", 3, "jihoon@newmail.example", true },
	{ "ko_recommend", "mention:name", 3, "yuna@newmail.example", true },
	{ "zh_mention", "mention:name", 4, "lina@newmail.example", true },
	{ "zh_recommend", "mention:name", 5, "chenjing@newmail.example", true },
	{ "zh_intro_customer", "intro:customer-to-new", 4, "liuyang@newmail.example", true },
	{ "en_mutual", "mention:name", 1, "jana@fresh.example", true },
	{ "en_cant_stop", "mention:name", 8, "mia@fresh.example", true },
	{ "en_pronoun", "mention:name", 9, "hugo@fresh.example", false },
	{ "en_introduced_me", "mention:name", 2, "tomas@fresh.example", true },
	{ "ko_contact_given", "mention:name", 3, "daeun@newmail.example", true },
	{ "zh_thanks_to", "mention:name", 4, "luobin@newmail.example", true },
	{ "zh_friend_of", "mention:name", 5, "yuyang@newmail.example", true },
	{ "neg_reply_new_cc", NULL, 0, NULL, false },
	/* The user made that introduction: the words do not make it strong
	 * (a stranger copied in still goes to the review list). */
	{ "neg_thanked_intro", "intro:customer-to-new", 2, "mark@blum-tax.example",
	    false },
	{ "neg_vendor_recommend", NULL, 0, NULL, false },
	{ "neg_newsletter", NULL, 0, NULL, false },
	{ "neg_bulk", NULL, 0, NULL, false },
	{ "neg_reply_all", NULL, 0, NULL, false },
	{ "neg_auto_reply", NULL, 0, NULL, false },
	{ "neg_list", NULL, 0, NULL, false },
	{ "neg_colleague_cc", NULL, 0, NULL, false },
	{ "neg_colleague_from", NULL, 0, NULL, false },
	{ "neg_self_name", NULL, 0, NULL, false },
	{ "neg_self_local", NULL, 0, NULL, false },
	{ "neg_same_domain_noword", NULL, 0, NULL, false },
	{ "neg_assistant", NULL, 0, NULL, false },
	{ "neg_no_name", NULL, 0, NULL, false },
	{ "neg_unknown_name", NULL, 0, NULL, false },
	{ "neg_negated", NULL, 0, NULL, false },
	{ "neg_reversed", NULL, 0, NULL, false },
	{ "neg_outgoing", NULL, 0, NULL, false },
	{ "neg_bounce", NULL, 0, NULL, false },
	{ "neg_ko_company_intro", NULL, 0, NULL, false },
	{ "neg_zh_product", NULL, 0, NULL, false },
};

static int
detect(const char *name, const struct linker *lk,
    const struct referral_detector *d, struct referral_candidates *out)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.eml", REFERRAL_FIXTURES, name);
	memset(out, 0, sizeof(*out));
	return fake_detect_file(path, lk, d, &db, out);
}

static void
check(const struct expect *e, const struct linker *lk,
    const struct referral_detector *d)
{
	struct referral_candidates c;
	int n = detect(e->file, lk, d, &c);

	if (e->rule == NULL) {
		if (!ok(n == 0 && c.n == 0, "%s: no referral", e->file))
			printf("#   got %s by %s: %s\n", c.v[0].referred_addr,
			    c.v[0].rule, c.v[0].evidence);
	} else if (ok(n == 1 && c.n == 1, "%s: one candidate", e->file)) {
		const struct referral_candidate *r = &c.v[0];

		is_str(r->rule, e->rule, "%s: rule", e->file);
		is_int(r->referrer, e->referrer, "%s: referrer", e->file);
		is_str(r->referred_addr, e->referred, "%s: referred", e->file);
		is_int(r->strong, e->strong, "%s: strength", e->file);
		ok(r->evidence != NULL && *r->evidence != '\0' &&
		    strlen(r->evidence) <= REFERRAL_EVIDENCE_MAX,
		    "%s: evidence \"%s\"", e->file, r->evidence);
	} else {
		for (size_t i = 0; i < c.n; i++)
			printf("#   got %s by %s\n", c.v[i].referred_addr,
			    c.v[i].rule);
	}
	referral_candidates_free(&c);
}

static void
test_details(const struct linker *lk, const struct referral_detector *d)
{
	struct referral_candidates c;

	detect("en_referred_by_name", lk, d, &c);
	ok(c.n == 1 && c.v[0].match == REFERRAL_MATCH_EXACT &&
	    strstr(c.v[0].evidence, "en:referred-by") != NULL &&
	    strstr(c.v[0].evidence, "match=exact") != NULL,
	    "full name: exact match, phrase named in the evidence");
	is_str(c.n ? c.v[0].referred_name : NULL, "Carl Young",
	    "the referred person's display name is kept");
	referral_candidates_free(&c);

	detect("en_first_name", lk, d, &c);
	ok(c.n == 1 && c.v[0].match == REFERRAL_MATCH_PARTIAL &&
	    strstr(c.v[0].evidence, "match=partial") != NULL,
	    "first name only: partial match, weak");
	referral_candidates_free(&c);

	detect("en_intro_customer", lk, d, &c);
	ok(c.n == 1 && strncmp(c.v[0].evidence, "cc: bob@newco.example; en:",
	    26) == 0, "intro evidence names the header and the words");
	referral_candidates_free(&c);

	/* Detections add to what the list already holds. */
	detect("zh_mention", lk, d, &c);
	{
		char path[512];

		snprintf(path, sizeof(path), "%s/ko_mention.eml",
		    REFERRAL_FIXTURES);
		is_int(fake_detect_file(path, lk, d, &db, &c), 1,
		    "a second message appends");
		is_int(c.n, 2, "two candidates kept");
	}
	referral_candidates_free(&c);
}

/* [link] company_by_domain: the same company is no referral. */
static void
test_company(const struct config *base, const struct linker *lk)
{
	struct config cfg = *base;
	struct referral_detector *d;
	struct referral_candidates c;

	d = referral_detector_new(&cfg, lk);
	detect("neg_company", lk, d, &c);
	ok(c.n == 1 && c.v[0].strong,
	    "without the company rule a same-domain intro counts");
	referral_candidates_free(&c);
	referral_detector_free(d);

	cfg.link.company_by_domain = true;
	d = referral_detector_new(&cfg, lk);
	detect("neg_company", lk, d, &c);
	is_int(c.n, 0, "with the company rule the same domain is self");
	referral_candidates_free(&c);
	detect("en_intro_customer", lk, d, &c);
	is_int(c.n, 1, "another domain still counts with the company rule");
	referral_candidates_free(&c);
	referral_detector_free(d);
}

static void
test_meeting(const struct referral_detector *d)
{
	struct referral_lookup rl;
	struct linker_lookup ll;
	struct referral_candidates c;
	const char *a1[] = { "mailto:Anna@Schmidt-Bau.example",
	    "newbie@fresh.example" };
	const char *a2[] = { "anna@schmidt-bau.example", "tom@reply-all.example" };
	const char *a3[] = { "anna@schmidt-bau.example", "lena@rapport.example" };
	const char *a4[] = { "x1@fresh.example", "x2@fresh.example" };
	const char *a5[] = { "ben@carter.example", "b1@fresh.example",
	    "b2@fresh.example", "b3@fresh.example", "b4@fresh.example",
	    "b5@fresh.example", "b6@fresh.example", "b7@fresh.example",
	    "b8@fresh.example" };
	const char *a6[] = { "anna@schmidt-bau.example", "anna@otherhome.example" };

	fake_lookups(&db, &rl, &ll);
	memset(&c, 0, sizeof(c));
	is_int(referral_detect_meeting(d, "ev-1", "kim@rapport.example", a1, 2,
	    &rl, &c), 1, "meeting: customer with a new person");
	ok(c.n == 1 && c.v[0].referrer == 1 && !c.v[0].strong &&
	    strcmp(c.v[0].rule, "meeting:customer-with-new") == 0 &&
	    strcmp(c.v[0].referred_addr, "newbie@fresh.example") == 0 &&
	    strstr(c.v[0].evidence, "ev-1") != NULL,
	    "meeting: referrer, referred, weak, evidence names the event");
	referral_candidates_free(&c);
	is_int(referral_detect_meeting(d, "ev-2", NULL, a2, 2, &rl, &c), 0,
	    "meeting: a person with history is not new");
	is_int(referral_detect_meeting(d, "ev-3", NULL, a3, 2, &rl, &c), 0,
	    "meeting: a colleague is not new");
	is_int(referral_detect_meeting(d, "ev-4", NULL, a4, 2, &rl, &c), 0,
	    "meeting: no customer, no referral");
	is_int(referral_detect_meeting(d, "ev-5", NULL, a5, 9, &rl, &c), 0,
	    "meeting: a crowd is an event, not an introduction");
	is_int(referral_detect_meeting(d, "ev-6", NULL, a6, 2, &rl, &c), 0,
	    "meeting: the customer's second address is self");
	referral_candidates_free(&c);
}

int
main(void)
{
	struct config cfg;
	struct linker *lk;
	struct referral_detector *d;
	char *own_domains[] = { "rapport.example" };
	char *free_mail[] = { "gmail.example" };

	if (fake_db_load(&db, REFERRAL_FIXTURES) < 0) {
		printf("Bail out! no customers.tsv in %s\n", REFERRAL_FIXTURES);
		return 1;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.from = "Kim Sales <kim@rapport.example>";
	cfg.link.fold_plus = true;
	cfg.link.own_domains = own_domains;
	cfg.link.n_own_domains = 1;
	cfg.link.free_mail = free_mail;
	cfg.link.n_free_mail = 1;
	lk = linker_new(&cfg);
	d = referral_detector_new(&cfg, lk);

	for (size_t i = 0; i < sizeof(expects) / sizeof(*expects); i++)
		check(&expects[i], lk, d);
	test_details(lk, d);
	test_company(&cfg, lk);
	test_meeting(d);

	referral_detector_free(d);
	linker_free(lk);
	fake_db_free(&db);
	return tap_done();
}
