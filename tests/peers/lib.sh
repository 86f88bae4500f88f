# shellcheck shell=bash disable=SC2086
# (pid lists are split into words on purpose)
#
# tests/peers/lib.sh: private Dovecot, Radicale and SMTP sink instances on
# 127.0.0.1 high ports in a temporary folder, plus TAP helpers, for the
# integration tests, the benchmarks and the demo.  See tests/peers/README.md.
#
# This is a bash library (arrays, local, /dev/tcp).  A test run by automake
# through $(SHELL) (/bin/sh) re-executes itself with bash first:
#
#	[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
#	. "$TOP_SRCDIR/tests/peers/lib.sh"
#	peers_setup
#	dovecot_start alice secret
#
# It never touches /etc/dovecot, /etc/radicale or a system instance, and
# works as root (the mail processes then run as nobody:nogroup, because
# Dovecot refuses mail access as uid 0) and as an unprivileged user.

if [ -z "${BASH_VERSION:-}" ]; then
	echo "tests/peers/lib.sh needs bash" >&2
	# shellcheck disable=SC2317 # exit when run rather than sourced
	return 1 2>/dev/null || exit 1
fi

PEERS_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS_PYTHON=${PEERS_PYTHON:-/usr/bin/python3}	# Debian's, with aiosmtpd and radicale
export PEERS_LIBDIR PEERS_PYTHON

# ---------------------------------------------------------------- TAP

tap_n=0
tap_failed=0

tap_diag() {
	printf '%s\n' "$@" | sed 's/^/# /'
}

tap_pass() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1"
}

tap_fail() {
	tap_n=$((tap_n + 1))
	tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $1"
}

# tap_out: where tap_ok keeps a command's output.  Not a $(...) subshell,
# so "tap_ok 'starts' dovecot_start alice secret" keeps the variables it sets.
tap_out() {
	echo "${PEERS_DIR:-${TMPDIR:-/tmp}}/.tap-out.$$"
}

# tap_ok DESC CMD [ARG...]: one check that passes when CMD succeeds; its
# output is shown as a diagnostic only when it fails.
tap_ok() {
	local desc=$1 out rc
	shift
	out=$(tap_out)
	"$@" >"$out" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		tap_pass "$desc"
	else
		tap_fail "$desc"
		tap_diag "command: $*" "exit status: $rc"
		[ -s "$out" ] && tap_diag "$(cat "$out")"
	fi
	rm -f "$out"
	return "$rc"
}

# tap_not DESC CMD [ARG...]: passes when CMD fails.
tap_not() {
	local desc=$1 out rc
	shift
	out=$(tap_out)
	"$@" >"$out" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ]; then
		tap_pass "$desc"
	else
		tap_fail "$desc"
		tap_diag "command unexpectedly succeeded: $*"
		[ -s "$out" ] && tap_diag "$(cat "$out")"
	fi
	rm -f "$out"
	[ "$rc" -ne 0 ]
}

# tap_is DESC GOT EXPECTED
tap_is() {
	if [ "$2" = "$3" ]; then
		tap_pass "$1"
		return 0
	fi
	tap_fail "$1"
	tap_diag "got:      '$2'" "expected: '$3'"
	return 1
}

# tap_like DESC GOT EXTENDED_REGEX
tap_like() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		tap_pass "$1"
		return 0
	fi
	tap_fail "$1"
	tap_diag "got:      '$2'" "expected to match: /$3/"
	return 1
}

tap_skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP ${2:-}"
}

tap_bail() {
	echo "Bail out! $*"
	exit 1
}

# tap_done: prints the plan; the exit status says whether every check passed.
tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# ---------------------------------------------------------------- setup

peers_exit_hooks=()

# peers_on_exit CMD...: run CMD (eval'd) at exit, before the peers stop;
# use it instead of your own EXIT trap.
peers_on_exit() {
	peers_exit_hooks+=("$*")
}

peers_cleanup() {
	local rc=$? h
	trap - EXIT
	for h in "${peers_exit_hooks[@]}"; do
		eval "$h" || true
	done
	[ -n "${SMTP_SINK_PID:-}" ] && smtp_sink_stop >/dev/null 2>&1
	[ -n "${OAUTH_ENDPOINT_PID:-}" ] && oauth_endpoint_stop >/dev/null 2>&1
	[ -n "${RADICALE_PID:-}" ] && radicale_stop >/dev/null 2>&1
	[ -n "${DOVECOT_PID:-}" ] && dovecot_stop >/dev/null 2>&1
	if [ -n "${PEERS_DIR:-}" ] && [ -d "$PEERS_DIR" ]; then
		if [ "${KEEP_PEERS:-0}" = 1 ]; then
			echo "# peers: kept $PEERS_DIR" >&2
		else
			rm -rf "$PEERS_DIR"
		fi
	fi
	return "$rc"
}

