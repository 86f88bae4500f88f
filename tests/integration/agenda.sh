#!/bin/bash
# The daily agenda end to end: two meetings with customers on a private
# Radicale, `rapportd --once` at the agenda hour sends exactly one agenda
# to the SMTP sink, listing both meetings with their customers, with a
# text/calendar attachment holding the visits in UTC; another --once the
# same day sends nothing more; a cancelled meeting and one the user
# declined are left out; with lang = ko the agenda is in Korean; a day
# without meetings sends nothing and says so in the log.  `rapportctl
# agenda` shows the same day (text and --json) and whether it was sent.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=SCRIPTDIR/../peers/lib.sh
. "$TOP_SRCDIR/tests/peers/lib.sh"
# shellcheck source=SCRIPTDIR/caldav_lib.sh
. "$TOP_SRCDIR/tests/integration/caldav_lib.sh"

caldav_start agenda
smtp_sink_start --starttls || tap_bail "no SMTP sink"

write_conf() {	# NAME LANG
	write_config "$T/$1.conf" "$T/$1.db" "$RADICALE_URL" "
[smtp]
url = smtp://127.0.0.1:$SMTP_SINK_PORT/
ca_file = $PEERS_CA_FILE
timeout = 10

[agenda]
hour = 8
to = Kim <kim@sales.example>
lang = $2" 'Kim Sales <kim@sales.example>'
}
write_conf en en
write_conf ko ko
ics_dtstamp=20261101T000000Z

# once and ctl of their own: one config (and database) per language.
once() {	# CONF RAPPORT_NOW
	RAPPORT_NOW=$2 "$RAPPORTD" -c "$T/$1.conf" --once >>"$T/$1.log" 2>&1
}
ctl() {	# CONF ARGS...
	local c=$1
	shift
	RAPPORT_NOW=2026-11-01T10:00:00Z "$RAPPORTCTL" -c "$T/$c.conf" "$@"
}
# Agendas the sink accepted (the planner sends its own mail too).
agendas() {
	[ -f "$SMTP_SINK_INDEX" ] || { echo 0; return; }
	grep -c '^<rapport\.agenda\.' "$SMTP_SINK_INDEX" || true
}
# agenda_file N: the N-th agenda the sink accepted.
agenda_file() {
	echo "$SMTP_SINK_DIR/$(grep '^<rapport\.agenda\.' "$SMTP_SINK_INDEX" |
	    awk -F '\t' -v n="$1" 'NR == n { print $4 }')"
}
# part FILE WHAT: "subject", "text", "ics" or "ics-type", decoded.
part() {
	/usr/bin/python3 - "$1" "$2" <<'EOF'
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
what = sys.argv[2]
if what == "subject":
    print(m["Subject"])
for p in m.walk():
    ct = p.get_content_type()
    if what == "text" and ct == "text/plain":
        print(p.get_content())
    elif what == "ics" and ct == "text/calendar":
        print(p.get_payload(decode=True).decode("utf-8").replace("\r", ""))
    elif what == "ics-type" and ct == "text/calendar":
        print(ct, p.get_filename())
EOF
}

for c in en ko; do
	ctl $c customer add --name 'Anna Adler' --email anna@acme.example \
	    --birthday 1980-12-03 >/dev/null || tap_bail "Anna ($c)"
	ctl $c customer add --name 'Ben Berger' --email ben@berger.example \
	    >/dev/null || tap_bail "Ben ($c)"
done

