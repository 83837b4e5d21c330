#!/usr/bin/env bash
# The tuned policy against upstream's on many draws of one held-out kind (BENCHMARKS.md,
# "Throttling budget", *Many draws*): writes DRAWS traces of KIND with seed bases 1000,
# 2000, ... (scripts/holdout-traces.py, DAYS long), replays each with `bench-policy`, and
# prints each draw's tuned and upstream figures, then the means. One more column is the Go
# Lambda's own policy started one shard above where the replay starts it
# (`simulate --scaling-policy upstream --initial-shards N+1`): how far upstream's figure moves
# with nothing but its starting count, the noise any per-draw comparison carries.
# Usage: scripts/bench-draws.sh [DRAWS [DAYS [KIND]]] (20, 14, bursty-daily).
# Extra bench-policy arguments go in BENCH_ARGS (e.g. "--throttle-budget 0.001").
# Set SKIP_BUILD=1 to replay with the binary already in target/release.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

draws=${1:-20}
days=${2:-14}
kind=${3:-bursty-daily}
if [ "${SKIP_BUILD:-}" != 1 ]; then
  echo "==> cargo build --release" >&2
  cargo build --release --quiet --bin kinesis-autoscaler
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/draws"
for i in $(seq 1 "$draws"); do
  python3 scripts/holdout-traces.py "$work/one" $((i * 1000)) "$days" >/dev/null
  if [ ! -f "$work/one/$kind.csv" ]; then
    echo "bench-draws: KIND '$kind' is not one of: $(cd "$work/one" && ls | sed 's/\.csv$//' | xargs)" >&2
    exit 2
  fi
  cp "$work/one/$kind.csv" "$work/draws/$kind-$((i * 1000)).csv"
done
echo "==> bench-policy on $draws draws of $kind, $days days each" >&2
# shellcheck disable=SC2086 # BENCH_ARGS is a list of arguments
./target/release/kinesis-autoscaler bench-policy --traces "$work/draws" ${BENCH_ARGS:-} \
  >"$work/table.md"
python3 - "$work/table.md" "$work/draws" <<'PY'
import json
import subprocess
import sys

rows = [line.split("|") for line in open(sys.argv[1]) if line.startswith("| ")]
def pct(cell):
    return float(cell.strip().rstrip("%"))
upstream = {r[1].strip(): r for r in rows if r[2].strip() == "upstream Go Lambda"}
tuned = sorted((r for r in rows if r[2].strip().startswith("ours tuned")),
               key=lambda r: int(r[1].strip().rsplit("-", 1)[-1]))
if not tuned:
    sys.exit("bench-draws: bench-policy printed no tuned rows")


def upstream_replay(trace, *extra):
    args = ["./target/release/kinesis-autoscaler", "simulate", "--trace", trace,
            "--scaling-policy", "upstream", "--json", *extra]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def within(ours, theirs):
    return ours <= max(1.02 * theirs, 0.1)


print("| draw | tuned / upstream shard-hours | throttled, tuned | throttled, upstream | upstream from one shard more |")
print("| --- | ---: | ---: | ---: | ---: |")
kept = moved = 0
sums = [0.0, 0.0, 0.0, 0.0]
for r in tuned:
    name = r[1].strip()
    ratio, ours, theirs = float(r[5]), pct(r[6]), pct(upstream[name][6])
    trace = f"{sys.argv[2]}/{name}.csv"
    start = upstream_replay(trace)["initial_shards"]
    shifted = 100 * upstream_replay(trace, "--initial-shards", str(start + 1))["throttled_fraction"]
    kept += within(ours, theirs) and ratio <= 1.0
    moved += within(shifted, theirs)
    for k, v in enumerate((ratio, ours, theirs, shifted)):
        sums[k] += v
    print(f"| {name} | {ratio:.2f} | {ours:.3f}% | {theirs:.3f}% | {shifted:.3f}% |")
n = len(tuned)
print()
print(f"Means over {n} draws: tuned {sums[0] / n:.3f} of upstream's shard-hours, throttled "
      f"{sums[1] / n:.3f}% against upstream's {sums[2] / n:.3f}% "
      f"(from one shard more: {sums[3] / n:.3f}%). Within upstream's throttling (+2% or 0.1%): "
      f"tuned, at no more than its cost, on {kept} of {n} draws; upstream's own policy from one "
      f"shard more on {moved} of {n}.")
PY
