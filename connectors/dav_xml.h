/*
 * WebDAV/CalDAV XML: parsing multistatus answers (PROPFIND, REPORT) and
 * building the request bodies the CalDAV connector sends.
 *
 * Parsing is lenient where servers are known to be sloppy: C0 control
 * characters and invalid UTF-8 (raw event text copied into REPORT
 * answers) are repaired before libxml2 sees the text, which then parses
 * with recovery, without network access and without expanding entities; a
 * DOCTYPE is refused outright.  Elements are matched by namespace URI and
 * local name, never by prefix.  Cost is linear in the input.
 *
 * A struct dav_multistatus and everything in it belongs to the caller of
 * dav_xml_parse(); dav_multistatus_free() releases it.  Builders return a
 * malloc'd NUL-terminated UTF-8 document the caller frees.
 */
#ifndef RAPPORT_DAV_XML_H
#define RAPPORT_DAV_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DAV_NS		"DAV:"
#define DAV_NS_CALDAV	"urn:ietf:params:xml:ns:caldav"
#define DAV_NS_CS	"http://calendarserver.org/ns/"
#define DAV_NS_APPLE	"http://apple.com/ns/ical/"

#define DAV_XML_MAX	(256 * 1024 * 1024)	/* bytes of one answer */

/* The properties we read; prop_status[] is indexed by these. */
enum dav_prop {
	DAV_PROP_ETAG = 0,		/* DAV:getetag */
	DAV_PROP_CTAG,			/* CS:getctag */
	DAV_PROP_SYNC_TOKEN,		/* DAV:sync-token (as a property) */
	DAV_PROP_DISPLAYNAME,		/* DAV:displayname */
	DAV_PROP_COLOR,			/* Apple:calendar-color */
	DAV_PROP_RESOURCETYPE,		/* DAV:resourcetype */
	DAV_PROP_COMPONENTS,		/* C:supported-calendar-component-set */
	DAV_PROP_CALENDAR_DATA,		/* C:calendar-data */
	DAV_PROP_PRINCIPAL,		/* DAV:current-user-principal */
	DAV_PROP_HOME_SET,		/* C:calendar-home-set */
	DAV_PROP_REPORTS,		/* DAV:supported-report-set */
	DAV_PROP_LASTMOD,		/* DAV:getlastmodified */
	DAV_PROP_COUNT
};

struct dav_response {
	char	*href;		/* as sent (XML-unescaped), never NULL */
	char	*href_decoded;	/* percent-decoded; equals href if not valid */
	/*
	 * The response's own DAV:status (a member removed since the last
	 * sync-token answers 404 here), or 0 when it has propstats instead.
	 */
	int	 status;
	/* Per property: the HTTP code of the propstat that named it (200,
	 * 404, ...), or 0 when the server did not mention it.  The values
	 * below are set only for properties with a 2xx code. */
	int	 prop_status[DAV_PROP_COUNT];

	char	*etag;			/* raw, quotes included */
	char	*ctag;
	char	*sync_token;
	char	*displayname;
	char	*color;
	bool	 is_collection;
	bool	 is_calendar;
	bool	 has_vevent;		/* VEVENT in the component set */
	char	*calendar_data;		/* the iCalendar text */
	size_t	 calendar_data_len;
	char	*principal_href;
	char	*home_set_href;		/* the first one */
	bool	 sync_collection;	/* supported-report-set has it */
	char	*lastmod;		/* an HTTP-date */
};

struct dav_multistatus {
	struct dav_response	*v;
	size_t			 n;
	size_t			 cap;
	char			*sync_token;	/* top-level (RFC 6578), or NULL */
	/*
	 * RFC 6578 §3.6: a response with status 507 says the server cut the
	 * answer; repeat the REPORT with sync_token.  That response itself
	 * is not in v.
	 */
	bool			 truncated;
	bool			 repaired;	/* control chars/bad UTF-8 fixed */
};

/* Initializes libxml2: once, on the main thread, before other threads
 * parse.  dav_xml_shutdown() releases its globals at exit. */
void dav_xml_init(void);
void dav_xml_shutdown(void);

/*
 * Parses a 207 multistatus body.  Returns 0, or -1 with a one-line
 * reason in err when it is not a DAV:multistatus document at all.
 */
int dav_xml_parse(const char *buf, size_t len, struct dav_multistatus *out,
    char *err, size_t errlen);
/*
 * The same for an answer of len bytes in the file fd (read from its
 * start; not closed): a well-formed one is parsed as it is read, never
 * whole in memory.
 */
int dav_xml_parse_fd(int fd, size_t len, struct dav_multistatus *out,
    char *err, size_t errlen);
void dav_multistatus_free(struct dav_multistatus *ms);
/* Frees what one response holds (not r itself). */
void dav_response_free(struct dav_response *r);

/* The code of "HTTP/1.1 404 Not Found" (404), or 0 if malformed. */
int dav_xml_status_code(const char *status_line);

/* PROPFIND bodies (Depth 0 for the first two, Depth 1 for calendars). */
char *dav_xml_propfind_principal(void);	/* current-user-principal */
char *dav_xml_propfind_home_set(void);	/* calendar-home-set */
/* resourcetype, displayname, calendar-color,
 * supported-calendar-component-set, supported-report-set */
char *dav_xml_propfind_calendars(void);
char *dav_xml_propfind_ctag(void);	/* CS:getctag */
char *dav_xml_propfind_lastmod(void);	/* getlastmodified */
/* REPORT sync-collection, sync-level 1, getetag (and calendar-data when
 * data); token NULL or "" for the initial listing. */
char *dav_xml_sync_collection(const char *token, bool data);
/* REPORT calendar-multiget for getetag and calendar-data of n hrefs
 * (as the server sent them). */
char *dav_xml_multiget(const char *const *hrefs, size_t n);
/* REPORT calendar-query listing the getetag of every VEVENT object; a
 * time-range filter when from < to (UTC seconds). */
char *dav_xml_query_etags(int64_t from, int64_t to);

#endif
