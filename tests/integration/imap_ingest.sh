#!/bin/bash
# The IMAP connector end to end: rapportd against a private Dovecot over
# STARTTLS (checked against the test CA).  Fixture mails land once each on
# the right customer's timeline with the rule that linked them; a bounce
# suppresses, an unsubscribe withdraws consent, an auto-reply is no reply;
# the mailbox is never changed; a second pass adds nothing; the Sent folder
# is outreach; a UIDVALIDITY change re-syncs without duplicates; unknown
# correspondents are listed (rapportctl unmatched) and linked retroactively
# once their address is given to a customer; the timeline shows direction
# and folder; imaps:// to a certificate no trusted CA signed is refused
# unless ca_file names the CA; IDLE delivers within 2 s; an expunge drops
# the location only; a restarted server, or one that drops the connection,
# is reconnected to and nothing is missed; SIGTERM stops the daemon promptly;
# passes that spare the EXAMINE (STATUS, or NOOP and CHANGEDSINCE in the
# open folder) miss no new message, expunge or UIDVALIDITY change, in the
# daemon and between two --once runs, and leave INBOX open for IDLE.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TOP_BUILDDIR=${TOP_BUILDDIR:-$TOP_SRCDIR}
RAPPORTD=${RAPPORTD:-$TOP_BUILDDIR/rapportd}
RAPPORTCTL=${RAPPORTCTL:-$TOP_BUILDDIR/rapportctl}
. "$TOP_SRCDIR/tests/peers/lib.sh" || exit 1

MAIL=$TOP_SRCDIR/tests/integration/mail
[ -x "$RAPPORTD" ] || tap_bail "no $RAPPORTD"
[ -x "$RAPPORTCTL" ] || tap_bail "no $RAPPORTCTL"
command -v sqlite3 >/dev/null || tap_bail "sqlite3 (the CLI) is needed"

peers_setup || tap_bail "peers_setup failed"
dovecot_start alice secret || tap_bail "dovecot did not start"
dovecot_mailbox_create alice Sent || tap_bail "cannot create Sent"

T=$PEERS_DIR/rapport
mkdir -p "$T"
DB=$T/rapport.db
CONF=$T/rapport.conf
DAEMON_PID=
peers_on_exit '[ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null'

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
folders = INBOX Sent
timeout = 10
EOF

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

sql() {
	sqlite3 -batch -noheader "$DB" "$@"
}

ctl() {
	"$RAPPORTCTL" -c "$CONF" "$@"
}

# ------------------------------------------------------------ customers

# Consent recorded before the unsubscribe mail was written (the store
# keeps a consent newer than the mail).
add() {
	RAPPORT_NOW=2026-01-01T00:00:00Z ctl customer add "$@" >/dev/null
}
ok=1
add --name "Anna Customer" --email anna@customer.example || ok=0
add --name "김민준" --email minjun@example.kr --lang ko || ok=0
add --name "张伟" --email zhang@example.cn --lang zh || ok=0
add --name "Dana Buyer" --email dana@shop.example || ok=0
add --name "Eve Early" --email eve@example.net || ok=0
add --name "Frank Long" --email frank@example.com || ok=0
add --name "Grace Null" --email grace@example.com || ok=0
add --name "Heidi Broken" --email heidi@example.com || ok=0
add --name "Gone Away" --email gone@customer.example || ok=0
add --name "Reader" --email news@reader.example --newsletter yes || ok=0
add --name "Ivan Away" --email ivan@example.com || ok=0
tap_is "eleven customers added with rapportctl" "$ok" 1

# doveadm save turns NUL bytes into 0x80: that one goes straight into the
# Maildir, so the server hands the NUL bytes over as they are.
for f in "$MAIL"/0*.eml "$MAIL"/1*.eml; do
	case $f in
	*_nul.eml) dovecot_deliver_maildir alice "$f" ;;
	*) dovecot_deliver alice "$f" ;;
	esac || tap_bail "delivery of $f failed"
done
dovecot_deliver alice "$MAIL/20_sent.eml" Sent || tap_bail "Sent delivery"
n_inbox=$(ls "$MAIL"/0*.eml "$MAIL"/1*.eml | wc -l)

# ------------------------------------------------------------ first pass

