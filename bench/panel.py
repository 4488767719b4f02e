#!/usr/bin/env python3
"""A generated long-format table of many hourly meters, for the many-series speed measurements.

Writes `time,meter,load`: METERS hourly meters of STEPS steps each from 2024-01-01 00:00, each
with a level between 5 and 500 (log-uniform) drifting slowly (a random walk of 0.2% an hour in
the log), a daily cycle of random amplitude (10-50% of the level) and phase, a weekend step (the
level times 0.7-1.1 on Saturdays and Sundays) and 5% noise; numpy `default_rng(SEED)`. The
meters' rows follow each other (meter 0's steps, then meter 1's, ...).

usage: python3 bench/panel.py OUT.csv [--meters 1000] [--steps 1000] [--seed 0]   (needs numpy)

Then, as in docs/forecasting.md ("1,000 series of 1,000 steps"):
  burn-rnn train configs/forecast.toml --out runs/panel --set data.csv=OUT.csv \\
    --set data.series=meter --set data.time=time --set 'data.target=["load"]' \\
    --set forecast.context=72 --set forecast.horizon=24 --set forecast.season=24 \\
    --set forecast.test=168 --set forecast.origin_every=24 --set train.time_budget=2m
  burn-rnn eval --run runs/panel
"""

import argparse
import datetime

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--meters", type=int, default=1000)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    start = datetime.datetime(2024, 1, 1)
    times = [(start + datetime.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%S")
             for h in range(a.steps)]
    hour = np.arange(a.steps) % 24
    weekend = np.array([(start + datetime.timedelta(hours=int(h))).weekday() >= 5
                        for h in range(a.steps)])
    with open(a.out, "w") as f:
        f.write("time,meter,load\n")
        for m in range(a.meters):
            level = np.exp(rng.uniform(np.log(5), np.log(500))
                           + np.cumsum(rng.normal(0, 0.002, a.steps)))
            amplitude, phase = rng.uniform(0.1, 0.5), rng.uniform(0, 2 * np.pi)
            daily = 1 + amplitude * np.sin(2 * np.pi * hour / 24 + phase)
            week = np.where(weekend, rng.uniform(0.7, 1.1), 1.0)
            load = level * daily * week * (1 + rng.normal(0, 0.05, a.steps))
            name = f"m{m:04d}"
            f.writelines(f"{t},{name},{v:.3f}\n" for t, v in zip(times, load))


if __name__ == "__main__":
    main()
