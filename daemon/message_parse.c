/*
 * Header and first-text parsing for ingested mail (see message.h).
 *
 * We split and unfold the header ourselves (bounded, NUL-safe, first
 * occurrence of a field wins) and hand each value we need to libetpan's
 * field parsers: mailimf_address_list_parse for addresses (groups are
 * flattened), mailimf_date_time_parse for Date, and
 * mailmime_encoded_phrase_parse for RFC 2047 words, whose charsets go
 * through charset.c's superset mapping.  Message-IDs are read with a
 * small "<...>" scanner: real-world In-Reply-To fields carry comments and
 * phrases that a strict msg-id parser rejects.
 */
#include "message.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <libetpan/libetpan.h>

#include "address.h"
#include "charset.h"
#include "log.h"
#include "strbuf.h"
#include "xmalloc.h"

/* The raw values of the fields we read: the first occurrence of each. */
enum hfield {
	H_FROM, H_TO, H_CC, H_REPLY_TO, H_DATE, H_SUBJECT, H_MESSAGE_ID,
	H_IN_REPLY_TO, H_REFERENCES, H_AUTO_SUBMITTED, H_PRECEDENCE,
	H_LIST_ID, H_CONTENT_TYPE, H_X_AUTOREPLY, H_X_AUTORESPOND,
	H_RETURN_PATH, H_X_FAILED_RECIPIENTS, H_CTE, H_NFIELDS
};

static const char *const hfield_names[H_NFIELDS] = {
	"from", "to", "cc", "reply-to", "date", "subject", "message-id",
	"in-reply-to", "references", "auto-submitted", "precedence",
	"list-id", "content-type", "x-autoreply", "x-autorespond",
	"return-path", "x-failed-recipients", "content-transfer-encoding",
};

struct header {
	char	*v[H_NFIELDS];		/* unfolded values, NUL-free */
	size_t	 len[H_NFIELDS];
};

/* Content-Type, split. */
struct ctype {
	char	*type;			/* "text/plain", lowercase */
	char	*charset;
	char	*boundary;
	char	*report_type;
};

#define BODY_DEPTH_MAX	5
#define BODY_MAX	(256 * 1024)

static void
header_free(struct header *h)
{
	for (int i = 0; i < H_NFIELDS; i++)
		free(h->v[i]);
}

/* A copy of s without NUL bytes (at most cap bytes of input read). */
static char *
strip_nul(const char *s, size_t len, size_t cap, size_t *outlen,
    unsigned *warnings)
{
	char *out;
	size_t o = 0;

	if (len > cap) {
		len = cap;
		*warnings |= MESSAGE_WARN_LONG;
	}
	out = xmalloc(len + 1);
	/* Runs between NULs are copied whole: mail rarely holds any. */
	for (const char *p = s, *end = s + len, *nul; p < end; p = nul + 1) {
		if ((nul = memchr(p, '\0', (size_t)(end - p))) == NULL)
			nul = end;
		else
			*warnings |= MESSAGE_WARN_NUL;
		memcpy(out + o, p, (size_t)(nul - p));
		o += (size_t)(nul - p);
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static enum hfield
hfield_lookup(const char *name, size_t len)
{
	for (int i = 0; i < H_NFIELDS; i++)
		if (strlen(hfield_names[i]) == len &&
		    strncasecmp(hfield_names[i], name, len) == 0)
			return (enum hfield)i;
	return H_NFIELDS;
}

/* The end of the line starting at p (pointing at its '\n' or at end). */
static const char *
line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl : end;
}

/* Appends as much of a value segment as the field's cap allows. */
static void
value_add(struct strbuf *sb, const char *p, size_t n, unsigned *warnings)
{
	if (sb->len + n > sb->limit) {
		n = sb->limit - sb->len;
		*warnings |= MESSAGE_WARN_LONG;
	}
	(void)strbuf_add(sb, p, n);
}

/*
 * Splits a NUL-free header block into h; returns the offset of the body
 * (after the blank line, or len).  Lines without a colon are skipped.
 */
static size_t
header_split(const char *buf, size_t len, struct header *h, unsigned *warnings)
{
	const char *p = buf, *end = buf + len;

	memset(h, 0, sizeof(*h));
	while (p < end) {
		const char *eol = line_end(p, end), *colon;
		const char *vend;
		enum hfield f;
		struct strbuf sb;

		if (eol == p || (eol == p + 1 && *p == '\r'))
			return (size_t)(eol - buf) + (eol < end);
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL || *p == ' ' || *p == '\t') {
			p = eol + (eol < end);
			continue;
		}
		f = hfield_lookup(p, (size_t)(colon - p));
		/* The value runs on through continuation lines. */
		strbuf_init(&sb, MESSAGE_FIELD_MAX);
		vend = eol;
		p = colon + 1;
		for (;;) {
			const char *seg_end = vend;

			if (seg_end > p && seg_end[-1] == '\r')
				seg_end--;
			if (f != H_NFIELDS)
				value_add(&sb, p, (size_t)(seg_end - p),
				    warnings);
			p = vend + (vend < end);
			if (p >= end || (*p != ' ' && *p != '\t'))
				break;
			vend = line_end(p, end);
		}
		if (f != H_NFIELDS && h->v[f] == NULL) {
			h->len[f] = sb.len;
			h->v[f] = strbuf_detach(&sb);
		} else if (f == H_MESSAGE_ID)
			*warnings |= MESSAGE_WARN_DUP_MSGID;
		strbuf_free(&sb);
	}
	return len;
}

/* The value between leading and trailing white space (points into s). */
static const char *
trim(const char *s, size_t *len)
{
	while (*len > 0 && isspace((unsigned char)*s)) {
		s++;
		(*len)--;
	}
	while (*len > 0 && isspace((unsigned char)s[*len - 1]))
		(*len)--;
	return s;
}