"$RAPPORTD" -c "$CONF" --once 2>"$T/once1.err"
rc=$?
tap_is "rapportd --once exits 0" "$rc" 0 || tap_diag "$(tail -20 "$T/once1.err")"

tap_is "every message stored, exactly once" \
    "$(sql "SELECT count(*), count(DISTINCT dedupe_key) FROM messages")" \
    "$((n_inbox + 1))|$((n_inbox + 1))"
tap_is "one location per delivered message" \
    "$(sql "SELECT count(*) FROM message_locations")" "$((n_inbox + 1))"

# link ADDR MESSAGE-ID: the rule that linked them, empty if none.
link() {
	sql "SELECT l.rule FROM links l
	    JOIN messages m ON l.object_kind = 'message' AND m.id = l.object_id
	    JOIN customer_emails e ON e.customer_id = l.customer_id
	    WHERE e.address = '$1' AND m.message_id = '$2'"
}

tap_is "a customer's reply is linked by address:from" \
    "$(link anna@customer.example reply-1@customer.example)" address:from
tap_is "... and counts as a reply by Anna" \
    "$(sql "SELECT m.is_reply, e.address FROM messages m
	JOIN customer_emails e ON e.customer_id = m.author_id
	WHERE m.message_id = 'reply-1@customer.example'")" \
    "1|anna@customer.example"
tap_is "the Korean RFC 2047 mail is linked to its customer" \
    "$(link minjun@example.kr ko-2047@example.kr)" address:from
tap_is "... with its subject decoded to UTF-8" \
    "$(sql "SELECT subject FROM messages WHERE message_id = 'ko-2047@example.kr'")" \
    "견적 문의 드립니다"
tap_is "the EUC-KR/GB18030 mail is linked" \
    "$(link zhang@example.cn euckr-1@example.cn)" address:from
tap_is "... its EUC-KR subject decoded" \
    "$(sql "SELECT subject FROM messages WHERE message_id = 'euckr-1@example.cn'")" \
    "주문 확인 부탁드립니다"
tap_is "... and its GB18030 display name" \
    "$(sql "SELECT p.name FROM message_participants p JOIN messages m
	ON m.id = p.message_id WHERE m.message_id = 'euckr-1@example.cn'
	AND p.role = 'from'")" "张伟"
tap_is "the mail to an address group is linked" \
    "$(link dana@shop.example group-1@shop.example)" address:from
tap_is "... and the group's member is a participant" \
    "$(sql "SELECT count(*) FROM message_participants p JOIN messages m
	ON m.id = p.message_id WHERE m.message_id = 'group-1@shop.example'
	AND p.address = 'lee@example.com'")" 1
tap_is "the mail with no Date is linked" \
    "$(link eve@example.net nodate-1@example.net)" address:from
internal=$(doveadm_ fetch -u alice date.received mailbox INBOX \
    header message-id '<nodate-1@example.net>' 2>/dev/null |
    sed -n 's/^date.received: //p')
want=$(date -u -d "$internal" +%s 2>/dev/null)
tap_is "... dated by its INTERNALDATE" \
    "$(sql "SELECT date FROM messages WHERE message_id = 'nodate-1@example.net'")" \
    "${want:-?}"
tap_is "the mail with a 10,000-character header line is linked" \
    "$(link frank@example.com long-1@example.com)" address:from
tap_is "the mail with NUL bytes is linked" \
    "$(link grace@example.com nul-1@example.com)" address:from
# Dovecot's FETCH hands a NUL out as 0x80 (IMAP without BINARY allows no
# NUL), which reads as undeclared 8-bit text: one character, whatever it is.
tap_like "... its subject kept whole, as valid text" \
    "$(sql "SELECT subject FROM messages WHERE message_id = 'nul-1@example.com'")" \
    '^NUL.? bytes$'
tap_like "... and the defect logged once with its location" \
    "$(grep -c 'folder=INBOX uid=[0-9]* message-id=nul-1@example.com:' "$T/once1.err")" '^1$'

tap_is "the mail with a broken MIME boundary is linked" \
    "$(link heidi@example.com mime-1@example.com)" address:from
tap_like "the DSN put the customer's address on the suppression list" \
    "$(sql "SELECT reason FROM suppressions WHERE address = 'gone@customer.example'")" \
    '^bounce: 5\.1\.1.*dsn-1@mail\.example\.com'
