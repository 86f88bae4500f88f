/*
 * Templates: load errors with their exact FILE:LINE, header values,
 * sections, value escaping in each part, language fallback, and every
 * shipped template rendered with hostile values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libetpan/libetpan.h>

#include "mime_build.h"
#include "rfc2047.h"
#include "strbuf.h"
#include "tap.h"
#include "template.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

struct kv {
	const char	*name;
	const char	*value;
};

struct vals {
	const struct kv	*kv;
	size_t		 n;
	const char	*fallback;	/* for every other name */
};

static const char *
lookup(void *ctx, const char *name)
{
	const struct vals *v = ctx;

	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->kv[i].name, name) == 0)
			return v->kv[i].value;
	return v->fallback;
}

static const char *
srcdir(void)
{
	const char *d = getenv("TOP_SRCDIR");

	return d && *d ? d : TOP_SRCDIR;
}

static void
parse_err(const char *text, const char *want, const char *label)
{
	struct template *t = NULL;
	char err[512] = "";

	ok(template_parse("t.md", text, strlen(text), &t, err, sizeof(err)) == -1 &&
	    t == NULL, "%s: refused", label);
	is_str(err, want, "%s: message", label);
	template_free(t);
}

static struct template *
parse_ok(const char *path, const char *text, const char *label)
{
	struct template *t = NULL;
	char err[512] = "";

	if (!ok(template_parse(path, text, strlen(text), &t, err, sizeof(err)) == 0,
	    "%s: loads", label))
		printf("#   %s\n", err);
	return t;
}

