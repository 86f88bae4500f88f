/*
 * Classification rules on fixture messages (tests/unit/mail/c_*.eml), in
 * English, Korean and Chinese, with the near misses next to the hits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "message.h"
#include "tap.h"
#include "xmalloc.h"

static struct classify_rules *rules;

static void
parse_fixture(struct message *m, const char *name)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;
	size_t h;

	snprintf(path, sizeof(path), "%s/%s", MAIL_FIXTURES, name);
	if ((f = fopen(path, "rb")) == NULL) {
		printf("# cannot open %s\n", path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	buf[n] = '\0';
	fclose(f);
	h = strstr(buf, "\r\n\r\n") ? (size_t)(strstr(buf, "\r\n\r\n") - buf) +
	    4 : (size_t)n;
	message_parse(m, buf, h, NULL);
	message_parse_body(m, buf + h, (size_t)n - h, NULL);
	free(buf);
}

/* Classifies a fixture; the caller frees r. */
static unsigned
classify(const char *name, struct classify_result *r)
{
	struct message m;

	parse_fixture(&m, name);
	classify_message(&m, rules, r);
	message_free(&m);
	return r->flags;
}

static unsigned
flags_of(const char *name)
{
	struct classify_result r;
	unsigned f = classify(name, &r);

	classify_result_free(&r);
	return f;
}

static void
test_auto_replies(void)
{
	struct classify_result r;

	classify("c_en_ooo.eml", &r);
	ok(r.flags & CLASSIFY_AUTO_REPLY, "en: Out of Office is an auto-reply");
	is_str(r.auto_reply_why, "Auto-Submitted", "en: Auto-Submitted first");
	classify_result_free(&r);
	classify("c_en_autoreply_subject.eml", &r);
	ok(r.flags & CLASSIFY_AUTO_REPLY, "en: 'Automatic reply:' subject");
	is_str(r.auto_reply_why, "subject", "en: by subject");
	ok(!(r.flags & CLASSIFY_UNSUBSCRIBE),
	    "en: auto-reply saying unsubscribe is no unsubscribe request");
	classify_result_free(&r);
	ok(flags_of("c_ko_ooo.eml") & CLASSIFY_AUTO_REPLY,
	    "ko: [자동 응답] subject");
	ok(flags_of("c_ko_ooo2.eml") & CLASSIFY_AUTO_REPLY,
	    "ko: 부재중 subject (EUC-KR)");
	ok(flags_of("c_zh_ooo.eml") & CLASSIFY_AUTO_REPLY,
	    "zh: 自动回复 subject (GB2312)");
	classify("c_xautoreply.eml", &r);
	ok(r.flags & CLASSIFY_AUTO_REPLY, "X-Autoreply: yes");
	is_str(r.auto_reply_why, "X-Autoreply", "X-Autoreply named");
	classify_result_free(&r);
	classify("c_precedence_bulk.eml", &r);
	is_str(r.auto_reply_why, "Precedence", "Precedence: bulk");
	classify_result_free(&r);
	classify("c_precedence_list.eml", &r);
	ok(!(r.flags & CLASSIFY_AUTO_REPLY), "Precedence: list is no auto-reply");
	ok(r.flags & CLASSIFY_LIST, "Precedence: list + List-Id is a list");
	classify_result_free(&r);
	is_int(flags_of("c_auto_submitted_no.eml"), 0,
	    "Auto-Submitted: no is a person");
	is_int(flags_of("c_human_reply.eml"), 0,
	    "a human reply is nothing but a reply");
}

