"""PyTorch reference for quality per unit of time: a char RNN/LSTM/GRU on tinyshakespeare trained
for a wall-time budget, then its validation loss (nats/char) on the last 10% of the file.

usage: python3 bench/pytorch_quality.py --config configs/cpu_10min.toml [--seconds 600]
           [--threads N] [--device cpu|cuda] [--isa native|avx2]
       python3 bench/pytorch_quality.py --cell lstm --layers 2 --hidden 128 --emb 64 --seq 50 \\
           --batch 50 --seconds 600 [--dropout 0] [--lr 2e-3] [--schedule constant|cosine] \\
           [--warmup 0] [--min-lr 0] [--optimizer adam|adamw] [--weight-decay 0] [--eval-interval 500]

With `--config`, everything comes from a burn-rnn config (model sizes, dropout, forget-gate
bias, sequence length, batch, optimiser and weight decay, learning rate and its schedule, warm-up,
clipping, evaluation
interval, and `train.time_budget` as the budget unless `--seconds` is given), so the comparison
is like for like. The budget is spent as `burn-rnn train` spends `train.time_budget`: a
throwaway copy of the model trains for about 2% of the budget (at least 8 steps, at most 20 s)
and one evaluation is timed; the run then takes the most steps that, with an evaluation every
`eval_interval` steps and at the end, fit in what is left (less 2%), and spreads the schedule
over them. Without a budget in the config and without `--seconds`, `--steps N` fixes the count.

Split: first 90% train, last 10% validation. Adam (L2 weight decay, as Burn's `Adam`) or AdamW
(decoupled, as Burn's `AdamW`), global-norm clip, random training windows,
validation over non-overlapping windows of the whole split from a zero state: the protocol of
`burn-rnn eval` and of the run folders' `val_loss`. Prints the validation loss at every
evaluation, then one RESULT line with the final and the best. Needs `pip install torch numpy`.
"""
import argparse, copy, math, os, pathlib, sys, time, tomllib

# `--isa avx2` limits PyTorch's CPU kernels to AVX2 (ATen, oneDNN and MKL; see pytorch_bench.py).
AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
if "avx2" in [v.split("=")[-1] for v in sys.argv if v.startswith("--isa")] + \
        [sys.argv[i + 1] for i, v in enumerate(sys.argv[:-1]) if v == "--isa"]:
    if any(os.environ.get(k) != v for k, v in AVX2_ENV.items()):
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **AVX2_ENV})

import numpy as np
import torch
import torch.nn as nn

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "tinyshakespeare.txt"


def duration(text):
    """burn-rnn's time budget syntax: "90s", "10m", "1h30m"."""
    secs, num = 0.0, ""
    for ch in text.replace(" ", ""):
        if ch.isdigit() or ch == ".":
            num += ch
        else:
            secs += float(num) * {"h": 3600, "m": 60, "s": 1}[ch]
            num = ""
    if num:
        raise ValueError(f"no unit in {text!r}")
    return secs


ap = argparse.ArgumentParser()
ap.add_argument("--config")
ap.add_argument("--cell", default="lstm"); ap.add_argument("--layers", type=int, default=2)
ap.add_argument("--hidden", type=int, default=128); ap.add_argument("--emb", type=int, default=64)
ap.add_argument("--seq", type=int, default=50); ap.add_argument("--batch", type=int, default=50)
ap.add_argument("--dropout", type=float, default=0.0); ap.add_argument("--lr", type=float, default=2e-3)
ap.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
ap.add_argument("--warmup", type=int, default=0); ap.add_argument("--min-lr", type=float, default=0.0)
ap.add_argument("--forget-bias", type=float); ap.add_argument("--clip", type=float, default=5.0)
ap.add_argument("--optimizer", choices=["adam", "adamw"], default="adam")
ap.add_argument("--weight-decay", type=float, default=0.0)
ap.add_argument("--eval-interval", type=int, default=500)
ap.add_argument("--seconds", type=float); ap.add_argument("--steps", type=int)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--device", default="cpu"); ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--isa", choices=["native", "avx2"], default="native")
a = ap.parse_args()
if a.config:
    c = tomllib.loads(pathlib.Path(a.config).read_text())
    m_, d_, o_, t_ = c["model"], c["data"], c.get("optim", {}), c.get("train", {})
    a.cell, a.layers, a.hidden, a.emb = m_["cell"], m_.get("num_layers", 1), m_["hidden_size"], m_["embedding_size"]
    a.dropout, a.forget_bias = m_.get("dropout", 0.0), m_.get("forget_bias")
    a.seq, a.batch = d_["seq_len"], d_["batch_size"]
    a.lr, a.schedule = o_.get("learning_rate", 2e-3), o_.get("schedule", "constant")
    a.warmup, a.min_lr = o_.get("warmup_steps", 0), o_.get("min_lr", 0.0)
    a.clip = c.get("clip", {}).get("max_norm", 5.0)
    a.eval_interval = t_.get("eval_interval", 200)
    if a.seconds is None and "time_budget" in t_:
        a.seconds = duration(t_["time_budget"])
    if a.seconds is None and a.steps is None:
        a.steps = t_.get("steps")
    a.optimizer, a.weight_decay = o_.get("optimizer", "adam"), o_.get("weight_decay", 0.0)
    if a.optimizer not in ("adam", "adamw") or d_.get("batching", "random") != "random":
        sys.exit("this script trains with Adam or AdamW on random windows only")
if a.seconds is None and a.steps is None:
    sys.exit("give --seconds or --steps (or a config with train.time_budget or train.steps)")
torch.set_num_threads(a.threads); torch.manual_seed(a.seed); rng = np.random.default_rng(a.seed)

