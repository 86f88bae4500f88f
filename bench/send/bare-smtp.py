#!/usr/bin/python3
"""The ceiling for bench/send: pre-rendered messages sent as fast as a
plain client can, over C connections in parallel (one process each,
smtplib, one connection reused, no RSET), to the same sink rapportd
sends to.  Prints: messages seconds messages/s.

    bare-smtp.py --port P --connections C [--limit N] DIR

Each DIR/*.eml is a whole message (CRLF, as rapportd writes in dry-run mode);
the envelope is kim@sales.example to the message's To address.
"""

import argparse
import glob
import multiprocessing
import re
import smtplib
import sys
import time

TO = re.compile(rb"^To:.*<([^>]+)>", re.M | re.I)


def load(paths):
    out = []
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        m = TO.search(data.split(b"\r\n\r\n", 1)[0])
        out.append((m.group(1).decode() if m else "x@example.com", data))
    return out


def worker(args):
    host, port, msgs, start = args
    while time.time() < start:
        time.sleep(0.001)
    s = smtplib.SMTP(host, port)
    s.ehlo()
    for rcpt, data in msgs:
        s.sendmail("kim@sales.example", [rcpt], data)
    s.quit()
    return len(msgs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("dir")
    a = p.parse_args()
    files = sorted(glob.glob(a.dir + "/*.eml"))
    files = files[:a.limit] if a.limit else files
    msgs = load(files)
    c = a.connections
    start = time.time() + 0.5
    jobs = [(a.host, a.port, msgs[i::c], start) for i in range(c)]
    with multiprocessing.Pool(c) as pool:
        n = sum(pool.map(worker, jobs))
    secs = time.time() - start
    print("%d %.3f %.1f" % (n, secs, n / secs))


if __name__ == "__main__":
    sys.exit(main())
