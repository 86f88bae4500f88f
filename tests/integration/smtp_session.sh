#!/bin/bash
# The SMTP session layer (connectors/smtp_session.c) against the SMTP sink
# of tests/peers/, through tests/integration/smtp-probe: STARTTLS and
# implicit TLS with the chain checked, AUTH PLAIN and LOGIN, several
# messages over one connection, dot-stuffing, 8-bit bodies, 4xx/5xx
# classification, PIPELINING (RFC 2920) and a server without it, a server
# that dies mid-session, a server that never greets.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$TOP_SRCDIR/tests/peers/lib.sh" || exit 1

PROBE=$TOP_BUILDDIR/tests/integration/smtp-probe
[ -x "$PROBE" ] || tap_bail "no $PROBE (make check builds it)"

peers_setup
W=$PEERS_DIR/smtp-test
mkdir -p "$W"
printf 'secret\n' >"$W/pw"
printf 'wrong\n' >"$W/badpw"
chmod 600 "$W/pw" "$W/badpw"

# Messages as mime_build makes them: CRLF.  m1 has lines that need
# dot-stuffing (one is a lone dot, which would end DATA unstuffed); m2 is
# 8-bit UTF-8 (Korean, Chinese, German).
printf 'Message-ID: <m1@test>\r\nSubject: dots\r\n\r\n.starts with a dot\r\n.\r\n..two dots\r\nlast line\r\n' >"$W/m1.eml"
printf 'Message-ID: <m2@test>\r\nSubject: utf8\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n안녕하세요, 김 고객님\r\n您好，王先生\r\nGrüße aus Köln\r\n' >"$W/m2.eml"
printf 'Message-ID: <m3@test>\r\nSubject: third\r\n\r\nthird message\r\n' >"$W/m3.eml"
printf 'Message-ID: <m4@test>\r\nSubject: fourth\r\n\r\nfourth\r\n' >"$W/m4.eml"

# probe NAME [OPTION...] < SCRIPT: output in $W/NAME.out, trace in .err
probe() {
	local name=$1
	shift
	SMTP_PROBE_DEBUG=1 "$PROBE" "$@" >"$W/$name.out" 2>"$W/$name.err"
}
out() { cat "$W/$1.out"; }
auth_opts=(--ca-file "$PEERS_CA_FILE" --user alice --password-file "$W/pw")
index_field() { awk -F '\t' -v n="$1" -v f="$2" 'NR == n { print $f }' "$SMTP_SINK_INDEX"; }
# cmd_groups NAME: for each MAIL FROM in the trace, "group" when every command
# up to its DATA went out before the first reply came back (pipelined),
# else "serial"; "+rset" when an RSET went out just before it, unanswered.
cmd_groups() {
	awk '/ > RSET$/ { rset = 1; next }
	    / > MAIL FROM/ { g = 1; ok = 1; r = rset }
	    / < / { rset = 0; if (g) ok = 0 }
	    g && / > DATA$/ { printf "%s%s ", ok ? "group" : "serial", r ? "+rset" : ""; g = 0 }' "$W/$1.err"
}

# --- STARTTLS, AUTH PLAIN, three messages over one connection ---------
tap_ok "sink with AUTH and STARTTLS starts" \
    smtp_sink_start alice secret --require-starttls ||
    tap_bail "no SMTP sink"
probe three "${auth_opts[@]}" --auth plain 127.0.0.1 "$SMTP_SINK_PORT" <<EOF
send rapport@example.com kim@example.com $W/m1.eml
reset
send rapport@example.com kim@example.com,lee@example.com $W/m2.eml
reset
send rapport@example.com kim@example.com $W/m3.eml
noop
EOF
tap_is "probe exits 0" "$?" 0
tap_is "STARTTLS + AUTH PLAIN: session opens" "$(head -1 "$W/three.out")" "open ok"
tap_is "three messages accepted" "$(grep -c '^send OK 250 250 2.0.0 OK queued as' "$W/three.out")" 3
tap_like "the server's text (queue id) is handed back" "$(grep '^send' "$W/three.out" | tail -1)" 'queued as 3$'
tap_is "RSET between messages" "$(grep -c '^reset ok' "$W/three.out")" 2
tap_is "NOOP: still alive" "$(grep -c '^alive yes' "$W/three.out")" 1
tap_is "the sink recorded three messages" "$(smtp_sink_count)" 3
tap_is "all three by login alice" "$(cut -f5 "$SMTP_SINK_INDEX" | sort -u)" alice
tap_is "over one connection (one greeting, one STARTTLS, one AUTH)" \
    "$(grep -c -e '< 220 localhost' -e '> STARTTLS' -e '> AUTH PLAIN' "$W/three.err")" 3