/* Control characters become spaces: these values are single lines. */
static void
one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/*
 * RFC 2047 decoding to capped UTF-8.  Raw 8-bit text outside encoded
 * words is read as UTF-8 when valid, else as the declared charset, else
 * windows-1252.
 */
static char *
decode_words(const char *s, size_t len, const char *declared, size_t cap,
    unsigned *warnings)
{
	const char *from = "utf-8";
	char *dec = NULL, *out;
	size_t idx = 0;
	bool cut;

	s = trim(s, &len);
	/* Most values have no encoded word: no need for libetpan. */
	if (memmem(s, len, "=?", 2) == NULL && charset_utf8_valid(s, len)) {
		out = charset_to_utf8(NULL, s, len, cap, &cut);
		goto done;
	}
	if (!charset_utf8_valid(s, len)) {
		from = declared && strcasecmp(declared, "utf-8") != 0 ?
		    declared : "windows-1252";
		*warnings |= MESSAGE_WARN_CHARSET;
	}
	if (mailmime_encoded_phrase_parse(from, s, len, &idx, "utf-8",
	    &dec) == MAILIMF_NO_ERROR && dec != NULL) {
		out = charset_to_utf8(NULL, dec, strlen(dec), cap, &cut);
		free(dec);
	} else
		out = charset_to_utf8(from, s, len, cap, &cut);
done:
	if (cut)
		*warnings |= MESSAGE_WARN_LONG;
	one_line(out);
	return out;
}

/* Lowercase copy of the first token of a value ("auto-replied (x)"). */
static char *
first_token(const char *v, size_t len)
{
	size_t n = 0;
	char *out;

	v = trim(v, &len);
	while (n < len && n < MESSAGE_SHORT_MAX && (unsigned char)v[n] > 0x20 &&
	    v[n] != 0x7f && v[n] != ';' && v[n] != '(')
		n++;
	if (n == 0)
		return NULL;
	out = charset_to_utf8(NULL, v, n, MESSAGE_SHORT_MAX, NULL);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

/* ---- Message-IDs ---- */

/* Calls add() for each <id> in s, in order; returns how many. */
static size_t
msgid_scan(const char *s, size_t len, void (*add)(void *, const char *,
    size_t), void *arg)
{
	const char *p = s, *end = s + len;
	size_t found = 0;

	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p)), *gt;

		if (lt == NULL)
			break;
		gt = memchr(lt + 1, '>', (size_t)(end - lt - 1));
		if (gt == NULL)
			break;
		size_t n = (size_t)(gt - lt - 1);
		const char *id = trim(lt + 1, &n);
		if (n > 0 && n <= MESSAGE_ID_MAX && memchr(id, '<', n) == NULL) {
			add(arg, id, n);
			found++;
		}
		p = gt + 1;
	}
	return found;
}

static char *
msgid_dup(const char *id, size_t n)
{
	char *out = charset_to_utf8(NULL, id, n, MESSAGE_ID_MAX, NULL);

	one_line(out);
	return out;
}

static void
msgid_first(void *arg, const char *id, size_t n)
{
	char **dst = arg;

	if (*dst == NULL)
		*dst = msgid_dup(id, n);
}

static void
msgid_ref(void *arg, const char *id, size_t n)
{
	struct message *m = arg;

	/* Keep the last MESSAGE_REFS_MAX: the nearest ancestors. */
	if (m->nreferences == MESSAGE_REFS_MAX) {
		free(m->references[0]);
		memmove(m->references, m->references + 1,
		    (MESSAGE_REFS_MAX - 1) * sizeof(*m->references));
		m->nreferences--;
		m->warnings |= MESSAGE_WARN_TOO_MANY;
	}
	m->references = xreallocarray(m->references, m->nreferences + 1,
	    sizeof(*m->references));
	m->references[m->nreferences++] = msgid_dup(id, n);
}

static void
parse_message_id(struct message *m, const struct header *h)
{
	const char *v = h->v[H_MESSAGE_ID];
	size_t len = h->len[H_MESSAGE_ID], n = 0;

	if (v == NULL)
		return;
	if (msgid_scan(v, len, msgid_first, &m->message_id) > 0)
		return;
	/* "Message-ID: abc@host" without brackets: take the first word. */
	v = trim(v, &len);
	while (n < len && !isspace((unsigned char)v[n]))
		n++;
	if (n > 0)
		m->message_id = msgid_dup(v, n < MESSAGE_ID_MAX ? n :
		    MESSAGE_ID_MAX);
	m->warnings |= MESSAGE_WARN_BAD_MSGID;
}

/* ---- Date ---- */

static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
date_to_utc(const struct mailimf_date_time *dt, int64_t *out)
{
	int y = dt->dt_year, zone = dt->dt_zone;
	int zh = abs(zone) / 100, zm = abs(zone) % 100;

	if (y >= 0 && y < 50)
		y += 2000;
	else if (y >= 50 && y < 1000)
		y += 1900;
	if (y < 1970 || y > 9999 || dt->dt_month < 1 || dt->dt_month > 12 ||
	    dt->dt_day < 1 || dt->dt_day > 31 || dt->dt_hour < 0 ||
	    dt->dt_hour > 23 || dt->dt_min < 0 || dt->dt_min > 59 ||
	    dt->dt_sec < 0 || dt->dt_sec > 60 || zh > 99 || zm > 59)
		return -1;
	*out = days_from_civil(y, dt->dt_month, dt->dt_day) * 86400 +
	    dt->dt_hour * 3600 + dt->dt_min * 60 + dt->dt_sec -
	    (zone < 0 ? -1 : 1) * (zh * 3600 + zm * 60);
	return 0;
}

