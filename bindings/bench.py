"""The Python package beside the seed's class, and the JS package, in one run.

Runs bindings/python/bench/bench_write.py (under this interpreter, which must have the
package installed) and bindings/js/bench/bench_write.mjs (under node) alternately, PASSES
times each, so that a disk whose fsync drifts during the run drifts under every series;
reports per series the median of the passes' medians, the ratio to the seed's class, and
the load average before and after. Both scripts use the same inputs: batches of 100
UUID-shaped ids, offsets that strictly increase, the same durable steps.

Usage: python bindings/bench.py [--dir DIR] [--passes N] [--json FILE]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def run(command):
    result = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=str(HERE.parent / "target" / "tmp"), help="scratch directory on the disk to measure")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    python = [sys.executable, str(HERE / "python" / "bench" / "bench_write.py"), "--dir", args.dir]
    node = ["node", str(HERE / "js" / "bench" / "bench_write.mjs"), "--dir", args.dir]
    passes = {}
    load_before = loadavg()
    for _ in range(args.passes):
        for command in (python, node):
            # The previous script's deleted scratch files are still being written
            # back; flush them so that each script starts on a quiet disk.
            os.sync()
            for line in run(command):
                passes.setdefault(line["series"], []).append(line["ns_per_write"])
    load_after = loadavg()

    medians = {name: statistics.median(values) for name, values in passes.items()}
    print(f"load average {load_before} before, {load_after} after; {args.passes} passes of each script")
    print()
    print("| series | µs per write | × the seed's | spread of the passes (µs) |")
    print("|---|---:|---:|---|")
    for name, values in passes.items():
        base = medians["seed/memory" if "memory" in name else "seed/durable"]
        spread = ", ".join(f"{v / 1000:.1f}" for v in values)
        print(f"| `{name}` | {medians[name] / 1000:.1f} | {medians[name] / base:.2f} | {spread} |")
    if "js/floor" in medians:
        # The floor ran in the same process as js/durable, interleaved with it: the
        # ratio of the two is the package's own cost, whatever the disk did meanwhile.
        print()
        print(f"js/durable is {medians['js/durable'] / medians['js/floor']:.2f}× js/floor (the same steps without the package)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_before": load_before, "load_after": load_after, "passes": passes, "medians": medians}, f, indent=1)


if __name__ == "__main__":
    main()
