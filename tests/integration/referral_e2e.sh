#!/bin/bash
# Referral tracking end to end (issue 6): mail delivered to a private
# Dovecot, `rapportd --once` with a controlled clock (RAPPORT_NOW), the
# thank-you sent to the SMTP sink.  An introduction by a customer is
# recorded and confirmed (strong rule), the new person becomes a customer
# referred by them, and the referrer is thanked exactly once after the
# template's delay.  A weak candidate waits in `referral pending` until
# confirmed (customer made, thank-you planned); a rejected one is never
# proposed again.  Near misses (a newsletter to many customers, an
# auto-reply) produce nothing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TOP_BUILDDIR=${TOP_BUILDDIR:-$TOP_SRCDIR}
RAPPORTD=${RAPPORTD:-$TOP_BUILDDIR/rapportd}
RAPPORTCTL=${RAPPORTCTL:-$TOP_BUILDDIR/rapportctl}
. "$TOP_SRCDIR/tests/peers/lib.sh" || exit 1

[ -x "$RAPPORTD" ] || tap_bail "no $RAPPORTD"
[ -x "$RAPPORTCTL" ] || tap_bail "no $RAPPORTCTL"
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP no sqlite3 CLI"; exit 0; }

peers_setup || tap_bail "peers_setup failed"
dovecot_start kim secret || tap_bail "dovecot did not start"
smtp_sink_start --starttls || tap_bail "no SMTP sink"

W=$PEERS_DIR/referral
mkdir -p "$W/templates" "$W/mail"
DB=$W/rapport.db
CONF=$W/rapport.conf

# Only the thank-you: no other template may send to the sink.
cat >"$W/templates/referral-thanks.md" <<'EOF'
Kind: referral-thanks
After: 1d
Subject: Thank you for introducing {{referral.name}}

Hi {{customer.first_name}},

thank you for introducing {{referral.name}} to us.

{{sender.name}}
EOF

cat >"$CONF" <<EOF
[rapport]
database = $DB
templates = $W/templates
timezone = Europe/Berlin
from = Kim Sales <kim@sales.example>

[link]
own_domains = sales.example

[imap "work"]
url = imap://127.0.0.1:$DOVECOT_IMAP_PORT/
ca_file = $PEERS_CA_FILE
user = kim
password = secret
folders = INBOX
timeout = 10

[smtp]
url = smtp://127.0.0.1:$SMTP_SINK_PORT/
ca_file = $PEERS_CA_FILE
timeout = 10
EOF

ctl() { "$RAPPORTCTL" -c "$CONF" "$@"; }
sql() { sqlite3 -batch -noheader -cmd '.timeout 5000' "$DB" "$@"; }
once() {	# RAPPORT_NOW
	RAPPORT_NOW=$1 "$RAPPORTD" -c "$CONF" --once >>"$W/rapportd.log" 2>&1
}
# mail NAME: writes stdin (LF) as a CRLF message and delivers it.
mail() {
	sed 's/$/\r/' >"$W/mail/$1.eml" &&
	    dovecot_deliver kim "$W/mail/$1.eml"
}
pending_id() {	# ADDRESS: the pending candidate's id for that person
	ctl referral pending --json | "$PEERS_PYTHON" -c 'import json, sys
for r in json.load(sys.stdin):
    if r["referred"]["email"] == sys.argv[1]:
        print(r["id"])' "$1"
}

T0=2026-11-02T10:00:00Z

# ---------------------------------------------------------------- customers

cat >"$W/customers.csv" <<'EOF'
name,email,lang
Anna Schmidt,anna@schmidt.example,en
김민준,minjun@kim.example,ko
Bob Lee,bob@lee.example,en
Cleo Ray,cleo@ray.example,en
Dan Fox,dan@fox.example,en
Eli Moss,eli@moss.example,en
EOF
RAPPORT_NOW=2026-10-01T00:00:00Z ctl customer import "$W/customers.csv" >/dev/null
tap_is "six customers imported" "$(sql 'SELECT count(*) FROM customers')" 6
anna=$(sql "SELECT customer_id FROM customer_emails WHERE address = 'anna@schmidt.example'")
minjun=$(sql "SELECT customer_id FROM customer_emails WHERE address = 'minjun@kim.example'")

