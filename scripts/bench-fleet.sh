#!/usr/bin/env bash
# Fleet scale (BENCHMARKS.md, "Fleet scale"): reconcile time for N wired streams (1,000 by
# default, extrapolated to 10,000) and burst time for M scale events against the quota floor,
# with moto behind scripts/aws_proxy.py enforcing AWS's default per-account API quotas and
# adding 20 ms a call. Prints a Markdown section. Arguments go to scripts/bench_fleet.py:
# --streams N, --events M, --workers W, --latency-ms MS, --drift-every K.
# The binary is the dev build (the run waits on quotas, not on the CPU); PROFILE=release
# builds and measures the release binary instead.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
profile="${PROFILE:-dev}"
echo "==> cargo build --profile $profile" >&2
cargo build --quiet --profile "$profile"
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
start_emulators
"$VENV/bin/python" scripts/bench_fleet.py --binary "target/$dir/kinesis-autoscaler" "$@"
