/*
 * The sender (sender.h): rendering an outbox row into a message, the
 * checks made again at send time, and the connector that sends.
 */
#include "sender.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "agenda.h"
#include "clock.h"
#include "config.h"
#include "connector.h"
#include "imap_session.h"
#include "log.h"
#include "mime_build.h"
#include "smtp_session.h"
#include "store_unsubscribe.h"
#include "store.h"
#include "store_message.h"
#include "store_outbox.h"
#include "template.h"
#include "when.h"
#include "xmalloc.h"
#include "zone.h"

/* A sending thread idles at most this long before looking again. */
#define SENDER_IDLE_MAX_MS	(60 * 1000)
/* A connection idle longer than this is checked with NOOP before use. */
#define SENDER_IDLE_CHECK	30
/*
 * SQLite's default page cache, but the checkpoints of store_bulk_setup():
 * a checkpoint runs inside the commit that crosses the threshold and
 * waits for two fdatasyncs, which at the default (1,000 pages, ~140
 * messages) held the sender up more than the sending (bench/send).
 */
#define SENDER_CACHE_KIB	2000

/* ---- time zones ---- */

/*
 * libical loads a zone on its first lookup and may extend its cached
 * transitions on a conversion: neither is safe from several threads, so
 * every zone call of the sending threads goes through this lock.
 */
static pthread_mutex_t sender_zone_lock = PTHREAD_MUTEX_INITIALIZER;

static void
sender_local(int64_t t, const char *tz, const char *fallback,
    struct local_time *lt)
{
	pthread_mutex_lock(&sender_zone_lock);
	zone_local(t, zone_get_or(tz, fallback), lt);
	pthread_mutex_unlock(&sender_zone_lock);
}

static int64_t
sender_outside_quiet(int64_t t, const char *tz, const char *fallback,
    int start, int end)
{
	int64_t r;

	pthread_mutex_lock(&sender_zone_lock);
	r = when_outside_quiet(t, zone_get_or(tz, fallback), start, end);
	pthread_mutex_unlock(&sender_zone_lock);
	return r;
}

/*
 * Minutes east of UTC of [rapport] timezone at t, for the Date header.
 * The last answer is kept per thread: a newsletter asks for the same
 * second hundreds of times, and the zone lookup was the sender's
 * hottest path (libical through ICU).
 */
static int
sender_utc_offset(const struct config *cfg, int64_t t)
{
	static _Thread_local int64_t last_t = INT64_MIN;
	static _Thread_local const char *last_tz;
	static _Thread_local int last_off;
	struct local_time lt;
	struct tm tm;

	if (t == last_t && cfg->timezone == last_tz)
		return last_off;
	sender_local(t, cfg->timezone, NULL, &lt);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = lt.year - 1900;
	tm.tm_mon = lt.month - 1;
	tm.tm_mday = lt.day;
	tm.tm_hour = lt.hour;
	tm.tm_min = lt.minute;
	tm.tm_sec = lt.second;
	last_t = t;
	last_tz = cfg->timezone;
	last_off = (int)(((int64_t)timegm(&tm) - t) / 60);
	return last_off;
}

/* ---- messages ---- */

void
sender_message_init(struct sender_message *m)
{
	memset(m, 0, sizeof(*m));
	strbuf_init(&m->data, 0);
}

void
sender_message_free(struct sender_message *m)
{
	strbuf_free(&m->data);
	free(m->recipient);
	free(m->from_addr);
	memset(m, 0, sizeof(*m));
}

int64_t
sender_retry_delay(int attempts)
{
	int64_t d = SENDER_RETRY_FIRST;

	for (int i = 1; i < attempts && d < SENDER_RETRY_MAX; i++)
		d *= 2;
	return d < SENDER_RETRY_MAX ? d : SENDER_RETRY_MAX;
}

/*
 * "Kim Sales <kim@example.com>" or "kim@example.com" into a display name
 * (NULL when none) and an address.  -1 if there is no address.
 */
static int
sender_parse_from(const char *from, char **name, char **addr)
{
	const char *lt = strrchr(from, '<'), *gt;
	size_t n;

	*name = *addr = NULL;
	if (lt == NULL) {
		n = strspn(from, " \t");
		*addr = xstrdup(from + n);
		(*addr)[strcspn(*addr, " \t")] = '\0';
		return **addr ? 0 : -1;
	}
	if ((gt = strchr(lt, '>')) == NULL || gt == lt + 1)
		return -1;
	*addr = xstrndup(lt + 1, (size_t)(gt - lt - 1));
	while (lt > from && (lt[-1] == ' ' || lt[-1] == '\t'))
		lt--;
	while (from < lt && (*from == ' ' || *from == '\t'))
		from++;
	if (lt - from >= 2 && *from == '"' && lt[-1] == '"') {
		from++;
		lt--;
	}
	if (lt > from)
		*name = xstrndup(from, (size_t)(lt - from));
	return 0;
}

/* ---- template variables ---- */

#define SENDER_VARS_MAX	32

struct sender_vars {
	const char	*name[SENDER_VARS_MAX];
	char		*value[SENDER_VARS_MAX];
	size_t		 n;
};

static void
vars_set(struct sender_vars *v, const char *name, const char *value)
{
	if (value == NULL || v->n == SENDER_VARS_MAX)
		return;
	v->name[v->n] = name;
	v->value[v->n++] = xstrdup(value);
}

static void
vars_setf(struct sender_vars *v, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
vars_setf(struct sender_vars *v, const char *name, const char *fmt, ...)
{
	va_list ap;
	char buf[64];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	vars_set(v, name, buf);
}

static void
vars_free(struct sender_vars *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->value[i]);
	v->n = 0;
}

static const char *
vars_lookup(void *ctx, const char *name)
{
	struct sender_vars *v = ctx;

	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->name[i], name) == 0)
			return v->value[i];
	return NULL;
}

/*
 * PREFIX.first_name (the stored one, else the name's first word) and,
 * for the customer, customer.last_name (the last word of several).
 */
static void
vars_name_parts(struct sender_vars *v, const char *first_key,
    const char *last_key, const char *name, const char *first)
{
	const char *sp;
	char *word;

	if (name == NULL)
		return;
	if (first && *first)
		vars_set(v, first_key, first);
	else {
		word = xstrndup(name, strcspn(name, " \t"));
		vars_set(v, first_key, word);
		free(word);
	}
	if (last_key && (sp = strrchr(name, ' ')) && sp[1] != '\0')
		vars_set(v, last_key, sp + 1);
}

static void
vars_date(struct sender_vars *v, const char *name, const char *time_name,
    int64_t t, const struct customer *c, const struct config *cfg)
{
	struct local_time lt;

	if (t == 0)
		return;
	sender_local(t, c->tz, cfg->timezone, &lt);
	vars_setf(v, name, "%04d-%02d-%02d", lt.year, lt.month, lt.day);
	if (time_name)
		vars_setf(v, time_name, "%02d:%02d", lt.hour, lt.minute);
}

static void
vars_customer(struct sender_vars *v, const struct customer *c,
    const struct outbox_row *row, int64_t now, const struct config *cfg)
{
	struct local_time lt;
	const char *occ;
	int year;

	vars_set(v, "customer.name", c->name);
	vars_name_parts(v, "customer.first_name", "customer.last_name", c->name,
	    c->first_name);
	vars_set(v, "customer.company", c->company);
	if (c->n_emails > 0)
		vars_set(v, "customer.email", c->emails[0]);
	if (c->birth_year <= 0)
		return;
	/* A birthday card's year is its occurrence ("2027", "birthday:2027"). */
	occ = row->occurrence ? strrchr(row->occurrence, ':') : NULL;
	occ = occ ? occ + 1 : row->occurrence;
	year = occ ? atoi(occ) : 0;
	if (year < 1000 || year > 9999) {
		sender_local(now, c->tz, cfg->timezone, &lt);
		year = lt.year;
	}
	if (year > c->birth_year)
		vars_setf(v, "customer.age", "%d", year - c->birth_year);
}

