#!/bin/bash
# The CalDAV connector against a private Radicale: discovery, the initial
# and incremental sync-collection (the data in the listing, no multiget),
# a deletion, a no-change re-sync in one request per calendar and nothing
# else (Radicale's getlastmodified; discovery remembered, found again
# after a day or when a calendar is gone), a recurring series with an EXDATE and a
# moved occurrence, an event across the DST change, a broken object
# skipped, a series gaining occurrences as the clock moves the window,
# links to customers (attendee and name rules), and TLS verification.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=SCRIPTDIR/../peers/lib.sh
. "$TOP_SRCDIR/tests/peers/lib.sh"
# shellcheck source=SCRIPTDIR/caldav_lib.sh
. "$TOP_SRCDIR/tests/integration/caldav_lib.sh"

# Radicale's log at info: the tests count its requests.
RADICALE_LOG_LEVEL=info caldav_start caldav
export RAPPORT_NOW=2026-04-01T00:00:00Z

conf=$T/rapport.conf
db=$T/rapport.db
write_config "$conf" "$db" "$RADICALE_URL"

reports() { grep -c "REPORT request for '/alice/" "$RADICALE_LOG"; }
requests() { grep -c " request for '" "$RADICALE_LOG"; }
# PROPFINDs of discovery in our trace (not the Depth-0 ones of a calendar)
discovery() { grep 'caldav: PROPFIND' "$T/once.err" | grep -vcE '/alice/[^/ ]+/ -> '; }
# settle: the calendars' files an hour old, as if nobody had touched them
# since: Radicale's getlastmodified of a calendar is their newest time,
# and rapportd trusts only one some seconds old (one-second resolution).
settle() {
	find "$RADICALE_STORAGE/collection-root/alice" -mindepth 1 -maxdepth 2 \
	    -exec touch -d "@$(($(date +%s) - 3600))" {} +
}

tap_ok "customer Dana added" ctl customer add --name 'Dana Scully' \
    --email dana@fbi.example
tap_ok "customer Fox added" ctl customer add --name 'Fox Mulder' \
    --email fox@fbi.example
cal=$(radicale_mkcalendar work 'Work') || tap_bail "MKCALENDAR"
radicale_mkcalendar tasks Tasks >/dev/null || tap_bail "MKCALENDAR tasks"

put() { radicale_put "$cal" "$1" || tap_bail "PUT $1"; }
put "$(ics meet1 meet1@test 'DTSTART:20260310T100000Z' 'Review' \
    'DTEND:20260310T110000Z\r\nORGANIZER:mailto:kim@example.com\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:Dana@FBI.example\r\n')"
put "$(ics lunch lunch@test 'DTSTART:20260312T120000Z' 'Lunch with fox mulder' \
    'DTEND:20260312T130000Z\r\n')"
put "$(ics office office@test 'DTSTART:20260313T090000Z' 'Office hours' \
    'DTEND:20260313T100000Z\r\nLOCATION:Dana Scully, Room 3\r\n')"
put "$(ics declined declined@test 'DTSTART:20260401T090000Z' 'Planning' \
    'ORGANIZER:mailto:kim@example.com\r\nATTENDEE;PARTSTAT=DECLINED:mailto:fox@fbi.example\r\n')"
# Weekly from Monday 16 March 09:00 Berlin: 23 March excluded, 30 March
# moved to Tuesday 31 March 14:00 (summer time by then).
{
	printf 'BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//rapport tests//EN\n'
	vtimezone_berlin
	cat <<'EOF'
BEGIN:VEVENT
UID:series@test
DTSTAMP:20260301T000000Z
DTSTART;TZID=Europe/Berlin:20260316T090000
DTEND;TZID=Europe/Berlin:20260316T100000
RRULE:FREQ=WEEKLY;COUNT=5
EXDATE;TZID=Europe/Berlin:20260323T090000
SUMMARY:Weekly with Fox
ATTENDEE:mailto:fox@fbi.example
END:VEVENT
BEGIN:VEVENT
UID:series@test
DTSTAMP:20260301T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20260330T090000
DTSTART;TZID=Europe/Berlin:20260331T140000
DTEND;TZID=Europe/Berlin:20260331T150000
SUMMARY:Weekly with Fox (moved)
ATTENDEE:mailto:fox@fbi.example
END:VEVENT
END:VCALENDAR
EOF
} >"$T/series.ics"
put "$T/series.ics"
# Sunday 29 March 2026, the night Berlin goes from UTC+1 to UTC+2.
put "$(ics dst dst@test 'DTSTART;TZID=Europe/Berlin:20260329T100000' 'After the change' \
    'DTEND;TZID=Europe/Berlin:20260329T110000\r\n')"
