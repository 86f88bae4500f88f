#include "template.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmark.h>
#include <libical/ical.h>

#include "rfc2047.h"
#include "xmalloc.h"

#define TEMPLATE_FILE_MAX	(1024 * 1024)
#define TEMPLATE_DEPTH_MAX	8
#define TEMPLATE_LANG_MAX	35	/* as BCP 47 advises */
#define TEMPLATE_AFTER_MAX	(5 * 366 * 86400LL)

#define K(kind)		(1u << (kind))
#define K_ALL		(K(TEMPLATE_FOLLOW_UP) | K(TEMPLATE_BIRTHDAY) | \
			 K(TEMPLATE_NEWSLETTER) | K(TEMPLATE_REFERRAL_THANKS) | \
			 K(TEMPLATE_AGENDA))
#define T(trigger)	(1u << (trigger))

static const char *const template_kinds[] = {
	[TEMPLATE_FOLLOW_UP] = "follow-up",
	[TEMPLATE_BIRTHDAY] = "birthday",
	[TEMPLATE_NEWSLETTER] = "newsletter",
	[TEMPLATE_REFERRAL_THANKS] = "referral-thanks",
	[TEMPLATE_AGENDA] = "agenda",
};
#define TEMPLATE_NKINDS (sizeof(template_kinds) / sizeof(template_kinds[0]))

static const char *const template_triggers[] = {
	[TEMPLATE_TRIGGER_NONE] = "none",
	[TEMPLATE_TRIGGER_SALE] = "sale",
	[TEMPLATE_TRIGGER_MEETING] = "meeting",
	[TEMPLATE_TRIGGER_FIRST_MESSAGE] = "first-message",
	[TEMPLATE_TRIGGER_REFERRAL] = "referral",
};

/*
 * Every variable a template may use, the kinds it exists in and, for kinds
 * with a Trigger, the triggers that provide it (0: all).  Multi-line
 * variables keep their line breaks in the body.  Add new ones here.
 */
struct template_var {
	const char	*name;
	unsigned	 kinds;
	unsigned	 triggers;
	bool		 multiline;
};

static const struct template_var template_vars[] = {
	{ "customer.name",	K_ALL, 0, false },
	{ "customer.first_name", K_ALL, 0, false },
	{ "customer.last_name",	K_ALL, 0, false },
	{ "customer.company",	K_ALL, 0, false },
	{ "customer.email",	K_ALL, 0, false },
	{ "sender.name",	K_ALL, 0, false },
	{ "sender.first_name",	K_ALL, 0, false },
	{ "sender.email",	K_ALL, 0, false },
	{ "customer.age",	K(TEMPLATE_BIRTHDAY), 0, false },
	{ "sale.product",	K(TEMPLATE_FOLLOW_UP) | K(TEMPLATE_REFERRAL_THANKS),
	    T(TEMPLATE_TRIGGER_SALE), false },
	{ "sale.date",		K(TEMPLATE_FOLLOW_UP) | K(TEMPLATE_REFERRAL_THANKS),
	    T(TEMPLATE_TRIGGER_SALE), false },
	{ "meeting.summary",	K(TEMPLATE_FOLLOW_UP) | K(TEMPLATE_AGENDA),
	    T(TEMPLATE_TRIGGER_MEETING), false },
	{ "meeting.date",	K(TEMPLATE_FOLLOW_UP) | K(TEMPLATE_AGENDA),
	    T(TEMPLATE_TRIGGER_MEETING), false },
	{ "meeting.time",	K(TEMPLATE_FOLLOW_UP) | K(TEMPLATE_AGENDA),
	    T(TEMPLATE_TRIGGER_MEETING), false },
	{ "meeting.location",	K(TEMPLATE_FOLLOW_UP) | K(TEMPLATE_AGENDA),
	    T(TEMPLATE_TRIGGER_MEETING), false },
	{ "message.subject",	K(TEMPLATE_FOLLOW_UP),
	    T(TEMPLATE_TRIGGER_FIRST_MESSAGE), false },
	{ "message.date",	K(TEMPLATE_FOLLOW_UP),
	    T(TEMPLATE_TRIGGER_FIRST_MESSAGE), false },
	{ "referral.name",	K(TEMPLATE_REFERRAL_THANKS), 0, false },
	{ "referral.first_name", K(TEMPLATE_REFERRAL_THANKS), 0, false },
	{ "unsubscribe.url",	K(TEMPLATE_NEWSLETTER), 0, false },
	{ "unsubscribe.mailto",	K(TEMPLATE_NEWSLETTER), 0, false },
	{ "agenda.date",	K(TEMPLATE_AGENDA), 0, false },
	{ "agenda.items",	K(TEMPLATE_AGENDA), 0, true },
};
#define TEMPLATE_NVARS (sizeof(template_vars) / sizeof(template_vars[0]))

enum tnode_type {
	TN_TEXT,
	TN_VAR,
	TN_SECTION,
	TN_INVERTED,
};

struct tnode {
	enum tnode_type		 type;
	const char		*text;	/* TN_TEXT: into code->src */
	size_t			 len;
	const struct template_var *var;
	size_t			 end;	/* sections: index past their last node */
};

struct tnodes {
	struct tnode	*v;
	size_t		 n, cap;
};

struct template_code {
	char		*src;	/* the normalized file; header lines cut by NULs */
	struct tnodes	 subject;
	struct tnodes	 body;
};

struct tparse {
	const char		*path;
	char			*err;
	size_t			 errlen;
	struct template		*t;
};

struct theader;
typedef int (*tkey_parse_fn)(struct tparse *, const struct theader *);

struct template_key {
	const char	*name;
	unsigned	 allowed;
	unsigned	 required;
	tkey_parse_fn	 parse;
};

struct theader {
	const struct template_key *key;
	const char	*value;
	int		 line;
};

static int template_parse_trigger(struct tparse *, const struct theader *);
static int template_parse_after(struct tparse *, const struct theader *);
static int template_parse_unless(struct tparse *, const struct theader *);
static int template_parse_step(struct tparse *, const struct theader *);
static int template_parse_sequence(struct tparse *, const struct theader *);
static int template_parse_at(struct tparse *, const struct theader *);
static int template_parse_audience(struct tparse *, const struct theader *);
static int template_parse_schedule(struct tparse *, const struct theader *);

