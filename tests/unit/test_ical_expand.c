/*
 * iCalendar objects → occurrences: fixtures in tests/unit/ical modelled on
 * what Radicale, Thunderbird, Apple and Exchange write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"
#include "ical_expand.h"
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

	snprintf(path, sizeof(path), "%s/%s", ICAL_FIXTURES, name);
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

static int64_t
T(const char *iso)
{
	int64_t t;

	if (clock_parse_iso8601(iso, &t) != 0) {
		printf("Bail out! bad time %s\n", iso);
		exit(1);
	}
	return t;
}

/* Expands a fixture over [from, to) in Europe/Berlin. */
static int
expand_file(const char *name, const char *from, const char *to,
    struct event_list *l, char *err, size_t errlen)
{
	size_t len;
	char *text = slurp(name, &len);
	int n;

	memset(l, 0, sizeof(*l));
	n = ical_expand(text, len, T(from), T(to), "Europe/Berlin", l, err,
	    errlen);
	free(text);
	return n;
}

static const struct event *
find(const struct event_list *l, const char *uid, int64_t rid)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].uid, uid) == 0 && l->v[i].recurrence_id == rid)
			return &l->v[i];
	return NULL;
}

static void
test_dst_weekly(void)
{
	static const char *starts[] = {
		"2026-03-16T08:00:00Z", "2026-03-23T08:00:00Z",
		"2026-03-30T07:00:00Z", "2026-04-06T07:00:00Z",
		"2026-04-13T07:00:00Z",
	};
	struct event_list l;
	char err[256] = "";
	int n = expand_file("dst_weekly.ics", "2026-03-01", "2026-05-01", &l,
	    err, sizeof(err));

	is_int(n, 5, "weekly series: 5 occurrences up to UNTIL (inclusive)");
	for (size_t i = 0; i < 5 && i < l.n; i++) {
		is_int(l.v[i].start, T(starts[i]), "occurrence %zu at 09:00 "
		    "Berlin (%s)", i, starts[i]);
		is_int(l.v[i].end - l.v[i].start, 1800, "lasts 30 minutes");
		is_int(l.v[i].recurrence_id, l.v[i].start,
		    "recurrence id is the start");
	}
	if (l.n > 0) {
		is_str(l.v[0].summary, "Weekly stand-up", "summary");
		is_str(l.v[0].location, "Room 4", "location");
		is_int(l.v[0].sequence, 2, "sequence");
		ok(!l.v[0].all_day && !l.v[0].rapport_created &&
		    !l.v[0].transparent, "timed, busy, not ours");
	}
	event_list_free(&l);

	n = expand_file("dst_weekly.ics", "2026-03-25", "2026-04-07", &l,
	    err, sizeof(err));
	is_int(n, 2, "window keeps the two occurrences inside");
	event_list_free(&l);
	n = expand_file("dst_weekly.ics", "2026-03-23T08:29:00Z",
	    "2026-03-23T08:31:00Z", &l, err, sizeof(err));
	is_int(n, 1, "an occurrence overlapping the window's start counts");
	event_list_free(&l);
}

static void
test_vtimezone(void)
{
	static const char *starts[] = {
		"2026-03-26T08:00:00Z", "2026-03-27T08:00:00Z",
		"2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z",
		"2026-03-30T07:00:00Z",
	};
	struct event_list l;
	char err[256] = "";
	int n = expand_file("vtimezone.ics", "2026-03-01", "2026-05-01", &l,
	    err, sizeof(err));

	is_int(n, 5, "VTIMEZONE of the object (Windows name): COUNT=5");
	for (size_t i = 0; i < 5 && i < l.n; i++)
		is_int(l.v[i].start, T(starts[i]), "daily %zu at 09:00 local", i);
	event_list_free(&l);
}

/*
 * A VTIMEZONE of a built-in zone is dropped before libical parses the
 * object (the built-in zone reads the time anyway); one of a name we do
 * not know stays and serves its events.
 */
