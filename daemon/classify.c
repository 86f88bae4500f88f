#include "classify.h"

#include <ctype.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "charset.h"
#include "xmalloc.h"

#define BOUNCES_MAX		20
#define REASON_MAX		300
#define FIRST_LINE_MAX		100	/* a longer first line is prose */

struct classify_rules {
	char			**unsub;	/* normalized, "+tag" folded */
	size_t			  nunsub;
	struct classify_sale_rule *sale;	/* strings owned */
	regex_t			 *re;		/* per sale rule, if regex */
	size_t			  nsale;
};

static const char *const auto_subject_prefixes[] = {
	"out of office", "out-of-office", "automatic reply", "auto reply",
	"auto-reply", "autoreply", "auto:", "auto response", "autoresponse",
	"vacation reply", "away from the office",
	"abwesenheitsnotiz", "réponse automatique", "respuesta automática",
	"自动回复", "自動回覆", "自動回复", "自动答复", "自動回信",
	"자동 응답", "자동응답", "부재중", "부재 중",
};

static const char *const bounce_subjects[] = {
	"undelivered mail returned to sender", "mail delivery failed",
	"delivery status notification (failure)", "undeliverable:",
	"undeliverable mail", "returned mail:", "mail delivery failure",
	"delivery failure", "failure notice", "delivery has failed",
	"mail system error", "could not send message",
	"系统退信", "退信", "邮件投递失败", "메일 전송 실패", "발송 실패",
	"반송",
};

static const char *const daemon_locals[] = {
	"mailer-daemon", "postmaster", "mail-daemon", "maildaemon",
	"mailerdaemon",
};

static const char *const unsub_words[] = {
	"unsubscribe", "수신거부", "수신 거부", "退订", "取消订阅", "退訂",
	"取消訂閱",
};

/* Reply and forward prefixes, to see the subject a person wrote. */
static const char *const reply_prefixes[] = {
	"re:", "fw:", "fwd:", "aw:", "wg:", "sv:", "回复:", "回复：", "答复:",
	"答复：", "转发:", "转发：", "回覆:", "轉寄:", "답장:", "전달:",
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- Configuration ---- */

struct classify_rules *
classify_rules_new(const char *const *unsub_addrs, size_t nunsub,
    const struct classify_sale_rule *sale, size_t nsale, char *err,
    size_t errlen)
{
	struct classify_rules *c = xcalloc(1, sizeof(*c));
	char norm[MESSAGE_ADDR_MAX + 1];

	c->unsub = xcalloc(nunsub + 1, sizeof(*c->unsub));
	for (size_t i = 0; i < nunsub; i++)
		if (address_normalize(unsub_addrs[i], true, norm,
		    sizeof(norm)) == 0)
			c->unsub[c->nunsub++] = xstrdup(norm);
	c->sale = xcalloc(nsale + 1, sizeof(*c->sale));
	c->re = xcalloc(nsale + 1, sizeof(*c->re));
	for (; c->nsale < nsale; c->nsale++) {
		const struct classify_sale_rule *s = &sale[c->nsale];
		struct classify_sale_rule *d = &c->sale[c->nsale];
		int rc;

		d->subject_regex = s->subject_regex && s->subject != NULL;
		if (d->subject_regex && (rc = regcomp(&c->re[c->nsale],
		    s->subject, REG_EXTENDED | REG_ICASE | REG_NOSUB)) != 0) {
			char msg[128];

			regerror(rc, &c->re[c->nsale], msg, sizeof(msg));
			snprintf(err, errlen, "sale rule %s: subject regex: %s",
			    s->name ? s->name : "?", msg);
			classify_rules_free(c);
			return NULL;
		}
		d->name = xstrdup(s->name ? s->name : "sale");
		d->from_glob = xstrdup_or_null(s->from_glob);
		d->subject = xstrdup_or_null(s->subject);
	}
	return c;
}

void
classify_rules_free(struct classify_rules *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nunsub; i++)
		free(c->unsub[i]);
	free(c->unsub);
	for (size_t i = 0; i < c->nsale; i++) {
		free((char *)c->sale[i].name);
		free((char *)c->sale[i].from_glob);
		free((char *)c->sale[i].subject);
		if (c->sale[i].subject_regex)
			regfree(&c->re[i]);
	}
	free(c->sale);
	free(c->re);
	free(c);
}

