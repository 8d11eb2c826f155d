#!/usr/bin/python3
"""The PyTorch side of the benchmark suite: the workloads of nabla_bench.c,
the same shapes, initialisation scheme, loss and optimizer.

    torch_bench.py WORKLOAD [--threads N] [--reps R] [--warmup W]
                   [--rss-every K]

Prints one JSON line like nabla-bench, with "rss_kb" under --rss-every
as nabla-bench's (the resident set after training steps 1, 10, 100, ...,
every K-th and the last; a training step is one optimizer step).  Set OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS to N as well when calling it (run.sh does):
torch.set_num_threads alone leaves BLAS's own threads at their default.
"""
import argparse
import array
import json
import resource
import statistics
import time

import torch
import torch.nn.functional as F

# --rss-every: the training steps so far and the samples taken.
STEPS = [0]
RSS_EVERY = [0]
RSS = []
PAGE_KB = resource.getpagesize() // 1024


def step_done():
    """One training step done: sample at 1, 10, 100, ... and every K."""
    STEPS[0] += 1
    s, k = STEPS[0], RSS_EVERY[0]
    if k and (s % k == 0 or str(s).rstrip("0") == "1"):
        with open("/proc/self/statm") as f:
            RSS.append([s, int(f.read().split()[1]) * PAGE_KB])


def update(opt):
    """The end of every training step, as nabla_bench.c's finish."""
    opt.step()
    opt.zero_grad(set_to_none=False)
    step_done()


def seed10():
    sizes = [800 - 50 * i for i in range(11)]
    ws = [torch.empty(o, i).uniform_(-i ** -0.5, i ** -0.5).requires_grad_()
          for i, o in zip(sizes, sizes[1:])]
    x, y = torch.randn(2000, 800), torch.randn(2000, 300)
    opt = torch.optim.SGD(ws, lr=0.01)

    def step():
        h = x
        for w in ws:
            h = torch.tanh(F.linear(h, w))
        loss = F.mse_loss(h, y)
        loss.backward()
        update(opt)
    return step


def tiny():
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                              torch.nn.Linear(32, 32), torch.nn.ReLU(),
                              torch.nn.Linear(32, 4))
    x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)

    def step():
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        update(opt)
    return step


def mlp784_net():
    return torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.BatchNorm1d(256),
        torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(256, 256), torch.nn.BatchNorm1d(256),
        torch.nn.ReLU(), torch.nn.Linear(256, 10))


def mlp784():
    net = mlp784_net()
    x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step():
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        update(opt)
    return step


def cnn():
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1568, 10))
    x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step():
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        update(opt)
    return step


def conv():
    """One conv2d layer forward and backward (nabla_bench.c's conv)."""
    layer = torch.nn.Conv2d(32, 64, 3, padding=1)
    x = torch.randn(64, 32, 28, 28, requires_grad=True)

    def step():
        layer(x).sum().backward()
    return step


