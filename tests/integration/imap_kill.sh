#!/bin/bash
# Exactly once across crashes: rapportd is killed with SIGKILL several
# times in the middle of a large initial sync (3,000 messages, committed
# in batches of 100), restarted each time, and finally left to finish.
# After every kill the store holds whole batches only, with the folder's
# cursor matching them; at the end every message is stored once, with one
# location each and no duplicate link.  Also: the progress of a long
# initial sync is logged every 1,000 messages, and the connector's status
# reaches sd_notify STATUS= through the main thread.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TOP_BUILDDIR=${TOP_BUILDDIR:-$TOP_SRCDIR}
RAPPORTD=${RAPPORTD:-$TOP_BUILDDIR/rapportd}
RAPPORTCTL=${RAPPORTCTL:-$TOP_BUILDDIR/rapportctl}
. "$TOP_SRCDIR/tests/peers/lib.sh" || exit 1

TOTAL=${IMAP_KILL_TOTAL:-3000}
KILLS=3
[ -x "$RAPPORTD" ] || tap_bail "no $RAPPORTD"
[ -x "$RAPPORTCTL" ] || tap_bail "no $RAPPORTCTL"
command -v sqlite3 >/dev/null || tap_bail "sqlite3 (the CLI) is needed"

peers_setup || tap_bail "peers_setup failed"
dovecot_start alice secret || tap_bail "dovecot did not start"

T=$PEERS_DIR/rapport
mkdir -p "$T/mail"
DB=$T/rapport.db
CONF=$T/rapport.conf
DAEMON_PID=
LISTENER_PID=
peers_on_exit '[ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null'
peers_on_exit '[ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null && wait "$LISTENER_PID" 2>/dev/null'

cat >"$CONF" <<EOF
[rapport]
database = $DB
templates = $TOP_SRCDIR/templates
from = Kim Sales <kim@example.com>

[imap "work"]
url = imap://127.0.0.1:$DOVECOT_IMAP_PORT/
ca_file = $PEERS_CA_FILE
user = alice
password = secret
folders = INBOX
batch = 100
timeout = 10
EOF

sql() {
	sqlite3 -batch -noheader "$DB" "$@"
}

# ------------------------------------------------------------ the mailbox

# 25 correspondents, the first 20 customers; every third message also
# copies the next correspondent.  Prints the links the linker must make.
"$PEERS_PYTHON" - "$T/mail" "$TOTAL" >"$T/expected_links" <<'EOF'
import os, sys, time
d, total = sys.argv[1], int(sys.argv[2])
links = 0
t0 = 1793000000
for i in range(1, total + 1):
    a, b = i % 25, (i + 1) % 25
    hdr = ["From: Person %d <p%d@kill.example>" % (a, a),
           "To: Kim Sales <kim@example.com>"]
    linked = {a} & set(range(20))
    if i % 3 == 0:
        hdr.append("Cc: p%d@kill.example" % b)
        linked |= {b} & set(range(20))
    links += len(linked)
    hdr += ["Subject: Message %d" % i,
            "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                                     time.gmtime(t0 + 60 * i)),
            "Message-ID: <kill-%d@kill.example>" % i]
    with open(os.path.join(d, "%05d.eml" % i), "w") as f:
        f.write("\r\n".join(hdr) + "\r\n\r\nBody of message %d.\r\n" % i)