work=$(radicale_mkcalendar work Work) || tap_bail "MKCALENDAR work"
put() { radicale_put "$work" "$1" || tap_bail "PUT $1"; }
# Tuesday 1 December 2026 in Berlin (UTC+1).
put "$(ics_span review.ics review@test 20261201T080000Z 20261201T090000Z 'Quarterly review' 'LOCATION:Acme office\r\nATTENDEE:mailto:anna@acme.example\r\n')"
put "$(ics_span lunch.ics lunch@test 20261201T120000Z 20261201T130000Z 'Lunch with Ben' 'ATTENDEE:mailto:ben@berger.example\r\n')"
put "$(ics_span gone.ics gone@test 20261201T140000Z 20261201T150000Z 'Cancelled call' 'STATUS:CANCELLED\r\nATTENDEE:mailto:ben@berger.example\r\n')"
put "$(ics_span nope.ics nope@test 20261201T150000Z 20261201T160000Z 'Webinar' 'ORGANIZER:mailto:x@vendor.example\r\nATTENDEE;PARTSTAT=DECLINED:mailto:kim@sales.example\r\n')"
put "$(ics_span next.ics next@test 20261202T080000Z 20261202T090000Z 'Tomorrow' 'ATTENDEE:mailto:anna@acme.example\r\n')"

# jq-like reads of rapportctl agenda --json: EXPR on the document d.
jget() {	# JSON EXPR
	/usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$2" <<<"$1"
}

# ---- before the hour: nothing

once en 2026-12-01T06:30:00Z
tap_is "--once before the hour succeeds" "$?" 0
tap_is "no agenda before 08:00 local" "$(agendas)" 0

# ---- rapportctl agenda before it is sent (the calendar is synced)

view=$(ctl en agenda --date 2026-12-01)
tap_is "ctl agenda succeeds" "$?" 0
tap_like "ctl agenda: the day and its counts" "$view" \
    '^Agenda for 2026-12-01 \(Europe/Berlin\): 2 meetings, 2 visits$'
tap_like "ctl agenda: not sent yet" "$view" \
    '^Agenda mail: not sent \(to kim@sales\.example\)$'
tap_like "ctl agenda: the review, local time" "$view" \
    '^09:00–10:00  Quarterly review @ Acme office$'
tap_like "ctl agenda: Anna's birthday" "$view" 'Birthday: 12-03, in 2 days'
tap_is "ctl agenda: cancelled, declined and tomorrow's left out" \
    "$(printf '%s\n' "$view" | grep -c -E 'Cancelled|Webinar|Tomorrow')" 0
tap_like "ctl agenda: today by default (RAPPORT_NOW)" \
    "$(RAPPORT_NOW=2026-12-01T22:30:00Z "$RAPPORTCTL" -c "$T/en.conf" agenda)" \
    '^Agenda for 2026-12-01 .*2 meetings'
tap_like "ctl agenda: a day without meetings" \
    "$(ctl en agenda --date 2026-12-05)" '^No meetings\.$'
ctl en agenda --date 2026-02-30 2>/dev/null
tap_is "ctl agenda: a bad --date is a usage error" "$?" 2

# ---- at the hour: one agenda

once en 2026-12-01T07:00:30Z
tap_is "--once at the hour succeeds" "$?" 0 || cat "$T/en.log" >&2
tap_is "exactly one agenda" "$(agendas)" 1
msg=$(agenda_file 1)
tap_is "subject" "$(part "$msg" subject)" "Your agenda for 2026-12-01"
text=$(part "$msg" text)
tap_like "the review, 09:00 local, with Anna" "$text" \
    '09:00–10:00  Quarterly review @ Acme office'
tap_like "Anna's context" "$text" 'With: Anna Adler'
tap_like "Anna's birthday within 7 days" "$text" 'Birthday: 12-03, in 2 days'
tap_like "the lunch with Ben" "$text" '13:00–14:00  Lunch with Ben'
tap_is "in time order" \
    "$(printf '%s\n' "$text" | grep -E -o 'Quarterly review|Lunch with Ben' | tr '\n' ' ')" \
    "Quarterly review Lunch with Ben "
tap_is "cancelled, declined and tomorrow's meetings left out" \
    "$(printf '%s\n' "$text" | grep -c -E 'Cancelled|Webinar|Tomorrow')" 0