tap_is "one QUIT at the end" "$(grep -c '> QUIT' "$W/three.err")" 1
tap_is "both recipients of message 2" "$(index_field 2 2)" "kim@example.com,lee@example.com"
tap_is "envelope sender" "$(index_field 1 3)" "rapport@example.com"
tap_ok "dot-stuffed body arrives intact (lone dot, two dots)" cmp "$W/m1.eml" "$SMTP_SINK_DIR/1.eml"
tap_ok "8-bit UTF-8 body arrives byte-exact" cmp "$W/m2.eml" "$SMTP_SINK_DIR/2.eml"
tap_ok "8-bit announced with BODY=8BITMIME" grep -q 'MAIL FROM:<rapport@example.com> BODY=8BITMIME' "$W/three.err"
tap_not "the password never appears in the trace" grep -q -e secret -e "$(printf '\0alice\0secret' | base64)" "$W/three.err"

# --- AUTH LOGIN -------------------------------------------------------------
probe login "${auth_opts[@]}" --auth login 127.0.0.1 "$SMTP_SINK_PORT" <<EOF
send rapport@example.com kim@example.com $W/m3.eml
EOF
tap_is "AUTH LOGIN: session opens" "$(head -1 "$W/login.out")" "open ok"
tap_like "AUTH LOGIN: message accepted" "$(out login)" 'send OK 250'
tap_ok "AUTH LOGIN was used" grep -q '> AUTH LOGIN' "$W/login.err"
tap_is "recorded with login alice" "$(index_field 4 5)" alice

# --- wrong password ---------------------------------------------------------
probe badpw --ca-file "$PEERS_CA_FILE" --user alice --password-file "$W/badpw" \
    127.0.0.1 "$SMTP_SINK_PORT" </dev/null
tap_is "wrong password: probe fails" "$?" 1
tap_like "wrong password: clear error with the server's words" "$(out badpw)" \
    '^open fail: smtp 127\.0\.0\.1:[0-9]+: AUTH PLAIN refused for user alice: 535 5\.7\.8 Authentication credentials invalid$'
tap_not "wrong password: not in the message" grep -q wrong "$W/badpw.out"

# --- certificate checks (STARTTLS) -------------------------------------------
probe otherca --ca-file "$PEERS_OTHER_CA_FILE" --user alice --password-file "$W/pw" \
    127.0.0.1 "$SMTP_SINK_PORT" </dev/null
tap_like "STARTTLS, unrelated CA: refused" "$(out otherca)" '^open fail: smtp 127\.0\.0\.1:[0-9]+: certificate refused: '
tap_not "STARTTLS, unrelated CA: no AUTH sent" grep -q '> AUTH' "$W/otherca.err"
probe sysstore --user alice --password-file "$W/pw" 127.0.0.1 "$SMTP_SINK_PORT" </dev/null
tap_like "STARTTLS, system store: refused, saying so" "$(out sysstore)" \
    '^open fail: .*certificate refused: .*trusted: system store'
probe noverify --no-verify --ca-file "$PEERS_OTHER_CA_FILE" --user alice \
    --password-file "$W/pw" 127.0.0.1 "$SMTP_SINK_PORT" </dev/null
tap_is "tls_verify = false: opens anyway" "$(out noverify)" "open ok"
tap_ok "tls_verify = false: with a warning" grep -q 'certificate not verified' "$W/noverify.err"
probe xoauth2 "${auth_opts[@]}" --auth xoauth2 --token-file "$W/pw" 127.0.0.1 "$SMTP_SINK_PORT" </dev/null
tap_like "XOAUTH2 not announced: clear error" "$(out xoauth2)" 'server does not offer AUTH XOAUTH2$'