static void
parse_date(struct message *m, const struct header *h)
{
	struct mailimf_date_time *dt = NULL;
	size_t idx = 0;

	m->date = 0;
	m->date_fallback = true;
	if (h->v[H_DATE] == NULL ||
	    mailimf_date_time_parse(h->v[H_DATE], h->len[H_DATE], &idx,
	    &dt) != MAILIMF_NO_ERROR) {
		m->warnings |= MESSAGE_WARN_DATE;
		return;
	}
	if (date_to_utc(dt, &m->date) == 0)
		m->date_fallback = false;
	else {
		m->date = 0;
		m->warnings |= MESSAGE_WARN_DATE;
	}
	mailimf_date_time_free(dt);
}

/* ---- Addresses ---- */

static void
addr_add(struct message *m, struct message_addrlist *l, const char *name,
    const char *spec, const char *declared)
{
	char norm[MESSAGE_ADDR_MAX + 1];
	struct message_addr *a;

	if (spec == NULL || address_normalize(spec, false, norm,
	    sizeof(norm)) == -1 || !charset_utf8_valid(norm, strlen(norm))) {
		m->warnings |= MESSAGE_WARN_BAD_ADDRESS;
		return;
	}
	if (l->n == MESSAGE_ADDRS_MAX) {
		m->warnings |= MESSAGE_WARN_TOO_MANY;
		return;
	}
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	a = &l->v[l->n++];
	a->addr = xstrdup(norm);
	a->name = NULL;
	if (name != NULL && *name != '\0') {
		a->name = decode_words(name, strlen(name), declared,
		    MESSAGE_NAME_MAX, &m->warnings);
		if (*a->name == '\0') {
			free(a->name);
			a->name = NULL;
		}
	}
}

static void
addr_add_mailboxes(struct message *m, struct message_addrlist *l,
    clist *mbs, const char *declared)
{
	for (clistiter *it = mbs ? clist_begin(mbs) : NULL; it;
	    it = clist_next(it)) {
		struct mailimf_mailbox *mb = clist_content(it);

		addr_add(m, l, mb->mb_display_name, mb->mb_addr_spec, declared);
	}
}

/* Last resort for a list libetpan rejects: every word holding an '@'. */
static void
addr_scavenge(struct message *m, struct message_addrlist *l, const char *v,
    size_t len)
{
	const char *p = v, *end = v + len;

	while (p < end) {
		const char *s = p;

		while (s < end && strchr(" \t,;:<>\"()", *s))
			s++;
		p = s;
		while (p < end && !strchr(" \t,;:<>\"()", *p))
			p++;
		if (p > s && memchr(s, '@', (size_t)(p - s)) &&
		    (size_t)(p - s) <= MESSAGE_ADDR_MAX) {
			char *w = xstrndup(s, (size_t)(p - s));

			addr_add(m, l, NULL, w, NULL);
			free(w);
		}
	}
}

/* s less leading white space and (comments), which libetpan leaves
 * unread after the last address. */
static const char *
skip_comments(const char *s, size_t *len)
{
	for (;;) {
		int depth = 0;
		size_t i = 0;

		s = trim(s, len);
		if (*len == 0 || *s != '(')
			return s;
		for (; i < *len; i++) {
			if (s[i] == '(')
				depth++;
			else if (s[i] == ')' && --depth == 0)
				break;
		}
		if (i == *len)
			return s;
		s += i + 1;
		*len -= i + 1;
	}
}

/* ---- Addresses: the common shapes without libetpan ---- */

/* Items of an address list read by the simple reader, at most. */
#define SIMPLE_ADDRS_MAX	16

struct simple_addr {
	const char	*name, *spec;	/* spans of the header value */
	size_t		 name_len, spec_len;
	bool		 has_name;
};

/* RFC 5322 atext. */
static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~",
	    c) != NULL);
}

