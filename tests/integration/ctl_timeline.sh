#!/bin/bash
# rapportctl timeline (--why, --limit, --json), sale add/list, referral
# add/list, referrals (flat, --tree, --json), review list/link/dismiss,
# and the wake-up of a running rapportd after a write.  Messages, meetings,
# links and review rows are written with the sqlite3 CLI, as the IMAP and
# CalDAV ingest would leave them.  Needs no servers.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
RAPPORTCTL=${RAPPORTCTL:-$TOP_SRCDIR/rapportctl}
RAPPORTD=${RAPPORTD:-$TOP_SRCDIR/rapportd}
# shellcheck source=SCRIPTDIR/../peers/lib.sh
. "$TOP_SRCDIR/tests/peers/lib.sh"

command -v sqlite3 >/dev/null || { echo "1..0 # SKIP no sqlite3 CLI"; exit 0; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/rapport-timeline.XXXXXX") || tap_bail "mktemp"
DAEMON_PID=
BYSTANDER_PID=
cleanup() {
	[ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null
	[ -n "$BYSTANDER_PID" ] && kill -KILL "$BYSTANDER_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
conf=$dir/rapport.conf
db=$dir/rapport.db
printf '[rapport]\ndatabase = %s\ntemplates = %s/templates\ntimezone = Europe/Berlin\n' \
    "$db" "$TOP_SRCDIR" >"$conf"
export RAPPORT_NOW=2026-12-01T09:00:00Z

ctl() { "$RAPPORTCTL" -c "$conf" "$@"; }
sql() { sqlite3 -batch "$db" "PRAGMA foreign_keys = ON; $1"; }
is_json() { /usr/bin/python3 -c 'import json,sys; json.load(sys.stdin)'; }
# jget EXPR: evaluates a python expression on the JSON document "d" on stdin.
jget() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
epoch() { date -u -d "$1" +%s; }


# ---- help and usage

for cmd in timeline sale "sale add" "sale list" referral "referral add" \
    "referral list" referrals review "review list" "review link" \
    "review dismiss"; do
	# shellcheck disable=SC2086
	out=$("$RAPPORTCTL" $cmd --help 2>&1); rc=$?
	tap_is "rapportctl $cmd --help exits 0" "$rc" 0
	tap_like "rapportctl $cmd --help prints a usage" "$out" '^Usage: rapportctl'
done
out=$("$RAPPORTCTL" --help)
tap_like "rapportctl --help lists timeline" "$out" '^  timeline '
tap_like "rapportctl --help lists referrals" "$out" '^  referrals '

for args in "timeline" "timeline a@b.example --limit 0" \
    "sale add a@b.example" "sale add a@b.example --product P --date 2026-13-45" \
    "sale list a@b.example b@c.example" "referral add a@b.example" \
    "review link" "review link abc" "review dismiss 1 2" "referrals --bogus"; do
	# shellcheck disable=SC2086
	err=$(ctl $args 2>&1 >/dev/null); rc=$?
	tap_is "'$args' is a usage error (2)" "$rc" 2
	tap_is "'$args': one line on stderr" "$(printf '%s\n' "$err" | wc -l)" 1
done

# ---- customers, and what ingest would have stored for them

ctl customer add --name 'Anna Schmidt' --email anna@x.example >/dev/null
ctl customer add --name 'Ben Lee' --email ben@y.example >/dev/null
ctl customer add --name 'Bea Lee' --email bea@y.example >/dev/null

t1=$(epoch 2026-11-01T10:00:00Z)
t2=$(epoch 2026-11-03T08:30:00Z)
t3=$(epoch 2026-11-05T14:00:00Z)
t4=$(epoch 2026-11-06T09:00:00Z)
t5=$(epoch 2026-11-28T09:00:00Z)
tap_ok "messages, a meeting, links and review rows are written" sql "
INSERT INTO messages (id, account, folder, message_id, dedupe_key, date,
  subject, from_addr, outgoing, ingested_at)
VALUES (1, 'work', 'INBOX', 'm1@x.example', 'm1@x.example', $t1,
  'Offer please', 'anna@x.example', 0, $t1),
 (2, 'work', 'Sent', 'm2@me.example', 'm2@me.example', $t2,
  'Re: Offer please', 'me@me.example', 1, $t2),
 (3, 'work', 'INBOX', 'm3@y.example', 'm3@y.example', $t4,
  'From the Lees', 'family@y.example', 0, $t4);
INSERT INTO events (id, account, calendar, href, uid, summary, start_at,
  end_at, organizer, ingested_at)
VALUES (1, 'work', '/cal/', '/cal/e1.ics', 'e1-uid@dav.example',
  'Visit Anna', $t3, $t3 + 3600, 'me@me.example', $t3);
INSERT INTO links (customer_id, object_kind, object_id, rule, detail, created_at)
VALUES (1, 'message', 1, 'address:from', 'anna@x.example', $t1),
 (1, 'message', 2, 'thread:in-reply-to', 'm1@x.example', $t2),
 (1, 'event', 1, 'attendee:attendee', 'anna@x.example', $t3);
INSERT INTO link_review (object_kind, object_id, customer_id, address, rule,
  created_at)
VALUES ('message', 3, 2, 'family@y.example', 'address', $t4),
 ('message', 3, 3, 'family@y.example', 'address', $t4);"

# ---- timeline

out=$(ctl timeline anna@x.example)
tap_like "timeline names the customer and counts" "$out" '^Anna Schmidt <anna@x.example> \(#1\): 3 items'
tap_is "timeline is newest first: the meeting" "$(printf '%s\n' "$out" | sed -n 2p)" \
    "2026-11-05T14:00:00Z  meeting      e1-uid@dav.example  Visit Anna"
tap_like "an outgoing message with its Message-ID" "$(printf '%s\n' "$out" | sed -n 3p)" \
    '^2026-11-03T08:30:00Z  message out  Sent  <m2@me.example>  Re: Offer please$'
tap_like "an incoming message with its Message-ID" "$(printf '%s\n' "$out" | sed -n 4p)" \
    '^2026-11-01T10:00:00Z  message in   INBOX  <m1@x.example>  Offer please$'
tap_is "without --why no rule is shown" "$(printf '%s\n' "$out" | grep -c 'why:')" 0

out=$(ctl timeline ANNA@X.example --why)
tap_like "--why: the attendee rule" "$out" 'why: attendee:attendee anna@x.example'
tap_like "--why: the thread rule" "$out" 'why: thread:in-reply-to m1@x.example'
tap_like "--why: the address rule" "$out" 'why: address:from anna@x.example'
tap_is "--why: one why per item" "$(printf '%s\n' "$out" | grep -c '    why: ')" 3

out=$(ctl timeline anna@x.example --limit 1)
tap_is "--limit 1 keeps the newest only" "$(printf '%s\n' "$out" | wc -l)" 2
tap_like "and it is the meeting" "$out" 'meeting +e1-uid@dav.example'

tap_ok "timeline --json parses" bash -c "'$RAPPORTCTL' -c '$conf' timeline anna@x.example --json | /usr/bin/python3 -c 'import json,sys; json.load(sys.stdin)'"
out=$(ctl --json timeline '#1' | jget '[(i["kind"], i.get("message_id") or i.get("uid"), i["why"]["rule"]) for i in d["items"]]')
tap_is "--json: items with identifiers and why" "$out" \
    "[('meeting', 'e1-uid@dav.example', 'attendee:attendee'), ('message', 'm2@me.example', 'thread:in-reply-to'), ('message', 'm1@x.example', 'address:from')]"
out=$(ctl timeline ben@y.example --json | jget 'd["total"], len(d["items"])')
tap_is "--json: an empty timeline" "$out" "0 0"
err=$(ctl timeline nobody@x.example 2>&1); rc=$?
tap_is "timeline of an unknown address exits 1" "$rc" 1
tap_like "and says so" "$err" '^rapportctl: no customer has the address nobody@x.example'

# ---- sales

out=$(ctl sale add anna@x.example --product 'Widget Pro' --date 2026-11-20 --amount '120.00 EUR')
tap_is "sale add prints the sale id" "$out" 1
out=$(ctl sale add ben@y.example --product Gadget --json)
tap_is "sale add --json" "$out" '{"id":2,"customer_id":2}'
out=$(ctl sale list)
tap_like "sale list shows the amount and source" "$out" \
    '^    1  2026-11-20T00:00:00Z  Anna Schmidt <anna@x.example>  Widget Pro  \[120.00 EUR\]  \(manual\)$'
tap_like "a sale without --date is dated now" "$out" '2  2026-12-01T09:00:00Z  Ben Lee'
tap_is "sale list ADDR: that customer's only" "$(ctl sale list ben@y.example | wc -l)" 1
out=$(ctl sale list --json | jget '[(s["product"], s["amount"], s["source"]) for s in d]')
tap_is "sale list --json" "$out" "[('Widget Pro', '120.00 EUR', 'manual'), ('Gadget', None, 'manual')]"
err=$(ctl sale add nobody@x.example --product P 2>&1); rc=$?
tap_is "a sale for an unknown address exits 1" "$rc" 1

# ---- referrals

out=$(ctl referral add anna@x.example --referred Cleo.Park@Z.example --name 'Cleo Park' --date 2026-11-10)
tap_is "referral add of a new person creates the customer" "$out" \
    "customer #1 referred customer #4 (new customer)"
out=$(ctl customer show cleo.park@z.example --json | jget 'd["name"], d["source"], d["referred_by"]')
tap_is "the new customer: name, source referral, referred_by" "$out" "Cleo Park referral 1"
err=$(ctl referral add anna@x.example --referred cleo.park@z.example 2>&1); rc=$?
tap_is "the same referral twice exits 1" "$rc" 1
tap_like "and says it is recorded" "$err" 'already recorded'
err=$(ctl referral add anna@x.example --referred anna@x.example 2>&1); rc=$?
tap_is "self-referral exits 1" "$rc" 1
out=$(ctl referral add ben@y.example --referred cleo.park@z.example --json)
tap_is "referral add of an existing customer" "$out" '{"referrer_id":2,"referred_id":4,"new_customer":false}'
ctl referral add cleo.park@z.example --referred dora@w.example --date 2026-11-25 >/dev/null
ctl customer add --name 'Eve Imported' --email eve@v.example --referred-by dora@w.example >/dev/null
ctl sale add cleo.park@z.example --product Widget --date 2026-11-15 >/dev/null
tap_ok "a message linked to Cleo after the referral" sql "
INSERT INTO messages (id, account, folder, message_id, dedupe_key, date,
  subject, from_addr, ingested_at)
VALUES (4, 'work', 'INBOX', 'm4@z.example', 'm4@z.example', $t5, 'Hello',
  'cleo.park@z.example', $t5);
INSERT INTO links (customer_id, object_kind, object_id, rule, detail, created_at)
VALUES (4, 'message', 4, 'address:from', 'cleo.park@z.example', $t5);"

out=$(ctl referral list)
tap_is "referral list: one line per referral" "$(printf '%s\n' "$out" | wc -l)" 4
tap_like "referral list: referrer -> referred" "$out" \
    '^    1  2026-11-10  Anna Schmidt <anna@x.example> -> Cleo Park <cleo.park@z.example>  \(manual\)$'
tap_like "a referred_by field is a recorded referral of its own" "$out" \
    '^    4  2026-12-01  dora@w.example <dora@w.example> -> Eve Imported <eve@v.example>  \(manual\)$'
out=$(ctl referrals)
tap_like "referrals: who brought whom" "$out" 'Anna Schmidt <anna@x.example> \(#1\) brought Cleo Park <cleo.park@z.example> \(#4\)'
tap_like "referrals: what came of it" "$out" \
    'manual; customer since 2026-12-01 \(referral\); first sale 2026-11-15 \(Widget\); 1 message, 0 meetings since'
out=$(ctl referrals --tree)
tap_like "the tree starts at Anna" "$(printf '%s\n' "$out" | sed -n 1p)" '^Anna Schmidt <anna@x.example> \(#1\)$'
tap_like "Cleo under Anna" "$(printf '%s\n' "$out" | sed -n 2p)" '^`-- Cleo Park <cleo.park@z.example> \(#4\)  2026-11-10$'
tap_like "Dora under Cleo" "$out" '^    `-- dora@w.example <dora@w.example> \(#5\)  2026-11-25$'
tap_like "Eve under Dora" "$out" '^        `-- Eve Imported <eve@v.example> \(#6\)'
tap_like "Ben is a root too" "$out" '^Ben Lee <ben@y.example> \(#2\)$'
out=$(ctl referrals --tree --json | jget '[(r["name"], [c["name"] for c in r["referred"]]) for r in d], d[0]["referred"][0]["referred"][0]["referred"][0]["email"], d[0]["referred"][0]["outcome"]["first_sale_product"]')
tap_is "referrals --tree --json nests the referred" "$out" \
    "[('Anna Schmidt', ['Cleo Park']), ('Ben Lee', ['Cleo Park'])] eve@v.example Widget"
tap_ok "referrals --json parses" bash -c "'$RAPPORTCTL' -c '$conf' referrals --json | /usr/bin/python3 -c 'import json,sys; json.load(sys.stdin)'"
tap_ok "referral list --json parses" bash -c "'$RAPPORTCTL' -c '$conf' referral list --json | /usr/bin/python3 -c 'import json,sys; json.load(sys.stdin)'"
tap_ok "a referral cycle does not loop" ctl referral add eve@v.example --referred anna@x.example
out=$(timeout 10 "$RAPPORTCTL" -c "$conf" referrals --tree); rc=$?
tap_is "referrals --tree with a cycle ends" "$rc" 0
tap_like "and marks the cycle" "$out" '`-- Cleo Park <cleo.park@z.example> \(#4\)  2026-11-10  \(cycle: shown above\)$'

# ---- review list

out=$(ctl review list)
tap_is "review list: one row per candidate" "$(printf '%s\n' "$out" | wc -l)" 2
tap_like "a row names the message, the candidate and the address" "$out" \
    '^    1  2026-11-06T09:00:00Z  message <m3@y.example>  From the Lees  -> #2 Ben Lee  \(address family@y.example\)$'
out=$(ctl review list --json | jget '[(r["id"], r["customer"], r["message_id"]) for r in d]')
tap_is "review list --json" "$out" "[(1, 'Ben Lee', 'm3@y.example'), (2, 'Bea Lee', 'm3@y.example')]"
out=$(ctl review dismiss 1)
tap_is "review dismiss" "$out" dismissed
tap_is "the other candidate stays open" "$(ctl review list | wc -l)" 1
err=$(ctl review dismiss 1 2>&1); rc=$?
tap_is "a closed review cannot be dismissed again" "$rc" 1
out=$(ctl review link 2 --json)
tap_is "review link --json" "$out" '{"id":2,"result":"linked"}'
tap_is "the review list is empty" "$(ctl review list)" ""
out=$(ctl timeline bea@y.example --why)
tap_like "the linked message is on Bea's timeline, linked by hand" "$out" 'why: manual family@y.example'
err=$(ctl review link 99 2>&1); rc=$?
tap_is "an unknown review id exits 1" "$rc" 1

# ---- waking rapportd

# A stale pid must not be signalled: a bystander stands where it points.
sleep 60 &
BYSTANDER_PID=$!
sql "INSERT OR REPLACE INTO status (key, value, at) VALUES
  ('daemon.pid', '$BYSTANDER_PID', 0), ('daemon.state', 'running', 0);"
tap_ok "a write with a stale pid succeeds" ctl sale add anna@x.example --product Stale
sleep 0.2
tap_ok "and signals nobody else" kill -0 "$BYSTANDER_PID"
kill "$BYSTANDER_PID" 2>/dev/null; wait "$BYSTANDER_PID" 2>/dev/null; BYSTANDER_PID=

"$RAPPORTD" -c "$conf" -v 2>"$dir/daemon.err" &
DAEMON_PID=$!
daemon_running() {
	[ "$(sql "SELECT value FROM status WHERE key = 'daemon.pid'")" = "$DAEMON_PID" ] &&
	    grep -q 'started' "$dir/daemon.err"
}
woken() { [ "$(grep -c 'wake-up: SIGUSR1' "$dir/daemon.err")" -ge "$1" ]; }
if wait_until 20 daemon_running; then
	tap_pass "rapportd runs and records its pid"
	tap_ok "sale add with rapportd running" ctl sale add anna@x.example --product Woken
	tap_ok "rapportd woke up on SIGUSR1" wait_until 10 woken 1
	tap_ok "referral add" ctl referral add anna@x.example --referred fred@u.example
	tap_ok "wakes it again" wait_until 10 woken 2
	tap_ok "customer add" ctl customer add --name Gus --email gus@u.example
	tap_ok "wakes it too" wait_until 10 woken 3
	tap_ok "a read does not wake it" ctl timeline anna@x.example
	sleep 0.3
	tap_is "still three wake-ups" "$(grep -c 'wake-up: SIGUSR1' "$dir/daemon.err")" 3
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID"; rc=$?
	DAEMON_PID=
	tap_is "rapportd stops cleanly" "$rc" 0
else
	tap_fail "rapportd runs and records its pid"
	tap_diag "$(cat "$dir/daemon.err")"
fi
tap_is "rapportd recorded that it stopped" \
    "$(sql "SELECT value FROM status WHERE key = 'daemon.state'")" stopped
tap_ok "a write with no daemon running succeeds" ctl sale add anna@x.example --product Quiet

tap_done
