#!/usr/bin/python3
"""PyTorch DistributedDataParallel (gloo) side of tools/bench/dist.sh: the
mlp784 and cnn models of torch_bench.py trained on random data with the
global batch split over the ranks, one thread per rank.

    torch_ddp.py WORKLOAD --ranks N [--batch 1024] [--steps S] [--warmup W]

Starts N processes itself with RANK, WORLD_SIZE, MASTER_ADDR and
MASTER_PORT set (Debian's torch.distributed.run launcher fails), and
prints one JSON line from rank 0: samples/s of the global batch, and
the median milliseconds per step.  With --ranks 1 it trains without DDP.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(a):
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_bench
    torch.set_num_threads(1)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.manual_seed(0)
    if a.workload == "mlp784":
        net, shape = torch_bench.mlp784_net(), (784,)
    else:
        nn = torch.nn
        net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1568, 10))
        shape = (1, 28, 28)
    if world > 1:
        dist.init_process_group("gloo", rank=rank, world_size=world)
        net = torch.nn.parallel.DistributedDataParallel(net)
    b = a.batch // world + (rank < a.batch % world)
    x, y = torch.randn(b, *shape), torch.randint(0, 10, (b,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=False)
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    total = sum(times)
    if world > 1:
        t = torch.tensor([total])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        total = float(t)
    if rank == 0:
        med = statistics.median(times) * 1e3
        print(json.dumps({
            "engine": "torch-ddp-gloo", "workload": a.workload,
            "ranks": world, "batch": a.batch, "steps": a.steps,
            "samples_per_s": a.batch * a.steps / total,
            "median_ms": med, "torch": torch.__version__}), flush=True)
    if world > 1:
        dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=["mlp784", "cnn"])
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    if "RANK" in os.environ:
        worker(a)
        return
    env = dict(os.environ, WORLD_SIZE=str(a.ranks), MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(free_port()), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable] + sys.argv,
                              env=dict(env, RANK=str(r)))
             for r in range(a.ranks)]
    sys.exit(max(p.wait() for p in procs))


if __name__ == "__main__":
    main()