/* Kind and Subject are handled apart: Kind first, Subject last. */
static const struct template_key template_keys[] = {
	{ "Kind", K_ALL, K_ALL, NULL },
	{ "Subject", K_ALL, K_ALL, NULL },
	{ "Trigger", K(TEMPLATE_FOLLOW_UP) | K(TEMPLATE_REFERRAL_THANKS),
	    K(TEMPLATE_FOLLOW_UP), template_parse_trigger },
	{ "After", K(TEMPLATE_FOLLOW_UP) | K(TEMPLATE_REFERRAL_THANKS),
	    K(TEMPLATE_FOLLOW_UP), template_parse_after },
	{ "Unless", K(TEMPLATE_FOLLOW_UP), 0, template_parse_unless },
	{ "Step", K(TEMPLATE_FOLLOW_UP), 0, template_parse_step },
	{ "Sequence", K(TEMPLATE_FOLLOW_UP), 0, template_parse_sequence },
	{ "At", K(TEMPLATE_BIRTHDAY) | K(TEMPLATE_AGENDA), 0, template_parse_at },
	{ "Audience", K(TEMPLATE_NEWSLETTER), K(TEMPLATE_NEWSLETTER),
	    template_parse_audience },
	{ "Schedule", K(TEMPLATE_NEWSLETTER), K(TEMPLATE_NEWSLETTER),
	    template_parse_schedule },
};
#define TEMPLATE_NKEYS (sizeof(template_keys) / sizeof(template_keys[0]))

static int
template_error(struct tparse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
template_error(struct tparse *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(p->err, p->errlen, "%s:%d: ", p->path, line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

const char *
template_kind_name(enum template_kind kind)
{
	return (size_t)kind < TEMPLATE_NKINDS ? template_kinds[kind] : "?";
}

const char *
template_trigger_name(enum template_trigger trigger)
{
	return (size_t)trigger < sizeof(template_triggers) /
	    sizeof(template_triggers[0]) ? template_triggers[trigger] : "?";
}

static bool
template_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool
template_is_word(char c, const char *extra)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr(extra, c) != NULL);
}

/*
 * "ko", "zh-TW", "zh-Hant-TW": a language of 2 or 3 letters, then subtags
 * of 1-8 letters or digits.  (BCP 47 allows longer languages; nobody uses
 * them, and refusing them keeps "my.notes.md" from reading as language
 * "notes".)
 */
static bool
template_lang_ok(const char *lang, size_t n)
{
	size_t i = 0, sub;

	if (n == 0 || n > TEMPLATE_LANG_MAX)
		return false;
	for (sub = 0; i < n && lang[i] != '-'; i++, sub++)
		if (!((lang[i] >= 'a' && lang[i] <= 'z') ||
		    (lang[i] >= 'A' && lang[i] <= 'Z')))
			return false;
	if (sub < 2 || sub > 3)
		return false;
	while (i < n) {
		i++;	/* the '-' */
		for (sub = 0; i < n && lang[i] != '-'; i++, sub++)
			if (!template_is_word(lang[i], ""))
				return false;
		if (sub < 1 || sub > 8)
			return false;
	}
	return true;
}

static bool
template_name_ok(const char *name, size_t n)
{
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!template_is_word(name[i], "_-"))
			return false;
	return true;
}

/* name and lang from ".../NAME.md" or ".../NAME.LANG.md". */
static int
template_name_from_path(struct tparse *p)
{
	const char *base = strrchr(p->path, '/'), *dot;
	size_t n;

	base = base ? base + 1 : p->path;
	n = strlen(base);
	if (n < 4 || strcmp(base + n - 3, ".md") != 0)
		goto bad;
	n -= 3;
	dot = memchr(base, '.', n);
	if (dot) {
		if (!template_lang_ok(dot + 1, n - (size_t)(dot + 1 - base)))
			goto bad;
		p->t->lang = xstrndup(dot + 1, n - (size_t)(dot + 1 - base));
		n = (size_t)(dot - base);
	}
	if (!template_name_ok(base, n))
		goto bad;
	p->t->name = xstrndup(base, n);
	return 0;
bad:
	return template_error(p, 1, "file name is not NAME.md or NAME.LANG.md "
	    "(NAME of letters, digits, '-' and '_')");
}

/*
 * A private copy with CRLF turned into LF, a leading BOM dropped; invalid
 * UTF-8 and control characters other than tab are errors.
 */
static char *
template_normalize(struct tparse *p, const char *data, size_t len)
{
	char *src, *o;
	size_t i = 0, n;
	uint32_t cp;
	int line = 1;

	if (len > TEMPLATE_FILE_MAX) {
		template_error(p, 1, "file larger than %d bytes", TEMPLATE_FILE_MAX);
		return NULL;
	}
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	o = src = xmalloc(len + 1);
	while (i < len) {
		n = rfc2047_utf8_len(data + i, len - i, &cp);
		if (n == 0) {
			template_error(p, line, "invalid UTF-8");
			goto fail;
		}
		if (cp == '\r' && i + 1 < len && data[i + 1] == '\n') {
			i++;
			continue;
		}
		if (cp == '\n')
			line++;
		else if ((cp < 0x20 && cp != '\t') || cp == 0x7f) {
			template_error(p, line, "control character 0x%02x", cp);
			goto fail;
		}
		memcpy(o, data + i, n);
		o += n;
		i += n;
	}
	*o = '\0';
	return src;
fail:
	free(src);
	return NULL;
}

/* ---- header values ---- */

static int
template_parse_trigger(struct tparse *p, const struct theader *h)
{
	static const enum template_trigger follow_up[] = {
		TEMPLATE_TRIGGER_SALE, TEMPLATE_TRIGGER_MEETING,
		TEMPLATE_TRIGGER_FIRST_MESSAGE,
	};
	static const enum template_trigger referral[] = {
		TEMPLATE_TRIGGER_REFERRAL, TEMPLATE_TRIGGER_SALE,
	};
	bool fu = p->t->kind == TEMPLATE_FOLLOW_UP;
	const enum template_trigger *v = fu ? follow_up : referral;
	size_t n = fu ? 3 : 2;

	for (size_t i = 0; i < n; i++)
		if (strcmp(h->value, template_triggers[v[i]]) == 0) {
			p->t->trigger = v[i];
			return 0;
		}
	return template_error(p, h->line, "bad Trigger \"%s\" (%s)", h->value,
	    fu ? "sale, meeting or first-message" : "referral or sale");
}

