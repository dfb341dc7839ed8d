#!/usr/bin/env python3
"""What `--call-graph auto` saves on a program that keeps frame pointers.

On the fixed-work Go workload (fixtures/workloads/fpchain.go, `-rounds N
-threads 2`: both cores of a 2-core machine busy, so any CPU a profiler uses
is taken from the workload), measures per round, in an order that rotates:

- the workload unprofiled;
- under `firebox record --call-graph auto` (frame-pointer walks and the top
  512 bytes of the stack) and `--call-graph dwarf` (16 KiB stack copies);
- under `perf record -g` (frame pointers) and `perf record --call-graph
  dwarf` (8 KiB stack copies, perf's default).

and prints each one's slowdown against the unprofiled run of the same round
(median, 95% interval by resampling the rounds), and the CPU firebox itself
used while the target ran, per sample.

usage: scripts/bench/auto.py [--runs N] [--rounds R] [--frequency HZ]
Needs: go (Debian's golang-go), perf (Debian's linux-perf), a release build
of firebox. Run as root on a quiet machine.
"""

import argparse
import os
import random
import re
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unwind import ROOT, run, value_of  # noqa: E402


def interval(ratios):
    """The median slowdown and a 95% interval for it, by resampling."""
    rng = random.Random(1)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios)))
                     for _ in range(2000))
    return (f"{100 * (statistics.median(ratios) - 1):+.2f}% "
            f"(95% {100 * (medians[50] - 1):+.2f}% to {100 * (medians[1949] - 1):+.2f}%)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=700,
                    help="rounds of work per goroutine (700: about 8 s)")
    ap.add_argument("--frequency", type=int, default=99)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="firebox-bench-auto-")
    go = os.path.join(work, "fpchain")
    source = os.path.join(ROOT, "fixtures/workloads/fpchain.go")
    env = dict(os.environ, CGO_ENABLED="0", GO111MODULE="off", GOFLAGS="",
               GOCACHE=os.path.join(work, "gocache"))
    run(["go", "build", "-o", go, source], env=env)
    run(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    firebox = os.path.join(ROOT, "target/release/firebox")
    workload = [go, "-rounds", str(args.rounds), "-threads", "2"]
    hz = str(args.frequency)
    perf_data = os.path.join(work, "perf.data")
    commands = {
        "none": workload,
        "firebox auto": [firebox, "-v", "record", "-F", hz, "--call-graph", "auto",
                         "-o", os.path.join(work, "auto.folded"), "--"] + workload,
        "firebox dwarf": [firebox, "-v", "record", "-F", hz, "--call-graph", "dwarf",
                          "-o", os.path.join(work, "dwarf.folded"), "--"] + workload,
        "perf -g": ["perf", "record", "-q", "-F", hz, "-g", "-o", perf_data, "--"] + workload,
        "perf dwarf": ["perf", "record", "-q", "-F", hz, "--call-graph", "dwarf",
                       "-o", perf_data, "--"] + workload,
    }
    names = list(commands)
    ratios = {name: [] for name in names[1:]}
    per_sample = {"firebox auto": [], "firebox dwarf": []}
    share = {"firebox auto": [], "firebox dwarf": []}
    for i in range(args.runs):
        order = names[i % len(names):] + names[:i % len(names)]
        elapsed = {}
        for name in order:
            r = run(commands[name])
            elapsed[name] = value_of("elapsed", r.stderr)
            if name in per_sample:
                cpu = re.search(r"CPU firebox used while recording cpu_ms=(\d+) "
                                r"recording_ms=(\d+)", r.stderr)
                samples = re.search(r"firebox: (\d+) samples", r.stderr)
                if "auto" in name and "without stack copies" not in r.stderr:
                    sys.exit(f"auto did not sample without stack copies:\n{r.stderr}")
                per_sample[name].append(int(cpu.group(1)) * 1000 / int(samples.group(1)))
                share[name].append(int(cpu.group(1)) / (int(cpu.group(2)) * os.cpu_count()))
        for name in ratios:
            ratios[name].append(elapsed[name] / elapsed["none"])
        print(f"round {i + 1}: unprofiled {elapsed['none']:.3f} s, " + ", ".join(
            f"{name} {100 * (ratios[name][-1] - 1):+.2f}%" for name in ratios), file=sys.stderr)

    print(f"fpchain -rounds {args.rounds} -threads 2 at {args.frequency} Hz, "
          f"{args.runs} rounds, {os.cpu_count()} cores")
    for name, values in ratios.items():
        print(f"slowdown under {name:14} {interval(values)}")
    for name, values in per_sample.items():
        print(f"firebox's CPU while recording, {name}: {statistics.median(values):.1f} us "
              f"per sample, {100 * statistics.median(share[name]):.2f}% of all cores")


if __name__ == "__main__":
    main()