static void
vars_sender(struct sender_vars *v, const char *name, const char *addr)
{
	if (name)
		vars_set(v, "sender.name", name);
	vars_name_parts(v, "sender.first_name", NULL, name, NULL);
	vars_set(v, "sender.email", addr);
}

/* The mailto: of List-Unsubscribe: [send] unsubscribe_address, else From. */
static char *
sender_unsubscribe_mailto(const struct config *cfg, const char *from_addr)
{
	const char *a = cfg->send.unsubscribe_address;
	char *s;

	if (a && strncasecmp(a, "mailto:", 7) == 0)
		a += 7;
	if (a == NULL || *a == '\0')
		a = from_addr;
	if (xasprintf(&s, "mailto:%s?subject=unsubscribe", a) < 0)
		return NULL;
	return s;
}

/* What the row was planned for: a sale, a referral, a meeting, a message. */
static void
vars_ref(struct store *st, struct sender_vars *v, const struct outbox_row *row,
    const struct customer *c, const struct config *cfg)
{
	struct outbox_ref ref;
	struct customer other;

	if (row->ref_kind == NULL ||
	    store_outbox_ref_get(st, row->ref_kind, row->ref_id, &ref) !=
	    STORE_OK)
		return;
	if (strcmp(row->ref_kind, "sale") == 0) {
		vars_set(v, "sale.product", ref.product);
		vars_date(v, "sale.date", NULL, ref.at, c, cfg);
	} else if (strcmp(row->ref_kind, "event") == 0) {
		vars_set(v, "meeting.summary", ref.summary);
		vars_set(v, "meeting.location", ref.location);
		vars_date(v, "meeting.date", "meeting.time", ref.at, c, cfg);
	} else if (strcmp(row->ref_kind, "message") == 0) {
		vars_set(v, "message.subject", ref.summary);
		vars_date(v, "message.date", NULL, ref.at, c, cfg);
	}
	/* The person referred (or whose sale it was), seen by the referrer. */
	if (ref.other_id != 0 && ref.other_id != c->id &&
	    store_customer_get(st, ref.other_id, &other) == STORE_OK) {
		vars_set(v, "referral.name", other.name);
		vars_name_parts(v, "referral.first_name", NULL, other.name,
		    other.first_name);
		customer_clear(&other);
	}
	outbox_ref_clear(&ref);
}

/* ---- rendering ---- */

struct sender_parts {
	char	*from_name;
	char	*from_addr;
	char	*mailto;
	char	*unsub_url;	/* the recipient's one-click link, or NULL */
};

static void
sender_parts_free(struct sender_parts *p)
{
	free(p->from_name);
	free(p->from_addr);
	free(p->mailto);
	free(p->unsub_url);
}

static const char *
sender_from(const struct sender_env *env)
{
	if (env->acct && env->acct->from)
		return env->acct->from;
	return env->cfg->from;
}

/*
 * [send] unsubscribe_url with the customer's token (store_unsubscribe.h)
 * in place of "{token}", else appended as the query parameter t.  A
 * preview (no Message-ID yet) makes no token: it shows the one there is,
 * else "{token}".
 */
static char *
sender_unsubscribe_url(struct store *st, const struct config *cfg,
    const struct customer *c, bool preview, char *err, size_t errlen)
{
	const char *url = cfg->send.unsubscribe_url, *mark;
	char token[UNSUBSCRIBE_TOKEN_LEN + 1] = "{token}";
	struct strbuf b;

	if (url == NULL || *url == '\0')
		return NULL;
	if (preview) {
		if (store_unsubscribe_token_get(st, c->id, token) == STORE_ERROR) {
			snprintf(err, errlen, "%s", store_errmsg(st));
			return NULL;
		}
	} else if (store_unsubscribe_token(st, c->id, clock_now(), token) !=
	    STORE_OK) {
		snprintf(err, errlen, "%s", store_errmsg(st));
		return NULL;
	}
	strbuf_init(&b, 0);
	if ((mark = strstr(url, "{token}")) != NULL) {
		strbuf_add(&b, url, (size_t)(mark - url));
		strbuf_adds(&b, token);
		strbuf_adds(&b, mark + strlen("{token}"));
	} else
		strbuf_addf(&b, "%s%ct=%s", url, strchr(url, '?') ? '&' : '?',
		    token);
	return strbuf_detach(&b);
}

/* The List-Unsubscribe headers of a newsletter (RFC 2369, RFC 8058). */
static size_t
sender_list_headers(const char *mailto, const char *url,
    struct mime_header h[2], struct strbuf *value)
{
	strbuf_addf(value, "<%s>", mailto);
	if (url && *url)
		strbuf_addf(value, ", <%s>", url);
	h[0].name = "List-Unsubscribe";
	h[0].value = strbuf_str(value);
	if (url == NULL || *url == '\0')
		return 1;
	h[1].name = "List-Unsubscribe-Post";
	h[1].value = "List-Unsubscribe=One-Click";
	return 2;
}

static int
sender_build(const struct sender_env *env, const struct template *t,
    const struct customer *c, const struct sender_parts *p,
    const char *message_id, int64_t now, struct template_output *o,
    struct sender_message *out, char *err, size_t errlen)
{
	struct mime_header h[2];
	struct strbuf lu;
	struct mime_message m;
	int rc;

	strbuf_init(&lu, 0);
	memset(&m, 0, sizeof(m));
	m.from_name = p->from_name;
	m.from_addr = p->from_addr;
	m.to_name = c->name;
	m.to_addr = out->recipient;
	m.subject = strbuf_str(&o->subject);
	m.date = now;
	m.utc_offset = sender_utc_offset(env->cfg, now);
	m.message_id = message_id;
	if (t->kind == TEMPLATE_NEWSLETTER) {
		m.headers = h;
		m.nheaders = sender_list_headers(p->mailto, p->unsub_url, h,
		    &lu);
	}
	m.text = o->text.buf ? o->text.buf : "";
	m.text_len = o->text.len;
	m.html = o->html.buf;
	m.html_len = o->html.len;
	strbuf_reset(&out->data);
	rc = mime_build(&m, &out->data, err, errlen);
	strbuf_free(&lu);
	return rc;
}

/*
 * What a message needs from the store, gathered apart from rendering so
 * that a pool's thread renders without holding the store lock.
 */
struct sender_draft {
	struct sender_vars	 v;
	struct sender_parts	 p;
	const char		*message_id;
	char			 preview[320];
};

static void
sender_draft_free(struct sender_draft *d)
{
	vars_free(&d->v);
	sender_parts_free(&d->p);
	memset(&d->p, 0, sizeof(d->p));
	d->message_id = NULL;
}

/* The store's part of rendering: addresses, token, variables.  message_id
 * NULL: a preview.  d must be freed whatever the result. */