static int
template_parse_after(struct tparse *p, const struct theader *h)
{
	const char *s = h->value;
	long long n = 0, unit;
	size_t digits = 0;

	while (s[digits] >= '0' && s[digits] <= '9' && digits < 6)
		n = n * 10 + (s[digits++] - '0');
	switch (digits > 0 && s[digits] != '\0' && s[digits + 1] == '\0' ?
	    s[digits] : '\0') {
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	case 'w':
		unit = 7 * 86400;
		break;
	default:
		return template_error(p, h->line, "bad After \"%s\" (a number "
		    "and m, h, d or w: 30m, 12h, 3d, 2w)", s);
	}
	if (n * unit > TEMPLATE_AFTER_MAX)
		return template_error(p, h->line, "After \"%s\" is longer than "
		    "five years", s);
	p->t->after = n * unit;
	return 0;
}

static int
template_parse_unless(struct tparse *p, const struct theader *h)
{
	if (strcmp(h->value, "replied") != 0)
		return template_error(p, h->line, "bad Unless \"%s\" (replied)",
		    h->value);
	p->t->unless_replied = true;
	return 0;
}

static int
template_parse_step(struct tparse *p, const struct theader *h)
{
	const char *s = h->value;
	int n = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 3; i++)
		n = n * 10 + (s[i] - '0');
	if (i == 0 || s[i] != '\0' || n < 1)
		return template_error(p, h->line, "bad Step \"%s\" (1 to 999)", s);
	p->t->step = n;
	return 0;
}

static int
template_parse_sequence(struct tparse *p, const struct theader *h)
{
	if (!template_name_ok(h->value, strlen(h->value)))
		return template_error(p, h->line, "bad Sequence \"%s\" (letters, "
		    "digits, '-' and '_')", h->value);
	free(p->t->sequence);
	p->t->sequence = xstrdup(h->value);
	return 0;
}

/* Two digits, or -1. */
static int
template_2digits(const char *s)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

static int
template_parse_at(struct tparse *p, const struct theader *h)
{
	const char *s = h->value;
	int hh = -1, mm = -1;

	if (strlen(s) == 5 && s[2] == ':') {
		hh = template_2digits(s);
		mm = template_2digits(s + 3);
	}
	if (hh < 0 || hh > 23 || mm < 0 || mm > 59)
		return template_error(p, h->line, "bad At \"%s\" (HH:MM, 00:00 "
		    "to 23:59)", s);
	p->t->at = hh * 60 + mm;
	return 0;
}

static bool
template_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS", a real local date-time. */
static bool
template_datetime_ok(const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	size_t n = strlen(s);
	int y, mo, d, hh, mm, ss = 0;

	if ((n != 16 && n != 19) || s[4] != '-' || s[7] != '-' ||
	    s[10] != 'T' || s[13] != ':' || (n == 19 && s[16] != ':'))
		return false;
	if (template_2digits(s) < 0 || template_2digits(s + 2) < 0)
		return false;
	y = template_2digits(s) * 100 + template_2digits(s + 2);
	mo = template_2digits(s + 5);
	d = template_2digits(s + 8);
	hh = template_2digits(s + 11);
	mm = template_2digits(s + 14);
	if (n == 19)
		ss = template_2digits(s + 17);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || hh < 0 || hh > 23 ||
	    mm < 0 || mm > 59 || ss < 0 || ss > 59)
		return false;
	return d <= mdays[mo - 1] + (mo == 2 && template_leap(y));
}

static int
template_parse_schedule(struct tparse *p, const struct theader *h)
{
	struct icalrecurrencetype r;
	const char *s = h->value;

	if (strncmp(s, "RRULE:", 6) == 0) {
		icalerror_clear_errno();
		r = icalrecurrencetype_from_string(s + 6);
		if (r.rscale)
			icalmemory_free_buffer(r.rscale);
		if (r.freq == ICAL_NO_RECURRENCE)
			return template_error(p, h->line, "bad Schedule \"%s\": "
			    "libical cannot read the RRULE", s);
		p->t->schedule_rrule = true;
	} else if (!template_datetime_ok(s))
		return template_error(p, h->line, "bad Schedule \"%s\" "
		    "(YYYY-MM-DDTHH:MM or RRULE:...)", s);
	p->t->schedule = xstrdup(s);
	return 0;
}

/* ---- audience expressions: recursive descent into RPN ---- */

struct taud {
	struct tparse		*p;
	int			 line;
	const char		*s;	/* the next token */
	struct template_aud_term *v;
	size_t			 n, cap;
	int			 depth;
};

static int taud_or(struct taud *a);

static void
taud_skip(struct taud *a)
{
	while (template_is_blank(*a->s))
		a->s++;
}

/* The length of the token at a->s: "(", ")" or a run of other characters. */
static size_t
taud_token(struct taud *a)
{
	size_t n = 0;

	taud_skip(a);
	if (*a->s == '(' || *a->s == ')')
		return 1;
	while (a->s[n] && !template_is_blank(a->s[n]) && a->s[n] != '(' &&
	    a->s[n] != ')')
		n++;
	return n;
}

static bool
taud_is(struct taud *a, const char *word)
{
	size_t n = taud_token(a);

	return n == strlen(word) && strncasecmp(a->s, word, n) == 0;
}

static void
taud_push(struct taud *a, enum template_aud_op op, const char *field,
    size_t flen, const char *value, size_t vlen)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->v = xreallocarray(a->v, a->cap, sizeof(*a->v));
	}
	a->v[a->n].op = op;
	a->v[a->n].field = field ? xstrndup(field, flen) : NULL;
	a->v[a->n].value = value ? xstrndup(value, vlen) : NULL;
	a->n++;
}

static int
taud_syntax(struct taud *a, const char *what)
{
	size_t n = taud_token(a);

	if (n == 0)
		return template_error(a->p, a->line, "bad Audience: %s at the end",
		    what);
	return template_error(a->p, a->line, "bad Audience: %s at \"%.*s\"",
	    what, (int)n, a->s);
}