# peers_setup: makes $PEERS_DIR (under $TMPDIR) and the TLS files, and
# arranges for everything to stop and be removed at exit (KEEP_PEERS=1
# keeps the folder).
peers_setup() {
	PEERS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rapport-peers.XXXXXX") || return 1
	# The mail processes run as nobody when we are root: they must reach
	# their Maildirs below this folder.
	chmod 0755 "$PEERS_DIR"
	export PEERS_DIR
	trap peers_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	peers_make_tls "$PEERS_DIR/tls"
}

# peers_make_tls DIR: a private CA and a server certificate for 127.0.0.1
# and localhost signed by it (PEERS_CA_FILE, PEERS_CERT, PEERS_KEY), plus
# an unrelated CA (PEERS_OTHER_CA_FILE) for "wrong CA is refused" tests.
peers_make_tls() {
	local d=$1 ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	mkdir -p "$d" || return 1
	(
		cd "$d" || exit 1
		set -e
		openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 3650 \
		    -subj "/O=rapport tests/CN=rapport test CA" \
		    -addext basicConstraints=critical,CA:TRUE \
		    -addext keyUsage=critical,keyCertSign,cRLSign
		openssl req -x509 "${ec[@]}" -keyout other-ca.key -out other-ca.pem \
		    -days 3650 -subj "/O=rapport tests/CN=unrelated CA" \
		    -addext basicConstraints=critical,CA:TRUE \
		    -addext keyUsage=critical,keyCertSign,cRLSign
		openssl req -new "${ec[@]}" -keyout server.key -out server.csr \
		    -subj "/O=rapport tests/CN=localhost"
		cat >server.ext <<-EOF
		basicConstraints = critical,CA:FALSE
		keyUsage = critical,digitalSignature,keyEncipherment
		extendedKeyUsage = serverAuth
		subjectAltName = DNS:localhost,IP:127.0.0.1
		EOF
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
		    -CAcreateserial -days 825 -extfile server.ext -out server.pem
		chmod 0644 server.key	# readable by every peer's user
	) >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; return 1; }
	PEERS_CA_FILE=$d/ca.pem
	PEERS_OTHER_CA_FILE=$d/other-ca.pem
	PEERS_CERT=$d/server.pem
	PEERS_KEY=$d/server.key
	export PEERS_CA_FILE PEERS_OTHER_CA_FILE PEERS_CERT PEERS_KEY
}

# ---------------------------------------------------------------- ports

peers_port_taken() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# peer_port: prints a free 127.0.0.1 port in 20000-32767 (below Linux's
# ephemeral range, so outgoing connections do not take it meanwhile), never
# the same twice in one setup.
peer_port() {
	local port list=${PEERS_DIR:-/tmp}/ports i
	for ((i = 0; i < 200; i++)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
		[ -f "$list" ] && grep -qx "$port" "$list" && continue
		peers_port_taken "$port" && continue
		# Nothing answers; check that nothing else holds it either.
		"$PEERS_PYTHON" - "$port" <<-'EOF' || continue
		import socket, sys
		s = socket.socket()
		s.bind(("127.0.0.1", int(sys.argv[1])))
		EOF
		[ -n "${PEERS_DIR:-}" ] && echo "$port" >>"$list"
		echo "$port"
		return 0
	done
	echo "peer_port: no free port found" >&2
	return 1
}

# peers_deadline SECONDS: the date +%s%N that many (perhaps 0.3) seconds
# from now, times PEERS_TIMEOUT_SCALE (default 3).  Every wait here is a
# bound that only catches a hang, never a speed check, so it may be
# generous: a loaded machine (a parallel distcheck, ASan) must not fail.
peers_deadline() {
	awk -v now="$(date +%s%N)" -v s="$1" -v k="${PEERS_TIMEOUT_SCALE:-3}" \
	    'BEGIN { printf "%.0f\n", now + s * k * 1e9 }'
}

# wait_until SECONDS CMD [ARG...]: polls CMD every 20 ms until it succeeds;
# fails after SECONDS (scaled as above).
wait_until() {
	local deadline
	deadline=$(peers_deadline "$1")
	shift
	until "$@"; do
		[ "$(date +%s%N)" -gt "$deadline" ] && return 1
		sleep 0.02
	done
}

# wait_for_port PORT TIMEOUT_SECONDS [PID]: polls until something accepts
# on 127.0.0.1:PORT; fails early when PID (the server) has died.
wait_for_port() {
	local port=$1 timeout=${2:-10} pid=${3:-} deadline
	deadline=$(peers_deadline "$timeout")
	until peers_port_taken "$port"; do
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			echo "wait_for_port: process $pid died before port $port opened" >&2
			return 1
		fi
		if [ "$(date +%s%N)" -gt "$deadline" ]; then
			echo "wait_for_port: nothing on port $port after ${timeout}s" >&2
			return 1
		fi
		sleep 0.02
	done
}

# wait_for_port_closed PORT TIMEOUT_SECONDS
wait_for_port_closed() {
	local port=$1 timeout=${2:-10} deadline
	deadline=$(peers_deadline "$timeout")
	while peers_port_taken "$port"; do
		[ "$(date +%s%N)" -gt "$deadline" ] && return 1
		sleep 0.02
	done
}

# peers_alive PID: the process exists and is not a zombie (a zombie holds
# no port and no file; its parent reaps it when it gets round to it).
peers_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# peers_wait_gone TIMEOUT_SECONDS PID...: polls until every PID has exited.
peers_wait_gone() {
	local timeout=$1 deadline p alive
	shift
	deadline=$(peers_deadline "$timeout")
	while :; do
		alive=
		for p in "$@"; do
			peers_alive "$p" && alive="$alive $p"
		done
		[ -z "$alive" ] && return 0
		[ "$(date +%s%N)" -gt "$deadline" ] && return 1
		sleep 0.02
	done
}

# peers_stop_pid PID: SIGTERM, then SIGKILL if it lingers; reaps our child.
peers_stop_pid() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	if ! peers_wait_gone 5 "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		peers_wait_gone 2 "$pid"
	fi
	wait "$pid" 2>/dev/null
	return 0
}

