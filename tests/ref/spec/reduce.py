"""The reductions of issue 15: min, prod, var, std, logsumexp, norm,
argmax, argmin, cumsum and topk, against the PyTorch 1.13 calls they
match (doc/ops.md), with nabla's `axes` / `axis` for PyTorch's `dim`.

Ties (min, argmax/argmin's first index, norm's inf at tied |x|, topk's
order of tied values, which is that of PyTorch's CPU kernel), kinks
(zeros in prod, zero vectors in norm, zero variance in std), size-1 and
empty axes, negative axes and keepdim both ways.  Results that are
infinite or NaN (var with N - correction <= 0, logsumexp of -inf rows,
NaN inputs) cannot be written in JSON: tests/test_reduce.c checks them
against PyTorch's values.  Several axes where PyTorch's op takes one
(prod) are checked against PyTorch on the flattened axes.
"""
import torch
from gen_ref import T, case


def V(values, shape=None, dtype=None):
    return T(shape or [len(values)], values=values, dtype=dtype)


def flat(rows):
    return [v for r in rows for v in (flat(r) if isinstance(r, list)
                                      else [r])]


def over(fn, dims):
    """fn(x, -1) over dims flattened into one last axis (dims sorted)."""
    def f(x):
        rest = [d for d in range(x.dim()) if d not in dims]
        y = x.permute(rest + list(dims))
        y = y.reshape(list(y.shape[:len(rest)]) + [-1])
        return fn(y, -1)
    return f


TIES = [[1.0, 3.0, 3.0, -1.0],
        [2.0, 2.0, 2.0, 2.0],
        [2.0, -4.0, 0.5, -4.0]]

# Values with many ties, drawn once (seeded) for topk and argmax.
_g = torch.Generator().manual_seed(15)


def tied(n):
    return [float(v) for v in torch.randint(0, 4, [n], generator=_g)]


CASES = []

# ---- min: torch.amin over axes, torch.min over all ----
CASES += [
    case("min", "", torch.min, [T([3, 4])]),
    case("min", "axes=1", lambda x: torch.amin(x, dim=1), [T([3, 4])]),
    case("min", "axes=0,2 keepdim=1",
         lambda x: torch.amin(x, dim=(0, 2), keepdim=True), [T([2, 3, 4])]),
    case("min", "axes=-1", lambda x: torch.amin(x, dim=-1), [T([2, 3, 4])]),
    case("min", "axes=1 keepdim=1",
         lambda x: torch.amin(x, dim=1, keepdim=True), [T([3, 1])],
         name="min-size1"),
    case("min", "axes=1", lambda x: torch.amin(x, dim=1), [T([0, 3])],
         name="min-empty-rows"),
    case("min", "", torch.min, [V(flat(TIES), [3, 4])], name="ties-min-all"),
    case("min", "axes=1", lambda x: torch.amin(x, dim=1),
         [V(flat(TIES), [3, 4])], name="ties-min-axes=1"),
    case("min", "axes=0 keepdim=1",
         lambda x: torch.amin(x, dim=0, keepdim=True),
         [V(flat(TIES), [3, 4])], name="ties-min-axes=0-keepdim"),
    case("min", "axes=0,1", lambda x: torch.amin(x, dim=(0, 1)),
         [V([5.0, -2.0, -2.0, 1.0, -2.0, 7.0], [2, 3])],
         name="ties-min-axes=0,1"),
]

# ---- prod: exact gradients with zeros ----
ZERO1 = [[1.5, 0.0, -2.0, 0.5], [1.0, 2.0, -0.5, 1.5], [0.0, 3.0, 1.0, 2.0]]
ZERO2 = [[0.0, 0.0, -2.0, 0.5], [1.0, 2.0, -0.5, 1.5], [0.0, 3.0, 0.0, 0.0]]
CASES += [
    case("prod", "", torch.prod, [T([3, 4])]),
    case("prod", "axes=1", lambda x: torch.prod(x, 1), [T([3, 4])]),
    case("prod", "axes=-1 keepdim=1",
         lambda x: torch.prod(x, -1, keepdim=True), [T([2, 3, 4])]),
    case("prod", "axes=0", lambda x: torch.prod(x, 0), [T([4, 1, 3])]),
    case("prod", "axes=1", lambda x: torch.prod(x, 1), [T([3, 1])],
         name="prod-size1"),
    case("prod", "axes=1", lambda x: torch.prod(x, 1), [T([2, 0])],
         name="prod-empty-axis"),
    case("prod", "axes=0,2", over(torch.prod, [0, 2]), [T([2, 3, 4])]),
    case("prod", "axes=0,2 keepdim=1",
         lambda x: over(torch.prod, [0, 2])(x).reshape(1, 3, 1),
         [T([2, 3, 2], kind="pos")]),
    case("prod", "axes=1", lambda x: torch.prod(x, 1),
         [V(flat(ZERO1), [3, 4])], name="zeros-prod-one-per-row"),
    case("prod", "axes=1", lambda x: torch.prod(x, 1),
         [V(flat(ZERO2), [3, 4])], name="zeros-prod-several"),
    case("prod", "axes=0", lambda x: torch.prod(x, 0),
         [V(flat(ZERO2), [3, 4])], name="zeros-prod-axes=0"),
    case("prod", "", torch.prod, [V([2.0, 0.0, 3.0, -1.0])],
         name="zeros-prod-all-one"),
    case("prod", "", torch.prod, [V([2.0, 0.0, 3.0, 0.0])],
         name="zeros-prod-all-two"),
]