/* ---- Text helpers ---- */

static const char *
skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* s without leading reply/forward prefixes and brackets. */
static const char *
subject_core(const char *s, bool *was_reply)
{
	bool again = true;

	*was_reply = false;
	while (again) {
		again = false;
		s = skip_space(s);
		for (size_t i = 0; i < NITEMS(reply_prefixes); i++) {
			size_t n = strlen(reply_prefixes[i]);

			if (strncasecmp(s, reply_prefixes[i], n) == 0) {
				s += n;
				*was_reply = again = true;
			}
		}
	}
	while (*s == '[' || *s == '(' || strncmp(s, "【", 3) == 0 ||
	    *s == ' ')
		s += (unsigned char)*s >= 0x80 ? 3 : 1;
	return s;
}

static bool
starts_with_any(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strncasecmp(s, list[i], strlen(list[i])) == 0)
			return true;
	return false;
}

static bool
contains_any(const char *s, size_t len, const char *const *list, size_t n)
{
	char *copy = xstrndup(s, len);
	bool found = false;

	for (size_t i = 0; i < n && !found; i++)
		found = strcasestr(copy, list[i]) != NULL;
	free(copy);
	return found;
}

static bool
addr_is_daemon(const char *addr)
{
	const char *at = strchr(addr, '@');
	size_t n = at ? (size_t)(at - addr) : strlen(addr);

	for (size_t i = 0; i < NITEMS(daemon_locals); i++)
		if (strlen(daemon_locals[i]) == n &&
		    strncasecmp(addr, daemon_locals[i], n) == 0)
			return true;
	return false;
}

static bool
list_has(const struct message_addrlist *l, const char *addr)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].addr, addr) == 0)
			return true;
	return false;
}

/* ---- Auto-replies and lists ---- */

static const char *
auto_reply_why(const struct message *m)
{
	bool reply;

	if (m->auto_submitted && strcmp(m->auto_submitted, "no") != 0)
		return "Auto-Submitted";
	if (m->x_autoreply)
		return "X-Autoreply";
	if (m->precedence && (strcmp(m->precedence, "bulk") == 0 ||
	    strcmp(m->precedence, "junk") == 0 ||
	    strcmp(m->precedence, "auto_reply") == 0 ||
	    strcmp(m->precedence, "auto-reply") == 0))
		return "Precedence";
	if (starts_with_any(subject_core(m->subject, &reply),
	    auto_subject_prefixes, NITEMS(auto_subject_prefixes)))
		return "subject";
	return NULL;
}

/* ---- Bounces ---- */

static void
bounce_add(struct classify_result *r, const char *addr, size_t alen,
    const char *status, const char *reason)
{
	char raw[MESSAGE_ADDR_MAX + 1], norm[MESSAGE_ADDR_MAX + 1];

	if (alen == 0 || alen > MESSAGE_ADDR_MAX || r->nbounces == BOUNCES_MAX)
		return;
	memcpy(raw, addr, alen);
	raw[alen] = '\0';
	if (address_normalize(raw, false, norm, sizeof(norm)) == -1)
		return;
	for (size_t i = 0; i < r->nbounces; i++)
		if (strcmp(r->bounces[i].addr, norm) == 0)
			return;
	r->bounces = xreallocarray(r->bounces, r->nbounces + 1,
	    sizeof(*r->bounces));
	r->bounces[r->nbounces].addr = xstrdup(norm);
	r->bounces[r->nbounces].status = xstrdup_or_null(status);
	r->bounces[r->nbounces].reason = charset_to_utf8(NULL, reason,
	    strlen(reason), REASON_MAX, NULL);
	r->nbounces++;
}

