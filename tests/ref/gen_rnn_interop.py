#!/usr/bin/python3
"""Writes the PyTorch interop fixtures of tests/test_rnn_interop.c:
torch.nn.RNN / LSTM / GRU state dicts with their inputs, outputs and
gradients, so that nabla's layers can be checked against them without
PyTorch, and checks that a checkpoint nabla wrote loads into PyTorch.

    /usr/bin/python3 tests/ref/gen_rnn_interop.py     # from the source tree

One file tests/data/rnn/CONFIG.safetensors per configuration (CONFIGS
below: 2 layers, batch_first both ways, with and without bias, one or
two directions, float64 and float32, batched and unbatched: input
[T, I] and states [layers * directions, H] without a batch axis),
holding
  weight_ih_l0 ... bias_hh_l1_reverse   the layer's state_dict
  data/input, data/h0, data/c0          the inputs (states only when the
                                        configuration passes them)
  data/output, data/h_n, data/c_n       the results
  data/r_output, data/r_h_n, data/r_c_n the loss weights: loss =
                                        sum(output * r_output) +
                                        sum(h_n * r_h_n) (+ c_n's term)
  data/grad/NAME                        dloss/dNAME for each parameter
                                        and for the given inputs
and tests/data/rnn/keys.txt lists each configuration's state_dict keys
with dtype and shape ("CONFIG NAME DTYPE D0,D1"), which nabla's saved
checkpoints must match.  The metadata says the configuration
("mode", "num_layers", "bias", "batch_first", "bidirectional",
"nonlinearity", "states", and "unbatched" = "1" for an unbatched
one).  Safetensors is written by hand
(gen_safetensors.py's save: Debian's python3-torch has no safetensors).

If tests/data/rnn/nabla_lstm.safetensors exists (written by the test
with NB_UPDATE_FIXTURES=1), it is loaded into torch.nn.LSTM with
load_state_dict(strict=True) and must give the same output as nabla's
recorded one.
"""
import os
import sys

import torch

from gen_safetensors import load, save

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "data", "rnn")
T, B, I, H = 5, 2, 3, 4

# name, mode, nonlinearity, bias, batch_first, bidirectional, dtype, states
CONFIGS = [
    ("lstm_f64_bf", "LSTM", "tanh", True, True, False, torch.float64, True),
    ("lstm_f32_nobias", "LSTM", "tanh", False, False, False, torch.float32,
     False),
    ("lstm_f64_bidir", "LSTM", "tanh", True, False, True, torch.float64,
     True),
    ("gru_f64", "GRU", "tanh", True, False, False, torch.float64, True),
    ("gru_f32_bf_nobias", "GRU", "tanh", False, True, False, torch.float32,
     True),
    ("gru_f32_bidir_bf", "GRU", "tanh", True, True, True, torch.float32,
     False),
    ("rnn_tanh_f64_bf", "RNN", "tanh", True, True, False, torch.float64,
     True),
    ("rnn_relu_f32_nobias", "RNN", "relu", False, False, False,
     torch.float32, True),
    # Unbatched: input [T, I], states [2 * D, H], output [T, D * H]
    # (PyTorch ignores batch_first for them).
    ("lstm_f64_unbatched_bidir", "LSTM", "tanh", True, False, True,
     torch.float64, True, True),
    ("lstm_f32_unbatched_bf", "LSTM", "tanh", True, True, False,
     torch.float32, False, True),
    ("gru_f64_unbatched_bf", "GRU", "tanh", True, True, False,
     torch.float64, True, True),
    ("gru_f32_unbatched_bidir", "GRU", "tanh", False, False, True,
     torch.float32, True, True),
    ("rnn_relu_f64_unbatched_bidir", "RNN", "relu", True, False, True,
     torch.float64, True, True),
    ("rnn_tanh_f32_unbatched", "RNN", "tanh", True, False, False,
     torch.float32, True, True),
]


