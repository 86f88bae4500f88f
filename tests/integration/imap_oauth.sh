#!/bin/bash
# XOAUTH2 against real servers: rapportd --once with auth = xoauth2 and a
# token_file logs in to the test Dovecot (an oauth2 passdb asking a local
# introspection endpoint about each token) and to the SMTP sink (AUTH
# XOAUTH2), and ingests / sends.  The token file is read again at every
# connection: rotated by an outside refresher (old token revoked), the
# next pass uses the new one.  A revoked or unknown token gives one clear
# log line naming the account, the server's response code
# ([AUTHENTICATIONFAILED]) and that the token was refused, exit status 1
# (an account's pass failed), and nothing is lost: the next pass with a
# good token catches up.  The daemon retries a refused token with its
# backoff and picks up the refreshed file by itself.  The introspection
# endpoint down is a temporary failure ([UNAVAILABLE]), not a refusal.  A
# server that does not offer AUTH=XOAUTH2 never gets the token: refused
# before sending.  The token never reaches the log, not even with -v and
# every trace category on.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TOP_BUILDDIR=${TOP_BUILDDIR:-$TOP_SRCDIR}
RAPPORTD=${RAPPORTD:-$TOP_BUILDDIR/rapportd}
RAPPORTCTL=${RAPPORTCTL:-$TOP_BUILDDIR/rapportctl}
. "$TOP_SRCDIR/tests/peers/lib.sh" || exit 1

MAIL=$TOP_SRCDIR/tests/integration/mail
[ -x "$RAPPORTD" ] || tap_bail "no $RAPPORTD"
[ -x "$RAPPORTCTL" ] || tap_bail "no $RAPPORTCTL"
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP no sqlite3 CLI"; exit 0; }

peers_setup || tap_bail "peers_setup failed"
DAEMON_PID=
# shellcheck disable=SC2016 # expanded at exit
peers_on_exit '[ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null'
tap_ok "token introspection endpoint starts" oauth_endpoint_start ||
    tap_bail "no endpoint"
export DOVECOT_OAUTH2_MODE=get
tap_ok "Dovecot with an oauth2 passdb (introspection_mode = get) starts" \
    dovecot_start alice secret || tap_bail "no dovecot"
# The sink checks tokens against the same "TOKEN USER" list.
tap_ok "SMTP sink with STARTTLS and AUTH XOAUTH2 starts" \
    smtp_sink_start --starttls --xoauth2-tokens "$OAUTH_TOKENS" ||
    tap_bail "no SMTP sink"

W=$PEERS_DIR/oauth-test
mkdir -p "$W/templates" "$W/secrets"
DB=$W/rapport.db
IMAP_CONF=$W/imap.conf
SMTP_CONF=$W/smtp.conf
TOKEN_FILE=$W/secrets/token	# what the refresher keeps up to date
LOG=$W/rapportd.log		# every pass, for the "never logged" checks

# A bearer token of the size real providers hand out (Microsoft's run
# past 1,500 characters), URL-safe base64 like theirs.
new_token() {
	printf 'ya29.%s' "$(head -c "${1:-1200}" /dev/urandom | base64 -w0 |
	    tr '+/' '-_' | tr -d '=')"
}
# refresh TOKEN: as an outside refresher does it: a new file renamed
# over the old one, ending in a newline.
refresh() {
	printf '%s\n' "$1" >"$TOKEN_FILE.new" && chmod 600 "$TOKEN_FILE.new" &&
	    mv "$TOKEN_FILE.new" "$TOKEN_FILE"
}

cat >"$W/templates/thanks.md" <<'EOF'
Kind: follow-up
Trigger: sale
After: 1d
Subject: Thank you, {{customer.first_name}}

Hi {{customer.first_name}}, enjoy your **{{sale.product}}**.
EOF

common() {
	cat <<EOF
[rapport]
database = $DB
templates = $W/templates
from = Kim Sales <kim@sales.example>
EOF
}
{ common; cat <<EOF; } >"$IMAP_CONF"

[imap "work"]
url = imap://127.0.0.1:$DOVECOT_IMAP_PORT/
ca_file = $PEERS_CA_FILE
user = alice
auth = xoauth2
token_file = $TOKEN_FILE
folders = INBOX
timeout = 10
EOF
{ common; cat <<EOF; } >"$SMTP_CONF"

