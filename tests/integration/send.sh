#!/bin/bash
# The sender (daemon/sender.c) end to end: outbox rows sent by
# `rapportd --once` to the SMTP sink over STARTTLS with the chain checked,
# exactly once; checks made again at send time (suppression,
# do-not-contact, newsletter consent); a 4xx retried later, a 5xx failed
# with the server's words; quiet hours in the recipient's zone; a Korean
# subject RFC 2047-encoded; List-Unsubscribe on newsletters; dry-run;
# a copy of each sent message APPENDed to Sent (Dovecot).
# The rows are written with the sqlite3 CLI: the planner has its own tests.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$TOP_SRCDIR/tests/peers/lib.sh" || exit 1
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP no sqlite3 CLI"; exit 0; }

peers_setup
W=$PEERS_DIR/send
mkdir -p "$W/templates"
db=$W/rapport.db
conf=$W/rapport.conf
dryconf=$W/dry.conf

tap_ok "SMTP sink with STARTTLS starts" smtp_sink_start --starttls ||
    tap_bail "no SMTP sink"

cat >"$W/templates/hello.md" <<'EOF'
Kind: follow-up
Trigger: sale
After: 1d
Subject: Hello {{customer.first_name}}

Hi {{customer.first_name}}, thank you for your **{{sale.product}}**.

{{sender.name}}
EOF
cat >"$W/templates/hello.ko.md" <<'EOF'
Kind: follow-up
Trigger: sale
After: 1d
Subject: {{customer.first_name}}님, 구매해 주셔서 감사합니다

{{customer.first_name}}님, 안녕하세요. {{sale.product}} 잘 쓰고 계신가요?
EOF
# Scheduled far ahead, so the planner of --once never plans it itself.
cat >"$W/templates/news.md" <<'EOF'
Kind: newsletter
Audience: tag:nobody
Schedule: 2030-01-01T09:00
Subject: News for {{customer.first_name}}

Hello {{customer.first_name}}. Unsubscribe: {{unsubscribe.url}}
EOF

write_conf() {	# FILE [EXTRA [send] LINES]
	local f=$1
	shift
	cat >"$f" <<EOF
[rapport]
database = $db
templates = $W/templates
timezone = Europe/Berlin
from = Kim Sales <kim@sales.example>

[smtp]
url = smtp://127.0.0.1:$SMTP_SINK_PORT/
ca_file = $PEERS_CA_FILE
timeout = 10

[send]
quiet_hours = 20:00-08:00
unsubscribe_address = unsubscribe@sales.example
unsubscribe_url = https://sales.example/unsubscribe
retry_max = 3
EOF
	printf '%s\n' "$@" >>"$f"
}
write_conf "$conf"
write_conf "$dryconf" "dry_run = $W/dry"

ctl() { "$RAPPORTCTL" -c "$conf" "$@"; }
sql() { sqlite3 -cmd '.timeout 5000' "$db" "$@"; }
at() { date -u -d "$1" +%s; }
# plan CUSTOMER_ID KIND TEMPLATE OCCURRENCE [DUE]: prints the row id.
plan() {
	sql "INSERT INTO outbox (kind, template, customer_id, occurrence,
	    due_at, created_at, ref_kind, ref_id) VALUES ('$2', '$3', $1, '$4',
	    ${5:-$(at 2026-12-01T11:00:00Z)}, $(at 2026-11-30T00:00:00Z),
	    'sale', $sale); SELECT last_insert_rowid();"
}
field() { sql "SELECT $2 FROM outbox WHERE id = $1"; }
run_once() {	# RAPPORT_NOW [CONF]
	RAPPORT_NOW=$1 "$RAPPORTD" -c "${2:-$conf}" --once >>"$W/rapportd.log" 2>&1
}
# subject FILE: the Subject, RFC 2047 decoded.
subject() {
	/usr/bin/python3 -c 'import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
print(m["Subject"])' "$1"
}
# header FILE NAME: the first such header line of the message, unfolded.
header() {
	tr -d '\r' <"$1" | sed '/^$/q' |
	    awk '/^[ \t]/ { cur = cur $0; next } { if (cur != "") print cur; cur = $0 }
		END { if (cur != "") print cur }' | grep -m1 -i "^$2:"
}

