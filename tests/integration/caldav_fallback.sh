#!/bin/bash
# The CalDAV connector where sync-collection is not offered: a proxy in
# front of Radicale (tests/peers/dav-proxy.py) hides it, so the connector
# takes the getctag / getetag listing / calendar-multiget path.  Discovery
# through the proxy, the initial sync, a no-change re-sync in exactly one
# request (the getctag PROPFIND), an addition, a change and a deletion
# all seen on the next run, a broken object skipped, a failed listing
# leaving the cursor where it was; the window of recurring events moving
# with the clock when nothing changed on the server; visit retractions
# when the server fails (kept, retried, done once it is back); and a
# customer forgotten while the PUT of their proposal was on the wire.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=SCRIPTDIR/../peers/lib.sh
. "$TOP_SRCDIR/tests/peers/lib.sh"
# shellcheck source=SCRIPTDIR/caldav_lib.sh
. "$TOP_SRCDIR/tests/integration/caldav_lib.sh"

caldav_start fallback
dav_proxy_start || tap_bail "dav-proxy does not start"
export RAPPORT_NOW=2026-04-01T00:00:00Z

conf=$T/rapport.conf
db=$T/rapport.db
# The account goes through the proxy.
write_config "$conf" "$db" "$DAV_PROXY_URL"

# The proxy's record of the requests since mark.
mark() { mark_at=$(dav_proxy_count); }
since() { tail -n +$((mark_at + 1)) "$DAV_PROXY_LOG"; }
nsince() { since | grep -c "${1:-.}"; }
# The calendar's getctag as the server says it now.
ctag_now() {
	radicale_curl -X PROPFIND -H 'Depth: 0' --data-binary \
	    '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/></d:prop></d:propfind>' \
	    "$1" | grep -o 'getctag>[^<][^<]*<' | sed 's/^getctag>//; s/<$//'
}

tap_ok "customer Dana added" ctl customer add --name 'Dana Scully' \
    --email dana@fbi.example
tap_ok "customer Fox added" ctl customer add --name 'Fox Mulder' \
    --email fox@fbi.example
cal=$(radicale_mkcalendar work 'Work') || tap_bail "MKCALENDAR"
put() { radicale_put "$cal" "$1" || tap_bail "PUT $1"; }
put "$(ics meet1 meet1@test 'DTSTART:20260310T100000Z' 'Review' \
    'DTEND:20260310T110000Z\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:dana@fbi.example\r\n')"
put "$(ics lunch lunch@test 'DTSTART:20260312T120000Z' 'Lunch' \
    'DTEND:20260312T130000Z\r\nATTENDEE:mailto:fox@fbi.example\r\n')"
put "$(ics office office@test 'DTSTART:20260313T090000Z' 'Office hours' \
    'DTEND:20260313T100000Z\r\nATTENDEE:mailto:dana@fbi.example\r\n')"
# Weekly on Mondays with Fox, from 2 March 2026, no end.
put "$(ics weekly weekly@test 'DTSTART:20260302T090000Z' 'Weekly with Fox' \
    'DTEND:20260302T093000Z\r\nRRULE:FREQ=WEEKLY\r\nATTENDEE:mailto:fox@fbi.example\r\n')"
# Beyond the window of the first sync (a year ahead): not stored yet.
put "$(ics far far@test 'DTSTART:20270601T100000Z' 'Far ahead' \
    'DTEND:20270601T110000Z\r\nATTENDEE:mailto:dana@fbi.example\r\n')"
# Radicale accepts a 1,100-byte UID; ical_expand refuses it.
put "$(ics broken "$(printf 'x%.0s' $(seq 1100))@test" 'DTSTART:20260311T100000Z' 'Long UID')"

# ---- discovery and the initial sync, through the proxy

mark
once; rc=$?
tap_is "initial --once through the proxy succeeds" "$rc" 0 ||
    cat "$T/once.err" >&2
tap_like "the calendar is found without sync-collection" \
    "$(cat "$T/once.err")" 'calendar=Work: /alice/work/, ctag/etag listing'
tap_is "no sync-collection was asked for" \
    "$(nsince 'report=sync-collection')" 0
# Discovery no longer asks getctag (Radicale reads every file of every
# calendar for it): the first pass asks the calendar itself, one request.
tap_is "the first pass asks the calendar's getctag itself" \
    "$(nsince 'PROPFIND /alice/work/ depth=0')" 1
