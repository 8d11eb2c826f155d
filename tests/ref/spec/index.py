"""Reference cases for indexing, masking, comparisons and logic (issue 15):
index_select, gather, scatter_add, embedding, one_hot, where,
masked_fill, eq ne lt le gt ge, logical_and/or/not, isnan, isfinite.

JSON holds no NaN or infinity, so NaN comparisons and -inf fills are
checked in tests/test_index.c against PyTorch's values written there;
out-of-range indices are errors, tested there too."""
import torch
import torch.nn.functional as F
from gen_ref import T, case


def I(shape, values):
    return T(shape, values=values, dtype="int64")


def B(shape, values):
    return T(shape, values=values, dtype="bool")


CASES = [
    # index_select: repeated indices add their gradients.
    case("index_select", "axis=0", lambda x, i: torch.index_select(x, 0, i),
         [T([4, 3]), I([5], [3, 0, 3, 3, 1])], name="index_select-dim0"),
    case("index_select", "axis=1", lambda x, i: torch.index_select(x, 1, i),
         [T([2, 5, 3]), I([4], [4, 4, 0, 2])], name="index_select-dim1"),
    case("index_select", "axis=-1", lambda x, i: torch.index_select(x, -1, i),
         [T([3, 4]), I([2], [1, 1])], name="index_select-neg-dim"),
    case("index_select", "axis=0", lambda x, i: torch.index_select(x, 0, i),
         [T([3, 2]), I([0], [])], name="index_select-empty-index"),
    case("index_select", "axis=0", lambda x, i: torch.index_select(x, 0, i),
         [T([3, 2]), I([], [2])], name="index_select-0d-index"),
    # gather: the index smaller than the input off dim, repeats.
    case("gather", "axis=0", lambda x, i: torch.gather(x, 0, i),
         [T([4, 3]), I([5, 2], [3, 0, 3, 3, 1, 1, 0, 0, 2, 2])],
         name="gather-dim0"),
    case("gather", "axis=1", lambda x, i: torch.gather(x, 1, i),
         [T([2, 5, 3]), I([2, 4, 2], [4, 4, 0, 2, 1, 1, 3, 3,
                                      0, 0, 0, 0, 4, 3, 2, 1])],
         name="gather-dim1"),
    case("gather", "axis=-1", lambda x, i: torch.gather(x, -1, i),
         [T([3, 4]), I([2, 6], [0, 1, 2, 3, 3, 3, 1, 1, 1, 0, 0, 2])],
         name="gather-neg-dim"),
    case("gather", "axis=1", lambda x, i: torch.gather(x, 1, i),
         [T([3, 4]), I([3, 0], [])], name="gather-empty"),
    # scatter_add: repeated indices accumulate.  With src larger than the
# index PyTorch 1.13 computes no src gradient (its backward fails), so
# that case checks the forward and the input's gradient only; the src
# gradient (zero off the index) is tested in tests/test_index.c.
    case("scatter_add", "axis=0",
         lambda x, i, s: torch.scatter_add(x, 0, i, s),
         [T([4, 3]), I([5, 3], [3, 0, 3, 3, 1, 1, 0, 0, 2, 2, 2, 2,
                                 1, 3, 0]), T([5, 3])],
         name="scatter_add-dim0"),
    case("scatter_add", "axis=1",
         lambda x, i, s: torch.scatter_add(x, 1, i, s),
         [T([2, 3]), I([2, 2], [2, 2, 0, 2]), T([2, 4], grad=False)],
         name="scatter_add-src-larger"),
    case("scatter_add", "axis=-1",
         lambda x, i, s: torch.scatter_add(x, -1, i, s),
         [T([2, 2, 3]), I([2, 2, 4], [0, 0, 0, 1, 2, 2, 1, 0,
                                      1, 1, 1, 1, 0, 2, 0, 2]),
          T([2, 2, 4])],
         name="scatter_add-neg-dim"),
    # embedding: repeated rows, padding_idx positive and negative.
    case("embedding", "", F.embedding,
         [I([2, 3], [1, 3, 1, 0, 1, 4]), T([5, 4])], name="embedding"),
    case("embedding", "padding_idx=1",
         lambda i, w: F.embedding(i, w, padding_idx=1),
         [I([6], [1, 3, 1, 0, 1, 2]), T([4, 3])],
         name="embedding-padding"),
    case("embedding", "padding_idx=-1",
         lambda i, w: F.embedding(i, w, padding_idx=-1),
         [I([2, 2], [3, 3, 0, 2]), T([4, 2])],
         name="embedding-padding-neg"),
    case("embedding", "", F.embedding, [I([0], []), T([3, 2])],
         name="embedding-empty"),
    # one_hot: given and inferred num_classes.
    case("one_hot", "num_classes=5", lambda i: F.one_hot(i, 5),
         [I([2, 3], [0, 4, 2, 2, 1, 0])], name="one_hot-5"),
    case("one_hot", "", F.one_hot, [I([4], [2, 0, 2, 1])],
         name="one_hot-inferred"),
    case("one_hot", "num_classes=3", lambda i: F.one_hot(i, 3),
         [I([0], [])], name="one_hot-empty"),
    # where: the three broadcast.
    case("where", "", torch.where,
         [T([3, 4], kind="bool"), T([3, 4]), T([3, 4])], name="where"),
    case("where", "", torch.where,
         [T([4], kind="bool"), T([3, 1]), T([2, 1, 1])],
         name="where-broadcast"),
    case("where", "", torch.where,
         [T([2, 1, 3], kind="bool"), T([]), T([4, 1])],
         name="where-scalar"),
    # masked_fill: mask broadcast to the input, and the input to the mask.
    case("masked_fill", "value=-1.5",
         lambda x, m: torch.masked_fill(x, m, -1.5),
         [T([3, 4]), T([3, 4], kind="bool")], name="masked_fill"),
    case("masked_fill", "value=2",
         lambda x, m: torch.masked_fill(x, m, 2.0),
         [T([3, 4]), B([4], [1, 0, 0, 1])], name="masked_fill-bcast"),
    case("masked_fill", "value=0",
         lambda x, m: torch.masked_fill(x, m, 0.0),
         [T([3]), B([2, 3], [1, 0, 0, 0, 1, 1])],
         name="masked_fill-bcast-input"),
]