static int
taud_atom(struct taud *a)
{
	static const char *const fields[] = { "tag", "lang", "tier" };
	size_t n = taud_token(a);
	const char *colon;

	if (n == 0 || *a->s == ')')
		return taud_syntax(a, "expected tag:NAME");
	if (taud_is(a, "all")) {
		taud_push(a, TEMPLATE_AUD_ALL, NULL, 0, NULL, 0);
		a->s += n;
		return 0;
	}
	colon = memchr(a->s, ':', n);
	for (size_t i = 0; colon && i < 3; i++) {
		if ((size_t)(colon - a->s) != strlen(fields[i]) ||
		    strncmp(a->s, fields[i], (size_t)(colon - a->s)) != 0)
			continue;
		if (colon + 1 == a->s + n)
			break;
		taud_push(a, TEMPLATE_AUD_MATCH, a->s, (size_t)(colon - a->s),
		    colon + 1, n - (size_t)(colon + 1 - a->s));
		a->s += n;
		return 0;
	}
	return taud_syntax(a, "expected tag:NAME, lang:CODE, tier:NAME or all");
}

static int
taud_not(struct taud *a)
{
	if (++a->depth > 32)
		return template_error(a->p, a->line, "bad Audience: nested too deep");
	if (taud_is(a, "not")) {
		a->s += 3;
		if (taud_not(a) == -1)
			return -1;
		taud_push(a, TEMPLATE_AUD_NOT, NULL, 0, NULL, 0);
	} else if (taud_token(a) == 1 && *a->s == '(') {
		a->s++;
		if (taud_or(a) == -1)
			return -1;
		if (taud_token(a) != 1 || *a->s != ')')
			return taud_syntax(a, "expected \")\"");
		a->s++;
	} else if (taud_atom(a) == -1)
		return -1;
	a->depth--;
	return 0;
}

static int
taud_and(struct taud *a)
{
	if (taud_not(a) == -1)
		return -1;
	while (taud_is(a, "and")) {
		a->s += 3;
		if (taud_not(a) == -1)
			return -1;
		taud_push(a, TEMPLATE_AUD_AND, NULL, 0, NULL, 0);
	}
	return 0;
}

static int
taud_or(struct taud *a)
{
	if (taud_and(a) == -1)
		return -1;
	while (taud_is(a, "or")) {
		a->s += 2;
		if (taud_and(a) == -1)
			return -1;
		taud_push(a, TEMPLATE_AUD_OR, NULL, 0, NULL, 0);
	}
	return 0;
}

static int
template_parse_audience(struct tparse *p, const struct theader *h)
{
	struct taud a = { .p = p, .line = h->line, .s = h->value };

	if (taud_or(&a) == -1 || (taud_token(&a) != 0 &&
	    taud_syntax(&a, "expected and, or, or the end") == -1)) {
		for (size_t i = 0; i < a.n; i++) {
			free(a.v[i].field);
			free(a.v[i].value);
		}
		free(a.v);
		return -1;
	}
	p->t->aud = a.v;
	p->t->naud = a.n;
	p->t->audience = xstrdup(h->value);
	return 0;
}

bool
template_audience_match(const struct template *t,
    bool (*match)(void *ctx, const char *field, const char *value), void *ctx)
{
	bool stack[64];
	size_t sp = 0;

	if (t->naud == 0)
		return true;
	for (size_t i = 0; i < t->naud; i++) {
		const struct template_aud_term *a = &t->aud[i];

		switch (a->op) {
		case TEMPLATE_AUD_MATCH:
		case TEMPLATE_AUD_ALL:
			if (sp == sizeof(stack) / sizeof(stack[0]))
				return false;	/* refused: a deeper expression */
			stack[sp++] = a->op == TEMPLATE_AUD_ALL ||
			    match(ctx, a->field, a->value);
			break;
		case TEMPLATE_AUD_NOT:
			stack[sp - 1] = !stack[sp - 1];
			break;
		case TEMPLATE_AUD_AND:
			sp--;
			stack[sp - 1] = stack[sp - 1] && stack[sp];
			break;
		case TEMPLATE_AUD_OR:
			sp--;
			stack[sp - 1] = stack[sp - 1] || stack[sp];
			break;
		}
	}
	return sp == 1 && stack[0];
}

/* ---- the body and subject compiler ---- */

struct tcompile {
	struct tparse	*p;
	struct tnodes	*out;
	struct {
		size_t			 node;
		const struct template_var *var;
		int			 line;
	} stack[TEMPLATE_DEPTH_MAX];
	int		 depth;
};

static struct tnode *
tcompile_add(struct tcompile *c, enum tnode_type type)
{
	struct tnodes *o = c->out;

	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 16;
		o->v = xreallocarray(o->v, o->cap, sizeof(*o->v));
	}
	memset(&o->v[o->n], 0, sizeof(o->v[0]));
	o->v[o->n].type = type;
	return &o->v[o->n++];
}

static void
tcompile_text(struct tcompile *c, const char *s, size_t n)
{
	struct tnode *nd;

	if (n == 0)
		return;
	nd = tcompile_add(c, TN_TEXT);
	nd->text = s;
	nd->len = n;
}

static const struct template_var *
template_var_find(const char *name, size_t n)
{
	for (size_t i = 0; i < TEMPLATE_NVARS; i++)
		if (strlen(template_vars[i].name) == n &&
		    memcmp(template_vars[i].name, name, n) == 0)
			return &template_vars[i];
	return NULL;
}

/* The variable a tag names, if this template's kind and trigger have it. */
static const struct template_var *
tcompile_var(struct tcompile *c, const char *name, size_t n, int line)
{
	const struct template *t = c->p->t;
	const struct template_var *v = template_var_find(name, n);

	if (!v) {
		template_error(c->p, line, "unknown variable {{%.*s}}", (int)n,
		    name);
		return NULL;
	}
	if (!(v->kinds & K(t->kind))) {
		template_error(c->p, line, "{{%s}} is not available in a %s "
		    "template", v->name, template_kinds[t->kind]);
		return NULL;
	}
	if (v->triggers && t->trigger != TEMPLATE_TRIGGER_NONE &&
	    !(v->triggers & T(t->trigger))) {
		template_error(c->p, line, "{{%s}} is not available with "
		    "Trigger: %s", v->name, template_triggers[t->trigger]);
		return NULL;
	}
	return v;
}

