#!/usr/bin/env python3
"""bench/report.py: turns raw benchmark output into summaries and BENCHMARKS.md.

  report.py pgbench RES/NAME SECS    pgbench .out + per-transaction logs -> NAME.json, NAME.summary
  report.py pgbench RES/NAME SECS wrk   the same, plus the percentiles counted as wrk counts its own
  report.py wrk RES/NAME SECS        wrk --latency output (NAME.out) -> NAME.json, NAME.summary
  report.py markdown RES SECS        all summaries -> BENCHMARKS.md on stdout, table on stderr
"""
import glob
import json
import os
import re
import sys


def percentile(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def save(base, d):
    with open(base + ".json", "w") as f:
        json.dump(d, f)
    with open(base + ".summary", "w") as f:
        f.write("%.0f/s  p50 %.2f ms  p99 %.2f ms  (%d done, %d failed)%s" %
                (d["rate"], d["p50"], d["p99"], d["count"], d.get("failed", 0),
                 ("  rounds " + " ".join("%.0f" % x for x in d["rounds"])) if d.get("rounds") else ""))


def median(vals):
    v = sorted(vals)
    if not v:
        return 0.0
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def wrk_corrected(lat_us, runtime_us, connections):
    """The latencies of one run as wrk reports them (its stats_correct):
    every latency L of at least twice the expected interval E between a
    connection's requests adds samples L - E, L - 2E, ... while above E:
    the requests a client keeping its pace would have waited for meanwhile."""
    n = len(lat_us)
    if n == 0 or connections == 0 or n // connections == 0:
        return sorted(lat_us)
    e = runtime_us // (n // connections)
    out = list(lat_us)
    if e > 0:
        for v in lat_us:
            if v >= 2 * e:
                m = v - e
                while m > e:
                    out.append(m)
                    m -= e
    out.sort()
    return out


def do_pgbench(base, secs, wrk_way=False):
    rounds = [float(x) for x in open(base + ".rounds").read().split()]
    failed = 0
    for fn in glob.glob(base + ".out*"):
        m = re.search(r"number of failed transactions: (\d+)", open(fn).read())
        failed += int(m.group(1)) if m else 0
    lat = []
    runs = {}        # round -> its latencies (us), client ids, first start and last end (s)
    for fn in glob.glob(base + ".log*"):
        m = re.search(r"\.log(\d+)\.", fn)
        run = runs.setdefault(m.group(1) if m else "0",
                              {"us": [], "clients": set(), "start": float("inf"), "end": 0.0})
        with open(fn) as f:
            for line in f:
                # client_id transaction_no time_us script_no epoch_s epoch_us
                parts = line.split()
                if len(parts) >= 6 and parts[2].isdigit():
                    us = int(parts[2])
                    lat.append(us / 1000.0)
                    if not wrk_way:
                        continue
                    end = int(parts[4]) + int(parts[5]) / 1e6
                    run["us"].append(us)
                    run["clients"].add(parts[0])
                    run["start"] = min(run["start"], end - us / 1e6)
                    run["end"] = max(run["end"], end)
        os.unlink(fn)
    lat.sort()
    d = {"rate": median(rounds), "rounds": rounds, "count": len(lat), "failed": failed,
         "p50": percentile(lat, 50), "p90": percentile(lat, 90),
         "p99": percentile(lat, 99), "tool": "pgbench"}
    if wrk_way:
        # for comparing with wrk's figures: per run, then the median
        wc50, wc99 = [], []
        for run in runs.values():
            c = wrk_corrected(run["us"], int((run["end"] - run["start"]) * 1e6), len(run["clients"]))
            wc50.append(percentile(c, 50) / 1000.0)
            wc99.append(percentile(c, 99) / 1000.0)
        d["wrk_p50"], d["wrk_p99"] = median(wc50), median(wc99)
    save(base, d)


def wrk_ms(s):
    m = re.match(r"([0-9.]+)(us|ms|s)$", s)
    v = float(m.group(1))
    return {"us": v / 1000.0, "ms": v, "s": v * 1000.0}[m.group(2)]


def do_wrk(base, secs):
    rounds, p50s, p90s, p99s = [], [], [], []
    count = errors = non2xx = 0
    for fn in sorted(glob.glob(base + ".out*")):
        out = open(fn).read()
        m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
        if not m:
            continue
        rounds.append(float(m.group(1)))
        m = re.search(r"(\d+) requests in", out)
        count += int(m.group(1)) if m else 0
        pct = dict((p, wrk_ms(v)) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
        p50s.append(pct.get("50", float("nan")))
        p90s.append(pct.get("90", float("nan")))
        p99s.append(pct.get("99", float("nan")))
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        non2xx += int(m.group(1)) if m else 0
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        errors += sum(int(x) for x in m.groups()) if m else 0
    # wrk reports percentiles per run: the median over the rounds is shown
    save(base, {"rate": median(rounds), "rounds": rounds, "count": count, "failed": errors,
                "non2xx": non2xx, "p50": median(p50s), "p90": median(p90s), "p99": median(p99s),
                "tool": "wrk"})


def read_commits(path):
    commits = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 2 and p[1] not in ("", "None"):
                commits[p[0]] = float(p[1])
    return commits


def first_arrivals(path):
    with open(path) as f:
        recs = json.load(f)
    first = {}
    for rec in recs:
        to = rec.get("to", "")
        t = float(rec.get("t_ms", 0))
        if to and (to not in first or t < first[to]):
            first[to] = t
    return first, recs


def put(base, d, summary):
    with open(base + ".json", "w") as f:
        json.dump(d, f)
    with open(base + ".summary", "w") as f:
        f.write(summary)


def do_latency(base, commits_path, mock_path, rate):
    commits = read_commits(commits_path)
    first, _ = first_arrivals(mock_path)
    d = sorted(first[n] - c for n, c in commits.items() if n in first)
    res = {"rate": float(rate), "sent": len(commits), "matched": len(d),
           "p50": percentile(d, 50), "p90": percentile(d, 90), "p99": percentile(d, 99),
           "max": d[-1] if d else float("nan")}
    put(base, res, "p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.1f ms  (%d of %d messages seen at the mock)" %
        (res["p50"], res["p90"], res["p99"], res["max"], len(d), len(commits)))


def do_drain(base, commits_path, mock_path, target):
    commits = read_commits(commits_path)
    first, recs = first_arrivals(mock_path)
    t = sorted(first[n] for n in commits if n in first)
    c0 = min(commits.values()) if commits else 0.0
    rate = (len(t) - 1) / ((t[-1] - t[0]) / 1000.0) if len(t) > 1 and t[-1] > t[0] else 0.0
    whole = len(t) / ((t[-1] - c0) / 1000.0) if t and t[-1] > c0 else 0.0
    res = {"rate": rate, "whole": whole, "messages": len(commits), "seen": len(t),
           "requests": len(recs), "target": float(target)}
    put(base, res, "%.0f msg/s between first and last arrival, %.0f msg/s from commit to last arrival (%d of %d messages, %d requests)" %
        (rate, whole, len(t), len(commits), len(recs)))


def do_cap(base, commits_path, mock_path, cap):
    commits = read_commits(commits_path)
    first, recs = first_arrivals(mock_path)
    t = sorted(first[n] for n in commits if n in first)
    n = len(t)
    lo, hi = int(n * 0.1), int(n * 0.9) - 1
    rate = (hi - lo) / ((t[hi] - t[lo]) / 1000.0) if n > 10 and t[hi] > t[lo] else 0.0
    err = (rate - float(cap)) / float(cap) * 100.0 if rate else float("nan")
    # the busiest and quietest whole seconds, to show the shape
    per_sec = {}
    for x in t:
        per_sec[int(x // 1000)] = per_sec.get(int(x // 1000), 0) + 1
    inner = [v for k, v in sorted(per_sec.items())][1:-1]
    res = {"rate": rate, "cap": float(cap), "error_pct": err, "messages": len(commits), "seen": n,
           "sec_min": min(inner) if inner else 0, "sec_max": max(inner) if inner else 0}
    put(base, res, "%.1f msg/s over the middle 80 %% of %d messages (cap %s, error %+.2f %%; whole seconds %d..%d)" %
        (rate, n, cap, err, res["sec_min"], res["sec_max"]))


def load(res, name):
    try:
        with open(os.path.join(res, name + ".json")) as f:
            return json.load(f)
    except OSError:
        return None


def fmt_rate(d):
    return "%.0f/s" % d["rate"] if d else "-"


def fmt_lat(d):
    return "%.2f / %.2f" % (d["p50"], d["p99"]) if d else "-"


def do_markdown(res, secs):
    rows = []        # (case, ours, ours_lat, reference, ref_rate, ref_lat, ratio, target, verdict)
    notes = []
    notes_below = []  # footnotes of the results table

    def ratio_row(case, ours_name, ref_label, ref_name, target, wrk_way=False):
        ours = load(res, ours_name)
        ref = load(res, ref_name)
        if not ours or not ref or ref["rate"] <= 0:
            return
        ref_lat = fmt_lat(ref)
        if wrk_way and "wrk_p99" in ref:
            ref_lat = "%.2f / %.2f ¹" % (ref["wrk_p50"], ref["wrk_p99"])
            notes_below.append(
                "¹ The same pgbench transactions counted as wrk counts its own: for every reply slower "
                "than twice the mean interval between a connection's requests, wrk adds the replies a client "
                "keeping that pace would have waited for meanwhile (its correction for coordinated "
                "omission, which cannot be turned off), so a single stall of the whole cluster weighs "
                "on its p99. pgbench's own p50 / p99 for these runs: %s ms." % fmt_lat(ref))
        if len(ours.get("rounds", [])) == len(ref.get("rounds", [])) > 0:
            # both sides ran alternately: median of the per-round ratios
            r = median([a / b for a, b in zip(ours["rounds"], ref["rounds"]) if b > 0])
        else:
            r = ours["rate"] / ref["rate"]
        verdict = ""
        shown = "%.2f×" % r
        if target is not None:
            verdict = "met" if r >= target else "**missed**"
            if r < target and round(r, 2) >= target:
                shown = "%.4f×" % r     # so that a miss never reads as the target itself
        rows.append((case, fmt_rate(ours), fmt_lat(ours), ref_label, fmt_rate(ref), ref_lat,
                     shown, ("≥ %.1f×" % target) if target is not None else "", verdict))

    ratio_row("single-row INSERT commit, c8", "insert_c8", "SELECT 1, c8", "select1_c8", None)
    for c in (8, 32):
        ratio_row("send, 100 clients, c%d" % c, "send_ours_many_c%d" % c,
                  "peer, same", "send_peer_many_c%d" % c, 1.2)
    for c in (8, 32):
        ratio_row("send, one client, c%d" % c, "send_ours_one_c%d" % c,
                  "ours, 100 clients, c%d" % c, "send_ours_many_c%d" % c, 0.9)
    for c in (8, 32):
        ratio_row("peer send, one client, c%d (for scale)" % c, "send_peer_one_c%d" % c,
                  "peer, 100 clients, c%d" % c, "send_peer_many_c%d" % c, None)
    ratio_row("verify mix, c8", "verify_ours_c8", "peer, same", "verify_peer_c8", 1.5)
    for c in (8, 32):
        ratio_row("peer send, 100 clients, c%d (for scale)" % c, "send_peer_many_c%d" % c,
                  "single-row INSERT commit, c8", "insert_c8", None)
    ratio_row("mix 1 send : 1.3 verify through the gateway (wrk)", "mix_gateway",
              "same mix via pgbench", "mix_pgbench", 0.8, wrk_way=True)

    wrows = []
    for rate in (100, 500):
        d = load(res, "worker_latency_%d" % rate)
        if d:
            wrows.append(("commit → first byte at the mock, %d sends/s" % rate,
                          "p50 %.2f ms, p99 %.2f ms (%d/%d msgs)" % (d["p50"], d["p99"], d["matched"], d["sent"]),
                          "p99 ≤ 20 ms", "met" if d["p99"] <= 20 and d["matched"] == d["sent"] else "**missed**"))
    d = load(res, "worker_drain")
    if d:
        wrows.append(("worker drain, mock answers after 20 ms, cap lifted",
                      "%.0f msg/s (%.0f msg/s counting from the commit; %d msgs)" % (d["rate"], d["whole"], d["messages"]),
                      "≥ 2,000 msg/s", "met" if d["rate"] >= 2000 and d["seen"] == d["messages"] else "**missed**"))
    d = load(res, "worker_cap")
    if d:
        wrows.append(("mps cap accuracy, cap %.0f/s" % d["cap"],
                      "%.1f msg/s, %+.2f %% (whole seconds %d..%d)" % (d["rate"], d["error_pct"], d["sec_min"], d["sec_max"]),
                      "± 2 %", "met" if abs(d["error_pct"]) <= 2 else "**missed**"))
    wtable = ""
    if wrows:
        wtable = ("\n\n| worker case | result | target | |\n|---|---|---|---|\n" +
                  "\n".join("| " + " | ".join(x) + " |" for x in wrows))

    extra = []
    for fn in sorted(glob.glob(os.path.join(res, "*.md"))):
        extra.append(open(fn).read().rstrip())
    for fn in sorted(glob.glob(os.path.join(res, "*.notmeasured"))):
        notes.append(open(fn).read().strip())

    header = ("| case | ours | p50 / p99 ms | reference | ref. | ref. p50 / p99 ms | ratio | target | |\n"
              "|---|---|---|---|---|---|---|---|---|")
    table = header + "\n" + "\n".join("| " + " | ".join(r) + " |" for r in rows)
    if notes_below:
        table += "\n\n" + "\n".join(notes_below)
    table += wtable

    base = os.path.join(res, "baseline.txt")
    if os.path.exists(base):
        crow = []
        for label, nm in (("send, 100 clients, c8", "send_many_c8"), ("send, 100 clients, c32", "send_many_c32"),
                          ("send, one client, c8", "send_one_c8"), ("send, one client, c32", "send_one_c32"),
                          ("verify mix, c8", "verify_c8"),
                          ("gateway mix (wrk): that revision's gateway binary, on this cluster", "mix_gateway")):
            a, b = load(res, "after_" + nm), load(res, "before_" + nm)
            if nm == "mix_gateway":
                a = load(res, nm)  # this tree's gateway: the mix case itself, alternating with before's
            if a and b:
                rr = median([x / y for x, y in zip(a["rounds"], b["rounds"]) if y > 0])
                crow.append("| %s | %s | %s | %s | %s | %.2f× |" % (label, fmt_rate(b), fmt_lat(b), fmt_rate(a), fmt_lat(a), rr))
        if crow:
            extra_before = ("### Before/after in this run: %s (before) vs this tree (after)\n\n"
                            "| case | before | p50 / p99 ms | after | p50 / p99 ms | after/before |\n|---|---|---|---|---|---|\n" %
                            open(base).read().strip()) + "\n".join(crow)
            extra.insert(0, extra_before)
    env = open(os.path.join(res, "environment.txt")).read().rstrip() if os.path.exists(
        os.path.join(res, "environment.txt")) else ""
    md = []
    md.append("# JustAuth benchmarks\n")
    md.append("Produced by `make bench` (bench/run.sh). Every figure is a ratio against a reference "
              "measured side by side in the same run, on the same cluster with the same settings, "
              "because the absolute numbers of a shared 2-core machine are noisy. Throughput is "
              "pgbench `-M prepared` tps or wrk requests/s, the median of alternating rounds of %s s "
              "(verify: each code of a fresh pool judged once); latencies are percentiles of every transaction (pgbench `--log`, "
              "wrk `--latency`). How each case is measured, the core changes made for speed and "
              "what was found along the way are at the end.\n" % secs)
    md.append(env + "\n")
    md.append("## Results\n")
    md.append(table + "\n")
    if extra:
        md.append("\n\n".join(extra) + "\n")
    if notes:
        md.append("## Not measured\n")
        md.append("\n".join("- " + n for n in notes) + "\n")
    sys.stderr.write(table + "\n")
    if notes:
        sys.stderr.write("\n".join("not measured: " + n for n in notes) + "\n")
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "NOTES.md")
    if os.path.exists(notes):
        md.append(open(notes).read())
    print("\n".join(md))


def main():
    mode, base, secs = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "pgbench":
        do_pgbench(base, secs, len(sys.argv) > 4 and sys.argv[4] == "wrk")
    elif mode == "wrk":
        do_wrk(base, secs)
    elif mode == "latency":
        do_latency(base, sys.argv[3], sys.argv[4], sys.argv[5])
    elif mode == "drain":
        do_drain(base, sys.argv[3], sys.argv[4], sys.argv[5])
    elif mode == "cap":
        do_cap(base, sys.argv[3], sys.argv[4], sys.argv[5])
    elif mode == "markdown":
        do_markdown(base, secs)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
