/*
 * WebDAV multistatus parsing and request bodies: fixtures in
 * tests/unit/dav modelled on RFC 4791/6578 and Radicale/SabreDAV output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "dav_xml.h"
#include "strbuf.h"
#include "tap.h"
#include "xmalloc.h"

static char *
slurp(const char *name, size_t *len)
{
	char path[512], buf[4096];
	struct strbuf sb;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", DAV_FIXTURES, name);
	if ((f = fopen(path, "rb")) == NULL) {
		printf("Bail out! cannot open %s\n", path);
		exit(1);
	}
	strbuf_init(&sb, 0);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(&sb, buf, n);
	fclose(f);
	*len = sb.len;
	return strbuf_detach(&sb);
}

static int
parse_file(const char *name, struct dav_multistatus *ms, char *err,
    size_t errlen)
{
	size_t len;
	char *buf = slurp(name, &len);
	int rc = dav_xml_parse(buf, len, ms, err, errlen);

	free(buf);
	return rc;
}

static void
test_radicale(void)
{
	struct dav_multistatus ms;
	const struct dav_response *r;
	char err[256] = "";

	is_int(parse_file("radicale_calendars.xml", &ms, err, sizeof(err)), 0,
	    "Radicale PROPFIND Depth 1 parses %s", err);
	is_int(ms.n, 3, "three responses");
	ok(!ms.repaired && ms.sync_token == NULL && !ms.truncated,
	    "clean, no top-level token, not truncated");
	if (ms.n != 3)
		goto out;
	r = &ms.v[0];
	is_str(r->href, "/kim/", "home href");
	ok(r->is_collection && !r->is_calendar, "home is a collection only");
	is_int(r->prop_status[DAV_PROP_CTAG], 404, "home getctag: 404");
	ok(r->ctag == NULL, "no value from a 404 propstat");
	is_int(r->prop_status[DAV_PROP_DISPLAYNAME], 200, "displayname 200");
	ok(!r->sync_collection, "home: no sync-collection report");
	is_int(r->prop_status[DAV_PROP_CALENDAR_DATA], 0, "unasked prop: 0");

	r = &ms.v[1];
	is_str(r->href, "/kim/3f1b6a50-work%20calendar/", "raw href");
	is_str(r->href_decoded, "/kim/3f1b6a50-work calendar/", "decoded href");
	ok(r->is_calendar && r->is_collection && r->has_vevent,
	    "calendar with VEVENT");
	is_str(r->displayname, "Work & Visits", "displayname unescaped");
	is_str(r->color, "#ff8800ff", "apple calendar-color");
	is_str(r->ctag, "\"a9e1c3f0b7d2a6e4c1f5b8d3e7a2c9f1\"", "CS getctag");
	is_str(r->sync_token,
	    "http://radicale.org/ns/sync/a9e1c3f0b7d2a6e4c1f5b8d3e7a2c9f1",
	    "sync-token property");
	ok(r->sync_collection, "sync-collection supported");

	r = &ms.v[2];
	ok(r->is_calendar && !r->has_vevent, "task list has no VEVENT");
	ok(r->etag == NULL && r->prop_status[DAV_PROP_ETAG] == 0,
	    "getetag in a foreign namespace ignored");
	is_int(r->prop_status[DAV_PROP_COLOR], 404, "color 404");
out:
	dav_multistatus_free(&ms);
}

static void
test_principal(void)
{
	struct dav_multistatus ms;
	char err[256] = "";

	is_int(parse_file("principal.xml", &ms, err, sizeof(err)), 0,
	    "SabreDAV-style prefixes parse");
	if (ms.n == 1) {
		is_str(ms.v[0].principal_href,
		    "/dav.php/principals/kim%40example.com/", "principal href");
		is_str(ms.v[0].home_set_href,
		    "/dav.php/calendars/kim%40example.com/",
		    "first home-set href, blanks trimmed");
	} else
		ok(0, "one response (got %zu)", ms.n);
	dav_multistatus_free(&ms);
}

static void
test_sync(void)
{
	struct dav_multistatus ms;
	char err[256] = "";

	is_int(parse_file("sync_report.xml", &ms, err, sizeof(err)), 0,
	    "sync-collection answer parses");
	is_str(ms.sync_token, "http://example.com/ns/sync/1234",
	    "top-level sync-token");
	is_int(ms.n, 4, "four members");
	if (ms.n == 4) {
		is_str(ms.v[0].href_decoded, "/kim/work/new event ü.ics",
		    "UTF-8 percent-decoding");
		is_str(ms.v[0].etag, "\"00001-abcd1\"", "etag kept with quotes");
		is_int(ms.v[0].status, 0, "member with propstat: status 0");
		is_str(ms.v[1].href, "/kim/work/changed&moved.ics",
		    "XML-unescaped href");
		is_int(ms.v[2].status, 404, "removed member: 404");
		ok(ms.v[2].etag == NULL, "no etag for a removed member");
		is_str(ms.v[3].href_decoded, "/kim/work/bad%zzescape.ics",
		    "bad escape: decoded equals raw");
	}
	ok(!ms.truncated, "not truncated");
	dav_multistatus_free(&ms);

	is_int(parse_file("sync_507.xml", &ms, err, sizeof(err)), 0,
	    "truncated sync answer parses");
	ok(ms.truncated, "507 response marks truncation");
	is_int(ms.n, 1, "the 507 response is not a member");
	is_str(ms.sync_token, "http://example.com/ns/sync/1233",
	    "token to continue with");
	dav_multistatus_free(&ms);
}

static void
test_control_chars(void)
{
	struct dav_multistatus ms;
	char err[256] = "";

	is_int(parse_file("multiget_ctrl.xml", &ms, err, sizeof(err)), 0,
	    "multiget with control characters parses %s", err);
	ok(ms.repaired, "repair noted");
	is_int(ms.n, 3, "one object + two hrefs under one 404");
	if (ms.n == 3) {
		const char *cd = ms.v[0].calendar_data;

		ok(cd && strstr(cd, "SUMMARY:Bell  and tab  and form feed & caf"
		    "\xef\xbf\xbd \xef\xbf\xbd\n") != NULL,
		    "control chars blanked, bad UTF-8 replaced");
		ok(cd && strncmp(cd, "BEGIN:VCALENDAR\nVERSION", 23) == 0 &&
		    strstr(cd, "END:VCALENDAR\n") != NULL,
		    "calendar-data complete");
		is_int(ms.v[0].calendar_data_len, cd ? strlen(cd) : 0,
		    "calendar_data_len");
		ok(ms.v[1].status == 404 && ms.v[2].status == 404 &&
		    strcmp(ms.v[2].href, "/kim/work/gone2.ics") == 0,
		    "both missing hrefs reported 404");
	}
	dav_multistatus_free(&ms);
}

static void
test_refused(void)
{
	static const char doctype[] =
	    "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY a \"aaaa\">"
	    "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
	    "<multistatus xmlns=\"DAV:\"><response><href>&b;</href>"
	    "<status>HTTP/1.1 200 OK</status></response></multistatus>";
	static const char external[] =
	    "<?xml version=\"1.0\"?><multistatus xmlns=\"DAV:\"><response>"
	    "<href>&ext;</href><status>HTTP/1.1 200 OK</status></response>"
	    "</multistatus>";
	struct dav_multistatus ms;
	char err[256] = "";

	is_int(parse_file("not_multistatus.xml", &ms, err, sizeof(err)), -1,
	    "DAV:error is not a multistatus: %s", err);
	is_int(dav_xml_parse(doctype, strlen(doctype), &ms, err, sizeof(err)),
	    -1, "DOCTYPE refused: %s", err);
	is_int(dav_xml_parse("", 0, &ms, err, sizeof(err)), -1,
	    "empty body: %s", err);
	is_int(dav_xml_parse("<html>502 Bad Gateway", 21, &ms, err,
	    sizeof(err)), -1, "HTML error page: %s", err);
	is_int(dav_xml_parse(external, strlen(external), &ms, err,
	    sizeof(err)), 0, "undeclared entity recovered");
	ok(ms.n == 1 && strstr(ms.v[0].href, "ext") == NULL,
	    "and not expanded");
	dav_multistatus_free(&ms);
	is_int(dav_xml_status_code("HTTP/1.1 507 Insufficient Storage"), 507,
	    "status line code");
	is_int(dav_xml_status_code("HTTP/1.1 20 OK"), 0, "malformed status");
	is_int(dav_xml_status_code(NULL), 0, "no status");
}

/* A 10,000-member REPORT of about 20 MB, every member needing repair. */
static void
test_large(void)
{
	struct strbuf sb;
	struct dav_multistatus ms;
	char err[256] = "", pad[1800];
	int rc;

	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	strbuf_init(&sb, 0);
	strbuf_adds(&sb, "<?xml version=\"1.0\"?>\n<d:multistatus xmlns:d=\"DAV:\""
	    " xmlns:c=\"urn:ietf:params:xml:ns:caldav\">\n");
	for (int i = 0; i < 10000; i++)
		strbuf_addf(&sb, "<d:response><d:href>/kim/work/%d.ics</d:href>"
		    "<d:propstat><d:prop><d:getetag>\"%d\"</d:getetag>"
		    "<c:calendar-data>BEGIN:VCALENDAR\nUID:%d\x01\n"
		    "DESCRIPTION:%s\nEND:VCALENDAR\n</c:calendar-data>"
		    "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
		    "</d:response>\n", i, i, i, pad);
	strbuf_adds(&sb, "<d:sync-token>t</d:sync-token></d:multistatus>\n");
	rc = dav_xml_parse(sb.buf, sb.len, &ms, err, sizeof(err));
	ok(rc == 0 && ms.n == 10000 && ms.repaired, "%zu MB, 10,000 members",
	    sb.len >> 20);
	ok(ms.n == 10000 && strcmp(ms.v[9999].href, "/kim/work/9999.ics") == 0 &&
	    ms.v[9999].calendar_data_len > 1800, "last member complete");
	is_str(ms.sync_token, "t", "token after 20 MB read");
	dav_multistatus_free(&ms);
	strbuf_free(&sb);
}