static int
tcompile_tag(struct tcompile *c, char sigil, const char *name, size_t n,
    int line)
{
	const struct template_var *v;
	struct tnode *nd;

	if (sigil == '!')
		return 0;
	if (n == 0)
		return template_error(c->p, line, "empty tag {{%c}}", sigil ?
		    sigil : ' ');
	if (!(v = tcompile_var(c, name, n, line)))
		return -1;
	if (sigil == '\0') {
		tcompile_add(c, TN_VAR)->var = v;
		return 0;
	}
	if (sigil == '/') {
		if (c->depth == 0)
			return template_error(c->p, line, "{{/%s}} without an "
			    "opening {{#%s}}", v->name, v->name);
		c->depth--;
		if (c->stack[c->depth].var != v)
			return template_error(c->p, line, "{{/%s}} closes "
			    "{{#%s}} of line %d", v->name,
			    c->stack[c->depth].var->name, c->stack[c->depth].line);
		c->out->v[c->stack[c->depth].node].end = c->out->n;
		return 0;
	}
	if (c->depth == TEMPLATE_DEPTH_MAX)
		return template_error(c->p, line, "sections nested deeper than "
		    "%d", TEMPLATE_DEPTH_MAX);
	nd = tcompile_add(c, sigil == '#' ? TN_SECTION : TN_INVERTED);
	nd->var = v;
	c->stack[c->depth].node = c->out->n - 1;
	c->stack[c->depth].var = v;
	c->stack[c->depth].line = line;
	c->depth++;
	return 0;
}

/*
 * A section tag alone on its line takes the whole line with it, so that
 * it leaves no blank line (a paragraph break in Markdown) behind.
 * Returns the position after the line, or NULL if the tag is not alone.
 */
static const char *
tcompile_standalone(const char *start, const char *tag, const char *after,
    const char **line_start)
{
	const char *ls = tag;

	while (ls > start && ls[-1] != '\n')
		ls--;
	for (const char *q = ls; q < tag; q++)
		if (!template_is_blank(*q))
			return NULL;
	while (template_is_blank(*after))
		after++;
	if (*after != '\n' && *after != '\0')
		return NULL;
	*line_start = ls;
	return *after == '\n' ? after + 1 : after;
}

static int
tcompile_run(struct tparse *p, struct tnodes *out, const char *s, int line)
{
	struct tcompile c = { .p = p, .out = out };
	const char *text = s, *q, *close, *name, *next, *ls;
	size_t n;
	char sigil;

	for (q = s; *q; ) {
		if (*q == '\n') {
			line++;
			q++;
			continue;
		}
		if (q[0] != '{' || q[1] != '{') {
			q++;
			continue;
		}
		close = q + 2;
		while (*close && *close != '\n' && !(close[0] == '}' &&
		    close[1] == '}'))
			close++;
		if (*close != '}')
			return template_error(p, line, "{{ without }} on the "
			    "same line");
		name = q + 2;
		while (template_is_blank(*name))
			name++;
		sigil = *name && strchr("#^/!", *name) ? *name++ : '\0';
		while (template_is_blank(*name))
			name++;
		if (sigil == '\0' && (*name == '{' || *name == '&' ||
		    *name == '>' || *name == '='))
			return template_error(p, line, "unsupported tag "
			    "{{%c...}}", *name);
		n = (size_t)(close - name);
		while (n > 0 && template_is_blank(name[n - 1]))
			n--;
		if (sigil != '!') {
			for (size_t i = 0; i < n; i++)
				if (!template_is_word(name[i], "._"))
					return template_error(p, line, "bad "
					    "variable name {{%.*s}}", (int)n,
					    name);
		}
		ls = q;
		next = sigil ? tcompile_standalone(s, q, close + 2, &ls) : NULL;
		tcompile_text(&c, text, (size_t)(ls - text));
		if (tcompile_tag(&c, sigil, name, n, line) == -1)
			return -1;
		if (next) {
			if (next > s && next[-1] == '\n')
				line++;
			q = text = next;
		} else
			q = text = close + 2;
	}
	tcompile_text(&c, text, (size_t)(q - text));
	if (c.depth > 0)
		return template_error(p, c.stack[c.depth - 1].line, "{{%c%s}} is "
		    "never closed", out->v[c.stack[c.depth - 1].node].type ==
		    TN_SECTION ? '#' : '^', c.stack[c.depth - 1].var->name);
	return 0;
}

/* ---- the header block ---- */

static const struct template_key *
template_key_find(const char *name, size_t n)
{
	for (size_t i = 0; i < TEMPLATE_NKEYS; i++)
		if (strlen(template_keys[i].name) == n &&
		    strncasecmp(template_keys[i].name, name, n) == 0)
			return &template_keys[i];
	return NULL;
}

/*
 * Splits the header lines into h[] (values NUL-terminated in place);
 * returns the body and its first line number in *body_line.
 */
static char *
template_header_split(struct tparse *p, char *src, struct theader *h,
    size_t *nh, int *body_line)
{
	char *s = src, *eol, *colon, *v, *end;
	int line = 1;
	size_t kn;

	*nh = 0;
	for (;; line++, s = eol + 1) {
		if (!(eol = strchr(s, '\n'))) {
			template_error(p, line, "no blank line between the header "
			    "and the body");
			return NULL;
		}
		*eol = '\0';
		for (v = s; template_is_blank(*v); v++)
			;
		if (*v == '\0')
			break;
		colon = strchr(s, ':');
		for (kn = 0; s + kn < (colon ? colon : s) &&
		    template_is_word(s[kn], "-"); kn++)
			;
		if (!colon || kn == 0 || s + kn != colon) {
			template_error(p, line, "expected \"Key: value\" or a "
			    "blank line");
			return NULL;
		}
		if (!(h[*nh].key = template_key_find(s, kn))) {
			template_error(p, line, "unknown header \"%.*s\"", (int)kn,
			    s);
			return NULL;
		}
		for (size_t i = 0; i < *nh; i++)
			if (h[i].key == h[*nh].key) {
				template_error(p, line, "duplicate %s (first on "
				    "line %d)", h[i].key->name, h[i].line);
				return NULL;
			}
		for (v = colon + 1; template_is_blank(*v); v++)
			;
		for (end = eol; end > v && template_is_blank(end[-1]); end--)
			;
		*end = '\0';
		if (*v == '\0') {
			template_error(p, line, "empty %s", h[*nh].key->name);
			return NULL;
		}
		h[*nh].value = v;
		h[*nh].line = line;
		(*nh)++;
	}
	*body_line = line + 1;
	return eol + 1;
}

static const struct theader *
template_header_get(const struct theader *h, size_t nh, const char *name)
{
	for (size_t i = 0; i < nh; i++)
		if (strcmp(h[i].key->name, name) == 0)
			return &h[i];
	return NULL;
}