# ---------------------------------------------------------------- Dovecot

# Dovecot refuses mail access as uid 0, so root runs the mail side as
# nobody:nogroup and the rest as Debian's dovecot/dovenull users; anyone
# else runs all of it as themselves.
dovecot_users() {
	if [ "$(id -u)" -eq 0 ]; then
		DOVECOT_MAIL_UID=$(id -u nobody 2>/dev/null || echo 65534)
		DOVECOT_MAIL_GID=$(getent group nogroup | cut -d: -f3)
		DOVECOT_MAIL_GID=${DOVECOT_MAIL_GID:-65534}
		if id dovecot >/dev/null 2>&1 && id dovenull >/dev/null 2>&1; then
			dovecot_internal_user=dovecot
			dovecot_login_user=dovenull
		else
			dovecot_internal_user=nobody
			dovecot_login_user=nobody
		fi
		dovecot_chroot=login
	else
		DOVECOT_MAIL_UID=$(id -u)
		DOVECOT_MAIL_GID=$(id -g)
		dovecot_internal_user=$(id -un)
		dovecot_login_user=$(id -un)
		dovecot_chroot=	# only root may chroot
	fi
}

dovecot_write_conf() {
	local d=$1 dh='' mechs='plain login' oauth_passdb=''
	[ -r /usr/share/dovecot/dh.pem ] && dh="ssl_dh = </usr/share/dovecot/dh.pem"
	if [ -n "${DOVECOT_OAUTH2_MODE:-}" ]; then
		dovecot_write_oauth2 "$d" || return 1
		mechs="plain login xoauth2 oauthbearer"
		# First, and for the token mechanisms only.  (The
		# passwd-file stays unrestricted: doveadm's user lookups
		# need a passdb that no mechanism filter skips.)
		oauth_passdb="passdb {
	  driver = oauth2
	  mechanisms = xoauth2 oauthbearer
	  args = $d/oauth2.conf.ext
	}"
	fi
	cat >"$DOVECOT_CONF" <<-EOF
	# Private Dovecot for rapport's tests; written by tests/peers/lib.sh.
	instance_name = $DOVECOT_INSTANCE
	base_dir = $d/run
	state_dir = $d/state
	log_path = $d/dovecot.log
	protocols = imap
	listen = 127.0.0.1
	default_internal_user = $dovecot_internal_user
	default_internal_group = $(id -gn "$dovecot_internal_user")
	default_login_user = $dovecot_login_user
	first_valid_uid = $DOVECOT_MAIL_UID
	first_valid_gid = $DOVECOT_MAIL_GID

	ssl = yes
	ssl_cert = <$PEERS_CERT
	ssl_key = <$PEERS_KEY
	$dh
	ssl_min_protocol = TLSv1.2
	# LOGIN is allowed on the plain port too (STARTTLS is offered).
	disable_plaintext_auth = no
	auth_mechanisms = $mechs
	auth_verbose = yes
	# Tests try wrong passwords on purpose: answer at once.
	auth_failure_delay = 0

	$oauth_passdb
	passdb {
	  driver = passwd-file
	  args = username_format=%u $d/users
	}
	userdb {
	  driver = static
	  args = uid=$DOVECOT_MAIL_UID gid=$DOVECOT_MAIL_GID home=$d/mail/%u
	}
	mail_location = maildir:~/Maildir
	# Tests and benchmarks, not durability.
	mail_fsync = never
	protocol imap {
	  mail_max_userip_connections = 1000
	}

	service imap-login {
	  chroot = $dovecot_chroot
	  inet_listener imap {
	    address = 127.0.0.1
	    port = $DOVECOT_IMAP_PORT
	  }
	  inet_listener imaps {
	    address = 127.0.0.1
	    port = $DOVECOT_IMAPS_PORT
	    ssl = yes
	  }
	}
	service anvil {
	  chroot =
	  # No growing delay for an address after failed logins.
	  unix_listener anvil-auth-penalty {
	    mode = 0
	  }
	}
	service stats {
	  # The mail processes (nobody) report here too.
	  unix_listener stats-writer {
	    mode = 0666
	  }
	}
	EOF
}

