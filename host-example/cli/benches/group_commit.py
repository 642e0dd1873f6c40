"""`host-example run --tenants N` on file storage and on SQLite, beside one pipeline on
files, side by side in one run.

Runs the same command (tenants, threads, messages, batch size) with the default file
storage and with `--storage sqlite://DIR/records.db`, and the single pipeline (`run`
without `--tenants`, the same messages and batch size, on files), alternately, ROUNDS
times each, in fresh scratch directories on one disk, so that a disk whose speed
drifts during the run drifts under every series. Each tenants series has its own
`--threads` (`default`: the command's default, one per core); the single pipeline
runs `--one-messages` messages, for a steady rate over hundreds of checkpoints. Reports per series the
medians over the rounds of: checkpoints per second (from the command's own summary),
its ratio to the single pipeline's and to the best file-storage tenants series, p50
and p99 latency per checkpoint (its sink append, record and ack, all durable; from the
summary, to within 9%), checkpoints per sync (the process's fsync and fdatasync calls,
counted by `perf stat` where it can count them), CPU time per checkpoint (user and
system, from wait4) and the process's peak resident memory per tenant (from wait4). The
sink, the record and the ack log are durable in all: the command is the pipeline,
unchanged.

Usage: python3 host-example/cli/benches/group_commit.py [--binary PATH] [--dir DIR]
       [--tenants N] [--messages N] [--batch-size N] [--rounds N]
       [--series one] [--series files:THREADS ...] [--series sqlite:THREADS ...]
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


def perf_counts_syncs():
    """Whether `perf stat` can count this machine's sync system calls."""
    try:
        done = subprocess.run(
            ["perf", "stat", "-x,", "-e", SYNC_EVENTS, "--", "true"],
            capture_output=True, text=True, check=False,
        )
    except FileNotFoundError:
        return False
    return done.returncode == 0 and "not supported" not in done.stderr


SYNC_EVENTS = "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync"


def run_once(args, storage, threads, count_syncs):
    """One run in a fresh scratch directory: (checkpoints/s, p50 ms, p99 ms, peak RSS
    KiB, syncs or None, CPU seconds, checkpoints)."""
    scratch = Path(tempfile.mkdtemp(prefix=f"group-commit-{storage}-", dir=args.dir))
    try:
        messages = args.one_messages if storage == "one" else args.messages
        command = [
            args.binary, "--state-dir", str(scratch / "state"), "run",
            "--messages", str(messages), "--batch-size", str(args.batch_size), "--quiet",
        ]
        if storage != "one":
            command += ["--tenants", str(args.tenants)]
            if threads != "default":
                command += ["--threads", threads]
        if storage == "sqlite":
            command += ["--storage", f"sqlite://{scratch / 'records.db'}"]
        counts = scratch / "perf.txt"
        if count_syncs:
            command = ["perf", "stat", "-x,", "-e", SYNC_EVENTS, "-o", str(counts), "--"] + command
        with open(scratch / "out.txt", "w+") as out:
            child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(child.pid, 0)
            out.seek(0)
            text = out.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{text[-2000:]}")
        rate = float(re.search(r"([0-9.]+) checkpoints per second", text).group(1))
        checkpoints = int(re.search(r"([0-9]+) checkpoints in", text).group(1))
        latency = re.search(r"p50 ([0-9.]+) ms, p99 ([0-9.]+) ms", text)
        p50, p99 = map(float, latency.groups()) if latency else (float("nan"), float("nan"))
        syncs = None
        if count_syncs:
            syncs = sum(int(line.split(",")[0]) for line in counts.read_text().splitlines()
                        if "syscalls:" in line)
        cpu = usage.ru_utime + usage.ru_stime
        return rate, p50, p99, usage.ru_maxrss, syncs, cpu, checkpoints
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
    parser.add_argument("--one-messages", type=int, default=10000,
                        help="messages of the single pipeline: enough checkpoints for a steady rate")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--series", action="append",
        help="one (a single pipeline on files), or STORAGE:THREADS with STORAGE files or "
             "sqlite and THREADS a number or default (default: one files:default files:64 "
             "sqlite:default)",
    )
    args = parser.parse_args()
    series = [tuple((s.split(":") + [""])[:2]) for s in
              (args.series or ["one", "files:default", "files:64", "sqlite:default"])]
    os.makedirs(args.dir, exist_ok=True)
    count_syncs = perf_counts_syncs()
    print(f"{args.tenants} tenants, {args.messages} messages each in batches of {args.batch_size}, "
          f"{args.rounds} rounds; syncs counted: {'yes' if count_syncs else 'no (perf cannot)'}; "
          f"load {loadavg()}", flush=True)
    results = {s: [] for s in series}
    started = time.monotonic()
    for round_ in range(1, args.rounds + 1):
        for storage, threads in series:
            figures = run_once(args, storage, threads, count_syncs)
            results[(storage, threads)].append(figures)
            print(f"round {round_} {name(storage, threads)}: {figures[0]:.0f} checkpoints/s, "
                  f"p50 {figures[1]:.2f} ms, p99 {figures[2]:.2f} ms, peak RSS {figures[3] / 1024:.1f} MiB",
                  flush=True)
    median = lambda runs, i: statistics.median(r[i] for r in runs)
    one = next((median(runs, 0) for (storage, _), runs in results.items() if storage == "one"), None)
    best_files = max(
        (median(runs, 0) for (storage, _), runs in results.items() if storage == "files"),
        default=None,
    )
    print()
    print("| series | checkpoints/s | vs one pipeline | vs the best files tenants series "
          "| p50 | p99 | checkpoints per sync | CPU per checkpoint | peak RSS per tenant |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (storage, threads), runs in results.items():
        rate = median(runs, 0)
        tenants = 1 if storage == "one" else args.tenants
        per_sync = "–" if runs[0][4] is None else f"{statistics.median(r[6] / max(r[4], 1) for r in runs):.2f}"
        cpu = statistics.median(r[5] / r[6] * 1e6 for r in runs)
        print(f"| {name(storage, threads)} | {rate:,.0f} | {ratio(rate, one)} | {ratio(rate, best_files)} | "
              f"{median(runs, 1):.2f} ms | {median(runs, 2):.2f} ms | {per_sync} | {cpu:.0f} µs | "
              f"{median(runs, 3) / tenants:.1f} KiB |")
    print(f"\n{time.monotonic() - started:.0f} s in all; load {loadavg()}")


def name(storage, threads):
    if storage == "one":
        return "one pipeline, files"
    return f"{storage}, --threads {threads}"


def ratio(rate, baseline):
    return f"{rate / baseline:.1f}×" if baseline else "–"


if __name__ == "__main__":
    main()
