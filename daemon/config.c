/*
 * rapport.conf through inih, fed by our own line reader.  The reader sees
 * every line first, so it
 *  - refuses lines inih's 200-byte buffer would cut (which would shift every
 *    line number after them),
 *  - strips leading blanks, so that inih never joins an indented line to
 *    the previous value (its multi-line mode) and indenting keys is safe,
 *  - parses section headers itself ([imap "work"]: kind and quoted name),
 *    which inih never reports to the handler.
 * The handler then only maps "key = value" onto the current section through
 * one table per section kind: name, setter, field offset and bounds.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_value.h"
#include "log.h"
#include "xmalloc.h"

#define CONFIG_LINE_MAX		199	/* inih's buffer is 200 with the NUL */
#define CONFIG_FILE_MAX		(1024 * 1024)
#define CONFIG_NAME_MAX		32
#define CONFIG_SECRET_MAX	(64 * 1024)
#define KEYS_MAX		64

struct parse;
struct key;

typedef int (*key_set)(struct parse *, void *base, const struct key *,
    const char *value);

struct key {
	const char *name;
	key_set	 set;
	size_t	 off;
	long long unit;		/* durations: seconds per stored unit */
	long long min, max;	/* ints and durations, in stored units */
};

enum naming { NAME_NONE, NAME_REQUIRED, NAME_OPTIONAL };

struct section_kind {
	const char *name;
	enum naming naming;
	const struct key *keys;
	size_t	 n_keys;
	void	*(*open)(struct parse *, const char *name, int line);
	int	 (*finish)(struct parse *, void *base);
};

struct parse {
	struct config *cfg;
	const char *path;
	char	*dir;		/* the config file's folder, absolute */
	char	*err;
	size_t	 errlen;
	bool	 failed;
	const char *text;	/* the whole file */
	size_t	 len, pos;
	int	 lineno;
	const struct section_kind *kind;	/* current section, or NULL */
	void	*base;
	char	*section;	/* its header text, as inih reports it */
	int	 key_line[KEYS_MAX];	/* where each key of it was set */
	int	 single_line[16];	/* unnamed sections seen, by kind */
	int	 rate_line, budget_line;
	int	 rate_pm, rate_pd;
};

static int config_fail(struct parse *, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
config_fail(struct parse *p, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (p->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->path, line, msg);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->path, msg);
	p->failed = true;
	return -1;
}

/* ------------------------------------------------------------ setters */

#define FIELD(base, k, type)	((type *)(void *)((char *)(base) + (k)->off))

static int
set_string(struct parse *p, void *base, const struct key *k, const char *v)
{
	char **f = FIELD(base, k, char *);

	if (*v == '\0')
		return config_fail(p, p->lineno, "%s has no value", k->name);
	free(*f);
	*f = xstrdup(v);
	return 0;
}

/* A path relative to the config file's folder. */
static char *
config_path(const struct parse *p, const char *v)
{
	char *s;

	if (v[0] == '/')
		return xstrdup(v);
	xasprintf(&s, "%s/%s", p->dir, v);
	return s;
}

static int
set_path(struct parse *p, void *base, const struct key *k, const char *v)
{
	char **f = FIELD(base, k, char *);

	if (*v == '\0')
		return config_fail(p, p->lineno, "%s has no value", k->name);
	free(*f);
	*f = config_path(p, v);
	return 0;
}

static int
set_bool(struct parse *p, void *base, const struct key *k, const char *v)
{
	char why[128];

	if (config_value_bool(v, FIELD(base, k, bool), why, sizeof(why)) == -1)
		return config_fail(p, p->lineno, "%s: %s", k->name, why);
	return 0;
}

static int
set_int(struct parse *p, void *base, const struct key *k, const char *v)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end != '\0' || errno != 0 ||
	    n < k->min || n > k->max)
		return config_fail(p, p->lineno, "%s: '%.40s' is not a whole "
		    "number from %lld to %lld", k->name, v, k->min, k->max);
	*FIELD(base, k, int) = (int)n;
	return 0;
}

static const char *
unit_name(long long unit)
{
	return unit == 1 ? "seconds" : unit == 60 ? "minutes" :
	    unit == 3600 ? "hours" : "days";
}

static int
duration_in(struct parse *p, const struct key *k, const char *v, int *out)
{
	char why[160];
	long long secs;

	if (config_value_duration(v, k->unit, &secs, why, sizeof(why)) == -1)
		return config_fail(p, p->lineno, "%s: %s", k->name, why);
	if (secs % k->unit != 0)
		return config_fail(p, p->lineno, "%s: '%.40s' is not a whole "
		    "number of %s", k->name, v, unit_name(k->unit));
	if (secs / k->unit < k->min || secs / k->unit > k->max)
		return config_fail(p, p->lineno, "%s: '%.40s' is not from %lld "
		    "to %lld %s", k->name, v, k->min, k->max,
		    unit_name(k->unit));
	*out = (int)(secs / k->unit);
	return 0;
}

static int
set_duration(struct parse *p, void *base, const struct key *k, const char *v)
{
	return duration_in(p, k, v, FIELD(base, k, int));
}

/* Lists: the field holds char **, the count follows it (size_t). */
static int
set_list(struct parse *p, void *base, const struct key *k, const char *v)
{
	char ***items = FIELD(base, k, char **);
	size_t *n = (size_t *)(void *)((char *)base + k->off + sizeof(char **));
	char why[128], **nv;
	size_t nn;

	if (config_value_list(v, &nv, &nn, why, sizeof(why)) == -1)
		return config_fail(p, p->lineno, "%s: %s", k->name, why);
	config_value_list_free(*items, *n);
	*items = nv;
	*n = nn;
	return 0;
}