static void
test_header_errors(void)
{
	parse_err("Subject: hi\n\nbody\n", "t.md:1: missing Kind", "no Kind");
	parse_err("Kind: birthday\n\nbody\n",
	    "t.md:1: missing Subject (required in a birthday template)",
	    "no Subject");
	parse_err("Kind: follow-up\nTrigger: sale\nSubject: x\n\nbody\n",
	    "t.md:1: missing After (required in a follow-up template)",
	    "follow-up without After");
	parse_err("Kind: thankyou\nSubject: x\n\nbody\n",
	    "t.md:1: unknown Kind \"thankyou\" (follow-up, birthday, newsletter, "
	    "referral-thanks or agenda)", "unknown Kind");
	parse_err("Kind: birthday\nSubject: x\nColour: blue\n\nbody\n",
	    "t.md:3: unknown header \"Colour\"", "unknown key");
	parse_err("Kind: birthday\nSubject: x\nAfter: 3d\n\nbody\n",
	    "t.md:3: After is not allowed in a birthday template", "key not for kind");
	parse_err("Kind: follow-up\nTrigger: sale\nAfter: 3d\nSubject: x\n"
	    "At: 09:00\n\nbody\n",
	    "t.md:5: At is not allowed in a follow-up template", "At in follow-up");
	parse_err("Kind: birthday\nSubject: x\nsubject: y\n\nbody\n",
	    "t.md:3: duplicate Subject (first on line 2)", "duplicate key");
	parse_err("Kind: birthday\nSubject:   \n\nbody\n",
	    "t.md:2: empty Subject", "empty value");
	parse_err("Kind: birthday\nSubject x\n\nbody\n",
	    "t.md:2: expected \"Key: value\" or a blank line", "no colon");
	parse_err("Kind: birthday\nSubject: x\nbody\n",
	    "t.md:3: expected \"Key: value\" or a blank line", "no blank line");
	parse_err("Kind: birthday\nSubject: x",
	    "t.md:2: no blank line between the header and the body",
	    "header never ends");
	parse_err("Kind: birthday\nSubject: x\n\n  \n\n",
	    "t.md:4: empty body", "empty body");

	parse_err("Kind: follow-up\nTrigger: sale\nAfter: 3 days\nSubject: x\n\nb\n",
	    "t.md:3: bad After \"3 days\" (a number and m, h, d or w: 30m, 12h, "
	    "3d, 2w)", "bad After");
	parse_err("Kind: follow-up\nTrigger: sale\nAfter: 9999w\nSubject: x\n\nb\n",
	    "t.md:3: After \"9999w\" is longer than five years", "huge After");
	parse_err("Kind: follow-up\nTrigger: purchase\nAfter: 3d\nSubject: x\n\nb\n",
	    "t.md:2: bad Trigger \"purchase\" (sale, meeting or first-message)",
	    "bad Trigger");
	parse_err("Kind: referral-thanks\nTrigger: meeting\nSubject: x\n\nb\n",
	    "t.md:2: bad Trigger \"meeting\" (referral or sale)",
	    "bad referral Trigger");
	parse_err("Kind: follow-up\nTrigger: sale\nAfter: 3d\nUnless: opened\n"
	    "Subject: x\n\nb\n", "t.md:4: bad Unless \"opened\" (replied)",
	    "bad Unless");
	parse_err("Kind: follow-up\nTrigger: sale\nAfter: 3d\nStep: 0\n"
	    "Subject: x\n\nb\n", "t.md:4: bad Step \"0\" (1 to 999)", "bad Step");
	parse_err("Kind: follow-up\nTrigger: sale\nAfter: 3d\nSequence: a b\n"
	    "Subject: x\n\nb\n", "t.md:4: bad Sequence \"a b\" (letters, digits, "
	    "'-' and '_')", "bad Sequence");
	parse_err("Kind: birthday\nAt: 9:00\nSubject: x\n\nb\n",
	    "t.md:2: bad At \"9:00\" (HH:MM, 00:00 to 23:59)", "bad At");
	parse_err("Kind: birthday\nAt: 24:00\nSubject: x\n\nb\n",
	    "t.md:2: bad At \"24:00\" (HH:MM, 00:00 to 23:59)", "At 24:00");
	parse_err("Kind: newsletter\nAudience: tag:news\nSchedule: RRULE:FREQ=SOMETIMES\n"
	    "Subject: x\n\nb\n", "t.md:3: bad Schedule \"RRULE:FREQ=SOMETIMES\": "
	    "libical cannot read the RRULE", "bad RRULE");
	parse_err("Kind: newsletter\nAudience: tag:news\nSchedule: 2026-02-29T09:00\n"
	    "Subject: x\n\nb\n", "t.md:3: bad Schedule \"2026-02-29T09:00\" "
	    "(YYYY-MM-DDTHH:MM or RRULE:...)", "29 February 2026");
	parse_err("Kind: newsletter\nSchedule: 2026-12-01T09:00\nSubject: x\n\nb\n",
	    "t.md:1: missing Audience (required in a newsletter template)",
	    "newsletter without Audience");
	parse_err("Kind: newsletter\nAudience: tag:news and\n"
	    "Schedule: 2026-12-01T09:00\nSubject: x\n\nb\n",
	    "t.md:2: bad Audience: expected tag:NAME at the end", "dangling and");
	parse_err("Kind: newsletter\nAudience: (tag:a or tag:b\n"
	    "Schedule: 2026-12-01T09:00\nSubject: x\n\nb\n",
	    "t.md:2: bad Audience: expected \")\" at the end", "unclosed paren");
	parse_err("Kind: newsletter\nAudience: colour:red\n"
	    "Schedule: 2026-12-01T09:00\nSubject: x\n\nb\n",
	    "t.md:2: bad Audience: expected tag:NAME, lang:CODE, tier:NAME or all "
	    "at \"colour:red\"", "unknown field");
	parse_err("Kind: newsletter\nAudience: tag:a tag:b\n"
	    "Schedule: 2026-12-01T09:00\nSubject: x\n\nb\n",
	    "t.md:2: bad Audience: expected and, or, or the end at \"tag:b\"",
	    "missing operator");
	parse_err("Kind: birthday\nSubject: x\n\nline 4\nbad \xc3( here\n",
	    "t.md:5: invalid UTF-8", "invalid UTF-8");
	parse_err("Kind: birthday\r\nSubject: x\r\n\r\nline 4\r\nbell \x07\r\n",
	    "t.md:5: control character 0x07", "control character, CRLF file");
	{
		struct template *t = NULL;
		char err[256];

		ok(template_parse("dir/Bad Name.md", "Kind: birthday\nSubject: x\n\nb\n",
		    27, &t, err, sizeof(err)) == -1, "bad file name refused");
		is_str(err, "dir/Bad Name.md:1: file name is not NAME.md or "
		    "NAME.LANG.md (NAME of letters, digits, '-' and '_')",
		    "bad file name message");
		ok(template_parse("dir/my.notes.md", "Kind: birthday\nSubject: x\n\nb\n",
		    27, &t, err, sizeof(err)) == -1, "a dot in the name refused");
		ok(template_parse("dir/x.md.md", "Kind: birthday\nSubject: x\n\nb\n",
		    27, &t, err, sizeof(err)) == -1, "x.md.md refused");
	}
}

