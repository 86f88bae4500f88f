#!/usr/bin/python3
"""SMTP sink for rapport's tests: accepts mail on 127.0.0.1 and records it.

Each accepted message is written, exactly as received (CRLF line ends, dot
stuffing undone), to DIR/<n>.eml, and then one line is appended to
DIR/index:

    message-id TAB rcpt[,rcpt...] TAB mail-from TAB <n>.eml TAB auth-login

(the Message-ID with its angle brackets, "-" when absent or not logged in).
The file is complete (renamed into place) before its index line appears,
and the line is appended with a single write, so a reader that sees a line
sees its message.  Nothing is fsynced: this is a test peer, fast enough for
benchmarks.

Answers can be changed while it runs: DIR/fail is read for every recipient
and every message.  Each line is

    MATCH CODE TEXT        e.g.  * 451 4.3.0 try again later
                                 2 554 5.7.1 rejected
                                 bounce@example.com 550 5.1.1 no such user

where MATCH is "*" (every message), a number N (the next N messages; the
count is decremented in the file), a recipient address (refused at RCPT
TO), MAIL (every MAIL FROM refused) or RSET (every RSET answered so; a
421 also closes the connection, as a server that limits the messages of
one connection does).  A line that starts with the code means "*".
Remove the file to accept everything again.

EHLO announces PIPELINING (RFC 2920), as real servers do; aiosmtpd reads
commands one line at a time whether they come one by one or in a group.
--no-pipelining leaves it out, for clients that must then wait for each
reply.  --data-without-rcpt answers DATA with 354 even when no recipient
was accepted (aiosmtpd's own answer is 503), as RFC 2920 says a server
may: the client must then send a lone dot.  Such a DATA is refused with
554 and its body's size in bytes appended to DIR/norcpt-data.log.

With --xoauth2-tokens FILE, AUTH XOAUTH2 is offered too: the initial
response "user=USER^Aauth=Bearer TOKEN^A^A" (base64) is accepted when
"TOKEN USER" is a line of FILE (read at every AUTH, so a test grants and
revokes tokens while the sink runs).  A refused token gets the usual 334
with a base64 JSON error; after the client's empty answer, 535.  Each
attempt appends "ok USER TOKEN" or "refused USER TOKEN" to DIR/xoauth2.log
(a test record: it holds the tokens).

Runs on Debian's /usr/bin/python3 with python3-aiosmtpd.
"""

import argparse
import asyncio
import base64
import binascii
import collections
import hmac
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword


class Sink(SMTP):
    # aiosmtpd answers "500 Line too long" above 1,000 bytes; real servers
    # and real mail (long HTML lines) go well beyond.
    line_length_limit = 1 << 20
    data_without_rcpt = False

    async def smtp_DATA(self, arg):
        if (not self.data_without_rcpt or self.envelope.rcpt_tos or arg
                or not self.session.host_name
                or (self._auth_required and not self.session.authenticated)):
            return await super().smtp_DATA(arg)
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        size = 0
        while True:
            line = await self._reader.readuntil(b"\r\n")
            if line == b".\r\n":
                break
            size += len(line)
        with open(os.path.join(self.event_handler.folder,
                               "norcpt-data.log"), "a") as f:
            f.write("%d\n" % size)
        self._set_post_data_state()
        await self.push("554 5.5.1 Error: no valid recipients")


def xoauth2_lookup(path, user, token):
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                words = line.split()
                if len(words) == 2 and words[0] == token and words[1] == user:
                    return True
    except FileNotFoundError:
        pass
    return False


