#!/usr/bin/python3
"""Writes the PyTorch-made safetensors fixtures of test_safetensors, and
reads back the one nabla wrote, to show that weights move both ways.

    /usr/bin/python3 tests/ref/gen_safetensors.py     # from the source tree

Debian's python3-torch (1.13) has no `safetensors` package, so the format
is written and read here by hand with struct and json: an 8-byte
little-endian header length, the JSON header, the raw little-endian data.

Fixtures (tests/data/):
  torch_mlp.safetensors      state_dict of fc1 -> bn1 -> leaky_relu -> fc2
                             (float32, num_batches_tracked int64), every
                             value set by formula(): the test checks them.
  torch_bn_mlp_f64.safetensors  fc1 -> bn1 -> leaky_relu -> fc2, float64,
                             after 3 training batches (running statistics
                             moved, num_batches_tracked 3), with "input"
                             and the eval-mode "output".
  torch_mlp_f64.safetensors  fc1 -> leaky_relu -> fc2 in float64 with
                             seeded random weights, plus "input" [2, 5] and
                             the model's "output" [2, 3]: nabla loads it
                             non-strictly and must compute the same output.
Checked:
  nabla_mlp.safetensors      written by test_safetensors (the test compares
                             its bytes with what nabla writes now): loaded
                             with load_state_dict(strict=True), values must
                             be formula().
"""
import json
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data")

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
TORCH = {v: k for k, v in DTYPES.items()}


def formula(j, n):
    """Value k of the j-th tensor: distinct, exact in float32."""
    return [(j + 1) * 0.25 + k * 0.0625 - 1.0 for k in range(n)]


def save(path, tensors, meta):
    header, blobs, at = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        dt = TORCH[e["dtype"]]
        t = torch.frombuffer(bytearray(blob[8 + n + b:8 + n + end]),
                             dtype=dt)
        out[name] = t.reshape(e["shape"]).clone()
    return out, meta


class MLP(torch.nn.Module):
    def __init__(self, bn, dtype):
        super().__init__()
        self.fc1 = torch.nn.Linear(5, 4, dtype=dtype)
        self.bn1 = torch.nn.BatchNorm1d(4, dtype=dtype) if bn else None
        self.act = torch.nn.LeakyReLU(0.01)
        self.fc2 = torch.nn.Linear(4, 3, dtype=dtype)

    def forward(self, x):
        x = self.fc1(x)
        if self.bn1 is not None:
            x = self.bn1(x)
        return self.fc2(self.act(x))


def set_formula(model):
    sd = model.state_dict()
    for j, (name, t) in enumerate(sd.items()):
        v = torch.tensor(formula(j, t.numel()), dtype=torch.float64)
        if t.dtype == torch.int64:
            v = torch.tensor([7])
        sd[name].copy_(v.reshape(t.shape).to(t.dtype))
    return sd


def main():
    os.makedirs(DATA, exist_ok=True)
    meta = {"format": "pt", "generator": "tests/ref/gen_safetensors.py"}

    m = MLP(True, torch.float32)
    save(os.path.join(DATA, "torch_mlp.safetensors"), set_formula(m), meta)

    torch.manual_seed(0)
    m = MLP(False, torch.float64).eval()
    x = torch.randn(2, 5, dtype=torch.float64)
    with torch.no_grad():
        y = m(x)
    t = dict(m.state_dict())
    t["input"] = x
    t["output"] = y
    save(os.path.join(DATA, "torch_mlp_f64.safetensors"), t, meta)

    torch.manual_seed(1)
    m = MLP(True, torch.float64)
    with torch.no_grad():
        for _ in range(3):  # move the running statistics
            m(torch.randn(8, 5, dtype=torch.float64) * 2 + 1)
        m.eval()
        x = torch.randn(2, 5, dtype=torch.float64)
        y = m(x)
    t = dict(m.state_dict())
    t["input"] = x
    t["output"] = y
    save(os.path.join(DATA, "torch_bn_mlp_f64.safetensors"), t, meta)

    path = os.path.join(DATA, "nabla_mlp.safetensors")
    if not os.path.exists(path):
        print("gen_safetensors: %s is missing: run make check with "
              "NB_UPDATE_FIXTURES=1 first" % path, file=sys.stderr)
        return 1
    got, meta = load(path)
    m = MLP(True, torch.float32)
    m.load_state_dict(got, strict=True)
    want = set_formula(MLP(True, torch.float32))
    for name, t in m.state_dict().items():
        assert torch.equal(t, want[name]), name
    print("gen_safetensors: wrote torch fixtures; nabla's file loads "
          "into PyTorch (%d tensors, metadata %s)" % (len(got), meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
