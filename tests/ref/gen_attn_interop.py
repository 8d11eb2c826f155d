#!/usr/bin/python3
"""Writes the interop fixtures of tests/test_attention.c: PyTorch's
nn.MultiheadAttention and nn.TransformerEncoderLayer with their
state_dict, inputs, outputs and gradients, which nabla's layers
(lib/nn/attention.c) must reproduce after loading the state dict.

    /usr/bin/python3 tests/ref/gen_attn_interop.py     # from anywhere

Each case is one safetensors file tests/data/attn/NAME.safetensors
(written by hand as gen_safetensors.py does: Debian's torch 1.13 has no
safetensors package) holding
  the state_dict under PyTorch's names (in_proj_weight, out_proj.weight,
      self_attn.in_proj_weight, linear1.bias, norm2.weight, ...);
  x/query x/key x/value x/key_padding_mask x/attn_mask  the inputs given
      (masks bool as uint8 "BOOL", or float);
  y/output, y/weights  the results (weights: multi_head_attention only);
  y/grad_output  R, the loss being sum(output * R);
  grad/NAME  dL/d(parameter NAME); grad/x/query  dL/d(query);
and metadata: the layer ("mha" or "encoder"), its sizes and options as
decimal strings.  Every module runs in training mode with dropout 0 (the
exact path; PyTorch 1.13's fast path is for evaluation only).

tests/data/attn/keys.txt lists, for the default-option layers nabla's
checkpoint test builds, PyTorch's "name shape dtype" per line.
"""
import json
import os
import struct

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "data", "attn")
DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64",
          torch.bool: "BOOL"}


def save(path, tensors, meta):
    header, blobs, at = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.bool:
            raw = t.to(torch.uint8).numpy().tobytes()
        else:
            raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


E, H, B, L, S, FF = 8, 2, 2, 5, 4, 16


def seq(n, bf, dt, g):
    """A [B, n, E] (batch_first) or [n, B, E] input."""
    shape = [B, n, E] if bf else [n, B, E]
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dt)


def finish(name, module, kind, meta, xs, outs, dt, g):
    """Backward of sum(out * R), then the file."""
    out = outs[0]
    r = torch.randn(out.shape, generator=g, dtype=torch.float64).to(dt)
    (out * r).sum().backward()
    t = {k: v for k, v in module.state_dict().items()}
    for k, v in xs.items():
        if v is not None:
            t["x/" + k] = v
    t["y/output"] = out
    if len(outs) > 1:
        t["y/weights"] = outs[1]
    t["y/grad_output"] = r
    for k, p in module.named_parameters():
        t["grad/" + k] = p.grad
    if xs["query"].grad is not None:
        t["grad/x/query"] = xs["query"].grad
    meta = {k: str(v) for k, v in meta.items()}
    meta["layer"] = kind
    meta["dtype"] = "float64" if dt == torch.float64 else "float32"
    save(os.path.join(OUT, name + ".safetensors"), t, meta)
    print(name, sum(v.numel() for v in t.values()), "values")


def mha_case(name, dt, bf, cross, kv_same, kpm, mask, causal, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    m = nn.MultiheadAttention(E, H, dropout=0.0, batch_first=bf).to(dt)
    with torch.no_grad():  # non-zero biases, so their gradients mean something
        m.in_proj_bias.normal_(generator=g)
        m.out_proj.bias.normal_(generator=g)
    m.train()
    q = seq(L, bf, dt, g).requires_grad_(True)
    k = seq(S, bf, dt, g) if cross else q
    v = k if kv_same or not cross else seq(S, bf, dt, g)
    n = S if cross else L
    kp = None
    if kpm == "bool":
        kp = torch.zeros(B, n, dtype=torch.bool)
        kp[0, n - 1] = True
        kp[1, n - 2] = True
    am = None
    if mask == "bool":  # true = excluded; the diagonal stays
        am = torch.rand(L, n, generator=g) < 0.3
        am[torch.arange(L), torch.arange(L) % n] = False
    elif mask == "float":
        am = torch.randn(L, n, generator=g, dtype=torch.float64).to(dt)
    tm = am
    if causal:
        tri = torch.ones(L, n, dtype=torch.bool).triu(1)
        tm = tri if am is None else (tri | am)
    out, w = m(q, k, v, key_padding_mask=kp, attn_mask=tm)
    xs = {"query": q, "key": None if k is q else k,
          "value": None if v is k else v, "key_padding_mask": kp,
          "attn_mask": am}
    meta = dict(embed_dim=E, num_heads=H, batch_first=int(bf),
                causal=int(causal))
    finish(name, m, "mha", meta, xs, [out, w], dt, g)


def enc_case(name, dt, bf, norm_first, act, kpm, mask, causal, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    m = nn.TransformerEncoderLayer(E, H, dim_feedforward=FF, dropout=0.0,
                                   activation=act, layer_norm_eps=1e-5,
                                   batch_first=bf, norm_first=norm_first)
    m = m.to(dt)
    with torch.no_grad():
        for k, p in m.named_parameters():
            if "norm" in k or k.endswith("in_proj_bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=g,
                                         dtype=torch.float64).to(dt))
    m.train()
    x = seq(L, bf, dt, g).requires_grad_(True)
    kp = None
    if kpm == "bool":
        kp = torch.zeros(B, L, dtype=torch.bool)
        kp[0, L - 1] = True
        kp[1, L - 2] = True
    am = None
    if mask == "bool":
        am = torch.rand(L, L, generator=g) < 0.3
        am[torch.arange(L), torch.arange(L)] = False
    elif mask == "float":
        am = torch.randn(L, L, generator=g, dtype=torch.float64).to(dt)
    tm = am
    if causal:
        tri = torch.ones(L, L, dtype=torch.bool).triu(1)
        tm = tri if am is None else tri | am
    out = m(x, src_mask=tm, src_key_padding_mask=kp)
    xs = {"query": x, "key": None, "value": None, "key_padding_mask": kp,
          "attn_mask": am}
    meta = dict(d_model=E, nhead=H, dim_feedforward=FF,
                batch_first=int(bf), norm_first=int(norm_first),
                activation=act, causal=int(causal))
    finish(name, m, "encoder", meta, xs, [out], dt, g)


def keys():
    lines = []
    for prefix, m in [("mha", nn.MultiheadAttention(E, H)),
                      ("encoder", nn.TransformerEncoderLayer(E, H, FF))]:
        for k, v in m.state_dict().items():
            shape = ",".join(str(n) for n in v.shape)
            dtype = str(v.dtype).replace("torch.", "")
            lines.append(f"{prefix} {k} [{shape}] {dtype}")
    with open(os.path.join(OUT, "keys.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    f64, f32 = torch.float64, torch.float32
    mha_case("mha_self_f64", f64, False, False, False, "bool", None, False, 1)
    mha_case("mha_self_f32", f32, True, False, False, None, "bool", False, 2)
    mha_case("mha_cross_f64", f64, True, True, False, "bool", "float",
             False, 3)
    mha_case("mha_kv_f32", f32, False, True, True, None, "float", False, 4)
    mha_case("mha_causal_f64", f64, True, False, False, "bool", None, True,
             5)
    enc_case("enc_post_relu_f64", f64, False, False, "relu", "bool", "bool",
             False, 6)
    enc_case("enc_pre_gelu_f64", f64, True, True, "gelu", "bool", None, True,
             7)
    enc_case("enc_pre_relu_f32", f32, True, True, "relu", None, "float",
             False, 8)
    enc_case("enc_post_gelu_f32", f32, False, False, "gelu", "bool", None,
             False, 9)
    keys()


if __name__ == "__main__":
    main()
