#!/usr/bin/env python3
"""The soak's table check (bench/soak.sh): scans the whole table on
DynamoDB Local (plain HTTP: it accepts any signature) and checks the
invariants (SPEC, 1 to 6) against what the clients saw: the POSTs
acknowledged and the unkeyed POSTs sent again (acks-*.log), and the
read-your-write lane's figures (readback.json).

  check.py --endpoint http://127.0.0.1:PORT --table T --dir WORK --run TAG

A keyed post (its text ends in " k=<key>") is stored at most once, and
where its every answer says.  An unkeyed post sent N times may be stored
up to N times (a client's retry after a timeout is a new message), but
each answer acknowledged must match exactly one stored copy (text,
conversation, created_at), and no copy answers two requests.

Writes WORK/check.json (the figures, violations per kind and per
invariant) and prints one line per violation kind with up to 5 examples.
Exit 1 on any violation.
"""

import argparse
import collections
import glob
import json
import os
import re
import sys
import threading
import urllib.request


def ddb(endpoint, target, body):
    req = urllib.request.Request(
        endpoint + "/", data=json.dumps(body).encode(), method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810." + target,
            "X-Amz-Date": "20260101T000000Z",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/"
                             "us-east-1/dynamodb/aws4_request, "
                             "SignedHeaders=host, Signature=00",
        })
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read())


