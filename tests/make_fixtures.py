"""Generates the PyTorch parity fixtures for burn-rnn's tests.

usage: python tests/make_fixtures.py   (needs torch, safetensors; writes tests/fixtures/)

For every case (cell x layers x directions x initial state, plus relu and bias-free variants) it
builds torch.nn.RNN/LSTM/GRU in float64 with random weights, runs a batch-first input, and
backpropagates the loss

    L = sum(out * r_out) + sum(h_n * r_h) [+ sum(c_n * r_c)]

with fixed random tensors r_*. It stores, under the key prefix `case{n}.`: the layer's state_dict
(PyTorch keys and shapes, under `case{n}.sd.`), the input, initial states, the r_* tensors, the outputs, final states,
and the gradients of L with respect to the input, the initial states and every weight
(`grad.<key>`). The manifest lists each case's configuration. cargo test reads these files and
needs no Python.
"""
import json
import pathlib

import torch
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).resolve().parent / "fixtures"
B, T, I, H = 3, 5, 4, 6


def cases():
    n = 0
    for kind in ["rnn_tanh", "rnn_relu", "lstm", "gru"]:
        for layers in [1, 2, 3]:
            for bidirectional in [False, True]:
                for init_state in [False, True]:
                    yield dict(name=f"case{n}", kind=kind, layers=layers, bidirectional=bidirectional,
                               init_state=init_state, bias=True)
                    n += 1
    for kind in ["rnn_tanh", "lstm", "gru"]:
        yield dict(name=f"case{n}", kind=kind, layers=2, bidirectional=True, init_state=True, bias=False)
        n += 1
    # A wider batch: the CPU kernel cuts the batch into one chunk per thread (from 8 rows on).
    for kind in ["rnn_tanh", "rnn_relu", "lstm", "gru"]:
        yield dict(name=f"case{n}", kind=kind, layers=2, bidirectional=True, init_state=True, bias=True,
                   batch=13)
        n += 1


def build(c):
    kw = dict(input_size=I, hidden_size=H, num_layers=c["layers"], bidirectional=c["bidirectional"],
              batch_first=True, bias=c["bias"])
    if c["kind"].startswith("rnn"):
        return torch.nn.RNN(nonlinearity=c["kind"][4:], **kw)
    return {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[c["kind"]](**kw)


def main():
    torch.manual_seed(1234)
    OUT.mkdir(exist_ok=True)
    tensors, manifest = {}, []
    for c in cases():
        p = c["name"] + "."
        m = build(c).double()
        with torch.no_grad():  # wider than PyTorch's default init, so saturation and relu kinks show
            for w in m.parameters():
                w.uniform_(-0.6, 0.6)
        dirs = 2 if c["bidirectional"] else 1
        batch = c.pop("batch", B)
        x = torch.randn(batch, T, I, dtype=torch.float64, requires_grad=True)
        lstm = c["kind"] == "lstm"
        h0 = torch.randn(c["layers"] * dirs, batch, H, dtype=torch.float64, requires_grad=True)
        c0 = torch.randn(c["layers"] * dirs, batch, H, dtype=torch.float64, requires_grad=True)
        state = None
        if c["init_state"]:
            state = (h0, c0) if lstm else h0
        out, hn = m(x, state)
        if lstm:
            hn, cn = hn
        r_out = torch.randn_like(out)
        r_h = torch.randn_like(hn)
        loss = (out * r_out).sum() + (hn * r_h).sum()
        if lstm:
            r_c = torch.randn_like(cn)
            loss = loss + (cn * r_c).sum()
        loss.backward()
        for k, v in m.state_dict().items():
            tensors[p + "sd." + k] = v.contiguous()
        for k, w in m.named_parameters():
            tensors[p + "grad." + k] = w.grad.contiguous()
        tensors[p + "x"] = x.detach()
        tensors[p + "grad.x"] = x.grad
        tensors[p + "out"] = out.detach().contiguous()
        tensors[p + "h_n"] = hn.detach().contiguous()
        tensors[p + "r_out"] = r_out
        tensors[p + "r_h"] = r_h
        if lstm:
            tensors[p + "c_n"] = cn.detach().contiguous()
            tensors[p + "r_c"] = r_c
        if c["init_state"]:
            tensors[p + "h_0"] = h0.detach()
            tensors[p + "grad.h_0"] = h0.grad
            if lstm:
                tensors[p + "c_0"] = c0.detach()
                tensors[p + "grad.c_0"] = c0.grad
        manifest.append(dict(c, batch=batch, seq=T, input=I, hidden=H))
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, str(OUT / "parity.safetensors"))
    (OUT / "parity.json").write_text(json.dumps(manifest, indent=1) + "\n")
    # An f32 state_dict on its own (no prefix), for the exact load -> save round trip.
    lstm = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True)
    save_file({k: v.contiguous() for k, v in lstm.state_dict().items()}, str(OUT / "lstm_f32.safetensors"))
    print(f"wrote {len(manifest)} cases, {len(tensors)} tensors to {OUT}")


if __name__ == "__main__":
    main()
