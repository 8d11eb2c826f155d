#!/bin/sh
# tools/bench/memory.sh - resident memory over a long run, nabla beside
# PyTorch (issue 17 item 4; doc/performance.md, "Memory").
#
#   sh tools/bench/memory.sh [--steps N] [--keep FILE] [--engines E]
#                            [BUILD_DIR] [WORKLOAD...]
#
# Runs each workload (default: cnn fmnist) for N training steps (default
# 10000) in nabla-bench and in tools/bench/torch_bench.py, one thread,
# no warm-up, with --rss-every N/10, and prints each engine's peak
# resident set and its resident set after steps 1, 100, 1,000, ... and
# the last, and the growth from step 100 to the last.  A training step
# is one optimizer step, that is one batch: cnn's iteration is one, and
# fmnist's is an epoch of 469 (batch 128), so fmnist runs whole epochs
# until N steps are done (10,000 steps: 22 epochs, 10,318 steps).  The
# engines run one after the other; time is not measured, so the load
# does not matter (it is printed all the same).  --keep FILE keeps the
# JSON lines of the runs in FILE; --engines "nabla" (or "torch") runs
# one engine only (default "nabla torch").
set -eu
here=$(cd "$(dirname "$0")" && pwd)
steps=10000 keep= engines="nabla torch"
while [ $# -gt 0 ]; do
	case $1 in
	--steps) steps=$2; shift 2 ;;
	--keep) keep=$2; shift 2 ;;
	--engines) engines=$2; shift 2 ;;
	--*) echo "memory.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
case $steps in ''|*[!0-9]*|0) echo "memory.sh: --steps wants a count" >&2
	exit 2 ;;
esac
build=${1:-$here/../../_build}
[ $# -gt 0 ] && shift
workloads=${*:-cnn fmnist}
bench=$build/tools/bench/nabla-bench
[ -x "$bench" ] || { echo "memory.sh: no $bench (make in $build)" >&2; exit 2; }
if [ -n "$keep" ]; then
	out=$keep
	: >"$out"
else
	out=$(mktemp)
	trap 'rm -f "$out"' EXIT
fi
every=$(( steps / 10 > 0 ? steps / 10 : 1 ))

for w in $workloads; do
	case $w in
	fmnist) reps=$(( (steps + 468) / 469 )) ;;
	*) reps=$steps ;;
	esac
	echo "{\"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$out"
	for e in $engines; do
		case $e in
		nabla) "$bench" "$w" --threads 1 --warmup 0 --reps $reps \
			--rss-every $every >>"$out" ;;
		torch) OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
			/usr/bin/python3 "$here/torch_bench.py" "$w" --threads 1 \
			--warmup 0 --reps $reps --rss-every $every >>"$out" ;;
		*) echo "memory.sh: unknown engine $e" >&2; exit 2 ;;
		esac
	done
done
echo "{\"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$out"

python3 - "$out" <<'EOF'
import json, sys
rows, loads = [], []
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "load" in d:
        loads.append(d["load"])
    else:
        rows.append(d)
print("load average (1, 5, 15 min) between runs:", " | ".join(loads))
print("RSS in MB (1 MB = 1024 kB) after training step s; growth: last - s=100")
print("%-8s %-6s %6s %7s %7s %7s %7s %12s %7s" % (
    "workload", "engine", "steps", "peak", "s=1", "s=100", "s=1000",
    "last@step", "growth"))
for d in rows:
    at = dict((s, kb) for s, kb in d["rss_kb"])
    last = max(at)
    mb = lambda kb: "%.1f" % (kb / 1024) if kb is not None else "-"
    growth = at[last] - at[100] if 100 in at else None
    print("%-8s %-6s %6d %7s %7s %7s %7s %12s %7s" % (
        d["workload"], d["engine"], d["steps"], mb(d["peak_rss_kb"]),
        mb(at.get(1)), mb(at.get(100)), mb(at.get(1000)),
        "%s@%d" % (mb(at[last]), last), mb(growth)))
print("samples (step, kB):")
for d in rows:
    print(" ", d["workload"], d["engine"], d["rss_kb"])
EOF
