#!/bin/bash
# connectors/imap_session against a private Dovecot: TLS (implicit and
# STARTTLS) verified or refused, LOGIN and AUTHENTICATE PLAIN, EXAMINE
# with CONDSTORE/QRESYNC, header and excerpt fetches that leave the mailbox
# untouched (no \Seen), STATUS (an expunge moves its HIGHESTMODSEQ),
# CHANGEDSINCE/VANISHED, and IDLE.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TOP_BUILDDIR=${TOP_BUILDDIR:-$TOP_SRCDIR}
. "$TOP_SRCDIR/tests/peers/lib.sh" || exit 1

PROBE=$TOP_BUILDDIR/tests/integration/imap-probe
[ -x "$PROBE" ] || tap_bail "no $PROBE (make check builds it)"

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

peers_setup || tap_bail "peers_setup failed"
dovecot_start alice 'pa ss' || tap_bail "dovecot did not start"

# probe MODE ARGS...: the probe as alice over plain text, STARTTLS or IMAPS.
probe() {
	local mode=$1
	shift
	case $mode in
	plain) "$PROBE" -p "$DOVECOT_IMAP_PORT" -m none -u alice -P 'pa ss' "$@" ;;
	starttls) "$PROBE" -p "$DOVECOT_IMAP_PORT" -m starttls -u alice -P 'pa ss' "$@" ;;
	imaps) "$PROBE" -p "$DOVECOT_IMAPS_PORT" -m imaps -u alice -P 'pa ss' "$@" ;;
	esac
}

d=$PEERS_DIR
printf '%s\r\n' 'From: Kim Min-jun <minjun@example.kr>' 'To: alice@example.com' \
    'Subject: =?UTF-8?B?6rKs7KCBIOusuOydmA==?=' 'Message-ID: <ko-1@example.kr>' \
    'Date: Mon, 02 Nov 2026 09:00:00 +0900' '' 'Korean customer.' >"$d/m1.eml"
printf '%s\r\n' 'From: "Bob Buyer" <bob@example.com>' 'To: alice@example.com' \
    'Subject: Order 42' 'Message-ID: <order-42@example.com>' \
    'Date: Tue, 03 Nov 2026 10:00:00 +0000' '' 'Plain body.' >"$d/m2.eml"
printf '%s\r\n' 'From: carol@example.org' 'To: alice@example.com' \
    'Subject: Thanks' 'Message-ID: <thanks@example.org>' \
    'Date: Wed, 04 Nov 2026 11:00:00 +0000' 'MIME-Version: 1.0' \
    'Content-Type: multipart/alternative; boundary="b1"' '' \
    '--b1' 'Content-Type: text/plain; charset=utf-8' \
    'Content-Transfer-Encoding: base64' '' '6rCQ7IKs7ZWp64uI64ukLg==' \
    '--b1' 'Content-Type: text/html; charset=utf-8' '' '<p>x</p>' '--b1--' \
    >"$d/m3.eml"
for i in 1 2 3; do
	dovecot_deliver alice "$d/m$i.eml" || tap_bail "delivery failed"
done

# ------------------------------------------------------------ login, caps

out=$(probe plain caps 2>&1)
tap_like "LOGIN over plain text; capabilities after login" "$out" \
    '^caps IDLE CONDSTORE QRESYNC ENABLE$'
out=$(probe plain -a plain caps 2>&1)
tap_like "AUTHENTICATE PLAIN works (libetpan's SASL)" "$out" '^caps IDLE'
out=$(probe plain -P wrong caps 2>&1)
rc=$?
tap_is "a wrong password fails with exit 2" "$rc" 2
tap_like "... saying so in the server's words" "$out" \
    '^imap-probe: imap host 127\.0\.0\.1: login as alice refused: .*[Aa]uthentication failed'
tap_not "... and never shows the password" grep -q 'wrong' <<<"${out#*refused}"
out=$(probe plain -P wrong -a plain caps 2>&1)
tap_like "a wrong password with PLAIN fails clearly too" "$out" 'login as alice refused'

# ------------------------------------------------------------ TLS

