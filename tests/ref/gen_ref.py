#!/usr/bin/python3
"""Writes the PyTorch reference files tests/ref/ops/<family>.json.

Each module tests/ref/spec/<family>.py defines CASES, a list made with
case() below: an op name and attribute string as nabla knows them, the
same computation in PyTorch, and the inputs.  For every case and dtype
this script draws the inputs from a seeded generator, runs the PyTorch
function forward, then backward with a random output gradient, and
records inputs, output, output gradient, input gradients, and the
values of any "state" inputs after forward (running statistics).

The test suite (tests/test_reference.c) replays every file without
PyTorch.  Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_ref.py
"""
import importlib
import json
import os
import sys
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "spec"))


class T:
    """An input: shape and how to fill it.

    kind: "randn" (N(0,1) * scale), "rand" (uniform [lo, hi)),
    "int" (indices in [0, n)), "bool" (a mask, true with probability
    1/2), "pos" (uniform [0.5, 2)), "values" (the given list; with
    dtype "int64" or "bool" for indices and masks).  grad: whether the
    op differentiates it (never for int64 and bool)."""

    def __init__(self, shape, kind="randn", lo=-2.0, hi=2.0, n=None,
                 grad=True, scale=1.0, values=None, dtype=None):
        self.shape, self.kind, self.lo, self.hi = list(shape), kind, lo, hi
        self.n, self.grad, self.scale, self.values = n, grad, scale, values
        self.is_int = kind == "int" or dtype == "int64"
        self.is_bool = kind == "bool" or dtype == "bool"
        if values is not None:
            self.kind = "values"

    def make(self, gen, dtype):
        if self.kind == "int":
            return torch.randint(0, self.n, self.shape, generator=gen)
        if self.kind == "bool":
            return torch.rand(self.shape, generator=gen) < 0.5
        if self.kind == "values":
            if self.is_int:
                return torch.tensor(self.values,
                                    dtype=torch.int64).reshape(self.shape)
            if self.is_bool:
                return torch.tensor(self.values,
                                    dtype=torch.bool).reshape(self.shape)
            t = torch.tensor(self.values, dtype=torch.float64)
            t = t.reshape(self.shape)
        elif self.kind == "rand":
            t = torch.rand(self.shape, generator=gen, dtype=torch.float64)
            t = self.lo + (self.hi - self.lo) * t
        elif self.kind == "pos":
            t = 0.5 + 1.5 * torch.rand(self.shape, generator=gen,
                                       dtype=torch.float64)
        else:
            t = self.scale * torch.randn(self.shape, generator=gen,
                                         dtype=torch.float64)
        return t.to(dtype)


def case(op, attrs, fn, inputs, name=None, dtypes=("float32", "float64"),
         training=True, state=()):
    """A reference case: fn(*inputs) in PyTorch equals op(inputs; attrs)."""
    return dict(op=op, attrs=attrs, fn=fn, inputs=inputs,
                name=name or (op + ("|" + attrs if attrs else "")),
                dtypes=dtypes, training=training, state=list(state))


def tensor_json(t):
    if t.dtype in (torch.int64, torch.bool):
        data = [int(v) for v in t.reshape(-1).tolist()]
    else:
        data = [float(v) for v in t.double().reshape(-1).tolist()]
    return {"shape": list(t.shape), "data": data}


def dtype_str(t):
    return str(t.dtype).replace("torch.", "")


def result_json(t):
    """An op's result, with its dtype when that is not the op's."""
    d = tensor_json(t.detach())
    if not t.is_floating_point():
        d["dtype"] = dtype_str(t)
    return d


def run_case(c, dtype_name):
    dtype = getattr(torch, dtype_name)
    seed = zlib.crc32((c["name"] + dtype_name).encode())
    gen = torch.Generator().manual_seed(seed)
    xs = []
    for spec in c["inputs"]:
        xs.append(None if spec is None else spec.make(gen, dtype))
    leaves = []
    for spec, x in zip(c["inputs"], xs):
        if spec is not None and spec.grad and x.is_floating_point():
            x.requires_grad_(True)
            leaves.append(x)
    before = [None if x is None else x.detach().clone() for x in xs]
    out = c["fn"](*xs)
    # Several results (split, topk): each float one gets its own output
    # gradient; the others (indices, masks) none.
    many = isinstance(out, (tuple, list))
    outs = list(out) if many else [out]
    gouts = []
    for o in outs:
        if o.is_floating_point():
            go = torch.randn(o.shape, generator=gen, dtype=torch.float64)
            gouts.append(go.to(o.dtype))
        else:
            gouts.append(None)
    grads = [None] * len(xs)
    diff = [(o, go) for o, go in zip(outs, gouts) if o.requires_grad]
    if leaves and diff:
        torch.autograd.backward([o for o, _ in diff], [go for _, go in diff])
        grads = [None if x is None or x.grad is None else tensor_json(x.grad)
                 for x in xs]
    inputs = []
    for spec, x in zip(c["inputs"], before):
        if x is None:
            inputs.append(None)
            continue
        d = tensor_json(x)
        d["dtype"] = dtype_name if x.is_floating_point() else dtype_str(x)
        d["grad"] = bool(spec.grad and x.is_floating_point())
        inputs.append(d)
    state = {str(i): tensor_json(xs[i].detach()) for i in c["state"]}
    r = {
        "name": c["name"], "op": c["op"], "attrs": c["attrs"],
        "dtype": dtype_name, "training": c["training"], "inputs": inputs,
        "output": result_json(outs[0]),
        "grad_output": None if gouts[0] is None else tensor_json(gouts[0]),
        "grads": grads, "state": state,
    }
    if many:
        r["outputs"] = [result_json(o) for o in outs]
        r["grad_outputs"] = [None if go is None else tensor_json(go)
                             for go in gouts]
    return r


def main(argv):
    torch.use_deterministic_algorithms(True)
    families = argv[1:] or sorted(
        f[:-3] for f in os.listdir(os.path.join(HERE, "spec"))
        if f.endswith(".py") and not f.startswith("_"))
    for fam in families:
        mod = importlib.import_module(fam)
        cases = [run_case(c, dt) for c in mod.CASES for dt in c["dtypes"]]
        path = os.path.join(HERE, "ops", fam + ".json")
        with open(path, "w") as f:
            json.dump({"generator": "tests/ref/gen_ref.py",
                       "torch": torch.__version__, "cases": cases}, f,
                      separators=(",", ":"))
            f.write("\n")
        print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main(sys.argv)
