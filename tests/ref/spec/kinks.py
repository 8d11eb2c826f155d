"""Reference cases exactly at kinks and ties: where an op's derivative
is not defined, PyTorch picks a value, and nabla must pick the same.

Every registered op with a kink, a limit or a tie rule is evaluated on
inputs that sit on it (and next to it), in float32 and float64:

  relu, leaky_relu, rrelu (eval), prelu, elu, selu, celu at 0;
  hardtanh at its limits (relu6 among them); hardsigmoid and hardswish at -3 and 3;
  softplus at its threshold; abs and l1_penalty at +0 and -0;
  pow at 0 for exponents with a finite derivative there;
  max with ties (split evenly among the tied maxima, as torch.amax and
  torch.max() do, for one axis, several and all); max_pool2d with tied
  windows (the first maximum of a window, as PyTorch's kernel);
  the smooth activations at 0 (softsign's |x|, gelu, silu, mish, ...);
  mse where input equals target.

Results that are infinite (sqrt, log at 0; pow with an exponent below 1
at 0) cannot be written in JSON: tests/test_reference.c checks those
against PyTorch's values in reference.infinite_derivatives.  This family
is not in tests/ref/gen_edge_ref.py's list: its inputs are chosen, and
overwriting their first element with NaN would only repeat base.py's.
"""
import torch
import torch.nn.functional as F
from gen_ref import T, case

Z = [-1.0, -0.0, 0.0, 0.5]  # the kink at 0, approached from both sides


def V(values, shape=None):
    return T(shape or [len(values)], values=values)