static int
template_header_kind(struct tparse *p, const struct theader *h, size_t nh)
{
	const struct theader *k = template_header_get(h, nh, "Kind");

	if (!k)
		return template_error(p, 1, "missing Kind");
	for (size_t i = 0; i < TEMPLATE_NKINDS; i++)
		if (strcmp(k->value, template_kinds[i]) == 0) {
			p->t->kind = (enum template_kind)i;
			return 0;
		}
	return template_error(p, k->line, "unknown Kind \"%s\" (follow-up, "
	    "birthday, newsletter, referral-thanks or agenda)", k->value);
}

/* Sequence and Step from the name: "followup-sale-2" is step 2 of "followup-sale". */
static void
template_sequence_defaults(struct template *t)
{
	const char *dash = strrchr(t->name, '-');
	size_t digits = dash ? strspn(dash + 1, "0123456789") : 0;
	bool numbered = digits > 0 && digits <= 3 && dash[1 + digits] == '\0' &&
	    dash != t->name;

	if (!t->sequence)
		t->sequence = numbered ?
		    xstrndup(t->name, (size_t)(dash - t->name)) :
		    xstrdup(t->name);
	if (t->step == 0)
		t->step = numbered ? atoi(dash + 1) : 1;
	if (t->step == 0)
		t->step = 1;
}

static int
template_header(struct tparse *p, const struct theader *h, size_t nh)
{
	struct template *t = p->t;
	unsigned kb;

	if (template_header_kind(p, h, nh) == -1)
		return -1;
	kb = K(t->kind);
	for (size_t i = 0; i < nh; i++)
		if (!(h[i].key->allowed & kb))
			return template_error(p, h[i].line, "%s is not allowed "
			    "in a %s template", h[i].key->name,
			    template_kinds[t->kind]);
	for (size_t i = 0; i < TEMPLATE_NKEYS; i++)
		if ((template_keys[i].required & kb) &&
		    !template_header_get(h, nh, template_keys[i].name))
			return template_error(p, 1, "missing %s (required in a "
			    "%s template)", template_keys[i].name,
			    template_kinds[t->kind]);
	for (size_t i = 0; i < nh; i++)
		if (h[i].key->parse && h[i].key->parse(p, &h[i]) == -1)
			return -1;
	if (t->kind == TEMPLATE_REFERRAL_THANKS &&
	    t->trigger == TEMPLATE_TRIGGER_NONE)
		t->trigger = TEMPLATE_TRIGGER_REFERRAL;
	if (t->kind == TEMPLATE_FOLLOW_UP)
		template_sequence_defaults(t);
	return 0;
}

static int
template_build(struct tparse *p, const char *data, size_t len)
{
	struct template_code *code = p->t->code;
	struct theader h[TEMPLATE_NKEYS];
	const struct theader *subject;
	size_t nh;
	int body_line;
	char *body;

	if (template_name_from_path(p) == -1)
		return -1;
	if (!(code->src = template_normalize(p, data, len)))
		return -1;
	if (!(body = template_header_split(p, code->src, h, &nh, &body_line)))
		return -1;
	if (template_header(p, h, nh) == -1)
		return -1;
	subject = template_header_get(h, nh, "Subject");
	if (tcompile_run(p, &code->subject, subject->value, subject->line) == -1)
		return -1;
	if (body[strspn(body, " \t\n")] == '\0')
		return template_error(p, body_line, "empty body");
	return tcompile_run(p, &code->body, body, body_line);
}

int
template_parse(const char *path, const char *data, size_t len,
    struct template **out, char *err, size_t errlen)
{
	struct tparse p = { .path = path, .err = err, .errlen = errlen };

	p.t = xcalloc(1, sizeof(*p.t));
	p.t->path = xstrdup(path);
	p.t->after = -1;
	p.t->at = -1;
	p.t->code = xcalloc(1, sizeof(*p.t->code));
	if (template_build(&p, data, len) == -1) {
		template_free(p.t);
		*out = NULL;
		return -1;
	}
	*out = p.t;
	return 0;
}