# ---- var, std: correction, zero variance ----
CONST = [[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]]
for op, fn in (("var", torch.var), ("std", torch.std)):
    CASES += [
        case(op, "", fn, [T([3, 4])]),
        case(op, "axes=1", lambda x, fn=fn: fn(x, 1), [T([3, 4])]),
        case(op, "axes=0,2 keepdim=1",
             lambda x, fn=fn: fn(x, (0, 2), keepdim=True), [T([2, 3, 4])]),
        case(op, "axes=-1 correction=0",
             lambda x, fn=fn: fn(x, -1, correction=0), [T([2, 3, 4])]),
        case(op, "axes=0 correction=2",
             lambda x, fn=fn: fn(x, 0, correction=2), [T([5, 3])]),
        case(op, "axes=1 correction=-1",
             lambda x, fn=fn: fn(x, 1, correction=-1), [T([3, 4])]),
        case(op, "axes=1 keepdim=1 correction=0",
             lambda x, fn=fn: fn(x, 1, correction=0, keepdim=True),
             [T([3, 1])], name=op + "-size1"),
        case(op, "axes=1", lambda x, fn=fn: fn(x, 1),
             [V(flat(CONST), [2, 3])], name=op + "-zero-variance"),
        case(op, "axes=0,1", lambda x, fn=fn: fn(x, (0, 1)),
             [V([3.0] * 6, [2, 3])], name=op + "-constant"),
    ]

# ---- logsumexp ----
CASES += [
    case("logsumexp", "", lambda x: torch.logsumexp(x, (0, 1)),
         [T([3, 4])]),
    case("logsumexp", "axes=1", lambda x: torch.logsumexp(x, 1),
         [T([3, 4])]),
    case("logsumexp", "axes=0,2 keepdim=1",
         lambda x: torch.logsumexp(x, (0, 2), keepdim=True), [T([2, 3, 4])]),
    case("logsumexp", "axes=-1", lambda x: torch.logsumexp(x, -1),
         [T([2, 3, 4])]),
    case("logsumexp", "axes=1", lambda x: torch.logsumexp(x, 1),
         [T([3, 1])], name="logsumexp-size1"),
    case("logsumexp", "axes=1", lambda x: torch.logsumexp(x, 1),
         [T([3, 5], scale=1e4)], name="logsumexp-extreme"),
    case("logsumexp", "axes=1", lambda x: torch.logsumexp(x, 1),
         [V([1.0, 1.0, 1.0, -3.0, 5.0, 5.0], [2, 3])],
         name="logsumexp-ties"),
]

# ---- norm: torch.linalg.vector_norm(x, ord=p, dim, keepdim) ----
ZV = [[0.0, 0.0, 0.0], [3.0, -4.0, 0.0], [1.0, -1.0, 1.0]]


def vn(p, dim=None, keepdim=False):
    return lambda x: torch.linalg.vector_norm(x, p, dim=dim, keepdim=keepdim)


INF = float("inf")
CASES += [
    case("norm", "", vn(2), [T([3, 4])]),
    case("norm", "p=1 axes=1", vn(1, 1), [T([3, 4])]),
    case("norm", "p=3 axes=0,2 keepdim=1", vn(3, (0, 2), True),
         [T([2, 3, 4])]),
    case("norm", "p=inf axes=-1", vn(INF, -1), [T([2, 3, 4])]),
    case("norm", "p=-inf axes=0", vn(-INF, 0), [T([3, 4])]),
    case("norm", "p=0.5", vn(0.5), [T([5])]),
    case("norm", "p=1.5 axes=1", vn(1.5, 1), [T([4, 3])]),
    case("norm", "p=0 axes=1", vn(0, 1), [T([3, 4])]),
    case("norm", "p=-1 axes=1", vn(-1, 1), [T([3, 4])]),
    case("norm", "axes=1 keepdim=1", vn(2, 1, True), [T([3, 1])],
         name="norm-size1"),
    case("norm", "axes=1", vn(2, 1), [T([2, 0])], name="norm-empty-axis"),
]
for p in ("2", "1", "3", "0.5", "1.5", "inf", "-inf", "0"):
    CASES.append(case("norm", "p=%s axes=1" % p, vn(float(p), 1),
                      [V(flat(ZV), [3, 3])], name="zeros-norm-p=" + p))
CASES += [
    case("norm", "p=inf axes=1", vn(INF, 1),
         [V([3.0, -3.0, 1.0, 2.0, 2.0, 2.0], [2, 3])], name="ties-norm-inf"),
    case("norm", "p=-inf axes=1", vn(-INF, 1),
         [V([1.0, -1.0, 3.0, 2.0, -2.0, 2.0], [2, 3])],
         name="ties-norm--inf"),
]

