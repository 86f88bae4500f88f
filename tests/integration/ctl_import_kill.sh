#!/bin/bash
# A customer import is one transaction: killed with SIGKILL in the middle,
# it leaves the database with none of the file's rows (never some), intact,
# and running it again completes.  Needs no servers.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
RAPPORTCTL=${RAPPORTCTL:-$TOP_SRCDIR/rapportctl}
# shellcheck source=SCRIPTDIR/../peers/lib.sh
. "$TOP_SRCDIR/tests/peers/lib.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/rapport-kill.XXXXXX") || tap_bail "mktemp"
trap 'rm -rf "$dir"' EXIT
conf=$dir/rapport.conf
db=$dir/rapport.db
csv=$dir/customers.csv
rows=20000
printf '[rapport]\ndatabase = %s\n' "$db" >"$conf"

awk -v n="$rows" 'BEGIN {
	print "name,email,birthday,tags,tz,tier,newsletter,notes"
	for (i = 0; i < n; i++)
		printf "\"Customer %d\",c%d@example.com,19%02d-%02d-%02d,t%d;all,Europe/Berlin,%s,%s,\"note, %d\"\n",
		    i, i, 50 + i % 50, 1 + i % 12, 1 + i % 28, i % 7,
		    substr("ABC", 1 + i % 3, 1), (i % 2 ? "yes" : "no"), i
}' >"$csv"
tap_is "a $rows-row file" "$(wc -l <"$csv")" $((rows + 1))

# Customers in the database, 0 when it (or its schema) is not there yet.
count() {
	sqlite3 "$db" 'select count(*) from customers' 2>/dev/null || echo 0
}

# Kill after a delay; when the import wins the race, start again with a
# fresh database and a shorter delay.
delay=0.1 killed=0
for attempt in 1 2 3 4 5 6 7 8 9 10; do
	rm -f "$db" "$db-wal" "$db-shm" "$db-journal"
	"$RAPPORTCTL" -c "$conf" customer import "$csv" >"$dir/out" 2>&1 &
	pid=$!
	# Count the delay from the moment the database is open (WAL mode makes
	# the -wal file), so the kill lands in the transaction, not at start-up.
	for _ in $(seq 200); do
		[ -e "$db-wal" ] || ! kill -0 "$pid" 2>/dev/null && break
		sleep 0.01
	done
	sleep "$delay"
	wal=$(stat -c %s "$db-wal" 2>/dev/null || echo 0)
	kill -9 "$pid" 2>/dev/null
	{ wait "$pid"; } 2>/dev/null
	rc=$?
	if [ "$rc" -eq 137 ]; then
		killed=1
		tap_diag "killed after ${delay}s in the transaction (WAL: $wal bytes)"
		break
	fi
	tap_diag "attempt $attempt: the import finished before the kill (rc $rc)"
	delay=$(awk -v d="$delay" 'BEGIN { print d / 2 }')
done
tap_is "an import was killed with SIGKILL midway" "$killed" 1
n=$(count)
if [ "$n" -eq 0 ] || [ "$n" -eq "$rows" ]; then
	tap_pass "after the kill: $n customers (none or all, never some)"
else
	tap_fail "after the kill: $n customers (none or all, never some)"
fi
if [ -f "$db" ]; then
	tap_is "integrity_check after the kill" "$(sqlite3 "$db" 'pragma integrity_check')" ok
else
	tap_pass "integrity_check after the kill # the kill came before the database existed"
fi

out=$("$RAPPORTCTL" -c "$conf" customer import "$csv" 2>&1)
rc=$?
tap_is "the import run again succeeds" "$rc" 0
if [ "$n" -eq 0 ]; then
	tap_is "and adds every row" "$out" "$rows added, 0 updated, 0 unchanged, 0 skipped"
else
	tap_is "and finds every row there" "$out" "0 added, 0 updated, $rows unchanged, 0 skipped"
fi
tap_is "$rows customers" "$(count)" "$rows"
tap_is "integrity_check at the end" "$(sqlite3 "$db" 'pragma integrity_check')" ok
tap_is "tags of every customer" "$(sqlite3 "$db" "select count(*) from customer_tags where tag = 'all'")" "$rows"

tap_done