/* An enhanced status code ("5.1.1") in s, copied into out. */
static bool
find_status(const char *s, char *out, size_t outlen)
{
	for (const char *p = s; *p; p++) {
		int a, b, c, n = 0;

		if ((p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '.')) ||
		    (*p != '4' && *p != '5'))
			continue;
		if (sscanf(p, "%1d.%3d.%3d%n", &a, &b, &c, &n) == 3 &&
		    !isdigit((unsigned char)p[n]) && p[n] != '.') {
			snprintf(out, outlen, "%d.%d.%d", a, b, c);
			return true;
		}
	}
	return false;
}

struct dsn_rcpt {
	char	addr[MESSAGE_ADDR_MAX + 1];
	char	action[32];
	char	status[32];
	char	diag[REASON_MAX + 1];
};

/* "rfc822; <user@x>" → "user@x" */
static void
dsn_addr(const char *v, char *out, size_t outlen)
{
	const char *semi = strchr(v, ';');
	size_t n;

	v = skip_space(semi ? semi + 1 : v);
	if (*v == '<')
		v++;
	n = strcspn(v, "> \t");
	snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), v);
}

static void
dsn_field(struct dsn_rcpt *d, const char *name, size_t nlen, const char *v)
{
	v = skip_space(v);
	if (nlen == 15 && strncasecmp(name, "final-recipient", 15) == 0)
		dsn_addr(v, d->addr, sizeof(d->addr));
	else if (nlen == 18 && strncasecmp(name, "original-recipient", 18) ==
	    0 && d->addr[0] == '\0')
		dsn_addr(v, d->addr, sizeof(d->addr));
	else if (nlen == 6 && strncasecmp(name, "action", 6) == 0)
		snprintf(d->action, sizeof(d->action), "%.*s",
		    (int)strcspn(v, " \t("), v);
	else if (nlen == 6 && strncasecmp(name, "status", 6) == 0)
		snprintf(d->status, sizeof(d->status), "%.*s",
		    (int)strcspn(v, " \t("), v);
	else if (nlen == 15 && strncasecmp(name, "diagnostic-code", 15) == 0) {
		const char *semi = strchr(v, ';');

		snprintf(d->diag, sizeof(d->diag), "%s",
		    skip_space(semi ? semi + 1 : v));
	}
}

static void
dsn_flush(struct classify_result *r, struct dsn_rcpt *d)
{
	bool failed = strcasecmp(d->action, "failed") == 0 ||
	    (d->action[0] == '\0' && d->status[0] == '5');

	if (d->addr[0] != '\0' && failed)
		bounce_add(r, d->addr, strlen(d->addr),
		    d->status[0] ? d->status : NULL,
		    d->diag[0] ? d->diag : d->status[0] ? d->status :
		    "delivery failed");
	memset(d, 0, sizeof(*d));
}

/* The per-recipient groups of a message/delivery-status part. */
static void
dsn_parse(struct classify_result *r, const char *text)
{
	struct dsn_rcpt d;
	char *copy = xstrdup(text), *rest = copy, *line, *colon;
	char *prev_diag = NULL;

	memset(&d, 0, sizeof(d));
	/* strsep, not strtok: the blank lines separate recipients. */
	while ((line = strsep(&rest, "\n")) != NULL) {
		if (*skip_space(line) == '\0') {
			dsn_flush(r, &d);
			continue;
		}
		/* A folded Diagnostic-Code continues on indented lines. */
		if ((*line == ' ' || *line == '\t') && prev_diag) {
			size_t have = strlen(d.diag);

			snprintf(d.diag + have, sizeof(d.diag) - have, " %s",
			    skip_space(line));
			continue;
		}
		prev_diag = NULL;
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		dsn_field(&d, line, (size_t)(colon - line), colon + 1);
		if (strncasecmp(line, "diagnostic-code:", 16) == 0)
			prev_diag = d.diag;
	}
	dsn_flush(r, &d);
	free(copy);
}