tap_is "... and is marked a bounce, not a reply" \
    "$(sql "SELECT is_bounce, is_reply FROM messages WHERE message_id = 'dsn-1@mail.example.com'")" \
    "1|0"
tap_is "the 수신거부 mail withdrew the newsletter consent" \
    "$(sql "SELECT m.is_unsubscribe, c.newsletter, c.consent_source
	FROM messages m, customers c JOIN
	customer_emails e ON e.customer_id = c.id
	WHERE e.address = 'news@reader.example'
	AND m.message_id = 'unsub-1@reader.example'")" \
    "1|0|mail:unsub-1@reader.example"
tap_is "the auto-reply is linked" \
    "$(link ivan@example.com ooo-1@example.com)" address:from
tap_is "... as an auto-reply, not a reply" \
    "$(sql "SELECT is_auto_reply, is_reply FROM messages WHERE message_id = 'ooo-1@example.com'")" \
    "1|0"
tap_is "the stranger's mail is stored, linked to nobody" \
    "$(sql "SELECT count(l.id) FROM messages m LEFT JOIN links l ON
	l.object_kind = 'message' AND l.object_id = m.id
	WHERE m.message_id = 'stranger-1@unknown.example'")" 0
tap_is "mail in Sent is outreach, linked to its recipient" \
    "$(link anna@customer.example quote-1@example.com)" address:to
tap_is "... outgoing" \
    "$(sql "SELECT outgoing FROM messages WHERE message_id = 'quote-1@example.com'")" 1
tap_like "rapportctl timeline shows Anna's messages" \
    "$(ctl timeline anna@customer.example 2>&1)" 'Your quote'
tap_is "the first text was read only where a rule needs it" \
    "$(sql "SELECT group_concat(message_id, ' ') FROM (SELECT message_id
	FROM messages WHERE snippet IS NOT NULL ORDER BY message_id)")" \
    "dsn-1@mail.example.com group-1@shop.example reply-1@customer.example stranger-1@unknown.example"
tap_is "... (the stranger's first message, decoded)" \
    "$(sql "SELECT snippet FROM messages WHERE message_id = 'stranger-1@unknown.example'")" \
    "I found your shop online, do you ship to Norway?"
tap_is "the cursor holds the last UID of INBOX" \
    "$(sql "SELECT value FROM cursors WHERE connector = 'imap' AND
	account = 'work' AND collection = 'INBOX' AND key = 'uid'")" \
    "$n_inbox"
tap_like "rapportctl status shows the account's progress" \
    "$(ctl status 2>&1)" 'imap\.work.*up to date'
tap_like "a defective message is logged with its location" \
    "$(cat "$T/once1.err")" 'account=work folder=INBOX uid=[0-9]+'

# ------------------------------------------------------------ mailbox untouched

seen=$(doveadm_ fetch -u alice flags mailbox INBOX all 2>/dev/null |
    grep -c 'Seen')
seen_sent=$(doveadm_ fetch -u alice flags mailbox Sent all 2>/dev/null |
    grep -c 'Seen')
tap_is "no message got \\Seen (INBOX and Sent)" "$seen/$seen_sent" "0/0"
tap_is "the Maildir file names carry no S flag" \
    "$(find "$DOVECOT_MAILDIR" -type f -path '*/cur/*' -name '*:2,*S*' | wc -l)" 0
tap_is "nothing was expunged" "$(dovecot_count alice INBOX)" "$n_inbox"

# ------------------------------------------------------------ idempotent

links_before=$(sql "SELECT count(*) FROM links")
"$RAPPORTD" -c "$CONF" --once 2>"$T/once2.err"
tap_is "a second --once exits 0" "$?" 0
tap_is "... and adds no message" \
    "$(sql "SELECT count(*) FROM messages")" "$((n_inbox + 1))"
tap_is "... and no link" "$(sql "SELECT count(*) FROM links")" "$links_before"

# ------------------------------------------------------------ UIDVALIDITY