static int
sender_gather(struct store *st, const struct sender_env *env,
    const struct outbox_row *row, const struct customer *c,
    const char *message_id, int64_t now, struct sender_message *out,
    struct sender_draft *d, char *err, size_t errlen)
{
	free(out->recipient);
	free(out->from_addr);
	out->recipient = out->from_addr = NULL;
	if (c->n_emails == 0) {
		snprintf(err, errlen, "customer %lld has no address",
		    (long long)c->id);
		return -1;
	}
	if (sender_from(env) == NULL || sender_parse_from(sender_from(env),
	    &d->p.from_name, &d->p.from_addr) < 0) {
		snprintf(err, errlen, "no usable From address (from =)");
		return -1;
	}
	d->message_id = message_id;
	if (message_id == NULL) {
		snprintf(d->preview, sizeof(d->preview),
		    "<rapport.preview@%s>", address_domain(d->p.from_addr) ?
		    address_domain(d->p.from_addr) : "localhost");
		d->message_id = d->preview;
	}
	out->recipient = xstrdup(c->emails[0]);
	out->from_addr = xstrdup(d->p.from_addr);
	d->p.mailto = sender_unsubscribe_mailto(env->cfg, d->p.from_addr);
	if (env->cfg->send.unsubscribe_url &&
	    (d->p.unsub_url = sender_unsubscribe_url(st, env->cfg, c,
	    message_id == NULL, err, errlen)) == NULL)
		return -1;
	vars_customer(&d->v, c, row, now, env->cfg);
	vars_sender(&d->v, d->p.from_name, d->p.from_addr);
	vars_ref(st, &d->v, row, c, env->cfg);
	vars_set(&d->v, "unsubscribe.mailto", d->p.mailto);
	vars_set(&d->v, "unsubscribe.url", d->p.unsub_url);
	return 0;
}

/* Template and MIME, from a gathered draft: no store access. */
static int
sender_compose(const struct sender_env *env, const struct template *t,
    const struct customer *c, struct sender_draft *d, int64_t now,
    struct sender_message *out, char *err, size_t errlen)
{
	struct template_output o;
	int rc;

	template_output_init(&o);
	out->tmpl = t;
	template_render(t, vars_lookup, &d->v, &o);
	rc = sender_build(env, t, c, &d->p, d->message_id, now, &o, out, err,
	    errlen);
	template_output_free(&o);
	return rc;
}

/* Renders with the customer and template already at hand. */
static int
sender_render_with(struct store *st, const struct sender_env *env,
    const struct outbox_row *row, const struct customer *c,
    const struct template *t, const char *message_id, int64_t now,
    struct sender_message *out, char *err, size_t errlen)
{
	struct sender_draft d;
	int rc;

	memset(&d, 0, sizeof(d));
	out->tmpl = t;
	rc = sender_gather(st, env, row, c, message_id, now, out, &d, err,
	    errlen);
	if (rc == 0)
		rc = sender_compose(env, t, c, &d, now, out, err, errlen);
	sender_draft_free(&d);
	return rc;
}

int
sender_render(struct store *st, const struct sender_env *env,
    const struct outbox_row *row, const char *lang, const char *message_id,
    int64_t now, struct sender_message *out, char *err, size_t errlen)
{
	const struct template *t;
	struct customer c;
	int rc;

	if (store_customer_get(st, row->customer_id, &c) != STORE_OK) {
		snprintf(err, errlen, "%s", store_errmsg(st));
		return -1;
	}
	t = env->templates ? template_set_get(env->templates, row->template,
	    lang ? lang : c.lang) : NULL;
	if (t == NULL) {
		snprintf(err, errlen, "no template \"%s\"", row->template);
		customer_clear(&c);
		return -1;
	}
	rc = sender_render_with(st, env, row, &c, t, message_id, now, out,
	    err, errlen);
	customer_clear(&c);
	return rc;
}

/* ---- checks at send time ---- */

/* When the fact behind a follow-up happened: replies count from then. */
static int64_t
sender_trigger_time(struct store *st, const struct outbox_row *row)
{
	struct outbox_ref ref;
	int64_t t = row->created_at;

	if (row->ref_kind &&
	    store_outbox_ref_get(st, row->ref_kind, row->ref_id, &ref) ==
	    STORE_OK) {
		if (strcmp(row->ref_kind, "event") == 0)
			t = ref.end_at;
		else if (strcmp(row->ref_kind, "message") == 0)
			t = ref.at + 1;	/* the first message is no reply */
		else
			t = ref.at;
		outbox_ref_clear(&ref);
	}
	return t;
}

const char *
sender_check(struct store *st, const struct sender_env *env,
    const struct outbox_row *row, const struct customer *c,
    const struct template *t, bool *error, char *buf, size_t len)
{
	char *reason = NULL;
	bool replied = false;
	int rc;

	*error = false;
	if (c->do_not_contact)
		return "do-not-contact";
	if (c->n_emails == 0)
		return "no address";
	rc = store_suppression_get(st, c->emails[0], &reason);
	if (rc == STORE_OK) {
		snprintf(buf, len, "suppressed: %s", reason ? reason : "");
		free(reason);
		return buf;
	}
	if (rc != STORE_NOTFOUND) {
		*error = true;
		return "store error";
	}
	if (strcmp(row->kind, "newsletter") == 0 && !c->newsletter)
		return "no newsletter consent";
	/* Unless: replied, and a reply ends the rest of a sequence. */
	if (t && t->kind == TEMPLATE_FOLLOW_UP &&
	    (t->unless_replied || t->step > 1)) {
		if (store_customer_replied_since(st, c->id,
		    sender_trigger_time(st, row), &replied) != STORE_OK) {
			*error = true;
			return "store error";
		}
		if (replied)
			return "replied";
	}
	return NULL;
}

/* ---- sending ---- */

struct sender_pool;

/* One sending thread: its store connection and its SMTP connection. */
struct sender_worker {
	struct connector_ctx	*ctx;
	struct sender_pool	*pool;		/* NULL: the connector's thread */
	struct sender_env	 env;
	struct store		*st;
	int			 fd;		/* stop and wake-ups */
	const char		*account;
	struct smtp_session	*session;
	struct imap_session	*sent;		/* for copies to Sent, or NULL */
	bool			 used;		/* RSET before the next message */
	int			 dry_dir;	/* dry_run's folder, or -1 */
	/* getrandom(2) once per 32 Message-IDs rather than once each. */
	unsigned char		 rnd[256];
	size_t			 rnd_used;
	int			 inbatch;	/* rows in the open transaction */
	/* The row whose 'sent' the open transaction holds, to be
	 * committed with the next claim (sender_sent); 0: none. */
	int64_t			 sent_open;
	bool			 fresh_id;	/* Message-ID made this pass */
	int64_t			 last_used;
	/* Over budget until then: claim nothing, every row would wait. */
	int64_t			 budget_until;
	struct sender_message	 msg;
	struct sender_draft	 draft;	/* gathered, rendered unlocked */
	unsigned		 failures;
	unsigned		 seed;
	pthread_t		 thread;
};

/* The extra threads of an account with connections > 1. */
struct sender_pool {
	atomic_bool		 stop;
	/*
	 * Held for every store access of the pool's threads, which share
	 * the connector's SQLite connection: SQLite lets one writer in at
	 * a time and makes the others sleep and poll (busy timeout), which
	 * cost more than half the throughput with two connections, and a
	 * connection each re-read every page another had changed (22
	 * preads a message with four; bench/send).  Only the SMTP and IMAP
	 * conversations run outside it, and that is where the waiting is.
	 */
	pthread_mutex_t		 store_lock;
	struct sender_worker	*w;
	size_t			 n;
};

static bool
sender_stopping(const struct sender_worker *w)
{
	if (w->pool && atomic_load(&w->pool->stop))
		return true;
	return w->ctx && connector_stopping(w->ctx);
}

static void
sender_store_lock(struct sender_worker *w)
{
	if (w->pool)
		pthread_mutex_lock(&w->pool->store_lock);
}

static void
sender_store_unlock(struct sender_worker *w)
{
	if (w->pool)
		pthread_mutex_unlock(&w->pool->store_lock);
}

static void
sender_close(struct sender_worker *w)
{
	smtp_session_close(w->session);
	w->session = NULL;
	w->used = false;
}

