"""Reference cases for scaled_dot_product_attention (lib/ops/attention.c).

PyTorch 1.13 has no F.scaled_dot_product_attention, so the reference is
written with torch ops: softmax(q k^T * scale + bias, masked) v, where
the bool mask is true for the keys a query may attend to (PyTorch 2's
convention), the float bias is added, and causal keeps key j <= query i.
A fully masked row gives zeros (nabla's definition; PyTorch 2 gives NaN).
Dropout is checked by gradcheck and statistics (tests/test_attention.c),
never here: the references are at dropout_p = 0."""
import math

import torch
from gen_ref import T, case


def sdpa(causal=False, scale=0.0):
    def fn(q, k, v, mask=None, bias=None):
        sc = scale if scale > 0 else 1 / math.sqrt(q.shape[-1])
        s = q @ k.transpose(-2, -1) * sc
        if bias is not None:
            s = s + bias
        L, S = s.shape[-2], s.shape[-1]
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        if causal:
            tri = torch.ones(L, S, dtype=torch.bool).tril()
            s = s.masked_fill(~tri, float("-inf"))
        dead = (s == float("-inf")).all(-1, keepdim=True)
        p = torch.softmax(s.masked_fill(dead, 0.0), -1).masked_fill(dead, 0)
        return p @ v
    return fn


def heads(h, causal=False, scale=0.0):
    """num_heads = h: the heads side by side in the last axis."""
    inner = sdpa(causal, scale)

    def split(x):  # [..., n, h e] -> [..., h, n, e]
        return x.reshape(*x.shape[:-1], h, x.shape[-1] // h).transpose(-3, -2)

    def fn(q, k, v, mask=None, bias=None):
        o = inner(split(q), split(k), split(v), mask, bias)
        o = o.transpose(-3, -2)
        return o.reshape(*o.shape[:-2], o.shape[-2] * o.shape[-1])
    return fn


def M(shape, values):
    return T(shape, values=values, dtype="bool")


OP = "scaled_dot_product_attention"
# row 1 of the mask is all false: that query attends to nothing
DEAD_ROW = [1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
CASES = [
    case(OP, "", sdpa(), [T([2, 3, 4]), T([2, 5, 4]), T([2, 5, 3]), None,
                          None], name="sdpa"),
    case(OP, "", sdpa(), [T([4, 8]), T([6, 8]), T([6, 5]), None, None],
         name="sdpa-2d-ev"),
    case(OP, "causal=1", sdpa(causal=True),
         [T([2, 2, 5, 4]), T([2, 2, 5, 4]), T([2, 2, 5, 3]), None, None],
         name="sdpa-causal"),
    case(OP, "causal=1", sdpa(causal=True),
         [T([3, 4]), T([5, 4]), T([5, 2]), None, None],
         name="sdpa-causal-rect"),
    case(OP, "scale=0.3", sdpa(scale=0.3),
         [T([2, 3, 4]), T([2, 5, 4]), T([2, 5, 3]), None, None],
         name="sdpa-scale"),
    case(OP, "", sdpa(),
         [T([2, 3, 4]), T([2, 5, 4]), T([2, 5, 3]),
          T([3, 5], kind="bool", grad=False), None], name="sdpa-boolmask"),
    case(OP, "", sdpa(),
         [T([2, 3, 4]), T([2, 5, 4]), T([2, 5, 3]), M([3, 5], DEAD_ROW),
          None], name="sdpa-dead-row"),
    # key padding: [B, 1, 1, S] over [B, H, L, S]
    case(OP, "", sdpa(),
         [T([2, 2, 3, 4]), T([2, 2, 4, 4]), T([2, 2, 4, 3]),
          M([2, 1, 1, 4], [1, 1, 1, 0, 1, 0, 1, 1]), None],
         name="sdpa-key-padding"),
    case(OP, "", sdpa(),
         [T([2, 3, 4]), T([2, 5, 4]), T([2, 5, 3]), None,
          T([3, 5], grad=False)], name="sdpa-bias"),
    case(OP, "causal=1 scale=0.5", sdpa(causal=True, scale=0.5),
         [T([2, 4, 3]), T([2, 4, 3]), T([2, 4, 3]),
          T([2, 1, 4], kind="bool", grad=False), T([4, 4], grad=False)],
         name="sdpa-all"),
    case(OP, "", sdpa(), [T([2, 3, 4]), T([2, 0, 4]), T([2, 0, 3]), None,
                          None], name="sdpa-no-keys"),
    # causal over several blocks of 16 query rows
    case(OP, "causal=1", sdpa(causal=True),
         [T([2, 40, 4]), T([2, 40, 4]), T([2, 40, 3]), None, None],
         name="sdpa-causal-long"),
    case(OP, "causal=1 num_heads=2", heads(2, causal=True),
         [T([33, 4]), T([20, 4]), T([20, 2]), None, None],
         name="sdpa-causal-long-rect"),
    # heads side by side: [B, L, H E]; masks over [B, H, L, S]
    case(OP, "num_heads=2", heads(2),
         [T([2, 3, 8]), T([2, 5, 8]), T([2, 5, 6]), None, None],
         name="sdpa-heads"),
    case(OP, "num_heads=3 causal=1", heads(3, causal=True),
         [T([4, 6]), T([4, 6]), T([4, 9]), None, T([3, 4, 4], grad=False)],
         name="sdpa-heads-causal-bias"),
    case(OP, "num_heads=2", heads(2),
         [T([2, 3, 4]), T([2, 4, 4]), T([2, 4, 2]),
          M([2, 1, 1, 4], [1, 1, 1, 0, 0, 1, 1, 1]), None],
         name="sdpa-heads-key-padding"),
]


def packed(h=1, causal=False, scale=0.0):
    """scaled_dot_product_attention_packed: q, k, v side by side in the
    last axis of one input, [..., L, 3 h e]."""
    inner = heads(h, causal, scale)

    def fn(qkv, mask=None, bias=None):
        q, k, v = qkv.chunk(3, -1)
        return inner(q, k, v, mask, bias)
    return fn


PACKED = "scaled_dot_product_attention_packed"
CASES += [
    case(PACKED, "", packed(), [T([2, 3, 12]), None, None],
         name="sdpa-packed"),
    case(PACKED, "num_heads=2 causal=1", packed(2, causal=True),
         [T([2, 5, 12]), None, None], name="sdpa-packed-heads-causal"),
    case(PACKED, "num_heads=2", packed(2),
         [T([2, 4, 12]), M([2, 1, 1, 4], [1, 1, 1, 0, 0, 1, 1, 1]), None],
         name="sdpa-packed-key-padding"),
    case(PACKED, "num_heads=3 causal=1 scale=0.5",
         packed(3, causal=True, scale=0.5),
         [T([4, 18]), None, T([3, 4, 4], grad=False)],
         name="sdpa-packed-causal-bias"),
    # causal over several blocks of 16 query rows
    case(PACKED, "causal=1 num_heads=2", packed(2, causal=True),
         [T([2, 40, 12]), None, None], name="sdpa-packed-causal-long"),
]
# float32 blocks through lib/ops/small_gemm.c: tiles of 4 rows and 16
# and 8 columns with remainders of each, and the transposed reads
CASES += [
    case(OP, "", sdpa(), [T([2, 7, 20]), T([2, 27, 20]), T([2, 27, 11]),
                          None, None], name="sdpa-tiles"),
    case(PACKED, "num_heads=2 causal=1", packed(2, causal=True),
         [T([2, 37, 72]), None, None], name="sdpa-packed-tiles"),
]
