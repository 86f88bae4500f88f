/* Linker decisions on inline messages against a small customer table. */
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "config.h"
#include "linker.h"
#include "message.h"
#include "tap.h"

/* The customer table: address -> id (ids repeat for shared addresses). */
static const struct { const char *addr; int64_t id; } owners[] = {
	{ "anna@schmidt-bau.example", 1 },
	{ "ben@carter.example", 2 },
	{ "minjun.kim@xn--vv4b11d.kr", 3 },	/* an IDN domain, ASCII form */
	{ "info@shared.example", 4 },
	{ "info@shared.example", 5 },
	{ "kari@olsen.example", 6 },
};
/* Earlier linked messages: Message-ID -> customer. */
static const struct { const char *msgid; int64_t id; } threads[] = {
	{ "outreach-1@rapport.example", 2 },
};

static size_t
by_address(void *ctx, const char *addr, int64_t *ids, size_t max)
{
	size_t n = 0;

	(void)ctx;
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++)
		if (strcmp(owners[i].addr, addr) == 0) {
			if (n < max)
				ids[n] = owners[i].id;
			n++;
		}
	return n;
}

static size_t
by_message_id(void *ctx, const char *msgid, int64_t *ids, size_t max)
{
	size_t n = 0;

	(void)ctx;
	for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++)
		if (strcmp(threads[i].msgid, msgid) == 0 && n < max)
			ids[n++] = threads[i].id;
	return n;
}

static size_t
by_domain(void *ctx, const char *domain, int64_t *ids, size_t max)
{
	size_t n = 0;

	(void)ctx;
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
		const char *at = strchr(owners[i].addr, '@');

		if (strcmp(at + 1, domain) == 0 && n < max)
			ids[n++] = owners[i].id;
	}
	return n;
}

static const struct linker_lookup lookup = {
	NULL, by_address, by_message_id, by_domain,
};

static struct linker *lk;

/* Parses hdr, classifies it, links it; the caller frees r. */
static void
link_text(const char *hdr, bool sent, struct linker_result *r)
{
	struct message m;
	struct classify_result c;

	message_parse(&m, hdr, strlen(hdr), NULL);
	classify_message(&m, NULL, &c);
	linker_link(lk, &m, &c, sent, &lookup, r);
	classify_result_free(&c);
	message_free(&m);
}

static const char *
rule_of(const struct linker_result *r, int64_t id)
{
	for (size_t i = 0; i < r->nlinks; i++)
		if (r->links[i].customer_id == id)
			return r->links[i].rule;
	return "(none)";
}

static void
test_incoming(void)
{
	struct linker_result r;

	link_text("From: Anna Schmidt <Anna@Schmidt-Bau.example>\r\n"
	    "To: kim@rapport.example\r\nCc: ben+orders@carter.example\r\n"
	    "Subject: Re: offer\r\nMessage-ID: <a1@x>\r\n\r\n", false, &r);
	is_int(r.nlinks, 2, "incoming: author and cc linked");
	is_str(rule_of(&r, 1), "address:from", "author by address:from");
	is_str(rule_of(&r, 2), "address:cc", "cc folded +tag to a customer");
	ok(!r.outgoing && r.author == 1 && r.reply, "a customer's reply");
	is_int(r.nunknown, 0, "own address is not an unknown correspondent");
	linker_result_free(&r);

	link_text("From: =?UTF-8?B?6rmA66+87KSA?= <minjun.kim@\xec\x98\x88\xec\x8b\x9c.kr>\r\n"
	    "To: kim@rapport.example\r\nSubject: hi\r\n\r\n", false, &r);
	is_str(rule_of(&r, 3), "address:from", "IDN domain matched in ASCII form");
	linker_result_free(&r);

	link_text("From: stranger@new-customer.example\r\n"
	    "To: kim@rapport.example\r\nSubject: question\r\n\r\n", false, &r);
	ok(r.nlinks == 0 && r.nunknown == 1 &&
	    strcmp(r.unknown[0], "stranger@new-customer.example") == 0,
	    "an unknown sender is a new-correspondent candidate");
	ok(!r.reply, "nobody's reply");
	linker_result_free(&r);
}

static void
test_auto_and_shared(void)
{
	struct linker_result r;

	link_text("From: anna@schmidt-bau.example\r\nTo: kim@rapport.example\r\n"
	    "Auto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\n",
	    false, &r);
	ok(r.author == 1 && !r.reply, "an auto-reply is linked but is no reply");
	linker_result_free(&r);

	link_text("From: info@shared.example\r\nTo: kim@rapport.example\r\n"
	    "Subject: hello\r\n\r\n", false, &r);
	ok(r.nlinks == 0 && r.nreviews == 1 && r.reviews[0].nids == 2,
	    "a shared address goes to review, linked to nobody");
	ok(r.nunknown == 0, "a shared address is not unknown");
	linker_result_free(&r);
}

static void
test_outgoing(void)
{
	struct linker_result r;

	link_text("From: Kim <kim@rapport.example>\r\n"
	    "To: anna@schmidt-bau.example, newbie@fresh.example\r\n"
	    "Subject: offer\r\n\r\n", false, &r);
	ok(r.outgoing, "from an own address: outreach");
	is_str(rule_of(&r, 1), "address:to", "recipient linked by address:to");
	ok(!r.reply && r.author == 0, "outreach is never a reply");
	ok(r.nunknown == 1 && strcmp(r.unknown[0], "newbie@fresh.example") == 0,
	    "unknown recipient noted");
	linker_result_free(&r);

	link_text("From: someone-else@elsewhere.example\r\n"
	    "To: kari@olsen.example\r\nSubject: x\r\n\r\n", true, &r);
	ok(r.outgoing, "found in the Sent folder: outreach");
	is_str(rule_of(&r, 6), "address:to", "Sent-folder recipient linked");
	linker_result_free(&r);
}

