#!/usr/bin/env python3
"""DWARF unwinding cost, side by side with perf.

On the fixed-work `chain` workload (fixtures/workloads/chain.c, -O2, no frame
pointers), measures:

1. the workload's slowdown at 99 Hz under `firebox record --call-graph dwarf`
   and under `perf record -F 99 --call-graph dwarf`, against the workload
   unprofiled in the same round (the workload times its own work, so
   profiler start-up is not counted), and the CPU each profiler itself used
   while it ran;
2. the time and peak memory from the end of the recording to the SVG: firebox
   (its own log line; peak RSS of the whole firebox process) against
   `perf script | inferno-collapse-perf | inferno-flamegraph` on perf's
   recording of the same run (sum of the stages' times, largest stage RSS);
3. whether the two agree: both record the same run of the workload at once
   (`--pid`, 499 Hz, 10 s), and the self shares of the top functions are
   compared.

usage: scripts/bench/unwind.py [--runs N] [--rounds R] [--fill-kib K] [--threads 1|2]
                              [--frequency HZ] [--only agreement]
Needs: cc, perf (Debian's linux-perf), inferno-collapse-perf and
inferno-flamegraph (`cargo install inferno`), a release build of firebox.
Run as root on a quiet machine.
"""

import argparse
import collections
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def value_of(name, stderr):
    """A `NAME SECONDS` line the workload printed."""
    m = re.search(rf"^{name} ([0-9.]+)$", stderr, re.M)
    if not m:
        sys.exit(f"the workload printed no `{name}` line:\n{stderr}")
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
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=15000,
                    help="rounds of work per thread (15000: about 8 s on a 2020s core)")
    ap.add_argument("--frequency", type=int, default=99,
                    help="samples per second, for both profilers (a high one shows the "
                         "kernel's cost per sample)")
    ap.add_argument("--only", choices=["agreement"],
                    help="run only the comparison of shares on one run")
    ap.add_argument("--threads", type=int, choices=[1, 2], default=2,
                    help="2 keeps both cores of a 2-core machine busy, so all the CPU a "
                         "profiler uses is taken from the workload; 1 leaves it a core")
    ap.add_argument("--fill-kib", type=int, default=256,
                    help="memset's buffer: small enough for the caches, so that the work "
                         "is bound by the CPU and not by memory bandwidth")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="firebox-bench-")
    chain = os.path.join(work, "chain")
    run(["cc", "-O2", "-fomit-frame-pointer", "-g", "-pthread",
         os.path.join(ROOT, "fixtures/workloads/chain.c"), "-o", chain])
    run(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    firebox = os.path.join(ROOT, "target/release/firebox")
    workload = [chain, "0", str(args.rounds), str(args.fill_kib), str(args.threads)]
    if args.only == "agreement":
        agreement(chain, firebox, work)
        return

    # Each round runs the workload unprofiled, under firebox and under perf,
    # in an order that rotates from round to round, and compares the two
    # profiled runs with the unprofiled run of the same round: the machine's
    # slow drift cancels out of those ratios.
    fb_ratio, pf_ratio, fb_cpu, pf_cpu, base, fb_during = [], [], [], [], [], []
    fb_post, fb_rss, fb_post_rss = [], [], []
    fb_folded = os.path.join(work, "firebox.folded")
    fb_svg = os.path.join(work, "firebox.svg")
    perf_data = os.path.join(work, "perf.data")
    rss_file = os.path.join(work, "rss")
    for i in range(args.runs):
        out = fb_svg if i % 2 else fb_folded
        commands = {
            "none": workload,
            "firebox": [firebox, "-v", "record", "-F", str(args.frequency), "--call-graph",
                        "dwarf", "-o", out, "--"] + workload,
            "perf": ["perf", "record", "-q", "-F", str(args.frequency), "--call-graph", "dwarf",
                     "-o", perf_data, "--"] + workload,
        }
        names = ["none", "firebox", "perf"]
        names = names[i % 3:] + names[:i % 3]
        elapsed, own_cpu = {}, {}
        for name in names:
            r = run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", rss_file] + commands[name])
            elapsed[name] = value_of("elapsed", r.stderr)
            wall, user, system, rss = map(float, open(rss_file).read().split()[-4:])
            # What the profiler itself used: everything time saw (the
            # workload is its child) but the workload's own CPU.
            own_cpu[name] = (user + system - value_of("cpu", r.stderr)) / wall
            if name == "firebox":
                fb_rss.append(rss)
                # firebox's own count of the CPU it used while the target ran
                # (after its events were open and kallsyms read), against
                # the CPU time the cores offered meanwhile.
                m = re.search(r"CPU firebox used while recording cpu_ms=(\d+) "
                              r"recording_ms=(\d+)", r.stderr)
                fb_during.append(int(m.group(1)) / (int(m.group(2)) * (os.cpu_count() or 1)))
            if name == "firebox" and out == fb_svg:
                m = re.search(r"from the end of the recording to the written output "
                              r"ms=(\d+) peak_kib=(\d+)", r.stderr)
                fb_post.append(int(m.group(1)) / 1000.0)
                fb_post_rss.append(int(m.group(2)))
        base.append(elapsed["none"])
        fb_ratio.append(elapsed["firebox"] / elapsed["none"])
        pf_ratio.append(elapsed["perf"] / elapsed["none"])
        fb_cpu.append(own_cpu["firebox"])
        pf_cpu.append(own_cpu["perf"])
        print(f"round {i + 1}: unprofiled {elapsed['none']:.3f} s, firebox "
              f"{100 * (fb_ratio[-1] - 1):+.2f}%, perf {100 * (pf_ratio[-1] - 1):+.2f}%",
              file=sys.stderr)

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

    def spread(ratios):
        # A 95% interval for the median, by resampling the rounds.
        rng = random.Random(1)
        medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios)))
                         for _ in range(2000))
        low, high = medians[50], medians[1949]
        return f"median {100 * (statistics.median(ratios) - 1):+.2f}% " \
               f"(95% interval {100 * (low - 1):+.2f}% to {100 * (high - 1):+.2f}%)"

    cores = os.cpu_count()
    print(f"workload, unprofiled: {statistics.median(base):.3f} s "
          f"(median of {args.runs} rounds; {cores} cores, {args.threads} busy threads)")
    print(f"slowdown at {args.frequency} Hz under firebox --call-graph dwarf: "
          f"{spread(fb_ratio)}")
    print(f"slowdown at {args.frequency} Hz under perf --call-graph dwarf:    "
          f"{spread(pf_ratio)}")
    print(f"profiler's own CPU over its whole run (start-up and output included), share of "
          f"one core: firebox {100 * statistics.median(fb_cpu):.2f}%, "
          f"perf {100 * statistics.median(pf_cpu):.2f}%")
    print(f"firebox's CPU while the target ran, share of all {cores} cores: "
          f"{100 * statistics.median(fb_during):.2f}%")
    fpost, frss = statistics.median(fb_post), statistics.median(fb_rss)
    fpost_rss = statistics.median(fb_post_rss)
    print(f"end of recording to SVG: firebox {fpost:.3f} s, {fpost_rss / 1024:.1f} MiB peak "
          f"({frss / 1024:.1f} MiB over the whole run); "
          f"perf script | inferno {perf_post:.3f} s, {perf_rss / 1024:.1f} MiB peak")
    print(f"  firebox is {perf_post / max(fpost, 1e-3):.1f}x faster with "
          f"{fpost_rss / perf_rss:.2f}x the peak memory")

    agreement(chain, firebox, work)


