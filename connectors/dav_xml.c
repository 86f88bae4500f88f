#include "dav_xml.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlreader.h>

#include "strbuf.h"
#include "xmalloc.h"

#define XML_DECL	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
#define PROP_DEPTH_MAX	8	/* nesting searched inside one property */

void
dav_xml_init(void)
{
	xmlInitParser();
}

void
dav_xml_shutdown(void)
{
	xmlCleanupParser();
}

/* ------------------------------------------------------------ repairing */

/* Length of the valid UTF-8 sequence XML allows at s, or 0. */
static size_t
utf8_xml_char(const unsigned char *s, size_t len)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return (s[0] >= 0x20 || s[0] == '\t' || s[0] == '\n' ||
		    s[0] == '\r') ? 1 : 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    cp == 0xfffe || cp == 0xffff)
		return 0;
	return n;
}

/*
 * Servers copy raw event text into REPORT answers: control characters
 * become blanks and broken UTF-8 becomes U+FFFD, so that libxml2 neither
 * stops at them nor guesses another encoding for the whole document.
 * Returns NULL when buf needs no repair.
 */
static char *
repair(const char *buf, size_t len, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)buf;
	struct strbuf sb;
	size_t i = 0, n, clean = 0;

	/* Printable ASCII first, without the call: nearly all of it. */
	while (i < len) {
		if (s[i] >= 0x20 && s[i] < 0x80)
			i++;
		else if ((n = utf8_xml_char(s + i, len - i)) > 0)
			i += n;
		else
			break;
	}
	if (i == len)
		return NULL;
	strbuf_init(&sb, 0);
	strbuf_add(&sb, buf, i);
	while (i < len) {
		if ((n = utf8_xml_char(s + i, len - i)) > 0) {
			clean = i;
			while (i < len && (n = utf8_xml_char(s + i, len - i)) > 0)
				i += n;
			strbuf_add(&sb, buf + clean, i - clean);
			continue;
		}
		if (s[i] < 0x80)
			strbuf_addc(&sb, ' ');
		else
			strbuf_adds(&sb, "\xef\xbf\xbd");
		i++;
	}
	*outlen = sb.len;
	return strbuf_detach(&sb);
}

/* ------------------------------------------------------------- helpers */