# dovecot_write_oauth2 DIR: the oauth2 passdb's settings (opt-in: see
# dovecot_start), asking the endpoint of oauth_endpoint_start about each
# token; $DOVECOT_OAUTH2_MODE is Dovecot's introspection_mode (get, post
# or auth).  Dovecot 2.3 appends the token to the URL in mode get.
dovecot_write_oauth2() {
	local d=$1 url
	: "${OAUTH_ENDPOINT_PORT:?call oauth_endpoint_start first}"
	url=http://127.0.0.1:$OAUTH_ENDPOINT_PORT/introspect
	[ "$DOVECOT_OAUTH2_MODE" = get ] && url="$url?token="
	cat >"$d/oauth2.conf.ext" <<-EOF
	introspection_mode = $DOVECOT_OAUTH2_MODE
	introspection_url = $url
	username_attribute = username
	active_attribute = active
	active_value = true
	timeout_msecs = 5000
	EOF
	chmod 0644 "$d/oauth2.conf.ext"
}

# dovecot_add_user USER PASS: Dovecot re-reads the passwd-file when it
# changes, so this works while it runs.
dovecot_add_user() {
	local d=$PEERS_DIR/dovecot hash
	# Hashed, because a plain password could hold the file's ':'.
	hash=$(printf '%s' "$2" | openssl dgst -sha256 -binary | base64) || return 1
	printf '%s:{SHA256.b64}%s\n' "$1" "$hash" >>"$d/users"
	mkdir -p "$d/mail/$1/Maildir"/{cur,new,tmp}
	[ "$(id -u)" -eq 0 ] &&
	    chown -R "$DOVECOT_MAIL_UID:$DOVECOT_MAIL_GID" "$d/mail/$1"
	return 0
}