# -------------------------------------------------------------------- mail

mail intro <<'EOF'
From: Anna Schmidt <anna@schmidt.example>
To: Kim Sales <kim@sales.example>
Cc: Carl Berg <carl@berg.example>
Date: Mon, 02 Nov 2026 09:00:00 +0000
Message-ID: <intro1@schmidt.example>
Subject: Introduction: Carl Berg
Content-Type: text/plain; charset=utf-8

Hi Kim,

let me introduce you to Carl Berg, who is looking for a new espresso
machine. Carl, Kim is the best person to talk to.

Best,
Anna
EOF
mail newsletter <<'EOF'
From: Coffee News <news@coffee-news.example>
To: anna@schmidt.example, bob@lee.example, cleo@ray.example,
 dan@fox.example, eli@moss.example, minjun@kim.example
Cc: kim@sales.example
Date: Mon, 02 Nov 2026 08:00:00 +0000
Message-ID: <nl1@coffee-news.example>
Subject: Coffee news for November

Anna Schmidt recommended you to us. Let me introduce our new blend.
EOF
mail autoreply <<'EOF'
From: Bob Lee <bob@lee.example>
To: kim@sales.example
Cc: Petra Stand <petra@standin.example>
Date: Mon, 02 Nov 2026 08:30:00 +0000
Message-ID: <ooo1@lee.example>
Auto-Submitted: auto-replied
Subject: Out of office

I am away until Monday. Let me introduce you to Petra, who stands in.
EOF
mail korean <<'EOF'
From: =?UTF-8?B?7J207ISc7Jew?= <seoyeon@lee.example>
To: kim@sales.example
Date: Mon, 02 Nov 2026 08:45:00 +0000
Message-ID: <ko1@lee.example>
Subject: =?UTF-8?B?66y47J2Y65Oc66a964uI64uk?=
Content-Type: text/plain; charset=utf-8

안녕하세요. 민준님 소개로 연락드립니다. 견적을 받고 싶습니다.
EOF
mail dora <<'EOF'
From: Dora Vance <dora@vance.example>
To: kim@sales.example
Date: Mon, 02 Nov 2026 08:50:00 +0000
Message-ID: <d1@vance.example>
Subject: A quote

Hello, Bob suggested I write to you about a quote for our office.
EOF

# ------------------------------------------------------- the first pass

once "$T0"
tap_is "rapportd --once succeeds" "$?" 0
tap_is "the introduction is a confirmed referral by its rule" \
    "$(sql "SELECT rule || ' ' || strength || ' ' || evidence_kind || ' ' || decided_by FROM referrals WHERE state = 'confirmed'")" \
    "intro:customer-to-new strong message rule"
tap_is "the new person is a customer, source referral, referred by Anna" \
    "$(sql "SELECT c.name || ' ' || c.source || ' ' || c.referred_by FROM customers c JOIN customer_emails e ON e.customer_id = c.id WHERE e.address = 'carl@berg.example'")" \
    "Carl Berg referral $anna"
tap_like "rapportctl referrals shows it with its evidence" \
    "$(ctl referrals)" 'rule intro:customer-to-new \(strong\), mail:intro1@schmidt.example: '
tap_is "referrals --json: one, evidence the Message-ID" \
    "$(ctl referrals --json | "$PEERS_PYTHON" -c 'import json, sys
r = json.load(sys.stdin)
print(len(r), r[0]["evidence_kind"], r[0]["evidence_ref"], r[0]["referred"]["email"])')" \
    "1 message intro1@schmidt.example carl@berg.example"
tap_like "the introduction is on the new customer's timeline" \
    "$(ctl timeline carl@berg.example)" 'intro1@schmidt.example'
tap_is "two weak candidates wait in referral pending" \
    "$(ctl referral pending --json | "$PEERS_PYTHON" -c 'import json, sys
print(" ".join(sorted(r["referred"]["email"] + ":" + r["strength"] for r in json.load(sys.stdin))))')" \
    "dora@vance.example:weak seoyeon@lee.example:weak"
