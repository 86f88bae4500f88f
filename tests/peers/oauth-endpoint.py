#!/usr/bin/python3
"""OAuth 2.0 token introspection endpoint for rapport's tests (RFC 7662-ish).

Answers Dovecot's oauth2 passdb on 127.0.0.1:

    GET  /introspect?token=TOKEN          (introspection_mode = get)
    POST /introspect   token=TOKEN        (introspection_mode = post)
    GET  /introspect   Authorization: Bearer TOKEN   (mode auth)

with 200 {"active": true, "username": USER} when TOKEN is listed in the
tokens file, and 401 {"active": false, "error": "invalid_token"}
otherwise.  The tokens file holds "TOKEN USER" lines and is read on every
request, so a test grants and revokes tokens while this runs.

Each request appends "active USER TOKEN" or "refused TOKEN" to the log
file (--log), so a test can check which token a client presented.  The
log is a test record, not a production log: it holds the tokens.

Runs on Debian's /usr/bin/python3 (standard library only).
"""

import argparse
import http.server
import json
import os
import signal
import sys
import urllib.parse


def lookup(tokens_path, token):
    """The user TOKEN belongs to, or None."""
    try:
        with open(tokens_path, encoding="utf-8") as f:
            for line in f:
                words = line.split()
                if len(words) == 2 and words[0] == token:
                    return words[1]
    except FileNotFoundError:
        pass
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "rapport-oauth-endpoint/1"

    def token_of_request(self, body):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if "token" in query:
            return query["token"][0]
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "token" in form:
            return form["token"][0]
        auth = self.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        return ""

    def answer(self, body):
        token = self.token_of_request(body)
        user = lookup(self.server.tokens, token) if token else None
        if user is not None:
            code, doc = 200, {"active": True, "username": user}
            record = "active %s %s\n" % (user, token)
        else:
            code, doc = 401, {"active": False, "error": "invalid_token"}
            record = "refused %s\n" % (token or "-")
        with open(self.server.log, "a", encoding="utf-8") as f:
            f.write(record)
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer(b"")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.answer(self.rfile.read(n) if n > 0 else b"")

    def log_message(self, fmt, *args):
        # The request line holds the token in mode get: keep it out of
        # stderr (the peer's general log) and in --log only.
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--tokens", required=True, help='"TOKEN USER" lines')
    p.add_argument("--log", required=True, help="one line per request")
    a = p.parse_args()

    server = http.server.ThreadingHTTPServer((a.host, a.port), Handler)
    server.daemon_threads = True
    server.tokens = a.tokens
    server.log = a.log
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("oauth-endpoint: listening on %s:%d" % (a.host, a.port),
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    server.server_close()
    os._exit(0)


if __name__ == "__main__":
    main()