static bool
is_el(const xmlNode *n, const char *ns, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	    strcmp((const char *)n->ns->href, ns) == 0 &&
	    strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *
child(const xmlNode *n, const char *ns, const char *name)
{
	for (const xmlNode *c = n->children; c; c = c->next)
		if (is_el(c, ns, name))
			return c;
	return NULL;
}

/* The element's text, blanks around it removed unless raw. */
static char *
text_of(const xmlNode *n, bool raw)
{
	xmlChar *x = xmlNodeGetContent(n);
	const char *s = x ? (const char *)x : "";
	size_t len;
	char *out;

	if (!raw)
		while (isspace((unsigned char)*s))
			s++;
	len = strlen(s);
	if (!raw)
		while (len > 0 && isspace((unsigned char)s[len - 1]))
			len--;
	out = xstrndup(s, len);
	xmlFree(x);
	return out;
}

static char *
href_in(const xmlNode *n)
{
	const xmlNode *h = child(n, DAV_NS, "href");

	return h ? text_of(h, false) : NULL;
}

int
dav_xml_status_code(const char *line)
{
	const char *sp;

	if (line == NULL || (sp = strchr(line, ' ')) == NULL)
		return 0;
	while (*sp == ' ')
		sp++;
	if (!isdigit((unsigned char)sp[0]) || !isdigit((unsigned char)sp[1]) ||
	    !isdigit((unsigned char)sp[2]) || isdigit((unsigned char)sp[3]))
		return 0;
	return (sp[0] - '0') * 100 + (sp[1] - '0') * 10 + (sp[2] - '0');
}

static int
status_of(const xmlNode *n)
{
	const xmlNode *st = child(n, DAV_NS, "status");
	char *line;
	int code;

	if (st == NULL)
		return 0;
	line = text_of(st, false);
	code = dav_xml_status_code(line);
	free(line);
	return code;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decoding; a copy of s when it is not valid (bad escape, NUL,
 * or broken UTF-8 once decoded). */
static char *
percent_decode(const char *s)
{
	size_t len = strlen(s), n = 0;
	char *out = xmalloc(len + 1);

	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] != '%') {
			out[n++] = s[i];
			continue;
		}
		if (i + 2 >= len)
			goto bad;
		if ((hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0 ||
		    (hi == 0 && lo == 0))
			goto bad;
		out[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[n] = '\0';
	for (size_t i = 0, k; i < n; i += k)
		if ((k = utf8_xml_char((const unsigned char *)out + i, n - i)) == 0)
			goto bad;
	return out;
bad:
	free(out);
	return xstrdup(s);
}

/* Whether an element DAV:name lies within n, PROP_DEPTH_MAX deep. */
static bool
contains(const xmlNode *n, const char *ns, const char *name, int depth)
{
	if (depth > PROP_DEPTH_MAX)
		return false;
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (is_el(c, ns, name) || contains(c, ns, name, depth + 1))
			return true;
	}
	return false;
}

static bool
has_vevent(const xmlNode *set)
{
	for (const xmlNode *c = set->children; c; c = c->next) {
		xmlChar *name;
		bool yes;

		if (!is_el(c, DAV_NS_CALDAV, "comp"))
			continue;
		name = xmlGetNoNsProp(c, (const xmlChar *)"name");
		yes = name && strcasecmp((const char *)name, "VEVENT") == 0;
		xmlFree(name);
		if (yes)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------- properties */

static const struct {
	const char	*ns;
	const char	*name;
	enum dav_prop	 prop;
} props[] = {
	{ DAV_NS,	 "getetag",		DAV_PROP_ETAG },
	{ DAV_NS_CS,	 "getctag",		DAV_PROP_CTAG },
	{ DAV_NS,	 "sync-token",		DAV_PROP_SYNC_TOKEN },
	{ DAV_NS,	 "displayname",		DAV_PROP_DISPLAYNAME },
	{ DAV_NS_APPLE,	 "calendar-color",	DAV_PROP_COLOR },
	{ DAV_NS,	 "resourcetype",	DAV_PROP_RESOURCETYPE },
	{ DAV_NS_CALDAV, "supported-calendar-component-set",
						DAV_PROP_COMPONENTS },
	{ DAV_NS_CALDAV, "calendar-data",	DAV_PROP_CALENDAR_DATA },
	{ DAV_NS,	 "current-user-principal", DAV_PROP_PRINCIPAL },
	{ DAV_NS_CALDAV, "calendar-home-set",	DAV_PROP_HOME_SET },
	{ DAV_NS,	 "supported-report-set", DAV_PROP_REPORTS },
	{ DAV_NS,	 "getlastmodified",	DAV_PROP_LASTMOD },
};

static void
set_str(char **dst, char *val)
{
	free(*dst);
	*dst = val;
}

static void
prop_value(struct dav_response *r, enum dav_prop p, const xmlNode *n)
{
	switch (p) {
	case DAV_PROP_ETAG:	set_str(&r->etag, text_of(n, false)); break;
	case DAV_PROP_CTAG:	set_str(&r->ctag, text_of(n, false)); break;
	case DAV_PROP_SYNC_TOKEN: set_str(&r->sync_token, text_of(n, false)); break;
	case DAV_PROP_DISPLAYNAME: set_str(&r->displayname, text_of(n, false)); break;
	case DAV_PROP_COLOR:	set_str(&r->color, text_of(n, false)); break;
	case DAV_PROP_RESOURCETYPE:
		r->is_collection = child(n, DAV_NS, "collection") != NULL;
		r->is_calendar = child(n, DAV_NS_CALDAV, "calendar") != NULL;
		break;
	case DAV_PROP_COMPONENTS:
		r->has_vevent = has_vevent(n);
		break;
	case DAV_PROP_CALENDAR_DATA:
		set_str(&r->calendar_data, text_of(n, true));
		r->calendar_data_len = strlen(r->calendar_data);
		break;
	case DAV_PROP_PRINCIPAL:
		set_str(&r->principal_href, href_in(n));
		break;
	case DAV_PROP_HOME_SET:
		set_str(&r->home_set_href, href_in(n));
		break;
	case DAV_PROP_REPORTS:
		r->sync_collection = contains(n, DAV_NS, "sync-collection", 0);
		break;
	case DAV_PROP_LASTMOD:
		set_str(&r->lastmod, text_of(n, false));
		break;
	case DAV_PROP_COUNT:
		break;
	}
}

static void
parse_propstat(struct dav_response *r, const xmlNode *ps)
{
	const xmlNode *prop = child(ps, DAV_NS, "prop");
	int code = status_of(ps);

	if (prop == NULL)
		return;
	for (const xmlNode *c = prop->children; c; c = c->next)
		for (size_t i = 0; i < sizeof(props) / sizeof(*props); i++) {
			if (!is_el(c, props[i].ns, props[i].name))
				continue;
			r->prop_status[props[i].prop] = code;
			if (code >= 200 && code < 300)
				prop_value(r, props[i].prop, c);
			break;
		}
}

/* ----------------------------------------------------------- responses */

static struct dav_response *
ms_add(struct dav_multistatus *ms, char *href)
{
	struct dav_response *r;

	if (ms->n == ms->cap) {
		ms->cap = ms->cap ? ms->cap * 2 : 16;
		ms->v = xreallocarray(ms->v, ms->cap, sizeof(*ms->v));
	}
	r = &ms->v[ms->n++];
	memset(r, 0, sizeof(*r));
	r->href = href;
	r->href_decoded = percent_decode(href);
	return r;
}

/*
 * RFC 4918: a response carries either one href and propstats, or hrefs
 * and one status (a multiget answers 404 for several hrefs at once).
 */
static void
parse_response(struct dav_multistatus *ms, const xmlNode *resp)
{
	int status = status_of(resp);
	struct dav_response *r = NULL;

	if (status == 507) {
		ms->truncated = true;
		return;
	}
	for (const xmlNode *c = resp->children; c; c = c->next) {
		if (!is_el(c, DAV_NS, "href"))
			continue;
		r = ms_add(ms, text_of(c, false));
		r->status = status;
		if (status == 0)
			break;
	}
	if (r == NULL || status != 0)
		return;
	for (const xmlNode *c = resp->children; c; c = c->next)
		if (is_el(c, DAV_NS, "propstat"))
			parse_propstat(r, c);
}

static void
reader_quiet(void *arg, const char *msg, xmlParserSeverities severity,
    xmlTextReaderLocatorPtr locator)
{
	(void)arg, (void)msg, (void)severity, (void)locator;
}

/*
 * A well-formed answer is read one top-level element at a time: the
 * reader frees each response's nodes once we have passed them, so that a
 * listing carrying 10,000 events' text (13 MB) never also stands as one
 * tree of a few times that.  Returns -1 at the first thing it does not
 * like; the caller then parses the whole text again, with recovery.
 */
#define READER_OPTIONS	(XML_PARSE_NONET | XML_PARSE_NOERROR | \
			XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

static int
parse_stream(xmlTextReader *rd, struct dav_multistatus *ms)
{
	xmlNode *n;
	const xmlChar *name, *ns;
	bool root = false;
	int rc, ret = -1;

	if (rd == NULL)
		return -1;
	xmlTextReaderSetErrorHandler(rd, reader_quiet, NULL);
	rc = xmlTextReaderRead(rd);
	while (rc == 1) {
		switch (xmlTextReaderNodeType(rd)) {
		case XML_READER_TYPE_DOCUMENT_TYPE:
			goto out;
		case XML_READER_TYPE_ELEMENT:
			break;
		default:
			rc = xmlTextReaderRead(rd);
			continue;
		}
		if (xmlTextReaderDepth(rd) == 0) {
			name = xmlTextReaderConstLocalName(rd);
			ns = xmlTextReaderConstNamespaceUri(rd);
			if (root || name == NULL || ns == NULL ||
			    strcmp((const char *)ns, DAV_NS) != 0 ||
			    strcmp((const char *)name, "multistatus") != 0)
				goto out;
			root = true;
			rc = xmlTextReaderRead(rd);
			continue;
		}
		if ((n = xmlTextReaderExpand(rd)) == NULL)
			goto out;
		if (is_el(n, DAV_NS, "response"))
			parse_response(ms, n);
		else if (is_el(n, DAV_NS, "sync-token"))
			set_str(&ms->sync_token, text_of(n, false));
		rc = xmlTextReaderNext(rd);
	}
	if (rc == 0 && root)
		ret = 0;
out:
	xmlFreeTextReader(rd);
	return ret;
}

static int
parse_doc(const char *buf, size_t len, struct dav_multistatus *ms, char *err,
    size_t errlen)
{
	xmlDoc *doc;
	const xmlNode *root;
	int rc = -1;

	/* No forced encoding: libxml2 2.9.14 stops about 10 MB into a
	 * document when one is given.  Repaired text is UTF-8 anyway. */
	doc = xmlReadMemory(buf, (int)len, "multistatus.xml", NULL,
	    XML_PARSE_RECOVER | XML_PARSE_NONET | XML_PARSE_NOERROR |
	    XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
	if (doc == NULL || (root = xmlDocGetRootElement(doc)) == NULL) {
		snprintf(err, errlen, "not XML");
		goto out;
	}
	if (doc->intSubset != NULL) {
		snprintf(err, errlen, "DOCTYPE refused");
		goto out;
	}
	if (!is_el(root, DAV_NS, "multistatus")) {
		snprintf(err, errlen, "root is not DAV:multistatus");
		goto out;
	}
	for (const xmlNode *c = root->children; c; c = c->next)
		if (is_el(c, DAV_NS, "response"))
			parse_response(ms, c);
		else if (is_el(c, DAV_NS, "sync-token"))
			set_str(&ms->sync_token, text_of(c, false));
	rc = 0;
out:
	xmlFreeDoc(doc);
	return rc;
}

int
dav_xml_parse(const char *buf, size_t len, struct dav_multistatus *out,
    char *err, size_t errlen)
{
	char *fixed;
	size_t fixedlen = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > DAV_XML_MAX || len > INT_MAX) {
		snprintf(err, errlen, "answer larger than %d bytes", DAV_XML_MAX);
		return -1;
	}
	if (memmem(buf, len, "<!DOCTYPE", 9) != NULL) {
		snprintf(err, errlen, "DOCTYPE refused");
		return -1;
	}
	fixed = repair(buf, len, &fixedlen);
	if (fixed != NULL)
		buf = fixed, len = fixedlen;
	if (parse_stream(xmlReaderForMemory(buf, (int)len, "multistatus.xml",
	    NULL, READER_OPTIONS), out) == 0)
		rc = 0;
	else {
		dav_multistatus_free(out);
		rc = parse_doc(buf, len, out, err, errlen);
	}
	out->repaired = fixed != NULL;
	free(fixed);
	if (rc != 0)
		dav_multistatus_free(out);
	return rc;
}

int
dav_xml_parse_fd(int fd, size_t len, struct dav_multistatus *out, char *err,
    size_t errlen)
{
	char *buf;
	size_t got = 0;
	ssize_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > DAV_XML_MAX || len > INT_MAX) {
		snprintf(err, errlen, "answer larger than %d bytes", DAV_XML_MAX);
		return -1;
	}
	if (lseek(fd, 0, SEEK_SET) == 0 && parse_stream(xmlReaderForFd(fd,
	    "multistatus.xml", NULL, READER_OPTIONS), out) == 0)
		return 0;
	dav_multistatus_free(out);
	/* Something to repair, or refuse: the whole text, as always. */
	buf = xmalloc(len + 1);
	while (got < len) {
		n = pread(fd, buf + got, len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "temporary file: %s",
			    n < 0 ? strerror(errno) : "short");
			free(buf);
			return -1;
		}
		got += (size_t)n;
	}
	buf[len] = '\0';
	rc = dav_xml_parse(buf, len, out, err, errlen);
	free(buf);
	return rc;
}

void
dav_multistatus_free(struct dav_multistatus *ms)
{
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++)
		dav_response_free(&ms->v[i]);
	free(ms->v);
	free(ms->sync_token);
	memset(ms, 0, sizeof(*ms));
}