static void
test_vtimezone_dropped(void)
{
	static const char text[] =
	    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
	    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
	    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\n"
	    "DTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
	    "BEGIN:VTIMEZONE\r\nTZID:Custom Zone\r\n"
	    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\n"
	    "DTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
	    "BEGIN:VEVENT\r\nUID:berlin@t\r\nDTSTAMP:20260101T000000Z\r\n"
	    "DTSTART;TZID=Europe/Berlin:20260610T100000\r\nSUMMARY:B\r\n"
	    "END:VEVENT\r\n"
	    "BEGIN:VEVENT\r\nUID:custom@t\r\nDTSTAMP:20260101T000000Z\r\n"
	    "DTSTART;TZID=Custom Zone:20260610T100000\r\nSUMMARY:C\r\n"
	    "END:VEVENT\r\nEND:VCALENDAR\r\n";
	struct event_list l = { 0 };
	const struct event *e;
	char err[256] = "";

	is_int(ical_expand(text, sizeof(text) - 1, T("2026-01-01"),
	    T("2027-01-01"), "Europe/Berlin", &l, err, sizeof(err)), 2,
	    "two events beside two VTIMEZONEs");
	e = find(&l, "berlin@t", 0);
	is_int(e ? e->start : -1, T("2026-06-10T08:00:00Z"),
	    "Europe/Berlin read in the built-in zone, not the object's");
	e = find(&l, "custom@t", 0);
	is_int(e ? e->start : -1, T("2026-06-10T07:00:00Z"),
	    "an unknown TZID read in the object's VTIMEZONE, kept");
	event_list_free(&l);
}

static void
test_overrides(void)
{
	struct event_list l;
	const struct event *e;
	char err[256] = "";
	int n = expand_file("overrides.ics", "2026-05-01", "2026-05-20", &l,
	    err, sizeof(err));

	is_int(n, 4, "7 daily - 2 EXDATE - 1 moved away + moved + cancelled");
	ok(find(&l, "visit-series-1", T("2026-05-04T12:00:00Z")) != NULL,
	    "first instance kept");
	ok(find(&l, "visit-series-1", T("2026-05-05T12:00:00Z")) == NULL,
	    "EXDATE removes 5 May");
	ok(find(&l, "visit-series-1", T("2026-05-06T12:00:00Z")) == NULL,
	    "second EXDATE value removes 6 May");
	e = find(&l, "visit-series-1", T("2026-05-07T12:00:00Z"));
	ok(e != NULL, "moved occurrence present under its recurrence id");
	if (e) {
		is_int(e->start, T("2026-05-07T14:00:00Z"), "moved to 16:00");
		is_int(e->end, T("2026-05-07T15:00:00Z"), "override's own end");
		is_str(e->summary, "Customer visit (moved)", "override summary");
		is_int(e->sequence, 1, "override sequence");
		ok(e->organizer == NULL, "override properties not inherited");
	}
	e = find(&l, "visit-series-1", T("2026-05-08T12:00:00Z"));
	ok(e && e->status == EVENT_CANCELLED,
	    "cancelled override (RECURRENCE-ID in UTC) replaces the instance");
	ok(find(&l, "visit-series-1", T("2026-05-10T12:00:00Z")) == NULL,
	    "instance moved out of the window is gone");
	e = find(&l, "visit-series-1", T("2026-05-09T12:00:00Z"));
	ok(e && e->end - e->start == 3600 && e->status == EVENT_CONFIRMED,
	    "DURATION applies to master instances");
	if (e)
		is_str(e->organizer, "kim@example.com", "master organizer");
	event_list_free(&l);

	n = expand_file("overrides.ics", "2026-05-25", "2026-06-05", &l,
	    err, sizeof(err));
	is_int(n, 1, "override moved into a later window is emitted there");
	if (n == 1)
		is_int(l.v[0].recurrence_id, T("2026-05-10T12:00:00Z"),
		    "with the original start as recurrence id");
	event_list_free(&l);
}

static void
test_allday(void)
{
	struct event_list l;
	const struct event *e;
	char err[256] = "";
	int n = expand_file("allday.ics", "2026-03-01", "2026-05-01", &l,
	    err, sizeof(err));

	is_int(n, 2, "trade fair + one birthday");
	e = find(&l, "trade-fair-2026", 0);
	ok(e != NULL, "single all-day event has recurrence id 0");
	if (e) {
		ok(e->all_day && e->transparent, "all-day and free");
		is_int(e->start, T("2026-03-31T22:00:00Z"),
		    "starts at Berlin midnight");
		is_int(e->end, T("2026-04-02T22:00:00Z"), "two days long");
	}
	e = find(&l, "birthday-anna", T("2026-03-28T23:00:00Z"));
	ok(e != NULL, "yearly all-day from 1980 lands on 29 March 2026");
	if (e)
		is_int(e->end - e->start, 23 * 3600,
		    "DST day without DTEND: one local day (23 h)");
	event_list_free(&l);
}

