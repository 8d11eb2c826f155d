#!/usr/bin/python3
"""Independent replay of `nabla initlab` with NumPy, for tests/test_initlab.c.

Rebuilds the study's network from nabla's documented generator (nabla/core.h:
xoshiro256** seeded by splitmix64, uniform = top 53 bits * 2^-53, Box-Muller
normals with a cached second value), draws the input and the weights in the
documented order (input row-major, then W_1, W_2, ... row-major, each [out, in]),
runs forward and an analytic backward in float64 (normalizations included),
and writes the per-layer statistics to tests/ref/initlab_ref.json.  Nothing here
calls nabla.

    /usr/bin/python3 tests/ref/initlab_ref.py     # rewrites tests/ref/initlab_ref.json

Definitions shared with tools/initlab.c (and doc/initlab.md):
  loss        L = sum(a_L^2) / (2 * batch)
  saturated   a within 1% of the output range of a limit (bounded activations)
  zero        a == 0 exactly
  dead unit   a column that is saturated (bounded activations) or exactly zero
              (unbounded ones) for every sample of the batch
  grad_norm   Frobenius norm of dL/dW_i
"""
import json
import math
import os
import sys

import numpy as np

M64 = (1 << 64) - 1


class Rng:
    """nabla's nb_rng, bit for bit."""

    def __init__(self, seed):
        x = seed
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))
        self.spare = None

    @staticmethod
    def _rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def next(self):
        s = self.s
        result = (self._rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self._rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53

    def normal(self):
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        rad = math.sqrt(-2.0 * math.log(u1))
        th = 2.0 * math.pi * u2
        self.spare = rad * math.sin(th)
        return rad * math.cos(th)

    def normals(self, shape, mean=0.0, std=1.0):
        n = int(np.prod(shape))
        return np.array([mean + std * self.normal() for _ in range(n)]).reshape(shape)

    def uniforms(self, shape, a, b):
        n = int(np.prod(shape))
        return np.array([a + (b - a) * self.uniform() for _ in range(n)]).reshape(shape)


GAIN = {"tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "sigmoid": 1.0}
NOTES = {"sigmoid": 1.0, "tanh": 4.0, "relu": math.sqrt(2.0)}


def weight(rng, scheme, out, inp, act):
    """The schemes the reference cases use, with PyTorch's formulas."""
    name, _, arg = scheme.partition(":")
    if name == "normal":
        return rng.normals((out, inp), 0.0, float(arg))
    if name == "xavier_normal":
        gain = float(arg) if arg else 1.0
        return rng.normals((out, inp), 0.0, gain * math.sqrt(2.0 / (inp + out)))
    if name == "xavier_uniform":
        b = math.sqrt(3.0) * (float(arg) if arg else 1.0) * math.sqrt(2.0 / (inp + out))
        return rng.uniforms((out, inp), -b, b)
    if name == "kaiming_normal":  # a = 0, fan_in, leaky_relu: gain sqrt(2)
        return rng.normals((out, inp), 0.0, math.sqrt(2.0) / math.sqrt(inp))
    if name == "notes":
        b = NOTES[act] * math.sqrt(6.0 / (inp + out))
        return rng.uniforms((out, inp), -b, b)
    raise ValueError(scheme)


ACTS = {
    # forward, derivative from (z, a), output limits or None
    "tanh": (np.tanh, lambda z, a: 1.0 - a * a, (-1.0, 1.0)),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z, a: (z > 0).astype(float), None),
    "sigmoid": (lambda z: 1.0 / (1.0 + np.exp(-z)), lambda z, a: a * (1.0 - a), (0.0, 1.0)),
}


EPS = 1e-5  # the normalizations' default eps


def group_view(u, norm, groups):
    """u [batch, out] reshaped so that each normalization group is a row
    of the last axis: batch norm per feature over the batch, layer and
    instance norm (one channel of length out) per sample over the
    features, group norm per sample over out/groups consecutive ones."""
    n, f = u.shape
    if norm == "batch":
        return u.T
    if norm == "group":
        return u.reshape(n, groups, f // groups)
    return u  # layer, instance


def unview(v, norm, shape):
    return v.T if norm == "batch" else v.reshape(shape)


def norm_forward(u, norm, groups):
    """(x - mean) / sqrt(var + eps) over each group, biased variance."""
    v = group_view(u, norm, groups)
    mean = v.mean(axis=-1, keepdims=True)
    inv = 1.0 / np.sqrt(v.var(axis=-1, keepdims=True) + EPS)
    xhat = (v - mean) * inv
    return unview(xhat, norm, u.shape), (xhat, inv)


def norm_backward(dy, norm, groups, saved):
    """dx = inv * (dy - mean(dy) - xhat * mean(dy * xhat)) per group."""
    xhat, inv = saved
    g = group_view(dy, norm, groups)
    dx = inv * (g - g.mean(axis=-1, keepdims=True)
                - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return unview(dx, norm, dy.shape)


def run(case, batch, sizes, seed):
    act, scheme = case["act"], case["init"]
    norm, groups = case.get("norm", "none"), case.get("groups", 0)
    f, df, limits = ACTS[act]
    rng = Rng(seed)
    x = rng.normals((batch, sizes[0]))
    ws = [weight(rng, scheme, sizes[i + 1], sizes[i], act) for i in range(len(sizes) - 1)]
    hs, zs, as_, saved = [x], [], [], []
    for w in ws:
        z = hs[-1] @ w.T
        if norm != "none":
            z, s = norm_forward(z, norm, groups)
            saved.append(s)
        a = f(z)
        zs.append(z)
        as_.append(a)
        hs.append(a)
    aL = as_[-1]
    loss = float(np.sum(aL * aL) / (2.0 * batch))
    # Backward: dL/da_L = a_L / batch; dz = da * act' (then through the
    # normalization); dW = dz^T h; dh = dz W.
    grads = [None] * len(ws)
    da = aL / batch
    for i in reversed(range(len(ws))):
        dz = da * df(zs[i], as_[i])
        if norm != "none":
            dz = norm_backward(dz, norm, groups, saved[i])
        grads[i] = dz.T @ hs[i]
        da = dz @ ws[i]
    layers = []
    for i, (z, a) in enumerate(zip(zs, as_)):
        if limits:
            lo, hi = limits
            tol = 0.01 * (hi - lo)
            sat = (a <= lo + tol) | (a >= hi - tol)
        else:
            sat = np.zeros_like(a, dtype=bool)
        zero = a == 0
        dead = np.all(sat if limits else zero, axis=0)
        layers.append({
            "pre_mean": float(z.mean()), "pre_std": float(z.std()),
            "mean": float(a.mean()), "std": float(a.std()),
            "saturated_pct": float(100.0 * sat.mean()) if limits else None,
            "zero_pct": float(100.0 * zero.mean()),
            "dead_pct": float(100.0 * dead.mean()),
            "grad_norm": float(np.linalg.norm(grads[i])),
        })
    return {"act": act, "init": scheme, "norm": norm, "groups": groups,
            "loss": loss, "layers": layers}


CASES = [
    {"act": "tanh", "init": "normal:0.01"},
    {"act": "tanh", "init": "normal:1"},
    {"act": "tanh", "init": "xavier_normal"},
    {"act": "relu", "init": "xavier_normal:1.4142135623730951"},
    {"act": "relu", "init": "kaiming_normal"},
    {"act": "tanh", "init": "notes"},
    {"act": "sigmoid", "init": "xavier_uniform"},
    {"act": "tanh", "init": "normal:0.01", "norm": "batch"},
    {"act": "tanh", "init": "normal:1", "norm": "layer"},
    {"act": "sigmoid", "init": "xavier_uniform", "norm": "instance"},
    {"act": "relu", "init": "normal:0.01", "norm": "group", "groups": 10},
]


def main():
    batch, sizes, seed = 200, [80, 70, 60, 50, 40, 30], 7
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = os.path.join(top, "tests", "ref", "initlab_ref.json")
    doc = {
        "generator": "tests/ref/initlab_ref.py (NumPy %s), float64" % np.__version__,
        "batch": batch, "sizes": sizes, "seed": seed,
        "cases": [run(c, batch, sizes, seed) for c in CASES],
    }
    with open(out, "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    print("wrote %s (%d cases)" % (out, len(CASES)), file=sys.stderr)


if __name__ == "__main__":
    main()
