#!/usr/bin/env python3
"""The soak's read-your-write lane (bench/soak.sh), invariant 3: right
after a POST returns 200, both participants read the conversation.  wrk's
response() cannot tell which request it answers, so this is a small
client of its own, on keep-alive connections to both instances, run
during the load:

  readback.py --base http://A --base http://B --dir WORK --run TAG
              --members sub:group,... --creates sub:handle,...
              --subs handle=sub,... --iterations N

Each iteration posts through one instance (update mode, or now and then
create mode), then, at once, reads the conversation's newest messages as
the poster through the same instance and as the other participant
through the other one (and, for a new conversation, both inboxes).  A
read must be 200 and hold the acknowledged message (text and
created_at); a 5xx (an injected fault) is read again, up to 5 times, and
counted as unverified if it never answers (not a violation: the fault
said nothing).  Stops after N iterations or when WORK/readback.stop
exists.  Acknowledged posts go to WORK/acks-rb-0.log (check.py counts
them for invariant 1); the figures and up to 20 failures to
WORK/readback.json.
"""

import argparse
import http.client
import json
import os
import random
import sys
import time
import urllib.parse

SUB_HEADER = "X-Soak-Sub"


class Conn:
    """One keep-alive connection, opened again after an error."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.c = None

    def request(self, method, path, sub, body=None):
        headers = {SUB_HEADER: sub}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection(self.host, self.port,
                                                    timeout=60)
            try:
                self.c.request(method, path, body=body, headers=headers)
                r = self.c.getresponse()
                data = r.read()
                return r.status, data
            except (OSError, http.client.HTTPException):
                self.c.close()
                self.c = None
                if method == "POST" or attempt == 1:
                    # a POST is not sent twice here: its fate is unknown
                    return 0, b""
        return 0, b""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", action="append", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--members", required=True)
    ap.add_argument("--creates", required=True)
    ap.add_argument("--subs", required=True)
    ap.add_argument("--iterations", type=int, required=True)
    a = ap.parse_args()

    members = [tuple(x.split(":", 1)) for x in a.members.split(",") if x]
    creates = [tuple(x.split(":", 1)) for x in a.creates.split(",") if x]
    sub_of = dict(x.split("=", 1) for x in a.subs.split(",") if x)
    # the other member of each conversation, from the members list
    group_members = {}
    for sub, g in members:
        group_members.setdefault(g, []).append(sub)

    conns = [Conn(b) for b in a.base]
    stop = os.path.join(a.dir, "readback.stop")
    acks = open(os.path.join(a.dir, "acks-rb-0.log"), "a")
    fig = {"iterations": 0, "posts": 0, "acknowledged": 0, "new": 0,
           "reads": 0, "reads_verified": 0, "reads_unverified": 0,
           "failures": 0}
    failures = []

    def fail(what):
        fig["failures"] += 1
        if len(failures) < 20:
            failures.append(what)

    def read(conn, path, sub, found, what):
        """GET until not a 5xx (5 tries); check the answer with found()."""
        fig["reads"] += 1
        for _ in range(5):
            status, data = conn.request("GET", path, sub)
            if status in (0, 502, 503, 504):
                time.sleep(0.05)
                continue
            if status != 200:
                fail("%s: %d %s" % (what, status, data[:200]))
                return
            try:
                body = json.loads(data)
            except ValueError:
                fail("%s: unreadable %s" % (what, data[:200]))
                return
            if found(body):
                fig["reads_verified"] += 1
            else:
                fail("%s: 200 without it" % what)
            return
        fig["reads_unverified"] += 1

    rnd = random.Random(os.getpid())
    for i in range(a.iterations):
        if os.path.exists(stop):
            break
        fig["iterations"] += 1
        x = rnd.randrange(len(conns))
        cx, cy = conns[x], conns[(x + 1) % len(conns)]
        new = rnd.random() < 0.1
        text = "soak %s %s rb0-%d" % (a.run, "new" if new else "upd", i)
        if new:
            poster, handle = rnd.choice(creates)
            body = {"message": text, "handle": handle}
            other = sub_of[handle]
        else:
            poster, g = rnd.choice(members)
            body = {"message": text, "message_group_uuid": g}
            other = [s for s in group_members[g] if s != poster][0]
        fig["posts"] += 1
        status, data = cx.request("POST", "/api/messages", poster,
                                  json.dumps(body))
        if status != 200:
            continue
        try:
            ack = json.loads(data)
            g, created = ack["message_group_uuid"], ack["created_at"]
        except (ValueError, KeyError):
            fail("POST %s: unreadable 200 %s" % (text, data[:200]))
            continue
        fig["acknowledged"] += 1
        fig["new"] += new
        acks.write("ack\t0\t%s\n" % data.decode("utf-8", "replace")
                   .replace("\n", " "))
        acks.flush()

        def has_message(b):
            return isinstance(b, list) and any(
                m.get("message") == text and m.get("created_at") == created
                for m in b)

        def has_group(b):
            return isinstance(b, list) and any(
                c.get("uuid") == g for c in b)

        path = "/api/messages/%s?limit=100" % g
        read(cx, path, poster, has_message,
             "%s: the poster's read, same instance" % text)
        read(cy, path, other, has_message,
             "%s: the other member's read, other instance" % text)
        if new:
            read(cx, "/api/message_groups?limit=100", poster, has_group,
                 "%s: the poster's inbox" % text)
            read(cy, "/api/message_groups?limit=100", other, has_group,
                 "%s: the other member's inbox" % text)

    fig["failure_examples"] = failures
    with open(os.path.join(a.dir, "readback.json"), "w") as fh:
        json.dump(fig, fh, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