static const char *
skip_wsp(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* dot-atom: atext runs joined by single dots; returns its end or NULL. */
static const char *
simple_dot_atom(const char *p, const char *end)
{
	for (;;) {
		const char *w = p;

		while (p < end && is_atext((unsigned char)*p))
			p++;
		if (p == w)
			return NULL;
		if (p == end || *p != '.')
			return p;
		p++;
	}
}

/* local@domain, both dot-atoms; *p moves past it. */
static bool
simple_spec(const char **p, const char *end, struct simple_addr *a)
{
	const char *s = *p, *q;

	if ((q = simple_dot_atom(s, end)) == NULL || q == end || *q != '@' ||
	    (q = simple_dot_atom(q + 1, end)) == NULL)
		return false;
	a->spec = s;
	a->spec_len = (size_t)(q - s);
	*p = q;
	return true;
}

/* "quoted" with no escape, no 8-bit or control byte, no two spaces in a
 * row (libetpan folds those). */
static bool
simple_quoted(const char **p, const char *end, struct simple_addr *a)
{
	const char *s = *p + 1, *q = s;

	for (; q < end && *q != '"'; q++)
		if (*q == '\\' || (unsigned char)*q < 0x20 ||
		    (unsigned char)*q >= 0x7f || (*q == ' ' && q > s &&
		    q[-1] == ' '))
			return false;
	if (q == end)
		return false;
	a->name = s;
	a->name_len = (size_t)(q - s);
	a->has_name = true;
	*p = q + 1;
	return true;
}

/* Words of atext, one space between each (libetpan would fold more). */
static bool
simple_phrase(const char **p, const char *end, struct simple_addr *a)
{
	const char *s = *p, *q = s;

	for (;;) {
		const char *w = q;

		while (q < end && is_atext((unsigned char)*q))
			q++;
		if (q == w)
			return false;
		if (q + 1 < end && *q == ' ' && is_atext((unsigned char)q[1]))
			q++;
		else
			break;
	}
	a->name = s;
	a->name_len = (size_t)(q - s);
	a->has_name = true;
	*p = q;
	return true;
}

/* One item: addr-spec, <addr-spec>, or a name before <addr-spec>. */
static bool
simple_item(const char **pp, const char *end, struct simple_addr *a)
{
	const char *p = skip_wsp(*pp, end), *save = p;

	memset(a, 0, sizeof(*a));
	if (p < end && *p == '"') {
		if (!simple_quoted(&p, end, a))
			return false;
	} else if (p < end && *p != '<') {
		if (simple_spec(&p, end, a)) {
			const char *next = skip_wsp(p, end);

			if (next == end || *next == ',') {
				*pp = next;
				return true;
			}
		}
		p = save;
		if (!simple_phrase(&p, end, a))
			return false;
	}
	p = skip_wsp(p, end);
	if (p == end || *p != '<')
		return false;
	p++;
	if (!simple_spec(&p, end, a) || p == end || *p != '>')
		return false;
	*pp = skip_wsp(p + 1, end);
	return true;
}

/*
 * The shapes nearly all mail uses ("Name" <a@b>, =?..?= <a@b>, a@b, comma
 * separated), read as libetpan reads them, for a fraction of its cost;
 * false for anything else (groups, comments, escapes, 8-bit or folded
 * white space in a name, a stray comma), which libetpan then reads.
 */
static bool
parse_addresses_simple(struct message *m, struct message_addrlist *l,
    const char *v, size_t len, const char *declared)
{
	struct simple_addr a[SIMPLE_ADDRS_MAX];
	const char *p = v, *end = v + len;
	size_t n = 0;

	while (p < end) {
		if (n == SIMPLE_ADDRS_MAX || !simple_item(&p, end, &a[n]))
			return false;
		n++;
		if (p < end && (*p != ',' || skip_wsp(p + 1, end) == end))
			return false;
		if (p < end)
			p++;
	}
	for (size_t i = 0; i < n; i++) {
		char *name = a[i].has_name ? xstrndup(a[i].name,
		    a[i].name_len) : NULL;
		char *spec = xstrndup(a[i].spec, a[i].spec_len);

		addr_add(m, l, name, spec, declared);
		free(name);
		free(spec);
	}
	return n > 0;
}

static void
parse_addresses(struct message *m, struct message_addrlist *l,
    const struct header *h, enum hfield f, const char *declared)
{
	struct mailimf_address_list *al = NULL;
	const char *v = h->v[f];
	size_t len = h->len[f], idx = 0;

	if (v == NULL)
		return;
	v = trim(v, &len);
	if (len == 0)
		return;
	if (parse_addresses_simple(m, l, v, len, declared))
		return;
	if (mailimf_address_list_parse(v, len, &idx, &al) != MAILIMF_NO_ERROR) {
		/* "undisclosed-recipients:;" alone parses as an empty group
		 * in some versions and as an error in others. */
		if (len < 2 || v[len - 1] != ';' || !memchr(v, ':', len)) {
			m->warnings |= MESSAGE_WARN_BAD_ADDRESS;
			addr_scavenge(m, l, v, len);
		}
		return;
	}
	for (clistiter *it = clist_begin(al->ad_list); it; it = clist_next(it)) {
		struct mailimf_address *a = clist_content(it);

		if (a->ad_type == MAILIMF_ADDRESS_MAILBOX && a->ad_data.ad_mailbox)
			addr_add(m, l, a->ad_data.ad_mailbox->mb_display_name,
			    a->ad_data.ad_mailbox->mb_addr_spec, declared);
		else if (a->ad_type == MAILIMF_ADDRESS_GROUP &&
		    a->ad_data.ad_group && a->ad_data.ad_group->grp_mb_list)
			addr_add_mailboxes(m, l,
			    a->ad_data.ad_group->grp_mb_list->mb_list, declared);
	}
	/* Whatever libetpan stopped before is scavenged, not lost. */
	if (idx < len) {
		size_t rest = len - idx;
		const char *r = skip_comments(v + idx, &rest);

		if (rest > 0 && !(rest == 1 && (*r == ',' || *r == ';'))) {
			m->warnings |= MESSAGE_WARN_BAD_ADDRESS;
			addr_scavenge(m, l, r, rest);
		}
	}
	mailimf_address_list_free(al);
}

/* ---- Content-Type ---- */

static void
ctype_free(struct ctype *ct)
{
	free(ct->type);
	free(ct->charset);
	free(ct->boundary);
	free(ct->report_type);
	memset(ct, 0, sizeof(*ct));
}

static char *
lower_dup(const char *s, size_t n)
{
	char *out = charset_to_utf8(NULL, s, n, MESSAGE_SHORT_MAX, NULL);

	one_line(out);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

/* One "name=value" parameter; returns the position after it. */
static const char *
ctype_param(struct ctype *ct, const char *p, const char *end)
{
	const char *name = p, *val;
	size_t nlen, vlen;
	struct strbuf sb;
	char **dst = NULL;
	bool lower = true;

	while (p < end && *p != '=' && *p != ';')
		p++;
	nlen = (size_t)(p - name);
	name = trim(name, &nlen);
	if (p >= end || *p != '=')
		return p;
	p++;
	while (p < end && isspace((unsigned char)*p))
		p++;
	strbuf_init(&sb, MESSAGE_SHORT_MAX);
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			(void)strbuf_addc(&sb, *p);
		}
		if (p < end)
			p++;
	} else {
		val = p;
		while (p < end && *p != ';' && !isspace((unsigned char)*p))
			p++;
		(void)strbuf_add(&sb, val, (size_t)(p - val));
	}
	if (nlen == 7 && strncasecmp(name, "charset", 7) == 0)
		dst = &ct->charset;
	else if (nlen == 8 && strncasecmp(name, "boundary", 8) == 0) {
		dst = &ct->boundary;
		lower = false;
	} else if (nlen == 11 && strncasecmp(name, "report-type", 11) == 0)
		dst = &ct->report_type;
	vlen = sb.len;
	if (dst && *dst == NULL && vlen > 0)
		*dst = lower ? lower_dup(strbuf_str(&sb), vlen) :
		    xstrndup(strbuf_str(&sb), vlen);
	strbuf_free(&sb);
	return p;
}