# --- 4xx / 5xx ---------------------------------------------------------------
smtp_sink_fail '*' 451 4.3.0 try later
probe temp "${auth_opts[@]}" 127.0.0.1 "$SMTP_SINK_PORT" <<EOF
send rapport@example.com kim@example.com $W/m3.eml
EOF
tap_is "451 → TEMPFAIL with the server's words" "$(sed -n 2p "$W/temp.out")" "send TEMPFAIL 451 451 4.3.0 try later"
smtp_sink_ok
smtp_sink_fail '*' 550 no such user
probe perm "${auth_opts[@]}" 127.0.0.1 "$SMTP_SINK_PORT" <<EOF
send rapport@example.com kim@example.com $W/m3.eml
EOF
tap_is "550 → PERMFAIL with the server's words" "$(sed -n 2p "$W/perm.out")" "send PERMFAIL 550 550 no such user"
smtp_sink_ok
n_before=$(smtp_sink_count)
smtp_sink_fail 1 451 4.3.0 try later
smtp_sink_fail gone@example.com 550 5.1.1 no such user
probe mixed "${auth_opts[@]}" 127.0.0.1 "$SMTP_SINK_PORT" <<EOF
send rapport@example.com kim@example.com $W/m3.eml
send rapport@example.com kim@example.com $W/m4.eml
send rapport@example.com gone@example.com,lee@example.com $W/m4.eml
send rapport@example.com gone@example.com $W/m4.eml
send rapport@example.com kim@example.com $W/m3.eml
EOF
smtp_sink_ok
tap_is "after a TEMPFAIL the same connection sends the next message" \
    "$(sed -n '2,3p' "$W/mixed.out" | cut -d' ' -f2 | tr '\n' ' ')" "TEMPFAIL OK "
tap_like "one recipient refused: the other still gets it" "$(sed -n 4p "$W/mixed.out")" '^send OK 250'
tap_is "the refused recipient is reported with its own words" "$(sed -n 5p "$W/mixed.out")" \
    "refused 0 PERMFAIL 550 550 5.1.1 no such user"
tap_is "every recipient refused → PERMFAIL with the words" "$(sed -n 6p "$W/mixed.out")" \
    "send PERMFAIL 550 550 5.1.1 no such user"
tap_like "… and the session goes on" "$(sed -n 8p "$W/mixed.out")" '^send OK 250'
tap_is "the sink recorded exactly the accepted ones" "$(smtp_sink_count)" $((n_before + 3))
tap_is "one connection for all of it" "$(grep -c '< 220 localhost' "$W/mixed.err")" 1

# --- server killed mid-session --------------------------------------------
rm -f "$W/go"
SMTP_PROBE_DEBUG=1 "$PROBE" "${auth_opts[@]}" 127.0.0.1 "$SMTP_SINK_PORT" \
    >"$W/kill.out" 2>"$W/kill.err" <<EOF &
send rapport@example.com kim@example.com $W/m3.eml
echo ready
wait $W/go
send rapport@example.com kim@example.com $W/m4.eml
noop
reset
EOF
probe_pid=$!
for _ in $(seq 300); do
	grep -q '^ready' "$W/kill.out" 2>/dev/null && break
	sleep 0.05
done
tap_ok "first message before the kill" grep -q '^send OK' "$W/kill.out"
kill -9 "$SMTP_SINK_PID"
peers_wait_gone 5 "$SMTP_SINK_PID" 2>/dev/null
SMTP_SINK_PID=
touch "$W/go"
wait "$probe_pid"
tap_is "server killed: probe exits 0 (no crash)" "$?" 0
tap_like "server killed: CONNECTION" "$(grep '^send' "$W/kill.out" | tail -1)" '^send CONNECTION 0 '
tap_like "server killed: not alive" "$(out kill)" 'alive no: connection lost'
tap_like "server killed: RSET fails" "$(out kill)" 'reset fail: connection lost'