/* Where a failure notice starts quoting the original message. */
static bool
is_quote_start(const char *line)
{
	static const char *const marks[] = {
		"copy of the message", "original message", "message headers",
		"received:", "return-path:", "--- below this line",
	};

	return contains_any(line, strlen(line), marks, NITEMS(marks));
}

static bool
addr_char(unsigned char c)
{
	return isalnum(c) || strchr(".!#$%&'*+/=?^_`{|}~-", c);
}

/* The failure text of a line: itself, or the next one if it holds only
 * the address (exim's layout). */
static const char *
reason_line(char *line, char *next, size_t alen)
{
	const char *t = skip_space(line);

	if (strlen(t) <= alen + 4 && next != NULL)
		return skip_space(next);
	return t;
}

/* Addresses mentioned in a non-DSN failure notice, and their lines. */
static void
excerpt_scan(struct classify_result *r, const struct message *m)
{
	char *copy = xstrdup(m->excerpt), *save = NULL, *line, *next;
	char status[32];

	line = strtok_r(copy, "\n", &save);
	for (; line && !is_quote_start(line); line = next) {
		next = strtok_r(NULL, "\n", &save);
		for (char *at = strchr(line, '@'); at; at = strchr(at + 1, '@')) {
			char *s = at, *e = at + 1, addr[MESSAGE_ADDR_MAX + 1];
			const char *why;

			while (s > line && addr_char((unsigned char)s[-1]))
				s--;
			while (*e && (addr_char((unsigned char)*e)))
				e++;
			while (e > at + 1 && e[-1] == '.')
				e--;
			if (s == at || !memchr(at, '.', (size_t)(e - at)) ||
			    (size_t)(e - s) > MESSAGE_ADDR_MAX)
				continue;
			snprintf(addr, sizeof(addr), "%.*s", (int)(e - s), s);
			for (char *p = addr; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			if (addr_is_daemon(addr) || list_has(&m->from, addr) ||
			    list_has(&m->to, addr))
				continue;
			why = reason_line(line, next, strlen(addr));
			bounce_add(r, addr, strlen(addr),
			    find_status(why, status, sizeof(status)) ? status :
			    NULL, why);
		}
	}
	free(copy);
}

static bool
from_daemon(const struct message *m)
{
	for (size_t i = 0; i < m->from.n; i++)
		if (addr_is_daemon(m->from.v[i].addr))
			return true;
	return false;
}

static bool
is_dsn(const struct message *m)
{
	return strcmp(m->content_type, "multipart/report") == 0 &&
	    m->report_type && strcmp(m->report_type, "delivery-status") == 0;
}

static void
classify_bounce(const struct message *m, struct classify_result *r)
{
	bool reply, subj;

	if (is_dsn(m)) {
		r->bounce_why = "DSN";
		if (m->delivery_status)
			dsn_parse(r, m->delivery_status);
		/* A DSN saying only "delayed" or "delivered" is no bounce. */
		if (m->delivery_status && r->nbounces == 0) {
			r->bounce_why = NULL;
			return;
		}
	} else {
		if (!from_daemon(m) && !m->null_return_path)
			return;
		subj = starts_with_any(subject_core(m->subject, &reply),
		    bounce_subjects, NITEMS(bounce_subjects));
		if (reply || (!subj && m->failed_recipients.n == 0))
			return;
		r->bounce_why = "failure notice";
	}
	for (size_t i = 0; r->nbounces == 0 && i < m->failed_recipients.n; i++)
		bounce_add(r, m->failed_recipients.v[i].addr,
		    strlen(m->failed_recipients.v[i].addr), NULL,
		    "X-Failed-Recipients");
	if (r->nbounces == 0 && m->excerpt)
		excerpt_scan(r, m);
	r->flags |= CLASSIFY_BOUNCE;
}

/* ---- Unsubscribe requests ---- */

static const char *
first_line(const char *text, size_t *len)
{
	const char *p = text;

	while (*p) {
		size_t n = strcspn(p, "\n");
		const char *t = skip_space(p);

		if (t < p + n && *t != '>') {
			*len = (size_t)(p + n - t);
			return t;
		}
		p += n + (p[n] == '\n');
	}
	return NULL;
}

static const char *
unsubscribe_why(const struct message *m, const struct classify_rules *c,
    bool list)
{
	const char *line;
	size_t len;
	char norm[MESSAGE_ADDR_MAX + 1];

	/* "unsubscribe" posted to a mailing list is for that list. */
	if (list)
		goto address;
	if (contains_any(m->subject, strlen(m->subject), unsub_words,
	    NITEMS(unsub_words)))
		return "subject";
	if (m->excerpt && (line = first_line(m->excerpt, &len)) != NULL &&
	    len <= FIRST_LINE_MAX &&
	    contains_any(line, len, unsub_words, NITEMS(unsub_words)))
		return "first line";
address:
	for (size_t i = 0; c && i < c->nunsub; i++) {
		const struct message_addrlist *lists[] = { &m->to, &m->cc };

		for (size_t l = 0; l < NITEMS(lists); l++)
			for (size_t j = 0; j < lists[l]->n; j++)
				if (address_normalize(lists[l]->v[j].addr,
				    true, norm, sizeof(norm)) == 0 &&
				    strcmp(norm, c->unsub[i]) == 0)
					return "unsubscribe address";
	}
	return NULL;
}

/* ---- Sales ---- */

static bool
sale_matches(const struct classify_rules *c, size_t i,
    const struct message *m)
{
	const struct classify_sale_rule *s = &c->sale[i];
	bool from = s->from_glob == NULL;

	for (size_t j = 0; !from && j < m->from.n; j++)
		from = fnmatch(s->from_glob, m->from.v[j].addr,
		    FNM_CASEFOLD) == 0;
	if (!from || s->subject == NULL)
		return from;
	if (s->subject_regex)
		return regexec(&c->re[i], m->subject, 0, NULL, 0) == 0;
	return strcasestr(m->subject, s->subject) != NULL;
}

/* ---- Entry points ---- */

void
classify_message(const struct message *m, const struct classify_rules *c,
    struct classify_result *r)
{
	memset(r, 0, sizeof(*r));
	r->sale_rule = -1;
	if ((r->auto_reply_why = auto_reply_why(m)) != NULL)
		r->flags |= CLASSIFY_AUTO_REPLY;
	if (m->list_id || (m->precedence && strcmp(m->precedence, "list") == 0))
		r->flags |= CLASSIFY_LIST;
	classify_bounce(m, r);
	if (!(r->flags & (CLASSIFY_AUTO_REPLY | CLASSIFY_BOUNCE)) &&
	    (r->unsubscribe_why = unsubscribe_why(m, c,
	    r->flags & CLASSIFY_LIST)) != NULL)
		r->flags |= CLASSIFY_UNSUBSCRIBE;
	for (size_t i = 0; c && i < c->nsale; i++)
		if (sale_matches(c, i, m)) {
			r->flags |= CLASSIFY_SALE;
			r->sale_rule = (int)i;
			r->sale_rule_name = c->sale[i].name;
			break;
		}
}

void
classify_result_free(struct classify_result *r)
{
	for (size_t i = 0; i < r->nbounces; i++) {
		free(r->bounces[i].addr);
		free(r->bounces[i].status);
		free(r->bounces[i].reason);
	}
	free(r->bounces);
	memset(r, 0, sizeof(*r));
}

bool
classify_needs_body(const struct message *m)
{
	if (is_dsn(m) || from_daemon(m) || m->null_return_path)
		return true;
	return m->in_reply_to != NULL && auto_reply_why(m) == NULL;
}
