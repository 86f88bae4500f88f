#!/bin/sh
# The web end of a newsletter's one-click unsubscribe link (RFC 8058), as
# a CGI script.  Set [send] unsubscribe_url to where this is served, e.g.
#
#   unsubscribe_url = https://example.com/cgi-bin/rapport-unsubscribe.cgi?t={token}
#
# POST with "List-Unsubscribe=One-Click" (what mail providers send) or
# from the button below withdraws the consent; a GET only shows the
# button, because link scanners follow every link they see.
#
# It runs `rapportctl unsubscribe`, which writes to rapport's database:
# the web server must run this as rapport's user (suexec, fcgiwrap with
# that user, or a sudo rule for exactly this command).  RAPPORT_CONFIG
# names the config (default /etc/rapport/rapport.conf).
set -u
conf=${RAPPORT_CONFIG:-/etc/rapport/rapport.conf}
ctl=${RAPPORTCTL:-rapportctl}

page() {
	printf 'Status: %s\r\nContent-Type: text/html; charset=utf-8\r\n' "$1"
	printf 'Cache-Control: no-store\r\n\r\n'
	printf '<!doctype html><meta name="viewport" content="width=device-width">'
	printf '<title>Unsubscribe</title><p>%s</p>\n' "$2"
}

# The token alone, and only if it has the token's form (26 of a-z2-7).
token=$(printf '%s' "${QUERY_STRING:-}" | tr '&' '\n' | sed -n 's/^t=//p' | head -n 1)
case $token in
*[!a-z2-7]* | '') page '400 Bad Request' 'This link is not complete.'; exit 0 ;;
esac
[ ${#token} -eq 26 ] || { page '400 Bad Request' 'This link is not complete.'; exit 0; }

case ${REQUEST_METHOD:-GET} in
POST)
	if "$ctl" -c "$conf" unsubscribe "$token" >/dev/null 2>&1; then
		page '200 OK' 'You will receive no more newsletters.'
	else
		page '404 Not Found' 'This link is no longer valid.'
	fi ;;
*)
	page '200 OK' "<form method=\"post\" action=\"?t=$token\"><button name=\"List-Unsubscribe\" value=\"One-Click\">Unsubscribe from the newsletter</button></form>" ;;
esac
