#!/usr/bin/env bash
# Reaction time and footprint of the release binary (BENCHMARKS.md, "Reaction time and
# footprint"): starts moto, builds the release binary, and runs scripts/bench_reaction.py,
# which prints a Markdown section to stdout. Extra arguments go to the Python script
# (--repeats N, --cold-starts N, --latency-ms N, --json FILE, --binary PATH).
# Set SKIP_BUILD=1 to measure the binary already in target/release.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
if [ "${SKIP_BUILD:-}" != 1 ]; then
  echo "==> cargo build --release" >&2
  cargo build --release --quiet
fi
start_emulators
"$VENV/bin/python" scripts/bench_reaction.py "$@"