out=$(probe imaps caps 2>&1)
rc=$?
tap_is "IMAPS with a certificate from an unknown CA is refused" "$rc" 2
tap_like "... naming host and reason" "$out" \
    'imap host 127\.0\.0\.1: certificate refused: .*not trusted'
out=$(probe starttls caps 2>&1)
tap_like "STARTTLS with an unknown CA is refused as well" "$out" \
    'imap host 127\.0\.0\.1: certificate refused: .*not trusted'
out=$(probe imaps -c "$PEERS_OTHER_CA_FILE" caps 2>&1)
tap_like "an unrelated ca_file does not help" "$out" 'certificate refused'
out=$(probe imaps -c "$PEERS_CA_FILE" caps 2>&1)
tap_like "IMAPS is accepted with ca_file = the CA" "$out" '^caps IDLE'
out=$(probe imaps -H localhost -c "$PEERS_CA_FILE" caps 2>&1)
tap_like "... also by the name localhost (SNI, host check)" "$out" '^caps IDLE'
out=$(probe starttls -c "$PEERS_CA_FILE" -a plain caps 2>&1)
tap_like "STARTTLS is accepted with ca_file, PLAIN inside it" "$out" '^caps IDLE'
out=$(probe imaps -k caps 2>&1)
tap_like "tls_verify = false connects, with a warning" "$out" \
    'certificate not verified'

# ------------------------------------------------------------ EXAMINE, FETCH

ca=(-c "$PEERS_CA_FILE")
before=$(probe imaps "${ca[@]}" examine INBOX 2>&1)
tap_like "EXAMINE reports UIDVALIDITY, UIDNEXT, EXISTS 3, HIGHESTMODSEQ" \
    "$before" '^uidvalidity=[1-9][0-9]* uidnext=4 exists=3 highestmodseq=[1-9]'
uv=$(sed -n 's/^uidvalidity=\([0-9]*\) .*/\1/p' <<<"$before")
modseq=$(sed -n 's/.* highestmodseq=\([0-9]*\).*/\1/p' <<<"$before")

out=$(probe imaps "${ca[@]}" -b 2 headers INBOX 2>&1)
tap_is "headers: three messages, in UID order" \
    "$(grep -c '^uid=' <<<"$out")" 3
tap_like "message 1: Korean RFC 2047 subject decoded" "$out" \
    '^uid=1 internaldate=[1-9][0-9]* modseq=[1-9][0-9]* from=minjun@example\.kr msgid=ko-1@example\.kr subject=견적 문의$'
tap_like "message 2" "$out" '^uid=2 .* from=bob@example\.com msgid=order-42@example\.com subject=Order 42$'
tap_like "message 3" "$out" '^uid=3 .* from=carol@example\.org msgid=thanks@example\.org subject=Thanks$'
tap_is "batches of 2 UIDs end at 2 and 3" \
    "$(grep '^batch' <<<"$out" | tr '\n' ' ')" "batch last=2 batch last=3 "
out=$(probe imaps "${ca[@]}" headers INBOX 3 2>&1)
tap_is "a UID range from the last message on gives only it" \
    "$(grep -c '^uid=' <<<"$out")" 1
out=$(probe imaps "${ca[@]}" headers INBOX 9 2>&1)
tap_is "a range past the end gives nothing (not the last message)" \
    "$(grep -c '^uid=' <<<"$out")" 0

out=$(probe imaps "${ca[@]}" excerpt INBOX 3 2>&1)
tap_like "excerpt: BODY.PEEK[TEXT] partial, decoded by message_parse_body" \
    "$out" '^excerpt=감사합니다\.'
out=$(probe imaps "${ca[@]}" excerpt INBOX 3 20 2>&1)
tap_like "the partial fetch is capped at the bytes asked for" "$out" \
    '^text uid=3 bytes=20$'

flags=$(doveadm_ fetch -u alice 'uid flags' mailbox INBOX all 2>&1)
tap_not "no message got \\Seen from fetching" grep -q 'Seen' <<<"$flags"
after=$(probe imaps "${ca[@]}" examine INBOX 2>&1)
tap_is "HIGHESTMODSEQ is unchanged: nothing in the mailbox changed" \
    "$after" "$before"