static void
test_body_errors(void)
{
	parse_err("Kind: birthday\nSubject: x\n\nHi,\n\n{{customer.shoe_size}}\n",
	    "t.md:6: unknown variable {{customer.shoe_size}}", "unknown variable");
	parse_err("Kind: birthday\nSubject: Hi {{customer.nmae}}\n\nHi\n",
	    "t.md:2: unknown variable {{customer.nmae}}", "unknown in Subject");
	parse_err("Kind: birthday\nSubject: x\n\n{{sale.product}}\n",
	    "t.md:4: {{sale.product}} is not available in a birthday template",
	    "variable of another kind");
	parse_err("Kind: follow-up\nTrigger: sale\nAfter: 1d\nSubject: x\n\n"
	    "a\n{{meeting.date}}\n",
	    "t.md:7: {{meeting.date}} is not available with Trigger: sale",
	    "variable of another trigger");
	parse_err("Kind: referral-thanks\nSubject: x\n\n{{sale.product}}\n",
	    "t.md:4: {{sale.product}} is not available with Trigger: referral",
	    "sale in a referral thank-you");
	parse_err("Kind: birthday\nSubject: x\n\na\n{{#customer.name}}\nb\n",
	    "t.md:5: {{#customer.name}} is never closed", "unclosed section");
	parse_err("Kind: birthday\nSubject: x\n\na\n{{^customer.name}}b\n\n",
	    "t.md:5: {{^customer.name}} is never closed", "unclosed inverted");
	parse_err("Kind: birthday\nSubject: x\n\na\nb {{/customer.name}}\n",
	    "t.md:5: {{/customer.name}} without an opening {{#customer.name}}",
	    "stray close");
	parse_err("Kind: birthday\nSubject: x\n\n{{#customer.name}}\n"
	    "{{#customer.company}}\nx\n{{/customer.name}}\n",
	    "t.md:7: {{/customer.name}} closes {{#customer.company}} of line 5",
	    "mismatched close");
	parse_err("Kind: birthday\nSubject: x\n\na\n\nb {{customer.name\n}}\n",
	    "t.md:6: {{ without }} on the same line", "unclosed tag");
	parse_err("Kind: birthday\nSubject: x\n\n{{{customer.name}}}\n",
	    "t.md:4: unsupported tag {{{...}}", "triple mustache");
	parse_err("Kind: birthday\nSubject: x\n\n{{#}}\n",
	    "t.md:4: empty tag {{#}}", "empty section");
	parse_err("Kind: birthday\nSubject: x\n\n{{customer name}}\n",
	    "t.md:4: bad variable name {{customer name}}", "blank in a name");
	parse_err("Kind: birthday\nSubject: x\n\n{{#customer.name}}\n"
	    "{{#customer.name}}\n{{#customer.name}}\n{{#customer.name}}\n"
	    "{{#customer.name}}\n{{#customer.name}}\n{{#customer.name}}\n"
	    "{{#customer.name}}\n{{#customer.name}}\n",
	    "t.md:12: sections nested deeper than 8", "too deep");
}

static void
test_load_files(void)
{
	struct template *t = NULL;
	char err[512], path[1024];

	snprintf(path, sizeof(path), "%s/tests/unit/tmpl/bad/unknown-var.md",
	    srcdir());
	ok(template_load(path, &t, err, sizeof(err)) == -1, "fixture with an error");
	ok(strstr(err, "/tests/unit/tmpl/bad/unknown-var.md:7: unknown variable "
	    "{{customer.shoe_size}}") != NULL, "file:line from a file: %s", err);
	ok(template_load("/nonexistent/x.md", &t, err, sizeof(err)) == -1 &&
	    strstr(err, "/nonexistent/x.md: No such file") != NULL,
	    "missing file named");
	snprintf(path, sizeof(path), "%s/tests/unit/tmpl/followup-demo-2.md",
	    srcdir());
	ok(template_load(path, &t, err, sizeof(err)) == 0, "fixture loads");
	if (t) {
		is_str(t->name, "followup-demo-2", "name from the file");
		ok(t->lang == NULL, "no language");
		is_str(t->sequence, "followup-demo", "sequence from the name");
		is_int(t->step, 2, "step from the name");
		is_int(t->after, 14 * 86400, "After: 2w");
		ok(!t->unless_replied, "no Unless");
	}
	template_free(t);
}

static bool
has_tag(void *ctx, const char *field, const char *value)
{
	const char *const *tags = ctx;

	for (; *tags; tags++) {
		const char *colon = strchr(*tags, ':');

		if (strncmp(*tags, field, (size_t)(colon - *tags)) == 0 &&
		    strcmp(colon + 1, value) == 0)
			return true;
	}
	return false;
}

