"""Reference cases for the shape and joining ops of issue 15: squeeze,
unsqueeze, flatten, expand, slice, select, flip, repeat, pad, tril, triu
(lib/ops/view.c, lib/ops/pad.c), cat, stack, split, chunk
(lib/ops/join.c), and reshape, permute, transpose on int64 and bool.

Float cases run in float32 and float64 with gradients; int64 and bool
cases (dtypes=("int64",), the inputs' own dtypes whatever the case's)
check the forward values and the result's dtype."""
import torch
import torch.nn.functional as F
from gen_ref import T, case

I = ("int64",)  # forward only: the inputs carry their own dtype


def ints(shape, n=10):
    return T(shape, kind="int", n=n)


def mask(shape):
    return T(shape, kind="bool")


def cat(axis):
    return lambda *xs: torch.cat(xs, axis)


def stack(axis):
    return lambda *xs: torch.stack(xs, axis)


CASES = [
    # squeeze: all size-1 axes, one named axis (negative), a no-op
    case("squeeze", "", torch.squeeze, [T([3, 1, 4, 1])]),
    case("squeeze", "axis=1", lambda x: x.squeeze(1), [T([3, 1, 4])]),
    case("squeeze", "axis=-2", lambda x: x.squeeze(-2), [T([3, 1, 4])]),
    case("squeeze", "axis=0", lambda x: x.squeeze(0), [T([3, 4])],
         name="squeeze-noop"),
    case("squeeze", "", torch.squeeze, [T([1, 1])], name="squeeze-all"),
    case("squeeze", "", torch.squeeze, [T([0, 1, 2])], name="squeeze-empty"),
    case("squeeze", "", torch.squeeze, [ints([2, 1, 3])], dtypes=I,
         name="squeeze-int64"),
    # unsqueeze
    case("unsqueeze", "axis=0", lambda x: x.unsqueeze(0), [T([3, 4])]),
    case("unsqueeze", "axis=-1", lambda x: x.unsqueeze(-1), [T([3, 4])]),
    case("unsqueeze", "axis=-2", lambda x: x.unsqueeze(-2), [T([3, 4])]),
    case("unsqueeze", "axis=0", lambda x: x.unsqueeze(0), [T([])],
         name="unsqueeze-scalar"),
    case("unsqueeze", "axis=1", lambda x: x.unsqueeze(1), [mask([2, 3])],
         dtypes=I, name="unsqueeze-bool"),
    # flatten
    case("flatten", "", torch.flatten, [T([2, 3, 4])]),
    case("flatten", "start_dim=1", lambda x: torch.flatten(x, 1),
         [T([2, 3, 4])]),
    case("flatten", "start_dim=-3 end_dim=-2",
         lambda x: torch.flatten(x, -3, -2), [T([2, 3, 4, 2])]),
    case("flatten", "", torch.flatten, [T([])], name="flatten-scalar"),
    case("flatten", "start_dim=1", lambda x: torch.flatten(x, 1),
         [T([2, 0, 3])], name="flatten-empty"),
    case("flatten", "", torch.flatten, [ints([2, 3])], dtypes=I,
         name="flatten-int64"),
    # expand: gradients summed over the broadcast axes
    case("expand", "sizes=3,4", lambda x: x.expand(3, 4), [T([3, 1])]),
    case("expand", "sizes=2,3,-1", lambda x: x.expand(2, 3, -1),
         [T([1, 4])]),
    case("expand", "sizes=2,-1,5", lambda x: x.expand(2, -1, 5),
         [T([1, 3, 1])]),
    case("expand", "sizes=3", lambda x: x.expand(3), [T([])],
         name="expand-scalar"),
    case("expand", "sizes=0,4", lambda x: x.expand(0, 4), [T([1, 4])],
         name="expand-empty"),
    case("expand", "sizes=2,3", lambda x: x.expand(2, 3), [mask([1, 3])],
         dtypes=I, name="expand-bool"),
    # slice: x[start:end:step], Python's clamping
    case("slice", "start=1 end=4", lambda x: x[1:4], [T([5, 4])]),
    case("slice", "axis=-1 start=-3 step=2", lambda x: x[:, -3::2],
         [T([5, 4])]),
    case("slice", "start=-100 end=100 step=4", lambda x: x[-100:100:4],
         [T([6])], name="slice-clamped"),
    case("slice", "axis=1 start=3 end=1", lambda x: x[:, 3:1],
         [T([2, 5])], name="slice-empty"),
    case("slice", "axis=1 start=-2 end=-1", lambda x: x[:, -2:-1],
         [T([2, 5, 3])], name="slice-negative"),
    case("slice", "start=1 step=3", lambda x: x[1::3], [ints([7, 2])],
         dtypes=I, name="slice-int64"),
    # select
    case("select", "index=1", lambda x: x.select(0, 1), [T([3, 4])]),
    case("select", "axis=-1 index=-1", lambda x: x.select(-1, -1),
         [T([2, 3, 4])]),
    case("select", "axis=1 index=0", lambda x: x.select(1, 0),
         [T([2, 1, 3])], name="select-size1"),
    case("select", "axis=1 index=2", lambda x: x.select(1, 2),
         [mask([2, 3])], dtypes=I, name="select-bool"),
    # flip
    case("flip", "dims=0", lambda x: x.flip([0]), [T([3, 4])]),
    case("flip", "dims=-1,0", lambda x: x.flip([-1, 0]), [T([2, 3, 4])]),
    case("flip", "dims=1", lambda x: x.flip([1]), [T([2, 0])],
         name="flip-empty"),
    case("flip", "dims=0,1", lambda x: x.flip([0, 1]), [ints([3, 2])],
         dtypes=I, name="flip-int64"),
    # repeat
    case("repeat", "repeats=2,2", lambda x: x.repeat(2, 2), [T([2, 3])]),
    case("repeat", "repeats=2,1,2", lambda x: x.repeat(2, 1, 2), [T([3])]),
    case("repeat", "repeats=1,3", lambda x: x.repeat(1, 3), [T([2, 1])]),
    case("repeat", "repeats=0,2", lambda x: x.repeat(0, 2), [T([2, 3])],
         name="repeat-zero"),
    case("repeat", "repeats=2,3", lambda x: x.repeat(2, 3), [mask([2])],
         dtypes=I, name="repeat-bool"),
    # pad
    case("pad", "pad=1,2", lambda x: F.pad(x, (1, 2)), [T([3, 4])]),
    case("pad", "pad=1,0,-1,2 value=0.5",
         lambda x: F.pad(x, (1, 0, -1, 2), value=0.5), [T([2, 3, 4])]),
    case("pad", "pad=-2,-1", lambda x: F.pad(x, (-2, -1)), [T([2, 4])],
         name="pad-crop"),
    case("pad", "pad=2,3 mode=reflect",
         lambda x: F.pad(x, (2, 3), mode="reflect"), [T([2, 5])]),
    case("pad", "pad=1,2,2,1 mode=reflect",
         lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"),
         [T([2, 3, 4])], name="pad-reflect2d"),
    case("pad", "pad=-1,3 mode=reflect",
         lambda x: F.pad(x, (-1, 3), mode="reflect"), [T([2, 5])],
         name="pad-reflect-negative"),
    case("pad", "pad=1,2,2,1 mode=replicate",
         lambda x: F.pad(x, (1, 2, 2, 1), mode="replicate"),
         [T([2, 3, 4])]),
    case("pad", "pad=3,1 mode=replicate",
         lambda x: F.pad(x, (3, 1), mode="replicate"), [T([2, 1])],
         name="pad-replicate-size1"),
    case("pad", "pad=1,1", lambda x: F.pad(x, (1, 1)), [T([0, 2])],
         name="pad-empty"),
    case("pad", "pad=1,2 value=1.7", lambda x: F.pad(x, (1, 2), value=1.7),
         [ints([2, 3])], dtypes=I, name="pad-int64"),
    case("pad", "pad=0,1,1,0 value=1", lambda x: F.pad(x, (0, 1, 1, 0),
         value=1), [mask([2, 3])], dtypes=I, name="pad-bool"),
    # tril, triu
    case("tril", "", torch.tril, [T([4, 4])]),
    case("tril", "diagonal=1", lambda x: torch.tril(x, 1), [T([3, 5])]),
    case("tril", "diagonal=-1", lambda x: torch.tril(x, -1),
         [T([2, 4, 3])]),
    case("tril", "diagonal=-9", lambda x: torch.tril(x, -9), [T([3, 3])],
         name="tril-none"),
    case("tril", "", torch.tril, [T([3, 0])], name="tril-empty"),
    case("tril", "", torch.tril, [mask([3, 3])], dtypes=I,
         name="tril-bool"),
    case("triu", "", torch.triu, [T([4, 4])]),
    case("triu", "diagonal=1", lambda x: torch.triu(x, 1), [T([3, 5])]),
    case("triu", "diagonal=-1", lambda x: torch.triu(x, -1),
         [T([2, 4, 3])]),
    case("triu", "diagonal=7", lambda x: torch.triu(x, 7), [T([2, 3])],
         name="triu-none"),
    case("triu", "diagonal=1", lambda x: torch.triu(x, 1), [ints([3, 4])],
         dtypes=I, name="triu-int64"),
    # cat
    case("cat", "", cat(0), [T([2, 3]), T([4, 3])]),
    case("cat", "axis=1", cat(1), [T([2, 3]), T([2, 1]), T([2, 2])]),
    case("cat", "axis=-1", cat(-1), [T([2, 3, 4]), T([2, 3, 2])]),
    case("cat", "", cat(0), [T([3])], name="cat-one"),
    case("cat", "axis=1", cat(1), [T([2, 3]), T([0]), T([2, 1])],
         name="cat-skips-empty-vector"),
    case("cat", "", cat(0), [T([0]), T([0])], name="cat-all-empty"),
    case("cat", "", cat(0), [T([0, 3]), T([2, 3])], name="cat-empty"),
    case("cat", "axis=1", cat(1), [ints([2, 1]), ints([2, 2])], dtypes=I,
         name="cat-int64"),
    case("cat", "", cat(0), [mask([2]), mask([3])], dtypes=I,
         name="cat-bool"),
    # stack
    case("stack", "", stack(0), [T([2, 3]), T([2, 3])]),
    case("stack", "axis=-1", stack(-1), [T([2, 3]), T([2, 3]), T([2, 3])]),
    case("stack", "axis=1", stack(1), [T([4]), T([4])]),
    case("stack", "", stack(0), [T([]), T([])], name="stack-scalars"),
    case("stack", "axis=1", stack(1), [T([0, 2]), T([0, 2])],
         name="stack-empty"),
    case("stack", "axis=2", stack(2), [ints([2, 3]), ints([2, 3])],
         dtypes=I, name="stack-int64"),
    # split and chunk: several results
    case("split", "split_size_or_sections=2",
         lambda x: torch.split(x, 2), [T([5, 3])]),
    case("split", "split_size_or_sections=1,3,2 axis=-1",
         lambda x: torch.split(x, [1, 3, 2], -1), [T([2, 6])]),
    case("split", "split_size_or_sections=4",
         lambda x: torch.split(x, 4), [T([4, 2])], name="split-whole"),
    case("split", "split_size_or_sections=0,3",
         lambda x: torch.split(x, [0, 3]), [T([3])], name="split-empty"),
    case("split", "split_size_or_sections=2 axis=1",
         lambda x: torch.split(x, 2, 1), [ints([2, 3])], dtypes=I,
         name="split-int64"),
    case("chunk", "chunks=3", lambda x: torch.chunk(x, 3), [T([5, 3])]),
    case("chunk", "chunks=4 axis=-1", lambda x: torch.chunk(x, 4, -1),
         [T([2, 6])], name="chunk-fewer"),
    case("chunk", "chunks=5", lambda x: torch.chunk(x, 5), [T([3, 2])],
         name="chunk-more-than-size"),
    case("chunk", "chunks=3", lambda x: torch.chunk(x, 3), [T([0, 2])],
         name="chunk-empty"),
    case("chunk", "chunks=2", lambda x: torch.chunk(x, 2), [mask([3])],
         dtypes=I, name="chunk-bool"),
    # the existing shape ops on int64 and bool (issue 15: reshape
    # refused int64)
    case("reshape", "shape=3,-1", lambda x: x.reshape(3, -1),
         [ints([2, 3])], dtypes=I, name="reshape-int64"),
    case("reshape", "shape=-1", lambda x: x.reshape(-1), [mask([2, 3])],
         dtypes=I, name="reshape-bool"),
    case("permute", "perm=2,0,1", lambda x: x.permute(2, 0, 1),
         [ints([2, 3, 4])], dtypes=I, name="permute-int64"),
    case("transpose", "", lambda x: x.transpose(0, 1), [mask([2, 3])],
         dtypes=I, name="transpose-bool"),
]