UNARY = [
    ("relu", "", F.relu, Z),
    ("leaky_relu", "", F.leaky_relu, Z),
    ("leaky_relu", "negative_slope=0.2", lambda x: F.leaky_relu(x, 0.2), Z),
    ("leaky_relu", "negative_slope=-0.5",
     lambda x: F.leaky_relu(x, -0.5), Z),
    ("rrelu", "", lambda x: F.rrelu(x, training=False), Z),
    ("rrelu", "lower=0.1 upper=0.3",
     lambda x: F.rrelu(x, 0.1, 0.3, training=False), Z),
    ("elu", "", F.elu, Z),
    ("elu", "alpha=0.5", lambda x: F.elu(x, 0.5), Z),
    ("selu", "", F.selu, Z),
    ("celu", "", F.celu, Z),
    ("celu", "alpha=2", lambda x: F.celu(x, 2.0), Z),
    ("celu", "alpha=0.5", lambda x: F.celu(x, 0.5), Z),
    ("hardtanh", "", F.hardtanh, [-2.0, -1.0, 0.0, 1.0, 2.0]),
    ("hardtanh", "min_val=-0.5 max_val=2",
     lambda x: F.hardtanh(x, -0.5, 2.0), [-1.0, -0.5, 0.0, 2.0, 3.0]),
    ("hardtanh", "min_val=0 max_val=6", F.relu6,  # relu6
     [-1.0, -0.0, 0.0, 3.0, 6.0, 7.0]),
    ("hardtanh", "min_val=0.5 max_val=0.5",
     lambda x: F.hardtanh(x, 0.5, 0.5), [0.0, 0.5, 1.0]),
    ("hardsigmoid", "", F.hardsigmoid, [-4.0, -3.0, 0.0, 3.0, 4.0]),
    ("hardswish", "", F.hardswish, [-4.0, -3.0, 0.0, 3.0, 4.0]),
    ("softplus", "", F.softplus, [-20.0, 0.0, 19.5, 20.0, 20.5]),
    ("softplus", "beta=2 threshold=10",
     lambda x: F.softplus(x, beta=2, threshold=10), [0.0, 5.0, 5.5]),
    ("softplus", "beta=-1 threshold=2",
     lambda x: F.softplus(x, beta=-1, threshold=2), [-3.0, -2.0, 0.0]),
    ("abs", "", torch.abs, Z),
    ("sign", "", torch.sign, [-1.0, -0.0, 0.0, 0.5]),
    ("floor", "", torch.floor, [-1.5, -1.0, -0.0, 0.0, 1.0, 2.0, 2.5]),
    ("ceil", "", torch.ceil, [-1.5, -1.0, -0.0, 0.0, 1.0, 2.0, 2.5]),
    ("round", "", torch.round,
     [-2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 3.5, 0.49, 0.51]),
    ("clamp", "min=-0.5 max=0.5",
     lambda x: torch.clamp(x, min=-0.5, max=0.5),
     [-1.0, -0.5, -0.0, 0.0, 0.5, 1.0]),
    ("clamp", "min=0", lambda x: torch.clamp(x, min=0.0),
     [-1.0, -0.0, 0.0, 1.0]),
    ("clamp", "max=0", lambda x: torch.clamp(x, max=0.0),
     [-1.0, -0.0, 0.0, 1.0]),
    ("clamp", "min=0.5 max=-0.5",  # min > max: every element is max
     lambda x: torch.clamp(x, min=0.5, max=-0.5),
     [-1.0, -0.5, 0.0, 0.5, 1.0]),
    ("clamp", "min=0.5 max=0.5", lambda x: torch.clamp(x, min=0.5, max=0.5),
     [0.0, 0.5, 1.0]),
    ("rsqrt", "", torch.rsqrt, [0.25, 1.0, 4.0]),
    ("reciprocal", "", torch.reciprocal, [-2.0, -0.5, 0.5, 2.0]),
    ("log1p", "", torch.log1p, [-0.5, -0.0, 0.0, 1e-8]),
    ("expm1", "", torch.expm1, [-1e-8, -0.0, 0.0, 1e-8]),
    ("erf", "", torch.erf, [-6.0, -0.0, 0.0, 6.0]),
    ("sin", "", torch.sin, [-0.0, 0.0, 1.5707963267948966]),
    ("cos", "", torch.cos, [-0.0, 0.0, 3.141592653589793]),
    ("pow", "exponent=2", lambda x: torch.pow(x, 2), Z),
    ("pow", "exponent=3", lambda x: torch.pow(x, 3), Z),
    ("pow", "exponent=1", lambda x: torch.pow(x, 1), Z),
    ("pow", "exponent=0", lambda x: torch.pow(x, 0), Z),
    ("pow", "exponent=2.5", lambda x: torch.pow(x, 2.5), [-0.0, 0.0, 0.5]),
    ("pow", "exponent=1.5", lambda x: torch.pow(x, 1.5), [-0.0, 0.0, 0.5]),
    ("sigmoid", "", torch.sigmoid, Z),
    ("tanh", "", torch.tanh, Z),
    ("gelu", "", F.gelu, Z),
    ("gelu", "approximate=tanh", lambda x: F.gelu(x, approximate="tanh"),
     Z),
    ("silu", "", F.silu, Z),
    ("mish", "", F.mish, Z),
    ("softsign", "", F.softsign, Z),
    ("log_sigmoid", "", F.logsigmoid, Z),
]

CASES = []
for op, attrs, fn, xs in UNARY:
    tag = op + ("|" + attrs if attrs else "")
    CASES.append(case(op, attrs, fn, [V(xs)], name="kink-" + tag,
                      training=op != "rrelu"))