old_uv=$(sql "SELECT value FROM cursors WHERE account = 'work' AND
    collection = 'INBOX' AND key = 'uidvalidity'")
new_uv=$((old_uv + 1000))
doveadm_ mailbox update -u alice --uid-validity "$new_uv" INBOX 2>"$T/uv.err" ||
    tap_diag "$(cat "$T/uv.err")"
"$RAPPORTD" -c "$CONF" --once 2>"$T/once3.err"
tap_is "--once after a UIDVALIDITY change exits 0" "$?" 0
tap_like "... saying so in the log" "$(cat "$T/once3.err")" \
    "folder=INBOX: UIDVALIDITY changed $old_uv -> $new_uv"
tap_is "... re-syncs without a duplicate message" \
    "$(sql "SELECT count(*), count(DISTINCT dedupe_key) FROM messages")" \
    "$((n_inbox + 1))|$((n_inbox + 1))"
tap_is "... or a duplicate link" "$(sql "SELECT count(*) FROM links")" \
    "$links_before"
tap_is "... and INBOX's locations are all under the new UIDVALIDITY" \
    "$(sql "SELECT count(*) FROM message_locations WHERE folder = 'INBOX'
	AND uidvalidity = $new_uv")/$(sql "SELECT count(*) FROM
	message_locations WHERE folder = 'INBOX'")" "$n_inbox/$n_inbox"

# ------------------------------------------------------------ unknown correspondents

out=$(ctl unmatched 2>&1)
tap_like "rapportctl unmatched: the stranger first, 2 messages, latest subject" \
    "$(printf '%s\n' "$out" | sed -n 1p)" \
    '^ +2  2026-11-12T10:00:00Z  2026-11-13T09:30:00Z  stranger@unknown\.example \(Someone New\)  Shipping to Norway$'
tap_like "... then the group's member" "$out" \
    '^ +1  .*  lee@example\.com \(Lee\)  Group address test$'
tap_like "... and the +tagged address as it was written" "$out" \
    '^ +1  .*  lee\+sales@example\.com \(Lee\)  Shipping to Norway$'
tap_is "... and nobody else: not the user, not customers, not the bounce's daemon" \
    "$(printf '%s\n' "$out" | wc -l)" 3
tap_is "rapportctl unmatched --json --limit 1" \
    "$(ctl unmatched --json --limit 1 | "$PEERS_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
print(len(d), d[0]["address"], d[0]["count"], d[0]["first_seen"], d[0]["subject"])')" \
    "1 stranger@unknown.example 2 2026-11-12T10:00:00Z Shipping to Norway"

# why ADDR MESSAGE-ID: the rule and detail of the link.
why() {
	sql "SELECT l.rule || ' ' || l.detail FROM links l
	    JOIN messages m ON l.object_kind = 'message' AND m.id = l.object_id
	    JOIN customer_emails e ON e.customer_id = l.customer_id
	    WHERE e.address = '$1' AND m.message_id = '$2'"
}
count_msgs=$(sql "SELECT count(*) FROM messages")
ctl customer add --name "Someone New" --email stranger@unknown.example >/dev/null
tap_is "a new customer's earlier mail is linked at once (address:from, retroactive)" \
    "$(why stranger@unknown.example stranger-1@unknown.example)/$(why stranger@unknown.example stranger-2@unknown.example)" \
    "address:from retroactive/address:from retroactive"
tap_is "... with them as its author" \
    "$(sql "SELECT count(*) FROM messages m JOIN customer_emails e
	ON e.customer_id = m.author_id WHERE e.address = 'stranger@unknown.example'
	AND m.is_reply = 1")" 2
ctl customer add --name "Lee" --email lee@example.com >/dev/null
tap_is "... by role: To of the group mail" \
    "$(why lee@example.com group-1@shop.example)" "address:to retroactive"
tap_is "... and Cc of the +tagged address, folded as the linker folds" \
    "$(why lee@example.com stranger-2@unknown.example)" "address:cc retroactive"
tap_is "... nothing downloaded or stored again" \
    "$(sql "SELECT count(*) FROM messages")" "$count_msgs"
tap_is "rapportctl unmatched is empty now" "$(ctl unmatched 2>&1)" ""
tap_like "rapportctl timeline shows direction and folder" \
    "$(ctl timeline stranger@unknown.example 2>&1)" \
    'message in   INBOX  <stranger-2@unknown\.example>  Shipping to Norway'
tap_like "... for outreach in Sent too" \
    "$(ctl timeline anna@customer.example 2>&1)" \
    'message out  Sent  <quote-1@example\.com>  Your quote'
tap_is "timeline --json carries the folder" \
    "$(ctl timeline stranger@unknown.example --json | "$PEERS_PYTHON" -c '
import json, sys
print(" ".join(i["folder"] + ":" + i["direction"] for i in json.load(sys.stdin)["items"]))')" \
    "INBOX:in INBOX:in"

# ------------------------------------------------------------ certificates

# tls_conf DB [CA_FILE]: the account over implicit TLS (imaps://).
tls_conf() {
	cat <<-EOF
	[rapport]
	database = $1
	templates = $TOP_SRCDIR/templates
	from = Kim Sales <kim@example.com>

	[imap "tls"]
	url = imaps://127.0.0.1:$DOVECOT_IMAPS_PORT/
	${2:+ca_file = $2}
	user = alice
	password = secret
	folders = INBOX
	timeout = 10
	EOF
}
tls_conf "$T/tls-none.db" >"$T/tls-none.conf"
"$RAPPORTD" -c "$T/tls-none.conf" --once 2>"$T/tls-none.err"
tap_not "imaps:// to a certificate no trusted CA signed, no ca_file: --once fails" \
    test "$?" -eq 0
tap_like "... saying clearly why" "$(cat "$T/tls-none.err")" \
    'imap account=tls: .*certificate refused'
tap_is "... and ingests nothing" \
    "$(sqlite3 -batch "$T/tls-none.db" "SELECT count(*) FROM messages")" 0
tls_conf "$T/tls-ca.db" "$PEERS_CA_FILE" >"$T/tls-ca.conf"
"$RAPPORTD" -c "$T/tls-ca.conf" --once 2>"$T/tls-ca.err"
tap_is "with the server's CA as ca_file the same account syncs" "$?" 0
tap_is "... every INBOX message" \
    "$(sqlite3 -batch "$T/tls-ca.db" "SELECT count(*) FROM messages")" \
    "$n_inbox"

# ------------------------------------------------------------ the daemon: IDLE

"$RAPPORTD" -c "$CONF" -T imap 2>"$T/daemon.err" &
DAEMON_PID=$!

# wait_sql SECONDS QUERY EXPECTED: polls every 20 ms.
wait_sql() {
	local deadline
	deadline=$(peers_deadline "$1")
	until [ "$(sql "$2" 2>/dev/null)" = "$3" ]; do
		[ "$(date +%s%N)" -gt "$deadline" ] && return 1
		sleep 0.02
	done
}

# wait_log SECONDS REGEX: polls the daemon's log every 20 ms.
wait_log() {
	local deadline
	deadline=$(peers_deadline "$1")
	until grep -Eq -- "$2" "$T/daemon.err"; do
		[ "$(date +%s%N)" -gt "$deadline" ] && return 1
		sleep 0.02
	done
}

# wait_until SECONDS CMD [ARG...]: polls CMD every 20 ms.
wait_until() {
	local deadline
	deadline=$(peers_deadline "$1")
	shift
	until "$@"; do
		[ "$(date +%s%N)" -gt "$deadline" ] && return 1
		sleep 0.02
	done
}

# -T imap traces the session; "idling" is logged once IDLE is running.
tap_ok "the daemon syncs and enters IDLE" wait_log 60 'host=127\.0\.0\.1: idling'
start=$(now_ms)
dovecot_deliver alice "$MAIL/30_idle.eml"
saved=$(now_ms)
# The 2 s latency target is measured by bench/imap, not asserted here:
# the wait only bounds a hung test on a loaded machine.
if wait_sql 30 "SELECT count(*) FROM messages WHERE message_id = 'idle-1@customer.example'" 1; then
	lat=$(($(now_ms) - start))
	echo "# IDLE: stored and linked $(($(now_ms) - saved)) ms after doveadm" \
	    "save returned, $lat ms after it started"
	tap_pass "a message delivered while rapportd idles is stored, no new pass"
else
	tap_fail "a message delivered while rapportd idles is stored, no new pass"
	tap_diag "$(tail -20 "$T/daemon.err")"
fi
tap_is "... and linked to Anna" \
    "$(link anna@customer.example idle-1@customer.example)" address:from

poll_mail() {	# FILE MESSAGE-ID FROM TO
	printf 'From: %s\r\nTo: %s\r\nSubject: pass %s\r\nMessage-ID: <%s>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nHello.\r\n' \
	    "$3" "$4" "$2" "$2" >"$1"
}
stored() {
	sql "SELECT count(*) FROM messages WHERE message_id = '$1'"
}
located() {
	sql "SELECT count(*) FROM message_locations l JOIN messages m
	    ON m.id = l.message_id WHERE m.message_id = '$1'"
}
dupes() {
	sql "SELECT count(*) - count(DISTINCT dedupe_key) FROM messages"
}

# A pass that EXAMINEs Sent (changed) must leave INBOX open for IDLE
# again, though nothing changed there.
poll_mail "$T/i1.eml" idle-s1@customer.example kim@example.com anna@customer.example
poll_mail "$T/i2.eml" idle-2@customer.example anna@customer.example kim@example.com
n0=$(grep -c 'folders synced in' "$T/daemon.err")
synced_since() { [ "$(grep -c 'folders synced in' "$T/daemon.err")" -gt "$1" ]; }
dovecot_deliver alice "$T/i1.eml" Sent
kill -USR1 "$DAEMON_PID"
tap_ok "a pass on SIGUSR1 while idling" wait_until 20 synced_since "$n0"
tap_is "... stores what came to Sent" "$(stored idle-s1@customer.example)" 1
dovecot_deliver alice "$T/i2.eml"
if wait_sql 20 "SELECT count(*) FROM messages WHERE message_id = 'idle-2@customer.example'" 1; then
	tap_pass "... and IDLE watches INBOX again: a new message there is stored"
else
	tap_fail "... and IDLE watches INBOX again: a new message there is stored"
	tap_diag "$(tail -20 "$T/daemon.err")"
fi

# ------------------------------------------------------------ expunge

dovecot_expunge alice INBOX header message-id '<stranger-1@unknown.example>'
if wait_sql 5 "SELECT count(*) FROM message_locations l JOIN messages m
    ON m.id = l.message_id WHERE m.message_id = 'stranger-1@unknown.example'" 0; then
	tap_pass "an expunge seen while idling (VANISHED) drops the location"
else
	tap_fail "an expunge seen while idling (VANISHED) drops the location"
	tap_diag "$(tail -20 "$T/daemon.err")"
fi
tap_is "... but keeps the message" \
    "$(sql "SELECT count(*) FROM messages WHERE message_id = 'stranger-1@unknown.example'")" 1

# ------------------------------------------------------------ server restart

dovecot_restart() {
	dovecot -F -c "$DOVECOT_CONF" >>"$PEERS_DIR/dovecot/dovecot.out" 2>&1 &
	DOVECOT_PID=$!
	export DOVECOT_PID
	wait_for_port "$DOVECOT_IMAP_PORT" 10 "$DOVECOT_PID"
}

dovecot_stop
# Delivered by the local delivery agent while the IMAP server is down.
dovecot_deliver_maildir alice "$MAIL/31_after_restart.eml"
tap_ok "rapportd notices the lost connection and backs off" \
    wait_log 60 'imap account=work: retrying in'
tap_ok "Dovecot restarts" dovecot_restart
if wait_sql 20 "SELECT count(*) FROM messages WHERE message_id = 'restart-1@customer.example'" 1; then
	tap_pass "rapportd reconnected and ingested the mail delivered meanwhile"
else
	tap_fail "rapportd reconnected and ingested the mail delivered meanwhile"
	tap_diag "$(tail -20 "$T/daemon.err")"
fi
tap_is "still no duplicate" \
    "$(sql "SELECT count(*) - count(DISTINCT dedupe_key) FROM messages")" 0

# ------------------------------------------------------------ the server drops us

# The IMAP processes serving rapportd (not the master, not the logins).
imap_pids() {
	ps -eo pid=,args= |
	    awk -v t="dovecot-$DOVECOT_INSTANCE/imap" '$2 == t { print $1 }'
}
retries=$(grep -c 'imap account=work: retrying in' "$T/daemon.err")
pids=$(imap_pids)
tap_ok "the server's IMAP process for rapportd is found" test -n "$pids"
# shellcheck disable=SC2086
kill -KILL $pids 2>/dev/null
dovecot_deliver alice "$MAIL/32_after_drop.eml"
retried() {
	[ "$(grep -c 'imap account=work: retrying in' "$T/daemon.err")" -gt "$retries" ]
}
tap_ok "a connection dropped by the server is noticed" wait_until 10 retried
if wait_sql 20 "SELECT count(*) FROM messages WHERE message_id = 'drop-1@customer.example'" 1; then
	tap_pass "... rapportd reconnects and ingests what came meanwhile"
else
	tap_fail "... rapportd reconnects and ingests what came meanwhile"
	tap_diag "$(tail -20 "$T/daemon.err")"
fi
tap_is "... linked, once" \
    "$(link anna@customer.example drop-1@customer.example)/$(sql "SELECT count(*) - count(DISTINCT dedupe_key) FROM messages")" \
    "address:from/0"

# ------------------------------------------------------------ SIGTERM

start=$(now_ms)
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
rc=$?
lat=$(($(now_ms) - start))
DAEMON_PID=
echo "# SIGTERM to exit: $lat ms"
tap_is "SIGTERM stops rapportd with status 0" "$rc" 0
tap_ok "... promptly (the bound only catches a hang)" test "$lat" -le 10000

# ------------------------------------------------------------ passes without EXAMINE

# A pass looks at a folder without an EXAMINE when it can: the folder the
# session still has open by NOOP and UID FETCH (CHANGEDSINCE VANISHED),
# any other by STATUS.  Neither may miss a new message, an expunge or a
# UIDVALIDITY change.  The daemon polls (no IDLE, so nothing but the
# pass sees a change) and passes on SIGUSR1.  The folder open after a
# pass is the last one EXAMINEd: none at first (the IDLE daemon left
# both cursors current), INBOX once a delivery there made the pass look.
CONF_POLL=$T/poll.conf
POLL_LOG=$T/poll.err
sed 's/^timeout = 10$/timeout = 10\nidle_folders =\npoll = 3600/' "$CONF" >"$CONF_POLL"
"$RAPPORTD" -c "$CONF_POLL" -T imap 2>"$POLL_LOG" &
DAEMON_PID=$!

passes() { grep -c 'folders synced in' "$POLL_LOG"; }
passed_since() { [ "$(passes)" -gt "$1" ]; }
# sync_pass: one pass on SIGUSR1; its log lines go to $T/pass.log.
sync_pass() {
	local n0 l0
	n0=$(passes)
	l0=$(wc -l <"$POLL_LOG")
	kill -USR1 "$DAEMON_PID"
	wait_until 20 passed_since "$n0" || { tap_diag "no pass"; return 1; }
	tail -n +"$((l0 + 1))" "$POLL_LOG" >"$T/pass.log"
}
# EXAMINEd: the folders the last pass sent an EXAMINE for.
examined() {
	sed -n 's/.* folder=\([^ ]*\): uidvalidity=.*/\1/p' "$T/pass.log" |
	    tr '\n' ' '
}

tap_ok "the polling daemon makes its first pass" wait_until 30 passed_since 0
sync_pass
tap_is "a pass with nothing changed sends no EXAMINE" "$(examined)" ""
tap_like "... INBOX checked by STATUS" "$(cat "$T/pass.log")" \
    'folder=INBOX: STATUS as the cursor: no EXAMINE'
tap_like "... and Sent" "$(cat "$T/pass.log")" \
    'folder=Sent: STATUS as the cursor: no EXAMINE'

poll_mail "$T/p1.eml" pass-1@customer.example anna@customer.example kim@example.com
dovecot_deliver alice "$T/p1.eml"
sync_pass
tap_is "a new message in a folder checked by STATUS is stored" \
    "$(stored pass-1@customer.example)/$(examined)" "1/INBOX "

dovecot_expunge alice INBOX header message-id '<pass-1@customer.example>'
sync_pass
tap_is "an expunge in the open folder drops the location" \
    "$(located pass-1@customer.example)/$(stored pass-1@customer.example)" "0/1"

poll_mail "$T/p2.eml" pass-2@customer.example anna@customer.example kim@example.com
dovecot_deliver alice "$T/p2.eml"
sync_pass
tap_is "a new message in the open folder is stored, with no EXAMINE" \
    "$(stored pass-2@customer.example)/$(examined)" "1/"
sync_pass
tap_is "a pass with nothing changed, INBOX open: no EXAMINE" "$(examined)" ""
tap_like "... INBOX checked by CHANGEDSINCE" "$(cat "$T/pass.log")" \
    'folder=INBOX: open, [0-9]+ changed since modseq [0-9]+, nothing new: no EXAMINE'

poll_mail "$T/s1.eml" pass-s1@customer.example kim@example.com anna@customer.example
dovecot_deliver alice "$T/s1.eml" Sent
sync_pass
tap_is "a new message in Sent (checked by STATUS) is stored" \
    "$(stored pass-s1@customer.example)/$(examined)" "1/Sent "

dovecot_expunge alice INBOX header message-id '<pass-2@customer.example>'
sync_pass
tap_is "an expunge in a folder checked by STATUS drops the location" \
    "$(located pass-2@customer.example)/$(stored pass-2@customer.example)" "0/1"

# UIDVALIDITY: of a folder not open (Sent: INBOX was EXAMINEd last), then
# of the open one (Sent, EXAMINEd last by the reset).
uv_change() {	# FOLDER: a new UIDVALIDITY, printed
	local uv
	uv=$(sql "SELECT value FROM cursors WHERE account = 'work' AND
	    collection = '$1' AND key = 'uidvalidity'")
	doveadm_ mailbox update -u alice --uid-validity "$((uv + 1000))" "$1" ||
	    tap_diag "doveadm mailbox update $1 failed"
	echo "$((uv + 1000))"
}
sent_located() {	# UIDVALIDITY
	echo "$(sql "SELECT count(*) FROM message_locations WHERE
	    folder = 'Sent' AND uidvalidity = $1")/$(sql "SELECT count(*)
	    FROM message_locations WHERE folder = 'Sent'")"
}
n_sent=$(sql "SELECT count(*) FROM message_locations WHERE folder = 'Sent'")
new_uv=$(uv_change Sent)
sync_pass
tap_is "a UIDVALIDITY change of a folder checked by STATUS re-syncs it" \
    "$(sent_located "$new_uv")/$(dupes)" "$n_sent/$n_sent/0"
new_uv=$(uv_change Sent)
# The server may end the session over it: the next pass then comes with
# the reconnection, so wait for the locations, not for one pass.
sent_moved() { [ "$(sent_located "$new_uv")" = "$n_sent/$n_sent" ]; }
kill -USR1 "$DAEMON_PID"
wait_until 30 sent_moved
tap_is "a UIDVALIDITY change of the open folder re-syncs it" \
    "$(sent_located "$new_uv")/$(dupes)" "$n_sent/$n_sent/0"

kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
tap_is "the polling daemon stops with status 0" "$?" 0
DAEMON_PID=

# Between two --once runs every folder is checked by STATUS first.
poll_mail "$T/p3.eml" pass-3@customer.example anna@customer.example kim@example.com
dovecot_deliver alice "$T/p3.eml"
"$RAPPORTD" -c "$CONF" --once -T imap 2>"$T/once4.err"
tap_is "--once stores a message delivered since the last run" \
    "$(stored pass-3@customer.example)" 1
"$RAPPORTD" -c "$CONF" --once -T imap 2>"$T/once5.err"
tap_is "a --once with nothing changed sends no EXAMINE" \
    "$(grep -c ' folder=[^ ]*: uidvalidity=' "$T/once5.err")" 0 ||
    tap_diag "$(grep -E 'STATUS|uidvalidity=' "$T/once4.err" "$T/once5.err")"
dovecot_expunge alice INBOX header message-id '<pass-3@customer.example>'
"$RAPPORTD" -c "$CONF" --once -T imap 2>"$T/once6.err"
tap_is "--once drops the location of a message expunged since the last run" \
    "$(located pass-3@customer.example)/$(dupes)" "0/0"

tap_not "no sanitizer report in the daemon's log" \
    grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error' \
    "$T/daemon.err" "$T/once1.err" "$T/once2.err" "$T/once3.err" \
    "$T/tls-none.err" "$T/tls-ca.err" "$POLL_LOG" "$T/once4.err" \
    "$T/once5.err" "$T/once6.err"

tap_done
