#!/usr/bin/env python3
"""The soak's table check (bench/soak.sh): scans the whole table on
DynamoDB Local (plain HTTP: it accepts any signature) and checks the
invariants against the POSTs the client saw acknowledged (acks-*.log).

  check.py --endpoint http://127.0.0.1:PORT --table T --dir WORK --run TAG

Writes WORK/check.json (the figures) and prints one line per violation
kind with up to 5 examples.  Exit 1 on any violation.
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
    idem = []
    by_text = collections.defaultdict(list)  # text -> [(group, sk)]
    for it in items:
        pk = it.get("pk", "")
        if pk.startswith("MSG#"):
            g = pk[4:]
            msgs[g].append(it)
            by_text[it.get("message", "")].append((g, it["sk"]))
        elif pk.startswith("GRP#"):
            rows[it.get("message_group_uuid", "")].append(it)
        elif pk.startswith("GRPMETA#"):
            meta[pk[8:]] = it
        elif pk.startswith("IDEM#"):
            idem.append(it)

    # what the clients saw acknowledged
    acks = collections.defaultdict(set)     # text -> {(group, created_at)}
    ack_lines = replayed = denied200 = 0
    for f in glob.glob(os.path.join(a.dir, "acks-*.log")):
        with open(f, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t", 2)
                if parts[0] == "DENIED200":
                    denied200 += 1
                    continue
                if parts[0] != "ack" or len(parts) != 3:
                    continue
                ack_lines += 1
                replayed += parts[1] == "1"
                try:
                    b = json.loads(parts[2])
                    acks[b["message"]].add((b["message_group_uuid"],
                                            b["created_at"]))
                except (ValueError, KeyError):
                    acks["<unreadable ack> " + parts[2][:80]].add(("", ""))

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

    v = collections.defaultdict(list)       # violation kind -> examples

    # 1. acknowledged: stored exactly once, where and when the answer said
    lost = dup = 0
    for text, seen in acks.items():
        if len(seen) > 1:
            v["idempotency: one request, different answers"].append(
                "%s: %s; %s" % (text, sorted(seen), faults_of(text)))
        stored = by_text.get(text, [])
        if not stored:
            lost += 1
            lost_by[",".join(sorted(set(tx_faults.get(text, []))))
                    or "none"] += 1
            v["lost (acknowledged, not stored)"].append(
                "%s %s; %s" % (text, sorted(seen), faults_of(text)))
        elif len(stored) > 1:
            dup += 1
            v["duplicated (acknowledged, stored twice)"].append(
                "%s: %s" % (text, stored))
        elif stored[0] not in seen:
            v["stored elsewhere than acknowledged"].append(
                "%s: stored %s, answered %s" % (text, stored[0], sorted(seen)))

    # any text of this run stored twice (every request's text is unique;
    # a retry with the same key must not store it again)
    dup_any = 0
    per_key = collections.defaultdict(set)
    for text, where in by_text.items():
        if not text.startswith(prefix):
            continue
        if len(where) > 1:
            dup_any += 1
            if text not in acks:
                v["duplicated (not acknowledged, stored twice)"].append(
                    "%s: %s" % (text, where))
        m = re.search(r" k=(\S+)$", text)
        if m:
            per_key[m.group(1)].add(text)
        if " intruder " in text:
            v["stored by a non-member (403 due)"].append(
                "%s: %s" % (text, where))
    for key, texts in per_key.items():
        if len(texts) > 1:
            v["idempotency: one key, two messages stored"].append(
                "%s: %s" % (key, sorted(texts)))

    # 2, 4 and 5: every conversation
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
            if r["sk"] != latest["sk"] \
                    or r.get("message") != latest.get("message"):
                not_latest += 1
                v["row not at the latest message"].append(
                    "%s owner %s: row %s, latest %s" % (g, u, r["sk"],
                                                        latest["sk"]))
            if r.get("user_uuid") != member[u]:
                v["row naming the wrong other participant"].append(
                    "%s owner %s" % (g, u))

    # an idempotency record answers with a message that is stored
    idem_orphans = 0
    for it in idem:
        try:
            b = json.loads(it.get("response", ""))
        except ValueError:
            v["idempotency record unreadable"].append(it.get("pk"))
            continue
        if not isinstance(b, dict) or "created_at" not in b:
            continue
        if (b.get("message_group_uuid"), b["created_at"]) \
                not in by_text.get(b.get("message"), []):
            idem_orphans += 1
            v["idempotency record of an unstored message"].append(
                "%s: %s" % (it.get("pk"), b.get("message")))

    if denied200:
        v["200 where 401/403/404/422 was due"].append(
            "%d answers (acks-denied-*.log)" % denied200)

    run_msgs = sum(len(w) for t, w in by_text.items()
                   if t.startswith(prefix))
    figures = {
        "items": len(items), "conversations": len(groups),
        "messages_stored": sum(len(m) for m in msgs.values()),
        "run_messages_stored": run_msgs,
        "ack_answers": ack_lines, "ack_replayed": replayed,
        "acknowledged_posts": len(acks), "lost": lost,
        "duplicated_acknowledged": dup, "duplicated_any": dup_any,
        "lost_by_fault": dict(lost_by),
        "rows_not_latest": not_latest, "orphan_rows": orphan_rows,
        "orphan_messages": orphan_msgs, "idem_records": len(idem),
        "idem_orphans": idem_orphans,
        "idem_violations": sum(len(x) for k, x in v.items()
                               if k.startswith("idempotency:")),
        "denied_200": denied200,
        "violations": {k: len(x) for k, x in v.items()},
    }
    with open(os.path.join(a.dir, "check.json"), "w") as fh:
        json.dump(figures, fh, indent=1, sort_keys=True)
    for k, x in sorted(v.items()):
        print("VIOLATION %s: %d" % (k, len(x)))
        for e in x[:5]:
            print("    " + e)
    print("check: %d items, %d acknowledged posts, %d stored messages of "
          "this run, %d violation kinds"
          % (len(items), len(acks), run_msgs, len(v)))
    return 1 if v else 0


if __name__ == "__main__":
    sys.exit(main())