print(links)
EOF
dovecot_deliver_maildir alice "$T"/mail/*.eml || tap_bail "delivery failed"
doveadm_ index -u alice INBOX || tap_bail "doveadm index failed"
tap_is "$TOTAL messages in INBOX" "$(dovecot_count alice INBOX)" "$TOTAL"

{
	echo "name,email"
	for i in $(seq 0 19); do echo "Person $i,p$i@kill.example"; done
} >"$T/customers.csv"
"$RAPPORTCTL" -c "$CONF" customer import "$T/customers.csv" >/dev/null 2>&1
tap_is "20 customers imported" "$(sql "SELECT count(*) FROM customers")" 20

# ------------------------------------------------------------ sd_notify

cat >"$T/listen.py" <<'EOF'
import socket, sys
path, log, ready = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
open(ready, "w").close()
while True:
    data = s.recv(4096)
    with open(log, "ab") as f:
        f.write(data.rstrip(b"\n") + b"\n")
EOF
"$PEERS_PYTHON" "$T/listen.py" "$T/notify.sock" "$T/notify.log" \
    "$T/listener.ready" &
LISTENER_PID=$!

# wait_until SECONDS CMD [ARG...]: polls CMD every 10 ms.
wait_until() {
	local deadline
	deadline=$(peers_deadline "$1")
	shift
	until "$@"; do
		[ "$(date +%s%N)" -gt "$deadline" ] && return 1
		sleep 0.01
	done
}
wait_until 10 test -e "$T/listener.ready" || tap_bail "no notify listener"

# ------------------------------------------------------------ the kills

stored() {
	sql "SELECT count(*) FROM messages" 2>/dev/null || echo 0
}

more_than() {
	[ "$(stored)" -gt "$1" ]
}

daemon_start() {
	NOTIFY_SOCKET=$T/notify.sock "$RAPPORTD" -c "$CONF" 2>>"$T/daemon.err" &
	DAEMON_PID=$!
}

# consistent: whole batches and the cursor that goes with them.  UIDs of
# a fresh Maildir are 1..N, so the cursor's UID is the number of copies.
consistent() {
	sql "SELECT (SELECT count(*) FROM messages) =
	      (SELECT count(DISTINCT dedupe_key) FROM messages)
	    AND (SELECT count(*) FROM message_locations) =
	      (SELECT count(*) FROM messages)
	    AND (SELECT coalesce(max(uid), 0) FROM message_locations) =
	      (SELECT coalesce(max(CAST(value AS INTEGER)), 0) FROM cursors
	       WHERE connector = 'imap' AND account = 'work'
	       AND collection = 'INBOX' AND key = 'uid')
	    AND (SELECT count(*) FROM message_locations) =
	      (SELECT coalesce(max(uid), 0) FROM message_locations)
	    AND (SELECT count(*) FROM messages) % 100 = 0"
}

last=0
mid=0
for k in $(seq 1 "$KILLS"); do
	# A fast sync may finish between two kills: nothing left to cut.
	if [ "$last" -ge "$TOTAL" ]; then
		tap_pass "kill $k: not needed, all $TOTAL messages are stored"
		continue
	fi
	daemon_start
	# The first kill right after the first commit, later ones further in.
	target=$((last + (k - 1) * 400))
	[ "$target" -lt "$TOTAL" ] || target=$((TOTAL - 1))
	if ! wait_until 120 more_than "$target"; then
		tap_fail "kill $k: rapportd stored more within 120 s"
		tap_diag "$(tail -5 "$T/daemon.err")"
		# Never leave a daemon holding the test's output open.
		kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=
		break
	fi
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
	n=$(stored)
	echo "# kill $k: $n of $TOTAL messages stored"
	[ "$n" -lt "$TOTAL" ] && mid=$((mid + 1))
	tap_is "kill $k: only whole batches, the cursor matching them" \
	    "$(consistent)" 1
	last=$n
done
tap_ok "rapportd was killed in the middle of the sync (at least once)" \
    test "$mid" -ge 1

# ------------------------------------------------------------ the end

status_up_to_date() {
	[ "$(sql "SELECT value FROM status WHERE key = 'imap.work'")" = "up to date" ]
}
: >"$T/notify.log"
daemon_start
tap_ok "restarted, rapportd finishes the sync" wait_until 120 status_up_to_date
tap_ok "STATUS= relays the connector's progress" \
    wait_until 10 grep -q '^STATUS=.*; imap work: up to date' "$T/notify.log"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
tap_is "SIGTERM stops it with status 0" "$?" 0
DAEMON_PID=

tap_is "every message stored exactly once" \
    "$(sql "SELECT count(*), count(DISTINCT dedupe_key),
	count(DISTINCT message_id) FROM messages")" "$TOTAL|$TOTAL|$TOTAL"
tap_is "... each with one location, UIDs 1..$TOTAL" \
    "$(sql "SELECT count(*), count(DISTINCT uid), min(uid), max(uid)
	FROM message_locations")" "$TOTAL|$TOTAL|1|$TOTAL"
tap_is "... all of the messages delivered" \
    "$(sql "SELECT count(*) FROM messages WHERE message_id
	BETWEEN 'kill-' AND 'kill.' AND subject LIKE 'Message %'")" "$TOTAL"
tap_is "every link made once" \
    "$(sql "SELECT count(*), count(DISTINCT customer_id || ':' || object_id)
	FROM links")" "$(cat "$T/expected_links")|$(cat "$T/expected_links")"
uidvalidity=$(doveadm_ -f flow mailbox status -u alice uidvalidity INBOX |
    sed 's/.*uidvalidity=//')
tap_is "the cursor: the last UID and the mailbox's UIDVALIDITY" \
    "$(sql "SELECT group_concat(key || '=' || value, ' ') FROM (SELECT key,
	value FROM cursors WHERE connector = 'imap' AND account = 'work'
	AND collection = 'INBOX' AND key IN ('uid', 'uidvalidity')
	ORDER BY key)")" "uid=$TOTAL uidvalidity=$uidvalidity"
tap_like "a long initial sync logs its progress every 1000 messages" \
    "$(cat "$T/daemon.err")" \
    'imap account=work folder=INBOX: initial sync, [0-9]+ of '"$TOTAL"' messages'
tap_not "no sanitizer report in the daemon's log" \
    grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error' "$T/daemon.err"

tap_done