static void
test_header_values(void)
{
	struct template *t;
	const char *news[] = { "tag:newsletter", NULL };
	const char *vip[] = { "tag:newsletter", "tag:vip", NULL };
	const char *ko_vip[] = { "tag:newsletter", "tag:vip", "lang:ko", NULL };
	const char *none[] = { NULL };

	t = parse_ok("x/followup-sale-2.ko.md", "Kind: follow-up\nTrigger: meeting\n"
	    "After: 12h\nUnless: replied\nSubject: x\n\nb\n", "follow-up");
	if (t) {
		is_str(t->name, "followup-sale-2", "name without language");
		is_str(t->lang, "ko", "language from the file name");
		is_int(t->kind, TEMPLATE_FOLLOW_UP, "kind");
		is_int(t->trigger, TEMPLATE_TRIGGER_MEETING, "trigger");
		is_int(t->after, 12 * 3600, "After: 12h");
		ok(t->unless_replied, "Unless: replied");
		is_str(t->sequence, "followup-sale", "sequence");
		is_int(t->step, 2, "step");
	}
	template_free(t);
	t = parse_ok("x/thanks.md", "Kind: follow-up\nTrigger: first-message\n"
	    "After: 30m\nStep: 3\nSequence: welcome\nSubject: x {{message.subject}}\n"
	    "\nb\n", "Step and Sequence given");
	if (t) {
		is_int(t->after, 1800, "After: 30m");
		is_int(t->step, 3, "Step: 3");
		is_str(t->sequence, "welcome", "Sequence: welcome");
		ok(template_uses(t, "message.subject"), "uses message.subject");
		ok(!template_uses(t, "customer.name"), "does not use customer.name");
	}
	template_free(t);
	t = parse_ok("x/b.zh-TW.md", "Kind: birthday\nAt: 09:30\nSubject: x\n\nb\n",
	    "birthday");
	if (t) {
		is_int(t->at, 570, "At: 09:30");
		is_str(t->lang, "zh-TW", "region in the language");
		ok(t->sequence == NULL && t->after == -1, "no follow-up fields");
	}
	template_free(t);
	t = parse_ok("x/r.md", "Kind: referral-thanks\nSubject: x\n\nb\n",
	    "referral-thanks");
	if (t) {
		is_int(t->trigger, TEMPLATE_TRIGGER_REFERRAL, "default trigger referral");
		is_int(t->after, -1, "no After");
	}
	template_free(t);
	t = parse_ok("x/r2.md", "Kind: referral-thanks\nTrigger: sale\nAfter: 1d\n"
	    "Subject: x\n\n{{referral.name}} bought {{sale.product}}\n",
	    "referral-thanks on the referred's sale");
	template_free(t);
	t = parse_ok("x/n.md", "Kind: newsletter\n"
	    "Audience: tag:newsletter and not (tag:vip or lang:ko)\n"
	    "Schedule: RRULE:FREQ=MONTHLY;BYDAY=1TU\nSubject: x\n\n"
	    "{{unsubscribe.url}}\n", "newsletter");
	if (t) {
		ok(t->schedule_rrule, "RRULE schedule");
		is_str(t->schedule, "RRULE:FREQ=MONTHLY;BYDAY=1TU", "schedule kept");
		is_int(t->naud, 6, "audience compiled to 6 terms");
		ok(template_audience_match(t, has_tag, news), "newsletter matches");
		ok(!template_audience_match(t, has_tag, vip), "vip excluded");
		ok(!template_audience_match(t, has_tag, ko_vip), "ko excluded");
		ok(!template_audience_match(t, has_tag, none), "no tag, no match");
	}
	template_free(t);
	t = parse_ok("x/n2.md", "Kind: newsletter\nAudience: all\n"
	    "Schedule: 2026-12-01T09:00\nSubject: x\n\nb\n", "dated newsletter");
	if (t) {
		ok(!t->schedule_rrule, "date-time schedule");
		ok(template_audience_match(t, has_tag, none), "all matches anyone");
	}
	template_free(t);
	t = parse_ok("x/n3.md", "Kind: newsletter\nAudience: NOT tag:a AND tag:b "
	    "OR tag:c\nSchedule: 2028-02-29T09:00:30\nSubject: x\n\nb\n",
	    "precedence, 29 February of a leap year");
	if (t) {
		const char *b[] = { "tag:b", NULL }, *ab[] = { "tag:a", "tag:b", NULL };
		const char *ac[] = { "tag:a", "tag:c", NULL };

		ok(template_audience_match(t, has_tag, b), "not a and b");
		ok(!template_audience_match(t, has_tag, ab), "a and b fails");
		ok(template_audience_match(t, has_tag, ac), "or c");
	}
	template_free(t);
}

