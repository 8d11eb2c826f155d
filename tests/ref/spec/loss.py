"""Reference cases for the losses (issue 15): nll_loss,
binary_cross_entropy, binary_cross_entropy_with_logits, l1_loss,
smooth_l1_loss, huber_loss, kl_div, cosine_similarity, and the
reduction and class weight of mse and cross_entropy.

Every reduction, ignore_index hits, class weights, empty batches (sum
and none: the mean of nothing is NaN, which JSON cannot hold; the C
tests check it), the kinks (l1 at 0, smooth_l1 / huber at |d| = beta /
delta, smooth_l1 with beta = 0 at d = 0), binary cross-entropy at
probabilities 0 and 1 (log clamped at -100; the target's gradient is
infinite there, so it is not recorded), kl_div at t = 0 (0 log 0 = 0;
the target's gradient is NaN there, not recorded) and cosine_similarity
where eps clamps a norm."""
import torch
import torch.nn.functional as F
from gen_ref import T, case


def W(n):
    """Class or element weights: positive, never differentiated."""
    return T([n], kind="pos", grad=False)


def P(shape, grad=True):
    """Probabilities away from 0 and 1."""
    return T(shape, kind="rand", lo=0.05, hi=0.95, grad=grad)


def I(shape, n):
    return T(shape, kind="int", n=n)


def V(shape, values, grad=True):
    return T(shape, values=values, grad=grad)


def IV(shape, values):
    return T(shape, values=values, dtype="int64")


EMPTY2 = [T([0, 3]), T([0], values=[], dtype="int64")]

