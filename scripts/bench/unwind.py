#!/usr/bin/env python3
"""DWARF unwinding cost, side by side with perf.

On the fixed-work `chain` workload (fixtures/workloads/chain.c, -O2, no frame
pointers), measures:

1. the workload's slowdown at 99 Hz under `firebox record --call-graph dwarf`
   and under `perf record -F 99 --call-graph dwarf`, against the same run
   unprofiled (the workload times its own work, so profiler start-up is not
   counted);
2. the time and peak memory from the end of the recording to the SVG: firebox
   (its own log line; peak RSS of the whole firebox process) against
   `perf script | inferno-collapse-perf | inferno-flamegraph` on perf's
   recording of the same run (sum of the stages' times, largest stage RSS);
3. whether the two agree: both record the same run of the workload at once
   (`--pid`), and the self shares of the top functions are compared.

usage: scripts/bench/unwind.py [--runs N] [--rounds R]
Needs: cc, perf (Debian's linux-perf), inferno-collapse-perf and
inferno-flamegraph (`cargo install inferno`), a release build of firebox.
Run as root on a quiet machine.
"""

import argparse
import collections
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def elapsed_of(stderr):
    m = re.search(r"^elapsed ([0-9.]+)$", stderr, re.M)
    if not m:
        sys.exit(f"the workload printed no elapsed time:\n{stderr}")
    return float(m.group(1))


def timed(cmd, stdin=None, stdout=None):
    """Wall seconds and peak RSS (KiB) of one command, via /usr/bin/time."""
    t = tempfile.NamedTemporaryFile(mode="r", delete=False)
    start = time.monotonic()
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name] + cmd,
                   stdin=stdin, stdout=stdout, stderr=subprocess.DEVNULL, check=True)
    wall = time.monotonic() - start
    rss = int(open(t.name).read().split()[-1])
    os.unlink(t.name)
    return wall, rss


def self_shares(folded_path):
    counts = collections.Counter()
    total = 0
    for line in open(folded_path, encoding="utf-8", errors="replace"):
        stack, _, n = line.rstrip("\n").rpartition(" ")
        if not stack:
            continue
        leaf = re.sub(r"_\[[kij01]\]$", "", stack.split(";")[-1])
        # GCC's clones (`msort_with_tmp.part.0`) are the function they
        # came from; the two tools name them differently.
        leaf = re.sub(r"(\.(part|isra|constprop|cold|lto_priv)(\.\d+)?)+$", "", leaf)
        counts[leaf] += int(n)
        total += int(n)
    return {k: 100.0 * v / total for k, v in counts.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=400)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="firebox-bench-")
    chain = os.path.join(work, "chain")
    run(["cc", "-O2", "-fomit-frame-pointer", "-g", "-pthread",
         os.path.join(ROOT, "fixtures/workloads/chain.c"), "-o", chain])
    run(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    firebox = os.path.join(ROOT, "target/release/firebox")
    workload = [chain, "0", str(args.rounds)]

    base, fb, pf, fb_post, fb_rss, fb_post_rss = [], [], [], [], [], []
    fb_folded = os.path.join(work, "firebox.folded")
    fb_svg = os.path.join(work, "firebox.svg")
    perf_data = os.path.join(work, "perf.data")
    for i in range(args.runs):
        base.append(elapsed_of(run(workload).stderr))

        out = fb_svg if i % 2 else fb_folded
        rss_file = os.path.join(work, "rss")
        r = run(["/usr/bin/time", "-f", "%M", "-o", rss_file, firebox, "-v", "record",
                 "--call-graph", "dwarf", "-o", out, "--"] + workload)
        fb.append(elapsed_of(r.stderr))
        if out == fb_svg:
            m = re.search(r"from the end of the recording to the written output "
                          r"ms=(\d+) peak_kib=(\d+)", r.stderr)
            fb_post.append(int(m.group(1)) / 1000.0)
            fb_post_rss.append(int(m.group(2)))
            fb_rss.append(int(open(rss_file).read().split()[-1]))

        r = run(["perf", "record", "-q", "-F", "99", "--call-graph", "dwarf", "-o", perf_data,
                 "--"] + workload)
        pf.append(elapsed_of(r.stderr))

    # perf's post-processing of its last recording, stage by stage.
    script_txt = os.path.join(work, "perf.script")
    perf_folded = os.path.join(work, "perf.folded")
    with open(script_txt, "w") as o:
        t1, m1 = timed(["perf", "script", "-i", perf_data], stdout=o)
    with open(script_txt) as i_, open(perf_folded, "w") as o:
        t2, m2 = timed(["inferno-collapse-perf"], stdin=i_, stdout=o)
    with open(perf_folded) as i_, open(os.path.join(work, "perf.svg"), "w") as o:
        t3, m3 = timed(["inferno-flamegraph"], stdin=i_, stdout=o)
    perf_post, perf_rss = t1 + t2 + t3, max(m1, m2, m3)

    b, f, p = statistics.median(base), statistics.median(fb), statistics.median(pf)
    fpost, frss = statistics.median(fb_post), statistics.median(fb_rss)
    fpost_rss = statistics.median(fb_post_rss)
    print(f"workload, unprofiled:          {b:.3f} s (median of {args.runs})")
    print(f"under firebox --call-graph dwarf: {f:.3f} s  slowdown {100 * (f / b - 1):+.2f}%")
    print(f"under perf --call-graph dwarf:    {p:.3f} s  slowdown {100 * (p / b - 1):+.2f}%")
    print(f"end of recording to SVG: firebox {fpost:.3f} s, {fpost_rss / 1024:.1f} MiB peak "
          f"({frss / 1024:.1f} MiB over the whole run); "
          f"perf script | inferno {perf_post:.3f} s, {perf_rss / 1024:.1f} MiB peak")
    print(f"  firebox is {perf_post / max(fpost, 1e-3):.1f}x faster with "
          f"{fpost_rss / perf_rss:.2f}x the peak memory")

    # Agreement on one and the same run: both attach to it at once, so the
    # machine's mood (memset's share swings with memory bandwidth) is shared.
    proc = subprocess.Popen([chain, "30"], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    agree_fb = os.path.join(work, "agree-firebox.folded")
    agree_data = os.path.join(work, "agree-perf.data")
    fbp = subprocess.Popen([firebox, "record", "--call-graph", "dwarf", "-p", str(proc.pid),
                            "-d", "8s", "-o", agree_fb], stderr=subprocess.DEVNULL)
    pfp = subprocess.Popen(["perf", "record", "-q", "-F", "99", "--call-graph", "dwarf", "-p",
                            str(proc.pid), "-o", agree_data, "--", "sleep", "8"],
                           stderr=subprocess.DEVNULL)
    fbp.wait()
    pfp.wait()
    proc.kill()
    proc.wait()
    agree_perf = os.path.join(work, "agree-perf.folded")
    script = run(["perf", "script", "-i", agree_data]).stdout
    with open(agree_perf, "w") as o:
        o.write(run(["inferno-collapse-perf"], input=script).stdout)

    fs, ps = self_shares(agree_fb), self_shares(agree_perf)
    print("top self shares on one run recorded by both (firebox / perf, points):")
    worst = 0.0
    for name, share in sorted(ps.items(), key=lambda kv: -kv[1])[:5]:
        mine = fs.get(name, 0.0)
        worst = max(worst, abs(mine - share))
        print(f"  {name:40} {mine:6.2f} {share:6.2f}  {mine - share:+.2f}")
    print(f"largest difference: {worst:.2f} points")


if __name__ == "__main__":
    main()