static void
test_bounces(void)
{
	struct classify_result r;

	classify("c_dsn_postfix.eml", &r);
	ok(r.flags & CLASSIFY_BOUNCE, "DSN: bounce");
	is_str(r.bounce_why, "DSN", "DSN: by the report");
	is_int(r.nbounces, 1, "DSN: only the failed recipient, not the delayed");
	if (r.nbounces == 1) {
		is_str(r.bounces[0].addr, "gone@customer.example", "DSN: address");
		is_str(r.bounces[0].status, "5.1.1", "DSN: status");
		ok(strstr(r.bounces[0].reason, "Recipient address rejected: "
		    "User unknown") != NULL, "DSN: folded diagnostic unfolded: %s",
		    r.bounces[0].reason);
	}
	ok(r.flags & CLASSIFY_AUTO_REPLY, "DSN: Auto-Submitted, so never a reply");
	classify_result_free(&r);

	classify("c_dsn_delayed.eml", &r);
	ok(!(r.flags & CLASSIFY_BOUNCE), "DSN with only 'delayed': no bounce");
	is_int(r.nbounces, 0, "DSN delayed: no address");
	classify_result_free(&r);

	classify("c_bounce_exim.eml", &r);
	ok(r.flags & CLASSIFY_BOUNCE, "exim: bounce");
	is_str(r.bounce_why, "failure notice", "exim: non-DSN");
	is_str(r.nbounces ? r.bounces[0].addr : NULL, "nobody@customer.example",
	    "exim: X-Failed-Recipients");
	is_int(r.nbounces, 1, "exim: one address");
	classify_result_free(&r);

	classify("c_bounce_gmail.eml", &r);
	ok(r.flags & CLASSIFY_BOUNCE, "Delivery Status Notification (Failure)");
	is_int(r.nbounces, 1, "gmail: one address from the text");
	if (r.nbounces == 1) {
		is_str(r.bounces[0].addr, "wrong.name@customer.example",
		    "gmail: address found in the excerpt");
		ok(strstr(r.bounces[0].reason, "wasn't delivered") != NULL,
		    "gmail: reason is the line");
	}
	classify_result_free(&r);

	classify("c_bounce_zh.eml", &r);
	ok(r.flags & CLASSIFY_BOUNCE, "zh: 系统退信 from postmaster");
	is_str(r.nbounces ? r.bounces[0].addr : NULL,
	    "zhang@cn-customer.example", "zh: address in GB2312 text");
	is_str(r.nbounces ? r.bounces[0].status : NULL, "5.1.1",
	    "zh: status in the line");
	classify_result_free(&r);

	classify("c_bounce_ko.eml", &r);
	ok(r.flags & CLASSIFY_BOUNCE, "ko: 메일 전송 실패 from MAILER-DAEMON");
	is_str(r.nbounces ? r.bounces[0].addr : NULL,
	    "lee@kr-customer.example", "ko: address in EUC-KR text");
	classify_result_free(&r);

	classify("c_bounce_quoted.eml", &r);
	ok(!(r.flags & CLASSIFY_BOUNCE), "a person forwarding a bounce: no bounce");
	is_int(r.nbounces, 0, "forwarded bounce: nothing suppressed");
	classify_result_free(&r);
	ok(!(flags_of("c_bounce_reply_from_daemon.eml") & CLASSIFY_BOUNCE),
	    "postmaster replying 'Re: Undelivered...': no bounce");
}

static void
test_unsubscribe(void)
{
	struct classify_result r;

	classify("c_unsub_subject.eml", &r);
	ok(r.flags & CLASSIFY_UNSUBSCRIBE, "en: Subject: Unsubscribe");
	is_str(r.unsubscribe_why, "subject", "en: by subject");
	classify_result_free(&r);
	classify("c_unsub_firstline.eml", &r);
	ok(r.flags & CLASSIFY_UNSUBSCRIBE, "en: first line 'Please unsubscribe me.'");
	is_str(r.unsubscribe_why, "first line", "en: by first line");
	classify_result_free(&r);
	ok(flags_of("c_unsub_ko.eml") & CLASSIFY_UNSUBSCRIBE, "ko: 수신거부 subject");
	ok(flags_of("c_unsub_ko_body.eml") & CLASSIFY_UNSUBSCRIBE,
	    "ko: '수신 거부 합니다' first line");
	ok(flags_of("c_unsub_zh.eml") & CLASSIFY_UNSUBSCRIBE,
	    "zh: 退订 first line (GBK)");
	ok(flags_of("c_unsub_zh_subject.eml") & CLASSIFY_UNSUBSCRIBE,
	    "zh: 取消订阅 subject");
	classify("c_unsub_address.eml", &r);
	ok(r.flags & CLASSIFY_UNSUBSCRIBE, "mail to the unsubscribe address");
	is_str(r.unsubscribe_why, "unsubscribe address",
	    "unsubscribe address: +tag and case folded");
	classify_result_free(&r);
	ok(!(flags_of("c_human_reply.eml") & CLASSIFY_UNSUBSCRIBE),
	    "'unsubscribe' later in a human reply: no request");
	ok(!(flags_of("c_unsub_quoted_first.eml") & CLASSIFY_UNSUBSCRIBE),
	    "'unsubscribe' in a quoted first line: no request");
	ok(!(flags_of("c_unsub_list.eml") & CLASSIFY_UNSUBSCRIBE),
	    "'unsubscribe' posted to a mailing list: not for us");
	ok(!(flags_of("c_dsn_postfix.eml") & CLASSIFY_UNSUBSCRIBE),
	    "a bounce is never an unsubscribe request");
}

