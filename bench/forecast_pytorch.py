"""PyTorch with burn-rnn's forecaster: the same model, windows and batch, for the speed
comparison of `bench/forecast.sh` (training windows per second on the CPU).

usage: python3 bench/forecast_pytorch.py CONFIG [--steps N] [--threads N] [--backtest]

CONFIG is a burn-rnn forecast config (`task = "forecast"`): the table, its target, covariate and
calendar columns (and `data.series` of a long-format table: each series scaled on its own, the
batch's windows drawn across all of them), context, horizon, loss, model, batch and learning
rate are read from it. The model is burn-rnn's `Forecaster`: a recurrent encoder
(`nn.GRU`/`nn.LSTM`/`nn.RNN`, batch first) over `[B, C, D]`, its last step concatenated with the
horizon's known columns, a linear head to `[B, horizon * targets * P]` (zero at the start), plus
the seasonal-naive forecast read from the context; MAE or MSE (`P = 1`), or, for
`loss = "quantile"`, the quantiles built outwards from the median by softplus gaps in the
context's local scale and the pinball loss (`P` = the levels); Adam; global-norm clipping.
Prints `RESULT torch-forecast windows_per_s_median=..` over blocks of 50 steps after 20 warm-up
steps; with `--backtest`, then `RESULT torch-backtest ... seconds=..`: the wall time of the
model's forecasts from every `origin_every`-th origin of the test part (windows built, forward
passes in chunks of 4,096 without gradients, each series' mean absolute error), no baselines.
"""
import argparse, csv, math, os, statistics, sys, time, tomllib
from datetime import datetime

import numpy as np
import torch
from torch import nn


def load(config_path):
    """The config and a list of series, each `[steps, D]` (float32, scaled on its own)."""
    with open(config_path, "rb") as f:
        cfg = tomllib.load(f)
    base = os.path.dirname(os.path.abspath(config_path))
    data = cfg["data"]
    path = os.path.join(base, data["csv"])
    with open(path) as f:
        rows = list(csv.DictReader(f))
    groups = {}
    for r in rows:
        groups.setdefault(r[data["series"]] if data.get("series") else "", []).append(r)
    out = []
    for members in groups.values():
        series, j, p, k = one_series(data, members)
        out.append(series)
    return cfg, out, j, p, k


def one_series(data, rows):
    def col(name):
        out = []
        for r in rows:
            v = r[name].strip()
            out.append(float(v) if v not in ("", "NA", "NaN", "nan") else math.nan)
        a = np.array(out)
        # Linear interpolation of missing values, as burn-rnn's `missing = "interpolate"`.
        idx = np.arange(len(a)); ok = ~np.isnan(a)
        return np.interp(idx, idx[ok], a[ok])
    cols = [col(n) for n in data["target"]]
    past = [col(n) for n in data.get("past_covariates", [])]
    future = [col(n) for n in data.get("future_covariates", [])]
    known = list(future)
    if data.get("calendar") and data.get("time"):
        # The same number of calendar columns as burn-rnn uses for the frequency (values alike).
        t = [r[data["time"]] for r in rows]
        stamps = [parse_time(s) for s in t]
        step = stamps[1] - stamps[0]
        span = stamps[-1] - stamps[0]
        cycles = [c for c in (86400.0, 7 * 86400.0, 365 * 86400.0) if step < c and span >= 2 * c]
        for c in cycles:
            ph = 2 * math.pi * (np.array(stamps) % c) / c
            known += [np.sin(ph), np.cos(ph)]
    scale = lambda a: (a - a.mean()) / a.std()
    series = np.stack([scale(a) for a in cols + past + known], axis=1).astype(np.float32)
    return series, len(cols), len(past), len(known)