# --- implicit TLS ------------------------------------------------------------
tap_ok "sink with implicit TLS starts" smtp_sink_start alice secret --implicit-tls
probe smtps --smtps "${auth_opts[@]}" 127.0.0.1 "$SMTP_SINK_PORT" <<EOF
send rapport@example.com kim@example.com $W/m2.eml
EOF
tap_is "implicit TLS: session opens" "$(head -1 "$W/smtps.out")" "open ok"
tap_like "implicit TLS: message accepted" "$(out smtps)" 'send OK 250'
tap_not "implicit TLS: no STARTTLS" grep -q '> STARTTLS' "$W/smtps.err"
probe smtpsother --smtps --ca-file "$PEERS_OTHER_CA_FILE" --user alice \
    --password-file "$W/pw" 127.0.0.1 "$SMTP_SINK_PORT" </dev/null
tap_like "implicit TLS, unrelated CA: refused before EHLO" "$(out smtpsother)" 'certificate refused'
tap_not "implicit TLS, unrelated CA: nothing sent" grep -q '> EHLO' "$W/smtpsother.err"
smtp_sink_stop

# --- no STARTTLS offered; plain text only when asked ------------------------
tap_ok "sink without TLS starts" smtp_sink_start
probe nostarttls --ca-file "$PEERS_CA_FILE" 127.0.0.1 "$SMTP_SINK_PORT" </dev/null
tap_like "no STARTTLS offered: refused" "$(out nostarttls)" 'server does not offer STARTTLS'
printf 'Message-ID: <m5@test>\n\n.lf only\nno end' >"$W/m5.eml"
probe plain --tls-none --helo client.example.org 127.0.0.1 "$SMTP_SINK_PORT" <<EOF
send rapport@example.com kim@example.com $W/m1.eml
send rapport@example.com kim@example.com $W/m5.eml
EOF
tap_like "tls = none: plain text works" "$(out plain)" 'send OK 250'
tap_is "bare LF sent as CRLF, a last line without one ended" \
    "$(od -An -c "$(smtp_sink_find '<m5@test>')" | tr -s ' \n' ' ')" \
    "$(printf 'Message-ID: <m5@test>\r\n\r\n.lf only\r\nno end\r\n' | od -An -c | tr -s ' \n' ' ')"
tap_ok "EHLO carries the name given" grep -q '> EHLO client.example.org' "$W/plain.err"
smtp_sink_stop

# --- PIPELINING (RFC 2920) -----------------------------------------------------
tap_ok "sink announcing PIPELINING starts" smtp_sink_start
n_before=$(smtp_sink_count)
probe pipe --tls-none 127.0.0.1 "$SMTP_SINK_PORT" <<EOF
send rapport@example.com kim@example.com $W/m1.eml
reset
send rapport@example.com kim@example.com,lee@example.com $W/m2.eml
reset
send rapport@example.com kim@example.com $W/m3.eml
EOF
tap_ok "PIPELINING seen in EHLO" grep -q '< 250 .*PIPELINING' "$W/pipe.err"
tap_is "pipelined: three messages accepted" "$(grep -c '^send OK 250 250 2.0.0 OK queued as' "$W/pipe.out")" 3
tap_is "MAIL, RCPT and DATA in one group; RSET leads the next two" \
    "$(cmd_groups pipe)" "group group+rset group+rset "
tap_is "pipelined: RSET only inside the groups" "$(grep -c '> RSET' "$W/pipe.err")" 2
tap_is "pipelined: the sink recorded three" "$(smtp_sink_count)" $((n_before + 3))
tap_ok "pipelined: dot-stuffed body intact" cmp "$W/m1.eml" "$SMTP_SINK_DIR/$((n_before + 1)).eml"
tap_ok "pipelined: 8-bit body intact" cmp "$W/m2.eml" "$SMTP_SINK_DIR/$((n_before + 2)).eml"
tap_is "pipelined: both recipients of message 2" "$(index_field $((n_before + 2)) 2)" \
    "kim@example.com,lee@example.com"

