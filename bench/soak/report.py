#!/usr/bin/env python3
"""The soak's final summary (bench/soak.sh): wrk's lanes, the faults the
fakes injected, the coarse clock's time, the read-your-write lane, each
instance's workers' RSS (linear fit after warm-up), the error logs, the
table check (check.json) with its violations per invariant.  Exit 1 when
anything failed."""

import argparse
import collections
import json
import os
import re
import sys


def fit(points):
    """Least-squares slope of y over x."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if sxx == 0:
        return 0.0
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--nfakes", type=int, required=True)
    ap.add_argument("--total", type=int, required=True)
    ap.add_argument("--t-start", type=float, required=True)
    ap.add_argument("--t-end", type=float, required=True)
    ap.add_argument("--workers-start", default="")
    ap.add_argument("--workers-end", default="")
    ap.add_argument("--check-rc", type=int, required=True)
    a = ap.parse_args()
    d = a.dir
    fails = []
    out = []

    def row(name, value):
        out.append("| %-44s | %s" % (name, value))

    # wrk's lanes
    answers = 0
    lanes = {}
    for lane in ("mix1", "denied1", "mix2", "denied2"):
        text = open(os.path.join(d, "wrk-%s.out" % lane)).read()
        m = re.search(r"^soak-lane (.*)$", text, re.M)
        if not m:
            fails.append("wrk lane %s printed no summary" % lane)
            continue
        f = dict(kv.split("=", 1) for kv in m.group(1).split(" ")
                 if "=" in kv)
        lanes[lane] = f
        answers += int(f["answers"])
        if int(f["unexpected"]) > 0:
            fails.append("%s lane: %s unexpected statuses (first %s)"
                         % (lane, f["unexpected"], f["first_unexpected"]))
        errs = sum(int(f[k]) for k in ("connect", "read", "write",
                                       "timeout"))
        if errs:
            fails.append("%s lane: %d socket errors/timeouts" % (lane, errs))
    secs = a.t_end - a.t_start
    row("requests answered (wrk, 4 lanes, 2 instances)",
        "%d of %d asked" % (answers, a.total))
    if answers < a.total:
        fails.append("only %d of %d requests answered" % (answers, a.total))
    row("duration, throughput", "%.0f s, %.0f req/s" % (secs,
                                                          answers / secs))
    for lane, f in lanes.items():
        row("  %s lane statuses" % lane, f["statuses"])

    # faults
    kinds = collections.Counter()
    calls = 0
    busy = []
    for i in range(1, a.nfakes + 1):
        p = os.path.join(d, "fake%d.stats" % i)
        if not os.path.exists(p):
            fails.append("fake %d wrote no statistics" % i)
            continue
        st = {}
        for line in open(p):
            parts = line.split()
            if parts[0] in ("busy", "elapsed"):
                st[parts[0]] = float(parts[1])
                continue
            op, action, n = parts[0], parts[1], int(parts[2])
            calls += n
            if action != "real":
                kinds[action] += n
        if st.get("elapsed"):
            busy.append("%.0f%%" % (100 * st["busy"] / st["elapsed"]))
    faults = sum(kinds.values())
    row("calls through the fakes", "%d (%d relayed, %d faulted); fakes busy "
        "relaying %s of the time" % (calls, calls - faults, faults,
                                     "/".join(busy)))
    row("faults injected by kind", ", ".join(
        "%s %d" % kv for kv in sorted(kinds.items(), key=lambda x: -x[1])))

    # the coarse clock (soak.sh's clock.log: on/off, epoch, served)
    marks = {}
    p = os.path.join(d, "clock.log")
    if os.path.exists(p):
        for line in open(p):
            parts = line.split()
            if len(parts) == 3:
                marks[parts[0]] = (float(parts[1]), int(parts[2]))
    if "on" in marks and "off" in marks:
        row("coarse clock (whole seconds) on",
            "%.0f s of %.0f s, from request %d to %d served"
            % (marks["off"][0] - marks["on"][0], a.t_end - a.t_start,
               marks["on"][1], marks["off"][1]))
    else:
        fails.append("the coarse clock was never switched on and off "
                     "(clock.log: %s)" % marks)

    # RSS: per instance and worker, (requests served by that instance,
    # kB) after the first 10% of the run
    for inst in (1, 2):
        samples = collections.defaultdict(list)
        served0 = None
        for line in open(os.path.join(d, "rss-%d.log" % inst)):
            parts = line.split()
            if len(parts) < 2 or parts[1] == "-":
                continue
            served = int(parts[1])
            served0 = served if served0 is None else served0
            for pid, rss in zip(parts[2::2], parts[3::2]):
                samples[pid].append((served - served0, int(rss)))
        for pid, pts in sorted(samples.items()):
            if not pts:
                continue
            span = pts[-1][0]
            after = [p for p in pts if p[0] >= span * 0.1] or pts
            slope = fit(after) * 100000
            growth = 100.0 * (after[-1][1] - after[0][1]) / after[0][1]
            row("instance %d worker %s RSS" % (inst, pid),
                "start %d kB, after warm-up %d kB, end %d kB; slope %.1f "
                "kB per 100k requests, growth %.1f%% (%d samples)"
                % (pts[0][1], after[0][1], pts[-1][1], slope, growth,
                   len(pts)))

    # the workers and the error log
    if a.workers_start.split() != a.workers_end.split():
        fails.append("workers changed: %s -> %s" % (a.workers_start,
                                                    a.workers_end))
    levels = collections.Counter()
    crashes = []
    alerts = []
    logs = [os.path.join(d, "n%d" % i, "logs", "error.log") for i in (1, 2)]
    for log in logs:
        for line in open(log, errors="replace"):
            m = re.search(r"\[(\w+)\]", line)
            if m:
                levels[m.group(1)] += 1
            if "exited on signal" in line:
                crashes.append(line.strip())
            elif "[alert]" in line or "[emerg]" in line:
                alerts.append(line.strip())
    # 2 s timeouts (proxy_read_timeout): at a fake, a "hang"/"stall" or a
    # call queued behind the fake's relays (a fake too busy to keep up)
    fake_ports = set()
    for i in range(1, a.nfakes + 1):
        p = os.path.join(d, "fake%d.port" % i)
        if os.path.exists(p):
            fake_ports.add(open(p).read().strip())
    timeouts = collections.Counter()
    for log in logs:
        for line in open(log, errors="replace"):
            if "upstream timed out" in line:
                m = re.search(r'upstream: "http://127\.0\.0\.1:(\d+)',
                              line)
                port = m.group(1) if m else "?"
                timeouts["fakes" if port in fake_ports
                         else "DynamoDB Local"] += 1
    row("upstream timeouts (2 s) at the fakes / at DynamoDB Local",
        "%d (%d hang/stall faults) / %d" % (
            timeouts["fakes"], kinds["hang"] + kinds["stall"],
            timeouts["DynamoDB Local"]))
    if any(float(b.rstrip("%")) > 80 for b in busy):
        row("NOTE", "a fake was busy relaying over 80% of the time: calls "
            "queued behind it timed out (more timeouts than hang/stall); "
            "raise SOAK_DIRECT_WEIGHT or SOAK_FAKES")
    row("error log lines by level (both instances)", ", ".join(
        "%s %d" % kv for kv in sorted(levels.items())) or "none")
    row("worker crashes (exited on signal)", len(crashes))
    row("[alert]/[emerg] lines", len(alerts))
    if crashes:
        fails.append("%d worker crash(es): %s" % (len(crashes), crashes[0]))
    if alerts:
        fails.append("%d [alert]/[emerg]: %s" % (len(alerts), alerts[0]))
    cores = os.listdir(os.path.join(d, "n1", "cores")) \
        + os.listdir(os.path.join(d, "n2", "cores"))
    if cores:
        fails.append("core dumps: %s" % cores)

    # the table
    cj = os.path.join(d, "check.json")
    if os.path.exists(cj):
        c = json.load(open(cj))
        row("acknowledged posts (unique texts; answers incl. replays)",
            "%d: %d keyed, %d unkeyed (%d answers, %d replayed)"
            % (c["acknowledged_posts"], c["acknowledged_keyed"],
               c["acknowledged_unkeyed"], c["ack_answers"],
               c["ack_replayed"]))
        row("unkeyed posts sent again",
            "%d; texts stored twice or more %d, copies no one was "
            "answered %d" % (c["unkeyed_sent_again"],
                             c["unkeyed_texts_stored_twice_or_more"],
                             c["unkeyed_copies_unacknowledged"]))
        row("stored messages of this run",
            "%d (%d with microseconds < 1000: the coarse clock's)"
            % (c["run_messages_stored"], c["run_messages_us_below_1000"]))
        # the coarse clock's mark: a real clock gives 0.1% of times with
        # microseconds < 1000, a coarse one nearly all it plans; under 1%
        # (10 times chance) it never went coarse
        if c["run_messages_us_below_1000"] < c["run_messages_stored"] / 100:
            fails.append("the coarse clock left no mark: %d of %d messages "
                         "with microseconds < 1000"
                         % (c["run_messages_us_below_1000"],
                            c["run_messages_stored"]))
        rb = c.get("readback") or {}
        if rb:
            row("read-your-write lane (both members, both instances)",
                "%d posts, %d acknowledged (%d new conversations), %d "
                "reads: %d verified, %d unverified (5xx 5 times), %d "
                "failed" % (rb["posts"], rb["acknowledged"], rb["new"],
                            rb["reads"], rb["reads_verified"],
                            rb["reads_unverified"], rb["failures"]))
        row("lost (acknowledged, not stored)", "%d%s" % (c["lost"], (
            " (faults on their transactions: %s)" % ", ".join(
                "%s %d" % kv for kv in sorted(c["lost_by_fault"].items()))
            ) if c["lost"] else ""))
        row("keyed posts stored twice", c["duplicated_keyed"])
        row("rows not at the latest message", c["rows_not_latest"])
        row("orphan rows / orphan messages",
            "%d / %d" % (c["orphan_rows"], c["orphan_messages"]))
        row("idempotency violations; receipts (of unstored messages)",
            "%d; %d (%d)" % (c["idem_violations"], c["receipts"],
                             c["receipt_orphans"]))
        row("200 answers where a denial was due", c["denied_200"])
        row("conversations, items scanned",
            "%d, %d" % (c["conversations"], c["items"]))
        inv = c["violations_by_invariant"]
        row("violations per invariant 1..6 (SPEC)", "  ".join(
            "%s: %d" % (n, inv.get(str(n), 0)) for n in range(1, 7)))
        for k, n in sorted(c["violations"].items()):
            fails.append("violation: %s: %d" % (k, n))
    if a.check_rc != 0 and not any(f.startswith("violation") for f in fails):
        fails.append("the table check failed (check.out)")

    print("+" + "-" * 78)
    print("| ddbm soak")
    print("+" + "-" * 78)
    print("\n".join(out))
    print("+" + "-" * 78)
    if fails:
        print("soak: FAILED:")
        for f in fails:
            print("  " + f)
        return 1
    print("soak: PASSED: no crash, no alert, every invariant held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
