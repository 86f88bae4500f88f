/*
 * Templates: a file of "Key: value" header lines, a blank line and a
 * Markdown body, with {{a.b}} variables, {{#x}}...{{/x}} sections (shown
 * when x is not blank) and {{^x}}...{{/x}} inverted sections.  A template is
 * parsed and checked once, at load, into a compiled form; rendering walks
 * that form, so every error (unknown variable, unbalanced section, bad
 * header) is found at load, with "FILE:LINE: message".
 *
 * Values are data, never markup.  They come from a lookup callback and go
 *  - into the HTML part Markdown-escaped (a backslash before each ASCII
 *    punctuation character) before cmark, which runs without
 *    CMARK_OPT_UNSAFE and HTML-escapes them;
 *  - into the text/plain part (the Markdown itself) as they are;
 *  - into the subject as they are.
 * Control characters in a value become blanks, except the line breaks of
 * the few multi-line variables in the body; invalid UTF-8 becomes U+FFFD;
 * leading and trailing blanks go.  The subject never holds CR or LF.
 *
 * Line breaks inside a paragraph are kept in the HTML part too
 * (CMARK_OPT_HARDBREAKS): a salesperson's "Best regards,\nKim" stays on two
 * lines, so a paragraph is written on one line, or broken where a break is
 * meant.  A section tag alone on its line takes that line with it.
 * "{{! ...}}" is a comment.
 *
 * Header keys (case-insensitive; unknown ones, or ones not allowed for the
 * Kind, are errors):
 *   Kind      follow-up | birthday | newsletter | referral-thanks | agenda
 *   Subject   all kinds, required; may hold variables and sections
 *   Trigger   follow-up (required): sale | meeting | first-message;
 *             referral-thanks: referral (default) | sale (the referred
 *             person's first sale)
 *   After     follow-up (required), referral-thanks: 30m, 12h, 3d, 2w
 *   Unless    follow-up: replied
 *   Step, Sequence   follow-up: defaults from the name, see below
 *   At        birthday, agenda: HH:MM, recipient's local time
 *   Audience  newsletter (required): see template_aud_op
 *   Schedule  newsletter (required): YYYY-MM-DDTHH:MM[:SS] (local) or
 *             RRULE:... (checked with libical here, expanded by the planner)
 * The variables of each kind are in the table at the top of template.c.
 *
 * A struct template and its strings belong to whoever loaded it and are
 * freed by template_free() (or template_set_free()).  Loaded templates are
 * read-only: any number of threads may render from one.
 */
#ifndef RAPPORT_TEMPLATE_H
#define RAPPORT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

enum template_kind {
	TEMPLATE_FOLLOW_UP,
	TEMPLATE_BIRTHDAY,
	TEMPLATE_NEWSLETTER,
	TEMPLATE_REFERRAL_THANKS,
	TEMPLATE_AGENDA,
};

enum template_trigger {
	TEMPLATE_TRIGGER_NONE,		/* kinds without a trigger */
	TEMPLATE_TRIGGER_SALE,		/* follow-up; referral-thanks: the referred's first sale */
	TEMPLATE_TRIGGER_MEETING,	/* follow-up: a meeting that ended */
	TEMPLATE_TRIGGER_FIRST_MESSAGE,	/* follow-up: first message from a new customer */
	TEMPLATE_TRIGGER_REFERRAL,	/* referral-thanks (its default) */
};

/*
 * Audience expressions ("tag:newsletter and not (tag:vip or lang:ko)"),
 * compiled to reverse Polish notation so that a store backend can also
 * translate them to a query.  Atoms are "tag:NAME", "lang:CODE",
 * "tier:NAME" and "all"; operators "not", "and", "or" (loosest), with
 * parentheses.
 */
enum template_aud_op {
	TEMPLATE_AUD_MATCH,	/* push field:value */
	TEMPLATE_AUD_ALL,	/* push true */
	TEMPLATE_AUD_NOT,	/* pop 1, push */
	TEMPLATE_AUD_AND,	/* pop 2, push */
	TEMPLATE_AUD_OR,	/* pop 2, push */
};

