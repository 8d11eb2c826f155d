#!/bin/sh
# tools/bench/run.sh - runs every workload in nabla and in PyTorch, side by
# side in one run, at 1 and 2 threads, and prints the JSON lines and a
# table of ratios (PyTorch time / nabla time: above 1, nabla is faster).
#
#   sh tools/bench/run.sh [BUILD_DIR] [WORKLOAD...]
#
# PyTorch's threads: torch.set_num_threads(N) and OMP_NUM_THREADS and
# OPENBLAS_NUM_THREADS = N (its BLAS otherwise starts its own threads).
# nabla's: --threads N (nb_set_num_threads, which also sets OpenBLAS's).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../_build}
[ $# -gt 0 ] && shift
workloads=${*:-"tiny seed10 seed10_gemm mlp784 cnn batch_norm group_norm instance_norm layer_norm fmnist"}
out=$(mktemp)
for w in $workloads; do
	case $w in
	tiny) reps=3000 warm=200 ;;
	seed10|seed10_gemm) reps=7 warm=2 ;;
	fmnist) reps=3 warm=1 ;;
	*) reps=30 warm=5 ;;
	esac
	for t in 1 2; do
		"$build/tools/bench/nabla-bench" "$w" --threads $t --reps $reps \
			--warmup $warm | tee -a "$out"
		# seed10_gemm is nabla's floor (OpenBLAS alone): no PyTorch twin
		[ "$w" = seed10_gemm ] && continue
		OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t /usr/bin/python3 \
			"$here/torch_bench.py" "$w" --threads $t --reps $reps \
			--warmup $warm | tee -a "$out"
	done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows.setdefault((r["workload"], r["threads"]), {})[r["engine"]] = r
print("\n%-14s %7s %12s %12s %8s %10s %10s" % ("workload", "threads",
      "nabla ms", "torch ms", "ratio", "nabla MB", "torch MB"))
for (w, t), e in rows.items():
    n, p = e.get("nabla"), e.get("torch")
    if n and p:
        print("%-14s %7d %12.3f %12.3f %8.2f %10.1f %10.1f" % (w, t,
              n["median_ms"], p["median_ms"],
              p["median_ms"] / n["median_ms"], n["peak_rss_kb"] / 1024,
              p["peak_rss_kb"] / 1024))
    elif n:
        print("%-14s %7d %12.3f %12s %8s %10.1f %10s" % (w, t,
              n["median_ms"], "-", "-", n["peak_rss_kb"] / 1024, "-"))
PY
rm -f "$out"
