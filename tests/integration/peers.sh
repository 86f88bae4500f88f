#!/bin/bash
# The test peers (tests/peers/) start, answer like the servers rapport talks
# to, obey the knobs later tests turn, and stop without leftovers.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP_SRCDIR/tests/peers/lib.sh" || exit 1

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# timed CMD...: runs CMD in this shell and notes how long it took.
timed() {
	local name=$1 t0 rc
	t0=$(now_ms)
	"$@"
	rc=$?
	echo "$name $(($(now_ms) - t0)) ms" >>"$PEERS_DIR/timings"
	return "$rc"
}

tap_ok "peers_setup makes a private folder and a CA" peers_setup
[ -d "${PEERS_DIR:-}" ] || tap_bail "no peers folder"
tap_ok "the server certificate verifies against the generated CA" \
    openssl verify -CAfile "$PEERS_CA_FILE" "$PEERS_CERT"

# ------------------------------------------------------------ IMAP (Dovecot)

tap_ok "dovecot starts" timed dovecot_start alice "pa ss:w0rd" ||
    tap_bail "dovecot did not start"
tap_like "its config is private" "$DOVECOT_CONF" "^$PEERS_DIR/"
imap=imap://127.0.0.1:$DOVECOT_IMAP_PORT
imaps=imaps://127.0.0.1:$DOVECOT_IMAPS_PORT
auth=(-u "$DOVECOT_USER:$DOVECOT_PASS")

# A raw IMAP session on fd 5, so IDLE can be watched as it happens.
imap_open() {
	exec 5<>"/dev/tcp/127.0.0.1/$1"
}

# imap_expect REGEX [SECONDS]: reads lines until one matches; prints them.
imap_expect() {
	local line
	while IFS= read -r -t "${2:-5}" line <&5; do
		line=${line%$'\r'}
		echo "$line"
		[[ $line =~ $1 ]] && return 0
		[[ $line =~ ^[a-z]\ (NO|BAD) ]] && return 1
	done
	return 1
}

imap_cmd() {
	printf '%s\r\n' "$1" >&5
}

imap_open "$DOVECOT_IMAP_PORT"
greeting=$(imap_expect '^\* OK')
tap_like "the plain port greets, offering STARTTLS" "$greeting" 'STARTTLS'
imap_cmd "a LOGIN $DOVECOT_USER \"$DOVECOT_PASS\""
login=$(imap_expect '^a OK')
tap_like "LOGIN succeeds" "$login" '^a OK'
imap_cmd "b CAPABILITY"
caps=$(imap_expect '^b OK')
for cap in IDLE CONDSTORE QRESYNC; do
	tap_like "after login CAPABILITY lists $cap" "$caps" "^\* CAPABILITY .* $cap( |$)"
done
imap_cmd "c ENABLE QRESYNC"
tap_like "ENABLE QRESYNC is accepted" "$(imap_expect '^c OK')" '^\* ENABLED .*QRESYNC'
imap_cmd "d SELECT INBOX"
tap_like "SELECT reports HIGHESTMODSEQ" "$(imap_expect '^d OK')" 'HIGHESTMODSEQ'
imap_cmd "e IDLE"
imap_expect '^\+ ' >/dev/null

mid="<peers-$$-$RANDOM@rapport.test>"
msg=$PEERS_DIR/msg1.eml
printf 'From: Customer <c@example.com>\r\nTo: Alice <alice@example.com>\r\nSubject: hello\r\nMessage-ID: %s\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n' \
    "$mid" >"$msg"
tap_ok "dovecot_deliver stores a message" dovecot_deliver "$DOVECOT_USER" "$msg"
tap_like "the IDLE session hears of it" "$(imap_expect '^\* 1 EXISTS' 5)" '^\* 1 EXISTS'
imap_cmd "DONE"
imap_expect '^e OK' >/dev/null
imap_cmd "f LOGOUT"
imap_expect '^f OK' >/dev/null
exec 5>&-

