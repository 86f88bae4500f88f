#!/bin/bash
# Visit proposals written back to the planning calendar of a private
# Radicale: overdue customers get tentative events in free slots (busy
# events in another calendar avoided, transparent and cancelled ones not
# busy, working hours, buffers, per_day), a second run writes nothing, a
# proposal the user moves stays where they put it, one they delete is not
# proposed again, an event the user made is never touched, a forgotten
# customer's future proposals leave the server unless the user changed
# them, and `rapportctl visits --json` tells who is overdue and what was
# proposed.
# shellcheck disable=SC2119 # once's CONF is optional; $conf here
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=SCRIPTDIR/../peers/lib.sh
. "$TOP_SRCDIR/tests/peers/lib.sh"
# shellcheck source=SCRIPTDIR/caldav_lib.sh
. "$TOP_SRCDIR/tests/integration/caldav_lib.sh"

# Radicale's log at info: the tests count its PUTs.
RADICALE_LOG_LEVEL=info caldav_start visits
conf=$T/rapport.conf
db=$T/rapport.db
write_config "$conf" "$db" "$RADICALE_URL" "planning_calendar = Visits

[visits]
cadence = A:30d B:90d C:365d
hours = Mon-Fri 09:00-17:00
length = 1h
buffer = 30m
horizon = 14d
per_day = 2"
ics_dtstamp=20261101T000000Z

puts() { grep -c "PUT request for '/alice/visits/" "$RADICALE_LOG"; }
# The planning calendar's resources as Radicale stores them.
vdir=$RADICALE_STORAGE/collection-root/alice/visits
ours() { ls "$vdir" 2>/dev/null | grep -c '^rapport-visit-'; }

# ---- customers, created long before the run

export RAPPORT_NOW=2026-09-01T10:00:00Z
tap_ok "Anna added (tier A, company)" ctl customer add --name 'Anna Adler' \
    --email anna@acme.example --tier A --company 'Acme GmbH'
tap_ok "Ben added (tier A)" ctl customer add --name 'Ben Berger' \
    --email ben@berger.example --tier A
tap_ok "Cleo added (tier A)" ctl customer add --name 'Cleo Conrad' \
    --email cleo@conrad.example --tier A
tap_ok "Dora added (tier B)" ctl customer add --name 'Dora Dietz' \
    --email dora@dietz.example --tier B
tap_ok "Eve added (tier A, visited lately)" ctl customer add \
    --name 'Eve Engel' --email eve@engel.example --tier A
tap_ok "Finn added (tier C)" ctl customer add --name 'Finn Fuchs' \
    --email finn@fuchs.example --tier C
ctl customer add --name 'Gus Graf' --email gus@graf.example >/dev/null ||
    tap_bail "Gus"

work=$(radicale_mkcalendar work Work) || tap_bail "MKCALENDAR work"
plan=$(radicale_mkcalendar visits Visits) || tap_bail "MKCALENDAR visits"
put() { radicale_put "$1" "$2" || tap_bail "PUT $2"; }
# Monday 7 December 2026, 09:00 in Berlin.  Tuesday 09:00-12:00 is busy;
# Tuesday afternoon has a free (transparent) event, Wednesday a
# cancelled one and one the user declined: none of those is busy.
put "$work" "$(ics_span busy.ics busy@test 20261208T080000Z 20261208T110000Z 'Board meeting')"
put "$work" "$(ics_span free.ics free@test 20261208T120000Z 20261208T160000Z 'Focus time' 'TRANSP:TRANSPARENT\r\n')"
put "$work" "$(ics_span gone.ics gone@test 20261209T080000Z 20261209T160000Z 'Trade fair' 'STATUS:CANCELLED\r\n')"
put "$work" "$(ics_span nope.ics nope@test 20261209T080000Z 20261209T160000Z 'Webinar' 'ORGANIZER:mailto:x@vendor.example\r\nATTENDEE;PARTSTAT=DECLINED:mailto:kim@example.com\r\n')"
put "$work" "$(ics_span eve.ics eve@test 20261120T090000Z 20261120T100000Z 'Lunch' 'ATTENDEE:mailto:eve@engel.example\r\n')"
# The user's own event on the planning calendar: never touched.
mine=$(ics_span dentist.ics dentist@test 20261214T150000Z 20261214T160000Z 'Dentist')
put "$plan" "$mine"
mine_etag=$(etag "${plan}dentist.ics")