static void
render_is(const char *body, const struct kv *kv, size_t n, const char *want,
    const char *label)
{
	struct strbuf src;
	struct template *t;
	struct template_output out;
	struct vals v = { kv, n, NULL };

	strbuf_init(&src, 0);
	strbuf_addf(&src, "Kind: birthday\nSubject: x\n\n%s", body);
	t = parse_ok("t.md", strbuf_str(&src), label);
	template_output_init(&out);
	if (t) {
		template_render(t, lookup, &v, &out);
		is_str(strbuf_str(&out.text), want, "%s", label);
	}
	template_output_free(&out);
	template_free(t);
	strbuf_free(&src);
}

static void
test_sections(void)
{
	static const struct kv kim[] = {
		{ "customer.first_name", "Kim" },
		{ "customer.company", "Acme" },
	};
	static const struct kv blank[] = {
		{ "customer.first_name", " \t " },
	};

	render_is("Hi {{customer.first_name}}!\n", kim, 2, "Hi Kim!\n", "variable");
	render_is("Hi {{ customer.first_name }}!\n", kim, 2, "Hi Kim!\n",
	    "blanks inside the braces");
	render_is("Hi{{#customer.first_name}} {{customer.first_name}}"
	    "{{/customer.first_name}},\n", kim, 2, "Hi Kim,\n", "section shown");
	render_is("Hi{{#customer.first_name}} {{customer.first_name}}"
	    "{{/customer.first_name}},\n", NULL, 0, "Hi,\n", "section hidden");
	render_is("Hi{{#customer.first_name}} {{customer.first_name}}"
	    "{{/customer.first_name}},\n", blank, 1, "Hi,\n",
	    "a blank value is false");
	render_is("{{^customer.first_name}}Dear customer{{/customer.first_name}}.\n",
	    NULL, 0, "Dear customer.\n", "inverted shown");
	render_is("{{^customer.first_name}}Dear customer{{/customer.first_name}}.\n",
	    kim, 2, ".\n", "inverted hidden");
	render_is("a\n{{#customer.first_name}}\nname {{customer.first_name}}\n"
	    "{{#customer.company}}\n  at {{customer.company}}\n"
	    "{{/customer.company}}\n{{^customer.company}}\nno company\n"
	    "{{/customer.company}}\n{{/customer.first_name}}\nz\n", kim, 2,
	    "a\nname Kim\n  at Acme\nz\n", "nested, standalone lines vanish");
	render_is("a\n{{#customer.first_name}}\nname {{customer.first_name}}\n"
	    "{{#customer.company}}\n  at {{customer.company}}\n"
	    "{{/customer.company}}\n{{^customer.company}}\nno company\n"
	    "{{/customer.company}}\n{{/customer.first_name}}\nz\n", kim, 1,
	    "a\nname Kim\nno company\nz\n", "nested, inner inverted");
	render_is("a {{! a comment }}b\n{{! alone }}\nc\n", NULL, 0, "a b\nc\n",
	    "comments");
	render_is("x {{customer.email}} y", NULL, 0, "x  y", "NULL is empty");
}

/* Renders body with one value for customer.name. */
static void
render_value(const char *body, const char *name, struct template_output *out)
{
	struct strbuf src;
	struct template *t;
	struct kv kv[] = { { "customer.name", name }, { "agenda.items", name } };
	struct vals v = { kv, 2, NULL };

	strbuf_init(&src, 0);
	strbuf_addf(&src, "Kind: agenda\nSubject: For {{customer.name}}!\n\n%s",
	    body);
	t = parse_ok("agenda.ko.md", strbuf_str(&src), "agenda template");
	if (t)
		template_render(t, lookup, &v, out);
	template_free(t);
	strbuf_free(&src);
}