void
dav_response_free(struct dav_response *r)
{
	free(r->href);
	free(r->href_decoded);
	free(r->etag);
	free(r->ctag);
	free(r->sync_token);
	free(r->displayname);
	free(r->color);
	free(r->calendar_data);
	free(r->principal_href);
	free(r->home_set_href);
	free(r->lastmod);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ builders */

/* Text as XML character data or attribute value; characters XML cannot
 * carry are dropped. */
static void
add_escaped(struct strbuf *sb, const char *s)
{
	size_t len = strlen(s), n;

	for (size_t i = 0; i < len; i += n) {
		n = utf8_xml_char((const unsigned char *)s + i, len - i);
		if (n == 0) {
			n = 1;
			continue;
		}
		switch (s[i]) {
		case '&':	strbuf_adds(sb, "&amp;"); break;
		case '<':	strbuf_adds(sb, "&lt;"); break;
		case '>':	strbuf_adds(sb, "&gt;"); break;
		case '"':	strbuf_adds(sb, "&quot;"); break;
		case '\r':	strbuf_adds(sb, "&#13;"); break;
		default:	strbuf_add(sb, s + i, n); break;
		}
	}
}

static char *
propfind(const char *ns_decls, const char *props_xml)
{
	struct strbuf sb;

	strbuf_init(&sb, 0);
	strbuf_addf(&sb, XML_DECL "<d:propfind xmlns:d=\"DAV:\"%s>\n"
	    "  <d:prop>\n%s  </d:prop>\n</d:propfind>\n", ns_decls, props_xml);
	return strbuf_detach(&sb);
}

char *
dav_xml_propfind_principal(void)
{
	return propfind("", "    <d:current-user-principal/>\n");
}

char *
dav_xml_propfind_home_set(void)
{
	return propfind(" xmlns:c=\"" DAV_NS_CALDAV "\"",
	    "    <c:calendar-home-set/>\n");
}

char *
dav_xml_propfind_calendars(void)
{
	return propfind(" xmlns:c=\"" DAV_NS_CALDAV "\" xmlns:cs=\""
	    DAV_NS_CS "\" xmlns:a=\"" DAV_NS_APPLE "\"",
	    "    <d:resourcetype/>\n"
	    "    <d:displayname/>\n"
	    "    <a:calendar-color/>\n"
	    "    <c:supported-calendar-component-set/>\n"
	    "    <d:supported-report-set/>\n");
}

/*
 * Apart from discovery: Radicale reads and hashes every file of a
 * calendar for its getctag, which only the ctag fallback needs.
 */
char *
dav_xml_propfind_ctag(void)
{
	return propfind(" xmlns:cs=\"" DAV_NS_CS "\"", "    <cs:getctag/>\n");
}

/*
 * Nothing else: Radicale answers it from the files' times alone, where
 * any sync-token or getctag in the same PROPFIND would read every file.
 */
char *
dav_xml_propfind_lastmod(void)
{
	return propfind("", "    <d:getlastmodified/>\n");
}

char *
dav_xml_sync_collection(const char *token, bool data)
{
	struct strbuf sb;

	strbuf_init(&sb, 0);
	strbuf_adds(&sb, XML_DECL "<d:sync-collection xmlns:d=\"DAV:\" "
	    "xmlns:c=\"" DAV_NS_CALDAV "\">\n");
	if (token && *token) {
		strbuf_adds(&sb, "  <d:sync-token>");
		add_escaped(&sb, token);
		strbuf_adds(&sb, "</d:sync-token>\n");
	} else
		strbuf_adds(&sb, "  <d:sync-token/>\n");
	strbuf_adds(&sb, "  <d:sync-level>1</d:sync-level>\n"
	    "  <d:prop>\n    <d:getetag/>\n");
	if (data)
		strbuf_adds(&sb, "    <c:calendar-data/>\n");
	strbuf_adds(&sb, "  </d:prop>\n</d:sync-collection>\n");
	return strbuf_detach(&sb);
}

char *
dav_xml_multiget(const char *const *hrefs, size_t n)
{
	struct strbuf sb;

	strbuf_init(&sb, 0);
	strbuf_adds(&sb, XML_DECL "<c:calendar-multiget xmlns:d=\"DAV:\" "
	    "xmlns:c=\"" DAV_NS_CALDAV "\">\n"
	    "  <d:prop>\n    <d:getetag/>\n    <c:calendar-data/>\n"
	    "  </d:prop>\n");
	for (size_t i = 0; i < n; i++) {
		strbuf_adds(&sb, "  <d:href>");
		add_escaped(&sb, hrefs[i]);
		strbuf_adds(&sb, "</d:href>\n");
	}
	strbuf_adds(&sb, "</c:calendar-multiget>\n");
	return strbuf_detach(&sb);
}

static void
add_utc(struct strbuf *sb, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[32];

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
	strbuf_adds(sb, buf);
}

char *
dav_xml_query_etags(int64_t from, int64_t to)
{
	struct strbuf sb;

	strbuf_init(&sb, 0);
	strbuf_adds(&sb, XML_DECL "<c:calendar-query xmlns:d=\"DAV:\" "
	    "xmlns:c=\"" DAV_NS_CALDAV "\">\n"
	    "  <d:prop>\n    <d:getetag/>\n  </d:prop>\n"
	    "  <c:filter>\n    <c:comp-filter name=\"VCALENDAR\">\n");
	if (from < to) {
		strbuf_adds(&sb, "      <c:comp-filter name=\"VEVENT\">\n"
		    "        <c:time-range start=\"");
		add_utc(&sb, from);
		strbuf_adds(&sb, "\" end=\"");
		add_utc(&sb, to);
		strbuf_adds(&sb, "\"/>\n      </c:comp-filter>\n");
	} else
		strbuf_adds(&sb, "      <c:comp-filter name=\"VEVENT\"/>\n");
	strbuf_adds(&sb, "    </c:comp-filter>\n  </c:filter>\n"
	    "</c:calendar-query>\n");
	return strbuf_detach(&sb);
}