tap_not "a wrong password is refused" \
    curl -sS "$imap/" -u "$DOVECOT_USER:wrong" -X CAPABILITY
tap_ok "STARTTLS on the plain port verifies with the CA" \
    curl -sS --ssl-reqd --cacert "$PEERS_CA_FILE" "${auth[@]}" "$imap/" -X NOOP
tap_ok "the IMAPS certificate verifies against the CA (127.0.0.1)" \
    openssl s_client -connect "127.0.0.1:$DOVECOT_IMAPS_PORT" -verify_return_error \
    -CAfile "$PEERS_CA_FILE" -verify_ip 127.0.0.1 </dev/null
tap_ok "... and for the name localhost" \
    openssl s_client -connect "127.0.0.1:$DOVECOT_IMAPS_PORT" -verify_return_error \
    -CAfile "$PEERS_CA_FILE" -verify_hostname localhost </dev/null
tap_not "it is refused with the system's trust store alone" \
    curl -sS "${auth[@]}" "$imaps/" -X NOOP
tap_not "it is refused with an unrelated CA" \
    openssl s_client -connect "127.0.0.1:$DOVECOT_IMAPS_PORT" -verify_return_error \
    -CAfile "$PEERS_OTHER_CA_FILE" </dev/null
fetched=$(curl -sS --cacert "$PEERS_CA_FILE" "${auth[@]}" "$imaps/INBOX;UID=1")
tap_like "the delivered message is fetched over IMAPS" "$fetched" "^Message-ID: $mid"

mid2="<peers-append-$$@rapport.test>"
printf 'From: a@example.com\r\nSubject: appended\r\nMessage-ID: %s\r\n\r\nx\r\n' "$mid2" \
    >"$PEERS_DIR/msg2.eml"
tap_ok "curl APPENDs a message" \
    curl -sS "${auth[@]}" "$imap/INBOX" -T "$PEERS_DIR/msg2.eml"
search=$(curl -sS "${auth[@]}" "$imap/INBOX" -X "UID SEARCH HEADER Message-ID \"$mid2\"")
tap_like "SEARCH finds it by Message-ID" "$search" '^\* SEARCH [0-9]+'
tap_is "the mailbox holds two messages" "$(dovecot_count "$DOVECOT_USER" INBOX)" 2
tap_ok "dovecot_expunge removes one by Message-ID" \
    dovecot_expunge "$DOVECOT_USER" INBOX header Message-ID "$mid"
tap_is "one message is left" "$(dovecot_count "$DOVECOT_USER" INBOX)" 1
printf 'From: b@example.com\r\nMessage-ID: <bulk-1@rapport.test>\r\n\r\n1\r\n' >"$PEERS_DIR/b1.eml"
printf 'From: b@example.com\r\nMessage-ID: <bulk-2@rapport.test>\r\n\r\n2\r\n' >"$PEERS_DIR/b2.eml"
tap_ok "dovecot_deliver_maildir drops two files into the Maildir" \
    dovecot_deliver_maildir "$DOVECOT_USER" "$PEERS_DIR/b1.eml" "$PEERS_DIR/b2.eml"
tap_like "IMAP sees them" \
    "$(curl -sS "${auth[@]}" "$imap/INBOX" -X 'UID SEARCH HEADER Message-ID bulk')" \
    '^\* SEARCH [0-9]+ [0-9]+'
tap_ok "dovecot_expunge without a query empties the mailbox" \
    dovecot_expunge "$DOVECOT_USER" INBOX
tap_is "the mailbox is empty" "$(dovecot_count "$DOVECOT_USER" INBOX)" 0
tap_is "the Maildir belongs to the mail uid" \
    "$(stat -c %u "$DOVECOT_MAILDIR")" "$DOVECOT_MAIL_UID"
tap_is "the Maildir has no message file left" \
    "$(find "$DOVECOT_MAILDIR/cur" "$DOVECOT_MAILDIR/new" -type f | wc -l)" 0

