"""Reference cases for the recurrent cells (lib/ops/recurrent.c): the
fused rnn_cell, lstm_cell and gru_cell against PyTorch 1.13's
torch.rnn_tanh_cell / torch.rnn_relu_cell / torch.lstm_cell /
torch.gru_cell, and the step variants, which take the input gates
gx = x W_ih^T + b_ih, against the cells' formulas in torch ops applied
to gx (ATen's: c' = f c + i g, h' = o tanh(c'); GRU h' = n + z (h - n)),
so that NaN and infinities in gx propagate as through the cells' gate
sums and not through a product with an identity W_ih."""
import torch
from gen_ref import T, case

B, I, H = 3, 4, 5


def cell_inputs(g, bias=True):
    return [T([B, I]), T([B, H]), T([g * H, I], scale=0.5),
            T([g * H, H], scale=0.5),
            T([g * H]) if bias else None, T([g * H]) if bias else None]


def lstm_inputs(bias=True):
    x = cell_inputs(4, bias)
    return x[:2] + [T([B, H])] + x[2:]


def hidden_gates(h, w, b):
    gh = h @ w.t()
    return gh if b is None else gh + b


def rnn_step(relu):
    act = torch.relu if relu else torch.tanh
    return lambda gx, h, w, b: act(gx + hidden_gates(h, w, b))


def lstm_step(gx, h, c, w, b):
    i, f, g, o = (gx + hidden_gates(h, w, b)).chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def gru_step(gx, h, w, b):
    xr, xz, xn = gx.chunk(3, 1)
    hr, hz, hn = hidden_gates(h, w, b).chunk(3, 1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return n + z * (h - n)


def lstm_cell(x, h, c, wi, wh, bi, bh):
    return tuple(torch.lstm_cell(x, (h, c), wi, wh, bi, bh))


CASES = [
    case("rnn_cell", "", torch.rnn_tanh_cell, cell_inputs(1)),
    case("rnn_cell", "nonlinearity=relu", torch.rnn_relu_cell,
         cell_inputs(1)),
    case("rnn_cell", "", torch.rnn_tanh_cell, cell_inputs(1, False),
         name="rnn_cell-nobias"),
    case("lstm_cell", "", lstm_cell, lstm_inputs()),
    case("lstm_cell", "", lstm_cell, lstm_inputs(False),
         name="lstm_cell-nobias"),
    case("gru_cell", "", torch.gru_cell, cell_inputs(3)),
    case("gru_cell", "", torch.gru_cell, cell_inputs(3, False),
         name="gru_cell-nobias"),
    case("rnn_step", "", rnn_step(False),
         [T([B, H]), T([B, H]), T([H, H], scale=0.5), T([H])]),
    case("rnn_step", "nonlinearity=relu", rnn_step(True),
         [T([B, H]), T([B, H]), T([H, H], scale=0.5), T([H])]),
    case("lstm_step", "", lstm_step,
         [T([B, 4 * H]), T([B, H]), T([B, H]), T([4 * H, H], scale=0.5),
          T([4 * H])]),
    case("lstm_step", "", lstm_step,
         [T([B, 4 * H]), T([B, H]), T([B, H]), T([4 * H, H], scale=0.5),
          None], name="lstm_step-nobias"),
    case("gru_step", "", gru_step,
         [T([B, 3 * H]), T([B, H]), T([3 * H, H], scale=0.5), T([3 * H])]),
    case("gru_step", "", gru_step,
         [T([B, 3 * H]), T([B, H]), T([3 * H, H], scale=0.5), None],
         name="gru_step-nobias"),
]


# ---- the sequence ops: the step variants looped over T in PyTorch ----
TS = 4


def seq(step, lstm=False):
    def run(gx, h, *rest, reverse=False):
        order = range(gx.shape[0] - 1, -1, -1) if reverse \
            else range(gx.shape[0])
        ys = [None] * gx.shape[0]
        if lstm:
            c, w, b = rest
            for t in order:
                h, c = step(gx[t], h, c, w, b)
                ys[t] = h
            return torch.stack(ys), h, c
        w, b = rest
        for t in order:
            h = step(gx[t], h, w, b)
            ys[t] = h
        return torch.stack(ys), h
    return run


def rev(f):
    return lambda *a: f(*a, reverse=True)


def seq_inputs(g, lstm=False, bias=True, steps=TS):
    x = [T([steps, B, g * H]), T([B, H])]
    if lstm:
        x.append(T([B, H]))
    return x + [T([g * H, H], scale=0.5), T([g * H]) if bias else None]


CASES += [
    case("rnn_seq", "", seq(rnn_step(False)), seq_inputs(1)),
    case("rnn_seq", "nonlinearity=relu reverse=1", rev(seq(rnn_step(True))),
         seq_inputs(1)),
    case("lstm_seq", "", seq(lstm_step, True), seq_inputs(4, True)),
    case("lstm_seq", "reverse=1", rev(seq(lstm_step, True)),
         seq_inputs(4, True, False)),
    case("gru_seq", "", seq(gru_step), seq_inputs(3)),
    case("gru_seq", "reverse=1", rev(seq(gru_step)), seq_inputs(3, False,
                                                                False)),
    case("lstm_seq", "", seq(lstm_step, True), seq_inputs(4, True, True, 1),
         name="lstm_seq-one-step"),
]
