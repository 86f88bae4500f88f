#!/bin/bash
# The SMTP session layer (connectors/smtp_session.c) against the SMTP sink
# of tests/peers/, through tests/integration/smtp-probe: STARTTLS and
# implicit TLS with the chain checked, AUTH PLAIN and LOGIN, several
# messages over one connection, dot-stuffing, 8-bit bodies, 4xx/5xx
# classification, a server that dies mid-session, a server that never
# greets.
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