# ---- first run: proposals

export RAPPORT_NOW=2026-12-07T08:00:00Z
once; rc=$?
tap_is "rapportd --once succeeds" "$rc" 0 || cat "$T/once.err" >&2
tap_is "four proposals recorded, all proposed" \
    "$(q "SELECT count(*) || '|' || group_concat(DISTINCT state) FROM visit_proposals")" \
    "4|proposed"
tap_is "four events on the planning calendar" "$(ours)" 4
tap_is "each PUT was conditional (If-None-Match: *)" \
    "$(grep -c "PUT .*visits/rapport-visit-.*(If-None-Match: \*) -> 201" "$T/once.err")" 4
# Most overdue first (A since 1 October, by id; then B since 30 November),
# each in the earliest free slot a day ahead: Tuesday after the board
# meeting and its buffer, then Wednesday (per_day = 2).
tap_is "slots: most overdue first, earliest free, per_day" \
    "$(q "SELECT group_concat(c.name || '@' || strftime('%Y-%m-%dT%H:%M', p.start_at, 'unixepoch'), ' ') FROM (SELECT * FROM visit_proposals ORDER BY start_at) p JOIN customers c ON c.id = p.customer_id")" \
    "Anna Adler@2026-12-08T11:30 Ben Berger@2026-12-08T13:00 Cleo Conrad@2026-12-09T08:00 Dora Dietz@2026-12-09T09:30"
tap_is "none within 30 minutes of the busy event" \
    "$(q "SELECT count(*) FROM visit_proposals WHERE start_at < $(utc 2026-12-08T11:30Z) AND end_at > $(utc 2026-12-08T07:30Z)")" 0
tap_is "all in working hours (Berlin, Mon-Fri 09-17)" \
    "$(q "SELECT count(*) FROM visit_proposals WHERE strftime('%H%M', start_at, 'unixepoch', '+1 hours') < '0900' OR strftime('%H%M', end_at, 'unixepoch', '+1 hours') > '1700' OR strftime('%w', start_at, 'unixepoch') IN ('0', '6')")" 0
tap_is "at most two a day" \
    "$(q "SELECT max(n) FROM (SELECT count(*) AS n FROM visit_proposals GROUP BY date(start_at, 'unixepoch', '+1 hours'))")" 2
tap_is "Eve (visited), Finn (tier C), Gus (no tier): nothing proposed" \
    "$(q "SELECT count(*) FROM visit_proposals p JOIN customers c ON c.id = p.customer_id WHERE c.name IN ('Eve Engel', 'Finn Fuchs', 'Gus Graf')")" 0
anna_id=$(q "SELECT id FROM customers WHERE name = 'Anna Adler'")
anna_uid=$(q "SELECT uid FROM visit_proposals WHERE customer_id = $anna_id")
tap_is "UID per customer and period, from the from-domain" "$anna_uid" \
    "rapport-visit-$anna_id-20261001@example.com"
anna_file=$vdir/$(q "SELECT replace(uid, '@', '_') FROM visit_proposals WHERE customer_id = $anna_id").ics
a=$(tr -d '\r' <"$anna_file")
tap_like "tentative, opaque" "$a" $'STATUS:TENTATIVE'
tap_like "opaque" "$a" 'TRANSP:OPAQUE'
tap_like "summary Visit: NAME" "$a" '^SUMMARY:Visit: Anna Adler$'
tap_like "location is the company" "$a" '^LOCATION:Acme GmbH$'
tap_like "X-RAPPORT-CUSTOMER" "$a" "^X-RAPPORT-CUSTOMER:$anna_id\$"
tap_like "X-RAPPORT-PERIOD" "$a" '^X-RAPPORT-PERIOD:20261001$'
tap_like "description says why, with the address" "$(printf '%s' "$a" | tr -d '\n ')" \
    'tierA.*never.*2026-09-01.*duesince2026-10-01.*anna@acme.example'