static void
test_thread_and_domain(void)
{
	struct linker_result r;

	link_text("From: assistant@other-shop.example\r\nTo: kim@rapport.example\r\n"
	    "In-Reply-To: <outreach-1@rapport.example>\r\nSubject: Re: x\r\n\r\n",
	    false, &r);
	is_str(rule_of(&r, 2), "thread:in-reply-to",
	    "unknown sender answering our mail: linked through the thread");
	ok(!r.reply, "a thread link does not make the stranger the author");
	linker_result_free(&r);

	link_text("From: assistant@other-shop.example\r\nTo: kim@rapport.example\r\n"
	    "References: <outreach-1@rapport.example> <zzz@nowhere>\r\n"
	    "Subject: Re: x\r\n\r\n", false, &r);
	is_str(rule_of(&r, 2), "thread:references", "linked through References");
	linker_result_free(&r);

	/* The company rule is off by default. */
	link_text("From: colleague@carter.example\r\nTo: kim@rapport.example\r\n"
	    "Subject: x\r\n\r\n", false, &r);
	is_int(r.nlinks, 0, "company rule off: a colleague is not linked");
	linker_result_free(&r);
}

static void
test_company_rule(void)
{
	struct config cfg;
	struct linker_result r;
	char *free_mail[] = { "gmail.com" };
	char *own_domains[] = { "rapport.example" };

	memset(&cfg, 0, sizeof(cfg));
	cfg.from = "Kim <kim@rapport.example>";
	cfg.link.fold_plus = true;
	cfg.link.company_by_domain = true;
	cfg.link.free_mail = free_mail;
	cfg.link.n_free_mail = 1;
	cfg.link.own_domains = own_domains;
	cfg.link.n_own_domains = 1;
	linker_free(lk);
	lk = linker_new(&cfg);

	link_text("From: colleague@carter.example\r\nTo: kim@rapport.example\r\n"
	    "Subject: x\r\n\r\n", false, &r);
	is_str(rule_of(&r, 2), "domain:company", "company rule links a colleague");
	linker_result_free(&r);

	link_text("From: someone@gmail.com\r\nTo: kim@rapport.example\r\n"
	    "Subject: x\r\n\r\n", false, &r);
	ok(r.nlinks == 0 && r.nunknown == 1, "never by a free-mail domain");
	linker_result_free(&r);

	link_text("From: boss@shared.example\r\nTo: kim@rapport.example\r\n"
	    "Subject: x\r\n\r\n", false, &r);
	ok(r.nlinks == 0 && r.nreviews == 1, "a domain of several customers: review");
	linker_result_free(&r);

	link_text("From: kim@rapport.example\r\nTo: other@rapport.example\r\n"
	    "Subject: x\r\n\r\n", false, &r);
	ok(r.outgoing && r.nlinks == 0, "never by the user's own domain");
	linker_result_free(&r);
}

/* A second lookup whose thread answer changed since: a parent stored in
 * the same batch after the first linking. */
static size_t
by_message_id_later(void *ctx, const char *msgid, int64_t *ids, size_t max)
{
	(void)ctx;
	if (strcmp(msgid, "parent@batch.example") == 0 && max > 0) {
		ids[0] = 6;
		return 1;
	}
	return by_message_id(NULL, msgid, ids, max);
}

static void
test_relink_thread(void)
{
	static const char stranger[] = "From: x@stranger.example\r\n"
	    "To: kim@rapport.example\r\nIn-Reply-To: <parent@batch.example>\r\n"
	    "Subject: Re: x\r\n\r\n";
	static const char customer[] = "From: ben@carter.example\r\n"
	    "To: kim@rapport.example\r\nIn-Reply-To: <parent@batch.example>\r\n"
	    "Subject: Re: x\r\n\r\n";
	const struct linker_lookup later = {
		NULL, by_address, by_message_id_later, by_domain,
	};
	struct linker_result r;
	struct message m;

	message_parse(&m, stranger, strlen(stranger), NULL);
	linker_link(lk, &m, NULL, false, &lookup, &r);
	is_int(r.nlinks, 0, "relink: the parent is not stored yet");
	linker_relink_thread(&m, &later, &r);
	is_str(rule_of(&r, 6), "thread:in-reply-to",
	    "relink: once it is, the thread fallback finds it");
	is_int(r.nlinks, 1, "relink: one link");
	linker_relink_thread(&m, &later, &r);
	is_int(r.nlinks, 1, "relink: done twice, the thread links are replaced");
	is_int(r.nunknown, 1, "relink: the unknown sender stays noted");
	linker_result_free(&r);
	message_free(&m);

	message_parse(&m, customer, strlen(customer), NULL);
	linker_link(lk, &m, NULL, false, &lookup, &r);
	linker_relink_thread(&m, &later, &r);
	is_int(r.nlinks, 1, "relink: an address link keeps the thread aside");
	is_str(rule_of(&r, 2), "address:from", "relink: the author's link stays");
	ok(r.author == 2 && r.reply, "relink: author and reply unchanged");
	linker_result_free(&r);
	message_free(&m);
}

int
main(void)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.from = "Kim Sales <kim@rapport.example>";
	cfg.link.fold_plus = true;
	lk = linker_new(&cfg);
	ok(linker_is_own(lk, "kim@rapport.example"), "[rapport] from is own");

	test_incoming();
	test_auto_and_shared();
	test_outgoing();
	test_thread_and_domain();
	test_company_rule();
	test_relink_thread();
	linker_free(lk);
	return tap_done();
}