# Comparisons: ties (equal values) and broadcasting; float and int64.
TIES_A = [1.0, 2.0, -0.0, 3.5, 1.0, -2.0]
TIES_B = [1.0, 1.0, 0.0, 4.0, 2.0, -2.0]
for name, fn in [("eq", torch.eq), ("ne", torch.ne), ("lt", torch.lt),
                 ("le", torch.le), ("gt", torch.gt), ("ge", torch.ge)]:
    CASES += [
        case(name, "", fn, [T([2, 3], values=TIES_A),
                            T([2, 3], values=TIES_B)], name=f"{name}-ties"),
        case(name, "", fn, [T([2, 3], values=TIES_A), T([3], values=[1, 2, 0])],
             name=f"{name}-broadcast"),
        case(name, "", fn, [I([3, 1], [5, -1, 7]),
                            I([2], [5, 8])],
             name=f"{name}-int64"),
        case(name, "", fn, [T([0, 3]), T([3])], name=f"{name}-empty"),
    ]
for name, fn in [("logical_and", torch.logical_and),
                 ("logical_or", torch.logical_or)]:
    CASES += [
        case(name, "", fn, [T([2, 3], values=[0, 1.5, -0.0, 0, 2, -3]),
                            T([3], values=[0, 0, 7])], name=f"{name}-float"),
        case(name, "", fn, [B([4], [0, 1, 0, 1]), B([2, 1], [0, 1])],
             name=f"{name}-bool"),
        case(name, "", fn, [I([3], [0, 5, -2]), I([3], [3, 0, -1])],
             name=f"{name}-int64"),
    ]
CASES += [
    case("logical_not", "", torch.logical_not,
         [T([4], values=[0, -0.0, 2, -1e-30])], name="logical_not-float"),
    case("logical_not", "", torch.logical_not, [B([3], [0, 1, 1])],
         name="logical_not-bool"),
    case("logical_not", "", torch.logical_not, [I([3], [0, 4, -1])],
         name="logical_not-int64"),
    case("isnan", "", torch.isnan, [T([2, 3])], name="isnan"),
    case("isnan", "", torch.isnan, [I([2], [0, -7])], name="isnan-int64"),
    case("isfinite", "", torch.isfinite, [T([2, 3], values=[3e38, -0.0, 3,
                                                            1e-320, 0, 5])],
         name="isfinite"),
    case("isfinite", "", torch.isfinite, [I([2], [0, -7])],
         name="isfinite-int64"),
]