[smtp "out"]
url = smtp://127.0.0.1:$SMTP_SINK_PORT/
ca_file = $PEERS_CA_FILE
user = alice
auth = xoauth2
token_file = $TOKEN_FILE
timeout = 10
EOF

sql() { sqlite3 -cmd '.timeout 5000' -batch -noheader "$DB" "$@"; }
ctl() { "$RAPPORTCTL" -c "$IMAP_CONF" "$@"; }
n_messages() { sql "SELECT count(*) FROM messages"; }
# once NAME CONF [RAPPORTD_OPTION...]: one pass; stderr in $W/NAME.err
# (and $LOG); prints the exit status.
once() {
	local name=$1 conf=$2 rc
	shift 2
	"$RAPPORTD" -c "$conf" --once "$@" 2>"$W/$name.err"
	rc=$?
	{ echo "=== $name"; cat "$W/$name.err"; } >>"$LOG"
	echo "$rc"
}
# no_secret DESC FILE TOKEN: neither the token nor the base64 of the
# SASL string that carries it is in FILE.
no_secret() {
	local sasl
	sasl=$(printf 'user=alice\001auth=Bearer %s\001\001' "$3" | base64 -w0)
	if grep -qF -e "$3" -e "$sasl" -e "${3:5:40}" "$2"; then
		tap_fail "$1"
		tap_diag "the token (or its base64 form) is in $2"
		return 1
	fi
	tap_pass "$1"
}
# last_seen FILE: the token of the last request the endpoint / sink saw.
last_seen() { tail -n1 "$1" | awk '{ print $NF }'; }
seen_count() { grep -c -F " $2" "$1"; }

tap_ok "rapportd --check-config accepts auth = xoauth2 with token_file" \
    "$RAPPORTD" -c "$IMAP_CONF" --check-config

# ------------------------------------------------------------ IMAP

tok_a=$(new_token 40)
tok_b=$(new_token 1200)		# about 1,600 characters
oauth_token_grant "$tok_a" alice
refresh "$tok_a"

for f in 01_reply.eml 04_group.eml; do
	dovecot_deliver alice "$MAIL/$f" || tap_bail "delivery of $f failed"
done

rc=$(once imap1 "$IMAP_CONF")
tap_is "IMAP: --once with a valid token exits 0" "$rc" 0 ||
    tap_diag "$(tail -5 "$W/imap1.err")"
tap_is "IMAP: ... and ingests the mailbox" "$(n_messages)" 2
tap_is "IMAP: ... with the token of the file (the endpoint saw it)" \
    "$(last_seen "$OAUTH_ENDPOINT_RECORD")" "$tok_a"
tap_like "IMAP: Dovecot logged alice in with XOAUTH2" \
    "$(grep 'Login: user=<alice>' "$DOVECOT_LOG")" 'method=XOAUTH2'

# The refresher rotates: a new (real-size) token in the file, the old one
# revoked at the provider.
oauth_token_grant "$tok_b" alice
oauth_token_revoke "$tok_a"
refresh "$tok_b"
dovecot_deliver alice "$MAIL/05_nodate.eml" || tap_bail "delivery failed"
a_before=$(seen_count "$OAUTH_ENDPOINT_RECORD" "$tok_a")

rc=$(once imap2 "$IMAP_CONF")
tap_is "IMAP: after rotation the next --once exits 0 (file read again)" \
    "$rc" 0 || tap_diag "$(tail -5 "$W/imap2.err")"
tap_is "IMAP: ... and ingests the new message" "$(n_messages)" 3
tap_is "IMAP: ... presenting the new token" \
    "$(last_seen "$OAUTH_ENDPOINT_RECORD")" "$tok_b"
tap_is "IMAP: ... and never the old one again" \
    "$(seen_count "$OAUTH_ENDPOINT_RECORD" "$tok_a")" "$a_before"

