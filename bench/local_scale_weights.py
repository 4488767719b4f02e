#!/usr/bin/env python3
"""Interval widths from the local scale with recent changes weighted more: a simulation on prices.

The forecaster measures a price's interval in the window's local scale, the mean absolute change
over the context's steps, all weighted alike. Prices cluster their volatility (a calm month, then
a crash), so a scale that weighs the last changes more (exponentially, as RiskMetrics does) might
widen the interval sooner. This simulates both on the price tables that `bench/forecast_kinds.py`
writes, with naive's errors standing in for the model's (the model is within a few percent of
naive on every price): context 36, horizon 5, the last 250 days tested (Apple and Microsoft: 100),
the validation part the training part's last quarter; for each horizon step, the errors divided by
the scale, their 9% and 91% quantiles over the validation part (each tail read at 90% of its mass,
as `interval::TAIL_KEPT`) times the test window's scale (at least half the validation windows'
median) give the 80% interval. No online adaptation. Prints each series' coverage and the mean
quantile loss of the 10%, 50% and 90% quantiles relative to the equal weights', then the mean
coverage and the geometric mean of the loss ratios.

usage: python3 bench/local_scale_weights.py [DATA]   (DATA: forecast_kinds.py's --data folder,
  default runs/forecast_kinds/data; run `forecast_kinds.py BIN goog dax ftse aapl random_walk
  sp500 mark_usd` once to write its tables)
"""

import os
import sys

import numpy as np
import pandas as pd

CONTEXT, HORIZON = 36, 5
KINDS = ["equal", "ewma 0.97", "ewma 0.94", "ewma 0.9", "last 18"]


def tables(data):
    read = lambda name: pd.read_csv(os.path.join(data, name))
    eu, tech, rates = read("eu_stocks.csv"), read("tech_stocks.csv"), read("exchange_rates.csv")
    series = {"goog": read("goog.csv")["close"], "random_walk": read("random_walk.csv")["price"],
              "sp500": read("sp500.csv")["Close"]}
    series.update({c.lower(): eu[c] for c in ["DAX", "SMI", "CAC", "FTSE"]})
    series.update({c.lower(): tech[c] for c in ["AAPL", "MSFT"]})
    series.update({f"{c}_usd": rates[c] for c in ["dm", "bp", "cd", "sf", "dy"]})
    return {k: np.asarray(v, float) for k, v in series.items()}


def weights(kind):
    n = CONTEXT - 1
    if kind == "equal":
        return np.ones(n)
    if kind.startswith("ewma"):
        return float(kind.split()[1]) ** np.arange(n - 1, -1, -1)
    w = np.zeros(n)
    w[-int(kind.split()[1]):] = 1
    return w


def simulate(x, test, kind):
    w = weights(kind)
    train = len(x) - test
    val = max(HORIZON, train // 4)

    def errors(origins):
        e = np.array([[x[t + h] - x[t - 1] for h in range(HORIZON)] for t in origins])
        s = np.array([(np.abs(np.diff(x[t - CONTEXT:t])) * w).sum() / w.sum() for t in origins])
        return e, s

    ev, sv = errors(range(train - val, train - HORIZON + 1))
    z = ev / np.maximum(sv, 1e-12)[:, None]
    lo, hi = np.quantile(z, 0.09, axis=0), np.quantile(z, 0.91, axis=0)
    et, st = errors(range(train, len(x) - HORIZON + 1))
    st = np.maximum(st, 0.5 * np.median(sv))
    low, high = lo[None, :] * st[:, None], hi[None, :] * st[:, None]
    cover = ((et >= low) & (et <= high)).mean()
    pinball = lambda q, p: np.mean(np.maximum(q * (et - p), (q - 1) * (et - p)))
    return cover, (pinball(0.1, low) + pinball(0.5, 0 * low) + pinball(0.9, high)) / 3


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "runs/forecast_kinds/data"
    print("| series | " + " | ".join(KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    results = {k: [] for k in KINDS}
    for name, x in tables(data).items():
        test = 100 if name in ("aapl", "msft") else 250
        row = [simulate(x, test, k) for k in KINDS]
        for k, (c, q) in zip(KINDS, row):
            results[k].append((c, q / row[0][1]))
        print(f"| {name} | " + " | ".join(f"{100 * c:.1f}%, {q / row[0][1]:.3f}" for c, q in row)
              + " |")
    print("| mean coverage, geometric mean of the loss ratios | " + " | ".join(
        f"{100 * np.mean([c for c, _ in results[k]]):.1f}%, "
        f"{np.exp(np.mean(np.log([q for _, q in results[k]]))):.3f}" for k in KINDS) + " |")


if __name__ == "__main__":
    main()
