"""Reference cases for the regularizer ops: l1/l2 penalties, dropout,
alpha dropout and the gradient-clipping ops.

Random masks cannot be compared (PyTorch's generator is not nabla's), so
the dropouts are referenced only where they are deterministic: eval mode,
p = 0 and p = 1; their training behaviour is tested statistically in
tests/test_regularize.c.  The clipping ops are the identity forward; a
gradient hook applies the same clipping rule in PyTorch, so backward is
checked on both sides of the threshold."""
import torch
import torch.nn.functional as F
from gen_ref import T, case


def l1(lam):
    return lambda w: lam * w.abs().sum()


def l2(lam, half):
    return lambda w: (lam / 2 if half else lam) * (w * w).sum()


def hooked(rule):
    """The identity, with rule applied to the gradient flowing back."""
    def fn(x):
        y = x.clone()
        y.register_hook(rule)
        return y
    return fn


def clip_value(c):
    return hooked(lambda g: g.clamp(-c, c))


def clip_norm(max_norm):
    # torch.nn.utils.clip_grad_norm_'s coefficient, clamped to 1.
    def rule(g):
        coef = max_norm / (torch.linalg.vector_norm(g) + 1e-6)
        return g * torch.clamp(coef, max=1.0)
    return hooked(rule)


CASES = [
    case("l1_penalty", "", l1(1.0), [T([3, 4])]),
    case("l1_penalty", "lambda=0.25", l1(0.25), [T([2, 3, 4])]),
    case("l1_penalty", "lambda=0.5", l1(0.5),
         [T([5], values=[-1.5, 0.0, 2.0, 0.0, -0.25])], name="l1-zeros"),
    case("l2_penalty", "", l2(1.0, True), [T([3, 4])]),
    case("l2_penalty", "lambda=0.1", l2(0.1, True), [T([2, 3, 4])]),
    case("l2_penalty", "lambda=0.1 convention=full", l2(0.1, False),
         [T([2, 3, 4])]),
    case("l2_penalty", "convention=full", l2(1.0, False), [T([6])]),
    case("dropout", "", lambda x: F.dropout(x, 0.5, training=False),
         [T([4, 5])], training=False, name="dropout-eval"),
    case("dropout", "p=0.3", lambda x: F.dropout(x, 0.3, training=False),
         [T([2, 3, 4])], training=False, name="dropout-eval-p0.3"),
    case("dropout", "p=0", lambda x: F.dropout(x, 0.0, training=True),
         [T([4, 5])], name="dropout-p0"),
    case("dropout", "p=1", lambda x: F.dropout(x, 1.0, training=True),
         [T([4, 5])], name="dropout-p1"),
    case("alpha_dropout", "",
         lambda x: F.alpha_dropout(x, 0.5, training=False), [T([4, 5])],
         training=False, name="alpha_dropout-eval"),
    case("alpha_dropout", "p=0",
         lambda x: F.alpha_dropout(x, 0.0, training=True), [T([4, 5])],
         name="alpha_dropout-p0"),
    case("alpha_dropout", "p=1",
         lambda x: F.alpha_dropout(x, 1.0, training=True), [T([4, 5])],
         name="alpha_dropout-p1"),
    case("clip_grad_value", "clip=0.5", clip_value(0.5), [T([3, 4])]),
    case("clip_grad_value", "clip=10", clip_value(10.0), [T([3, 4])],
         name="clip_grad_value-inactive"),
    case("clip_grad_norm", "", clip_norm(1.0), [T([3, 4])]),
    case("clip_grad_norm", "max_norm=100", clip_norm(100.0), [T([3, 4])],
         name="clip_grad_norm-inactive"),
]