# Radicale accepts a 1,100-byte UID; ical_expand refuses it (EVENT_UID_MAX).
put "$(ics broken "$(printf 'x%.0s' $(seq 1100))@test" 'DTSTART:20260311T100000Z' 'Long UID')"

# ---- initial sync

# Radicale makes a calendar's cache folder at its first listing, which
# moves the calendar's time once: list them first, as another client
# would have done, so that what follows does not depend on it.
for c in work tasks; do
	radicale_curl -o /dev/null -X REPORT -H 'Depth: 1' \
	    -H 'Content-Type: application/xml; charset=utf-8' --data-binary \
	    '<?xml version="1.0"?><sync-collection xmlns="DAV:"><sync-token/><sync-level>1</sync-level><prop><getetag/></prop></sync-collection>' \
	    "${RADICALE_URL}alice/$c/" || tap_bail "REPORT $c"
done
settle
once; rc=$?
tap_is "initial --once succeeds" "$rc" 0 || cat "$T/once.err" >&2
tap_like "discovery starts at /.well-known/caldav" "$(cat "$T/once.err")" \
    'PROPFIND http://127.0.0.1:[0-9]+/.well-known/caldav'
tap_like "the Work calendar is found with sync-collection" \
    "$(cat "$T/once.err")" 'calendar=Work: /alice/work/, sync-collection'
tap_is "every good resource stored" \
    "$(q "SELECT count(DISTINCT href) FROM events WHERE calendar = '/alice/work/'")" 6
tap_like "the broken object is logged with its href" "$(cat "$T/once.err")" \
    'href=/alice/work/broken.ics: skipped'
tap_is "the broken object is not stored" \
    "$(q "SELECT count(*) FROM events WHERE href LIKE '%broken%'")" 0
tap_is "Review is linked to Dana as attendee" \
    "$(q "SELECT c.name || '|' || l.rule || '|' || l.detail FROM links l JOIN customers c ON c.id = l.customer_id JOIN events e ON e.id = l.object_id WHERE e.uid = 'meet1@test'")" \
    'Dana Scully|attendee:attendee|dana@fbi.example'
tap_is "the lunch is linked to Fox by name in the summary" \
    "$(q "SELECT c.name || '|' || l.rule FROM links l JOIN customers c ON c.id = l.customer_id JOIN events e ON e.id = l.object_id WHERE e.uid = 'lunch@test'")" \
    'Fox Mulder|name:summary'
tap_is "office hours are linked to Dana by location" \
    "$(q "SELECT c.name || '|' || l.rule FROM links l JOIN customers c ON c.id = l.customer_id JOIN events e ON e.id = l.object_id WHERE e.uid = 'office@test'")" \
    'Dana Scully|name:location'
tap_is "the declined attendee is recorded" \
    "$(q "SELECT a.partstat FROM event_attendees a JOIN events e ON e.id = a.event_id WHERE e.uid = 'declined@test'")" \
    DECLINED
tap_is "the sync-token is stored" \
    "$(q "SELECT count(*) FROM cursors WHERE connector = 'caldav' AND key = 'sync-token' AND collection = '/alice/work/'")" 1

# ---- recurrence and time zones

expect_series="$(utc 2026-03-16T08:00Z)|$(utc 2026-03-16T08:00Z)
$(utc 2026-03-30T07:00Z)|$(utc 2026-03-31T12:00Z)
$(utc 2026-04-06T07:00Z)|$(utc 2026-04-06T07:00Z)
$(utc 2026-04-13T07:00Z)|$(utc 2026-04-13T07:00Z)"
tap_is "the series: EXDATE gone, the moved occurrence moved, DST followed" \
    "$(q "SELECT recurrence_id || '|' || start_at FROM events WHERE uid = 'series@test' ORDER BY recurrence_id")" \
    "$expect_series"