static void
test_values(void)
{
	struct template_output out;

	template_output_init(&out);
	render_value("Hi {{customer.name}}.\n", "[Win](http://x.example)", &out);
	ok(strstr(out.html.buf, "<a ") == NULL, "a link in a value stays text");
	ok(strstr(out.html.buf, "[Win](http://x.example)") != NULL,
	    "the brackets show in HTML");
	is_str(out.text.buf, "Hi [Win](http://x.example).\n",
	    "text/plain has the value as it is");

	render_value("Hi {{customer.name}}.\n", "<b>x</b> & <script>alert(1)</script>",
	    &out);
	ok(strstr(out.html.buf, "&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;") != NULL,
	    "tags in a value are escaped in HTML");
	ok(strstr(out.html.buf, "<b>") == NULL && strstr(out.html.buf, "<script") ==
	    NULL, "no tag from a value");
	ok(strstr(out.html.buf, "<title>For &lt;b&gt;x&lt;/b&gt;") != NULL,
	    "subject escaped in the title");

	render_value("{{customer.name}}\n", "# Big *bold* `code` 1. - > x", &out);
	ok(strstr(out.html.buf, "<h1") == NULL && strstr(out.html.buf, "<em>") ==
	    NULL && strstr(out.html.buf, "<code>") == NULL &&
	    strstr(out.html.buf, "<blockquote>") == NULL,
	    "Markdown in a value does nothing");
	ok(strstr(out.html.buf, "# Big *bold* `code` 1. - &gt; x") != NULL,
	    "and shows as written");

	render_value("{{customer.name}}\n", "1. first", &out);
	ok(strstr(out.html.buf, "<ol>") == NULL, "no list from a value");

	render_value("Hi {{customer.name}}, {{sender.name}}\n",
	    "{{sender.email}} {{#x}}", &out);
	ok(strstr(out.text.buf, "{{sender.email}} {{#x}}") != NULL,
	    "braces in a value are not expanded (text)");
	ok(strstr(out.html.buf, "{{sender.email}} {{#x}}") != NULL,
	    "braces in a value are not expanded (HTML)");

	render_value("Dear {{customer.name}},\n", "Kim\r\nBcc: evil@x.example", &out);
	ok(strchr(out.subject.buf, '\r') == NULL && strchr(out.subject.buf, '\n') ==
	    NULL, "no CR/LF in the subject");
	is_str(out.subject.buf, "For Kim Bcc: evil@x.example!", "CR/LF becomes a blank");
	is_str(out.text.buf, "Dear Kim Bcc: evil@x.example,\n",
	    "single-line value stays on one line in text");

	render_value("Items:\n{{agenda.items}}\n", "one\r\n    two\n\n# three", &out);
	is_str(out.text.buf, "Items:\none\n    two\n\n# three\n",
	    "multi-line value keeps its lines in text");
	ok(strstr(out.html.buf, "one<br />\ntwo</p>") != NULL,
	    "multi-line value keeps its lines in HTML");
	ok(strstr(out.html.buf, "<pre>") == NULL && strstr(out.html.buf, "<h1") ==
	    NULL, "no code block, no heading from a multi-line value");

	render_value("{{customer.name}}\n", "  caf\xe9\x01 ok  ", &out);
	is_str(out.text.buf, "caf\xef\xbf\xbd  ok\n",
	    "invalid UTF-8 replaced, controls blanked, ends trimmed");

	render_value("Hello\n", "x", &out);
	ok(strstr(out.html.buf, "<meta charset=\"utf-8\">") != NULL, "UTF-8 meta");
	ok(strstr(out.html.buf, "max-width:600px") != NULL, "max-width style");
	ok(strstr(out.html.buf, "<html lang=\"ko\">") != NULL, "lang attribute");
	ok(strstr(out.html.buf, "<p>Hello</p>") != NULL, "body rendered by cmark");

	render_value("Template <i>raw</i> html\n", "x", &out);
	ok(strstr(out.html.buf, "<i>") == NULL, "raw HTML omitted (no UNSAFE)");
	template_output_free(&out);
}

static void
test_no_header_injection(void)
{
	struct template *t;
	struct template_output out;
	struct kv kv[] = {
		{ "customer.name", "Kim\r\nBcc: evil@x.example" },
		{ "customer.first_name", "Kim\nBcc: evil@x.example" },
	};
	struct vals v = { kv, 2, NULL };
	struct mime_message m;
	struct strbuf msg;
	char err[128];
	const char *p;
	bool bcc = false;

	t = parse_ok("t.md", "Kind: birthday\nSubject: Happy birthday, "
	    "{{customer.first_name}}!\n\nHi {{customer.name}}\n", "birthday");
	if (!t)
		return;
	template_output_init(&out);
	template_render(t, lookup, &v, &out);
	memset(&m, 0, sizeof(m));
	m.from_addr = "kim@example.com";
	m.to_name = kv[0].value;
	m.to_addr = "customer@example.net";
	m.subject = out.subject.buf;
	m.message_id = "<1@example.com>";
	m.text = out.text.buf;
	m.text_len = out.text.len;
	m.html = out.html.buf;
	m.html_len = out.html.len;
	strbuf_init(&msg, 0);
	ok(mime_build(&m, &msg, err, sizeof(err)) == 0, "message built");
	for (p = msg.buf; p && strncmp(p, "\r\n", 2) != 0; ) {
		if (strncasecmp(p, "Bcc:", 4) == 0)
			bcc = true;
		if ((p = strstr(p, "\r\n")))
			p += 2;
	}
	ok(!bcc, "a name with CR/LF puts no Bcc header into the message");
	strbuf_free(&msg);
	template_output_free(&out);
	template_free(t);
}