class XOAuth2Sink(Sink):
    """The sink with AUTH XOAUTH2 (--xoauth2-tokens)."""

    tokens_path = None
    record_path = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Real bearer tokens run past 1,500 characters, and aiosmtpd
        # refuses command lines above 512 bytes; per instance, because
        # the class's dict is shared and cleared by every __init__.
        self.command_size_limits = collections.defaultdict(
            lambda: self.command_size_limit)
        self.command_size_limits["AUTH"] = 1 << 16

    def xoauth2_record(self, verdict, user, token):
        with open(self.record_path, "a", encoding="utf-8") as f:
            f.write("%s %s %s\n" % (verdict, user or "-", token or "-"))

    async def auth_XOAUTH2(self, _, args):
        if len(args) == 1:
            raw = await self.challenge_auth("")
            if raw is MISSING:
                return AuthResult(success=False)
        else:
            try:
                raw = base64.b64decode(args[1].encode(), validate=True)
            except (binascii.Error, ValueError):
                await self.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        fields = {}
        for part in raw.split(b"\x01"):
            key, sep, value = part.partition(b"=")
            if sep:
                fields[key.decode("utf-8", "replace")] = \
                    value.decode("utf-8", "replace")
        user = fields.get("user")
        auth = fields.get("auth", "")
        token = auth[7:] if auth[:7].lower() == "bearer " else None
        well_formed = raw.endswith(b"\x01\x01") and user and token
        if well_formed and xoauth2_lookup(self.tokens_path, user, token):
            self.xoauth2_record("ok", user, token)
            return AuthResult(success=True,
                              auth_data=LoginPassword(user.encode(), b""))
        self.xoauth2_record("refused", user, token)
        # As Gmail does: the error as a challenge, then 535 after the
        # client's empty line.
        error = json.dumps({"status": "401", "schemes": "bearer",
                            "scope": "https://mail.example/"})
        await self.challenge_auth(error)
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and token not accepted")


def parse_fail_file(path):
    """Returns the rules of the fail file as (match, answer) pairs."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    rules = []
    for line in lines:
        words = line.split(None, 1)
        if not words:
            continue
        if words[0].isdigit() and len(words[0]) == 3:
            rules.append(("*", line.strip()))
        elif len(words) == 2:
            rules.append((words[0], words[1].strip()))
    return rules


def write_fail_file(path, rules):
    if not rules:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        for match, answer in rules:
            f.write("%s %s\n" % (match, answer))
    os.rename(tmp, path)


def header_value(content, name):
    """The first NAME header of the message's header block, unfolded."""
    head = content.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    value = None
    for line in head.splitlines():
        if value is not None:
            if line[:1] in (b" ", b"\t"):
                value += b" " + line.strip()
                continue
            break
        key, sep, rest = line.partition(b":")
        if sep and key.strip().lower() == name:
            value = rest.strip()
    if value is None:
        return None
    return value.decode("utf-8", "replace")


