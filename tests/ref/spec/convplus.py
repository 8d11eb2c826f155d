"""Reference cases for the convolution and normalization completions of
issue 15: conv1d, conv_transpose2d (lib/ops/conv.c),
adaptive_avg_pool2d, upsample_nearest2d, dropout2d (lib/ops/convplus.c)
and rms_norm (lib/ops/norm.c).

The cases cover strides, paddings, dilations and groups, output_padding
below the stride and (with stride 1) below the dilation, absent biases,
odd sizes, adaptive windows that overlap (output sizes that do not
divide the input's) and that upsample, nearest resizing by sizes and by
fractional scale factors in both directions, size-1 and empty batches.
PyTorch 1.13 has no RMSNorm: the reference is its formula in PyTorch
ops, with eps=None meaning torch.finfo(dtype).eps as in later PyTorch.
dropout2d is referenced where it is deterministic (evaluation mode,
p = 0, p = 1); its random mask is tested in tests/test_conv.c.
"""
import torch
import torch.nn.functional as F
from gen_ref import T, case


def conv1d(stride=1, padding=0, dilation=1, groups=1, bias=True):
    def f(x, w, b):
        return F.conv1d(x, w, b if bias else None, stride, padding,
                        dilation, groups)
    return f


def convt(stride=1, padding=0, output_padding=0, groups=1, dilation=1,
          bias=True):
    def f(x, w, b):
        return F.conv_transpose2d(x, w, b if bias else None, stride,
                                  padding, output_padding, groups, dilation)
    return f


def rms(shape, eps=None, weight=True):
    def f(x, w=None):
        e = torch.finfo(x.dtype).eps if eps is None else eps
        dims = tuple(range(-len(shape), 0))
        y = x / torch.sqrt(torch.mean(x * x, dims, keepdim=True) + e)
        return y * w if weight else y
    return f