tap_is "each occurrence is linked to Fox" \
    "$(q "SELECT count(*) FROM links l JOIN events e ON e.id = l.object_id AND l.object_kind = 'event' WHERE e.uid = 'series@test' AND l.rule = 'attendee:attendee'")" 4
tap_is "10:00 Berlin on the DST Sunday is 08:00 UTC" \
    "$(q "SELECT start_at || '|' || end_at FROM events WHERE uid = 'dst@test'")" \
    "$(utc 2026-03-29T08:00Z)|$(utc 2026-03-29T09:00Z)"

tap_is "one REPORT for all the data of Work: no multiget" \
    "$(grep -c 'caldav: REPORT http://[^ ]*/alice/work/' "$T/once.err")" 1
tap_like "the getlastmodified read before it is stored with the token" \
    "$(q "SELECT value FROM cursors WHERE connector = 'caldav' AND key = 'lastmod' AND collection = '/alice/work/'")" \
    '^[0-9]+ [0-9]+$'

# ---- no-change re-sync: one request per calendar

before=$(requests) before_rep=$(reports)
once; rc=$?
tap_is "no-change --once succeeds" "$rc" 0
tap_is "a no-change re-sync is one request per calendar, no REPORT (Radicale's log)" \
    "$(($(requests) - before))|$(($(reports) - before_rep))" "2|0"
tap_is "our trace agrees: a Depth-0 PROPFIND per calendar, no discovery" \
    "$(grep -c 'caldav: REPORT' "$T/once.err")|$(grep -cE 'caldav: PROPFIND [^ ]*/alice/(work|tasks)/ ' "$T/once.err")|$(discovery)" "0|2|0"
before_rep=$(reports)
RAPPORT_NOW=2026-04-01T01:00:01Z once
tap_is "an hour after the last REPORT, the REPORT is made anyway" \
    "$(($(reports) - before_rep))" 2
tap_is "the discovery is a cursor of the account" \
    "$(q "SELECT count(*) FROM cursors WHERE connector = 'caldav' AND collection = '' AND key = 'discovery' AND value LIKE '%/alice/work/%'")" 1

# ---- incremental: one added, one removed

RAPPORT_NOW=2026-04-01T01:00:02Z once
tap_is "then trusted again: one PROPFIND per calendar" \
    "$(grep -c 'caldav: REPORT' "$T/once.err")|$(grep -c 'caldav: PROPFIND' "$T/once.err")" "0|2"
put "$(ics meet2 meet2@test 'DTSTART:20260320T100000Z' 'Second review' \
    'ATTENDEE:mailto:dana@fbi.example\r\n')"
radicale_curl -o /dev/null -X DELETE "${cal}lunch.ics" || tap_bail "DELETE"
# Ahead of Radicale's clock: never "some seconds old" during this pass.
touch -d "@$(($(date +%s) + 30))" "$RADICALE_STORAGE/collection-root/alice/work"
before=$(reports)
RAPPORT_NOW=2026-04-01T01:00:03Z once; rc=$?
tap_is "incremental --once succeeds" "$rc" 0
tap_is "the new event is stored" \
    "$(q "SELECT count(*) FROM events WHERE uid = 'meet2@test'")" 1
tap_is "the deleted event is gone" \
    "$(q "SELECT count(*) FROM events WHERE uid = 'lunch@test'")" 0
tap_is "its links went with it" \
    "$(q "SELECT count(*) FROM links WHERE object_kind = 'event' AND object_id NOT IN (SELECT id FROM events)")" 0
tap_is "the rest is untouched" \
    "$(q "SELECT count(DISTINCT href) FROM events WHERE calendar = '/alice/work/'")" 6
tap_is "incremental: one sync-collection for Work (data inline), none for Tasks" \
    "$(($(reports) - before))" 1
tap_is "a getlastmodified not seconds older than the server's clock is not kept" \
    "$(q "SELECT value FROM cursors WHERE connector = 'caldav' AND key = 'lastmod' AND collection = '/alice/work/'")" ''

# ---- a changed event keeps its row id (follow-ups key on it)