static void
test_misc(void)
{
	struct event_list l;
	const struct event *e;
	char err[256] = "";
	int n = expand_file("misc.ics", "2026-04-01", "2026-04-03", &l, err,
	    sizeof(err));

	is_int(n, 5, "five single events");
	e = find(&l, "floating-1", 0);
	ok(e && e->start == T("2026-04-01T08:00:00Z") &&
	    e->end == T("2026-04-01T09:00:00Z"), "floating read in Berlin");
	ok(e && e->status == EVENT_TENTATIVE, "tentative");
	e = find(&l, "duration-1", 0);
	ok(e && e->end - e->start == 5400, "DURATION PT1H30M");
	e = find(&l, "nodtend-1", 0);
	ok(e && e->end == e->start && e->start == T("2026-04-01T15:00:00Z"),
	    "no DTEND: zero length");
	e = find(&l, "unknown-tz-1", 0);
	ok(e && e->start == T("2026-04-02T07:00:00Z") &&
	    e->end == T("2026-04-02T08:00:00Z"),
	    "unknown TZID read in the default zone");
	e = find(&l, "mozilla-prefix-1", 0);
	ok(e && e->start == T("2026-04-02T13:00:00Z"),
	    "prefixed TZID resolves to America/New_York");
	event_list_free(&l);
}

static void
test_attendees(void)
{
	struct event_list l;
	const struct event *e;
	char err[256] = "";
	int n = expand_file("attendees.ics", "2026-04-01", "2026-05-01", &l,
	    err, sizeof(err));

	is_int(n, 1, "one event");
	if (n != 1)
		return;
	e = &l.v[0];
	is_str(e->organizer, "kim.sales@example.com",
	    "organizer folded mid-mailto, lowercased");
	is_int(e->nattendees, 3, "three mail attendees (room urn skipped)");
	if (e->nattendees == 3) {
		is_str(e->attendees[0].addr, "jens.mueller@mueller-gmbh.de",
		    "folded attendee");
		is_str(e->attendees[0].name, "Jens Müller", "CN kept");
		ok(e->attendees[0].partstat == EVENT_PART_ACCEPTED, "accepted");
		is_str(e->attendees[1].addr, "bob@example.org",
		    "re-folded with an extra blank inside the address");
		ok(e->attendees[1].partstat == EVENT_PART_DECLINED &&
		    e->attendees[1].role == EVENT_ROLE_OPT, "declined, optional");
		ok(e->attendees[2].role == EVENT_ROLE_CHAIR &&
		    e->attendees[2].partstat == EVENT_PART_TENTATIVE &&
		    e->attendees[2].name == NULL, "chair, tentative, no CN");
	}
	is_int(event_declined_count(e), 1, "one declined");
	ok(e->rapport_created, "rapport- UID marks our own event");
	is_str(e->summary, "Visit: Müller GmbH", "UTF-8 summary");
	is_str(e->description, "Proposed by rapport.\nBring the catalogue.",
	    "description unescaped");
	event_list_free(&l);
}

static int
expand_str(const char *text, const char *from, const char *to,
    struct event_list *l, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	return ical_expand(text, strlen(text), T(from), T(to), "Europe/Berlin",
	    l, err, errlen);
}