static bool
same_response(const struct dav_response *a, const struct dav_response *b)
{
	const char *sa[] = { a->href, a->etag, a->sync_token, a->displayname,
	    a->calendar_data, a->lastmod };
	const char *sb[] = { b->href, b->etag, b->sync_token, b->displayname,
	    b->calendar_data, b->lastmod };

	for (size_t i = 0; i < sizeof(sa) / sizeof(*sa); i++)
		if ((sa[i] == NULL) != (sb[i] == NULL) ||
		    (sa[i] != NULL && strcmp(sa[i], sb[i]) != 0))
			return false;
	return a->status == b->status && a->is_calendar == b->is_calendar &&
	    memcmp(a->prop_status, b->prop_status, sizeof(a->prop_status)) == 0;
}

static int
to_file(const char *buf, size_t len)
{
	FILE *f = tmpfile();
	int fd;

	if (f == NULL || fwrite(buf, 1, len, f) != len || fflush(f) != 0) {
		printf("Bail out! tmpfile\n");
		exit(1);
	}
	fd = dup(fileno(f));
	fclose(f);
	return fd;
}

/* From a file, as the sync-collection answer is read: the same result. */
static void
test_fd(void)
{
	static const char *names[] = {
		"radicale_calendars.xml", "sync_report.xml", "sync_507.xml",
		"multiget_ctrl.xml",
	};
	static const char lastmod[] =
	    "<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns=\"DAV:\">"
	    "<response><href>/kim/work/</href><propstat><prop><getlastmodified>"
	    "Mon, 23 Nov 2026 14:47:05 GMT</getlastmodified></prop><status>"
	    "HTTP/1.1 200 OK</status></propstat></response></multistatus>";
	struct dav_multistatus a, b;
	char err[256] = "";
	struct strbuf sb;
	int fd;

	for (size_t f = 0; f < sizeof(names) / sizeof(*names); f++) {
		size_t len;
		char *buf = slurp(names[f], &len);
		bool same;

		fd = to_file(buf, len);
		is_int(dav_xml_parse_fd(fd, len, &a, err, sizeof(err)), 0,
		    "%s from a file %s", names[f], err);
		dav_xml_parse(buf, len, &b, err, sizeof(err));
		same = a.n == b.n && a.truncated == b.truncated &&
		    a.repaired == b.repaired && ((a.sync_token == NULL &&
		    b.sync_token == NULL) || (a.sync_token && b.sync_token &&
		    strcmp(a.sync_token, b.sync_token) == 0));
		for (size_t i = 0; same && i < a.n; i++)
			same = same_response(&a.v[i], &b.v[i]);
		ok(same, "%s: the same as from memory", names[f]);
		dav_multistatus_free(&a);
		dav_multistatus_free(&b);
		close(fd);
		free(buf);
	}

	fd = to_file(lastmod, strlen(lastmod));
	is_int(dav_xml_parse_fd(fd, strlen(lastmod), &a, err, sizeof(err)), 0,
	    "getlastmodified answer parses");
	ok(a.n == 1 && a.v[0].lastmod != NULL && strcmp(a.v[0].lastmod,
	    "Mon, 23 Nov 2026 14:47:05 GMT") == 0 &&
	    a.v[0].prop_status[DAV_PROP_LASTMOD] == 200, "getlastmodified read");
	dav_multistatus_free(&a);
	close(fd);

	/* Well-formed and large: read as it streams, every member whole. */
	strbuf_init(&sb, 0);
	strbuf_adds(&sb, "<?xml version=\"1.0\"?>\n<d:multistatus xmlns:d="
	    "\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">\n"
	    "<d:sync-token>t2</d:sync-token>\n");
	for (int i = 0; i < 2000; i++)
		strbuf_addf(&sb, "<d:response><d:href>/kim/work/%d.ics</d:href>"
		    "<d:propstat><d:prop><d:getetag>\"%d\"</d:getetag>"
		    "<c:calendar-data>BEGIN:VCALENDAR\nUID:%d &amp; more\n"
		    "END:VCALENDAR\n</c:calendar-data></d:prop>"
		    "<d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
		    "</d:response>\n", i, i, i);
	strbuf_adds(&sb, "</d:multistatus>\n");
	fd = to_file(sb.buf, sb.len);
	is_int(dav_xml_parse_fd(fd, sb.len, &a, err, sizeof(err)), 0,
	    "2,000 members from a file");
	ok(a.n == 2000 && !a.repaired && a.sync_token &&
	    strcmp(a.sync_token, "t2") == 0 && a.v[1999].calendar_data &&
	    strcmp(a.v[1999].calendar_data, "BEGIN:VCALENDAR\nUID:1999 & "
	    "more\nEND:VCALENDAR\n") == 0, "every member, data unescaped");
	dav_multistatus_free(&a);
	close(fd);
	strbuf_free(&sb);

	fd = to_file("<?xml version=\"1.0\"?><!DOCTYPE m><multistatus "
	    "xmlns=\"DAV:\"/>", 60);
	is_int(dav_xml_parse_fd(fd, 60, &a, err, sizeof(err)), -1,
	    "DOCTYPE refused from a file too: %s", err);
	close(fd);
}