# dovecot_start USER PASS: IMAP on $DOVECOT_IMAP_PORT (STARTTLS offered) and
# IMAPS on $DOVECOT_IMAPS_PORT, certificate signed by $PEERS_CA_FILE.
# With DOVECOT_OAUTH2_MODE=get|post|auth set (after oauth_endpoint_start),
# XOAUTH2 and OAUTHBEARER are offered too, each token checked by the
# endpoint (an oauth2 passdb); PLAIN and LOGIN keep working as without it.
dovecot_start() {
	local user=${1:-alice} pass=${2:-secret} d=$PEERS_DIR/dovecot
	: "${PEERS_DIR:?call peers_setup first}"
	mkdir -p "$d/run" "$d/state" "$d/mail" || return 1
	: >"$d/users"
	chmod 0644 "$d/users"
	dovecot_users
	DOVECOT_IMAP_PORT=$(peer_port) || return 1
	DOVECOT_IMAPS_PORT=$(peer_port) || return 1
	DOVECOT_INSTANCE=rapport-peers-${PEERS_DIR##*.}
	DOVECOT_CONF=$d/dovecot.conf
	DOVECOT_LOG=$d/dovecot.log
	DOVECOT_USER=$user
	DOVECOT_PASS=$pass
	DOVECOT_MAILDIR=$d/mail/$user/Maildir
	export DOVECOT_IMAP_PORT DOVECOT_IMAPS_PORT DOVECOT_CONF DOVECOT_LOG \
	    DOVECOT_USER DOVECOT_PASS DOVECOT_MAILDIR DOVECOT_MAIL_UID \
	    DOVECOT_MAIL_GID DOVECOT_INSTANCE
	dovecot_write_conf "$d"
	dovecot_add_user "$user" "$pass"
	# -F keeps the master our child, so we know its pid and can reap it.
	dovecot -F -c "$DOVECOT_CONF" >>"$d/dovecot.out" 2>&1 &
	DOVECOT_PID=$!
	export DOVECOT_PID
	if ! wait_for_port "$DOVECOT_IMAP_PORT" 10 "$DOVECOT_PID" ||
	   ! wait_for_port "$DOVECOT_IMAPS_PORT" 10 "$DOVECOT_PID"; then
		cat "$d/dovecot.out" "$DOVECOT_LOG" >&2 2>/dev/null
		dovecot_stop
		return 1
	fi
}

# dovecot_pids: the master and every process of this instance (their
# titles start with the instance name).
dovecot_pids() {
	ps -eo pid=,args= | awk -v m="${DOVECOT_PID:-none}" \
	    -v i="dovecot-${DOVECOT_INSTANCE:-none}/" \
	    '$1 == m || index($2, i) == 1 { print $1 }'
}

# dovecot_stop: the master alone takes one to three seconds to wind its
# children down (it sleeps while a killed imap process awaits reaping);
# stopping them all at once takes a tenth of that.  Once every child is
# gone the master has nothing left to do, so it is not waited for long.
dovecot_stop() {
	local pids children master=${DOVECOT_PID:-} pass
	[ -n "$master" ] || return 0
	for pass in 1 2; do
		pids=$(dovecot_pids)
		[ -n "$pids" ] || break
		children=$(printf '%s\n' $pids | grep -vx "$master")
		kill -TERM $pids 2>/dev/null
		if ! peers_wait_gone 5 $children; then
			kill -KILL $children 2>/dev/null
			peers_wait_gone 2 $children
		fi
		if [ "$pass" = 1 ]; then
			peers_wait_gone 0.3 "$master" || kill -KILL "$master" 2>/dev/null
			wait "$master" 2>/dev/null
		fi
		# Reaped: from now on only the instance's titles identify its
		# processes (children forked meanwhile), never a recycled pid.
		DOVECOT_PID='' master=none
	done
	wait_for_port_closed "$DOVECOT_IMAP_PORT" 5
	wait_for_port_closed "$DOVECOT_IMAPS_PORT" 5
}

doveadm_() {
	doveadm -c "$DOVECOT_CONF" "$@"
}

# dovecot_deliver USER FILE [MAILBOX]: stores FILE (a whole RFC 5322
# message) as a new message, like a delivery.
dovecot_deliver() {
	doveadm_ save -u "$1" -m "${3:-INBOX}" <"$2"
}

# dovecot_deliver_maildir USER FILE...: drops the files straight into the
# user's INBOX Maildir (new/), as a local delivery agent would: 0.8 ms a
# message against dovecot_deliver's 10 ms, for benchmarks' bulk loads.  Dovecot
# indexes them when a client next looks (doveadm_ index -u USER INBOX
# does it ahead of time).
dovecot_deliver_maildir() {
	local user=$1
	shift
	"$PEERS_PYTHON" - "$PEERS_DIR/dovecot/mail/$user/Maildir" \
	    "$DOVECOT_MAIL_UID" "$DOVECOT_MAIL_GID" "$@" <<-'EOF'
	import os, shutil, sys, time
	maildir, uid, gid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
	base = "%d.P%dQ" % (time.time(), os.getpid())
	for i, path in enumerate(sys.argv[4:]):
	    name = "%s%d.rapport" % (base, i)
	    tmp = os.path.join(maildir, "tmp", name)
	    shutil.copyfile(path, tmp)
	    if os.getuid() == 0:
	        os.chown(tmp, uid, gid)
	    os.rename(tmp, os.path.join(maildir, "new", name))
	EOF
}

# dovecot_mailbox_create USER MAILBOX
dovecot_mailbox_create() {
	doveadm_ mailbox create -u "$1" "$2"
}

# dovecot_expunge USER MAILBOX [SEARCH_QUERY...]: e.g.
# dovecot_expunge alice INBOX header message-id '<x@y>'; everything when
# no query is given.
dovecot_expunge() {
	local user=$1 box=$2
	shift 2
	[ $# -gt 0 ] || set -- all
	doveadm_ expunge -u "$user" mailbox "$box" "$@"
}

# dovecot_count USER MAILBOX: prints the number of messages.
dovecot_count() {
	doveadm_ -f flow mailbox status -u "$1" messages "$2" |
	    sed 's/.*messages=//'
}

# ---------------------------------------------------------------- Radicale

# radicale_add_user USER PASS: Radicale reads the htpasswd file on every
# login, so this works while it runs.  APR1-MD5: Radicale 3.1 on Debian
# verifies it with passlib (a dependency); bcrypt would need python3-bcrypt.
radicale_add_user() {
	local f=$PEERS_DIR/radicale/users c=
	[ -f "$f" ] || c=-c
	htpasswd $c -m -b "$f" "$1" "$2" 2>/dev/null
}

# radicale_start USER PASS [--tls]: CalDAV at $RADICALE_URL (https with a
# certificate signed by $PEERS_CA_FILE when --tls is given).
radicale_start() {
	local user=${1:-alice} pass=${2:-secret} tls=${3:-} d=$PEERS_DIR/radicale
	local scheme=http ssl=False
	: "${PEERS_DIR:?call peers_setup first}"
	mkdir -p "$d/collections" || return 1
	[ "$tls" = --tls ] && { scheme=https; ssl=True; }
	RADICALE_PORT=$(peer_port) || return 1
	RADICALE_URL=$scheme://127.0.0.1:$RADICALE_PORT/
	RADICALE_CONF=$d/config
	RADICALE_LOG=$d/radicale.log
	RADICALE_STORAGE=$d/collections
	RADICALE_USER=$user
	RADICALE_PASS=$pass
	export RADICALE_PORT RADICALE_URL RADICALE_CONF RADICALE_LOG \
	    RADICALE_STORAGE RADICALE_USER RADICALE_PASS
	cat >"$RADICALE_CONF" <<-EOF
	# Private Radicale for rapport's tests; written by tests/peers/lib.sh.
	[server]
	hosts = 127.0.0.1:$RADICALE_PORT
	max_connections = 64
	ssl = $ssl
	certificate = $PEERS_CERT
	key = $PEERS_KEY
	[auth]
	type = htpasswd
	htpasswd_filename = $d/users
	htpasswd_encryption = md5
	delay = 0
	[rights]
	type = owner_only
	[storage]
	filesystem_folder = $RADICALE_STORAGE
	[web]
	type = none
	[logging]
	level = ${RADICALE_LOG_LEVEL:-warning}
	EOF
	radicale_add_user "$user" "$pass" || return 1
	# --config alone replaces Radicale's default search path, so neither
	# /etc/radicale/config nor ~/.config/radicale/config is read.
	env -u RADICALE_CONFIG "$PEERS_PYTHON" -m radicale --config "$RADICALE_CONF" \
	    >>"$RADICALE_LOG" 2>&1 &
	RADICALE_PID=$!
	export RADICALE_PID
	if ! wait_for_port "$RADICALE_PORT" 20 "$RADICALE_PID"; then
		cat "$RADICALE_LOG" >&2
		radicale_stop
		return 1
	fi
}

radicale_stop() {
	[ -n "${RADICALE_PID:-}" ] || return 0
	peers_stop_pid "$RADICALE_PID"
	wait_for_port_closed "$RADICALE_PORT" 5
	RADICALE_PID=
}

# radicale_curl [CURL_ARGS...]: curl as $RADICALE_USER, trusting our CA.
radicale_curl() {
	curl -sS --cacert "$PEERS_CA_FILE" -u "$RADICALE_USER:$RADICALE_PASS" "$@"
}

# radicale_mkcalendar NAME [DISPLAYNAME]: makes the calendar collection
# $RADICALE_URL$RADICALE_USER/NAME/ and prints its URL.
radicale_mkcalendar() {
	local url=$RADICALE_URL$RADICALE_USER/$1/ code
	code=$(radicale_curl -o /dev/null -w '%{http_code}' -X MKCALENDAR \
	    -H 'Content-Type: application/xml; charset=utf-8' --data-binary @- \
	    "$url" <<-EOF
	<?xml version="1.0" encoding="utf-8"?>
	<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
	  <D:set><D:prop><D:displayname>${2:-$1}</D:displayname></D:prop></D:set>
	</C:mkcalendar>
	EOF
	)
	[ "$code" = 201 ] || { echo "MKCALENDAR $url: HTTP $code" >&2; return 1; }
	echo "$url"
}

# radicale_put CALENDAR_URL FILE.ics [NAME]: stores one event (through
# HTTP, so Radicale never meets a file it has not checked).
radicale_put() {
	local name=${3:-$(basename "$2")} code
	code=$(radicale_curl -o /dev/null -w '%{http_code}' -X PUT \
	    -H 'Content-Type: text/calendar; charset=utf-8' \
	    --data-binary @"$2" "$1$name")
	case $code in 201|204) return 0 ;; esac
	echo "PUT $1$name: HTTP $code" >&2
	return 1
}

# ---------------------------------------------------------------- SMTP sink

# smtp_sink_start [USER PASS] [SINK_OPTION...]: an SMTP server on
# $SMTP_SINK_PORT recording each accepted message as $SMTP_SINK_DIR/<n>.eml
# and a line in $SMTP_SINK_INDEX.  With USER and PASS, AUTH PLAIN/LOGIN is
# required; options: --starttls, --require-starttls, --implicit-tls,
# --auth-optional, --xoauth2-tokens FILE (AUTH XOAUTH2 for FILE's "TOKEN
# USER" lines, e.g. $OAUTH_TOKENS; attempts in $SMTP_SINK_DIR/xoauth2.log)
# (see smtp-sink.py --help).
smtp_sink_start() {
	local d=$PEERS_DIR/smtp args=()
	: "${PEERS_DIR:?call peers_setup first}"
	mkdir -p "$d/messages" || return 1
	SMTP_SINK_USER='' SMTP_SINK_PASS=''
	if [ $# -ge 2 ] && [ "${1#--}" = "$1" ]; then
		SMTP_SINK_USER=$1 SMTP_SINK_PASS=$2
		shift 2
		printf '%s\n' "$SMTP_SINK_PASS" >"$d/password"
		args+=(--user "$SMTP_SINK_USER" --password-file "$d/password")
	fi
	SMTP_SINK_PORT=$(peer_port) || return 1
	SMTP_SINK_DIR=$d/messages
	SMTP_SINK_INDEX=$d/messages/index
	SMTP_SINK_LOG=$d/smtp-sink.log
	export SMTP_SINK_PORT SMTP_SINK_DIR SMTP_SINK_INDEX SMTP_SINK_LOG \
	    SMTP_SINK_USER SMTP_SINK_PASS
	"$PEERS_PYTHON" "$PEERS_LIBDIR/smtp-sink.py" --port "$SMTP_SINK_PORT" \
	    --dir "$SMTP_SINK_DIR" --cert "$PEERS_CERT" --key "$PEERS_KEY" \
	    "${args[@]}" "$@" >>"$SMTP_SINK_LOG" 2>&1 &
	SMTP_SINK_PID=$!
	export SMTP_SINK_PID
	if ! wait_for_port "$SMTP_SINK_PORT" 10 "$SMTP_SINK_PID"; then
		cat "$SMTP_SINK_LOG" >&2
		smtp_sink_stop
		return 1
	fi
}

smtp_sink_stop() {
	[ -n "${SMTP_SINK_PID:-}" ] || return 0
	peers_stop_pid "$SMTP_SINK_PID"
	wait_for_port_closed "$SMTP_SINK_PORT" 5
	SMTP_SINK_PID=
}

# smtp_sink_fail [MATCH] CODE TEXT...: from the next message on, answer
# CODE TEXT.  MATCH is '*' (every message, the default), a number N (the
# next N messages), a recipient address (refused at RCPT TO), MAIL or RSET
# (that command; RSET 421 also hangs up).  Several calls add rules;
# smtp_sink_ok removes them all.
smtp_sink_fail() {
	local f=$SMTP_SINK_DIR/fail match='*'
	case $1 in [0-9][0-9][0-9]) ;; *) match=$1; shift ;; esac
	{ [ -f "$f" ] && cat "$f"; echo "$match $*"; } >"$f.tmp.$$" &&
	    mv "$f.tmp.$$" "$f"
}

