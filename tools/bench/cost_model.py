#!/usr/bin/python3
"""The alpha-beta cost model of data-parallel training in
doc/distributed.md: step time and scaling efficiency of the CNN and a
language model at 8, 64 and 512 ranks on 25 and 100 Gbit/s networks.

    cost_model.py [--cnn-ms-per-sample X] [--check NP ALPHA_US GBPS MS]

Ring allreduce of n bytes over p ranks, with k buckets (each pays the
latency term; the bandwidth term is shared):
    T = 2 (p - 1) / p * n / B + 2 (p - 1) * alpha * k
Buckets fill evenly during backward (time t_b); the network carries them
one after another, each starting when ready and when the one before is
done; what is left after backward is exposed:
    F_i = max(F_{i-1}, i t_b / k) + T / k,   exposed = F_k - t_b
step = compute + exposed, efficiency = compute / step (weak scaling: a
fixed batch per rank).
"""
import argparse

NETS = {"25 Gbit/s (TCP, alpha 15 us)": (25e9 / 8, 15e-6),
        "100 Gbit/s (RDMA, alpha 3 us)": (100e9 / 8, 3e-6)}
BUCKET = 25 * 2 ** 20


def exposed(n, p, B, alpha, t_b, bucket=BUCKET):
    if p == 1:
        return 0.0, 0.0, 1
    k = max(1, -(-n // bucket))
    T = 2 * (p - 1) / p * n / B + 2 * (p - 1) * alpha * k
    f = 0.0
    for i in range(1, k + 1):
        f = max(f, i * t_b / k) + T / k
    return max(0.0, f - t_b), T, k


def table(name, n, t_c, frac_b):
    t_b = t_c * frac_b
    print("\n%s: %.1f MB of float32 gradient, compute %.3g s per step "
          "(backward %.3g s)" % (name, n / 1e6, t_c, t_b))
    print("%-30s %6s %8s %10s %10s %10s" % ("network", "ranks", "buckets",
          "allreduce", "exposed", "efficiency"))
    for net, (B, alpha) in NETS.items():
        for p in (8, 64, 512):
            e, T, k = exposed(n, p, B, alpha, t_b)
            print("%-30s %6d %8d %8.2f ms %8.2f ms %9.1f%%" % (
                net, p, k, T * 1e3, e * 1e3, 100 * t_c / (t_c + e)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnn-ms-per-sample", type=float, default=0.56)
    ap.add_argument("--check", nargs=5, metavar=("NP", "ALPHA_US", "GBPS",
                    "BYTES", "COMPUTE_MS"), type=float,
                    help="one measured configuration: predicted step ms")
    a = ap.parse_args()
    # the CNN of tools/bench (20,490 parameters), 128 samples per rank
    table("CNN (conv16-conv32-linear, 128 samples per rank)", 81960,
          128 * a.cnn_ms_per_sample * 1e-3, 2 / 3)
    # a GPT-2-small-sized language model: 124M parameters, 8 sequences
    # of 1024 tokens per rank, 6 N flops per token, 1 TFLOP/s per rank
    n_lm = 124e6
    for tflops in (1, 20):
        table("language model (124M parameters, 8 x 1024 tokens per "
              "rank, %d TFLOP/s per rank)" % tflops, int(4 * n_lm),
              6 * n_lm * 8192 / (tflops * 1e12), 2 / 3)
    if a.check:
        p, alpha, gbps, n, c = a.check
        e, T, k = exposed(int(n), int(p), gbps * 1e9, alpha * 1e-6 /
                          (2 * (p - 1)), c * 1e-3 * 2 / 3)
        print("\ncheck: %d ranks, %d bytes: allreduce %.3f ms, step %.2f ms "
              "predicted (compute %.2f ms)" % (p, n, T * 1e3, c + e * 1e3, c))


if __name__ == "__main__":
    main()