id_before=$(q "SELECT id FROM events WHERE uid = 'meet2@test'")
# Fox instead of Dana: the row is updated, not new, so its attendees and
# links are replaced (store_event.c clears them only for existing rows).
put "$(ics meet2 meet2@test 'DTSTART:20260320T110000Z' 'Second review later' \
    'ATTENDEE:mailto:fox@fbi.example\r\n')"
once
tap_is "a changed event is updated in place" \
    "$(q "SELECT id || '|' || start_at || '|' || summary FROM events WHERE uid = 'meet2@test'")" \
    "$id_before|$(utc 2026-03-20T11:00Z)|Second review later"
tap_is "its attendees are replaced" \
    "$(q "SELECT group_concat(a.address) FROM event_attendees a JOIN events e ON e.id = a.event_id WHERE e.uid = 'meet2@test'")" \
    'fox@fbi.example'
tap_is "and its links" \
    "$(q "SELECT group_concat(c.name) FROM links l JOIN customers c ON c.id = l.customer_id JOIN events e ON e.id = l.object_id AND l.object_kind = 'event' WHERE e.uid = 'meet2@test'")" \
    'Fox Mulder'

# ---- a token the server refuses: full listing

q "UPDATE cursors SET value = 'http://radicale.org/ns/sync/bogus' WHERE key = 'sync-token' AND collection = '/alice/work/'"
radicale_curl -o /dev/null -X DELETE "${cal}office.ics" || tap_bail "DELETE"
once; rc=$?
tap_is "a refused sync-token falls back to a full listing" "$rc" 0
tap_like "the fallback is logged" "$(cat "$T/once.err")" 'sync-token refused'
tap_is "the full listing removes what the server lost" \
    "$(q "SELECT count(*) FROM events WHERE uid = 'office@test'")" 0
tap_is "and keeps the rest" \
    "$(q "SELECT count(DISTINCT href) FROM events WHERE calendar = '/alice/work/'")" 5

# ---- discovery again: after a day, or when a calendar moved or went

radicale_mkcalendar extra 'Extra' >/dev/null || tap_bail "MKCALENDAR extra"
once
tap_is "within the day, the remembered calendars are synced, no discovery" \
    "$(discovery)|$(grep -c 'caldav: [A-Z]* [^ ]*/alice/work/ ' "$T/once.err" | sed 's/[1-9][0-9]*/some/')" "0|some"
RAPPORT_NOW=2026-04-02T01:00:00Z once; rc=$?
tap_is "a day later --once succeeds" "$rc" 0
tap_like "a day later discovery is done again and finds the new calendar" \
    "$(cat "$T/once.err")" 'calendar=Extra: /alice/extra/, sync-collection'
radicale_curl -o /dev/null -X DELETE "${RADICALE_URL}alice/extra/" ||
    tap_bail "DELETE extra"
settle
RAPPORT_NOW=2026-04-02T02:00:00Z once; rc=$?
tap_is "a calendar gone: --once still succeeds" "$rc" 0
tap_like "the 404 is taken as a moved calendar" "$(cat "$T/once.err")" \
    'calendar=Extra: HTTP 404 .*discovering again'
tap_is "discovery is done again in the same pass, Extra no longer watched" \
    "$(discovery)|$(q "SELECT value LIKE '%extra%' FROM cursors WHERE key = 'discovery'")" "4|0"
before=$(requests)
RAPPORT_NOW=2026-04-02T02:30:00Z once
tap_is "and the next pass is one request per calendar again" \
    "$(($(requests) - before))" 2

# rediscover = 1h: a new calendar is seen after an hour, not a day.
write_config "$conf" "$db" "$RADICALE_URL" 'rediscover = 1h'
RAPPORT_NOW=2026-04-02T03:10:00Z once
tap_is "rediscover = 1h: a discovery of 02:00 is too old at 03:10" \
    "$(discovery)" 4
radicale_mkcalendar extra2 'Extra2' >/dev/null || tap_bail "MKCALENDAR extra2"
RAPPORT_NOW=2026-04-02T03:40:00Z once
tap_is "rediscover = 1h: within the hour, no discovery" \
    "$(discovery)" 0
RAPPORT_NOW=2026-04-02T04:11:00Z once
tap_like "rediscover = 1h: an hour later the new calendar is found" \
    "$(cat "$T/once.err")" 'calendar=Extra2: /alice/extra2/'