CASES = [
    # conv1d
    case("conv1d", "", conv1d(), [T([2, 3, 7]), T([4, 3, 3]), T([4])]),
    case("conv1d", "", conv1d(bias=False),
         [T([2, 3, 6]), T([2, 3, 2]), None], name="conv1d-nobias"),
    case("conv1d", "stride=2 padding=1", conv1d(2, 1),
         [T([2, 2, 9]), T([3, 2, 3]), T([3])]),
    case("conv1d", "stride=3 padding=2 dilation=2", conv1d(3, 2, 2),
         [T([1, 2, 11]), T([2, 2, 3]), T([2])]),
    case("conv1d", "groups=2", conv1d(groups=2),
         [T([2, 4, 5]), T([6, 2, 3]), T([6])]),
    case("conv1d", "groups=3 padding=1", conv1d(padding=1, groups=3),
         [T([1, 3, 4]), T([3, 1, 3]), T([3])], name="conv1d-depthwise"),
    case("conv1d", "", conv1d(), [T([1, 2, 5]), T([3, 2, 5]), T([3])],
         name="conv1d-full-kernel"),
    case("conv1d", "", conv1d(), [T([0, 2, 5]), T([3, 2, 2]), T([3])],
         name="conv1d-empty-batch"),
    case("conv1d", "stride=4", conv1d(4),
         [T([3, 1, 1]), T([1, 1, 1]), T([1])], name="conv1d-size1"),
    # conv_transpose2d
    case("conv_transpose2d", "", convt(),
         [T([2, 3, 4, 4]), T([3, 2, 3, 3]), T([2])]),
    case("conv_transpose2d", "", convt(bias=False),
         [T([1, 2, 3, 5]), T([2, 3, 2, 2]), None],
         name="conv_transpose2d-nobias"),
    case("conv_transpose2d", "stride=2 padding=1 output_padding=1",
         convt(2, 1, 1), [T([2, 2, 3, 4]), T([2, 3, 3, 3]), T([3])]),
    case("conv_transpose2d", "stride=2,3 padding=0,1 output_padding=1,2",
         convt((2, 3), (0, 1), (1, 2)),
         [T([1, 2, 3, 3]), T([2, 2, 3, 2]), T([2])]),
    case("conv_transpose2d", "groups=2 stride=2",
         convt(2, groups=2), [T([1, 4, 3, 3]), T([4, 3, 2, 3]), T([6])]),
    case("conv_transpose2d", "dilation=2 padding=1 output_padding=1",
         convt(1, 1, 1, dilation=2),
         [T([2, 2, 3, 4]), T([2, 2, 3, 3]), T([2])],
         name="conv_transpose2d-dilation-output_padding"),
    case("conv_transpose2d", "dilation=1,3 stride=2,1",
         convt((2, 1), dilation=(1, 3)),
         [T([1, 3, 2, 3]), T([3, 2, 2, 2]), T([2])]),
    case("conv_transpose2d", "groups=3 padding=1",
         convt(padding=1, groups=3),
         [T([1, 3, 4, 4]), T([3, 1, 3, 3]), T([3])],
         name="conv_transpose2d-depthwise"),
    case("conv_transpose2d", "stride=3", convt(3),
         [T([2, 4, 2, 3]), T([4, 5, 1, 1]), T([5])]),
    case("conv_transpose2d", "stride=2", convt(2),
         [T([0, 2, 3, 3]), T([2, 3, 3, 3]), T([3])],
         name="conv_transpose2d-empty-batch"),
    case("conv_transpose2d", "", convt(),
         [T([1, 1, 1, 1]), T([1, 1, 1, 1]), T([1])],
         name="conv_transpose2d-size1"),
    # adaptive_avg_pool2d
    case("adaptive_avg_pool2d", "output_size=2",
         lambda x: F.adaptive_avg_pool2d(x, 2), [T([2, 3, 4, 4])]),
    case("adaptive_avg_pool2d", "output_size=3,2",
         lambda x: F.adaptive_avg_pool2d(x, (3, 2)), [T([1, 2, 5, 7])]),
    case("adaptive_avg_pool2d", "output_size=4,3",
         lambda x: F.adaptive_avg_pool2d(x, (4, 3)), [T([2, 2, 7, 5])]),
    case("adaptive_avg_pool2d", "output_size=5,4",
         lambda x: F.adaptive_avg_pool2d(x, (5, 4)), [T([1, 2, 3, 3])],
         name="adaptive_avg_pool2d-upsampling"),
    case("adaptive_avg_pool2d", "output_size=1",
         lambda x: F.adaptive_avg_pool2d(x, 1), [T([3, 4, 5, 6])],
         name="adaptive_avg_pool2d-global"),
    case("adaptive_avg_pool2d", "output_size=2",
         lambda x: F.adaptive_avg_pool2d(x, 2), [T([3, 5, 6])],
         name="adaptive_avg_pool2d-3d"),
    case("adaptive_avg_pool2d", "output_size=2",
         lambda x: F.adaptive_avg_pool2d(x, 2), [T([0, 3, 5, 5])],
         name="adaptive_avg_pool2d-empty-batch"),
    case("adaptive_avg_pool2d", "output_size=1",
         lambda x: F.adaptive_avg_pool2d(x, 1), [T([1, 1, 1, 1])],
         name="adaptive_avg_pool2d-size1"),
    # upsample_nearest2d
    case("upsample_nearest2d", "scale_factor=2",
         lambda x: F.interpolate(x, scale_factor=2, mode="nearest"),
         [T([2, 3, 2, 3])]),
    case("upsample_nearest2d", "scale_factor=3",
         lambda x: F.interpolate(x, scale_factor=3, mode="nearest"),
         [T([1, 2, 3, 2])]),
    case("upsample_nearest2d", "size=5,7",
         lambda x: F.interpolate(x, size=(5, 7), mode="nearest"),
         [T([1, 2, 3, 4])]),
    case("upsample_nearest2d", "size=3",
         lambda x: F.interpolate(x, size=3, mode="nearest"),
         [T([2, 2, 5, 4])], name="upsample_nearest2d-down"),
    case("upsample_nearest2d", "scale_factor=1.7",
         lambda x: F.interpolate(x, scale_factor=1.7, mode="nearest"),
         [T([2, 1, 3, 5])]),
    case("upsample_nearest2d", "scale_factor=0.6",
         lambda x: F.interpolate(x, scale_factor=0.6, mode="nearest"),
         [T([1, 2, 7, 9])]),
    case("upsample_nearest2d", "scale_factor=2.9",
         lambda x: F.interpolate(x, scale_factor=2.9, mode="nearest"),
         [T([1, 1, 7, 3])]),
    case("upsample_nearest2d", "size=13,11",
         lambda x: F.interpolate(x, size=(13, 11), mode="nearest"),
         [T([1, 1, 3, 7])]),
    case("upsample_nearest2d", "size=4,6",
         lambda x: F.interpolate(x, size=(4, 6), mode="nearest"),
         [T([1, 2, 4, 6])], name="upsample_nearest2d-same"),
    case("upsample_nearest2d", "scale_factor=2",
         lambda x: F.interpolate(x, scale_factor=2, mode="nearest"),
         [T([0, 2, 3, 3])], name="upsample_nearest2d-empty-batch"),
    case("upsample_nearest2d", "size=3,1",
         lambda x: F.interpolate(x, size=(3, 1), mode="nearest"),
         [T([1, 1, 1, 1])], name="upsample_nearest2d-size1"),
    # dropout2d (deterministic cases)
    case("dropout2d", "",
         lambda x: F.dropout2d(x, 0.5, training=False), [T([2, 3, 4, 4])],
         training=False, name="dropout2d-eval"),
    case("dropout2d", "p=0",
         lambda x: F.dropout2d(x, 0.0, training=True), [T([2, 3, 4, 4])],
         name="dropout2d-p0"),
    case("dropout2d", "p=1",
         lambda x: F.dropout2d(x, 1.0, training=True), [T([2, 3, 4, 5])],
         name="dropout2d-p1"),
    case("dropout2d", "p=1",
         lambda x: F.dropout2d(x, 1.0, training=True), [T([0, 3, 4, 5])],
         name="dropout2d-p1-empty-batch"),
    # rms_norm
    case("rms_norm", "", rms([4]), [T([3, 4]), T([4])]),
    case("rms_norm", "eps=1e-06", rms([4], 1e-6), [T([2, 3, 4]), T([4])]),
    case("rms_norm", "normalized_shape=3,4", rms([3, 4]),
         [T([2, 3, 4]), T([3, 4])]),
    case("rms_norm", "", rms([5], weight=False), [T([2, 5]), None],
         name="rms_norm-noweight"),
    case("rms_norm", "eps=0.1", rms([6], 0.1), [T([6]), T([6])],
         name="rms_norm-rank1"),
    case("rms_norm", "", rms([1]), [T([4, 1]), T([1])],
         name="rms_norm-size1"),
    case("rms_norm", "", rms([4]), [T([0, 4]), T([4])],
         name="rms_norm-empty-batch"),
    case("rms_norm", "", rms([3]),
         [T([2, 3], values=[1e3, 1e3 + 1, 1e3 - 1, 0.0, 0.0, 1e-3]),
          T([3])], name="rms_norm-offset-and-near-zero"),
]