tap_is "the events came by calendar-multiget" \
    "$(nsince 'REPORT /alice/work/ depth=1 report=calendar-multiget status=207')" 1
tap_is "every good resource stored" \
    "$(q "SELECT count(DISTINCT href) FROM events WHERE calendar = '/alice/work/'")" 4
tap_like "the broken object is logged with its href" "$(cat "$T/once.err")" \
    'href=/alice/work/broken.ics: skipped'
tap_is "the broken object is not stored" \
    "$(q "SELECT count(*) FROM events WHERE href LIKE '%broken%'")" 0
tap_is "the ctag is the calendar's cursor" \
    "$(q "SELECT value FROM cursors WHERE connector = 'caldav' AND collection = '/alice/work/' AND key = 'ctag'")" \
    "$(ctag_now "$cal")"
tap_is "no sync-token cursor" \
    "$(q "SELECT count(*) FROM cursors WHERE key = 'sync-token'")" 0
# weekly_expect NOW: the Mondays 09:00 (from 2 March 2026) of the
# window [NOW - 365 d, NOW + 365 d), as "count|first|last".
weekly_expect() {
	local now
	now=$(utc "$1")
	q "WITH RECURSIVE w(t) AS (SELECT $(utc 2026-03-02T09:00Z) UNION ALL SELECT t + 604800 FROM w WHERE t + 604800 < $now + 365 * 86400) SELECT count(*) || '|' || min(t) || '|' || max(t) FROM w WHERE t + 1800 > $now - 365 * 86400"
}
tap_is "the weekly series is expanded a year ahead" \
    "$(occurrences weekly@test)" \
    "$(weekly_expect 2026-04-01T00:00Z)"
tap_is "the event beyond the window is not stored" \
    "$(q "SELECT count(*) FROM events WHERE uid = 'far@test'")" 0
tap_is "the window's end is a cursor" \
    "$(q "SELECT value FROM cursors WHERE key = 'window' AND collection = '/alice/work/'")" \
    "$(($(utc 2026-04-01T00:00Z) + 365 * 86400))"

# ---- no change: one request, the getctag PROPFIND

mark
once; rc=$?
tap_is "no-change --once succeeds" "$rc" 0
tap_is "a no-change re-sync is exactly one request" "$(nsince)" 1
tap_like "and it is the getctag PROPFIND of the calendar" "$(since)" \
    '^PROPFIND /alice/work/ depth=0 report=- status=207$'

# ---- one added, one changed, one deleted

id_meet1=$(q "SELECT id FROM events WHERE uid = 'meet1@test'")
put "$(ics meet2 meet2@test 'DTSTART:20260320T100000Z' 'Second review' \
    'DTEND:20260320T110000Z\r\nATTENDEE:mailto:dana@fbi.example\r\n')"
put "$(ics meet1 meet1@test 'DTSTART:20260310T140000Z' 'Review (later)' \
    'DTEND:20260310T150000Z\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:dana@fbi.example\r\n')"
radicale_curl -o /dev/null -X DELETE "${cal}lunch.ics" || tap_bail "DELETE"
mark
once; rc=$?
tap_is "incremental --once succeeds" "$rc" 0 || cat "$T/once.err" >&2
tap_is "the added event is stored" \
    "$(q "SELECT summary FROM events WHERE uid = 'meet2@test'")" 'Second review'
tap_is "the changed event is updated in place" \
    "$(q "SELECT id || '|' || start_at || '|' || summary FROM events WHERE uid = 'meet1@test'")" \
    "$id_meet1|$(utc 2026-03-10T14:00Z)|Review (later)"
tap_is "the deleted event is gone, its links too" \
    "$(q "SELECT count(*) FROM events WHERE uid = 'lunch@test'")|$(q "SELECT count(*) FROM links WHERE object_kind = 'event' AND object_id NOT IN (SELECT id FROM events)")" \
    "0|0"
tap_is "requests: getctag, etag listing, one multiget" \
    "$(since | cut -d' ' -f1-4 | tr '\n' ';')" \
    'PROPFIND /alice/work/ depth=0 report=-;REPORT /alice/work/ depth=1 report=calendar-query;REPORT /alice/work/ depth=1 report=calendar-multiget;'
tap_like "the broken object is skipped again, the rest synced" \
    "$(cat "$T/once.err")" 'href=/alice/work/broken.ics: skipped'