CASES = [
    # ---- mse: reduction ----
    case("mse", "reduction=none",
         lambda x, t: F.mse_loss(x, t, reduction="none"),
         [T([3, 4]), T([3, 4])]),
    case("mse", "reduction=sum",
         lambda x, t: F.mse_loss(x, t, reduction="sum"),
         [T([2, 3, 2]), T([2, 3, 2])]),
    case("mse", "reduction=mean", F.mse_loss, [T([5]), T([5])],
         name="mse-explicit-mean"),
    case("mse", "reduction=sum",
         lambda x, t: F.mse_loss(x, t, reduction="sum"),
         [T([0]), T([0])], name="mse-empty-sum"),
    case("mse", "reduction=none",
         lambda x, t: F.mse_loss(x, t, reduction="none"),
         [T([0, 3]), T([0, 3])], name="mse-empty-none"),

    # ---- cross_entropy: weight and reduction ----
    case("cross_entropy", "",
         lambda x, t, w: F.cross_entropy(x, t, weight=w),
         [T([5, 4]), I([5], 4), W(4)], name="ce-weight"),
    case("cross_entropy", "reduction=sum",
         lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="sum"),
         [T([5, 4]), I([5], 4), W(4)], name="ce-weight-sum"),
    case("cross_entropy", "reduction=none",
         lambda x, t: F.cross_entropy(x, t, reduction="none"),
         [T([5, 4]), I([5], 4)], name="ce-none"),
    case("cross_entropy", "reduction=none",
         lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="none"),
         [T([2, 3, 4]), IV([2, 4], [0, 2, -100, 1, 2, -100, 0, 1]), W(3)],
         name="ce-spatial-weight-ignore-none"),
    case("cross_entropy", "ignore_index=1",
         lambda x, t, w: F.cross_entropy(x, t, weight=w, ignore_index=1),
         [T([6, 3]), IV([6], [0, 1, 2, 1, 2, 0]), W(3)],
         name="ce-weight-ignore"),
    case("cross_entropy", "label_smoothing=0.2",
         lambda x, t, w: F.cross_entropy(x, t, weight=w,
                                         label_smoothing=0.2),
         [T([5, 4]), I([5], 4), W(4)], name="ce-weight-smoothing"),
    case("cross_entropy", "label_smoothing=0.3 ignore_index=0",
         lambda x, t, w: F.cross_entropy(x, t, weight=w, ignore_index=0,
                                         label_smoothing=0.3),
         [T([2, 3, 4]), IV([2, 4], [0, 2, 1, 1, 2, 0, 0, 1]), W(3)],
         name="ce-spatial-weight-smoothing-ignore"),
    case("cross_entropy", "label_smoothing=0.1 reduction=sum",
         lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="sum",
                                         label_smoothing=0.1),
         [T([5, 4]), IV([5], [3, -100, 0, 1, 3]), W(4)],
         name="ce-weight-smoothing-sum"),
    case("cross_entropy", "label_smoothing=0.1 reduction=none",
         lambda x, t: F.cross_entropy(x, t, reduction="none",
                                      label_smoothing=0.1),
         [T([5, 4]), IV([5], [3, -100, 0, 1, 3])],
         name="ce-smoothing-none"),
    case("cross_entropy", "reduction=sum",
         lambda x, t: F.cross_entropy(x, t, reduction="sum"),
         EMPTY2, name="ce-empty-sum"),
    case("cross_entropy", "reduction=none",
         lambda x, t: F.cross_entropy(x, t, reduction="none"),
         EMPTY2, name="ce-empty-none"),

    # ---- nll_loss ----
    case("nll_loss", "", F.nll_loss, [T([4, 5]), I([4], 5)]),
    case("nll_loss", "", lambda x, t, w: F.nll_loss(x, t, weight=w),
         [T([6, 3]), IV([6], [0, 1, 2, -100, 2, 2]), W(3)],
         name="nll-weight-ignore"),
    case("nll_loss", "reduction=sum",
         lambda x, t, w: F.nll_loss(x, t, weight=w, reduction="sum"),
         [T([4, 5]), I([4], 5), W(5)], name="nll-weight-sum"),
    case("nll_loss", "reduction=none ignore_index=2",
         lambda x, t, w: F.nll_loss(x, t, weight=w, reduction="none",
                                    ignore_index=2),
         [T([5, 3]), IV([5], [2, 0, 1, 2, 1]), W(3)],
         name="nll-weight-ignore-none"),
    case("nll_loss", "",
         F.nll_loss,
         [T([2, 3, 4]), I([2, 4], 3)], name="nll-spatial"),
    case("nll_loss", "reduction=none",
         lambda x, t, w: F.nll_loss(x, t, weight=w, reduction="none"),
         [T([2, 3, 2, 2]), IV([2, 2, 2], [0, 1, 2, -100, 2, 1, 0, 0]),
          W(3)], name="nll-spatial-none"),
    case("nll_loss", "reduction=sum",
         lambda x, t: F.nll_loss(x, t, reduction="sum"),
         [T([3, 4]), IV([3], [-100, -100, -100])],
         name="nll-all-ignored-sum"),
    case("nll_loss", "reduction=sum",
         lambda x, t: F.nll_loss(x, t, reduction="sum"),
         EMPTY2, name="nll-empty-sum"),
    case("nll_loss", "reduction=none",
         lambda x, t: F.nll_loss(x, t, reduction="none"),
         EMPTY2, name="nll-empty-none"),

    # ---- binary_cross_entropy ----
    case("binary_cross_entropy", "", F.binary_cross_entropy,
         [P([3, 4]), P([3, 4])]),
    case("binary_cross_entropy", "reduction=sum",
         lambda x, t, w: F.binary_cross_entropy(x, t, weight=w,
                                                reduction="sum"),
         [P([3, 4]), P([3, 4]), W(4)], name="bce-weight-row-sum"),
    case("binary_cross_entropy", "reduction=none",
         lambda x, t, w: F.binary_cross_entropy(x, t, weight=w,
                                                reduction="none"),
         [P([3, 4]), P([3, 4]), T([3, 1], kind="pos", grad=False)],
         name="bce-weight-col-none"),
    case("binary_cross_entropy", "",
         lambda x, t, w: F.binary_cross_entropy(x, t, weight=w),
         [P([2, 3]), P([2, 3]), T([2, 3], kind="pos", grad=False)],
         name="bce-weight-full"),
    case("binary_cross_entropy", "reduction=none",
         lambda x, t: F.binary_cross_entropy(x, t, reduction="none"),
         [V([6], [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]),
          V([6], [0.0, 1.0, 1.0, 0.0, 0.5, 0.25], grad=False)],
         name="bce-at-0-and-1"),
    case("binary_cross_entropy", "reduction=sum",
         lambda x, t: F.binary_cross_entropy(x, t, reduction="sum"),
         [V([4], [0.0, 1.0, 1e-30, 0.5]),
          V([4], [0.3, 0.7, 1.0, 0.5], grad=False)],
         name="bce-clamped-sum"),
    case("binary_cross_entropy", "reduction=sum",
         lambda x, t: F.binary_cross_entropy(x, t, reduction="sum"),
         [T([0]), T([0])], name="bce-empty-sum"),

    # ---- binary_cross_entropy_with_logits ----
    case("binary_cross_entropy_with_logits", "",
         F.binary_cross_entropy_with_logits, [T([3, 4]), P([3, 4])]),
    case("binary_cross_entropy_with_logits", "reduction=sum",
         lambda x, t, w: F.binary_cross_entropy_with_logits(
             x, t, weight=w, reduction="sum"),
         [T([3, 4]), P([3, 4]), W(4)], name="bcel-weight-sum"),
    case("binary_cross_entropy_with_logits", "reduction=none",
         lambda x, t, w, pw: F.binary_cross_entropy_with_logits(
             x, t, weight=w, pos_weight=pw, reduction="none"),
         [T([3, 4]), P([3, 4]), T([3, 1], kind="pos", grad=False), W(4)],
         name="bcel-weight-posweight-none"),
    case("binary_cross_entropy_with_logits", "",
         lambda x, t, w, pw: F.binary_cross_entropy_with_logits(
             x, t, pos_weight=pw),
         [T([2, 3, 4]), P([2, 3, 4]), None, W(4)],
         name="bcel-posweight"),
    case("binary_cross_entropy_with_logits", "reduction=none",
         lambda x, t: F.binary_cross_entropy_with_logits(
             x, t, reduction="none"),
         [V([6], [-40.0, -30.0, 0.0, 30.0, 40.0, 1e-3]),
          V([6], [0.0, 1.0, 0.5, 0.0, 1.0, 0.2])],
         name="bcel-large-logits"),
    case("binary_cross_entropy_with_logits", "reduction=sum",
         lambda x, t: F.binary_cross_entropy_with_logits(
             x, t, reduction="sum"),
         [T([0, 2]), T([0, 2])], name="bcel-empty-sum"),

    # ---- l1_loss ----
    case("l1_loss", "", F.l1_loss, [T([3, 4]), T([3, 4])]),
    case("l1_loss", "reduction=sum",
         lambda x, t: F.l1_loss(x, t, reduction="sum"),
         [T([2, 3]), T([2, 3])]),
    case("l1_loss", "reduction=none",
         lambda x, t: F.l1_loss(x, t, reduction="none"),
         [V([5], [0.5, -1.0, 2.0, 0.0, -0.25]),
          V([5], [0.5, -1.0, 1.0, 0.0, 0.25])], name="l1-kink-at-0"),
    case("l1_loss", "reduction=none",
         lambda x, t: F.l1_loss(x, t, reduction="none"),
         [T([0, 2]), T([0, 2])], name="l1-empty-none"),

    # ---- smooth_l1_loss ----
    case("smooth_l1_loss", "", F.smooth_l1_loss, [T([3, 4]), T([3, 4])]),
    case("smooth_l1_loss", "beta=0.5 reduction=sum",
         lambda x, t: F.smooth_l1_loss(x, t, beta=0.5, reduction="sum"),
         [T([2, 3]), T([2, 3])]),
    case("smooth_l1_loss", "reduction=none",
         lambda x, t: F.smooth_l1_loss(x, t, reduction="none"),
         [V([6], [1.0, -1.0, 0.5, 2.5, 0.0, 3.0]),
          V([6], [0.0, 0.0, 1.5, 1.5, 0.0, 3.5])],
         name="smooth_l1-kink-at-beta"),
    case("smooth_l1_loss", "beta=0.25 reduction=none",
         lambda x, t: F.smooth_l1_loss(x, t, beta=0.25, reduction="none"),
         [V([4], [0.25, -0.25, 0.125, 1.0]),
          V([4], [0.0, 0.0, 0.0, 0.0])],
         name="smooth_l1-kink-at-beta-0.25"),
    case("smooth_l1_loss", "beta=0 reduction=none",
         lambda x, t: F.smooth_l1_loss(x, t, beta=0.0, reduction="none"),
         [V([5], [0.0, 1.0, -1.0, 0.5, 2.0]),
          V([5], [0.0, 0.0, 0.0, 0.5, -1.0])],
         name="smooth_l1-beta-0"),
    case("smooth_l1_loss", "beta=0",
         lambda x, t: F.smooth_l1_loss(x, t, beta=0.0),
         [T([3, 4]), T([3, 4])], name="smooth_l1-beta-0-mean"),
    case("smooth_l1_loss", "reduction=sum",
         lambda x, t: F.smooth_l1_loss(x, t, reduction="sum"),
         [T([0]), T([0])], name="smooth_l1-empty-sum"),

    # ---- huber_loss ----
    case("huber_loss", "", F.huber_loss, [T([3, 4]), T([3, 4])]),
    case("huber_loss", "delta=2 reduction=sum",
         lambda x, t: F.huber_loss(x, t, delta=2.0, reduction="sum"),
         [T([2, 3], scale=3.0), T([2, 3])]),
    case("huber_loss", "reduction=none",
         lambda x, t: F.huber_loss(x, t, reduction="none"),
         [V([6], [1.0, -1.0, 0.5, 2.5, 0.0, 3.0]),
          V([6], [0.0, 0.0, 1.5, 1.5, 0.0, 3.5])],
         name="huber-kink-at-delta"),
    case("huber_loss", "delta=0.5 reduction=none",
         lambda x, t: F.huber_loss(x, t, delta=0.5, reduction="none"),
         [V([4], [0.5, -0.5, 0.25, 2.0]), V([4], [0.0, 0.0, 0.0, 0.0])],
         name="huber-kink-at-delta-0.5"),
    case("huber_loss", "reduction=none",
         lambda x, t: F.huber_loss(x, t, reduction="none"),
         [T([0, 3]), T([0, 3])], name="huber-empty-none"),

    # ---- kl_div ----
    case("kl_div", "", F.kl_div,
         [T([3, 4]), T([3, 4], kind="pos")]),
    case("kl_div", "reduction=batchmean",
         lambda x, t: F.kl_div(x, t, reduction="batchmean"),
         [T([3, 4]), P([3, 4])]),
    case("kl_div", "reduction=sum",
         lambda x, t: F.kl_div(x, t, reduction="sum"),
         [T([2, 3, 2]), P([2, 3, 2])]),
    case("kl_div", "reduction=none",
         lambda x, t: F.kl_div(x, t, reduction="none"),
         [T([2, 3]), P([2, 3])]),
    case("kl_div", "log_target=1",
         lambda x, t: F.kl_div(x, t, log_target=True),
         [T([3, 4]), T([3, 4])]),
    case("kl_div", "log_target=1 reduction=batchmean",
         lambda x, t: F.kl_div(x, t, reduction="batchmean",
                               log_target=True),
         [T([4, 3]), T([4, 3])]),
    case("kl_div", "reduction=none",
         lambda x, t: F.kl_div(x, t, reduction="none"),
         [T([5]), V([5], [0.0, 0.5, 0.0, 1.0, 2.0], grad=False)],
         name="kl_div-target-0"),
    case("kl_div", "reduction=batchmean",
         lambda x, t: F.kl_div(x, t, reduction="batchmean"),
         [T([]), T([], kind="pos")], name="kl_div-scalar-batchmean"),
    case("kl_div", "reduction=sum",
         lambda x, t: F.kl_div(x, t, reduction="sum"),
         [T([0, 3]), T([0, 3])], name="kl_div-empty-sum"),

    # ---- cosine_similarity ----
    case("cosine_similarity", "", F.cosine_similarity,
         [T([3, 4]), T([3, 4])]),
    case("cosine_similarity", "axis=-1",
         lambda a, b: F.cosine_similarity(a, b, dim=-1),
         [T([2, 3, 4]), T([3, 4])]),
    case("cosine_similarity", "axis=0",
         lambda a, b: F.cosine_similarity(a, b, dim=0),
         [T([4, 1]), T([3])]),
    case("cosine_similarity", "eps=0.001",
         lambda a, b: F.cosine_similarity(a, b, eps=1e-3),
         [V([3, 3], [1e-5, 2e-5, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]),
          V([3, 3], [1e-4, 0.0, 1e-5, 1e-5, 0.0, 0.0, 1.0, 2.0, 3.0])],
         name="cosine-eps-clamps"),
    case("cosine_similarity", "axis=1",
         lambda a, b: F.cosine_similarity(a, b, dim=1),
         [T([2, 0]), T([2, 0])], name="cosine-empty-dim"),
    case("cosine_similarity", "axis=0",
         lambda a, b: F.cosine_similarity(a, b, dim=0),
         [T([0, 3]), T([0, 3])], name="cosine-empty-vectors"),
]
