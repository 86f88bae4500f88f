#!/bin/bash
# The planner end to end through rapportctl and `rapportd --once` with a
# controlled clock (RAPPORT_NOW) and the shipped templates: a sale plans
# its follow-up steps, a referral its thank-you, a birthday its card, and
# a second pass plans nothing new.  No [smtp] account: rows stay planned.
# Needs no servers; reads the outbox with the sqlite3 shell.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
RAPPORTD=${RAPPORTD:-$TOP_SRCDIR/rapportd}
RAPPORTCTL=${RAPPORTCTL:-$TOP_SRCDIR/rapportctl}
# shellcheck source=SCRIPTDIR/../peers/lib.sh
. "$TOP_SRCDIR/tests/peers/lib.sh"

command -v sqlite3 >/dev/null || { echo "1..0 # SKIP no sqlite3 shell"; exit 0; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/rapport-plan.XXXXXX") || tap_bail "mktemp"
trap 'rm -rf "$dir"' EXIT
conf=$dir/rapport.conf
db=$dir/rapport.db
printf '[rapport]\ndatabase = %s\ntemplates = %s\ntimezone = Europe/Berlin\nfrom = Kim <kim@example.com>\n' \
    "$db" "$TOP_SRCDIR/templates" >"$conf"

ctl() { "$RAPPORTCTL" -c "$conf" "$@"; }
q() { sqlite3 "$db" "$1"; }
once() { RAPPORT_NOW=$1 "$RAPPORTD" -c "$conf" --once 2>"$dir/log"; }

export RAPPORT_NOW=2027-02-26T09:00:00Z
ctl customer add --name 'Ann Buyer' --email ann@example.com >/dev/null ||
    tap_bail "customer add"
ctl customer add --name 'Rita Referrer' --email rita@example.com >/dev/null
ctl customer add --name 'Lee Leap' --email lee@example.com \
    --birthday 1992-02-29 --tz Asia/Seoul >/dev/null
ctl sale add ann@example.com --product Widget --date 2027-02-26T08:00:00Z \
    >/dev/null || tap_bail "sale add"
ctl referral add rita@example.com --referred quinn@example.com >/dev/null ||
    tap_bail "referral add"

once 2027-02-26T10:00:00Z
tap_is "rapportd --once succeeds" "$?" 0
tap_is "the sale plans both follow-up steps with their delays" \
    "$(q "SELECT group_concat(template || ' ' || strftime('%Y-%m-%dT%H:%M', due_at, 'unixepoch'), ', ') FROM (SELECT * FROM outbox WHERE kind = 'follow-up' ORDER BY template)")" \
    "followup-sale-1 2027-03-01T08:00, followup-sale-2 2027-03-28T08:00"
tap_is "the referrer is thanked a day after the referral" \
    "$(q "SELECT c.name || ' ' || strftime('%Y-%m-%dT%H:%M', o.due_at, 'unixepoch') FROM outbox o JOIN customers c ON c.id = o.customer_id WHERE o.kind = 'referral-thanks'")" \
    "Rita Referrer 2027-02-27T09:00"
tap_is "the birthday card: 28 February 09:00 Seoul in a common year" \
    "$(q "SELECT occurrence || ' ' || strftime('%Y-%m-%dT%H:%M', due_at, 'unixepoch') FROM outbox WHERE kind = 'birthday'")" \
    "2027 2027-02-28T00:00"
tap_is "every row is planned, with a reason" \
    "$(q "SELECT count(*) FROM outbox WHERE state = 'planned' AND reason <> ''")" 4
tap_like "the pass is recorded" \
    "$(q "SELECT value FROM status WHERE key = 'planner.last_run'")" \
    '^2027-02-26T10:00:00Z$'

once 2027-02-27T10:00:00Z
tap_is "a second pass plans nothing new" "$(q "SELECT count(*) FROM outbox")" 4

tap_done
