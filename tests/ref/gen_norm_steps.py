#!/usr/bin/python3
"""Writes tests/ref/steps/norm_steps.json: running statistics of
PyTorch's BatchNorm and InstanceNorm modules over several steps.

tests/ref/gen_ref.py checks one forward at a time; the running statistics
are a recurrence, so this replays whole sequences through the modules
themselves (nn.BatchNorm*d, including momentum=None and its
num_batches_tracked counter, and nn.InstanceNorm*d with
track_running_stats): several training steps, each recording the output
and the running statistics after it, then evaluation steps that use
them.  tests/test_norm.c replays the file through nabla.

Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_norm_steps.py
"""
import json
import os
import zlib

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))

# name, module class, batch shape, momentum, affine
SCENARIOS = [
    ("bn1d-2d-m0.1", nn.BatchNorm1d, [6, 3], 0.1, True),
    ("bn1d-2d-cumulative", nn.BatchNorm1d, [5, 4], None, True),
    ("bn1d-3d-m0.1", nn.BatchNorm1d, [4, 3, 5], 0.1, False),
    ("bn2d-m0.1", nn.BatchNorm2d, [3, 4, 3, 3], 0.1, True),
    ("bn2d-cumulative", nn.BatchNorm2d, [3, 4, 3, 3], None, True),
    ("bn3d-m0.3", nn.BatchNorm3d, [2, 2, 2, 3, 2], 0.3, True),
    ("in1d-m0.1", nn.InstanceNorm1d, [3, 2, 6], 0.1, True),
    ("in2d-m0.2", nn.InstanceNorm2d, [2, 3, 3, 4], 0.2, False),
]
TRAIN_STEPS = 4
EVAL_STEPS = 1


def tensor_json(t):
    t = t.detach()
    if t.dtype == torch.int64:
        data = [int(v) for v in t.reshape(-1).tolist()]
    else:
        data = [float(v) for v in t.double().reshape(-1).tolist()]
    return {"shape": list(t.shape), "data": data}


def run(name, cls, shape, momentum, affine, dtype_name):
    dtype = getattr(torch, dtype_name)
    gen = torch.Generator().manual_seed(zlib.crc32((name + dtype_name)
                                                   .encode()))
    c = shape[1]
    kw = dict(momentum=momentum, affine=affine, track_running_stats=True)
    mod = cls(c, **kw).to(dtype)
    batch_norm = "BatchNorm" in cls.__name__
    with torch.no_grad():
        # Start away from the defaults (0 and 1), so that a wrong
        # blend of old and new shows.
        mod.running_mean.copy_(torch.randn(c, generator=gen))
        mod.running_var.copy_(0.5 + torch.rand(c, generator=gen))
        if affine:
            mod.weight.copy_(torch.randn(c, generator=gen))
            mod.bias.copy_(torch.randn(c, generator=gen))
    out = {
        "name": name, "dtype": dtype_name,
        "op": "batch_norm" if batch_norm else "instance_norm",
        "attrs": "momentum=" + ("none" if momentum is None
                                else repr(momentum)),
        "weight": tensor_json(mod.weight) if affine else None,
        "bias": tensor_json(mod.bias) if affine else None,
        "running_mean": tensor_json(mod.running_mean),
        "running_var": tensor_json(mod.running_var),
        "num_batches_tracked": (tensor_json(mod.num_batches_tracked)
                                if batch_norm else None),
        "steps": [],
    }
    for i in range(TRAIN_STEPS + EVAL_STEPS):
        training = i < TRAIN_STEPS
        mod.train(training)
        # A different offset and scale per step: the statistics move.
        x = (torch.randn(shape, generator=gen, dtype=torch.float64)
             * (1 + i) + i - 1.5).to(dtype)
        with torch.no_grad():
            y = mod(x)
        step = {"training": training, "input": tensor_json(x),
                "output": tensor_json(y),
                "running_mean": tensor_json(mod.running_mean),
                "running_var": tensor_json(mod.running_var)}
        if batch_norm:
            step["num_batches_tracked"] = tensor_json(
                mod.num_batches_tracked)
        out["steps"].append(step)
    return out


def main():
    torch.use_deterministic_algorithms(True)
    scenarios = [run(*s, dt) for s in SCENARIOS
                 for dt in ("float32", "float64")]
    os.makedirs(os.path.join(HERE, "steps"), exist_ok=True)
    path = os.path.join(HERE, "steps", "norm_steps.json")
    with open(path, "w") as f:
        json.dump({"generator": "tests/ref/gen_norm_steps.py",
                   "torch": torch.__version__, "scenarios": scenarios}, f,
                  separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {len(scenarios)} scenarios")


if __name__ == "__main__":
    main()