# Revoked at the provider while the file still holds it.
oauth_token_revoke "$tok_b"
dovecot_deliver alice "$MAIL/06_longline.eml" || tap_bail "delivery failed"
rc=$(once imap3 "$IMAP_CONF")
tap_is "IMAP: a revoked token: --once exits 1 (the account failed)" "$rc" 1
line=$(grep -E 'account=work' "$W/imap3.err" | grep -iE 'refused|fail' | head -n1)
tap_like "IMAP: ... one log line names the account, the user and the refusal" \
    "$line" '^<4>.*imap account=work: .*login as alice refused: .*Authentication failed'
tap_like "IMAP: ... with the server's response code AUTHENTICATIONFAILED" \
    "$line" 'refused: \[AUTHENTICATIONFAILED\] '
tap_like "IMAP: ... and says the token was refused and is read again" \
    "$line" '\(the token was refused: token_file is read again at the next attempt\)$'
tap_is "IMAP: ... the endpoint was asked (it was the refusal)" \
    "$(tail -n1 "$OAUTH_ENDPOINT_RECORD")" "refused $tok_b"
tap_is "IMAP: ... nothing ingested, nothing lost" "$(n_messages)" 3
no_secret "IMAP: ... the token is not in the log" "$W/imap3.err" "$tok_b"

# Garbage in the file (a refresher that wrote an error page, say).
bogus='not-a-token-<html>oops</html>'
refresh "$bogus"
rc=$(once imap4 "$IMAP_CONF")
tap_is "IMAP: an unknown token: --once exits 1" "$rc" 1
tap_like "IMAP: ... logged as refused for account work" \
    "$(grep 'account=work' "$W/imap4.err")" 'account=work: .*refused'
no_secret "IMAP: ... the bogus token is not in the log" "$W/imap4.err" "$bogus"

# An empty file (a refresher caught halfway) and a missing one: said
# plainly, without connecting in vain.
: >"$TOKEN_FILE"
rc=$(once imap5 "$IMAP_CONF")
tap_is "IMAP: an empty token file: --once exits 1" "$rc" 1
tap_like "IMAP: ... the log names the account and the file" \
    "$(grep 'account=work' "$W/imap5.err")" "account=work: .*$TOKEN_FILE.*empty"
rm -f "$TOKEN_FILE"
rc=$(once imap6 "$IMAP_CONF")
tap_is "IMAP: a missing token file: --once exits 1" "$rc" 1
tap_like "IMAP: ... the log names the account and the file" \
    "$(grep 'account=work' "$W/imap6.err")" "account=work: .*$TOKEN_FILE"

# A fresh token: the next pass catches up on what the failures left.
tok_c=$(new_token 1200)
oauth_token_grant "$tok_c" alice
refresh "$tok_c"
rc=$(once imap7 "$IMAP_CONF" -v -T all)
tap_is "IMAP: a fresh token, with -v -T all: --once exits 0" "$rc" 0 ||
    tap_diag "$(tail -5 "$W/imap7.err")"
tap_is "IMAP: ... and catches up on the message missed meanwhile" \
    "$(n_messages)" 4
tap_like "IMAP: ... the debug trace is on (imap lines logged)" \
    "$(grep -c 'imap account=work' "$W/imap7.err")" '^[1-9]'
no_secret "IMAP: ... the token is not in the debug log" "$W/imap7.err" "$tok_c"

# A refused token at debug level too.
oauth_token_revoke "$tok_c"
rc=$(once imap8 "$IMAP_CONF" -v -T all)
tap_is "IMAP: refused with -v -T all: --once exits 1" "$rc" 1
no_secret "IMAP: ... the token is not in the debug log" "$W/imap8.err" "$tok_c"

# The daemon retries a refused token with its backoff instead of waiting
# for a reload: the refresher's next token is picked up by itself.
"$RAPPORTD" -c "$IMAP_CONF" 2>"$W/daemon.err" &
DAEMON_PID=$!
daemon_said() { grep -Eq -- "$1" "$W/daemon.err"; }
tap_ok "IMAP daemon: a refused token is retried with backoff" \
    wait_until 15 daemon_said 'imap account=work: retrying in'
tap_like "IMAP daemon: ... logged as a refused token (AUTHENTICATIONFAILED)" \
    "$(grep 'account=work: imap host' "$W/daemon.err" | head -n1)" \
    'refused: \[AUTHENTICATIONFAILED\] .*\(the token was refused: token_file is read again'
