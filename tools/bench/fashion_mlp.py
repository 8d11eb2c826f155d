#!/usr/bin/python3
"""The reference run for `nabla train`'s quality bar: the same recipe in
PyTorch, on the same Fashion-MNIST files.

    /usr/bin/python3 tools/bench/fashion_mlp.py [--seeds 0,1,2] [--data DIR]

Recipe (nabla's default model and options):
    784-256-256-10: linear, batch norm, ReLU, dropout 0.2, linear,
    batch norm, ReLU, linear; PyTorch's default initialization;
    SGD lr 0.1, momentum 0.9; batch 128, reshuffled every epoch;
    3 epochs; cross-entropy; inputs scaled to [0, 1] and standardized
    with the training set's overall mean and standard deviation.
Prints the test accuracy after each epoch, per seed, and the mean.
The nabla side:
    nabla train --seed S     (the defaults are this recipe)
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch


def idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    zero, kind, nd = struct.unpack(">HBB", b[:4])
    assert zero == 0 and kind == 8, path
    dims = struct.unpack(">%dI" % nd, b[4:4 + 4 * nd])
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load(d):
    x = idx(os.path.join(d, "train-images-idx3-ubyte.gz"))
    y = idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    tx = idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))
    ty = idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    x = torch.tensor(x.reshape(len(x), -1), dtype=torch.float32) / 255
    tx = torch.tensor(tx.reshape(len(tx), -1), dtype=torch.float32) / 255
    mean, std = x.mean(), x.std(unbiased=False)
    return ((x - mean) / std, torch.tensor(y, dtype=torch.int64),
            (tx - mean) / std, torch.tensor(ty, dtype=torch.int64))


def model():
    nn = torch.nn
    return nn.Sequential(
        nn.Linear(784, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(),
        nn.Linear(256, 10))


def run(seed, data, epochs, batch):
    x, y, tx, ty = data
    torch.manual_seed(seed)
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    accs = []
    for e in range(epochs):
        m.train()
        perm = torch.randperm(len(x))
        t0 = time.time()
        for i in range(0, len(x), batch):
            j = perm[i:i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(m(x[j]), y[j])
            loss.backward()
            opt.step()
        rate = len(x) / (time.time() - t0)
        m.eval()
        with torch.no_grad():
            out = m(tx)
            acc = (out.argmax(1) == ty).float().mean().item()
            tl = torch.nn.functional.cross_entropy(out, ty).item()
        accs.append(acc)
        print("seed %d epoch %d  test_loss %.4f  test_acc %.2f%%  %.0f "
              "samples/s" % (seed, e + 1, tl, 100 * acc, rate), flush=True)
    return accs[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = load(a.data)
    accs = [run(int(s), data, a.epochs, a.batch) for s in a.seeds.split(",")]
    print("pytorch %s: final test accuracy %s, mean %.2f%%" % (
        torch.__version__, ", ".join("%.2f%%" % (100 * v) for v in accs),
        100 * sum(accs) / len(accs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
