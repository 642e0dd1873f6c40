"""`host-example run --tenants N` on file storage and on SQLite, side by side in one run.

Runs the same command (tenants, threads, messages, batch size) with the default file
storage and with `--storage sqlite://DIR/records.db`, alternately, ROUNDS times each, in
fresh scratch directories on one disk, so that a disk whose speed drifts during the run
drifts under every series. Each series can have its own `--threads`. Reports per series
the medians over the rounds of: checkpoints per second (all tenants, from the command's
own summary), p50 and p99 latency per checkpoint (its sink append, record and ack, all
durable; from the summary, to within 9%), and the process's peak resident memory (from
wait4) divided by the tenants. The sink, the record and the ack log are durable in both:
the command is the pipeline, unchanged.

Usage: python3 host-example/cli/benches/group_commit.py [--binary PATH] [--dir DIR]
       [--tenants N] [--messages N] [--batch-size N] [--rounds N]
       [--series files:THREADS ...] [--series sqlite:THREADS ...]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def run_once(args, storage, threads):
    """One run in a fresh scratch directory: (checkpoints/s, p50 ms, p99 ms, peak RSS KiB)."""
    scratch = Path(tempfile.mkdtemp(prefix=f"group-commit-{storage}-", dir=args.dir))
    try:
        command = [
            args.binary, "--state-dir", str(scratch / "state"), "run",
            "--tenants", str(args.tenants), "--threads", str(threads),
            "--messages", str(args.messages), "--batch-size", str(args.batch_size), "--quiet",
        ]
        if storage == "sqlite":
            command += ["--storage", f"sqlite://{scratch / 'records.db'}"]
        with open(scratch / "out.txt", "w+") as out:
            child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(child.pid, 0)
            out.seek(0)
            text = out.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{text[-2000:]}")
        rate = float(re.search(r"([0-9.]+) checkpoints per second", text).group(1))
        p50, p99 = map(float, re.search(r"p50 ([0-9.]+) ms, p99 ([0-9.]+) ms", text).groups())
        return rate, p50, p99, usage.ru_maxrss
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        # Let the deletions reach the disk before the next series starts on it.
        os.sync()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "host-example"))
    parser.add_argument("--dir", default=str(ROOT / "target" / "tmp"), help="scratch directory on the disk to measure")
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--series", action="append",
        help="STORAGE:THREADS, STORAGE files or sqlite (default: files:2 files:64 sqlite:64)",
    )
    args = parser.parse_args()
    series = [tuple(s.split(":")) for s in (args.series or ["files:2", "files:64", "sqlite:64"])]
    os.makedirs(args.dir, exist_ok=True)
    print(f"{args.tenants} tenants, {args.messages} messages each in batches of {args.batch_size}, "
          f"{args.rounds} rounds; load {loadavg()}", flush=True)
    results = {s: [] for s in series}
    started = time.monotonic()
    for round_ in range(1, args.rounds + 1):
        for storage, threads in series:
            figures = run_once(args, storage, int(threads))
            results[(storage, threads)].append(figures)
            print(f"round {round_} {storage} --threads {threads}: {figures[0]:.0f} checkpoints/s, "
                  f"p50 {figures[1]:.2f} ms, p99 {figures[2]:.2f} ms, peak RSS {figures[3] / 1024:.1f} MiB",
                  flush=True)
    best_files = max(
        (statistics.median(r[0] for r in runs) for (storage, _), runs in results.items() if storage == "files"),
        default=None,
    )
    print()
    print("| storage | --threads | checkpoints/s | vs the best files series | p50 | p99 | peak RSS per tenant |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (storage, threads), runs in results.items():
        rate = statistics.median(r[0] for r in runs)
        ratio = f"{rate / best_files:.1f}×" if best_files else "–"
        print(f"| {storage} | {threads} | {rate:,.0f} | {ratio} | "
              f"{statistics.median(r[1] for r in runs):.2f} ms | {statistics.median(r[2] for r in runs):.2f} ms | "
              f"{statistics.median(r[3] for r in runs) / args.tenants:.1f} KiB |")
    print(f"\n{time.monotonic() - started:.0f} s in all; load {loadavg()}")


if __name__ == "__main__":
    main()