CASES += [
    case("prelu", "", F.prelu,
         [V([0.0, -0.0, -1.0, 1.0, 0.0, 2.0], [2, 3]),
          V([0.25, -0.5, 1.5])], name="kink-prelu-channels"),
    case("prelu", "", F.prelu, [V(Z), V([0.3], [1])],
         name="kink-prelu-shared"),
    case("l1_penalty", "lambda=0.5", lambda w: 0.5 * w.abs().sum(), [V(Z)],
         name="kink-l1_penalty"),
    case("maximum", "", torch.maximum,
         [V([1.0, 2.0, -0.0, 0.0, 3.0, -1.0]),
          V([1.0, 2.0, 0.0, -0.0, 1.0, 2.0])], name="ties-maximum"),
    case("minimum", "", torch.minimum,
         [V([1.0, 2.0, -0.0, 0.0, 3.0, -1.0]),
          V([1.0, 2.0, 0.0, -0.0, 1.0, 2.0])], name="ties-minimum"),
    case("maximum", "", torch.maximum,
         [V([1.0, 2.0, 2.0, 3.0], [2, 2]), V([2.0, 1.0], [2])],
         name="ties-maximum-broadcast"),
    case("minimum", "", torch.minimum,
         [V([1.0, 2.0, 2.0, 3.0], [2, 2]), V([2.0, 1.0], [2])],
         name="ties-minimum-broadcast"),
    case("mse", "", F.mse_loss,
         [V([1.0, 2.0, -0.5, 0.0]), V([1.0, 0.0, -0.5, 0.0])],
         name="kink-mse-equal"),
]

# max: the gradient is split evenly among the elements equal to the
# maximum of their group (torch.amax for axes, torch.max() for all).
TIES = [[1.0, 3.0, 3.0, -1.0],
        [2.0, 2.0, 2.0, 2.0],
        [2.0, -4.0, 0.5, 0.25]]
TIES3 = [[[1.0, 5.0], [5.0, 0.0], [5.0, 5.0]],
         [[-1.0, -1.0], [-2.0, -1.0], [-3.0, -1.0]]]


def flat(rows):
    return [v for r in rows for v in (flat(r) if isinstance(r, list)
                                      else [r])]


CASES += [
    case("max", "", torch.max, [V(flat(TIES), [3, 4])],
         name="ties-max-all"),
    case("max", "axes=0,1", lambda x: torch.amax(x, dim=(0, 1)),
         [V(flat(TIES), [3, 4])], name="ties-max-axes=0,1"),
    case("max", "axes=1", lambda x: torch.amax(x, dim=1),
         [V(flat(TIES), [3, 4])], name="ties-max-axes=1"),
    case("max", "axes=0 keepdim=1",
         lambda x: torch.amax(x, dim=0, keepdim=True),
         [V(flat(TIES), [3, 4])], name="ties-max-axes=0-keepdim"),
    case("max", "axes=-1", lambda x: torch.amax(x, dim=-1),
         [V(flat(TIES3), [2, 3, 2])], name="ties-max-axes=-1"),
    case("max", "axes=0,2", lambda x: torch.amax(x, dim=(0, 2)),
         [V(flat(TIES3), [2, 3, 2])], name="ties-max-axes=0,2"),
    case("max", "", torch.max, [V(flat(TIES3), [2, 3, 2])],
         name="ties-max-all-3d"),
    case("max", "", torch.max, [V([7.0, 7.0, 7.0])],
         name="ties-max-all-equal"),
    # Overlapping windows share a tied maximum; padding never wins.
    case("max_pool2d", "kernel_size=2",
         lambda x: F.max_pool2d(x, 2),
         [V([1.0, 1.0, 2.0, 0.0,
             1.0, 1.0, 2.0, 2.0,
             3.0, 0.0, -1.0, -1.0,
             0.0, 3.0, -1.0, -1.0], [1, 1, 4, 4])],
         name="ties-max_pool2d"),
    case("max_pool2d", "kernel_size=2 stride=1",
         lambda x: F.max_pool2d(x, 2, 1),
         [V([1.0, 2.0, 2.0,
             2.0, 2.0, 1.0,
             0.0, 2.0, 2.0], [1, 1, 3, 3])],
         name="ties-max_pool2d-overlap"),
    case("max_pool2d", "kernel_size=3 stride=2 padding=1",
         lambda x: F.max_pool2d(x, 3, 2, 1),
         [V([-1.0] * 16, [1, 1, 4, 4])], name="ties-max_pool2d-padded"),
]
