#!/bin/bash
# rapportctl customer and status commands against a fresh database: add,
# list, show, edit, tag, import (BOM, CRLF, quoting, Korean and Chinese
# names, bad rows named by line), re-import, forget, export, --json, --help.
# Needs no servers.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
RAPPORTCTL=${RAPPORTCTL:-$TOP_SRCDIR/rapportctl}
# shellcheck source=SCRIPTDIR/../peers/lib.sh
. "$TOP_SRCDIR/tests/peers/lib.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/rapport-ctl.XXXXXX") || tap_bail "mktemp"
trap 'rm -rf "$dir"' EXIT
conf=$dir/rapport.conf
db=$dir/rapport.db
printf '[rapport]\ndatabase = %s\ntimezone = Europe/Berlin\n' "$db" >"$conf"
fixture=$TOP_SRCDIR/tests/integration/data/customers.csv
export RAPPORT_NOW=2026-12-01T09:00:00Z

ctl() { "$RAPPORTCTL" -c "$conf" "$@"; }
is_json() { /usr/bin/python3 -c 'import json,sys; json.load(sys.stdin)'; }
# jget EXPR: evaluates a python expression on the JSON document "d" on stdin.
jget() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# ---- help and usage

for cmd in "" customer "customer add" "customer import" "customer list" \
    "customer show" "customer edit" "customer tag" "customer forget" \
    "customer export" status; do
	# shellcheck disable=SC2086
	out=$("$RAPPORTCTL" $cmd --help 2>&1)
	rc=$?
	tap_is "rapportctl $cmd --help exits 0" "$rc" 0
	tap_like "rapportctl $cmd --help prints a usage" "$out" '^Usage: rapportctl'
done
err=$(ctl customer add --name X 2>&1 >/dev/null); rc=$?
tap_is "a missing --email is a usage error (2)" "$rc" 2
tap_is "a usage error is one line" "$(printf '%s\n' "$err" | wc -l)" 1
err=$(ctl frobnicate 2>&1); rc=$?
tap_is "an unknown command is a usage error" "$rc" 2
err=$("$RAPPORTCTL" -c "$dir/missing.conf" status 2>&1); rc=$?
tap_is "a missing config is a runtime error (1)" "$rc" 1
tap_like "the error names the file" "$err" '^rapportctl: .*missing\.conf'

# ---- add, list, show, edit, tag

out=$(ctl customer add --name 'Dana Scully' --email Dana.Scully@FBI.example \
    --email dana+work@fbi.example --birthday 1964-02-23 --tag vip \
    --lang en-US --tz America/New_York --tier b --newsletter yes)
tap_is "customer add prints the new id" "$out" 1
err=$(ctl customer add --name Other --email dana.scully@fbi.example 2>&1); rc=$?
tap_is "an address already owned is refused" "$rc" 1
tap_like "the error names the owner" "$err" 'belongs to customer #1 \(Dana Scully\)'
err=$(ctl customer add --name X --email x@y.example --birthday 1990-02-30 2>&1); rc=$?
tap_is "30 February is refused" "$rc" 2
err=$(ctl customer add --name X --email x@y.example --tz Mars/Olympus 2>&1); rc=$?
tap_is "an unknown time zone is refused" "$rc" 2
out=$(ctl customer list)
tap_like "customer list shows the customer" "$out" '1  Dana Scully <dana.scully@fbi.example>  vip'
tap_ok "customer list --json parses" is_json < <(ctl customer list --json)
out=$(ctl --json customer show dana@fbi.example | jget 'd["name"], d["tier"], d["lang"], d["birthday"], d["emails"]')
tap_is "show --json by a folded address" "$out" \
    "Dana Scully B en 1964-02-23 ['dana.scully@fbi.example', 'dana@fbi.example']"
out=$(ctl customer edit dana.scully@fbi.example --company FBI --no-tier \
    --add-email scully@xfiles.example --remove-email dana@fbi.example)
tap_is "customer edit reports a change" "$out" updated
out=$(ctl customer edit dana.scully@fbi.example --company FBI)
tap_is "an edit to the same value changes nothing" "$out" unchanged
out=$(ctl customer show scully@xfiles.example --json | jget 'd["company"], d["tier"], d["emails"]')
tap_is "the edit is stored" "$out" \
    "FBI None ['dana.scully@fbi.example', 'scully@xfiles.example']"
out=$(ctl customer tag scully@xfiles.example +newsletter -vip x-files)
tap_is "customer tag adds and removes" "$out" "newsletter x-files"
ctl customer add --name 'Fox Mulder' --email fox@fbi.example --referred-by '#1' >/dev/null
out=$(ctl customer show fox@fbi.example --json | jget 'd["referred_by"]')
tap_is "--referred-by resolves the referrer" "$out" 1

# ---- import

out=$(ctl customer import "$fixture" 2>"$dir/err"); rc=$?
tap_is "import with bad rows exits 1" "$rc" 1
tap_is "import counts" "$out" "6 added, 0 updated, 0 unchanged, 5 skipped"
err=$(cat "$dir/err")
tap_like "bad birthday named with its line (after a multi-line field)" "$err" \
    'customers\.csv:7: birthday .1990-02-30.'
