"""Reference cases for the convolution and pooling ops: conv2d,
max_pool2d, avg_pool2d (lib/ops/conv.c).

Attributes are nabla's strings; the PyTorch calls spell the same values
as int-or-pair arguments.  The cases cover stride, padding, dilation and
groups in both axes, bias absent, 1x1 kernels, overlapping and padded
pooling windows, and count_include_pad both ways.
"""
import torch.nn.functional as F
from gen_ref import T, case


def conv(stride=1, padding=0, dilation=1, groups=1, bias=True):
    def f(x, w, b):
        return F.conv2d(x, w, b if bias else None, stride, padding,
                        dilation, groups)
    return f


CASES = [
    case("conv2d", "", conv(), [T([2, 3, 6, 6]), T([4, 3, 3, 3]), T([4])]),
    case("conv2d", "", conv(bias=False),
         [T([2, 3, 5, 4]), T([2, 3, 2, 2]), None], name="conv2d-nobias"),
    case("conv2d", "stride=2 padding=1", conv(2, 1),
         [T([2, 2, 7, 6]), T([3, 2, 3, 3]), T([3])]),
    case("conv2d", "stride=1,2 padding=2,0", conv((1, 2), (2, 0)),
         [T([1, 2, 5, 7]), T([2, 2, 3, 2]), T([2])]),
    case("conv2d", "dilation=2 padding=2", conv(1, 2, 2),
         [T([2, 2, 6, 6]), T([3, 2, 3, 3]), T([3])]),
    case("conv2d", "dilation=1,3 stride=2,1", conv((2, 1), 0, (1, 3)),
         [T([1, 3, 7, 9]), T([2, 3, 2, 3]), T([2])]),
    case("conv2d", "groups=2", conv(groups=2),
         [T([2, 4, 5, 5]), T([6, 2, 3, 3]), T([6])]),
    case("conv2d", "groups=3 padding=1", conv(padding=1, groups=3),
         [T([1, 3, 4, 4]), T([6, 1, 3, 3]), T([6])]),
    case("conv2d", "stride=3", conv(3),
         [T([2, 4, 7, 8]), T([5, 4, 1, 1]), T([5])]),
    case("max_pool2d", "kernel_size=2", lambda x: F.max_pool2d(x, 2),
         [T([1, 3, 6, 6])]),
    case("max_pool2d", "kernel_size=3 stride=2 padding=1",
         lambda x: F.max_pool2d(x, 3, 2, 1), [T([1, 2, 7, 6])]),
    case("max_pool2d", "kernel_size=2,3 stride=1",
         lambda x: F.max_pool2d(x, (2, 3), 1), [T([1, 2, 5, 6])]),
    case("max_pool2d", "kernel_size=3,2 stride=2,1 padding=1,0",
         lambda x: F.max_pool2d(x, (3, 2), (2, 1), (1, 0)),
         [T([2, 2, 6, 5])]),
    case("avg_pool2d", "kernel_size=2", lambda x: F.avg_pool2d(x, 2),
         [T([1, 3, 6, 6])]),
    case("avg_pool2d", "kernel_size=3 stride=2 padding=1",
         lambda x: F.avg_pool2d(x, 3, 2, 1), [T([1, 2, 7, 6])]),
    case("avg_pool2d", "kernel_size=3 stride=2 padding=1 "
         "count_include_pad=0",
         lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
         [T([1, 2, 7, 6])]),
    case("avg_pool2d", "kernel_size=2,3 stride=1,2 padding=1",
         lambda x: F.avg_pool2d(x, (2, 3), (1, 2), 1), [T([1, 2, 5, 7])]),
]