def agreement(chain, firebox, work):
    """Both profilers attach to one and the same run of the workload at once,
    so the machine's mood (memset's share swings with memory bandwidth) is
    shared, and the self shares of perf's top five functions are compared.
    Two samplers that do not sample the same instants differ by binomial
    noise alone: at 499 Hz for 10 s (some 10 000 samples each) that is about
    half a point, well inside the 2 points compared against."""
    proc = subprocess.Popen([chain, "60"], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    agree_fb = os.path.join(work, "agree-firebox.folded")
    agree_data = os.path.join(work, "agree-perf.data")
    fbp = subprocess.Popen([firebox, "record", "-F", "499", "--call-graph", "dwarf", "-p",
                            str(proc.pid), "-d", "10s", "-o", agree_fb],
                           stderr=subprocess.DEVNULL)
    pfp = subprocess.Popen(["perf", "record", "-q", "-F", "499", "--call-graph", "dwarf", "-p",
                            str(proc.pid), "-o", agree_data, "--", "sleep", "10"],
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
    print("top self shares on one run recorded by both at 499 Hz (firebox / perf, points):")
    worst = 0.0
    for name, share in sorted(ps.items(), key=lambda kv: -kv[1])[:5]:
        mine = fs.get(name, 0.0)
        worst = max(worst, abs(mine - share))
        print(f"  {name:40} {mine:6.2f} {share:6.2f}  {mine - share:+.2f}")
    print(f"largest difference: {worst:.2f} points")


if __name__ == "__main__":
    main()
