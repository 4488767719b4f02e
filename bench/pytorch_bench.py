"""PyTorch reference for burn-rnn's benchmark workloads: char-level RNN/LSTM/GRU on tinyshakespeare.

usage: python3 bench/pytorch_bench.py <S|M|L|G|sample|all> [--threads N] [--device cpu|cuda] [--tf32 off|on] [--seconds N]
       [--isa native|avx2] [--compile]

The workloads are those of `burn-rnn bench` (src/bench.rs); the corpus is the project's
data/tinyshakespeare.txt. Needs `pip install torch numpy`; the project itself never needs Python.

Training step = forward + cross-entropy at every step + backward + global-norm clip (5.0) + Adam(2e-3),
on random windows of the corpus. Prints one RESULT line per workload: median tokens/s and the spread.
"""
import argparse, os, time, statistics, sys

# `--isa avx2` limits every CPU kernel PyTorch runs to AVX2: its own (ATen), oneDNN's and MKL's
# (MKL ignores the first two; without MKL_ENABLE_INSTRUCTIONS its sgemm keeps using AVX-512).
# They are read when torch loads, so the script runs itself again with them set.
AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
if "avx2" in [v.split("=")[-1] for v in sys.argv if v.startswith("--isa")] + \
        [sys.argv[i + 1] for i, v in enumerate(sys.argv[:-1]) if v == "--isa"]:
    if any(os.environ.get(k) != v for k, v in AVX2_ENV.items()):
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **AVX2_ENV})

import numpy as np
import torch
import torch.nn as nn

CFGS = {
    "S": dict(kind="rnn", layers=1, hidden=128, emb=64, seq=50, batch=32),
    "M": dict(kind="lstm", layers=2, hidden=128, emb=64, seq=50, batch=50),
    "L": dict(kind="lstm", layers=2, hidden=512, emb=128, seq=100, batch=64),
    "G": dict(kind="gru", layers=2, hidden=256, emb=64, seq=64, batch=32),
}
import pathlib
DATA = str(pathlib.Path(__file__).resolve().parent.parent / "data" / "tinyshakespeare.txt")
DEVICE = "cpu"


class CharModel(nn.Module):
    def __init__(self, kind, layers, hidden, emb, vocab=65, **_):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        kw = dict(nonlinearity="tanh") if kind == "rnn" else {}
        self.rnn = cls(emb, hidden, num_layers=layers, batch_first=True, **kw)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state


def load():
    text = open(DATA).read()
    chars = sorted(set(text))
    assert len(chars) == 65
    idx = {c: i for i, c in enumerate(chars)}
    return np.array([idx[c] for c in text], dtype=np.int64)


def train(name, ids, compile_=False, min_steps=10, min_secs=20.0, max_secs=60.0):
    c = CFGS[name]
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = CharModel(**c).to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    lossf = nn.CrossEntropyLoss()
    B, T = c["batch"], c["seq"]

    def step_fn(x, y):
        logits, _ = model(x)
        loss = lossf(logits.reshape(B * T, 65), y.reshape(B * T))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)  # global norm
        opt.step()
        return loss

    fwd = model
    if compile_:
        model_c = torch.compile(model)

        def step_fn(x, y):  # noqa: F811
            logits, _ = model_c(x)
            loss = lossf(logits.reshape(B * T, 65), y.reshape(B * T))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            return loss

    def batch():
        off = rng.integers(0, len(ids) - T - 1, size=B)
        w = np.stack([ids[o:o + T + 1] for o in off])
        return (torch.from_numpy(w[:, :-1].copy()).to(DEVICE),
                torch.from_numpy(w[:, 1:].copy()).to(DEVICE))

    for i in range(3):
        t0 = time.perf_counter()
        loss = step_fn(*batch()).item()
        print(f"  warmup {i}: {time.perf_counter()-t0:.4f}s loss {loss:.3f}", file=sys.stderr)
    times = []
    tstart = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        x, y = batch()
        loss = step_fn(x, y).item()
        times.append(time.perf_counter() - t0)
        el = time.perf_counter() - tstart
        if (len(times) >= min_steps and el >= min_secs) or (len(times) >= 5 and el >= max_secs) or len(times) >= 5000:
            break
    tok = B * T
    tps = [tok / t for t in times]
    med = statistics.median(times)
    tag = "torch-compile" if compile_ else "torch"
    print(f"RESULT {tag}-{name} train steps={len(times)} median_step_s={med:.5f} "
          f"tok_per_s_median={tok/med:.0f} min={min(tps):.0f} max={max(tps):.0f} last_loss={loss:.3f}")


@torch.no_grad()
def sample(ids, n=2000, reps=5):
    c = CFGS["M"]
    torch.manual_seed(0)
    model = CharModel(**c).to(DEVICE).eval()

    def run():
        t0 = time.perf_counter()
        x = torch.zeros(1, 1, dtype=torch.long, device=DEVICE)
        state = None
        for _ in range(n):
            logits, state = model(x, state)
            p = torch.softmax(logits[0, -1], dim=-1)
            x = torch.multinomial(p, 1).view(1, 1)
        return n / (time.perf_counter() - t0)

    run()
    r = [run() for _ in range(reps)]
    print(f"RESULT torch-M sample chars_per_s_median={statistics.median(r):.0f} min={min(r):.0f} max={max(r):.0f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu")
    # TF32 (tensor cores at 10-bit mantissa) for cuDNN's RNNs and for matmuls on CUDA: off by
    # default, so that PyTorch computes in full f32 as burn-rnn does (like with like).
    ap.add_argument("--tf32", choices=["off", "on"], default="off")
    ap.add_argument("--seconds", type=float, default=20.0, help="timed seconds per workload, after warm-up")
    ap.add_argument("--isa", choices=["native", "avx2"], default="native")
    a = ap.parse_args()
    DEVICE = a.device
    torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "on"
    torch.backends.cudnn.allow_tf32 = a.tf32 == "on"
    torch.set_num_threads(a.threads)
    # Denormal floats flushed to zero, as burn-rnn's command line does: like for like.
    torch.set_flush_denormal(True)
    print(f"torch {torch.__version__} threads={torch.get_num_threads()} mkldnn={torch.backends.mkldnn.is_available()} cpu_capability={torch.backends.cpu.get_cpu_capability()} mkl_isa={os.environ.get('MKL_ENABLE_INSTRUCTIONS', 'native')} device={DEVICE} tf32={a.tf32}", file=sys.stderr)
    ids = load()
    for what in (["S", "M", "L", "G", "sample"] if a.what == "all" else [a.what]):
        if what == "sample":
            sample(ids)
        else:
            train(what, ids, compile_=a.compile, min_secs=a.seconds)