def scan(endpoint, table, segments=4):
    """Every item, as {name: string value} (the table holds S and N)."""
    out = [[] for _ in range(segments)]
    errors = []

    def one(seg):
        try:
            start = None
            for _ in range(1000000):        # bounded: pages of 1 MB
                body = {"TableName": table, "ConsistentRead": True,
                        "Segment": seg, "TotalSegments": segments}
                if start:
                    body["ExclusiveStartKey"] = start
                page = ddb(endpoint, "Scan", body)
                for item in page.get("Items", []):
                    out[seg].append({k: next(iter(v.values()))
                                     for k, v in item.items()})
                start = page.get("LastEvaluatedKey")
                if not start:
                    return
        except Exception as e:             # reported, fails the check
            errors.append("segment %d: %s" % (seg, e))

    threads = [threading.Thread(target=one, args=(s,))
               for s in range(segments)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("check: scan failed: " + "; ".join(errors))
    return [i for seg in out for i in seg]


# violation kind -> the invariants (SPEC) it breaks
KINDS = {
    "lost (acknowledged, not stored)": (1,),
    "stored elsewhere than acknowledged": (1,),
    "duplicated (keyed, stored twice)": (1,),
    "idempotency: one request, different answers": (1,),
    "idempotency: one key, two messages stored": (1,),
    "unkeyed: stored more often than sent": (1,),
    "unkeyed: one stored copy acknowledged to two requests": (1,),
    "ack unreadable": (1,),
    "read-your-write: not readable at once": (3,),
    "read-your-write: the lane wrote no figures": (3,),
    "stored by a non-member (403 due)": (4,),
    "200 where 401/403/404/422 was due": (4,),
    "message from a non-member": (4,),
    "row owned by a non-member": (4,),
    "record's last_sk not the latest message": (2,),
    "row not at the latest message": (2, 6),
    "row naming the wrong other participant": (2,),
    "member with several rows for one conversation": (2, 6),
    "member without a row (messages without rows)": (2, 5, 6),
    "row pointing at no message of its conversation": (5,),
    "conversation without messages (rows/record point at nothing)": (5,),
    "messages without a conversation record": (5,),
    "receipt without message_uuid": (5,),
    "receipt of an unstored message": (5,),
    "receipt unreadable": (5,),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--run", required=True)
    a = ap.parse_args()

    items = scan(a.endpoint, a.table)
    prefix = "soak %s " % a.run

    msgs = collections.defaultdict(list)    # group -> [item]
    rows = collections.defaultdict(list)    # group -> [item]
    meta = {}                               # group -> item
    receipts = []                           # IDEM# and RECEIPT# items
    by_text = collections.defaultdict(list)  # text -> [(group, sk)]
    by_uuid = {}                            # message_uuid -> item
    for it in items:
        pk = it.get("pk", "")
        if pk.startswith("MSG#"):
            g = pk[4:]
            it["group"] = g
            msgs[g].append(it)
            by_text[it.get("message", "")].append((g, it["sk"]))
            if it.get("message_uuid"):
                by_uuid[it["message_uuid"]] = it
        elif pk.startswith("GRP#"):
            rows[it.get("message_group_uuid", "")].append(it)
        elif pk.startswith("GRPMETA#"):
            meta[pk[8:]] = it
        elif pk.startswith("IDEM#") or pk.startswith("RECEIPT#"):
            receipts.append(it)

    v = collections.defaultdict(list)       # violation kind -> examples

    # what the clients saw: answers, and unkeyed posts sent again
    acks = collections.defaultdict(list)    # text -> [(group, created_at)]
    again = collections.Counter()           # text -> times sent again
    ack_lines = replayed = denied200 = 0
    for f in glob.glob(os.path.join(a.dir, "acks-*.log")):
        with open(f, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t", 2)
                if parts[0] == "DENIED200":
                    denied200 += 1
                elif parts[0] == "again" and len(parts) == 2:
                    again[parts[1]] += 1
                elif parts[0] == "ack" and len(parts) == 3:
                    ack_lines += 1
                    replayed += parts[1] == "1"
                    try:
                        b = json.loads(parts[2])
                        acks[b["message"]].append((b["message_group_uuid"],
                                                   b["created_at"]))
                    except (ValueError, KeyError, TypeError):
                        v["ack unreadable"].append(parts[2][:80])

    # the faults the fakes gave each message's transactions (fake.pl's
    # fault log): a lost message is explained, or not, by them
    tx_faults = collections.defaultdict(list)
    for f in glob.glob(os.path.join(a.dir, "fake*.stats.faults")):
        with open(f, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.rstrip("\n").split(" ", 3)
                if len(parts) == 4 and parts[1] == "TransactWriteItems":
                    tx_faults[parts[3]].append(parts[2])
    lost_by = collections.Counter()

    def faults_of(text):
        return "faults on its transactions: %s" % (
            ",".join(tx_faults.get(text, [])) or "none")

    def keyed(text):
        return re.search(r" k=(\S+)$", text)

    # 1. every answer acknowledged matches exactly one stored copy; a
    # keyed post is stored once and answered the same every time
    lost = dup = 0
    acked_keyed = acked_unkeyed = 0
    for text, answers in acks.items():
        seen = set(answers)
        stored = by_text.get(text, [])
        if keyed(text):
            acked_keyed += 1
            if len(seen) > 1:
                v["idempotency: one request, different answers"].append(
                    "%s: %s; %s" % (text, sorted(seen), faults_of(text)))
        else:
            acked_unkeyed += 1
            if len(answers) > len(seen):
                v["unkeyed: one stored copy acknowledged to two "
                  "requests"].append("%s: %s" % (text, sorted(answers)))
        for s in sorted(seen):
            if s in stored:
                continue
            if stored:
                v["stored elsewhere than acknowledged"].append(
                    "%s: stored %s, answered %s" % (text, stored, s))
            else:
                lost += 1
                lost_by[",".join(sorted(set(tx_faults.get(text, []))))
                        or "none"] += 1
                v["lost (acknowledged, not stored)"].append(
                    "%s %s; %s" % (text, s, faults_of(text)))

    # every text of this run: a keyed one stored once at most, an
    # unkeyed one at most as often as it was sent
    dup_keyed = unkeyed_multi = unkeyed_unacked = 0
    per_key = collections.defaultdict(set)
    for text, where in by_text.items():
        if not text.startswith(prefix):
            continue
        m = keyed(text)
        if m:
            per_key[m.group(1)].add(text)
            if len(where) > 1:
                dup_keyed += 1
                v["duplicated (keyed, stored twice)"].append(
                    "%s: %s; acknowledged %s" % (text, where,
                                                 sorted(set(acks.get(text,
                                                                     [])))))
        else:
            sent = 1 + again[text]
            unkeyed_multi += len(where) > 1
            unkeyed_unacked += len(set(where) - set(acks.get(text, [])))
            if len(where) > sent:
                v["unkeyed: stored more often than sent"].append(
                    "%s: stored %d times, sent %d" % (text, len(where),
                                                     sent))
        if " intruder " in text:
            v["stored by a non-member (403 due)"].append(
                "%s: %s" % (text, where))
    for key, texts in per_key.items():
        if len(texts) > 1:
            v["idempotency: one key, two messages stored"].append(
                "%s: %s" % (key, sorted(texts)))

    # 3. the read-your-write lane (readback.py)
    rb = {}
    try:
        with open(os.path.join(a.dir, "readback.json")) as fh:
            rb = json.load(fh)
    except (OSError, ValueError) as e:
        v["read-your-write: the lane wrote no figures"].append(str(e))
    if rb.get("failures"):
        ex = rb.get("failure_examples", [])
        # one entry per failure: the examples kept, then the rest
        v["read-your-write: not readable at once"].extend(
            ex + ["(example not kept)"] * (rb["failures"] - len(ex)))

    # 2, 4, 5 and 6: every conversation
    not_latest = orphan_rows = orphan_msgs = 0
    groups = set(msgs) | set(rows) | set(meta)
    for g in groups:
        ms = msgs.get(g, [])
        rs = rows.get(g, [])
        mt = meta.get(g)
        if not ms:
            orphan_rows += len(rs)
            v["conversation without messages (rows/record point at "
              "nothing)"].append("%s: %d rows, record %s"
                                 % (g, len(rs), bool(mt)))
            continue
        if mt is None:
            orphan_msgs += len(ms)
            v["messages without a conversation record"].append(
                "%s: %d messages" % (g, len(ms)))
            continue
        latest = max(ms, key=lambda i: i["sk"])
        member = {mt.get("a_uuid"): mt.get("b_uuid"),
                  mt.get("b_uuid"): mt.get("a_uuid")}
        if mt.get("last_sk") != latest["sk"]:
            v["record's last_sk not the latest message"].append(
                "%s: last_sk %s, latest %s" % (g, mt.get("last_sk"),
                                               latest["sk"]))
        for m in ms:
            if m.get("user_uuid") not in member:
                v["message from a non-member"].append(
                    "%s: %s" % (g, m.get("message")))
        owners = collections.Counter(r["pk"][4:] for r in rs)
        for u in member:
            if owners.get(u, 0) == 0:
                orphan_msgs += 1
                v["member without a row (messages without rows)"].append(
                    "%s: member %s" % (g, u))
            elif owners[u] > 1:
                v["member with several rows for one conversation"].append(
                    "%s: member %s has %d" % (g, u, owners[u]))
        msk = {m["sk"] for m in ms}
        for r in rs:
            u = r["pk"][4:]
            if u not in member:
                v["row owned by a non-member"].append("%s: %s" % (g, u))
                continue
            if r["sk"] not in msk:
                orphan_rows += 1
                v["row pointing at no message of its conversation"].append(
                    "%s owner %s: row %s" % (g, u, r["sk"]))
            if r["sk"] != latest["sk"] \
                    or r.get("message") != latest.get("message"):
                not_latest += 1
                v["row not at the latest message"].append(
                    "%s owner %s: row %s, latest %s" % (g, u, r["sk"],
                                                        latest["sk"]))
            if r.get("user_uuid") != member[u]:
                v["row naming the wrong other participant"].append(
                    "%s owner %s" % (g, u))

    # every receipt (IDEM#, RECEIPT#) names a stored message: its
    # message_uuid is a message of its conversation, at the time and
    # with the text it answers
    receipt_orphans = 0
    for it in receipts:
        try:
            b = json.loads(it.get("response", ""))
            g, created, text = (b["message_group_uuid"], b["created_at"],
                                b["message"])
        except (ValueError, KeyError, TypeError):
            v["receipt unreadable"].append(it.get("pk"))
            continue
        mu = it.get("message_uuid")
        if not mu:
            v["receipt without message_uuid"].append(it.get("pk"))
            continue
        m = by_uuid.get(mu)
        if m is None or m["group"] != g or m["sk"] != created \
                or m.get("message") != text:
            receipt_orphans += 1
            v["receipt of an unstored message"].append(
                "%s: message %s %s/%s %s; stored: %s" % (
                    it.get("pk"), mu, g, created, text,
                    m and (m["group"], m["sk"], m.get("message"))))

    if denied200:
        v["200 where 401/403/404/422 was due"].extend(
            ["acks-denied*.log"] * denied200)

    # the coarse clock's mark: microseconds near zero
    run_msgs = coarse = 0
    for t, w in by_text.items():
        if t.startswith(prefix):
            run_msgs += len(w)
            coarse += sum(1 for _, sk in w
                          if re.search(r"\.000\d\d\d", sk[19:]))
    per_inv = {str(n): 0 for n in range(1, 7)}
    for k, x in v.items():
        for n in KINDS.get(k, (0,)):
            per_inv[str(n)] = per_inv.get(str(n), 0) + len(x)
    figures = {
        "items": len(items), "conversations": len(groups),
        "messages_stored": sum(len(m) for m in msgs.values()),
        "run_messages_stored": run_msgs,
        "run_messages_us_below_1000": coarse,
        "ack_answers": ack_lines, "ack_replayed": replayed,
        "acknowledged_posts": len(acks),
        "acknowledged_keyed": acked_keyed,
        "acknowledged_unkeyed": acked_unkeyed,
        "unkeyed_sent_again": sum(again.values()),
        "unkeyed_texts_stored_twice_or_more": unkeyed_multi,
        "unkeyed_copies_unacknowledged": unkeyed_unacked,
        "lost": lost, "duplicated_keyed": dup_keyed,
        "lost_by_fault": dict(lost_by),
        "rows_not_latest": not_latest, "orphan_rows": orphan_rows,
        "orphan_messages": orphan_msgs, "receipts": len(receipts),
        "receipt_orphans": receipt_orphans,
        "idem_violations": sum(len(x) for k, x in v.items()
                               if k.startswith("idempotency:")),
        "denied_200": denied200,
        "readback": rb,
        "violations": {k: len(x) for k, x in v.items()},
        "violations_by_invariant": per_inv,
    }
    with open(os.path.join(a.dir, "check.json"), "w") as fh:
        json.dump(figures, fh, indent=1, sort_keys=True)
    for k, x in sorted(v.items()):
        print("VIOLATION %s (invariant %s): %d"
              % (k, ",".join(map(str, KINDS.get(k, ("?",)))), len(x)))
        for e in x[:5]:
            print("    " + e)
    print("check: %d items, %d acknowledged posts, %d stored messages of "
          "this run, %d violation kinds"
          % (len(items), len(acks), run_msgs, len(v)))
    return 1 if v else 0


if __name__ == "__main__":
    sys.exit(main())
