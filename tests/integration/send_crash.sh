#!/bin/bash
# Crash safety of the sender (DESIGN.md, Sender): rapportd is killed with
# SIGKILL in the middle of a 5,000-recipient newsletter and started
# again.  Every recipient must get the issue; nobody may get it twice,
# except the messages in flight at the kill (at most one per connection),
# and a message sent twice carries the same Message-ID both times.
#
# The clock is pinned (RAPPORT_NOW) and the restart happens at once, well
# within the rows' lease: the sender must know on its own that rows left
# in 'sending' belong to a sender that is gone.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$TOP_SRCDIR/tests/peers/lib.sh" || exit 1
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP no sqlite3 CLI"; exit 0; }

N=${SEND_CRASH_N:-5000}
CONNECTIONS=2

peers_setup
W=$PEERS_DIR/crash
mkdir -p "$W/templates"
db=$W/rapport.db
conf=$W/rapport.conf
log=$W/rapportd.log

tap_ok "SMTP sink starts" smtp_sink_start || tap_bail "no SMTP sink"

# One issue, due at 09:00 Berlin on 1 December 2026; the clock is just after.
cat >"$W/templates/issue.md" <<'EOF'
Kind: newsletter
Audience: tag:news
Schedule: 2026-12-01T09:00
Subject: December news for {{customer.first_name}}

Hello {{customer.first_name}},

this is the December issue.
EOF
cat >"$conf" <<EOF
[rapport]
database = $db
templates = $W/templates
timezone = Europe/Berlin
from = Kim Sales <kim@sales.example>

[smtp]
url = smtp://127.0.0.1:$SMTP_SINK_PORT/
tls = none
timeout = 10
connections = $CONNECTIONS

[send]
unsubscribe_address = unsubscribe@sales.example
EOF
export RAPPORT_NOW=2026-12-01T08:05:00Z

ctl() { "$RAPPORTCTL" -c "$conf" "$@"; }
sql() { sqlite3 -cmd '.timeout 5000' "$db" "$@"; }

/usr/bin/python3 - "$N" >"$W/customers.csv" <<'EOF'
import sys
n = int(sys.argv[1])
print("name,email,tags,newsletter")
for i in range(1, n + 1):
    print("Reader%05d Example,reader%05d@example.com,news,yes" % (i, i))
EOF
tap_ok "$N customers with consent imported" ctl customer import "$W/customers.csv"

sink_has() { [ "$(smtp_sink_count)" -ge "$1" ]; }
outbox_done() {
	[ "$(sql "SELECT count(*) FROM outbox WHERE state IN ('planned', 'sending')")" = 0 ] &&
	    [ "$(sql "SELECT count(*) FROM outbox")" -ge "$N" ]
}

start=$SECONDS
"$RAPPORTD" -c "$conf" >>"$log" 2>&1 &
daemon=$!
peers_on_exit "kill -KILL $daemon 2>/dev/null"
lo=$((N / 10)) hi=$((N * 9 / 10))
tap_ok "rapportd sends (sink has $lo messages)" wait_until 60 sink_has "$lo"
kill -KILL "$daemon"
wait "$daemon" 2>/dev/null
at_kill=$(smtp_sink_count)
tap_ok "killed while sending ($at_kill of $N delivered, < $hi)" test "$at_kill" -lt "$hi"
tap_is "rows left in 'sending' by the kill: at most one per connection" \
    "$(($(sql "SELECT count(*) FROM outbox WHERE state = 'sending'") <= CONNECTIONS))" 1

"$RAPPORTD" -c "$conf" >>"$log" 2>&1 &
daemon=$!
peers_on_exit "kill -KILL $daemon 2>/dev/null"
tap_ok "after a restart the outbox drains" wait_until 120 outbox_done
kill -TERM "$daemon"
wait "$daemon"
tap_is "rapportd stops cleanly" "$?" 0
tap_diag "kill at $at_kill messages; $((SECONDS - start)) s from start to drained"

tap_is "one row per recipient" "$(sql "SELECT count(*) FROM outbox WHERE kind = 'newsletter'")" "$N"
tap_is "every row sent" "$(sql "SELECT count(*) FROM outbox WHERE state = 'sent'")" "$N"
idx=$SMTP_SINK_INDEX
tap_is "every recipient got the issue" "$(cut -f2 "$idx" | sort -u | wc -l)" "$N"
tap_is "every message has one recipient" "$(cut -f2 "$idx" | grep -c ,)" 0
dups=$(cut -f2 "$idx" | sort | uniq -d | wc -l)
tap_ok "received twice: only in-flight messages ($dups, at most $CONNECTIONS)" \
    test "$dups" -le "$CONNECTIONS"
tap_is "nobody got it three times" "$(cut -f2 "$idx" | sort | uniq -c | awk '$1 > 2' | wc -l)" 0
tap_is "a message received twice has one Message-ID" \
    "$(cut -f1,2 "$idx" | sort -u | cut -f2 | sort | uniq -d | wc -l)" 0
tap_is "distinct Message-IDs: one per recipient" "$(cut -f1 "$idx" | sort -u | wc -l)" "$N"
tap_is "each row's Message-ID is what its recipient got" \
    "$(sql "SELECT message_id || char(9) || recipient FROM outbox" | sort -u |
	comm -3 - <(cut -f1,2 "$idx" | sort -u) | wc -l)" 0
tap_not "no sender store failure logged" grep -q 'sender account=.*outbox=.*: database' "$log"
tap_done