# Bodies of several stream buffers (8 KiB), dot-stuffed lines across them.
awk 'BEGIN { printf "Message-ID: <big@test>\r\nSubject: big\r\n\r\n"
    for (i = 0; i < 600; i++) printf ".line %04d of a body larger than one buffer\r\n", i }' >"$W/big.eml"
n_before=$(smtp_sink_count)
probe pipebig --tls-none 127.0.0.1 "$SMTP_SINK_PORT" <<EOF
send rapport@example.com kim@example.com $W/big.eml
reset
send rapport@example.com kim@example.com $W/big.eml
EOF
tap_is "pipelined, 28 KB bodies: both accepted" "$(grep -c '^send OK 250' "$W/pipebig.out")" 2
tap_ok "… the first byte-exact" cmp "$W/big.eml" "$SMTP_SINK_DIR/$((n_before + 1)).eml"
tap_ok "… the second byte-exact" cmp "$W/big.eml" "$SMTP_SINK_DIR/$((n_before + 2)).eml"

n_before=$(smtp_sink_count)
smtp_sink_fail gone@example.com 550 5.1.1 no such user
smtp_sink_fail old@example.com 550 5.1.1 moved away
probe piperef --tls-none 127.0.0.1 "$SMTP_SINK_PORT" <<EOF
send rapport@example.com kim@example.com,gone@example.com,lee@example.com $W/m3.eml
send rapport@example.com gone@example.com,old@example.com $W/m4.eml
send rapport@example.com lee@example.com $W/m4.eml
EOF
smtp_sink_ok
tap_like "pipelined, one RCPT of three refused: sent to the others" "$(sed -n 2p "$W/piperef.out")" '^send OK 250 '
tap_is "… the refused one reported with its index and words" "$(sed -n 3p "$W/piperef.out")" \
    "refused 1 PERMFAIL 550 550 5.1.1 no such user"
tap_is "… the message went to the two others" "$(index_field $((n_before + 1)) 2)" "kim@example.com,lee@example.com"
tap_is "pipelined, every RCPT refused: PERMFAIL with the first words" "$(sed -n 4p "$W/piperef.out")" \
    "send PERMFAIL 550 550 5.1.1 no such user"
tap_is "… each refusal mapped to its recipient" "$(sed -n '5,6p' "$W/piperef.out" | cut -d' ' -f2,6- | tr '\n' '|')" \
    "0 5.1.1 no such user|1 5.1.1 moved away|"
tap_is "… no body sent for it (bodies: the two accepted only)" "$(grep -c ' > <[0-9]* bytes> \.' "$W/piperef.err")" 2
tap_like "… and the same connection sends the next" "$(sed -n 7p "$W/piperef.out")" '^send OK 250 '
tap_is "the sink recorded two messages, none for the refused" "$(smtp_sink_count)" $((n_before + 2))
tap_is "one connection for all of it" "$(grep -c '< 220 localhost' "$W/piperef.err")" 1

n_before=$(smtp_sink_count)
smtp_sink_fail MAIL 451 4.3.2 not now
printf 'send rapport@example.com kim@example.com %s\necho cleared\nwait %s\nsend rapport@example.com kim@example.com %s\n' \
    "$W/m3.eml" "$W/mail-ok" "$W/m4.eml" >"$W/pipemail.in"
SMTP_PROBE_DEBUG=1 "$PROBE" --tls-none 127.0.0.1 "$SMTP_SINK_PORT" \
    <"$W/pipemail.in" >"$W/pipemail.out" 2>"$W/pipemail.err" &
probe_pid=$!
for _ in $(seq 300); do
	grep -q '^cleared' "$W/pipemail.out" 2>/dev/null && break
	sleep 0.05
done
smtp_sink_ok
touch "$W/mail-ok"
wait "$probe_pid"
tap_is "pipelined, 451 on MAIL → TEMPFAIL with the server's words" "$(sed -n 2p "$W/pipemail.out")" \
    "send TEMPFAIL 451 451 4.3.2 not now"
tap_is "… no body sent for it (bodies: the second only)" \
    "$(grep -c -e ' > <[0-9]* bytes> \.' -e ' > \.$' "$W/pipemail.err")" 1