tap_not "IMAP daemon: ... not disabled until a reload" \
    grep -q 'disabled until' "$W/daemon.err"
tok_g=$(new_token 1200)
oauth_token_grant "$tok_g" alice
refresh "$tok_g"
tap_ok "IMAP daemon: ... the refreshed token file is read at the next attempt" \
    wait_until 20 daemon_said 'imap account=work: connected to'
tap_is "IMAP daemon: ... presenting the new token" \
    "$(last_seen "$OAUTH_ENDPOINT_RECORD")" "$tok_g"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
tap_is "IMAP daemon: ... and stops cleanly on SIGTERM" "$?" 0
DAEMON_PID=
{ echo "=== daemon"; cat "$W/daemon.err"; } >>"$LOG"

# The provider unreachable: Dovecot answers NO [UNAVAILABLE] (temporary).
oauth_endpoint_stop
rc=$(once imap9 "$IMAP_CONF")
tap_is "IMAP: introspection endpoint down: --once exits 1" "$rc" 1
line=$(grep 'account=work' "$W/imap9.err" | head -n1)
tap_like "IMAP: ... logged for account work with the server's words" \
    "$line" 'account=work: .*alice.*: .*Temporary authentication failure'
tap_like "IMAP: ... as a temporary failure with the code UNAVAILABLE" \
    "$line" 'login as alice failed: \[UNAVAILABLE\] .*\(temporary failure'
tap_not "IMAP: ... not worded as a refusal" grep -q 'refused' <<<"$line"
no_secret "IMAP: ... the token is not in the log" "$W/imap9.err" "$tok_g"

# A server that does not offer XOAUTH2 (the peers' default Dovecot: PLAIN
# and LOGIN only): rapport refuses before sending anything, so the token
# never leaves; Dovecot saw no authentication attempt at all.
oauth_endpoint_start >/dev/null 2>&1 || tap_bail "no endpoint"
oauth_token_grant "$tok_g" alice
dovecot_stop
unset DOVECOT_OAUTH2_MODE
dovecot_start alice secret || tap_bail "no plain dovecot"
# The log file is the earlier instance's too: only what follows counts.
log_from=$(($(wc -c <"$DOVECOT_LOG") + 1))
new_log() { tail -c "+$log_from" "$DOVECOT_LOG"; }
tap_not "IMAP: a Dovecot without xoauth2 in auth_mechanisms" \
    grep -q 'xoauth2' "$DOVECOT_CONF"
sed "s|^url = imap://127.0.0.1:[0-9]*/|url = imap://127.0.0.1:$DOVECOT_IMAP_PORT/|" \
    "$IMAP_CONF" >"$W/imap-noxo.conf"
rc=$(once imap10 "$W/imap-noxo.conf" -v -T all)
tap_is "IMAP: auth = xoauth2 against it: --once exits 1" "$rc" 1
line=$(grep 'account=work' "$W/imap10.err" | grep -v 'retrying' | head -n1)
tap_like "IMAP: ... refused before sending: the server does not offer it" \
    "$line" '^<4>.*imap account=work: .*server does not offer AUTH=XOAUTH2.*\(cannot work as configured\)'
tap_is "IMAP: ... the endpoint saw no request" \
    "$(wc -l <"$OAUTH_ENDPOINT_RECORD")" 0
# imap-login logs each disconnect with its attempts; wait for rapportd's
# (the only one past STARTTLS: dovecot_start's port probes never get there).
ours() { new_log | grep 'imap-login: .*Disconnected: .*, TLS, session='; }
for _ in $(seq 50); do
	[ -n "$(ours)" ] && break
	sleep 0.1
done
tap_like "IMAP: ... Dovecot saw no authentication attempt" "$(ours)" \
    'Aborted login by logging out \(no auth attempts'
tap_not "IMAP: ... and no XOAUTH2 at all" grep -qi 'xoauth2' <(new_log)
no_secret "IMAP: ... the token is not in the debug log" "$W/imap10.err" "$tok_g"

# ------------------------------------------------------------ SMTP