tap_is "a text/calendar attachment" "$(part "$msg" ics-type)" \
    "text/calendar agenda-2026-12-01.ics"
cal=$(part "$msg" ics)
tap_is "two visits in it" "$(printf '%s\n' "$cal" | grep -c '^BEGIN:VEVENT')" 2
tap_like "the review in UTC" "$cal" 'DTSTART:20261201T080000Z'
tap_like "the lunch in UTC" "$cal" 'DTSTART:20261201T120000Z'
tap_like "UIDs kept" "$cal" 'UID:lunch@test'
tap_is "recorded as sent" \
    "$(sqlite3 "$T/en.db" "SELECT state || '|' || meetings FROM agenda_sent WHERE day = '2026-12-01'")" \
    "sent|2"

# ---- rapportctl agenda after it is sent, and --json

tap_like "ctl agenda: sent" "$(ctl en agenda --date 2026-12-01)" \
    '^Agenda mail: sent \(to kim@sales\.example\)$'
json=$(ctl en agenda --date 2026-12-01 --json)
tap_is "ctl agenda --json succeeds" "$?" 0
tap_is "json: the day, its state" \
    "$(jget "$json" '" ".join([d["date"], d["timezone"], d["state"], d["recipient"]])')" \
    "2026-12-01 Europe/Berlin sent kim@sales.example"
tap_is "json: the local day's bounds in UTC" \
    "$(jget "$json" 'd["from"] + " " + d["to"]')" \
    "2026-11-30T23:00:00Z 2026-12-01T23:00:00Z"
tap_is "json: the meetings in time order" \
    "$(jget "$json" '"|".join(m["summary"] + " " + m["start"] for m in d["meetings"])')" \
    "Quarterly review 2026-12-01T08:00:00Z|Lunch with Ben 2026-12-01T12:00:00Z"
tap_is "json: the review's customer and place" \
    "$(jget "$json" 'd["meetings"][0]["location"] + " " + d["meetings"][0]["customers"][0]["name"]')" \
    "Acme office Anna Adler"
tap_is "json: Anna's birthday" \
    "$(jget "$json" 'd["meetings"][0]["customers"][0]["birthday"]')" \
    "{'month': 12, 'day': 3, 'in_days': 2}"
tap_is "json: context members of each customer" \
    "$(jget "$json" 'sorted(d["meetings"][1]["customers"][0])')" \
    "['birthday', 'company', 'followups', 'id', 'last_contact', 'name', 'referred']"
tap_is "json: no visit proposals that day" "$(jget "$json" 'd["visits"]')" "[]"
tap_is "json: an empty day" \
    "$(jget "$(ctl en agenda --date 2026-12-05 --json)" 'len(d["meetings"])')" 0

# ---- again the same day: nothing more

once en 2026-12-01T07:40:00Z
tap_is "--once again succeeds" "$?" 0
once en 2026-12-01T15:00:00Z
tap_is "nothing more the same day" "$(agendas)" 1

# ---- Korean

once ko 2026-12-01T07:05:00Z
tap_is "the Korean agenda goes" "$(agendas)" 2
msg=$(agenda_file 2)
tap_is "Korean subject" "$(part "$msg" subject)" "2026-12-01 오늘의 일정"
tap_like "Korean labels" "$(part "$msg" text)" '참석: Anna Adler'
tap_like "ctl agenda: [agenda] lang's labels" \
    "$(ctl ko agenda --date 2026-12-01)" '참석: Anna Adler'

# ---- a day without meetings: nothing, and a log line

once en 2026-12-05T09:00:00Z
tap_is "no agenda for an empty day" "$(agendas)" 2
tap_like "the log says so" "$(cat "$T/en.log")" \
    'agenda day=2026-12-05 .*no meetings today'
tap_like "ctl agenda: the empty day recorded" \
    "$(ctl en agenda --date 2026-12-05)" '^Agenda mail: empty '

tap_done
