#!/usr/bin/env bash
# Runs every checkpoint benchmark (component, native, durable floor, Python seed,
# startup), writes target/bench-results.json and redraws docs/bench-write-vs-batch.svg.
# Extra arguments go to criterion, e.g. `--measurement-time 1` for a quick pass.
set -euo pipefail
cd "$(dirname "$0")/../../.."
cargo bench -p pipeline-checkpoint-host --bench checkpoint -- "$@"
python3 host-example/host/benches/plot.py
