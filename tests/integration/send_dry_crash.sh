#!/bin/bash
# Crash safety of the dry run ([send] dry_run = DIR): a dry run writes,
# checks and ends SENDER_DRY_BATCH rows in one transaction, so a crash
# undoes rows whose files are already written.  Run again, it must leave
# one file per row, each with the Message-ID the row records, and a file
# written before the crash must keep its Message-ID.
#
# Twice: once with the crash's aftermath made by hand (the database put
# back as planned, the files kept: exactly what an undone batch leaves),
# once with SIGKILL in the middle of a run.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$TOP_SRCDIR/tests/peers/lib.sh" || exit 1
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP no sqlite3 CLI"; exit 0; }

N=${SEND_DRY_CRASH_N:-3000}

peers_setup
W=$PEERS_DIR/dry
mkdir -p "$W/templates"
db=$W/rapport.db
log=$W/rapportd.log

cat >"$W/templates/issue.md" <<'EOF'
Kind: newsletter
Audience: tag:news
Schedule: 2026-12-01T09:00
Subject: December news for {{customer.first_name}}

Hello {{customer.first_name}},

this is the December issue.
EOF
conf() {	# FILE [LINES...]: the database is always $db
	local f=$1
	shift
	{
		printf '%s\n' "[rapport]" "database = $db" \
		    "templates = $W/templates" "timezone = Europe/Berlin" \
		    "from = Kim Sales <kim@sales.example>" "" "[send]" \
		    "unsubscribe_address = unsubscribe@sales.example" \
		    "unsubscribe_url = https://sales.example/u"
		printf '%s\n' "$@"
	} >"$f"
}
# The port is never connected to: a dry run sends nothing.
dry_conf() {	# FILE DIR
	conf "$1" "dry_run = $2" "" "[smtp]" "url = smtp://127.0.0.1:1/" \
	    "tls = none" "connections = 1"
}
conf "$W/plan.conf"
export RAPPORT_NOW=2026-12-01T08:05:00Z

sql() { sqlite3 -cmd '.timeout 5000' "$db" "$@"; }
# "ROWID<TAB>Message-ID" of each file in DIR, sorted.
file_ids() {
	find "$1" -name '*.eml' -print0 | xargs -0 -r grep -m1 -H '^Message-ID:' |
	    tr -d '\r' | sed 's|^.*/\([0-9]*\)\.eml:Message-ID: |\1\t|' | sort
}
row_ids() { sql "SELECT id || char(9) || message_id FROM outbox WHERE state = 'sent'" | sort; }

/usr/bin/python3 - "$N" >"$W/customers.csv" <<'EOF'
import sys
n = int(sys.argv[1])
print("name,email,tags,newsletter")
for i in range(1, n + 1):
    print("Reader%05d Example,reader%05d@example.com,news,yes" % (i, i))
EOF
tap_ok "$N customers with consent imported" \
    "$RAPPORTCTL" -c "$W/plan.conf" customer import "$W/customers.csv"
tap_ok "the issue is planned" "$RAPPORTD" -c "$W/plan.conf" --once
tap_is "one planned row per recipient" \
    "$(sql "SELECT count(*) FROM outbox WHERE state = 'planned'")" "$N"
tap_is "each recipient has an unsubscribe token once planned" \
    "$(sql "SELECT count(*) FROM unsubscribe_tokens")" "$N"
sqlite3 "$db" ".backup '$W/planned.db'"

# ---- an undone batch, made by hand
dry_conf "$W/dry1.conf" "$W/dry1"
tap_ok "a dry run" "$RAPPORTD" -c "$W/dry1.conf" --once
file_ids "$W/dry1" >"$W/first.ids"
tap_is "one file per row" "$(wc -l <"$W/first.ids")" "$N"
tap_is "each file has its row's Message-ID" \
    "$(row_ids | comm -3 - "$W/first.ids" | wc -l)" 0
# The files stay; the database is what a crash before the commit leaves.
cp "$W/planned.db" "$db"
rm -f "$db-wal" "$db-shm"
tap_ok "the dry run again over the same folder" "$RAPPORTD" -c "$W/dry1.conf" --once
tap_is "every row ended" "$(sql "SELECT count(*) FROM outbox WHERE state = 'sent' AND reason = 'dry-run'")" "$N"
file_ids "$W/dry1" >"$W/second.ids"
tap_is "still one file per row" "$(find "$W/dry1" -name '*.eml' | wc -l)" "$N"
tap_is "every file kept its Message-ID" \
    "$(comm -3 "$W/first.ids" "$W/second.ids" | wc -l)" 0
tap_is "and the rows record them" \
    "$(row_ids | comm -3 - "$W/second.ids" | wc -l)" 0
tap_is "no temporary file left" "$(find "$W/dry1" -name '.*' -type f | wc -l)" 0

# ---- SIGKILL in the middle of a run
cp "$W/planned.db" "$db"
rm -f "$db-wal" "$db-shm"
dry_conf "$W/dry2.conf" "$W/dry2"
has_files() { [ "$(find "$W/dry2" -name '*.eml' 2>/dev/null | wc -l)" -ge "$1" ]; }
"$RAPPORTD" -c "$W/dry2.conf" --once >>"$log" 2>&1 &
daemon=$!
peers_on_exit "kill -KILL $daemon 2>/dev/null"
tap_ok "the dry run writes files" wait_until 120 has_files $((N / 10))
kill -KILL "$daemon"
wait "$daemon" 2>/dev/null
file_ids "$W/dry2" >"$W/killed.ids"
killed=$(wc -l <"$W/killed.ids")
ended=$(sql "SELECT count(*) FROM outbox WHERE state = 'sent'")
tap_ok "killed in the middle ($killed files, $ended rows ended)" \
    test "$killed" -lt "$N"
tap_ok "no row ended without its file" test "$ended" -le "$killed"
tap_ok "the dry run after the kill" "$RAPPORTD" -c "$W/dry2.conf" --once
tap_is "every row ended" "$(sql "SELECT count(*) FROM outbox WHERE state = 'sent' AND reason = 'dry-run'")" "$N"
file_ids "$W/dry2" >"$W/final.ids"
tap_is "one file per row" "$(wc -l <"$W/final.ids")" "$N"
tap_is "files written before the kill kept their Message-ID" \
    "$(comm -23 "$W/killed.ids" "$W/final.ids" | wc -l)" 0
tap_is "each file has its row's Message-ID" \
    "$(row_ids | comm -3 - "$W/final.ids" | wc -l)" 0
tap_is "distinct Message-IDs: one per row" "$(cut -f2 "$W/final.ids" | sort -u | wc -l)" "$N"
tap_is "no temporary file left" "$(find "$W/dry2" -name '.*' -type f | wc -l)" 0
tap_done