def make(mode, nl, bias, bf, bidir, dtype):
    kw = dict(input_size=I, hidden_size=H, num_layers=2, bias=bias,
              batch_first=bf, bidirectional=bidir, dtype=dtype)
    if mode == "RNN":
        kw["nonlinearity"] = nl
    return getattr(torch.nn, mode)(**kw)


def run(cfg, seed):
    name, mode, nl, bias, bf, bidir, dtype, states = cfg[:8]
    unbatched = len(cfg) > 8 and cfg[8]
    torch.manual_seed(seed)
    m = make(mode, nl, bias, bf, bidir, dtype)
    D = 2 if bidir else 1
    xs = (T, I) if unbatched else (B, T, I) if bf else (T, B, I)
    ss = (2 * D, H) if unbatched else (2 * D, B, H)
    x = torch.randn(xs, dtype=dtype, requires_grad=True)
    h0 = torch.randn(ss, dtype=dtype, requires_grad=True)
    c0 = torch.randn(ss, dtype=dtype, requires_grad=True)
    lstm = mode == "LSTM"
    if not states:
        out, hn = m(x)
    elif lstm:
        out, hn = m(x, (h0, c0))
    else:
        out, hn = m(x, h0)
    hn, cn = hn if lstm else (hn, None)
    r = {"output": torch.randn(out.shape, dtype=dtype),
         "h_n": torch.randn(hn.shape, dtype=dtype)}
    loss = (out * r["output"]).sum() + (hn * r["h_n"]).sum()
    if lstm:
        r["c_n"] = torch.randn(cn.shape, dtype=dtype)
        loss = loss + (cn * r["c_n"]).sum()
    loss.backward()
    t = {k: v.detach().clone() for k, v in m.state_dict().items()}
    t["data/input"] = x.detach()
    t["data/grad/input"] = x.grad
    if states:
        t["data/h0"] = h0.detach()
        t["data/grad/h0"] = h0.grad
        if lstm:
            t["data/c0"] = c0.detach()
            t["data/grad/c0"] = c0.grad
    t["data/output"] = out.detach()
    t["data/h_n"] = hn.detach()
    if lstm:
        t["data/c_n"] = cn.detach()
    for k, v in r.items():
        t["data/r_" + k] = v
    for k, p in m.named_parameters():
        t["data/grad/" + k] = p.grad
    meta = {"format": "pt", "generator": "tests/ref/gen_rnn_interop.py",
            "mode": mode.lower(), "num_layers": "2", "bias": str(int(bias)),
            "batch_first": str(int(bf)), "bidirectional": str(int(bidir)),
            "nonlinearity": nl, "states": str(int(states))}
    if unbatched:
        meta["unbatched"] = "1"
    save(os.path.join(OUT, name + ".safetensors"), t, meta)
    keys = []
    for k, v in m.state_dict().items():
        keys.append("%s %s %s %s" % (name, k, str(v.dtype)[6:],
                                     ",".join(map(str, v.shape))))
    return keys


def check_nabla():
    path = os.path.join(OUT, "nabla_lstm.safetensors")
    if not os.path.exists(path):
        print("gen_rnn_interop: %s missing: run tests/test_rnn_interop "
              "with NB_UPDATE_FIXTURES=1 first" % path, file=sys.stderr)
        return 1
    t, meta = load(path)
    x = t.pop("data/input")
    want = t.pop("data/output")
    m = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True,
                      dtype=torch.float64)
    m.load_state_dict(t, strict=True)
    with torch.no_grad():
        y, _ = m(x)
    err = (y - want).abs().max().item()
    print("%s: loaded by torch.nn.LSTM (strict), max |output diff| %.3g"
          % (path, err))
    return 0 if err < 1e-10 else 1


def main():
    os.makedirs(OUT, exist_ok=True)
    keys = []
    for i, cfg in enumerate(CONFIGS):
        keys += run(cfg, 100 + i)
    with open(os.path.join(OUT, "keys.txt"), "w") as f:
        f.write("\n".join(keys) + "\n")
    print("%s: %d configurations" % (OUT, len(CONFIGS)))
    return check_nabla()


if __name__ == "__main__":
    sys.exit(main())