static void
ctype_parse(struct ctype *ct, const char *v, size_t len)
{
	const char *p, *end, *t;

	memset(ct, 0, sizeof(*ct));
	if (v != NULL) {
		v = trim(v, &len);
		end = v + len;
		for (p = v; p < end && *p != ';' && !isspace((unsigned char)*p);
		    p++)
			;
		t = memchr(v, '/', (size_t)(p - v));
		if (t && t > v && t + 1 < p)
			ct->type = lower_dup(v, (size_t)(p - v));
		while (p < end) {
			while (p < end && (*p == ';' || isspace((unsigned char)*p)))
				p++;
			p = ctype_param(ct, p, end);
			while (p < end && *p != ';')
				p++;
		}
	}
	if (ct->type == NULL)
		ct->type = xstrdup("text/plain");
}

/* ---- Fallback key ---- */

static void
addrs_join(struct strbuf *sb, const struct message_addrlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		(void)strbuf_adds(sb, l->v[i].addr);
		(void)strbuf_addc(sb, ',');
	}
}

/*
 * SHA-256 of what stays the same when the same message is uploaded again
 * or seen in another folder or after a UIDVALIDITY change: the raw Date,
 * the From and To addresses, the decoded Subject.  Never the UID or the
 * INTERNALDATE, which are the server's and change.
 */
static void
synthetic_id(struct message *m, const struct header *h)
{
	unsigned char digest[32];
	struct strbuf sb;
	size_t dlen = h->len[H_DATE];
	const char *d = h->v[H_DATE] ? trim(h->v[H_DATE], &dlen) : "";
	char *out;

	strbuf_init(&sb, 0);
	(void)strbuf_add(&sb, d, h->v[H_DATE] ? dlen : 0);
	(void)strbuf_addc(&sb, '\n');
	addrs_join(&sb, &m->from);
	(void)strbuf_addc(&sb, '\n');
	(void)strbuf_adds(&sb, m->subject);
	(void)strbuf_addc(&sb, '\n');
	addrs_join(&sb, &m->to);
	gnutls_hash_fast(GNUTLS_DIG_SHA256, strbuf_str(&sb), sb.len, digest);
	strbuf_free(&sb);
	out = xmalloc(7 + 64 + 1);
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", digest[i]);
	m->message_id = out;
	m->msgid_synthetic = true;
}

/* ---- Logging ---- */

static const struct {
	unsigned	 bit;
	const char	*what;
} warning_texts[] = {
	{ MESSAGE_WARN_NUL,		"NUL bytes removed" },
	{ MESSAGE_WARN_LONG,		"over-long value cut" },
	{ MESSAGE_WARN_DATE,		"Date missing or unparseable" },
	{ MESSAGE_WARN_NO_MSGID,	"no Message-ID, fallback key used" },
	{ MESSAGE_WARN_DUP_MSGID,	"several Message-IDs, first kept" },
	{ MESSAGE_WARN_BAD_MSGID,	"Message-ID without <>" },
	{ MESSAGE_WARN_BAD_ADDRESS,	"unparseable address" },
	{ MESSAGE_WARN_CHARSET,		"undeclared 8-bit or bad charset" },
	{ MESSAGE_WARN_TOO_MANY,	"list too long, capped" },
	{ MESSAGE_WARN_MIME,		"broken MIME structure" },
};

static void
log_defects(const struct message *m, unsigned bits, const char *logctx)
{
	struct strbuf sb;

	if (bits == 0)
		return;
	strbuf_init(&sb, 0);
	for (size_t i = 0; i < sizeof(warning_texts) / sizeof(warning_texts[0]);
	    i++)
		if (bits & warning_texts[i].bit)
			(void)strbuf_addf(&sb, "%s%s", sb.len ? ", " : "",
			    warning_texts[i].what);
	log_warnx("%s%smessage-id=%s: %s", logctx ? logctx : "",
	    logctx ? " " : "", m->message_id, strbuf_str(&sb));
	strbuf_free(&sb);
}

/* ---- Entry points ---- */

static void
parse_fields(struct message *m, const struct header *h)
{
	struct ctype ct;
	const char *v;
	size_t len;

	ctype_parse(&ct, h->v[H_CONTENT_TYPE], h->len[H_CONTENT_TYPE]);
	m->content_type = ct.type;
	m->charset = ct.charset;
	m->boundary = ct.boundary;
	m->report_type = ct.report_type;
	if (h->v[H_CTE])
		m->transfer_encoding = first_token(h->v[H_CTE], h->len[H_CTE]);

	parse_message_id(m, h);
	if (h->v[H_IN_REPLY_TO])
		msgid_scan(h->v[H_IN_REPLY_TO], h->len[H_IN_REPLY_TO],
		    msgid_first, &m->in_reply_to);
	if (h->v[H_REFERENCES])
		msgid_scan(h->v[H_REFERENCES], h->len[H_REFERENCES], msgid_ref,
		    m);
	parse_date(m, h);
	m->subject = h->v[H_SUBJECT] ? decode_words(h->v[H_SUBJECT],
	    h->len[H_SUBJECT], m->charset, MESSAGE_SUBJECT_MAX, &m->warnings) :
	    xstrdup("");
	parse_addresses(m, &m->from, h, H_FROM, m->charset);
	parse_addresses(m, &m->to, h, H_TO, m->charset);
	parse_addresses(m, &m->cc, h, H_CC, m->charset);
	parse_addresses(m, &m->reply_to, h, H_REPLY_TO, m->charset);
	parse_addresses(m, &m->failed_recipients, h, H_X_FAILED_RECIPIENTS,
	    NULL);

	if (h->v[H_AUTO_SUBMITTED])
		m->auto_submitted = first_token(h->v[H_AUTO_SUBMITTED],
		    h->len[H_AUTO_SUBMITTED]);
	if (h->v[H_PRECEDENCE])
		m->precedence = first_token(h->v[H_PRECEDENCE],
		    h->len[H_PRECEDENCE]);
	if ((v = h->v[H_LIST_ID]) != NULL) {
		msgid_scan(v, h->len[H_LIST_ID], msgid_first, &m->list_id);
		if (m->list_id == NULL)
			m->list_id = first_token(v, h->len[H_LIST_ID]);
		else
			for (char *p = m->list_id; *p; p++)
				*p = (char)tolower((unsigned char)*p);
	}
	for (int f = H_X_AUTOREPLY; f <= H_X_AUTORESPOND; f++) {
		char *t;

		if (h->v[f] == NULL)
			continue;
		t = first_token(h->v[f], h->len[f]);
		if (t == NULL || (strcmp(t, "no") != 0 &&
		    strcmp(t, "false") != 0 && strcmp(t, "0") != 0))
			m->x_autoreply = true;
		free(t);
	}
	if ((v = h->v[H_RETURN_PATH]) != NULL) {
		len = h->len[H_RETURN_PATH];
		v = trim(v, &len);
		m->null_return_path = len >= 2 && v[0] == '<' &&
		    v[len - 1] == '>' && strspn(v + 1, " \t") >= len - 2;
	}
}