text = DATA.read_text()
chars = sorted(set(text)); V = len(chars); idx = {ch: i for i, ch in enumerate(chars)}
ids = np.array([idx[ch] for ch in text], dtype=np.int64)
n = int(0.9 * len(ids)); train_ids, val_ids = ids[:n], ids[n:]


class M(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(V, a.emb)
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[a.cell]
        s.rnn = cls(a.emb, a.hidden, num_layers=a.layers, batch_first=True,
                    dropout=a.dropout if a.layers > 1 else 0.0)
        s.drop = nn.Dropout(a.dropout); s.head = nn.Linear(a.hidden, V)
        if a.cell == "lstm" and a.forget_bias is not None:
            H = a.hidden
            with torch.no_grad():
                for k in range(a.layers):
                    getattr(s.rnn, f"bias_ih_l{k}")[H:2 * H] = a.forget_bias
                    getattr(s.rnn, f"bias_hh_l{k}")[H:2 * H] = 0.0

    def forward(s, x):
        o, _ = s.rnn(s.emb(x)); return s.head(s.drop(o))


def lr_at(step, total):
    """burn-rnn's schedule (`RunConfig::learning_rate`)."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    if a.schedule == "cosine":
        progress = min((step - a.warmup) / max(total - a.warmup, 1), 1.0)
        return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * progress))
    return a.lr


lf = nn.CrossEntropyLoss()


@torch.no_grad()
def evaluate(m):
    m.eval(); T = a.seq; tot = 0.0; cnt = 0
    nw = (len(val_ids) - 1) // T
    X = torch.from_numpy(val_ids[: nw * T].reshape(nw, T)).to(a.device)
    Y = torch.from_numpy(val_ids[1: nw * T + 1].reshape(nw, T)).to(a.device)
    for i in range(0, nw, 256):
        lg = m(X[i:i + 256]); tot += lf(lg.reshape(-1, V), Y[i:i + 256].reshape(-1)).item() * Y[i:i + 256].numel(); cnt += Y[i:i + 256].numel()
    m.train(); return tot / cnt


def step(m, opt, lr):
    off = rng.integers(0, len(train_ids) - a.seq - 1, size=a.batch)
    w = np.stack([train_ids[o:o + a.seq + 1] for o in off])
    x = torch.from_numpy(w[:, :-1].copy()).to(a.device); y = torch.from_numpy(w[:, 1:].copy()).to(a.device)
    for g in opt.param_groups:
        g["lr"] = lr
    loss = lf(m(x).reshape(-1, V), y.reshape(-1))
    opt.zero_grad(set_to_none=True); loss.backward()
    if a.clip > 0:
        torch.nn.utils.clip_grad_norm_(m.parameters(), a.clip)
    opt.step()
    return loss.item()


t0 = time.perf_counter()
def optimiser(m):
    cls = torch.optim.AdamW if a.optimizer == "adamw" else torch.optim.Adam
    return cls(m.parameters(), lr=a.lr, weight_decay=a.weight_decay)


m = M().to(a.device); opt = optimiser(m)
total = a.steps
if a.seconds is not None and total is None:
    # Calibration on a throwaway copy (burn-rnn's src/train/budget.rs).
    cm, co = copy.deepcopy(m), None
    co = optimiser(cm); co.load_state_dict(opt.state_dict())
    state = rng.bit_generator.state
    times, k, begun = [], 0, time.perf_counter()
    limit = min(a.seconds * 0.02, 20.0)
    while k < 8 or (time.perf_counter() - begun < limit and k < 10000):
        t = time.perf_counter(); step(cm, co, lr_at(0, 1))
        if k >= 2:
            times.append(time.perf_counter() - t)
        k += 1
    rng.bit_generator.state = state
    step_s = sum(times) / len(times)  # the mean, as burn-rnn's calibration
    eval_s = float("inf")
    for _ in range(2):
        t = time.perf_counter(); evaluate(cm); eval_s = min(eval_s, time.perf_counter() - t)
    del cm, co
    left = (a.seconds - (time.perf_counter() - t0)) * 0.98
    I = a.eval_interval
    cost = lambda n: n * step_s + (n // I + (n % I != 0)) * eval_s
    total = int(left / (step_s + eval_s / I)) + 1
    while total > 1 and cost(total) > left:
        total -= 1
    print(f"time budget {a.seconds:.0f} s: {total} steps fit ({step_s * 1e3:.1f} ms per step, "
          f"{eval_s:.2f} s per evaluation every {I} steps; calibrated in {time.perf_counter() - t0:.1f} s)",
          flush=True)
print(f"torch {torch.__version__} threads={torch.get_num_threads()} "
      f"cpu_capability={torch.backends.cpu.get_cpu_capability()} "
      f"mkl_isa={os.environ.get('MKL_ENABLE_INSTRUCTIONS', 'native')} device={a.device} "
      f"optimizer={a.optimizer} weight_decay={a.weight_decay} dropout={a.dropout}", flush=True)

best = float("inf"); vl = None
for s in range(total):
    loss = step(m, opt, lr_at(s, total))
    done = s + 1
    if done % a.eval_interval == 0 or done == total:
        vl = evaluate(m); best = min(best, vl)
        print(f"t={time.perf_counter() - t0:6.0f}s step {done}/{total} train {loss:.3f} val {vl:.4f}", flush=True)
el = time.perf_counter() - t0
toks = total * a.batch * a.seq
print(f"RESULT torch {a.cell} {a.layers}x{a.hidden} seconds={el:.0f} steps={total} tokens={toks} "
      f"tok_per_s={toks / el:.0f} val_loss={vl:.4f} best_val_loss={best:.4f} val_bpc={vl / math.log(2):.4f}")