# ---- argmax, argmin: int64, the first of ties, flattened by default ----
for op, fn in (("argmax", torch.argmax), ("argmin", torch.argmin)):
    CASES += [
        case(op, "", fn, [T([3, 4])]),
        case(op, "axis=1", lambda x, fn=fn: fn(x, 1), [T([3, 4])]),
        case(op, "axis=-1 keepdim=1", lambda x, fn=fn: fn(x, -1, True),
             [T([2, 3, 4])]),
        case(op, "keepdim=1", lambda x, fn=fn: fn(x, keepdim=True),
             [T([2, 3])]),
        case(op, "axis=0", lambda x, fn=fn: fn(x, 0), [T([3, 1])],
             name=op + "-size1"),
        case(op, "axis=1", lambda x, fn=fn: fn(x, 1), [T([0, 3])],
             name=op + "-empty-rows"),
        case(op, "", fn, [V(flat(TIES), [3, 4])], name="ties-" + op + "-all"),
        case(op, "axis=1", lambda x, fn=fn: fn(x, 1),
             [V(flat(TIES), [3, 4])], name="ties-" + op + "-axis=1"),
        case(op, "axis=0", lambda x, fn=fn: fn(x, 0),
             [V(tied(24), [6, 4])], name="ties-" + op + "-axis=0"),
        case(op, "axis=1", lambda x, fn=fn: fn(x, 1),
             [V([int(v) for v in tied(12)], [3, 4], dtype="int64")],
             name=op + "-int64", dtypes=("float64",)),
    ]

# ---- cumsum ----
CASES += [
    case("cumsum", "axis=1", lambda x: torch.cumsum(x, 1), [T([3, 4])]),
    case("cumsum", "axis=0", lambda x: torch.cumsum(x, 0), [T([3, 4])]),
    case("cumsum", "", lambda x: torch.cumsum(x, -1), [T([2, 3, 4])]),
    case("cumsum", "axis=-2", lambda x: torch.cumsum(x, -2), [T([2, 3, 4])]),
    case("cumsum", "axis=0", lambda x: torch.cumsum(x, 0), [T([1, 3])],
         name="cumsum-size1"),
    case("cumsum", "axis=1", lambda x: torch.cumsum(x, 1), [T([2, 0])],
         name="cumsum-empty-axis"),
    case("cumsum", "axis=0", lambda x: torch.cumsum(x, 0), [T([5])]),
    case("cumsum", "axis=1", lambda x: torch.cumsum(x, 1),
         [V([3, -1, 4, 1, -5, 9, 2, 6], [2, 4], dtype="int64")],
         name="cumsum-int64", dtypes=("float64",)),
]

# ---- topk: values and int64 indices; ties as PyTorch's CPU kernel ----


def tk(k, dim=-1, largest=True, sorted=True):
    return lambda x: tuple(torch.topk(x, k, dim, largest, sorted))


CASES += [
    case("topk", "k=2", tk(2), [T([3, 5])]),
    case("topk", "k=3 axis=0 largest=0", tk(3, 0, False), [T([4, 3])]),
    case("topk", "k=4 axis=-1 sorted=0", tk(4, -1, True, False),
         [T([2, 3, 6])]),
    case("topk", "k=2 axis=1", tk(2, 1), [T([2, 3, 4])]),
    case("topk", "k=1 axis=1", tk(1, 1), [T([3, 1])], name="topk-size1"),
    case("topk", "k=0", tk(0), [T([3, 4])], name="topk-k=0"),
    case("topk", "k=5", tk(5), [T([2, 5])], name="topk-k=n"),
    case("topk", "k=1", tk(1), [T([2, 70])], name="topk-partial-sort"),
    case("topk", "k=3 largest=0", tk(3, -1, False), [T([2, 200])],
         name="topk-partial-sort-smallest"),
    case("topk", "k=2", tk(2), [V([1.0, 3, 3, 2, 3, 1, 3])],
         name="ties-topk-k=2"),
    case("topk", "k=4 largest=0", tk(4, -1, False),
         [V([1.0, 3, 3, 2, 3, 1, 3])], name="ties-topk-smallest"),
    case("topk", "k=4 sorted=0", tk(4, -1, True, False),
         [V([1.0, 3, 3, 2, 3, 1, 3])], name="ties-topk-unsorted"),
]
for n, k in ((8, 3), (20, 5), (20, 12), (40, 17), (150, 2), (300, 4)):
    for largest in (1, 0):
        CASES.append(case(
            "topk", "k=%d largest=%d" % (k, largest),
            tk(k, -1, bool(largest)), [V(tied(3 * n), [3, n])],
            name="ties-topk-n=%d-k=%d-largest=%d" % (n, k, largest)))
CASES += [
    case("topk", "k=9 axis=0 sorted=0", tk(9, 0, True, False),
         [V(tied(60), [30, 2])], name="ties-topk-axis=0-unsorted"),
]