radicale_curl -o /dev/null -X DELETE "${RADICALE_URL}alice/extra2/" ||
    tap_bail "DELETE extra2"
write_config "$conf" "$db" "$RADICALE_URL"
RAPPORT_NOW=2026-04-02T04:12:00Z once

# ---- the window moves with the clock; sync-collection reports nothing

put "$(ics weekly weekly@test 'DTSTART:20260406T090000Z' 'Weekly with Dana' \
    'DTEND:20260406T093000Z\r\nRRULE:FREQ=WEEKLY\r\nATTENDEE:mailto:dana@fbi.example\r\n')"
RAPPORT_NOW=2026-04-02T04:13:00Z once
# weekly_in FROM TO: "count|first|last" of its Mondays in [FROM, TO).
weekly_in() {
	q "WITH RECURSIVE w(t) AS (SELECT $(utc 2026-04-06T09:00Z) UNION ALL SELECT t + 604800 FROM w WHERE t + 604800 < $(utc "$2")) SELECT count(*) || '|' || min(t) || '|' || max(t) FROM w WHERE t + 1800 > $(utc "$1")"
}
tap_is "a weekly series is expanded to the window's end" \
    "$(occurrences weekly@test)" \
    "$(weekly_in 2025-04-02T04:13Z 2027-04-02T04:13Z)"
ids_kept=$(q "SELECT group_concat(id) FROM (SELECT id FROM events WHERE uid = 'weekly@test' ORDER BY recurrence_id)")
settle
before=$(reports)
RAPPORT_NOW=2026-10-02T05:00:00Z once; rc=$?
tap_is "six months later, nothing changed on the server: --once succeeds" \
    "$rc" 0
tap_is "the series gained the occurrences of the moved window" \
    "$(occurrences weekly@test)" \
    "$(weekly_in 2025-10-02T05:00Z 2027-10-02T05:00Z)"
tap_is "none twice, the old ones kept their row ids" \
    "$(q "SELECT count(*) - count(DISTINCT recurrence_id) FROM events WHERE uid = 'weekly@test'")|$(q "SELECT group_concat(id) FROM (SELECT id FROM events WHERE uid = 'weekly@test' AND start_at < $(utc 2027-04-02T04:13Z) ORDER BY recurrence_id)")" \
    "0|$ids_kept"
tap_is "per calendar: sync-collection and the time-range query; one multiget" \
    "$(($(reports) - before))" 5
tap_is "the window cursor moved" \
    "$(q "SELECT value FROM cursors WHERE key = 'window' AND collection = '/alice/work/'")" \
    "$(($(utc 2026-10-02T05:00Z) + 365 * 86400))"
before=$(requests)
RAPPORT_NOW=2026-10-02T05:30:00Z once
tap_is "half an hour later (within the hourly REPORT), one request per calendar again" \
    "$(($(requests) - before))" 2

# ---- which calendars

write_config "$T/only.conf" "$T/only.db" "$RADICALE_URL" 'calendars = Tasks'
once "$T/only.conf"
tap_is "calendars = Tasks watches only that one" \
    "$(sqlite3 "$T/only.db" "SELECT count(*) FROM events")|$(grep -c 'caldav: REPORT' "$T/once.err")" \
    "0|1"

# ---- TLS

radicale_stop
radicale_start alice secret --tls || tap_bail "radicale --tls does not start"
write_config "$T/tls.conf" "$T/tls.db" "$RADICALE_URL"
once "$T/tls.conf"; rc=$?
tap_not "an unknown CA is refused" test "$rc" -eq 0
tap_like "the refusal says why" "$(cat "$T/once.err")" 'certificate refused'
write_config "$T/tls.conf" "$T/tls.db" "$RADICALE_URL" "ca_file = $PEERS_CA_FILE"
once "$T/tls.conf"; rc=$?
tap_is "with ca_file the https server is trusted" "$rc" 0
tap_is "and the calendar syncs" \
    "$(sqlite3 "$T/tls.db" "SELECT count(DISTINCT href) FROM events")" 6
write_config "$T/tls.conf" "$T/tls.db" "$RADICALE_URL" \
    "ca_file = $PEERS_OTHER_CA_FILE"
once "$T/tls.conf"; rc=$?
tap_not "a CA that did not sign the server is refused" test "$rc" -eq 0

tap_done
