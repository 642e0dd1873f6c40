#!/usr/bin/env python3
"""Peak resident memory (max RSS) of the real `host-example run` pipeline.

What it measures: the max RSS of the CLI binary, each case in a fresh process, for
  1. 10,000 generated messages (default batch of 100),
  2. 1,000,000 generated messages, --batch-size 1000,
  3. a ~130 MB JSON Lines source of 1,000,000 messages, written here deterministically,
     --batch-size 1000,
  4. a no-op rerun of case 3 on the same state directory (verify, resume at the end),
and whether every case stays within the 64 MiB target.

How: each run is started with subprocess.Popen and reaped with os.wait4(pid, 0), which
returns that child's own rusage (RUSAGE_CHILDREN would be the max over every child
waited for). Linux reports ru_maxrss in KiB. Caveat: the kernel carries the spawning
process's peak RSS into a child across exec, so a child's ru_maxrss is never below this
script's own peak; the script therefore streams the source file and prints that floor.

Run it from the workspace root (standard library only; builds nothing):
    python3 host-example/cli/benches/memory.py [--bin PATH] [--dir DIR]
Figures are printed and written as JSON to <workspace>/target/memory-results.json.
"""
import argparse
import json
import os
import resource
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[3]  # host-example/cli/benches/memory.py
TARGET_MIB = 64.0
LINES = 1_000_000
FILLER_LEN = 96  # 34 bytes of JSON around it + newline: 130 bytes a line, ~130 MB


def write_source(path):
    """Write LINES messages deterministically, in chunks so this process stays small."""
    base = (string.ascii_letters + string.digits) * 3
    with open(path, "w", encoding="ascii") as f:
        for start in range(1, LINES + 1, 10_000):
            f.write("".join(
                '{"id":"msg-%07d","payload":"%s"}\n' % (i, base[i % 62:i % 62 + FILLER_LEN])
                for i in range(start, min(start + 10_000, LINES + 1))))
    return path.stat().st_size


def measure(name, cmd, scratch, messages, source_bytes=None):
    out, err = scratch / f"{name}.stdout", scratch / f"{name}.stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=o, stderr=e)
        # wait4 reaps this child and returns its own rusage, not the max over children.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
    if proc.returncode != 0:
        sys.stderr.write(err.read_text(errors="replace"))
        raise SystemExit(f"{name}: {' '.join(map(str, cmd))} exited {proc.returncode}")
    rss_mib = usage.ru_maxrss / 1024  # Linux: KiB
    src = f"{source_bytes:,} source bytes" if source_bytes is not None else "generated"
    print(f"{name:<26} {messages:>9,} messages  {src:<27} {wall:7.2f} s  "
          f"peak RSS {rss_mib:5.1f} MiB", flush=True)
    return {"case": name, "messages": messages, "source_bytes": source_bytes,
            "wall_seconds": round(wall, 3), "peak_rss_kib": usage.ru_maxrss,
            "peak_rss_mib": round(rss_mib, 1),
            "stdout": out.read_text(errors="replace").strip().splitlines()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", type=Path, default=WORKSPACE / "target/debug/host-example")
    ap.add_argument("--dir", type=Path, help="scratch space (default: under target/tmp)")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        raise SystemExit(f"no executable at {args.bin}: build it first")
    base = args.dir or WORKSPACE / "target/tmp"
    base.mkdir(parents=True, exist_ok=True)
    # A fresh directory of our own inside it, so only what we create is removed.
    scratch = Path(tempfile.mkdtemp(prefix="memory-bench-", dir=base))
    try:
        run = lambda state, *extra: [str(args.bin), "--state-dir", str(scratch / state),
                                     "run", "--quiet", *extra]
        results = [
            measure("generated-10k", run("gen-10k", "--messages", "10000"), scratch, 10_000),
            measure("generated-1M", run("gen-1m", "--messages", str(LINES),
                                        "--batch-size", "1000"), scratch, LINES),
        ]
        source = scratch / "source.jsonl"
        size = write_source(source)
        src_cmd = run("source", "--source", str(source), "--batch-size", "1000")
        results.append(measure("source-130MB", src_cmd, scratch, LINES, size))
        # Same command, same state directory: the pipeline is complete, so a no-op rerun.
        results.append(measure("source-130MB-rerun", src_cmd, scratch, LINES, size))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    # Every child's ru_maxrss includes this script's own peak; report it as the floor.
    floor_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ok = all(r["peak_rss_mib"] <= TARGET_MIB for r in results)
    worst = max(results, key=lambda r: r["peak_rss_mib"])
    print(f"measurement floor (this script's own peak RSS): {floor_mib:.1f} MiB")
    print(f"{'every case within' if ok else 'NOT every case within'} the {TARGET_MIB:.0f} MiB "
          f"target (highest: {worst['case']}, {worst['peak_rss_mib']:.1f} MiB)")
    report = {"binary": str(args.bin), "target_mib": TARGET_MIB, "all_within_target": ok,
              "floor_mib": round(floor_mib, 1), "cases": results,
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    out = WORKSPACE / "target/memory-results.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