class Handler:
    pipelining = True  # announce PIPELINING in EHLO

    def __init__(self, folder):
        self.folder = folder
        self.fail_path = os.path.join(folder, "fail")
        self.index = os.open(os.path.join(folder, "index"),
                             os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        # Continue the numbering when restarted on the same folder.
        self.n = 0
        for name in os.listdir(folder):
            stem = name[:-4]
            if name.endswith(".eml") and stem.isdigit():
                self.n = max(self.n, int(stem))

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RSET(self, server, session, envelope):
        for match, answer in parse_fail_file(self.fail_path):
            if match == "RSET":
                if answer.startswith("421"):
                    # After the reply is written: close() flushes first.
                    asyncio.get_running_loop().call_soon(
                        server.transport.close)
                return answer
        return "250 OK"

    async def handle_MAIL(self, server, session, envelope, address,
                          options):
        for match, answer in parse_fail_file(self.fail_path):
            if match == "MAIL":
                return answer
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        for match, answer in parse_fail_file(self.fail_path):
            if "@" in match and match.lower() == address.lower():
                return answer
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    def planned_failure(self):
        """The answer the fail file asks for this message, or None."""
        rules = parse_fail_file(self.fail_path)
        for i, (match, answer) in enumerate(rules):
            if match == "*":
                return answer
            if match.isdigit() and int(match) > 0:
                left = int(match) - 1
                if left:
                    rules[i] = (str(left), answer)
                else:
                    del rules[i]
                write_fail_file(self.fail_path, rules)
                return answer
        return None

    async def handle_DATA(self, server, session, envelope):
        failure = self.planned_failure()
        if failure:
            return failure
        content = envelope.original_content or b""
        self.n += 1
        name = "%d.eml" % self.n
        tmp = os.path.join(self.folder, ".%s.tmp" % name)
        with open(tmp, "wb") as f:
            f.write(content)
        os.rename(tmp, os.path.join(self.folder, name))
        login = session.login_data
        if isinstance(login, bytes):
            login = login.decode("utf-8", "replace")
        fields = [header_value(content, b"message-id") or "-",
                  ",".join(envelope.rcpt_tos),
                  envelope.mail_from or "-",
                  name,
                  login or "-"]
        line = "\t".join(f.replace("\t", " ") for f in fields) + "\n"
        os.write(self.index, line.encode("utf-8", "replace"))
        return "250 2.0.0 OK queued as %d" % self.n


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and user is not None
              and hmac.compare_digest(auth_data.login, user.encode())
              and hmac.compare_digest(auth_data.password, password.encode()))
        return AuthResult(success=ok, handled=False,
                          auth_data=auth_data if ok else None)
    return authenticate


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--dir", required=True,
                   help="folder for <n>.eml, index and the fail file")
    p.add_argument("--user", help="the one login AUTH accepts")
    p.add_argument("--password-file", help="its password (first line)")
    p.add_argument("--xoauth2-tokens",
                   help='offer AUTH XOAUTH2 for the "TOKEN USER" lines here')
    p.add_argument("--auth-optional", action="store_true",
                   help="with --user, also accept mail without AUTH")
    p.add_argument("--cert", help="PEM certificate for STARTTLS/implicit TLS")
    p.add_argument("--key", help="PEM key of --cert")
    p.add_argument("--starttls", action="store_true", help="offer STARTTLS")
    p.add_argument("--require-starttls", action="store_true",
                   help="refuse everything but EHLO/STARTTLS before TLS")
    p.add_argument("--implicit-tls", action="store_true",
                   help="TLS from the first byte (smtps)")
    p.add_argument("--no-pipelining", action="store_true",
                   help="do not announce PIPELINING")
    p.add_argument("--data-without-rcpt", action="store_true",
                   help="354 to DATA even with no recipient accepted")
    a = p.parse_args()

    password = None
    if a.user:
        if not a.password_file:
            p.error("--user needs --password-file")
        with open(a.password_file, encoding="utf-8") as f:
            password = f.readline().rstrip("\r\n")

    context = None
    if a.starttls or a.require_starttls or a.implicit_tls:
        if not (a.cert and a.key):
            p.error("TLS needs --cert and --key")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)

    os.makedirs(a.dir, exist_ok=True)
    handler = Handler(a.dir)
    handler.pipelining = not a.no_pipelining
    sink = Sink
    if a.xoauth2_tokens:
        sink = XOAuth2Sink
        sink.tokens_path = a.xoauth2_tokens
        sink.record_path = os.path.join(a.dir, "xoauth2.log")
    auth_required = bool(a.user or a.xoauth2_tokens) and not a.auth_optional
    sink.data_without_rcpt = a.data_without_rcpt

    def factory():
        return sink(handler,
                    hostname="localhost",
                    ident="rapport test SMTP sink",
                    data_size_limit=64 << 20,
                    enable_SMTPUTF8=True,
                    decode_data=False,
                    tls_context=None if a.implicit_tls else context,
                    require_starttls=a.require_starttls,
                    authenticator=make_authenticator(a.user, password),
                    auth_required=auth_required,
                    auth_require_tls=a.require_starttls)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        factory, host=a.host, port=a.port,
        ssl=context if a.implicit_tls else None, reuse_address=True))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("smtp-sink: listening on %s:%d, recording into %s"
          % (a.host, a.port, a.dir), file=sys.stderr, flush=True)
    loop.run_until_complete(stop.wait())
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()


if __name__ == "__main__":
    main()