tap_is "cursor and data agree: the ctag is the server's" \
    "$(q "SELECT value FROM cursors WHERE key = 'ctag' AND collection = '/alice/work/'")" \
    "$(ctag_now "$cal")"
out=$(ctl timeline dana@fbi.example)
tap_like "Dana's timeline has the changed and the added meeting" "$out" \
    'Review \(later\)'
tap_like "and the added one" "$out" 'Second review'
tap_is "Fox's timeline has no lunch" \
    "$(ctl timeline fox@fbi.example | grep -c 'Lunch')" 0

mark
once
tap_is "then no change again: one request" "$(nsince)" 1

# ---- a listing that fails leaves the cursor where it was

put "$(ics meet3 meet3@test 'DTSTART:20260325T100000Z' 'Third review' \
    'DTEND:20260325T110000Z\r\nATTENDEE:mailto:dana@fbi.example\r\n')"
old_ctag=$(q "SELECT value FROM cursors WHERE key = 'ctag' AND collection = '/alice/work/'")
dav_proxy_fail 503 REPORT
once; rc=$?
dav_proxy_ok
tap_not "a failing etag listing fails the run" test "$rc" -eq 0
tap_is "the cursor did not move, nothing half-stored" \
    "$(q "SELECT value FROM cursors WHERE key = 'ctag' AND collection = '/alice/work/'")|$(q "SELECT count(*) FROM events WHERE uid = 'meet3@test'")" \
    "$old_ctag|0"
once; rc=$?
tap_is "the next run takes the change" \
    "$rc|$(q "SELECT count(*) FROM events WHERE uid = 'meet3@test'")|$(q "SELECT value FROM cursors WHERE key = 'ctag' AND collection = '/alice/work/'")" \
    "0|1|$(ctag_now "$cal")"

# ---- the window moves with the clock; nothing changes on the server

export RAPPORT_NOW=2026-04-01T20:00:00Z
mark
once
tap_is "less than a day later: still one request" "$(nsince)" 1
ids_kept=$(q "SELECT group_concat(id || ':' || recurrence_id) FROM (SELECT id, recurrence_id FROM events WHERE uid = 'weekly@test' AND start_at >= $(utc 2025-10-01T00:00Z) ORDER BY recurrence_id)")
export RAPPORT_NOW=2026-10-01T00:00:00Z
mark
once; rc=$?
tap_is "six months later --once succeeds" "$rc" 0 || cat "$T/once.err" >&2
tap_is "the weekly series has its occurrences of the moved window" \
    "$(occurrences weekly@test)" "$(weekly_expect 2026-10-01T00:00Z)"
tap_is "no occurrence twice" \
    "$(q "SELECT count(*) - count(DISTINCT recurrence_id) FROM events WHERE uid = 'weekly@test'")" 0
tap_is "occurrences still in the window kept their row ids" \
    "$(q "SELECT group_concat(id || ':' || recurrence_id) FROM (SELECT id, recurrence_id FROM events WHERE uid = 'weekly@test' AND start_at >= $(utc 2025-10-01T00:00Z) AND start_at < $(utc 2027-04-01T00:00Z) ORDER BY recurrence_id)")" \
    "$ids_kept"
tap_is "the new ones are linked to Fox" \
    "$(q "SELECT count(*) FROM events e JOIN links l ON l.object_kind = 'event' AND l.object_id = e.id WHERE e.uid = 'weekly@test' AND e.start_at > $(utc 2027-04-01T00:00Z)")" \
    "$(q "SELECT count(*) FROM events WHERE uid = 'weekly@test' AND start_at > $(utc 2027-04-01T00:00Z)")"
tap_is "the single event the window reached is stored" \
    "$(q "SELECT start_at FROM events WHERE uid = 'far@test'")" \
    "$(utc 2027-06-01T10:00Z)"
# The pass discovered again (a day passed); discovery no longer carries
# the getctag, so the calendar's own getctag PROPFIND comes first.
tap_is "requests (discovery apart, a day passed): getctag, the time-range query, one multiget" \
    "$(since | grep ' /alice/work/ ' | cut -d' ' -f1-4 | tr '\n' ';')" \
    'PROPFIND /alice/work/ depth=0 report=-;REPORT /alice/work/ depth=1 report=calendar-query;REPORT /alice/work/ depth=1 report=calendar-multiget;'