struct template_aud_term {
	enum template_aud_op	 op;
	char			*field;	/* MATCH: "tag", "lang" or "tier" */
	char			*value;	/* MATCH: as written */
};

struct template_code;	/* the compiled subject and body */

struct template {
	char			*path;		/* as given to template_load() */
	char			*name;		/* "followup-sale-1" of followup-sale-1.ko.md */
	char			*lang;		/* "ko"; NULL for name.md */
	enum template_kind	 kind;
	enum template_trigger	 trigger;
	int64_t			 after;		/* seconds; -1 when not given */
	bool			 unless_replied;
	/* follow-up: order within a sequence; default the name's "-N" suffix, or 1 */
	int			 step;
	/* follow-up: default the name without its "-N" suffix; NULL otherwise */
	char			*sequence;
	int			 at;		/* minutes after midnight; -1 when not given */
	char			*audience;	/* newsletter: as written */
	struct template_aud_term *aud;		/* newsletter: compiled */
	size_t			 naud;
	char			*schedule;	/* newsletter: "2026-12-01T09:00" or "RRULE:..." */
	bool			 schedule_rrule;
	struct template_code	*code;
};

/*
 * The value of a variable ("customer.first_name") for one message, or
 * NULL when there is none (rendered as empty, a section's test is false).
 */
typedef const char *(*template_lookup_fn)(void *ctx, const char *name);

/* Rendered parts; reuse one across renders to save allocations. */
struct template_output {
	struct strbuf	subject;	/* one line, UTF-8, never CR or LF */
	struct strbuf	text;		/* text/plain: the Markdown with raw values */
	struct strbuf	html;		/* text/html: a whole small document */
	struct strbuf	md;		/* scratch: Markdown with escaped values */
};

/*
 * Loads and checks path.  Returns 0 with *out set, or -1 with
 * "FILE:LINE: message" in err.
 */
int template_load(const char *path, struct template **out, char *err,
    size_t errlen);
/* The same from memory; path only names the template and its errors. */
int template_parse(const char *path, const char *data, size_t len,
    struct template **out, char *err, size_t errlen);
void template_free(struct template *t);

void template_output_init(struct template_output *o);
void template_output_free(struct template_output *o);

/* Fills all of out (emptied first). */
void template_render(const struct template *t, template_lookup_fn lookup,
    void *ctx, struct template_output *out);
/* The subject alone, appended to sb. */
void template_render_subject(const struct template *t,
    template_lookup_fn lookup, void *ctx, struct strbuf *sb);

/* Whether the template reads the variable, in its subject or body. */
bool template_uses(const struct template *t, const char *name);

/*
 * Evaluates the audience for one customer: match() answers whether the
 * customer has field:value.  A template without an audience matches all.
 */
bool template_audience_match(const struct template *t,
    bool (*match)(void *ctx, const char *field, const char *value),
    void *ctx);

const char *template_kind_name(enum template_kind kind);
const char *template_trigger_name(enum template_trigger trigger);

/*
 * The path of DIR/NAME.LANG.md, trying LANG and its shorter forms
 * ("zh-Hant-TW", "zh-Hant", "zh"; "_" read as "-"), then DIR/NAME.md;
 * NULL if none is readable or NAME or LANG is malformed (a LANG that is
 * malformed is ignored).  The caller frees the result.
 */
char *template_find(const char *dir, const char *name, const char *lang);

/*
 * Every NAME.md and NAME.LANG.md in a directory, loaded once.  errfn gets
 * each error ("FILE:LINE: message"), also a follow-up sequence whose steps
 * disagree; returns the number of errors (-1 if dir cannot be read), with
 * *out holding the templates that loaded.
 */
struct template_set;
int template_set_load(const char *dir, struct template_set **out,
    void (*errfn)(void *arg, const char *msg), void *arg);
/* The template for name in lang, with the fallbacks of template_find(). */
const struct template *template_set_get(const struct template_set *set,
    const char *name, const char *lang);
size_t template_set_count(const struct template_set *set);
const struct template *template_set_at(const struct template_set *set,
    size_t i);
void template_set_free(struct template_set *set);

#endif
