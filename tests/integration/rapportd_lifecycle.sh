#!/bin/bash
# rapportd's life as a service: options, --check-config, the sd_notify
# protocol (READY, STATUS, RELOADING, STOPPING) read from a real datagram
# socket, SIGHUP with a broken and a good config, SIGTERM, --once and the
# status rows it leaves for rapportctl.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

. "$TOP_SRCDIR/tests/peers/lib.sh"

PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/rapportd-lifecycle.XXXXXX") || tap_bail "mktemp"
DAEMON_PID=
LISTENER_PID=

cleanup() {
	[ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null
	[ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT


# The number of datagrams that hold the assignment $1 (e.g. READY=1).
notify_count() {
	[ -f "$T/notify.log" ] || { echo 0; return; }
	grep -c -x -- "$1" "$T/notify.log"
}

notify_has() {
	[ "$(notify_count "$1")" -ge "$2" ]
}

log_has() {
	grep -q -- "$1" "$T/daemon.err"
}

write_config() {
	cat >"$T/rapport.conf" <<EOF
[rapport]
database = $T/rapport.db
templates = $TOP_SRCDIR/templates
EOF
}

# ---------------------------------------------------------------- options

out=$("$RAPPORTD" --help 2>/dev/null); rc=$?
tap_is "--help exits 0" "$rc" 0
tap_like "--help prints the usage to stdout" "$out" '^usage: rapportd'

out=$("$RAPPORTD" --version 2>/dev/null); rc=$?
tap_is "--version exits 0" "$rc" 0
tap_like "--version prints the name and version" "$out" '^rapportd [0-9]+\.[0-9]+'

out=$("$RAPPORTD" --no-such-option 2>"$T/err"); rc=$?
tap_is "an unknown option exits 2" "$rc" 2
tap_like "and prints the usage to stderr" "$(cat "$T/err")" 'usage: rapportd'
tap_is "and nothing to stdout" "$out" ""

"$RAPPORTD" -T nonsense --help >/dev/null 2>&1; rc=$?
tap_is "an unknown trace category exits 2" "$rc" 2

# ---------------------------------------------------------------- --check-config

write_config
out=$("$RAPPORTD" -c "$T/rapport.conf" --check-config 2>"$T/err"); rc=$?
tap_is "--check-config on a good config exits 0" "$rc" 0
tap_like "it says the config is ok" "$out" "^$T/rapport.conf: ok"
tap_like "and the templates too" "$out" "templates: ok \([1-9][0-9]* templates\)"
[ -s "$T/err" ] && tap_diag "$(cat "$T/err")"
tap_ok "--check-config does not create the database" test ! -e "$T/rapport.db"

printf '[rapport]\ndatabase = %s/rapport.db\ndatabse = x\n' "$T" >"$T/typo.conf"
out=$("$RAPPORTD" -c "$T/typo.conf" --check-config 2>"$T/err"); rc=$?
tap_is "a misspelt key exits 1" "$rc" 1
tap_like "with FILE:LINE: on stderr" "$(cat "$T/err")" "^$T/typo.conf:3: "

mkdir -p "$T/badtmpl"
printf 'Kind: follow-up\nTrigger: sale\nAfter: 3d\nSubject: Hi {{customer.no_such_thing}}\n\nBody\n' \
    >"$T/badtmpl/broken.md"
printf '[rapport]\ndatabase = %s/rapport.db\ntemplates = %s/badtmpl\n' "$T" "$T" \
    >"$T/badtmpl.conf"
"$RAPPORTD" -c "$T/badtmpl.conf" --check-config >/dev/null 2>"$T/err"; rc=$?
tap_is "a broken template exits 1" "$rc" 1
tap_like "with the template's FILE:LINE:" "$(cat "$T/err")" "broken.md:[0-9]+: "

"$RAPPORTD" -c "$T/missing.conf" --check-config >/dev/null 2>&1; rc=$?
tap_is "a missing config file exits 1" "$rc" 1

# ---------------------------------------------------------------- the service

# A stand-in for systemd's notify socket: every datagram, one assignment a line.
cat >"$T/listen.py" <<'EOF'
import os, socket, sys
path, log, ready = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
open(ready, "w").close()
while True:
    data = s.recv(4096)
    with open(log, "ab") as f:
        f.write(data.rstrip(b"\n") + b"\n")
EOF
"$PY" "$T/listen.py" "$T/notify.sock" "$T/notify.log" "$T/listener.ready" &
LISTENER_PID=$!
wait_until 10 test -e "$T/listener.ready" || tap_bail "notify listener did not start"

# WATCHDOG_USEC without WATCHDOG_PID applies to whoever reads it.
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=200000 "$RAPPORTD" -c "$T/rapport.conf" -v \
    >"$T/daemon.out" 2>"$T/daemon.err" &
DAEMON_PID=$!

tap_ok "READY=1 arrives" wait_until 10 notify_has READY=1 1
tap_like "STATUS= says idle with the customer count" \
    "$(grep '^STATUS=' "$T/notify.log" | head -1)" '^STATUS=idle; 0 customers'
tap_ok "the daemon is running" kill -0 "$DAEMON_PID"
tap_ok "WATCHDOG=1 pings arrive at half the interval" \
    wait_until 10 notify_has WATCHDOG=1 3

# A reload with a broken config keeps the old one.
printf '[rapport]\ndatabase = %s/rapport.db\ndatabse = x\n' "$T" >"$T/rapport.conf"
kill -HUP "$DAEMON_PID"
tap_ok "reload with a broken config: READY=1 again" wait_until 10 notify_has READY=1 2
tap_is "RELOADING=1 was sent first" "$(notify_count RELOADING=1)" 1
tap_ok "the log says the running configuration is kept" \
    log_has "reload failed: $T/rapport.conf:3: .*; keeping the running configuration"
tap_ok "the daemon is still running" kill -0 "$DAEMON_PID"

write_config
kill -HUP "$DAEMON_PID"
tap_ok "reload with a good config: READY=1 again" wait_until 10 notify_has READY=1 3
tap_is "after RELOADING=1" "$(notify_count RELOADING=1)" 2
tap_ok "the log says reloaded" log_has "reloaded $T/rapport.conf"
tap_ok "the daemon is still running after it" kill -0 "$DAEMON_PID"

tap_is "the status row daemon.state is running" \
    "$(sqlite3 "$T/rapport.db" "SELECT value FROM status WHERE key = 'daemon.state'")" running
tap_is "the status row daemon.pid is the daemon's" \
    "$(sqlite3 "$T/rapport.db" "SELECT value FROM status WHERE key = 'daemon.pid'")" "$DAEMON_PID"

start=$(date +%s%N)
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
DAEMON_PID=
tap_is "SIGTERM: exit status 0" "$rc" 0
# The contract is "within a second"; a loaded CI machine under ASan may
# take longer, so the test only catches a hang and reports the time.
echo "# SIGTERM to exit: ${ms} ms"
if [ "$ms" -lt 5000 ]; then
	tap_pass "SIGTERM: stopped promptly (${ms} ms)"
else
	tap_fail "SIGTERM: stopped promptly (${ms} ms)"
fi
tap_ok "STOPPING=1 arrived" wait_until 5 notify_has STOPPING=1 1
tap_is "the status row daemon.state is stopped" \
    "$(sqlite3 "$T/rapport.db" "SELECT value FROM status WHERE key = 'daemon.state'")" stopped
[ "$rc" -ne 0 ] && tap_diag "$(tail -20 "$T/daemon.err")"

# ---------------------------------------------------------------- --once

rm -f "$T/rapport.db" "$T/rapport.db-wal" "$T/rapport.db-shm"
RAPPORT_NOW=2026-12-01T09:00:00Z "$RAPPORTD" -c "$T/rapport.conf" --once \
    >"$T/once.out" 2>"$T/once.err"; rc=$?
tap_is "--once exits 0" "$rc" 0
[ "$rc" -ne 0 ] && tap_diag "$(cat "$T/once.err")"
tap_is "--once leaves the planner's status row (at RAPPORT_NOW)" \
    "$(sqlite3 "$T/rapport.db" "SELECT value FROM status WHERE key = 'planner.last_run'")" \
    2026-12-01T09:00:00Z

RAPPORT_NOW=yesterday "$RAPPORTD" -c "$T/rapport.conf" --once >/dev/null 2>"$T/err"; rc=$?
tap_is "a malformed RAPPORT_NOW exits 1" "$rc" 1
tap_like "and says so" "$(cat "$T/err")" 'RAPPORT_NOW=yesterday'

tap_done