tap_not "no ATTENDEE (servers may mail them)" grep -q '^ATTENDEE' "$anna_file"
tap_like "DTSTART in UTC" "$a" '^DTSTART:20261208T113000Z$'

# ---- second run: nothing new

puts_before=$(puts)
etags_before=$(q "SELECT group_concat(coalesce(etag, '-')) FROM visit_proposals ORDER BY id")
once; rc=$?
tap_is "second run succeeds" "$rc" 0 || cat "$T/once.err" >&2
tap_is "second run: no PUT at all" "$(puts)" "$puts_before"
tap_is "second run: still four proposals" \
    "$(q "SELECT count(*) || '|' || group_concat(DISTINCT state) FROM visit_proposals")" \
    "4|proposed"
tap_is "etags known after the sync" \
    "$(q "SELECT count(*) FROM visit_proposals WHERE etag IS NULL")" 0
tap_not "etags known: the PUT answered them" [ "$etags_before" = "-,-,-,-" ]

# ---- the user moves Anna's and deletes Ben's

ben_id=$(q "SELECT id FROM customers WHERE name = 'Ben Berger'")
ben_href=$(q "SELECT href FROM visit_proposals WHERE customer_id = $ben_id")
anna_href=$(q "SELECT href FROM visit_proposals WHERE customer_id = $anna_id")
origin=${RADICALE_URL%/}
radicale_curl "$origin$anna_href" | sed -e 's/^DTSTART:.*/DTSTART:20261211T100000Z\r/' \
    -e 's/^DTEND:.*/DTEND:20261211T110000Z\r/' >"$T/moved.ics"
tap_ok "client moves Anna's visit to Friday 11:00" radicale_put \
    "$origin${anna_href%/*}/" "$T/moved.ics" "${anna_href##*/}"
code=$(radicale_curl -o /dev/null -w '%{http_code}' -X DELETE "$origin$ben_href")
tap_is "client deletes Ben's visit" "$code" 200
moved_etag=$(etag "$origin$anna_href")
once; rc=$?
tap_is "third run succeeds" "$rc" 0 || cat "$T/once.err" >&2
tap_is "Anna's: moved, where the user put it" \
    "$(q "SELECT state || '|' || strftime('%Y-%m-%dT%H:%M', start_at, 'unixepoch') FROM visit_proposals WHERE customer_id = $anna_id")" \
    "moved|2026-12-11T10:00"
tap_is "Anna's event not moved back (etag unchanged)" \
    "$(etag "$origin$anna_href")" "$moved_etag"
tap_is "Ben's: deleted" \
    "$(q "SELECT state FROM visit_proposals WHERE customer_id = $ben_id")" deleted
tap_is "Ben's not proposed again" \
    "$(http_code "$origin$ben_href")|$(ours)" "404|3"
tap_is "no new proposal rows" "$(q "SELECT count(*) FROM visit_proposals")" 4
once; rc=$?
tap_is "fourth run: no change" \
    "$rc|$(q "SELECT group_concat(state, ',') FROM (SELECT state FROM visit_proposals ORDER BY id)")|$(ours)" \
    "0|moved,deleted,proposed,proposed|3"
tap_is "the user's own event never touched" "$(etag "${plan}dentist.ics")" \
    "$mine_etag"

# ---- rapportctl visits

ctl visits --json >"$T/visits.json" 2>"$T/visits.err"
tap_is "visits --json succeeds" "$?" 0 || cat "$T/visits.err" >&2
tap_is "visits --json parses: overdue, proposals, states" \
    "$("$PEERS_PYTHON" - "$T/visits.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
