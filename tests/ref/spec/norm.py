"""Reference cases for the normalizations: batch_norm, instance_norm,
group_norm, layer_norm.

Input order is nabla's: batch_norm(input, weight, bias, running_mean,
running_var, num_batches_tracked), instance_norm(input, weight, bias,
running_mean, running_var), group_norm and layer_norm(input, weight,
bias).  Running statistics are recorded after forward (state=...).
Several training steps in a row are covered by tests/ref/gen_norm_steps.py.
"""
import torch.nn.functional as F
from gen_ref import T, case

EPS = 1e-5


def stats(c):
    """running_mean, running_var of c channels (not differentiated)."""
    return [T([c], grad=False), T([c], kind="pos", grad=False)]


def bn(momentum=0.1, training=True, eps=EPS):
    """F.batch_norm with nabla's inputs; momentum None is the module's
    cumulative average, from the counter it increments."""
    def f(x, w, b, rm, rv, nbt):
        m = momentum
        if training and rm is not None and nbt is not None:
            nbt.add_(1)
            if m is None:
                m = 1.0 / float(nbt.item())
        return F.batch_norm(x, rm, rv, w, b, training or rm is None, m,
                            eps)
    return f


def inorm(training=True, momentum=0.1, eps=EPS):
    """F.instance_norm as nn.InstanceNorm calls it: input statistics in
    training mode or when nothing is tracked."""
    def f(x, w, b, rm, rv):
        return F.instance_norm(x, rm, rv, w, b, training or rm is None,
                               momentum, eps)
    return f


def counter(v):
    return T([], kind="int", values=[v])


# A constant input: var = 0, y = beta exactly.  float64 only for
# layer_norm, whose float32 PyTorch kernel gets the mean of 3.25s wrong
# in the last bit, so its xhat is 1e-4 instead of 0 (test_norm.c checks
# that ours is exact in both dtypes).
CONST = [3.25] * 24
# Inputs around 1e4 with unit spread: a one-pass variance would lose
# every digit.  float64 only: PyTorch's own float32 forward computes
# x * (gamma * invstd) + (beta - mean * gamma * invstd), which loses
# about 1e-3 there, more than the float32 tolerance.
BIG = dict(kind="rand", lo=1e4 - 2, hi=1e4 + 2)