def fmnist():
    import gzip
    import numpy as np
    d = "/usr/share/datasets/fashion-mnist/"
    with gzip.open(d + "train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16)
    with gzip.open(d + "train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    x = torch.from_numpy(x.reshape(-1, 784).astype(np.float32) / 255)
    x = (x - x.mean()) / x.std()
    y = torch.from_numpy(y.astype(np.int64))
    net = mlp784_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step():
        order = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = order[i:i + 128]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            update(opt)
    return step


def norm(kind):
    x = torch.randn(32, 32, 28, 28, requires_grad=True)
    w, b = torch.ones(32, requires_grad=True), torch.zeros(32,
                                                          requires_grad=True)
    lw = torch.ones(32, 28, 28, requires_grad=True)
    lb = torch.zeros(32, 28, 28, requires_grad=True)
    rm, rv = torch.zeros(32), torch.ones(32)

    def step():
        if kind == "batch_norm":
            y = F.batch_norm(x, rm, rv, w, b, training=True)
        elif kind == "group_norm":
            y = F.group_norm(x, 8, w, b)
        elif kind == "instance_norm":
            y = F.instance_norm(x, weight=w, bias=b)
        else:
            y = F.layer_norm(x, (32, 28, 28), lw, lb)
        y.sum().backward()
    return step


def sgemm():
    """One 1024 x 1024 x 1024 float32 product (the roofline reference)."""
    a = (torch.arange(1024 * 1024) % 7 - 3).float().reshape(1024, 1024)
    b, c = a.clone(), torch.empty(1024, 1024)

    def step():
        torch.mm(a, b, out=c)
    return step


def gpt_tiny():
    """nabla_bench.c's gpt_tiny: nn.TransformerEncoderLayer as the block
    (pre-norm, causal through the square subsequent mask, gelu)."""
    V, D, T, B = 96, 128, 64, 16

    class GPT(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = torch.nn.Embedding(V, D)
            self.pos = torch.nn.Embedding(T, D)
            self.h = torch.nn.ModuleList(torch.nn.TransformerEncoderLayer(
                D, 4, 4 * D, dropout=0.0, activation="gelu",
                batch_first=True, norm_first=True) for _ in range(4))
            self.ln_f = torch.nn.LayerNorm(D)
            self.head = torch.nn.Linear(D, V)
            self.register_buffer("mask", torch.nn.Transformer
                                 .generate_square_subsequent_mask(T))

        def forward(self, idx):
            x = self.tok(idx) + self.pos.weight[:idx.shape[1]]
            for layer in self.h:
                x = layer(x, src_mask=self.mask)
            return self.head(self.ln_f(x))

    net = GPT()
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B * T,))
    opt = torch.optim.Adam(net.parameters(), lr=3e-4)

    def step():
        loss = F.cross_entropy(net(x).reshape(B * T, V), y)
        loss.backward()
        update(opt)
    return step


def charlstm():
    """A character LSTM's training step: embedding 64 of 96 characters,
    LSTM 256 (batch_first), linear head, T = 64, batch 32, cross entropy
    over every step, Adam (issue 18)."""
    V, E, H, T, B = 96, 64, 256, 64, 32
    emb = torch.nn.Embedding(V, E)
    lstm = torch.nn.LSTM(E, H, batch_first=True)
    head = torch.nn.Linear(H, V)
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B * T,))
    ps = list(emb.parameters()) + list(lstm.parameters()) + \
        list(head.parameters())
    opt = torch.optim.Adam(ps)

    def step():
        h, _ = lstm(emb(x))
        loss = F.cross_entropy(head(h).reshape(B * T, V), y)
        loss.backward()
        update(opt)
    return step


WORKLOADS = {
    "charlstm": charlstm,
    "sgemm": sgemm, "seed10": seed10, "tiny": tiny, "mlp784": mlp784, "fmnist": fmnist,
    "cnn": cnn, "conv": conv,
    "batch_norm": lambda: norm("batch_norm"),
    "group_norm": lambda: norm("group_norm"),
    "instance_norm": lambda: norm("instance_norm"),
    "layer_norm": lambda: norm("layer_norm"),
    "gpt_tiny": gpt_tiny,  # issue 18
}


def run_step(step):
    """One iteration; one training step too when it made none."""
    before = STEPS[0]
    step()
    if STEPS[0] == before:
        step_done()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rss-every", type=int, default=0)
    a = ap.parse_args()
    RSS_EVERY[0] = a.rss_every
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    step = WORKLOADS[a.workload]()
    for _ in range(a.warmup):
        run_step(step)
    # Arrays of doubles filled in place: a list of float objects would
    # grow the resident set step by step (--rss-every).
    times, cpu = array.array("d", [0.0]) * a.reps, \
        array.array("d", [0.0]) * a.reps
    for i in range(a.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        run_step(step)
        times[i] = (time.perf_counter() - t0) * 1e3
        cpu[i] = (time.process_time() - c0) * 1e3
    if a.rss_every and (not RSS or RSS[-1][0] != STEPS[0]):
        with open("/proc/self/statm") as f:  # and the last step's
            RSS.append([STEPS[0], int(f.read().split()[1]) * PAGE_KB])
    extra = {"steps": STEPS[0], "rss_kb": RSS} if a.rss_every else {}
    print(json.dumps({
        "engine": "torch", "workload": a.workload, "threads": a.threads,
        "reps": a.reps, "times_ms": list(times),
        "median_ms": statistics.median(times),
        "min_ms": min(times), "max_ms": max(times),
        "cpu_median_ms": statistics.median(cpu), "cpu_min_ms": min(cpu),
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "torch": torch.__version__, **extra}))


if __name__ == "__main__":
    main()