# ------------------------------------------------------------ QRESYNC

# What a pass that sends no EXAMINE relies on: STATUS tells what EXAMINE
# would, and an expunge moves HIGHESTMODSEQ.
status_of() {	# EXAMINE's or STATUS's line: its four numbers
	sed -n 's/.*uidvalidity=\([0-9]*\) uidnext=\([0-9]*\) \(exists\|messages\)=\([0-9]*\) highestmodseq=\([0-9]*\).*/\1 \2 \4 \5/p' <<<"$1"
}
st_before=$(probe imaps "${ca[@]}" status INBOX 2>&1)
tap_is "STATUS reports what EXAMINE does (UIDVALIDITY, UIDNEXT, MESSAGES, HIGHESTMODSEQ)" \
    "$(status_of "$st_before")" "$(status_of "$after")"
dovecot_expunge alice INBOX uid 2 || tap_bail "expunge failed"
st_after=$(probe imaps "${ca[@]}" status INBOX 2>&1)
tap_ok "an expunge moves STATUS's HIGHESTMODSEQ" test \
    "$(status_of "$st_after" | cut -d' ' -f4)" -gt \
    "$(status_of "$st_before" | cut -d' ' -f4)"
out=$(probe imaps "${ca[@]}" examine INBOX "$uv" "$modseq" 2>&1)
tap_like "EXAMINE (QRESYNC (uidvalidity modseq)) reports VANISHED 2" "$out" \
    '^vanished=2$'
tap_like "... and EXISTS 2" "$out" ' exists=2 '
out=$(probe imaps "${ca[@]}" examine INBOX "$((uv + 1))" "$modseq" 2>&1)
tap_not "a stale UIDVALIDITY gives no VANISHED list" grep -q '^vanished' <<<"$out"
out=$(probe imaps "${ca[@]}" changed INBOX "$modseq" 2>&1)
tap_like "UID FETCH CHANGEDSINCE VANISHED reports 2" "$out" '^vanished=2$'

# ------------------------------------------------------------ IDLE

out=$(probe imaps "${ca[@]}" idle INBOX 1 2>&1)
tap_like "IDLE on a quiet folder times out after the seconds asked" "$out" \
    '^idle: timeout after 1[0-9][0-9][0-9] ms$'

probe imaps "${ca[@]}" -T idle INBOX 20 >"$d/idle.out" 2>"$d/idle.err" &
idle_pid=$!
peers_on_exit "kill $idle_pid 2>/dev/null"
for _ in $(seq 100); do
	grep -q ': idling' "$d/idle.err" && break
	sleep 0.05
done
tap_ok "the probe is in IDLE" grep -q ': idling' "$d/idle.err"
t0=$(now_ms)
dovecot_deliver alice "$d/m2.eml"
for _ in $(seq 500); do
	grep -q '^idle: ' "$d/idle.out" && break
	sleep 0.02
done
t1=$(now_ms)
wait "$idle_pid"
tap_like "a delivery ends IDLE with 'changed'" "$(cat "$d/idle.out")" \
    '^idle: changed after'
echo "# IDLE: delivery to 'changed' in $((t1 - t0)) ms (bench/imap measures it)"

# ------------------------------------------------------------ timeouts

# A server that accepts and then says nothing, for 30 s at most.
silent_port=$(peer_port)
"$PEERS_PYTHON" -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
s.settimeout(1)
held, end = [], time.time() + 30
while time.time() < end:
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
' "$silent_port" &
silent_pid=$!
peers_on_exit "kill $silent_pid 2>/dev/null"
wait_for_port "$silent_port" 5 "$silent_pid" || tap_bail "no silent server"
t0=$(now_ms)
out=$("$PROBE" -p "$silent_port" -m none -t 1 -u alice -P x caps 2>&1)
t1=$(now_ms)
tap_like "a server that never greets: a clear timeout" "$out" \
    'imap host 127\.0\.0\.1: .*timed out'
tap_ok "... bounded by the timeout (1 s asked, $((t1 - t0)) ms)" \
    test $((t1 - t0)) -lt 5000

tap_done