void
message_parse(struct message *m, const char *hdr, size_t len,
    const char *logctx)
{
	struct header h;
	char *buf;
	size_t blen;

	charset_init();
	memset(m, 0, sizeof(*m));
	buf = strip_nul(hdr, len, MESSAGE_HEADER_MAX, &blen, &m->warnings);
	(void)header_split(buf, blen, &h, &m->warnings);
	free(buf);
	parse_fields(m, &h);
	if (m->message_id == NULL || *m->message_id == '\0') {
		free(m->message_id);
		m->message_id = NULL;
		synthetic_id(m, &h);
		m->warnings |= MESSAGE_WARN_NO_MSGID;
		m->warnings &= ~MESSAGE_WARN_BAD_MSGID;
	}
	header_free(&h);
	log_defects(m, m->warnings, logctx);
}

/* ---- Body: the first text, and a DSN's delivery-status ---- */

#define BODY_PARTS_MAX	64

struct body_walk {
	struct message	*m;
	char		*html;		/* first text/html, tags removed */
	int		 parts;
};

static char *
part_decode(const char *cte, const char *p, size_t len, size_t *outlen)
{
	int enc = MAILMIME_MECHANISM_8BIT;
	char *res = NULL, *out;
	size_t idx = 0, rlen = 0;

	if (cte && strcasecmp(cte, "base64") == 0)
		enc = MAILMIME_MECHANISM_BASE64;
	else if (cte && strcasecmp(cte, "quoted-printable") == 0)
		enc = MAILMIME_MECHANISM_QUOTED_PRINTABLE;
	if (enc == MAILMIME_MECHANISM_8BIT || mailmime_part_parse(p, len,
	    &idx, enc, &res, &rlen) != MAILIMF_NO_ERROR || res == NULL) {
		out = xmalloc(len + 1);
		memcpy(out, p, len);
		*outlen = len;
	} else {
		out = xmalloc(rlen + 1);
		memcpy(out, res, rlen);
		*outlen = rlen;
		mailmime_decoded_part_free(res);
	}
	out[*outlen] = '\0';
	return out;
}

/* Whether any of the eight bytes in w is a control byte (< 0x20) or DEL:
 * the bytes text_tidy() may change. */
static bool
tidy_word_special(uint64_t w)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const uint64_t highs = UINT64_C(0x8080808080808080);
	uint64_t del = w ^ (ones * 0x7f);

	return (((w - ones * 0x20) & ~w) | ((del - ones) & ~del)) & highs;
}

/* CRLF to LF, other control characters (but tab) to spaces. */
static void
text_tidy(char *s)
{
	char *o = s, *p = s, *end = s + strlen(s);

	while (p < end) {
		unsigned char c;

		/* Nearly every byte stays: eight at a time while they do. */
		while (end - p >= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			if (tidy_word_special(w))
				break;
			if (o != p)
				memmove(o, p, 8);
			o += 8;
			p += 8;
		}
		if (p == end)
			break;
		c = (unsigned char)*p++;
		if (c >= 0x20 && c != 0x7f)
			*o++ = (char)c;
		else if (c == '\r' && *p == '\n')
			continue;
		else if (c == '\n' || c == '\t')
			*o++ = (char)c;
		else
			*o++ = ' ';
	}
	*o = '\0';
}

static const struct {
	const char	*ent;
	char		 c;
} html_entities[] = {
	{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
	{ "&quot;", '"' }, { "&nbsp;", ' ' }, { "&#39;", '\'' },
};

/* Tags out, a few entities in: enough to read a first line. */
static void
html_strip(char *s)
{
	char *o = s, *p = s;

	while (*p) {
		if (*p == '<') {
			bool block = strncasecmp(p, "<br", 3) == 0 ||
			    strncasecmp(p, "<p", 2) == 0 ||
			    strncasecmp(p, "<div", 4) == 0;
			const char *close = NULL;

			if (strncasecmp(p, "<style", 6) == 0)
				close = strcasestr(p, "</style");
			else if (strncasecmp(p, "<head", 5) == 0)
				close = strcasestr(p, "</head");
			if (close)
				p = (char *)close;
			p = strchr(p, '>');
			if (p == NULL)
				break;
			p++;
			if (block)
				*o++ = '\n';
			continue;
		}
		if (*p == '&') {
			size_t i, n = sizeof(html_entities) /
			    sizeof(html_entities[0]);

			for (i = 0; i < n; i++)
				if (strncasecmp(p, html_entities[i].ent,
				    strlen(html_entities[i].ent)) == 0)
					break;
			if (i < n) {
				*o++ = html_entities[i].c;
				p += strlen(html_entities[i].ent);
				continue;
			}
		}
		*o++ = *p++;
	}
	*o = '\0';
}

static void body_part(struct body_walk *, const struct ctype *, const char *,
    const char *, size_t, int);

/*
 * Charsets (as charset_canonical() names them) that glibc's iconv always
 * has and that have no shift states: the decoding of a prefix is a prefix
 * of the decoding, but for the last character.
 */
static bool
excerpt_prefix_stable(const char *charset)
{
	static const char *const names[] = { "GB18030", "CP949", "BIG5-HKSCS",
	    "CP932", "WINDOWS-1252", "WINDOWS-1251", "WINDOWS-1250",
	    "ISO-8859-2", "ISO-8859-5", "ISO-8859-7", "ISO-8859-9",
	    "ISO-8859-15", "KOI8-R", "KOI8-U", "EUC-JP", "BIG5" };
	const char *c = charset_canonical(charset);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(c, names[i]) == 0)
			return true;
	return false;
}

