#!/usr/bin/env python3
"""Writes synthetic ingest traces the sized policy was never tuned on, into the folder given
(default: a new temporary folder, printed), for `bench-policy --traces DIR`. Usage:
holdout-traces.py [DIR [SEED_BASE [DAYS]]] (seed base 1000, 14 days by default).

Deterministic (fixed seeds), 5-minute periods, 1 KB records:
- weekly: a daily cycle (1.5 -> 7 shards of load, different ramp times) with quieter
  weekends and 15% log-normal noise;
- random-walk: a geometric random walk between 0.5 and 20 shards of load;
- bursty-daily: a daily cycle with 3x bursts lasting 15 to 30 minutes at random times;
- flat-noisy: 3 shards of load with 30% white noise and a few missing periods.
"""
import csv
import datetime as dt
import math
import os
import random
import sys
import tempfile

PERIOD = 300
DAYS = 14
START = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)


def write(folder, name, needs):
    with open(os.path.join(folder, name + ".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "incoming_bytes", "incoming_records"])
        for i, need in enumerate(needs):
            if need is None:
                continue
            t = START + dt.timedelta(seconds=PERIOD * i)
            records = round(max(need, 0.0) * 1000 * PERIOD)
            w.writerow([t.strftime("%Y-%m-%dT%H:%M:%SZ"), records * 1024, records])


def periods():
    return range(DAYS * 86400 // PERIOD)


def whole(arg, what):
    try:
        return int(arg)
    except ValueError:
        sys.exit(f"holdout-traces.py: {what} {arg!r} is not a whole number")


def weekly(rng):
    out = []
    for i in periods():
        minute = (i * 5) % 1440
        day = (i * 5) // 1440
        weekend = day % 7 in (5, 6)
        high = 3.5 if weekend else 7.0
        up, down = 7 * 60 + 30, 20 * 60
        if minute < up:
            level = 1.5
        elif minute < up + 90:
            level = 1.5 + (high - 1.5) * (minute - up) / 90
        elif minute < down:
            level = high
        elif minute < down + 120:
            level = high - (high - 1.5) * (minute - down) / 120
        else:
            level = 1.5
        out.append(level * math.exp(rng.gauss(0, 0.15)))
    return out


def random_walk(rng):
    level, out = 3.0, []
    for _ in periods():
        level = min(20.0, max(0.5, level * math.exp(rng.gauss(0, 0.04))))
        out.append(level)
    return out


def bursty_daily(rng):
    out, burst = [], 0
    for i in periods():
        minute = (i * 5) % 1440
        level = 2.0 + 2.0 * math.sin(math.pi * (minute - 360) / 720) if 360 <= minute < 1080 else 2.0
        if burst == 0 and rng.random() < 1 / 72:
            burst = rng.randint(3, 6)
        if burst:
            level *= 3
            burst -= 1
        out.append(level * (1 + rng.uniform(-0.05, 0.05)))
    return out


def flat_noisy(rng):
    return [None if rng.random() < 0.01 else 3.0 * (1 + rng.uniform(-0.3, 0.3)) for _ in periods()]


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="holdout-traces-")
    # The seeds' base: 1000 is the held-out set BENCHMARKS.md measures; others (2000, 3000,
    # 4000) draw the same kinds of traces anew, to see whether a figure holds beyond it.
    base = whole(sys.argv[2], "seed base") if len(sys.argv) > 2 else 1000
    global DAYS
    DAYS = whole(sys.argv[3], "days") if len(sys.argv) > 3 else DAYS
    if DAYS < 1:
        sys.exit(f"holdout-traces.py: days {DAYS} is not a positive number")
    os.makedirs(folder, exist_ok=True)
    for seed, (name, make) in enumerate(
        [("weekly", weekly), ("random-walk", random_walk), ("bursty-daily", bursty_daily), ("flat-noisy", flat_noisy)]
    ):
        write(folder, name, make(random.Random(base + seed)))
    print(folder)


if __name__ == "__main__":
    main()