static void
test_sales(void)
{
	struct classify_result r;

	classify("c_sale_en.eml", &r);
	ok(r.flags & CLASSIFY_SALE, "en: order confirmation is a sale");
	is_str(r.sale_rule_name, "shop-en", "en: rule named");
	classify_result_free(&r);
	classify("c_sale_ko.eml", &r);
	is_str(r.sale_rule_name, "shop-ko", "ko: regex rule [주문 확인]");
	classify_result_free(&r);
	classify("c_sale_zh.eml", &r);
	is_str(r.sale_rule_name, "shop-zh", "zh: 订单确认 (GB2312)");
	is_int(r.sale_rule, 2, "zh: rule index");
	classify_result_free(&r);
	classify("c_sale_nearmiss.eml", &r);
	ok(!(r.flags & CLASSIFY_SALE), "same subject from a customer: no sale");
	is_int(r.sale_rule, -1, "near miss: no rule");
	classify_result_free(&r);
}

static void
test_rules_and_needs_body(void)
{
	struct classify_sale_rule bad = { "bad", NULL, "([", true };
	struct message m;
	char err[200] = "";

	ok(classify_rules_new(NULL, 0, &bad, 1, err, sizeof(err)) == NULL &&
	    strstr(err, "bad") != NULL, "bad regex refused: %s", err);
	parse_fixture(&m, "c_dsn_postfix.eml");
	ok(classify_needs_body(&m), "a DSN needs its body");
	message_free(&m);
	parse_fixture(&m, "c_unsub_firstline.eml");
	ok(classify_needs_body(&m), "a reply needs its first line");
	message_free(&m);
	parse_fixture(&m, "c_precedence_bulk.eml");
	ok(!classify_needs_body(&m), "a bulk mail needs no body");
	message_free(&m);
}

/* Flags of a message made of the given header lines. */
static unsigned
flags_of_header(const char *lines)
{
	char hdr[1024];
	struct message m;
	struct classify_result r;
	unsigned f;

	snprintf(hdr, sizeof(hdr), "From: lee@customer.example\r\n"
	    "To: kim@example.com\r\nSubject: Re: quote\r\n%s\r\n", lines);
	message_parse(&m, hdr, strlen(hdr), NULL);
	classify_message(&m, rules, &r);
	f = r.flags;
	classify_result_free(&r);
	message_free(&m);
	return f;
}

static void
test_header_rules(void)
{
	ok(flags_of_header("X-Autorespond: on vacation\r\n") &
	    CLASSIFY_AUTO_REPLY, "X-Autorespond");
	ok(!(flags_of_header("X-Autoreply: no\r\n") & CLASSIFY_AUTO_REPLY),
	    "X-Autoreply: no");
	ok(flags_of_header("Precedence: junk\r\n") & CLASSIFY_AUTO_REPLY,
	    "Precedence: junk");
	ok(flags_of_header("Precedence: auto_reply\r\n") & CLASSIFY_AUTO_REPLY,
	    "Precedence: auto_reply");
	ok(flags_of_header("Auto-Submitted: Auto-Generated (notice)\r\n") &
	    CLASSIFY_AUTO_REPLY, "Auto-Submitted: auto-generated, any case");
	is_int(flags_of_header("List-Id: <a.b.example>\r\n"), CLASSIFY_LIST,
	    "List-Id alone: a list, nothing else");
	is_int(flags_of_header(""), 0, "plain reply: no flag");
}

int
main(void)
{
	static const char *const unsub[] = { "unsubscribe@example.com" };
	static const struct classify_sale_rule sale[] = {
		{ "shop-en", "orders@shop.example.com", "order confirmation",
		    false },
		{ "shop-ko", "orders@*.example.com", "^\\[?주문 확인", true },
		{ "shop-zh", "*@shop.example.com", "订单确认", false },
	};
	char err[200];

	rules = classify_rules_new(unsub, 1, sale, 3, err, sizeof(err));
	if (!ok(rules != NULL, "rules compile"))
		printf("# %s\n", err);
	test_auto_replies();
	test_bounces();
	test_unsubscribe();
	test_sales();
	test_header_rules();
	test_rules_and_needs_body();
	classify_rules_free(rules);
	return tap_done();
}