tap_is "the window cursor moved with it, the ctag is unchanged" \
    "$(q "SELECT value FROM cursors WHERE key = 'window' AND collection = '/alice/work/'")|$(q "SELECT value FROM cursors WHERE key = 'ctag' AND collection = '/alice/work/'")" \
    "$(($(utc 2026-10-01T00:00Z) + 365 * 86400))|$(ctag_now "$cal")"
mark
once
tap_is "and the next run is one request again" "$(nsince)" 1
# The same state as a first sync at this time would make.
write_config "$T/fresh.conf" "$T/fresh.db" "$DAV_PROXY_URL"
once "$T/fresh.conf"
tap_is "the same occurrences as a fresh sync at the new time" \
    "$(q "SELECT group_concat(uid || '@' || recurrence_id || '=' || start_at, ' ') FROM (SELECT * FROM events WHERE start_at >= $(utc 2025-10-01T00:00Z) ORDER BY uid, recurrence_id)")" \
    "$(sqlite3 -batch -noheader "$T/fresh.db" "SELECT group_concat(uid || '@' || recurrence_id || '=' || start_at, ' ') FROM (SELECT * FROM events ORDER BY uid, recurrence_id)")"

# ---- visit retractions when the server fails

radicale_mkcalendar visits Visits >/dev/null || tap_bail "MKCALENDAR visits"
origin=${RADICALE_URL%/}
planning="planning_calendar = Visits

[visits]
cadence = A:30d B:90d C:365d
hours = Mon-Fri 09:00-17:00
length = 1h
horizon = 14d
per_day = 3"
write_config "$conf" "$db" "$DAV_PROXY_URL" "$planning"
tap_ok "Gil added (tier A)" ctl customer add --name 'Gil Gruen' \
    --email gil@gruen.example --tier A
tap_ok "Ivy added (tier A)" ctl customer add --name 'Ivy Iser' \
    --email ivy@iser.example --tier A
export RAPPORT_NOW=2026-11-09T08:00:00Z
once; rc=$?
tap_is "visits proposed through the proxy" \
    "$rc|$(q "SELECT count(*) FROM visit_proposals WHERE state = 'proposed'")|$(grep -c "PUT .*(If-None-Match: \*) -> 201" "$T/once.err")" \
    "0|2|2"
prop_href() { q "SELECT p.href FROM visit_proposals p JOIN customers c ON c.id = p.customer_id WHERE c.name = '$1'"; }
gil_href=$(prop_href 'Gil Gruen')
gil_uid=$(q "SELECT p.uid FROM visit_proposals p JOIN customers c ON c.id = p.customer_id WHERE c.name = 'Gil Gruen'")
tap_ok "forget Gil" ctl customer forget --yes gil@gruen.example
tap_is "one retraction pending" \
    "$(q "SELECT uid || '|' || href FROM visit_retractions")" "$gil_uid|$gil_href"

dav_proxy_fail 503 DELETE
once; rc=$?
tap_is "DELETE answered 503: the run still succeeds" "$rc" 0 ||
    cat "$T/once.err" >&2
tap_is "the retraction stays pending, the event on the server" \
    "$(q "SELECT count(*) FROM visit_retractions")|$(http_code "$origin$gil_href")" "1|200"
tap_like "logged, by UID, as retried" "$(cat "$T/once.err")" \
    "uid=$gil_uid: DELETE: HTTP 503; retried on the next run"

dav_proxy_fail 0 DELETE
once; rc=$?
tap_is "DELETE without an answer (connection dropped): the run succeeds" \
    "$rc" 0
tap_is "the retraction stays pending" \
    "$(q "SELECT count(*) FROM visit_retractions")|$(http_code "$origin$gil_href")|$(dav_proxy_count '^DELETE .* status=0$')" \
    "1|200|1"
tap_like "logged as retried" "$(cat "$T/once.err")" \
    "uid=$gil_uid: DELETE: .*; retried on the next run"
dav_proxy_ok

proxy_port=$DAV_PROXY_PORT
dav_proxy_stop
once; rc=$?
tap_not "the server unreachable: the run fails" test "$rc" -eq 0
tap_is "the retraction stays pending" \
    "$(q "SELECT count(*) FROM visit_retractions")" 1
tap_like "the failure is logged" "$(cat "$T/once.err")" \
    'caldav account=work: .*(onnect|refused)'

dav_proxy_start "$RADICALE_URL" "$proxy_port" ||
    tap_bail "dav-proxy does not start again"