over = sorted(o["name"] for o in d["overdue"])
props = {p["name"]: p["state"] for p in d["proposals"]}
a = [o for o in d["overdue"] if o["name"] == "Anna Adler"][0]
print(",".join(over), props.get("Anna Adler"), props.get("Ben Berger"),
      props.get("Cleo Conrad"), a["tier"], a["overdue_since"][:10],
      a["last_visit"], a["proposal"]["state"])
EOF
)" "Anna Adler,Ben Berger,Cleo Conrad,Dora Dietz moved deleted proposed A 2026-10-01 None moved"
out=$(ctl visits)
tap_like "visits (text) lists Ben's deleted proposal" "$out" \
    'Ben Berger.*deleted'
tap_like "visits (text) shows when Anna became overdue" "$out" \
    'Anna Adler.*A.*2026-10-01'

# ---- forgetting a customer takes their proposal, here and on the server

cleo_href=$(q "SELECT p.href FROM visit_proposals p JOIN customers c ON c.id = p.customer_id WHERE c.name = 'Cleo Conrad'")
dora_href=$(q "SELECT p.href FROM visit_proposals p JOIN customers c ON c.id = p.customer_id WHERE c.name = 'Dora Dietz'")
dora_etag=$(etag "$origin$dora_href")
tap_is "the sync holds Cleo's proposal, with her name" \
    "$(q "SELECT count(*) FROM events WHERE summary = 'Visit: Cleo Conrad'")" 1
tap_ok "forget Cleo" ctl customer forget --yes cleo@conrad.example
tap_is "Cleo's proposal gone from the store" \
    "$(q "SELECT count(*) FROM visit_proposals p LEFT JOIN customers c ON c.id = p.customer_id WHERE c.id IS NULL OR c.name = 'Cleo Conrad'")" 0
tap_is "nothing in the store names her, her proposal's event neither" \
    "$(q "SELECT count(*) FROM events WHERE summary LIKE '%Cleo%'")" 0
tap_is "one retraction, naming nobody" \
    "$(q "SELECT count(*) || '|' || max(href) FROM visit_retractions")" \
    "1|$cleo_href"
tap_is "still on the server until the next run" \
    "$(http_code "$origin$cleo_href")" 200
once; rc=$?
tap_is "run after the forget succeeds" "$rc" 0 || cat "$T/once.err" >&2
tap_is "Cleo's event deleted from the server" \
    "$(http_code "$origin$cleo_href")" 404
tap_is "the DELETE was conditional (If-Match)" \
    "$(grep -c "DELETE .*visits/rapport-visit-.*(If-Match) -> 20[04]" "$T/once.err")" 1
tap_is "retraction settled" "$(q "SELECT count(*) FROM visit_retractions")" 0
tap_is "Dora's event untouched" "$(etag "$origin$dora_href")" "$dora_etag"
tap_is "no log line names her" "$(grep -c 'Cleo' "$T/once.err")" 0
tap_is "the user's own event untouched" "$(etag "${plan}dentist.ics")" \
    "$mine_etag"


# ---- a proposal whose record a crash lost is found again, not re-sent

dora_id=$(q "SELECT id FROM customers WHERE name = 'Dora Dietz'")
dora_uid=$(q "SELECT uid FROM visit_proposals WHERE customer_id = $dora_id")
q "DELETE FROM visit_proposals WHERE customer_id = $dora_id"
puts_before=$(puts)
once; rc=$?
tap_is "a lost record is found on the calendar, nothing re-sent" \
    "$rc|$(q "SELECT uid || '|' || state FROM visit_proposals WHERE customer_id = $dora_id")|$(puts)" \
    "0|$dora_uid|proposed|$puts_before"

# ---- a real visit opens a new period