static void
find_is(const char *dir, const char *name, const char *lang, const char *want,
    const char *label)
{
	char *p = template_find(dir, name, lang);
	const char *base = p ? strrchr(p, '/') + 1 : NULL;

	is_str(base, want, "template_find %s", label);
	free(p);
}

static void
set_is(const struct template_set *set, const char *name, const char *lang,
    const char *want, const char *label)
{
	const struct template *t = template_set_get(set, name, lang);
	const char *base = t ? strrchr(t->path, '/') + 1 : NULL;

	is_str(base, want, "template_set_get %s", label);
}

static void
collect(void *arg, const char *msg)
{
	struct strbuf *sb = arg;

	strbuf_adds(sb, msg);
	strbuf_addc(sb, '\n');
}

static void
test_languages(void)
{
	char dir[1024], bad[1100];
	struct template_set *set;
	struct strbuf errs;

	snprintf(dir, sizeof(dir), "%s/tests/unit/tmpl", srcdir());
	find_is(dir, "greet", "ko", "greet.ko.md", "ko");
	find_is(dir, "greet", "KO", "greet.ko.md", "KO");
	find_is(dir, "greet", "zh-TW", "greet.zh-TW.md", "zh-TW");
	find_is(dir, "greet", "zh_TW", "greet.zh-TW.md", "zh_TW");
	find_is(dir, "greet", "zh-CN", "greet.zh.md", "zh-CN falls back to zh");
	find_is(dir, "greet", "zh-Hant-HK", "greet.zh.md", "zh-Hant-HK");
	find_is(dir, "greet", "fr", "greet.md", "fr falls back to name.md");
	find_is(dir, "greet", NULL, "greet.md", "no language");
	find_is(dir, "greet", "../../etc", "greet.md", "malformed language ignored");
	find_is(dir, "../tmpl/greet", "ko", NULL, "a path as name refused");
	find_is(dir, "missing", "ko", NULL, "missing template");

	strbuf_init(&errs, 0);
	is_int(template_set_load(dir, &set, collect, &errs), 0, "fixture set loads");
	is_str(strbuf_str(&errs), "", "no errors");
	is_int(template_set_count(set), 6, "six fixtures");
	set_is(set, "greet", "ko", "greet.ko.md", "ko");
	set_is(set, "greet", "zh-tw", "greet.zh-TW.md", "zh-tw, any case");
	set_is(set, "greet", "zh-Hans-CN", "greet.zh.md", "zh-Hans-CN");
	set_is(set, "greet", "de", "greet.md", "de");
	set_is(set, "followup-demo-1", "ko", "followup-demo-1.md", "no ko version");
	set_is(set, "nothing", "ko", NULL, "unknown name");
	template_set_free(set);

	strbuf_reset(&errs);
	is_int(template_set_load("/nonexistent-dir", &set, collect, &errs), -1,
	    "a missing directory");
	ok(strstr(strbuf_str(&errs), "/nonexistent-dir: No such file") != NULL,
	    "is reported");
	is_int(template_set_count(set), 0, "an empty set all the same");
	template_set_free(set);

	strbuf_reset(&errs);
	snprintf(bad, sizeof(bad), "%s/bad", dir);
	is_int(template_set_load(bad, &set, collect, &errs), 2,
	    "bad set: two errors");
	ok(strstr(strbuf_str(&errs), "unknown-var.md:7: unknown variable "
	    "{{customer.shoe_size}}") != NULL, "the bad file reported");
	ok(strstr(strbuf_str(&errs), "seq-b.md:1: step 1 of sequence seq is also ")
	    != NULL, "the clashing step reported");
	is_int(template_set_count(set), 2, "the good ones kept");
	template_set_free(set);
	strbuf_free(&errs);
}

/* Every shipped template loads and renders harmlessly with hostile values. */
static const char HOSTILE[] = "Kim\r\nBcc: evil@x.example <b>x</b> "
    "[Win](http://x.example) {{customer.name}} *y* \x01";

static bool
lines_crlf(const char *s)
{
	for (size_t i = 0; s[i]; i++)
		if ((s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) ||
		    (s[i] == '\r' && s[i + 1] != '\n'))
			return false;
	return true;
}