export RAPPORT_NOW=2026-12-01T12:00:00Z	# 13:00 in Berlin, 21:00 in Seoul
anna=$(ctl customer add --name 'Anna Schmidt' --email anna@example.com --lang en)
kim=$(ctl customer add --name '김 민준' --first-name '민준' --email minjun@example.com --lang ko)
sup=$(ctl customer add --name 'Sue Pressed' --email sue@example.com)
dnc=$(ctl customer add --name 'Dan Nocontact' --email dan@example.com --do-not-contact yes)
nlno=$(ctl customer add --name 'Nils Noconsent' --email nils@example.com --newsletter no)
nlyes=$(ctl customer add --name 'Yara Consent' --email yara@example.com --newsletter yes)
lee=$(ctl customer add --name 'Lee Seoul' --email lee@example.com --tz Asia/Seoul)
tap_ok "customers added" test -n "$anna" -a -n "$kim" -a -n "$lee"
sale=$(sql "INSERT INTO sales (customer_id, product, at, created_at) VALUES
    ($anna, 'Espresso machine', $(at 2026-11-30T10:00:00Z), 0); SELECT last_insert_rowid();")
sql "INSERT INTO suppressions (address, reason, at) VALUES ('sue@example.com', 'bounce', 0)"

r_anna=$(plan "$anna" follow-up hello sale:1)
r_kim=$(plan "$kim" follow-up hello sale:2)
r_sup=$(plan "$sup" follow-up hello sale:3)
r_dnc=$(plan "$dnc" follow-up hello sale:4)
r_nlno=$(plan "$nlno" newsletter news 2030-01)
r_nlyes=$(plan "$nlyes" newsletter news 2030-01)
r_lee=$(plan "$lee" follow-up hello sale:5)
r_later=$(plan "$anna" follow-up hello later "$(at 2026-12-05T10:00:00Z)")

# ---- rapportctl outbox next: what will go, to whom, why
next=$(ctl outbox next --hours 24)
tap_like "outbox next: Anna's follow-up will be sent" "$(grep -F "#$r_anna " <<<"$next")" 'to Anna Schmidt <anna@example.com>  send$'
tap_like "outbox next: suppressed will be skipped" "$(grep -F "#$r_sup " <<<"$next")" 'skip: suppressed: bounce$'
tap_like "outbox next: do-not-contact will be skipped" "$(grep -F "#$r_dnc " <<<"$next")" 'skip: do-not-contact$'
tap_like "outbox next: no consent will be skipped" "$(grep -F "#$r_nlno " <<<"$next")" 'skip: no newsletter consent$'
tap_like "outbox next: Seoul waits for the morning" "$(grep -F "#$r_lee " <<<"$next")" '^2026-12-01T23:00:00Z .*wait: after the quiet hours$'
tap_not "outbox next: a row due in 4 days is not listed" grep -qF "#$r_later " <<<"$next"
tap_is "outbox next --hours 100 lists it" "$(ctl outbox next --hours 100 | grep -cF "#$r_later ")" 1
tap_is "outbox next --json is one array of 7" "$(ctl outbox next --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" 7
err=$(ctl outbox next --hours 0 2>&1); rc=$?
tap_is "outbox next --hours 0 is a usage error" "$rc" 2

# ---- rapportctl template preview
pv=$W/preview-kim.eml
ctl template preview hello --customer minjun@example.com >"$pv"
tap_like "preview: Korean for a Korean customer" "$(header "$pv" Subject)" '^Subject: =\?UTF-8\?B\?'
tap_ok "preview: the outbox row's sale is rendered" grep -q 'Espresso machine' "$pv"
tap_ok "preview: both parts" grep -q 'text/html' "$pv"
ctl template preview hello --customer minjun@example.com --lang en >"$W/preview-en.eml"
tap_is "preview --lang en: the English template" "$(subject "$W/preview-en.eml")" "Hello 민준"
err=$(ctl template preview nosuch --customer minjun@example.com 2>&1); rc=$?
tap_is "preview of an unknown template fails" "$rc" 1
tap_like "and says which" "$err" 'no template "nosuch"'
err=$(ctl template preview hello 2>&1); rc=$?
tap_is "preview without --customer is a usage error" "$rc" 2

# ---- first pass: what is due goes, once
tap_ok "rapportd --once exits 0" run_once 2026-12-01T12:00:00Z
tap_is "the sink received one message per sendable row" "$(smtp_sink_count)" 3
tap_is "Anna's row is sent" "$(field "$r_anna" state)" sent
tap_like "the server's reply is kept" "$(field "$r_anna" reason)" '^250 '
tap_is "sent_at is the clock's now" "$(field "$r_anna" sent_at)" "$(at 2026-12-01T12:00:00Z)"
mid=$(field "$r_anna" message_id)
tap_like "Message-ID is <rapport.ROWID.RANDOM@from-domain>" "$mid" "^<rapport\\.$r_anna\\.[0-9a-f]{16}@sales\\.example>\$"
f=$(smtp_sink_find "$mid")
tap_ok "the sink has the message under that Message-ID" test -f "$f"
tap_is "recipient recorded" "$(field "$r_anna" recipient)" anna@example.com
tap_is "To" "$(header "$f" To)" "To: Anna Schmidt <anna@example.com>"
tap_is "From" "$(header "$f" From)" "From: Kim Sales <kim@sales.example>"
tap_is "Subject" "$(header "$f" Subject)" "Subject: Hello Anna"
tap_like "Date" "$(header "$f" Date)" '^Date: Tue, 1 Dec 2026 13:00:00 \+0100$'
tap_ok "multipart/alternative" grep -q 'multipart/alternative' "$f"
tap_ok "the sale's product is rendered" grep -q 'Espresso machine' "$f"
tap_not "a follow-up has no List-Unsubscribe" grep -qi '^List-Unsubscribe' "$f"
tap_is "envelope sender is From's address" "$(awk -F '\t' -v id="$mid" '$1 == id { print $3 }' "$SMTP_SINK_INDEX")" kim@sales.example

tap_is "suppressed: skipped" "$(field "$r_sup" state)" skipped
tap_is "suppressed: the reason says so" "$(field "$r_sup" reason)" "suppressed: bounce"
tap_is "do-not-contact: skipped" "$(field "$r_dnc" "state || ' ' || reason")" "skipped do-not-contact"
tap_is "newsletter without consent: skipped" "$(field "$r_nlno" "state || ' ' || reason")" "skipped no newsletter consent"
tap_is "newsletter with consent: sent" "$(field "$r_nlyes" state)" sent
f=$(smtp_sink_find "$(field "$r_nlyes" message_id)")
nl_token=$(sql "SELECT token FROM unsubscribe_tokens WHERE customer_id = $nlyes")
tap_like "newsletter: the recipient has an unsubscribe token" "$nl_token" '^[a-z2-7]{26}$'
tap_is "newsletter: List-Unsubscribe, mailto and https with the token" "$(header "$f" List-Unsubscribe)" \
    "List-Unsubscribe: <mailto:unsubscribe@sales.example?subject=unsubscribe>, <https://sales.example/unsubscribe?t=$nl_token>"
tap_ok "newsletter: the body's link is the same" grep -q "https://sales.example/unsubscribe?t=$nl_token" "$f"
tap_is "newsletter: one-click" "$(header "$f" List-Unsubscribe-Post)" "List-Unsubscribe-Post: List-Unsubscribe=One-Click"
tap_is "quiet hours in Seoul: deferred" "$(field "$r_lee" "state || ' ' || reason")" "planned quiet hours"
tap_is "quiet hours: until 08:00 in Seoul" "$(field "$r_lee" next_attempt_at)" "$(at 2026-12-01T23:00:00Z)"
tap_is "quiet hours do not count as an attempt" "$(field "$r_lee" attempts)" 0
tap_is "a row not yet due stays planned" "$(field "$r_later" "state || coalesce(message_id, '-')")" "planned-"

# ---- what preview shows is what was sent
ctl template preview hello --customer anna@example.com >"$W/preview-anna.eml"
tap_ok "preview of a sent row is byte for byte the message sent" \
    cmp "$W/preview-anna.eml" "$(smtp_sink_find "$(field "$r_anna" message_id)")"
tap_like "outbox list shows the skipped row and why" "$(ctl outbox list | grep "^$r_sup ")" 'skipped .*suppressed: bounce$'
tap_is "outbox list --state skipped" "$(ctl outbox list --state skipped | wc -l)" 3
tap_is "outbox list --state sent --json" "$(ctl outbox list --state sent --json | /usr/bin/python3 -c 'import json,sys; print(sorted(r["state"] for r in json.load(sys.stdin)))')" "['sent', 'sent', 'sent']"
err=$(ctl outbox list --state bogus 2>&1); rc=$?
tap_is "outbox list --state bogus is a usage error" "$rc" 2

# ---- Korean subject
f=$(smtp_sink_find "$(field "$r_kim" message_id)")
subj=$(header "$f" Subject)
tap_like "the Korean subject is RFC 2047-encoded" "$subj" '^Subject: =\?UTF-8\?B\?'
decoded=$(subject "$f")
tap_is "and decodes back" "$decoded" "민준님, 구매해 주셔서 감사합니다"
tap_ok "the Korean template was chosen for lang ko" grep -q 'Subject: =?UTF-8' "$f"

# ---- exactly once
tap_ok "a second --once exits 0" run_once 2026-12-01T12:00:30Z
tap_is "nothing more is sent" "$(smtp_sink_count)" 3
tap_is "every Message-ID arrived once" "$(cut -f1 "$SMTP_SINK_INDEX" | sort | uniq -d | wc -l)" 0

# ---- 4xx: deferred with backoff, then sent with the same Message-ID
r_t=$(plan "$anna" follow-up hello tempfail "$(at 2026-12-01T12:00:00Z)")
smtp_sink_fail '*' 451 4.3.0 try later
tap_ok "--once with a 4xx exits 0" run_once 2026-12-01T12:01:00Z
tap_is "4xx: deferred" "$(field "$r_t" "state || ' ' || attempts")" "planned 1"
tap_like "4xx: the server's words" "$(field "$r_t" reason)" '^451 4\.3\.0 try later'
tap_is "4xx: retried a minute later" "$(field "$r_t" next_attempt_at)" "$(at 2026-12-01T12:02:00Z)"
mid=$(field "$r_t" message_id)
run_once 2026-12-01T12:01:30Z
tap_is "not retried before its time" "$(field "$r_t" attempts)" 1
smtp_sink_ok
tap_ok "--once after the retry time" run_once 2026-12-01T12:02:00Z
tap_is "4xx then OK: sent" "$(field "$r_t" state)" sent
tap_is "with the Message-ID fixed at the first claim" "$(field "$r_t" message_id)" "$mid"
tap_ok "the sink has it" smtp_sink_find "$mid"
tap_is "four messages now" "$(smtp_sink_count)" 4

# 4xx until retry_max: failed
r_t2=$(plan "$anna" follow-up hello tempfail2 "$(at 2026-12-01T12:00:00Z)")
smtp_sink_fail '*' 452 4.2.2 mailbox full
run_once 2026-12-01T12:10:00Z
run_once 2026-12-01T12:12:00Z
tap_is "two 4xx: still planned, retried in 2 min" "$(field "$r_t2" "state || ' ' || attempts || ' ' || (next_attempt_at - $(at 2026-12-01T12:12:00Z))")" "planned 2 120"
run_once 2026-12-01T12:15:00Z
tap_is "the third 4xx (retry_max = 3): failed" "$(field "$r_t2" "state || ' ' || attempts")" "failed 2"
tap_like "failed with the last words" "$(field "$r_t2" reason)" '^452 4\.2\.2 mailbox full'
smtp_sink_ok

# ---- 5xx: failed with the server's words
gone=$(ctl customer add --name 'Gone Away' --email gone@example.com)
r_gone=$(plan "$gone" follow-up hello gone "$(at 2026-12-01T12:00:00Z)")
smtp_sink_fail gone@example.com 550 5.1.1 no such user
tap_ok "--once with a 5xx exits 0" run_once 2026-12-01T12:20:00Z
tap_is "5xx: failed" "$(field "$r_gone" "state || ' ' || attempts")" "failed 0"
tap_like "5xx: the server's words" "$(field "$r_gone" reason)" '550 5\.1\.1 no such user'
smtp_sink_ok
tap_is "nothing sent for it" "$(smtp_sink_count)" 4

# ---- quiet hours over: the Seoul row goes (08:30 in Seoul, 00:30 in Berlin)
tap_ok "--once after the quiet hours" run_once 2026-12-01T23:30:00Z
tap_is "after the quiet hours: sent" "$(field "$r_lee" state)" sent
tap_is "five messages now" "$(smtp_sink_count)" 5

# ---- dry-run: files, nothing sent
r_d1=$(plan "$anna" follow-up hello dry1 "$(at 2026-12-02T09:00:00Z)")
r_d2=$(plan "$kim" follow-up hello dry2 "$(at 2026-12-02T09:00:00Z)")
tap_ok "dry-run --once exits 0" run_once 2026-12-02T10:00:00Z "$dryconf"
tap_is "dry-run sends nothing" "$(smtp_sink_count)" 5
tap_ok "dry-run writes DIR/ROWID.eml" test -s "$W/dry/$r_d1.eml" -a -s "$W/dry/$r_d2.eml"
tap_is "dry-run rows: sent, reason dry-run" "$(field "$r_d1" "state || ' ' || reason")" "sent dry-run"
tap_is "the file is the message" "$(header "$W/dry/$r_d1.eml" Message-ID)" "Message-ID: $(field "$r_d1" message_id)"
tap_is "no stray files" "$(find "$W/dry" -type f | wc -l)" 2

# ---- budget: 2 a minute; the third waits, never dropped
write_conf "$W/budget.conf" "budget = 2/min"
before=$(smtp_sink_count)
for i in 1 2 3; do r_b[$i]=$(plan "$anna" follow-up hello "budget:$i" "$(at 2026-12-03T09:00:00Z)"); done
tap_ok "--once with a budget" run_once 2026-12-03T10:00:00Z "$W/budget.conf"
tap_is "two within the minute" "$(smtp_sink_count)" $((before + 2))
tap_is "the third waits: over budget" "$(field "${r_b[3]}" "state || ' ' || reason || ' ' || attempts")" "planned over budget 0"
tap_is "until the minute is over" "$(field "${r_b[3]}" next_attempt_at)" "$(at 2026-12-03T10:01:00Z)"
run_once 2026-12-03T10:01:00Z "$W/budget.conf"
tap_is "then it goes" "$(field "${r_b[3]}" state)" sent

# ---- a name with CR/LF and {{braces}} renders harmlessly
evil=$(ctl customer add --name 'Eve Placeholder' --email eve@example.com)
sql "UPDATE customers SET name = 'Eve' || char(13, 10) || 'Bcc: all@example.com {{customer.email}}', first_name = '{{sender.email}}' WHERE id = $evil"
r_e=$(plan "$evil" follow-up hello evil "$(at 2026-12-03T09:00:00Z)")
run_once 2026-12-03T10:05:00Z
tap_is "the CR/LF name: sent" "$(field "$r_e" state)" sent
f=$(smtp_sink_find "$(field "$r_e" message_id)")
tap_not "no header injected" grep -qi '^Bcc:' "$f"
tap_like "the name stays in the To header" "$(header "$f" To)" '^To: "?Eve +Bcc: all@example.com \{\{customer.email\}\}"? <eve@example.com>$'
tap_ok "braces in a value stay text" grep -q 'Hi {{sender.email}}, thank' "$f"
tap_not "and are not expanded" grep -q 'Hi kim@sales.example' "$f"

# ---- the daemon: two connections in parallel, every row once
sink_has() { [ "$(smtp_sink_count)" -ge "$1" ]; }
write_conf "$W/pool.conf"
sed -i 's/^timeout = 10$/timeout = 10\nconnections = 2/' "$W/pool.conf"
before=$(smtp_sink_count)
for i in $(seq 1 20); do plan "$anna" follow-up hello "pool:$i" "$(at 2026-12-02T09:00:00Z)" >/dev/null; done
RAPPORT_NOW=2026-12-02T10:00:00Z "$RAPPORTD" -c "$W/pool.conf" -T smtp >>"$W/daemon.log" 2>&1 &
daemon=$!
peers_on_exit "kill -KILL $daemon 2>/dev/null"
tap_ok "the daemon sends 20 rows over two connections" wait_until 30 sink_has $((before + 20))
kill -TERM "$daemon"
wait "$daemon"
tap_is "and stops cleanly on SIGTERM" "$?" 0
tap_is "exactly 20 more messages" "$(smtp_sink_count)" $((before + 20))
tap_is "all pool rows sent" "$(sql "SELECT count(*) FROM outbox WHERE occurrence LIKE 'pool:%' AND state = 'sent'")" 20
tap_is "no Message-ID twice" "$(cut -f1 "$SMTP_SINK_INDEX" | sort | uniq -d | wc -l)" 0
conns=$(grep -c 'sender account=default: connected' "$W/daemon.log")
tap_ok "one connection per sending thread, reused ($conns opened)" test "$conns" -ge 1 -a "$conns" -le 2

# ---- a connection lost between two messages: the next goes at once over
# a new one, not later.  With PIPELINING the RSET travels with the next
# message's commands; the sink answers it 421 and hangs up, as a server
# that limits the messages of one connection does.
write_conf "$W/drop.conf"
before=$(smtp_sink_count)
plan "$anna" follow-up hello drop:1 "$(at 2026-12-02T09:00:00Z)" >/dev/null
RAPPORT_NOW=2026-12-02T10:00:00Z "$RAPPORTD" -c "$W/drop.conf" -T smtp >>"$W/drop.log" 2>&1 &
daemon=$!
peers_on_exit "kill -KILL $daemon 2>/dev/null"
tap_ok "lost between messages: the first is sent" wait_until 30 sink_has $((before + 1))
smtp_sink_fail RSET 421 4.7.0 too many messages, closing
r_drop=$(plan "$anna" follow-up hello drop:2 "$(at 2026-12-02T09:00:00Z)")
kill -USR1 "$daemon"
tap_ok "… the second is sent too" wait_until 30 sink_has $((before + 2))
smtp_sink_ok
kill -TERM "$daemon"
wait "$daemon"
tap_is "… at its first attempt" "$(field "$r_drop" "state || ' ' || attempts")" "sent 0"
tap_ok "… the RSET sent with it got the 421" grep -q '< 421 4.7.0 too many messages' "$W/drop.log"
tap_is "… over a second connection" "$(grep -c 'sender account=default: connected' "$W/drop.log")" 2

# ---- a copy of each sent message in the account's Sent folder (APPEND)
if command -v dovecot >/dev/null && tap_ok "Dovecot starts" dovecot_start alice secret; then
	dovecot_mailbox_create alice Sent
	write_conf "$W/sent.conf"
	sed -i "s|^\[smtp\]\$|[imap \"work\"]\nurl = imap://127.0.0.1:$DOVECOT_IMAP_PORT/\nca_file = $PEERS_CA_FILE\nuser = alice\npassword = secret\nfolders = INBOX\ntimeout = 10\n\n[smtp]\nsent_imap = work\nsent_folder = Sent|" "$W/sent.conf"
	before=$(smtp_sink_count)
	r_s=$(plan "$anna" follow-up hello sent:1 "$(at 2026-12-04T09:00:00Z)")
	tap_ok "--once with sent_imap" run_once 2026-12-04T10:00:00Z "$W/sent.conf"
	tap_is "sent_imap: the message is sent" "$(field "$r_s" state)" sent
	tap_is "and reaches the sink once" "$(smtp_sink_count)" $((before + 1))
	tap_is "a copy is in Sent, once" "$(dovecot_count alice Sent)" 1
	mid=$(field "$r_s" message_id)
	tap_is "the copy has the row's Message-ID" \
	    "$(doveadm_ search -u alice mailbox Sent header message-id "$mid" | wc -l)" 1
	tap_like "the copy is marked seen" "$(doveadm_ fetch -u alice flags mailbox Sent all)" '\\Seen'
	# Dovecot's Maildir keeps the lines with LF alone.
	tap_ok "the copy is the message sent" cmp \
	    <(tr -d '\r' <"$(find "$DOVECOT_MAILDIR/.Sent/cur" "$DOVECOT_MAILDIR/.Sent/new" -type f | head -1)") \
	    <(tr -d '\r' <"$(smtp_sink_find "$mid")")
	tap_ok "a second --once" run_once 2026-12-04T10:01:00Z "$W/sent.conf"
	tap_is "still one copy in Sent" "$(dovecot_count alice Sent)" 1
	# A folder that does not exist: the message still goes, the log says why.
	sed -i 's/^sent_folder = Sent$/sent_folder = Nowhere/' "$W/sent.conf"
	r_s2=$(plan "$anna" follow-up hello sent:2 "$(at 2026-12-04T09:00:00Z)")
	run_once 2026-12-04T10:02:00Z "$W/sent.conf"
	tap_is "no such Sent folder: still sent" "$(field "$r_s2" state)" sent
	tap_ok "and the log names the folder" grep -q "outbox=$r_s2: no copy in work/Nowhere" "$W/rapportd.log"
	tap_is "Sent unchanged" "$(dovecot_count alice Sent)" 1
else
	tap_skip "APPEND to Sent" "no Dovecot"
fi

# ---- one-click unsubscribe: the web endpoint's side
cgi="$TOP_SRCDIR/contrib/unsubscribe/rapport-unsubscribe.cgi"
unsub_cgi() {
	REQUEST_METHOD=$1 QUERY_STRING=$2 RAPPORT_CONFIG=$conf RAPPORTCTL=$RAPPORTCTL \
	    RAPPORT_NOW=2026-12-05T10:00:00Z sh "$cgi" </dev/null
}
consent() { sql "SELECT newsletter || ' ' || coalesce(consent_source, '-') FROM customers WHERE id = $nlyes"; }
out=$(unsub_cgi GET "t=$nl_token")
tap_like "unsubscribe page: a GET shows a button" "$out" '<form method="post"'
tap_is "... and withdraws nothing (link scanners)" "$(consent)" "1 $(sql "SELECT consent_source FROM customers WHERE id = $nlyes")"
tap_like "... a malformed token is refused" "$(unsub_cgi POST "t=x%27%3B")" '^Status: 400'
tap_like "... an unknown one is not found" "$(unsub_cgi POST "t=aaaaaaaaaaaaaaaaaaaaaaaaaa")" '^Status: 404'
tap_is "... and neither withdrew anything" "$(consent | cut -c1)" 1
tap_like "the one-click POST" "$(unsub_cgi POST "t=$nl_token")" '^Status: 200'
tap_is "... withdraws the consent, by the link" "$(consent)" "0 link"
tap_is "... at the clock's now" "$(sql "SELECT consent_at FROM customers WHERE id = $nlyes")" "$(at 2026-12-05T10:00:00Z)"
out=$(ctl unsubscribe "$nl_token" --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["customer"], d["changed"])')
tap_is "rapportctl unsubscribe again: nothing changes" "$out" "$nlyes False"
ctl unsubscribe "bogus'token" >/dev/null 2>&1; rc=$?
tap_is "rapportctl unsubscribe: junk fails with 1" "$rc" 1
r_nl2=$(plan "$nlyes" newsletter news 2030-02)
run_once 2026-12-05T11:00:00Z "$conf"
tap_is "the next newsletter to them is skipped" "$(field "$r_nl2" "state || ' ' || reason")" "skipped no newsletter consent"

# ---- the end of data refused, with another row due: a 5xx, a 4xx or a
# 421 ends only its own row (a 'sent' would share the next claim's
# commit; a refusal has its own), and the next row goes at its first
# attempt (after a 421, over a new connection), with the server's words
# kept.
verdict() {	# RULE...: two rows, the first message answered RULE
	local a b before=$(smtp_sink_count)
	a=$(plan "$anna" follow-up hello "verdict:$1:a" "$(at 2026-12-05T09:00:00Z)")
	b=$(plan "$anna" follow-up hello "verdict:$1:b" "$(at 2026-12-05T09:00:00Z)")
	smtp_sink_fail 1 "$@"
	RAPPORT_NOW=2026-12-05T12:00:00Z "$RAPPORTD" -c "$conf" --once -T smtp \
	    >"$W/verdict.log" 2>&1
	smtp_sink_ok
	v_a=$(field "$a" "state || ' ' || attempts || ' ' || reason")
	v_b=$(field "$b" "state || ' ' || attempts")
	v_n=$(($(smtp_sink_count) - before))
	v_c=$(grep -c 'sender account=default: connected' "$W/verdict.log")
}
verdict 554 5.6.0 content refused
tap_like "5xx at the end of data: that row failed" "$v_a" '^failed 0 554 5\.6\.0 content refused'
tap_is "... the next row sent at once" "$v_b $v_n $v_c" "sent 0 1 1"
verdict 451 4.3.0 later
tap_like "4xx at the end of data: that row deferred" "$v_a" '^planned 1 451 4\.3\.0 later'
tap_is "... the next row sent at once" "$v_b $v_n $v_c" "sent 0 1 1"
verdict 421 4.4.2 closing
tap_like "421 at the end of data: that row deferred" "$v_a" '^planned 1 421 4\.4\.2 closing'
tap_is "... the next row sent at once, over a new connection" "$v_b $v_n $v_c" "sent 0 1 2"

# ---- the log never shows a message body
tap_not "rapportd logged no failure" grep -q 'pass failed' "$W/rapportd.log"
tap_done