static void
test_series_bounds(void)
{
	const char *minutely =
	    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:m\r\n"
	    "DTSTART:20260101T000000Z\r\nRRULE:FREQ=MINUTELY\r\n"
	    "END:VEVENT\r\nEND:VCALENDAR\r\n";
	const char *old_daily =
	    "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:d\n"
	    "DTSTART;TZID=Europe/Berlin:20000101T090000\nDURATION:PT15M\n"
	    "RRULE:FREQ=DAILY\nEND:VEVENT\nEND:VCALENDAR";
	struct event_list l;
	char err[256] = "";
	int n;

	n = expand_str(minutely, "2026-01-01", "2026-02-01", &l, err,
	    sizeof(err));
	is_int(n, ICAL_SERIES_MAX, "a series is capped");
	event_list_free(&l);
	n = expand_str(old_daily, "2026-03-28", "2026-04-01", &l, err,
	    sizeof(err));
	is_int(n, 4, "daily since 2000: only the window (LF lines, no final LF)");
	if (n == 4) {
		is_int(l.v[0].start, T("2026-03-28T08:00:00Z"), "28 March CET");
		is_int(l.v[1].start, T("2026-03-29T07:00:00Z"), "29 March CEST");
	}
	event_list_free(&l);
}

static void
test_broken(void)
{
	static const char *names[] = { "broken_nouid.ics", "broken_dtstart.ics" };
	struct event_list l;
	char err[256];
	int n;

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		err[0] = '\0';
		n = expand_file(names[i], "2026-01-01", "2027-01-01", &l, err,
		    sizeof(err));
		ok(n == -1 && l.n == 0 && err[0] && !strchr(err, '\n'),
		    "%s refused: %s", names[i], err);
		event_list_free(&l);
	}
	n = expand_str("", "2026-01-01", "2027-01-01", &l, err, sizeof(err));
	ok(n == -1, "empty text refused: %s", err);
	n = expand_str("hello\r\n", "2026-01-01", "2027-01-01", &l, err,
	    sizeof(err));
	ok(n == -1, "foreign text refused: %s", err);
	n = expand_str("BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:t\r\n"
	    "END:VTODO\r\nEND:VCALENDAR\r\n", "2026-01-01", "2027-01-01", &l,
	    err, sizeof(err));
	is_int(n, 0, "a VTODO yields nothing, without error");
	memset(&l, 0, sizeof(l));
	n = ical_expand("BEGIN:VCALENDAR\nEND:VCALENDAR\n", 30, 0, 1,
	    "Nowhere/Town", &l, err, sizeof(err));
	ok(n == -1, "unknown default zone refused: %s", err);
}

/* Every prefix of every fixture, and some flipped bytes: no crash, no
 * leak, and a cut object is never taken for a whole one. */
static void
test_fuzz(void)
{
	static const char *names[] = {
		"dst_weekly.ics", "vtimezone.ics", "overrides.ics",
		"allday.ics", "misc.ics", "attendees.ics",
	};
	size_t cut_ok = 0, cuts = 0, flips = 0;

	for (size_t f = 0; f < sizeof(names) / sizeof(*names); f++) {
		size_t len;
		char *text = slurp(names[f], &len), err[256];
		size_t end = len;

		while (end > 0 && (text[end - 1] == '\r' || text[end - 1] == '\n'))
			end--;
		/* Every byte of the last lines, every third before. */
		for (size_t cut = 0; cut < end; cut += cut + 200 < end ? 3 : 1) {
			struct event_list l = { 0 };
			int n = ical_expand(text, cut, T("2026-01-01"),
			    T("2027-01-01"), "Europe/Berlin", &l, err,
			    sizeof(err));

			cuts++;
			cut_ok += n == -1 && l.n == 0;
			event_list_free(&l);
		}
		srand(42 + (unsigned)f);
		for (int i = 0; i < 150; i++) {
			struct event_list l = { 0 };
			char *copy = xstrndup(text, len);

			for (int k = 0; k < 3; k++)
				copy[rand() % len] = (char)(rand() % 256);
			ical_expand(copy, len, T("2026-01-01"), T("2027-01-01"),
			    "Europe/Berlin", &l, err, sizeof(err));
			event_list_free(&l);
			free(copy);
			flips++;
		}
		free(text);
	}
	is_int(cut_ok, cuts, "all %zu truncations refused", cuts);
	ok(flips == 900, "%zu mutated objects parsed without a crash", flips);
}

int
main(void)
{
	if (ical_init() != 0) {
		printf("Bail out! no time zone data\n");
		return 1;
	}
	test_dst_weekly();
	test_vtimezone();
	test_vtimezone_dropped();
	test_overrides();
	test_allday();
	test_misc();
	test_attendees();
	test_series_bounds();
	test_broken();
	test_fuzz();
	ical_shutdown();
	return tap_done();
}