static int
set_auth(struct parse *p, void *base, const struct key *k, const char *v)
{
	static const struct { const char *name; enum config_auth a; } m[] = {
		{ "login", AUTH_LOGIN }, { "plain", AUTH_PLAIN },
		{ "xoauth2", AUTH_XOAUTH2 }, { "none", AUTH_NONE },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (strcasecmp(v, m[i].name) == 0) {
			*FIELD(base, k, enum config_auth) = m[i].a;
			return 0;
		}
	return config_fail(p, p->lineno, "auth: '%.20s' is not login, plain, "
	    "xoauth2 or none", v);
}

static int
set_tls(struct parse *p, void *base, const struct key *k, const char *v)
{
	if (strcasecmp(v, "auto") == 0)
		*FIELD(base, k, enum config_tls) = TLS_AUTO;
	else if (strcasecmp(v, "none") == 0)
		*FIELD(base, k, enum config_tls) = TLS_NONE;
	else
		return config_fail(p, p->lineno, "tls: '%.20s' is not auto or "
		    "none", v);
	return 0;
}

/* Only tests put a password here: it must never appear in a message. */
static int
set_password(struct parse *p, void *base, const struct key *k, const char *v)
{
	char **f = FIELD(base, k, char *);

	if (*v == '\0')
		return config_fail(p, p->lineno, "password has no value");
	free(*f);
	*f = xstrdup(v);
	return 0;
}

static bool timezone_valid(const char *);

static int
set_timezone(struct parse *p, void *base, const struct key *k, const char *v)
{
	if (!timezone_valid(v))
		return config_fail(p, p->lineno, "timezone: '%.60s' is not a "
		    "known IANA time zone (Europe/Berlin)", v);
	return set_string(p, base, k, v);
}

/* "Name <addr>" or a bare address. */
static bool
config_is_mailbox(const char *v)
{
	const char *lt = strchr(v, '<'), *at = strchr(v, '@');

	if (at == NULL || strpbrk(v, "\r\n") != NULL)
		return false;
	if (lt == NULL)
		return strpbrk(v, " \t>") == NULL && at != v && at[1] != '\0';
	return at > lt + 1 && strchr(at, '>') != NULL && at[1] != '>' &&
	    strchr(at, '>')[1] == '\0';
}

static int
set_mailbox(struct parse *p, void *base, const struct key *k, const char *v)
{
	if (!config_is_mailbox(v))
		return config_fail(p, p->lineno, "%s: '%.80s' is not an address "
		    "(Name <user@example.com> or user@example.com)", k->name, v);
	return set_string(p, base, k, v);
}

/* ---------------------------------------------------- section: rapport */

static void *
open_rapport(struct parse *p, const char *name, int line)
{
	return p->cfg;
}

#define RK(n, s, f)	{ n, s, offsetof(struct config, f), 0, 0, 0 }
static const struct key rapport_keys[] = {
	RK("database", set_path, database),
	RK("templates", set_path, templates),
	RK("timezone", set_timezone, timezone),
	RK("from", set_mailbox, from),
};

/* ---------------------------------------------------------- endpoints */

static struct endpoint *
endpoint_init(struct endpoint *ep, const char *kind, const char *name,
    int line)
{
	ep->name = xstrdup(name);
	ep->kind = kind;
	ep->tls_verify = true;
	ep->timeout = 60;
	ep->line = line;
	return ep;
}

static bool
config_host_is_local(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
	    strcmp(host, "localhost") == 0;
}

struct scheme {
	const char *name;
	int	 port;
	bool	 implicit_tls;
	bool	 clear;		/* no TLS at all (http) */
};

static const struct scheme imap_schemes[] = {
	{ "imap", 143, false, false }, { "imaps", 993, true, false }, { 0 } };
static const struct scheme smtp_schemes[] = {
	{ "smtp", 25, false, false }, { "submission", 587, false, false },
	{ "smtps", 465, true, false }, { 0 } };
static const struct scheme caldav_schemes[] = {
	{ "http", 80, false, true }, { "https", 443, true, false }, { 0 } };

static int
key_index(const struct section_kind *kind, const char *name)
{
	for (size_t i = 0; i < kind->n_keys; i++)
		if (strcmp(kind->keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Where a key of the current section was set, 0 if it was not. */
static int
key_line(const struct parse *p, const char *name)
{
	int i = key_index(p->kind, name);

	return i < 0 ? 0 : p->key_line[i];
}

static int
endpoint_url(struct parse *p, struct endpoint *ep,
    const struct scheme *schemes)
{
	const struct scheme *s;
	char why[160], *scheme;
	int line = key_line(p, "url"), port;

	if (ep->url == NULL)
		return config_fail(p, ep->line, "%s has no url", p->section);
	if (config_value_url(ep->url, &scheme, &ep->host, &port, why,
	    sizeof(why)) == -1)
		return config_fail(p, line, "url: %s", why);
	for (s = schemes; s->name != NULL; s++)
		if (strcmp(s->name, scheme) == 0)
			break;
	free(scheme);
	if (s->name == NULL)
		return config_fail(p, line, "url: the scheme must be %s%s%s%s%s",
		    schemes[0].name, schemes[2].name ? ", " : " or ",
		    schemes[1].name, schemes[2].name ? " or " : "",
		    schemes[2].name ? schemes[2].name : "");
	ep->port = port != 0 ? port : s->port;
	ep->implicit_tls = s->implicit_tls;
	if (s->clear)
		ep->tls = TLS_NONE;
	if (ep->tls == TLS_NONE && ep->implicit_tls)
		return config_fail(p, key_line(p, "tls"), "tls = none "
		    "contradicts the url's %s scheme", s->name);
	/* Passwords and mail must not cross a network in clear text. */
	if (ep->tls == TLS_NONE && !config_host_is_local(ep->host))
		return config_fail(p, s->clear ? line : key_line(p, "tls"),
		    "%s without TLS is only allowed to 127.0.0.1, ::1 or "
		    "localhost", s->clear ? "http://" : "tls = none");
	return 0;
}

static int
endpoint_auth(struct parse *p, struct endpoint *ep)
{
	int pl = key_line(p, "password"), pfl = key_line(p, "password_file");
	int tl = key_line(p, "token_file"), al = key_line(p, "auth");
	bool has_pw = ep->password != NULL || ep->password_file != NULL;

	if (ep->password != NULL && ep->password_file != NULL)
		return config_fail(p, pl > pfl ? pl : pfl, "password and "
		    "password_file exclude each other");
	if (ep->auth == AUTH_DEFAULT && ep->token_file != NULL)
		ep->auth = AUTH_XOAUTH2;
	if (ep->auth == AUTH_XOAUTH2) {
		if (ep->token_file == NULL)
			return config_fail(p, al, "auth = xoauth2 needs "
			    "token_file");
		if (has_pw)
			return config_fail(p, pl > pfl ? pl : pfl, "a password "
			    "is not used with auth = xoauth2 (token_file)");
	} else if (ep->token_file != NULL)
		return config_fail(p, tl, "token_file needs auth = xoauth2");
	if ((ep->auth == AUTH_LOGIN || ep->auth == AUTH_PLAIN) && !has_pw)
		return config_fail(p, al, "auth = %s needs password_file",
		    ep->auth == AUTH_LOGIN ? "login" : "plain");
	if (ep->auth == AUTH_NONE && has_pw)
		return config_fail(p, pl > pfl ? pl : pfl, "a password is not "
		    "used with auth = none");
	if (ep->auth != AUTH_NONE && (has_pw || ep->auth == AUTH_XOAUTH2) &&
	    ep->user == NULL)
		return config_fail(p, ep->line, "%s has a password or token "
		    "but no user", p->section);
	return 0;
}

#define EP_KEYS(type) \
	{ "url", set_string, offsetof(type, ep.url), 0, 0, 0 }, \
	{ "user", set_string, offsetof(type, ep.user), 0, 0, 0 }, \
	{ "password", set_password, offsetof(type, ep.password), 0, 0, 0 }, \
	{ "password_file", set_path, offsetof(type, ep.password_file), 0, 0, 0 }, \
	{ "token_file", set_path, offsetof(type, ep.token_file), 0, 0, 0 }, \
	{ "auth", set_auth, offsetof(type, ep.auth), 0, 0, 0 }, \
	{ "tls_verify", set_bool, offsetof(type, ep.tls_verify), 0, 0, 0 }, \
	{ "ca_file", set_path, offsetof(type, ep.ca_file), 0, 0, 0 }, \
	{ "timeout", set_duration, offsetof(type, ep.timeout), 1, 1, 3600 }

/* ------------------------------------------------------- section: imap */

static void *
open_imap(struct parse *p, const char *name, int line)
{
	struct config *c = p->cfg;
	struct imap_account *a;

	c->imap = xreallocarray(c->imap, c->n_imap + 1, sizeof(*c->imap));
	a = memset(&c->imap[c->n_imap++], 0, sizeof(*a));
	endpoint_init(&a->ep, "imap", name, line);
	a->poll = 300;
	a->batch = 500;
	return a;
}

static bool
folder_is_sent(const char *f)
{
	size_t n = strlen(f);

	return n >= 4 && strcasecmp(f + n - 4, "sent") == 0 &&
	    (n == 4 || f[n - 5] == '/' || f[n - 5] == '.');
}

static bool
list_has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static int
finish_imap(struct parse *p, void *base)
{
	struct imap_account *a = base;

	if (endpoint_url(p, &a->ep, imap_schemes) == -1 ||
	    endpoint_auth(p, &a->ep) == -1)
		return -1;
	if (a->n_folders == 0 && key_line(p, "folders") == 0) {
		a->folders = xcalloc(1, sizeof(char *));
		a->folders[a->n_folders++] = xstrdup("INBOX");
	}
	if (a->n_folders == 0)
		return config_fail(p, key_line(p, "folders"), "folders is "
		    "empty");
	if (key_line(p, "idle_folders") == 0 &&
	    list_has(a->folders, a->n_folders, "INBOX")) {
		a->idle_folders = xcalloc(1, sizeof(char *));
		a->idle_folders[a->n_idle_folders++] = xstrdup("INBOX");
	}
	for (size_t i = 0; i < a->n_idle_folders; i++)
		if (!list_has(a->folders, a->n_folders, a->idle_folders[i]))
			return config_fail(p, key_line(p, "idle_folders"),
			    "idle_folders: '%.60s' is not in folders",
			    a->idle_folders[i]);
	if (key_line(p, "sent") == 0)
		for (size_t i = 0; i < a->n_folders; i++)
			a->sent = a->sent || folder_is_sent(a->folders[i]);
	return 0;
}

#define IK(n, s, f, u, lo, hi) \
	{ n, s, offsetof(struct imap_account, f), u, lo, hi }
static const struct key imap_keys[] = {
	EP_KEYS(struct imap_account),
	IK("tls", set_tls, ep.tls, 0, 0, 0),
	IK("folders", set_list, folders, 0, 0, 0),
	IK("idle_folders", set_list, idle_folders, 0, 0, 0),
	IK("poll", set_duration, poll, 1, 10, 86400),
	IK("batch", set_int, batch, 0, 1, 10000),
	IK("sent", set_bool, sent, 0, 0, 0),
};

/* ------------------------------------------------------- section: smtp */

static void *
open_smtp(struct parse *p, const char *name, int line)
{
	struct config *c = p->cfg;
	struct smtp_account *a;

	c->smtp = xreallocarray(c->smtp, c->n_smtp + 1, sizeof(*c->smtp));
	a = memset(&c->smtp[c->n_smtp++], 0, sizeof(*a));
	endpoint_init(&a->ep, "smtp", name, line);
	a->connections = 1;
	a->sent_folder = xstrdup("Sent");
	return a;
}

/* rate = is the [send] budget written where the server is. */
static int
set_rate(struct parse *p, void *base, const struct key *k, const char *v)
{
	char why[128];
	int pm, pd;

	if (config_value_budget(v, &pm, &pd, why, sizeof(why)) == -1)
		return config_fail(p, p->lineno, "rate: %s", why);
	if (p->rate_line != 0 && (pm != p->rate_pm || pd != p->rate_pd))
		return config_fail(p, p->lineno, "rate differs from the one at "
		    "line %d: the budget is one for every account, set it once "
		    "in [send] budget", p->rate_line);
	p->rate_line = p->lineno;
	p->rate_pm = pm;
	p->rate_pd = pd;
	return 0;
}

static int
finish_smtp(struct parse *p, void *base)
{
	struct smtp_account *a = base;

	return endpoint_url(p, &a->ep, smtp_schemes) == -1 ||
	    endpoint_auth(p, &a->ep) == -1 ? -1 : 0;
}

#define SK(n, s, f, u, lo, hi) \
	{ n, s, offsetof(struct smtp_account, f), u, lo, hi }
static const struct key smtp_keys[] = {
	EP_KEYS(struct smtp_account),
	SK("tls", set_tls, ep.tls, 0, 0, 0),
	SK("from", set_mailbox, from, 0, 0, 0),
	SK("connections", set_int, connections, 0, 1, 16),
	SK("sent_imap", set_string, sent_imap, 0, 0, 0),
	SK("sent_folder", set_string, sent_folder, 0, 0, 0),
	{ "rate", set_rate, 0, 0, 0, 0 },
};

/* ----------------------------------------------------- section: caldav */

static void *
open_caldav(struct parse *p, const char *name, int line)
{
	struct config *c = p->cfg;
	struct caldav_account *a;

	c->caldav = xreallocarray(c->caldav, c->n_caldav + 1,
	    sizeof(*c->caldav));
	a = memset(&c->caldav[c->n_caldav++], 0, sizeof(*a));
	endpoint_init(&a->ep, "caldav", name, line);
	a->window_past = a->window_future = 365;
	a->poll = 300;
	a->rediscover = 86400;
	return a;
}

/* "365d 30d": past, then future; one value for both. */
static int
set_window(struct parse *p, void *base, const struct key *k, const char *v)
{
	static const struct key days = { "window", NULL, 0, 86400, 0, 3660 };
	struct caldav_account *a = base;
	char *copy = xstrdup(v), *second;
	int past, future, rc = -1;

	second = copy + strcspn(copy, " \t,");
	if (*second != '\0') {
		*second++ = '\0';
		second += strspn(second, " \t,");
	}
	if (second[strcspn(second, " \t,")] != '\0') {
		config_fail(p, p->lineno, "window: two durations at most (past "
		    "and future: 365d 90d)");
		goto out;
	}
	if (duration_in(p, &days, copy, &past) == -1 ||
	    duration_in(p, &days, *second != '\0' ? second : copy, &future) == -1)
		goto out;
	a->window_past = past;
	a->window_future = future;
	rc = 0;
out:
	free(copy);
	return rc;
}

static int
finish_caldav(struct parse *p, void *base)
{
	struct caldav_account *a = base;

	return endpoint_url(p, &a->ep, caldav_schemes) == -1 ||
	    endpoint_auth(p, &a->ep) == -1 ? -1 : 0;
}

#define CK(n, s, f, u, lo, hi) \
	{ n, s, offsetof(struct caldav_account, f), u, lo, hi }
static const struct key caldav_keys[] = {
	EP_KEYS(struct caldav_account),
	CK("calendars", set_list, calendars, 0, 0, 0),
	CK("planning_calendar", set_string, planning_calendar, 0, 0, 0),
	CK("window", set_window, window_past, 0, 0, 0),
	CK("poll", set_duration, poll, 1, 10, 86400),
	CK("rediscover", set_duration, rediscover, 1, 60, 30 * 86400),
};

/* ------------------------------------------------------- section: send */

static void *
open_send(struct parse *p, const char *name, int line)
{
	return &p->cfg->send;
}

static int
set_quiet(struct parse *p, void *base, const struct key *k, const char *v)
{
	struct send_config *s = base;
	char why[128];

	if (strcasecmp(v, "none") == 0 || strcasecmp(v, "off") == 0) {
		s->quiet_start = s->quiet_end = -1;
		return 0;
	}
	if (config_value_timerange(v, true, &s->quiet_start, &s->quiet_end,
	    why, sizeof(why)) == -1)
		return config_fail(p, p->lineno, "quiet_hours: %s", why);
	return 0;
}

static int
set_budget(struct parse *p, void *base, const struct key *k, const char *v)
{
	struct send_config *s = base;
	char why[128];

	if (config_value_budget(v, &s->per_minute, &s->per_day, why,
	    sizeof(why)) == -1)
		return config_fail(p, p->lineno, "budget: %s", why);
	p->budget_line = p->lineno;
	return 0;
}

/* A mailto: URI (a bare address gets the prefix). */
static int
set_unsub_address(struct parse *p, void *base, const struct key *k,
    const char *v)
{
	char **f = FIELD(base, k, char *);
	const char *addr = strncasecmp(v, "mailto:", 7) == 0 ? v + 7 : v;
	size_t alen = strcspn(addr, "?");
	char *bare = xstrndup(addr, alen);
	bool okay = strchr(bare, '@') != NULL && config_is_mailbox(bare) &&
	    strchr(bare, '<') == NULL;

	free(bare);
	if (!okay)
		return config_fail(p, p->lineno, "unsubscribe_address: '%.80s' "
		    "is not an address (mailto:unsubscribe@example.com)", v);
	free(*f);
	xasprintf(f, "mailto:%s", addr);
	return 0;
}

static int
set_unsub_url(struct parse *p, void *base, const struct key *k, const char *v)
{
	char why[160], *scheme, *host;
	int port, bad;

	if (config_value_url(v, &scheme, &host, &port, why, sizeof(why)) == -1)
		return config_fail(p, p->lineno, "unsubscribe_url: %s", why);
	bad = strcmp(scheme, "https") != 0;
	free(scheme);
	free(host);
	if (bad)
		return config_fail(p, p->lineno, "unsubscribe_url must be https:// "
		    "(RFC 8058)");
	/* It goes into a header between < and >, as it is written. */
	for (const char *c = v; *c; c++)
		if (*c <= ' ' || *c >= 0x7f || strchr("<>\"", *c) != NULL)
			return config_fail(p, p->lineno, "unsubscribe_url: "
			    "'%c' must be percent-encoded", *c > ' ' &&
			    *c < 0x7f ? *c : '?');
	return set_string(p, base, k, v);
}

static int
set_feb29(struct parse *p, void *base, const struct key *k, const char *v)
{
	bool *f = FIELD(base, k, bool);

	if (strcasecmp(v, "feb28") == 0)
		*f = true;
	else if (strcasecmp(v, "mar1") == 0)
		*f = false;
	else
		return config_fail(p, p->lineno, "feb29: '%.20s' is not feb28 "
		    "or mar1", v);
	return 0;
}

#define NK(n, s, f, u, lo, hi) \
	{ n, s, offsetof(struct send_config, f), u, lo, hi }
static const struct key send_keys[] = {
	NK("quiet_hours", set_quiet, quiet_start, 0, 0, 0),
	NK("budget", set_budget, per_minute, 0, 0, 0),
	NK("dry_run", set_path, dry_run, 0, 0, 0),
	NK("unsubscribe_address", set_unsub_address, unsubscribe_address, 0, 0, 0),
	NK("unsubscribe_url", set_unsub_url, unsubscribe_url, 0, 0, 0),
	NK("birthday_hour", set_int, birthday_hour, 0, 0, 23),
	NK("feb29", set_feb29, feb29_on_feb28, 0, 0, 0),
	NK("retry_max", set_int, retry_max, 0, 1, 100),
};

/* ----------------------------------------------------- section: visits */

static void *
open_visits(struct parse *p, const char *name, int line)
{
	return &p->cfg->visits;
}

static int
set_cadence(struct parse *p, void *base, const struct key *k, const char *v)
{
	char why[160];

	if (config_value_cadence(v, FIELD(base, k, int), why, sizeof(why)) == -1)
		return config_fail(p, p->lineno, "cadence: %s", why);
	return 0;
}

static int
set_hours(struct parse *p, void *base, const struct key *k, const char *v)
{
	struct visits_config *vc = base;
	char why[160];

	if (config_value_hours(v, &vc->hours_days, &vc->hours_start,
	    &vc->hours_end, why, sizeof(why)) == -1)
		return config_fail(p, p->lineno, "hours: %s", why);
	return 0;
}

#define VK(n, s, f, u, lo, hi) \
	{ n, s, offsetof(struct visits_config, f), u, lo, hi }
static const struct key visits_keys[] = {
	VK("cadence", set_cadence, cadence_days, 0, 0, 0),
	VK("hours", set_hours, hours_days, 0, 0, 0),
	VK("length", set_duration, length, 60, 5, 24 * 60),
	VK("buffer", set_duration, buffer, 60, 0, 24 * 60),
	VK("horizon", set_duration, horizon, 86400, 1, 366),
	VK("per_day", set_int, per_day, 0, 0, 50),
};

/* ------------------------------------------------------- section: link */

static const char *const free_mail_default[] = {
	"gmail.com", "googlemail.com", "outlook.com", "hotmail.com",
	"hotmail.co.uk", "hotmail.fr", "live.com", "msn.com", "yahoo.com",
	"yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.co.jp", "ymail.com",
	"icloud.com", "me.com", "mac.com", "aol.com", "gmx.de", "gmx.net",
	"gmx.at", "gmx.ch", "web.de", "t-online.de", "freenet.de",
	"posteo.de", "mailbox.org", "proton.me", "protonmail.com",
	"tutanota.com", "zoho.com", "fastmail.com", "yandex.ru", "yandex.com",
	"mail.ru", "orange.fr", "free.fr", "laposte.net", "libero.it",
	"naver.com", "daum.net", "hanmail.net", "kakao.com", "nate.com",
	"qq.com", "163.com", "126.com", "sina.com", "sohu.com", "foxmail.com",
	"yeah.net",
};
#define N_FREE_MAIL (sizeof(free_mail_default) / sizeof(free_mail_default[0]))

static void *
open_link(struct parse *p, const char *name, int line)
{
	return &p->cfg->link;
}

static void
lower_all(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (char *c = v[i]; *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
}

/* Domains, lowercased; the word "default" stands for the shipped list. */
static int
set_domains(struct parse *p, void *base, const struct key *k, const char *v)
{
	char ***items = FIELD(base, k, char **);
	size_t *n = (size_t *)(void *)((char *)base + k->off + sizeof(char **));
	char **out = NULL;
	size_t nout = 0;

	if (set_list(p, base, k, v) == -1)
		return -1;
	for (size_t i = 0; i < *n; i++) {
		bool dflt = strcmp((*items)[i], "default") == 0;
		size_t add = dflt ? N_FREE_MAIL : 1;

		if (dflt && k->off != offsetof(struct link_config, free_mail))
			return config_fail(p, p->lineno, "%s: 'default' only "
			    "stands for a list in free_mail", k->name);
		if (!dflt && (strchr((*items)[i], '.') == NULL ||
		    strchr((*items)[i], '@') != NULL)) {
			config_value_list_free(out, nout);
			return config_fail(p, p->lineno, "%s: '%.60s' is not a "
			    "domain", k->name, (*items)[i]);
		}
		out = xreallocarray(out, nout + add, sizeof(*out));
		for (size_t j = 0; j < add; j++)
			out[nout++] = xstrdup(dflt ? free_mail_default[j] :
			    (*items)[i]);
	}
	config_value_list_free(*items, *n);
	lower_all(out, nout);
	*items = out;
	*n = nout;
	return 0;
}

static int
set_addresses(struct parse *p, void *base, const struct key *k, const char *v)
{
	char ***items = FIELD(base, k, char **);
	size_t *n = (size_t *)(void *)((char *)base + k->off + sizeof(char **));

	if (set_list(p, base, k, v) == -1)
		return -1;
	for (size_t i = 0; i < *n; i++)
		if (!config_is_mailbox((*items)[i]) ||
		    strchr((*items)[i], '<') != NULL)
			return config_fail(p, p->lineno, "%s: '%.60s' is not an "
			    "address", k->name, (*items)[i]);
	lower_all(*items, *n);
	return 0;
}

#define LK(n, s, f) { n, s, offsetof(struct link_config, f), 0, 0, 0 }
static const struct key link_keys[] = {
	LK("fold_plus", set_bool, fold_plus),
	LK("company_by_domain", set_bool, company_by_domain),
	LK("free_mail", set_domains, free_mail),
	LK("aliases", set_addresses, aliases),
	LK("own_domains", set_domains, own_domains),
};

/* ----------------------------------------------------- section: agenda */

static void *
open_agenda(struct parse *p, const char *name, int line)
{
	return &p->cfg->agenda;
}

/* "7", "07" or "07:00"; "none" turns the agenda off. */
static int
set_agenda_hour(struct parse *p, void *base, const struct key *k,
    const char *v)
{
	char why[128];
	int m;

	if (strcasecmp(v, "none") == 0 || strcasecmp(v, "off") == 0) {
		*FIELD(base, k, int) = -1;
		return 0;
	}
	if (strchr(v, ':') == NULL)
		return set_int(p, base, k, v);
	if (config_value_hhmm(v, false, &m, why, sizeof(why)) == -1)
		return config_fail(p, p->lineno, "hour: %s", why);
	if (m % 60 != 0)
		return config_fail(p, p->lineno, "hour: '%.20s' is not on the "
		    "hour", v);
	*FIELD(base, k, int) = m / 60;
	return 0;
}

static int
set_lang(struct parse *p, void *base, const struct key *k, const char *v)
{
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz");

	if (n < 2 || n > 3 || (v[n] != '\0' && (v[n] != '-' || v[n + 1] == '\0'
	    || strspn(v + n + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789-") != strlen(v + n + 1))))
		return config_fail(p, p->lineno, "lang: '%.20s' is not a "
		    "language code (en, de, ko, zh-Hans)", v);
	return set_string(p, base, k, v);
}

#define AK(n, s, f, lo, hi) \
	{ n, s, offsetof(struct agenda_config, f), 0, lo, hi }
static const struct key agenda_keys[] = {
	AK("hour", set_agenda_hour, hour, 0, 23),
	AK("to", set_mailbox, to, 0, 0),
	AK("lang", set_lang, lang, 0, 0),
};

/* ------------------------------------------------------- section: sale */

static void *
open_sale(struct parse *p, const char *name, int line)
{
	struct config *c = p->cfg;
	struct sale_rule *r;

	c->sale_rules = xreallocarray(c->sale_rules, c->n_sale_rules + 1,
	    sizeof(*c->sale_rules));
	r = memset(&c->sale_rules[c->n_sale_rules++], 0, sizeof(*r));
	r->name = xstrdup(name);
	r->line = line;
	return r;
}

static int
set_regex(struct parse *p, void *base, const struct key *k, const char *v)
{
	char why[128];
	regex_t re;
	int rc;

	if ((rc = regcomp(&re, v, REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, &re, why, sizeof(why));
		return config_fail(p, p->lineno, "%s: %s", k->name, why);
	}
	regfree(&re);
	return set_string(p, base, k, v);
}

static int
finish_sale(struct parse *p, void *base)
{
	struct sale_rule *r = base;

	if (r->sender == NULL && r->subject == NULL)
		return config_fail(p, r->line, "%s needs sender or subject",
		    p->section);
	return 0;
}

#define LR(n, s, f) { n, s, offsetof(struct sale_rule, f), 0, 0, 0 }
static const struct key sale_keys[] = {
	LR("sender", set_string, sender),
	LR("subject", set_regex, subject),
	LR("product", set_string, product),
};

/* ----------------------------------------------------------- sections */

#define KEYS(t)	t, sizeof(t) / sizeof(t[0])
static const struct section_kind kinds[] = {
	{ "rapport", NAME_NONE, KEYS(rapport_keys), open_rapport, NULL },
	{ "imap", NAME_REQUIRED, KEYS(imap_keys), open_imap, finish_imap },
	{ "smtp", NAME_OPTIONAL, KEYS(smtp_keys), open_smtp, finish_smtp },
	{ "caldav", NAME_REQUIRED, KEYS(caldav_keys), open_caldav,
	    finish_caldav },
	{ "send", NAME_NONE, KEYS(send_keys), open_send, NULL },
	{ "visits", NAME_NONE, KEYS(visits_keys), open_visits, NULL },
	{ "link", NAME_NONE, KEYS(link_keys), open_link, NULL },
	{ "agenda", NAME_NONE, KEYS(agenda_keys), open_agenda, NULL },
	{ "sale", NAME_REQUIRED, KEYS(sale_keys), open_sale, finish_sale },
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

/* Levenshtein distance, for "did you mean"; names are short. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64], prev, tmp;

	if (lb >= sizeof(row) / sizeof(row[0]))
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/* The closest of names within distance 2, or NULL. */
static const char *
closest(const char *word, const char *const *names, size_t n, size_t stride)
{
	const char *best = NULL;
	size_t bd = 3;

	for (size_t i = 0; i < n; i++) {
		const char *cand = *(const char *const *)(const void *)
		    ((const char *)names + i * stride);
		size_t d = edit_distance(word, cand);

		if (d < bd) {
			bd = d;
			best = cand;
		}
	}
	return best;
}

static const struct section_kind *
kind_find(const char *name)
{
	for (size_t i = 0; i < N_KINDS; i++)
		if (strcmp(kinds[i].name, name) == 0)
			return &kinds[i];
	return NULL;
}

/* Ends the current section: its own checks, with its key lines at hand. */
static int
section_finish(struct parse *p)
{
	int rc = 0;

	if (p->kind != NULL && p->kind->finish != NULL)
		rc = p->kind->finish(p, p->base);
	p->kind = NULL;
	p->base = NULL;
	free(p->section);
	p->section = NULL;
	return rc;
}

static bool
name_exists(const struct parse *p, const struct section_kind *k,
    const char *name, int *line)
{
	const struct config *c = p->cfg;

	for (size_t i = 0; strcmp(k->name, "imap") == 0 && i < c->n_imap; i++)
		if (strcmp(c->imap[i].ep.name, name) == 0)
			return (*line = c->imap[i].ep.line), true;
	for (size_t i = 0; strcmp(k->name, "smtp") == 0 && i < c->n_smtp; i++)
		if (strcmp(c->smtp[i].ep.name, name) == 0)
			return (*line = c->smtp[i].ep.line), true;
	for (size_t i = 0; strcmp(k->name, "caldav") == 0 && i < c->n_caldav;
	    i++)
		if (strcmp(c->caldav[i].ep.name, name) == 0)
			return (*line = c->caldav[i].ep.line), true;
	for (size_t i = 0; strcmp(k->name, "sale") == 0 &&
	    i < c->n_sale_rules; i++)
		if (strcmp(c->sale_rules[i].name, name) == 0)
			return (*line = c->sale_rules[i].line), true;
	return false;
}

/* The quoted name of [kind "name"]; NULL with an error. */
static char *
section_name(struct parse *p, const char *s)
{
	size_t n;

	if (*s++ != '"' || (n = strcspn(s, "\"")) == 0 || s[n] != '"' ||
	    s[n + 1 + strspn(s + n + 1, " \t")] != '\0') {
		config_fail(p, p->lineno, "bad section header: write "
		    "[kind \"name\"]");
		return NULL;
	}
	if (n > CONFIG_NAME_MAX) {
		config_fail(p, p->lineno, "section name longer than %d bytes",
		    CONFIG_NAME_MAX);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("-_.@+", s[i]) ==
		    NULL) {
			config_fail(p, p->lineno, "section name: only letters, "
			    "digits and - _ . @ + are allowed");
			return NULL;
		}
	return xstrndup(s, n);
}

static int
section_start_named(struct parse *p, const struct section_kind *k,
    const char *rest, int line)
{
	char *name = NULL;
	int first;

	if (*rest == '\0' && k->naming == NAME_REQUIRED)
		return config_fail(p, line, "[%s] needs a name: [%s \"work\"]",
		    k->name, k->name);
	if (*rest != '\0' && k->naming == NAME_NONE)
		return config_fail(p, line, "[%s] takes no name", k->name);
	if (*rest == '\0' && k->naming == NAME_NONE) {
		if ((first = p->single_line[k - kinds]) != 0)
			return config_fail(p, line, "[%s] again (first at line "
			    "%d)", k->name, first);
		p->single_line[k - kinds] = line;
	} else {
		name = *rest == '\0' ? xstrdup("default") :
		    section_name(p, rest);
		if (name == NULL)
			return -1;
		if (name_exists(p, k, name, &first)) {
			config_fail(p, line, "[%s \"%s\"] again (first at "
			    "line %d)", k->name, name, first);
			free(name);
			return -1;
		}
	}
	p->kind = k;
	p->base = k->open(p, name, line);
	free(name);
	return 0;
}


/* A header line: "[kind]" or "[kind "name"]", blanks allowed inside. */
static int
section_start(struct parse *p, const char *line)
{
	const char *close = strchr(line, ']'), *after, *sugg;
	const struct section_kind *k;
	char *inner, *kname, *rest;
	size_t wlen;
	int rc = -1;

	if (section_finish(p) == -1)
		return -1;
	if (close == NULL)
		return config_fail(p, p->lineno, "section header without ']'");
	after = close + 1 + strspn(close + 1, " \t");
	if (*after != '\0' && *after != ';' && *after != '#')
		return config_fail(p, p->lineno, "text after ']'");
	inner = xstrndup(line + 1, (size_t)(close - line - 1));
	kname = inner + strspn(inner, " \t");
	wlen = strcspn(kname, " \t\"");
	rest = kname + wlen + strspn(kname + wlen, " \t");
	kname = xstrndup(kname, wlen);
	memset(p->key_line, 0, sizeof(p->key_line));
	if ((k = kind_find(kname)) == NULL) {
		sugg = closest(kname, &kinds[0].name, N_KINDS, sizeof(kinds[0]));
		config_fail(p, p->lineno, "unknown section [%s]%s%s%s", kname,
		    sugg ? " (did you mean [" : "", sugg ? sugg : "",
		    sugg ? "]?)" : "");
	} else if (section_start_named(p, k, rest, p->lineno) == 0) {
		rc = 0;
		if (k->naming == NAME_NONE)
			xasprintf(&p->section, "[%s]", k->name);
		else
			xasprintf(&p->section, "[%s \"%s\"]", k->name,
			    strcmp(k->name, "sale") == 0 ?
			    p->cfg->sale_rules[p->cfg->n_sale_rules - 1].name :
			    ((struct endpoint *)p->base)->name);
	}
	free(kname);
	free(inner);
	return rc;
}

/* What inih would take for a key line but is not one: caught in order. */
static bool
line_is_key_or_blank(const char *s)
{
	return *s == '\0' || *s == ';' || *s == '#' || *s == '[' ||
	    strpbrk(s, "=:") != NULL;
}

/*
 * fgets() for inih, over the file already in memory: one line per call,
 * without its line end and leading blanks.
 */
static char *
config_reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	const char *line, *nl;
	size_t len;

	if (p->failed || p->pos >= p->len)
		return NULL;
	line = p->text + p->pos;
	nl = memchr(line, '\n', p->len - p->pos);
	len = nl != NULL ? (size_t)(nl - line) : p->len - p->pos;
	p->pos += len + (nl != NULL);
	p->lineno++;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	if (len >= (size_t)num)	/* the prescan makes this impossible */
		len = (size_t)num - 1;
	memcpy(str, line, len);
	str[len] = '\0';
	if (str[0] == '[' && section_start(p, str) == -1)
		return NULL;
	if (!line_is_key_or_blank(str)) {
		config_fail(p, p->lineno, "expected 'key = value' or "
		    "'[section]'");
		return NULL;
	}
	return str;
}

static int
config_handler(void *user, const char *section, const char *name,
    const char *value, int lineno)
{
	struct parse *p = user;
	const struct key *k;
	const char *sugg;
	int i;

	if (p->failed)
		return 0;
	p->lineno = lineno;
	if (p->kind == NULL) {
		config_fail(p, lineno, "'%s' outside any section", name);
		return 0;
	}
	if ((i = key_index(p->kind, name)) < 0) {
		sugg = closest(name, &p->kind->keys[0].name, p->kind->n_keys,
		    sizeof(struct key));
		config_fail(p, lineno, "unknown key '%s' in %s%s%s%s", name,
		    p->section, sugg ? " (did you mean '" : "",
		    sugg ? sugg : "", sugg ? "'?)" : "");
		return 0;
	}
	if (p->key_line[i] != 0) {
		config_fail(p, lineno, "'%s' again in %s (first at line %d)",
		    name, p->section, p->key_line[i]);
		return 0;
	}
	p->key_line[i] = lineno;
	k = &p->kind->keys[i];
	return k->set(p, p->base, k, value) == 0;
}

/* ---------------------------------------------------------- the file */

static int
config_read_file(struct parse *p)
{
	FILE *f = fopen(p->path, "re");
	char *buf;
	size_t n;

	if (f == NULL)
		return config_fail(p, 0, "cannot open: %s", strerror(errno));
	buf = xmalloc(CONFIG_FILE_MAX + 1);
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		config_fail(p, 0, "cannot read: %s", strerror(errno));
		n = 0;
	} else if (n > CONFIG_FILE_MAX)
		config_fail(p, 0, "larger than %d bytes", CONFIG_FILE_MAX);
	fclose(f);
	p->text = buf;
	p->len = n;
	/* A UTF-8 byte order mark from an editor is not part of line 1. */
	if (n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		p->pos = 3;
	return p->failed ? -1 : 0;
}

/* Refuses what inih's 200-byte line buffer would cut. */
static int
config_prescan(struct parse *p)
{
	const char *s = p->text + p->pos, *end = p->text + p->len, *nl;
	int line = 1;
	size_t len;

	for (; s < end; s = nl + 1, line++) {
		nl = memchr(s, '\n', (size_t)(end - s));
		len = (size_t)((nl != NULL ? nl : end) - s);
		if (len > 0 && s[len - 1] == '\r')
			len--;
		if (memchr(s, '\0', len) != NULL)
			return config_fail(p, line, "a NUL byte");
		if (len > CONFIG_LINE_MAX)
			return config_fail(p, line, "line longer than %d bytes",
			    CONFIG_LINE_MAX);
		if (nl == NULL)
			break;
	}
	return 0;
}

/* The folder of path, absolute so that a later chdir changes nothing. */
static char *
config_dir(const char *path)
{
	char *copy = xstrdup(path), *slash = strrchr(copy, '/'), *real;
	const char *d = ".";

	if (slash == copy)
		d = "/";
	else if (slash != NULL) {
		*slash = '\0';
		d = copy;
	}
	real = realpath(d, NULL);
	if (real == NULL)
		real = xstrdup(d);
	free(copy);
	return real;
}

/* ----------------------------------------------------------- defaults */

static bool
timezone_valid(const char *tz)
{
	char *f;
	bool ok;

	if (*tz == '\0' || *tz == '/' || strstr(tz, "..") != NULL ||
	    strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789/_+-") != strlen(tz))
		return false;
	if (access("/usr/share/zoneinfo/UTC", F_OK) != 0)
		return true;
	xasprintf(&f, "/usr/share/zoneinfo/%s", tz);
	ok = access(f, F_OK) == 0;
	free(f);
	return ok;
}

/* The system's zone: $TZ, else /etc/localtime's link, else UTC. */
static char *
config_default_timezone(void)
{
	const char *tz = getenv("TZ"), *z;
	char buf[PATH_MAX];
	ssize_t n;

	if (tz != NULL && *tz == ':')
		tz++;
	if (tz != NULL && timezone_valid(tz))
		return xstrdup(tz);
	n = readlink("/etc/localtime", buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		if ((z = strstr(buf, "zoneinfo/")) != NULL &&
		    timezone_valid(z + 9))
			return xstrdup(z + 9);
	}
	return xstrdup("UTC");
}

static void
config_defaults(struct config *c)
{
	c->send.quiet_start = c->send.quiet_end = -1;
	c->send.birthday_hour = 9;
	c->send.feb29_on_feb28 = true;
	c->send.retry_max = 8;
	c->visits.cadence_days[0] = 30;
	c->visits.cadence_days[1] = 90;
	c->visits.cadence_days[2] = 365;
	c->visits.hours_days = 0x1f;
	c->visits.hours_start = 9 * 60;
	c->visits.hours_end = 17 * 60;
	c->visits.length = 60;
	c->visits.buffer = 30;
	c->visits.horizon = 14;
	c->visits.per_day = 3;
	c->link.fold_plus = true;
	c->link.free_mail = xcalloc(N_FREE_MAIL, sizeof(char *));
	for (size_t i = 0; i < N_FREE_MAIL; i++)
		c->link.free_mail[i] = xstrdup(free_mail_default[i]);
	c->link.n_free_mail = N_FREE_MAIL;
	c->agenda.hour = -1;
}

/* ------------------------------------------------- whole-file checks */

static int
check_smtp(struct parse *p, struct smtp_account *a)
{
	struct config *c = p->cfg;
	size_t i;

	if (a->from == NULL && c->from == NULL)
		return config_fail(p, a->ep.line, "[smtp \"%s\"] has no from, "
		    "and [rapport] has none either", a->ep.name);
	if (a->from == NULL)
		a->from = xstrdup(c->from);
	if (a->sent_imap == NULL)
		return 0;
	for (i = 0; i < c->n_imap; i++)
		if (strcmp(c->imap[i].ep.name, a->sent_imap) == 0)
			return 0;
	return config_fail(p, a->ep.line, "[smtp \"%s\"] sent_imap: no [imap "
	    "\"%.40s\"]", a->ep.name, a->sent_imap);
}

static int
config_check(struct parse *p)
{
	struct config *c = p->cfg;
	int rl = p->single_line[kind_find("rapport") - kinds];

	if (rl == 0)
		return config_fail(p, 0, "no [rapport] section (database is "
		    "required)");
	if (c->database == NULL)
		return config_fail(p, rl, "[rapport] has no database");
	if (c->templates == NULL)
		c->templates = config_path(p, "templates");
	if (c->timezone == NULL)
		c->timezone = config_default_timezone();
	/* The design's own example sets both: not worth refusing. */
	if (p->rate_line != 0 && p->budget_line != 0)
		log_warnx("%s:%d: rate is ignored: [send] budget (line %d) is "
		    "set", p->path, p->rate_line, p->budget_line);
	else if (p->rate_line != 0) {
		c->send.per_minute = p->rate_pm;
		c->send.per_day = p->rate_pd;
	}
	for (size_t i = 0; i < c->n_smtp; i++)
		if (check_smtp(p, &c->smtp[i]) == -1)
			return -1;
	if (c->agenda.to == NULL && c->from != NULL)
		c->agenda.to = xstrdup(c->from);
	if (c->agenda.hour >= 0 && c->agenda.to == NULL)
		return config_fail(p, p->single_line[kind_find("agenda") -
		    kinds], "[agenda] has no to, "
		    "and [rapport] has no from");
	return 0;
}

int
config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	struct parse p;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.path = path;
	p.err = err;
	p.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	cfg->path = xstrdup(path);
	config_defaults(cfg);
	if (config_read_file(&p) == 0 && config_prescan(&p) == 0) {
		p.dir = config_dir(path);
		rc = ini_parse_stream(config_reader, &p, config_handler, &p);
		if (rc != 0)
			config_fail(&p, rc > 0 ? rc : 0, "expected 'key = value' "
			    "or '[section]'");
		if (!p.failed && section_finish(&p) == 0)
			config_check(&p);
	}
	free(p.section);
	free(p.dir);
	free((char *)p.text);
	if (!p.failed)
		return 0;
	config_free(cfg);
	return -1;
}

/* ------------------------------------------------------------- freeing */

static void
endpoint_free(struct endpoint *ep)
{
	free(ep->name);
	free(ep->url);
	free(ep->host);
	free(ep->user);
	if (ep->password != NULL)
		explicit_bzero(ep->password, strlen(ep->password));
	free(ep->password);
	free(ep->password_file);
	free(ep->token_file);
	free(ep->ca_file);
}

void
config_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_imap; i++) {
		endpoint_free(&cfg->imap[i].ep);
		config_value_list_free(cfg->imap[i].folders,
		    cfg->imap[i].n_folders);
		config_value_list_free(cfg->imap[i].idle_folders,
		    cfg->imap[i].n_idle_folders);
	}
	for (size_t i = 0; i < cfg->n_smtp; i++) {
		endpoint_free(&cfg->smtp[i].ep);
		free(cfg->smtp[i].from);
		free(cfg->smtp[i].sent_imap);
		free(cfg->smtp[i].sent_folder);
	}
	for (size_t i = 0; i < cfg->n_caldav; i++) {
		endpoint_free(&cfg->caldav[i].ep);
		config_value_list_free(cfg->caldav[i].calendars,
		    cfg->caldav[i].n_calendars);
		free(cfg->caldav[i].planning_calendar);
	}
	for (size_t i = 0; i < cfg->n_sale_rules; i++) {
		free(cfg->sale_rules[i].name);
		free(cfg->sale_rules[i].sender);
		free(cfg->sale_rules[i].subject);
		free(cfg->sale_rules[i].product);
	}
	free(cfg->imap);
	free(cfg->smtp);
	free(cfg->caldav);
	free(cfg->sale_rules);
	free(cfg->send.dry_run);
	free(cfg->send.unsubscribe_address);
	free(cfg->send.unsubscribe_url);
	config_value_list_free(cfg->link.free_mail, cfg->link.n_free_mail);
	config_value_list_free(cfg->link.aliases, cfg->link.n_aliases);
	config_value_list_free(cfg->link.own_domains, cfg->link.n_own_domains);
	free(cfg->agenda.to);
	free(cfg->agenda.lang);
	free(cfg->path);
	free(cfg->database);
	free(cfg->templates);
	free(cfg->timezone);
	free(cfg->from);
	memset(cfg, 0, sizeof(*cfg));
}

/* ------------------------------------------------------------- secrets */

static char *
secret_fail(int fd, char *buf, char *err, size_t errlen, const char *file,
    const char *what)
{
	snprintf(err, errlen, "%s: %s", file, what);
	if (buf != NULL) {
		explicit_bzero(buf, CONFIG_SECRET_MAX + 1);
		free(buf);
	}
	if (fd != -1)
		close(fd);
	return NULL;
}

/* One line from a file only its owner should read (a warning otherwise:
 * systemd credentials are 0400 anyway). */
static char *
secret_read(const char *file, char *err, size_t errlen)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	char *buf = NULL, *out, why[160];
	size_t len = 0;
	ssize_t n;
	struct stat st;

	if (fd == -1) {
		snprintf(why, sizeof(why), "cannot open: %s", strerror(errno));
		return secret_fail(fd, buf, err, errlen, file, why);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		return secret_fail(fd, buf, err, errlen, file,
		    "not a regular file");
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		log_warnx("%s is readable by others than its owner: chmod 600 it",
		    file);
	buf = xmalloc(CONFIG_SECRET_MAX + 1);
	while (len <= CONFIG_SECRET_MAX && (n = read(fd, buf + len,
	    CONFIG_SECRET_MAX + 1 - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(why, sizeof(why), "cannot read: %s",
			    strerror(errno));
			return secret_fail(fd, buf, err, errlen, file, why);
		}
		len += (size_t)n;
	}
	if (len > CONFIG_SECRET_MAX)
		return secret_fail(fd, buf, err, errlen, file, "larger than "
		    "64 KiB");
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0)
		return secret_fail(fd, buf, err, errlen, file, "empty");
	if (memchr(buf, '\n', len) != NULL || memchr(buf, '\r', len) != NULL ||
	    memchr(buf, '\0', len) != NULL)
		return secret_fail(fd, buf, err, errlen, file, "more than one "
		    "line");
	out = xstrndup(buf, len);
	explicit_bzero(buf, CONFIG_SECRET_MAX + 1);
	free(buf);
	close(fd);
	return out;
}

char *
config_secret(const struct endpoint *ep, char *err, size_t errlen)
{
	const char *file;

	if (errlen > 0)
		err[0] = '\0';
	if (ep->auth == AUTH_XOAUTH2)
		file = ep->token_file;
	else if (ep->password != NULL)
		return xstrdup(ep->password);
	else
		file = ep->password_file;
	if (file == NULL) {
		snprintf(err, errlen, "[%s \"%s\"] has no %s", ep->kind,
		    ep->name, ep->auth == AUTH_XOAUTH2 ? "token_file" :
		    "password or password_file");
		return NULL;
	}
	return secret_read(file, err, errlen);
}