put "$work" "$(ics_span coffee.ics coffee@test 20261204T100000Z 20261204T110000Z 'Coffee' 'ATTENDEE:mailto:ben@berger.example\r\n')"
once; rc=$?
tap_is "after a real visit Ben is not overdue" \
    "$rc|$(ctl visits --json | "$PEERS_PYTHON" -c 'import json,sys; print(sorted(o["name"] for o in json.load(sys.stdin)["overdue"]))')" \
    "0|['Anna Adler', 'Dora Dietz']"

# ---- a proposal the user edited is theirs: a forget leaves it

edit_summary() {
	radicale_curl "$origin$1" |
	    sed -e "s/^SUMMARY:.*/SUMMARY:$2\r/" >"$T/edited.ics"
	radicale_put "$origin${1%/*}/" "$T/edited.ics" "${1##*/}"
}
dora_href=$(q "SELECT href FROM visit_proposals WHERE customer_id = $dora_id")
tap_ok "client edits Dora's summary" edit_summary "$dora_href" \
    'Visit: Dora (bring the samples)'
dora_etag=$(etag "$origin$dora_href")
tap_ok "forget Dora" ctl customer forget --yes dora@dietz.example
once; rc=$?
tap_is "run after the forget succeeds" "$rc" 0 || cat "$T/once.err" >&2
tap_is "Dora's edited event kept as the user left it" \
    "$(http_code "$origin$dora_href")|$(etag "$origin$dora_href")" \
    "200|$dora_etag"
tap_is "the DELETE met the user's change (412)" \
    "$(grep -c "DELETE .*(If-Match) -> 412" "$T/once.err")" 1
tap_like "a notice, by UID" "$(cat "$T/once.err")" \
    "uid=$dora_uid: visit proposal of a forgotten customer changed by the user"
tap_is "no log line names her" "$(grep -c 'Dora' "$T/once.err")" 0
tap_is "retraction dropped" "$(q "SELECT count(*) FROM visit_retractions")" 0

export RAPPORT_NOW=2027-01-04T08:00:00Z
once; rc=$?
tap_is "a month later: a new period, a new proposal" \
    "$rc|$(q "SELECT uid || '|' || state FROM visit_proposals WHERE customer_id = $ben_id AND period = '20270103'")" \
    "0|rapport-visit-$ben_id-20270103@example.com|proposed"
tap_is "the deleted one of the old period stays deleted" \
    "$(q "SELECT state FROM visit_proposals WHERE customer_id = $ben_id AND period = '20261001'")" deleted
tap_is "Anna's unanswered proposal still stands for her period" \
    "$(q "SELECT count(*) || '|' || max(state) FROM visit_proposals WHERE customer_id = $anna_id")" "1|moved"
tap_is "the user's own event still never touched" \
    "$(etag "${plan}dentist.ics")" "$mine_etag"

# ---- edited, then synced (the proposal's etag follows), then forgotten

ben_href=$(q "SELECT href FROM visit_proposals WHERE customer_id = $ben_id AND period = '20270103'")
tap_ok "client edits Ben's summary" edit_summary "$ben_href" \
    'Visit: Ben (call first)'
ben_etag=$(etag "$origin$ben_href")
once; rc=$?
tap_is "the sync learns the user's etag" \
    "$rc|$(q "SELECT etag FROM visit_proposals WHERE customer_id = $ben_id AND period = '20270103'")" \
    "0|$ben_etag"
tap_ok "forget Ben" ctl customer forget --yes ben@berger.example
once; rc=$?
tap_is "Ben's edited event kept: If-Match on rapport's own etag" \
    "$rc|$(http_code "$origin$ben_href")|$(etag "$origin$ben_href")|$(q "SELECT count(*) FROM visit_retractions")" \
    "0|200|$ben_etag|0"
tap_is "its DELETE met the user's change (412)" \
    "$(grep -c "DELETE .*(If-Match) -> 412" "$T/once.err")" 1
tap_is "Anna's proposal untouched by the forgets" \
    "$(q "SELECT count(*) FROM visit_proposals WHERE customer_id = $anna_id")|$(http_code "$origin$anna_href")" \
    "1|200"

tap_done
