"""`burn-rnn export` seen from PyTorch: rebuilds the model from the exported file with README's code
(torch + safetensors only) and checks that PyTorch's loss on a text equals `burn-rnn eval`'s.

usage: python3 tests/export_check.py RUN [--bin target/release/burn-rnn] [--checkpoint best|last]

RUN is a run folder (`burn-rnn train`'s). The text is the first 3,000 characters of
data/tinyshakespeare.txt that are in the run's vocabulary; both sides score it the way `eval` does
(windows of `data.seq_len` characters, each from a zero state). Needs `pip install torch
safetensors`; not run by CI (the project builds and tests without Python), run it by hand.
"""
import argparse, json, pathlib, subprocess, sys, tempfile, tomllib

import torch
from safetensors import safe_open
from safetensors.torch import load_file

ROOT = pathlib.Path(__file__).resolve().parent.parent


def rebuild(path):
    """README's code: the model and its vocabulary from the file alone."""
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    vocab = json.loads(meta["vocab"])
    V, E = len(vocab), int(meta["embedding_size"])
    H, L = int(meta["hidden_size"]), int(meta["num_layers"])
    RNN = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[meta["cell"]]
    extra = {"nonlinearity": meta["nonlinearity"]} if meta["cell"] == "rnn" else {}

    class CharModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(V, E)
            self.rnn = RNN(E, H, num_layers=L, batch_first=True, **extra)
            self.head = torch.nn.Linear(H, V)

        def forward(self, x, state=None):
            out, state = self.rnn(self.emb(x), state)
            return self.head(out), state

    model = CharModel()
    model.load_state_dict(load_file(path))
    return model.eval(), vocab


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--bin", default=str(ROOT / "target/release/burn-rnn"))
    ap.add_argument("--checkpoint", default="best")
    a = ap.parse_args()
    run = pathlib.Path(a.run)
    seq = tomllib.loads((run / "config.toml").read_text())["data"]["seq_len"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        weights = tmp / "model.safetensors"
        subprocess.run([a.bin, "export", "--run", str(run), "--checkpoint", a.checkpoint,
                        "--out", str(weights)], check=True)
        model, vocab = rebuild(weights)
        known = set(vocab)
        text = "".join(c for c in (ROOT / "data/tinyshakespeare.txt").read_text() if c in known)[:3000]
        (tmp / "text.txt").write_text(text)
        out = subprocess.run([a.bin, "eval", "--run", str(run), "--checkpoint", a.checkpoint,
                              "--data", str(tmp / "text.txt")],
                             check=True, capture_output=True, text=True).stdout
    words = [w.rstrip(",") for w in out.split()]
    burn = float(words[words.index("nats/char") - 1])
    ids = torch.tensor([vocab.index(c) for c in text])
    total, n = 0.0, len(ids) - 1
    with torch.no_grad():
        for start in range(0, n, seq):
            length = min(seq, n - start)
            x = ids[start:start + length].view(1, -1)
            y = ids[start + 1:start + length + 1]
            logits, _ = model(x)
            total += torch.nn.functional.cross_entropy(logits[0], y, reduction="sum").item()
    torch_loss = total / n
    print(f"burn-rnn eval {burn:.6f} nats/char, PyTorch on the exported file {torch_loss:.6f} "
          f"({n} characters, windows of {seq})")
    if abs(burn - torch_loss) > 1.5e-4:  # eval prints 4 decimals
        sys.exit("MISMATCH")
    print("OK")


if __name__ == "__main__":
    main()