/*
 * len less an incomplete last UTF-8 character: a first text is fetched up
 * to a byte count, which cuts a multibyte character two times in three,
 * and one cut character made charset_to_utf8() read the whole text as
 * windows-1252.
 */
static size_t
utf8_uncut(const char *s, size_t len)
{
	size_t i = len, cont = 0, need;
	unsigned char c;

	while (cont < 3 && i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80) {
		i--;
		cont++;
	}
	if (i == 0)
		return len;
	c = (unsigned char)s[i - 1];
	need = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 && c <= 0xef ? 2 :
	    c >= 0xc2 && c <= 0xdf ? 1 : 0;
	return need > cont ? i - 1 : len;
}

static bool
excerpt_is_utf8(const char *charset)
{
	return charset == NULL ||
	    strcasecmp(charset_canonical(charset), "UTF-8") == 0;
}

/* Input read past the excerpt's cap before a conversion is tried on a
 * prefix alone. */
#define EXCERPT_SLACK	256

/*
 * charset_to_utf8(charset, s, len, MESSAGE_EXCERPT_MAX) for less work:
 * converting a whole 8 KiB fetch to keep its first 4 KiB was a fifth of
 * an initial sync.  Valid UTF-8 (the common case) is copied; text in a
 * prefix-stable charset is converted from a prefix when that yields more
 * than the cap (the U+FFFD of a cut character lies beyond it).  Invalid
 * "UTF-8" is read as windows-1252, as charset_to_utf8() decides on the
 * whole input -- but a character cut at the end of the fetch no longer
 * makes valid UTF-8 invalid (utf8_uncut()).
 */
static char *
excerpt_to_utf8(const char *charset, const char *s, size_t len)
{
	const size_t cap = MESSAGE_EXCERPT_MAX;
	char *text;

	if (excerpt_is_utf8(charset)) {
		size_t whole = utf8_uncut(s, len);

		if (!charset_utf8_valid(s, whole))
			charset = "WINDOWS-1252";
		else if (memchr(s, '\0', whole) == NULL)
			return xstrndup(s, charset_utf8_prefix(s, whole, cap));
		else
			return charset_to_utf8(charset, s, whole, cap, NULL);
	}
	if (len > cap + EXCERPT_SLACK && excerpt_prefix_stable(charset)) {
		size_t n;

		text = charset_to_utf8(charset, s, cap + EXCERPT_SLACK,
		    SIZE_MAX, NULL);
		if ((n = strlen(text)) > cap + 8) {
			text[charset_utf8_prefix(text, n, cap)] = '\0';
			return text;
		}
		free(text);
	}
	return charset_to_utf8(charset, s, len, cap, NULL);
}

static void
body_leaf_text(struct body_walk *w, const struct ctype *ct, const char *cte,
    const char *p, size_t len)
{
	bool html = strcmp(ct->type, "text/html") == 0;
	char *raw, *text;
	size_t rlen;

	if (strcmp(ct->type, "text/plain") != 0 && !html)
		return;
	if (w->m->excerpt != NULL || (html && w->html != NULL))
		return;
	raw = part_decode(cte, p, len, &rlen);
	/* Markup takes room: read more of an HTML part before cutting. */
	if (html && excerpt_is_utf8(ct->charset) &&
	    charset_utf8_valid(raw, utf8_uncut(raw, rlen)))
		rlen = utf8_uncut(raw, rlen);
	text = html ? charset_to_utf8(ct->charset, raw, rlen,
	    MESSAGE_EXCERPT_MAX * 8, NULL) : excerpt_to_utf8(ct->charset, raw,
	    rlen);
	free(raw);
	if (html)
		html_strip(text);
	text_tidy(text);
	text[charset_utf8_prefix(text, strlen(text), MESSAGE_EXCERPT_MAX)] =
	    '\0';
	if (html)
		w->html = text;
	else
		w->m->excerpt = text;
}

static void
body_leaf(struct body_walk *w, const struct ctype *ct, const char *cte,
    const char *p, size_t len)
{
	char *raw;
	size_t rlen;

	if (strcmp(ct->type, "message/delivery-status") == 0 ||
	    strcmp(ct->type, "message/global-delivery-status") == 0) {
		if (w->m->delivery_status != NULL)
			return;
		raw = part_decode(cte, p, len, &rlen);
		w->m->delivery_status = charset_to_utf8(NULL, raw, rlen,
		    MESSAGE_DSN_MAX, NULL);
		text_tidy(w->m->delivery_status);
		free(raw);
	} else
		body_leaf_text(w, ct, cte, p, len);
}

/* The part between p and end, less the CRLF before the next delimiter. */
static void
body_subpart(struct body_walk *w, const char *p, const char *end, int depth)
{
	struct header ph;
	struct ctype ct;
	size_t off;
	unsigned ignored = 0;

	if (end > p && end[-1] == '\n')
		end--;
	if (end > p && end[-1] == '\r')
		end--;
	off = header_split(p, (size_t)(end - p), &ph, &ignored);
	ctype_parse(&ct, ph.v[H_CONTENT_TYPE], ph.len[H_CONTENT_TYPE]);
	body_part(w, &ct, ph.v[H_CTE] ? first_token(ph.v[H_CTE],
	    ph.len[H_CTE]) : NULL, p + off, (size_t)(end - p) - off, depth + 1);
	ctype_free(&ct);
	header_free(&ph);
}