/* A connection ready for the next message, or -1 with the reason. */
static int
sender_connect(struct sender_worker *w, char *err, size_t errlen)
{
	const struct endpoint *ep = &w->env.acct->ep;

	if (w->session && clock_now() - w->last_used > SENDER_IDLE_CHECK &&
	    !smtp_session_alive(w->session))
		sender_close(w);
	if (w->session && w->used && smtp_session_reset(w->session) < 0)
		sender_close(w);
	w->used = false;
	if (w->session)
		return 0;
	w->session = smtp_session_open(ep, NULL, err, errlen);
	if (w->session == NULL)
		return -1;
	log_trace(TRACE_SMTP, "sender account=%s: connected", w->account);
	return 0;
}

/* Once a pass: a folder removed and made again between passes is the
 * one written to. */
static void
sender_dry_dir_close(struct sender_worker *w)
{
	if (w->dry_dir >= 0)
		close(w->dry_dir);
	w->dry_dir = -1;
}

/* All of len to fd; -1 with errno. */
static int
sender_write_all(int fd, const char *p, size_t left)
{
	ssize_t n;

	while (left > 0) {
		if ((n = write(fd, p, left)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	return 0;
}

/*
 * The message in an unnamed file (O_TMPFILE) linked in under its name
 * once complete: one directory entry made, where a temporary name costs
 * three (made, renamed, removed), which was most of the dry run's CPU on
 * ext4 (bench/send).  1: no O_TMPFILE here, or no /proc: use a temporary
 * name instead; 2: the name is already taken (a batch written again
 * after a crash), likewise.
 */
static int
sender_dry_link(struct sender_worker *w, const char *path)
{
	char proc[64];
	int fd, rc;

	if ((fd = openat(w->dry_dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC,
	    0666)) < 0)
		return 1;
	if (sender_write_all(fd, w->msg.data.buf, w->msg.data.len) < 0) {
		rc = errno;
		close(fd);
		errno = rc;
		return -1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, w->dry_dir, path, AT_SYMLINK_FOLLOW) == 0)
		rc = 0;
	else
		rc = errno == EEXIST ? 2 : 1;
	if (close(fd) != 0 && rc == 0)
		rc = -1;
	return rc;
}

/* Names relative to the folder, opened once a pass: no path walk per
 * file (bench/send). */
static int
sender_dry_open(struct sender_worker *w, char *err, size_t errlen)
{
	const char *dir = w->env.cfg->send.dry_run;

	if (w->dry_dir >= 0)
		return 0;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%.200s: %s", dir, strerror(errno));
		return -1;
	}
	if ((w->dry_dir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%.200s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The Message-ID of a message file written earlier (with its angle
 * brackets) into buf: 0, or -1 if there is none to read.  Only the
 * header block is looked at, and only a well-formed id is taken.
 */
static int
sender_dry_old_id(struct sender_worker *w, const char *path, char *buf,
    size_t len)
{
	static const char name[] = "\r\nMessage-ID: <";
	char head[8192], *p, *end, *hdr_end;
	ssize_t n;
	size_t idlen;
	int fd;

	if ((fd = openat(w->dry_dir, path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while ((n = read(fd, head, sizeof(head) - 1)) < 0 && errno == EINTR)
		;
	close(fd);
	if (n <= 0)
		return -1;
	head[n] = '\0';
	if ((hdr_end = strstr(head, "\r\n\r\n")) == NULL ||
	    (p = strstr(head, name)) == NULL || p > hdr_end)
		return -1;
	p += strlen(name) - 1;
	if ((end = strstr(p, "\r\n")) == NULL || end[-1] != '>')
		return -1;
	idlen = (size_t)(end - p);
	if (idlen + 1 > len || idlen < 3 || memchr(p, ' ', idlen) ||
	    memchr(p + 1, '<', idlen - 1) || memchr(p, '>', idlen - 1))
		return -1;
	memcpy(buf, p, idlen);
	buf[idlen] = '\0';
	return 0;
}

/* Writes the message as DIR/ID.eml, atomically.  1: the file was there
 * already (see sender_dry_one); nothing written then. */
static int
sender_dry_run(struct sender_worker *w, const struct outbox_row *row,
    bool replace, char *err, size_t errlen)
{
	const char *dir = w->env.cfg->send.dry_run;
	char tmp[64], path[64];
	int fd, rc;

	if (sender_dry_open(w, err, errlen) < 0)
		return -1;
	snprintf(path, sizeof(path), "%lld.eml", (long long)row->id);
	if (!replace && (rc = sender_dry_link(w, path)) != 1) {
		if (rc < 0)
			snprintf(err, errlen, "%.200s/%s: %s", dir, path,
			    strerror(errno));
		return rc == 2 ? 1 : rc;
	}
	snprintf(tmp, sizeof(tmp), ".%lld.eml.tmp", (long long)row->id);
	/* Plain write(2): stdio would add an fstat per file (bench/send). */
	if ((fd = openat(w->dry_dir, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0666)) < 0) {
		snprintf(err, errlen, "%.200s/%s: %s", dir, tmp,
		    strerror(errno));
		return -1;
	}
	rc = sender_write_all(fd, w->msg.data.buf, w->msg.data.len);
	if (close(fd) != 0)
		rc = -1;
	if (rc == 0 && renameat(w->dry_dir, tmp, w->dry_dir, path) < 0)
		rc = -1;
	if (rc < 0) {
		snprintf(err, errlen, "%.200s/%s: %s", dir, path,
		    strerror(errno));
		unlinkat(w->dry_dir, tmp, 0);
	}
	return rc;
}

/*
 * A row is claimed, checked and given its Message-ID in one transaction,
 * committed before the message leaves (sender_deliver): what a crash
 * finds is a row planned, or sending with the Message-ID it went out
 * with.  A failure (failed, deferred) is a commit of its own.  A row
 * sent is recorded in a transaction left open for the next row's claim,
 * checks and Message-ID, so that one commit ends a message and starts
 * the next (sender_sent): half the commits, 14 WAL writes a message
 * instead of 22 (bench/send).  A crash resends only what was in flight,
 * with the same Message-ID; the window between the server's 250 and
 * the commit of 'sent' grows by the next row's store work, never by a
 * wait on the network.
 *
 * In dry-run mode nothing leaves the machine: SENDER_DRY_BATCH rows are
 * chosen, checked, written and ended in one transaction, with no
 * 'sending' step between (sender_dry_pass).  A batch undone by a crash
 * is written again to the same files, under the Message-IDs those files
 * carry (sender_dry_one): no file is lost, none is doubled, and a row's
 * Message-ID does not change.  A commit per row cost more than
 * rendering it (bench/send).
 */
#define SENDER_DRY_BATCH	1000

/* Commits the open transaction, if any.  -1 if it could not. */
static int
sender_batch_end(struct sender_worker *w)
{
	if (w->inbatch == 0)
		return 0;
	w->inbatch = 0;
	w->sent_open = 0;
	if (store_commit(w->st) == STORE_OK)
		return 0;
	log_warnx("sender account=%s: %s", w->account, store_errmsg(w->st));
	return -1;
}

/* Logs a store failure; the row's lease runs out and it comes back. */
static int
sender_store_failed(struct sender_worker *w, const struct outbox_row *row)
{
	log_warnx("sender account=%s outbox=%lld: %s", w->account,
	    (long long)row->id, store_errmsg(w->st));
	return -1;
}

/* A 4xx (or a lost connection): later with backoff, or failed at last. */
static int
sender_tempfail(struct sender_worker *w, const struct outbox_row *row,
    int64_t now, const char *text)
{
	int attempts = row->attempts + 1;
	int rc;

	if (attempts >= w->env.cfg->send.retry_max) {
		log_notice("sender account=%s outbox=%lld: failed after %d "
		    "attempts: %s", w->account, (long long)row->id, attempts,
		    text);
		rc = store_outbox_fail(w->st, row->id, text);
	} else {
		log_info("sender account=%s outbox=%lld: deferred (attempt "
		    "%d): %s", w->account, (long long)row->id, attempts, text);
		rc = store_outbox_defer(w->st, row->id,
		    now + sender_retry_delay(attempts), true, text);
	}
	return rc == STORE_OK ? 0 : sender_store_failed(w, row);
}

/* The [imap] account named by sent_imap (config_load checked it). */
static const struct endpoint *
sender_sent_endpoint(const struct sender_worker *w)
{
	const struct config *cfg = w->env.cfg;

	for (size_t i = 0; i < cfg->n_imap; i++)
		if (strcmp(cfg->imap[i].ep.name, w->env.acct->sent_imap) == 0)
			return &cfg->imap[i].ep;
	return NULL;
}

/* One APPEND, on the open connection or a new one.  IMAP_FAIL: closed. */
static enum imap_status
sender_append(struct sender_worker *w, const struct endpoint *ep,
    const char *folder, char *err, size_t errlen)
{
	enum imap_status st;

	if (w->sent == NULL &&
	    (w->sent = imap_session_open(ep, err, errlen)) == NULL)
		return IMAP_FAIL;
	st = imap_session_append(w->sent, folder, w->msg.data.buf,
	    w->msg.data.len);
	if (st != IMAP_OK)
		snprintf(err, errlen, "%s", imap_session_error(w->sent));
	if (st == IMAP_FAIL) {
		imap_session_close(w->sent);
		w->sent = NULL;
	}
	return st;
}

/*
 * A copy of what was sent into the account's Sent folder ([smtp]
 * sent_imap, sent_folder), once the row is recorded as sent: a failure
 * here is logged and never sends the message again.  A connection that
 * broke while idle is reopened once.
 */
static void
sender_file_sent(struct sender_worker *w, const struct outbox_row *row)
{
	const struct smtp_account *acct = w->env.acct;
	const struct endpoint *ep;
	const char *folder;
	char err[512];
	enum imap_status st;

	if (acct == NULL || acct->sent_imap == NULL ||
	    (ep = sender_sent_endpoint(w)) == NULL)
		return;
	folder = acct->sent_folder ? acct->sent_folder : "Sent";
	st = sender_append(w, ep, folder, err, sizeof(err));
	if (st == IMAP_FAIL)
		st = sender_append(w, ep, folder, err, sizeof(err));
	if (st != IMAP_OK)
		log_warnx("sender account=%s outbox=%lld: no copy in %s/%s: %s",
		    w->account, (long long)row->id, acct->sent_imap, folder,
		    err);
}

static int sender_fail(struct sender_worker *, const struct outbox_row *,
    const char *);

/*
 * The row's 'sent', in a transaction left open for the next claim to
 * join (see SENDER_DRY_BATCH); sender_pass commits it when no row
 * follows, the next row goes no further than its checks, or the pass
 * stops.  With a copy to Sent it is committed at once, as before: the
 * copy is made only once the row is recorded as sent, and its APPEND
 * waits on the network, outside the store lock.
 */
static int
sender_sent(struct sender_worker *w, const struct outbox_row *row,
    int64_t now, const char *text)
{
	const struct smtp_account *acct = w->env.acct;
	bool copy = acct != NULL && acct->sent_imap != NULL;

	if (!copy && w->inbatch == 0 && store_begin(w->st) == STORE_OK)
		w->inbatch = 1;
	if (store_outbox_sent(w->st, row->id, now, text) != STORE_OK)
		return sender_store_failed(w, row);
	if (!copy) {
		w->sent_open = w->inbatch > 0 ? row->id : 0;
		return 0;
	}
	sender_store_unlock(w);
	sender_file_sent(w, row);
	sender_store_lock(w);
	return 0;
}

/*
 * With PIPELINING the RSET between messages travels with the next one,
 * so a connection that died while idle shows here, not in
 * sender_connect: as there, a new connection and the message at once,
 * since the server took nothing of it (r->unsent).
 */
static void
sender_smtp_send(struct sender_worker *w, struct smtp_reply *r)
{
	const char *rcpt = w->msg.recipient;
	char err[512];

	smtp_session_send(w->session, w->msg.from_addr, &rcpt, 1,
	    w->msg.data.buf, w->msg.data.len, r);
	if (r->status != SMTP_CONNECTION || !r->unsent)
		return;
	sender_close(w);
	if (sender_connect(w, err, sizeof(err)) < 0) {
		log_warnx("sender account=%s: %s", w->account, err);
		return;
	}
	smtp_reply_clear(r);
	smtp_session_send(w->session, w->msg.from_addr, &rcpt, 1,
	    w->msg.data.buf, w->msg.data.len, r);
}

/*
 * Renders the gathered draft, outside the pool's store lock, and sends
 * it.  0 when the row's fate is recorded; -1 when no connection could
 * be opened (the row is planned again) or the store failed.
 */
static int
sender_deliver(struct sender_worker *w, const struct outbox_row *row,
    const struct customer *c, const struct template *t, int64_t now)
{
	struct smtp_reply r;
	char err[512];
	int rc;

	/* The claim, and the previous row's 'sent' with it (sender_sent). */
	if (sender_batch_end(w) < 0)
		return -1;	/* not claimed after all */
	sender_store_unlock(w);
	/* Rendering is CPU: the pool's other threads use the store meanwhile. */
	if (sender_compose(&w->env, t, c, &w->draft, now, &w->msg, err,
	    sizeof(err)) < 0) {
		sender_store_lock(w);
		return sender_fail(w, row, err);
	}
	if (sender_connect(w, err, sizeof(err)) < 0) {
		log_warnx("sender account=%s: %s", w->account, err);
		sender_store_lock(w);
		if (store_outbox_defer(w->st, row->id, now, false, err) !=
		    STORE_OK)
			sender_store_failed(w, row);
		return -1;
	}
	memset(&r, 0, sizeof(r));
	sender_smtp_send(w, &r);
	w->last_used = clock_now();
	sender_store_lock(w);
	switch (r.status) {
	case SMTP_OK:
		w->used = true;
		log_info("sender account=%s outbox=%lld: sent: %s", w->account,
		    (long long)row->id, r.text);
		rc = sender_sent(w, row, now, r.text);
		break;
	case SMTP_PERMFAIL:
		log_notice("sender account=%s outbox=%lld: failed: %s",
		    w->account, (long long)row->id, r.text);
		rc = store_outbox_fail(w->st, row->id, r.text) == STORE_OK ?
		    0 : sender_store_failed(w, row);
		break;
	case SMTP_CONNECTION:
		sender_close(w);
		/* FALLTHROUGH */
	case SMTP_TEMPFAIL:
	default:
		rc = sender_tempfail(w, row, now, r.text);
		break;
	}
	smtp_reply_clear(&r);
	return rc;
}

static int
sender_skip(struct sender_worker *w, const struct outbox_row *row,
    const char *why)
{
	log_info("sender account=%s outbox=%lld: skipped: %s", w->account,
	    (long long)row->id, why);
	return store_outbox_skip(w->st, row->id, why) == STORE_OK ? 0 :
	    sender_store_failed(w, row);
}

static int
sender_fail(struct sender_worker *w, const struct outbox_row *row,
    const char *why)
{
	log_warnx("sender account=%s outbox=%lld: failed: %s", w->account,
	    (long long)row->id, why);
	return store_outbox_fail(w->st, row->id, why) == STORE_OK ? 0 :
	    sender_store_failed(w, row);
}

static int
sender_defer(struct sender_worker *w, const struct outbox_row *row,
    int64_t until, const char *why)
{
	char at[32];

	clock_format_utc(until, at, sizeof(at));
	log_debug("sender account=%s outbox=%lld: %s, until %s", w->account,
	    (long long)row->id, why, at);
	return store_outbox_defer(w->st, row->id, until, false, why) ==
	    STORE_OK ? 0 : sender_store_failed(w, row);
}

/* When the account may send one more (budget), or now. */
static int
sender_budget(struct sender_worker *w, int64_t self, int64_t now,
    int64_t *when)
{
	const struct send_config *sc = &w->env.cfg->send;
	int64_t *times = NULL;
	size_t n = 0;

	*when = now;
	if (sc->dry_run || (sc->per_minute <= 0 && sc->per_day <= 0))
		return 0;
	if (store_outbox_sent_times(w->st, w->account, now - 86400, now,
	    self, &times, &n) != STORE_OK)
		return -1;
	*when = when_budget(now, times, n, sc->per_minute, sc->per_day);
	free(times);
	return 0;
}

/* "<rapport.ROWID.RANDOM@domain>": unique without coordination. */
static void
sender_message_id(struct sender_worker *w, const struct outbox_row *row,
    const char *from_addr, char *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char rnd[8];
	char hex[17];
	const char *domain = from_addr ? address_domain(from_addr) : NULL;

	if (w->rnd_used + sizeof(rnd) > sizeof(w->rnd)) {
		if (getrandom(w->rnd, sizeof(w->rnd), 0) ==
		    (ssize_t)sizeof(w->rnd))
			w->rnd_used = 0;
	}
	if (w->rnd_used + sizeof(rnd) <= sizeof(w->rnd)) {
		memcpy(rnd, w->rnd + w->rnd_used, sizeof(rnd));
		explicit_bzero(w->rnd + w->rnd_used, sizeof(rnd));
		w->rnd_used += sizeof(rnd);
	} else
		memcpy(rnd, &row->created_at, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++) {
		hex[2 * i] = digits[rnd[i] >> 4];
		hex[2 * i + 1] = digits[rnd[i] & 0xf];
	}
	hex[16] = '\0';
	snprintf(buf, len, "<rapport.%lld.%s@%s>", (long long)row->id, hex,
	    domain && *domain ? domain : "localhost");
}

/* Quiet hours in the recipient's zone, then the budget: -1 store error,
 * 1 deferred, 2 deferred and the account is over budget, 0 may go now. */
static int
sender_timing(struct sender_worker *w, const struct outbox_row *row,
    const struct customer *c, int64_t now)
{
	const struct send_config *sc = &w->env.cfg->send;
	int64_t when;

	if (sc->quiet_start >= 0) {
		when = sender_outside_quiet(now, c->tz, w->env.cfg->timezone,
		    sc->quiet_start, sc->quiet_end);
		if (when > now)
			return sender_defer(w, row, when, "quiet hours") < 0 ?
			    -1 : 1;
	}
	if (sender_budget(w, row->id, now, &when) < 0)
		return sender_store_failed(w, row);
	if (when > now) {
		w->budget_until = when;
		return sender_defer(w, row, when, "over budget") < 0 ? -1 : 2;
	}
	return 0;
}

/* Fixes the row's Message-ID (once) and renders.  -1: failed row. */
static int
sender_prepare(struct sender_worker *w, struct outbox_row *row,
    const struct customer *c, const struct template *t, int64_t now,
    char *err, size_t errlen)
{
	char *from_name = NULL, *from_addr = NULL;
	char mid[320];

	w->fresh_id = row->message_id == NULL;
	if (row->message_id == NULL) {
		if (sender_from(&w->env))
			sender_parse_from(sender_from(&w->env), &from_name,
			    &from_addr);
		sender_message_id(w, row, from_addr, mid, sizeof(mid));
		free(from_name);
		free(from_addr);
		row->message_id = xstrdup(mid);
	}
	/* A dry run records it with the row's end (store_outbox_dry_sent). */
	if (w->env.cfg->send.dry_run == NULL &&
	    store_outbox_set_message_id(w->st, row->id, row->message_id,
	    c->n_emails ? c->emails[0] : NULL) != STORE_OK) {
		snprintf(err, errlen, "%s", store_errmsg(w->st));
		return -2;
	}
	if (w->env.cfg->send.dry_run)
		return sender_render_with(w->st, &w->env, row, c, t,
		    row->message_id, now, &w->msg, err, errlen);
	/* sender_deliver renders it once the store lock is let go. */
	return sender_gather(w->st, &w->env, row, c, row->message_id, now,
	    &w->msg, &w->draft, err, errlen);
}

/*
 * A dry run's file and the row's end.  A file already there was written
 * by a batch a crash undid: its Message-ID is the row's, unless the row
 * had one fixed before.
 */
static int
sender_dry_one(struct sender_worker *w, struct outbox_row *row,
    const struct customer *c, const struct template *t, int64_t now)
{
	char err[512], old[320], path[64];
	int rc;

	rc = sender_dry_run(w, row, false, err, sizeof(err));
	if (rc == 1) {
		snprintf(path, sizeof(path), "%lld.eml", (long long)row->id);
		if (w->fresh_id && sender_dry_old_id(w, path, old,
		    sizeof(old)) == 0 && strcmp(old, row->message_id) != 0) {
			free(row->message_id);
			row->message_id = xstrdup(old);
			if (sender_render_with(w->st, &w->env, row, c, t,
			    row->message_id, now, &w->msg, err,
			    sizeof(err)) < 0)
				return sender_fail(w, row, err);
		}
		rc = sender_dry_run(w, row, true, err, sizeof(err));
	}
	if (rc < 0)
		return sender_fail(w, row, err);
	return store_outbox_dry_sent(w->st, row->id, w->account, now,
	    row->message_id, c->n_emails ? c->emails[0] : NULL) == STORE_OK ?
	    0 : sender_store_failed(w, row);
}

/* Everything for one claimed row.  -1: stop this pass (retry later);
 * 1: stop this pass (over budget). */
static int
sender_one(struct sender_worker *w, struct outbox_row *row)
{
	const struct template *t;
	struct customer c;
	const char *why;
	char buf[512];
	int64_t now = clock_now();
	bool error;
	int rc;

	if ((rc = store_customer_get(w->st, row->customer_id, &c)) != STORE_OK)
		return rc == STORE_NOTFOUND ? sender_skip(w, row,
		    "customer gone") : sender_store_failed(w, row);
	t = w->env.templates ? template_set_get(w->env.templates,
	    row->template, c.lang) : NULL;
	why = sender_check(w->st, &w->env, row, &c, t, &error, buf,
	    sizeof(buf));
	if (error)
		rc = sender_store_failed(w, row);
	else if (why)
		rc = sender_skip(w, row, why);
	else if (t == NULL) {
		snprintf(buf, sizeof(buf), "no template \"%s\"", row->template);
		rc = sender_fail(w, row, buf);
	} else if ((rc = sender_timing(w, row, &c, now)) != 0)
		rc = rc < 0 ? -1 : rc == 2 ? 1 : 0;
	else if ((rc = sender_prepare(w, row, &c, t, now, buf,
	    sizeof(buf))) < 0)
		rc = rc == -2 ? sender_store_failed(w, row) :
		    sender_fail(w, row, buf);
	else if (w->env.cfg->send.dry_run)
		rc = sender_dry_one(w, row, &c, t, now);
	else
		rc = sender_deliver(w, row, &c, t, now);
	sender_draft_free(&w->draft);
	customer_clear(&c);
	return rc;
}

/*
 * One dry-run batch (see SENDER_DRY_BATCH): 1 when there may be more,
 * 0 when nothing more is due, -1 to stop this pass.
 */
static int
sender_dry_batch(struct sender_worker *w, struct outbox_row *rows)
{
	size_t n = 0, i;
	int rc = 0;

	if (store_begin(w->st) != STORE_OK) {
		log_warnx("sender account=%s: %s", w->account,
		    store_errmsg(w->st));
		return -1;
	}
	w->inbatch = 1;
	if (store_outbox_due_batch(w->st, clock_now(), SENDER_DRY_BATCH, rows,
	    &n) != STORE_OK) {
		log_warnx("sender account=%s: %s", w->account,
		    store_errmsg(w->st));
		rc = -1;
	}
	for (i = 0; i < n && rc == 0 && !sender_stopping(w); i++)
		rc = sender_one(w, &rows[i]);
	/* What was done is kept, whatever stopped the batch. */
	if (sender_batch_end(w) < 0)
		rc = -1;
	for (i = 0; i < n; i++)
		outbox_row_clear(&rows[i]);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	return n == SENDER_DRY_BATCH ? 1 : 0;
}

static enum connector_result
sender_dry_pass(struct sender_worker *w)
{
	struct outbox_row *rows;
	int rc;

	/* A bigger cache for this connection (store_outbox.h). */
	if (store_bulk_setup(w->st, STORE_OUTBOX_BULK_CACHE_KIB) != STORE_OK)
		log_warnx("sender account=%s: %s", w->account,
		    store_errmsg(w->st));
	rows = xcalloc(SENDER_DRY_BATCH, sizeof(*rows));

	while ((rc = sender_dry_batch(w, rows)) > 0 && !sender_stopping(w))
		;
	free(rows);
	sender_dry_dir_close(w);
	return rc < 0 ? CONNECTOR_RETRY : CONNECTOR_OK;
}

/* Sends everything due now.  CONNECTOR_RETRY when it had to stop. */
static enum connector_result
sender_pass(struct sender_worker *w)
{
	struct outbox_row row;
	bool locked = false;
	int64_t id;
	int rc;

	/* The user's daily agenda (agenda.h): it keeps its own record.  Its
	 * one message a day goes with the pool's lock held, as it uses the
	 * store between its SMTP steps. */
	sender_store_lock(w);
	agenda_tick(w->st, w->env.cfg, w->env.acct, w->env.templates,
	    clock_now());
	sender_store_unlock(w);
	/* With a pool, each thread claims its rows one by one. */
	if (w->env.cfg->send.dry_run != NULL && w->pool == NULL)
		return sender_dry_pass(w);
	sender_store_lock(w);
	if (store_bulk_setup(w->st, SENDER_CACHE_KIB) != STORE_OK)
		log_warnx("sender account=%s: %s", w->account,
		    store_errmsg(w->st));
	sender_store_unlock(w);
	while (!sender_stopping(w)) {
		if (clock_now() < w->budget_until)
			break;
		if (!locked)
			sender_store_lock(w);
		locked = true;
		if (w->inbatch == 0) {
			if (store_begin(w->st) != STORE_OK) {
				log_warnx("sender account=%s: %s", w->account,
				    store_errmsg(w->st));
				sender_store_unlock(w);
				return CONNECTOR_RETRY;
			}
			w->inbatch = 1;
		}
		rc = store_outbox_claim(w->st, w->account, clock_now(),
		    SENDER_LEASE, &row);
		if (rc == STORE_NOTFOUND) {
			rc = sender_batch_end(w);
			sender_store_unlock(w);
			sender_dry_dir_close(w);
			return rc < 0 ? CONNECTOR_RETRY : CONNECTOR_OK;
		}
		if (rc != STORE_OK) {
			log_warnx("sender account=%s: %s", w->account,
			    store_errmsg(w->st));
			sender_batch_end(w);
			sender_store_unlock(w);
			return CONNECTOR_RETRY;
		}
		id = row.id;
		rc = sender_one(w, &row);
		outbox_row_clear(&row);
		/*
		 * A row sent waits for the next claim's commit; the pool's
		 * other threads must not find its transaction open, so the
		 * lock is kept until then.
		 */
		if (rc == 0 && w->sent_open == id)
			continue;
		if (sender_batch_end(w) < 0)
			rc = -1;
		sender_store_unlock(w);
		locked = false;
		if (rc < 0)
			return CONNECTOR_RETRY;
		if (rc > 0)
			break;
	}
	if (!locked)
		sender_store_lock(w);
	rc = sender_batch_end(w);
	sender_store_unlock(w);
	sender_dry_dir_close(w);
	return rc < 0 ? CONNECTOR_RETRY : CONNECTOR_OK;
}

static void
sender_worker_init(struct sender_worker *w, struct connector_ctx *ctx,
    const struct template_set *templates)
{
	memset(w, 0, sizeof(*w));
	w->ctx = ctx;
	w->env.cfg = ctx->cfg;
	w->env.acct = (const struct smtp_account *)ctx->ep;
	w->env.templates = templates;
	w->account = ctx->ep && ctx->ep->name ? ctx->ep->name : "default";
	w->fd = -1;
	w->dry_dir = -1;
	w->rnd_used = sizeof(w->rnd);
	w->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)w;
	sender_message_init(&w->msg);
}

static void
sender_worker_fini(struct sender_worker *w)
{
	sender_close(w);
	imap_session_close(w->sent);
	w->sent = NULL;
	sender_message_free(&w->msg);
	sender_draft_free(&w->draft);
	sender_dry_dir_close(w);
}

/* Waits up to ms for a wake-up or a stop; true when stopping. */
static bool
sender_wait(struct sender_worker *w, int ms)
{
	struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
	uint64_t n;

	if (w->pool == NULL)
		return connector_wait(w->ctx, -1, 0, ms) ==
		    CONNECTOR_WAIT_ERROR || sender_stopping(w);
	if (sender_stopping(w))
		return true;
	while (poll(&pfd, 1, ms) < 0 && errno == EINTR)
		;
	if (pfd.revents & POLLIN)
		while (read(w->fd, &n, sizeof(n)) < 0 && errno == EINTR)
			;
	return sender_stopping(w);
}

/* How long to idle: until the next row is due, at most a minute. */
static int
sender_idle_ms(struct sender_worker *w)
{
	int64_t next, now = clock_now();
	int rc;

	sender_store_lock(w);
	rc = store_outbox_next_due(w->st, &next);
	sender_store_unlock(w);
	if (rc != STORE_OK)
		return SENDER_IDLE_MAX_MS;
	if (next < w->budget_until)
		next = w->budget_until;
	if (next <= now)
		return 1000;	/* leased by another thread, or just deferred */
	if (next - now >= SENDER_IDLE_MAX_MS / 1000)
		return SENDER_IDLE_MAX_MS;
	return (int)(next - now) * 1000;
}

/* A sending thread's life: passes, idling between them. */
static void
sender_loop(struct sender_worker *w)
{
	unsigned ms;

	while (!sender_stopping(w)) {
		if (sender_pass(w) == CONNECTOR_RETRY) {
			sender_close(w);
			ms = connector_backoff_ms(++w->failures,
			    (unsigned)rand_r(&w->seed));
			log_notice("sender account=%s: retrying in %u.%03u s",
			    w->account, ms / 1000, ms % 1000);
			if (sender_wait(w, (int)ms))
				break;
			continue;
		}
		w->failures = 0;
		if (w->pool == NULL)
			connector_healthy(w->ctx);
		if (sender_wait(w, sender_idle_ms(w)))
			break;
	}
}

static void *
sender_thread(void *arg)
{
	struct sender_worker *w = arg;

	sender_loop(w);
	sender_worker_fini(w);
	return NULL;
}

static void
sender_signal(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Starts the pool's threads; returns how many started. */
static size_t
sender_pool_start(struct sender_pool *pool, struct connector_ctx *ctx,
    const struct template_set *templates, size_t n)
{
	size_t started = 0;

	atomic_init(&pool->stop, false);
	pthread_mutex_init(&pool->store_lock, NULL);
	pool->w = xcalloc(n, sizeof(*pool->w));
	for (size_t i = 0; i < n; i++) {
		struct sender_worker *w = &pool->w[started];

		sender_worker_init(w, ctx, templates);
		w->pool = pool;
		w->st = ctx->store;
		w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->fd < 0 || pthread_create(&w->thread, NULL,
		    sender_thread, w) != 0) {
			log_warnx("sender account=%s: cannot start sending "
			    "thread %zu", w->account, i + 1);
			if (w->fd >= 0)
				close(w->fd);
			sender_message_free(&w->msg);
			continue;
		}
		started++;
	}
	pool->n = started;
	return started;
}

static void
sender_pool_stop(struct sender_pool *pool)
{
	atomic_store(&pool->stop, true);
	for (size_t i = 0; i < pool->n; i++)
		sender_signal(pool->w[i].fd);
	for (size_t i = 0; i < pool->n; i++) {
		pthread_join(pool->w[i].thread, NULL);
		close(pool->w[i].fd);
	}
	pthread_mutex_destroy(&pool->store_lock);
	free(pool->w);
}

/*
 * With several connections, this thread only relays stops and wake-ups
 * to the sending threads, so that none of them depends on another
 * finishing its message to hear a stop.
 */
static enum connector_result
sender_run_pool(struct connector_ctx *ctx, const struct template_set *set,
    size_t n)
{
	struct sender_pool pool;
	int r;

	if (sender_pool_start(&pool, ctx, set, n) == 0) {
		pthread_mutex_destroy(&pool.store_lock);
		free(pool.w);
		return CONNECTOR_RETRY;
	}
	while (!connector_stopping(ctx)) {
		r = connector_wait(ctx, -1, 0, -1);
		if (r == CONNECTOR_WAIT_ERROR)
			break;
		for (size_t i = 0; i < pool.n; i++)
			sender_signal(pool.w[i].fd);
	}
	sender_pool_stop(&pool);
	return connector_stopping(ctx) ? CONNECTOR_OK : CONNECTOR_RETRY;
}

/* ---- taking over after a crash ---- */

/*
 * "DATABASE.send-ACCOUNT.lock": held (flock) by whichever process sends
 * for the account.  Whoever gets it knows that no sender of the account
 * is alive elsewhere, so its rows still 'sending' were left by a crash.
 */
static char *
sender_lock_path(const struct config *cfg, const char *account)
{
	struct strbuf b;

	strbuf_init(&b, 0);
	strbuf_addf(&b, "%s.send-", cfg->database);
	/* An account name is the user's; keep it one harmless path word. */
	for (const char *p = account; *p; p++)
		strbuf_addc(&b, isalnum((unsigned char)*p) || *p == '-' ?
		    *p : '_');
	strbuf_adds(&b, ".lock");
	return strbuf_detach(&b);
}

/* The lock's fd, or -1 when another process holds it (or no file). */
static int
sender_lock(const struct config *cfg, const char *account)
{
	char *path = sender_lock_path(cfg, account);
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		log_warn("sender account=%s: %s", account, path);
	else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			log_warn("sender account=%s: %s", account, path);
		else
			log_info("sender account=%s: another process sends "
			    "for this account", account);
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

struct sender_orphans {
	const char	*account;
	int64_t		*ids;
	size_t		 n, cap;
};

static int
sender_orphan_collect(void *ctx, const struct outbox_row *r)
{
	struct sender_orphans *o = ctx;

	if (r->account == NULL || strcmp(r->account, o->account) != 0)
		return 0;
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 16;
		o->ids = xreallocarray(o->ids, o->cap, sizeof(*o->ids));
	}
	o->ids[o->n++] = r->id;
	return 0;
}

/*
 * With the account's lock held: the rows its dead predecessor was
 * sending go back to planned, due now, without waiting for their lease.
 * Their Message-ID stays, so a message the server had already taken
 * arrives again under the same id.
 */
static void
sender_take_over(struct store *st, const char *account)
{
	struct sender_orphans o = { .account = account };
	int64_t now = clock_now();

	if (store_outbox_foreach(st, "sending", 0, sender_orphan_collect,
	    &o) != STORE_OK) {
		log_warnx("sender account=%s: %s", account, store_errmsg(st));
		free(o.ids);
		return;
	}
	for (size_t i = 0; i < o.n; i++) {
		if (store_outbox_defer(st, o.ids[i], now, false,
		    "interrupted while sending") != STORE_OK)
			log_warnx("sender account=%s outbox=%lld: %s", account,
			    (long long)o.ids[i], store_errmsg(st));
		else
			log_notice("sender account=%s outbox=%lld: resumed "
			    "after an interrupted send", account,
			    (long long)o.ids[i]);
	}
	free(o.ids);
}

/* Takes the account's lock and, when it is ours, takes over. */
static int
sender_begin(struct connector_ctx *ctx)
{
	const char *account = ctx->ep && ctx->ep->name ? ctx->ep->name :
	    "default";
	int fd = sender_lock(ctx->cfg, account);

	if (fd >= 0)
		sender_take_over(ctx->store, account);
	return fd;
}

static void
sender_end(int lock_fd)
{
	if (lock_fd >= 0)
		close(lock_fd);
}

static void
sender_template_error(void *arg, const char *msg)
{
	log_warnx("sender: %s", msg);
}

/* The templates, loaded once per start: a reload restarts the sender. */
static int
sender_templates(const struct config *cfg, struct template_set **set)
{
	*set = NULL;
	if (cfg->templates == NULL)
		return 0;
	if (template_set_load(cfg->templates, set, sender_template_error,
	    NULL) < 0) {
		log_warnx("sender: %s: cannot read the templates",
		    cfg->templates);
		return -1;
	}
	return 0;
}

static enum connector_result
sender_run(struct connector_ctx *ctx)
{
	const struct smtp_account *acct = (const struct smtp_account *)ctx->ep;
	struct template_set *set;
	struct sender_worker w;
	enum connector_result r = CONNECTOR_OK;
	int lock_fd;

	if (sender_templates(ctx->cfg, &set) < 0)
		return CONNECTOR_FATAL;
	lock_fd = sender_begin(ctx);
	if (acct->connections > 1)
		r = sender_run_pool(ctx, set, (size_t)acct->connections);
	else {
		sender_worker_init(&w, ctx, set);
		w.st = ctx->store;
		w.fd = ctx->fd;
		sender_loop(&w);
		sender_worker_fini(&w);
	}
	sender_end(lock_fd);
	template_set_free(set);
	return r;
}

static enum connector_result
sender_once(struct connector_ctx *ctx)
{
	struct template_set *set;
	struct sender_worker w;
	enum connector_result r;
	int lock_fd;

	if (sender_templates(ctx->cfg, &set) < 0)
		return CONNECTOR_FATAL;
	lock_fd = sender_begin(ctx);
	sender_worker_init(&w, ctx, set);
	w.st = ctx->store;
	r = sender_pass(&w);
	sender_worker_fini(&w);
	sender_end(lock_fd);
	template_set_free(set);
	return r;
}

const struct connector_ops sender_ops = {
	.name = "sender",
	.kind = "smtp",
	.run = sender_run,
	.once = sender_once,
};