int
template_load(const char *path, struct template **out, char *err,
    size_t errlen)
{
	struct strbuf sb;
	char chunk[8192];
	size_t n;
	FILE *fp;
	int rc = -1;

	*out = NULL;
	if (!(fp = fopen(path, "r"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	strbuf_init(&sb, TEMPLATE_FILE_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (strbuf_add(&sb, chunk, n) == -1) {
			snprintf(err, errlen, "%s:1: file larger than %d bytes",
			    path, TEMPLATE_FILE_MAX);
			goto out;
		}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = template_parse(path, strbuf_str(&sb), sb.len, out, err, errlen);
out:
	strbuf_free(&sb);
	fclose(fp);
	return rc;
}

void
template_free(struct template *t)
{
	if (!t)
		return;
	if (t->code) {
		free(t->code->src);
		free(t->code->subject.v);
		free(t->code->body.v);
		free(t->code);
	}
	for (size_t i = 0; i < t->naud; i++) {
		free(t->aud[i].field);
		free(t->aud[i].value);
	}
	free(t->aud);
	free(t->path);
	free(t->name);
	free(t->lang);
	free(t->sequence);
	free(t->audience);
	free(t->schedule);
	free(t);
}

/* ---- rendering ---- */

enum tmode {
	TMODE_MD,	/* values Markdown-escaped, for cmark */
	TMODE_PLAIN,	/* values as they are, for text/plain */
	TMODE_SUBJECT,	/* values as they are, on one line */
};

static bool
template_is_punct(uint32_t cp)
{
	return cp < 0x80 && cp != 0 &&
	    strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", (int)cp) != NULL;
}

static bool
template_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028 ||
	    cp == 0x2029;
}

/* A value with its outer blanks and controls (ASCII) trimmed. */
static const char *
template_trim(const char *v, size_t *n)
{
	size_t len = strlen(v);

	while (len > 0 && (unsigned char)*v <= 0x20) {
		v++;
		len--;
	}
	while (len > 0 && (unsigned char)v[len - 1] <= 0x20)
		len--;
	*n = len;
	return v;
}

static void
template_put_value(struct strbuf *sb, const char *value, enum tmode mode,
    bool multiline)
{
	size_t n, len;
	const char *v = template_trim(value, &n);
	bool breaks = multiline && mode != TMODE_SUBJECT, line_start = false;
	uint32_t cp;

	for (size_t i = 0; i < n; i += len) {
		len = rfc2047_utf8_len(v + i, n - i, &cp);
		if (len == 0) {
			strbuf_adds(sb, "\xef\xbf\xbd");
			len = 1;
			line_start = false;
			continue;
		}
		if (cp == '\r' || cp == '\n') {
			if (cp == '\r' && i + 1 < n && v[i + 1] == '\n')
				len = 2;
			if (breaks) {
				strbuf_addc(sb, '\n');
				line_start = true;
				continue;
			}
		}
		if (template_is_control(cp))
			cp = ' ';
		/* Indentation could make a code block of the next lines. */
		if (cp == ' ' && line_start && mode == TMODE_MD)
			continue;
		line_start = false;
		if (mode == TMODE_MD && template_is_punct(cp))
			strbuf_addc(sb, '\\');
		if (cp == ' ')
			strbuf_addc(sb, ' ');
		else
			strbuf_add(sb, v + i, len);
	}
}

static bool
template_truthy(const char *v)
{
	if (!v)
		return false;
	for (; *v; v++)
		if ((unsigned char)*v > 0x20)
			return true;
	return false;
}

static void
template_render_nodes(const struct tnode *nd, size_t from, size_t to,
    template_lookup_fn lookup, void *ctx, struct strbuf *sb, enum tmode mode)
{
	const char *v;

	for (size_t i = from; i < to; ) {
		switch (nd[i].type) {
		case TN_TEXT:
			strbuf_add(sb, nd[i].text, nd[i].len);
			i++;
			break;
		case TN_VAR:
			if ((v = lookup(ctx, nd[i].var->name)) != NULL)
				template_put_value(sb, v, mode,
				    nd[i].var->multiline);
			i++;
			break;
		case TN_SECTION:
		case TN_INVERTED:
			if (template_truthy(lookup(ctx, nd[i].var->name)) ==
			    (nd[i].type == TN_SECTION))
				template_render_nodes(nd, i + 1, nd[i].end,
				    lookup, ctx, sb, mode);
			i = nd[i].end;
			break;
		}
	}
}

/* The body once, into text/plain and the Markdown for cmark together. */
static void
template_render_body(const struct tnode *nd, size_t from, size_t to,
    template_lookup_fn lookup, void *ctx, struct template_output *out)
{
	const char *v;

	for (size_t i = from; i < to; ) {
		switch (nd[i].type) {
		case TN_TEXT:
			strbuf_add(&out->text, nd[i].text, nd[i].len);
			strbuf_add(&out->md, nd[i].text, nd[i].len);
			i++;
			break;
		case TN_VAR:
			if ((v = lookup(ctx, nd[i].var->name)) != NULL) {
				template_put_value(&out->text, v, TMODE_PLAIN,
				    nd[i].var->multiline);
				template_put_value(&out->md, v, TMODE_MD,
				    nd[i].var->multiline);
			}
			i++;
			break;
		case TN_SECTION:
		case TN_INVERTED:
			if (template_truthy(lookup(ctx, nd[i].var->name)) ==
			    (nd[i].type == TN_SECTION))
				template_render_body(nd, i + 1, nd[i].end,
				    lookup, ctx, out);
			i = nd[i].end;
			break;
		}
	}
}

void
template_render_subject(const struct template *t, template_lookup_fn lookup,
    void *ctx, struct strbuf *sb)
{
	size_t start = sb->len, lead;

	template_render_nodes(t->code->subject.v, 0, t->code->subject.n, lookup,
	    ctx, sb, TMODE_SUBJECT);
	for (size_t i = start; i < sb->len; i++)
		if (sb->buf[i] == '\r' || sb->buf[i] == '\n' || sb->buf[i] == '\t')
			sb->buf[i] = ' ';
	while (sb->len > start && sb->buf[sb->len - 1] == ' ')
		sb->buf[--sb->len] = '\0';
	lead = sb->len > start ? strspn(sb->buf + start, " ") : 0;
	if (lead > 0) {
		memmove(sb->buf + start, sb->buf + start + lead,
		    sb->len - start - lead + 1);
		sb->len -= lead;
	}
}

static void
template_html_escape(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			strbuf_adds(sb, "&amp;");
			break;
		case '<':
			strbuf_adds(sb, "&lt;");
			break;
		case '>':
			strbuf_adds(sb, "&gt;");
			break;
		case '"':
			strbuf_adds(sb, "&quot;");
			break;
		default:
			strbuf_addc(sb, *s);
		}
	}
}

static const char template_html_style[] =
    "max-width:600px;margin:0 auto;padding:24px 16px;"
    "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,"
    "'Helvetica Neue',Arial,'Noto Sans','Apple SD Gothic Neo',"
    "'Malgun Gothic','PingFang SC','Microsoft YaHei',sans-serif;"
    "font-size:16px;line-height:1.6;color:#222222;";

static void
template_render_html(const struct template *t, struct template_output *out)
{
	char *html;

	html = cmark_markdown_to_html(strbuf_str(&out->md), out->md.len,
	    CMARK_OPT_HARDBREAKS | CMARK_OPT_VALIDATE_UTF8);
	strbuf_adds(&out->html, "<!DOCTYPE html>\n<html");
	if (t->lang) {
		strbuf_adds(&out->html, " lang=\"");
		strbuf_adds(&out->html, t->lang);
		strbuf_addc(&out->html, '"');
	}
	strbuf_adds(&out->html, ">\n<head>\n<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\">\n<title>");
	template_html_escape(&out->html, strbuf_str(&out->subject));
	/* strbuf_adds, not strbuf_addf: this runs for every message. */
	strbuf_adds(&out->html, "</title>\n</head>\n<body style=\"margin:0;"
	    "padding:0;background:#ffffff;\">\n<div style=\"");
	strbuf_adds(&out->html, template_html_style);
	strbuf_adds(&out->html, "\">\n");
	strbuf_adds(&out->html, html);
	strbuf_adds(&out->html, "</div>\n</body>\n</html>\n");
	free(html);
}

void
template_render(const struct template *t, template_lookup_fn lookup,
    void *ctx, struct template_output *out)
{
	const struct template_code *c = t->code;

	strbuf_reset(&out->subject);
	strbuf_reset(&out->text);
	strbuf_reset(&out->html);
	strbuf_reset(&out->md);
	template_render_subject(t, lookup, ctx, &out->subject);
	template_render_body(c->body.v, 0, c->body.n, lookup, ctx, out);
	template_render_html(t, out);
}

void
template_output_init(struct template_output *o)
{
	strbuf_init(&o->subject, 0);
	strbuf_init(&o->text, 0);
	strbuf_init(&o->html, 0);
	strbuf_init(&o->md, 0);
}

void
template_output_free(struct template_output *o)
{
	strbuf_free(&o->subject);
	strbuf_free(&o->text);
	strbuf_free(&o->html);
	strbuf_free(&o->md);
}

static bool
template_nodes_use(const struct tnodes *ns, const char *name)
{
	for (size_t i = 0; i < ns->n; i++)
		if (ns->v[i].var && strcmp(ns->v[i].var->name, name) == 0)
			return true;
	return false;
}

bool
template_uses(const struct template *t, const char *name)
{
	return template_nodes_use(&t->code->subject, name) ||
	    template_nodes_use(&t->code->body, name);
}

/* ---- finding by language ---- */

/*
 * The languages to try for lang, most specific first: "zh-Hant-TW",
 * "zh-Hant", "zh".  Returns how many were written (0 for a malformed or
 * missing lang).
 */
static int
template_lang_chain(const char *lang, char chain[][TEMPLATE_LANG_MAX + 1],
    int max)
{
	char buf[TEMPLATE_LANG_MAX + 1];
	size_t n = lang ? strlen(lang) : 0;
	int k = 0;
	char *dash;

	if (n == 0 || n > TEMPLATE_LANG_MAX)
		return 0;
	for (size_t i = 0; i <= n; i++)
		buf[i] = lang[i] == '_' ? '-' : lang[i];
	if (!template_lang_ok(buf, n))
		return 0;
	for (size_t i = 0; i < n && buf[i] != '-'; i++)
		if (buf[i] >= 'A' && buf[i] <= 'Z')
			buf[i] = (char)(buf[i] - 'A' + 'a');
	while (k < max) {
		memcpy(chain[k++], buf, strlen(buf) + 1);
		if (!(dash = strrchr(buf, '-')))
			break;
		*dash = '\0';
	}
	return k;
}

char *
template_find(const char *dir, const char *name, const char *lang)
{
	char chain[8][TEMPLATE_LANG_MAX + 1];
	int n = template_lang_chain(lang, chain, 8);
	char *path;

	if (!name || !template_name_ok(name, strlen(name)))
		return NULL;
	for (int i = 0; i < n; i++) {
		xasprintf(&path, "%s/%s.%s.md", dir, name, chain[i]);
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	xasprintf(&path, "%s/%s.md", dir, name);
	if (access(path, R_OK) == 0)
		return path;
	free(path);
	return NULL;
}

struct template_set {
	struct template	**v;
	size_t		  n;
};

static int
template_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
template_set_report(void (*errfn)(void *, const char *), void *arg,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
template_set_report(void (*errfn)(void *, const char *), void *arg,
    const char *fmt, ...)
{
	char *msg;
	va_list ap;

	if (!errfn)
		return;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	errfn(arg, msg);
	free(msg);
}

static bool
template_same_lang(const struct template *a, const struct template *b)
{
	if (!a->lang || !b->lang)
		return a->lang == b->lang;
	return strcasecmp(a->lang, b->lang) == 0;
}

/* The steps of one sequence in one language must differ and agree on Trigger. */
static int
template_set_check(struct template_set *set,
    void (*errfn)(void *, const char *), void *arg)
{
	int errors = 0;

	for (size_t i = 0; i < set->n; i++) {
		const struct template *a = set->v[i];

		if (a->kind != TEMPLATE_FOLLOW_UP)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct template *b = set->v[j];

			if (b->kind != TEMPLATE_FOLLOW_UP ||
			    strcmp(a->sequence, b->sequence) != 0 ||
			    !template_same_lang(a, b))
				continue;
			if (a->step == b->step) {
				template_set_report(errfn, arg, "%s:1: step %d of "
				    "sequence %s is also %s", a->path, a->step,
				    a->sequence, b->path);
				errors++;
			} else if (a->trigger != b->trigger) {
				template_set_report(errfn, arg, "%s:1: sequence %s "
				    "has Trigger: %s here but %s in %s", a->path,
				    a->sequence, template_triggers[a->trigger],
				    template_triggers[b->trigger], b->path);
				errors++;
			}
		}
	}
	return errors;
}

int
template_set_load(const char *dir, struct template_set **out,
    void (*errfn)(void *, const char *), void *arg)
{
	struct template_set *set = xcalloc(1, sizeof(*set));
	char **names = NULL, *path, err[512];
	size_t nnames = 0, len;
	struct template *t;
	struct dirent *de;
	int errors = 0;
	DIR *d;

	*out = set;
	if (!(d = opendir(dir))) {
		template_set_report(errfn, arg, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 4 ||
		    strcmp(de->d_name + len - 3, ".md") != 0)
			continue;
		names = xreallocarray(names, nnames + 1, sizeof(*names));
		names[nnames++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, nnames, sizeof(*names), template_cmp_names);
	set->v = xreallocarray(NULL, nnames ? nnames : 1, sizeof(*set->v));
	for (size_t i = 0; i < nnames; i++) {
		xasprintf(&path, "%s/%s", dir, names[i]);
		if (template_load(path, &t, err, sizeof(err)) == -1) {
			template_set_report(errfn, arg, "%s", err);
			errors++;
		} else
			set->v[set->n++] = t;
		free(path);
		free(names[i]);
	}
	free(names);
	return errors + template_set_check(set, errfn, arg);
}

const struct template *
template_set_get(const struct template_set *set, const char *name,
    const char *lang)
{
	char chain[8][TEMPLATE_LANG_MAX + 1];
	int n = template_lang_chain(lang, chain, 8);

	for (int i = 0; i <= n; i++)
		for (size_t j = 0; j < set->n; j++) {
			const struct template *t = set->v[j];

			if (strcmp(t->name, name) != 0)
				continue;
			if (i < n ? t->lang && strcasecmp(t->lang, chain[i]) == 0 :
			    t->lang == NULL)
				return t;
		}
	return NULL;
}

size_t
template_set_count(const struct template_set *set)
{
	return set->n;
}

const struct template *
template_set_at(const struct template_set *set, size_t i)
{
	return i < set->n ? set->v[i] : NULL;
}

void
template_set_free(struct template_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		template_free(set->v[i]);
	free(set->v);
	free(set);
}