/* "--boundary" or "--boundary--", then only white space (RFC 2046). */
static bool
is_delimiter(const char *line, const char *end, const char *delim,
    size_t dlen, bool *closing)
{
	const char *p = line + dlen;

	if ((size_t)(end - line) < dlen || memcmp(line, delim, dlen) != 0)
		return false;
	*closing = end - p >= 2 && p[0] == '-' && p[1] == '-';
	if (*closing)
		p += 2;
	for (; p < end; p++)
		if (!isspace((unsigned char)*p))
			return false;
	return true;
}

/* Walks the parts between delimiters; false if there was none. */
static bool
multipart_walk(struct body_walk *w, const char *delim, const char *p,
    size_t len, int depth)
{
	const char *end = p + len, *part = NULL, *line = p;
	size_t dlen = strlen(delim);
	bool seen = false, closing = false;

	while (line < end && !closing) {
		const char *eol = line_end(line, end);

		if (is_delimiter(line, eol, delim, dlen, &closing)) {
			if (part)
				body_subpart(w, part, line, depth);
			seen = true;
			part = eol + (eol < end);
		}
		line = eol + (eol < end);
	}
	/* A part cut by the fetch or never closed is read as far as it goes. */
	if (part && !closing && part < end)
		body_subpart(w, part, end, depth);
	return seen;
}

/* The delimiter a broken message really uses: its first "--token" line. */
static char *
guess_delimiter(const char *p, size_t len)
{
	const char *end = p + len;

	for (const char *line = p; line < end; ) {
		const char *eol = line_end(line, end), *e = eol;

		while (e > line && isspace((unsigned char)e[-1]))
			e--;
		if (e - line > 4 && e - line <= 74 && line[0] == '-' &&
		    line[1] == '-' && memchr(line, ' ', (size_t)(e - line)) == NULL) {
			if (e[-1] == '-' && e[-2] == '-' && e - line > 6)
				e -= 2;
			return xstrndup(line, (size_t)(e - line));
		}
		line = eol + (eol < end);
	}
	return NULL;
}

static void
body_multipart(struct body_walk *w, const struct ctype *ct, const char *p,
    size_t len, int depth)
{
	char *delim = NULL;
	bool seen = false;

	if (ct->boundary != NULL && *ct->boundary != '\0') {
		xasprintf(&delim, "--%s", ct->boundary);
		seen = multipart_walk(w, delim, p, len, depth);
		free(delim);
	}
	if (seen)
		return;
	/* Missing or wrong boundary parameter: try the one in use. */
	w->m->warnings |= MESSAGE_WARN_MIME;
	if ((delim = guess_delimiter(p, len)) != NULL) {
		(void)multipart_walk(w, delim, p, len, depth);
		free(delim);
	}
}

static void
body_part(struct body_walk *w, const struct ctype *ct, const char *cte,
    const char *p, size_t len, int depth)
{
	char *owned_cte = (char *)cte;

	if (++w->parts > BODY_PARTS_MAX || depth > BODY_DEPTH_MAX) {
		w->m->warnings |= MESSAGE_WARN_MIME;
		goto out;
	}
	if (strncmp(ct->type, "multipart/", 10) == 0)
		body_multipart(w, ct, p, len, depth);
	else
		body_leaf(w, ct, cte, p, len);
out:
	if (depth > 0)
		free(owned_cte);
}

void
message_parse_body(struct message *m, const char *body, size_t len,
    const char *logctx)
{
	struct body_walk w = { .m = m };
	struct ctype ct = { 0 };
	unsigned before = m->warnings;
	size_t blen;
	char *buf;

	charset_init();
	free(m->excerpt);
	free(m->delivery_status);
	m->excerpt = m->delivery_status = NULL;
	buf = strip_nul(body, len, BODY_MAX, &blen, &m->warnings);
	ct.type = m->content_type ? m->content_type : "text/plain";
	ct.charset = m->charset;
	ct.boundary = m->boundary;
	body_part(&w, &ct, m->transfer_encoding, buf, blen, 0);
	/* No text/plain anywhere (or no usable boundary): fall back on the
	 * HTML text, then on the raw body read as plain text. */
	if (m->excerpt == NULL && w.html != NULL) {
		m->excerpt = w.html;
		w.html = NULL;
	}
	if (m->excerpt == NULL && (m->warnings & MESSAGE_WARN_MIME)) {
		struct ctype plain = { .type = "text/plain",
		    .charset = m->charset };

		w.parts = 0;
		body_leaf_text(&w, &plain, m->transfer_encoding, buf, blen);
	}
	free(w.html);
	free(buf);
	/* The header's defects were logged already. */
	log_defects(m, m->warnings & ~before, logctx);
}

void
message_set_date_fallback(struct message *m, int64_t internaldate)
{
	if (m->date_fallback)
		m->date = internaldate;
}

static void
addrlist_free(struct message_addrlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].addr);
	}
	free(l->v);
}

void
message_free(struct message *m)
{
	free(m->message_id);
	free(m->in_reply_to);
	for (size_t i = 0; i < m->nreferences; i++)
		free(m->references[i]);
	free(m->references);
	free(m->subject);
	addrlist_free(&m->from);
	addrlist_free(&m->to);
	addrlist_free(&m->cc);
	addrlist_free(&m->reply_to);
	addrlist_free(&m->failed_recipients);
	free(m->auto_submitted);
	free(m->precedence);
	free(m->list_id);
	free(m->content_type);
	free(m->charset);
	free(m->boundary);
	free(m->report_type);
	free(m->transfer_encoding);
	free(m->excerpt);
	free(m->delivery_status);
	memset(m, 0, sizeof(*m));
}
