#!/usr/bin/python3
"""Writes tests/ref/edge/nonfinite.json: where PyTorch's results are NaN
or infinite when one input element is NaN, +inf or -inf.

For every PyTorch reference case of tests/ref/spec/*.py (the same op,
attributes and inputs that tests/ref/gen_ref.py uses), each float input in
turn gets NaN, +inf or -inf as its first element; the case runs forward
and backward (output gradient all ones), and the file records, element
by element, the class of the output, of each input gradient and of the
state inputs (running statistics): 'n' NaN, '+' +inf, '-' -inf, 'f'
finite.  JSON has no NaN, hence the classes rather than values.

tests/test_edge.c replays the file and expects nabla's classes to be the
same: NaN and infinities propagate where PyTorch propagates them.
Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_edge_ref.py
"""
import importlib
import json
import math
import os
import sys
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "spec"))

from gen_ref import T  # noqa: E402  (after the path set-up)

# Every reference family but the kinks (special values already).
FAMILIES = sorted(f[:-3] for f in os.listdir(os.path.join(HERE, "spec"))
                  if f.endswith(".py") and not f.startswith("_")
                  and f != "kinks.py")
SPECIALS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def classes(t):
    out = []
    for v in t.detach().double().reshape(-1).tolist():
        out.append("n" if math.isnan(v) else "+" if v == math.inf
                   else "-" if v == -math.inf else "f")
    return "".join(out)


def base_inputs(c):
    """The case's inputs as float64 / int64 tensors, seeded by name."""
    gen = torch.Generator().manual_seed(zlib.crc32(c["name"].encode()))
    return [None if s is None else s.make(gen, torch.float64)
            for s in c["inputs"]]


def run(c, base, dtype, k, value):
    xs = []
    for spec, x in zip(c["inputs"], base):
        if x is None:
            xs.append(None)
            continue
        x = x.to(dtype).clone() if x.is_floating_point() else x.clone()
        xs.append(x)
    xs[k].view(-1)[0] = value
    leaves = []
    for spec, x in zip(c["inputs"], xs):
        if x is not None and spec.grad and x.is_floating_point():
            x.requires_grad_(True)
            leaves.append(x)
    out = c["fn"](*xs)
    # Several results: the classes of each float one, null for the
    # others (indices, masks); backward from the float ones.
    many = isinstance(out, (tuple, list))
    outs = list(out) if many else [out]
    grads = [None] * len(xs)
    diff = [o for o in outs if o.requires_grad]
    if leaves and diff:
        torch.autograd.backward(diff, [torch.ones_like(o) for o in diff])
        grads = [None if x is None or x.grad is None else classes(x.grad)
                 for x in xs]
    state = {str(i): classes(xs[i]) for i in c["state"]}
    cls = [classes(o) if o.is_floating_point() else None for o in outs]
    r = {"output": cls[0], "grads": grads, "state": state}
    if many:
        r["outputs"] = cls
    return r


def tensor_json(spec, t):
    if not t.is_floating_point():
        data = [int(v) for v in t.reshape(-1).tolist()]
        dt = str(t.dtype).replace("torch.", "")
    else:  # rounded: the values only need to be the same on both sides
        data = [float("%.6g" % v) for v in t.reshape(-1).tolist()]
        dt = "float"
    return {"shape": list(t.shape), "data": data, "dtype": dt,
            "grad": bool(spec.grad and t.is_floating_point())}


def main():
    torch.use_deterministic_algorithms(True)
    cases = []
    for fam in FAMILIES:
        for c in importlib.import_module(fam).CASES:
            base = base_inputs(c)
            # Round as stored, so that both sides compute on equal inputs.
            base = [None if x is None else
                    x if not x.is_floating_point() else
                    torch.tensor([float("%.6g" % v)
                                  for v in x.reshape(-1).tolist()],
                                 dtype=torch.float64).reshape(x.shape)
                    for x in base]
            variants = []
            for dt_name in c["dtypes"]:
                dtype = getattr(torch, dt_name)
                for k, x in enumerate(base):
                    if x is None or not x.is_floating_point() or \
                            x.numel() == 0:
                        continue
                    for vname, v in SPECIALS.items():
                        try:
                            r = run(c, base, dtype, k, v)
                        except RuntimeError:
                            # PyTorch refuses the input (binary cross
                            # entropy of NaN); test_edge.c checks nabla's
                            # refusals on its own.
                            continue
                        r.update(dtype=dt_name, input=k, value=vname)
                        variants.append(r)
            cases.append({
                "name": c["name"], "op": c["op"], "attrs": c["attrs"],
                "training": c["training"],
                "inputs": [None if x is None else tensor_json(s, x)
                           for s, x in zip(c["inputs"], base)],
                "variants": variants,
            })
    path = os.path.join(HERE, "edge", "nonfinite.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"generator": "tests/ref/gen_edge_ref.py",
                   "torch": torch.__version__, "cases": cases}, f,
                  separators=(",", ":"))
        f.write("\n")
    n = sum(len(c["variants"]) for c in cases)
    print(f"{path}: {len(cases)} cases, {n} variants")


if __name__ == "__main__":
    main()
