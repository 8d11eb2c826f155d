"""Reference cases for the activation ops (lib/ops/activation.c).

Each op gets random inputs (with its attribute variants) and the
extreme inputs below, so that the reference files prove the stable
forms: e.g. softplus(1e4) = 1e4, log_sigmoid(-1e4) = -1e4 and
sigmoid(-1e4) = 0 with gradient 0, all finite.  rrelu runs in
evaluation mode: PyTorch's generator cannot be matched, and
tests/test_activation.c checks its training behaviour instead.
"""
import torch
import torch.nn.functional as F
from gen_ref import T, case

EXTREME = [-1e4, -1e3, -100, -20, -1, -1e-3, 1e-3, 1, 20, 100, 1e3, 1e4]


def X(shape=(3, 4), scale=3.0):
    return T(list(shape), scale=scale)


def XE():
    return T([len(EXTREME)], values=EXTREME)


# op, attribute string, PyTorch function (one input).
UNARY = [
    ("sigmoid", "", torch.sigmoid),
    ("tanh", "", torch.tanh),
    ("relu", "", F.relu),
    ("leaky_relu", "", F.leaky_relu),
    ("leaky_relu", "negative_slope=0.2",
     lambda x: F.leaky_relu(x, 0.2)),
    ("rrelu", "", lambda x: F.rrelu(x, training=False)),
    ("rrelu", "lower=0.1 upper=0.3",
     lambda x: F.rrelu(x, 0.1, 0.3, training=False)),
    ("elu", "", F.elu),
    ("elu", "alpha=0.5", lambda x: F.elu(x, 0.5)),
    ("selu", "", F.selu),
    ("celu", "", F.celu),
    ("celu", "alpha=2", lambda x: F.celu(x, 2.0)),
    ("celu", "alpha=0.5", lambda x: F.celu(x, 0.5)),
    ("gelu", "", F.gelu),
    ("gelu", "approximate=tanh", lambda x: F.gelu(x, approximate="tanh")),
    ("silu", "", F.silu),
    ("mish", "", F.mish),
    ("softplus", "", F.softplus),
    ("softplus", "beta=2 threshold=10",
     lambda x: F.softplus(x, beta=2, threshold=10)),
    ("softplus", "beta=0.5", lambda x: F.softplus(x, beta=0.5)),
    ("softsign", "", F.softsign),
    ("hardtanh", "", F.hardtanh),
    ("hardtanh", "min_val=-0.5 max_val=2",
     lambda x: F.hardtanh(x, -0.5, 2.0)),
    ("hardsigmoid", "", F.hardsigmoid),
    ("hardswish", "", F.hardswish),
    ("log_sigmoid", "", F.logsigmoid),
]

CASES = []
for op, attrs, fn in UNARY:
    train = op != "rrelu"
    tag = op + ("|" + attrs if attrs else "")
    CASES += [
        case(op, attrs, fn, [X()], name=tag, training=train),
        case(op, attrs, fn, [X((2, 3, 5), scale=1.0)], name=tag + "-small",
             training=train),
        case(op, attrs, fn, [XE()], name=tag + "-extreme", training=train),
    ]

CASES += [
    case("prelu", "", F.prelu, [X((2, 3, 4)), T([3], kind="rand", lo=0,
                                                 hi=0.5)],
         name="prelu-channels"),
    case("prelu", "", F.prelu, [X((3, 4)), T([1], kind="rand", lo=0,
                                             hi=0.5)],
         name="prelu-shared"),
    case("prelu", "", F.prelu, [X((4, 3)), T([3])], name="prelu-2d"),
    case("prelu", "", F.prelu, [X((2, 3)), T([], values=[0.25])],
         name="prelu-scalar"),
    case("prelu", "", F.prelu, [XE(), T([1], values=[0.25])],
         name="prelu-extreme"),
]