tap_is "near misses (newsletter, auto-reply) record nothing" \
    "$(sql "SELECT count(*) FROM referrals WHERE referred_addr = 'petra@standin.example' OR source IN ('mail:nl1@coffee-news.example', 'mail:ooo1@lee.example')")" 0
tap_is "three referrals in all: one confirmed, two pending" \
    "$(sql "SELECT group_concat(state, ' ') FROM (SELECT state FROM referrals ORDER BY state)")" \
    "confirmed pending pending"
tap_is "nothing is sent before the template's delay" "$(smtp_sink_count)" 0

# ------------------------------------------------- the thank-you, once

once 2026-11-03T09:30:00Z
tap_is "after After: 1d the referrer is thanked" "$(smtp_sink_count)" 1
tap_like "to Anna" "$(cut -f2 "$SMTP_SINK_INDEX" 2>/dev/null)" 'anna@schmidt.example'
tap_is "the outbox row is sent" \
    "$(sql "SELECT state || ' ' || customer_id FROM outbox WHERE kind = 'referral-thanks'")" \
    "sent $anna"
once 2026-11-03T10:30:00Z
tap_is "a third pass sends nothing more" "$(smtp_sink_count)" 1

# ------------------------------------------------ confirm and reject

ko=$(pending_id seoyeon@lee.example)
tap_ok "the Korean candidate has an id" test -n "$ko"
tap_is "it names 김민준 as the referrer (partial name)" \
    "$(sql "SELECT referrer_id || ' ' || rule FROM referrals WHERE id = ${ko:-0}")" \
    "$minjun mention:name"
out=$(RAPPORT_NOW=2026-11-04T09:00:00Z ctl referral confirm "$ko")
tap_like "referral confirm makes a customer" "$out" "^referral $ko confirmed: customer #[0-9]+ \\(new customer\\)\$"
tap_is "named from the display name, referred by 김민준" \
    "$(sql "SELECT c.name || ' ' || c.source || ' ' || c.referred_by FROM customers c JOIN customer_emails e ON e.customer_id = c.id WHERE e.address = 'seoyeon@lee.example'")" \
    "이서연 referral $minjun"
once 2026-11-04T09:05:00Z
tap_is "the thank-you to 김민준 is planned a day after the decision" \
    "$(sql "SELECT state || ' ' || strftime('%Y-%m-%dT%H:%M', due_at, 'unixepoch') FROM outbox WHERE kind = 'referral-thanks' AND customer_id = $minjun")" \
    "planned 2026-11-05T09:00"
err=$(ctl referral confirm "$ko" 2>&1); rc=$?
tap_is "confirming twice fails" "$rc" 1

dora=$(pending_id dora@vance.example)
tap_ok "Dora's candidate has an id" test -n "$dora"
tap_like "referral reject" "$(ctl referral reject "$dora")" "^referral $dora rejected\$"
mail dora2 <<'EOF'
From: Dora Vance <dora@vance.example>
To: kim@sales.example
Date: Mon, 02 Nov 2026 08:50:00 +0000
Message-ID: <d2@vance.example>
Subject: A quote

Hello, Bob suggested I write to you about a quote for our office.
EOF
once 2026-11-04T10:00:00Z
tap_is "the similar mail was ingested" \
    "$(sql "SELECT count(*) FROM messages WHERE message_id = 'd2@vance.example'")" 1
tap_is "a rejected candidate is never proposed again" \
    "$(sql "SELECT group_concat(state) FROM referrals WHERE referred_addr = 'dora@vance.example'")" \
    "rejected"
tap_is "referral pending is empty" "$(ctl referral pending --json | tr -d ' \n')" "[]"
tap_is "no customer for the rejected one" \
    "$(sql "SELECT count(*) FROM customer_emails WHERE address = 'dora@vance.example'")" 0
tap_is "still one message at the sink" "$(smtp_sink_count)" 1
tap_not "no sanitizer report from rapportd" \
    grep -q 'Sanitizer' "$W/rapportd.log"

tap_done
