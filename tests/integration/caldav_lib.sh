# shellcheck shell=bash
#
# tests/integration/caldav_lib.sh: what the CalDAV integration tests
# (caldav_sync, caldav_fallback, visits, agenda) share, sourced after
# tests/peers/lib.sh:
#
#	TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
#	. "$TOP_SRCDIR/tests/peers/lib.sh"
#	. "$TOP_SRCDIR/tests/integration/caldav_lib.sh"
#	caldav_start NAME
#
# The helpers read the test's globals: T (set by caldav_start), conf and
# db (set by the test).  A test whose helper differs defines its own after
# sourcing this file, and says why.
# shellcheck disable=SC2154 # conf and db: the sourcing test's

RAPPORTD=${RAPPORTD:-$TOP_SRCDIR/rapportd}
RAPPORTCTL=${RAPPORTCTL:-$TOP_SRCDIR/rapportctl}

# DTSTAMP of the events ics and ics_span write; a test may set its own.
ics_dtstamp=20260301T000000Z

# caldav_start NAME: skips without sqlite3 or Radicale, starts the peers and Radicale (alice/secret; RADICALE_LOG_LEVEL as given), makes T=$PEERS_DIR/NAME with the password file $T/pw.
caldav_start() {
	command -v sqlite3 >/dev/null || { echo "1..0 # SKIP no sqlite3"; exit 0; }
	"$PEERS_PYTHON" -c 'import radicale' 2>/dev/null ||
	    { echo "1..0 # SKIP no radicale"; exit 0; }
	peers_setup || tap_bail "peers_setup"
	radicale_start alice secret || tap_bail "radicale does not start"
	T=$PEERS_DIR/$1
	mkdir -p "$T"
	printf 'secret\n' >"$T/pw"
	chmod 600 "$T/pw"
}

# write_config FILE DB URL [EXTRA LINES [FROM]]: a config with one account, caldav "work" at URL as alice, EXTRA ending its section; FROM defaults to Kim Sales <kim@example.com>.
write_config() {
	cat >"$1" <<-EOF
	[rapport]
	database = $2
	templates = $TOP_SRCDIR/templates
	timezone = Europe/Berlin
	from = ${5:-Kim Sales <kim@example.com>}

	[caldav "work"]
	url = $3
	user = alice
	password_file = $T/pw
	${4:-}
	EOF
}

# ctl ARGS...: rapportctl on $conf.
ctl() { "$RAPPORTCTL" -c "$conf" "$@"; }
# once [CONF]: one rapportd --once pass with the caldav trace ($conf by default), its stderr in $T/once.err.
once() { "$RAPPORTD" -c "${1:-$conf}" --once -T caldav 2>"$T/once.err"; }
# q SQL: runs SQL on $db, prints the rows bare.
q() { sqlite3 -batch -noheader "$db" "$1"; }
# utc DATE: DATE as seconds since the epoch.
utc() { date -u -d "$1" +%s; }
# occurrences UID: "count|first|last" of the start times stored for UID.
occurrences() {
	q "SELECT count(*) || '|' || min(start_at) || '|' || max(start_at) FROM events WHERE uid = '$1'"
}
# http_code URL: the status Radicale answers to a GET of URL.
http_code() { radicale_curl -o /dev/null -w '%{http_code}' "$1"; }
# etag URL: the ETag Radicale answers to a GET of URL.
etag() {
	radicale_curl -o /dev/null -D - "$1" | tr -d '\r' |
	    sed -n 's/^[Ee][Tt]ag: //p'
}

# vtimezone_berlin: prints a VTIMEZONE for Europe/Berlin (LF lines).
vtimezone_berlin() {
	cat <<-'EOF'
	BEGIN:VTIMEZONE
	TZID:Europe/Berlin
	BEGIN:DAYLIGHT
	TZOFFSETFROM:+0100
	TZOFFSETTO:+0200
	TZNAME:CEST
	DTSTART:19700329T020000
	RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
	END:DAYLIGHT
	BEGIN:STANDARD
	TZOFFSETFROM:+0200
	TZOFFSETTO:+0100
	TZNAME:CET
	DTSTART:19701025T030000
	RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
	END:STANDARD
	END:VTIMEZONE
	EOF
}

# ics_write PATH UID TIMES SUMMARY [MORE]: one VEVENT in PATH; TIMES are its DTSTART (DTEND) lines, CRLF-separated, MORE its last lines ('\r\n' escapes); a TZID=Europe/Berlin in TIMES brings vtimezone_berlin.
ics_write() {
	{
		printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//rapport tests//EN\r\n'
		case $3 in *TZID=Europe/Berlin*) vtimezone_berlin ;; esac
		printf 'BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:%s\r\n' "$2" "$ics_dtstamp"
		printf '%s\r\nSUMMARY:%s\r\n' "$3" "$4"
		[ -n "${5:-}" ] && printf '%b' "$5"
		printf 'END:VEVENT\r\nEND:VCALENDAR\r\n'
	} >"$1"
	echo "$1"
}

# ics NAME UID DTSTART-LINE SUMMARY [MORE]: writes $T/NAME.ics, prints its path.
ics() { ics_write "$T/$1.ics" "$2" "$3" "$4" "${5:-}"; }
# ics_span FILE UID START END SUMMARY [MORE]: writes $T/FILE from START to END (UTC forms), prints its path.
ics_span() {
	ics_write "$T/$1" "$2" "DTSTART:$3"$'\r\n'"DTEND:$4" "$5" "${6:-}"
}
