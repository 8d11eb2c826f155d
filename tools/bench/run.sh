#!/bin/sh
# tools/bench/run.sh - runs the workloads in nabla and in PyTorch side by
# side, alternating the engines in rounds (nabla, PyTorch, nabla, PyTorch,
# ...) so that a burst of load on a shared machine falls on both, and
# prints the JSON lines and a table: each engine's minimum and median
# milliseconds per step over all rounds, the ratios of minima and of
# medians (PyTorch time / nabla time: above 1, nabla is faster), the load
# average seen during the workload's rounds, and, for workloads bound by
# matrix products or convolutions, nabla's GFLOP/s beside sgemm's on the
# same machine (the roofline column).
#
#   sh tools/bench/run.sh [--quick] [--rounds R] [--threads "1 2"]
#                         [BUILD_DIR] [WORKLOAD...]
#
# --quick: 2 rounds, fewer repetitions, one thread, the short workloads
# (about 2 minutes).  PyTorch's threads: torch.set_num_threads(N) and
# OMP_NUM_THREADS and OPENBLAS_NUM_THREADS = N (its BLAS otherwise starts
# its own threads); nabla's: --threads N (nb_set_num_threads, which also
# sets OpenBLAS's).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
rounds=3 threads="1 2" quick=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 rounds=2 threads=1; shift ;;
	--rounds) rounds=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
case $rounds in ''|*[!0-9]*|0) echo "run.sh: --rounds wants a count" >&2
	exit 2 ;;
esac
build=${1:-$here/../../_build}
[ $# -gt 0 ] && shift
if [ $# -gt 0 ]; then
	workloads=$*
elif [ $quick = 1 ]; then
	workloads="sgemm tiny seed10 mlp784 cnn layer_norm"
else
	workloads="sgemm tiny seed10 seed10_gemm mlp784 cnn batch_norm group_norm instance_norm layer_norm fmnist charlstm"
fi
bench=$build/tools/bench/nabla-bench
[ -x "$bench" ] || { echo "run.sh: no $bench (make in $build)" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT

load() { cut -d' ' -f1 /proc/loadavg; }

for w in $workloads; do
	# Repetitions per round: the total is split over the rounds.
	case $w in
	tiny) reps=3000 warm=200 ;;
	seed10|seed10_gemm) reps=8 warm=2 ;;
	sgemm) reps=20 warm=3 ;;
	fmnist) reps=3 warm=1 ;;
	gpt_tiny) reps=12 warm=2 ;;
	*) reps=30 warm=5 ;;
	esac
	[ $quick = 1 ] && reps=$(( (reps + 1) / 2 ))
	per=$(( (reps + rounds - 1) / rounds ))
	for t in $threads; do
		r=1
		while [ $r -le "$rounds" ]; do
			echo "{\"load\": $(load), \"workload\": \"$w\", \"threads\": $t}" >>"$out"
			"$bench" "$w" --threads "$t" --reps $per --warmup $warm |
				tee -a "$out"
			# seed10_gemm is nabla's floor (OpenBLAS alone): no twin
			if [ "$w" != seed10_gemm ]; then
				OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t \
				/usr/bin/python3 "$here/torch_bench.py" "$w" \
					--threads "$t" --reps $per --warmup $warm |
					tee -a "$out"
			fi
			r=$((r + 1))
		done
		echo "{\"load\": $(load), \"workload\": \"$w\", \"threads\": $t}" >>"$out"
	done
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
times, flops, loads, rss = {}, {}, {}, {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    key = (r["workload"], r["threads"])
    if "load" in r:
        loads.setdefault(key, []).append(r["load"])
        continue
    k = key + (r["engine"],)
    times.setdefault(k, []).extend(r["times_ms"])
    flops[k] = r.get("flops", 0)
    rss[k] = max(rss.get(k, 0), r["peak_rss_kb"])
peak = {}
for (w, t, e), ts in times.items():
    if w == "sgemm" and e == "nabla":
        peak[t] = flops[(w, t, e)] / min(ts) / 1e6
print("\n%-14s %3s %9s %9s %9s %9s %7s %7s %9s %7s %6s %6s" % (
    "workload", "thr", "nabla min", "med", "torch min", "med", "r(min)",
    "r(med)", "GFLOP/s", "%sgemm", "load", "MB"))
for (w, t) in dict.fromkeys(k[:2] for k in times):
    n, p = times.get((w, t, "nabla")), times.get((w, t, "torch"))
    if not n:
        continue
    nmin, nmed = min(n), statistics.median(n)
    f = flops.get((w, t, "nabla"), 0)
    gf = "%9.1f" % (f / nmin / 1e6) if f else "%9s" % "-"
    ps = ("%7.0f" % (100 * f / nmin / 1e6 / peak[t])
          if f and peak.get(t) else "%7s" % "-")
    ld = loads.get((w, t), [0])
    pmin = "%9.3f %9.3f %7.2f %7.2f" % (
        min(p), statistics.median(p), min(p) / nmin,
        statistics.median(p) / nmed) if p else "%9s %9s %7s %7s" % (
        "-", "-", "-", "-")
    print("%-14s %3d %9.3f %9.3f %s %s %s %6.2f %6.0f" % (
        w, t, nmin, nmed, pmin, gf, ps, max(ld),
        rss[(w, t, "nabla")] / 1024))
print("\nms per step over all rounds; r(min) = torch min / nabla min, "
      "r(med) = torch median / nabla median;\nGFLOP/s from nabla's "
      "minimum; %sgemm against the sgemm workload at the same thread "
      "count;\nload = the highest 1-minute load average seen during the "
      "workload's rounds.")
PY
