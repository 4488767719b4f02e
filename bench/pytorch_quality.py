"""PyTorch reference for quality per unit of time: train a char LSTM/GRU/RNN on tinyshakespeare
for a fixed wall-clock budget, then report validation loss (nats/char) on the last 10% of the file.

usage: python3 bench/pytorch_quality.py --cell lstm --layers 2 --hidden 128 --emb 64 --seq 50 --batch 50 \
           --seconds 600 [--dropout 0] [--lr 2e-3] [--device cpu] [--threads N]

Split: first 90% train, last 10% validation (as nanoGPT's shakespeare_char). Adam, global-norm clip 5,
random training windows, validation over non-overlapping windows of the whole split: the protocol of
`burn-rnn eval` and of the run folders' `val_loss`. Needs `pip install torch numpy`.
"""
import argparse, math, os, pathlib, time
import numpy as np
import torch
import torch.nn as nn

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "tinyshakespeare.txt"

ap = argparse.ArgumentParser()
ap.add_argument("--cell", default="lstm"); ap.add_argument("--layers", type=int, default=2)
ap.add_argument("--hidden", type=int, default=128); ap.add_argument("--emb", type=int, default=64)
ap.add_argument("--seq", type=int, default=50); ap.add_argument("--batch", type=int, default=50)
ap.add_argument("--dropout", type=float, default=0.0); ap.add_argument("--lr", type=float, default=2e-3)
ap.add_argument("--seconds", type=float, default=600); ap.add_argument("--device", default="cpu")
ap.add_argument("--threads", type=int, default=os.cpu_count()); ap.add_argument("--eval-every", type=float, default=60)
a = ap.parse_args()
torch.set_num_threads(a.threads); torch.manual_seed(0); rng = np.random.default_rng(0)

text = DATA.read_text()
chars = sorted(set(text)); V = len(chars); idx = {c: i for i, c in enumerate(chars)}
ids = np.array([idx[c] for c in text], dtype=np.int64)
n = int(0.9 * len(ids)); train_ids, val_ids = ids[:n], ids[n:]

class M(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(V, a.emb)
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[a.cell]
        s.rnn = cls(a.emb, a.hidden, num_layers=a.layers, batch_first=True,
                    dropout=a.dropout if a.layers > 1 else 0.0)
        s.drop = nn.Dropout(a.dropout); s.head = nn.Linear(a.hidden, V)
    def forward(s, x):
        o, _ = s.rnn(s.emb(x)); return s.head(s.drop(o))

m = M().to(a.device); opt = torch.optim.Adam(m.parameters(), lr=a.lr); lf = nn.CrossEntropyLoss()

@torch.no_grad()
def evaluate():
    m.eval(); T = a.seq; tot = 0.0; cnt = 0
    nw = (len(val_ids) - 1) // T
    X = torch.from_numpy(val_ids[: nw * T].reshape(nw, T)).to(a.device)
    Y = torch.from_numpy(val_ids[1: nw * T + 1].reshape(nw, T)).to(a.device)
    for i in range(0, nw, 256):
        lg = m(X[i:i + 256]); tot += lf(lg.reshape(-1, V), Y[i:i + 256].reshape(-1)).item() * Y[i:i + 256].numel(); cnt += Y[i:i + 256].numel()
    m.train(); return tot / cnt

t0 = time.perf_counter(); last_eval = t0; steps = 0; toks = 0
while time.perf_counter() - t0 < a.seconds:
    off = rng.integers(0, len(train_ids) - a.seq - 1, size=a.batch)
    w = np.stack([train_ids[o:o + a.seq + 1] for o in off])
    x = torch.from_numpy(w[:, :-1].copy()).to(a.device); y = torch.from_numpy(w[:, 1:].copy()).to(a.device)
    loss = lf(m(x).reshape(-1, V), y.reshape(-1))
    opt.zero_grad(set_to_none=True); loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 5.0); opt.step()
    steps += 1; toks += a.batch * a.seq
    if time.perf_counter() - last_eval > a.eval_every:
        last_eval = time.perf_counter()
        print(f"t={last_eval - t0:6.0f}s step {steps} train {loss.item():.3f} val {evaluate():.4f}", flush=True)
el = time.perf_counter() - t0; vl = evaluate()
print(f"RESULT torch {a.cell} {a.layers}x{a.hidden} seconds={el:.0f} steps={steps} tokens={toks} "
      f"tok_per_s={toks/el:.0f} val_loss={vl:.4f} val_bpc={vl/math.log(2):.4f}")
