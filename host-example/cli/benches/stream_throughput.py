#!/usr/bin/env python3
"""Throughput of the real `host-example run` against Redis Streams, side by side with
the file pipeline, in one run.

What it measures, each case in a fresh process, alternating, ROUNDS times:
  files  `run --messages N --batch-size B` on a fresh state directory: the sink
         appended and fdatasynced, the record replaced durably, the ack log appended
         and fdatasynced, per batch;
  redis  `run --source redis://…/in --sink redis://…/out --batch-size B` over N entries
         loaded beforehand: per batch one round trip of XRANGE + XREADGROUP + XLEN, the
         append script, the record in the state directory (the same durable file
         replace), and XACK. redis-server runs with `appendfsync always`, so each
         append and each XACK is fsynced by Redis before it answers.
  redis, everysec  the same against a second redis-server with `appendfsync everysec`
         (Redis syncs once a second: not durable per write; it shows what Redis's
         fsyncs cost).
Reported: messages per second and checkpoints per second of the processing loop, as
the CLI prints them (startup excluded), median over the rounds.

Run it from the workspace root (needs redis-server and redis-cli; builds nothing):
    python3 host-example/cli/benches/stream_throughput.py [--bin PATH] [--messages N]
"""
import argparse
import re
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[3]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resp(*args):
    out = [f"*{len(args)}\r\n"]
    for a in args:
        a = str(a)
        out.append(f"${len(a.encode())}\r\n{a}\r\n")
    return "".join(out)


def load(port, stream, count):
    commands = "".join(
        resp("XADD", stream, "*", "n", n, "body", f'{{"event":{n}}}') for n in range(count)
    )
    subprocess.run(
        ["redis-cli", "-p", str(port), "--pipe"], input=commands.encode(), check=True,
        stdout=subprocess.DEVNULL,
    )


def rates(output):
    loop = re.search(r"(\d+) checkpoints in ([\d.]+) s", output)
    processed = re.search(r"processed (\d+) messages", output)
    if not loop or not processed:
        raise SystemExit(f"unexpected output:\n{output}")
    seconds = float(loop.group(2))
    return int(processed.group(1)) / seconds, int(loop.group(1)) / seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(WORKSPACE / "target/release/host-example"))
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        servers = {}
        for fsync in ("always", "everysec"):
            port = free_port()
            servers[fsync] = (port, subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                 "--dir", str(scratch / fsync), "--appendonly", "yes", "--appendfsync", fsync,
                 "--save", "", "--logfile", str(scratch / f"redis-{fsync}.log")]))
            (scratch / fsync).mkdir()
        try:
            for port, _ in servers.values():
                for _ in range(100):
                    if subprocess.run(["redis-cli", "-p", str(port), "ping"],
                                      capture_output=True).returncode == 0:
                        break
                    time.sleep(0.1)
            results = {"files": [], "redis": [], "redis, everysec": []}
            for round_ in range(args.rounds):
                state = scratch / f"files-{round_}"
                out = subprocess.run(
                    [args.bin, "--state-dir", str(state), "run", "--messages", str(args.messages),
                     "--batch-size", str(args.batch_size), "--quiet"],
                    capture_output=True, text=True, check=True).stdout
                results["files"].append(rates(out))
                for name, fsync in (("redis", "always"), ("redis, everysec", "everysec")):
                    port = servers[fsync][0]
                    stream = f"in-{round_}"
                    load(port, stream, args.messages)
                    url = f"redis://127.0.0.1:{port}"
                    out = subprocess.run(
                        [args.bin, "--state-dir", str(scratch / f"{fsync}-{round_}"), "run",
                         "--source", f"{url}/{stream}", "--sink", f"{url}/out-{round_}",
                         "--batch-size", str(args.batch_size), "--quiet"],
                        capture_output=True, text=True, check=True).stdout
                    results[name].append(rates(out))
            print(f"{args.messages} messages, batches of {args.batch_size}, "
                  f"median of {args.rounds} rounds, load average {open('/proc/loadavg').read().split()[0]}")
            print("| pipeline | messages/s | checkpoints/s |")
            print("|---|---:|---:|")
            for name, runs in results.items():
                messages = statistics.median(r[0] for r in runs)
                checkpoints = statistics.median(r[1] for r in runs)
                print(f"| {name} | {messages:,.0f} | {checkpoints:,.0f} |")
        finally:
            for _, server in servers.values():
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