tap_ok "dovecot stops" timed dovecot_stop
tap_not "its IMAP port is closed" peers_port_taken "$DOVECOT_IMAP_PORT"
tap_not "its IMAPS port is closed" peers_port_taken "$DOVECOT_IMAPS_PORT"
tap_is "no dovecot process of this instance is left" "$(DOVECOT_PID='' dovecot_pids)" ""

# ------------------------------------------------------------ CalDAV (Radicale)

propfind() {
	curl -sS -o "$PEERS_DIR/propfind.out" -w '%{http_code}' -X PROPFIND \
	    -H 'Depth: 0' --cacert "$PEERS_CA_FILE" "$@"
}

RADICALE_LOG_LEVEL=info tap_ok "radicale starts (with TLS)" \
    timed radicale_start alice secret --tls || tap_bail "radicale did not start"
tap_is "an authenticated PROPFIND answers 207" \
    "$(propfind -u alice:secret "$RADICALE_URL")" 207
tap_is "an unauthenticated PROPFIND answers 401" "$(propfind "$RADICALE_URL")" 401
tap_is "a wrong password answers 401" \
    "$(propfind -u alice:wrong "$RADICALE_URL")" 401
cal=$(radicale_mkcalendar work "Work")
tap_is "MKCALENDAR makes a calendar" "$cal" "${RADICALE_URL}alice/work/"
printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//rapport//tests//EN\r\nBEGIN:VEVENT\r\nUID:peers-%s@rapport.test\r\nDTSTAMP:20261122T100000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\nSUMMARY:Visit\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' \
    "$$" >"$PEERS_DIR/event.ics"
tap_ok "an event is PUT" radicale_put "$cal" "$PEERS_DIR/event.ics"
tap_like "the calendar lists it" \
    "$(radicale_curl -X PROPFIND -H 'Depth: 1' "$cal")" "event\.ics"
radicale_add_user bob bobpw
tap_is "rights are owner_only: bob may not read alice's calendars" \
    "$(propfind -u bob:bobpw "$cal")" 403
tap_ok "radicale read only its private config" \
    grep -q "Loaded config file '$RADICALE_CONF'" "$RADICALE_LOG"
tap_not "... and not /etc/radicale/config" grep -q "/etc/radicale" "$RADICALE_LOG"

radicale_port=$RADICALE_PORT radicale_pid=$RADICALE_PID
tap_ok "radicale stops" timed radicale_stop
tap_not "its port is closed" peers_port_taken "$radicale_port"
tap_not "its process is gone" kill -0 "$radicale_pid"

# ------------------------------------------------------------ SMTP sink

# smtp_try FILE FROM RCPT [USER PASS]: sends FILE over STARTTLS (our CA) and
# prints the server's final code: 250, or the code that refused it.
smtp_try() {
	"$PEERS_PYTHON" - "$SMTP_SINK_PORT" "$PEERS_CA_FILE" "$@" <<-'EOF'
	import smtplib, ssl, sys
	port, ca, path, sender, rcpt = sys.argv[1:6]
	login = sys.argv[6:8]
	try:
	    with smtplib.SMTP("127.0.0.1", int(port), timeout=10) as s:
	        s.starttls(context=ssl.create_default_context(cafile=ca))
	        if login:
	            s.login(*login)
	        with open(path, "rb") as f:
	            s.sendmail(sender, [rcpt], f.read())
	    print(250)
	except smtplib.SMTPRecipientsRefused as e:
	    print(list(e.recipients.values())[0][0])
	except smtplib.SMTPResponseException as e:
	    print(e.smtp_code)
	EOF
}

tap_ok "the SMTP sink starts (AUTH required, STARTTLS)" \
    timed smtp_sink_start bob 'sink pw' --starttls ||
    tap_bail "the SMTP sink did not start"