smtp_sink_ok() {
	rm -f "$SMTP_SINK_DIR/fail"
}

# smtp_sink_count: prints how many messages were accepted.
smtp_sink_count() {
	if [ -f "$SMTP_SINK_INDEX" ]; then
		wc -l <"$SMTP_SINK_INDEX"
	else
		echo 0
	fi
}

# smtp_sink_find MESSAGE_ID: prints the file of the message recorded with
# that Message-ID (angle brackets included, as in the header).
smtp_sink_find() {
	[ -f "$SMTP_SINK_INDEX" ] || return 1
	awk -F '\t' -v id="$1" -v dir="$SMTP_SINK_DIR" \
	    '$1 == id { print dir "/" $4; found = 1 } END { exit !found }' \
	    "$SMTP_SINK_INDEX"
}

# ---------------------------------------------------------------- OAuth 2.0

# oauth_endpoint_start: a token introspection endpoint (oauth-endpoint.py)
# on $OAUTH_ENDPOINT_PORT for Dovecot's oauth2 passdb (DOVECOT_OAUTH2_MODE,
# see dovecot_start).  It answers {"active": true, "username": USER} for
# the tokens of $OAUTH_TOKENS ("TOKEN USER" lines, read per request) and
# 401 otherwise, and records each request in $OAUTH_ENDPOINT_RECORD
# ("active USER TOKEN" or "refused TOKEN").
oauth_endpoint_start() {
	local d=$PEERS_DIR/oauth
	: "${PEERS_DIR:?call peers_setup first}"
	mkdir -p "$d" || return 1
	OAUTH_TOKENS=$d/tokens
	OAUTH_ENDPOINT_RECORD=$d/requests
	OAUTH_ENDPOINT_LOG=$d/endpoint.log
	: >"$OAUTH_TOKENS"
	: >"$OAUTH_ENDPOINT_RECORD"
	OAUTH_ENDPOINT_PORT=$(peer_port) || return 1
	export OAUTH_TOKENS OAUTH_ENDPOINT_RECORD OAUTH_ENDPOINT_LOG \
	    OAUTH_ENDPOINT_PORT
	"$PEERS_PYTHON" "$PEERS_LIBDIR/oauth-endpoint.py" \
	    --port "$OAUTH_ENDPOINT_PORT" --tokens "$OAUTH_TOKENS" \
	    --log "$OAUTH_ENDPOINT_RECORD" >>"$OAUTH_ENDPOINT_LOG" 2>&1 &
	OAUTH_ENDPOINT_PID=$!
	export OAUTH_ENDPOINT_PID
	if ! wait_for_port "$OAUTH_ENDPOINT_PORT" 10 "$OAUTH_ENDPOINT_PID"; then
		cat "$OAUTH_ENDPOINT_LOG" >&2
		oauth_endpoint_stop
		return 1
	fi
}

