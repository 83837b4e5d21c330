#!/usr/bin/env python3
"""What any policy that only reacts to load it has seen can reach on a spiky trace.

For the issue-10 target on traces/synthetic-spikes.csv (throttled records at most half of
upstream's at no more than 1.5x its shard-hours), this computes two families of policies
far kinder than AWS allows (no reshard limits, any shard count, instant once decided):

- constant capacity: C shards all the time;
- hold the recent peak: C(t) = the largest load seen in the last H hours, known `delay`
  periods late (a 5-minute metric is read once its period ends, and a reshard takes a period).

Both read nothing but the trace. Usage:

    scripts/spike-frontier.py traces/synthetic-spikes.csv [--upstream-shard-hours 722]
"""
import argparse
import csv
import math


def load(path):
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(row for row in f if not row.startswith("#"))]
    # Shards of load per 300-s period: the larger of records and bytes, as the alarms' math.
    return [
        max(float(r["incoming_records"]) / 300 / 1000, float(r["incoming_bytes"]) / 300 / 1048576)
        for r in rows
    ]


def score(load_, capacity, period_hours):
    total = sum(load_)
    throttled = sum(max(0.0, x - c) for x, c in zip(load_, capacity))
    return 100.0 * throttled / total, sum(capacity) * period_hours


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace")
    parser.add_argument("--upstream-shard-hours", type=float, default=722.0,
                        help="upstream's shard-hours on this trace, from bench-policy")
    parser.add_argument("--delay", type=int, default=2, help="periods from load to capacity")
    args = parser.parse_args()
    load_ = load(args.trace)
    period_hours = 300 / 3600
    up = args.upstream_shard_hours
    print(f"{args.trace}: {len(load_)} periods; shard-hours relative to upstream's {up:.0f}\n")
    print("| policy | throttled | shard-hours | vs upstream |")
    print("| --- | ---: | ---: | ---: |")
    for c in [1, 2, 3, 4, 5, 6, 8]:
        t, h = score(load_, [c] * len(load_), period_hours)
        print(f"| constant {c} shards | {t:.1f}% | {h:.0f} | {h / up:.2f} |")
    for hours in [1, 2, 3, 4, 6, 8]:
        window = hours * 12
        capacity = []
        for i in range(len(load_)):
            j = i - args.delay
            seen = load_[max(0, j - window): j + 1] if j >= 0 else []
            capacity.append(max(1, math.ceil(max(seen))) if seen else 1)
        t, h = score(load_, capacity, period_hours)
        print(f"| hold the peak of the last {hours} h | {t:.1f}% | {h:.0f} | {h / up:.2f} |")


if __name__ == "__main__":
    main()