tok_d=$(new_token 40)
oauth_token_grant "$tok_d" alice
refresh "$tok_d"
export RAPPORT_NOW=2026-12-03T12:00:00Z
ctl customer add --name 'Anna Schmidt' --email anna@example.com >/dev/null &&
    ctl customer add --name 'Bert Meyer' --email bert@example.com >/dev/null &&
    ctl sale add anna@example.com --product 'Espresso machine' \
        --date 2026-12-01 >/dev/null
tap_is "SMTP: a customer with a sale two days ago" "$?" 0

rc=$(once smtp1 "$SMTP_CONF" -v -T all)
tap_is "SMTP: --once with a valid token exits 0" "$rc" 0 ||
    tap_diag "$(tail -5 "$W/smtp1.err")"
tap_is "SMTP: ... the follow-up was sent" "$(smtp_sink_count)" 1
tap_is "SMTP: ... after AUTH XOAUTH2 with the token of the file" \
    "$(tail -n1 "$SMTP_SINK_DIR/xoauth2.log")" "ok alice $tok_d"
tap_is "SMTP: ... the sink recorded the login alice" \
    "$(awk -F '\t' 'END { print $5 }' "$SMTP_SINK_INDEX")" alice
no_secret "SMTP: ... the token is not in the debug log" "$W/smtp1.err" "$tok_d"

# Rotation to a real-size token (the sink reads the token list per AUTH).
tok_e=$(new_token 1200)
oauth_token_grant "$tok_e" alice
oauth_token_revoke "$tok_d"
refresh "$tok_e"
ctl sale add bert@example.com --product 'Grinder' --date 2026-12-01 >/dev/null
rc=$(once smtp2 "$SMTP_CONF")
tap_is "SMTP: after rotation the next --once exits 0" "$rc" 0 ||
    tap_diag "$(tail -5 "$W/smtp2.err")"
tap_is "SMTP: ... the second follow-up was sent" "$(smtp_sink_count)" 2
tap_is "SMTP: ... with the new ~1,600-character token, whole" \
    "$(tail -n1 "$SMTP_SINK_DIR/xoauth2.log")" "ok alice $tok_e"

# Revoked: the server's 334 error challenge, then 535.
oauth_token_revoke "$tok_e"
ctl customer add --name 'Cleo Park' --email cleo@example.com >/dev/null
ctl sale add cleo@example.com --product 'Kettle' --date 2026-12-01 >/dev/null
rc=$(once smtp3 "$SMTP_CONF" -v -T all)
tap_is "SMTP: a revoked token: --once exits 1" "$rc" 1
tap_is "SMTP: ... nothing sent" "$(smtp_sink_count)" 2
tap_is "SMTP: ... the sink refused that token" \
    "$(tail -n1 "$SMTP_SINK_DIR/xoauth2.log")" "refused alice $tok_e"
line=$(grep -E 'account=out' "$W/smtp3.err" | grep 'XOAUTH2' | head -n1)
tap_like "SMTP: ... one log line names the account, the user and the refusal" \
    "$line" '^<4>.*account=out: .*AUTH XOAUTH2 refused for user alice: .*5\.7\.8'
no_secret "SMTP: ... the token is not in the debug log" "$W/smtp3.err" "$tok_e"
tap_is "SMTP: ... the follow-up stays planned, not failed" \
    "$(sql "SELECT o.state FROM outbox o JOIN customer_emails e
        ON e.customer_id = o.customer_id WHERE e.address = 'cleo@example.com'")" \
    planned

tok_f=$(new_token 40)
oauth_token_grant "$tok_f" alice
refresh "$tok_f"
rc=$(once smtp4 "$SMTP_CONF")
tap_is "SMTP: a fresh token: the next --once exits 0" "$rc" 0 ||
    tap_diag "$(tail -5 "$W/smtp4.err")"
tap_is "SMTP: ... and sends what was held back" "$(smtp_sink_count)" 3

# ------------------------------------------------------------ whole log

leaks=0
for t in "$tok_a" "$tok_b" "$tok_c" "$tok_d" "$tok_e" "$tok_f" "$tok_g"; do
	grep -qF "$t" "$LOG" && leaks=$((leaks + 1))
done
tap_is "no token of this run appears anywhere in rapportd's output" "$leaks" 0

tap_done