static void
test_shipped_one(const struct template *t, struct template_output *out)
{
	static const struct kv urls[] = {
		{ "unsubscribe.url", "https://example.com/u?t=a_b-c" },
		{ "unsubscribe.mailto", "mailto:u@example.com?subject=unsubscribe" },
	};
	struct vals v = { urls, 2, HOSTILE };
	struct mime_message m;
	struct strbuf msg;
	struct mailmime *mime = NULL;
	size_t idx = 0;
	char err[128];

	template_render(t, lookup, &v, out);
	ok(out->subject.len > 0 && !strpbrk(out->subject.buf, "\r\n"),
	    "%s: subject on one line", t->path);
	ok(strstr(out->html.buf, "<b>") == NULL && strstr(out->html.buf,
	    "href=\"http://x.example\"") == NULL, "%s: no markup from values",
	    t->path);
	ok(strstr(out->text.buf, "{{") == NULL || strstr(out->text.buf,
	    "{{customer.name}}") != NULL, "%s: no template tag left", t->path);
	if (t->kind == TEMPLATE_NEWSLETTER)
		ok(strstr(out->html.buf, "href=\"https://example.com/u?t=a_b-c\"")
		    != NULL, "%s: unsubscribe link intact", t->path);
	memset(&m, 0, sizeof(m));
	m.from_name = "Kim Sales";
	m.from_addr = "kim@example.com";
	m.to_name = HOSTILE;
	m.to_addr = "customer@example.net";
	m.subject = out->subject.buf;
	m.message_id = "<1.2@example.com>";
	m.text = out->text.buf;
	m.text_len = out->text.len;
	m.html = out->html.buf;
	m.html_len = out->html.len;
	strbuf_init(&msg, 0);
	/* A multi-line body variable (agenda.items) keeps its line breaks,
	 * so "Bcc:" may start a body line; the header block must not hold it. */
	ok(mime_build(&m, &msg, err, sizeof(err)) == 0 && lines_crlf(msg.buf) &&
	    strstr(msg.buf, "\r\n\r\n") != NULL &&
	    memmem(msg.buf, (size_t)(strstr(msg.buf, "\r\n\r\n") - msg.buf),
	    "\r\nBcc:", 6) == NULL &&
	    mailmime_parse(msg.buf, msg.len, &idx, &mime) == MAILIMF_NO_ERROR,
	    "%s: a clean message", t->path);
	if (mime)
		mailmime_free(mime);
	strbuf_free(&msg);
}

static void
test_shipped(void)
{
	static const char *const names[] = {
		"followup-sale-1", "followup-sale-2", "followup-meeting",
		"birthday", "newsletter", "referral-thanks", "agenda",
	};
	static const char *const langs[] = { "en", "ko", "zh" };
	char dir[1024];
	struct template_set *set;
	struct strbuf errs;
	struct template_output out;

	snprintf(dir, sizeof(dir), "%s/templates", srcdir());
	strbuf_init(&errs, 0);
	is_int(template_set_load(dir, &set, collect, &errs), 0,
	    "shipped templates load");
	is_str(strbuf_str(&errs), "", "without errors");
	is_int(template_set_count(set), 21, "seven templates in three languages");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (size_t j = 0; j < 3; j++) {
			const struct template *t = template_set_get(set, names[i],
			    langs[j]);

			ok(t && (j == 0 ? t->lang == NULL :
			    strcmp(t->lang, langs[j]) == 0), "%s in %s", names[i],
			    langs[j]);
		}
	template_output_init(&out);
	for (size_t i = 0; i < template_set_count(set); i++)
		test_shipped_one(template_set_at(set, i), &out);
	{
		const struct template *s1 = template_set_get(set, "followup-sale-1", NULL);
		const struct template *s2 = template_set_get(set, "followup-sale-2", "ko");

		ok(s1 && s1->step == 1 && s1->after == 3 * 86400 && s1->unless_replied,
		    "followup-sale-1: step 1 after 3 days unless replied");
		ok(s2 && s2->step == 2 && s2->after == 30 * 86400 &&
		    strcmp(s2->sequence, "followup-sale") == 0,
		    "followup-sale-2.ko: step 2 of followup-sale after 30 days");
	}
	/* Not a benchmark: a hint of the cost, as a comment. */
	{
		const struct template *t = template_set_get(set, "followup-sale-1", "ko");
		struct vals v = { NULL, 0, "김민준" };
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (int i = 0; t && i < 10000; i++)
			template_render(t, lookup, &v, &out);
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("# 10000 renders: %.1f ms\n", (double)(b.tv_sec - a.tv_sec) *
		    1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	}
	template_output_free(&out);
	template_set_free(set);
	strbuf_free(&errs);
}

int
main(void)
{
	test_header_errors();
	test_body_errors();
	test_load_files();
	test_header_values();
	test_sections();
	test_values();
	test_no_header_injection();
	test_languages();
	test_shipped();
	return tap_done();
}
