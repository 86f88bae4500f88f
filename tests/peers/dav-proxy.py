#!/usr/bin/python3
"""A reverse proxy in front of a CalDAV server that hides sync-collection.

Tests of the getctag/getetag/calendar-multiget fallback need a server
without RFC 6578; Radicale always offers it.  This proxy forwards every
request to --upstream unchanged, except:

  * PROPFIND answers lose sync-collection from supported-report-set, and
    the DAV:sync-token property;
  * a REPORT whose body is a sync-collection is answered 403 without
    reaching the server (as a server without the report would);
  * while the file --fail names exists, each request whose method is in
    its second word ("503" alone: every request; "503 DELETE PUT": those)
    is answered with the status of its first word instead of forwarded,
    so tests can make the server "down" without stopping it.  A first
    word "0" closes the connection without an answer (a network error);
    "hold" keeps the request, unanswered and not forwarded, until the
    file changes, and creates FILE.held meanwhile (a request "on the
    wire" while a test does something else).

Each request is recorded in --log, one line per request, written before
the answer is sent (so a client that got its answer sees its line):

    METHOD PATH depth=D report=NAME status=CODE

(depth and report "-" when absent).  Standard library only.
"""

import argparse
import http.client
import http.server
import os
import re
import sys
import threading
import time
import urllib.parse

# Hop-by-hop headers, and Accept-Encoding: answers are rewritten, so the
# upstream must send them uncompressed.
HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
       "transfer-encoding", "upgrade", "content-length", "host",
       "accept-encoding"}

# <X:supported-report><X:report><X:sync-collection/></X:report></X:supported-report>
SYNC_REPORT = re.compile(
    rb"<(?:[\w.-]+:)?supported-report\b[^>]*>\s*"
    rb"<(?:[\w.-]+:)?report\b[^>]*>\s*"
    rb"<(?:[\w.-]+:)?sync-collection\b[^>]*/>\s*"
    rb"</(?:[\w.-]+:)?report>\s*"
    rb"</(?:[\w.-]+:)?supported-report>")
# The same without the supported-report wrapper, or an empty element pair.
SYNC_BARE = re.compile(
    rb"<(?:[\w.-]+:)?sync-collection\b[^>]*(?:/>|>\s*</(?:[\w.-]+:)?"
    rb"sync-collection>)")
# A server without RFC 6578 has no DAV:sync-token property either.
SYNC_TOKEN = re.compile(
    rb"<((?:[\w.-]+:)?)sync-token\b[^>/]*>[^<]*</\1sync-token>")
ROOT = re.compile(rb"<(?:[\w.-]+:)?([\w.-]+)[\s/>]")


def report_name(body):
    """The local name of the body's root element, skipping <?xml ...?>."""
    text = re.sub(rb"<\?.*?\?>", b"", body or b"", flags=re.S)
    text = re.sub(rb"<!--.*?-->", b"", text, flags=re.S)
    m = ROOT.search(text)
    return m.group(1).decode("ascii", "replace") if m else "-"


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dav-proxy"
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet: our own log is the record
        pass

    def record(self, status, report):
        line = "%s %s depth=%s report=%s status=%d\n" % (
            self.command, self.path, self.headers.get("Depth", "-"),
            report, status)
        with self.lock, open(self.server.opts.log, "a") as f:
            f.write(line)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def answer(self, status, text, report, headers=()):
        data = text.encode() if isinstance(text, str) else text
        self.record(status, report)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def failing(self):
        """What the fail file asks for this request ("503", "0", "hold"),
        or None."""
        try:
            with open(self.server.opts.fail) as f:
                words = f.read().split()
        except OSError:
            return None
        if not words or (len(words) > 1 and self.command not in words[1:]):
            return None
        return words[0]

    def hold(self):
        """Waits while the fail file says hold; then what it says now."""
        held = self.server.opts.fail + ".held"
        open(held, "a").close()
        while self.failing() == "hold":
            time.sleep(0.02)
        try:
            os.unlink(held)
        except OSError:
            pass
        return self.failing()

    def forward(self, body, report):
        up = self.server.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in HOP}
        headers["Host"] = up.netloc
        if body or self.command in ("PUT", "POST", "PROPFIND", "REPORT"):
            headers["Content-Length"] = str(len(body))
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            self.answer(502, "upstream: %s\n" % e, report)
            return
        finally:
            conn.close()
        if self.command == "PROPFIND" and resp.status == 207:
            data = SYNC_REPORT.sub(b"", data)
            data = SYNC_BARE.sub(b"", data)
            data = SYNC_TOKEN.sub(b"", data)
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP]
        self.answer(resp.status, data, report, out)

    def handle_any(self):
        body = self.body()
        report = report_name(body) if self.command == "REPORT" else "-"
        act = self.failing()
        if act == "hold":
            act = self.hold()
        if act == "0":
            self.record(0, report)
            self.close_connection = True
        elif act is not None:
            self.answer(int(act), "failing on purpose\n", report,
                        [("Content-Type", "text/plain")])
        elif report == "sync-collection":
            self.answer(403, "sync-collection is not supported here\n",
                        report, [("Content-Type", "text/plain")])
        else:
            self.forward(body, report)

    do_GET = do_HEAD = do_PUT = do_DELETE = do_POST = handle_any
    do_PROPFIND = do_PROPPATCH = do_REPORT = do_MKCALENDAR = handle_any
    do_MKCOL = do_OPTIONS = do_MOVE = do_COPY = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="http://host:port/")
    ap.add_argument("--log", required=True)
    ap.add_argument("--fail", required=True)
    opts = ap.parse_args()
    srv = Server(("127.0.0.1", opts.port), Proxy)
    srv.opts = opts
    srv.upstream = urllib.parse.urlsplit(opts.upstream)
    if srv.upstream.scheme != "http":
        sys.exit("dav-proxy: only an http upstream is supported")
    open(opts.log, "a").close()
    print("dav-proxy: 127.0.0.1:%d -> %s" % (opts.port, opts.upstream),
          flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