oauth_endpoint_stop() {
	[ -n "${OAUTH_ENDPOINT_PID:-}" ] || return 0
	peers_stop_pid "$OAUTH_ENDPOINT_PID"
	wait_for_port_closed "$OAUTH_ENDPOINT_PORT" 5
	OAUTH_ENDPOINT_PID=
}

# oauth_token_grant TOKEN USER: the endpoint accepts TOKEN for USER from now.
oauth_token_grant() {
	printf '%s %s\n' "$1" "$2" >>"$OAUTH_TOKENS"
}

# oauth_token_revoke TOKEN: the endpoint refuses TOKEN from now.
oauth_token_revoke() {
	local f=$OAUTH_TOKENS
	awk -v t="$1" '$1 != t' "$f" >"$f.tmp.$$" && mv "$f.tmp.$$" "$f"
}

# ---------------------------------------------------------------- DAV proxy

# dav_proxy_start [UPSTREAM_URL [PORT]]: dav-proxy.py on $DAV_PROXY_URL in
# front of UPSTREAM_URL (default $RADICALE_URL, which must be http): a
# CalDAV server without sync-collection, for the getctag/etag fallback.
# Each request is a line in $DAV_PROXY_LOG ("METHOD PATH depth=D
# report=NAME status=CODE", status 0 for a dropped connection);
# dav_proxy_fail makes it answer an error instead.  PORT (e.g. the
# $DAV_PROXY_PORT of a proxy stopped before) brings a server "back".
dav_proxy_start() {
	local up=${1:-${RADICALE_URL:-}} d=$PEERS_DIR/dav-proxy
	: "${PEERS_DIR:?call peers_setup first}"
	: "${up:?call radicale_start first or give an upstream URL}"
	mkdir -p "$d" || return 1
	DAV_PROXY_PORT=${2:-$(peer_port)} || return 1
	DAV_PROXY_URL=http://127.0.0.1:$DAV_PROXY_PORT/
	DAV_PROXY_LOG=$d/requests
	DAV_PROXY_FAIL=$d/fail
	export DAV_PROXY_PORT DAV_PROXY_URL DAV_PROXY_LOG DAV_PROXY_FAIL
	[ -n "${2:-}" ] || : >"$DAV_PROXY_LOG"
	rm -f "$DAV_PROXY_FAIL" "$DAV_PROXY_FAIL.held"
	"$PEERS_PYTHON" "$PEERS_LIBDIR/dav-proxy.py" --port "$DAV_PROXY_PORT" \
	    --upstream "$up" --log "$DAV_PROXY_LOG" --fail "$DAV_PROXY_FAIL" \
	    >>"$d/proxy.out" 2>&1 &
	DAV_PROXY_PID=$!
	export DAV_PROXY_PID
	[ -n "${dav_proxy_hooked:-}" ] || peers_on_exit dav_proxy_stop
	dav_proxy_hooked=1
	if ! wait_for_port "$DAV_PROXY_PORT" 10 "$DAV_PROXY_PID"; then
		cat "$d/proxy.out" >&2
		dav_proxy_stop
		return 1
	fi
}