tap_like "bad tier named" "$err" 'customers\.csv:10: tier .D.'
tap_like "bad time zone named" "$err" 'customers\.csv:11: tz .Mars/Olympus.'
tap_like "duplicate in the file named" "$err" \
    'customers\.csv:12: anna\.schmidt@example\.com already appeared on line 2'
tap_like "bad address named" "$err" "customers\\.csv:13: 'not-an-address'"
tap_is "five errors, one line each" "$(wc -l <"$dir/err")" 5
names=$(ctl customer list --json | jget '"|".join(sorted(c["name"] for c in d))')
tap_is "every good row is there (BOM, quotes, Korean, Chinese)" "$names" \
    "Anna Schmidt|Ben Carter|Dana Scully|Fox Mulder|Olsen, Kari|王芳|김민준|이서연"
out=$(ctl customer show ben@shop.example --json | jget 'd["emails"], d["birthday"], d["consent_source"], repr(d["notes"])')
tap_is "extra addresses, --MM-DD birthday, consent source, multi-line notes" "$out" \
    "['ben@carter-shop.example', 'ben.carter@mail.example', 'ben@shop.example'] --03-14 import:customers.csv 'Met at the fair\\r\\nsecond line of notes'"
kari=$(ctl customer show kari@olsen.example --json | jget 'd["id"], d["company"], d["notes"]')
ben_ref=$(ctl customer show ben@shop.example --json | jget 'd["referred_by"]')
tap_is "quoted comma, ampersand and doubled quotes" "${kari#* }" \
    'Olsen & Sønn AS Prefers "calls", not mail'
tap_is "referred_by resolved to a row further down" "$ben_ref" "${kari%% *}"
out=$(ctl customer show seoyeon.lee@example.kr --json | jget 'd["birthday"], d["tz"], d["newsletter"]')
tap_is "29 February of a leap year, Asia/Seoul, newsletter no" "$out" "1988-02-29 Asia/Seoul False"

out=$(ctl customer import "$fixture" 2>/dev/null)
tap_is "re-import changes nothing" "$out" "0 added, 0 updated, 6 unchanged, 5 skipped"
out=$(ctl customer import "$fixture" --json 2>/dev/null | jget 'd["added"], d["unchanged"], len(d["errors"]), d["errors"][0]["line"]')
tap_is "import --json: counts and errors" "$out" "0 6 5 7"
sed 's/Schmidt Bau GmbH/Schmidt Bau AG/' "$fixture" >"$dir/changed.csv"
out=$(ctl customer import "$dir/changed.csv" --dry-run 2>/dev/null)
tap_is "--dry-run counts the change" "$out" "dry run: 0 added, 1 updated, 5 unchanged, 5 skipped"
out=$(ctl customer show anna.schmidt@example.com --json | jget 'd["company"]')
tap_is "--dry-run changes nothing" "$out" "Schmidt Bau GmbH"
out=$(ctl customer import "$dir/changed.csv" 2>/dev/null)
tap_is "a changed row is updated" "$out" "0 added, 1 updated, 5 unchanged, 5 skipped"
printf 'name,email,colour\nX,x@y.example,red\n' >"$dir/unknown.csv"
err=$(ctl customer import "$dir/unknown.csv" 2>&1); rc=$?
tap_is "an unknown column stops the import" "$rc" 1
tap_like "the unknown column is named" "$err" "unknown.csv:1: unknown column 'colour'"
printf 'name,emails\nX,x@y.example\n' >"$dir/noemail.csv"
err=$(ctl customer import "$dir/noemail.csv" 2>&1); rc=$?
tap_like "the email column is required" "$rc:$err" "^1:.*'name' and 'email'"
printf 'name,email\nGood,good@y.example\n' >"$dir/good.csv"
ctl customer import "$dir/good.csv" >/dev/null 2>&1; rc=$?
tap_is "an import without bad rows exits 0" "$rc" 0

# ---- forget, export, status

tap_ok "customer export parses" is_json < <(ctl customer export kari@olsen.example)
err=$(ctl customer forget kari@olsen.example </dev/null 2>&1); rc=$?
tap_is "forget without --yes off a terminal is refused" "$rc" 2
ctl customer forget kari@olsen.example --yes >/dev/null; rc=$?
tap_is "forget --yes" "$rc" 0
err=$(ctl customer show kari@olsen.example 2>&1); rc=$?
tap_is "a forgotten customer is gone" "$rc" 1
out=$(sqlite3 "$db" "select address || ' ' || reason from suppressions")
tap_like "the forgotten address is suppressed" "$out" '^kari@olsen\.example erasure request$'
out=$(ctl customer show ben@shop.example --json | jget 'd["referred_by"]')
tap_is "who they referred stays, without a referrer" "$out" None
out=$(RAPPORT_CONFIG=$conf "$RAPPORTCTL" status --json | jget 'd["customers"], d["schema_version"] > 0')
tap_is "status --json via RAPPORT_CONFIG counts customers" "$out" "8 True"
tap_like "status in text" "$(ctl status)" 'customers +8'

tap_done