/* Builders: well-formed, namespaced, escaped; parsed back with libxml2. */
static bool
well_formed(const char *doc)
{
	xmlDoc *d = xmlReadMemory(doc, (int)strlen(doc), NULL, NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	bool good = d != NULL;

	xmlFreeDoc(d);
	return good;
}

static void
test_builders(void)
{
	const char *hrefs[] = { "/kim/work/a&b.ics", "/kim/work/<x>.ics",
	    "/kim/work/caf%C3%A9.ics" };
	char *s;

	s = dav_xml_propfind_principal();
	ok(well_formed(s) && strstr(s, "<d:current-user-principal/>"),
	    "PROPFIND principal");
	free(s);
	s = dav_xml_propfind_home_set();
	ok(well_formed(s) && strstr(s, "<c:calendar-home-set/>"),
	    "PROPFIND home set");
	free(s);
	s = dav_xml_propfind_calendars();
	ok(well_formed(s) && !strstr(s, "getctag") &&
	    strstr(s, "<d:supported-report-set/>") &&
	    strstr(s, "xmlns:a=\"http://apple.com/ns/ical/\""),
	    "PROPFIND calendars");
	free(s);
	s = dav_xml_sync_collection(NULL, false);
	ok(well_formed(s) && strstr(s, "<d:sync-token/>") &&
	    strstr(s, "<d:sync-level>1</d:sync-level>") &&
	    !strstr(s, "calendar-data"), "initial sync");
	free(s);
	s = dav_xml_sync_collection(NULL, true);
	ok(well_formed(s) && strstr(s, "<d:getetag/>") &&
	    strstr(s, "<c:calendar-data/>") &&
	    strstr(s, "xmlns:c=\"urn:ietf:params:xml:ns:caldav\""),
	    "sync asking for calendar-data");
	free(s);
	s = dav_xml_sync_collection("http://x/sync/1?a=1&b=<2>", false);
	ok(well_formed(s) && strstr(s, "<d:sync-token>http://x/sync/1?a=1&amp;"
	    "b=&lt;2&gt;</d:sync-token>"), "token escaped");
	free(s);
	s = dav_xml_propfind_lastmod();
	ok(well_formed(s) && strstr(s, "<d:getlastmodified/>") &&
	    !strstr(s, "sync-token") && !strstr(s, "getctag"),
	    "PROPFIND getlastmodified alone");
	free(s);
	s = dav_xml_propfind_calendars();
	ok(!strstr(s, "sync-token"), "discovery asks no sync-token");
	free(s);
	s = dav_xml_propfind_ctag();
	ok(well_formed(s) && strstr(s, "<cs:getctag/>") &&
	    strstr(s, "xmlns:cs=\"http://calendarserver.org/ns/\"") &&
	    !strstr(s, "displayname"), "PROPFIND getctag alone");
	free(s);
	s = dav_xml_multiget(hrefs, 3);
	ok(well_formed(s) && strstr(s, "<d:href>/kim/work/a&amp;b.ics</d:href>")
	    && strstr(s, "<d:href>/kim/work/&lt;x&gt;.ics</d:href>") &&
	    strstr(s, "<c:calendar-data/>"), "multiget hrefs escaped");
	free(s);
	s = dav_xml_query_etags(0, 0);
	ok(well_formed(s) && strstr(s, "<c:comp-filter name=\"VEVENT\"/>") &&
	    !strstr(s, "time-range"), "calendar-query without range");
	free(s);
	s = dav_xml_query_etags(1775001600, 1777593600);
	ok(well_formed(s) && strstr(s, "<c:time-range start=\"20260401T000000Z\""
	    " end=\"20260501T000000Z\"/>"), "calendar-query with range");
	free(s);
}

/* Prefixes of every fixture: never a crash or a leak. */
static void
test_truncated(void)
{
	static const char *names[] = {
		"radicale_calendars.xml", "principal.xml", "sync_report.xml",
		"sync_507.xml", "multiget_ctrl.xml",
	};
	size_t runs = 0;

	for (size_t f = 0; f < sizeof(names) / sizeof(*names); f++) {
		size_t len;
		char *buf = slurp(names[f], &len), err[256];

		for (size_t cut = 0; cut <= len; cut++, runs++) {
			struct dav_multistatus ms;

			if (dav_xml_parse(buf, cut, &ms, err, sizeof(err)) == 0)
				dav_multistatus_free(&ms);
		}
		free(buf);
	}
	ok(runs > 4000, "%zu truncated answers survived", runs);
}

int
main(void)
{
	dav_xml_init();
	test_radicale();
	test_principal();
	test_sync();
	test_control_chars();
	test_refused();
	test_large();
	test_fd();
	test_builders();
	test_truncated();
	dav_xml_shutdown();
	return tap_done();
}