dav_proxy_stop() {
	[ -n "${DAV_PROXY_PID:-}" ] || return 0
	peers_stop_pid "$DAV_PROXY_PID"
	wait_for_port_closed "$DAV_PROXY_PORT" 5
	DAV_PROXY_PID=
}

# dav_proxy_fail CODE [METHOD...]: from now on the proxy answers CODE to
# every request (or to those METHODs) without forwarding it; CODE 0
# drops the connection unanswered, "hold" keeps each such request
# waiting (dav_proxy_held says when one is) until the next dav_proxy_fail
# or dav_proxy_ok; dav_proxy_ok ends that.
dav_proxy_fail() {
	printf '%s\n' "$*" >"$DAV_PROXY_FAIL.tmp.$$" &&
	    mv "$DAV_PROXY_FAIL.tmp.$$" "$DAV_PROXY_FAIL"
}

dav_proxy_ok() {
	rm -f "$DAV_PROXY_FAIL"
}

dav_proxy_held() {
	[ -e "$DAV_PROXY_FAIL.held" ]
}

# dav_proxy_count [EXTENDED_REGEX]: prints how many requests the proxy
# has recorded (those whose line matches, when a pattern is given).
dav_proxy_count() {
	if [ $# -gt 0 ]; then
		grep -Ec -- "$1" "$DAV_PROXY_LOG"
	else
		wc -l <"$DAV_PROXY_LOG"
	fi
}