def parse_time(s):
    s = s.strip()
    for fmt in ("%Y-%m", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y%m%d"):
        try:
            return datetime.strptime(s, fmt).timestamp()
        except ValueError:
            pass
    return float(s)


class Forecaster(nn.Module):
    def __init__(self, cell, d, hidden, layers, dropout, targets, known, horizon, context, season,
                 levels):
        super().__init__()
        season = season if season <= context else 1
        # Step k starts from the context step one season (or several) earlier.
        self.base_rows = [context + k - season * (k // season + 1) for k in range(horizon)]
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}[cell]
        self.rnn = rnn(d, hidden, num_layers=layers, batch_first=True, dropout=dropout)
        self.p = len(levels) if levels else 1
        self.head = nn.Linear(hidden + horizon * known, horizon * targets * self.p)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.targets, self.horizon = targets, horizon
        if levels:
            m = min(range(len(levels)), key=lambda i: abs(levels[i] - 0.5))
            p = self.p
            sums = torch.tensor([[1.0 if (j == m or (j < m and i <= j) or (j > m and i >= j)) else 0.0
                                  for i in range(p)] for j in range(p)])
            self.register_buffer("sums", sums)
            self.register_buffer("at_median", torch.tensor([1.0 if i == m else 0.0 for i in range(p)]))
            self.register_buffer("sign", torch.tensor([float(np.sign(i - m)) for i in range(p)]))

    def forward(self, x, k):
        out, _ = self.rnn(x)
        h = out[:, -1]
        if k.shape[1]:
            h = torch.cat([h, k], 1)
        base = x[:, self.base_rows, : self.targets].reshape(x.shape[0], -1)
        raw = self.head(h)
        if self.p == 1:
            return raw + base
        b, n = base.shape
        # The spread in the context's local scale: its mean absolute step change.
        y = x[:, :, : self.targets]
        local = (y[:, 1:] - y[:, :-1]).abs().mean(1).clamp_min(1e-3)
        scale = local.repeat(1, self.horizon).reshape(b, n, 1)
        z = raw.reshape(b, n, self.p)
        steps = (z * self.at_median + nn.functional.softplus(z) * self.sign) * scale
        return (steps @ self.sums) + base.reshape(b, n, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--steps", type=int, default=320)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--backtest", action="store_true",
                    help="then time the backtest's forecasts (the model alone, no baselines)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    # Denormal floats flushed to zero, as burn-rnn's command line does: like for like.
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    cfg, all_series, j, p, k = load(a.config)
    f, m, t = cfg["forecast"], cfg.get("model", {}), cfg["train"]
    C, H, B = f["context"], f["horizon"], t.get("batch_size", 64)
    levels = f.get("quantiles", [0.1, 0.5, 0.9]) if f.get("loss", "mae") == "quantile" else None
    d = j + p + k
    model = Forecaster(m.get("cell", "gru"), d, m.get("hidden_size", 64), m.get("num_layers", 1),
                       m.get("dropout", 0.0), j, k, H, C, f.get("season", 1), levels)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.get("optim", {}).get("learning_rate", 3e-3))
    clip = cfg.get("clip", {}).get("max_norm", 1.0)
    # Every series' training windows, as (series, origin).
    windows = []
    for s, series in enumerate(all_series):
        n = len(series)
        train_end = n - f["test"] - max(H, (n - f["test"]) // 4)
        windows += [(s, o) for o in range(C, train_end - H + 1)]
    windows = np.array(windows)
    rng = np.random.default_rng(0)
    mse = f.get("loss", "mae") == "mse"
    tau = torch.tensor(levels).reshape(1, 1, -1) if levels else None

    def batch():
        pick = windows[rng.integers(0, len(windows), size=B)]
        x = np.stack([all_series[s][i - C:i] for s, i in pick])
        kn = np.stack([all_series[s][i:i + H, j + p:].reshape(-1) for s, i in pick])
        y = np.stack([all_series[s][i:i + H, :j].reshape(-1) for s, i in pick])
        return torch.from_numpy(x), torch.from_numpy(kn), torch.from_numpy(y)

    def step():
        x, kn, y = batch()
        pred = model(x, kn)
        if tau is not None:
            err = y.unsqueeze(2) - pred
            loss = (err * tau - err.clamp_max(0.0)).mean()
        else:
            err = pred - y
            loss = (err * err).mean() if mse else err.abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return loss.item()

    for _ in range(20):
        step()
    rates, block, t0 = [], 50, time.perf_counter()
    for s in range(1, a.steps + 1):
        step()
        if s % block == 0:
            now = time.perf_counter()
            rates.append(block * B / (now - t0))
            t0 = now
    print(f"torch {torch.__version__} threads={torch.get_num_threads()} context={C} horizon={H} batch={B} d={d} "
          f"series={len(all_series)} windows={len(windows)} outputs={model.p}", file=sys.stderr)
    print(f"RESULT torch-forecast windows_per_s_median={statistics.median(rates):.0f} "
          f"min={min(rates):.0f} max={max(rates):.0f}")
    if a.backtest:
        # The backtest's forecasts: every `origin_every`-th origin of each series' test part with
        # a whole horizon after it, built into windows and forecast in chunks of 4,096 without
        # gradients, and the mean absolute error of the point forecast per series.
        t0 = time.perf_counter()
        every = f.get("origin_every", 1)
        origins = [(s, o) for s, series in enumerate(all_series)
                   for o in range(len(series) - f["test"], len(series) - H + 1, every)]
        errors = np.zeros(len(all_series))
        with torch.inference_mode():
            for c in range(0, len(origins), 4096):
                pick = origins[c:c + 4096]
                x = torch.from_numpy(np.stack([all_series[s][i - C:i] for s, i in pick]))
                kn = torch.from_numpy(np.stack([all_series[s][i:i + H, j + p:].reshape(-1)
                                                for s, i in pick]))
                y = np.stack([all_series[s][i:i + H, :j].reshape(-1) for s, i in pick])
                pred = model(x, kn)
                point = pred[:, :, pred.shape[2] // 2] if pred.dim() == 3 else pred
                mae = np.abs(point.numpy() - y).mean(1)
                np.add.at(errors, [s for s, _ in pick], mae)
        seconds = time.perf_counter() - t0
        print(f"RESULT torch-backtest origins={len(origins)} horizon={H} seconds={seconds:.2f}")


if __name__ == "__main__":
    main()