tap_like "… the RCPT and DATA replies passed over; the next message goes" \
    "$(sed -n 4p "$W/pipemail.out")" '^send OK 250 '
tap_is "… the sink recorded only the second" "$(smtp_sink_count)" $((n_before + 1))
smtp_sink_stop

# A server may answer DATA with 354 after every RCPT was refused: the
# client then sends a lone dot, never the message (RFC 2920 §3.1).
tap_ok "sink accepting DATA without recipients starts" smtp_sink_start --data-without-rcpt
n_before=$(smtp_sink_count)
smtp_sink_fail gone@example.com 550 5.1.1 no such user
probe lonedot --tls-none 127.0.0.1 "$SMTP_SINK_PORT" <<EOF
send rapport@example.com gone@example.com $W/m3.eml
send rapport@example.com kim@example.com $W/m4.eml
EOF
smtp_sink_ok
tap_is "354 after all RCPTs refused: PERMFAIL with the RCPT's words" "$(sed -n 2p "$W/lonedot.out")" \
    "send PERMFAIL 550 550 5.1.1 no such user"
tap_ok "… answered with a lone dot" grep -q ' > \.$' "$W/lonedot.err"
tap_is "… the server got an empty body (0 bytes), not the message" "$(cat "$SMTP_SINK_DIR/norcpt-data.log")" 0
tap_like "… and the next message goes on the same connection" "$(sed -n 4p "$W/lonedot.out")" '^send OK 250 '
tap_is "… the sink recorded only that one" "$(smtp_sink_count)" $((n_before + 1))
smtp_sink_stop

tap_ok "sink without PIPELINING starts" smtp_sink_start --no-pipelining
n_before=$(smtp_sink_count)
smtp_sink_fail gone@example.com 550 5.1.1 no such user
probe nopipe --tls-none 127.0.0.1 "$SMTP_SINK_PORT" <<EOF
send rapport@example.com kim@example.com $W/m1.eml
reset
send rapport@example.com gone@example.com,lee@example.com $W/m2.eml
reset
send rapport@example.com gone@example.com $W/m3.eml
EOF
smtp_sink_ok
tap_not "no PIPELINING in EHLO" grep -q 'PIPELINING' "$W/nopipe.err"
tap_is "without PIPELINING: one command, one reply" "$(cmd_groups nopipe)" "serial serial "
tap_is "… RSET waits for its own reply" "$(grep -A1 '> RSET' "$W/nopipe.err" | grep -c '< 250')" 3
tap_is "… same outcomes" "$(cut -d' ' -f1-3 "$W/nopipe.out" | tr '\n' '|')" \
    "open ok|send OK 250|reset ok|send OK 250|refused 0 PERMFAIL|reset ok|send PERMFAIL 550|refused 0 PERMFAIL|"
tap_is "… the sink recorded two" "$(smtp_sink_count)" $((n_before + 2))
smtp_sink_stop

# --- a server that never greets: the timeout bounds the wait -----------------
port=$(peer_port)
"$PEERS_PYTHON" -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(5)
c = s.accept(); time.sleep(30)' "$port" &
mute_pid=$!
peers_on_exit "kill $mute_pid 2>/dev/null"
wait_for_port "$port" 5 "$mute_pid"
start=$(date +%s)
probe mute --timeout 1 --tls-none 127.0.0.1 "$port" </dev/null
took=$(( $(date +%s) - start ))
tap_like "silent server: no greeting, clear error" "$(out mute)" '^open fail: smtp 127\.0\.0\.1:[0-9]+: no greeting \(connection closed, or silent for 1 s\)$'
tap_ok "silent server: gives up after the timeout (${took}s)" test "$took" -le 5
kill "$mute_pid" 2>/dev/null

tap_not "no sanitizer report from any probe run" \
    grep -l -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' "$W"/*.err
[ "${SMTP_TEST_SHOW:-0}" = 1 ] && head -n 9 "$W"/{kill,otherca,sysstore,mute,badpw,mixed}.out >&2
tap_done