mark
once; rc=$?
tap_is "the server back: the run succeeds" "$rc" 0 || cat "$T/once.err" >&2
tap_is "the event is deleted, conditionally, and the retraction done" \
    "$(http_code "$origin$gil_href")|$(nsince '^DELETE /alice/visits/.* status=20[04]$')|$(grep -c "DELETE .*(If-Match) -> 20[04]" "$T/once.err")|$(q "SELECT count(*) FROM visit_retractions")" \
    "404|1|1|0"
tap_like "logged as withdrawn" "$(cat "$T/once.err")" \
    "uid=$gil_uid: visit proposal of a forgotten customer withdrawn"
tap_is "no log line and no event names Gil" \
    "$(grep -c 'Gil' "$T/once.err")|$(q "SELECT count(*) FROM events WHERE summary LIKE '%Gil%'")" \
    "0|0"

# ---- a retraction the user's edit answers with 412

ivy_href=$(prop_href 'Ivy Iser')
radicale_curl "$origin$ivy_href" |
    sed -e 's/^SUMMARY:.*/SUMMARY:Visit: Ivy (bring the contract)\r/' >"$T/ivy.ics"
radicale_put "$origin${ivy_href%/*}/" "$T/ivy.ics" "${ivy_href##*/}" ||
    tap_bail "edit Ivy's proposal"
ivy_etag=$(etag "$origin$ivy_href")
tap_ok "forget Ivy" ctl customer forget --yes ivy@iser.example
once; rc=$?
tap_is "the user's edit is kept, the retraction dropped" \
    "$rc|$(http_code "$origin$ivy_href")|$(etag "$origin$ivy_href")|$(q "SELECT count(*) FROM visit_retractions")" \
    "0|200|$ivy_etag|0"
tap_like "with a notice" "$(cat "$T/once.err")" \
    'DELETE .*\(If-Match\) -> 412'
tap_like "that says why" "$(cat "$T/once.err")" \
    'visit proposal of a forgotten customer changed by the user since; left to them'

# ---- a customer forgotten while the PUT of their proposal is on the wire

export RAPPORT_NOW=2026-10-15T00:00:00Z
tap_ok "Hal added (tier A)" ctl customer add --name 'Hal Horn' \
    --email hal@horn.example --tier A
hal_id=$(q "SELECT id FROM customers WHERE name = 'Hal Horn'")
export RAPPORT_NOW=2026-11-16T08:00:00Z
dav_proxy_fail hold PUT
"$RAPPORTD" -c "$conf" --once -T caldav 2>"$T/race.err" &
race_pid=$!
if wait_until 60 dav_proxy_held; then
	tap_pass "the proposal's PUT is on the wire"
else
	tap_fail "the proposal's PUT is on the wire"
fi
tap_ok "forget Hal meanwhile" ctl customer forget --yes hal@horn.example
dav_proxy_ok
wait "$race_pid"; rc=$?
tap_is "the run succeeds, its PUT made the event" \
    "$rc|$(grep -c "PUT .*rapport-visit-$hal_id-.*(If-None-Match: \*) -> 201" "$T/race.err")" \
    "0|1"
tap_is "no proposal recorded for the forgotten customer" \
    "$(q "SELECT count(*) FROM visit_proposals WHERE uid LIKE 'rapport-visit-$hal_id-%'")" 0
tap_is "a retraction recorded in its place" \
    "$(q "SELECT count(*) FROM visit_retractions WHERE uid LIKE 'rapport-visit-$hal_id-%'")" 1
tap_like "with a notice by UID" "$(cat "$T/race.err")" \
    "uid=rapport-visit-$hal_id-[0-9]+@example.com: customer forgotten while the proposal was being written"
hal_href=$(q "SELECT href FROM visit_retractions WHERE uid LIKE 'rapport-visit-$hal_id-%'")
tap_is "the event is on the server until the next run" \
    "$(http_code "$origin$hal_href")" 200
once; rc=$?
tap_is "the next run deletes it" \
    "$rc|$(http_code "$origin$hal_href")|$(q "SELECT count(*) FROM visit_retractions")" \
    "0|404|0"
tap_is "nothing names Hal: no event, no log line" \
    "$(q "SELECT count(*) FROM events WHERE summary LIKE '%Horn%'")|$(cat "$T/race.err" "$T/once.err" | grep -c 'Horn')" \
    "0|0"
once
tap_is "and no proposal is made for him again" \
    "$(q "SELECT count(*) FROM visit_proposals")|$(grep -c 'PUT ' "$T/once.err")" "0|0"

tap_done
