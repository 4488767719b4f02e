#!/usr/bin/env python3
"""Victoria's half-hourly demand with three more future covariates, for timing the linear base.

Reads the Rdatasets collection's CSV of `vic_elec` (R package tsibbledata, GPL-3, not committed:
`Time,Demand,Temperature,Date,Holiday`, 52,608 half-hours) and writes
`Time,Demand,Temperature,Holiday,TempDay,Humidity,Solar`: the temperature's exponential moving
average (0.02 a half-hour), a humidity held to 5-100 that drifts toward 60 (steps N(0, 2)), and
the day's sine from 06:00 to 18:00 (counting from the table's first row) times a uniform
0.5-1; Python's `random.seed(1)`. With EXTRA, that many more columns `Extra1`, `Extra2`, ...:
each a slow random walk pulled toward 0 (steps N(0, 1), 2% back a half-hour), unrelated to the
demand (drawn from `random.Random(2)`: the other columns stay as without them), for timing a
base with more covariates than it can fit every candidate of.

usage: python3 bench/more_covariates.py vic_elec.csv OUT.csv [EXTRA]

Then, as in docs/forecasting.md ("Before the first step"):
  burn-rnn train configs/forecast.toml --out runs/vic5 --set data.csv=OUT.csv \\
    --set data.time=Time --set 'data.target=["Demand"]' \\
    --set 'data.future_covariates=["Temperature","Holiday","TempDay","Humidity","Solar"]' \\
    --set forecast.context=336 --set forecast.horizon=48 --set forecast.season=336 \\
    --set forecast.test=1488 --set train.steps=1
"""

import csv
import math
import random
import sys


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    source, out = sys.argv[1], sys.argv[2]
    extra = int(sys.argv[3]) if len(sys.argv) == 4 else 0
    random.seed(1)
    rows = list(csv.DictReader(open(source, newline="")))
    temps = [float(r["Temperature"]) for r in rows]
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Time", "Demand", "Temperature", "Holiday", "TempDay", "Humidity", "Solar"]
                   + [f"Extra{k + 1}" for k in range(extra)])
        smooth, humidity = temps[0], 60.0
        walks, rng = [0.0] * extra, random.Random(2)
        for i, r in enumerate(rows):
            smooth = 0.98 * smooth + 0.02 * temps[i]
            humidity = min(100, max(5, humidity + random.gauss(0, 2) - 0.05 * (humidity - 60)))
            hour = (i % 48) / 2
            solar = max(0, math.sin(math.pi * (hour - 6) / 12)) * (0.5 + 0.5 * random.random())
            walks = [0.98 * x + rng.gauss(0, 1) for x in walks]
            w.writerow([r["Time"], r["Demand"], r["Temperature"], r["Holiday"],
                        f"{smooth:.2f}", f"{humidity:.1f}", f"{solar:.3f}"]
                       + [f"{x:.2f}" for x in walks])


if __name__ == "__main__":
    main()