CASES = [
    # ---- batch_norm ----
    case("batch_norm", "", bn(), [T([4, 3]), T([3]), T([3])] + stats(3) +
         [None], name="bn-2d", state=[3, 4]),
    case("batch_norm", "", bn(), [T([3, 4, 2, 3]), T([4]), T([4])] +
         stats(4) + [None], name="bn-4d", state=[3, 4]),
    case("batch_norm", "momentum=none", bn(None),
         [T([2, 3, 4, 4]), T([3]), T([3])] + stats(3) + [counter(2)],
         name="bn-cumulative", state=[3, 4, 5]),
    case("batch_norm", "momentum=0.3", bn(0.3),
         [T([5, 2, 3]), T([2]), T([2])] + stats(2) + [counter(0)],
         name="bn-counter", state=[3, 4, 5]),
    case("batch_norm", "", bn(training=False),
         [T([2, 3, 4, 4]), T([3]), T([3])] + stats(3) + [None],
         name="bn-eval", training=False, state=[3, 4]),
    case("batch_norm", "", bn(), [T([4, 3, 5]), None, None, None, None,
                                  None], name="bn-untracked-noaffine"),
    case("batch_norm", "", bn(training=False),
         [T([3, 2, 2, 2, 2]), T([2]), T([2]), None, None, None],
         name="bn-eval-untracked", training=False),
    case("batch_norm", "eps=0.001", bn(eps=1e-3),
         [T([5, 4]), T([4]), None] + stats(4) + [None],
         name="bn-weight-only", state=[3, 4]),
    case("batch_norm", "", bn(), [T([6, 2, 3]), None, T([2]), None, None,
                                  None], name="bn-bias-only"),
    case("batch_norm", "", bn(), [T([2, 2, 1, 2, 1, 1, 2, 2]), T([2]),
                                  T([2]), None, None, None],
         name="bn-rank8"),
    case("batch_norm", "", bn(), [T([6, 3, 4], **BIG), T([3]), T([3])] +
         stats(3) + [None], name="bn-large-mean", dtypes=("float64",),
         state=[3, 4]),
    case("batch_norm", "", bn(), [T([4, 2, 3], values=CONST), T([2]),
                                  T([2]), None, None, None],
         name="bn-constant"),
    # ---- instance_norm ----
    case("instance_norm", "", inorm(), [T([2, 3, 4]), T([3]), T([3])] +
         stats(3), name="in-train", state=[3, 4]),
    case("instance_norm", "momentum=0.5", inorm(momentum=0.5),
         [T([3, 2, 2, 3]), None, None] + stats(2), name="in-momentum",
         state=[3, 4]),
    case("instance_norm", "", inorm(training=False),
         [T([2, 3, 2, 3]), T([3]), T([3])] + stats(3), name="in-eval",
         training=False, state=[3, 4]),
    case("instance_norm", "", inorm(training=False),
         [T([3, 2, 5]), T([2]), T([2]), None, None],
         name="in-eval-untracked", training=False),
    case("instance_norm", "", inorm(), [T([2, 4, 3, 3]), None, None, None,
                                        None], name="in-noaffine"),
    case("instance_norm", "", inorm(), [T([2, 2, 8], **BIG), T([2]),
                                        T([2]), None, None],
         name="in-large-mean", dtypes=("float64",)),
    # ---- group_norm ----
    case("group_norm", "num_groups=2",
         lambda x, w, b: F.group_norm(x, 2, w, b, EPS),
         [T([2, 4, 3]), T([4]), T([4])], name="gn-2"),
    case("group_norm", "num_groups=2",
         lambda x, w, b: F.group_norm(x, 2, w, b, EPS),
         [T([4, 6]), T([6]), T([6])], name="gn-2d"),
    case("group_norm", "num_groups=6",
         lambda x, w, b: F.group_norm(x, 6, w, b, EPS),
         [T([2, 6, 2, 2]), None, None], name="gn-instance-like"),
    case("group_norm", "num_groups=1 eps=0.01",
         lambda x, w, b: F.group_norm(x, 1, w, b, 0.01),
         [T([2, 4, 2, 3]), T([4]), None], name="gn-1-weight-only"),
    case("group_norm", "num_groups=2",
         lambda x, w, b: F.group_norm(x, 2, w, b, EPS),
         [T([2, 4, 1, 2, 3]), T([4]), T([4])], name="gn-5d"),
    case("group_norm", "num_groups=2",
         lambda x, w, b: F.group_norm(x, 2, w, b, EPS),
         [T([3, 4, 5], **BIG), T([4]), T([4])], name="gn-large-mean",
         dtypes=("float64",)),
    # ---- layer_norm ----
    case("layer_norm", "", lambda x, w, b: F.layer_norm(x, (4,), w, b, EPS),
         [T([3, 4]), T([4]), T([4])], name="ln-last"),
    case("layer_norm", "normalized_shape=3,4",
         lambda x, w, b: F.layer_norm(x, (3, 4), w, b, EPS),
         [T([2, 3, 4]), T([3, 4]), T([3, 4])], name="ln-2dims"),
    case("layer_norm", "", lambda x, w, b: F.layer_norm(x, (5,), w, b, EPS),
         [T([2, 5]), None, None], name="ln-noaffine"),
    case("layer_norm", "eps=0.1",
         lambda x, w, b: F.layer_norm(x, (4,), w, b, 0.1),
         [T([2, 3, 4]), T([4]), None], name="ln-weight-only"),
    case("layer_norm", "normalized_shape=2,3",
         lambda x, w, b: F.layer_norm(x, (2, 3), w, b, EPS),
         [T([2, 1, 3, 2, 3]), None, T([2, 3])], name="ln-bias-only"),
    case("layer_norm", "", lambda x, w, b: F.layer_norm(x, (6,), w, b, EPS),
         [T([6]), T([6]), T([6])], name="ln-rank1"),
    case("layer_norm", "", lambda x, w, b: F.layer_norm(x, (8,), w, b, EPS),
         [T([3, 8], **BIG), T([8]), T([8])], name="ln-large-mean",
         dtypes=("float64",)),
    case("layer_norm", "", lambda x, w, b: F.layer_norm(x, (6,), w, b, EPS),
         [T([4, 6], values=CONST), T([6]), T([6])], name="ln-constant",
         dtypes=("float64",)),
]