mid3="<peers-smtp-$$@rapport.test>"
long=$(head -c 3000 /dev/zero | tr '\0' x)
printf 'From: alice@example.com\r\nTo: c@example.com\r\nSubject: follow-up\r\nMessage-ID: %s\r\n\r\nHello\r\n%s\r\n' \
    "$mid3" "$long" >"$PEERS_DIR/out.eml"
tap_is "a message with a 3000-byte line is accepted" \
    "$(smtp_try "$PEERS_DIR/out.eml" alice@example.com c@example.com bob 'sink pw')" 250
tap_is "its index line has Message-ID, recipient and sender" \
    "$(cut -f1-3 "$SMTP_SINK_INDEX")" "$mid3"$'\t'"c@example.com"$'\t'"alice@example.com"
rec=$(smtp_sink_find "$mid3")
tap_ok "it is recorded byte for byte" cmp "$rec" "$PEERS_DIR/out.eml"
tap_is "the index names the login" "$(cut -f5 "$SMTP_SINK_INDEX")" bob
tap_is "without AUTH it is refused" \
    "$(smtp_try "$PEERS_DIR/out.eml" alice@example.com c@example.com)" 530
tap_is "a wrong password is refused" \
    "$(smtp_try "$PEERS_DIR/out.eml" alice@example.com c@example.com bob nope)" 535
smtp_sink_fail 1 451 4.3.0 try again later
tap_is "told to, it answers 451 once" \
    "$(smtp_try "$PEERS_DIR/out.eml" alice@example.com c@example.com bob 'sink pw')" 451
tap_is "... then accepts again" \
    "$(smtp_try "$PEERS_DIR/out.eml" alice@example.com c@example.com bob 'sink pw')" 250
smtp_sink_fail 554 5.7.1 rejected for testing
tap_is "told to, it answers 554 until told otherwise" \
    "$(smtp_try "$PEERS_DIR/out.eml" alice@example.com c@example.com bob 'sink pw')/$(
       smtp_try "$PEERS_DIR/out.eml" alice@example.com c@example.com bob 'sink pw')" 554/554
smtp_sink_ok
smtp_sink_fail gone@example.com 550 5.1.1 no such user
tap_is "a refused recipient gets 550 at RCPT TO" \
    "$(smtp_try "$PEERS_DIR/out.eml" alice@example.com gone@example.com bob 'sink pw')" 550
tap_is "other recipients are still accepted" \
    "$(smtp_try "$PEERS_DIR/out.eml" alice@example.com c@example.com bob 'sink pw')" 250
tap_is "exactly the accepted messages are recorded" "$(smtp_sink_count)" 3
tap_is "... one file each" "$(find "$SMTP_SINK_DIR" -name '*.eml' | wc -l)" 3

sink_port=$SMTP_SINK_PORT sink_pid=$SMTP_SINK_PID
tap_ok "the SMTP sink stops" timed smtp_sink_stop
tap_not "its port is closed" peers_port_taken "$sink_port"
tap_not "its process is gone" kill -0 "$sink_pid"

tap_ok "the sink also runs without AUTH" timed smtp_sink_start
printf 'From: a@example.com\r\nMessage-ID: <noauth-%s@rapport.test>\r\n\r\nx\r\n' "$$" \
    >"$PEERS_DIR/noauth.eml"
tap_is "... and accepts mail there" "$("$PEERS_PYTHON" - "$SMTP_SINK_PORT" "$PEERS_DIR/noauth.eml" <<-'EOF'
	import smtplib, sys
	with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10) as s:
	    s.sendmail("a@example.com", ["b@example.com"], open(sys.argv[2], "rb").read())
	print("sent")
	EOF
)" sent
tap_ok "... and records it" smtp_sink_find "<noauth-$$@rapport.test>"
smtp_sink_stop

while read -r name ms unit; do
	tap_diag "$name: $ms $unit"
done <"$PEERS_DIR/timings"
tap_done
